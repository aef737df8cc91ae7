/* shiftlog cat TOPIC: decode every message of a shiftlog topic to one JSON
 * line: {"topic","partition","kafkaOffset","timestamp","key","headers",
 * "record"}. The consumer is read_committed, so aborted Kafka transactions
 * never show. A message that does not decode is reported on stderr with
 * its topic, partition and offset; cat goes on (exit 1 at the end) or stops
 * at once with --strict. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_kafka.h"
#include "sl_kv.h"
#include "sl_log.h"
#include "sl_record.h"

#define CAT_MAX_PARTITIONS 4096

static volatile sig_atomic_t cat_stop;

static void on_signal(int sig)
{
    (void)sig;
    cat_stop = 1;
}

static void cat_usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog cat [options] TOPIC\n"
        "Decodes a shiftlog topic to JSON lines on stdout, one per message:\n"
        "  {\"topic\",\"partition\",\"kafkaOffset\",\"timestamp\",\"key\",\"headers\",\"record\"}\n"
        "Only committed messages are shown (isolation.level=read_committed).\n"
        "\n"
        "  -b, --brokers LIST     bootstrap servers (default $SHIFTLOG_KAFKA_BOOTSTRAP_SERVERS\n"
        "                         or 127.0.0.1:19092)\n"
        "      --from-beginning   start at the first message (default: the end)\n"
        "      --offset N         start at offset N\n"
        "      --partition P      read only partition P (default: all)\n"
        "      --count N          exit after N messages\n"
        "      --exit-at-end      exit when every partition is at its end\n"
        "      --strict           stop at the first message that does not decode\n"
        "  -X  kafka.PROP=VALUE   librdkafka property (the kafka. prefix is optional)\n"
        "      --help             this text\n"
        "\n"
        "exit: 0 ok, 1 a message did not decode or Kafka failed, 2 usage error\n");
}

enum { OPT_FROM_BEGINNING = 256, OPT_OFFSET, OPT_PARTITION, OPT_COUNT,
       OPT_EXIT_AT_END, OPT_STRICT, OPT_HELP };

static int parse_int64(const char *s, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

/* Appends {"name":"value",...}; a header without value is null. */
static void headers_json(const sl_kafka_msg_t *m, sl_buf_t *out)
{
    sl_buf_putc(out, '{');
    for (size_t i = 0;; i++) {
        const char *name;
        const void *val;
        size_t len;
        if (sl_kafka_msg_header(m, i, &name, &val, &len))
            break;
        if (i)
            sl_buf_putc(out, ',');
        sl_buf_json_str(out, name, strlen(name));
        sl_buf_putc(out, ':');
        if (val)
            sl_buf_json_str(out, val, len);
        else
            sl_buf_puts(out, "null");
    }
    sl_buf_putc(out, '}');
}

typedef struct cat_opts_s {
    sl_kvlist_t props;            /* librdkafka properties (-X, bootstrap.servers) */
    int64_t     start, partition, count;
    int         exit_at_end, strict;
    const char *topic;
} cat_opts_t;

/* The command line into o: -1 to go on, else the exit code (--help: 0). */
static int parse_args(int argc, char **argv, cat_opts_t *o)
{
    static const struct option opts[] = {
        {"brokers",        required_argument, NULL, 'b'},
        {"from-beginning", no_argument,       NULL, OPT_FROM_BEGINNING},
        {"offset",         required_argument, NULL, OPT_OFFSET},
        {"partition",      required_argument, NULL, OPT_PARTITION},
        {"count",          required_argument, NULL, OPT_COUNT},
        {"exit-at-end",    no_argument,       NULL, OPT_EXIT_AT_END},
        {"strict",         no_argument,       NULL, OPT_STRICT},
        {"help",           no_argument,       NULL, OPT_HELP},
        {NULL, 0, NULL, 0}
    };
    const char *brokers = getenv("SHIFTLOG_KAFKA_BOOTSTRAP_SERVERS");
    int c;
    if (!brokers || !*brokers)
        brokers = "127.0.0.1:19092";
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            brokers = optarg;
            break;
        case OPT_FROM_BEGINNING:
            o->start = SL_KAFKA_OFFSET_BEGINNING;
            break;
        case OPT_OFFSET:
            if (parse_int64(optarg, 0, &o->start)) {
                fprintf(stderr, "shiftlog cat: --offset %s: not an offset\n", optarg);
                return 2;
            }
            break;
        case OPT_PARTITION:
            if (parse_int64(optarg, 0, &o->partition) || o->partition > INT32_MAX) {
                fprintf(stderr, "shiftlog cat: --partition %s: not a partition\n", optarg);
                return 2;
            }
            break;
        case OPT_COUNT:
            if (parse_int64(optarg, 1, &o->count)) {
                fprintf(stderr, "shiftlog cat: --count %s: not a positive number\n", optarg);
                return 2;
            }
            break;
        case OPT_EXIT_AT_END:
            o->exit_at_end = 1;
            break;
        case OPT_STRICT:
            o->strict = 1;
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "shiftlog cat: -X %s: expected kafka.PROP=VALUE\n", optarg);
                return 2;
            }
            *eq = '\0';
            const char *k = optarg;
            if (!strncmp(k, "kafka.", 6))
                k += 6;
            if (sl_kvlist_set(&o->props, k, eq + 1)) {
                fprintf(stderr, "shiftlog cat: out of memory\n");
                return 2;
            }
            break;
        }
        case 'h':
        case OPT_HELP:
            cat_usage(stdout);
            return 0;
        default:
            cat_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "shiftlog cat: expected one TOPIC (shiftlog cat --help)\n");
        return 2;
    }
    o->topic = argv[optind];
    if (!sl_kvlist_get(&o->props, "bootstrap.servers") &&
        sl_kvlist_set(&o->props, "bootstrap.servers", brokers))
        return 2;
    return -1;
}

/* One message as a JSON line into line: its place, key, headers and the
 * decoded record (null for a tombstone). SL_OK, or the decode error in errstr. */
static sl_err_t message_json(const sl_kafka_msg_t *m, sl_avro_codec_t *codec, sl_record_t *rec,
                             sl_buf_t *line, char *errstr, size_t errstr_size)
{
    sl_buf_reset(line);
    sl_buf_puts(line, "{\"topic\":");
    sl_buf_json_str(line, m->topic, strlen(m->topic));
    sl_buf_printf(line, ",\"partition\":%" PRId32 ",\"kafkaOffset\":%" PRId64
                  ",\"timestamp\":%" PRId64 ",\"key\":", m->partition, m->offset,
                  m->timestamp_ms);
    if (m->key)
        sl_buf_json_str(line, m->key, m->key_len);
    else
        sl_buf_puts(line, "null");
    sl_buf_puts(line, ",\"headers\":");
    headers_json(m, line);
    sl_buf_puts(line, ",\"record\":");
    if (!m->value) {
        sl_buf_puts(line, "null");         /* tombstone of a compacted topic */
    } else {
        sl_err_t err = sl_avro_decode(codec, m->value, m->value_len, rec, errstr, errstr_size);
        if (!err)
            err = sl_record_to_json_ex(rec, SL_JSON_SUBOFFSET, line);
        if (err == SL_ERR_NOMEM)
            snprintf(errstr, errstr_size, "out of memory");
        if (err)
            return err;
    }
    return sl_buf_puts(line, "}\n");
}

int cli_cat_main(int argc, char **argv)
{
    cat_opts_t o = {.props = SL_KVLIST_INIT, .start = SL_KAFKA_OFFSET_END, .partition = -1,
                    .count = -1};
    int rc;
    char errstr[1024];
    sl_kafka_consumer_t *cons = NULL;
    sl_avro_codec_t *codec = NULL;
    sl_record_t *rec = NULL;
    sl_buf_t line = SL_BUF_INIT;
    uint8_t *at_eof = NULL;

    if ((rc = parse_args(argc, argv, &o)) >= 0)
        goto out;
    rc = 1;
    sl_log_init("cli", NULL);
    sl_log_set_level(SL_LOG_WARN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (sl_avro_codec_new(&codec, errstr, sizeof(errstr)) ||
        !(rec = sl_record_new())) {
        fprintf(stderr, "shiftlog cat: %s\n", codec ? "out of memory" : errstr);
        goto out;
    }
    int nparts = 0;
    if (sl_kafka_consumer_new(&cons, &o.props, NULL, 10000, errstr, sizeof(errstr)) ||
        sl_kafka_consumer_assign(cons, o.topic, (int32_t)o.partition, o.start, 10000,
                                 &nparts, errstr, sizeof(errstr))) {
        fprintf(stderr, "shiftlog cat: %s\n", errstr);
        goto out;
    }
    int maxp = o.partition >= 0 ? (int)o.partition + 1 : nparts;
    if (maxp > CAT_MAX_PARTITIONS || !(at_eof = calloc((size_t)maxp, 1))) {
        fprintf(stderr, "shiftlog cat: topic \"%s\": too many partitions\n", o.topic);
        goto out;
    }
    int neof = 0, bad = 0;
    int64_t seen = 0;
    rc = 0;
    while (!cat_stop && (o.count < 0 || seen < o.count)) {
        sl_kafka_msg_t m;
        sl_err_t err = sl_kafka_consume(cons, 500, &m, errstr, sizeof(errstr));
        if (err == SL_ERR_TIMEOUT) {
            fflush(stdout);
            continue;
        }
        if (err) {
            fprintf(stderr, "shiftlog cat: %s\n", errstr);
            if (err == SL_ERR_FATAL || o.strict) {
                rc = 1;
                break;
            }
            bad = 1;
            continue;
        }
        if (m.partition < 0 || m.partition >= maxp)
            continue;
        if (m.eof) {
            if (!at_eof[m.partition]) {
                at_eof[m.partition] = 1;
                neof++;
            }
            if (o.exit_at_end && neof >= nparts)
                break;
            continue;
        }
        if (at_eof[m.partition]) {
            at_eof[m.partition] = 0;
            neof--;
        }
        seen++;
        if (message_json(&m, codec, rec, &line, errstr, sizeof errstr)) {
            fflush(stdout);
            fprintf(stderr, "shiftlog cat: topic \"%s\" partition %" PRId32 " offset %" PRId64
                    ": cannot decode the message (%zu bytes): %s\n", m.topic, m.partition,
                    m.offset, m.value_len, errstr);
            bad = 1;
            if (o.strict)
                break;
            continue;
        }
        if (fwrite(line.data, 1, line.len, stdout) != line.len) {
            fprintf(stderr, "shiftlog cat: writing stdout: %s\n", strerror(errno));
            rc = 1;
            break;
        }
    }
    if (fflush(stdout) && rc == 0) {
        fprintf(stderr, "shiftlog cat: writing stdout: %s\n", strerror(errno));
        rc = 1;
    }
    if (bad)
        rc = 1;
out:
    free(at_eof);
    sl_buf_free(&line);
    sl_record_destroy(rec);
    sl_avro_codec_destroy(codec);
    sl_kafka_consumer_destroy(cons);
    sl_kvlist_free(&o.props);
    return rc;
}

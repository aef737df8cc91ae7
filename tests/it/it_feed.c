/* it_feed: builds shiftlog records from a small spec on stdin and produces
 * them to Kafka (sl_avro + sl_kafka), for the applier's tests and bench.
 *
 *   it_feed --brokers B --topic T [--partitions P] < spec
 *
 * One command per line, words separated by spaces. Every atom (name, type,
 * text) is percent-encoded (%20 for a space, %2C for ',', %3A for ':', %3B
 * for ';'); it is decoded after the line is split, so Python's
 * urllib.parse.quote(s, safe="") makes any text safe.
 *
 *   source NAME                      source name (default "it")
 *   at FILE OFFSET                   position of the next record (MySQL kind);
 *                                    each record then moves it by 100
 *   txn ID                           transaction id of the next changes
 *                                    (default 0-1-N, N = commits so far + 1)
 *   schema DB TABLE COL...           COL = name:kind:source_type[:pk=N][:null][:p=P][:s=S]
 *   insert DB TABLE COLS ROW...      COLS = a,b,c   ROW = v,v,v
 *   update DB TABLE COLS BEFORE AFTER [BEFORE AFTER ...]
 *   delete DB TABLE COLS ROW...
 *   truncate DB TABLE
 *   commit [EVENT_TIME_US]           (default: now)
 *   finish [REASON]
 *   raw HEX [KEY]                    a message value of these bytes (garbage)
 *   badfp                            the next record gets a wrong schema fingerprint
 * Values: n (NULL)  b:1  i:-5  u:18446744073709551615  f:1.5  d:0x1.8p+1 (hex floats
 * exact)  dec:-12.30  s:text  x:hexbytes  t:KIND;text;micros|-;precision;tz|-
 * bit:NBITS;hexbytes  set:label;label  typed:TYPE;text  miss:unchanged_toast|not_in_image
 *
 * At the end: "it_feed: produced=N last=POS" on stderr; exit 1 on any error
 * (naming the line). */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "sl_avro.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_record.h"

#define MAXW 4096

static long lineno;

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "it_feed: line %ld: ", lineno);
    fprintf(stderr, fmt, a ? a : "");
    fputc('\n', stderr);
    exit(1);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s in place; returns the decoded length. */
static size_t pdecode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return (size_t)(o - s);
}

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
    size_t n = 0;
    while (h[0] && h[1] && n < cap) {
        if (hexval(h[0]) < 0 || hexval(h[1]) < 0)
            die("bad hex \"%s\"", h);
        out[n++] = (unsigned char)(hexval(h[0]) * 16 + hexval(h[1]));
        h += 2;
    }
    return n;
}

/* Splits s at sep into at most max parts (in place). */
static int split(char *s, char sep, char **parts, int max)
{
    int n = 0;
    parts[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            parts[n++] = p + 1;
        }
    return n;
}

static sl_val_kind_t kind_of(const char *name)
{
    for (int k = 0; k <= SL_VAL_MISSING; k++)
        if (!strcmp(sl_val_kind_name((sl_val_kind_t)k), name))
            return (sl_val_kind_t)k;
    die("unknown value kind \"%s\"", name);
    return SL_VAL_NULL;
}

static void parse_value(sl_record_t *rec, sl_value_t *v, char *tok)
{
    static unsigned char buf[1 << 20];
    memset(v, 0, sizeof(*v));
    if (!strcmp(tok, "n")) {
        v->kind = SL_VAL_NULL;
        return;
    }
    char *colon = strchr(tok, ':');
    if (!colon)
        die("bad value \"%s\"", tok);
    *colon = '\0';
    char *k = tok, *p = colon + 1, *parts[8];
    if (!strcmp(k, "b")) {
        v->kind = SL_VAL_BOOL;
        v->u.b = atoi(p) != 0;
    } else if (!strcmp(k, "i")) {
        v->kind = SL_VAL_INT;
        v->u.i = strtoll(p, NULL, 10);
    } else if (!strcmp(k, "u")) {
        v->kind = SL_VAL_UINT;
        v->u.u = strtoull(p, NULL, 10);
    } else if (!strcmp(k, "f")) {
        pdecode(p);
        v->kind = SL_VAL_FLOAT;
        v->u.f = strtof(p, NULL);
    } else if (!strcmp(k, "d")) {
        pdecode(p);
        v->kind = SL_VAL_DOUBLE;
        v->u.d = strtod(p, NULL);
    } else if (!strcmp(k, "dec") || !strcmp(k, "s")) {
        size_t n = pdecode(p);
        sl_value_set_text(rec, v, !strcmp(k, "s") ? SL_VAL_STRING : SL_VAL_DECIMAL, p, n);
    } else if (!strcmp(k, "x")) {
        size_t n = unhex(p, buf, sizeof(buf));
        sl_value_set_text(rec, v, SL_VAL_BYTES, buf, n);
    } else if (!strcmp(k, "t")) {
        if (split(p, ';', parts, 5) != 5)
            die("temporal needs KIND;text;micros;precision;tz: \"%s\"", p);
        int tk = -1;
        pdecode(parts[0]);
        for (int i = 0; i <= SL_T_INTERVAL; i++)
            if (!strcmp(sl_temporal_kind_name((sl_temporal_kind_t)i), parts[0]))
                tk = i;
        if (tk < 0)
            die("unknown temporal kind \"%s\"", parts[0]);
        size_t n = pdecode(parts[1]);
        int hm = strcmp(parts[2], "-") != 0, ht = strcmp(parts[4], "-") != 0;
        sl_value_set_temporal(rec, v, (sl_temporal_kind_t)tk, parts[1], n, hm,
                              hm ? strtoll(parts[2], NULL, 10) : 0, atoi(parts[3]), ht,
                              ht ? atoi(parts[4]) : 0);
    } else if (!strcmp(k, "bit")) {
        if (split(p, ';', parts, 2) != 2)
            die("bit needs NBITS;hex: \"%s\"", p);
        size_t n = unhex(parts[1], buf, sizeof(buf));
        if (sl_value_set_bit(rec, v, (uint32_t)atoi(parts[0]), buf, n))
            die("bad bit value \"%s\"", parts[1]);
    } else if (!strcmp(k, "set")) {
        const char *labels[64];
        int n = 0;
        char *more[64];
        if (*p) {   /* up to 64 labels */
            n = split(p, ';', more, 64);
            for (int i = 0; i < n; i++) {
                pdecode(more[i]);
                labels[i] = more[i];
            }
        }
        sl_value_set_set(rec, v, labels, (uint32_t)n);
    } else if (!strcmp(k, "typed")) {
        if (split(p, ';', parts, 2) != 2)
            die("typed needs TYPE;text: \"%s\"", p);
        pdecode(parts[0]);
        size_t n = pdecode(parts[1]);
        sl_value_set_typed(rec, v, parts[0], parts[1], n);
    } else if (!strcmp(k, "miss")) {
        v->kind = SL_VAL_MISSING;
        v->u.missing = !strcmp(p, "not_in_image") ? SL_MISSING_NOT_IN_IMAGE
                                                  : SL_MISSING_UNCHANGED_TOAST;
    } else {
        die("unknown value prefix \"%s\"", k);
    }
}

static void parse_image(sl_record_t *rec, sl_value_t *img, uint32_t ncols, char *tok)
{
    char *vals[MAXW];
    int n = split(tok, ',', vals, MAXW);
    if ((uint32_t)n != ncols)
        die("row \"%s\" has another number of values than columns", tok);
    for (int i = 0; i < n; i++)
        parse_value(rec, &img[i], vals[i]);
}

static int64_t now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"brokers", required_argument, NULL, 'b'}, {"topic", required_argument, NULL, 't'},
        {"partitions", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
    const char *brokers = "127.0.0.1:19092", *topic = NULL;
    int partitions = 1, c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 'b')
            brokers = optarg;
        else if (c == 't')
            topic = optarg;
        else if (c == 'p')
            partitions = atoi(optarg);
        else
            return 2;
    }
    if (!topic) {
        fprintf(stderr, "usage: it_feed --brokers B --topic T < spec\n");
        return 2;
    }
    sl_log_init("it_feed", NULL);
    sl_log_set_level(SL_LOG_WARN);
    char errstr[1024];
    sl_avro_codec_t *codec;
    if (sl_avro_codec_new(&codec, errstr, sizeof(errstr)))
        die("%s", errstr);
    sl_kvlist_t props = SL_KVLIST_INIT;
    sl_kvlist_set(&props, "bootstrap.servers", brokers);
    sl_kvlist_set(&props, "linger.ms", "5");
    sl_kafka_producer_conf_t pc = {.props = &props};
    sl_kafka_producer_t *p;
    if (sl_kafka_producer_new(&p, &pc, errstr, sizeof(errstr)))
        die("%s", errstr);
    if (sl_kafka_ensure_topic(sl_kafka_producer_handle(p), topic, partitions, -1, NULL, 10000,
                              errstr, sizeof(errstr)))
        die("%s", errstr);
    uint64_t fp = sl_avro_fingerprint(codec);

    sl_record_t *rec = sl_record_new();
    char source[128] = "it", file[64] = "mysql-bin.000001", txn[64] = "", *line = NULL;
    uint64_t offset = 4;
    long commits = 0, produced = 0;
    int badfp = 0;
    size_t cap = 0;
    ssize_t len;
    sl_pos_t last = {0};
    unsigned char *raw = malloc(1 << 20);
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        char *w[MAXW];
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len || line[0] == '#')
            continue;
        int nw = split(line, ' ', w, MAXW);
        const char *cmd = w[0];
        const void *val = NULL;
        size_t vlen = 0;
        int is_raw = 0;
        char key[600], pos[160], fph[20];
        sl_record_reset(rec);
        if (!strcmp(cmd, "source") && nw == 2) {
            pdecode(w[1]);
            snprintf(source, sizeof(source), "%s", w[1]);
            continue;
        } else if (!strcmp(cmd, "at") && nw == 3) {
            snprintf(file, sizeof(file), "%s", w[1]);
            offset = strtoull(w[2], NULL, 10);
            continue;
        } else if (!strcmp(cmd, "txn") && nw == 2) {
            snprintf(txn, sizeof(txn), "%s", w[1]);
            continue;
        } else if (!strcmp(cmd, "badfp")) {
            badfp = 1;
            continue;
        }
        char gtid[64];
        if (txn[0])
            snprintf(gtid, sizeof(gtid), "%s", txn);
        else
            snprintf(gtid, sizeof(gtid), "0-1-%ld", commits + 1);
        if (!strcmp(cmd, "schema") && nw >= 4) {
            pdecode(w[1]);
            pdecode(w[2]);
            if (sl_record_init_schema(rec, source, w[1], w[2], (uint32_t)(nw - 3)))
                die("%s", "init_schema");
            for (int i = 3; i < nw; i++) {
                char *parts[12];
                int np = split(w[i], ':', parts, 12);
                if (np < 3)
                    die("column \"%s\" needs name:kind:type", w[i]);
                sl_column_t *col = &rec->u.schema.cols[i - 3];
                pdecode(parts[0]);
                pdecode(parts[1]);
                pdecode(parts[2]);
                col->name = sl_record_strdup(rec, parts[0]);
                col->kind = kind_of(parts[1]);
                col->source_type = sl_record_strdup(rec, parts[2]);
                for (int k = 3; k < np; k++) {
                    if (!strncmp(parts[k], "pk=", 3))
                        col->pk = atoi(parts[k] + 3);
                    else if (!strcmp(parts[k], "null"))
                        col->nullable = 1;
                    else if (!strncmp(parts[k], "p=", 2))
                        col->precision = atoi(parts[k] + 2);
                    else if (!strncmp(parts[k], "s=", 2))
                        col->scale = atoi(parts[k] + 2);
                    else if (!strncmp(parts[k], "cs=", 3))
                        col->charset = sl_record_strdup(rec, parts[k] + 3);
                }
            }
            snprintf(key, sizeof(key), "%s.%s", w[1], w[2]);
        } else if ((!strcmp(cmd, "insert") || !strcmp(cmd, "delete") ||
                    !strcmp(cmd, "update")) && nw >= 5) {
            sl_op_t op = cmd[0] == 'i' ? SL_OP_INSERT : cmd[0] == 'd' ? SL_OP_DELETE
                                                                       : SL_OP_UPDATE;
            pdecode(w[1]);
            pdecode(w[2]);
            char *cols[MAXW];
            int nc = split(w[3], ',', cols, MAXW);
            for (int i = 0; i < nc; i++)
                pdecode(cols[i]);
            int per = op == SL_OP_UPDATE ? 2 : 1;
            if ((nw - 4) % per)
                die("%s", "update needs BEFORE AFTER pairs");
            uint32_t nrows = (uint32_t)((nw - 4) / per);
            if (sl_record_init_change(rec, source, w[1], w[2], op, (uint32_t)nc,
                                      (const char *const *)cols, nrows))
                die("%s", "init_change");
            sl_change_t *ch = &rec->u.change;
            ch->txn = sl_record_strdup(rec, gtid);
            ch->event_time_us = now_us();
            ch->server_id = 1;
            for (uint32_t r = 0; r < nrows; r++) {
                if (op == SL_OP_UPDATE) {
                    parse_image(rec, ch->rows[r].before, (uint32_t)nc, w[4 + 2 * r]);
                    parse_image(rec, ch->rows[r].after, (uint32_t)nc, w[5 + 2 * r]);
                } else {
                    parse_image(rec, op == SL_OP_INSERT ? ch->rows[r].after
                                                        : ch->rows[r].before,
                                (uint32_t)nc, w[4 + r]);
                }
            }
            snprintf(key, sizeof(key), "%s.%s", w[1], w[2]);
        } else if (!strcmp(cmd, "truncate") && nw == 3) {
            pdecode(w[1]);
            pdecode(w[2]);
            if (sl_record_init_change(rec, source, w[1], w[2], SL_OP_TRUNCATE, 0, NULL, 0))
                die("%s", "init_change");
            rec->u.change.txn = sl_record_strdup(rec, gtid);
            snprintf(key, sizeof(key), "%s.%s", w[1], w[2]);
        } else if (!strcmp(cmd, "commit")) {
            int64_t t = nw > 1 ? strtoll(w[1], NULL, 10) : now_us();
            sl_record_init_commit(rec, source, gtid, t, 1, 0);
            snprintf(key, sizeof(key), "%s", source);
            commits++;
            txn[0] = '\0';
        } else if (!strcmp(cmd, "finish")) {
            sl_record_init_finish(rec, source, nw > 1 ? w[1] : "resume", now_us());
            snprintf(key, sizeof(key), "%s", source);
        } else if (!strcmp(cmd, "raw") && nw >= 2) {
            vlen = unhex(w[1], raw, 1 << 20);
            val = raw;
            is_raw = 1;
            snprintf(key, sizeof(key), "%s", nw > 2 ? w[2] : "garbage");
        } else {
            die("unknown or malformed command \"%s\"", cmd);
        }
        if (sl_pos_set_mysql(&rec->pos, file, offset, 0))
            die("bad binlog file name \"%s\"", file);
        snprintf(rec->pos.gtid, sizeof(rec->pos.gtid), "%s", gtid);
        offset += 100;
        sl_pos_format(&rec->pos, pos, sizeof(pos));
        snprintf(fph, sizeof(fph), "%016" PRIx64, fp);
        if (!val) {
            if (sl_avro_encode(codec, rec, &val, &vlen, errstr, sizeof(errstr)))
                die("encode: %s", errstr);
            if (badfp) {
                memcpy(raw, val, vlen);
                raw[2] ^= 0x5a;
                val = raw;
                badfp = 0;
            }
        }
        const char *op = is_raw ? "garbage"
                       : rec->type == SL_REC_CHANGE ? sl_op_name(rec->u.change.op)
                                                    : sl_rec_type_name(rec->type);
        sl_kafka_header_t h[6];
        size_t nh = 0;
        h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_SOURCE, source, strlen(source)};
        if (!is_raw && (rec->type == SL_REC_CHANGE || rec->type == SL_REC_SCHEMA))
            h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_TABLE, key, strlen(key)};
        h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_OP, op, strlen(op)};
        h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_POS, pos, strlen(pos)};
        h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_TXN, gtid, strlen(gtid)};
        h[nh++] = (sl_kafka_header_t){SL_KAFKA_H_SCHEMA, fph, 16};
        if (sl_kafka_produce(p, topic, 0, key, strlen(key), val, vlen, h, nh, &rec->pos,
                             errstr, sizeof(errstr)))
            die("produce: %s", errstr);
        last = rec->pos;
        produced++;
    }
    if (sl_kafka_producer_flush(p, 60000, errstr, sizeof(errstr)))
        die("flush: %s", errstr);
    char lp[160] = "none";
    if (produced)
        sl_pos_format(&last, lp, sizeof(lp));
    fprintf(stderr, "it_feed: produced=%ld last=%s\n", produced, lp);
    sl_kafka_producer_destroy(p);
    sl_record_destroy(rec);
    sl_avro_codec_destroy(codec);
    sl_kvlist_free(&props);
    free(raw);
    free(line);
    return 0;
}

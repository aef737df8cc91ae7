/* shiftlog mining stop|resume|status SOURCE [TABLE]: per-table (or whole
 * source) stop/resume of shiftlog-miner and its status, through the
 * control collection <collection>__control of the shared log
 * (docs/miner.md "Stop, resume, status").
 *
 * stop/resume write a request ({want: "stop"|"run"}) and wait (--wait
 * seconds, default 10) until the miner reports the new state; a miner that
 * is not running applies the request when it starts. status prints the
 * source's progress and one line per table: state, mined rows, last
 * position and time, where a stopped table stopped, and any gap (changes
 * Kafka no longer held when the table was resumed). --json prints one JSON
 * object instead. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "sl_logdoc.h"

int cli_mining_main(int argc, char **argv);

static void mining_usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog mining stop|resume|status SOURCE [DB.TABLE] [options]\n"
        "  stop SOURCE TABLE    stop mining TABLE (the other tables go on)\n"
        "  stop SOURCE          pause the whole source (nothing is lost: Kafka keeps it)\n"
        "  resume SOURCE [TABLE]  resume; a table catches up from Kafka, or a gap is recorded\n"
        "  status SOURCE [TABLE]  progress, tables, mined counts, stopped tables, gaps\n"
        "options: --uri URI (default $SHIFTLOG_LOG_URI or mongodb://127.0.0.1:27117)\n"
        "         --database DB (default $SHIFTLOG_LOG_DATABASE or shiftlog)\n"
        "         --collection NAME (default SOURCE)  --wait SECONDS (default 10)  --json\n"
        "exit: 0 ok, 1 MongoDB failed or the miner did not apply the request in time,\n"
        "      2 usage error\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *str_field(const bson_t *d, const char *path, const char *def)
{
    bson_iter_t it, f;
    if (bson_iter_init(&it, d) && bson_iter_find_descendant(&it, path, &f) &&
        BSON_ITER_HOLDS_UTF8(&f))
        return bson_iter_utf8(&f, NULL);
    return def;
}

static int64_t int_field(const bson_t *d, const char *path, int64_t def)
{
    bson_iter_t it, f;
    if (bson_iter_init(&it, d) && bson_iter_find_descendant(&it, path, &f) &&
        (BSON_ITER_HOLDS_INT64(&f) || BSON_ITER_HOLDS_INT32(&f)))
        return bson_iter_as_int64(&f);
    return def;
}

static void time_field(const bson_t *d, const char *path, char *out, size_t size)
{
    bson_iter_t it, f;
    snprintf(out, size, "-");
    if (bson_iter_init(&it, d) && bson_iter_find_descendant(&it, path, &f) &&
        BSON_ITER_HOLDS_DATE_TIME(&f)) {
        int64_t ms = bson_iter_date_time(&f);
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        char b[32];
        strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, size, "%s.%03dZ", b, (int)(ms % 1000));
    }
}

static void print_table(const bson_t *d)
{
    char last[40], stopped[160], gap[256];
    time_field(d, "last_time", last, sizeof last);
    stopped[0] = gap[0] = '\0';
    if (int_field(d, SL_LOGDOC_CTL_STOPPED_AT "." SL_LOGDOC_OFFSET, -1) >= 0 &&
        !strcmp(str_field(d, SL_LOGDOC_CTL_STATE, ""), SL_LOGDOC_CTL_STOPPED))
        snprintf(stopped, sizeof stopped, "  stopped at offset %" PRId64 " after %s",
                 int_field(d, SL_LOGDOC_CTL_STOPPED_AT "." SL_LOGDOC_OFFSET, -1),
                 str_field(d, SL_LOGDOC_CTL_STOPPED_AT "." SL_LOGDOC_POS, "?"));
    if (int_field(d, "gap.from_offset", -1) >= 0)
        snprintf(gap, sizeof gap, "  GAP: Kafka offsets %" PRId64 "..%" PRId64
                 " were gone when the table was resumed (changes after %s lost)",
                 int_field(d, "gap.from_offset", -1), int_field(d, "gap.to_offset", 0) - 1,
                 str_field(d, "gap.after_pos", "?"));
    printf("%-40s %-12s %10" PRId64 "  %-40s %s%s%s%s\n", str_field(d, "table", "?"),
           str_field(d, SL_LOGDOC_CTL_STATE, "requested"), int_field(d, "mined", 0),
           str_field(d, "last_pos", "-"), last, stopped, gap,
           str_field(d, SL_LOGDOC_CTL_WANT, NULL) &&
                   !strcmp(str_field(d, SL_LOGDOC_CTL_WANT, ""), SL_LOGDOC_CTL_WANT_STOP) &&
                   strcmp(str_field(d, SL_LOGDOC_CTL_STATE, ""), SL_LOGDOC_CTL_STOPPED)
               ? "  (stop requested)" : "");
}

static int do_status(mongoc_collection_t *ctl, const char *source, const char *table, int json)
{
    bson_error_t e;
    const bson_t *doc;
    bson_t *filter = bson_new();
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ctl, filter, opts, NULL);
    bson_t out = BSON_INITIALIZER, tables = BSON_INITIALIZER, extra = BSON_INITIALIZER;
    uint32_t nt = 0;
    int rc = 0, stopped = 0, gaps = 0, any = 0;
    BSON_APPEND_UTF8(&out, "source", source);
    while (mongoc_cursor_next(cur, &doc)) {
        const char *id = str_field(doc, "_id", "");
        if (!strcmp(id, "lease"))
            continue;                 /* the miners' fencing epoch (miner/lease.c) */
        any = 1;
        if (!strcmp(id, SL_LOGDOC_CTL_PROGRESS)) {
            char t[40], u[40];
            time_field(doc, "commit_time", t, sizeof t);
            time_field(doc, "updated", u, sizeof u);
            if (json)
                BSON_APPEND_DOCUMENT(&extra, "progress", doc);
            else
                printf("source %s: topic %s, next offset %" PRId64 ", last position %s, "
                       "watermark %s, last commit %s, updated %s\n", source,
                       str_field(doc, "topic", "?"), int_field(doc, "offset", -1),
                       str_field(doc, SL_LOGDOC_POS, "-"), str_field(doc, SL_LOGDOC_CTL_WATERMARK, "-"), t, u);
        } else if (!strcmp(id, "source")) {
            if (json)
                BSON_APPEND_DOCUMENT(&extra, "source_request", doc);
            else if (!strcmp(str_field(doc, SL_LOGDOC_CTL_WANT, ""), SL_LOGDOC_CTL_WANT_STOP))
                printf("source %s is PAUSED (shiftlog mining resume %s)\n", source, source);
        } else if (!strncmp(id, SL_LOGDOC_CTL_TABLE_PREFIX, strlen(SL_LOGDOC_CTL_TABLE_PREFIX))) {
            if (table && strcmp(id + 6, table))
                continue;
            if (!strcmp(str_field(doc, SL_LOGDOC_CTL_STATE, ""), SL_LOGDOC_CTL_STOPPED))
                stopped++;
            if (int_field(doc, "gap.from_offset", -1) >= 0)
                gaps++;
            if (json) {
                char k[16];
                const char *ks;
                bson_uint32_to_string(nt++, &ks, k, sizeof k);
                BSON_APPEND_DOCUMENT(&tables, ks, doc);
            } else {
                if (!nt++)
                    printf("%-40s %-12s %10s  %-40s %s\n", "TABLE", "STATE", "MINED",
                           "LAST POSITION", "LAST TIME");
                print_table(doc);
            }
        }
    }
    bson_concat(&out, &extra);
    BSON_APPEND_ARRAY(&out, "tables", &tables);
    if (mongoc_cursor_error(cur, &e)) {
        fprintf(stderr, "shiftlog mining status: %s\n", e.message);
        rc = 1;
    } else if (json) {
        BSON_APPEND_INT32(&out, "stopped_tables", stopped);
        BSON_APPEND_INT32(&out, "gaps", gaps);
        char *j = bson_as_relaxed_extended_json(&out, NULL);
        printf("%s\n", j);
        bson_free(j);
    } else {
        if (!any)
            printf("source %s: nothing mined yet (no control documents)\n", source);
        printf("%d stopped table(s), %d gap(s)\n", stopped, gaps);
    }
    bson_destroy(&out);
    bson_destroy(&tables);
    bson_destroy(&extra);
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    return rc;
}

static int do_request(mongoc_collection_t *ctl, const char *source, const char *table,
                      int stop, int wait_s)
{
    bson_error_t e;
    char id[600];
    if (table)
        snprintf(id, sizeof id, SL_LOGDOC_CTL_TABLE_PREFIX "%s", table);
    else
        snprintf(id, sizeof id, "source");
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *upd = BCON_NEW("$set", "{", SL_LOGDOC_CTL_WANT,
                           BCON_UTF8(stop ? SL_LOGDOC_CTL_WANT_STOP : SL_LOGDOC_CTL_WANT_RUN),
                           "want_at", BCON_DATE_TIME(now_ms()), "}");
    bson_t *o = BCON_NEW("upsert", BCON_BOOL(true));
    int ok = mongoc_collection_update_one(ctl, sel, upd, o, NULL, &e);
    bson_destroy(o);
    bson_destroy(upd);
    if (!ok) {
        fprintf(stderr, "shiftlog mining: cannot write the request: %s\n", e.message);
        bson_destroy(sel);
        return 1;
    }
    if (!table) {
        printf("source %s: %s requested (the miner applies it within its control.interval)\n",
               source, stop ? "pause" : "resume");
        bson_destroy(sel);
        return 0;
    }
    /* wait for the miner to report the state */
    int64_t deadline = now_ms() + (int64_t)wait_s * 1000;
    int rc = 1;
    for (;;) {
        const bson_t *doc;
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(ctl, sel, NULL, NULL);
        int done = 0;
        if (mongoc_cursor_next(cur, &doc)) {
            const char *st = str_field(doc, SL_LOGDOC_CTL_STATE, "");
            if (stop && !strcmp(st, SL_LOGDOC_CTL_STOPPED)) {
                printf("table %s of %s stopped at Kafka offset %" PRId64 " (after %s)\n", table,
                       source, int_field(doc, "stopped_at.offset", -1),
                       str_field(doc, "stopped_at.pos", "?"));
                done = 1;
            } else if (!stop && strcmp(st, SL_LOGDOC_CTL_STOPPED)) {
                printf("table %s of %s resumed (%s)%s\n", table, source, st,
                       int_field(doc, "gap.from_offset", -1) >= 0
                           ? ": GAP recorded, see shiftlog mining status" : "");
                done = 1;
            }
        }
        mongoc_cursor_destroy(cur);
        if (done) {
            rc = 0;
            break;
        }
        if (now_ms() >= deadline) {
            fprintf(stderr, "shiftlog mining: %s of %s requested, but the miner did not apply "
                    "it within %d s (is shiftlog-miner running for %s?); it will when it "
                    "runs\n", stop ? "stop" : "resume", table, wait_s, source);
            break;
        }
        usleep(100000);
    }
    bson_destroy(sel);
    return rc;
}

int cli_mining_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"uri", required_argument, NULL, 'u'},
        {"database", required_argument, NULL, 'd'},
        {"collection", required_argument, NULL, 'c'},
        {"wait", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *uri = getenv("SHIFTLOG_LOG_URI"), *database = getenv("SHIFTLOG_LOG_DATABASE");
    const char *coll_name = NULL;
    int wait_s = 10, json = 0, c;
    if (argc < 2) {
        mining_usage(stderr);
        return 2;
    }
    const char *action = argv[1];
    if (!strcmp(action, "--help") || !strcmp(action, "-h")) {
        mining_usage(stdout);
        return 0;
    }
    if (strcmp(action, "stop") && strcmp(action, "resume") && strcmp(action, "status")) {
        fprintf(stderr, "shiftlog mining: unknown action \"%s\" (stop, resume, status)\n",
                action);
        return 2;
    }
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': uri = optarg; break;
        case 'd': database = optarg; break;
        case 'c': coll_name = optarg; break;
        case 'w': wait_s = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'h': mining_usage(stdout); return 0;
        default: mining_usage(stderr); return 2;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2) {
        mining_usage(stderr);
        return 2;
    }
    const char *source = argv[optind];
    const char *table = nargs == 2 ? argv[optind + 1] : NULL;
    if (!uri || !*uri)
        uri = "mongodb://127.0.0.1:27117";
    if (!database || !*database)
        database = "shiftlog";
    char ctl_name[300];
    snprintf(ctl_name, sizeof ctl_name, "%s__control", coll_name ? coll_name : source);

    bson_error_t e;
    int rc;
    mongoc_init();
    mongoc_uri_t *u = mongoc_uri_new_with_error(uri, &e);
    if (!u) {
        fprintf(stderr, "shiftlog mining: --uri: %s\n", e.message);
        mongoc_cleanup();
        return 2;
    }
    if (!mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0))
        mongoc_uri_set_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    mongoc_client_t *client = mongoc_client_new_from_uri(u);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    mongoc_collection_t *ctl = mongoc_client_get_collection(client, database, ctl_name);
    if (!strcmp(action, "status"))
        rc = do_status(ctl, source, table, json);
    else
        rc = do_request(ctl, source, table, !strcmp(action, "stop"), wait_s);
    mongoc_collection_destroy(ctl);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(u);
    mongoc_cleanup();
    return rc;
}

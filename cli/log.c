/* shiftlog log query SOURCE: prints the shared log of a source (written by
 * shiftlog-miner, docs/miner.md) as JSON lines in position order — MongoDB
 * relaxed extended JSON of each document (int64 in full, Decimal128 as
 * {"$numberDecimal": "..."}, dates as {"$date": ...}).
 *
 *   --table DB.TABLE        only that table's changes (schema/gap documents
 *                           of the table included); a name holding '.' is
 *                           backquoted: `a.b`.c (common/sl_name.h)
 *   --since TIME            source commit time >= TIME (ISO 8601 UTC)
 *   --from-position P       `_id` >= P: a source position in text form
 *                           ("binlog.000003:1234#0", "0/16B3748:0/16B3700#5")
 *                           or a log `_id` / 41-digit position key
 *   --limit N               at most N documents (default: all)
 *   --uri, --database, --collection   where the log is (defaults: $SHIFTLOG_LOG_URI or
 *                           mongodb://127.0.0.1:27117, $SHIFTLOG_LOG_DATABASE or shiftlog,
 *                           the source name) */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "sl_value_text.h"
#include "sl_pos.h"
#include "sl_logdoc.h"

int cli_log_main(int argc, char **argv);

static void log_usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog log query SOURCE [--table DB.TABLE] [--since TIME]\n"
        "                 [--from-position P] [--limit N]\n"
        "                 [--uri URI] [--database DB] [--collection NAME]\n"
        "Prints the shared log of SOURCE (shiftlog-miner) as JSON lines in position order.\n"
        "  TIME  ISO 8601 UTC: 2026-01-01T00:00:00Z\n"
        "  DB.TABLE  a part holding '.' in backquotes: `a.b`.c\n"
        "  P     a source position (binlog.000003:1234#0, 0/16B3748:0/16B3700#5) or a log _id\n"
        "  --uri defaults to $SHIFTLOG_LOG_URI or mongodb://127.0.0.1:27117,\n"
        "  --database to $SHIFTLOG_LOG_DATABASE or shiftlog, --collection to SOURCE.\n"
        "exit: 0 ok, 1 MongoDB failed, 2 usage error\n");
}

/* The log's 41-digit position key of a text position or an `_id`. */
static int pos_key(const char *text, char out[64])
{
    size_t len = strlen(text);
    if ((len == 41 || len == 42) && strspn(text, "0123456789abcdef") == len) {
        snprintf(out, 64, "%.41s", text);
        return 0;
    }
    sl_pos_t p;
    char err[256];
    if (sl_pos_parse(text, &p, err, sizeof err) != SL_OK)
        return -1;
    sl_pos_key(&p, out);               /* the same digits as the miner's `_id`s */
    return 0;
}

/* The find filter of a query: the table, a start time, a start position.
 * NULL (after a usage line on stderr) when one does not parse. */
static bson_t *query_filter(const char *table, const char *since, const char *from)
{
    bson_t *filter = bson_new(), sub;
    if (table)
        BSON_APPEND_UTF8(filter, SL_LOGDOC_TABLE, table);
    if (since) {
        int64_t us;
        if (sl_parse_utc_time(since, &us)) {
            fprintf(stderr, "shiftlog log query: --since \"%s\" is not an ISO 8601 UTC time "
                    "(2026-01-01T00:00:00Z)\n", since);
            bson_destroy(filter);
            return NULL;
        }
        BSON_APPEND_DOCUMENT_BEGIN(filter, SL_LOGDOC_TS, &sub);
        BSON_APPEND_DATE_TIME(&sub, "$gte", us / 1000);
        bson_append_document_end(filter, &sub);
    }
    if (from) {
        char key[64];
        if (pos_key(from, key)) {
            fprintf(stderr, "shiftlog log query: --from-position \"%s\" is not a source "
                    "position (binlog.000003:1234#0, 0/16B3748:0/16B3700#5) nor a log _id\n",
                    from);
            bson_destroy(filter);
            return NULL;
        }
        BSON_APPEND_DOCUMENT_BEGIN(filter, SL_LOGDOC_ID, &sub);
        BSON_APPEND_UTF8(&sub, "$gte", key);
        bson_append_document_end(filter, &sub);
    }
    return filter;
}

int cli_log_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"table", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'},
        {"from-position", required_argument, NULL, 'p'},
        {"limit", required_argument, NULL, 'n'},
        {"uri", required_argument, NULL, 'u'},
        {"database", required_argument, NULL, 'd'},
        {"collection", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *table = NULL, *since = NULL, *from = NULL, *coll_name = NULL;
    const char *uri = getenv("SHIFTLOG_LOG_URI"), *database = getenv("SHIFTLOG_LOG_DATABASE");
    long long limit = 0;
    int c, rc = 1;
    if (argc < 2 || strcmp(argv[1], "query")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            log_usage(stdout);
            return 0;
        }
        log_usage(stderr);
        return 2;
    }
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': table = optarg; break;
        case 's': since = optarg; break;
        case 'p': from = optarg; break;
        case 'u': uri = optarg; break;
        case 'd': database = optarg; break;
        case 'c': coll_name = optarg; break;
        case 'n': {
            char *end;
            limit = strtoll(optarg, &end, 10);
            if (*end || limit < 0) {
                fprintf(stderr, "shiftlog log query: --limit \"%s\" is not a count\n", optarg);
                return 2;
            }
            break;
        }
        case 'h': log_usage(stdout); return 0;
        default: log_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        log_usage(stderr);
        return 2;
    }
    const char *source = argv[optind];
    if (!uri || !*uri)
        uri = "mongodb://127.0.0.1:27117";
    if (!database || !*database)
        database = "shiftlog";
    if (!coll_name)
        coll_name = source;

    bson_t *filter = query_filter(table, since, from);
    if (!filter)
        return 2;
    bson_t *opts_doc = BCON_NEW("sort", "{", SL_LOGDOC_ID, BCON_INT32(1), "}");
    if (limit > 0)
        BSON_APPEND_INT64(opts_doc, "limit", limit);

    bson_error_t e;
    mongoc_init();
    mongoc_uri_t *u = mongoc_uri_new_with_error(uri, &e);
    mongoc_client_t *client = NULL;
    mongoc_collection_t *coll = NULL;
    mongoc_cursor_t *cur = NULL;
    if (!u) {
        fprintf(stderr, "shiftlog log query: --uri: %s\n", e.message);
        rc = 2;
        goto out;
    }
    if (!mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0))
        mongoc_uri_set_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    client = mongoc_client_new_from_uri(u);
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
    coll = mongoc_client_get_collection(client, database, coll_name);
    cur = mongoc_collection_find_with_opts(coll, filter, opts_doc, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        char *j = bson_as_relaxed_extended_json(doc, NULL);
        if (j) {
            fputs(j, stdout);
            fputc('\n', stdout);
        }
        bson_free(j);
    }
    if (mongoc_cursor_error(cur, &e)) {
        fprintf(stderr, "shiftlog log query: %s.%s: %s\n", database, coll_name, e.message);
        rc = 1;
        goto out;
    }
    rc = 0;
out:
    if (cur)
        mongoc_cursor_destroy(cur);
    if (coll)
        mongoc_collection_destroy(coll);
    if (client)
        mongoc_client_destroy(client);
    if (u)
        mongoc_uri_destroy(u);
    bson_destroy(opts_doc);
    bson_destroy(filter);
    mongoc_cleanup();
    return rc;
}

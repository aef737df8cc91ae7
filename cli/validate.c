/* shiftlog validate: proves that target tables hold what their source
 * tables hold, chunk by chunk, while changes flow (docs/validate.md). This
 * file: the command line, the engines by URL, the report (text or JSON) and
 * the exit status; the comparison is validate_run.c, the engines
 * validate_{my,pg,mongo}.c, --repair validate_repair.c. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "cli.h"
#include "validate.h"

int cli_validate_main(int argc, char **argv);

#define VAL_EXIT_EQUAL     0
#define VAL_EXIT_DIFFERENT 1
#define VAL_EXIT_ERROR     2

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog validate --source URL --target URL [options]\n"
        "                         SOURCE_TABLE TARGET_TABLE [SOURCE_TABLE TARGET_TABLE ...]\n"
        "       shiftlog validate --source URL --task APPLIER_CONF [options] [PAIRS...]\n"
        "\n"
        "Compares each target table with its source table, key range by key range: row\n"
        "counts and checksums of a canonical text of every row, computed by each database\n"
        "(MongoDB: by this command), so rows do not cross the network to be compared.\n"
        "A differing range is checked again after a delay (changes still in flight are\n"
        "not differences), then split until the differing keys are known.\n"
        "\n"
        "  --source URL       mysql://USER:PASSWORD@HOST:PORT (MariaDB/MySQL) or\n"
        "                     postgresql://USER:PASSWORD@HOST:PORT/DATABASE\n"
        "  --target URL       the same, or mongodb://HOST:PORT (a target only)\n"
        "                     tables: MariaDB db.table, PostgreSQL schema.table,\n"
        "                     MongoDB db.collection\n"
        "  --task FILE        an applier's config: its target (target.*) and, without\n"
        "                     pairs, every source table its tables/tables.exclude take,\n"
        "                     named as map.tables says; its column rules (map.columns,\n"
        "                     columns.include/exclude) say which columns are compared\n"
        "  --chunk-rows N     source rows per chunk (default 10000)\n"
        "  --leaf-rows N      a differing range this small is compared row by row\n"
        "                     (default 256)\n"
        "  --max-keys N       differing keys listed per table; the rest are counted\n"
        "                     (default 20)\n"
        "  --retries N        re-checks of a differing range before it counts (default 3)\n"
        "  --retry-delay MS   delay before the first re-check, doubled for each next one\n"
        "                     (default 2000)\n"
        "  --json             one JSON object instead of the table\n"
        "  --repair           ask the source's collector to copy the differing key ranges\n"
        "                     again (through the topic, like a snapshot), wait, and check\n"
        "                     those ranges again; needs --collector\n"
        "  --collector URL    the source collector's HTTP endpoint (http.listen)\n"
        "  --repair-timeout S longest wait for the collector's copy (default 600)\n"
        "  -q, --quiet        no progress lines on stderr\n"
        "\n"
        "exit status: 0 every pair equal, 1 differences found (after --repair: still\n"
        "differing), 2 could not validate (usage, connection, a table without key...)\n");
}

/* ------------------------------------------------------------ engines */

sl_err_t val_engine_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size)
{
    if (!strncmp(url, "mysql://", 8) || !strncmp(url, "mariadb://", 10))
        return val_my_open(e, url, errstr, errstr_size);
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
        return val_pg_open(e, url, errstr, errstr_size);
    if (!strncmp(url, "mongodb://", 10) || !strncmp(url, "mongodb+srv://", 14))
        return val_mongo_open(e, url, errstr, errstr_size);
    snprintf(errstr, errstr_size, "\"%.40s\": not a mysql://, mariadb://, postgresql:// or "
             "mongodb:// URL", url);
    return SL_ERR_INVALID;
}

/* ------------------------------------------------------------ report */

static const char *diff_name(val_diff_kind_t k)
{
    return k == VD_CHANGED ? "changed" : k == VD_MISSING ? "missing" : "extra";
}

static void json_key(sl_buf_t *b, const val_table_t *t, char *const *key)
{
    sl_buf_putc(b, '[');
    for (uint32_t k = 0; k < t->nkey; k++) {
        val_kind_t kind = t->cols[t->key[k]].kind;
        if (k)
            sl_buf_putc(b, ',');
        if (kind == VK_INT || kind == VK_DEC)
            sl_buf_puts(b, key[k]);
        else
            sl_buf_json_str(b, key[k], strlen(key[k]));
    }
    sl_buf_putc(b, ']');
}

static void json_result(sl_buf_t *b, const val_table_t *t, const val_result_t *r)
{
    sl_buf_printf(b, "\"source_rows\":%llu,\"target_rows\":%llu,\"chunks\":%llu,"
                  "\"chunks_differing\":%llu,\"differing_keys\":%llu,\"changed\":%llu,"
                  "\"missing\":%llu,\"extra\":%llu,\"keys\":[",
                  (unsigned long long)r->src_rows, (unsigned long long)r->tgt_rows,
                  (unsigned long long)r->chunks, (unsigned long long)r->chunks_differing,
                  (unsigned long long)r->ndiff, (unsigned long long)r->nchanged,
                  (unsigned long long)r->nmissing, (unsigned long long)r->nextra);
    for (uint32_t i = 0; i < r->ndiffs_listed; i++) {
        sl_buf_printf(b, "%s{\"kind\":\"%s\",\"key\":", i ? "," : "",
                      diff_name(r->diffs[i].kind));
        json_key(b, t, r->diffs[i].key);
        sl_buf_putc(b, '}');
    }
    sl_buf_printf(b, "],\"keys_not_listed\":%llu,\"chunks_rechecked\":%llu,\"seconds\":%.3f",
                  (unsigned long long)(r->ndiff - r->ndiffs_listed),
                  (unsigned long long)r->chunks_rechecked, r->seconds);
}

static void text_keys(const val_table_t *t, const val_result_t *r, const char *indent)
{
    for (uint32_t i = 0; i < r->ndiffs_listed; i++) {
        printf("%s%-8s ", indent, diff_name(r->diffs[i].kind));
        for (uint32_t k = 0; k < t->nkey; k++)
            printf("%s%s=%s", k ? ", " : "", t->cols[t->key[k]].name, r->diffs[i].key[k]);
        putchar('\n');
    }
    if (r->ndiff > r->ndiffs_listed)
        printf("%s... and %llu more differing key(s) (--max-keys)\n", indent,
               (unsigned long long)(r->ndiff - r->ndiffs_listed));
}

/* ------------------------------------------------------------ one pair */

typedef struct args_s {
    const char *source, *target, *collector, *task_path;
    val_task_t *task;
    val_opts_t  o;
    int         json, repair;
    long        repair_timeout;
} args_t;

/* Checks the ranges of first again after --repair into after; extras-only
 * ranges (which a copy cannot remove) with the usual re-checks, the
 * repaired ones with enough to let the applier write the copy. */
static sl_err_t recheck(val_engine_t *src, val_engine_t *dst, const val_table_t *t,
                        const args_t *a, const val_result_t *first, val_result_t *after,
                        char *errstr, size_t errstr_size)
{
    val_opts_t o = a->o;
    sl_err_t err = SL_OK;
    if (first->ranges_overflow)
        return val_compare(src, dst, t, &o, NULL, NULL, after, errstr, errstr_size);
    for (uint32_t i = 0; !err && i < first->nranges; i++) {
        const val_range_t *g = &first->ranges[i];
        o = a->o;
        if (g->repairable) {
            o.retries = o.retries < 20 ? 20 : o.retries;
            o.retry_ms = 1000;
        }
        err = val_compare(src, dst, t, &o, g->has_after ? g->after : NULL,
                          g->has_upto ? g->upto : NULL, after, errstr, errstr_size);
    }
    return err;
}

/* Validates one pair; prints its report; returns its exit status. */
static int one_pair(const args_t *a, val_engine_t *src, val_engine_t *dst, const char *stab,
                    const char *ttab, sl_buf_t *json)
{
    char errstr[1024] = "";
    val_table_t t = {0}, tt = {0};
    val_result_t r = {0}, r2 = {0};
    int code = VAL_EXIT_ERROR, repaired = 0;
    sl_err_t err;
    if (!src->describe) {
        snprintf(errstr, sizeof errstr, "%s can be a target only", src->name);
        goto out;
    }
    if ((err = src->describe(src->ctx, stab, &t, errstr, sizeof errstr)))
        goto out;
    for (uint32_t k = 0; k < t.nkey; k++)
        if (!val_key_kind_ok(t.cols[t.key[k]].kind)) {
            snprintf(errstr, sizeof errstr, "%s: key column %s is of a type whose order "
                     "differs between databases (FLOAT, TIME, BIT, SET): not compared", stab,
                     t.cols[t.key[k]].name);
            goto out;
        }
    /* --task: the columns the applier writes, under their target names */
    if (a->task && (err = val_task_columns(a->task, stab, &t, &tt, errstr, sizeof errstr)))
        goto out;
    if ((err = src->bind(src->ctx, stab, &t, errstr, sizeof errstr)) ||
        (err = dst->bind(dst->ctx, ttab, a->task ? &tt : &t, errstr, sizeof errstr)) ||
        (err = val_compare(src, dst, &t, &a->o, NULL, NULL, &r, errstr, sizeof errstr)))
        goto out;
    code = r.ndiff ? VAL_EXIT_DIFFERENT : VAL_EXIT_EQUAL;
    if (a->repair && r.ndiff) {
        if ((err = val_repair_request(a->collector, stab, &t, r.ranges, r.nranges,
                                      r.ranges_overflow, a->repair_timeout, errstr,
                                      sizeof errstr)) ||
            (err = recheck(src, dst, &t, a, &r, &r2, errstr, sizeof errstr))) {
            code = VAL_EXIT_ERROR;
            goto out;
        }
        repaired = 1;
        code = r2.ndiff ? VAL_EXIT_DIFFERENT : VAL_EXIT_EQUAL;
    }
out:
    if (a->json) {
        if (json->data[json->len - 1] != '[')
            sl_buf_putc(json, ',');
        sl_buf_puts(json, "{\"source\":");
        sl_buf_json_str(json, stab, strlen(stab));
        sl_buf_puts(json, ",\"target\":");
        sl_buf_json_str(json, ttab, strlen(ttab));
        sl_buf_printf(json, ",\"result\":\"%s\"", code == VAL_EXIT_EQUAL ? "equal"
                      : code == VAL_EXIT_DIFFERENT ? "different" : "error");
        if (code == VAL_EXIT_ERROR) {
            sl_buf_puts(json, ",\"error\":");
            sl_buf_json_str(json, errstr, strlen(errstr));
        }
        if (t.nkey) {
            sl_buf_puts(json, ",\"key_columns\":[");
            for (uint32_t k = 0; k < t.nkey; k++) {
                if (k)
                    sl_buf_putc(json, ',');
                const char *n = t.cols[t.key[k]].name;
                sl_buf_json_str(json, n, strlen(n));
            }
            sl_buf_puts(json, "],");
            json_result(json, &t, &r);
        }
        if (repaired) {
            sl_buf_printf(json, ",\"repair\":{\"ranges\":%u,", r.nranges);
            json_result(json, &t, &r2);
            sl_buf_putc(json, '}');
        }
        sl_buf_putc(json, '}');
    } else {
        char name[600];
        snprintf(name, sizeof name, "%s -> %s", stab, ttab);
        printf("%-44s %11llu %11llu %7llu %9llu  %s\n", name, (unsigned long long)r.src_rows,
               (unsigned long long)r.tgt_rows, (unsigned long long)r.chunks,
               (unsigned long long)r.chunks_differing,
               code == VAL_EXIT_ERROR ? "ERROR" : r.ndiff ? "DIFFERENT" : "equal");
        if (code == VAL_EXIT_ERROR)
            printf("    %s\n", errstr);
        text_keys(&t, &r, "    ");
        if (repaired) {
            printf("    repair: %u key range(s) copied again; after it: %s\n", r.nranges,
                   r2.ndiff ? "still differing" : "equal");
            text_keys(&t, &r2, "      ");
            if (r2.nextra)
                printf("      (extra rows: a re-snapshot copies the source's rows, it does "
                       "not delete the target's)\n");
        }
    }
    val_result_free(&r, t.nkey);
    val_result_free(&r2, t.nkey);
    val_table_free(&t);
    val_table_free(&tt);
    return code;
}

/* ------------------------------------------------------------ main */

/* The process's peak resident memory (VmHWM, kB; 0 without /proc): the
 * proof that memory does not grow with the table. Not getrusage(): its
 * ru_maxrss keeps the high-water mark of the process before exec (a large
 * parent that forked it). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int cli_validate_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 's'},     {"target", required_argument, NULL, 't'},
        {"chunk-rows", required_argument, NULL, 'C'}, {"leaf-rows", required_argument, NULL, 'L'},
        {"max-keys", required_argument, NULL, 'K'},   {"retries", required_argument, NULL, 'R'},
        {"retry-delay", required_argument, NULL, 'D'}, {"json", no_argument, NULL, 'j'},
        {"repair", no_argument, NULL, 'r'},           {"collector", required_argument, NULL, 'c'},
        {"repair-timeout", required_argument, NULL, 'T'}, {"quiet", no_argument, NULL, 'q'},
        {"task", required_argument, NULL, 'k'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    args_t a = {NULL, NULL, NULL, NULL, NULL, {10000, 256, 20, 3, 2000, 1}, 0, 0, 600};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (o) {
        case 's': a.source = optarg; break;
        case 't': a.target = optarg; break;
        case 'C': a.o.chunk_rows = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'L': a.o.leaf_rows = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'K': a.o.max_keys = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'R': a.o.retries = atoi(optarg); break;
        case 'D': a.o.retry_ms = atoi(optarg); break;
        case 'j': a.json = 1; break;
        case 'r': a.repair = 1; break;
        case 'c': a.collector = optarg; break;
        case 'T': a.repair_timeout = atol(optarg); break;
        case 'q': a.o.progress = 0; break;
        case 'k': a.task_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return VAL_EXIT_ERROR;
        }
    }
    int npairs = (argc - optind) / 2;
    char errstr[1024];
    char **pairs = argv + optind;
    val_engine_t src = {0}, dst = {0};
    int code = VAL_EXIT_ERROR;
    sl_buf_t json = SL_BUF_INIT;
    if (a.task_path) {
        const char *target;
        if (val_task_load(&a.task, a.task_path, &target, errstr, sizeof errstr)) {
            fprintf(stderr, "shiftlog validate: %s\n", errstr);
            return VAL_EXIT_ERROR;
        }
        a.target = a.target ? a.target : target;
    }
    if (!a.source || !a.target || (npairs < 1 && !a.task) || (argc - optind) % 2 ||
        !a.o.chunk_rows || !a.o.leaf_rows || a.o.retries < 0 || a.o.retry_ms < 0 ||
        (a.repair && !a.collector)) {
        fprintf(stderr, "shiftlog validate: %s\n", a.repair && !a.collector
                ? "--repair needs --collector URL" : "say --source, --target (or --task) and "
                "table pairs (shiftlog validate --help)");
        val_task_free(a.task);
        return VAL_EXIT_ERROR;
    }
    mongoc_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (val_engine_open(&src, a.source, errstr, sizeof errstr) ||
        val_engine_open(&dst, a.target, errstr, sizeof errstr)) {
        fprintf(stderr, "shiftlog validate: %s\n", errstr);
        goto out;
    }
    /* --task without pairs: every source table the applier's rules take */
    if (a.task && !npairs && val_task_pairs(a.task, &src, &pairs, &npairs, errstr,
                                            sizeof errstr)) {
        fprintf(stderr, "shiftlog validate: %s\n", errstr);
        goto out;
    }
    if (!npairs) {
        fprintf(stderr, "shiftlog validate: %s: its tables rules take no table of the "
                "source\n", a.task_path);
        goto out;
    }
    if (a.json)
        sl_buf_puts(&json, "{\"pairs\":[");
    else
        printf("%-44s %11s %11s %7s %9s  %s\n", "SOURCE -> TARGET", "SOURCE ROWS",
               "TARGET ROWS", "CHUNKS", "DIFFERING", "RESULT");
    code = VAL_EXIT_EQUAL;
    for (int i = 0; i < npairs; i++) {
        int c = one_pair(&a, &src, &dst, pairs[2 * i], pairs[2 * i + 1], &json);
        if (c > code)
            code = c;
    }
    if (a.json) {
        sl_buf_printf(&json, "],\"result\":\"%s\",\"peak_rss_kb\":%ld}\n",
                      code == VAL_EXIT_EQUAL ? "equal"
                      : code == VAL_EXIT_DIFFERENT ? "different" : "error", peak_rss_kb());
        fputs(json.data, stdout);
    }
out:
    if (src.destroy)
        src.destroy(src.ctx);
    if (dst.destroy)
        dst.destroy(dst.ctx);
    sl_buf_free(&json);
    val_task_free(a.task);
    curl_global_cleanup();
    mongoc_cleanup();
    return code;
}

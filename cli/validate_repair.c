/* shiftlog validate --repair: asks the source's collector to copy the
 * differing key ranges again, through its snapshot path, so the rows go
 * through the topic like any change (every target and the shared log get
 * them, in order with the stream):
 *
 *   POST <collector>/snapshot?table=db.t&after=<K>&upto=<K>
 *
 * K is a JSON array of the key's values in key order ([17], ["a",3]); the
 * collector re-reads the rows with after < key <= upto (a bound left out is
 * open). A collector that does not know after/upto copies the whole table,
 * which repairs the ranges as well. Many ranges become one whole-table
 * request. Then GET /snapshot is polled until every request has ended
 * (by the ids the collector answers; snapshot_view.c reads the status). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "snapshot_view.h"
#include "validate.h"

#define REPAIR_MAX_RANGES 16

/* A key as a JSON array: numbers as numbers, everything else as strings. */
static sl_err_t key_json(sl_buf_t *b, const val_table_t *t, char *const *key)
{
    sl_err_t err = sl_buf_putc(b, '[');
    for (uint32_t k = 0; !err && k < t->nkey; k++) {
        val_kind_t kind = t->cols[t->key[k]].kind;
        if (k)
            err = sl_buf_putc(b, ',');
        if (err)
            break;
        if (kind == VK_INT || kind == VK_DEC)
            err = sl_buf_puts(b, key[k]);
        else
            err = sl_buf_json_str(b, key[k], strlen(key[k]));
    }
    return err ? err : sl_buf_putc(b, ']');
}

/* One request; its id (the caller frees it; NULL from a collector without
 * request ids) into *id. */
static sl_err_t post(CURL *esc, const char *base, int bl, const char *table,
                     const val_table_t *t, const val_range_t *g, char **id, char *errstr,
                     size_t errstr_size)
{
    sl_buf_t url = SL_BUF_INIT, k = SL_BUF_INIT, body = SL_BUF_INIT;
    sl_err_t err = SL_ERR_NOMEM;
    char *q = curl_easy_escape(esc, table, 0);
    if (!q || sl_buf_printf(&url, "%.*s/snapshot?table=%s", bl, base, q))
        goto out;
    for (int side = 0; g && side < 2; side++) {
        if (!(side ? g->has_upto : g->has_after))
            continue;
        sl_buf_reset(&k);
        if (key_json(&k, t, side ? g->upto : g->after))
            goto out;
        char *e = curl_easy_escape(esc, k.data, (int)k.len);
        int bad = !e || sl_buf_printf(&url, "&%s=%s", side ? "upto" : "after", e);
        curl_free(e);
        if (bad)
            goto out;
    }
    long status = 0;
    if (cli_http_request("shiftlog validate --repair", url.data, 1, &body, &status)) {
        snprintf(errstr, errstr_size, "the collector at %s did not answer", base);
        err = SL_ERR_IO;
        goto out;
    }
    if (status != 202) {
        snprintf(errstr, errstr_size, "the collector refused the re-snapshot of %s: HTTP %ld %s",
                 table, status, body.data ? body.data : "");
        err = SL_ERR_DB;
        goto out;
    }
    *id = cli_snap_answer_id(body.data);
    fprintf(stderr, "shiftlog validate: re-snapshot of %s%s%s%s%s requested\n", table,
            g && g->has_after ? " after " : "", g && g->has_after ? g->after[0] : "",
            g && g->has_upto ? " up to " : "", g && g->has_upto ? g->upto[0] : "");
    err = SL_OK;
out:
    curl_free(q);
    sl_buf_free(&url);
    sl_buf_free(&k);
    sl_buf_free(&body);
    return err;
}

sl_err_t val_repair_request(const char *base, const char *table, const val_table_t *t,
                            const val_range_t *ranges, uint32_t nranges, int whole,
                            long timeout_s, char *errstr, size_t errstr_size)
{
    int bl = cli_base_len(base);
    char url[2048], *ids[REPAIR_MAX_RANGES + 1];
    int nids = 0, old = 0;
    sl_buf_t body = SL_BUF_INIT;
    long status = 0, done0 = 0;
    sl_err_t err = SL_OK;
    CURL *esc = curl_easy_init();
    if (!esc) {
        snprintf(errstr, errstr_size, "libcurl: cannot start");
        return SL_ERR_NOMEM;
    }
    snprintf(url, sizeof url, "%.*s/snapshot", bl, base);
    if (!cli_http_request("shiftlog validate --repair", url, 0, &body, &status) &&
        status == 200)
        done0 = cli_snap_tables_done(body.data);
    uint32_t n = 0;
    for (uint32_t i = 0; i < nranges; i++)
        n += ranges[i].repairable;
    if (whole)          /* more differing ranges than were kept: any may need a copy */
        n = REPAIR_MAX_RANGES + 1;
    for (uint32_t i = 0; !err && i < (whole ? 1 : nranges) && n; i++) {
        const val_range_t *g = n > REPAIR_MAX_RANGES ? NULL : &ranges[i];
        char *id = NULL;
        if (g && !g->repairable)
            continue;
        /* more ranges than that: one copy of the whole table */
        err = post(esc, base, bl, table, t, g, &id, errstr, errstr_size);
        if (!err && id)
            ids[nids++] = id;
        old |= !err && !id;
        if (!g)
            break;
    }
    /* until every request has ended (ids), or for a collector without
     * ids: nothing left and one more copy done than before */
    cli_snap_view_t v;
    cli_snap_view_init(&v, 0, (const char *const *)ids, nids);
    v.out = stderr;                   /* stdout is the report (--json) */
    time_t t0 = time(NULL);
    while (!err && n) {
        usleep(300000);
        if (!cli_http_request("shiftlog validate --repair", url, 0, &body, &status) &&
            status == 200) {
            int end = old ? cli_snap_old_done(body.data, 0, done0)
                          : cli_snap_view_update(&v, body.data);
            if (end > 0)
                break;
            if (end < 0) {
                snprintf(errstr, errstr_size, "the collector did not copy a range of %s "
                         "(GET /snapshot \"ended\" says why)", table);
                err = SL_ERR_DB;
            }
        }
        if (!err && time(NULL) - t0 > timeout_s) {
            snprintf(errstr, errstr_size, "the collector's re-snapshot of %s did not finish "
                     "within %ld s", table, timeout_s);
            err = SL_ERR_TIMEOUT;
        }
    }
    for (int i = 0; i < nids; i++)
        free(ids[i]);
    curl_easy_cleanup(esc);
    sl_buf_free(&body);
    return err;
}

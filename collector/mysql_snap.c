/* shiftlog-collector, MySQL/MariaDB: the snapshot engine (snapshot.c, run by
 * the supervisor) in a binlog session. The session owns the order of
 * everything published; the engine reads chunks on connections of its own
 * (snapshot_mysql.c) and publishes them only from inside the stream, when
 * the reader meets the chunk's HIGH watermark:
 *   - the watermarks are rows of the signal table, one per source
 *     (source, mark, seq, written); the reader hands their after images to
 *     the engine here and never publishes them, nor the table's SCHEMA;
 *   - the sink's schema publishes the table's SCHEMA (catalog, as at a DDL)
 *     at the signal table's TABLE_MAP position when the stream has not
 *     published that definition, so the READ rows that follow at the rows
 *     event's position have their schema before them;
 *   - the sink's put is the session's own put: the rows count into the
 *     watermark's transaction and its COMMIT carries the progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_source.h"
#include "source.h"
#include "sl_log.h"
#include "sl_name.h"

struct col_my_snap_s {
    const col_conf_t *conf;
    col_my_schema_t  *schema;
    col_sup_t        *sup;            /* the engine's, through col_sup_watermark */
    col_my_put_fn     put;
    void             *reader;
    char              sig_db[256];
    char              sig_tb[256];
    sl_pos_t          map_pos;        /* the signal table's last TABLE_MAP */
    uint32_t          nschema;        /* SCHEMA records put at map_pos */
    sl_record_t      *schema_rec;     /* the sink's SCHEMA; its names go to the engine */
    const char      **names;
    uint32_t          names_cap;
    sl_record_t      *scratch;        /* decoded signal rows */
};

/* ------------------------------------------------------------ the sink */

static sl_err_t sink_schema(void *ctx, const char *db, const char *table, uint64_t *schema_id,
                            const char *const **names, uint32_t *ncols, char *errstr,
                            size_t errstr_size)
{
    col_my_snap_t *ms = ctx;
    int emit = 0;
    sl_record_t *rec = ms->schema_rec;
    sl_record_reset(rec);
    sl_err_t err = col_my_schema_snapshot(ms->schema, db, table, ms->conf->source_name, rec,
                                          &emit, schema_id, errstr, errstr_size);
    if (err)
        return err;
    const sl_schema_t *sc = &rec->u.schema;
    if (sc->ncols > ms->names_cap) {
        const char **n = realloc(ms->names, sc->ncols * sizeof(*n));
        if (!n) {
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
        ms->names = n;
        ms->names_cap = sc->ncols;
    }
    for (uint32_t i = 0; i < sc->ncols; i++)
        ms->names[i] = sc->cols[i].name;
    *names = ms->names;
    *ncols = sc->ncols;
    if (!emit)
        return SL_OK;
    /* before the watermark's rows event: at its TABLE_MAP (row = SCHEMA count) */
    rec->pos = ms->map_pos;
    rec->pos.row = ms->nschema++;
    sl_info("snapshot: table %s.%s: schema published with its first chunk", db, table);
    return ms->put(ms->reader, rec, errstr, errstr_size);
}

static sl_err_t sink_put(void *ctx, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    col_my_snap_t *ms = ctx;
    return ms->put(ms->reader, rec, errstr, errstr_size);
}

/* ------------------------------------------------------------ lifecycle */

sl_err_t col_my_snap_new(col_my_snap_t **out, const col_conf_t *conf, col_my_schema_t *schema,
                         col_sup_t *sup, col_my_put_fn put, void *reader, col_snap_sink_t *sink,
                         char *errstr, size_t errstr_size)
{
    col_my_snap_t *ms = calloc(1, sizeof(*ms));
    *out = NULL;
    if (!ms || !(ms->schema_rec = sl_record_new()) || !(ms->scratch = sl_record_new())) {
        col_my_snap_destroy(ms);
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    ms->conf = conf;
    ms->schema = schema;
    ms->sup = sup;
    ms->put = put;
    ms->reader = reader;
    const char *sig = conf->snapshot_signal_table && conf->snapshot_signal_table[0]
                    ? conf->snapshot_signal_table : "shiftlog.shiftlog_signal";
    if (sl_name_parse(sig, ms->sig_db, sizeof(ms->sig_db), ms->sig_tb, sizeof(ms->sig_tb))) {
        snprintf(errstr, errstr_size, "snapshot.signal.table \"%s\" is not `db.table`", sig);
        col_my_snap_destroy(ms);
        return SL_ERR_INVALID;
    }
    *sink = (col_snap_sink_t){.ctx = ms, .schema = sink_schema, .put = sink_put};
    *out = ms;
    return SL_OK;
}

void col_my_snap_destroy(col_my_snap_t *ms)
{
    if (!ms)
        return;
    sl_record_destroy(ms->schema_rec);
    sl_record_destroy(ms->scratch);
    free(ms->names);
    free(ms);
}

int col_my_snap_is_signal(const col_my_snap_t *ms, const char *db, const char *tb)
{
    return ms && db && tb && !strcmp(db, ms->sig_db) && !strcmp(tb, ms->sig_tb);
}

void col_my_snap_map_pos(col_my_snap_t *ms, const sl_pos_t *pos)
{
    if (!ms)
        return;
    ms->map_pos = *pos;
    ms->nschema = 0;
}

/* ------------------------------------------------------------ watermarks */

sl_err_t col_my_snap_signal_rows(col_my_snap_t *ms, const col_tablemap_t *tm, int event_type,
                                 const uint8_t *body, size_t len, const sl_pos_t *pos,
                                 const char *txn, int64_t time_us, char *errstr,
                                 size_t errstr_size)
{
    col_rows_cursor_t cur;
    char why[512];
    sl_err_t err;
    if (!ms)
        return SL_OK;
    /* the mark column by name; the second column when the binlog has no names
     * (binlog_row_metadata = MINIMAL) */
    int mark = tm->ncols > 1 ? 1 : -1;
    if (tm->has_names)
        for (uint32_t i = 0; i < tm->ncols; i++)
            if (!strcmp(tm->names[i], "mark"))
                mark = (int)i;
    if (mark < 0)
        return SL_OK;
    if ((err = col_mysql_rows_open(&cur, event_type, body, len, why, sizeof(why))))
        goto bad;
    if (cur.op == SL_OP_DELETE)
        return SL_OK;
    while (!col_mysql_rows_done(&cur)) {
        sl_record_reset(ms->scratch);
        if ((err = col_mysql_rows_next(&cur, tm, ms->conf->source_name, 64, 0, ms->scratch,
                                       why, sizeof(why))))
            goto bad;
        const sl_change_t *c = &ms->scratch->u.change;
        for (uint32_t r = 0; r < c->nrows; r++) {
            const sl_value_t *v = c->rows[r].after ? &c->rows[r].after[mark] : NULL;
            char kind, id[1100];
            if (!v || (v->kind != SL_VAL_STRING && v->kind != SL_VAL_BYTES) ||
                !col_snap_parse_mark(v->data, v->len, ms->conf->source_name, &kind, id,
                                     sizeof(id)))
                continue;                /* another source's, or not a mark */
            if ((err = col_sup_watermark(ms->sup, kind, id, pos, txn, time_us, errstr,
                                         errstr_size)))
                return err;
        }
    }
    return SL_OK;
bad:
    snprintf(errstr, errstr_size, "signal table %s.%s: %s", ms->sig_db, ms->sig_tb, why);
    return err;
}

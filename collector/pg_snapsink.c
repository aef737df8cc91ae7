/* shiftlog collector, PostgreSQL: what the stream gives the snapshot engine
 * (snapshot.h col_snap_sink_t) and the watermarks it meets.
 *
 * The engine's HIGH watermark is a transactional logical message: the
 * decoder hands it over inside its transaction (pg_decode.h
 * pg_message_fn), and the chunk's READ rows go into that same transaction
 * (pg_dec_put), so its COMMIT closes them like any other rows. A table
 * the stream has not described yet (no change of it since the session
 * began) gets a Relation message built from the catalog exactly as
 * pgoutput writes one (logicalrep_write_rel: attnum order, no dropped or
 * generated column, the publication's column list, the replica identity
 * key flags), fed to the decoder: its SCHEMA then is what the stream would
 * publish, and when the stream's own Relation comes it is the same, so no
 * second SCHEMA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_source.h"
#include "source.h"
#include "sl_log.h"

static void put_u8(sl_buf_t *b, uint8_t v)
{
    sl_buf_putc(b, (char)v);
}

static void put_u16(sl_buf_t *b, uint16_t v)
{
    put_u8(b, (uint8_t)(v >> 8));
    put_u8(b, (uint8_t)v);
}

static void put_u32(sl_buf_t *b, uint32_t v)
{
    put_u16(b, (uint16_t)(v >> 16));
    put_u16(b, (uint16_t)v);
}

static void put_str(sl_buf_t *b, const char *s)
{
    sl_buf_append(b, s, strlen(s) + 1);
}

/* Feeds the decoder a Relation message of nsp.name built from the catalog.
 * SL_ERR_NOT_FOUND: the table is not (any more) in the publication. */
static sl_err_t relation_from_catalog(pg_snapsink_t *k, const char *nsp, const char *name,
                                      char *errstr, size_t errstr_size)
{
    const char *p[3] = {k->conf->source_publication, nsp, name};
    int pg15 = PQserverVersion(k->qc) >= 150000;
    sl_buf_t m = SL_BUF_INIT;
    sl_err_t err = SL_OK;
    PGresult *r = PQexecParams(k->qc, pg15 ?
        "SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, "
        "c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
        "CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE "
        "false END AND a.attnum IN (SELECT x.att FROM unnest(i.indkey) WITH ORDINALITY x(att, n) "
        "WHERE x.n <= i.indnkeyatts)) "
        "FROM pg_publication_tables t JOIN pg_namespace n ON n.nspname = t.schemaname "
        "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' AND a.attname = ANY (t.attnames) "
        "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3 ORDER BY a.attnum" :
        "SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, "
        "c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
        "CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE "
        "false END AND a.attnum IN (SELECT x.att FROM unnest(i.indkey) WITH ORDINALITY x(att, n) "
        "WHERE x.n <= i.indnkeyatts)) "
        "FROM pg_publication_tables t JOIN pg_namespace n ON n.nspname = t.schemaname "
        "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' "
        "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3 ORDER BY a.attnum",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *e = PQresultErrorMessage(r);
        snprintf(errstr, errstr_size, "table %s.%s: reading its columns for the snapshot: %.*s",
                 nsp, name, (int)strcspn(e, "\n"), e);
        PQclear(r);
        return SL_ERR_DB;
    }
    int n = PQntuples(r);
    if (n == 0) {
        snprintf(errstr, errstr_size, "table %s.%s is not in publication \"%s\"", nsp, name,
                 k->conf->source_publication);
        PQclear(r);
        return SL_ERR_NOT_FOUND;
    }
    put_u8(&m, 'R');
    put_u32(&m, (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10));
    put_str(&m, nsp);
    put_str(&m, name);
    put_u8(&m, (uint8_t)PQgetvalue(r, 0, 1)[0]);
    put_u16(&m, (uint16_t)n);
    for (int i = 0; i < n; i++) {
        put_u8(&m, PQgetvalue(r, i, 5)[0] == 't');
        put_str(&m, PQgetvalue(r, i, 2));
        put_u32(&m, (uint32_t)strtoul(PQgetvalue(r, i, 3), NULL, 10));
        put_u32(&m, (uint32_t)atoi(PQgetvalue(r, i, 4)));
    }
    PQclear(r);
    if (!m.data)
        err = SL_ERR_NOMEM;
    else
        err = pg_dec_message(k->dec, k->lsn, (const uint8_t *)m.data, m.len, 0, errstr,
                             errstr_size);
    sl_buf_free(&m);
    return err;
}

static sl_err_t sink_schema(void *ctx, const char *db, const char *table, uint64_t *schema_id,
                            const char *const **names, uint32_t *ncols, char *errstr,
                            size_t errstr_size)
{
    pg_snapsink_t *k = ctx;
    sl_err_t err;
    err = pg_dec_table_schema(k->dec, db, table, k->lsn, schema_id, names, ncols, errstr,
                              errstr_size);
    if (err == SL_ERR_NOT_FOUND &&
        !(err = relation_from_catalog(k, db, table, errstr, errstr_size)))
        err = pg_dec_table_schema(k->dec, db, table, k->lsn, schema_id, names, ncols, errstr,
                                  errstr_size);
    return err;
}

static sl_err_t sink_put(void *ctx, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    pg_snapsink_t *k = ctx;
    return pg_dec_put(k->dec, rec, errstr, errstr_size);
}

void pg_snapsink_ops(pg_snapsink_t *k, col_snap_sink_t *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = k;
    out->schema = sink_schema;
    out->put = sink_put;
}

sl_err_t pg_snapsink_message(void *ctx, const char *prefix, const uint8_t *content, size_t len,
                             const sl_pos_t *pos, const char *txn, int64_t time_us,
                             char *errstr, size_t errstr_size)
{
    pg_snapsink_t *k = ctx;
    char kind, id[1024];
    if (!k->sup || strcmp(prefix, "shiftlog") ||
        !col_snap_parse_mark((const char *)content, len, k->conf->source_name, &kind, id,
                             sizeof(id)))
        return SL_OK;
    k->lsn = pos->offset;
    /* the records the engine puts meanwhile are its own, not the stream's:
     * col_sup_watermark keeps them from col_snap_observe */
    return col_sup_watermark(k->sup, kind, id, pos, txn, time_us, errstr, errstr_size);
}

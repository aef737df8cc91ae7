/* shiftlog collector, PostgreSQL: what pg_source.c (col_pg_source, source.h:
 * the replication loop), pg_preflight.c (checks, slot + publication setup,
 * catalog lookups) and pg_snapsink.c (the snapshot engine's sink) share. */
#ifndef COL_PG_SOURCE_H
#define COL_PG_SOURCE_H

#include <libpq-fe.h>
#include "collector.h"
#include "pg_decode.h"
#include "source.h"

/* Session settings that make pgoutput's text output exact and in one form
 * (schemas/README.md); $PGOPTIONS is appended (e.g. "-c
 * logical_decoding_work_mem=64kB"). */
#define PG_SESSION_OPTIONS                                                          \
    "-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC "                   \
    "-c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C"

typedef struct pg_slotinfo_s {
    int      exists;
    uint64_t confirmed_flush;   /* 0 when unknown */
    uint64_t restart_lsn;
} pg_slotinfo_t;

/* Opens a connection (replication = 1: a walsender session on the
 * database). The caller owns *out (PQfinish) — also on error, NULL then. */
sl_err_t pg_connect(const col_conf_t *conf, int replication, PGconn **out,
                    char *errstr, size_t errstr_size);

/* Preflight + setup on a normal connection, in this order: wal_level =
 * logical; REPLICATION privilege; the slot (exists: plugin pgoutput, same
 * database, wal_status not lost; absent or lost when had_checkpoint: the
 * changes since the checkpoint are gone, SL_ERR_NOT_FOUND; absent otherwise:
 * free slots checked and the slot created; recreate — snapshot.mode =
 * when_needed after that NOT_FOUND — drops a lost slot and creates it
 * again); a free WAL sender; the publication (created when absent: FOR ALL
 * TABLES without tables.include, else FOR TABLE the matching tables); each
 * published table's REPLICA IDENTITY (NOTHING or DEFAULT without a primary
 * key: refused with the fix; FULL: noted). Every failure is one sentence with
 * the fix, and SL_ERR_FATAL / SL_ERR_DB (SL_ERR_NOT_FOUND: see above). */
sl_err_t pg_preflight(PGconn *conn, const col_conf_t *conf, const col_filter_t *filter,
                      int had_checkpoint, int recreate, pg_slotinfo_t *slot,
                      char *errstr, size_t errstr_size);

/* Catalog callbacks for the decoder (ctx = the normal PGconn). */
sl_err_t pg_catalog_type(void *ctx, uint32_t oid, pg_typdesc_t *out, char *errstr,
                         size_t errstr_size);
sl_err_t pg_catalog_relextra(void *ctx, uint32_t relid, const char *nsp, const char *rel,
                             uint32_t ncols, char *const *colnames, const uint32_t *typoids,
                             const int32_t *typmods, pg_relextra_t *out, char *errstr,
                             size_t errstr_size);

/* pg_snapsink.c: the snapshot engine's sink over the decoder, and the
 * decoder's message callback that hands it this source's watermarks. */
typedef struct pg_snapsink_s {
    const col_conf_t *conf;
    pg_dec_t         *dec;
    PGconn           *qc;       /* catalog: Relation messages of tables the stream has not described */
    col_sup_t        *sup;      /* the engine's, through col_sup_watermark; NULL: messages
                                   are ignored */
    uint64_t          lsn;      /* the watermark being handled */
} pg_snapsink_t;

void     pg_snapsink_ops(pg_snapsink_t *k, col_snap_sink_t *out);
/* A pg_message_fn (pg_decode.h), ctx = the pg_snapsink_t. */
sl_err_t pg_snapsink_message(void *ctx, const char *prefix, const uint8_t *content, size_t len,
                             const sl_pos_t *pos, const char *txn, int64_t time_us,
                             char *errstr, size_t errstr_size);

/* SQL text -> one-row result value helpers. */
sl_err_t pg_query_lsn(PGconn *conn, const char *sql, uint64_t *out, char *errstr,
                      size_t errstr_size);

#endif

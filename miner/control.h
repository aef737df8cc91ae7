/* shiftlog-miner: per-table stop/resume, catch-up, gaps and status
 * (control.c). State lives in <collection>__control:
 *   {_id: "progress"}        written by the miner after every durable batch
 *   {_id: "source"}          want: "stop" | "run" — pauses the whole source
 *   {_id: "table:db.t"}      want (set by `shiftlog mining stop|resume`),
 *                            state, stopped_at, catchup, gap, counters
 *   {_id: "schema:db.t"}     the latest SCHEMA of the table (restart seed) */
#ifndef MINE_CONTROL_H
#define MINE_CONTROL_H

#include "miner.h"
#include "sl_kafka.h"

typedef enum mine_tstate_e {
    MINE_TS_RUNNING  = 0,
    MINE_TS_STOPPED  = 1,
    MINE_TS_CATCHUP  = 2
} mine_tstate_t;

typedef struct mine_ctl_s mine_ctl_t;

typedef struct mine_ctl_conf_s {
    mine_store_t     *store;
    sl_metrics_t     *metrics;
    const char       *topic;
    const sl_kvlist_t *kafka_props;   /* for the catch-up consumers */
    int               supplement, retention;
} mine_ctl_conf_t;

sl_err_t mine_ctl_new(mine_ctl_t **out, const mine_ctl_conf_t *conf, char *errstr,
                      size_t errstr_size);
void     mine_ctl_destroy(mine_ctl_t *ctl);   /* stops catch-up threads */

/* Loads the table states and schemas of a previous run; restarts the
 * catch-up of tables that were catching up. next_offset: where main
 * starts. */
sl_err_t mine_ctl_load(mine_ctl_t *ctl, int64_t next_offset, char *errstr, size_t errstr_size);

/* Schema in force for table ("db.t"), NULL if none seen. */
const mine_schema_t *mine_ctl_schema(mine_ctl_t *ctl, const char *table);
/* Takes ownership of a SCHEMA record; persists it (control) after the
 * batch's sync through mine_ctl_flush. */
const mine_schema_t *mine_ctl_add_schema(mine_ctl_t *ctl, sl_record_t *rec);

/* Decides, in offset order, whether main writes a record at offset of
 * table (NULL for markers); 1 write, 0 skip. */
int  mine_ctl_gate(mine_ctl_t *ctl, const char *table, int64_t offset);
/* Counts rows main dispatched for a table. */
void mine_ctl_mined(mine_ctl_t *ctl, const char *table, uint64_t rows, const sl_pos_t *last,
                    int64_t time_us);
/* Main's position after a durable batch. */
void mine_ctl_set_main(mine_ctl_t *ctl, int64_t next_offset, const sl_pos_t *last_pos);

/* Reads stop/resume requests and applies them (main thread, between
 * batches). *source_paused receives the source-level request. */
sl_err_t mine_ctl_poll(mine_ctl_t *ctl, int *source_paused, char *errstr, size_t errstr_size);
/* Writes changed table states, counters and schemas to the control
 * collection. */
sl_err_t mine_ctl_flush(mine_ctl_t *ctl, char *errstr, size_t errstr_size);
/* A catch-up thread failed: its sentence (0 when none). */
int      mine_ctl_failed(mine_ctl_t *ctl, char *errstr, size_t errstr_size);
int      mine_ctl_stopped_count(mine_ctl_t *ctl);

/* Low watermark of the topic's partition 0 (first offset still held). */
sl_err_t mine_ctl_low_watermark(rd_kafka_t *rk, const char *topic, int64_t *low,
                                char *errstr, size_t errstr_size);
/* Writes a gap document (and logs it as an error): what cannot be mined. */
sl_err_t mine_ctl_record_gap(mine_store_t *st, mongoc_client_t *c, const char *table,
                             const sl_pos_t *after, int64_t from_offset, int64_t to_offset,
                             char *errstr, size_t errstr_size);


#endif

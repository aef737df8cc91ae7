/* shiftlog-miner: the catch-up thread of a resumed table (control.c's
 * header says how it hands over to the main loop).
 *
 * It owns a consumer without a group, a codec and a writer, and reads the
 * topic from the table's stop offset: the table's rows are written in
 * batches of at most CATCHUP_BATCH messages; before looking at the main
 * loop's next offset it makes everything it read durable and persists its
 * next offset (catchup.next), so a restart resumes there and replays are
 * idempotent (same `_id`). A failure fails the whole control (mine_ctl_table_fail):
 * the miner stops with the table and the reason. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_int.h"
#include "sl_avro.h"
#include "sl_log.h"
#include "sl_logdoc.h"

#define CATCHUP_BATCH 500
#define CATCHUP_ITEMS (CATCHUP_BATCH * 4)

typedef struct catchup_s {
    mtable_t            *t;
    mine_ctl_t          *ctl;
    mine_store_t        *st;
    mongoc_client_t     *client;
    sl_kafka_consumer_t *cons;
    sl_avro_codec_t     *codec;
    mine_writer1_t      *w;
    sl_record_t         *recs[CATCHUP_BATCH];
    mine_item_t          items[CATCHUP_ITEMS];
    size_t               nrec, nitems;
    int64_t              next;          /* next offset to read */
    sl_pos_t             last_pos;      /* of the last row taken */
    uint64_t             rows;          /* rows taken since the last flush */
    char                 errstr[1024];
} catchup_t;

static sl_err_t ct_persist(catchup_t *ct, int64_t next)
{
    char id[600];
    snprintf(id, sizeof id, SL_LOGDOC_CTL_TABLE_PREFIX "%s", ct->t->name);
    bson_t *set = BCON_NEW("catchup.next", BCON_INT64(next));
    sl_err_t err = mine_store_upsert_set(ct->st, ct->client, ct->st->control_name, id, set,
                                         NULL, ct->errstr, sizeof ct->errstr);
    bson_destroy(set);
    return err;
}

/* The consumer, codec, writer and records of the thread. */
static sl_err_t ct_open(catchup_t *ct)
{
    mine_ctl_t *ctl = ct->ctl;
    sl_err_t err;
    if ((err = sl_kafka_consumer_new(&ct->cons, ctl->conf.kafka_props, NULL, 10000, ct->errstr,
                                     sizeof ct->errstr)) ||
        (err = sl_avro_codec_new(&ct->codec, ct->errstr, sizeof ct->errstr)))
        return err;
    if (!(ct->w = mine_writer1_new(ct->st, ctl->conf.supplement, ctl->conf.retention))) {
        snprintf(ct->errstr, sizeof ct->errstr, "cannot create its writer");
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < CATCHUP_BATCH; i++)
        if (!(ct->recs[i] = sl_record_new())) {
            snprintf(ct->errstr, sizeof ct->errstr, "out of memory");
            return SL_ERR_NOMEM;
        }
    return SL_OK;
}

/* When the topic no longer holds ct->next (Kafka retention), records a gap
 * for the offsets lost and moves ct->next to the first one held. */
static sl_err_t ct_skip_gap(catchup_t *ct)
{
    mine_ctl_t *ctl = ct->ctl;
    mtable_t *t = ct->t;
    int64_t low = 0;
    sl_err_t err = mine_ctl_low_watermark(sl_kafka_consumer_handle(ct->cons), ctl->conf.topic,
                                          &low, ct->errstr, sizeof ct->errstr);
    if (err || low <= ct->next)
        return err;
    pthread_mutex_lock(&ctl->mu);
    sl_pos_t after = t->stop_pos;
    pthread_mutex_unlock(&ctl->mu);
    if ((err = mine_ctl_record_gap(ct->st, ct->client, t->name, &after, ct->next, low,
                                   ct->errstr, sizeof ct->errstr)))
        return err;
    sl_metric_inc(ctl->m_gaps);
    pthread_mutex_lock(&ctl->mu);
    t->has_gap = 1;
    t->gap_from = ct->next;
    t->gap_to = low;
    t->gap_after = after;
    t->dirty = 1;
    pthread_mutex_unlock(&ctl->mu);
    ct->next = low;
    return SL_OK;
}

/* Makes the rows taken durable and persists `next` as where to resume. */
static sl_err_t ct_flush(catchup_t *ct, int64_t next)
{
    sl_err_t err;
    if (ct->nitems) {
        if ((err = mine_writer1_write(ct->w, ct->items, ct->nitems, NULL, ct->errstr,
                                      sizeof ct->errstr)))
            return err;
        mine_ctl_mined(ct->ctl, ct->t->name, ct->rows, &ct->last_pos, 0);
    }
    if ((err = ct_persist(ct, next)))
        return err;
    ct->nitems = ct->nrec = 0;
    ct->rows = 0;
    return SL_OK;
}

/* At offset o, with everything before it durable: 1 when the main loop
 * has not reached o yet, so it takes the table's rows from o on. */
static int ct_hand_over(catchup_t *ct, int64_t o)
{
    mine_ctl_t *ctl = ct->ctl;
    mtable_t *t = ct->t;
    pthread_mutex_lock(&ctl->mu);
    int over = ctl->main_next <= o;
    if (over) {
        t->handoff = o;
        t->dirty = 1;
    }
    t->catchup_next = o;
    pthread_mutex_unlock(&ctl->mu);
    if (over)
        sl_info("table %s: catch-up handed over to the main loop at Kafka offset %" PRId64,
                t->name, o);
    return over;
}

/* Decodes message m and takes its rows when it is a change of the table. */
static sl_err_t ct_take(catchup_t *ct, const sl_kafka_msg_t *m)
{
    mine_ctl_t *ctl = ct->ctl;
    sl_record_t *rec = ct->recs[ct->nrec];
    char why[sizeof ct->errstr - 64];
    sl_err_t err = sl_avro_decode(ct->codec, m->value, m->value_len, rec, why, sizeof why);
    if (err) {
        snprintf(ct->errstr, sizeof ct->errstr, "Kafka offset %" PRId64 ": %s", m->offset, why);
        return err;
    }
    if (rec->type != SL_REC_CHANGE)
        return SL_OK;
    char table[512];
    sl_logdoc_table_name(rec->u.change.db, rec->u.change.table, table, sizeof table);
    if (strcmp(table, ct->t->name))
        return SL_OK;
    ct->nrec++;
    pthread_mutex_lock(&ctl->mu);
    const mine_schema_t *sc = ct->t->schema;
    pthread_mutex_unlock(&ctl->mu);
    for (uint32_t r = 0; r < rec->u.change.nrows; r++) {
        if (ct->nitems == CATCHUP_ITEMS) {
            if ((err = mine_writer1_write(ct->w, ct->items, ct->nitems, NULL, ct->errstr,
                                          sizeof ct->errstr)))
                return err;
            ct->nitems = 0;
        }
        ct->items[ct->nitems++] = (mine_item_t){.rec = rec, .schema = sc, .row = r,
                                                .offset = m->offset};
        ct->rows++;
    }
    ct->last_pos = rec->pos;
    return SL_OK;
}

/* Reads from ct->next until it hands over or is stopped. */
static sl_err_t ct_run(catchup_t *ct)
{
    mine_ctl_t *ctl = ct->ctl;
    mtable_t *t = ct->t;
    sl_err_t err;
    if ((err = ct_skip_gap(ct)))
        return err;
    sl_info("table %s: catching up from Kafka offset %" PRId64, t->name, ct->next);
    if ((err = sl_kafka_consumer_assign(ct->cons, ctl->conf.topic, 0, ct->next, 10000, NULL,
                                        ct->errstr, sizeof ct->errstr)))
        return err;
    while (!t->th_stop) {
        sl_kafka_msg_t m;
        err = sl_kafka_consume(ct->cons, 200, &m, ct->errstr, sizeof ct->errstr);
        if (err == SL_ERR_KAFKA)
            continue;
        if (err && err != SL_ERR_TIMEOUT)
            return err;
        int at_end = err == SL_ERR_TIMEOUT || m.eof;
        int64_t o = at_end ? ct->next : m.offset;
        /* make what precedes o durable before looking at main */
        pthread_mutex_lock(&ctl->mu);
        int64_t mn = ctl->main_next;
        pthread_mutex_unlock(&ctl->mu);
        if ((ct->nitems || ct->nrec) && (mn <= o || ct->nrec == CATCHUP_BATCH || at_end) &&
            (err = ct_flush(ct, o)))
            return err;
        if (ct_hand_over(ct, o))
            return SL_OK;
        if (at_end)
            continue;
        ct->next = m.offset + 1;
        if ((err = ct_take(ct, &m)))
            return err;
    }
    return SL_OK;
}

static void *catchup_main(void *arg)
{
    mtable_t *t = arg;
    catchup_t *ct = calloc(1, sizeof(*ct));
    if (!ct) {
        mine_ctl_table_fail(t, "out of memory");
        return NULL;
    }
    ct->t = t;
    ct->ctl = t->ctl;
    ct->st = t->ctl->conf.store;
    ct->client = mine_store_pop(ct->st);
    pthread_mutex_lock(&ct->ctl->mu);
    ct->next = t->catchup_next;
    pthread_mutex_unlock(&ct->ctl->mu);
    if (ct_open(ct) || ct_run(ct))
        mine_ctl_table_fail(t, ct->errstr);
    for (size_t i = 0; i < CATCHUP_BATCH; i++)
        if (ct->recs[i])
            sl_record_destroy(ct->recs[i]);
    mine_writer1_destroy(ct->w);
    sl_avro_codec_destroy(ct->codec);
    sl_kafka_consumer_destroy(ct->cons);
    mine_store_push(ct->st, ct->client);
    free(ct);
    return NULL;
}

int mine_catchup_start(mtable_t *t)
{
    t->th_stop = 0;
    t->handoff = -1;
    if (pthread_create(&t->th, NULL, catchup_main, t))
        return -1;
    t->th_running = 1;
    return 0;
}

void mine_catchup_stop(mtable_t *t)
{
    if (t->th_running) {
        t->th_stop = 1;
        pthread_join(t->th, NULL);
        t->th_running = 0;
        t->th_stop = 0;
    }
}

/* shiftlog-collector: the Debezium-format output (output.debezium; the
 * format is common/sl_dbz.c, the user's view docs/debezium.md).
 *
 * Beside each native record the publisher hands it (col_pub_put, after the
 * native message was produced, in the same Kafka transaction):
 *   SCHEMA   the table's columns are kept (names, types, key): a row's
 *            key and schema part come from the schema in force;
 *   CHANGE   one message per row on <name>.<db>.<table>, keyed by the row's
 *            primary key; a DELETE is followed by a tombstone (the key, no
 *            value) so that compacted topics forget the row; the first
 *            change of a source transaction is preceded by a BEGIN marker;
 *   COMMIT   an END marker with the event count per table, on
 *            <name>.transaction.
 * A TRUNCATE has no row: nothing is written for it (Debezium's MySQL
 * connector does not either). A table without a primary key gets messages
 * without a key. Topics are created on first use like the native one.
 * The messages carry no position of their own: they are produced after the
 * native record, at its position, so the checkpoint covers them too. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_dbz.h"
#include "sl_dbz.h"
#include "sl_log.h"
#include "sl_name.h"

#define DBZ_MAX_TXN_TABLES 256

/* The columns of one table as its last SCHEMA gave them (owned copies). */
typedef struct dbz_table_s {
    struct dbz_table_s *next;
    char               *key;           /* name form of db.table */
    char                topic[512];
    int                 topic_ready;
    int                 topic_bad;     /* the name is longer than Kafka takes */
    sl_schema_t         s;             /* points into the arrays below */
    sl_column_t        *cols;
} dbz_table_t;

struct col_dbz_s {
    const col_conf_t    *conf;
    sl_kafka_producer_t *prod;          /* borrowed */
    sl_dbz_conf_t        dc;
    char                 name[256];
    char                 txn_topic[300];
    int                  txn_topic_ready;
    dbz_table_t         *tables;
    sl_buf_t             key, val;
    /* the source transaction being written */
    int                  in_txn;
    char                *txn_id;
    uint64_t             events;
    size_t               ntt;
    char                *tt_name[DBZ_MAX_TXN_TABLES];
    uint64_t             tt_count[DBZ_MAX_TXN_TABLES];
    sl_metric_t         *m_msgs;
};

static void table_free_cols(dbz_table_t *t)
{
    for (uint32_t i = 0; i < t->s.ncols; i++) {
        free((char *)t->cols[i].name);
        free((char *)t->cols[i].source_type);
    }
    free(t->cols);
    t->cols = NULL;
    t->s.cols = NULL;
    t->s.ncols = 0;
}

static void table_free(dbz_table_t *t)
{
    table_free_cols(t);
    free((char *)t->s.db);
    free((char *)t->s.table);
    free(t->key);
    free(t);
}

static dbz_table_t *table_get(col_dbz_t *d, const char *db, const char *table, int create)
{
    char key[600];
    sl_name_format(db, table, key, sizeof key);
    for (dbz_table_t *t = d->tables; t; t = t->next)
        if (!strcmp(t->key, key))
            return t;
    if (!create)
        return NULL;
    dbz_table_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->key = strdup(key)) || !(t->s.db = strdup(db ? db : "")) ||
        !(t->s.table = strdup(table ? table : ""))) {
        if (t)
            table_free(t);
        return NULL;
    }
    t->topic_bad = sl_dbz_topic(t->topic, sizeof t->topic, &d->dc, db, table) != SL_OK;
    t->next = d->tables;
    d->tables = t;
    return t;
}

static sl_err_t keep_schema(col_dbz_t *d, const sl_schema_t *s)
{
    dbz_table_t *t = table_get(d, s->db, s->table, 1);
    if (!t)
        return SL_ERR_NOMEM;
    table_free_cols(t);
    if (!s->ncols)
        return SL_OK;                       /* dropped: no row until it is created again */
    if (!(t->cols = calloc(s->ncols, sizeof(*t->cols))))
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < s->ncols; i++) {
        sl_column_t *c = &t->cols[i];
        *c = s->cols[i];
        c->charset = NULL;
        c->labels = NULL;
        c->nlabels = 0;
        c->name = strdup(s->cols[i].name ? s->cols[i].name : "");
        c->source_type = strdup(s->cols[i].source_type ? s->cols[i].source_type : "");
        t->s.ncols = i + 1;                 /* what table_free_cols frees */
        if (!c->name || !c->source_type) {
            table_free_cols(t);             /* no half schema: the table's rows are refused */
            return SL_ERR_NOMEM;
        }
    }
    t->s.cols = t->cols;
    return SL_OK;
}

/* A topic Kafka does not create now (a broker restarting, a refusal such as
 * a colliding name that an operator removes) is no reason to stop: the
 * error is not SL_ERR_KAFKA (which col_publish.c takes as a message refused
 * for good), so the publisher's session ends and the collector reconnects
 * from its checkpoint with backoff, as when the native topic cannot be
 * created. */
static sl_err_t ensure(col_dbz_t *d, const char *topic, int *ready, char *errstr,
                       size_t errstr_size)
{
    if (*ready)
        return SL_OK;
    sl_err_t err = sl_kafka_ensure_topic(sl_kafka_producer_handle(d->prod), topic,
                                         (int)d->conf->topic_partitions,
                                         (int)d->conf->topic_replication, NULL, 30000, errstr,
                                         errstr_size);
    *ready = err == SL_OK;
    return err == SL_ERR_KAFKA ? SL_ERR_IO : err;
}

/* A message the broker refuses for good (too large: base64 and the schema
 * part make a row's JSON several times its Avro) is SL_ERR_KAFKA naming
 * where, as the native path's: the collector stops there, it does not retry. */
static sl_err_t produce(col_dbz_t *d, const char *topic, const sl_buf_t *key,
                        const sl_buf_t *val, const sl_record_t *rec, char *errstr,
                        size_t errstr_size)
{
    char why[512];
    sl_err_t err = sl_kafka_produce(d->prod, topic, -1, key && key->len ? key->data : NULL,
                                    key ? key->len : 0, val ? val->data : NULL,
                                    val ? val->len : 0, NULL, 0, NULL, why, sizeof why);
    if (!err) {
        sl_metric_inc(d->m_msgs);
        return SL_OK;
    }
    char pos[200];
    sl_pos_format(&rec->pos, pos, sizeof pos);
    snprintf(errstr, errstr_size, "output.debezium: topic %s, a message of %zu bytes at "
             "position %s: %s", topic, val ? val->len : 0, pos, why);
    return err == SL_ERR_KAFKA || err == SL_ERR_INVALID ? SL_ERR_KAFKA : err;
}

static void txn_reset(col_dbz_t *d)
{
    free(d->txn_id);
    d->txn_id = NULL;
    for (size_t i = 0; i < d->ntt; i++)
        free(d->tt_name[i]);
    d->ntt = 0;
    d->events = 0;
    d->in_txn = 0;
}

/* The per-table count of the transaction's events: the table's order. */
static uint64_t txn_count(col_dbz_t *d, const char *name)
{
    for (size_t i = 0; i < d->ntt; i++)
        if (!strcmp(d->tt_name[i], name))
            return ++d->tt_count[i];
    if (d->ntt == DBZ_MAX_TXN_TABLES || !(d->tt_name[d->ntt] = strdup(name)))
        return 0;                           /* counted no more (the END lists the first 256) */
    d->tt_count[d->ntt] = 1;
    return d->tt_count[d->ntt++];
}

static sl_err_t marker(col_dbz_t *d, const sl_record_t *rec, const char *status,
                       int64_t ts_ms, char *errstr, size_t errstr_size)
{
    sl_err_t err = ensure(d, d->txn_topic, &d->txn_topic_ready, errstr, errstr_size);
    if (!err)
        err = sl_dbz_txn_marker(&d->val, &d->dc, status, d->txn_id, ts_ms, d->events,
                                (const char *const *)d->tt_name, d->tt_count, d->ntt);
    if (!err)
        err = sl_dbz_txn_key(&d->key, &d->dc, d->txn_id);
    if (!err)
        err = produce(d, d->txn_topic, &d->key, &d->val, rec, errstr, errstr_size);
    return err;
}

/* One event of row r: its key (from the before image for a 'd'), its value,
 * and a tombstone after a 'd'. */
static sl_err_t put_event(col_dbz_t *d, dbz_table_t *t, const sl_record_t *rec, uint32_t r,
                          char op, const char *name, char *errstr, size_t errstr_size)
{
    sl_dbz_txn_t tx = {.id = d->txn_id, .total_order = ++d->events,
                       .data_collection_order = txn_count(d, name)};
    sl_err_t err = sl_dbz_key(&d->key, &d->dc, &t->s, rec, r, op == 'd');
    if (err && err != SL_ERR_UNSUPPORTED)
        goto bad;
    if ((err = sl_dbz_value(&d->val, &d->dc, &t->s, rec, r, op, d->txn_id ? &tx : NULL)))
        goto bad;
    if ((err = produce(d, t->topic, &d->key, &d->val, rec, errstr, errstr_size)))
        return err;
    if (op == 'd' && d->key.len)
        return produce(d, t->topic, &d->key, NULL, rec, errstr, errstr_size);
    return SL_OK;
bad:
    snprintf(errstr, errstr_size, "output.debezium: table %s: %s", name,
             err == SL_ERR_NOMEM ? "out of memory"
             : err == SL_ERR_UNSUPPORTED
                 ? "a value Debezium's types cannot hold: a numeric NaN or ±Infinity (a "
                   "Decimal has none; Debezium's connector stops there too) or an interval "
                   "in an unknown form"
                 : "cannot make the event");
    return err;
}

/* Row r's events: an UPDATE that changes the key is, as Debezium writes it,
 * a 'd' of the old key (and its tombstone) then a 'c' of the new one, so
 * that a compacted topic or a sink by key forgets the old row. */
static sl_err_t put_row(col_dbz_t *d, dbz_table_t *t, const sl_record_t *rec, uint32_t r,
                        const char *name, char *errstr, size_t errstr_size)
{
    const sl_change_t *c = &rec->u.change;
    char op = sl_dbz_op(c);
    if (op == 'u' && c->rows[r].before && c->rows[r].after) {
        sl_err_t err = sl_dbz_key(&d->key, &d->dc, &t->s, rec, r, 1);
        if (!err) {
            sl_buf_t old = d->key;          /* keep the old key's text aside */
            d->key = (sl_buf_t)SL_BUF_INIT;
            err = sl_dbz_key(&d->key, &d->dc, &t->s, rec, r, 0);
            int moved = !err && (old.len != d->key.len || memcmp(old.data, d->key.data,
                                                                 old.len));
            sl_buf_free(&old);
            if (moved) {
                if ((err = put_event(d, t, rec, r, 'd', name, errstr, errstr_size)))
                    return err;
                return put_event(d, t, rec, r, 'c', name, errstr, errstr_size);
            }
        }
    }
    return put_event(d, t, rec, r, op, name, errstr, errstr_size);
}

static sl_err_t put_change(col_dbz_t *d, const sl_record_t *rec, char *errstr,
                           size_t errstr_size)
{
    const sl_change_t *c = &rec->u.change;
    if (c->op == SL_OP_TRUNCATE)
        return SL_OK;
    dbz_table_t *t = table_get(d, c->db, c->table, 0);
    if (!t || !t->s.ncols) {
        snprintf(errstr, errstr_size, "output.debezium: table %s.%s: no schema seen before "
                 "its rows", c->db ? c->db : "", c->table ? c->table : "");
        return SL_ERR_STATE;
    }
    sl_err_t err;
    if (t->topic_bad) {
        snprintf(errstr, errstr_size, "output.debezium: the topic of table %s.%s would be "
                 "longer than Kafka's 249 characters; choose a shorter output.debezium.name",
                 c->db ? c->db : "", c->table ? c->table : "");
        return SL_ERR_INVALID;
    }
    if ((err = ensure(d, t->topic, &t->topic_ready, errstr, errstr_size)))
        return err;
    if (!d->in_txn) {
        d->in_txn = 1;
        d->txn_id = c->txn ? strdup(c->txn) : NULL;
        if ((err = marker(d, rec, "BEGIN", c->event_time_us / 1000, errstr, errstr_size)))
            return err;
    }
    char name[600];
    snprintf(name, sizeof name, "%s.%s", c->db ? c->db : "", c->table ? c->table : "");
    for (uint32_t r = 0; r < c->nrows; r++)
        if ((err = put_row(d, t, rec, r, name, errstr, errstr_size)))
            return err;
    return SL_OK;
}

sl_err_t col_dbz_new(col_dbz_t **out, const col_conf_t *conf, sl_kafka_producer_t *prod,
                     sl_metrics_t *metrics)
{
    *out = NULL;
    if (conf->dbz_output == COL_DBZ_OFF)
        return SL_OK;
    col_dbz_t *d = calloc(1, sizeof(*d));
    if (!d)
        return SL_ERR_NOMEM;
    d->conf = conf;
    d->prod = prod;
    snprintf(d->name, sizeof d->name, "%s",
             conf->dbz_name && *conf->dbz_name ? conf->dbz_name : conf->source_name);
    d->dc = (sl_dbz_conf_t){.name = d->name, .mysql = conf->source_type == COL_SOURCE_MYSQL,
                            .with_schema = conf->dbz_output == COL_DBZ_JSON_SCHEMA,
                            .database = conf->source_database};
    snprintf(d->txn_topic, sizeof d->txn_topic, "%s.transaction", d->name);
    d->m_msgs = sl_metrics_counter(metrics, "shiftlog_collector_debezium_messages_total",
                                   "Messages written in Debezium's format (output.debezium).",
                                   NULL);
    sl_info("output.debezium = %s: every row also on %s.<db>.<table>, transaction markers on "
            "%s", d->dc.with_schema ? "json-schema" : "json", d->name, d->txn_topic);
    *out = d;
    return SL_OK;
}

void col_dbz_destroy(col_dbz_t *d)
{
    if (!d)
        return;
    txn_reset(d);
    while (d->tables) {
        dbz_table_t *t = d->tables;
        d->tables = t->next;
        table_free(t);
    }
    sl_buf_free(&d->key);
    sl_buf_free(&d->val);
    free(d);
}

sl_err_t col_dbz_put(col_dbz_t *d, const sl_record_t *rec, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    if (!d)
        return SL_OK;
    switch (rec->type) {
    case SL_REC_SCHEMA:
        if ((err = keep_schema(d, &rec->u.schema)))
            snprintf(errstr, errstr_size, "output.debezium: out of memory");
        return err;
    case SL_REC_CHANGE:
        return put_change(d, rec, errstr, errstr_size);
    case SL_REC_COMMIT:
        if (d->in_txn)
            err = marker(d, rec, "END", rec->u.commit.event_time_us / 1000, errstr, errstr_size);
        txn_reset(d);
        return err;
    case SL_REC_FINISH:
        txn_reset(d);                       /* an unfinished transaction is read again */
        return SL_OK;
    }
    return SL_OK;
}

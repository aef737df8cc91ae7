/* shiftlog-miner: the writers (worker_num threads, the seed's "incremental
 * multi-threaded writes").
 *
 * The main thread adds items (a change row, a COMMIT, a SCHEMA) to worker
 * `hash % worker_num`, the hash being the row's table + primary key (or the
 * table alone without a key), so the rows of one key are written by one
 * worker in position order. mine_writers_kick() hands every worker its list:
 * each builds the documents (supplement.c), inserts them unordered with
 * {j: true}, then writes the latest images, and reports; the main thread
 * reads the next batch meanwhile, then mine_writers_wait()s. Only then does
 * it move the progress document and the Kafka offset: a position is never
 * recorded before its documents are durable. Items are added only while
 * no batch is in flight. Memory: two batches of read_batch records (one
 * written, one read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miner.h"
#include "sl_log.h"

typedef struct wctx_s {
    mine_store_t        *st;
    mongoc_client_t     *client;
    mongoc_collection_t *log;
    mine_supp_t         *supp;
    int                  supplement, retention;
    size_t               batch_max;
    bson_t             **docs;
    uint64_t             written, dups, supplemented;
} wctx_t;

static int wctx_init(wctx_t *x, mine_store_t *st, int supplement, int retention,
                     size_t batch_max)
{
    memset(x, 0, sizeof(*x));
    x->st = st;
    x->supplement = supplement;
    x->retention = retention;
    x->batch_max = batch_max ? batch_max : 1000;
    x->client = mine_store_pop(st);
    x->log = mine_store_coll(st, x->client, st->log_name);
    x->supp = mine_supp_new(st, x->client);
    x->docs = calloc(x->batch_max, sizeof(*x->docs));
    return x->client && x->log && x->supp && x->docs ? 0 : -1;
}

static void wctx_free(wctx_t *x)
{
    mine_supp_destroy(x->supp);
    if (x->log)
        mongoc_collection_destroy(x->log);
    mine_store_push(x->st, x->client);
    free(x->docs);
}

static sl_err_t wctx_write(wctx_t *x, const mine_item_t *items, size_t n, char *errstr,
                           size_t errstr_size)
{
    sl_err_t err = SL_OK;
    for (size_t off = 0; off < n && !err; off += x->batch_max) {
        size_t m = n - off < x->batch_max ? n - off : x->batch_max;
        uint64_t dups = 0;
        memset(x->docs, 0, m * sizeof(*x->docs));
        err = mine_supp_build(x->supp, items + off, m, x->supplement, x->retention, x->docs,
                              &x->supplemented, errstr, errstr_size);
        if (!err)
            err = mine_store_insert(x->st, x->log, x->docs, m, &dups, errstr, errstr_size);
        if (!err)
            err = mine_supp_flush(x->supp, errstr, errstr_size);
        for (size_t i = 0; i < m; i++)
            if (x->docs[i])
                bson_destroy(x->docs[i]);
        if (!err) {
            x->written += m - dups;
            x->dups += dups;
        }
    }
    return err;
}

/* ---------------------------------------------------------------- workers */

typedef struct worker_s {
    struct mine_writers_s *w;
    int           id;
    pthread_t     th;
    int           started;
    mine_item_t  *items;
    size_t        n, cap;
    wctx_t        x;
    sl_err_t      err;
    char          errstr[1024];
} worker_t;

struct mine_writers_s {
    mine_writers_conf_t conf;
    worker_t           *wk;
    pthread_mutex_t     mu;
    pthread_cond_t      go, done;
    uint64_t            gen;
    int                 pending;
    int                 stop;
};

static void *worker_main(void *arg)
{
    worker_t *k = arg;
    mine_writers_t *w = k->w;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->stop && w->gen == seen)
            pthread_cond_wait(&w->go, &w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        seen = w->gen;
        pthread_mutex_unlock(&w->mu);

        if (!k->err && k->n)
            k->err = wctx_write(&k->x, k->items, k->n, k->errstr, sizeof k->errstr);
        k->n = 0;

        pthread_mutex_lock(&w->mu);
        if (--w->pending == 0)
            pthread_cond_signal(&w->done);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

sl_err_t mine_writers_start(mine_writers_t **out, const mine_writers_conf_t *conf,
                            char *errstr, size_t errstr_size)
{
    mine_writers_t *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (!w)
        return SL_ERR_NOMEM;
    w->conf = *conf;
    if (w->conf.nworkers < 1)
        w->conf.nworkers = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->go, NULL);
    pthread_cond_init(&w->done, NULL);
    w->wk = calloc((size_t)w->conf.nworkers, sizeof(*w->wk));
    if (!w->wk) {
        free(w);
        return SL_ERR_NOMEM;
    }
    for (int i = 0; i < w->conf.nworkers; i++) {
        worker_t *k = &w->wk[i];
        k->w = w;
        k->id = i;
        if (wctx_init(&k->x, conf->store, conf->supplement, conf->retention, conf->batch_max) ||
            pthread_create(&k->th, NULL, worker_main, k)) {
            snprintf(errstr, errstr_size, "cannot start writer %d", i);
            mine_writers_stop(w);
            return SL_ERR_FATAL;
        }
        k->started = 1;
    }
    *out = w;
    return SL_OK;
}

sl_err_t mine_writers_add(mine_writers_t *w, uint64_t hash, const mine_item_t *item)
{
    worker_t *k = &w->wk[hash % (uint64_t)w->conf.nworkers];
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        mine_item_t *p = realloc(k->items, cap * sizeof(*p));
        if (!p)
            return SL_ERR_NOMEM;
        k->items = p;
        k->cap = cap;
    }
    k->items[k->n++] = *item;
    return SL_OK;
}

void mine_writers_kick(mine_writers_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->pending = w->conf.nworkers;
    w->gen++;
    pthread_cond_broadcast(&w->go);
    pthread_mutex_unlock(&w->mu);
}

int mine_writers_busy(mine_writers_t *w)
{
    pthread_mutex_lock(&w->mu);
    int busy = w->pending > 0;
    pthread_mutex_unlock(&w->mu);
    return busy;
}

sl_err_t mine_writers_wait(mine_writers_t *w, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0)
        pthread_cond_wait(&w->done, &w->mu);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->conf.nworkers; i++)
        if (w->wk[i].err) {
            snprintf(errstr, errstr_size, "writer %d: %s", i, w->wk[i].errstr);
            return w->wk[i].err;
        }
    return SL_OK;
}

void mine_writers_stats(mine_writers_t *w, uint64_t *written, uint64_t *dups,
                        uint64_t *supplemented)
{
    *written = *dups = *supplemented = 0;
    for (int i = 0; i < w->conf.nworkers; i++) {
        *written += w->wk[i].x.written;
        *dups += w->wk[i].x.dups;
        *supplemented += w->wk[i].x.supplemented;
    }
}

void mine_writers_stop(mine_writers_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->go);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->conf.nworkers; i++) {
        worker_t *k = &w->wk[i];
        if (k->started)
            pthread_join(k->th, NULL);
        wctx_free(&k->x);
        free(k->items);
    }
    free(w->wk);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->go);
    pthread_cond_destroy(&w->done);
    free(w);
}

/* ------------------------------------------------------- single, in-thread */

struct mine_writer1_s {
    wctx_t x;
};

mine_writer1_t *mine_writer1_new(mine_store_t *st, int supplement, int retention)
{
    mine_writer1_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    if (wctx_init(&w->x, st, supplement, retention, 1000)) {
        wctx_free(&w->x);
        free(w);
        return NULL;
    }
    return w;
}

void mine_writer1_destroy(mine_writer1_t *w)
{
    if (!w)
        return;
    wctx_free(&w->x);
    free(w);
}

sl_err_t mine_writer1_write(mine_writer1_t *w, const mine_item_t *items, size_t n,
                            uint64_t *written, char *errstr, size_t errstr_size)
{
    uint64_t before = w->x.written;
    sl_err_t err = wctx_write(&w->x, items, n, errstr, errstr_size);
    if (written)
        *written = w->x.written - before;
    return err;
}

/* shiftlog validate: comparing one table pair (validate.h).
 *
 * Chunks: the source's key is walked by keyset pagination (the key of the
 * chunk_rows-th row after the previous chunk's last key; never OFFSET), and
 * each chunk (after, upto] is checksummed on both engines with the same
 * predicate; the last chunk is open-ended, so rows the target has past the
 * source's last key are counted too.
 *
 * Online: a chunk that differs is checked again after retry_ms (doubled at
 * each re-check), up to retries times, before it counts: a change the source made between the two
 * reads has reached the target by then (the applier's lag is below the
 * delay). What still differs is drilled into: split in 8 key ranges of the
 * source (keyset again), the differing ones split again, until a range holds
 * at most leaf_rows source rows; its (key, row hash) lists are then merged
 * in key order, in pages, so memory stays bounded whatever the table or the
 * number of differences (max_keys keys are kept, the rest counted). A leaf's
 * differences are confirmed by the same re-check. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl_canon.h"
#include "validate.h"

#define VAL_SPLIT 8
#define VAL_PAGE 1000

/* ------------------------------------------------------------ keys */

int val_key_kind_ok(val_kind_t k)
{
    return k == VK_INT || k == VK_DEC || k == VK_BOOL || k == VK_DATE || k == VK_DATETIME ||
           k == VK_TEXT || k == VK_BYTES;
}

int val_key_cmp(val_kind_t k, const char *a, const char *b)
{
    if (k == VK_INT || k == VK_DEC || k == VK_BOOL)
        return sl_canon_num_cmp(a, b);
    int c = strcmp(a, b);          /* unsigned bytes: UTF-8 in code point order */
    return c < 0 ? -1 : c > 0;
}

int val_keys_cmp(const val_table_t *t, char *const *a, char *const *b)
{
    for (uint32_t i = 0; i < t->nkey; i++) {
        int c = val_key_cmp(t->cols[t->key[i]].kind, a[i], b[i]);
        if (c)
            return c;
    }
    return 0;
}

int val_kind_digested(val_kind_t k)
{
    return k == VK_TEXT || k == VK_BYTES;
}

uint64_t val_hash64(const uint8_t d[16])
{
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | d[i];
    return h;
}

void val_row_free(val_row_t *r, uint32_t nkey)
{
    for (uint32_t i = 0; i < nkey; i++) {
        free(r->key[i]);
        r->key[i] = NULL;
    }
}

void val_table_free(val_table_t *t)
{
    for (uint32_t i = 0; t->cols && i < t->ncols; i++)
        free(t->cols[i].name);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

void val_result_free(val_result_t *r, uint32_t nkey)
{
    for (uint32_t i = 0; i < r->ndiffs_listed; i++)
        for (uint32_t k = 0; k < nkey; k++)
            free(r->diffs[i].key[k]);
    for (uint32_t i = 0; i < r->nranges; i++)
        for (uint32_t k = 0; k < nkey; k++) {
            free(r->ranges[i].after[k]);
            free(r->ranges[i].upto[k]);
        }
    free(r->diffs);
    free(r->ranges);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ state */

typedef struct run_s {
    val_engine_t      *src, *dst;
    const val_table_t *t;
    const val_opts_t  *o;
    val_result_t      *res;
    char              *errstr;
    size_t             errstr_size;
    time_t             last_progress;
    uint64_t           checked;
} run_t;

/* The wait before re-check `attempt` (1, 2, ...): retry_ms, doubled at each
 * re-check (at most 30 s), so a lag spike of the applier is waited out
 * without making every re-check slow. */
static void retry_wait(const val_opts_t *o, int attempt)
{
    long ms = o->retry_ms;
    for (int i = 1; i < attempt && ms < 30000; i++)
        ms *= 2;
    ms = ms > 30000 ? 30000 : ms;
    if (ms > 0)
        usleep((useconds_t)ms * 1000);
}

static sl_err_t copy_key(char **out, char *const *in, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        out[i] = in ? strdup(in[i]) : NULL;
        if (in && !out[i])
            return SL_ERR_NOMEM;
    }
    return SL_OK;
}

static sl_err_t add_range(run_t *r, char *const *after, char *const *upto, int repairable)
{
    val_result_t *res = r->res;
    if (res->nranges == VAL_MAX_RANGES) {
        res->ranges_overflow = 1;
        return SL_OK;
    }
    if (!res->nranges && !(res->ranges = calloc(VAL_MAX_RANGES, sizeof *res->ranges)))
        return SL_ERR_NOMEM;
    val_range_t *g = &res->ranges[res->nranges++];
    g->has_after = after != NULL;
    g->has_upto = upto != NULL;
    g->repairable = repairable;
    sl_err_t err = copy_key(g->after, after, r->t->nkey);
    return err ? err : copy_key(g->upto, upto, r->t->nkey);
}

/* One difference found in a leaf (kept in a leaf-local list first). */
typedef struct leaf_diff_s {
    val_diff_t *d;
    uint32_t    n, cap;
    uint64_t    more;             /* found beyond cap */
    uint64_t    kinds[3];         /* every one found, by val_diff_kind_t */
} leaf_diff_t;

static sl_err_t leaf_add(leaf_diff_t *l, val_diff_kind_t kind, char *const *key, uint32_t nkey,
                         uint32_t cap)
{
    l->kinds[kind]++;
    if (l->n == cap) {
        l->more++;
        return SL_OK;
    }
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? 2 * l->cap : 16;
        val_diff_t *d = realloc(l->d, nc * sizeof *d);
        if (!d)
            return SL_ERR_NOMEM;
        l->d = d;
        l->cap = nc;
    }
    val_diff_t *d = &l->d[l->n++];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    return copy_key(d->key, key, nkey);
}

static void leaf_free(leaf_diff_t *l, uint32_t nkey)
{
    for (uint32_t i = 0; i < l->n; i++)
        for (uint32_t k = 0; k < nkey; k++)
            free(l->d[i].key[k]);
    free(l->d);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------ leaf merge */

/* One side's rows of a range, a page at a time. */
typedef struct stream_s {
    val_engine_t *e;
    char         *after[VAL_MAX_KEY];
    int           has_after;
    val_row_t     rows[VAL_PAGE];
    uint32_t      n, i;
    int           done;
} stream_t;

static void stream_clear(stream_t *s, uint32_t nkey)
{
    for (uint32_t i = 0; i < s->n; i++)
        val_row_free(&s->rows[i], nkey);
    s->n = s->i = 0;
}

/* The current row, or NULL at the end of the range. */
static sl_err_t stream_peek(run_t *r, stream_t *s, char *const *upto, val_row_t **row)
{
    uint32_t nk = r->t->nkey;
    *row = NULL;
    if (s->i == s->n && !s->done) {
        if (s->n) {              /* the next page starts after this page's last key */
            for (uint32_t k = 0; k < nk; k++) {
                free(s->after[k]);
                s->after[k] = s->rows[s->n - 1].key[k];
                s->rows[s->n - 1].key[k] = NULL;
            }
            s->has_after = 1;
        }
        stream_clear(s, nk);
        sl_err_t err = s->e->rows(s->e->ctx, s->has_after ? s->after : NULL, upto, VAL_PAGE,
                                  s->rows, &s->n, r->errstr, r->errstr_size);
        if (err)
            return err;
        s->done = s->n < VAL_PAGE;
    }
    if (s->i < s->n)
        *row = &s->rows[s->i];
    return SL_OK;
}

static sl_err_t leaf_once(run_t *r, char *const *after, char *const *upto, leaf_diff_t *l)
{
    uint32_t nk = r->t->nkey;
    stream_t *a = calloc(2, sizeof *a), *b = a + 1;
    sl_err_t err = SL_OK;
    if (!a)
        return SL_ERR_NOMEM;
    a->e = r->src;
    b->e = r->dst;
    if (after) {
        a->has_after = b->has_after = 1;
        if ((err = copy_key(a->after, after, nk)) || (err = copy_key(b->after, after, nk)))
            goto out;
    }
    for (;;) {
        val_row_t *x, *y;
        if ((err = stream_peek(r, a, upto, &x)) || (err = stream_peek(r, b, upto, &y)))
            break;
        if (!x && !y)
            break;
        int c = !x ? 1 : !y ? -1 : val_keys_cmp(r->t, x->key, y->key);
        if (c < 0) {
            err = leaf_add(l, VD_MISSING, x->key, nk, r->o->max_keys);
            a->i++;
        } else if (c > 0) {
            err = leaf_add(l, VD_EXTRA, y->key, nk, r->o->max_keys);
            b->i++;
        } else {
            if (x->hash != y->hash)
                err = leaf_add(l, VD_CHANGED, x->key, nk, r->o->max_keys);
            a->i++;
            b->i++;
        }
        if (err)
            break;
    }
out:
    for (int s = 0; s < 2; s++) {
        stream_clear(&a[s], nk);
        for (uint32_t k = 0; k < nk; k++)
            free(a[s].after[k]);
    }
    free(a);
    return err;
}

/* A small range: its differing keys, confirmed by re-checks. */
static sl_err_t leaf(run_t *r, char *const *after, char *const *upto)
{
    uint32_t nk = r->t->nkey;
    leaf_diff_t l = {0};
    sl_err_t err = SL_OK;
    for (int attempt = 0; attempt <= r->o->retries; attempt++) {
        leaf_free(&l, nk);
        if (attempt)
            retry_wait(r->o, attempt);
        if ((err = leaf_once(r, after, upto, &l)) || (!l.n && !l.more))
            goto out;
    }
    val_result_t *res = r->res;
    int repairable = l.kinds[VD_CHANGED] + l.kinds[VD_MISSING] > 0;
    if ((err = add_range(r, after, upto, repairable)))
        goto out;
    res->nchanged += l.kinds[VD_CHANGED];
    res->nmissing += l.kinds[VD_MISSING];
    res->nextra += l.kinds[VD_EXTRA];
    for (uint32_t i = 0; i < l.n; i++) {
        val_diff_t *d = &l.d[i];
        res->ndiff++;
        if (res->ndiffs_listed < r->o->max_keys) {
            if (!res->diffs && !(res->diffs = calloc(r->o->max_keys, sizeof *res->diffs))) {
                err = SL_ERR_NOMEM;
                goto out;
            }
            res->diffs[res->ndiffs_listed++] = *d;      /* moves the key texts */
            memset(d->key, 0, sizeof d->key);
        }
    }
    res->ndiff += l.more;
out:
    leaf_free(&l, nk);
    return err;
}

/* ------------------------------------------------------------ drill down */

/* One engine's checksum of a range, run on its own thread: the two engines
 * hash at the same time (each has its own connection), so a chunk costs the
 * slower side's time, not the sum. */
typedef struct sum_job_s {
    val_engine_t *e;
    char *const  *after, *const *upto;
    uint64_t      count, hash;
    sl_err_t      err;
    char          errstr[512];
} sum_job_t;

static void *sum_thread(void *arg)
{
    sum_job_t *j = arg;
    j->err = j->e->checksum(j->e->ctx, j->after, j->upto, &j->count, &j->hash, j->errstr,
                            sizeof j->errstr);
    return NULL;
}

static sl_err_t checksums(run_t *r, char *const *after, char *const *upto, uint64_t *sc,
                          uint64_t *tc, int *equal)
{
    sum_job_t js = {r->src, after, upto, 0, 0, SL_OK, ""};
    sum_job_t jt = {r->dst, after, upto, 0, 0, SL_OK, ""};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, sum_thread, &js) == 0;
    if (!threaded)
        sum_thread(&js);
    sum_thread(&jt);
    if (threaded)
        pthread_join(th, NULL);
    sl_err_t err = js.err ? js.err : jt.err;
    if (err)
        snprintf(r->errstr, r->errstr_size, "%s", js.err ? js.errstr : jt.errstr);
    *sc = js.count;
    *tc = jt.count;
    *equal = !err && js.count == jt.count && js.hash == jt.hash;
    return err;
}

/* A chunk's end key must lie past its start: an engine whose key order is
 * not the order of the canonical texts would read one chunk for ever. */
static sl_err_t advances(run_t *r, char *const *after, char *const *end)
{
    if (val_keys_cmp(r->t, end, after) > 0)
        return SL_OK;
    snprintf(r->errstr, r->errstr_size, "the source's key order is not the canonical one: the "
             "chunk after key (%s%s) ends at (%s%s), not past it", after[0],
             r->t->nkey > 1 ? ", ..." : "", end[0], r->t->nkey > 1 ? ", ..." : "");
    return SL_ERR_INVALID;
}

static sl_err_t drill(run_t *r, char *const *after, char *const *upto, uint64_t srows, int depth)
{
    uint32_t nk = r->t->nkey;
    if (srows <= r->o->leaf_rows || depth > 12)
        return leaf(r, after, upto);
    uint32_t step = (uint32_t)(srows / VAL_SPLIT + 1);
    char *cur[VAL_MAX_KEY] = {NULL};
    int has_cur = after != NULL;
    sl_err_t err = has_cur ? copy_key(cur, after, nk) : SL_OK;
    int last = 0, first = 1;
    while (!err && !last) {
        val_row_t b = {{NULL}, 0};
        int found = 0;
        if ((err = r->src->boundary(r->src->ctx, has_cur ? cur : NULL, step, &b, &found,
                                    r->errstr, r->errstr_size)))
            break;
        if (found && has_cur && (err = advances(r, cur, b.key))) {
            val_row_free(&b, nk);
            break;
        }
        if (!found || (upto && val_keys_cmp(r->t, b.key, upto) >= 0)) {
            last = 1;
            val_row_free(&b, nk);
            if (first) {          /* the source cannot split it: the target's rows can */
                err = leaf(r, after, upto);
                break;
            }
        }
        first = 0;
        char *const *sub_upto = last ? upto : b.key;
        uint64_t sc, tc;
        int equal;
        if (!(err = checksums(r, has_cur ? cur : NULL, sub_upto, &sc, &tc, &equal)) && !equal)
            err = drill(r, has_cur ? cur : NULL, sub_upto, sc > tc ? sc : tc, depth + 1);
        if (!last) {
            for (uint32_t k = 0; k < nk; k++) {
                free(cur[k]);
                cur[k] = b.key[k];
            }
            has_cur = 1;
        }
    }
    for (uint32_t k = 0; k < nk; k++)
        free(cur[k]);
    return err;
}

/* ------------------------------------------------------------ chunks */

/* A chunk's first comparison, when it was read by the pipeline. */
typedef struct first_s {
    uint64_t sc, tc;
    int      equal;
} first_t;

static sl_err_t chunk(run_t *r, char *const *after, char *const *upto, const first_t *first)
{
    uint64_t sc = 0, tc = 0;
    int equal = 0;
    sl_err_t err = SL_OK;
    for (int attempt = 0; attempt <= r->o->retries; attempt++) {
        if (attempt)
            retry_wait(r->o, attempt);
        if (attempt == 1)       /* differed at its first read */
            r->res->chunks_rechecked++;
        if (!attempt && first) {
            sc = first->sc;
            tc = first->tc;
            equal = first->equal;
        } else if ((err = checksums(r, after, upto, &sc, &tc, &equal))) {
            break;
        }
        if (equal)
            break;
    }
    r->res->chunks++;
    r->checked += sc;
    if (err || equal) {
        r->res->src_rows += sc;
        r->res->tgt_rows += tc;
        return err;
    }
    if (!r->o->retries)
        r->res->chunks_rechecked++;
    r->res->chunks_differing++;
    uint64_t before = r->res->ndiff;
    err = drill(r, after, upto, sc > tc ? sc : tc, 0);
    if (!err && r->res->ndiff == before) {
        /* gone while drilling: an in-flight change; the counts of a check
         * now (equal, unless the chunk changes again) */
        r->res->chunks_differing--;
        uint64_t sc2, tc2;
        if (!checksums(r, after, upto, &sc2, &tc2, &equal) && equal) {
            sc = sc2;
            tc = tc2;
        }
    }
    r->res->src_rows += sc;
    r->res->tgt_rows += tc;
    return err;
}

/* The source's next chunk: its end key and its checksum, from one read. */
typedef struct scan_s {
    val_row_t b;
    int       found;
    uint64_t  count, hash;
} scan_t;

static sl_err_t scan(run_t *r, char *const *after, scan_t *s)
{
    val_engine_t *e = r->src;
    memset(s, 0, sizeof *s);
    if (e->scan)
        return e->scan(e->ctx, after, r->o->chunk_rows, &s->b, &s->found, &s->count, &s->hash,
                       r->errstr, r->errstr_size);
    sl_err_t err = e->boundary(e->ctx, after, r->o->chunk_rows, &s->b, &s->found, r->errstr,
                               r->errstr_size);
    return err ? err : e->checksum(e->ctx, after, s->found ? s->b.key : NULL, &s->count,
                                   &s->hash, r->errstr, r->errstr_size);
}

/* Chunk (after, upto] of which the source's side is s: the target's
 * checksum on a thread while the source reads the next chunk (into *next,
 * when there is one), so the two servers work at once and the source never
 * reads a chunk twice. */
static sl_err_t chunk_piped(run_t *r, char *const *after, char *const *upto, const scan_t *s,
                            scan_t *next)
{
    sum_job_t jt = {r->dst, after, upto, 0, 0, SL_OK, ""};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, sum_thread, &jt) == 0;
    sl_err_t err = SL_OK;
    if (!threaded)
        sum_thread(&jt);
    if (next)
        err = scan(r, upto, next);
    if (threaded)
        pthread_join(th, NULL);
    if (!err && jt.err)
        snprintf(r->errstr, r->errstr_size, "%s", jt.errstr);
    if (err || (err = jt.err))
        return err;
    first_t f = {s->count, jt.count, s->count == jt.count && s->hash == jt.hash};
    return chunk(r, after, upto, &f);
}

sl_err_t val_compare(val_engine_t *src, val_engine_t *dst, const val_table_t *t,
                     const val_opts_t *o, char *const *after, char *const *upto,
                     val_result_t *res, char *errstr, size_t errstr_size)
{
    run_t r = {src, dst, t, o, res, errstr, errstr_size, time(NULL), 0};
    uint32_t nk = t->nkey;
    char *cur[VAL_MAX_KEY] = {NULL};
    int has_cur = after != NULL, last = 0;
    scan_t s, next;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(&next, 0, sizeof next);
    sl_err_t err = has_cur ? copy_key(cur, after, nk) : SL_OK;
    if (!err)
        err = scan(&r, has_cur ? cur : NULL, &s);
    while (!err && !last) {
        if (s.found && has_cur && (err = advances(&r, cur, s.b.key)))
            break;
        last = !s.found || (upto && val_keys_cmp(t, s.b.key, upto) >= 0);
        /* the scan holds exactly the chunk unless it ran past a given upto */
        int scanned = !last || (!s.found && !upto);
        if (last)
            val_row_free(&s.b, nk);
        char *const *cu = last ? upto : s.b.key;
        if (scanned)
            err = chunk_piped(&r, has_cur ? cur : NULL, cu, &s, last ? NULL : &next);
        else
            err = chunk(&r, has_cur ? cur : NULL, cu, NULL);
        if (!last) {
            for (uint32_t k = 0; k < nk; k++) {
                free(cur[k]);
                cur[k] = s.b.key[k];
            }
            has_cur = 1;
            s = next;
            memset(&next, 0, sizeof next);
        }
        if (o->progress && time(NULL) - r.last_progress >= 10) {
            r.last_progress = time(NULL);
            fprintf(stderr, "shiftlog validate: %llu rows checked, %llu differing keys so far\n",
                    (unsigned long long)r.checked, (unsigned long long)res->ndiff);
        }
    }
    if (err && !last)
        val_row_free(&s.b, nk);
    val_row_free(&next.b, nk);
    for (uint32_t k = 0; k < nk; k++)
        free(cur[k]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds += (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    return err;
}

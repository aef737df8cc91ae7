/* shiftlog-miner: building one writer batch of log documents, with the
 * "supplement full fields" step.
 *
 * A change row may lack columns (SL_VAL_MISSING): PostgreSQL unchanged TOAST
 * values, MariaDB binlog_row_image=MINIMAL/NOBLOB images, PostgreSQL old
 * images under REPLICA IDENTITY DEFAULT. With supplement.full.fields on, the
 * miner keeps the latest full image of every key of a table with a primary
 * key in <collection>__latest ({_id: "db.table|[key JSON]", table, pos,
 * img: {...}}) and fills a missing column of an update:
 *   before: from the latest image (the row as it was before this change);
 *           an update without a before image gets the whole latest image;
 *   after:  from the (filled) before image — the column did not change.
 * The document lists the filled columns in supplemented.before/.after. A
 * column that cannot be filled (key never seen with that column) stays a
 * {_t: "missing"} wrapper.
 *
 * Order: the rows of one key always reach the same writer (writer.c hashes
 * the key), and a writer handles its batch in order, keeping the batch's
 * newest images in memory (map below). The latest images are written after
 * the log documents are durable; a replay after a crash may recompute a few
 * images from a newer state, but the log documents of those positions are
 * already in the log (E11000, kept as first written) and the latest images
 * converge to the state after the last replayed change. A latest document
 * is replaced only by one of a later position, and a delete leaves a
 * tombstone with its position (expired by the TTL index on `exp`): a copy
 * paused past its lease that wakes up and writes its last batch's images
 * cannot put an older image over the new holder's newer one, nor bring
 * back a key it deleted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "miner.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_log.h"

#define MAP_BUCKETS 4096

typedef struct ent_s {
    char        *key;
    char        *table;
    bson_t      *img;        /* NULL: deleted */
    char         pos[MINE_ID_LEN + 1];
    int          dirty;
    int          stored;     /* 1: looked up, the key has a document in __latest */
    struct ent_s *next;
} ent_t;

struct mine_supp_s {
    mine_store_t    *st;
    mongoc_client_t *client;
    ent_t           *bucket[MAP_BUCKETS];
    ent_t           *all;          /* every entry of the batch (via next_all) */
    ent_t          **list;
    size_t           nlist, caplist;
    sl_buf_t         kbuf;
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

mine_supp_t *mine_supp_new(mine_store_t *st, mongoc_client_t *client)
{
    mine_supp_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->st = st;
    s->client = client;
    return s;
}

static void map_clear(mine_supp_t *s)
{
    for (size_t i = 0; i < s->nlist; i++) {
        ent_t *e = s->list[i];
        free(e->key);
        free(e->table);
        if (e->img)
            bson_destroy(e->img);
        free(e);
    }
    s->nlist = 0;
    memset(s->bucket, 0, sizeof(s->bucket));
}

void mine_supp_destroy(mine_supp_t *s)
{
    if (!s)
        return;
    map_clear(s);
    free(s->list);
    sl_buf_free(&s->kbuf);
    free(s);
}

static ent_t *map_get(mine_supp_t *s, const char *key)
{
    uint64_t h = fnv(key, strlen(key)) % MAP_BUCKETS;
    for (ent_t *e = s->bucket[h]; e; e = e->next)
        if (!strcmp(e->key, key))
            return e;
    return NULL;
}

static ent_t *map_put(mine_supp_t *s, const char *key, const char *table)
{
    ent_t *e = map_get(s, key);
    if (e)
        return e;
    if (s->nlist == s->caplist) {
        size_t cap = s->caplist ? s->caplist * 2 : 256;
        ent_t **l = realloc(s->list, cap * sizeof(*l));
        if (!l)
            return NULL;
        s->list = l;
        s->caplist = cap;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = strdup(key);
    e->table = strdup(table);
    uint64_t h = fnv(key, strlen(key)) % MAP_BUCKETS;
    e->next = s->bucket[h];
    s->bucket[h] = e;
    s->list[s->nlist++] = e;
    return e;
}

/* ------------------------------------------------------------------- keys */

/* Index in the change's columns of each key column of the schema; 0 when a
 * key column is absent from the change. */
static int key_cols(const mine_schema_t *sc, const sl_change_t *c, uint32_t *idx)
{
    if (!sc || !sc->npk)
        return 0;
    for (uint32_t k = 0; k < sc->npk; k++) {
        const char *name = sc->rec->u.schema.cols[sc->pk[k]].name;
        uint32_t i;
        for (i = 0; i < c->ncols; i++)
            if (!strcmp(c->columns[i], name))
                break;
        if (i == c->ncols)
            return 0;
        idx[k] = i;
    }
    return 1;
}

/* Key text of an image ("db.table|[v1,v2]"), 0 when a key value is missing. */
static int image_key(sl_buf_t *out, const char *table, const sl_value_t *img,
                     const uint32_t *idx, uint32_t npk)
{
    sl_buf_reset(out);
    sl_buf_puts(out, table);
    sl_buf_puts(out, "|[");
    for (uint32_t k = 0; k < npk; k++) {
        const sl_value_t *v = &img[idx[k]];
        if (v->kind == SL_VAL_MISSING)
            return 0;
        if (k)
            sl_buf_putc(out, ',');
        if (sl_value_to_json(v, out) != SL_OK)
            return 0;
    }
    sl_buf_putc(out, ']');
    return 1;
}

static const sl_value_t *key_image(const sl_change_t *c, uint32_t row)
{
    const sl_row_t *r = &c->rows[row];
    if (c->op == SL_OP_INSERT)
        return r->after;
    return r->before ? r->before : r->after;
}

uint64_t mine_row_hash(const mine_schema_t *sc, const sl_record_t *rec, uint32_t row)
{
    const sl_change_t *c = &rec->u.change;
    char table[512];
    uint32_t idx[64];
    sl_buf_t b = {0};
    uint64_t h;
    sl_logdoc_table_name(c->db, c->table, table, sizeof table);
    const sl_value_t *img = row < c->nrows ? key_image(c, row) : NULL;
    if (img && sc && sc->npk <= 64 && key_cols(sc, c, idx) &&
        image_key(&b, table, img, idx, sc->npk))
        h = fnv(b.data, b.len);
    else
        h = fnv(table, strlen(table));
    sl_buf_free(&b);
    return h;
}

/* ------------------------------------------------------------------ batch */

static int needs_lookup(const sl_change_t *c, uint32_t row)
{
    const sl_row_t *r = &c->rows[row];
    if (c->op != SL_OP_UPDATE)
        return 0;
    if (!r->before)
        return 1;
    for (uint32_t i = 0; i < c->ncols; i++)
        if (r->before[i].kind == SL_VAL_MISSING ||
            (r->after && r->after[i].kind == SL_VAL_MISSING))
            return 1;
    return 0;
}

static sl_err_t lookup(mine_supp_t *s, bson_t *ids, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    const bson_t *doc;
    sl_err_t err = SL_OK;
    mongoc_collection_t *coll = mine_store_coll(s->st, s->client, s->st->latest_name);
    bson_t *filter = bson_new(), in;
    BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &in);
    BSON_APPEND_ARRAY(&in, "$in", ids);
    bson_append_document_end(filter, &in);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, img;
        const char *id = NULL, *table = "";
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            id = bson_iter_utf8(&it, NULL);
        if (bson_iter_init_find(&it, doc, "table") && BSON_ITER_HOLDS_UTF8(&it))
            table = bson_iter_utf8(&it, NULL);
        if (!id || !bson_iter_init_find(&img, doc, "img") || !BSON_ITER_HOLDS_DOCUMENT(&img))
            continue;
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&img, &len, &data);
        ent_t *en = map_put(s, id, table);
        if (!en) {
            err = SL_ERR_NOMEM;
            break;
        }
        if (!en->img)
            en->img = bson_new_from_data(data, len);
    }
    if (!err && mongoc_cursor_error(cur, &e)) {
        snprintf(errstr, errstr_size, "find in %s.%s: %s", s->st->conf.database,
                 s->st->latest_name, e.message);
        err = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    return err;
}

static int is_missing_wrapper(const bson_iter_t *it)
{
    bson_iter_t sub;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub))
        return 0;
    return bson_iter_find(&sub, "_t") && BSON_ITER_HOLDS_UTF8(&sub) &&
           !strcmp(bson_iter_utf8(&sub, NULL), "missing");
}

/* Copies field `name` of src into out when present and not itself missing. */
static int fill_from(bson_t *out, const bson_t *src, const char *name)
{
    bson_iter_t it;
    if (!src || !bson_iter_init_find(&it, src, name) || is_missing_wrapper(&it))
        return 0;
    return bson_append_iter(out, name, -1, &it);
}

static void mark(bson_t *arr, uint32_t *n, const char *name)
{
    char ik[16];
    const char *ks;
    bson_uint32_to_string((*n)++, &ks, ik, sizeof ik);
    bson_append_utf8(arr, ks, -1, name, -1);
}

/* The images of one change row, supplemented from the latest image. */
static sl_err_t build_row(mine_supp_t *s, const mine_item_t *item, int supplement,
                          const sl_logdoc_ctx_t *ctx, bson_t *doc, uint64_t *nsupp)
{
    const sl_change_t *c = &item->rec->u.change;
    const sl_row_t *r = &c->rows[item->row];
    bson_t before, after, sb, sa;
    uint32_t nsb = 0, nsa = 0;
    int has_b = r->before != NULL, has_a = r->after != NULL;
    uint32_t idx[64];
    char table[512];
    ent_t *cur = NULL;
    int keyed = 0;
    sl_err_t err = SL_OK;
    bson_init(&before);
    bson_init(&after);
    bson_init(&sb);
    bson_init(&sa);
    sl_logdoc_table_name(c->db, c->table, table, sizeof table);
    if (supplement && item->schema && item->schema->npk <= 64 &&
        key_cols(item->schema, c, idx) &&
        image_key(&s->kbuf, table, key_image(c, item->row), idx, item->schema->npk)) {
        keyed = 1;
        cur = map_get(s, s->kbuf.data);
    }
    const bson_t *latest = cur ? cur->img : NULL;
    if (has_b) {
        for (uint32_t i = 0; i < c->ncols; i++) {
            if (r->before[i].kind == SL_VAL_MISSING && latest &&
                fill_from(&before, latest, c->columns[i])) {
                mark(&sb, &nsb, c->columns[i]);
                continue;
            }
            if (mine_bson_append_value(&before, c->columns[i], -1, &r->before[i]))
                err = SL_ERR_ENCODE;
        }
    } else if (keyed && c->op == SL_OP_UPDATE && latest) {
        for (uint32_t i = 0; i < c->ncols; i++)
            if (fill_from(&before, latest, c->columns[i]))
                mark(&sb, &nsb, c->columns[i]);
        has_b = 1;
    }
    if (has_a) {
        for (uint32_t i = 0; i < c->ncols; i++) {
            if (r->after[i].kind == SL_VAL_MISSING && keyed &&
                (fill_from(&after, has_b ? &before : NULL, c->columns[i]) ||
                 fill_from(&after, latest, c->columns[i]))) {
                mark(&sa, &nsa, c->columns[i]);
                continue;
            }
            if (mine_bson_append_value(&after, c->columns[i], -1, &r->after[i]))
                err = SL_ERR_ENCODE;
        }
    }
    if (!err && sl_logdoc_change(doc, item->rec, item->row, has_b ? &before : NULL,
                                has_a ? &after : NULL, nsb ? &sb : NULL, nsa ? &sa : NULL,
                                ctx))
        err = SL_ERR_ENCODE;
    if (nsb || nsa)
        (*nsupp)++;
    if (!err && keyed) {
        /* the newest image of the key (and of its new key after a key change) */
        char id[MINE_ID_LEN + 1];
        sl_pos_t p = item->rec->pos;
        p.row += item->row;
        mine_doc_id(&p, MINE_T_CHANGE, id);
        char *oldkey = strdup(s->kbuf.data);
        ent_t *e;
        if (c->op == SL_OP_DELETE) {
            if ((e = map_put(s, oldkey, table))) {
                if (e->img)
                    bson_destroy(e->img);
                e->img = NULL;
                e->dirty = 1;
                memcpy(e->pos, id, sizeof id);
            }
        } else if (has_a) {
            const char *newkey = oldkey;
            if (c->op == SL_OP_UPDATE &&
                image_key(&s->kbuf, table, r->after, idx, item->schema->npk) &&
                strcmp(s->kbuf.data, oldkey)) {
                newkey = s->kbuf.data;
                if ((e = map_put(s, oldkey, table))) {
                    if (e->img)
                        bson_destroy(e->img);
                    e->img = NULL;
                    e->dirty = 1;
                    memcpy(e->pos, id, sizeof id);
                }
            }
            /* a key first met in this batch by an update of that key is most
             * likely in __latest already: replaced, not inserted (flush) */
            int first = !map_get(s, newkey);
            if ((e = map_put(s, newkey, table))) {
                if (first && c->op == SL_OP_UPDATE && newkey == oldkey)
                    e->stored = 1;
                if (e->img)
                    bson_destroy(e->img);
                e->img = bson_copy(&after);
                e->dirty = 1;
                memcpy(e->pos, id, sizeof id);
            }
        }
        free(oldkey);
    }
    bson_destroy(&before);
    bson_destroy(&after);
    bson_destroy(&sb);
    bson_destroy(&sa);
    return err;
}

sl_err_t mine_supp_build(mine_supp_t *s, const mine_item_t *items, size_t n, int supplement,
                         int retention, bson_t **docs, uint64_t *nsupplemented,
                         char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    map_clear(s);
    if (supplement) {
        bson_t ids;
        uint32_t nids = 0;
        uint32_t idx[64];
        char table[512], ik[16];
        const char *ks;
        bson_init(&ids);
        for (size_t i = 0; i < n; i++) {
            const mine_item_t *it = &items[i];
            if (it->rec->type != SL_REC_CHANGE)
                continue;
            const sl_change_t *c = &it->rec->u.change;
            if (!it->schema || it->schema->npk > 64 || !needs_lookup(c, it->row) ||
                !key_cols(it->schema, c, idx))
                continue;
            sl_logdoc_table_name(c->db, c->table, table, sizeof table);
            if (!image_key(&s->kbuf, table, key_image(c, it->row), idx, it->schema->npk))
                continue;
            bson_uint32_to_string(nids++, &ks, ik, sizeof ik);
            bson_append_utf8(&ids, ks, -1, s->kbuf.data, (int)s->kbuf.len);
        }
        if (nids)
            err = lookup(s, &ids, errstr, errstr_size);
        bson_destroy(&ids);
        if (err)
            return err;
        /* what was looked up is the stored state, not to be written back */
        for (size_t i = 0; i < s->nlist; i++) {
            s->list[i]->dirty = 0;
            s->list[i]->stored = 1;
        }
    }
    for (size_t i = 0; i < n && !err; i++) {
        const mine_item_t *it = &items[i];
        sl_logdoc_ctx_t ctx = {.offset = it->offset, .retention = retention};
        docs[i] = bson_new();
        switch (it->rec->type) {
        case SL_REC_CHANGE:
            err = build_row(s, it, supplement, &ctx, docs[i], nsupplemented);
            break;
        case SL_REC_COMMIT:
            err = sl_logdoc_commit(docs[i], it->rec, &ctx) ? SL_ERR_ENCODE : SL_OK;
            break;
        case SL_REC_SCHEMA:
            err = sl_logdoc_schema(docs[i], it->rec, &ctx) ? SL_ERR_ENCODE : SL_OK;
            break;
        default:
            break;
        }
        if (err) {
            char ptxt[200];
            sl_pos_format(&it->rec->pos, ptxt, sizeof ptxt);
            snprintf(errstr, errstr_size, "cannot build the log document of the %s at %s "
                     "(Kafka offset %lld): a value BSON refuses or a document over 16 MB",
                     sl_rec_type_name(it->rec->type), ptxt, (long long)it->offset);
        }
    }
    return err;
}


/* A key's document: its image, or for a deleted key a tombstone (no img,
 * `exp` for the TTL index) that keeps the delete's position, so that an
 * older image written late (a copy paused past its lease, a replay) cannot
 * bring the key back. Readers take a document without img for no image. */
static void latest_doc(bson_t *doc, const ent_t *e)
{
    bson_init(doc);
    BSON_APPEND_UTF8(doc, "_id", e->key);
    BSON_APPEND_UTF8(doc, "table", e->table);
    BSON_APPEND_UTF8(doc, "pos", e->pos);
    if (e->img) {
        BSON_APPEND_DOCUMENT(doc, "img", e->img);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        BSON_APPEND_BOOL(doc, "deleted", true);
        BSON_APPEND_DATE_TIME(doc, "exp", (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
    }
}

/* insert_many of the images of keys not known to be stored (new keys: most
 * keys of an insert-heavy source); those already there (E11000: a replay, a
 * key deleted and inserted again) get dup[i] = 1 and are replaced. On the
 * local stand-in an insert costs a third of an upsert; on mongod it is the
 * same _id index work. */
static sl_err_t insert_new(mine_supp_t *s, mongoc_collection_t *coll, ent_t **ents, size_t n,
                           char *dup, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    bson_t reply;
    sl_err_t err = SL_OK;
    bson_t *docs = malloc(n * sizeof(*docs));
    const bson_t **ptrs = malloc(n * sizeof(*ptrs));
    if (!docs || !ptrs) {
        free(docs);
        free(ptrs);
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        latest_doc(&docs[i], ents[i]);
        ptrs[i] = &docs[i];
    }
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    BSON_APPEND_BOOL(&opts, "validate", false);
    mongoc_write_concern_append(s->st->wc, &opts);
    if (!mongoc_collection_insert_many(coll, ptrs, n, &opts, &reply, &e)) {
        bson_iter_t it, arr, we;
        int other = !bson_iter_init_find(&it, &reply, "writeErrors");
        if (!other && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &arr))
            while (bson_iter_next(&arr)) {
                int64_t idx = -1, code = 0;
                if (!bson_iter_recurse(&arr, &we))
                    continue;
                while (bson_iter_next(&we)) {
                    if (!strcmp(bson_iter_key(&we), "index"))
                        idx = bson_iter_as_int64(&we);
                    else if (!strcmp(bson_iter_key(&we), "code"))
                        code = bson_iter_as_int64(&we);
                }
                if (code == 11000 && idx >= 0 && (size_t)idx < n)
                    dup[idx] = 1;
                else
                    other = 1;
            }
        if (other || bson_has_field(&reply, "writeConcernErrors")) {
            snprintf(errstr, errstr_size, "insert into %s.%s: %s", s->st->conf.database,
                     s->st->latest_name, e.message);
            err = SL_ERR_DB;
        }
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    for (size_t i = 0; i < n; i++)
        bson_destroy(&docs[i]);
    free(docs);
    free(ptrs);
    return err;
}

sl_err_t mine_supp_flush(mine_supp_t *s, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    size_t nnew = 0, nrest = 0;
    ent_t **fresh = malloc((s->nlist ? s->nlist : 1) * sizeof(*fresh));
    char *dup = calloc(s->nlist ? s->nlist : 1, 1);
    if (!fresh || !dup) {
        free(fresh);
        free(dup);
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->nlist; i++) {
        ent_t *e = s->list[i];
        if (!e->dirty)
            continue;
        if (e->img && !e->stored)
            fresh[nnew++] = e;
        else
            nrest++;
    }
    mongoc_collection_t *coll = mine_store_coll(s->st, s->client, s->st->latest_name);
    if (nnew)
        err = insert_new(s, coll, fresh, nnew, dup, errstr, errstr_size);
    for (size_t i = 0; i < nnew; i++) {
        if (dup[i])
            nrest++;
        else
            fresh[i]->dirty = 0;
    }
    if (!err && nrest) {
        mongoc_bulk_operation_t *bulk = mine_store_new_bulk(s->st, coll, 0);
        /* built by hand, not with BCON_NEW (3 per key cost 5 % of the
         * miner); validate: false as for the log (store.c) */
        bson_t sel, doc, ro;
        bson_init(&ro);
        BSON_APPEND_BOOL(&ro, "upsert", true);
        BSON_APPEND_BOOL(&ro, "validate", false);
        for (size_t i = 0; i < s->nlist; i++) {
            ent_t *e = s->list[i];
            if (!e->dirty)
                continue;
            /* only over a document of an older position: one of a newer
             * position (a copy paused past its lease that wakes up, a
             * replay) stays; the upsert then meets its _id: E11000,
             * counted and ignored by mine_store_bulk_dups. A delete writes
             * a tombstone the same way (latest_doc). */
            bson_t pos;
            bson_init(&sel);
            BSON_APPEND_UTF8(&sel, "_id", e->key);
            BSON_APPEND_DOCUMENT_BEGIN(&sel, "pos", &pos);
            BSON_APPEND_UTF8(&pos, "$lt", e->pos);
            bson_append_document_end(&sel, &pos);
            latest_doc(&doc, e);
            mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, &doc, &ro, NULL);
            bson_destroy(&doc);
            bson_destroy(&sel);
            e->dirty = 0;
        }
        bson_destroy(&ro);
        uint64_t newer = 0;
        err = mine_store_bulk_dups(s->st, coll, bulk, &newer, errstr, errstr_size);
        if (!err && newer)
            sl_debug("%s: %" PRIu64 " latest image(s) left as they were: a newer one was "
                     "there (a replay, or another copy went further)", s->st->latest_name,
                     newer);
        mongoc_bulk_operation_destroy(bulk);
    }
    mongoc_collection_destroy(coll);
    free(fresh);
    free(dup);
    return err;
}

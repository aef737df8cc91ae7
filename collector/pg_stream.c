/* shiftlog collector, PostgreSQL: streamed (in-progress) transactions of
 * pgoutput protocol 2, spilled to disk and replayed at Stream Commit.
 * Why and how: pg_decode.h, "streamed transactions".
 *
 * Spill file: frames of [u64 lsn][u32 len][len bytes of the pgoutput
 * message], big-endian, in arrival order. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_decode.h"
#include "sl_log.h"

typedef struct pg_spill_s {
    uint32_t           xid;
    FILE              *f;
    uint64_t           bytes;
    uint32_t          *aborted;     /* aborted subtransactions */
    uint32_t           naborted, cap;
    struct pg_spill_s *next;
} pg_spill_t;

struct pg_stream_s {
    char              *dir;
    uint64_t           max_bytes;   /* 0 = unlimited */
    pg_spill_t        *list;
    pg_spill_t        *cur;
    int                in_block;
    sl_buf_t           buf;
    pg_stream_stats_t  stats;
};

sl_err_t pg_stream_new(pg_stream_t **out, const char *dir, uint64_t max_bytes)
{
    pg_stream_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir && *dir ? dir : "/tmp"))) {
        free(s);
        return SL_ERR_NOMEM;
    }
    s->max_bytes = max_bytes;
    *out = s;
    return SL_OK;
}

static void spill_free(pg_stream_t *s, pg_spill_t *sp)
{
    if (sp->f)
        fclose(sp->f);
    s->stats.bytes -= sp->bytes;
    s->stats.open--;
    free(sp->aborted);
    free(sp);
}

void pg_stream_reset(pg_stream_t *s)
{
    for (pg_spill_t *sp = s->list, *n; sp; sp = n) {
        n = sp->next;
        spill_free(s, sp);
    }
    s->list = NULL;
    s->cur = NULL;
    s->in_block = 0;
}

void pg_stream_destroy(pg_stream_t *s)
{
    if (!s)
        return;
    pg_stream_reset(s);
    sl_buf_free(&s->buf);
    free(s->dir);
    free(s);
}

int pg_stream_in_block(const pg_stream_t *s)
{
    return s->in_block;
}

const pg_stream_stats_t *pg_stream_stats(const pg_stream_t *s)
{
    return &s->stats;
}

static pg_spill_t *spill_find(pg_stream_t *s, uint32_t xid, pg_spill_t ***prevp)
{
    for (pg_spill_t **pp = &s->list; *pp; pp = &(*pp)->next)
        if ((*pp)->xid == xid) {
            if (prevp)
                *prevp = pp;
            return *pp;
        }
    return NULL;
}

static sl_err_t spill_open(pg_stream_t *s, uint32_t xid, pg_spill_t **out, char *errstr,
                           size_t errstr_size)
{
    char path[4096];
    pg_spill_t *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return SL_ERR_NOMEM;
    snprintf(path, sizeof(path), "%s/shiftlog-pg-xid%" PRIu32 "-XXXXXX", s->dir, xid);
    int fd = mkstemp(path);
    if (fd < 0 || !(sp->f = fdopen(fd, "w+b"))) {
        snprintf(errstr, errstr_size, "cannot create a spill file for streamed transaction "
                 "%u in %s: %s (set TMPDIR to a writable directory with room)", xid, s->dir,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        free(sp);
        return SL_ERR_IO;
    }
    unlink(path); /* anonymous: gone with the process */
    sp->xid = xid;
    sp->next = s->list;
    s->list = sp;
    s->stats.open++;
    *out = sp;
    return SL_OK;
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static sl_err_t spill_put(pg_stream_t *s, pg_spill_t *sp, uint64_t lsn, const uint8_t *msg,
                          size_t len, char *errstr, size_t errstr_size)
{
    uint8_t hdr[12];
    if (s->max_bytes && sp->bytes + len + sizeof(hdr) > s->max_bytes) {
        snprintf(errstr, errstr_size, "streamed transaction %u needs more than "
                 "source.spill.max.bytes (%" PRIu64 " bytes) of spill file in %s: raise it or "
                 "give source.spill.dir more room", sp->xid, s->max_bytes, s->dir);
        return SL_ERR_FATAL;
    }
    be64(hdr, lsn);
    be32(hdr + 8, (uint32_t)len);
    if (fwrite(hdr, 1, sizeof(hdr), sp->f) != sizeof(hdr) || fwrite(msg, 1, len, sp->f) != len) {
        snprintf(errstr, errstr_size, "writing the spill file of streamed transaction %u in "
                 "%s: %s", sp->xid, s->dir, strerror(errno));
        return SL_ERR_IO;
    }
    sp->bytes += len + sizeof(hdr);
    s->stats.bytes += len + sizeof(hdr);
    if (s->stats.bytes > s->stats.peak_bytes)
        s->stats.peak_bytes = s->stats.bytes;
    return SL_OK;
}

static int is_aborted(const pg_spill_t *sp, uint32_t xid)
{
    for (uint32_t i = 0; i < sp->naborted; i++)
        if (sp->aborted[i] == xid)
            return 1;
    return 0;
}

/* Replays a committed streamed transaction through the decoder. */
static sl_err_t replay(pg_stream_t *s, pg_dec_t *d, pg_spill_t *sp, uint64_t commit_lsn,
                       uint64_t end_lsn, int64_t ts, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    uint8_t hdr[12];
    if ((err = pg_dec_replay_begin(d, sp->xid, commit_lsn, ts, errstr, errstr_size)))
        return err;
    if (sp->f) {
        if (fflush(sp->f) || fseek(sp->f, 0, SEEK_SET)) {
            snprintf(errstr, errstr_size, "spill file of transaction %u: %s", sp->xid,
                     strerror(errno));
            return SL_ERR_IO;
        }
        for (;;) {
            size_t n = fread(hdr, 1, sizeof(hdr), sp->f);
            if (n == 0 && feof(sp->f))
                break;
            if (n != sizeof(hdr))
                goto short_read;
            uint64_t lsn = 0;
            uint32_t len = 0;
            for (int i = 0; i < 8; i++)
                lsn = lsn << 8 | hdr[i];
            for (int i = 8; i < 12; i++)
                len = len << 8 | hdr[i];
            sl_buf_reset(&s->buf);
            if (sl_buf_reserve(&s->buf, len))
                return SL_ERR_NOMEM;
            if (fread(s->buf.data, 1, len, sp->f) != len)
                goto short_read;
            const uint8_t *m = (const uint8_t *)s->buf.data;
            if (sp->naborted && len >= 5 && strchr("RYIUDTM", m[0])) {
                uint32_t x = (uint32_t)m[1] << 24 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 8 | m[4];
                if (is_aborted(sp, x))
                    continue;
            }
            if ((err = pg_dec_message(d, lsn, m, len, 1, errstr, errstr_size)))
                return err;
        }
    }
    return pg_dec_replay_commit(d, commit_lsn, end_lsn, ts, errstr, errstr_size);
short_read:
    snprintf(errstr, errstr_size, "spill file of transaction %u ends early: %s", sp->xid,
             ferror(sp->f) ? strerror(errno) : "truncated");
    return SL_ERR_IO;
}

/* Stream Commit / Abort end a streamed transaction between blocks (pgoutput
 * asserts !in_streaming for both). Inside a Start/Stop block they would free
 * the spill file the block is still writing to: a protocol error. */
static sl_err_t inside_block(char type, uint32_t xid, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "pgoutput Stream %s of xid %u inside a Stream Start/Stop "
             "block", type == 'c' ? "Commit" : "Abort", xid);
    return SL_ERR_DECODE;
}

sl_err_t pg_stream_message(pg_stream_t *s, pg_dec_t *d, uint64_t lsn, const uint8_t *msg,
                           size_t len, int *handled, char *errstr, size_t errstr_size)
{
    pg_rd_t r = {msg, len, 0, 0};
    char type = (char)pg_rd_u8(&r);
    sl_err_t err = SL_OK;
    *handled = 1;
    switch (type) {
    case 'S': {
        uint32_t xid = pg_rd_u32(&r);
        (void)pg_rd_u8(&r); /* first segment */
        if (r.bad)
            goto bad;
        if (s->in_block) {
            snprintf(errstr, errstr_size, "pgoutput Stream Start of xid %u inside another", xid);
            return SL_ERR_DECODE;
        }
        pg_spill_t *sp = spill_find(s, xid, NULL);
        if (!sp && (err = spill_open(s, xid, &sp, errstr, errstr_size)))
            return err;
        s->cur = sp;
        s->in_block = 1;
        return SL_OK;
    }
    case 'E': {
        pg_spill_t *sp = s->cur;
        s->in_block = 0;
        s->cur = NULL;
        if (sp && sp->f && fflush(sp->f)) {
            snprintf(errstr, errstr_size, "flushing a spill file in %s: %s", s->dir,
                     strerror(errno));
            return SL_ERR_IO;
        }
        return SL_OK;
    }
    case 'c': {
        uint32_t xid = pg_rd_u32(&r);
        (void)pg_rd_u8(&r);
        uint64_t commit_lsn = pg_rd_u64(&r), end_lsn = pg_rd_u64(&r);
        int64_t ts = (int64_t)pg_rd_u64(&r);
        if (r.bad)
            goto bad;
        if (s->in_block)
            return inside_block(type, xid, errstr, errstr_size);
        pg_spill_t **pp = NULL, *sp = spill_find(s, xid, &pp);
        pg_spill_t empty = {.xid = xid};
        err = replay(s, d, sp ? sp : &empty, commit_lsn, end_lsn, ts, errstr, errstr_size);
        if (sp) {
            *pp = sp->next;
            spill_free(s, sp);
        }
        s->stats.committed++;
        return err;
    }
    case 'A': {
        uint32_t xid = pg_rd_u32(&r), subxid = pg_rd_u32(&r);
        if (r.bad)
            goto bad;
        if (s->in_block)
            return inside_block(type, xid, errstr, errstr_size);
        pg_spill_t **pp = NULL, *sp = spill_find(s, xid, &pp);
        if (!sp)
            return SL_OK;
        if (subxid == xid) {
            *pp = sp->next;
            spill_free(s, sp);
            s->stats.aborted++;
            return SL_OK;
        }
        if (sp->naborted == sp->cap) {
            uint32_t cap = sp->cap ? sp->cap * 2 : 8;
            uint32_t *a = realloc(sp->aborted, cap * sizeof(*a));
            if (!a)
                return SL_ERR_NOMEM;
            sp->aborted = a;
            sp->cap = cap;
        }
        sp->aborted[sp->naborted++] = subxid;
        return SL_OK;
    }
    default:
        if (!s->in_block) {
            *handled = 0;
            return SL_OK;
        }
        return spill_put(s, s->cur, lsn, msg, len, errstr, errstr_size);
    }
bad:
    snprintf(errstr, errstr_size, "pgoutput stream message '%c' truncated", type);
    return SL_ERR_DECODE;
}

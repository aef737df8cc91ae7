/* shiftlog snapshot --wait: reads GET /snapshot answers (the collector's
 * collector/snapshot_queue.c writes them) and shows the copies followed.
 *
 * The answer is scanned, not parsed into a tree: a small reader walks the
 * top-level arrays "queue" and "ended", whose objects are flat apart from
 * the key bounds (arrays, skipped whole). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot_view.h"

#define BAR_WIDTH 24
#define PLAIN_EVERY 10            /* seconds between plain progress lines */

/* ------------------------------------------------------------ JSON walking */

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* The end of the JSON value at p (string, array, object, literal). */
static const char *skip_value(const char *p)
{
    p = ws(p);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        return *p ? p + 1 : p;
    }
    if (*p == '[' || *p == '{') {
        char close = *p == '[' ? ']' : '}';
        p = ws(p + 1);
        while (*p && *p != close) {
            if (close == '}') {
                p = ws(skip_value(p));          /* the key */
                if (*p == ':')
                    p++;
            }
            p = ws(skip_value(p));
            if (*p == ',')
                p = ws(p + 1);
            else if (*p != close)
                return p + strlen(p);           /* malformed: the end */
        }
        return *p ? p + 1 : p;
    }
    while (*p && !strchr(",]} \n\t\r", *p))
        p++;
    return p;
}

/* The value of member `key` of the object at obj, or NULL. */
static const char *member(const char *obj, const char *key)
{
    const char *p = ws(obj);
    size_t kl = strlen(key);
    if (*p != '{')
        return NULL;
    p = ws(p + 1);
    while (*p == '"') {
        const char *k = p + 1, *ke = skip_value(p);
        p = ws(ke);
        if (*p != ':')
            return NULL;
        p = ws(p + 1);
        if ((size_t)(ke - k - 1) == kl && !memcmp(k, key, kl))
            return p;
        p = ws(skip_value(p));
        if (*p != ',')
            return NULL;
        p = ws(p + 1);
    }
    return NULL;
}

/* A string member into out (escapes kept but \" and \\ undone); "" when absent. */
static void str_member(const char *obj, const char *key, char *out, size_t size)
{
    const char *v = member(obj, key);
    size_t n = 0;
    if (v && *v == '"')
        for (v++; *v && *v != '"' && n + 1 < size; v++) {
            if (*v == '\\' && (v[1] == '"' || v[1] == '\\'))
                v++;
            out[n++] = *v;
        }
    out[n] = '\0';
}

static double num_member(const char *obj, const char *key, double dflt)
{
    const char *v = member(obj, key);
    return v && (*v == '-' || (*v >= '0' && *v <= '9')) ? strtod(v, NULL) : dflt;
}

/* Calls fn for each object of the top-level array `name`. */
static void each(const char *json, const char *name,
                 void (*fn)(void *arg, const char *obj), void *arg)
{
    const char *a = member(json, name);
    if (!a || *a != '[')
        return;
    for (const char *p = ws(a + 1); *p == '{'; ) {
        fn(arg, p);
        p = ws(skip_value(p));
        if (*p == ',')
            p = ws(p + 1);
    }
}

static int array_empty(const char *json, const char *name)
{
    const char *a = member(json, name);
    return !a || (*a == '[' && *ws(a + 1) == ']');
}

/* ------------------------------------------------------------ drawing */

static void fmt_rows(char *out, size_t size, double v)
{
    if (v >= 1e6)
        snprintf(out, size, "%.1fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, size, "%.0fk", v / 1e3);
    else
        snprintf(out, size, "%.0f", v);
}

/* One entry's line: the bar (terminal) or the plain words. */
static void entry_line(const cli_snap_view_t *v, const char *obj, const char *state_override,
                       char *out, size_t size)
{
    char table[300], state[32], rows[32], est[32], rate[32], range[16] = "";
    str_member(obj, "table", table, sizeof(table));
    str_member(obj, "state", state, sizeof(state));
    if (state_override)
        snprintf(state, sizeof(state), "%s", state_override);
    double r = num_member(obj, "rows", 0), e = num_member(obj, "rows_estimate", -1);
    double rs = num_member(obj, "rows_per_s", -1), pct = num_member(obj, "percent", -1);
    double eta = num_member(obj, "eta_s", -1);
    const char *lo = member(obj, "after"), *hi = member(obj, "upto");
    if ((lo && *lo == '[') || (hi && *hi == '['))
        snprintf(range, sizeof(range), " (range)");
    int done = !strcmp(state, "done");
    if (done)
        pct = 100;
    fmt_rows(rows, sizeof(rows), r);
    fmt_rows(est, sizeof(est), e);
    fmt_rows(rate, sizeof(rate), rs);
    int n = 0;
    if (v->tty) {
        char bar[BAR_WIDTH + 1];
        int fill = pct >= 0 ? (int)(pct * BAR_WIDTH / 100) : 0;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = pct < 0 ? (i == (int)(r / 1000) % BAR_WIDTH ? '#' : '.')
                   : i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        /* a long name keeps its end (the table), the line its width */
        size_t tl = strlen(table);
        const char *shown = tl > 32 ? table + tl - 29 : table;
        n = snprintf(out, size, "%s%-*s%s [%s] ", tl > 32 ? "..." : "", tl > 32 ? 29 : 32,
                     shown, range, bar);
    } else {
        n = snprintf(out, size, "%s%s: %s, ", table, range, state);
    }
    if (n < 0 || (size_t)n >= size)
        return;
    char pc[16] = "";
    if (pct >= 0)
        snprintf(pc, sizeof(pc), "%3.0f%% ", pct);
    snprintf(out + n, size - (size_t)n, "%s%s%s%s rows%s%s%s%s", pc, rows,
             e >= 0 ? " of ~" : "", e >= 0 ? est : "",
             rs >= 0 && !done ? ", " : "", rs >= 0 && !done ? rate : "",
             rs >= 0 && !done ? " rows/s" : "", "");
    if (eta >= 0 && !done) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, ", ETA %.0f s", eta);
    }
    if (v->tty && !done && strcmp(state, "reading")) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, " (%s)", state);
    }
}

typedef struct find_s {
    const char *id;
    const char *obj;
} find_t;

static void find_fn(void *arg, const char *obj)
{
    find_t *f = arg;
    char id[64];
    str_member(obj, "id", id, sizeof(id));
    if (!strcmp(id, f->id))
        f->obj = obj;
}

typedef struct lines_s {
    const cli_snap_view_t *v;
    char                 (*buf)[400];
    int                    n, max;
} lines_t;

static void all_fn(void *arg, const char *obj)
{
    lines_t *l = arg;
    if (l->n < l->max)
        entry_line(l->v, obj, NULL, l->buf[l->n++], sizeof(l->buf[0]));
}

void cli_snap_view_init(cli_snap_view_t *v, int tty, const char *const *ids, int nids)
{
    memset(v, 0, sizeof(*v));
    v->tty = tty;
    v->ids = ids;
    v->nids = nids > 64 ? 64 : nids;
    v->logged = time(NULL);
    v->out = stdout;
}

int cli_snap_view_update(cli_snap_view_t *v, const char *json)
{
    char lines[64][400];
    lines_t all = {.v = v, .buf = lines, .max = 64};
    int end = 1, refused = 0;
    time_t now = time(NULL);
    int plain_due = !v->tty && now - v->logged >= PLAIN_EVERY;
    if (!v->nids) {
        each(json, "queue", all_fn, &all);
        end = array_empty(json, "queue") && array_empty(json, "written") &&
              array_empty(json, "waiting");
    }
    for (int i = 0; i < v->nids; i++) {
        find_t f = {.id = v->ids[i]};
        each(json, "ended", find_fn, &f);
        if (f.obj) {
            char state[32];
            str_member(f.obj, "state", state, sizeof(state));
            if (strcmp(state, "done")) {
                char table[300], why[600];
                str_member(f.obj, "table", table, sizeof(table));
                str_member(f.obj, "reason", why, sizeof(why));
                if (!v->told[i])
                    fprintf(stderr, "shiftlog snapshot: request %s for %s %s: %s\n",
                            v->ids[i], table, state, why);
                refused = 1;
                v->told[i] = 1;
                continue;
            }
            entry_line(v, f.obj, NULL, lines[all.n], sizeof(lines[0]));
            if (!v->tty && !v->told[i])
                fprintf(v->out, "%s\n", lines[all.n]);
            v->told[i] = 1;
            all.n++;
            continue;
        }
        end = 0;
        each(json, "queue", find_fn, &f);
        if (f.obj)
            entry_line(v, f.obj, NULL, lines[all.n++], sizeof(lines[0]));
        else
            snprintf(lines[all.n++], sizeof(lines[0]), "request %s: not in the stream yet",
                     v->ids[i]);
    }
    if (v->tty) {
        /* redraw in place: up over the last drawing, each line cleared */
        if (v->drawn)
            fprintf(v->out, "\033[%dA", v->drawn);
        for (int i = 0; i < all.n; i++)
            fprintf(v->out, "\033[2K\r%s\n", lines[i]);
        for (int i = all.n; i < v->drawn; i++)
            fprintf(v->out, "\033[2K\n");
        if (all.n < v->drawn)
            fprintf(v->out, "\033[%dA", v->drawn - all.n);
        v->drawn = all.n;
    } else if (plain_due) {
        for (int i = 0; i < all.n; i++)
            if (!strstr(lines[i], ": done,"))
                fprintf(v->out, "%s\n", lines[i]);
        v->logged = now;
    }
    fflush(v->out);
    return refused && end ? -1 : end;
}

void cli_snap_view_finish(cli_snap_view_t *v)
{
    fflush(v->out);
    (void)v;
}

char *cli_snap_answer_id(const char *body)
{
    const char *p = body ? strstr(body, "\"id\":\"") : NULL;
    if (!p)
        return NULL;
    p += 6;
    return strndup(p, strcspn(p, "\""));
}

/* ------------------------------------------------------------ older collectors */

long cli_snap_tables_done(const char *json)
{
    return json ? (long)num_member(json, "tables_done", -1) : -1;
}

int cli_snap_old_done(const char *json, int no_tables, long done0)
{
    return json && array_empty(json, "tables") &&
           (no_tables || cli_snap_tables_done(json) > done0);
}

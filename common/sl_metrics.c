/* shiftlog: metrics registry (see sl_metrics.h). */
#include "sl_metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The type of a family, as its "# TYPE" line says. */
typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } metric_type_t;
/* How a series holds its value: an integer that is added to, or a double
 * that is set (gauges, and counters mirrored from a total kept elsewhere). */
typedef enum { SV_UINT, SV_DOUBLE } value_kind_t;
/* The part of a histogram a series is; plain counters and gauges are PART_VALUE. */
typedef enum { PART_VALUE = 0, PART_BUCKET = 0, PART_SUM = 1, PART_COUNT = 2 } part_t;

struct sl_metric_s {
    char                 *labels;  /* rendered label text: a="x",b="y" ("" = none);
                                      a histogram bucket's le is not in it */
    value_kind_t          kind;
    part_t                part;
    double                le;      /* PART_BUCKET of a histogram: the upper bound */
    _Atomic uint64_t      u;       /* integer value, or the bits of a double */
    struct sl_metric_s   *next;    /* sorted by labels, part, le */
};

typedef struct family_s {
    char            *name;
    char            *help;
    metric_type_t    type;
    sl_metric_t     *series;
    struct family_s *next;         /* sorted by name */
} family_t;

struct sl_metrics_s {
    pthread_mutex_t lock;
    family_t       *families;
    sl_metrics_render_fn *on_render;
    void                 *on_render_ctx;
};

sl_metrics_t *sl_metrics_new(void)
{
    sl_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void sl_metrics_destroy(sl_metrics_t *m)
{
    if (!m)
        return;
    family_t *f = m->families;
    while (f) {
        family_t *fn = f->next;
        sl_metric_t *s = f->series;
        while (s) {
            sl_metric_t *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || (allow_colon && *s == ':')))
            return 0;
    return 1;
}

/* Label text `a="x",b="y"` with values escaped; NULL on a bad label name. */
static char *render_labels(const char *const *labels)
{
    sl_buf_t b = SL_BUF_INIT;
    if (sl_buf_append(&b, "", 0) != SL_OK)
        return NULL;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!valid_name(labels[i], 0) || !labels[i + 1])
            goto bad;
        sl_buf_printf(&b, "%s%s=\"", i ? "," : "", labels[i]);
        for (const char *v = labels[i + 1]; *v; v++) {
            if (*v == '\\')
                sl_buf_puts(&b, "\\\\");
            else if (*v == '"')
                sl_buf_puts(&b, "\\\"");
            else if (*v == '\n')
                sl_buf_puts(&b, "\\n");
            else
                sl_buf_putc(&b, *v);
        }
        sl_buf_putc(&b, '"');
    }
    return b.data;
bad:
    sl_buf_free(&b);
    return NULL;
}

/* Orders the series of a family: by labels, then (histograms) sum and count
 * after the buckets, buckets by ascending bound, +Inf last. */
static int series_cmp(const sl_metric_t *s, const char *labels, part_t part, double le)
{
    int c = strcmp(s->labels, labels);
    if (c)
        return c;
    if (s->part != part)
        return s->part < part ? -1 : 1;
    return s->le < le ? -1 : s->le > le ? 1 : 0;
}

static sl_metric_t *get_series(sl_metrics_t *m, metric_type_t type, value_kind_t kind,
                               part_t part, double le, const char *name, const char *help,
                               const char *const *labels)
{
    if (!m || !valid_name(name, 1))
        return NULL;
    char *lt = render_labels(labels);
    if (!lt)
        return NULL;
    sl_metric_t *res = NULL;
    pthread_mutex_lock(&m->lock);

    family_t **fp = &m->families;
    while (*fp && strcmp((*fp)->name, name) < 0)
        fp = &(*fp)->next;
    family_t *f = *fp;
    if (!f || strcmp(f->name, name) != 0) {
        f = calloc(1, sizeof(*f));
        if (!f)
            goto out;
        f->name = strdup(name);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            goto out;
        }
        f->type = type;
        f->next = *fp;
        *fp = f;
    } else if (f->type != type) {
        goto out;
    }

    sl_metric_t **sp = &f->series;
    while (*sp && series_cmp(*sp, lt, part, le) < 0)
        sp = &(*sp)->next;
    if (*sp && series_cmp(*sp, lt, part, le) == 0) {
        res = (*sp)->kind == kind ? *sp : NULL;
        goto out;
    }
    sl_metric_t *s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->labels = lt;
    lt = NULL;
    s->kind = kind;
    s->part = part;
    s->le = le;
    if (kind == SV_DOUBLE) {
        double z = 0.0;
        uint64_t bits;
        memcpy(&bits, &z, sizeof(bits));
        atomic_store(&s->u, bits);
    }
    s->next = *sp;
    *sp = s;
    res = s;
out:
    pthread_mutex_unlock(&m->lock);
    free(lt);
    return res;
}

sl_metric_t *sl_metrics_counter(sl_metrics_t *m, const char *name, const char *help,
                                const char *const *labels)
{
    return get_series(m, MT_COUNTER, SV_UINT, PART_VALUE, 0, name, help, labels);
}

sl_metric_t *sl_metrics_counter_total(sl_metrics_t *m, const char *name, const char *help,
                                      const char *const *labels)
{
    return get_series(m, MT_COUNTER, SV_DOUBLE, PART_VALUE, 0, name, help, labels);
}

sl_metric_t *sl_metrics_gauge(sl_metrics_t *m, const char *name, const char *help,
                              const char *const *labels)
{
    return get_series(m, MT_GAUGE, SV_DOUBLE, PART_VALUE, 0, name, help, labels);
}

sl_metric_t *sl_metrics_histogram_bucket(sl_metrics_t *m, const char *name, const char *help,
                                         const char *const *labels)
{
    /* le is taken out of the labels: it is rendered last, and orders the buckets */
    const char *rest[2 * 16 + 1], *le = NULL;
    size_t n = 0;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        if (!strcmp(labels[i], "le")) {
            le = labels[i + 1];
        } else if (n + 2 < sizeof(rest) / sizeof(rest[0])) {
            rest[n++] = labels[i];
            rest[n++] = labels[i + 1];
        } else {
            return NULL;
        }
    }
    rest[n] = NULL;
    char *end = NULL;
    double bound = le ? strtod(le, &end) : NAN;
    if (!le || end == le || *end || isnan(bound))
        return NULL;
    return get_series(m, MT_HISTOGRAM, SV_UINT, PART_BUCKET, bound, name, help, rest);
}

sl_metric_t *sl_metrics_histogram_sum(sl_metrics_t *m, const char *name, const char *help,
                                      const char *const *labels)
{
    return get_series(m, MT_HISTOGRAM, SV_UINT, PART_SUM, 0, name, help, labels);
}

sl_metric_t *sl_metrics_histogram_count(sl_metrics_t *m, const char *name, const char *help,
                                        const char *const *labels)
{
    return get_series(m, MT_HISTOGRAM, SV_UINT, PART_COUNT, 0, name, help, labels);
}

void sl_metrics_on_render(sl_metrics_t *m, sl_metrics_render_fn *fn, void *ctx)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->on_render = fn;
    m->on_render_ctx = ctx;
    pthread_mutex_unlock(&m->lock);
}

void sl_metric_inc(sl_metric_t *c)
{
    sl_metric_add(c, 1);
}

void sl_metric_add(sl_metric_t *c, uint64_t n)
{
    if (c && c->kind == SV_UINT)
        atomic_fetch_add_explicit(&c->u, n, memory_order_relaxed);
}

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

void sl_metric_set(sl_metric_t *g, double v)
{
    if (g && g->kind == SV_DOUBLE)
        atomic_store_explicit(&g->u, dbits(v), memory_order_relaxed);
}

void sl_metric_gauge_add(sl_metric_t *g, double delta)
{
    if (!g || g->kind != SV_DOUBLE)
        return;
    uint64_t old = atomic_load_explicit(&g->u, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g->u, &old, dbits(bitsd(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

double sl_metric_value(const sl_metric_t *s)
{
    if (!s)
        return 0.0;
    uint64_t u = atomic_load_explicit(&((sl_metric_t *)s)->u, memory_order_relaxed);
    return s->kind == SV_UINT ? (double)u : bitsd(u);
}

int sl_metrics_sum(sl_metrics_t *m, const char *name, double *sum)
{
    int n = 0;
    *sum = 0.0;
    pthread_mutex_lock(&m->lock);
    for (family_t *f = m->families; f; f = f->next) {
        if (strcmp(f->name, name) || f->type == MT_HISTOGRAM)
            continue;
        for (sl_metric_t *s = f->series; s; s = s->next, n++)
            *sum += sl_metric_value(s);
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}

int sl_metrics_label_set(sl_metrics_t *m, const char *name, const char *label, char *out,
                         size_t size)
{
    char key[80];
    int found = 0;
    snprintf(key, sizeof key, "%s=\"", label);
    pthread_mutex_lock(&m->lock);
    for (family_t *f = m->families; f && !found; f = f->next) {
        if (strcmp(f->name, name))
            continue;
        for (sl_metric_t *s = f->series; s && !found; s = s->next) {
            const char *p = strstr(s->labels, key);
            if (sl_metric_value(s) < 1.0 || !p || (p != s->labels && p[-1] != ','))
                continue;
            p += strlen(key);
            size_t n = strcspn(p, "\"");
            snprintf(out, size, "%.*s", (int)n, p);
            found = 1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return found;
}

static void put_double(sl_buf_t *out, double v)
{
    if (isnan(v))
        sl_buf_puts(out, "NaN");
    else if (isinf(v))
        sl_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        sl_buf_printf(out, "%.0f", v);
    else
        sl_buf_printf(out, "%.17g", v);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};
static const char *const part_suffix[] = {"_bucket", "_sum", "_count"};

sl_err_t sl_metrics_render(sl_metrics_t *m, sl_buf_t *out)
{
    if (sl_buf_append(out, "", 0) != SL_OK)
        return SL_ERR_NOMEM;
    /* The hook updates values (and may register series) before the lock is taken. */
    pthread_mutex_lock(&m->lock);
    sl_metrics_render_fn *hook = m->on_render;
    void *hook_ctx = m->on_render_ctx;
    pthread_mutex_unlock(&m->lock);
    if (hook)
        hook(hook_ctx, m);
    pthread_mutex_lock(&m->lock);
    for (family_t *f = m->families; f; f = f->next) {
        sl_buf_printf(out, "# HELP %s ", f->name);
        for (const char *h = f->help; *h; h++) {
            if (*h == '\\')
                sl_buf_puts(out, "\\\\");
            else if (*h == '\n')
                sl_buf_puts(out, "\\n");
            else
                sl_buf_putc(out, *h);
        }
        sl_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (sl_metric_t *s = f->series; s; s = s->next) {
            sl_buf_puts(out, f->name);
            if (f->type == MT_HISTOGRAM)
                sl_buf_puts(out, part_suffix[s->part]);
            if (f->type == MT_HISTOGRAM && s->part == PART_BUCKET) {
                sl_buf_printf(out, "{%s%sle=\"", s->labels, s->labels[0] ? "," : "");
                put_double(out, s->le);
                sl_buf_puts(out, "\"}");
            } else if (s->labels[0]) {
                sl_buf_printf(out, "{%s}", s->labels);
            }
            sl_buf_putc(out, ' ');
            uint64_t u = atomic_load_explicit(&s->u, memory_order_relaxed);
            if (s->kind == SV_UINT)
                sl_buf_printf(out, "%llu", (unsigned long long)u);
            else
                put_double(out, bitsd(u));
            sl_buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
    return SL_OK;
}

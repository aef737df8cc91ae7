/* shiftlog: metrics registry (see sl_metrics.h). */
#include "sl_metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef enum { MT_COUNTER, MT_GAUGE } metric_type_t;

struct sl_metric_s {
    char                 *labels;  /* rendered label text: a="x",b="y" ("" = none) */
    metric_type_t         type;
    _Atomic uint64_t      u;       /* counter value, or the bits of a gauge double */
    struct sl_metric_s   *next;    /* sorted by labels */
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

static sl_metric_t *get_series(sl_metrics_t *m, metric_type_t type, const char *name,
                               const char *help, const char *const *labels)
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
    while (*sp && strcmp((*sp)->labels, lt) < 0)
        sp = &(*sp)->next;
    if (*sp && strcmp((*sp)->labels, lt) == 0) {
        res = *sp;
        goto out;
    }
    sl_metric_t *s = calloc(1, sizeof(*s));
    if (!s)
        goto out;
    s->labels = lt;
    lt = NULL;
    s->type = type;
    if (type == MT_GAUGE) {
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
    return get_series(m, MT_COUNTER, name, help, labels);
}

sl_metric_t *sl_metrics_gauge(sl_metrics_t *m, const char *name, const char *help,
                              const char *const *labels)
{
    return get_series(m, MT_GAUGE, name, help, labels);
}

void sl_metric_inc(sl_metric_t *c)
{
    sl_metric_add(c, 1);
}

void sl_metric_add(sl_metric_t *c, uint64_t n)
{
    if (c && c->type == MT_COUNTER)
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
    if (g && g->type == MT_GAUGE)
        atomic_store_explicit(&g->u, dbits(v), memory_order_relaxed);
}

void sl_metric_gauge_add(sl_metric_t *g, double delta)
{
    if (!g || g->type != MT_GAUGE)
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
    return s->type == MT_COUNTER ? (double)u : bitsd(u);
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

sl_err_t sl_metrics_render(sl_metrics_t *m, sl_buf_t *out)
{
    if (sl_buf_append(out, "", 0) != SL_OK)
        return SL_ERR_NOMEM;
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
        sl_buf_printf(out, "\n# TYPE %s %s\n", f->name,
                      f->type == MT_COUNTER ? "counter" : "gauge");
        for (sl_metric_t *s = f->series; s; s = s->next) {
            sl_buf_puts(out, f->name);
            if (s->labels[0])
                sl_buf_printf(out, "{%s}", s->labels);
            sl_buf_putc(out, ' ');
            uint64_t u = atomic_load_explicit(&s->u, memory_order_relaxed);
            if (s->type == MT_COUNTER)
                sl_buf_printf(out, "%llu", (unsigned long long)u);
            else
                put_double(out, bitsd(u));
            sl_buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
    return SL_OK;
}

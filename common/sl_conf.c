/* shiftlog: declarative configuration (see sl_conf.h). */
#include "sl_conf.h"
#include "sl_log.h"
#include "sl_secret.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_conf_int.h"

static int is_kafka_key(const char *key)
{
    return strncmp(key, KAFKA_PREFIX, KAFKA_PREFIX_LEN) == 0 && key[KAFKA_PREFIX_LEN];
}

long sl_conf_find_entry(const sl_conf_entry_t *table, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, key) == 0)
            return (long)i;
    return -1;
}

/* --- value parsers ------------------------------------------------------ */

/* Shows a value quoted in messages, shortened if very long. */
static const char *shown(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n + 3 <= size) {
        snprintf(buf, size, "\"%s\"", s);
    } else {
        snprintf(buf, size, "\"%.*s...\"", (int)(size > 8 ? size - 8 : 0), s);
    }
    return buf;
}

static void fmt_size(int64_t v, char *out, size_t size)
{
    static const char *const units[] = {"GB", "MB", "KB"};
    static const int shifts[] = {30, 20, 10};
    for (int i = 0; i < 3; i++) {
        int64_t u = (int64_t)1 << shifts[i];
        if (v != 0 && v % u == 0) {
            snprintf(out, size, "%" PRId64 "%s", v / u, units[i]);
            return;
        }
    }
    snprintf(out, size, "%" PRId64 "B", v);
}

static void fmt_duration(int64_t v, char *out, size_t size)
{
    if (v != 0 && v % 3600000 == 0)
        snprintf(out, size, "%" PRId64 "h", v / 3600000);
    else if (v != 0 && v % 60000 == 0)
        snprintf(out, size, "%" PRId64 "m", v / 60000);
    else if (v != 0 && v % 1000 == 0)
        snprintf(out, size, "%" PRId64 "s", v / 1000);
    else
        snprintf(out, size, "%" PRId64 "ms", v);
}

/* " (1..65535)" or "" when unbounded. */
void sl_conf_fmt_range(sl_conf_type_t type, int64_t min, int64_t max, char *out, size_t size)
{
    char a[32], b[32];
    if (min == 0 && max == 0) {
        out[0] = '\0';
        return;
    }
    if (type == SL_CONF_T_SIZE) {
        fmt_size(min, a, sizeof(a));
        fmt_size(max, b, sizeof(b));
    } else if (type == SL_CONF_T_DURATION) {
        fmt_duration(min, a, sizeof(a));
        fmt_duration(max, b, sizeof(b));
    } else {
        snprintf(a, sizeof(a), "%" PRId64, min);
        snprintf(b, sizeof(b), "%" PRId64, max);
    }
    snprintf(out, size, " (%s..%s)", a, b);
}

/* Parses an optionally signed decimal prefix; *end after it. 0 ok, -1 not a
 * number, -2 overflow. */
static int parse_num(const char *s, int64_t *out, const char **end)
{
    if (!(isdigit((unsigned char)s[0]) ||
          ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))))
        return -1;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno == ERANGE)
        return -2;
    *out = v;
    *end = e;
    return 0;
}

static int check_range(const char *s, sl_conf_type_t type, int64_t v, int64_t min,
                       int64_t max, char *errstr, size_t size)
{
    if ((min != 0 || max != 0) && (v < min || v > max)) {
        char r[80];
        sl_conf_fmt_range(type, min, max, r, sizeof(r));
        sl_err_set(errstr, size, "%s is out of range%s", s, r);
        return -1;
    }
    return 0;
}

int sl_conf_parse_int(const char *s, int64_t min, int64_t max, int64_t *out,
                      char *errstr, size_t errstr_size)
{
    char r[80], q[80];
    const char *end;
    int64_t v;
    int rc = parse_num(s, &v, &end);
    sl_conf_fmt_range(SL_CONF_T_INT, min, max, r, sizeof(r));
    if (rc == -2) {
        sl_err_set(errstr, errstr_size, "%s is out of range%s", s, r);
        return -1;
    }
    if (rc < 0 || *end) {
        sl_err_set(errstr, errstr_size, "%s is not an integer%s", shown(s, q, sizeof(q)), r);
        return -1;
    }
    if (check_range(s, SL_CONF_T_INT, v, min, max, errstr, errstr_size))
        return -1;
    *out = v;
    return 0;
}

int sl_conf_parse_bool(const char *s, int *out, char *errstr, size_t errstr_size)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(s, no[i]) == 0)  { *out = 0; return 0; }
    }
    char q[80];
    sl_err_set(errstr, errstr_size, "%s is not a boolean (true|false, yes|no, on|off, 1|0)",
               shown(s, q, sizeof(q)));
    return -1;
}

/* "<number>[ ]<unit>" with a unit table; shared by sizes and durations. */
struct unit { const char *name; int64_t mult; };

static int parse_with_units(const char *s, sl_conf_type_t type, const struct unit *units,
                            int64_t min, int64_t max, int64_t *out, const char *what,
                            char *errstr, size_t size)
{
    char q[80];
    const char *end;
    int64_t v;
    int rc = parse_num(s, &v, &end);
    if (rc == -1 || v < 0)
        goto bad;
    if (rc == -2)
        goto range;
    while (*end == ' ')
        end++;
    int64_t mult = 0;
    for (const struct unit *u = units; u->name; u++) {
        if (strcasecmp(end, u->name) == 0) {
            mult = u->mult;
            break;
        }
    }
    if (!mult)
        goto bad;
    if (v > INT64_MAX / mult)
        goto range;
    v *= mult;
    if (check_range(s, type, v, min, max, errstr, size))
        return -1;
    *out = v;
    return 0;
bad:
    sl_err_set(errstr, size, "%s is not a %s", shown(s, q, sizeof(q)), what);
    return -1;
range: {
        char r[80];
        sl_conf_fmt_range(type, min, max, r, sizeof(r));
        sl_err_set(errstr, size, "%s is out of range%s", s, r);
        return -1;
    }
}

int sl_conf_parse_size(const char *s, int64_t min, int64_t max, int64_t *out,
                       char *errstr, size_t errstr_size)
{
    static const struct unit units[] = {
        {"", 1}, {"b", 1},
        {"k", 1 << 10}, {"kb", 1 << 10}, {"kib", 1 << 10},
        {"m", 1 << 20}, {"mb", 1 << 20}, {"mib", 1 << 20},
        {"g", 1 << 30}, {"gb", 1 << 30}, {"gib", 1 << 30},
        {NULL, 0}};
    return parse_with_units(s, SL_CONF_T_SIZE, units, min, max, out,
                            "size (e.g. 512KB, 64MB, 1GB; a bare number is bytes)",
                            errstr, errstr_size);
}

int sl_conf_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out,
                           char *errstr, size_t errstr_size)
{
    static const struct unit units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000},
        {"h", 3600000}, {"d", 86400000}, {NULL, 0}};
    return parse_with_units(s, SL_CONF_T_DURATION, units, min, max, out,
                            "duration (e.g. 500ms, 5s, 2m, 1h; a bare number is milliseconds)",
                            errstr, errstr_size);
}

/* Length of a choice's documented name: "disable|disabled" is "disable",
 * with "disabled" read as the same choice (an older spelling). */
int sl_conf_choice_len(const char *c)
{
    return (int)strcspn(c, "|");
}

static int choice_matches(const char *choice, const char *s)
{
    size_t n = strlen(s);
    for (const char *c = choice; *c; c += *c == '|') {
        size_t l = strcspn(c, "|");
        if (l == n && strncmp(c, s, n) == 0)
            return 1;
        c += l;
    }
    return 0;
}

static int parse_enum(const sl_conf_entry_t *e, const char *s, int *out, char *errstr,
                      size_t size)
{
    for (int i = 0; e->choices && e->choices[i]; i++) {
        if (choice_matches(e->choices[i], s)) {
            *out = i;
            return 0;
        }
    }
    char q[80];
    sl_buf_t b = SL_BUF_INIT;
    for (int i = 0; e->choices && e->choices[i]; i++)
        sl_buf_printf(&b, "%s%.*s", i ? "|" : "", sl_conf_choice_len(e->choices[i]), e->choices[i]);
    sl_err_set(errstr, size, "%s is not one of %s", shown(s, q, sizeof(q)), b.data ? b.data : "");
    sl_buf_free(&b);
    return -1;
}

/* Validates value for entry e and, on success, stores it in the target. */
static int store_value(sl_conf_t *conf, size_t i, const char *value, char *errstr,
                       size_t size)
{
    const sl_conf_entry_t *e = &conf->table[i];
    char *field = (char *)conf->target + e->offset;
    int64_t iv = 0;
    int bv = 0;

    switch (e->type) {
    case SL_CONF_T_INT:
        if (sl_conf_parse_int(value, e->min, e->max, &iv, errstr, size))
            return -1;
        break;
    case SL_CONF_T_SIZE:
        if (sl_conf_parse_size(value, e->min, e->max, &iv, errstr, size))
            return -1;
        break;
    case SL_CONF_T_DURATION:
        if (sl_conf_parse_duration(value, e->min, e->max, &iv, errstr, size))
            return -1;
        break;
    case SL_CONF_T_BOOL:
        if (sl_conf_parse_bool(value, &bv, errstr, size))
            return -1;
        break;
    case SL_CONF_T_ENUM:
        if (parse_enum(e, value, &bv, errstr, size))
            return -1;
        break;
    case SL_CONF_T_STRING:
    case SL_CONF_T_SECRET:
        break;
    }
    if (e->check && e->check(value, errstr, size))
        return -1;

    char *copy = strdup(value);
    if (!copy) {
        sl_err_set(errstr, size, "out of memory");
        return -1;
    }
    free(conf->text[i]);
    conf->text[i] = copy;
    switch (e->type) {
    case SL_CONF_T_INT:
    case SL_CONF_T_SIZE:
    case SL_CONF_T_DURATION:
        memcpy(field, &iv, sizeof(iv));
        break;
    case SL_CONF_T_BOOL:
    case SL_CONF_T_ENUM:
        memcpy(field, &bv, sizeof(bv));
        break;
    case SL_CONF_T_STRING:
    case SL_CONF_T_SECRET: {
        const char *p = copy;
        memcpy(field, &p, sizeof(p));
        break;
    }
    }
    return 0;
}

/* --- setting keys ------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
}

/* The table key closest to key, if it is close enough to be a typo. */
static const char *closest_key(const sl_conf_t *conf, const char *key)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(key) / 3;
    if (limit < 2)
        limit = 2;
    for (size_t i = 0; i < conf->n; i++) {
        size_t d = edit_distance(key, conf->table[i].name);
        if (d < best_d) {
            best_d = d;
            best = conf->table[i].name;
        }
    }
    return best_d <= limit ? best : NULL;
}

/* Is key "<secret key>.file"? Then base receives the secret key. */
static int secret_file_key(const sl_conf_t *conf, const char *key, char *base, size_t size)
{
    size_t n = strlen(key), sn = strlen(SL_SECRET_FILE_SUFFIX);
    if (n <= sn || n - sn >= size || strcmp(key + n - sn, SL_SECRET_FILE_SUFFIX))
        return 0;
    memcpy(base, key, n - sn);
    base[n - sn] = '\0';
    long i = sl_conf_find_entry(conf->table, conf->n, base);
    return i >= 0 ? conf->table[i].type == SL_CONF_T_SECRET : sl_secret_kafka_key(base);
}

/* Sets the secret key base from the file named by path. */
static sl_err_t set_from_file(sl_conf_t *conf, const char *key, const char *base,
                              const char *path, sl_conf_origin_t origin, const char *where,
                              char *errstr, size_t errstr_size)
{
    char reason[400], *v = NULL;
    sl_err_t err = sl_secret_read_file(path, &v, reason, sizeof(reason));
    if (err != SL_OK) {
        sl_err_set(errstr, errstr_size, "%s: key \"%s\": %s", where, key, reason);
        return err == SL_ERR_NOMEM ? err : SL_ERR_INVALID;
    }
    err = sl_conf_set(conf, base, v, origin, where, errstr, errstr_size);
    memset(v, 0, strlen(v));
    free(v);
    return err;
}

sl_err_t sl_conf_set(sl_conf_t *conf, const char *key, const char *value,
                     sl_conf_origin_t origin, const char *where, char *errstr,
                     size_t errstr_size)
{
    char base[256];
    if (secret_file_key(conf, key, base, sizeof(base)))
        return set_from_file(conf, key, base, value, origin, where, errstr, errstr_size);
    long i = sl_conf_find_entry(conf->table, conf->n, key);
    if (i < 0 && !is_kafka_key(key)) {
        const char *near = closest_key(conf, key);
        if (near)
            sl_err_set(errstr, errstr_size, "%s: unknown key \"%s\" (did you mean \"%s\"?)",
                       where, key, near);
        else
            sl_err_set(errstr, errstr_size, "%s: unknown key \"%s\"", where, key);
        return SL_ERR_INVALID;
    }
    if (i >= 0) {
        char reason[400];
        if (store_value(conf, (size_t)i, value, reason, sizeof(reason))) {
            sl_err_set(errstr, errstr_size, "%s: key \"%s\": %s", where, key, reason);
            return SL_ERR_INVALID;
        }
        conf->origin[i] = (unsigned char)origin;
    }
    if (is_kafka_key(key) &&
        sl_kvlist_set(&conf->kafka, key + KAFKA_PREFIX_LEN, value) != SL_OK) {
        sl_err_set(errstr, errstr_size, "%s: out of memory", where);
        return SL_ERR_NOMEM;
    }
    return SL_OK;
}

sl_err_t sl_conf_init(sl_conf_t *conf, const sl_conf_entry_t *table, size_t n,
                      void *target, char *errstr, size_t errstr_size)
{
    memset(conf, 0, sizeof(*conf));
    conf->table = table;
    conf->n = n;
    conf->target = target;
    conf->text = calloc(n ? n : 1, sizeof(*conf->text));
    conf->origin = calloc(n ? n : 1, sizeof(*conf->origin));
    if (!conf->text || !conf->origin) {
        sl_err_set(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!table[i].def)
            continue;
        sl_err_t err = sl_conf_set(conf, table[i].name, table[i].def, SL_CONF_FROM_DEFAULT,
                                   "default", errstr, errstr_size);
        if (err != SL_OK)
            return err;
    }
    return SL_OK;
}

void sl_conf_free(sl_conf_t *conf)
{
    if (conf->text)
        for (size_t i = 0; i < conf->n; i++)
            free(conf->text[i]);
    free(conf->text);
    free(conf->origin);
    free(conf->path);
    sl_kvlist_free(&conf->kafka);
    conf->text = NULL;
    conf->origin = NULL;
    conf->path = NULL;
}

/* --- the file ----------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int valid_key(const char *k)
{
    for (; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '.' || *k == '_' || *k == '-'))
            return 0;
    return 1;
}

/* Unquotes v in place. Returns 0, or -1 with the reason in errstr. */
static int unquote(char *v, const char *where, const char *key, char *errstr, size_t size)
{
    char q = v[0];
    if (q != '"' && q != '\'')
        return 0;
    char *r = v + 1, *w = v;
    while (*r && *r != q) {
        if (q == '"' && *r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
            r++;
            continue;
        }
        *w++ = *r++;
    }
    if (*r != q) {
        sl_err_set(errstr, size, "%s: key \"%s\": unterminated quote (%c)", where, key, q);
        return -1;
    }
    r++;
    while (isspace((unsigned char)*r))
        r++;
    if (*r && *r != '#') {
        sl_err_set(errstr, size, "%s: key \"%s\": unexpected text after the closing quote",
                   where, key);
        return -1;
    }
    *w = '\0';
    return 0;
}

sl_err_t sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr,
                           size_t errstr_size)
{
    sl_err_t err = SL_OK;
    sl_kvlist_t seen = SL_KVLIST_INIT;  /* key -> line number, for duplicates */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;

    FILE *f = fopen(path, "r");
    if (!f) {
        sl_err_set(errstr, errstr_size, "%s: cannot open config file: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    free(conf->path);
    conf->path = strdup(path);

    while ((len = getline(&line, &cap, f)) >= 0) {
        char where[512];
        lineno++;
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            char q[80];
            sl_err_set(errstr, errstr_size, "%s: expected \"key = value\", got %s", where,
                       shown(s, q, sizeof(q)));
            err = SL_ERR_PARSE;
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        if (!*key) {
            sl_err_set(errstr, errstr_size, "%s: missing key before \"=\"", where);
            err = SL_ERR_PARSE;
            goto out;
        }
        if (!valid_key(key)) {
            char q[80];
            sl_err_set(errstr, errstr_size,
                       "%s: invalid key %s (letters, digits, '.', '_' and '-' only)", where,
                       shown(key, q, sizeof(q)));
            err = SL_ERR_PARSE;
            goto out;
        }
        if (unquote(value, where, key, errstr, errstr_size)) {
            err = SL_ERR_PARSE;
            goto out;
        }
        const char *first = sl_kvlist_get(&seen, key);
        if (first) {
            sl_err_set(errstr, errstr_size, "%s: key \"%s\" is set twice (first on line %s)",
                       where, key, first);
            err = SL_ERR_INVALID;
            goto out;
        }
        err = sl_conf_set(conf, key, value, SL_CONF_FROM_FILE, where, errstr, errstr_size);
        if (err != SL_OK)
            goto out;
        char num[16];
        snprintf(num, sizeof(num), "%u", lineno);
        if (sl_kvlist_set(&seen, key, num) != SL_OK) {
            err = SL_ERR_NOMEM;
            goto out;
        }
    }
    if (ferror(f)) {
        sl_err_set(errstr, errstr_size, "%s: read error: %s", path, strerror(errno));
        err = SL_ERR_IO;
    }
out:
    free(line);
    fclose(f);
    sl_kvlist_free(&seen);
    return err;
}

char *sl_conf_env_name(const char *key, char *out, size_t out_size)
{
    size_t n = (size_t)snprintf(out, out_size, "SHIFTLOG_%s", key);
    if (n >= out_size)
        n = out_size - 1;
    for (size_t i = 9; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        out[i] = (c == '.' || c == '-') ? '_' : (char)toupper(c);
    }
    return out;
}

/* SHIFTLOG_<KEY> of one key and, for a secret, SHIFTLOG_<KEY>_FILE. */
static sl_err_t apply_env_key(sl_conf_t *conf, const char *key, int secret, char *errstr,
                              size_t errstr_size)
{
    char name[256], fname[280];
    sl_conf_env_name(key, name, sizeof(name));
    snprintf(fname, sizeof(fname), "%s_FILE", name);
    const char *v = getenv(name);
    const char *f = secret ? getenv(fname) : NULL;
    if (v && *v && f && *f) {
        sl_err_set(errstr, errstr_size, "%s and %s are both set: keep one", name, fname);
        return SL_ERR_INVALID;
    }
    if (f && *f) {
        char fkey[280];
        snprintf(fkey, sizeof(fkey), "%s" SL_SECRET_FILE_SUFFIX, key);
        return set_from_file(conf, fkey, key, f, SL_CONF_FROM_ENV, fname, errstr, errstr_size);
    }
    if (!v || !*v)
        return SL_OK;
    return sl_conf_set(conf, key, v, SL_CONF_FROM_ENV, name, errstr, errstr_size);
}

sl_err_t sl_conf_apply_env(sl_conf_t *conf, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    for (size_t i = 0; i < conf->n; i++)
        if ((err = apply_env_key(conf, conf->table[i].name,
                                 conf->table[i].type == SL_CONF_T_SECRET, errstr, errstr_size)))
            return err;
    for (int i = 0; sl_secret_kafka_keys[i]; i++)
        if (sl_conf_find_entry(conf->table, conf->n, sl_secret_kafka_keys[i]) < 0 &&
            (err = apply_env_key(conf, sl_secret_kafka_keys[i], 1, errstr, errstr_size)))
            return err;
    return SL_OK;
}

sl_err_t sl_conf_apply_arg(sl_conf_t *conf, const char *arg, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(arg, '=');
    char q[80];
    if (!eq || eq == arg) {
        sl_err_set(errstr, errstr_size, "-X: expected key=value, got %s", shown(arg, q, sizeof(q)));
        return SL_ERR_PARSE;
    }
    char *key = strndup(arg, (size_t)(eq - arg));
    if (!key)
        return SL_ERR_NOMEM;
    char *k = trim(key);
    sl_err_t err = sl_conf_set(conf, k, eq + 1, SL_CONF_FROM_ARG, "-X", errstr, errstr_size);
    free(key);
    return err;
}

sl_err_t sl_conf_check(sl_conf_t *conf, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < conf->n; i++) {
        const sl_conf_entry_t *e = &conf->table[i];
        if (!(e->flags & SL_CONF_REQUIRED) || (conf->text[i] && conf->text[i][0]))
            continue;
        char env[256];
        sl_err_set(errstr, errstr_size,
                   "%s: missing required key \"%s\" "
                   "(set it in the config file, with %s or -X %s=...)",
                   conf->path ? conf->path : "config", e->name,
                   sl_conf_env_name(e->name, env, sizeof(env)), e->name);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

const char *sl_conf_get(const sl_conf_t *conf, const char *key)
{
    long i = sl_conf_find_entry(conf->table, conf->n, key);
    return i < 0 ? NULL : conf->text[i];
}

sl_conf_origin_t sl_conf_origin(const sl_conf_t *conf, const char *key)
{
    long i = sl_conf_find_entry(conf->table, conf->n, key);
    return i < 0 ? SL_CONF_FROM_UNSET : (sl_conf_origin_t)conf->origin[i];
}

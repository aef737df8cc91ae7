/* shiftlog: Avro schema Parsing Canonical Form and CRC-64-AVRO fingerprint,
 * as the Avro specification defines them ("Schema Resolution" >
 * "Parsing Canonical Form for Schemas" and "Schema Fingerprints").
 * Self-contained (a small JSON reader) so that the fingerprint does not
 * depend on how a library happens to print a schema. */
#include "sl_avro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_buf.h"

/* ---- CRC-64-AVRO (Rabin fingerprint) ---- */

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

uint64_t sl_avro_crc64(const void *data, size_t len)
{
    static uint64_t table[256];
    static int ready;   /* benign race: every thread computes the same table */
    if (!ready) {
        for (int i = 0; i < 256; i++) {
            uint64_t fp = (uint64_t)i;
            for (int j = 0; j < 8; j++)
                fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1));
            table[i] = fp;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint64_t fp = CRC64_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- a minimal JSON tree ---- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jnode_s {
    jtype_t          type;
    char            *str;     /* J_STR: decoded text; J_NUM: literal */
    size_t           n;       /* J_ARR/J_OBJ: count */
    char           **keys;    /* J_OBJ */
    struct jnode_s **kids;
} jnode_t;

typedef struct {
    const char *s, *end, *start;
    char       *errstr;
    size_t      errstr_size;
    int         failed;
} jparser_t;

static void jfree(jnode_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        jfree(n->kids[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->str);
    free(n);
}

static void *jfail(jparser_t *p, const char *what)
{
    if (!p->failed && p->errstr_size)
        snprintf(p->errstr, p->errstr_size, "schema JSON: %s at byte %zu",
                 what, (size_t)(p->s - p->start));
    p->failed = 1;
    return NULL;
}

static void jws(jparser_t *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static void put_utf8(sl_buf_t *b, unsigned cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80)        { u[0] = (char)cp; k = 1; }
    else if (cp < 0x800)  { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
    else if (cp < 0x10000){ u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                            u[2] = (char)(0x80 | (cp & 0x3F)); k = 3; }
    else                  { u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); k = 4; }
    sl_buf_append(b, u, k);
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Reads a string literal at p->s (on the quote); returns malloc'd text. */
static char *jstring(jparser_t *p)
{
    sl_buf_t b = SL_BUF_INIT;
    p->s++;
    while (p->s < p->end && *p->s != '"') {
        char c = *p->s++;
        if (c != '\\') {
            sl_buf_putc(&b, c);
            continue;
        }
        if (p->s >= p->end)
            break;
        c = *p->s++;
        switch (c) {
        case '"': case '\\': case '/': sl_buf_putc(&b, c); break;
        case 'b': sl_buf_putc(&b, '\b'); break;
        case 'f': sl_buf_putc(&b, '\f'); break;
        case 'n': sl_buf_putc(&b, '\n'); break;
        case 'r': sl_buf_putc(&b, '\r'); break;
        case 't': sl_buf_putc(&b, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (p->end - p->s < 4 || hex4(p->s, &cp)) {
                sl_buf_free(&b);
                return jfail(p, "bad \\u escape");
            }
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' &&
                p->s[1] == 'u' && hex4(p->s + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->s += 6;
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            sl_buf_free(&b);
            return jfail(p, "bad escape in string");
        }
    }
    if (p->s >= p->end) {
        sl_buf_free(&b);
        return jfail(p, "unterminated string");
    }
    p->s++;
    if (!b.data)
        sl_buf_reserve(&b, 0);
    return b.data;   /* NULL only when out of memory */
}

static jnode_t *jvalue(jparser_t *p, int depth);

static int jpush(jnode_t *n, char *key, jnode_t *kid)
{
    jnode_t **kids = realloc(n->kids, (n->n + 1) * sizeof(*kids));
    if (!kids)
        return -1;
    n->kids = kids;
    if (n->type == J_OBJ) {
        char **keys = realloc(n->keys, (n->n + 1) * sizeof(*keys));
        if (!keys)
            return -1;
        n->keys = keys;
        keys[n->n] = key;
    }
    kids[n->n++] = kid;
    return 0;
}

static jnode_t *jcontainer(jparser_t *p, jnode_t *n, int depth)
{
    char close = n->type == J_OBJ ? '}' : ']';
    p->s++;
    jws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return n;
    }
    for (;;) {
        char *key = NULL;
        jws(p);
        if (n->type == J_OBJ) {
            if (p->s >= p->end || *p->s != '"')
                return jfail(p, "expected a member name");
            if (!(key = jstring(p)))
                return NULL;
            jws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(key);
                return jfail(p, "expected ':'");
            }
            p->s++;
        }
        jnode_t *kid = jvalue(p, depth + 1);
        if (!kid || jpush(n, key, kid)) {
            free(key);
            jfree(kid);
            return jfail(p, "out of memory or bad value");
        }
        jws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return n;
        }
        return jfail(p, n->type == J_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static jnode_t *jvalue(jparser_t *p, int depth)
{
    jws(p);
    if (p->s >= p->end)
        return jfail(p, "unexpected end");
    if (depth > 200)
        return jfail(p, "nesting too deep");
    jnode_t *n = calloc(1, sizeof(*n));
    if (!n)
        return jfail(p, "out of memory");
    char c = *p->s;
    if (c == '{' || c == '[') {
        n->type = c == '{' ? J_OBJ : J_ARR;
        if (!jcontainer(p, n, depth))
            goto err;
    } else if (c == '"') {
        n->type = J_STR;
        if (!(n->str = jstring(p)))
            goto err;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *b = p->s;
        while (p->s < p->end && strchr("+-0123456789.eE", *p->s))
            p->s++;
        n->type = J_NUM;
        if (!(n->str = strndup(b, (size_t)(p->s - b))))
            goto err;
    } else if (p->end - p->s >= 4 && memcmp(p->s, "true", 4) == 0) {
        n->type = J_BOOL; p->s += 4;
    } else if (p->end - p->s >= 5 && memcmp(p->s, "false", 5) == 0) {
        n->type = J_BOOL; p->s += 5;
    } else if (p->end - p->s >= 4 && memcmp(p->s, "null", 4) == 0) {
        n->type = J_NULL; p->s += 4;
    } else {
        jfail(p, "unexpected character");
        goto err;
    }
    return n;
err:
    jfree(n);
    return NULL;
}

static const jnode_t *jget(const jnode_t *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->kids[i];
    return NULL;
}

/* ---- canonical form ---- */

static int is_primitive(const char *t)
{
    static const char *const prim[] = {
        "null", "boolean", "int", "long", "float", "double", "bytes", "string", NULL
    };
    for (int i = 0; prim[i]; i++)
        if (strcmp(t, prim[i]) == 0)
            return 1;
    return 0;
}

static void put_jstr(sl_buf_t *b, const char *s)
{
    /* [STRINGS]: escapes replaced by their UTF-8; only " \ and controls stay escaped */
    sl_buf_json_str(b, s, strlen(s));
}

/* Full name of a name in namespace ns (NULL or "" = no namespace). */
static void put_fullname(sl_buf_t *b, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns) {
        put_jstr(b, name);
        return;
    }
    sl_buf_t t = SL_BUF_INIT;
    sl_buf_printf(&t, "%s.%s", ns, name);
    put_jstr(b, t.data);
    sl_buf_free(&t);
}

static int canon(const jnode_t *n, const char *ns, sl_buf_t *b, char *errstr, size_t errstr_size);

static int canon_fail(char *errstr, size_t errstr_size, const char *what)
{
    if (errstr_size)
        snprintf(errstr, errstr_size, "schema: %s", what);
    return -1;
}

static int canon_obj(const jnode_t *n, const char *ns, sl_buf_t *b, char *errstr, size_t errstr_size)
{
    const jnode_t *type = jget(n, "type");
    if (!type)
        return canon_fail(errstr, errstr_size, "object without \"type\"");
    if (type->type != J_STR)
        return canon(type, ns, b, errstr, errstr_size);
    const char *t = type->str;
    if (is_primitive(t)) {                       /* [PRIMITIVES] */
        put_jstr(b, t);
        return 0;
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        int arr = t[0] == 'a';
        const jnode_t *kid = jget(n, arr ? "items" : "values");
        if (!kid)
            return canon_fail(errstr, errstr_size, arr ? "array without items" : "map without values");
        sl_buf_printf(b, "{\"type\":\"%s\",\"%s\":", t, arr ? "items" : "values");
        if (canon(kid, ns, b, errstr, errstr_size))
            return -1;
        sl_buf_putc(b, '}');
        return 0;
    }
    if (strcmp(t, "record") && strcmp(t, "error") && strcmp(t, "enum") && strcmp(t, "fixed"))
        return canon(type, ns, b, errstr, errstr_size);   /* {"type": "some.Name"} */

    const jnode_t *name = jget(n, "name");
    if (!name || name->type != J_STR)
        return canon_fail(errstr, errstr_size, "named type without a name");
    /* [FULLNAMES]: the enclosing namespace for nested types is the one of this full name */
    const jnode_t *nsn = jget(n, "namespace");
    char *full;
    if (strchr(name->str, '.'))
        full = strdup(name->str);
    else if (nsn && nsn->type == J_STR && nsn->str[0])
        full = (asprintf(&full, "%s.%s", nsn->str, name->str) < 0) ? NULL : full;
    else if (ns && *ns)
        full = (asprintf(&full, "%s.%s", ns, name->str) < 0) ? NULL : full;
    else
        full = strdup(name->str);
    if (!full)
        return canon_fail(errstr, errstr_size, "out of memory");
    char *dot = strrchr(full, '.');
    char *newns = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
    int rc = 0;
    sl_buf_puts(b, "{\"name\":");
    put_jstr(b, full);
    sl_buf_puts(b, ",\"type\":");
    put_jstr(b, strcmp(t, "error") == 0 ? "record" : t);
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        const jnode_t *fields = jget(n, "fields");
        if (!fields || fields->type != J_ARR) {
            rc = canon_fail(errstr, errstr_size, "record without fields");
            goto out;
        }
        sl_buf_puts(b, ",\"fields\":[");
        for (size_t i = 0; i < fields->n; i++) {
            const jnode_t *f = fields->kids[i];
            const jnode_t *fname = jget(f, "name"), *ftype = jget(f, "type");
            if (!fname || fname->type != J_STR || !ftype) {
                rc = canon_fail(errstr, errstr_size, "field without name or type");
                goto out;
            }
            sl_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
            put_jstr(b, fname->str);
            sl_buf_puts(b, ",\"type\":");
            if ((rc = canon(ftype, newns, b, errstr, errstr_size)))
                goto out;
            sl_buf_putc(b, '}');
        }
        sl_buf_putc(b, ']');
    } else if (strcmp(t, "enum") == 0) {
        const jnode_t *sym = jget(n, "symbols");
        if (!sym || sym->type != J_ARR) {
            rc = canon_fail(errstr, errstr_size, "enum without symbols");
            goto out;
        }
        sl_buf_puts(b, ",\"symbols\":[");
        for (size_t i = 0; i < sym->n; i++) {
            if (i)
                sl_buf_putc(b, ',');
            put_jstr(b, sym->kids[i]->type == J_STR ? sym->kids[i]->str : "");
        }
        sl_buf_putc(b, ']');
    } else {
        const jnode_t *size = jget(n, "size");
        if (!size || size->type != J_NUM) {
            rc = canon_fail(errstr, errstr_size, "fixed without size");
            goto out;
        }
        sl_buf_printf(b, ",\"size\":%lld", strtoll(size->str, NULL, 10));   /* [INTEGERS] */
    }
    sl_buf_putc(b, '}');
out:
    free(full);
    free(newns);
    return rc;
}

static int canon(const jnode_t *n, const char *ns, sl_buf_t *b, char *errstr, size_t errstr_size)
{
    switch (n->type) {
    case J_STR:
        if (is_primitive(n->str))
            put_jstr(b, n->str);
        else
            put_fullname(b, n->str, ns);
        return 0;
    case J_ARR:
        sl_buf_putc(b, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                sl_buf_putc(b, ',');
            if (canon(n->kids[i], ns, b, errstr, errstr_size))
                return -1;
        }
        sl_buf_putc(b, ']');
        return 0;
    case J_OBJ:
        return canon_obj(n, ns, b, errstr, errstr_size);
    default:
        return canon_fail(errstr, errstr_size, "a schema must be a string, an array or an object");
    }
}

sl_err_t sl_avro_canonical(const char *schema_json, char **canonical,
                           uint64_t *fingerprint, char *errstr, size_t errstr_size)
{
    jparser_t p = { schema_json, schema_json + strlen(schema_json), schema_json,
                    errstr, errstr_size, 0 };
    sl_buf_t b = SL_BUF_INIT;
    jnode_t *root = jvalue(&p, 0);
    if (!root)
        return SL_ERR_PARSE;
    jws(&p);
    if (p.s != p.end) {
        jfree(root);
        jfail(&p, "trailing characters after the schema");
        return SL_ERR_PARSE;
    }
    int rc = canon(root, "", &b, errstr, errstr_size);
    jfree(root);
    if (rc || sl_buf_reserve(&b, 0) != SL_OK) {
        sl_buf_free(&b);
        return rc ? SL_ERR_PARSE : SL_ERR_NOMEM;
    }
    if (fingerprint)
        *fingerprint = sl_avro_crc64(b.data, b.len);
    if (canonical)
        *canonical = b.data;
    else
        sl_buf_free(&b);
    return SL_OK;
}

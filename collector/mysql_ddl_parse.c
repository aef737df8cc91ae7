/* shiftlog-collector, MySQL/MariaDB: which tables a DDL statement changes.
 *
 * Not a SQL parser: it reads the statement's first keywords and table names
 * (quoted or bare, [db.]table), enough for CREATE/ALTER/DROP/RENAME/TRUNCATE
 * TABLE, CREATE/DROP INDEX and DROP DATABASE as the binlog holds them. Used
 * for the SCHEMA records at DDL events (mysql_schema.c) and to find a later
 * DDL on a table in the binlog (mysql_ddl_ahead.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"

/* Skips blanks and comments; returns the new position. */
static const char *skip_ws(const char *p, const char *end)
{
    for (;;) {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            const char *c = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
            p = c ? c + 2 : end;
        } else if (p + 1 < end && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (p < end && *p == '#') {
            while (p < end && *p != '\n')
                p++;
        } else {
            return p;
        }
    }
}

/* Consumes keyword kw (case-insensitive, whole word) at p. */
static int eat(const char **pp, const char *end, const char *kw)
{
    const char *p = skip_ws(*pp, end);
    size_t n = strlen(kw);
    if ((size_t)(end - p) < n || strncasecmp(p, kw, n))
        return 0;
    if (p + n < end && (isalnum((unsigned char)p[n]) || p[n] == '_'))
        return 0;
    *pp = p + n;
    return 1;
}

/* Reads an identifier (`quoted` or bare) into out. */
static int ident(const char **pp, const char *end, char *out, size_t outsz)
{
    const char *p = skip_ws(*pp, end);
    size_t n = 0;
    if (p < end && *p == '`') {
        p++;
        while (p < end) {
            if (*p == '`') {
                if (p + 1 < end && p[1] == '`')
                    p++;
                else
                    break;
            }
            if (n + 1 < outsz)
                out[n++] = *p;
            p++;
        }
        if (p >= end)
            return 0;
        p++;
    } else {
        while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' ||
                           (unsigned char)*p >= 0x80)) {
            if (n + 1 < outsz)
                out[n++] = *p;
            p++;
        }
    }
    out[n] = '\0';
    *pp = p;
    return n > 0;
}

/* [db.]table */
static int table_name(const char **pp, const char *end, const char *def_db, char *db,
                      char *tb, size_t sz)
{
    char a[256];
    if (!ident(pp, end, a, sizeof(a)))
        return 0;
    const char *p = skip_ws(*pp, end);
    if (p < end && *p == '.') {
        *pp = p + 1;
        snprintf(db, sz, "%s", a);
        return ident(pp, end, tb, sz);
    }
    snprintf(db, sz, "%s", def_db ? def_db : "");
    snprintf(tb, sz, "%s", a);
    return 1;
}

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* p at a quote (' " `): the position after its closing quote (a doubled
 * one reopens; a backslash escapes inside ' and "). */
static const char *skip_quoted(const char *p, const char *end)
{
    char c = *p;
    for (p++; p < end && *p != c; p++)
        if (*p == '\\' && c != '`' && p + 1 < end)
            p++;
    return p + 1;
}

/* kw (case-insensitive) as a whole word at p. */
static int word_at(const char *p, const char *end, const char *kw)
{
    size_t n = strlen(kw);
    return (size_t)(end - p) >= n && !strncasecmp(p, kw, n) &&
           (p + n == end || !word_char(p[n]));
}

/* The position after the next keyword kw (a whole word, case-insensitive)
 * in [p, end) outside quotes and comments; NULL when there is none. */
static const char *next_keyword(const char *p, const char *end, const char *kw)
{
    int prev_ident = 0;
    while (p < end) {
        const char *q = skip_ws(p, end);
        if (q != p || *p == '\'' || *p == '"' || *p == '`') {
            p = q != p ? q : skip_quoted(p, end);
            prev_ident = 0;
            continue;
        }
        int ic = word_char(*p);
        if (ic && !prev_ident && word_at(p, end, kw))
            return p + strlen(kw);
        prev_ident = ic;
        p++;
    }
    return NULL;
}

/* Appends target db.tb (gone: the statement removes it) when there is room. */
static void add_target(col_my_ddl_target_t *t, int max, int *nt, const char *db,
                       const char *tb, int gone)
{
    if (*nt >= max)
        return;
    snprintf(t[*nt].db, sizeof(t[*nt].db), "%s", db);
    snprintf(t[*nt].tb, sizeof(t[*nt].tb), "%s", tb);
    t[*nt].gone = gone;
    t[*nt].from = 0;
    (*nt)++;
}

/* Appends the pair of a rename, from db.tb to db2.tb2, when there is room
 * for both (a new name is never listed without the name it comes from). */
static void add_rename(col_my_ddl_target_t *t, int max, int *nt, const char *db,
                       const char *tb, const char *db2, const char *tb2)
{
    if (*nt + 2 > max) {
        add_target(t, max, nt, db, tb, 1);
        return;
    }
    add_target(t, max, nt, db, tb, 1);
    add_target(t, max, nt, db2, tb2, 0);
    t[*nt - 1].from = *nt - 1;
}

int col_my_ddl_parse(const char *default_db, const char *sql, size_t len,
                     col_my_ddl_target_t *t, int max, int *is_ddl, char *drop_db,
                     size_t drop_db_size)
{
    const char *p = sql, *end = sql + len;
    char db[256], tb[256], db2[256], tb2[256];
    int nt = 0;
    *is_ddl = 0;
    if (drop_db_size)
        drop_db[0] = '\0';

    if (eat(&p, end, "CREATE")) {
        *is_ddl = 1;
        (void)(eat(&p, end, "OR") && eat(&p, end, "REPLACE"));
        eat(&p, end, "TEMPORARY");
        if (eat(&p, end, "TABLE")) {
            *is_ddl = 2;
            if (eat(&p, end, "IF"))
                (void)(eat(&p, end, "NOT") && eat(&p, end, "EXISTS"));
            if (table_name(&p, end, default_db, db, tb, sizeof(db)))
                add_target(t, max, &nt, db, tb, 0);
        } else if ((eat(&p, end, "UNIQUE") || eat(&p, end, "FULLTEXT") ||
                    eat(&p, end, "SPATIAL") || 1) && eat(&p, end, "INDEX")) {
            char ix[256];
            *is_ddl = 2;
            (void)(eat(&p, end, "IF") && eat(&p, end, "NOT") && eat(&p, end, "EXISTS"));
            if (ident(&p, end, ix, sizeof(ix)) && eat(&p, end, "ON") &&
                table_name(&p, end, default_db, db, tb, sizeof(db)))
                add_target(t, max, &nt, db, tb, 0);
        }
    } else if (eat(&p, end, "ALTER")) {
        *is_ddl = 1;
        eat(&p, end, "ONLINE");
        eat(&p, end, "IGNORE");
        if (eat(&p, end, "TABLE")) {
            *is_ddl = 2;
            if (eat(&p, end, "IF"))
                eat(&p, end, "EXISTS");
            if (table_name(&p, end, default_db, db, tb, sizeof(db))) {
                /* ALTER TABLE a ..., RENAME [TO|AS] b: a is gone, b has its columns
                 * (not RENAME COLUMN / INDEX / KEY) */
                int renamed = 0;
                for (const char *r = p; !renamed && (r = next_keyword(r, end, "RENAME"));) {
                    if (!eat(&r, end, "COLUMN") && !eat(&r, end, "INDEX") &&
                        !eat(&r, end, "KEY")) {
                        (void)(eat(&r, end, "TO") || eat(&r, end, "AS"));
                        renamed = table_name(&r, end, default_db, db2, tb2, sizeof(db2));
                    }
                }
                if (renamed)
                    add_rename(t, max, &nt, db, tb, db2, tb2);
                else
                    add_target(t, max, &nt, db, tb, 0);
            }
        }
    } else if (eat(&p, end, "DROP")) {
        *is_ddl = 1;
        eat(&p, end, "TEMPORARY");
        if (eat(&p, end, "TABLE")) {
            if (eat(&p, end, "IF"))
                eat(&p, end, "EXISTS");
            *is_ddl = 2;                 /* DROP TABLE a, b, ... */
            while (table_name(&p, end, default_db, db, tb, sizeof(db))) {
                add_target(t, max, &nt, db, tb, 1);
                const char *q = skip_ws(p, end);
                if (q >= end || *q != ',')
                    break;
                p = q + 1;
            }
        } else if (eat(&p, end, "INDEX")) {
            char ix[256];
            *is_ddl = 2;
            (void)(eat(&p, end, "IF") && eat(&p, end, "EXISTS"));
            if (ident(&p, end, ix, sizeof(ix)) && eat(&p, end, "ON") &&
                table_name(&p, end, default_db, db, tb, sizeof(db)))
                add_target(t, max, &nt, db, tb, 0);
        } else if (eat(&p, end, "DATABASE") || eat(&p, end, "SCHEMA")) {
            if (eat(&p, end, "IF"))
                eat(&p, end, "EXISTS");
            if (ident(&p, end, db, sizeof(db)) && drop_db_size)
                snprintf(drop_db, drop_db_size, "%s", db);
        }
    } else if (eat(&p, end, "RENAME")) {
        *is_ddl = 1;
        /* RENAME TABLE a TO b [, c TO d ...] */
        if (eat(&p, end, "TABLE") || eat(&p, end, "TABLES")) {
            *is_ddl = 2;
            for (;;) {
                if (!table_name(&p, end, default_db, db, tb, sizeof(db)) ||
                    !eat(&p, end, "TO") ||
                    !table_name(&p, end, default_db, db2, tb2, sizeof(db2)))
                    break;
                add_rename(t, max, &nt, db, tb, db2, tb2);
                const char *q = skip_ws(p, end);
                if (q >= end || *q != ',')
                    break;
                p = q + 1;
            }
        }
    } else if (eat(&p, end, "TRUNCATE")) {
        *is_ddl = 2;
        eat(&p, end, "TABLE");
        if (table_name(&p, end, default_db, db, tb, sizeof(db)))
            add_target(t, max, &nt, db, tb, 0);
    }
    return nt;
}


/* Past "ALTER [ONLINE] [IGNORE] TABLE [IF EXISTS] name": 1, else 0. */
static int alter_head(const char **pp, const char *end)
{
    char db[256], tb[256];
    if (!eat(pp, end, "ALTER"))
        return 0;
    eat(pp, end, "ONLINE");
    eat(pp, end, "IGNORE");
    if (!eat(pp, end, "TABLE"))
        return 0;
    if (eat(pp, end, "IF") && !eat(pp, end, "EXISTS"))
        return 0;
    return table_name(pp, end, "", db, tb, sizeof(db));
}

/* After a clause: 1 = a comma, another clause follows; 0 = the statement's
 * end (a ';' allowed); -1 = anything else. */
static int clause_end(const char **pp, const char *end)
{
    const char *p = skip_ws(*pp, end);
    if (p < end && *p == ',') {
        *pp = p + 1;
        return 1;
    }
    if (p < end && *p == ';')
        p = skip_ws(p + 1, end);
    *pp = p;
    return p >= end ? 0 : -1;
}

int col_my_ddl_renamed_cols(const char *sql, size_t len, char (*from)[256], char (*to)[256],
                            int max)
{
    const char *p = sql, *end = sql + len;
    int n = 0, more;
    if (!alter_head(&p, end))
        return -1;
    do {
        if (!eat(&p, end, "RENAME") || !eat(&p, end, "COLUMN"))
            return -1;
        if (eat(&p, end, "IF") && !eat(&p, end, "EXISTS"))
            return -1;
        if (n >= max || !ident(&p, end, from[n], sizeof(from[n])) || !eat(&p, end, "TO") ||
            !ident(&p, end, to[n], sizeof(to[n])))
            return -1;
        n++;
    } while ((more = clause_end(&p, end)) == 1);
    return more ? -1 : n;
}

int col_my_ddl_dropped_cols(const char *sql, size_t len, char (*cols)[256], int max)
{
    const char *p = sql, *end = sql + len;
    int n = 0;
    if (!alter_head(&p, end))
        return -1;
    for (;;) {
        if (!eat(&p, end, "DROP"))
            return -1;
        if (!eat(&p, end, "COLUMN") &&
            (eat(&p, end, "PRIMARY") || eat(&p, end, "INDEX") || eat(&p, end, "KEY") ||
             eat(&p, end, "FOREIGN") || eat(&p, end, "CONSTRAINT") || eat(&p, end, "CHECK") ||
             eat(&p, end, "PARTITION") || eat(&p, end, "PERIOD") || eat(&p, end, "SYSTEM")))
            return -1;                   /* not a column */
        if (eat(&p, end, "IF") && !eat(&p, end, "EXISTS"))
            return -1;
        if (n >= max || !ident(&p, end, cols[n], sizeof(cols[n])))
            return -1;
        n++;
        (void)(eat(&p, end, "RESTRICT") || eat(&p, end, "CASCADE"));
        int more = clause_end(&p, end);
        if (more != 1)
            return more ? -1 : n;
    }
}

/* The end of the clause at p: the ',' or ';' outside quotes and brackets,
 * or end. *dflt (when not NULL) = the position after its first DEFAULT
 * keyword outside them, else unchanged. */
static const char *clause_scan(const char *p, const char *end, const char **dflt)
{
    int depth = 0, prev_ident = 0;
    while (p < end) {
        const char *q = skip_ws(p, end);
        if (q != p || *p == '\'' || *p == '"' || *p == '`') {
            p = q != p ? q : skip_quoted(p, end);
            prev_ident = 0;
            continue;
        }
        char c = *p;
        if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
        else if (!depth && (c == ',' || c == ';'))
            return p;
        int ic = word_char(c);
        if (ic && !prev_ident && !depth && dflt && !*dflt && word_at(p, end, "DEFAULT"))
            *dflt = p + 7;
        prev_ident = ic;
        p++;
    }
    return end;
}

/* The literal after DEFAULT at p: a quoted string (unquoted: '' and the
 * backslash escapes undone), a number, TRUE/FALSE (1/0) or NULL; anything
 * else (a function, an expression, b'..', an introducer) is an expression.
 * Sets a->dflt (malloc'd) or a->expr. */
static void default_literal(const char *p, const char *end, col_my_added_col_t *a)
{
    p = skip_ws(p, end);
    const char *stop = clause_scan(p, end, NULL);
    if (p < end && (*p == '\'' || *p == '"')) {
        char qc = *p++;
        char *o = malloc((size_t)(end - p) + 1);
        size_t k = 0;
        if (!o)
            return;
        for (; p < end; p++) {
            char ch = *p;
            if (ch == qc) {
                if (p + 1 < end && p[1] == qc) {
                    p++;
                } else {
                    break;
                }
            } else if (ch == '\\' && p + 1 < end) {
                ch = *++p;
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' :
                     ch == '0' ? '\0' : ch == 'Z' ? '\032' : ch;
            }
            o[k++] = ch;
        }
        o[k] = '\0';
        const char *after = p < end ? skip_ws(p + 1, end) : end;
        /* 'a' 'b' (concatenated), 'x' COLLATE ...: not a plain literal */
        if (p >= end || memchr(o, '\0', k) || (after < stop && (*after == '\'' ||
                                                                *after == '"'))) {
            free(o);
            a->expr = 1;
            return;
        }
        a->dflt = o;
        return;
    }
    const char *q = p;
    if (q < end && (*q == '-' || *q == '+'))
        q++;
    const char *digits = q;
    while (q < end && (isdigit((unsigned char)*q) || *q == '.'))
        q++;
    if (q > digits && q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '-' || *q == '+'))
            q++;
        while (q < end && isdigit((unsigned char)*q))
            q++;
    }
    if (q > digits && (q == end || !(isalnum((unsigned char)*q) || *q == '_' || *q == '('))) {
        a->dflt = strndup(*p == '+' ? p + 1 : p, (size_t)(q - p - (*p == '+')));
        return;
    }
    const char *w = p;
    if (eat(&w, end, "NULL"))
        return;
    w = p;
    if (eat(&w, end, "TRUE") || (w = p, eat(&w, end, "FALSE"))) {
        a->dflt = strdup(toupper((unsigned char)*p) == 'T' ? "1" : "0");
        return;
    }
    a->expr = 1;
}

int col_my_ddl_added_cols(const char *sql, size_t len, col_my_added_col_t *out, int max)
{
    const char *p = sql, *end = sql + len;
    int n = 0;
    if (!alter_head(&p, end))
        return -1;
    for (;;) {
        const char *c = p;
        if (eat(&c, end, "ADD")) {
            const char *k = c;
            int is_col = eat(&k, end, "COLUMN");
            if (!is_col && (eat(&k, end, "PRIMARY") || eat(&k, end, "INDEX") ||
                            eat(&k, end, "KEY") || eat(&k, end, "UNIQUE") ||
                            eat(&k, end, "FULLTEXT") || eat(&k, end, "SPATIAL") ||
                            eat(&k, end, "FOREIGN") || eat(&k, end, "CONSTRAINT") ||
                            eat(&k, end, "CHECK") || eat(&k, end, "PARTITION") ||
                            eat(&k, end, "PERIOD") || eat(&k, end, "SYSTEM"))) {
                k = NULL;                /* not a column */
            }
            if (k && eat(&k, end, "IF") && !(eat(&k, end, "NOT") && eat(&k, end, "EXISTS")))
                k = NULL;
            if (k && n < max) {
                col_my_added_col_t *a = &out[n];
                memset(a, 0, sizeof(*a));
                if (ident(&k, end, a->name, sizeof(a->name))) {
                    const char *d = NULL;
                    p = clause_scan(k, end, &d);
                    if (d)
                        default_literal(d, p, a);
                    n++;
                    goto next;
                }
            }
        }
        p = clause_scan(c, end, NULL);
    next:
        if (p >= end || *p == ';')
            return n;
        p++;                             /* the comma */
    }
}

/* shiftlog-applier: what a SCHEMA record's DDL text says about its columns.
 *
 * Why: a target tells a renamed column from a dropped one plus an added one
 * by comparing two versions of the schema (same place, same type, another
 * name). A MariaDB/MySQL DDL the collector read behind the server can reach
 * the targets folded with the DDL after it (RENAME COLUMN a TO b with a
 * MODIFY of a before it): then the type changed too, and the comparison
 * alone would drop the column and add it empty. The record's DDL text (the
 * statements since the previous SCHEMA, joined by ";\n") still names the
 * rename, so it settles the question. Not a SQL parser: it finds the
 * clauses RENAME COLUMN [IF EXISTS] a TO b and CHANGE [COLUMN] [IF EXISTS]
 * a b outside quotes, in order. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "target_common.h"

typedef struct {
    const char *p, *end;
} lex_t;

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* The next token: an identifier or keyword (quoted with ` or ", quotes
 * undone into out), or one other character; skips blanks, comments and
 * '...' strings. 0 at the end. *quoted says whether it was quoted. */
static int next(lex_t *l, char *out, size_t outsz, int *quoted)
{
    for (;;) {
        while (l->p < l->end && isspace((unsigned char)*l->p))
            l->p++;
        if (l->p + 1 < l->end && l->p[0] == '/' && l->p[1] == '*') {
            const char *c = strstr(l->p + 2, "*/");
            l->p = c && c < l->end ? c + 2 : l->end;
            continue;
        }
        if (l->p < l->end && *l->p == '\'') {
            for (l->p++; l->p < l->end && *l->p != '\''; l->p++)
                if (*l->p == '\\' && l->p + 1 < l->end)
                    l->p++;
            l->p++;
            continue;
        }
        break;
    }
    if (l->p >= l->end)
        return 0;
    size_t n = 0;
    *quoted = 0;
    char q = *l->p;
    if (q == '`' || q == '"') {
        *quoted = 1;
        for (l->p++; l->p < l->end; l->p++) {
            if (*l->p == q) {
                if (l->p + 1 < l->end && l->p[1] == q)
                    l->p++;
                else
                    break;
            }
            if (n + 1 < outsz)
                out[n++] = *l->p;
        }
        l->p++;
    } else if (ident_char(q)) {
        while (l->p < l->end && ident_char(*l->p)) {
            if (n + 1 < outsz)
                out[n++] = *l->p;
            l->p++;
        }
    } else {
        out[n++] = *l->p++;
    }
    out[n] = '\0';
    return 1;
}

static int kw(const char *tok, int quoted, const char *w)
{
    return !quoted && !strcasecmp(tok, w);
}

int app_ddl_renames(const char *ddl, const char *from, const char *to)
{
    if (!ddl || !from || !to || !strcasecmp(from, to))
        return 0;
    char cur[256], tok[256], a[256], b[256];
    int q;
    snprintf(cur, sizeof cur, "%s", from);
    lex_t l = {ddl, ddl + strlen(ddl)};
    while (next(&l, tok, sizeof tok, &q)) {
        int change = kw(tok, q, "CHANGE");
        if (!change && !kw(tok, q, "RENAME"))
            continue;
        lex_t before = l;
        if (!next(&l, tok, sizeof tok, &q))
            break;
        if (!kw(tok, q, "COLUMN")) {
            l = before;                   /* CHANGE a b (COLUMN optional); RENAME TO/INDEX */
            if (!change)
                continue;
        }
        if (!next(&l, a, sizeof a, &q))
            break;
        if (kw(a, q, "IF") && (!next(&l, tok, sizeof tok, &q) ||   /* EXISTS */
                               !next(&l, a, sizeof a, &q)))
            break;
        if (!change && (!next(&l, tok, sizeof tok, &q) || !kw(tok, q, "TO")))
            continue;
        if (!next(&l, b, sizeof b, &q))
            break;
        if (!strcasecmp(a, cur))
            snprintf(cur, sizeof cur, "%s", b);
    }
    return !strcasecmp(cur, to);
}

/* shiftlog: how a table (database, table) — or a column (database, table,
 * column) — is written as one string, and back.
 *
 * MariaDB and PostgreSQL allow '.' in names, so "db.table" alone is
 * ambiguous: database "a.b" + table "c" and database "a" + table "b.c" are
 * both "a.b.c". Everywhere a table is named by one string (the shared log's
 * `table` field and its control documents, metric labels, pattern subjects)
 * it is written in the *name form*: the parts joined by '.', a part that
 * contains '.' or '`' (or is empty) in backquotes with a '`' doubled, as
 * MariaDB quotes identifiers: `a.b`.c and a.`b.c`. A name without such
 * characters is written as before (shop.orders), so documents and patterns
 * of older versions still read the same. Caches key on the parts, never on
 * this text. */
#ifndef SL_NAME_H
#define SL_NAME_H

#include <stddef.h>

/* Writes the name form of parts[0..n) into out (NUL-terminated, truncated to
 * size). Returns the length the full text needs, like snprintf. */
size_t sl_name_join(const char *const *parts, int n, char *out, size_t size);

/* sl_name_join of (db, table); NULL counts as "". Returns out. */
char  *sl_name_format(const char *db, const char *table, char *out, size_t size);

/* Splits text at every '.' outside backquotes into at most max parts,
 * unquoting them; the parts are copied one after the other into buf
 * (bufsize bytes) and parts[i] points there. Returns the number of parts
 * found (more than max: parts past max are not stored), or -1 when a
 * backquote is not closed or buf is too small. */
int    sl_name_split(const char *text, char **parts, int max, char *buf, size_t bufsize);

/* Reads a (db, table) name form into db/table. An unquoted text with more
 * than one '.' (written by older versions) splits at the first '.', as they
 * read it. Returns 0, or -1 when text has no '.' or does not fit. */
int    sl_name_parse(const char *text, char *db, size_t dbsize, char *table, size_t tsize);

#endif

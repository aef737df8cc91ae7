/* shiftlog-collector, MySQL/MariaDB: a table's SCHEMA derived from the last
 * one published for it, without the catalog or the binlog.
 *
 * Why: a DDL read behind the server (changed again before any row of it)
 * has no definition of its own anywhere: the catalog holds a later one and
 * no TABLE_MAP of it will come. Folded into the next SCHEMA it would hide
 * what it did (a column dropped and added again looks unchanged, a column
 * renamed and another added under the old name reads as a new column). When
 * the DDL only drops or only renames columns, its definition is the last
 * one without them or with the new names (mysql_schema.c decides when). */
#include <string.h>
#include <strings.h>

#include "mysql_source.h"

/* d (reset here) = the columns of SCHEMA src under the name db.tb, no DDL
 * text. */
sl_err_t col_my_schema_copy(sl_record_t *d, const sl_record_t *src, const char *db,
                            const char *tb)
{
    const sl_schema_t *sc = &src->u.schema;
    sl_record_reset(d);
    if (sl_record_init_schema(d, src->source, db, tb, sc->ncols))
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < sc->ncols; i++) {
        const sl_column_t *c = &sc->cols[i];
        sl_column_t *o = &d->u.schema.cols[i];
        *o = *c;
        o->labels = NULL;
        if ((c->name && !(o->name = sl_record_strdup(d, c->name))) ||
            (c->source_type && !(o->source_type = sl_record_strdup(d, c->source_type))) ||
            (c->charset && !(o->charset = sl_record_strdup(d, c->charset))) ||
            (c->dflt && !(o->dflt = sl_record_strdup(d, c->dflt))) ||
            (c->nlabels && !(o->labels = sl_record_alloc(d, c->nlabels * sizeof(char *)))))
            return SL_ERR_NOMEM;
        for (uint32_t l = 0; l < c->nlabels; l++)
            if (!(o->labels[l] = sl_record_strdup(d, c->labels[l])))
                return SL_ERR_NOMEM;
    }
    return SL_OK;
}

/* rec = last without the columns named in cols[0..n): the definition after
 * a DDL that only drops columns. SL_ERR_UNSUPPORTED when one of them is in
 * the key (the key changes: that takes the catalog or the binlog). */
sl_err_t col_my_schema_without(const sl_record_t *last, char (*cols)[256], int n,
                               const char *db, const char *tb, sl_record_t *rec)
{
    sl_err_t err = col_my_schema_copy(rec, last, db, tb);
    if (err)
        return err;
    sl_schema_t *sc = &rec->u.schema;
    uint32_t k = 0;
    for (uint32_t i = 0; i < sc->ncols; i++) {
        int gone = 0;
        for (int d = 0; d < n && !gone; d++)
            gone = sc->cols[i].name && !strcasecmp(sc->cols[i].name, cols[d]);
        if (gone && sc->cols[i].pk)
            return SL_ERR_UNSUPPORTED;
        if (!gone)
            sc->cols[k++] = sc->cols[i];
    }
    sc->ncols = k;
    return k ? SL_OK : SL_ERR_UNSUPPORTED;
}

/* rec (reset here) = last under the name db.tb with columns from[i] renamed
 * to[i]: the definition of a DDL that only renames columns.
 * SL_ERR_UNSUPPORTED when a name is not there (or the new one is). */
sl_err_t col_my_schema_renamed(const sl_record_t *last, char (*from)[256], char (*to)[256],
                               int n, const char *db, const char *tb, sl_record_t *rec)
{
    sl_err_t err = col_my_schema_copy(rec, last, db, tb);
    if (err)
        return err;
    sl_schema_t *sc = &rec->u.schema;
    for (int r = 0; r < n; r++) {
        uint32_t i, hit = sc->ncols;
        for (i = 0; i < sc->ncols; i++) {
            if (!strcasecmp(sc->cols[i].name, to[r]))
                return SL_ERR_UNSUPPORTED;
            if (!strcasecmp(sc->cols[i].name, from[r]))
                hit = i;
        }
        if (hit == sc->ncols)
            return SL_ERR_UNSUPPORTED;
        if (!(sc->cols[hit].name = sl_record_strdup(rec, to[r])))
            return SL_ERR_NOMEM;
    }
    return SL_OK;
}

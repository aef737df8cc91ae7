/* shiftlog collector, PostgreSQL: connections, preflight checks, slot and
 * publication setup, and the catalog lookups the decoder needs (types the
 * decoder does not know by OID; nullability, primary key and the declared
 * type of a relation's columns). Every failure names the cause and the fix. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_source.h"
#include "sl_log.h"
#include "sl_pgconn.h"
#include "sl_tls.h"

sl_err_t pg_connect(const col_conf_t *conf, int replication, PGconn **out,
                    char *errstr, size_t errstr_size)
{
    char port[16], appname[200], options[1024], msg[1024], hint[300];
    const char *extra = getenv("PGOPTIONS");

    snprintf(port, sizeof(port), "%" PRId64, conf->source_port);
    snprintf(appname, sizeof(appname), "shiftlog-collector-%s", conf->source_name);
    snprintf(options, sizeof(options), "%s%s%s", PG_SESSION_OPTIONS, extra && *extra ? " " : "",
             extra ? extra : "");
    sl_pgconn_t c = {
        .host = conf->source_host, .port = port, .user = conf->source_user,
        .password = conf->source_password,
        .dbname = conf->source_database && *conf->source_database ? conf->source_database
                                                                  : "postgres",
        .application_name = appname, .options = options, .connect_timeout = 10,
        .replication = replication,
        .tls = {conf->tls_mode, conf->tls_ca, conf->tls_cert, conf->tls_key},
        .tls_prefix = "source"};
    sl_err_t err = sl_pgconn_open(&c, out, msg, sizeof(msg), hint, sizeof(hint));
    if (err) {
        if (hint[0])
            ;  /* a TLS cause: hint says it */
        else if (strstr(msg, "replication connection") || strstr(msg, "pg_hba.conf"))
            snprintf(hint, sizeof(hint), " (pg_hba.conf needs a `host %s %s <address> "
                     "scram-sha-256` line)", replication ? "replication" : "<database>",
                     conf->source_user);
        else if (strstr(msg, "must be superuser or replication role") ||
                 strstr(msg, "permission denied to start WAL sender"))
            snprintf(hint, sizeof(hint), " (ALTER ROLE %s REPLICATION)", conf->source_user);
        snprintf(errstr, errstr_size, "source \"%s\": cannot connect to PostgreSQL %s:%s as "
                 "%s%s: %.*s%s", conf->source_name, conf->source_host, port, conf->source_user,
                 replication ? " (replication)" : "", (int)strcspn(msg, "\n"), msg, hint);
        /* a TLS refusal needs a configuration change as much as a bad password */
        return err;
    }
    return SL_OK;
}

/* Runs a query; SL_OK with *res (caller PQclear) when it returns tuples or
 * completes. */
static sl_err_t q(PGconn *c, PGresult **res, char *errstr, size_t errstr_size,
                  const char *what, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *m = PQresultErrorMessage(r);
        snprintf(errstr, errstr_size, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
        PQclear(r);
        *res = NULL;
        return SL_ERR_DB;
    }
    *res = r;
    return SL_OK;
}

/* q() with one parameter, $1 = the oid. */
static sl_err_t q_oid(PGconn *c, PGresult **res, char *errstr, size_t errstr_size,
                      const char *what, const char *sql, uint32_t oid)
{
    char o[16];
    const char *p[1] = {o};
    snprintf(o, sizeof(o), "%u", oid);
    return q(c, res, errstr, errstr_size, what, sql, 1, p);
}

sl_err_t pg_query_lsn(PGconn *conn, const char *sql, uint64_t *out, char *errstr,
                      size_t errstr_size)
{
    PGresult *r;
    sl_err_t err = q(conn, &r, errstr, errstr_size, sql, sql, 0, NULL);
    if (err)
        return err;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) || !pg_lsn_parse(PQgetvalue(r, 0, 0), out)) {
        snprintf(errstr, errstr_size, "%s: no LSN returned", sql);
        err = SL_ERR_DB;
    }
    PQclear(r);
    return err;
}

/* Drops the slot the server invalidated, so that check_slot creates it again
 * (snapshot.mode = when_needed after the checkpoint was lost with it). */
static sl_err_t drop_lost_slot(PGconn *c, const col_conf_t *conf, char *errstr,
                               size_t errstr_size)
{
    const char *p[1] = {conf->source_slot};
    PGresult *r;
    sl_err_t err = q(c, &r, errstr, errstr_size, "dropping the lost replication slot",
                     "SELECT pg_drop_replication_slot($1)", 1, p);
    if (err)
        return err;
    PQclear(r);
    sl_warn("replication slot \"%s\" was lost (wal_status = lost): dropped it to create it "
            "again", conf->source_slot);
    return SL_OK;
}

static sl_err_t check_slot(PGconn *c, const col_conf_t *conf, int had_checkpoint,
                           int recreate, pg_slotinfo_t *slot, char *errstr,
                           size_t errstr_size)
{
    const char *p[1] = {conf->source_slot};
    PGresult *r;
    sl_err_t err = q(c, &r, errstr, errstr_size, "reading pg_replication_slots",
                     "SELECT plugin, slot_type, database, wal_status, confirmed_flush_lsn, "
                     "restart_lsn, current_database() FROM pg_replication_slots WHERE "
                     "slot_name = $1", 1, p);
    if (err)
        return err;
    memset(slot, 0, sizeof(*slot));
    if (PQntuples(r) == 1) {
        const char *plugin = PQgetvalue(r, 0, 0), *type = PQgetvalue(r, 0, 1),
                   *db = PQgetvalue(r, 0, 2), *wal = PQgetvalue(r, 0, 3),
                   *cur = PQgetvalue(r, 0, 6);
        err = SL_ERR_FATAL;
        if (strcmp(type, "logical"))
            snprintf(errstr, errstr_size, "source \"%s\": replication slot \"%s\" is a %s slot, "
                     "shiftlog needs a logical slot with plugin pgoutput: choose another "
                     "source.slot", conf->source_name, conf->source_slot, type);
        else if (strcmp(plugin, "pgoutput"))
            snprintf(errstr, errstr_size, "source \"%s\": replication slot \"%s\" uses plugin "
                     "\"%s\", shiftlog needs pgoutput: choose another source.slot, or drop it "
                     "(SELECT pg_drop_replication_slot('%s')) if nothing else uses it",
                     conf->source_name, conf->source_slot, plugin, conf->source_slot);
        else if (strcmp(db, cur))
            snprintf(errstr, errstr_size, "source \"%s\": replication slot \"%s\" belongs to "
                     "database \"%s\", not \"%s\": choose another source.slot",
                     conf->source_name, conf->source_slot, db, cur);
        else if (!strcmp(wal, "lost") && recreate)
            err = SL_ERR_NOT_FOUND;             /* dropped below, then created again */
        else if (!strcmp(wal, "lost")) {
            snprintf(errstr, errstr_size, "source \"%s\": replication slot \"%s\" is lost "
                     "(wal_status = lost: the server removed WAL it still needed, "
                     "max_slot_wal_keep_size): changes are gone; %sdrop the slot "
                     "(SELECT pg_drop_replication_slot('%s')) and resynchronise the targets "
                     "from a snapshot", conf->source_name, conf->source_slot,
                     had_checkpoint ? "set snapshot.mode = when_needed to recreate it and copy "
                                      "the tables again, or " : "",
                     conf->source_slot);
            if (had_checkpoint)
                err = SL_ERR_NOT_FOUND;         /* the checkpoint's changes are gone */
        } else
            err = SL_OK;
        if (!err) {
            slot->exists = 1;
            if (!PQgetisnull(r, 0, 4))
                pg_lsn_parse(PQgetvalue(r, 0, 4), &slot->confirmed_flush);
            if (!PQgetisnull(r, 0, 5))
                pg_lsn_parse(PQgetvalue(r, 0, 5), &slot->restart_lsn);
            if (!strcmp(wal, "unreserved"))
                sl_warn("replication slot \"%s\": wal_status = unreserved: the server is about "
                        "to remove WAL this slot needs (max_slot_wal_keep_size)",
                        conf->source_slot);
        }
        PQclear(r);
        if (err != SL_ERR_NOT_FOUND || !recreate)
            return err;
        if ((err = drop_lost_slot(c, conf, errstr, errstr_size)))
            return err;
    } else {
        PQclear(r);
    }
    if (had_checkpoint) {
        snprintf(errstr, errstr_size, "source \"%s\": replication slot \"%s\" does not exist "
                 "but this source has a checkpoint: the slot was dropped, and the changes made "
                 "since are not in any slot; set snapshot.mode = when_needed to recreate it "
                 "and copy the tables again, or resynchronise the targets from a snapshot and "
                 "start with a new source.name (or delete the checkpoint) so that a new slot "
                 "is created", conf->source_name, conf->source_slot);
        return SL_ERR_NOT_FOUND;
    }
    err = q(c, &r, errstr, errstr_size, "counting replication slots",
            "SELECT current_setting('max_replication_slots')::int - "
            "(SELECT count(*) FROM pg_replication_slots)", 0, NULL);
    if (err)
        return err;
    int free_slots = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (free_slots <= 0) {
        snprintf(errstr, errstr_size, "source \"%s\": no free replication slot "
                 "(max_replication_slots is used up): drop an unused slot or raise "
                 "max_replication_slots (needs a restart)", conf->source_name);
        return SL_ERR_FATAL;
    }
    err = q(c, &r, errstr, errstr_size, "creating the replication slot",
            "SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", 1, p);
    if (err) {
        char m[512];
        snprintf(m, sizeof(m), "%s", errstr);
        snprintf(errstr, errstr_size, "source \"%s\": cannot create replication slot \"%s\": %s",
                 conf->source_name, conf->source_slot, m);
        return SL_ERR_FATAL;
    }
    slot->exists = 1;
    pg_lsn_parse(PQgetvalue(r, 0, 0), &slot->confirmed_flush);
    sl_info("created replication slot \"%s\" (pgoutput) at %s", conf->source_slot,
            PQgetvalue(r, 0, 0));
    PQclear(r);
    return SL_OK;
}

static int ident_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static sl_err_t check_publication(PGconn *c, const col_conf_t *conf,
                                  const col_filter_t *filter,
                                  char *errstr, size_t errstr_size)
{
    const char *p[1] = {conf->source_publication};
    PGresult *r;
    sl_buf_t sql = SL_BUF_INIT;
    sl_err_t err = q(c, &r, errstr, errstr_size, "reading pg_publication",
                     "SELECT pubinsert AND pubupdate AND pubdelete AND pubtruncate "
                     "FROM pg_publication WHERE pubname = $1", 1, p);
    if (err)
        return err;
    if (PQntuples(r) == 1) {
        if (strcmp(PQgetvalue(r, 0, 0), "t"))
            sl_warn("publication \"%s\" does not publish every operation (insert, update, "
                    "delete, truncate): the others never reach Kafka", conf->source_publication);
        PQclear(r);
        return SL_OK;
    }
    PQclear(r);
    char *pub = PQescapeIdentifier(c, conf->source_publication, strlen(conf->source_publication));
    if (!conf->tables_include || !*conf->tables_include) {
        sl_buf_printf(&sql, "CREATE PUBLICATION %s FOR ALL TABLES", pub);
    } else {
        err = q(c, &r, errstr, errstr_size, "listing tables",
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                "n.oid = c.relnamespace WHERE c.relkind IN ('r','p') AND n.nspname NOT IN "
                "('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                "ORDER BY 1, 2", 0, NULL);
        if (err)
            goto out;
        int k = 0;
        for (int i = 0; i < PQntuples(r); i++) {
            const char *nsp = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1);
            if (!col_filter_match(filter, nsp, rel))
                continue;
            char *a = PQescapeIdentifier(c, nsp, strlen(nsp)),
                 *b = PQescapeIdentifier(c, rel, strlen(rel));
            sl_buf_printf(&sql, "%s%s.%s", k++ ? ", " : "", a, b);
            PQfreemem(a);
            PQfreemem(b);
        }
        PQclear(r);
        if (!k) {
            snprintf(errstr, errstr_size, "source \"%s\": publication \"%s\" does not exist and "
                     "no table matches tables.include: create the tables first, or the "
                     "publication (CREATE PUBLICATION %s FOR TABLE ...)", conf->source_name,
                     conf->source_publication, pub);
            err = SL_ERR_FATAL;
            goto out;
        }
        char *list = strdup(sql.data);
        sl_buf_reset(&sql);
        sl_buf_printf(&sql, "CREATE PUBLICATION %s FOR TABLE %s", pub, list ? list : "");
        free(list);
    }
    if ((err = q(c, &r, errstr, errstr_size, "creating the publication", sql.data, 0, NULL))) {
        char m[512];
        snprintf(m, sizeof(m), "%s", errstr);
        snprintf(errstr, errstr_size, "source \"%s\": publication \"%s\" does not exist and "
                 "cannot be created by %s (%s): run as a superuser or the tables' owner: %s",
                 conf->source_name, conf->source_publication, conf->source_user, m, sql.data);
        err = SL_ERR_FATAL;
        goto out;
    }
    PQclear(r);
    sl_info("created publication: %s", sql.data);
out:
    PQfreemem(pub);
    sl_buf_free(&sql);
    return err;
}

/* Logs each published table's replica identity: NOTHING / DEFAULT without a
 * primary key are refused (the decoder drops their changes), FULL noted. */
static sl_err_t check_identity(PGconn *c, const col_conf_t *conf, const col_filter_t *filter,
                               char *errstr, size_t errstr_size)
{
    const char *p[1] = {conf->source_publication};
    PGresult *r;
    sl_err_t err = q(c, &r, errstr, errstr_size, "reading the published tables",
                     "SELECT t.schemaname, t.tablename, c.relreplident, EXISTS (SELECT 1 FROM "
                     "pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR "
                     "(c.relreplident = 'i' AND i.indisreplident))) FROM pg_publication_tables t "
                     "JOIN pg_namespace n ON n.nspname = t.schemaname JOIN pg_class c ON "
                     "c.relnamespace = n.oid AND c.relname = t.tablename WHERE t.pubname = $1 "
                     "ORDER BY 1, 2", 1, p);
    if (err)
        return err;
    int ntab = 0, nref = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *nsp = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1);
        char ident = PQgetvalue(r, i, 2)[0];
        int key = PQgetvalue(r, i, 3)[0] == 't';
        if (!col_filter_match(filter, nsp, rel))
            continue;
        ntab++;
        if (ident == 'n' || (ident == 'd' && !key)) {
            nref++;
            sl_error("table %s.%s: REPLICA IDENTITY %s: refused, its changes are not published "
                     "(updates and deletes could not be applied); fix: ALTER TABLE %s.%s "
                     "REPLICA IDENTITY FULL, or add a primary key", nsp, rel,
                     ident == 'n' ? "NOTHING" : "DEFAULT without a primary key", nsp, rel);
        } else if (ident == 'f') {
            sl_info("table %s.%s: REPLICA IDENTITY FULL: old images carry every column "
                    "(more WAL; fine)", nsp, rel);
        }
    }
    PQclear(r);
    sl_info("publication \"%s\": %d table(s) to publish, %d refused", conf->source_publication,
            ntab, nref);
    return SL_OK;
}

sl_err_t pg_preflight(PGconn *c, const col_conf_t *conf, const col_filter_t *filter,
                      int had_checkpoint, int recreate, pg_slotinfo_t *slot,
                      char *errstr, size_t errstr_size)
{
    PGresult *r;
    sl_err_t err;
    if ((err = q(c, &r, errstr, errstr_size, "preflight",
                 "SELECT current_setting('wal_level'), r.rolreplication OR r.rolsuper, "
                 "current_setting('max_wal_senders')::int - (SELECT count(*) FROM "
                 "pg_stat_replication), current_setting('server_version_num')::int "
                 "FROM pg_roles r WHERE r.rolname = current_user", 0, NULL)))
        return err;
    const char *wal = PQgetvalue(r, 0, 0);
    int repl = PQgetvalue(r, 0, 1)[0] == 't', senders = atoi(PQgetvalue(r, 0, 2)),
        version = atoi(PQgetvalue(r, 0, 3));
    err = SL_ERR_FATAL;
    if (strcmp(wal, "logical"))
        snprintf(errstr, errstr_size, "source \"%s\": wal_level is %s, shiftlog needs logical "
                 "(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)",
                 conf->source_name, wal);
    else if (!repl)
        snprintf(errstr, errstr_size, "source \"%s\": role %s lacks the REPLICATION privilege "
                 "(ALTER ROLE %s REPLICATION)", conf->source_name, conf->source_user,
                 conf->source_user);
    else if (senders <= 0)
        snprintf(errstr, errstr_size, "source \"%s\": no free WAL sender (max_wal_senders is "
                 "used up): stop another replication client or raise max_wal_senders",
                 conf->source_name);
    else if (version < 140000)
        snprintf(errstr, errstr_size, "source \"%s\": PostgreSQL %d.%d is too old: shiftlog "
                 "needs 14 or newer (pgoutput protocol 2, streaming)", conf->source_name,
                 version / 10000, version % 10000 / 100);
    else
        err = SL_OK;
    PQclear(r);
    if (err)
        return err;
    if (!ident_ok(conf->source_slot)) {
        snprintf(errstr, errstr_size, "source.slot \"%s\": a slot name has only lower-case "
                 "letters, digits and underscores", conf->source_slot);
        return SL_ERR_FATAL;
    }
    if ((err = check_slot(c, conf, had_checkpoint, recreate, slot, errstr, errstr_size)) ||
        (err = check_publication(c, conf, filter, errstr, errstr_size)) ||
        (err = check_identity(c, conf, filter, errstr, errstr_size)))
        return err;
    return SL_OK;
}

/* ------------------------------------------------------------ catalog */

sl_err_t pg_catalog_type(void *ctx, uint32_t oid, pg_typdesc_t *out, char *errstr,
                         size_t errstr_size)
{
    PGconn *c = ctx;
    PGresult *r;
    sl_err_t err = q_oid(c, &r, errstr, errstr_size, "reading pg_type",
                         "SELECT t.typtype, t.typcategory, t.typbasetype, t.typelem, t.typname, "
                         "(SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e "
                         "WHERE e.enumtypid = t.oid), (SELECT count(*) FROM pg_enum e WHERE "
                         "e.enumtypid = t.oid) FROM pg_type t WHERE t.oid = $1", oid);
    if (err)
        return err;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(errstr, errstr_size, "type %u not in pg_type", oid);
        return SL_ERR_NOT_FOUND;
    }
    out->typtype = PQgetvalue(r, 0, 0)[0];
    out->category = PQgetvalue(r, 0, 1)[0];
    out->basetype = (uint32_t)strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    out->elemtype = (uint32_t)strtoul(PQgetvalue(r, 0, 3), NULL, 10);
    snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(r, 0, 4));
    uint32_t n = (uint32_t)atoi(PQgetvalue(r, 0, 6));
    if (n && !PQgetisnull(r, 0, 5)) {
        /* parse the text array {a,"b c"} */
        const char *s = PQgetvalue(r, 0, 5);
        out->labels = calloc(n, sizeof(char *));
        sl_buf_t b = SL_BUF_INIT;
        uint32_t k = 0;
        s++;
        while (out->labels && *s && *s != '}' && k < n) {
            sl_buf_reset(&b);
            sl_buf_reserve(&b, 16);
            if (*s == '"') {
                for (s++; *s && *s != '"'; s++) {
                    if (*s == '\\' && s[1])
                        s++;
                    sl_buf_putc(&b, *s);
                }
                if (*s == '"')
                    s++;
            } else {
                for (; *s && *s != ',' && *s != '}'; s++)
                    sl_buf_putc(&b, *s);
            }
            out->labels[k++] = strdup(b.data ? b.data : "");
            if (*s == ',')
                s++;
        }
        out->nlabels = k;
        sl_buf_free(&b);
    }
    PQclear(r);
    return SL_OK;
}

/* A default expression as pg_get_expr prints it, when it is a constant: a
 * number, true / false, or a quoted literal with casts ('it''s'::text,
 * '2024-01-02'::date, '-1'::integer) -> the value's text (malloc'd).
 * NULL for anything else (a function call, an operator, a sequence): *nomem
 * says whether for want of memory. */
static char *const_default(const char *e, int *nomem)
{
    char *end, *o;
    size_t n = strlen(e), k = 0;
    *nomem = 0;
    if (!strcmp(e, "true") || !strcmp(e, "false") ||
        (n && strchr("-+.0123456789", e[0]) && (strtod(e, &end), !*end)))
        return (o = strdup(e)) ? o : (*nomem = 1, NULL);
    if (e[0] != '\'')
        return NULL;
    if (!(o = malloc(n)))
        return *nomem = 1, NULL;
    const char *p = e + 1;
    for (; *p; p++) {
        if (*p == '\'' && p[1] == '\'')
            p++;
        else if (*p == '\'')
            break;
        o[k++] = *p;
    }
    o[k] = '\0';
    /* then only casts: ::type, ::type(n), ::character varying, ::text[] */
    if (*p++ != '\'' || (*p && strncmp(p, "::", 2)) || strspn(p, "abcdefghijklmnopqrstuvwxyz"
                                                         "0123456789_ :,()[]\"") != strlen(p)) {
        free(o);
        return NULL;
    }
    return o;
}

sl_err_t pg_catalog_relextra(void *ctx, uint32_t relid, const char *nsp, const char *rel,
                             uint32_t ncols, char *const *colnames, const uint32_t *typoids,
                             const int32_t *typmods, pg_relextra_t *out, char *errstr,
                             size_t errstr_size)
{
    PGconn *c = ctx;
    PGresult *r = NULL;
    sl_buf_t oids = SL_BUF_INIT, mods = SL_BUF_INIT;
    out->ncols = ncols;
    out->notnull = calloc(ncols ? ncols : 1, sizeof(int));
    out->pk = calloc(ncols ? ncols : 1, sizeof(int));
    out->source_type = calloc(ncols ? ncols : 1, sizeof(char *));
    out->dflt = calloc(ncols ? ncols : 1, sizeof(char *));
    out->dflt_expr = calloc(ncols ? ncols : 1, sizeof(char *));
    if (!out->notnull || !out->pk || !out->source_type || !out->dflt || !out->dflt_expr)
        return SL_ERR_NOMEM;
    for (uint32_t k = 0; k < ncols; k++)
        out->notnull[k] = out->pk[k] = -1;
    /* the types as the message has them */
    sl_buf_putc(&oids, '{');
    sl_buf_putc(&mods, '{');
    for (uint32_t k = 0; k < ncols; k++) {
        sl_buf_printf(&oids, "%s%u", k ? "," : "", typoids[k]);
        sl_buf_printf(&mods, "%s%d", k ? "," : "", typmods[k]);
    }
    sl_buf_putc(&oids, '}');
    sl_buf_putc(&mods, '}');
    if (!oids.data || !mods.data) {
        sl_buf_free(&oids);
        sl_buf_free(&mods);
        return SL_ERR_NOMEM;
    }
    const char *tp[2] = {oids.data, mods.data};
    sl_err_t err = q(c, &r, errstr, errstr_size, "format_type of the Relation's types",
                     "SELECT format_type(x.o, x.m) FROM unnest($1::oid[], $2::int4[]) "
                     "WITH ORDINALITY AS x(o, m, n) ORDER BY x.n", 2, tp);
    sl_buf_free(&oids);
    sl_buf_free(&mods);
    if (err)
        return err;
    for (int i = 0; i < PQntuples(r) && (uint32_t)i < ncols; i++)
        if (!PQgetisnull(r, i, 0) && !(out->source_type[i] = strdup(PQgetvalue(r, i, 0)))) {
            PQclear(r);
            return SL_ERR_NOMEM;
        }
    PQclear(r);
    /* NOT NULL, the key and the default: the table's attributes of the same
     * name and type, while the relation still exists. The default is the
     * value ADD COLUMN ... DEFAULT gave the rows there: attmissingval (a
     * constant or a non-volatile expression evaluated once, as now()) while
     * the table was not rewritten since (the catalog is read later than the
     * WAL), else the default when it is a constant. A volatile one rewrote
     * the table without row changes: not carried. */
    err = q_oid(c, &r, errstr, errstr_size, "reading pg_attribute",
                "SELECT a.attname, a.attnotnull, a.atttypid, "
                "COALESCE((SELECT k.n FROM pg_index i, unnest(i.indkey) WITH ORDINALITY "
                "k(att, n) WHERE i.indrelid = a.attrelid AND i.indisprimary AND "
                "k.att = a.attnum), 0), "
                "CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END, "
                "(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE "
                "d.adrelid = a.attrelid AND d.adnum = a.attnum) "
                "FROM pg_attribute a WHERE a.attrelid = $1 "
                "AND a.attnum > 0 AND NOT a.attisdropped", relid);
    if (err)
        return err;
    for (int i = 0; i < PQntuples(r); i++)
        for (uint32_t k = 0; k < ncols; k++)
            if (!strcmp(PQgetvalue(r, i, 0), colnames[k]) &&
                strtoul(PQgetvalue(r, i, 2), NULL, 10) == typoids[k]) {
                out->notnull[k] = PQgetvalue(r, i, 1)[0] == 't';
                out->pk[k] = atoi(PQgetvalue(r, i, 3));
                int nomem = 0;
                if (!PQgetisnull(r, i, 4))
                    nomem = !(out->dflt[k] = strdup(PQgetvalue(r, i, 4)));
                else if (!PQgetisnull(r, i, 5) &&
                         !(out->dflt[k] = const_default(PQgetvalue(r, i, 5), &nomem)) &&
                         !nomem)
                    nomem = !(out->dflt_expr[k] = strdup(PQgetvalue(r, i, 5)));
                if (nomem) {
                    PQclear(r);
                    return SL_ERR_NOMEM;
                }
            }
    PQclear(r);
    return SL_OK;
}

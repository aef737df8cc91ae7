/* shiftlog-collector, MySQL/MariaDB: what the schema history's files
 * share (mysql_schema.c: table maps, SCHEMA records at a TABLE_MAP;
 * mysql_schema_ddl.c: the SCHEMA records of a DDL statement). Not for other
 * modules. Threading: the reader's thread only. */
#ifndef COL_MYSQL_SCHEMA_INT_H
#define COL_MYSQL_SCHEMA_INT_H

#include "mysql_source.h"

#define TM_BUCKETS 1024
#define TM_MAX     4096
#define SIG_BUCKETS 1024

typedef struct tm_entry_s {
    col_my_table_t     t;            /* first: handed out as col_my_table_t* */
    uint8_t           *raw;          /* the TABLE_MAP body, to recognise repeats */
    size_t             rawlen;
    char             **names;        /* information_schema names (fallback), owned */
    struct tm_entry_s *next;
} tm_entry_t;

typedef struct sig_entry_s {
    char               *name;        /* "db.table" */
    uint64_t            schema_id;   /* last published, 0 = none */
    char               *pending;     /* DDL text deferred to the next SCHEMA, owned */
    sl_buf_t            ddl_cols;    /* columns of the last DDL SCHEMA published, until the
                                        table's next TABLE_MAP checks them (col_desc) */
    char                ddl_pos[560]; /* its position, file:pos */
    col_tablemap_t      cat;         /* the catalog as read at the table's last DDL, owned:
                                        the next TABLE_MAP's hints come from it, not from
                                        one more information_schema read */
    int                 has_cat;
    col_my_dflts_t      dflts;       /* defaults of added columns not published yet */
    sl_record_t        *last;        /* a copy of the SCHEMA last published for the name,
                                        owned (NULL: none since the start): what a table
                                        renamed away takes to its new name (rename_schema) */
    struct sig_entry_s *next;
} sig_entry_t;

struct col_my_schema_s {
    MYSQL                  *meta;
    const col_conf_t       *conf;
    const col_filter_t     *filter;
    const col_my_server_t  *srv;
    tm_entry_t             *tm[TM_BUCKETS];
    size_t                  ntm;
    sig_entry_t            *sig[SIG_BUCKETS];
    sl_buf_t                buf;
    int                     warned_labels;
};

/* The entry of db.table (created when create and absent; NULL: no memory
 * or absent). */
sig_entry_t *col_my_sig_get(col_my_schema_t *s, const char *db, const char *table, int create);
/* sg->last = a copy of rec (the SCHEMA just published for the name). */
sl_err_t     col_my_keep_last(sig_entry_t *sg, const sl_record_t *rec);
/* Remembers the columns of a DDL's SCHEMA at file:pos, for the table's next
 * TABLE_MAP to check. */
sl_err_t     col_my_ddl_keep(col_my_schema_t *s, const sl_schema_t *sc, const char *file,
                             uint64_t pos);
void         col_my_tm_entry_free(tm_entry_t *e);
/* The catalog's view of db.tb (col_my_catalog_table, as at a TABLE_MAP);
 * *cat is the caller's on SL_OK (col_mysql_tablemap_free). */
sl_err_t     col_my_schema_catalog(col_my_schema_t *s, const char *db, const char *tb,
                                   col_tablemap_t *cat, char *errstr, size_t errstr_size);
/* What the binlog cannot say about e's table, from the catalog's view of it
 * (names and signedness without full metadata, display widths, …). */
void         col_my_apply_information_schema(col_my_schema_t *s, tm_entry_t *e);

#endif

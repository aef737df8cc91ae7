/* shiftlog-collector, MySQL/MariaDB snapshot backend: what snapshot_mysql.c
 * (reading chunks) and snapshot_my_key.c (comparing keys in SQL) share. */
#ifndef COL_SNAPSHOT_MY_H
#define COL_SNAPSHOT_MY_H

#include "mysql_source.h"
#include "snapshot.h"

/* How a column's cells are selected and fetched. */
typedef enum { CELL_INT, CELL_FLOAT, CELL_DOUBLE, CELL_TEXT, CELL_BYTES } cell_kind_t;

cell_kind_t col_snap_my_cell_kind(const col_mysql_column_t *c);
int         col_snap_my_is_temporal(uint8_t type);
/* `name` with backquotes doubled. */
sl_err_t    col_snap_my_ident(sl_buf_t *b, const char *name);
sl_err_t    col_snap_my_hex(sl_buf_t *b, const uint8_t *p, size_t n);
/* The key cell as continuation bytes (hex) into out. */
sl_err_t    col_snap_my_key_raw(const col_mysql_column_t *c, cell_kind_t k, const MYSQL_BIND *b,
                                sl_buf_t *out);
/* Appends " WHERE ..." for a chunk (sl_keyset.h): key above the
 * continuation `after` (else above lo), and at most hi (any may be NULL;
 * nothing when all are). -1 with why when a value does not fit the key
 * (count, form) or on no memory. */
int         col_snap_my_put_where(sl_buf_t *q, const col_tablemap_t *tm, const uint32_t *key,
                                  uint32_t nkey, const char *after, const col_snap_key_t *lo,
                                  const col_snap_key_t *hi, char *why, size_t why_size);

#endif

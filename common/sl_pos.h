/* shiftlog: source positions.
 *
 * Every change has a position inside its source that is unique and totally
 * ordered (DESIGN invariant 1):
 *   MySQL/MariaDB: (binlog file sequence, event start offset, row index),
 *                  with the binlog file name and the transaction's GTID kept
 *                  alongside for humans and for GTID restarts;
 *   PostgreSQL:    (commit LSN, change LSN, index).
 * Text form (sl_pos_format / sl_pos_parse):
 *   mysql  "mysql-bin.000003:1234#5"            (gtid appended as "@0-1-42")
 *   pg     "0/16B3748:0/16B3700#5"
 * The row index of a change batch's position is the index of its row 0;
 * row i of the batch (its Kafka subOffset) is at index pos.row + i. */
#ifndef SL_POS_H
#define SL_POS_H

#include <stddef.h>
#include <stdint.h>
#include "sl_err.h"

typedef enum sl_pos_kind_e {
    SL_POS_NONE  = 0,
    SL_POS_MYSQL = 1,
    SL_POS_PG    = 2
} sl_pos_kind_t;

#define SL_POS_FILE_MAX 64
#define SL_POS_GTID_MAX 64

typedef struct sl_pos_s {
    sl_pos_kind_t kind;
    uint64_t      seq;     /* MySQL: binlog file sequence (000003 -> 3); PG: commit LSN */
    uint64_t      offset;  /* MySQL: event start offset in the file;     PG: change LSN */
    uint32_t      row;     /* row index inside the event / change */
    char          file[SL_POS_FILE_MAX];  /* MySQL binlog file name, "" for PG */
    char          gtid[SL_POS_GTID_MAX];  /* MySQL/MariaDB GTID, "" if unknown */
} sl_pos_t;

/* Total order: kind, then seq, offset, row. file and gtid do not take part
 * (the file name is implied by seq within one server). <0, 0, >0. */
int sl_pos_cmp(const sl_pos_t *a, const sl_pos_t *b);

/* Writes the text form into buf (always NUL-terminated when size > 0).
 * Returns the length snprintf would have written. */
int sl_pos_format(const sl_pos_t *pos, char *buf, size_t size);

/* Fixed-width text of a position that sorts (byte-wise) exactly like
 * sl_pos_cmp: kind (1 hex digit), seq (16), offset (16), row (8) = 41 chars +
 * NUL. The applier's MongoDB `_pos`, the miner's log documents and
 * `shiftlog log --from-position` all use it. */
#define SL_POS_KEY_LEN 41
void sl_pos_key(const sl_pos_t *pos, char out[SL_POS_KEY_LEN + 1]);

/* Parses the text form. On error fills errstr and returns SL_ERR_PARSE. */
sl_err_t sl_pos_parse(const char *text, sl_pos_t *out,
                      char *errstr, size_t errstr_size);

/* Sets a MySQL position from a binlog file name and offset (seq is taken
 * from the digits after the last '.'). Returns SL_ERR_INVALID on a name
 * without a numeric suffix. */
sl_err_t sl_pos_set_mysql(sl_pos_t *pos, const char *file, uint64_t offset,
                          uint32_t row);
void sl_pos_set_pg(sl_pos_t *pos, uint64_t commit_lsn, uint64_t lsn, uint32_t row);

#endif

/* shiftlog: the fields of a shared-log document that name its table, written
 * by the miner (miner/doc.c) and read by the applier's log source
 * (applier/source_mongolog.c) and `shiftlog log` (cli/log.c); the whole
 * document is described in docs/miner.md "Document format".
 *
 * A table is named by two strings, `db` and `tbl`: the source's own names,
 * which may hold '.'. `table` is the same pair in the name form of
 * common/sl_name.h (`a.b`.c, a.`b.c`; shop.orders when no part holds '.'),
 * kept for queries, the (table, _id) index and control documents
 * ("table:<name form>"). Readers take `db`/`tbl` when the document has them
 * and fall back to `table` (gap documents of older miners carry only that). */
#ifndef SL_LOGDOC_H
#define SL_LOGDOC_H

#define SL_LOGDOC_DB    "db"
#define SL_LOGDOC_TBL   "tbl"
#define SL_LOGDOC_TABLE "table"
#define SL_LOGDOC_CTL_TABLE_PREFIX "table:"

#endif

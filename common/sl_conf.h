/* shiftlog: declarative configuration (Redis' standardConfig table).
 *
 * A service declares one static table of sl_conf_entry_t, one entry per key,
 * that says where the parsed value goes (an offset into the service's config
 * struct). The same table parses the file, validates values, applies
 * environment and -X overrides, prints --help and writes the Markdown config
 * reference (docs/config.md).
 *
 *   static const sl_conf_entry_t col_conf_table[] = {
 *       SL_CONF_STRING("source.name", col_conf_t, source_name, NULL,
 *                      SL_CONF_REQUIRED, "Name of the source ..."),
 *       SL_CONF_INT("source.port", col_conf_t, source_port, "3306", 1, 65535, 0, "..."),
 *   };
 *
 * Where values go (field types in the target struct):
 *   STRING, SECRET            const char *   (points into the sl_conf_t: valid
 *                                             until sl_conf_free; NULL = unset)
 *   INT, SIZE (bytes), DURATION (ms)  int64_t
 *   BOOL                      int            (0/1)
 *   ENUM                      int            (index into choices)
 *
 * Precedence: default < file < environment < -X. File syntax: `key = value`
 * per line; `#` starts a comment only as the first non-blank character of a
 * line (so values may contain '#'); blank lines ignored; whitespace around key
 * and value trimmed; a value may be quoted with "..." (escapes \" \\ \n \t)
 * or '...' (literal). A key set twice in one file is an error (it is almost
 * always a copy-paste mistake); repeated -X of one key: the last wins.
 *
 * Keys `kafka.X` (declared or not) are passed through: conf->kafka holds X ->
 * value for rd_kafka_conf_set. Undeclared kafka.* keys are accepted from the
 * file and -X as they are (librdkafka validates them); from the environment
 * only declared ones are read. Environment names: SHIFTLOG_ + the key in upper
 * case with '.' and '-' as '_' (source.host -> SHIFTLOG_SOURCE_HOST); an
 * empty variable counts as unset.
 *
 * Errors are written to errstr as `path:line: ...`, `-X: ...` or
 * `SHIFTLOG_X: ...`; every one of them means exit code 2 for a service. */
#ifndef SL_CONF_H
#define SL_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "sl_buf.h"
#include "sl_err.h"
#include "sl_kv.h"

typedef enum sl_conf_type_e {
    SL_CONF_T_STRING = 0,
    SL_CONF_T_INT,
    SL_CONF_T_BOOL,
    SL_CONF_T_ENUM,
    SL_CONF_T_SIZE,      /* bytes; accepts 512, 64KB, 16MiB, 1G (1024-based) */
    SL_CONF_T_DURATION,  /* milliseconds; accepts 250, 250ms, 5s, 2m, 1h */
    SL_CONF_T_SECRET     /* a string never shown in --help, dumps or logs */
} sl_conf_type_t;

#define SL_CONF_REQUIRED 0x1u  /* unset or empty after all sources -> error */

/* Optional extra check of a value that already has the right type. Returns
 * 0 if fine, else writes the reason ("is not host:port") to errstr. */
typedef int sl_conf_check_fn(const char *value, char *errstr, size_t errstr_size);

typedef struct sl_conf_entry_s {
    const char        *name;
    sl_conf_type_t     type;
    unsigned           flags;     /* SL_CONF_REQUIRED */
    const char        *def;       /* default as text, NULL = no default */
    int64_t            min, max;  /* INT/SIZE/DURATION; min == max == 0: unbounded */
    const char *const *choices;   /* ENUM: NULL-terminated names */
    size_t             offset;    /* offsetof(service struct, field) */
    sl_conf_check_fn  *check;     /* optional */
    const char        *help;
} sl_conf_entry_t;

#define SL_CONF_COUNT(table) (sizeof(table) / sizeof((table)[0]))

#define SL_CONF_STRING(name_, type_, field_, def_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_STRING, .flags = (flags_), .def = (def_), \
      .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_SECRET(name_, type_, field_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_SECRET, .flags = (flags_), .def = NULL, \
      .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_INT(name_, type_, field_, def_, min_, max_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_INT, .flags = (flags_), .def = (def_), \
      .min = (min_), .max = (max_), .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_SIZE(name_, type_, field_, def_, min_, max_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_SIZE, .flags = (flags_), .def = (def_), \
      .min = (min_), .max = (max_), .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_DURATION(name_, type_, field_, def_, min_, max_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_DURATION, .flags = (flags_), .def = (def_), \
      .min = (min_), .max = (max_), .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_BOOL(name_, type_, field_, def_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_BOOL, .flags = (flags_), .def = (def_), \
      .offset = offsetof(type_, field_), .help = (help_) }
#define SL_CONF_ENUM(name_, type_, field_, def_, choices_, flags_, help_) \
    { .name = (name_), .type = SL_CONF_T_ENUM, .flags = (flags_), .def = (def_), \
      .choices = (choices_), .offset = offsetof(type_, field_), .help = (help_) }

/* Where an entry's current value came from. */
typedef enum sl_conf_origin_e {
    SL_CONF_FROM_UNSET = 0,
    SL_CONF_FROM_DEFAULT,
    SL_CONF_FROM_FILE,
    SL_CONF_FROM_ENV,
    SL_CONF_FROM_ARG
} sl_conf_origin_t;

typedef struct sl_conf_s {
    const sl_conf_entry_t *table;
    size_t                 n;
    void                  *target;
    sl_kvlist_t            kafka;   /* kafka.* with the prefix removed (owned) */
    /* private */
    char                 **text;    /* current text of each entry */
    unsigned char         *origin;  /* sl_conf_origin_t of each entry */
    char                  *path;    /* file loaded, if any */
} sl_conf_t;

/* Binds conf to table and target and applies the defaults (a default that
 * does not validate is a bug in the table: SL_ERR_INVALID with the reason).
 * Free with sl_conf_free() even on error. */
sl_err_t sl_conf_init(sl_conf_t *conf, const sl_conf_entry_t *table, size_t n,
                      void *target, char *errstr, size_t errstr_size);
void     sl_conf_free(sl_conf_t *conf);

/* Reads a `key = value` file. Missing file: SL_ERR_IO ("path: cannot open
 * config file: No such file or directory"); a bad line: SL_ERR_PARSE or
 * SL_ERR_INVALID with "path:line: ...". Stops at the first error. */
sl_err_t sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr,
                           size_t errstr_size);
/* Applies SHIFTLOG_<KEY> for every entry of the table. */
sl_err_t sl_conf_apply_env(sl_conf_t *conf, char *errstr, size_t errstr_size);
/* Applies one -X argument "key=value". */
sl_err_t sl_conf_apply_arg(sl_conf_t *conf, const char *arg, char *errstr,
                           size_t errstr_size);
/* Sets one key from any source; where names the source in messages
 * ("path:3", "-X", "SHIFTLOG_SOURCE_PORT"). */
sl_err_t sl_conf_set(sl_conf_t *conf, const char *key, const char *value,
                     sl_conf_origin_t origin, const char *where, char *errstr,
                     size_t errstr_size);
/* After all sources: every SL_CONF_REQUIRED entry must be set and non-empty.
 * "path: missing required key "source.name" (...)". */
sl_err_t sl_conf_check(sl_conf_t *conf, char *errstr, size_t errstr_size);

/* Current text of a table key (borrowed, valid until that key changes or
 * sl_conf_free); NULL when unset or not in the table. */
const char *sl_conf_get(const sl_conf_t *conf, const char *key);
sl_conf_origin_t sl_conf_origin(const sl_conf_t *conf, const char *key);

/* "SHIFTLOG_SOURCE_HOST" for "source.host", into out (returns out). */
char *sl_conf_env_name(const char *key, char *out, size_t out_size);

/* Appends "key = value" lines of every set key then the kafka passthrough,
 * with secrets masked (SECRET entries as ****, others through sl_log_mask). */
sl_err_t sl_conf_dump(const sl_conf_t *conf, sl_buf_t *out);
/* --help: one block per key (name, type, default, env name, help). */
sl_err_t sl_conf_write_help(const sl_conf_entry_t *table, size_t n, sl_buf_t *out);
/* Markdown reference section "## title" with a table of every key. */
sl_err_t sl_conf_write_md(const sl_conf_entry_t *table, size_t n, const char *title,
                          const char *intro, sl_buf_t *out);

/* Value parsers used by the table and usable alone; 0 on success, else -1
 * with the reason in errstr ("\"abc\" is not an integer (1..65535)"). */
int sl_conf_parse_int(const char *s, int64_t min, int64_t max, int64_t *out,
                      char *errstr, size_t errstr_size);
int sl_conf_parse_bool(const char *s, int *out, char *errstr, size_t errstr_size);
int sl_conf_parse_size(const char *s, int64_t min, int64_t max, int64_t *out,
                       char *errstr, size_t errstr_size);
int sl_conf_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out,
                           char *errstr, size_t errstr_size);

#endif

/* shiftlog: logging. One line per event on stderr, with level, service,
 * task and (when set) the current source position:
 *   2026-11-25T16:09:09.123Z INFO collector[shop] pos=mysql-bin.000003:1234#0 message
 * --log-format json writes one JSON object per line instead.
 * Secrets are masked: sl_log_mask() rewrites password=..., "password": ...
 * and user:pass@ in URIs to "****" before anything is written. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum sl_log_level_e {
    SL_LOG_DEBUG = 0,
    SL_LOG_INFO  = 1,
    SL_LOG_WARN  = 2,
    SL_LOG_ERROR = 3
} sl_log_level_t;

/* service: "collector", "cli", ...; task: source or task name (may be NULL). */
void sl_log_init(const char *service, const char *task);
void sl_log_set_level(sl_log_level_t level);
/* "debug" | "info" | "warn" | "error"; returns -1 on an unknown name. */
int  sl_log_level_parse(const char *name, sl_log_level_t *out);
void sl_log_set_json(int json);
/* Position shown in every following line (copied); NULL clears it. */
void sl_log_set_position(const char *pos_text);
/* The position of the lines now (copied into buf; "" when none). */
void sl_log_get_position(char *buf, size_t size);
/* The message of the last ERROR line (masked, copied into buf; "" when none)
 * and its wall-clock time in ms since the epoch (0: none yet), for /status
 * and the alerts. Thread-safe. */
int64_t sl_log_last_error(char *buf, size_t size);
/* Sets the last error without an ERROR line (a record sent to the dead-letter
 * topic is logged as a warning but is the task's last error). */
void    sl_log_set_last_error(const char *text);

void sl_log_write(sl_log_level_t level, const char *file, int line,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Masks secrets in text in place (same length or shorter). */
void sl_log_mask(char *text);

#define sl_log(level, ...) sl_log_write((level), __FILE__, __LINE__, __VA_ARGS__)
#define sl_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)
#define sl_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif

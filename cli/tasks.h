/* shiftlog tasks: task definitions shaped like goshift's task_def_sync_manager
 * rows, from a JSON file or a task table in MariaDB or PostgreSQL
 * (tasks_table.c), for `shiftlog tasks list|show|pause|resume` (tasks.c). */
#ifndef CLI_TASKS_H
#define CLI_TASKS_H

#include <stddef.h>

/* The columns, in this order (every value is text; NULL when absent). */
enum {
    CLI_T_NAME, CLI_T_FROM_TYPE, CLI_T_FROM_APP, CLI_T_FROM_DB, CLI_T_FROM_TABLE,
    CLI_T_TO_TYPE, CLI_T_TO_APP, CLI_T_TO_DB, CLI_T_TO_TABLE, CLI_T_PARAMS, CLI_T_ONLINE,
    CLI_T_STATUS, CLI_T_DESC, CLI_T_N
};
extern const char *const cli_task_cols[CLI_T_N];

typedef struct cli_task_s {
    char *v[CLI_T_N];
} cli_task_t;

/* Where the tasks are: file (a JSON object, an array of them, or one per line) or uri
 * (mysql://user:password@host:port/db, mariadb://..., postgresql://... as libpq takes it)
 * with table (default task_def_sync_manager; "schema.table" or "db.table" too). */
typedef struct cli_task_src_s {
    const char *file, *uri, *table;
} cli_task_src_t;

/* Every task, ordered by name, into *out (*n of them); the caller frees with
 * cli_tasks_free(). 0, or -1 with errstr. */
int  cli_tasks_load(const cli_task_src_t *src, cli_task_t **out, int *n, char *errstr,
                    size_t errstr_size);
/* Sets online_status of task name to online (0 or 1) where it is defined (the
 * file is rewritten whole). 0, or -1 with errstr ("no task ..."). */
int  cli_tasks_set_online(const cli_task_src_t *src, const char *name, int online,
                          char *errstr, size_t errstr_size);
void cli_tasks_free(cli_task_t *t, int n);

#endif

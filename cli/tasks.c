/* shiftlog tasks list|show|pause|resume: the task definitions of a JSON file
 * or a task table shaped like goshift's task_def_sync_manager
 * (tasks_table.c; docs/operations.md). pause and resume set the task's
 * online_status (0 / 1), which the tasks that read the table honour. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_buf.h"
#include "tasks.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog tasks list [--json] SOURCE\n"
        "       shiftlog tasks show [--json] SOURCE NAME\n"
        "       shiftlog tasks pause|resume SOURCE NAME\n"
        "\n"
        "SOURCE is where the task definitions are (goshift's task_def_sync_manager shape:\n"
        "task_name, from_db_type, from_app, from_db, from_table, to_db_type, to_app, to_db,\n"
        "to_table, params, online_status, task_status, description):\n"
        "  --file FILE     a JSON file: one task object, an array of them, or one a line\n"
        "  --uri URI       a task table: mysql://user:password@host:port/db (mariadb://\n"
        "                  too) or postgresql://... (libpq's URI)\n"
        "  --table NAME    its name (default task_def_sync_manager; db.table or schema.table)\n"
        "\n"
        "pause sets online_status = 0, resume 1 (a file is rewritten).\n"
        "  --json          list/show: JSON (one array / one object)\n"
        "\n"
        "exit status: 0 done, 1 failed (no such task, the table unreachable), 2 usage\n");
}

static const char *val(const cli_task_t *t, int k)
{
    return t->v[k] && *t->v[k] ? t->v[k] : "-";
}

static void json_task(const cli_task_t *t, sl_buf_t *b)
{
    sl_buf_puts(b, "{");
    for (int k = 0; k < CLI_T_N; k++) {
        sl_buf_printf(b, "%s\"%s\":", k ? "," : "", cli_task_cols[k]);
        if (t->v[k])
            sl_buf_json_str(b, t->v[k], strlen(t->v[k]));
        else
            sl_buf_puts(b, "null");
    }
    sl_buf_puts(b, "}");
}

static void endpoint(const cli_task_t *t, int from, char *out, size_t size)
{
    int b = from ? CLI_T_FROM_TYPE : CLI_T_TO_TYPE;
    snprintf(out, size, "%s:%s%s%s.%s", val(t, b), t->v[b + 1] && *t->v[b + 1] ? t->v[b + 1] : "",
             t->v[b + 1] && *t->v[b + 1] ? "/" : "", val(t, b + 2), val(t, b + 3));
}

static int list(cli_task_t *t, int n, int json)
{
    if (json) {
        sl_buf_t b = SL_BUF_INIT;
        sl_buf_puts(&b, "[");
        for (int i = 0; i < n; i++) {
            sl_buf_puts(&b, i ? ",\n " : "");
            json_task(&t[i], &b);
        }
        sl_buf_puts(&b, "]\n");
        fputs(b.data, stdout);
        sl_buf_free(&b);
        return 0;
    }
    printf("%-24s %-7s %-12s %-36s %-36s %s\n", "NAME", "ONLINE", "STATUS", "FROM", "TO",
           "DESCRIPTION");
    for (int i = 0; i < n; i++) {
        char from[300], to[300];
        endpoint(&t[i], 1, from, sizeof from);
        endpoint(&t[i], 0, to, sizeof to);
        const char *on = t[i].v[CLI_T_ONLINE];
        printf("%-24s %-7s %-12s %-36s %-36s %s\n", val(&t[i], CLI_T_NAME),
               !on ? "-" : strcmp(on, "0") ? "yes" : "no", val(&t[i], CLI_T_STATUS), from, to,
               val(&t[i], CLI_T_DESC));
    }
    return 0;
}

static int show(cli_task_t *t, int n, const char *name, int json)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(t[i].v[CLI_T_NAME], name))
            continue;
        if (json) {
            sl_buf_t b = SL_BUF_INIT;
            json_task(&t[i], &b);
            printf("%s\n", b.data);
            sl_buf_free(&b);
        } else {
            for (int k = 0; k < CLI_T_N; k++)
                printf("%-14s %s\n", cli_task_cols[k], val(&t[i], k));
        }
        return 0;
    }
    fprintf(stderr, "shiftlog tasks: no task %s\n", name);
    return 1;
}

int cli_tasks_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"uri", required_argument, NULL, 'u'},
        {"table", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    cli_task_src_t src = {0};
    int json = 0, c;
    char errstr[1024];
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:u:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': src.file = optarg; break;
        case 'u': src.uri = optarg; break;
        case 't': src.table = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *verb = optind < argc ? argv[optind] : "";
    int list_verb = !strcmp(verb, "list");
    int need_name = !strcmp(verb, "show") || !strcmp(verb, "pause") || !strcmp(verb, "resume");
    if ((!list_verb && !need_name) || !src.file == !src.uri ||
        argc - optind != (need_name ? 2 : 1)) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(verb, "pause") || !strcmp(verb, "resume")) {
        int online = !strcmp(verb, "resume");
        if (cli_tasks_set_online(&src, argv[optind + 1], online, errstr, sizeof errstr)) {
            fprintf(stderr, "shiftlog tasks: %s\n", errstr);
            return 1;
        }
        printf("task %s: online_status = %d\n", argv[optind + 1], online);
        return 0;
    }
    cli_task_t *t = NULL;
    int n = 0;
    if (cli_tasks_load(&src, &t, &n, errstr, sizeof errstr)) {
        fprintf(stderr, "shiftlog tasks: %s\n", errstr);
        return 1;
    }
    int rc = list_verb ? list(t, n, json) : show(t, n, argv[optind + 1], json);
    cli_tasks_free(t, n);
    return rc;
}

/* shiftlog: the command-line tool, one file per subcommand (usage() lists
 * them). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sl_mongoc.h"
#include "sl_version.h"

/* cli/mining.c, cli/log.c: the shared log of shiftlog-miner (docs/miner.md) */
int cli_mining_main(int argc, char **argv);
int cli_log_main(int argc, char **argv);
/* cli/tables.c: an applier's stopped tables (docs/applier.md) */
int cli_tables_main(int argc, char **argv);
/* cli/snapshot.c: a collector's snapshot (docs/snapshot.md) */
int cli_snapshot_main(int argc, char **argv);

/* cli/validate.c: target tables against their source (docs/validate.md) */
int cli_validate_main(int argc, char **argv);

/* cli/health.c: a service's liveness or readiness (docs/operations.md) */
int cli_health_main(int argc, char **argv);
/* cli/status.c: every service's progress in one table (docs/operations.md) */
int cli_status_main(int argc, char **argv);
/* cli/tasks.c: task definitions from a file or a task table (docs/operations.md) */
int cli_tasks_main(int argc, char **argv);
/* cli/alert.c: a test alert through a config's channels (docs/operations.md) */
int cli_alert_main(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog COMMAND [options]\n"
        "\n"
        "commands:\n"
        "  cat TOPIC     decode a shiftlog topic to JSON lines (shiftlog cat --help)\n"
        "  mining stop|resume|status SOURCE [TABLE]\n"
        "                per-table stop/resume and status of the miner (shiftlog mining --help)\n"
        "  log query SOURCE [--table T] [--since TIME] [--from-position P] [--limit N]\n"
        "                the shared log as JSON lines (shiftlog log --help)\n"
        "  tables --applier URL [--resume DB.TABLE]\n"
        "                an applier's stopped tables, and their resume (shiftlog tables --help)\n"
        "  snapshot --collector URL [DB.TABLE...]\n"
        "                copy tables again while streaming, or show the snapshot's progress\n"
        "                (shiftlog snapshot --help)\n"
        "  health [--ready] URL\n"
        "                whether a service is alive (ready); exit 0 or 1, for container\n"
        "                health checks (shiftlog health --help)\n"
        "  status [--json] [--watch SECONDS] URL|CONFIG...\n"
        "                state, positions, records behind, lag, rows/s and last error of\n"
        "                collectors, miners and appliers (shiftlog status --help)\n"
        "  alert --test CONFIG\n"
        "                send a test alert by the webhook/mail of a config file\n"
        "  tasks list|show|pause|resume (--file FILE | --uri URI [--table T]) [NAME]\n"
        "                task definitions (goshift's task_def_sync_manager shape) and their\n"
        "                online_status (shiftlog tasks --help)\n"
        "  validate --source URL --target URL [--repair --collector URL] SRC TGT...\n"
        "                compare target tables with their source, key range by key range;\n"
        "                exit 0 equal, 1 differences, 2 could not validate\n"
        "                (shiftlog validate --help)\n"
        "\n"
        "  -h, --help     this text\n"
        "  -V, --version  print the version\n"
        "\n"
        "%s", SL_EXIT_CODES_HELP);
}

int main(int argc, char **argv)
{
    sl_mongoc_setup();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("shiftlog %s\n", SHIFTLOG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "cat"))
        return cli_cat_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "mining"))
        return cli_mining_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "log"))
        return cli_log_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "tables"))
        return cli_tables_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "health"))
        return cli_health_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "snapshot"))
        return cli_snapshot_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return cli_status_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "alert"))
        return cli_alert_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "tasks"))
        return cli_tasks_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "validate"))
        return cli_validate_main(argc - 1, argv + 1);
    fprintf(stderr, "shiftlog: unknown command \"%s\" (shiftlog --help)\n", cmd);
    return 2;
}

/* shiftlog alert --test CONFIG: sends one test alert through the channels a
 * service's config file names (alert.webhook.url, alert.mail.*), the same
 * code the services use, so that the on-call can check the way before an
 * incident does (docs/operations.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_alert.h"
#include "sl_status.h"
#include "status.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog alert --test CONFIG\n"
        "\n"
        "Sends one test alert (rule \"test\") through the webhook and/or the mail server\n"
        "of a service's config file (alert.webhook.url, alert.mail.url, alert.mail.from,\n"
        "alert.mail.to, alert.mail.user, alert.mail.password).\n"
        "\n"
        "exit status: 0 every channel took it, 1 one did not (the cause on stderr), 2 usage\n");
}

int cli_alert_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"test", no_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int test = 0, c, rc = 1;
    char errstr[1024] = "";
    optind = 1;
    while ((c = getopt_long(argc, argv, "th", opts, NULL)) != -1) {
        switch (c) {
        case 't': test = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!test || optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    cli_svc_conf_t conf;
    if (cli_svc_conf_load(&conf, argv[optind], errstr, sizeof errstr)) {
        fprintf(stderr, "shiftlog alert: %s\n", errstr);
        return 2;
    }
    sl_alert_conf_t ac = {
        .webhook_url = cli_svc_get(&conf, "alert.webhook.url"),
        .mail_url = cli_svc_get(&conf, "alert.mail.url"),
        .mail_from = cli_svc_get(&conf, "alert.mail.from"),
        .mail_to = cli_svc_get(&conf, "alert.mail.to"),
        .mail_user = cli_svc_get(&conf, "alert.mail.user"),
        .mail_password = cli_svc_get(&conf, "alert.mail.password"),
    };
    if (!ac.mail_from || !*ac.mail_from)
        ac.mail_from = "shiftlog@localhost";
    sl_alert_t *a = sl_alert_new(&ac, conf.kind, conf.name, NULL, errstr, sizeof errstr);
    if (!a) {
        fprintf(stderr, "shiftlog alert: %s: %s\n", argv[optind],
                errstr[0] ? errstr : "no alert.webhook.url nor alert.mail.url");
        rc = 2;
        goto out;
    }
    sl_status_snap_t snap;
    memset(&snap, 0, sizeof snap);
    snprintf(snap.status, sizeof snap.status, "ok");
    snprintf(snap.state, sizeof snap.state, "test");
    snap.ready = 1;
    if (sl_alert_test(a, &snap, errstr, sizeof errstr) == 0) {
        printf("test alert sent (%s)\n", argv[optind]);
        rc = 0;
    } else {
        fprintf(stderr, "shiftlog alert: %s\n", errstr);
    }
    sl_alert_free(a);
out:
    cli_svc_conf_free(&conf);
    return rc;
}

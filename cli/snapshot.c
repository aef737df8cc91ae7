/* shiftlog snapshot: ask a running collector to (re-)snapshot tables while
 * it streams (POST /snapshot?table=...), or show what its snapshot has left
 * (GET /snapshot). docs/snapshot.md. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog snapshot --collector URL [--wait [--timeout S]] [DB.TABLE...]\n"
        "\n"
        "Asks a running collector to copy the rows of each DB.TABLE again, chunk by chunk,\n"
        "while its other tables keep streaming (the request is written into the source's\n"
        "log, so it survives a restart). Without a table: what the collector's snapshot\n"
        "has left (tables still to read, the current one first; rows published).\n"
        "\n"
        "  --collector URL  the collector's HTTP endpoint (http.listen), e.g.\n"
        "                   http://127.0.0.1:9101\n"
        "  --wait           wait until no table is left to read\n"
        "  --timeout S      longest wait (default 3600 s)\n"
        "\n"
        "exit status: 0 done, 1 the collector refused or is unreachable, 2 usage\n");
}

/* 1 when a GET /snapshot answer lists no table. */
static int nothing_left(const char *body)
{
    return body && strstr(body, "\"tables\":[]") != NULL;
}

/* tables_done of a GET /snapshot answer, -1 when absent. */
static long tables_done(const char *body)
{
    const char *p = body ? strstr(body, "\"tables_done\":") : NULL;
    return p ? atol(p + strlen("\"tables_done\":")) : -1;
}

int cli_snapshot_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collector", required_argument, NULL, 'c'}, {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *base = NULL;
    int wait = 0, o;
    long timeout = 3600;
    while ((o = getopt_long(argc, argv, "c:wt:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': base = optarg; break;
        case 'w': wait = 1; break;
        case 't': timeout = atol(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!base) {
        usage(stderr);
        return 2;
    }
    int bl = cli_base_len(base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = 1;
    long status = 0;
    char url[2048];
    sl_buf_t body = SL_BUF_INIT;
    CURL *esc = curl_easy_init();
    long done0 = 0;
    snprintf(url, sizeof url, "%.*s/snapshot", bl, base);
    if (wait && !cli_http_request("shiftlog snapshot", url, 0, &body, &status) &&
        status == 200)
        done0 = tables_done(body.data);
    for (int i = optind; i < argc; i++) {
        char *q = esc ? curl_easy_escape(esc, argv[i], 0) : NULL;
        snprintf(url, sizeof url, "%.*s/snapshot?table=%s", bl, base, q ? q : argv[i]);
        curl_free(q);
        if (cli_http_request("shiftlog snapshot", url, 1, &body, &status))
            goto out;
        if (status != 202) {
            fprintf(stderr, "shiftlog snapshot: %s refused: HTTP %ld %s", argv[i], status,
                    body.data ? body.data : "\n");
            goto out;
        }
        printf("%s: snapshot requested\n", argv[i]);
    }
    snprintf(url, sizeof url, "%.*s/snapshot", bl, base);
    if (wait) {
        /* requested tables: done once the collector has finished one more
         * table than before and has none left (a request reaches the
         * stream through the source's log first) */
        time_t t0 = time(NULL);
        for (;;) {
            if (!cli_http_request("shiftlog snapshot", url, 0, &body, &status) &&
                status == 200 && nothing_left(body.data) &&
                (optind == argc || tables_done(body.data) > done0))
                break;
            if (time(NULL) - t0 > timeout) {
                fprintf(stderr, "shiftlog snapshot: not finished after %ld s\n", timeout);
                goto out;
            }
            usleep(500000);
        }
    } else if (optind == argc) {
        if (cli_http_request("shiftlog snapshot", url, 0, &body, &status))
            goto out;
        if (status != 200) {
            fprintf(stderr, "shiftlog snapshot: %s: HTTP %ld\n", url, status);
            goto out;
        }
    } else {
        code = 0;
        goto out;
    }
    if (wait)
        printf("snapshot finished: ");
    fputs(body.data ? body.data : "{}\n", stdout);
    code = 0;
out:
    if (esc)
        curl_easy_cleanup(esc);
    sl_buf_free(&body);
    curl_global_cleanup();
    return code;
}

/* shiftlog snapshot: ask a running collector to (re-)snapshot tables, or a
 * key range of a table, while it streams (POST /snapshot?table=...[&after=
 * &upto=]), show what its snapshot has left (GET /snapshot), and with
 * --wait follow the copy until it ends: a progress bar per table on a
 * terminal, plain lines otherwise (snapshot_view.c). docs/snapshot.md. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "snapshot_view.h"

#define SNAP_IDS_MAX 64

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog snapshot --collector URL [--after K] [--upto K]\n"
        "                         [--wait [--timeout S]] [DB.TABLE...]\n"
        "\n"
        "Asks a running collector to copy the rows of each DB.TABLE again, chunk by chunk,\n"
        "while its other tables keep streaming (the request is written into the source's\n"
        "log, so it survives a restart). Without a table: what the collector's snapshot\n"
        "has left (tables still to read, the current one first; rows published).\n"
        "\n"
        "  --collector URL  the collector's HTTP endpoint (http.listen), e.g.\n"
        "                   http://127.0.0.1:9101\n"
        "  --after K        only the rows whose key is above K: a JSON array of the key's\n"
        "                   values in key order, e.g. '[17]' or '[\"a\",3]'\n"
        "  --upto K         only the rows whose key is at most K (same form)\n"
        "  --wait           follow the copy until it ends: a progress bar per table on a\n"
        "                   terminal (rows, rows/s, percent and ETA from the table's\n"
        "                   statistics), a plain line every 10 s otherwise\n"
        "  --timeout S      longest wait (default 3600 s)\n"
        "\n"
        "exit status: 0 done, 1 the collector refused a request (or a range that does not\n"
        "fit the table's key) or is unreachable, 2 usage\n");
}

/* Appends "&name=<escaped value>" to url. */
static void add_arg(char *url, size_t size, CURL *esc, const char *name, const char *v)
{
    if (!v)
        return;
    char *q = esc ? curl_easy_escape(esc, v, 0) : NULL;
    size_t n = strlen(url);
    snprintf(url + n, size - n, "&%s=%s", name, q ? q : v);
    curl_free(q);
}

int cli_snapshot_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collector", required_argument, NULL, 'c'}, {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},   {"after", required_argument, NULL, 'a'},
        {"upto", required_argument, NULL, 'u'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *base = NULL, *after = NULL, *upto = NULL;
    int wait = 0, o;
    long timeout = 3600;
    while ((o = getopt_long(argc, argv, "c:wt:a:u:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': base = optarg; break;
        case 'w': wait = 1; break;
        case 't': timeout = atol(optarg); break;
        case 'a': after = optarg; break;
        case 'u': upto = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!base || ((after || upto) && optind == argc)) {
        if (base)
            fprintf(stderr, "shiftlog snapshot: --after/--upto need a DB.TABLE\n");
        usage(stderr);
        return 2;
    }
    int bl = cli_base_len(base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = 1;
    long status = 0;
    char url[8192];
    sl_buf_t body = SL_BUF_INIT;
    CURL *esc = curl_easy_init();
    char *ids[SNAP_IDS_MAX];
    int nids = 0, old = 0;
    long done0 = 0;
    snprintf(url, sizeof url, "%.*s/snapshot", bl, base);
    if (wait && !cli_http_request("shiftlog snapshot", url, 0, &body, &status) &&
        status == 200)
        done0 = cli_snap_tables_done(body.data);
    for (int i = optind; i < argc; i++) {
        char *q = esc ? curl_easy_escape(esc, argv[i], 0) : NULL;
        snprintf(url, sizeof url, "%.*s/snapshot?table=%s", bl, base, q ? q : argv[i]);
        curl_free(q);
        add_arg(url, sizeof url, esc, "after", after);
        add_arg(url, sizeof url, esc, "upto", upto);
        if (cli_http_request("shiftlog snapshot", url, 1, &body, &status))
            goto out;
        if (status != 202) {
            fprintf(stderr, "shiftlog snapshot: %s refused: HTTP %ld %s", argv[i], status,
                    body.data ? body.data : "\n");
            goto out;
        }
        char *id = cli_snap_answer_id(body.data);
        if (!id)
            old = 1;                  /* a collector without request ids */
        else if (nids < SNAP_IDS_MAX)
            ids[nids++] = id;
        else
            free(id);
        printf("%s: snapshot requested%s%s\n", argv[i], id ? ", request " : "", id ? id : "");
    }
    fflush(stdout);
    snprintf(url, sizeof url, "%.*s/snapshot", bl, base);
    if (wait) {
        cli_snap_view_t v;
        cli_snap_view_init(&v, isatty(STDOUT_FILENO), (const char *const *)ids, nids);
        time_t t0 = time(NULL);
        int end = 0;
        for (;;) {
            if (!cli_http_request("shiftlog snapshot", url, 0, &body, &status) &&
                status == 200) {
                end = old ? cli_snap_old_done(body.data, optind == argc, done0)
                          : cli_snap_view_update(&v, body.data);
                if (end)
                    break;
            }
            if (time(NULL) - t0 > timeout) {
                cli_snap_view_finish(&v);
                fprintf(stderr, "shiftlog snapshot: not finished after %ld s\n", timeout);
                goto out;
            }
            usleep(500000);
        }
        cli_snap_view_finish(&v);
        if (end < 0)
            goto out;                 /* a request refused: the view said why */
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
    for (int i = 0; i < nids; i++)
        free(ids[i]);
    if (esc)
        curl_easy_cleanup(esc);
    sl_buf_free(&body);
    curl_global_cleanup();
    return code;
}

/* shiftlog tables: the stopped tables of an applier task, and their resume,
 * over the applier's HTTP endpoint (GET /tables, POST /tables/resume;
 * docs/applier.md, "Stopped tables"). libcurl does the HTTP. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sl_buf.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog tables --applier URL [--resume DB.TABLE [--wait] [--timeout S]]\n"
        "\n"
        "Lists the tables an applier task has stopped (reason, the Kafka offset from which\n"
        "their changes went to the dead-letter topic, since when), or resumes one after its\n"
        "cause is fixed: the applier reads the table's records again from that offset up to\n"
        "where the task stands, then goes on as usual.\n"
        "\n"
        "  --applier URL      the applier's HTTP endpoint (http.listen), e.g.\n"
        "                     http://127.0.0.1:9102\n"
        "  --resume DB.TABLE  resume this stopped table\n"
        "  --wait             with --resume: wait until it has caught up\n"
        "  --timeout S        longest wait (default 600 s)\n"
        "  --json             print the applier's JSON answer as it is\n"
        "\n"
        "exit status: 0 done, 1 the applier refused or is unreachable, 2 usage\n");
}

/* The string value of "key":"..." after p (JSON escapes kept), in out. */
static const char *field(const char *p, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *s = strstr(p, pat);
    out[0] = '\0';
    if (!s)
        return out;
    s += strlen(pat);
    size_t n = 0;
    if (*s == '"') {
        for (s++; *s && *s != '"' && n + 1 < size; s++) {
            if (*s == '\\' && s[1])
                s++;
            out[n++] = *s;
        }
    } else {
        while (*s && *s != ',' && *s != '}' && n + 1 < size)
            out[n++] = *s++;
    }
    out[n] = '\0';
    return out;
}

/* Prints the tables of a GET /tables answer, one per line; returns how many. */
static int print_tables(const char *body, FILE *f)
{
    int n = 0;
    const char *p = strstr(body, "\"tables\":[");
    if (!p)
        return 0;
    for (p = strchr(p, '{'); p; p = strchr(p + 1, '{')) {
        char db[256], tb[256], state[32], reason[1200], off[32], to[32], since[40];
        field(p, "db", db, sizeof db);
        field(p, "table", tb, sizeof tb);
        field(p, "state", state, sizeof state);
        field(p, "reason", reason, sizeof reason);
        field(p, "offset", off, sizeof off);
        field(p, "since", since, sizeof since);
        field(p, "resume_to", to, sizeof to);
        /* the next object's fields must not leak into this one */
        const char *end = strchr(p, '}');
        if (end && strstr(p, "\"resume_to\":") > end)
            to[0] = '\0';
        if (f) {
            fprintf(f, "%s.%s\t%s\tsince %s\tfrom offset %s", db, tb, state, since, off);
            if (to[0])
                fprintf(f, " to %s", to);
            fprintf(f, "\t%s\n", reason);
        }
        n++;
    }
    return n;
}

int cli_tables_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"applier", required_argument, NULL, 'a'}, {"resume", required_argument, NULL, 'r'},
        {"wait", no_argument, NULL, 'w'},          {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *base = NULL, *resume = NULL;
    int wait = 0, json = 0, o;
    long timeout = 600;
    while ((o = getopt_long(argc, argv, "a:r:wt:jh", opts, NULL)) != -1) {
        switch (o) {
        case 'a': base = optarg; break;
        case 'r': resume = optarg; break;
        case 'w': wait = 1; break;
        case 't': timeout = strtol(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!base || optind != argc) {
        usage(stderr);
        return 2;
    }
    int bl = cli_base_len(base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code = 1;
    long status = 0;
    char url[2048];
    sl_buf_t body = SL_BUF_INIT;
    if (!resume) {
        snprintf(url, sizeof url, "%.*s/tables", bl, base);
        if (cli_http_request("shiftlog tables", url, 0, &body, &status))
            goto out;
        if (status != 200) {
            fprintf(stderr, "shiftlog tables: %s: HTTP %ld %s", url, status,
                    body.data ? body.data : "\n");
            goto out;
        }
        if (json)
            fputs(body.data, stdout);
        else if (!print_tables(body.data, stdout))
            printf("no stopped table\n");
        code = 0;
        goto out;
    }
    CURL *esc = curl_easy_init();
    char *q = esc ? curl_easy_escape(esc, resume, 0) : NULL;
    snprintf(url, sizeof url, "%.*s/tables/resume?table=%s", bl, base, q ? q : resume);
    curl_free(q);
    if (esc)
        curl_easy_cleanup(esc);
    if (cli_http_request("shiftlog tables", url, 1, &body, &status))
        goto out;
    if (status != 202) {
        char err[1200];
        fprintf(stderr, "shiftlog tables: cannot resume %s: %s (HTTP %ld)\n", resume,
                field(body.data ? body.data : "", "error", err, sizeof err), status);
        goto out;
    }
    if (json)
        fputs(body.data, stdout);
    else
        printf("%s: resuming (its records are read again from where it stopped)\n", resume);
    if (!wait) {
        code = 0;
        goto out;
    }
    snprintf(url, sizeof url, "%.*s/tables", bl, base);
    char needle[600];
    for (time_t t0 = time(NULL); time(NULL) - t0 <= timeout; usleep(300000)) {
        if (cli_http_request("shiftlog tables", url, 0, &body, &status) || status != 200)
            continue;                       /* restarting: try again */
        /* gone from the list: caught up (the applier writes db and table side by side) */
        int found = 0;
        const char *dot = strchr(resume, '.');
        if (dot) {
            snprintf(needle, sizeof needle, "\"db\":\"%.*s\",\"table\":\"%s\"",
                     (int)(dot - resume), resume, dot + 1);
            found = strstr(body.data, needle) != NULL;
        }
        if (!found) {
            if (!json)
                printf("%s: caught up\n", resume);
            code = 0;
            goto out;
        }
    }
    fprintf(stderr, "shiftlog tables: %s still catching up after %ld s\n", resume, timeout);
out:
    sl_buf_free(&body);
    curl_global_cleanup();
    return code;
}

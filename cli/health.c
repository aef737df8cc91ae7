/* shiftlog health: asks a service's endpoint whether it is alive (/health)
 * or ready (/ready), for scripts and container health checks:
 *   HEALTHCHECK CMD ["shiftlog", "health", "--ready", "http://127.0.0.1:9102"]
 * The meaning of both probes is in docs/operations.md. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sl_buf.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog health [--ready] [--quiet] URL\n"
        "\n"
        "Asks a shiftlog service (http.listen) whether it is alive (GET /health) or, with\n"
        "--ready, ready (GET /ready), and prints its JSON answer. URL is the endpoint, e.g.\n"
        "http://127.0.0.1:9102 (a URL ending in /health or /ready is used as it is).\n"
        "\n"
        "  --ready    readiness instead of liveness\n"
        "  --quiet    print nothing, only the exit status\n"
        "\n"
        "exit status: 0 alive (ready), 1 not (or unreachable), 2 usage\n");
}

/* The URL to ask: url as given when it names a path, else url + probe. */
static int probe_url(const char *url, const char *probe, char *out, size_t size)
{
    const char *scheme = strstr(url, "://");
    const char *path = strchr(scheme ? scheme + 3 : url, '/');
    int n;
    if (path && strcmp(path, "/") != 0)
        n = snprintf(out, size, "%s", url);
    else
        n = snprintf(out, size, "%s%.*s%s", scheme ? "" : "http://",
                     (int)(path ? path - url : (long)strlen(url)), url, probe);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int cli_health_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ready", no_argument, NULL, 'r'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ready = 0, quiet = 0, c;
    char url[2048];
    optind = 1;
    while ((c = getopt_long(argc, argv, "rqh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ready = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    if (probe_url(argv[optind], ready ? "/ready" : "/health", url, sizeof url)) {
        fprintf(stderr, "shiftlog health: URL too long\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sl_buf_t body = SL_BUF_INIT;
    long status = 0;
    int rc = 1;
    if (cli_http_request("shiftlog health", url, 0, &body, &status) == 0) {
        if (!quiet)
            printf("%s%s", body.data ? body.data : "",
                   body.len && body.data[body.len - 1] == '\n' ? "" : "\n");
        rc = status == 200 ? 0 : 1;
        if (rc && !quiet)
            fprintf(stderr, "shiftlog health: %s answered %ld\n", url, status);
    }
    sl_buf_free(&body);
    curl_global_cleanup();
    return rc;
}

/* shiftlog command: one HTTP request to a service's endpoint (libcurl), for
 * the subcommands that talk to a running service (tables, snapshot). */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    return sl_buf_append(ctx, p, size * n) == SL_OK ? size * n : 0;
}

/* The request itself: timeout_s in all; the cause of a failure in errstr. */
static int request(const char *url, int post, long timeout_s, sl_buf_t *out, long *status,
                   char *errstr, size_t errstr_size)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    sl_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "%s: %s", url, curl_easy_strerror(rc));
        curl_easy_cleanup(c);
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return 0;
}

int cli_http_request(const char *who, const char *url, int post, sl_buf_t *out, long *status)
{
    char errstr[1200];
    if (request(url, post, 10L, out, status, errstr, sizeof errstr) == 0)
        return 0;
    fprintf(stderr, "%s: %s\n", who, errstr);
    return -1;
}

int cli_http_request_quiet(const char *url, sl_buf_t *out, long *status, char *errstr,
                           size_t errstr_size)
{
    /* short: a stopped or hung service must not hold the whole status up */
    return request(url, 0, 3L, out, status, errstr, errstr_size);
}


int cli_base_len(const char *base)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    return n > 1024 ? 1024 : (int)n;
}

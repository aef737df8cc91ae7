/* shiftlog command: subcommand entry points (argv[0] is the subcommand). */
#ifndef SL_CLI_H
#define SL_CLI_H

#include "sl_buf.h"

int cli_cat_main(int argc, char **argv);

/* One request to url (POST with an empty body when post): the body in out,
 * the HTTP status in *status. -1: no answer (the cause printed on stderr,
 * prefixed by who). curl_global_init must have been called. */
int cli_http_request(const char *who, const char *url, int post, sl_buf_t *out, long *status);
/* A GET within 3 s that prints nothing: the cause of a failure in errstr. */
int cli_http_request_quiet(const char *url, sl_buf_t *out, long *status, char *errstr,
                           size_t errstr_size);
/* The length of a service's base URL without its trailing slashes (for "%.*s/path"). */
int cli_base_len(const char *base);

#endif

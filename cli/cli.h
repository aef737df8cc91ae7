/* shiftlog command: subcommand entry points (argv[0] is the subcommand). */
#ifndef SL_CLI_H
#define SL_CLI_H

#include "sl_buf.h"

int cli_cat_main(int argc, char **argv);

/* One request to url (POST with an empty body when post): the body in out,
 * the HTTP status in *status. -1: no answer (the cause printed on stderr,
 * prefixed by who). curl_global_init must have been called. */
int cli_http_request(const char *who, const char *url, int post, sl_buf_t *out, long *status);
/* The length of a service's base URL without its trailing slashes (for "%.*s/path"). */
int cli_base_len(const char *base);

#endif

/* shiftlog: process-wide libmongoc setup (see sl_mongoc.h). */
#include "sl_mongoc.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "sl_log.h"

static void mongoc_to_sl_log(mongoc_log_level_t level, const char *domain, const char *msg,
                             void *ud)
{
    (void)ud;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        sl_error("libmongoc %s: %s", domain, msg);
    else if (level <= MONGOC_LOG_LEVEL_WARNING)
        sl_warn("libmongoc %s: %s", domain, msg);
    else if (level <= MONGOC_LOG_LEVEL_INFO)
        sl_debug("libmongoc %s: %s", domain, msg);
    /* DEBUG and TRACE: only in a libmongoc built with tracing; dropped */
}

void sl_mongoc_setup(void)
{
    char name[32];
    snprintf(name, sizeof name, "/mongoc-%d", (int)getpid());   /* mongoc-counters.c's name */
    shm_unlink(name);
    mongoc_log_set_handler(mongoc_to_sl_log, NULL);
}

int sl_mongoc_denied(const bson_error_t *err)
{
    return err->code == 18 || err->code == 13 ||
           (err->domain == MONGOC_ERROR_CLIENT && err->code == MONGOC_ERROR_CLIENT_AUTHENTICATE);
}

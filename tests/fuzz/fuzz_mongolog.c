/* libFuzzer harness: the shared-log document reader of the applier
 * (applier/source_mongolog.c with common/sl_bson.c: change, commit, schema
 * and gap documents -> records), fed through a local reader
 * (app_logsrc_open_local) instead of a MongoDB window.
 *
 * Input layout: BSON documents back to back, each with its own int32
 * length (bson_init_static on the input; the first that is not a document
 * ends the list). Every record read must round-trip through Avro
 * (fuzz_common.h): it is what the applier hands to its targets. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../applier/applier.h"

static sl_avro_codec_t *codec;
static sl_record_t *rec, *scratch;
static app_mapping_t *mapping;
static app_conf_t conf = {
    .source_name = "fz", .tables = "*", .tables_exclude = "skip.*", .log_window = 1000,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (sl_avro_codec_new(&codec, err, sizeof(err)) != SL_OK)
        fuzz_die("fuzz_mongolog", "codec", err);
    if (app_mapping_new(&mapping, &conf, err, sizeof(err)) != SL_OK)
        fuzz_die("fuzz_mongolog", "mapping", err);
    rec = sl_record_new();
    scratch = sl_record_new();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    app_logsrc_t *s = NULL;
    char err[1024];
    if (app_logsrc_open_local(&s, &conf, mapping) != SL_OK)
        fuzz_die("fuzz_mongolog", "open", NULL);
    size_t off = 0;
    while (size - off >= 5) {
        uint32_t len = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 |
                       (uint32_t)data[off + 2] << 16 | (uint32_t)data[off + 3] << 24;
        bson_t doc;
        if (len > size - off || !bson_init_static(&doc, data + off, len))
            break;
        if (app_logsrc_push(s, &doc) != SL_OK)
            fuzz_die("fuzz_mongolog", "push", NULL);
        off += len;
    }
    for (;;) {
        app_msg_t m;
        if (app_logsrc_next(s, rec, &m, err, sizeof(err)) != SL_OK)
            break;                      /* caught up, or a fatal document */
        fuzz_check_record("fuzz_mongolog", codec, rec, scratch);
    }
    app_logsrc_close(s);
    return 0;
}

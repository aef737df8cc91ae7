/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): what every
 * decoded record must also survive — the Avro writer every producer uses,
 * the reader every consumer uses (an equal record back) and the JSON form
 * of `shiftlog cat`. A failed check prints why and aborts: libFuzzer then
 * saves the input as a crash. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_record.h"

static inline void fuzz_die(const char *harness, const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s%s%s\n", harness, what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* Encodes rec, decodes the bytes into scratch and compares. */
static inline void fuzz_check_record(const char *harness, sl_avro_codec_t *codec,
                                     const sl_record_t *rec, sl_record_t *scratch)
{
    char err[512];
    const void *buf;
    size_t len;
    if (sl_avro_encode(codec, rec, &buf, &len, err, sizeof(err)) != SL_OK)
        fuzz_die(harness, "a decoded record does not encode", err);
    sl_record_reset(scratch);
    if (sl_avro_decode(codec, buf, len, scratch, err, sizeof(err)) != SL_OK)
        fuzz_die(harness, "the encoding of a decoded record does not decode", err);
    if (!sl_record_equal(rec, scratch))
        fuzz_die(harness, "a decoded record does not survive Avro encode + decode", NULL);
    sl_buf_t js = SL_BUF_INIT;
    sl_record_to_json(rec, &js);
    sl_buf_free(&js);
}

#endif

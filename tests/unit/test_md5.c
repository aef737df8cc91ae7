/* Unit tests of common/sl_md5.c: the RFC 1321 test suite, and the same
 * digest whatever the pieces the bytes are fed in (shiftlog validate feeds a
 * row column by column and must get the server's md5() of the whole). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sl_md5.h"

static void hex_of(const char *s, size_t n, size_t piece, char out[33])
{
    sl_md5_t m;
    uint8_t d[16];
    sl_md5_init(&m);
    for (size_t i = 0; i < n; i += piece)
        sl_md5_update(&m, s + i, n - i < piece ? n - i : piece);
    sl_md5_final(&m, d);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_rfc1321(void **state)
{
    (void)state;
    static const char *const v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    char out[33];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hex_of(v[i][0], strlen(v[i][0]), 1000, out);
        assert_string_equal(out, v[i][1]);
    }
}

static void test_pieces(void **state)
{
    (void)state;
    char text[300], whole[33], part[33];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof text; n += 13) {
        hex_of(text, n, sizeof text, whole);
        for (size_t piece = 1; piece < 70; piece += 5) {
            hex_of(text, n, piece, part);
            assert_string_equal(part, whole);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1321),
        cmocka_unit_test(test_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

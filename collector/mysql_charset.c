/* shiftlog collector: MariaDB/MySQL character sets as the binlog names them
 * (collation ids), latin1 -> UTF-8, and the text forms of MariaDB's INET6
 * and UUID.
 *
 * The collation table is MariaDB 10.11's information_schema.COLLATIONS;
 * the UCA 14.0.0 collations (ids 2048..3327) are blocks of 256 per charset. */
#include "mysql_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Charset names, sorted; index used by coll_ids[] below. */
static const struct { const char *name; uint8_t mbmaxlen; } cs_names[] = {
    {"armscii8", 1}, {"ascii", 1}, {"big5", 2}, {"binary", 1}, {"cp1250", 1}, {"cp1251", 1},
    {"cp1256", 1}, {"cp1257", 1}, {"cp850", 1}, {"cp852", 1}, {"cp866", 1}, {"cp932", 2},
    {"dec8", 1}, {"eucjpms", 3}, {"euckr", 2}, {"gb2312", 2}, {"gbk", 2}, {"geostd8", 1},
    {"greek", 1}, {"hebrew", 1}, {"hp8", 1}, {"keybcs2", 1}, {"koi8r", 1}, {"koi8u", 1},
    {"latin1", 1}, {"latin2", 1}, {"latin5", 1}, {"latin7", 1}, {"macce", 1}, {"macroman", 1},
    {"sjis", 2}, {"swe7", 1}, {"tis620", 1}, {"ucs2", 2}, {"ujis", 3}, {"utf16", 4},
    {"utf16le", 4}, {"utf32", 4}, {"utf8mb3", 3}, {"utf8mb4", 4},
};
/* MariaDB 10.11 collation id -> cs_names index (information_schema.COLLATIONS). */
static const uint16_t coll_ids[][2] = {
    {1,2}, {2,25}, {3,12}, {4,8}, {5,24}, {6,20}, {7,22}, {8,24}, {9,25}, {10,31}, {11,1},
    {12,34}, {13,30}, {14,5}, {15,24}, {16,19}, {18,32}, {19,14}, {20,27}, {21,25}, {22,23},
    {23,5}, {24,15}, {25,18}, {26,4}, {27,25}, {28,16}, {29,7}, {30,26}, {31,24}, {32,0},
    {33,38}, {34,4}, {35,33}, {36,10}, {37,21}, {38,28}, {39,29}, {40,9}, {41,27}, {42,27},
    {43,28}, {44,4}, {45,39}, {46,39}, {47,24}, {48,24}, {49,24}, {50,5}, {51,5}, {52,5},
    {53,29}, {54,35}, {55,35}, {56,36}, {57,6}, {58,7}, {59,7}, {60,37}, {61,37}, {62,36},
    {63,3}, {64,0}, {65,1}, {66,4}, {67,6}, {68,10}, {69,12}, {70,18}, {71,19}, {72,20},
    {73,21}, {74,22}, {75,23}, {77,25}, {78,26}, {79,27}, {80,8}, {81,9}, {82,31}, {83,38},
    {84,2}, {85,14}, {86,15}, {87,16}, {88,30}, {89,32}, {90,33}, {91,34}, {92,17}, {93,17},
    {94,24}, {95,11}, {96,11}, {97,13}, {98,13}, {99,4}, {101,35}, {102,35}, {103,35}, {104,35},
    {105,35}, {106,35}, {107,35}, {108,35}, {109,35}, {110,35}, {111,35}, {112,35}, {113,35},
    {114,35}, {115,35}, {116,35}, {117,35}, {118,35}, {119,35}, {120,35}, {121,35}, {122,35},
    {123,35}, {124,35}, {128,33}, {129,33}, {130,33}, {131,33}, {132,33}, {133,33}, {134,33},
    {135,33}, {136,33}, {137,33}, {138,33}, {139,33}, {140,33}, {141,33}, {142,33}, {143,33},
    {144,33}, {145,33}, {146,33}, {147,33}, {148,33}, {149,33}, {150,33}, {151,33}, {159,33},
    {160,37}, {161,37}, {162,37}, {163,37}, {164,37}, {165,37}, {166,37}, {167,37}, {168,37},
    {169,37}, {170,37}, {171,37}, {172,37}, {173,37}, {174,37}, {175,37}, {176,37}, {177,37},
    {178,37}, {179,37}, {180,37}, {181,37}, {182,37}, {183,37}, {192,38}, {193,38}, {194,38},
    {195,38}, {196,38}, {197,38}, {198,38}, {199,38}, {200,38}, {201,38}, {202,38}, {203,38},
    {204,38}, {205,38}, {206,38}, {207,38}, {208,38}, {209,38}, {210,38}, {211,38}, {212,38},
    {213,38}, {214,38}, {215,38}, {223,38}, {224,39}, {225,39}, {226,39}, {227,39}, {228,39},
    {229,39}, {230,39}, {231,39}, {232,39}, {233,39}, {234,39}, {235,39}, {236,39}, {237,39},
    {238,39}, {239,39}, {240,39}, {241,39}, {242,39}, {243,39}, {244,39}, {245,39}, {246,39},
    {247,39}, {576,38}, {577,38}, {578,38}, {608,39}, {609,39}, {610,39}, {640,33}, {641,33},
    {642,33}, {672,35}, {673,35}, {674,35}, {736,37}, {737,37}, {738,37}, {1025,2}, {1027,12},
    {1028,8}, {1030,20}, {1031,22}, {1032,24}, {1033,25}, {1034,31}, {1035,1}, {1036,34},
    {1037,30}, {1040,19}, {1042,32}, {1043,14}, {1046,23}, {1048,15}, {1049,18}, {1050,4},
    {1052,16}, {1054,26}, {1056,0}, {1057,38}, {1059,33}, {1060,10}, {1061,21}, {1062,28},
    {1063,29}, {1064,9}, {1065,27}, {1067,28}, {1069,39}, {1070,39}, {1071,24}, {1074,5},
    {1075,5}, {1077,29}, {1078,35}, {1079,35}, {1080,36}, {1081,6}, {1082,7}, {1083,7},
    {1084,37}, {1085,37}, {1086,36}, {1088,0}, {1089,1}, {1090,4}, {1091,6}, {1092,10},
    {1093,12}, {1094,18}, {1095,19}, {1096,20}, {1097,21}, {1098,22}, {1099,23}, {1101,25},
    {1102,26}, {1103,27}, {1104,8}, {1105,9}, {1106,31}, {1107,38}, {1108,2}, {1109,14},
    {1110,15}, {1111,16}, {1112,30}, {1113,32}, {1114,33}, {1115,34}, {1116,17}, {1117,17},
    {1119,11}, {1120,11}, {1121,13}, {1122,13}, {1125,35}, {1147,35}, {1152,33}, {1174,33},
    {1184,37}, {1206,37}, {1216,38}, {1238,38}, {1248,39}, {1270,39},
};

static int find_cs(uint32_t collation)
{
    size_t lo = 0, hi = sizeof(coll_ids) / sizeof(coll_ids[0]);
    if (collation >= 2048 && collation < 3328) {
        static const char *const uca[] = {"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"};
        const char *want = uca[(collation - 2048) / 256];
        for (size_t i = 0; i < sizeof(cs_names) / sizeof(cs_names[0]); i++)
            if (strcmp(cs_names[i].name, want) == 0)
                return (int)i;
        return -1;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (coll_ids[mid][0] == collation)
            return coll_ids[mid][1];
        if (coll_ids[mid][0] < collation)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *col_mysql_charset_name(uint32_t collation, int *mbmaxlen)
{
    int i = find_cs(collation);
    if (mbmaxlen)
        *mbmaxlen = i < 0 ? 1 : cs_names[i].mbmaxlen;
    return i < 0 ? NULL : cs_names[i].name;
}

sl_val_kind_t col_mysql_charset_kind(uint32_t collation)
{
    const char *cs = col_mysql_charset_name(collation, NULL);
    if (cs && (strcmp(cs, "utf8mb4") == 0 || strcmp(cs, "utf8mb3") == 0 ||
               strcmp(cs, "ascii") == 0 || strcmp(cs, "latin1") == 0))
        return SL_VAL_STRING;
    return SL_VAL_BYTES;  /* binary, unknown, or a charset we do not convert */
}

/* MariaDB's latin1 is cp1252 with 0x81, 0x8D, 0x8F, 0x90, 0x9D mapped to
 * the C1 controls (measured: CONVERT(... USING utf32) on 10.11). */
static const uint16_t latin1_80_9f[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178
};

size_t col_mysql_latin1_to_utf8(const uint8_t *in, size_t len, char *out)
{
    unsigned char *o = (unsigned char *)out;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = in[i];
        if (cp < 0x80) {
            *o++ = (unsigned char)cp;
            continue;
        }
        if (cp < 0xA0)
            cp = latin1_80_9f[cp - 0x80];
        if (cp < 0x800) {
            *o++ = (unsigned char)(0xC0 | cp >> 6);
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (unsigned char)(0xE0 | cp >> 12);
            *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        }
    }
    return (size_t)(o - (unsigned char *)out);
}

/* INET6 as MariaDB prints it (plugin/type_inet): the longest run of zero
 * groups (even a single one; the first of equal runs) becomes "::"; an
 * address whose first 5 groups are zero and 6th is 0 or ffff ends in
 * dotted IPv4 (IPv4-compatible / IPv4-mapped). */
size_t col_mysql_inet6_text(const uint8_t b[16], char *out)
{
    unsigned w[8];
    int gap_pos = -1, gap_len = 0, run_pos = -1, run_len = 0;
    char *p = out;
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    for (int i = 0; i < 8; i++) {
        if (w[i] == 0) {
            if (run_pos < 0) {
                run_pos = i;
                run_len = 0;
            }
            run_len++;
        } else if (run_pos >= 0) {
            if (run_len > gap_len) {
                gap_pos = run_pos;
                gap_len = run_len;
            }
            run_pos = -1;
        }
    }
    if (run_pos >= 0 && run_len > gap_len) {
        gap_pos = run_pos;
        gap_len = run_len;
    }
    for (int i = 0; i < 8; i++) {
        if (i == gap_pos) {
            if (i == 0)
                *p++ = ':';
            *p++ = ':';
            i += gap_len - 1;
        } else if (i == 6 && gap_pos == 0 &&
                   (gap_len == 6 || (gap_len == 5 && w[5] == 0xffff))) {
            p += sprintf(p, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
            break;
        } else {
            p += sprintf(p, "%x", w[i]);
            if (i < 7)
                *p++ = ':';
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* UUID: MariaDB writes the in-memory (text order) bytes to the binlog,
 * whatever its in-record order (sql_type_uuid.h: pack()). */
size_t col_mysql_uuid_text(const uint8_t b[16], char *out)
{
    static const char hx[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hx[b[i] >> 4];
        *p++ = hx[b[i] & 15];
    }
    *p = '\0';
    return 36;
}

/* shiftlog: MD5 (RFC 1321), for checksums that must equal a database's own
 * md5() of the same bytes (shiftlog validate hashes MongoDB documents on the
 * client the way MariaDB and PostgreSQL hash rows on the server). Not for
 * security. */
#ifndef SL_MD5_H
#define SL_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_md5_s {
    uint32_t h[4];
    uint64_t len;        /* bytes hashed so far */
    uint8_t  buf[64];
} sl_md5_t;

void sl_md5_init(sl_md5_t *m);
void sl_md5_update(sl_md5_t *m, const void *p, size_t n);
void sl_md5_final(sl_md5_t *m, uint8_t out[16]);

#endif

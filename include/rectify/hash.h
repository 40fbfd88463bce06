/* hash.h - SHA-256 and HMAC-SHA256 through OpenSSL's EVP interface. */
#ifndef RECTIFY_HASH_H
#define RECTIFY_HASH_H

#include <stddef.h>

#define RF_SHA256_LEN 32

/* out receives 32 bytes. Returns 0 or RF_EINTERNAL. */
int rf_sha256(const void *data, size_t len, unsigned char out[RF_SHA256_LEN]);
/* SHA-256 over the concatenation of n parts. */
int rf_sha256_parts(const void *const *parts, const size_t *lens, size_t n,
                    unsigned char out[RF_SHA256_LEN]);
/* HMAC-SHA256(key, concatenation of n parts). */
int rf_hmac_sha256_parts(const unsigned char *key, size_t keylen, const void *const *parts,
                         const size_t *lens, size_t n, unsigned char out[RF_SHA256_LEN]);
/* Writes 2*n lowercase hex digits and a NUL into out (size >= 2*n+1). */
void rf_hex_encode(const unsigned char *in, size_t n, char *out);
/* Parses exactly 2*n hex digits; returns 0 or RF_EINVAL. */
int rf_hex_decode(const char *hex, unsigned char *out, size_t n);

#endif

/* merkle.h - RFC 6962 Merkle trees over SHA-256 (the audit chain's batches).
 *
 *   leaf hash  = SHA-256(0x00 || data)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH(D[n])  = MTH(D[0:k]) node MTH(D[k:n]), k the largest power of two < n
 *   MTH({})    = SHA-256("")
 *
 * Every function works on leaf HASHES (32 bytes each), already computed with
 * rf_merkle_leaf(). The streaming builder needs O(log n) memory so that the
 * verifier can compute a root while rows stream past.
 * No function allocates except rf_merkle_path's caller-provided output.
 */
#ifndef RECTIFY_MERKLE_H
#define RECTIFY_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "rectify/hash.h"

/* Deepest tree supported: 2^63 leaves. */
#define RF_MERKLE_MAX_DEPTH 64

/* leaf = SHA-256(0x00 || data[0..len)). Returns 0 or RF_EINTERNAL. */
int rf_merkle_leaf(const void *data, size_t len, unsigned char leaf[RF_SHA256_LEN]);
/* node = SHA-256(0x01 || left || right). Returns 0 or RF_EINTERNAL. */
int rf_merkle_node(const unsigned char left[RF_SHA256_LEN], const unsigned char right[RF_SHA256_LEN],
                   unsigned char node[RF_SHA256_LEN]);

/* Root of n leaf hashes (leaves is n*32 bytes). n == 0 gives SHA-256(""). */
int rf_merkle_root(const unsigned char *leaves, size_t n, unsigned char root[RF_SHA256_LEN]);

/* Audit path of leaf `index` in a tree of n leaves, RFC 6962 section 2.1.1
 * order (bottom-up). path must hold RF_MERKLE_MAX_DEPTH hashes
 * (RF_MERKLE_MAX_DEPTH*32 bytes); *path_len receives the number written.
 * Returns 0, RF_EINVAL when index >= n, or RF_EINTERNAL. */
int rf_merkle_path(const unsigned char *leaves, size_t n, size_t index, unsigned char *path,
                   size_t *path_len);

/* Checks that `leaf` at `index` in a tree of n leaves with the given audit path
 * hashes to `root` (RFC 9162 section 2.1.3.2). Returns 0 when it does,
 * RF_ECORRUPT when it does not, RF_EINVAL for an impossible index/length. */
int rf_merkle_verify_path(const unsigned char leaf[RF_SHA256_LEN], size_t index, size_t n,
                          const unsigned char *path, size_t path_len,
                          const unsigned char root[RF_SHA256_LEN]);

/* Streaming root: push leaf hashes in order, then finish. Plain struct, no
 * allocation; rf_merkle_stream_init() resets it. */
typedef struct rf_merkle_stream {
  unsigned char stack[RF_MERKLE_MAX_DEPTH][RF_SHA256_LEN];
  uint8_t height[RF_MERKLE_MAX_DEPTH]; /* subtree i holds 2^height[i] leaves */
  size_t depth;                        /* entries on the stack */
  uint64_t count;                      /* leaves pushed */
  int err;                             /* sticky error (RF_EINTERNAL) */
} rf_merkle_stream_t;

void rf_merkle_stream_init(rf_merkle_stream_t *s);
void rf_merkle_stream_push(rf_merkle_stream_t *s, const unsigned char leaf[RF_SHA256_LEN]);
/* The root of everything pushed so far (the stream may continue). 0 or RF_EINTERNAL. */
int rf_merkle_stream_root(const rf_merkle_stream_t *s, unsigned char root[RF_SHA256_LEN]);

#endif

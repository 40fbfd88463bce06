/* merkle.c - RFC 6962 Merkle tree hashing for the audit chain.
 *
 * Why RFC 6962 rather than something home-made: its domain separation (0x00
 * for leaves, 0x01 for nodes) makes a leaf impossible to pass off as a node,
 * its shape is fixed by n alone (split at the largest power of two below n),
 * and its inclusion proofs are a standard any auditor can check with another
 * tool. The root is computed with a stack of perfect subtrees (a binary
 * counter), so memory is O(log n) however large the batch.
 */
#include "rectify/merkle.h"

#include <string.h>

#include "rectify/error.h"

int rf_merkle_leaf(const void *data, size_t len, unsigned char leaf[RF_SHA256_LEN]) {
  static const unsigned char zero = 0x00;
  const void *parts[2] = {&zero, data};
  size_t lens[2] = {1, len};
  return rf_sha256_parts(parts, lens, 2, leaf);
}

int rf_merkle_node(const unsigned char left[RF_SHA256_LEN], const unsigned char right[RF_SHA256_LEN],
                   unsigned char node[RF_SHA256_LEN]) {
  static const unsigned char one = 0x01;
  unsigned char l[RF_SHA256_LEN], r[RF_SHA256_LEN];
  /* Copies so that node may alias left or right. */
  memcpy(l, left, RF_SHA256_LEN);
  memcpy(r, right, RF_SHA256_LEN);
  const void *parts[3] = {&one, l, r};
  size_t lens[3] = {1, RF_SHA256_LEN, RF_SHA256_LEN};
  return rf_sha256_parts(parts, lens, 3, node);
}

void rf_merkle_stream_init(rf_merkle_stream_t *s) { memset(s, 0, sizeof(*s)); }

void rf_merkle_stream_push(rf_merkle_stream_t *s, const unsigned char leaf[RF_SHA256_LEN]) {
  if (s->err)
    return;
  if (s->depth == RF_MERKLE_MAX_DEPTH) {
    s->err = RF_ERANGE;
    return;
  }
  memcpy(s->stack[s->depth], leaf, RF_SHA256_LEN);
  s->height[s->depth] = 0;
  s->depth++;
  s->count++;
  /* Merge equal-height neighbours: the stack always holds the binary
   * decomposition of count, largest subtree first. */
  while (s->depth >= 2 && s->height[s->depth - 1] == s->height[s->depth - 2]) {
    int rc = rf_merkle_node(s->stack[s->depth - 2], s->stack[s->depth - 1], s->stack[s->depth - 2]);
    if (rc) {
      s->err = rc;
      return;
    }
    s->height[s->depth - 2]++;
    s->depth--;
  }
}

int rf_merkle_stream_root(const rf_merkle_stream_t *s, unsigned char root[RF_SHA256_LEN]) {
  if (s->err)
    return s->err;
  if (s->depth == 0)
    return rf_sha256("", 0, root);
  /* MTH(n) = node(largest perfect subtree, MTH(rest)): fold right to left. */
  unsigned char acc[RF_SHA256_LEN];
  memcpy(acc, s->stack[s->depth - 1], RF_SHA256_LEN);
  for (size_t i = s->depth - 1; i-- > 0;) {
    int rc = rf_merkle_node(s->stack[i], acc, acc);
    if (rc)
      return rc;
  }
  memcpy(root, acc, RF_SHA256_LEN);
  return 0;
}

int rf_merkle_root(const unsigned char *leaves, size_t n, unsigned char root[RF_SHA256_LEN]) {
  rf_merkle_stream_t s;
  rf_merkle_stream_init(&s);
  for (size_t i = 0; i < n; i++)
    rf_merkle_stream_push(&s, leaves + i * RF_SHA256_LEN);
  return rf_merkle_stream_root(&s, root);
}

/* Largest power of two strictly below n (n >= 2). */
static size_t split_point(size_t n) {
  size_t k = 1;
  while (k << 1 < n)
    k <<= 1;
  return k;
}

static int path_rec(const unsigned char *leaves, size_t n, size_t m, unsigned char *path,
                    size_t *len) {
  if (n <= 1)
    return 0;
  size_t k = split_point(n);
  unsigned char sibling[RF_SHA256_LEN];
  int rc;
  if (m < k) {
    rc = path_rec(leaves, k, m, path, len);
    if (rc == 0)
      rc = rf_merkle_root(leaves + k * RF_SHA256_LEN, n - k, sibling);
  } else {
    rc = path_rec(leaves + k * RF_SHA256_LEN, n - k, m - k, path, len);
    if (rc == 0)
      rc = rf_merkle_root(leaves, k, sibling);
  }
  if (rc)
    return rc;
  memcpy(path + *len * RF_SHA256_LEN, sibling, RF_SHA256_LEN);
  (*len)++;
  return 0;
}

int rf_merkle_path(const unsigned char *leaves, size_t n, size_t index, unsigned char *path,
                   size_t *path_len) {
  *path_len = 0;
  if (index >= n)
    return RF_EINVAL;
  return path_rec(leaves, n, index, path, path_len);
}

int rf_merkle_verify_path(const unsigned char leaf[RF_SHA256_LEN], size_t index, size_t n,
                          const unsigned char *path, size_t path_len,
                          const unsigned char root[RF_SHA256_LEN]) {
  if (index >= n)
    return RF_EINVAL;
  uint64_t fn = index, sn = n - 1;
  unsigned char r[RF_SHA256_LEN];
  memcpy(r, leaf, RF_SHA256_LEN);
  for (size_t i = 0; i < path_len; i++) {
    const unsigned char *p = path + i * RF_SHA256_LEN;
    if (sn == 0)
      return RF_ECORRUPT; /* path longer than the tree is deep */
    int rc;
    if ((fn & 1) || fn == sn) {
      rc = rf_merkle_node(p, r, r);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      rc = rf_merkle_node(r, p, r);
    }
    if (rc)
      return rc;
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0 || memcmp(r, root, RF_SHA256_LEN) != 0)
    return RF_ECORRUPT;
  return 0;
}

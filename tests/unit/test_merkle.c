/* test_merkle.c - RFC 6962 roots and audit paths against independent vectors,
 * the streaming root against a recursive reference, and path verification
 * rejecting every kind of wrong input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rectify/error.h"
#include "rectify/hash.h"
#include "rectify/merkle.h"

#define MAXV 16

static unsigned char leaf_data[MAXV][64];
static size_t leaf_len[MAXV], n_leaves;

static void hex_to(const char *hex, unsigned char *out, size_t n) {
  assert_int_equal(rf_hex_decode(hex, out, n), 0);
}

static void load_leaves(void) {
  FILE *f = fopen(RF_TEST_DATA "/audit/merkle_vectors.txt", "r");
  assert_non_null(f);
  char line[4096];
  n_leaves = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "leaf ", 5) != 0)
      continue;
    const char *h = line + 5;
    leaf_len[n_leaves] = strcmp(h, "-") == 0 ? 0 : strlen(h) / 2;
    if (leaf_len[n_leaves])
      hex_to(h, leaf_data[n_leaves], leaf_len[n_leaves]);
    n_leaves++;
  }
  fclose(f);
}

static void leaf_hashes(unsigned char *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(rf_merkle_leaf(leaf_data[i], leaf_len[i], out + i * 32), 0);
}

static void test_vectors(void **state) {
  (void)state;
  load_leaves();
  assert_int_equal(n_leaves, 8);
  unsigned char leaves[8 * 32];
  leaf_hashes(leaves, 8);
  FILE *f = fopen(RF_TEST_DATA "/audit/merkle_vectors.txt", "r");
  assert_non_null(f);
  char line[4096];
  int roots = 0, paths = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    unsigned n, idx;
    char hex[4000];
    if (sscanf(line, "root %u %64s", &n, hex) == 2) {
      unsigned char want[32], got[32];
      hex_to(hex, want, 32);
      assert_int_equal(rf_merkle_root(leaves, n, got), 0);
      assert_memory_equal(got, want, 32);
      roots++;
    } else if (sscanf(line, "path %u %u %3999s", &n, &idx, hex) == 3) {
      unsigned char want[RF_MERKLE_MAX_DEPTH * 32], got[RF_MERKLE_MAX_DEPTH * 32], root[32];
      size_t wl = 0, gl = 0;
      for (char *save = NULL, *t = strtok_r(hex, ",", &save); t && strcmp(t, "-") != 0;
           t = strtok_r(NULL, ",", &save))
        hex_to(t, want + 32 * wl++, 32);
      assert_int_equal(rf_merkle_path(leaves, n, idx, got, &gl), 0);
      assert_int_equal(gl, wl);
      if (wl)
        assert_memory_equal(got, want, 32 * wl);
      assert_int_equal(rf_merkle_root(leaves, n, root), 0);
      assert_int_equal(rf_merkle_verify_path(leaves + 32 * idx, idx, n, got, gl, root), 0);
      paths++;
    }
  }
  fclose(f);
  assert_int_equal(roots, 9);
  assert_int_equal(paths, 36);
}

/* The definition, recursively, as the reference for the streaming builder. */
static void mth_ref(const unsigned char *leaves, size_t n, unsigned char out[32]) {
  if (n == 0) {
    rf_sha256("", 0, out);
    return;
  }
  if (n == 1) {
    memcpy(out, leaves, 32);
    return;
  }
  size_t k = 1;
  while (k * 2 < n)
    k *= 2;
  unsigned char l[32], r[32];
  mth_ref(leaves, k, l);
  mth_ref(leaves + 32 * k, n - k, r);
  rf_merkle_node(l, r, out);
}

static void test_stream_matches_definition(void **state) {
  (void)state;
  enum { N = 300 };
  unsigned char *leaves = malloc(N * 32);
  for (size_t i = 0; i < N; i++) {
    uint32_t v = (uint32_t)i * 2654435761u;
    rf_merkle_leaf(&v, sizeof(v), leaves + 32 * i);
  }
  rf_merkle_stream_t s;
  rf_merkle_stream_init(&s);
  for (size_t n = 0; n <= N; n++) {
    unsigned char a[32], b[32];
    mth_ref(leaves, n, a);
    assert_int_equal(rf_merkle_stream_root(&s, b), 0); /* root of the first n so far */
    assert_memory_equal(a, b, 32);
    if (n < N)
      rf_merkle_stream_push(&s, leaves + 32 * n);
  }
  free(leaves);
}

static void test_paths_all_sizes(void **state) {
  (void)state;
  enum { N = 70 };
  unsigned char leaves[N * 32], path[RF_MERKLE_MAX_DEPTH * 32], root[32];
  for (size_t i = 0; i < N; i++)
    rf_merkle_leaf(&i, sizeof(i), leaves + 32 * i);
  for (size_t n = 1; n <= N; n++) {
    assert_int_equal(rf_merkle_root(leaves, n, root), 0);
    for (size_t i = 0; i < n; i++) {
      size_t len = 0;
      assert_int_equal(rf_merkle_path(leaves, n, i, path, &len), 0);
      assert_int_equal(rf_merkle_verify_path(leaves + 32 * i, i, n, path, len, root), 0);
      /* Wrong leaf, wrong index, wrong size, damaged or truncated path: all refused. */
      assert_int_equal(rf_merkle_verify_path(leaves + 32 * ((i + 1) % n), i, n, path, len, root),
                       n == 1 ? 0 : RF_ECORRUPT);
      if (n > 1) {
        assert_int_not_equal(rf_merkle_verify_path(leaves + 32 * i, (i + 1) % n, n, path, len, root), 0);
        path[0] ^= 1;
        assert_int_equal(rf_merkle_verify_path(leaves + 32 * i, i, n, path, len, root), RF_ECORRUPT);
        path[0] ^= 1;
        assert_int_not_equal(rf_merkle_verify_path(leaves + 32 * i, i, n, path, len - 1, root), 0);
      }
    }
  }
  size_t len;
  assert_int_equal(rf_merkle_path(leaves, 3, 3, path, &len), RF_EINVAL);
  assert_int_equal(rf_merkle_verify_path(leaves, 3, 3, path, 0, root), RF_EINVAL);
}

static void test_domain_separation(void **state) {
  (void)state;
  /* A node must never equal the leaf hash of its children's concatenation. */
  unsigned char a[32], b[32], node[32], cat[64], leaf[32];
  rf_merkle_leaf("a", 1, a);
  rf_merkle_leaf("b", 1, b);
  rf_merkle_node(a, b, node);
  memcpy(cat, a, 32);
  memcpy(cat + 32, b, 32);
  rf_merkle_leaf(cat, 64, leaf);
  assert_memory_not_equal(node, leaf, 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_stream_matches_definition),
      cmocka_unit_test(test_paths_all_sizes),
      cmocka_unit_test(test_domain_separation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

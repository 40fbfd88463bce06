/* test_cluster_config.c - the clustering keys of rectify.conf: the default
 * chain, a per-column override, and every bad spec refused with FILE:LINE
 * (rf_cluster_chain_parse's reason in the message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/cluster.h"
#include "rectify/config.h"

static char *write_tmp(const char *content) {
  static char path[64];
  snprintf(path, sizeof(path), "/tmp/rf-test-ccfg-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  return path;
}

static rf_config_t *load_ok(const char *content) {
  char err[512];
  char *path = write_tmp(content);
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg == NULL)
    fail_msg("refused: %s\n%s", err, content);
  return cfg;
}

static void expect_error(const char *content, int line, const char *needle) {
  char err[512];
  char *path = write_tmp(content);
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg != NULL)
    fail_msg("accepted:\n%s", content);
  char want[600];
  snprintf(want, sizeof(want), "%s:%d: ", path, line);
  if (strncmp(err, want, strlen(want)) != 0 || strstr(err, needle) == NULL)
    fail_msg("got \"%s\", want \"%s...%s\"", err, want, needle);
}

static void test_default_chain(void **state) {
  (void)state;
  char err[256];
  rf_config_t *cfg = rf_config_defaults(err, sizeof(err));
  assert_non_null(cfg);
  assert_string_equal(cfg->cluster_chain, RF_CLUSTER_CHAIN_DEFAULT);
  rf_cluster_chain_t chain;
  assert_int_equal(rf_cluster_chain_parse(cfg->cluster_chain, 0.9, &chain, err, sizeof(err)), 0);
  assert_int_equal(chain.n, 3);
  rf_config_free(cfg);
}

static void test_global_and_column(void **state) {
  (void)state;
  rf_config_t *cfg = load_ok("[pipeline]\ncluster = shape , ngram:3\n"
                             "[column \"t.a\"]\ntype = string\ncluster = fingerprint\n"
                             "[column \"t.b\"]\ntype = string\n");
  assert_string_equal(cfg->cluster_chain, "shape , ngram:3");
  const rf_contract_t *a = rf_config_contract(cfg, "t", "a");
  const rf_contract_t *b = rf_config_contract(cfg, "t", "b");
  assert_string_equal(a->cluster, "fingerprint");
  assert_null(b->cluster);
  rf_config_free(cfg);
}

static void test_embed_stage(void **state) {
  (void)state;
  rf_config_t *cfg = load_ok("[pipeline]\ncluster = shape,embed:0.8\nembed_threshold = 0.7\n"
                             "embed_model = nomic-embed-text\n");
  assert_string_equal(cfg->cluster_chain, "shape,embed:0.8");
  assert_true(cfg->embed_threshold > 0.69 && cfg->embed_threshold < 0.71);
  assert_string_equal(cfg->embed_model, "nomic-embed-text");
  rf_config_free(cfg);
  cfg = load_ok("[pipeline]\n");
  assert_string_equal(cfg->embed_model, "all-minilm");
  assert_true(cfg->embed_threshold > 0.89 && cfg->embed_threshold < 0.91);
  rf_config_free(cfg);
}

static void test_bad_specs(void **state) {
  (void)state;
  expect_error("[pipeline]\n\ncluster = shape,soundex\n", 3, "cluster: ");
  expect_error("[pipeline]\ncluster = shape,ngram:9\n", 2, "cluster: ");
  expect_error("[pipeline]\ncluster =\n", 2, "cluster: ");
  expect_error("[pipeline]\ncluster = shape,embed:0.8,ngram\n", 2, "must be the last stage");
  expect_error("[pipeline]\ncluster = shape,embed:1.5\n", 2, "embed threshold");
  expect_error("[column \"t.c\"]\ntype = string\ncluster = shape,,ngram\n", 3, "cluster: ");
  expect_error("[column \"t.c\"]\ntype = string\ncluster = embed\n", 3, "embed");
  expect_error("[pipeline]\ncluster = shape\ncluster = fingerprint\n", 3, "duplicate key");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_chain),
      cmocka_unit_test(test_global_and_column),
      cmocka_unit_test(test_bad_specs),
      cmocka_unit_test(test_embed_stage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_config.c - the documented file loads, documentation matches the key
 * table, and every kind of mistake names its file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/config.h"
#include "rectify/log.h"

static char *write_tmp(const char *content) {
  static char path[64];
  snprintf(path, sizeof(path), "/tmp/rf-test-config-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  close(fd);
  return path;
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

static void test_documented_file_loads(void **state) {
  (void)state;
  char err[512];
  rf_config_t *cfg = rf_config_load(RF_SOURCE_DIR "/conf/rectify.conf", err, sizeof(err));
  if (cfg == NULL)
    fail_msg("%s", err);
  assert_int_equal(cfg->redis_port, 6379);
  assert_int_equal(cfg->window_ms, 1000);
  assert_int_equal(cfg->log_level, RF_LOG_INFO);
  assert_string_equal(cfg->redis_consumer, cfg->instance_name);
  assert_string_equal(cfg->heads_file, "/var/lib/rectify/audit-heads");
  rf_config_free(cfg);
}

static void test_reference_matches_file(void **state) {
  (void)state;
  char *ref = NULL;
  size_t reflen = 0;
  FILE *m = open_memstream(&ref, &reflen);
  rf_config_write_reference(m);
  fclose(m);
  FILE *f = fopen(RF_SOURCE_DIR "/conf/rectify.conf", "r");
  assert_non_null(f);
  char *file = NULL;
  size_t cap = 0;
  ssize_t n = getdelim(&file, &cap, '\0', f);
  fclose(f);
  assert_true(n > 0);
  const char *begin = strstr(file, "; BEGIN KEYS\n");
  const char *end = strstr(file, "; END KEYS");
  assert_non_null(begin);
  assert_non_null(end);
  begin += strlen("; BEGIN KEYS\n");
  if ((size_t)(end - begin) != reflen || memcmp(begin, ref, reflen) != 0)
    fail_msg("conf/rectify.conf is out of date with lib/config.c's key table:\n%s", ref);
  free(ref);
  free(file);
}

static void test_values_and_contracts(void **state) {
  (void)state;
  char err[512];
  char *path = write_tmp("[daemon]\n"
                         "instance_name = node-a\n"
                         "log_level = debug\n"
                         "[pipeline]\n"
                         "window_ms = 250\n"
                         "max_value_bytes = 64k\n"
                         "strict_columns = yes\n"
                         "[column \"orders.order_date\"]\n"
                         "type = date\n"
                         "min = 2000-01-01\n"
                         "[column \"customers.country\"]\n"
                         "type = enum\n"
                         "allowed = US, FR ,DE\n"
                         "nullable = yes\n"
                         "pattern = ^[A-Z]{2}$\n");
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg == NULL)
    fail_msg("%s", err);
  assert_string_equal(cfg->instance_name, "node-a");
  assert_string_equal(cfg->redis_consumer, "node-a");
  assert_int_equal(cfg->log_level, RF_LOG_DEBUG);
  assert_int_equal(cfg->window_ms, 250);
  assert_int_equal(cfg->max_value_bytes, 65536);
  assert_true(cfg->strict_columns);
  assert_int_equal(cfg->n_contracts, 2);
  const rf_contract_t *d = rf_config_contract(cfg, "orders", "order_date");
  assert_non_null(d);
  assert_string_equal(d->type, "date");
  assert_string_equal(d->format, "%Y-%m-%d");
  assert_string_equal(d->min, "2000-01-01");
  assert_int_equal(d->line, 8);
  const rf_contract_t *c = rf_config_contract(cfg, "customers", "country");
  assert_non_null(c);
  assert_int_equal(c->n_allowed, 3);
  assert_string_equal(c->allowed[0], "US");
  assert_string_equal(c->allowed[1], "FR");
  assert_string_equal(c->allowed[2], "DE");
  assert_true(c->nullable);
  assert_null(rf_config_contract(cfg, "customers", "email"));
  rf_config_free(cfg);

  path = write_tmp("[daemon]\nsource = kafka\n[kafka]\ntopic = t1\nsecurity.protocol = SASL_SSL\n"
                   "sasl.mechanism = PLAIN\n");
  cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg == NULL)
    fail_msg("%s", err);
  assert_string_equal(cfg->source, "kafka");
  assert_string_equal(cfg->kafka_topic, "t1");
  assert_int_equal(cfg->n_kafka_props, 2);
  assert_string_equal(cfg->kafka_props[0].name, "security.protocol");
  assert_string_equal(cfg->kafka_props[0].value, "SASL_SSL");
  assert_int_equal(cfg->kafka_props[1].line, 6);
  rf_config_free(cfg);
}

static void test_errors(void **state) {
  (void)state;
  expect_error("[daemon]\nlog_level = info\nbogus = 1\n", 3, "unknown key 'bogus' in [daemon]");
  expect_error("\n[nosuch]\nx = 1\n", 2, "unknown section [nosuch]");
  expect_error("[daemon]\n[x]\n", 2, "unknown section [x]");
  expect_error("orphan = 1\n[daemon]\n", 1, "key 'orphan' outside any section");
  expect_error("[daemon]\nsource = carrier-pigeon\n", 2, "source 'carrier-pigeon'");
  expect_error("[kafka]\nenable.auto.commit = true\n", 2, "set by rectify");
  expect_error("[redis]\nport = abc\n", 2, "port: expected an integer");
  expect_error("[redis]\nport = 70000\n", 2, "out of range [1, 65535]");
  expect_error("[pipeline]\nstrict_columns = maybe\n", 2, "expected yes or no");
  expect_error("[daemon]\nlog_level = loud\n", 2, "unknown level 'loud'");
  expect_error("[redis]\nport = 1\nport = 2\n", 3, "duplicate key 'port'");
  expect_error("[pipeline]\nmax_value_bytes = 12q\n", 2, "expected a size");
  expect_error("[column orders.date]\ntype = date\n", 1, "expected [column \"table.column\"]");
  expect_error("[column \"ordersdate\"]\ntype = date\n", 1, "must be \"table.column\"");
  expect_error("\n[column \"o.d\"]\nformat = %Y\n", 2, "missing type");
  expect_error("[column \"o.d\"]\ntype = enum\n", 1, "needs `allowed`");
  expect_error("[column \"o.d\"]\ntype = colour\n", 2, "unknown contract type 'colour'");
  expect_error("[column \"o.d\"]\ntype = string\npattern = ([a-z\n", 3, "pattern:");
  expect_error("[column \"o.d\"]\ntype = integer\nmin = ten\n", 1, "min 'ten' is not a number");
  expect_error("[column \"o.d\"]\ntype = string\ncolour = red\n", 3, "unknown key 'colour'");
  expect_error("[column \"o.d\"]\ntype = string\n[column \"o.d\"]\ntype = string\n", 3,
               "duplicate contract for o.d");
  expect_error("[daemon]\nthis line has no equals sign\n", 2, "syntax error");
  expect_error("[daemon]\ninstance_name = a b\n", 2, "instance_name 'a b'");
  char err[256];
  assert_null(rf_config_load("/nonexistent/rectify.conf", err, sizeof(err)));
  assert_non_null(strstr(err, "No such file"));
}

static void test_alloc_failures(void **state) {
  (void)state;
  char *path = write_tmp("[daemon]\ninstance_name = x\n[column \"a.b\"]\ntype = enum\n"
                         "allowed = p, q\n");
  char copy[64];
  snprintf(copy, sizeof(copy), "%s", path);
  for (long n = 0;; n++) {
    char err[256];
    rf_alloc_fail_after(n);
    rf_config_t *cfg = rf_config_load(copy, err, sizeof(err));
    rf_alloc_fail_reset();
    if (cfg) {
      rf_config_free(cfg);
      break;
    }
    assert_non_null(strstr(err, "out of memory"));
    assert_true(n < 1000);
  }
  unlink(copy);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documented_file_loads), cmocka_unit_test(test_reference_matches_file),
      cmocka_unit_test(test_values_and_contracts),  cmocka_unit_test(test_errors),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_intake.c - the message contract, case by case from tests/data/intake,
 * plus allocation-failure walks over the intake path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/intake.h"
#include "rectify/outcome.h"

static rf_intake_opts_t opts(void) {
  rf_intake_opts_t o = {.max_message_bytes = 1048576, .max_value_bytes = 65536,
                        .max_json_depth = 32, .strict_columns = false, .cfg = NULL};
  return o;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void test_corpus(void **state) {
  (void)state;
  FILE *tsv = fopen(RF_TEST_DATA "/intake/cases.tsv", "r");
  assert_non_null(tsv);
  char line[1024];
  int cases = 0, rejected = 0;
  rf_intake_opts_t o = opts();
  while (fgets(line, sizeof(line), tsv)) {
    if (line[0] == '#')
      continue;
    line[strcspn(line, "\n")] = '\0';
    char *file = strtok(line, "\t"), *reason = strtok(NULL, "\t"), *detail = strtok(NULL, "\t");
    char path[512];
    snprintf(path, sizeof(path), RF_TEST_DATA "/intake/%s", file);
    size_t len;
    char *raw = slurp(path, &len);
    rf_anomaly_t a;
    assert_int_equal(rf_intake_parse(&o, "redis:s", "1-0", raw, len, &a), 0);
    if (strcmp(reason, "ok") == 0) {
      if (a.reject)
        fail_msg("%s: rejected as %s (%s), expected ok", file, a.reject, a.reject_detail);
      assert_non_null(a.pk_hash);
      assert_int_equal(strlen(a.pk_hash), 64);
    } else {
      if (a.reject == NULL || strcmp(a.reject, reason) != 0)
        fail_msg("%s: got %s (%s), expected %s", file, a.reject ? a.reject : "ok",
                 a.reject_detail ? a.reject_detail : "", reason);
      if (detail && strstr(a.reject_detail, detail) == NULL)
        fail_msg("%s: detail \"%s\" lacks \"%s\"", file, a.reject_detail, detail);
      rejected++;
    }
    /* Nothing is dropped: the key is always known and the raw bytes kept. */
    assert_non_null(a.key);
    assert_true(a.raw_len == len || (a.reject && strcmp(a.reject, "oversize") == 0 &&
                                     a.raw_len == o.max_message_bytes));
    assert_memory_equal(a.raw, raw, a.raw_len);
    rf_anomaly_clear(&a);
    free(raw);
    cases++;
  }
  fclose(tsv);
  printf("intake corpus: %d cases, %d rejected with the expected reason\n", cases, rejected);
  assert_true(rejected >= 30);
}

static void test_key_and_identity(void **state) {
  (void)state;
  rf_intake_opts_t o = opts();
  rf_anomaly_t a, b;
  const char *m1 = "{\"table\":\"t\",\"column\":\"c\",\"pk\":{\"b\":2,\"a\":9007199254740993},"
                   "\"value\":\"v\"}";
  const char *m2 = "{\"value\":\"w\",\"pk\":{\"a\":9007199254740993,\"b\":2.0e0},"
                   "\"column\":\"c\",\"table\":\"t\",\"id\":\"k-7\"}";
  assert_int_equal(rf_intake_parse(&o, "redis:s", "5-1", m1, strlen(m1), &a), 0);
  assert_int_equal(rf_intake_parse(&o, "redis:s", "5-2", m2, strlen(m2), &b), 0);
  assert_null(a.reject);
  assert_null(b.reject);
  /* No id: the key is the source and its id. */
  assert_string_equal(a.key, "redis:s:5-1");
  assert_string_equal(b.key, "k-7");
  /* The big integer survives exactly, and key order does not matter. */
  assert_string_equal(a.pk_json, "{\"a\":9007199254740993,\"b\":2}");
  assert_string_equal(b.pk_json, "{\"a\":9007199254740993,\"b\":2.0}");
  assert_string_not_equal(a.pk_hash, b.pk_hash); /* 2 and 2.0 are distinct as jsonb prints them */
  rf_anomaly_clear(&a);
  rf_anomaly_clear(&b);
}

/* The row is kept as canonical text; its tree comes back on demand, from
 * the raw message, with the numbers' own text. */
static void test_row_on_demand(void **state) {
  (void)state;
  rf_intake_opts_t o = opts();
  rf_anomaly_t a, b, c;
  const char *m1 = "{\"table\":\"t\",\"column\":\"c\",\"pk\":{\"a\":1},\"value\":\"v\","
                   "\"row\":{\"n\":1E2,\"city\":\"Oslo\"}}";
  const char *m2 = "{\"table\":\"t\",\"column\":\"c\",\"pk\":{\"a\":1},\"value\":\"v\","
                   "\"row\":null}";
  const char *m3 = "{\"table\":\"t\",\"column\":\"c\",\"pk\":{\"a\":1},\"value\":\"v\"}";
  assert_int_equal(rf_intake_parse(&o, "redis:s", "6-1", m1, strlen(m1), &a), 0);
  assert_int_equal(rf_intake_parse(&o, "redis:s", "6-2", m2, strlen(m2), &b), 0);
  assert_int_equal(rf_intake_parse(&o, "redis:s", "6-3", m3, strlen(m3), &c), 0);
  assert_null(a.row);
  assert_non_null(a.row_json);
  const cJSON *row;
  assert_int_equal(rf_anomaly_row(&a, &row), 0);
  assert_non_null(row);
  assert_ptr_equal(row, a.row); /* kept: the second call does not parse again */
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(row, "n");
  assert_non_null(n);
  assert_true(cJSON_IsNumber(n));
  assert_string_equal(n->valuestring, "1E2"); /* rf_json_parse keeps a number's text */
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "city")), "Oslo");
  assert_int_equal(rf_anomaly_row(&a, &row), 0);
  assert_ptr_equal(row, a.row);
  assert_int_equal(rf_anomaly_row(&b, &row), 0);
  assert_null(row);
  assert_int_equal(rf_anomaly_row(&c, &row), 0);
  assert_null(row);
  rf_anomaly_clear(&a);
  rf_anomaly_clear(&b);
  rf_anomaly_clear(&c);

  /* A row nested deeper than the parser's default, within a raised limit. */
  o.max_json_depth = 300;
  char deep[2048];
  size_t k = (size_t)snprintf(deep, sizeof(deep), "{\"table\":\"t\",\"column\":\"c\","
                              "\"pk\":{\"a\":1},\"value\":\"v\",\"row\":{\"x\":");
  for (int i = 0; i < 200; i++)
    deep[k++] = '[';
  for (int i = 0; i < 200; i++)
    deep[k++] = ']';
  k += (size_t)snprintf(deep + k, sizeof(deep) - k, "}}");
  assert_int_equal(rf_intake_parse(&o, "redis:s", "6-4", deep, k, &a), 0);
  assert_null(a.reject);
  assert_int_equal(rf_anomaly_row(&a, &row), 0);
  assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(row, "x")));
  rf_anomaly_clear(&a);
}

static void test_strict_columns(void **state) {
  (void)state;
  char err[256];
  rf_config_t *cfg = rf_config_defaults(err, sizeof(err));
  assert_non_null(cfg);
  rf_intake_opts_t o = opts();
  o.strict_columns = true;
  o.cfg = cfg;
  rf_anomaly_t a;
  const char *m = "{\"table\":\"t\",\"column\":\"c\",\"pk\":{\"a\":1},\"value\":\"v\"}";
  assert_int_equal(rf_intake_parse(&o, "redis:s", "1-1", m, strlen(m), &a), 0);
  assert_string_equal(a.reject, RF_REASON_MALFORMED);
  assert_non_null(strstr(a.reject_detail, "unknown column t.c"));
  rf_anomaly_clear(&a);
  rf_config_free(cfg);
}

/* Fails the 0th, 1st, ... allocation until parsing succeeds: every failure
 * must be a clean RF_ENOMEM with nothing leaked (ASan checks the leaks). */
static void alloc_walk(const char *msg, size_t len) {
  rf_intake_opts_t o = opts();
  for (long n = 0;; n++) {
    rf_anomaly_t a;
    rf_alloc_fail_after(n);
    int rc = rf_intake_parse(&o, "redis:s", "9-9", msg, len, &a);
    rf_alloc_fail_reset();
    if (rc == 0) {
      assert_non_null(a.key);
      rf_anomaly_clear(&a);
      assert_true(n > 0);
      return;
    }
    assert_int_equal(rc, RF_ENOMEM);
    assert_null(a.key);
    assert_true(n < 10000);
  }
}

static void test_alloc_failures(void **state) {
  (void)state;
  const char *ok = "{\"id\":\"x\",\"table\":\"t\",\"column\":\"c\",\"pk\":{\"a\":1,\"b\":[1,2]},"
                   "\"value\":\"v\",\"row\":{\"z\":{\"y\":1.5e3}},\"reason\":\"r\"}";
  const char *bad = "{\"table\":\"t\",\"column\":\"c\",\"pk\":7,\"value\":\"v\"}";
  alloc_walk(ok, strlen(ok));
  alloc_walk(bad, strlen(bad));
  alloc_walk("{not json", 9);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus),
      cmocka_unit_test(test_key_and_identity),
      cmocka_unit_test(test_row_on_demand),
      cmocka_unit_test(test_strict_columns),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

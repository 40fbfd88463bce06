/* test_json.c - exact numbers, strict checks, and the canonical form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/json.h"
#include "rectify/utf8.h"

static void check(const char *in, const char *want) {
  rf_json_error_t err;
  char *got = rf_json_canonicalize(in, strlen(in), &err);
  if (got == NULL)
    fail_msg("%s: %s", in, err.message);
  if (strcmp(got, want) != 0)
    fail_msg("canonical(%s) = %s, want %s", in, got, want);
  /* Idempotent. */
  char *again = rf_json_canonicalize(got, strlen(got), &err);
  assert_non_null(again);
  assert_string_equal(again, got);
  rf_free(again);
  rf_free(got);
}

static void test_numbers(void **state) {
  (void)state;
  check("1", "1");
  check("-0", "0");
  check("-0.0", "0.0");
  check("1.50", "1.50");
  check("1e3", "1000");
  check("1E+2", "100");
  check("1.5e2", "150");
  check("1.50e1", "15.0");
  check("1e-3", "0.001");
  check("12.5e-1", "1.25");
  check("-12.5e-3", "-0.0125");
  check("0e5", "0");
  check("0.000e2", "0.0");
  check("9007199254740993", "9007199254740993");
  check("123456789012345678901234567890", "123456789012345678901234567890");
  check("[1,2.0,-3e1]", "[1,2.0,-30]");
}

static void test_objects(void **state) {
  (void)state;
  /* jsonb order: shorter keys first, then bytewise; last duplicate wins. */
  check("{\"bb\":1,\"a\":2,\"ab\":3}", "{\"a\":2,\"ab\":3,\"bb\":1}");
  check("{\"k\":1,\"k\":2}", "{\"k\":2}");
  check(" { \"x\" : [ true , false , null ] } ", "{\"x\":[true,false,null]}");
  check("{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u00e9\\/\"}", "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9/\"}");
  check("{\"z\":{\"b\":1,\"a\":{}}}", "{\"z\":{\"a\":{},\"b\":1}}");
}

static void expect_error(const char *in, size_t len, rf_json_status_t st) {
  rf_json_error_t err;
  cJSON *v = rf_json_parse(in, len, 8, &err);
  if (v != NULL)
    fail_msg("accepted: %.*s", (int)len, in);
  assert_int_equal(err.status, st);
}

static void test_errors(void **state) {
  (void)state;
  expect_error("{\"a\":1", 6, RF_JSON_SYNTAX);
  expect_error("[1] [2]", 7, RF_JSON_SYNTAX);
  expect_error("\"a\0b\"", 5, RF_JSON_NUL);
  expect_error("\"a\\u0000b\"", 10, RF_JSON_NUL);
  expect_error("\"\\ud800\"", 8, RF_JSON_UTF8);
  expect_error("\"\\udc00\"", 8, RF_JSON_UTF8);
  expect_error("\"\xff\"", 3, RF_JSON_UTF8);
  expect_error("[[[[[[[[[1]]]]]]]]]", 19, RF_JSON_DEPTH);
  expect_error("1e400", 5, RF_JSON_NUMBER);
  /* A paired surrogate is fine. */
  rf_json_error_t err;
  cJSON *v = rf_json_parse("\"\\ud83d\\ude00\"", 14, 8, &err);
  assert_non_null(v);
  assert_string_equal(v->valuestring, "\xf0\x9f\x98\x80");
  cJSON_Delete(v);
}

static void test_utf8(void **state) {
  (void)state;
  assert_true(rf_utf8_valid("abc", 3));
  assert_true(rf_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
  assert_false(rf_utf8_valid("\xc3", 1));
  assert_false(rf_utf8_valid("\xe2\x82", 2));
  assert_false(rf_utf8_valid("\xc0\xaf", 2));
  assert_false(rf_utf8_valid("\xe0\x80\xaf", 3));
  assert_false(rf_utf8_valid("\xed\xa0\x80", 3));
  assert_false(rf_utf8_valid("\xf4\x90\x80\x80", 4));
  assert_false(rf_utf8_valid("\x80", 1));
}

static void test_alloc_failures(void **state) {
  (void)state;
  const char *in = "{\"b\":[1,2,{\"c\":1.5e2}],\"a\":\"x\"}";
  for (long n = 0;; n++) {
    rf_json_error_t err;
    rf_alloc_fail_after(n);
    char *c = rf_json_canonicalize(in, strlen(in), &err);
    rf_alloc_fail_reset();
    if (c) {
      assert_string_equal(c, "{\"a\":\"x\",\"b\":[1,2,{\"c\":150}]}");
      rf_free(c);
      return;
    }
    assert_true(n < 1000);
  }
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numbers), cmocka_unit_test(test_objects),
      cmocka_unit_test(test_errors),  cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

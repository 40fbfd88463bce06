/* test_foundation.c - error codes, buffers, allocation fault injection,
 * hashing and log levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/hash.h"
#include "rectify/log.h"

static void test_errors(void **state) {
  (void)state;
  assert_string_equal(rf_strerror(0), "success");
  assert_string_equal(rf_strerror(RF_ENOMEM), "out of memory");
  assert_string_equal(rf_err_name(RF_ERECONCILE), "RECONCILE");
  assert_string_equal(rf_strerror(-9999), "unknown error");
  assert_string_equal(rf_err_name(12345), "UNKNOWN");
  /* Codes are stable: these values are part of the interface. */
  assert_int_equal(RF_ENOMEM, -1);
  assert_int_equal(RF_ECANCELED, -10);
  assert_int_equal(RF_ERECONCILE, -23);
}

static void test_buf(void **state) {
  (void)state;
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_puts(&b, "ab");
  rf_buf_putc(&b, 'c');
  rf_buf_printf(&b, "-%d-%s", 42, "x");
  assert_string_equal(b.data, "abc-42-x");
  rf_buf_reset(&b);
  rf_buf_json_str(&b, "q\"\\\n\t\x01\x7f\xc3\xa9", 9);
  assert_string_equal(b.data, "\"q\\\"\\\\\\n\\t\\u0001\x7f\xc3\xa9\"");
  rf_buf_reset(&b);
  rf_buf_hex(&b, "\x00\xff\x10", 3);
  assert_string_equal(b.data, "00ff10");
  char *s = rf_buf_steal(&b);
  assert_string_equal(s, "00ff10");
  assert_null(b.data);
  rf_free(s);
  /* Growth across many appends. */
  for (int i = 0; i < 10000; i++)
    rf_buf_putc(&b, 'z');
  assert_int_equal(b.len, 10000);
  assert_true(rf_buf_ok(&b));
  rf_buf_free(&b);
  /* The sticky error: one failure, later appends are no-ops, ok() says so. */
  rf_alloc_fail_after(0);
  rf_buf_puts(&b, "lost");
  rf_alloc_fail_reset();
  rf_buf_puts(&b, "also lost");
  assert_false(rf_buf_ok(&b));
  assert_null(rf_buf_steal(&b));
  rf_buf_free(&b);
}

static void test_alloc_injection(void **state) {
  (void)state;
  rf_alloc_fail_after(2);
  void *a = rf_malloc(8), *b = rf_strdup("x"), *c = rf_calloc(1, 8);
  rf_alloc_fail_reset();
  assert_non_null(a);
  assert_non_null(b);
  assert_null(c);
  rf_free(a);
  rf_free(b);
  char *d = rf_strndup("abcdef", 3);
  assert_string_equal(d, "abc");
  rf_free(d);
}

static void test_hash(void **state) {
  (void)state;
  unsigned char d[RF_SHA256_LEN];
  char hex[65];
  assert_int_equal(rf_sha256("abc", 3, d), 0);
  rf_hex_encode(d, 32, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* RFC 4231 test case 2. */
  const void *parts[2] = {"what do ya want ", "for nothing?"};
  size_t lens[2] = {16, 12};
  assert_int_equal(rf_hmac_sha256_parts((const unsigned char *)"Jefe", 4, parts, lens, 2, d), 0);
  rf_hex_encode(d, 32, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  unsigned char back[32];
  assert_int_equal(rf_hex_decode(hex, back, 32), 0);
  assert_memory_equal(back, d, 32);
  assert_int_equal(rf_hex_decode("zz", back, 1), RF_EINVAL);
  assert_int_equal(rf_hex_decode("abcd", back, 1), RF_EINVAL); /* too long */
}

static void test_log_levels(void **state) {
  (void)state;
  assert_int_equal(rf_log_level_parse("warning"), RF_LOG_WARN);
  assert_int_equal(rf_log_level_parse("DEBUG"), RF_LOG_DEBUG);
  assert_int_equal(rf_log_level_parse("loud"), -1);
  rf_log_set_level(RF_LOG_ERR);
  /* Gated before formatting: the argument is never evaluated. */
  int evaluated = 0;
  rf_log(RF_LOG_DEBUG, "test", "x=%d", ++evaluated);
  assert_int_equal(evaluated, 0);
  rf_log_set_level(RF_LOG_INFO);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors), cmocka_unit_test(test_buf),
      cmocka_unit_test(test_alloc_injection), cmocka_unit_test(test_hash),
      cmocka_unit_test(test_log_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_receipt.c - the canonical receipt bytes: golden files, every field
 * covered, kind-specific fields ignored, digests, number formatting, and
 * allocation failures.
 *
 * The golden files under tests/data/audit/ pin the byte format: a change to
 * rf_receipt_bytes() that alters them breaks every stored leaf hash, so it
 * must come with a new RF_RECEIPT_VERSION. Regenerate deliberately with
 * RF_UPDATE_GOLDEN=1. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/receipt.h"

static void fill(rf_outcome_t *o, rf_outcome_kind_t kind) {
  memset(o, 0, sizeof(*o));
  o->kind = kind;
  o->key = "orders:42";
  o->source = "redis:needs_ai";
  o->source_id = "1700000000000-0";
  o->table_name = "orders";
  o->column_name = "order_date";
  o->pk_json = "{\"id\":42}";
  o->pk_hash = "6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918";
  o->old_value = "03/02/2024 \"quoted\"\ttab\nnewline \xc3\xa9";
  o->new_value = "2024-02-03";
  o->row_json = "{\"id\":42,\"order_date\":\"03/02/2024\"}";
  o->fingerprint = "9/9/9999";
  o->cluster_id = "c1";
  o->fix_id = "fix-1";
  o->lambda_src = "lambda x: x[6:10] + '-' + x[3:5] + '-' + x[0:2]";
  o->generator = "model";
  o->model = "qwen2.5-coder:7b@sha256:abc";
  o->confidence = 0.85;
  o->has_confidence = true;
  o->reason = "no_fix";
  o->detail = "model answer did not parse";
  o->model_answer = "I think lambda x: x";
  o->raw = (unsigned char *)"{\"id\":\"orders:42\"}\x00\xff";
  o->raw_len = 20;
  o->ts_us = 1764318000123456;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *buf = malloc(1 << 16);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

static void golden(const char *name, const rf_buf_t *got) {
  char path[512];
  snprintf(path, sizeof(path), "%s/audit/%s", RF_TEST_DATA, name);
  if (getenv("RF_UPDATE_GOLDEN")) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(got->data, 1, got->len, f);
    fclose(f);
  }
  size_t len = 0;
  char *want = read_file(path, &len);
  assert_non_null(want);
  if (len != got->len || memcmp(want, got->data, len) != 0)
    fail_msg("%s differs:\n got: %.*s\nwant: %.*s", name, (int)got->len, got->data, (int)len, want);
  free(want);
}

static void check_kind(rf_outcome_kind_t kind, const char *base) {
  rf_outcome_t o;
  fill(&o, kind);
  rf_buf_t b = RF_BUF_INIT, hex = RF_BUF_INIT;
  assert_int_equal(rf_receipt_bytes(&o, "host-a:7", NULL, &b), 0);
  char name[128];
  snprintf(name, sizeof(name), "%s.receipt", base);
  golden(name, &b);
  unsigned char leaf[32];
  rf_buf_t scratch = RF_BUF_INIT;
  assert_int_equal(rf_receipt_leaf(&o, "host-a:7", NULL, &scratch, leaf), 0);
  rf_buf_hex(&hex, leaf, 32);
  rf_buf_putc(&hex, '\n');
  snprintf(name, sizeof(name), "%s.leaf", base);
  golden(name, &hex);
  rf_buf_free(&b);
  rf_buf_free(&hex);
  rf_buf_free(&scratch);
}

static void test_golden(void **state) {
  (void)state;
  check_kind(RF_OUTCOME_FIXED, "receipt_fixed");
  check_kind(RF_OUTCOME_QUARANTINED, "receipt_quarantined");
}

static char *bytes_of(const rf_outcome_t *o, const char *batch) {
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_receipt_bytes(o, batch, NULL, &b), 0);
  return rf_buf_steal(&b);
}

/* Changing any field must change the bytes, except the fields a kind does not store. */
static void test_every_field_covered(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    rf_outcome_kind_t kind = k ? RF_OUTCOME_QUARANTINED : RF_OUTCOME_FIXED;
    rf_outcome_t o;
    fill(&o, kind);
    char *base = bytes_of(&o, "b:1");
    rf_outcome_t m;
#define MUTATE(field, value, ignored)                                                          \
  do {                                                                                         \
    fill(&m, kind);                                                                            \
    m.field = value;                                                                           \
    char *x = bytes_of(&m, "b:1");                                                             \
    if (ignored)                                                                               \
      assert_string_equal(base, x);                                                            \
    else if (strcmp(base, x) == 0)                                                             \
      fail_msg("field %s is not covered by the receipt (kind %d)", #field, kind);             \
    rf_free(x);                                                                                \
  } while (0)
    bool fixed = kind == RF_OUTCOME_FIXED;
    MUTATE(key, "orders:43", false);
    MUTATE(source, "kafka:t", false);
    MUTATE(source, NULL, false);
    MUTATE(source_id, "1700000000000-1", false);
    MUTATE(table_name, "orders2", false);
    MUTATE(column_name, "ship_date", false);
    MUTATE(pk_json, "{\"id\":43}", false);
    MUTATE(pk_hash, "00", false);
    MUTATE(old_value, "x", false);
    MUTATE(old_value, NULL, false);
    MUTATE(new_value, "2024-02-04", !fixed);
    MUTATE(new_value, NULL, !fixed);
    MUTATE(row_json, "{\"id\":42}", false);
    MUTATE(fingerprint, "9-9-9", false);
    MUTATE(cluster_id, "c2", false);
    MUTATE(fix_id, "fix-2", false);
    MUTATE(lambda_src, "lambda x: x", false);
    MUTATE(generator, "cache", false);
    MUTATE(model, NULL, false);
    MUTATE(confidence, 0.86, false);
    MUTATE(has_confidence, false, false);
    MUTATE(reason, "poison", fixed);
    MUTATE(detail, "other", fixed);
    MUTATE(model_answer, "other answer", fixed);
    MUTATE(raw_len, 19, false);
    MUTATE(ts_us, 1764318000123457, false);
    MUTATE(kind, fixed ? RF_OUTCOME_QUARANTINED : RF_OUTCOME_FIXED, false);
#undef MUTATE
    /* The batch id is covered too. */
    char *other = bytes_of(&o, "b:2");
    assert_string_not_equal(base, other);
    rf_free(other);
    rf_free(base);
  }
}

/* Empty and absent are different values. */
static void test_null_vs_empty(void **state) {
  (void)state;
  rf_outcome_t a, b;
  fill(&a, RF_OUTCOME_FIXED);
  fill(&b, RF_OUTCOME_FIXED);
  a.new_value = NULL;
  b.new_value = "";
  char *x = bytes_of(&a, "b:1"), *y = bytes_of(&b, "b:1");
  assert_string_not_equal(x, y);
  rf_free(x);
  rf_free(y);
  a.raw = NULL;
  a.raw_len = 0;
  b.raw = (unsigned char *)"";
  b.raw_len = 0;
  b.new_value = NULL;
  x = bytes_of(&a, "b:1");
  y = bytes_of(&b, "b:1");
  assert_string_not_equal(x, y);
  rf_free(x);
  rf_free(y);
}

/* Staging keeps only the payload digest: passing it must give the same bytes. */
static void test_given_raw_digest(void **state) {
  (void)state;
  rf_outcome_t o;
  fill(&o, RF_OUTCOME_FIXED);
  unsigned char d[32];
  rf_sha256(o.raw, o.raw_len, d);
  char *a = bytes_of(&o, "b:1");
  rf_buf_t b = RF_BUF_INIT;
  rf_outcome_t noraw = o;
  noraw.raw = NULL;
  noraw.raw_len = 0;
  assert_int_equal(rf_receipt_bytes(&noraw, "b:1", d, &b), 0);
  assert_string_equal(a, b.data);
  rf_free(a);
  rf_buf_free(&b);
}

static void test_invalid(void **state) {
  (void)state;
  rf_outcome_t o;
  fill(&o, 0);
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_receipt_bytes(&o, "b:1", NULL, &b), RF_EINVAL);
  fill(&o, RF_OUTCOME_FIXED);
  o.key = NULL;
  assert_int_equal(rf_receipt_bytes(&o, "b:1", NULL, &b), RF_EINVAL);
  rf_buf_free(&b);
}

static void test_doubles(void **state) {
  (void)state;
  struct {
    double d;
    const char *want;
  } cases[] = {{0.85, "0.85"}, {0.1, "0.1"}, {1.0, "1"}, {0, "0"}, {-0.0, "-0"},
               {1.0 / 3, "0.3333333333333333"}, {1e-300, "1e-300"}, {NAN, "NaN"},
               {INFINITY, "Infinity"}, {-INFINITY, "-Infinity"}, {0.30000000000000004, "0.30000000000000004"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_receipt_put_double(&b, cases[i].d);
    assert_string_equal(b.data, cases[i].want);
    if (!isnan(cases[i].d))
      assert_true(strtod(b.data, NULL) == cases[i].d);
    rf_buf_free(&b);
  }
}

static void test_alloc_failures(void **state) {
  (void)state;
  rf_outcome_t o;
  fill(&o, RF_OUTCOME_QUARANTINED);
  char *want = bytes_of(&o, "b:1");
  int failures = 0;
  for (long n = 0;; n++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_alloc_fail_after(n);
    int rc = rf_receipt_bytes(&o, "b:1", NULL, &b);
    rf_alloc_fail_reset();
    if (rc == 0) {
      assert_string_equal(b.data, want);
      rf_buf_free(&b);
      break;
    }
    assert_int_equal(rc, RF_ENOMEM);
    failures++;
    rf_buf_free(&b);
    assert_true(n < 1000);
  }
  assert_true(failures > 0);
  rf_free(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden),          cmocka_unit_test(test_every_field_covered),
      cmocka_unit_test(test_null_vs_empty),   cmocka_unit_test(test_given_raw_digest),
      cmocka_unit_test(test_invalid),         cmocka_unit_test(test_doubles),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_produce.c - the load generator: deterministic, every family and every
 * malformed kind present, the malformed share exact, valid messages valid
 * (checked by rectify's own intake, which must also reject every malformed one
 * with the reason the ground truth names), the ground truth re-derived
 * independently from the values, and clean failure under allocation faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/intake.h"
#include "rectify/json.h"
#include "rectify/produce.h"

static rf_intake_opts_t intake_opts(void) {
  rf_intake_opts_t o = {.max_message_bytes = 1048576, .max_value_bytes = 65536,
                        .max_json_depth = 32, .strict_columns = false, .cfg = NULL};
  return o;
}

static rf_produce_t *gen(uint64_t seed, double malformed, const char *families) {
  rf_produce_opts_t o = {.seed = seed, .malformed = malformed, .families = families};
  rf_produce_t *g = NULL;
  char err[512];
  int rc = rf_produce_new(&o, &g, err, sizeof(err));
  if (rc)
    fail_msg("rf_produce_new: %s", err);
  return g;
}

static void test_deterministic(void **state) {
  (void)state;
  rf_produce_t *a = gen(42, 0.05, NULL), *b = gen(42, 0.05, NULL), *c = gen(43, 0.05, NULL);
  rf_produce_msg_t ma, mb, mc;
  rf_produce_msg_init(&ma);
  rf_produce_msg_init(&mb);
  rf_produce_msg_init(&mc);
  rf_buf_t ta = RF_BUF_INIT, tb = RF_BUF_INIT;
  int differ = 0;
  for (int i = 0; i < 3000; i++) {
    assert_int_equal(rf_produce_next(a, &ma), 0);
    assert_int_equal(rf_produce_next(b, &mb), 0);
    assert_int_equal(rf_produce_next(c, &mc), 0);
    assert_int_equal(ma.payload.len, mb.payload.len);
    assert_memory_equal(ma.payload.data ? ma.payload.data : "", mb.payload.data ? mb.payload.data : "",
                        ma.payload.len);
    rf_buf_reset(&ta);
    rf_buf_reset(&tb);
    rf_produce_truth(&ma, "1-0", &ta);
    rf_produce_truth(&mb, "1-0", &tb);
    assert_true(rf_buf_ok(&ta) && rf_buf_ok(&tb));
    assert_string_equal(ta.data, tb.data);
    if (ma.payload.len != mc.payload.len ||
        (ma.payload.len && memcmp(ma.payload.data, mc.payload.data, ma.payload.len) != 0))
      differ++;
  }
  /* Another seed gives other messages (ids and detected_at aside, almost all differ). */
  assert_true(differ > 2500);
  rf_buf_free(&ta);
  rf_buf_free(&tb);
  rf_produce_msg_free(&ma);
  rf_produce_msg_free(&mb);
  rf_produce_msg_free(&mc);
  rf_produce_free(a);
  rf_produce_free(b);
  rf_produce_free(c);
}

static void test_every_family_appears(void **state) {
  (void)state;
  size_t nf = rf_produce_family_count();
  assert_true(nf >= 20);
  size_t *seen = calloc(nf, sizeof(*seen));
  size_t seen_mal[16] = {0};
  size_t nm = rf_produce_malformed_count();
  assert_true(nm >= 8 && nm <= 16);
  rf_produce_t *g = gen(7, 0.1, "all");
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  for (int i = 0; i < 5000; i++) {
    assert_int_equal(rf_produce_next(g, &m), 0);
    bool found = false;
    for (size_t k = 0; k < nf && !found; k++) {
      const char *name;
      rf_produce_family_info(k, &name, NULL, NULL);
      if (strcmp(name, m.family) == 0) {
        seen[k]++;
        found = true;
      }
    }
    for (size_t k = 0; k < nm && !found; k++) {
      if (strcmp(rf_produce_malformed_name(k), m.family) == 0) {
        seen_mal[k]++;
        found = true;
      }
    }
    if (!found)
      fail_msg("unknown family %s", m.family);
  }
  for (size_t k = 0; k < nf; k++) {
    const char *name;
    rf_produce_family_info(k, &name, NULL, NULL);
    if (seen[k] < 50)
      fail_msg("family %s appeared %zu times in 5000", name, seen[k]);
  }
  /* 500 malformed, rotating over the kinds: each within one of the others. */
  for (size_t k = 0; k < nm; k++)
    assert_true(seen_mal[k] >= 500 / nm && seen_mal[k] <= 500 / nm + 1);
  assert_false(rf_produce_family_info(nf, NULL, NULL, NULL));
  assert_null(rf_produce_malformed_name(nm));
  rf_produce_msg_free(&m);
  rf_produce_free(g);
  free(seen);
}

static void test_family_selection(void **state) {
  (void)state;
  rf_produce_t *g = gen(1, 0, "date_long,payments.amount");
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  int long_dates = 0, amounts = 0;
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(rf_produce_next(g, &m), 0);
    if (strcmp(m.family, "date_long") == 0) {
      long_dates++;
    } else {
      assert_string_equal(m.table, "payments");
      assert_string_equal(m.column, "amount");
      assert_true(strncmp(m.family, "amount_", 7) == 0);
      amounts++;
    }
  }
  /* One family against four: about 200 and 800. */
  assert_true(long_dates > 120 && long_dates < 280);
  assert_int_equal(long_dates + amounts, 1000);
  rf_produce_msg_free(&m);
  rf_produce_free(g);

  rf_produce_opts_t o = {.seed = 1, .families = "date_long,nope"};
  char err[2048];
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), RF_EINVAL);
  assert_null(g);
  assert_non_null(strstr(err, "unknown family 'nope'"));
  assert_non_null(strstr(err, "country_placeholder"));
  o.families = "";
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), RF_EINVAL);
  o.families = NULL;
  o.malformed = 1.5;
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), RF_EINVAL);
  o.malformed = NAN;
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), RF_EINVAL);
  o.malformed = 0;
  o.oversize_bytes = 10;
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), RF_EINVAL);
}

static void test_malformed_share_exact(void **state) {
  (void)state;
  static const double shares[] = {0, 0.001, 0.01, 0.1, 1.0 / 3, 0.5, 1};
  for (size_t s = 0; s < sizeof(shares) / sizeof(shares[0]); s++) {
    rf_produce_t *g = gen(3, shares[s], NULL);
    rf_produce_msg_t m;
    rf_produce_msg_init(&m);
    uint64_t bad = 0;
    for (uint64_t n = 1; n <= 3000; n++) {
      assert_int_equal(rf_produce_next(g, &m), 0);
      assert_int_equal(m.n, n);
      bad += m.malformed;
      /* At every prefix, exactly floor(n * share) are malformed. */
      assert_int_equal(bad, (uint64_t)floor((double)n * shares[s]));
    }
    rf_produce_msg_free(&m);
    rf_produce_free(g);
  }
}

/* Field `name` of a parsed message, which must be a string. */
static const char *str_field(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  assert_non_null(v);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

static bool is_decimal2(const char *s) {
  if (*s == '-')
    s++;
  if (!isdigit((unsigned char)*s))
    return false;
  while (isdigit((unsigned char)*s))
    s++;
  return s[0] == '.' && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) && !s[3];
}

/* Re-derives the expected value from the bad value, independently of the
 * generator's own arithmetic, for the families where that is mechanical. */
static void check_truth(const rf_produce_msg_t *m) {
  const char *v = m->value.data ? m->value.data : "";
  const char *e = m->expected.data;
  if (strcmp(m->column, "order_date") == 0) {
    static const char *const fmts[][2] = {
        {"date_mdy_slash", "%m/%d/%Y"}, {"date_dmy_dot", "%d.%m.%Y"},
        {"date_long", "%B %d, %Y"},     {"date_ymd_slash", "%Y/%m/%d"},
        {"date_compact", "%Y%m%d"},     {"date_dmy_mon", "%d-%b-%Y"}};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
      if (strcmp(m->family, fmts[i][0]) != 0)
        continue;
      struct tm tm;
      memset(&tm, 0, sizeof(tm));
      const char *end = strptime(v, fmts[i][1], &tm);
      assert_non_null(end);
      assert_int_equal(*end, '\0');
      char want[16];
      strftime(want, sizeof(want), "%Y-%m-%d", &tm);
      assert_string_equal(e, want);
      assert_int_equal(m->outcome, RF_PRODUCE_FIXED);
      assert_true(tm.tm_year + 1900 >= 2000 && tm.tm_year + 1900 <= 2025);
      return;
    }
    /* date_impossible / date_placeholder: nothing valid to repair to. */
    assert_int_equal(m->outcome, RF_PRODUCE_QUARANTINED);
    if (strcmp(m->family, "date_impossible") == 0) {
      int mo, d, y;
      assert_int_equal(sscanf(v, "%d/%d/%d", &mo, &d, &y), 3);
      /* Impossible as month/day and as day/month. */
      static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
      assert_true(mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]);
      assert_true(d < 1 || d > 12 || mo < 1 || mo > mdays[d - 1]);
    }
    return;
  }
  if (strcmp(m->column, "weight_g") == 0) {
    assert_true(is_decimal2(e));
    double num = strtod(v, NULL);
    double grams = strstr(v, " g") ? num : num * 28.349523125;
    assert_true(fabs(strtod(e, NULL) - grams) < 0.0051);
    return;
  }
  if (strcmp(m->column, "amount") == 0) {
    assert_true(is_decimal2(e));
    /* Keep the digits; the last two are cents. */
    char digits[64];
    size_t n = 0;
    for (const char *p = v; *p && n < sizeof(digits) - 1; p++)
      if (isdigit((unsigned char)*p))
        digits[n++] = *p;
    digits[n] = '\0';
    long long cents = strtoll(digits, NULL, 10);
    char want[64];
    snprintf(want, sizeof(want), "%s%lld.%02lld", v[0] == '(' ? "-" : "", cents / 100, cents % 100);
    assert_string_equal(e, want);
    return;
  }
  if (strcmp(m->column, "email") == 0) {
    /* Lowercase, trimmed, one @, no spaces. */
    for (const char *p = e; *p; p++)
      assert_false(isupper((unsigned char)*p) || isspace((unsigned char)*p));
    assert_non_null(strchr(e, '@'));
    assert_ptr_equal(strchr(e, '@'), strrchr(e, '@'));
    return;
  }
  if (strcmp(m->column, "country") == 0) {
    if (m->outcome == RF_PRODUCE_FIXED_NULL) {
      static const char *const ph[] = {"N/A", "n.a.", "none", "-", ""};
      bool ok = false;
      for (size_t i = 0; i < 5; i++)
        ok |= strcmp(v, ph[i]) == 0;
      assert_true(ok);
      return;
    }
    assert_true(strcmp(e, "US") == 0 || strcmp(e, "GB") == 0 || strcmp(e, "DE") == 0 ||
                strcmp(e, "FR") == 0);
    return;
  }
  fail_msg("no truth check for column %s", m->column);
}

static void test_valid_messages_pass_intake(void **state) {
  (void)state;
  rf_intake_opts_t io = intake_opts();
  rf_produce_t *g = gen(11, 0, NULL);
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  rf_buf_t truth = RF_BUF_INIT;
  int big_pk = 0, composite = 0;
  for (int i = 0; i < 4000; i++) {
    assert_int_equal(rf_produce_next(g, &m), 0);
    assert_false(m.malformed);
    rf_json_error_t jerr;
    cJSON *o = rf_json_parse(m.payload.data, m.payload.len, 32, &jerr);
    if (o == NULL)
      fail_msg("message %d is not valid JSON (%s): %s", i, jerr.message, m.payload.data);
    assert_string_equal(str_field(o, "id"), m.id.data);
    assert_string_equal(str_field(o, "table"), m.table);
    assert_string_equal(str_field(o, "column"), m.column);
    assert_string_equal(str_field(o, "value"), m.value.data ? m.value.data : "");
    str_field(o, "reason");
    str_field(o, "source_system");
    str_field(o, "detected_at");
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(o, "pk");
    assert_true(cJSON_IsObject(pk) && pk->child != NULL);
    composite += cJSON_GetArraySize(pk) > 1;
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(pk, "order_id");
    /* rf_json_parse keeps the number's text: compare exactly. */
    if (oid && strlen(oid->valuestring) >= 16) {
      char want[32];
      snprintf(want, sizeof(want), "%" PRIu64, (uint64_t)9007199254740993ULL + 2 * m.n);
      assert_string_equal(oid->valuestring, want);
      big_pk++;
    }
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "row")));
    cJSON_Delete(o);

    /* rectify's intake accepts it as is. */
    rf_anomaly_t a;
    assert_int_equal(rf_intake_parse(&io, "redis:test", "1-0", m.payload.data, m.payload.len, &a),
                     0);
    if (a.reject)
      fail_msg("intake rejected %s (%s): %s", m.family, a.reject_detail, m.payload.data);
    assert_string_equal(a.key, m.id.data);
    assert_string_equal(a.table_name, m.table);
    assert_int_equal(a.value_len, m.value.len);
    rf_anomaly_clear(&a);

    check_truth(&m);

    rf_buf_reset(&truth);
    rf_produce_truth(&m, "5-1", &truth);
    assert_true(rf_buf_ok(&truth));
    o = rf_json_parse(truth.data, truth.len, 8, &jerr);
    assert_non_null(o);
    assert_string_equal(str_field(o, "id"), m.id.data);
    assert_string_equal(str_field(o, "entry_id"), "5-1");
    assert_string_equal(str_field(o, "family"), m.family);
    assert_string_equal(str_field(o, "outcome"), rf_produce_outcome_name(m.outcome));
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expected");
    assert_true(m.outcome == RF_PRODUCE_FIXED ? cJSON_IsString(exp) : cJSON_IsNull(exp));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "reason")));
    cJSON_Delete(o);
  }
  assert_true(big_pk > 20);
  assert_true(composite > 500);
  rf_buf_free(&truth);
  rf_produce_msg_free(&m);
  rf_produce_free(g);
}

static void test_malformed_rejected_by_intake(void **state) {
  (void)state;
  rf_intake_opts_t io = intake_opts();
  rf_produce_t *g = gen(5, 0.5, NULL);
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  rf_buf_t truth = RF_BUF_INIT;
  int malformed = 0;
  for (int i = 0; i < 400; i++) {
    assert_int_equal(rf_produce_next(g, &m), 0);
    if (!m.malformed)
      continue;
    malformed++;
    assert_non_null(m.reason);
    assert_int_equal(m.outcome, RF_PRODUCE_QUARANTINED);
    assert_null(m.table);
    if (strcmp(m.family, "malformed.oversize") == 0)
      assert_true(m.payload.len > 1048576);
    else
      assert_true(m.payload.len < 4096);
    if (strcmp(m.family, "malformed.empty") == 0)
      assert_int_equal(m.payload.len, 0);
    rf_anomaly_t a;
    assert_int_equal(rf_intake_parse(&io, "redis:test", "1-0", m.payload.data ? m.payload.data : "",
                                     m.payload.len, &a),
                     0);
    if (a.reject == NULL || strcmp(a.reject, m.reason) != 0)
      fail_msg("%s: intake said %s (%s), truth says %s", m.family, a.reject ? a.reject : "accepted",
               a.reject_detail ? a.reject_detail : "", m.reason);
    rf_anomaly_clear(&a);
    rf_buf_reset(&truth);
    rf_produce_truth(&m, NULL, &truth);
    rf_json_error_t jerr;
    cJSON *o = rf_json_parse(truth.data, truth.len, 8, &jerr);
    assert_non_null(o);
    assert_string_equal(str_field(o, "reason"), m.reason);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "entry_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "value")));
    cJSON_Delete(o);
  }
  assert_int_equal(malformed, 200);
  rf_buf_free(&truth);
  rf_produce_msg_free(&m);
  rf_produce_free(g);
}

/* Every allocation failure during creation and generation is reported as
 * RF_ENOMEM and leaks nothing (ASan checks the latter). */
static void test_alloc_failures(void **state) {
  (void)state;
  bool done = false;
  for (long n = 0; !done; n++) {
    assert_true(n < 100000);
    rf_alloc_fail_after(n);
    rf_produce_opts_t o = {.seed = 9, .malformed = 0.2, .oversize_bytes = 4096};
    rf_produce_t *g = NULL;
    char err[256];
    int rc = rf_produce_new(&o, &g, err, sizeof(err));
    if (rc) {
      rf_alloc_fail_reset();
      assert_int_equal(rc, RF_ENOMEM);
      assert_null(g);
      continue;
    }
    rf_produce_msg_t m;
    rf_produce_msg_init(&m);
    rf_buf_t t = RF_BUF_INIT;
    int i;
    for (i = 0; i < 60; i++) {
      rc = rf_produce_next(g, &m);
      if (rc)
        break;
      rf_produce_truth(&m, "1-1", &t);
    }
    rf_alloc_fail_reset();
    if (rc)
      assert_int_equal(rc, RF_ENOMEM);
    else
      done = rf_buf_ok(&t);
    rf_buf_free(&t);
    rf_produce_msg_free(&m);
    rf_produce_free(g);
  }
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_every_family_appears),
      cmocka_unit_test(test_family_selection),
      cmocka_unit_test(test_malformed_share_exact),
      cmocka_unit_test(test_valid_messages_pass_intake),
      cmocka_unit_test(test_malformed_rejected_by_intake),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

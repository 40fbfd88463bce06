/* test_gate.c - the gate and apply: answer schema, compile, confidence, dry
 * runs on representatives, per-row apply results, fix ids, the Ollama
 * message shapes, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/ollama.h"
#include "rectify/outcome.h"

static rf_anomaly_t rows[8];
static rf_anomaly_t *row_ptrs[8];

/* A cluster of n rows with the given values; the first min(n,5) are reps. */
static void make_cluster(rf_cluster_t *c, const char *const *values, size_t n) {
  memset(c, 0, sizeof(*c));
  snprintf(c->fingerprint, sizeof(c->fingerprint), "9/9/9");
  for (size_t i = 0; i < n; i++) {
    memset(&rows[i], 0, sizeof(rows[i]));
    rows[i].value = (char *)values[i];
    rows[i].value_len = values[i] ? strlen(values[i]) : 0;
    row_ptrs[i] = &rows[i];
    if (i < RF_CLUSTER_MAX_REPS)
      c->reps[c->n_reps++] = &rows[i];
  }
  c->rows = row_ptrs;
  c->n = n;
}

static rf_checker_t *date_checker(void) {
  rf_contract_t c = {.type = "date", .format = "%Y-%m-%d", .min = "2000-01-01"};
  rf_checker_t *k;
  char why[128];
  assert_int_equal(rf_checker_new(&c, &k, why, sizeof(why)), 0);
  return k;
}

static void test_parse_answer(void **state) {
  (void)state;
  static const struct {
    const char *text, *needle; /* needle NULL: accepted */
  } cases[] = {
      {"{\"transformation\":\"lambda x: x\",\"confidence_score\":0.9,\"reasoning\":\"r\","
       "\"pattern_type\":\"p\"}", NULL},
      {" {\"transformation\":\"lambda x: x\",\"confidence_score\":1,\"reasoning\":\"\","
       "\"pattern_type\":\"\"}\n", NULL},
      {"not json", "not JSON"},
      {"[1,2]", "not an object"},
      {"{\"transformation\":\"lambda x: x\",\"confidence_score\":0.9,\"reasoning\":\"r\","
       "\"pattern_type\":\"p\"} trailing", "text after"},
      {"{\"confidence_score\":0.9,\"reasoning\":\"r\",\"pattern_type\":\"p\"}", "transformation"},
      {"{\"transformation\":\"\",\"confidence_score\":0.9,\"reasoning\":\"r\",\"pattern_type\":"
       "\"p\"}", "non-empty"},
      {"{\"transformation\":\"lambda x: x\",\"reasoning\":\"r\",\"pattern_type\":\"p\"}",
       "confidence_score"},
      {"{\"transformation\":\"lambda x: x\",\"confidence_score\":\"high\",\"reasoning\":\"r\","
       "\"pattern_type\":\"p\"}", "confidence_score"},
      {"{\"transformation\":\"lambda x: x\",\"confidence_score\":1.5,\"reasoning\":\"r\","
       "\"pattern_type\":\"p\"}", "between 0 and 1"},
      {"{\"transformation\":\"lambda x: x\",\"confidence_score\":0.9,\"reasoning\":3,"
       "\"pattern_type\":\"p\"}", "reasoning"},
      {"{\"transformation\":42,\"confidence_score\":0.9,\"reasoning\":\"r\",\"pattern_type\":"
       "\"p\"}", "transformation"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rf_fix_candidate_t *c = NULL;
    char why[256] = "";
    int rc = rf_gate_parse_answer(cases[i].text, strlen(cases[i].text), &c, why, sizeof(why));
    if (cases[i].needle == NULL) {
      if (rc != 0)
        fail_msg("case %zu refused: %s", i, why);
      assert_string_equal(c->generator, "model");
      assert_string_equal(c->raw_answer, cases[i].text);
      assert_string_equal(c->lambda_src, "lambda x: x");
      rf_fix_candidate_free(c);
    } else if (rc != RF_EPARSE || c != NULL || strstr(why, cases[i].needle) == NULL) {
      fail_msg("case %zu: rc=%d why=\"%s\", want EPARSE with \"%s\"", i, rc, why,
               cases[i].needle);
    }
  }
}

static void check_verdict(const char *lambda, double conf, const char *const *values, size_t n,
                          const char *reason, const char *needle) {
  rf_cluster_t cl;
  make_cluster(&cl, values, n);
  rf_checker_t *k = date_checker();
  rf_fix_candidate_t cand = {.lambda_src = (char *)lambda, .confidence = conf};
  rf_gate_verdict_t v;
  rf_lambda_t *l = NULL;
  assert_int_equal(rf_gate_check(&cand, k, &cl, 0.75, &v, &l), 0);
  if (reason == NULL) {
    if (!v.ok)
      fail_msg("[%s] refused: %s", lambda, v.detail);
    assert_non_null(l);
  } else {
    if (v.ok || strcmp(v.reason, reason) != 0 || strstr(v.detail, needle) == NULL)
      fail_msg("[%s]: ok=%d reason=%s detail=\"%s\", want %s with \"%s\"", lambda, v.ok,
               v.reason ? v.reason : "-", v.detail, reason, needle);
    assert_null(l);
  }
  rf_lambda_free(l);
  rf_checker_free(k);
}

static void test_gate_verdicts(void **state) {
  (void)state;
  static const char *const us[] = {"03/15/2024", "12/01/2001", "07/04/2010"};
  static const char *const with_bad[] = {"03/15/2024", "02/30/2024", "07/04/2010"};
  static const char *const old[] = {"03/15/2024", "07/04/1999"};
  const char *ok = "lambda x: datetime.strptime(x, '%m/%d/%Y').strftime('%Y-%m-%d')";
  check_verdict(ok, 0.9, us, 3, NULL, NULL);
  check_verdict(ok, 0.75, us, 3, NULL, NULL); /* the bound itself passes */
  check_verdict(ok, 0.74, us, 3, RF_REASON_LOW_CONFIDENCE, "below min_confidence 0.75");
  check_verdict(ok, 0.9, with_bad, 3, RF_REASON_FAILED_VALIDATION,
                "sample 2 of 3: the transformation raised ValueError");
  check_verdict(ok, 0.9, old, 2, RF_REASON_FAILED_VALIDATION, "before the minimum");
  check_verdict("lambda x: x", 0.9, us, 3, RF_REASON_FAILED_VALIDATION,
                "breaks the column contract");
  check_verdict("lambda x: len(x)", 0.9, us, 3, RF_REASON_FAILED_VALIDATION,
                "breaks the column contract");
  check_verdict("lambda x: [x]", 0.9, us, 3, RF_REASON_FAILED_VALIDATION, "returned a list");
  check_verdict("lambda x: __import__('os').system('id')", 0.9, us, 3,
                RF_REASON_FAILED_VALIDATION, "refused by the lambda language");
  check_verdict("lambda x: open('/etc/passwd').read()", 0.9, us, 3,
                RF_REASON_FAILED_VALIDATION, "refused by the lambda language");
  check_verdict("def f(x): return x", 0.9, us, 3, RF_REASON_FAILED_VALIDATION, "SyntaxError");
  check_verdict("lambda x: None", 0.9, us, 3, RF_REASON_FAILED_VALIDATION, "not nullable");
  /* no contract: nothing to prove against */
  rf_cluster_t cl;
  make_cluster(&cl, us, 3);
  rf_fix_candidate_t cand = {.lambda_src = (char *)ok, .confidence = 0.9};
  rf_gate_verdict_t v;
  assert_int_equal(rf_gate_check(&cand, NULL, &cl, 0.75, &v, NULL), 0);
  assert_false(v.ok);
  assert_non_null(strstr(v.detail, "no contract"));
}

static void test_apply_rows(void **state) {
  (void)state;
  static const char *const vals[] = {"03/15/2024", "02/30/2024", "07/04/1999", "12/01/2001"};
  rf_cluster_t cl;
  make_cluster(&cl, vals, 4);
  rf_checker_t *k = date_checker();
  rf_lambda_t *l;
  char err[128];
  const char *src = "lambda x: datetime.strptime(x, '%m/%d/%Y').strftime('%Y-%m-%d')";
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  rf_apply_row_t out[4];
  assert_int_equal(rf_apply_rows(l, k, cl.rows, 4, ctx, out), 0);
  assert_true(out[0].fixed);
  assert_string_equal(out[0].new_value, "2024-03-15");
  assert_false(out[1].fixed);
  assert_string_equal(out[1].reason, RF_REASON_APPLY_ERROR);
  assert_non_null(strstr(out[1].detail, "day is out of range"));
  assert_false(out[2].fixed);
  assert_string_equal(out[2].reason, RF_REASON_INVALID_OUTPUT);
  assert_non_null(strstr(out[2].detail, "before the minimum"));
  assert_true(out[3].fixed);
  assert_string_equal(out[3].new_value, "2001-12-01");
  for (int i = 0; i < 4; i++)
    rf_apply_row_clear(&out[i]);
  /* allocation failures: RF_ENOMEM and nothing left behind */
  bool done = false;
  for (long n = 0; n < 400 && !done; n++) {
    rf_alloc_fail_after(n);
    int rc = rf_apply_rows(l, k, cl.rows, 4, ctx, out);
    rf_alloc_fail_reset();
    if (rc == 0) {
      done = true;
      for (int i = 0; i < 4; i++)
        rf_apply_row_clear(&out[i]);
    } else {
      assert_int_equal(rc, RF_ENOMEM);
      for (int i = 0; i < 4; i++)
        assert_null(out[i].new_value);
    }
  }
  assert_true(done);
  rf_lambda_ctx_free(ctx);
  rf_lambda_free(l);
  rf_checker_free(k);
}

static void test_fix_id(void **state) {
  (void)state;
  char a[33], b[33], c[33];
  rf_fix_id("orders", "d", "9/9/9", "lambda x: x", a);
  rf_fix_id("orders", "d", "9/9/9", "lambda x: x", b);
  rf_fix_id("orders", "d", "9.9.9", "lambda x: x", c);
  assert_int_equal(strlen(a), 32);
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  /* the separators matter: ("ab", "c") is not ("a", "bc") */
  rf_fix_id("ab", "c", "9", "lambda x: x", b);
  rf_fix_id("a", "bc", "9", "lambda x: x", c);
  assert_string_not_equal(b, c);
}

static void test_ollama_shapes(void **state) {
  (void)state;
  rf_buf_t b = RF_BUF_INIT;
  rf_ollama_chat_body(&b, "m:1", "sys \"q\"", "user\nline", rf_gate_answer_schema, 7, "5m");
  assert_true(rf_buf_ok(&b));
  assert_non_null(strstr(b.data, "\"stream\":false"));
  assert_non_null(strstr(b.data, "\"options\":{\"temperature\":0,\"seed\":7}"));
  assert_non_null(strstr(b.data, "\"keep_alive\":\"5m\""));
  assert_non_null(strstr(b.data, "\"content\":\"sys \\\"q\\\"\""));
  assert_non_null(strstr(b.data, "\"format\":{\"type\":\"object\""));
  rf_buf_free(&b);
  char why[512];
  const char *resp = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
                     "\"done\":true}";
  char *content = rf_ollama_chat_content(resp, strlen(resp), why, sizeof(why));
  assert_string_equal(content, "hi");
  rf_free(content);
  assert_null(rf_ollama_chat_content("{}", 2, why, sizeof(why)));
  char e[128];
  rf_ollama_error_text("{\"error\":\"model 'x' not found\"}", 31, e, sizeof(e));
  assert_string_equal(e, "model 'x' not found");
  const char *tags = "{\"models\":[{\"name\":\"llama3:latest\",\"model\":\"llama3:latest\","
                     "\"digest\":\"abc\"},{\"name\":\"qwen:7b\",\"digest\":\"def\"}]}";
  char *digest = NULL;
  assert_int_equal(rf_ollama_find_model(tags, strlen(tags), "llama3", &digest, why, sizeof(why)), 0);
  assert_string_equal(digest, "abc");
  rf_free(digest);
  assert_int_equal(rf_ollama_find_model(tags, strlen(tags), "qwen:7b", &digest, why, sizeof(why)), 0);
  assert_string_equal(digest, "def");
  rf_free(digest);
  assert_int_equal(rf_ollama_find_model(tags, strlen(tags), "mistral", &digest, why, sizeof(why)),
                   RF_ENOTFOUND);
  assert_non_null(strstr(why, "llama3:latest, qwen:7b"));
  assert_int_equal(rf_ollama_find_model("[]", 2, "x", &digest, why, sizeof(why)), RF_EPROTO);
  /* the egress guard */
  assert_int_equal(rf_ollama_url_check("http://127.0.0.1:11434", false, why, sizeof(why)), 0);
  assert_int_equal(rf_ollama_url_check("http://[::1]:11434", false, why, sizeof(why)), 0);
  assert_int_equal(rf_ollama_url_check("http://localhost:11434", false, why, sizeof(why)), 0);
  assert_int_equal(rf_ollama_url_check("http://192.0.2.1:11434", false, why, sizeof(why)),
                   RF_EDENIED);
  assert_non_null(strstr(why, "allow_remote"));
  assert_int_equal(rf_ollama_url_check("http://192.0.2.1:11434", true, why, sizeof(why)), 0);
  assert_int_equal(rf_ollama_url_check("ftp://127.0.0.1/", false, why, sizeof(why)), RF_EINVAL);
  assert_int_equal(rf_ollama_url_check("not a url", false, why, sizeof(why)), RF_EINVAL);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_answer), cmocka_unit_test(test_gate_verdicts),
      cmocka_unit_test(test_apply_rows),   cmocka_unit_test(test_fix_id),
      cmocka_unit_test(test_ollama_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

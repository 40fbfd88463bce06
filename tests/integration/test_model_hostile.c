/* test_model_hostile.c - hostile or invalid model answers never reach a row,
 * and apply quarantines single rows.
 *
 * One run, six families on hostile.value (see tests/fake_ollama for what the
 * fake answers to each marker) and one on items.code:
 *   LOWCONF-N  confidence 0.3          -> low_confidence, no retry (1 call)
 *   BADJSON_N  not JSON                -> retry, then lambda_failed_validation (2 calls)
 *   SCHEMA.N   no confidence_score     -> retry, then lambda_failed_validation
 *   HOSTILE:N  __import__('os')        -> refused by the language, retry, quarantine
 *   FAILONE=N  raises on N = 7         -> retry, then lambda_failed_validation
 *   RETRYOK+N  bad output, then good   -> fixed after one retry (2 calls)
 *   item-N     1000 // N on items.code (max 500): item-0 raises (apply_error),
 *              item-1 gives 1000 (invalid_output); both alone, the rest fixed.
 * Every quarantined row of a refused cluster keeps the model's raw answer. */
#include "model_env.h"

static void send_value(core_env_t *e, const char *table, const char *column, const char *value,
                 const char *id) {
  char buf[512];
  snprintf(buf, sizeof(buf),
           "{\"id\":\"%s\",\"table\":\"%s\",\"column\":\"%s\",\"pk\":{\"id\":\"%s\"},"
           "\"value\":\"%s\",\"row\":{}}",
           id, table, column, id, value);
  xadd_json(e, buf);
}

static long long count_where(core_env_t *e, const char *table, const char *where) {
  char sql[600];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM rectify.%s WHERE %s", table, where);
  return sql_ll(e, sql);
}

static void test_hostile_answers_and_single_row_failures(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  fake_start(&m, NULL);
  model_write_conf(&m, "concurrency = 3\ntimeout_ms = 10000\n",
                   "[fixes]\ntransfer = no\n");
  unlink("/tmp/pwned");
  daemon_start(e);

  static const char *const markers[] = {"LOWCONF-", "BADJSON_", "SCHEMA.", "HOSTILE:",
                                        "FAILONE=", "RETRYOK+"};
  long sent = 0;
  char v[64], id[64];
  for (int k = 0; k < 6; k++)
    for (int n = 5; n <= 9; n++) { /* five distinct values: all are representatives */
      snprintf(v, sizeof(v), "%s%d", markers[k], n);
      snprintf(id, sizeof(id), "h%d-%d", k, n);
      send_value(e, "hostile", "value", v, id);
      sent++;
    }
  /* items.code: 79 good rows first (more than the 64 candidates for
   * representatives), then the two that fail alone. */
  for (int n = 2; n <= 80; n++) {
    snprintf(v, sizeof(v), "item-%d", n);
    snprintf(id, sizeof(id), "it-%d", n);
    send_value(e, "items", "code", v, id);
    sent++;
  }
  send_value(e, "items", "code", "item-0", "it-0");
  send_value(e, "items", "code", "item-1", "it-1");
  sent += 2;
  wait_all_done(e, sent, 60000);
  check_accounting(e, sent);

  /* the reasons, cluster by cluster */
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h0-%' AND reason = 'low_confidence'"), 5);
  for (int k = 1; k <= 4; k++) {
    char w[200];
    snprintf(w, sizeof(w), "key LIKE 'h%d-%%' AND reason = 'lambda_failed_validation' AND "
             "model_answer IS NOT NULL AND generator = 'model' AND model LIKE '" MODEL_NAME "@%%'", k);
    if (count_where(e, "quarantine", w) != 5)
      fail_msg("family %s: %lld of 5 rows quarantined as expected", markers[k],
               count_where(e, "quarantine", w));
  }
  /* the raw answers are kept as the model wrote them */
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h1-%' AND model_answer LIKE 'Sure!%'"), 5);
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h3-%' AND model_answer LIKE "
                                                "'%__import__%' AND detail LIKE '%refused by the "
                                                "lambda language%'"), 5);
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h0-%' AND model_answer LIKE "
                                                "'%confidence_score%' AND detail LIKE "
                                                "'%below min_confidence%'"), 5);
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h4-%' AND detail LIKE "
                                                "'%ZeroDivisionError%'"), 5);
  assert_int_equal(count_where(e, "quarantine", "key LIKE 'h2-%' AND detail LIKE "
                                                "'%confidence_score%'"), 5);
  /* none of them reached staging; the hostile lambda never ran */
  assert_int_equal(count_where(e, "staging", "key LIKE 'h0-%' OR key LIKE 'h1-%' OR key LIKE "
                                             "'h2-%' OR key LIKE 'h3-%' OR key LIKE 'h4-%'"), 0);
  assert_int_equal(access("/tmp/pwned", F_OK), -1);
  /* RETRYOK: fixed after one retry that explained the failure */
  assert_int_equal(count_where(e, "staging", "key LIKE 'h5-%' AND new_value = "
                                             "substr(old_value, 9) AND generator = 'model'"), 5);
  char cmd[900], *out = NULL;
  snprintf(cmd, sizeof(cmd), "grep -c 'It was refused' %s", m.fake_log);
  rf_h_run(cmd, &out, 10000);
  assert_non_null(out);
  assert_int_equal(atoi(out), 5); /* BADJSON, SCHEMA, HOSTILE, FAILONE, RETRYOK; not LOWCONF */
  free(out);
  assert_int_equal(fake_count(&m, "/api/chat"), 1 + 5 * 2 + 1);

  /* items.code: rows fail alone */
  assert_int_equal(count_where(e, "staging", "key LIKE 'it-%' AND new_value = "
                                             "(1000 / substr(old_value, 6)::int)::text"), 79);
  assert_int_equal(count_where(e, "quarantine", "key = 'it-0' AND reason = 'apply_error' AND "
                                                "detail LIKE '%ZeroDivisionError%' AND lambda IS "
                                                "NOT NULL AND fix_id IS NOT NULL"), 1);
  assert_int_equal(count_where(e, "quarantine", "key = 'it-1' AND reason = 'invalid_output' AND "
                                                "detail LIKE '%above the maximum 500%'"), 1);

  /* counters */
  assert_int_equal(metric(&m, "rectify_model_calls_total{outcome=\"rejected\"}"), 10);
  assert_int_equal(metric(&m, "rectify_model_calls_total{outcome=\"ok\"}"), 2);
  assert_true(metric(&m, "rectify_fix_rejections_total") >= 10);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  model_env_stop(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hostile_answers_and_single_row_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

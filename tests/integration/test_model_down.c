/* test_model_down.c - the model pool when Ollama is down, flaky or slow.
 *  - down for the whole run: rows stay unacknowledged (nothing committed)
 *    until max_wait_ms, then every row is quarantined as model_unavailable;
 *    nothing is lost;
 *  - down at start-up, back mid-run: the breaker closes and fixes resume;
 *  - resets, bursts of 503 and answers slower than the timeout are retried
 *    with backoff and end in fixes; the metrics count them;
 *  - a server without the configured model stops rectifyd at start-up, and
 *    a non-loopback model URL is refused unless allow_remote = yes. */
#include "model_env.h"

static void produce_items(core_env_t *e, int from, int to, const char *prefix) {
  char buf[512];
  for (int n = from; n < to; n++) {
    snprintf(buf, sizeof(buf),
             "{\"id\":\"%s-%d\",\"table\":\"items\",\"column\":\"code\",\"pk\":{\"id\":%d},"
             "\"value\":\"item-%d\",\"row\":{}}",
             prefix, n, n, 2 + n % 400);
    xadd_json(e, buf);
  }
}

static bool fixed_all(void *arg) {
  core_env_t *e = arg;
  return received_total(e) > 0 && pending_count(e) == 0 && group_lag(e) == 0;
}

static void test_down_for_the_whole_run(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m); /* no fake: nothing listens on fake_port */
  core_env_t *e = &m.core;
  model_write_conf(&m, "max_wait_ms = 4000\nretries = 2\nbackoff_ms = 50\n"
                       "breaker_failures = 3\nbreaker_cooldown_ms = 300\ntimeout_ms = 1000\n",
                   NULL);
  daemon_start(e);
  produce_items(e, 0, 300, "down");
  /* While the model is down, rows wait: nothing committed, all pending. */
  usleep(2000 * 1000);
  assert_int_equal(received_total(e), 0);
  assert_int_equal(pending_count(e), 300);
  assert_int_equal(metric(&m, "rectify_ready"), 0);
  wait_all_done(e, 300, 30000);
  check_accounting(e, 300);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                             "'model_unavailable' AND detail LIKE '%max_wait_ms=4000%'"), 300);
  assert_true(metric(&m, "rectify_model_calls_total{outcome=\"error\"}") >= 3);
  assert_true(metric(&m, "rectify_model_calls_total{outcome=\"breaker_open\"}") >= 1);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  model_env_stop(&m);
}

static void test_back_mid_run(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  model_write_conf(&m, "max_wait_ms = 30000\nretries = 1\nbackoff_ms = 50\n"
                       "breaker_failures = 2\nbreaker_cooldown_ms = 300\ntimeout_ms = 1000\n",
                   NULL);
  daemon_start(e);
  produce_items(e, 0, 500, "back");
  usleep(1500 * 1000);
  assert_int_equal(received_total(e), 0); /* waiting, not quarantined */
  fake_start(&m, NULL);
  if (!rf_h_wait_until(fixed_all, e, 30000))
    fail_msg("not done: received=%lld pending=%lld", received_total(e), pending_count(e));
  wait_all_done(e, 500, 10000);
  check_accounting(e, 500);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE new_value = "
                             "(1000 / substr(old_value, 6)::int)::text"), 500);
  char cmd[900];
  snprintf(cmd, sizeof(cmd), "grep -q 'breaker closed' %s", e->log);
  assert_int_equal(rf_h_run(cmd, NULL, 5000), 0);
  assert_int_equal(metric(&m, "rectify_ready"), 1);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  model_env_stop(&m);
}

static void test_flaky_and_slow(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  /* chat 1: connection reset; 2-3: 503; 4: slower than the timeout; 5: ok */
  fake_start(&m, "{\"reset\": 1, \"burst_503\": 3, \"slow_ms\": 2500, \"slow_first\": 4}");
  model_write_conf(&m, "max_wait_ms = 30000\nretries = 6\nbackoff_ms = 50\n"
                       "breaker_failures = 10\ntimeout_ms = 1000\nconcurrency = 1\n",
                   NULL);
  daemon_start(e);
  produce_items(e, 0, 200, "flaky");
  wait_all_done(e, 200, 30000);
  check_accounting(e, 200);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging"), 200);
  assert_int_equal(fake_count(&m, "/api/chat"), 5);
  /* The reset may hit a reused keep-alive connection, which libcurl itself
   * retries once on a fresh one: then rectify sees 2 errors, not 3. */
  long long errors = metric(&m, "rectify_model_calls_total{outcome=\"error\"}");
  assert_true(errors == 2 || errors == 3);
  assert_int_equal(metric(&m, "rectify_model_calls_total{outcome=\"timeout\"}"), 1);
  assert_int_equal(metric(&m, "rectify_model_calls_total{outcome=\"ok\"}"), 1);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  model_env_stop(&m);
}

static void test_start_up_refusals(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  char cmd[1200], *out = NULL;
  /* the model is not on the server: rectifyd says so and exits */
  fake_start(&m, "{\"missing_model\": true}");
  model_write_conf(&m, NULL, NULL);
  snprintf(cmd, sizeof(cmd), "%s/rectifyd -c %s 2>&1", rf_h_bin_dir(), e->conf);
  assert_int_equal(rf_h_run(cmd, &out, 30000), 1);
  assert_non_null(strstr(out, "model '" MODEL_NAME "' is not available"));
  assert_non_null(strstr(out, "other-model:7b"));
  free(out);
  /* a remote model URL: refused, saying why, unless allow_remote = yes */
  char body[600];
  snprintf(body, sizeof(body), "[model]\nurl = http://192.0.2.10:11434\n");
  snprintf(cmd, sizeof(cmd), "%s/remote.conf", e->dir);
  assert_int_equal(rf_h_write_file(cmd, body), 0);
  snprintf(cmd, sizeof(cmd), "%s/rectifyd --check-config -c %s/remote.conf 2>&1", rf_h_bin_dir(),
           e->dir);
  out = NULL;
  assert_int_equal(rf_h_run(cmd, &out, 30000), 2);
  assert_non_null(strstr(out, "is not a loopback address"));
  assert_non_null(strstr(out, "allow_remote"));
  free(out);
  snprintf(body, sizeof(body), "[model]\nurl = http://192.0.2.10:11434\nallow_remote = yes\n");
  snprintf(cmd, sizeof(cmd), "%s/remote.conf", e->dir);
  assert_int_equal(rf_h_write_file(cmd, body), 0);
  snprintf(cmd, sizeof(cmd), "%s/rectifyd --check-config -c %s/remote.conf 2>&1", rf_h_bin_dir(),
           e->dir);
  assert_int_equal(rf_h_run(cmd, NULL, 30000), 0);
  model_env_stop(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_down_for_the_whole_run),
      cmocka_unit_test(test_back_mid_run),
      cmocka_unit_test(test_flaky_and_slow),
      cmocka_unit_test(test_start_up_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

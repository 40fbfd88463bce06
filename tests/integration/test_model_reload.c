/* test_model_reload.c - SIGHUP reloads the model settings.
 *
 * With the default min_confidence (0.75) the fake model's 0.3-confidence
 * answers are refused (low_confidence). After the config is rewritten with
 * min_confidence = 0.2 and SIGHUP is sent, the same kind of answer for new
 * rows is accepted and the rows are fixed; nothing is lost on the way. */
#include "model_env.h"

static void send_lowconf(core_env_t *e, int from, int to) {
  char buf[512];
  for (int n = from; n < to; n++) {
    snprintf(buf, sizeof(buf),
             "{\"id\":\"r%d\",\"table\":\"hostile\",\"column\":\"value\",\"pk\":{\"id\":%d},"
             "\"value\":\"LOWCONF-%d\",\"row\":{}}",
             n, n, n);
    xadd_json(e, buf);
  }
}

static void test_reload_model_settings(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  fake_start(&m, NULL);
  model_write_conf(&m, NULL, "[fixes]\ntransfer = no\n");
  daemon_start(e);
  send_lowconf(e, 5, 10);
  wait_all_done(e, 5, 60000);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                             "'low_confidence'"), 5);

  model_write_conf(&m, "min_confidence = 0.2\n", "[fixes]\ntransfer = no\n");
  assert_int_equal(rf_h_signal(&e->daemon, SIGHUP), 0);
  char cmd[1400];
  snprintf(cmd, sizeof(cmd), "grep -q 'model: reloaded .*min_confidence=0.20' %s", e->log);
  bool reloaded = false;
  for (int i = 0; i < 50 && !reloaded; i++) {
    reloaded = rf_h_run(cmd, NULL, 5000) == 0;
    usleep(100 * 1000);
  }
  assert_true(reloaded);
  send_lowconf(e, 10, 15);
  wait_all_done(e, 10, 60000);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE key LIKE 'r1_'"), 5);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE new_value = '-12'"), 1);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  check_accounting(e, 10);
  model_env_stop(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_reload_model_settings)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_service_reload.c - SIGHUP during load changes the window size.
 *
 * rectifyd flushes windows at 1000 rows; while messages keep arriving the
 * config is rewritten to 100 rows and SIGHUP sent. Batches after the reload
 * are at most 100 rows (but for the windows open at that moment), nothing is
 * lost or duplicated, and a broken config on a second SIGHUP is refused with
 * FILE:LINE while the daemon keeps running on the good one. */
#include "core_env.h"

static void set_window(core_env_t *e, int rows, const char *extra) {
  char conf[512];
  snprintf(conf, sizeof(conf), "window_max_rows = %d\n%s", rows, extra ? extra : "");
  /* env_write_conf already sets window_max_rows = 2000; ours comes later in
   * the same section and would be a duplicate key, so write the whole file. */
  char body[4096];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = test-a\nlog_level = info\nstate_dir = %s\nhttp_listen =\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 100\n[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 1500\ndrain_timeout_ms = 20000\n%s",
           e->dir, e->redis.port, e->pg.conninfo, conf);
  assert_int_equal(rf_h_write_file(e->conf, body), 0);
}

static void test_reload(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, NULL);
  set_window(&e, 1000, NULL);
  daemon_start(&e);
  produce(&e, 0, 9000, "r"); /* 3000 per table: exactly 3 windows of 1000 each */
  wait_all_done(&e, 9000, 60000);
  assert_int_equal(sql_ll(&e, "SELECT max(received) FROM rectify.batches"), 1000);
  long long seq_before = sql_ll(&e, "SELECT max(seq) FROM rectify.audit");

  /* During load: half the next messages, reload, the other half. */
  produce(&e, 9000, 10500, "r");
  set_window(&e, 100, NULL);
  assert_int_equal(rf_h_signal(&e.daemon, SIGHUP), 0);
  usleep(300 * 1000);
  produce(&e, 10500, 15000, "r");
  wait_all_done(&e, 15000, 60000);

  char sql[256];
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM rectify.batches WHERE seq > %lld AND received > 100", seq_before);
  long long big = sql_ll(&e, sql);
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM rectify.batches WHERE seq > %lld AND received = 100", seq_before);
  long long hundreds = sql_ll(&e, sql);
  printf("reload: after SIGHUP %lld batches of exactly 100 rows, %lld larger (windows open at "
         "the reload)\n", hundreds, big);
  assert_true(big <= 3);
  assert_true(hundreds >= 30);

  /* A broken config is refused; the daemon keeps running on the good one. */
  set_window(&e, 100, "max_inflight_rows = lots\n");
  assert_int_equal(rf_h_signal(&e.daemon, SIGHUP), 0);
  usleep(300 * 1000);
  produce(&e, 15000, 15300, "r");
  wait_all_done(&e, 15300, 60000);
  char cmd[2000];
  snprintf(cmd, sizeof(cmd), "grep -q 'reload failed, keeping the running configuration: %s:18: "
                             "max_inflight_rows: expected an integer' %s", e.conf, e.log);
  if (rf_h_run(cmd, NULL, 5000) != 0) {
    snprintf(cmd, sizeof(cmd), "grep reload %s >&2", e.log);
    rf_h_run(cmd, NULL, 5000);
    fail_msg("no reload error with FILE:LINE in the log");
  }
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  set_window(&e, 100, NULL); /* rectifyctl reads the config too */
  check_accounting(&e, 15300);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_reload)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_core_backpressure.c - paused intake never waits for window age.
 *
 * max_inflight_rows below what the open windows can hold: intake pauses
 * while every window is still far from window_max_rows, and window_ms is a
 * minute. The windows cannot grow until intake resumes and intake cannot
 * resume until they are written, so rectifyd flushes them as soon as the
 * writer runs dry instead of waiting for their age. 6,000 messages over
 * three windows with at most 900 in flight finish in seconds; waiting for
 * age would take window_ms per 900 messages (the test's timeout first). */
#include "core_env.h"

#define N 6000

static void test_paused_windows_flush(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, NULL);
  char body[4096];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = test-a\nlog_level = info\nstate_dir = %s\nhttp_listen =\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 200\n[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 60000\nwindow_max_rows = 5000\nmax_inflight_rows = 900\n"
           "drain_timeout_ms = 20000\n",
           e.dir, e.redis.port, e.pg.conninfo);
  assert_int_equal(rf_h_write_file(e.conf, body), 0);
  produce(&e, 0, N, "b");
  daemon_start(&e);
  wait_all_done(&e, N, 40000);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, N);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_paused_windows_flush)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_core_duplicates.c - a producer that sends the same `id` again (a retry)
 * gets exactly one outcome: copies in the same window and in later windows are
 * acknowledged as duplicates and write nothing. */
#include "core_env.h"

static void test_same_id(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, NULL);
  daemon_start(&e);
  const char *m = "{\"id\":\"retry-1\",\"table\":\"t\",\"column\":\"c\",\"pk\":{\"id\":1},"
                  "\"value\":\"v\"}";
  for (int i = 0; i < 3; i++) /* same window */
    xadd(&e, m, strlen(m), NULL);
  produce(&e, 0, 500, "u");
  wait_all_done(&e, 501, 30000);
  for (int i = 0; i < 2; i++) /* later windows */
    xadd(&e, m, strlen(m), NULL);
  until_done_t u = {&e, 501};
  /* All 505 entries are acknowledged; 4 of them as duplicates. */
  bool ok = false;
  for (int i = 0; i < 100 && !ok; i++) {
    ok = all_done(&u) &&
         sql_ll(&e, "SELECT coalesce(sum(duplicates), 0) FROM rectify.batches") == 4;
    usleep(100 * 1000);
  }
  assert_true(ok);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, 501);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE key = 'retry-1'"), 1);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_same_id)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

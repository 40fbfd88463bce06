/* test_poison.c - a message that always fails ends in quarantine as
 * `poison` after max_deliveries, and the stream keeps flowing.
 *
 * The test hook RECTIFY_TEST_FAIL_KEYS (docs/delivery.md) makes rectifyd drop
 * two chosen messages at intake every time, as if processing them crashed:
 * they are never acknowledged. XCLAIM hands them back after
 * claim_idle_ms, each time with a higher delivery count (from XPENDING);
 * delivery max_deliveries + 1 quarantines them as `poison`. Meanwhile the
 * messages around them are fixed or quarantined normally. */
#include "scale_env.h"

#define MAXD 3

static void test_poison(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, false, 0);
  inst_conf(&e, 0, "claim_idle_ms = 400\nclaim_interval_ms = 200\nmax_deliveries = 3\n", NULL);
  char *hook[] = {"RECTIFY_TEST_FAIL_KEYS=poison-1,poison-2", NULL};
  inst_start(&e, 0, hook);
  char buf[512];
  produce(&e.core, 0, 2000, "p");
  make_msg(buf, sizeof(buf), 1, "poison");
  xadd(&e.core, buf, strlen(buf), NULL);
  produce(&e.core, 2000, 4000, "p");
  make_msg(buf, sizeof(buf), 2, "poison");
  xadd(&e.core, buf, strlen(buf), NULL);
  produce(&e.core, 4000, 6000, "p");
  scale_wait_done(&e, 6002, 60000);
  assert_int_equal(inst_stop(&e, 0, SIGTERM, 30000), 0);
  scale_check(&e, 6002);
  assert_int_equal(sql_ll(&e.core, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                                   "'poison'"), 2);
  assert_int_equal(sql_ll(&e.core, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                                   "'poison' AND key IN ('poison-1', 'poison-2') AND detail LIKE "
                                   "'delivered 4 times without an outcome (max_deliveries=3)'"),
                   2);
  /* The raw message is kept for the human who looks. */
  assert_int_equal(sql_ll(&e.core, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                                   "'poison' AND raw IS NOT NULL AND table_name IS NOT NULL"), 2);
  /* The stream kept flowing: messages behind the poison had outcomes before it. */
  long long behind = sql_ll(&e.core,
                            "SELECT count(*) FROM (SELECT key, ts_us FROM rectify.staging UNION "
                            "ALL SELECT key, ts_us FROM rectify.quarantine) x WHERE key LIKE 'p-%' "
                            "AND substr(key, 3)::int >= 4000 AND ts_us < (SELECT min(ts_us) FROM "
                            "rectify.quarantine WHERE reason = 'poison')");
  printf("poison: 2 messages quarantined after %d deliveries; %lld later messages finished "
         "before them\n", MAXD + 1, behind);
  assert_true(behind > 0);
  /* The hook held them back each time (deliveries 1..3), visibly. */
  char cmd[1400], *out = NULL;
  snprintf(cmd, sizeof(cmd), "grep -c 'test hook RECTIFY_TEST_FAIL_KEYS: processing failed' %s",
           e.inst[0].log);
  assert_int_equal(rf_h_run(cmd, &out, 5000), 0);
  assert_int_equal(atoi(out), 2 * MAXD);
  free(out);
  scale_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_poison)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

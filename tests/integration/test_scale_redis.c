/* test_scale_redis.c - three instances share one stream through the
 * consumer group; one is SIGKILLed mid-run.
 *
 * The dead instance's pending entries (delivered to it, some committed in
 * PostgreSQL and not acknowledged, some not committed) sit idle in its
 * pending list; the survivors take them over with XCLAIM after
 * claim_idle_ms. Totals are exact, redeliveries are recognised as
 * duplicates, nothing stays pending, and every audit chain verifies. */
#include <unistd.h>
#include "scale_env.h"

#define N 15000

static long long consumer_pending(scale_env_t *e, const char *consumer) {
  redisReply *r = redisCommand(e->core.rc, "XPENDING %s %s - + 100000 %s", STREAM, GROUP,
                               consumer);
  long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;
  freeReplyObject(r);
  return n;
}

/* Freezes instance i with SIGSTOP at a moment it holds entries, so that the
 * SIGKILL that follows orphans a pending list known not to be empty. A kill
 * at a free moment (every window committed and acknowledged, the next read
 * not yet answered) would find the list empty and prove nothing; polling
 * XPENDING and then killing leaves a gap in which the instance can still
 * acknowledge. The pause lets an XACK already on its way reach Redis. */
static void stop_while_holding(scale_env_t *e, int i, const char *consumer) {
  for (int tries = 0; tries < 500; tries++) {
    rf_h_signal(&e->inst[i].proc, SIGSTOP);
    usleep(50 * 1000);
    if (consumer_pending(e, consumer) > 0)
      return;
    rf_h_signal(&e->inst[i].proc, SIGCONT);
    usleep(20 * 1000);
  }
  fail_msg("%s never held an entry in 500 tries", consumer);
}

static void test_three_instances_one_killed(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, false, 0);
  const char *claim = "claim_idle_ms = 1500\nclaim_interval_ms = 300\n";
  for (int i = 0; i < 3; i++) {
    inst_conf(&e, i, claim, NULL);
    inst_start(&e, i, NULL);
  }
  rf_h_proc_t prod;
  produce_bg(&e, &prod, N, "2500", "s-", "9");
  at_least_t some = {&e, N / 3};
  if (!rf_h_wait_until(received_at_least, &some, 60000)) {
    for (int i = 0; i < 3; i++)
      inst_tail(&e.inst[i]);
    fail_msg("no progress: received=%lld", received_total(&e.core));
  }
  stop_while_holding(&e, 1, "inst-b");
  assert_int_equal(inst_stop(&e, 1, SIGKILL, 10000), 128 + SIGKILL);
  long long orphaned = consumer_pending(&e, "inst-b");
  printf("scale redis: inst-b killed with %lld entries in its pending list\n", orphaned);
  assert_true(orphaned > 0);
  produce_wait(&prod, 60000);
  scale_wait_done(&e, N, 90000);
  assert_int_equal(consumer_pending(&e, "inst-b"), 0);
  scale_finish_killed(&e, N, "scale redis");
  scale_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_three_instances_one_killed)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

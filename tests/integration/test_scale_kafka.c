/* test_scale_kafka.c - three instances share a 6-partition topic through
 * the consumer group; one is SIGKILLed mid-run.
 *
 * The dead instance's partitions go to the two survivors once its session
 * times out; they read them from the committed offsets, so what the dead one
 * had in flight (committed in PostgreSQL or not) comes again: totals are
 * exact, redeliveries are recognised as duplicates, and every instance's
 * audit chain verifies. */
#include "scale_env.h"

#define N 15000
#define PARTS 6

static long long batches_of(scale_env_t *e, const char *chain) {
  char sql[200];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM rectify.batches WHERE chain_id = '%s'", chain);
  return sql_ll(&e->core, sql);
}

/* A third of the messages done, and inst-b among those that did them: the
 * group may still be rebalancing when the first third is through (the first
 * member to join reads every partition until the others are assigned), and
 * a kill before inst-b has partitions would orphan nothing. */
static bool b_working(void *arg) {
  at_least_t *a = arg;
  return received_at_least(a) && batches_of(a->e, "inst-b") > 0;
}

static void test_three_instances_one_killed(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, true, PARTS);
  for (int i = 0; i < 3; i++) {
    inst_conf(&e, i, NULL, NULL);
    inst_start(&e, i, NULL);
  }
  rf_h_proc_t prod;
  produce_bg(&e, &prod, N, "2500", "s-", "7");
  at_least_t some = {&e, N / 3};
  if (!rf_h_wait_until(b_working, &some, 60000)) {
    for (int i = 0; i < 3; i++)
      inst_tail(&e.inst[i]);
    fail_msg("no progress: received=%lld, inst-b batches=%lld", received_total(&e.core),
             batches_of(&e, "inst-b"));
  }
  long long before = batches_of(&e, "inst-b");
  assert_int_equal(inst_stop(&e, 1, SIGKILL, 10000), 128 + SIGKILL);
  printf("scale kafka: inst-b killed after %lld batches, %lld outcomes in total\n", before,
         received_total(&e.core));
  produce_wait(&prod, 60000);
  scale_wait_done(&e, N, 90000);
  scale_finish_killed(&e, N, "scale kafka");
  scale_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_three_instances_one_killed)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_kafka_e2e.c - the Kafka source end to end, against librdkafka's mock
 * cluster in its own process.
 *
 *  - exact: messages produced while rectifyd consumes reach exactly one
 *    outcome each; while it runs, the group's committed offsets are sampled
 *    and every message below a committed offset is already in PostgreSQL
 *    (offsets follow the database commit, never precede it).
 *  - kill_between: with the commit-delay test hook, rectifyd is SIGKILLed
 *    after every outcome is in PostgreSQL but before the offsets are
 *    committed; the restarted instance reads them again and each one is
 *    recognised as a duplicate: no second outcome.
 *  - bad_property: a librdkafka property it refuses stops rectifyd at
 *    start-up with FILE:LINE and the reason. */
#include "scale_env.h"

#define N 12000
#define PARTS 6

/* Every message below each partition's committed offset has an outcome. */
static void check_committed_prefix(scale_env_t *e) {
  int64_t c[PARTS];
  kafka_offsets(e, c, NULL); /* offsets first, then the database */
  for (int p = 0; p < PARTS; p++) {
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT source_id FROM rectify.staging UNION ALL SELECT "
             "source_id FROM rectify.quarantine) x WHERE source_id LIKE '" TOPIC "/%d/%%' AND "
             "split_part(source_id, '/', 3)::bigint < %lld",
             p, (long long)c[p]);
    long long have = sql_ll(&e->core, sql);
    if (c[p] > 0 && have != c[p])
      fail_msg("partition %d: committed offset %lld but only %lld outcomes below it", p,
               (long long)c[p], have);
  }
}

typedef struct sampler {
  scale_env_t *e;
  long long n;
  int samples;
} sampler_t;

static bool sample_until_done(void *arg) {
  sampler_t *s = arg;
  check_committed_prefix(s->e);
  s->samples++;
  return scale_done(&(scale_until_t){s->e, s->n});
}

static void test_exact(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, true, PARTS);
  /* Small `oversize` messages: the mock keeps only ~5 MiB per partition. */
  inst_conf(&e, 0, NULL, "max_message_bytes = 4096\n");
  inst_start(&e, 0, NULL);
  /* Produced in three rounds while the instance consumes. */
  produce_ctl(&e, N / 3, "--seed 1 --id-prefix a- --malformed 0.05 --oversize-bytes 8192");
  produce_ctl(&e, N / 3, "--seed 2 --id-prefix b- --rate 20000");
  produce_ctl(&e, N - 2 * (N / 3), "--seed 3 --id-prefix c- --malformed 0.02 --oversize-bytes 8192");
  sampler_t s = {&e, N, 0};
  if (!rf_h_wait_until(sample_until_done, &s, 90000)) {
    inst_tail(&e.inst[0]);
    fail_msg("not done: received=%lld lag=%lld", received_total(&e.core), kafka_lag(&e));
  }
  printf("kafka exact: %d messages, %d samples of committed offsets vs outcomes\n", N, s.samples);
  assert_int_equal(inst_stop(&e, 0, SIGTERM, 30000), 0);
  scale_check(&e, N);
  assert_int_equal(sql_ll(&e.core, "SELECT coalesce(sum(duplicates), 0) FROM rectify.batches"), 0);
  scale_stop(&e);
}

typedef struct got {
  scale_env_t *e;
  long long n;
} got_t;

static bool all_received(void *arg) {
  got_t *g = arg;
  return received_total(&g->e->core) >= g->n;
}

static void test_kill_between(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, true, PARTS);
  inst_conf(&e, 0, NULL, NULL);
  char *hook[] = {"RECTIFY_TEST_COMMIT_DELAY_MS=60000", NULL};
  produce_ctl(&e, 3000, "--seed 4 --id-prefix k-");
  inst_start(&e, 0, hook);
  got_t g = {&e, 3000};
  if (!rf_h_wait_until(all_received, &g, 60000)) {
    inst_tail(&e.inst[0]);
    fail_msg("first run did not commit everything: %lld", received_total(&e.core));
  }
  /* Every outcome is in PostgreSQL; no offset may be committed yet. */
  assert_int_equal(inst_stop(&e, 0, SIGKILL, 10000), 128 + SIGKILL);
  int64_t c[PARTS], h[PARTS];
  kafka_offsets(&e, c, h);
  long long uncommitted = 0;
  for (int p = 0; p < PARTS; p++)
    uncommitted += h[p] - c[p];
  printf("kafka kill: %lld of 3000 outcomes committed in PostgreSQL but not in Kafka\n",
         uncommitted);
  assert_int_equal(uncommitted, 3000);
  inst_start(&e, 0, NULL);
  scale_wait_done(&e, 3000, 60000);
  assert_int_equal(inst_stop(&e, 0, SIGTERM, 30000), 0);
  scale_check(&e, 3000);
  /* Each redelivered message was recognised, none written twice. */
  assert_int_equal(sql_ll(&e.core, "SELECT coalesce(sum(duplicates), 0) FROM rectify.batches"),
                   uncommitted);
  scale_stop(&e);
}

static void test_bad_property(void **state) {
  (void)state;
  scale_env_t e;
  scale_start(&e, true, 1);
  inst_conf(&e, 0, NULL, NULL);
  /* Append a property librdkafka does not know to the [pipeline] file end:
   * it must be in [kafka], so write a second [kafka] block. */
  FILE *f = fopen(e.inst[0].conf, "a");
  assert_non_null(f);
  fprintf(f, "[kafka]\nfetch.nonsense.bytes = 12\n");
  fclose(f);
  inst_start(&e, 0, NULL);
  int st;
  assert_true(rf_h_wait(&e.inst[0].proc, 20000, &st) >= 0);
  e.inst[0].proc.pid = 0;
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  char cmd[1400], *out = NULL;
  snprintf(cmd, sizeof(cmd), "cat %s", e.inst[0].log);
  assert_int_equal(rf_h_run(cmd, &out, 5000), 0);
  char want[700];
  snprintf(want, sizeof(want), "%s:", e.inst[0].conf);
  if (strstr(out, want) == NULL || strstr(out, "fetch.nonsense.bytes") == NULL)
    fail_msg("no FILE:LINE error in the log:\n%s", out);
  printf("bad property: %s", strstr(out, want));
  free(out);
  scale_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_property),
      cmocka_unit_test(test_exact),
      cmocka_unit_test(test_kill_between),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

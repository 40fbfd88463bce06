/* test_cluster_split.c - the split-back rule, end to end.
 *
 * One date column whose chain (`cluster = shape,fingerprint`) deliberately
 * merges three families that no single fix can serve: the format key of
 * "on 15/03/2024" (day first), "ON 03/15/2024" (month first) and
 * "On 45/77/2024" (no date at all) is the same, `0/0/00|on`, though their
 * shapes differ. Every day is above 12, so a day-first fix breaks the
 * contract on the month-first rows and the other way round, and nothing can
 * turn the third family into a date. No model is configured: the offline
 * synthesizer is the generator. The merged cluster gets no fix that passes
 * every sub-cluster's samples, so it is split back and each family handled
 * alone: the two date families are fixed, each with its own fix and each row
 * to its ground truth, the third is quarantined with the merge explanation
 * in its detail. Never a wrong fix; batches balance; the audit verifies. */
#include "core_env.h"

#define PER_FAMILY 120

#define CONTRACT                                                                                   \
  "[column \"events.happened_on\"]\ntype = date\nformat = %Y-%m-%d\ncluster = shape,fingerprint\n"

static void send_all(core_env_t *e, char (*expected)[16]) {
  char buf[512], value[64];
  for (long i = 0; i < 3 * PER_FAMILY; i++) {
    long fam = i % 3, day = 13 + i % 16, month = 1 + (i / 3) % 12, year = 2001 + i % 20;
    switch (fam) {
    case 0: snprintf(value, sizeof(value), "on %02ld/%02ld/%ld", day, month, year); break;
    case 1: snprintf(value, sizeof(value), "ON %02ld/%02ld/%ld", month, day, year); break;
    default: snprintf(value, sizeof(value), "On %02ld/%02ld/%ld", 40 + i % 50, 70 + i % 20, year); break;
    }
    if (fam < 2)
      snprintf(expected[i], 16, "%ld-%02ld-%02ld", year, month, day);
    else
      expected[i][0] = '\0';
    snprintf(buf, sizeof(buf),
             "{\"id\":\"sp-%ld\",\"table\":\"events\",\"column\":\"happened_on\",\"pk\":{\"id\":%ld},"
             "\"value\":\"%s\",\"row\":{\"n\":%ld},\"source_system\":\"test\"}",
             i, i, value, i);
    xadd(e, buf, strlen(buf), NULL);
  }
}

static bool log_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  char line[4096];
  bool found = false;
  assert_non_null(f);
  while (!found && fgets(line, sizeof(line), f))
    found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static void test_bad_merge_is_split(void **state) {
  (void)state;
  core_env_t e;
  static char expected[3 * PER_FAMILY][16];
  env_start(&e, CONTRACT);
  daemon_start(&e);
  send_all(&e, expected);
  wait_all_done(&e, 3 * PER_FAMILY, 60000);

  long fixed_ok[3] = {0}, quarantined[3] = {0}, wrong = 0;
  for (long i = 0; i < 3 * PER_FAMILY; i++) {
    char key[32];
    snprintf(key, sizeof(key), "sp-%ld", i);
    const char *params[1] = {key};
    PGresult *r = PQexecParams(e.db,
                               "SELECT 'fixed', new_value FROM rectify.staging WHERE key = $1 "
                               "UNION ALL SELECT 'quarantined', detail FROM rectify.quarantine "
                               "WHERE key = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (PQntuples(r) != 1)
      fail_msg("%s: %d outcomes", key, PQntuples(r));
    if (strcmp(PQgetvalue(r, 0, 0), "fixed") == 0) {
      if (expected[i][0] && strcmp(PQgetvalue(r, 0, 1), expected[i]) == 0) {
        fixed_ok[i % 3]++;
      } else {
        wrong++;
        fprintf(stderr, "WRONG FIX %s: got %s, truth %s\n", key, PQgetvalue(r, 0, 1),
                expected[i][0] ? expected[i] : "quarantine");
      }
    } else {
      quarantined[i % 3]++;
      /* The row's detail says which merge it was split back from. */
      const char *detail = PQgetvalue(r, 0, 1);
      if (strstr(detail, "split back from a merged cluster") == NULL ||
          strstr(detail, "\"key\":\"0/0/00|on\"") == NULL)
        fail_msg("%s: detail without the merge explanation: %s", key, detail);
    }
    PQclear(r);
  }
  fprintf(stderr, "split e2e: fixed_ok day-first=%ld month-first=%ld; quarantined %ld/%ld/%ld; "
          "wrong=%ld\n", fixed_ok[0], fixed_ok[1], quarantined[0], quarantined[1],
          quarantined[2], wrong);
  assert_int_equal(wrong, 0);
  /* Without the split none of them could be fixed: each date family alone is. */
  assert_int_equal(fixed_ok[0], PER_FAMILY);
  assert_int_equal(fixed_ok[1], PER_FAMILY);
  assert_int_equal(quarantined[2], PER_FAMILY);
  /* Two different fixes served the two halves of the merge. */
  assert_int_equal(sql_ll(&e, "SELECT count(DISTINCT fix_id) FROM rectify.staging"), 2);
  /* The daemon said so. */
  assert_true(log_has(e.log, "cluster split back table=events column=happened_on"));
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, 3 * PER_FAMILY);
  /* The merge and its explanation are committed in the audit chain too. */
  assert_true(sql_ll(&e, "SELECT count(*) FROM rectify.audit WHERE entry ? 'merges'") >= 1);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bad_merge_is_split)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

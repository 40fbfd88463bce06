/* test_core_accounting.c - every message reaches exactly one outcome.
 *
 * 20,000 valid messages interleaved with the whole intake corpus (every kind
 * of bad message) go through a real rectifyd into a real PostgreSQL: the
 * batch sums equal what was sent, each key appears once across staging and
 * quarantine, each bad message is quarantined with the reason the corpus
 * names, the daemon keeps consuming afterwards, the pending list ends empty,
 * SIGTERM drains and exits 0, and the audit chains verify. */
#include "core_env.h"

#define N_VALID 20000

typedef struct corpus_case {
  char file[128];
  char reason[32];
  char entry_id[64];
} corpus_case_t;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 64);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Corpus files share the id "m-1"; give each its own so that they are not
 * (rightly) treated as redeliveries of one message. */
static void unique_id(char **buf, size_t *len, int i) {
  char *p = memmem(*buf, *len, "\"m-1\"", 5);
  if (p == NULL)
    return;
  char repl[32];
  int rl = snprintf(repl, sizeof(repl), "\"corpus-%d\"", i);
  char *out = malloc(*len + (size_t)rl + 1);
  size_t pre = (size_t)(p - *buf);
  memcpy(out, *buf, pre);
  memcpy(out + pre, repl, (size_t)rl);
  memcpy(out + pre + rl, p + 5, *len - pre - 5);
  *len = *len - 5 + (size_t)rl;
  free(*buf);
  *buf = out;
}

static void test_accounting(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, NULL);
  daemon_start(&e);

  corpus_case_t cases[128];
  int ncases = 0;
  FILE *tsv = fopen(RF_TEST_DATA "/intake/cases.tsv", "r");
  assert_non_null(tsv);
  char line[1024];
  long sent = 0;
  while (fgets(line, sizeof(line), tsv) && ncases < 128) {
    if (line[0] == '#')
      continue;
    corpus_case_t *c = &cases[ncases];
    if (sscanf(line, "%127[^\t]\t%31[^\t\n]", c->file, c->reason) != 2)
      continue;
    char path[512];
    snprintf(path, sizeof(path), RF_TEST_DATA "/intake/%s", c->file);
    size_t len;
    char *raw = slurp(path, &len);
    unique_id(&raw, &len, ncases);
    /* Interleave: some valid traffic before each bad message. */
    produce(&e, sent, sent + N_VALID / 100, "v");
    sent += N_VALID / 100;
    xadd(&e, raw, len, c->entry_id);
    free(raw);
    ncases++;
  }
  fclose(tsv);
  produce(&e, sent, N_VALID, "v");
  long total = N_VALID + ncases;
  wait_all_done(&e, total, 120000);

  /* It keeps consuming after all that. */
  produce(&e, N_VALID, N_VALID + 1000, "v");
  total += 1000;
  wait_all_done(&e, total, 60000);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);

  check_accounting(&e, total);
  for (int i = 0; i < ncases; i++) {
    char sql[256];
    const char *params[1] = {cases[i].entry_id};
    snprintf(sql, sizeof(sql), "SELECT reason FROM rectify.quarantine WHERE source_id = $1");
    PGresult *r = PQexecParams(e.db, sql, 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (PQntuples(r) != 1)
      fail_msg("%s (entry %s): %d quarantine rows", cases[i].file, cases[i].entry_id,
               PQntuples(r));
    const char *want = strcmp(cases[i].reason, "ok") == 0 ? "no_fix" : cases[i].reason;
    if (strcmp(PQgetvalue(r, 0, 0), want) != 0)
      fail_msg("%s: quarantined as %s, expected %s", cases[i].file, PQgetvalue(r, 0, 0), want);
    PQclear(r);
  }
  /* Raw bytes are kept for every quarantined message (oversize: truncated). */
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE raw IS NULL"), 0);
  /* No generator is configured in this test: every valid message is no_fix. */
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE reason = 'no_fix'"),
                   N_VALID + 1000 + 6);
  printf("accounting: %ld messages (%d from the bad corpus), every one accounted for\n", total,
         ncases);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_accounting)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

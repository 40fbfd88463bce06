/* test_model_e2e.c - fixes from a (fake) local model, end to end over Redis
 * and PostgreSQL:
 *  - 20,000 anomalies in 15 pattern families across 3 columns cost at most 15
 *    model calls (counted by the fake); every row is fixed to exactly its
 *    ground-truth value; batches balance; the chain verifies; the receipts
 *    name the fix, generator, model (name@digest) and confidence;
 *  - the same families again after a restart cost zero model calls;
 *  - a revoked fix is not served by the cache any more;
 *  - /metrics counts the model calls, cache hits and transfers;
 *  - the prompts carried only the representatives (at most 5 values each), and
 *    the only process that received row values is the fake model endpoint. */
#include "model_env.h"

#define N_ROWS 20000
#define N_FAMILIES 15

/* Family f's broken value for index i, and the value it must become. */
static void family_value(int f, long i, char *v, size_t vn, char *want, size_t wn,
                         const char **table, const char **column) {
  int y = 1995 + (int)(i % 30), mo = (int)(i % 12) + 1, d = (int)(i / 12 % 28) + 1;
  static const char *const months[] = {"January", "February", "March",     "April",
                                       "May",     "June",     "July",      "August",
                                       "September", "October", "November", "December"};
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  *table = f < 6 ? "orders" : f < 11 ? "products" : "customers";
  *column = f < 6 ? "order_date" : f < 11 ? "weight" : "email";
  if (f < 6)
    snprintf(want, wn, "%04d-%02d-%02d", y, mo, d);
  switch (f) {
  case 0: snprintf(v, vn, "%02d/%02d/%04d", mo, d, y); break;
  case 1: snprintf(v, vn, "%02d.%02d.%04d", d, mo, y); break;
  case 2: snprintf(v, vn, "%s %d, %04d", months[mo - 1], d, y); break;
  case 3: snprintf(v, vn, "%04d_%02d_%02d", y, mo, d); break;
  case 4: snprintf(v, vn, "%04d%02d%02d", y, mo, d); break;
  case 5: snprintf(v, vn, "%d-%s-%04d", d, mon[mo - 1], y); break;
  case 6: snprintf(v, vn, "%ld g", 101 + i % 899); snprintf(want, wn, "%ld", 101 + i % 899); break;
  case 7:
    snprintf(v, vn, "%ld,%03ldg", 1 + i % 99, i % 1000);
    snprintf(want, wn, "%ld", (1 + i % 99) * 1000 + i % 1000);
    break;
  case 8:
    snprintf(v, vn, "%ld.%02ld grams", i % 500, i % 100);
    snprintf(want, wn, "%ld.%02ld", i % 500, i % 100);
    break;
  case 9: snprintf(v, vn, "weight: %ld", i % 5000); snprintf(want, wn, "%ld", i % 5000); break;
  case 10: snprintf(v, vn, "KG%ld", 1 + i % 99); snprintf(want, wn, "%ld", (1 + i % 99) * 1000); break;
  case 11: snprintf(v, vn, " User%ld@Example.COM ", i); snprintf(want, wn, "user%ld@example.com", i); break;
  case 12: snprintf(v, vn, "user%ld(at)example.com", i); snprintf(want, wn, "user%ld@example.com", i); break;
  case 13: snprintf(v, vn, "user%ld at example dot com", i); snprintf(want, wn, "user%ld@example.com", i); break;
  default: snprintf(v, vn, "mailto:user%ld@example.com", i); snprintf(want, wn, "user%ld@example.com", i); break;
  }
}

static void produce_families(core_env_t *e, long from, long to, const char *prefix) {
  char buf[512], v[128], want[128];
  for (long i = from; i < to; i += 500) {
    long end = i + 500 < to ? i + 500 : to;
    for (long k = i; k < end; k++) {
      const char *t, *c;
      family_value((int)(k % N_FAMILIES), k, v, sizeof(v), want, sizeof(want), &t, &c);
      snprintf(buf, sizeof(buf),
               "{\"id\":\"%s-%ld\",\"table\":\"%s\",\"column\":\"%s\",\"pk\":{\"id\":%ld},"
               "\"value\":\"%s\",\"row\":{\"n\":%ld},\"source_system\":\"test\"}",
               prefix, k, t, c, k, v, k);
      redisAppendCommand(e->rc, "XADD %s * payload %s", STREAM, buf);
    }
    for (long k = i; k < end; k++) {
      redisReply *r;
      assert_int_equal(redisGetReply(e->rc, (void **)&r), REDIS_OK);
      freeReplyObject(r);
    }
  }
}

/* Every row of [from, to) is in staging with its ground-truth value. */
static void check_ground_truth(core_env_t *e, long from, long to, const char *prefix) {
  char sql[256];
  snprintf(sql, sizeof(sql), "SELECT key, new_value FROM rectify.staging WHERE key LIKE '%s-%%'",
           prefix);
  PGresult *res = PQexec(e->db, sql);
  assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
  long n = to - from, seen = 0;
  char *got = calloc((size_t)n, 1);
  for (int r = 0; r < PQntuples(res); r++) {
    long k = atol(PQgetvalue(res, r, 0) + strlen(prefix) + 1);
    assert_true(k >= from && k < to);
    char v[128], want[128];
    const char *t, *c;
    family_value((int)(k % N_FAMILIES), k, v, sizeof(v), want, sizeof(want), &t, &c);
    if (strcmp(PQgetvalue(res, r, 1), want) != 0)
      fail_msg("%s-%ld (family %ld): '%s' became '%s', want '%s'", prefix, k, k % N_FAMILIES, v,
               PQgetvalue(res, r, 1), want);
    assert_false(got[k - from]);
    got[k - from] = 1;
    seen++;
  }
  PQclear(res);
  free(got);
  if (seen != n) {
    PGresult *q = PQexec(e->db, "SELECT reason, left(detail, 300), count(*) FROM rectify.quarantine"
                                " GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5");
    for (int r = 0; r < PQntuples(q); r++)
      fprintf(stderr, "quarantined: %s x%s: %s\n", PQgetvalue(q, r, 0), PQgetvalue(q, r, 2),
              PQgetvalue(q, r, 1));
    PQclear(q);
    fail_msg("%ld of %ld rows fixed", seen, n);
  }
}

static void test_families_cost_one_call_each(void **state) {
  (void)state;
  model_env_t m;
  model_env_start(&m);
  core_env_t *e = &m.core;
  fake_start(&m, NULL);
  model_write_conf(&m, "concurrency = 2\ntimeout_ms = 10000\n", NULL);
  daemon_start(e);

  produce_families(e, 0, N_ROWS, "e2e");
  wait_all_done(e, N_ROWS, 60000);
  long calls = fake_count(&m, "/api/chat");
  fprintf(stderr, "model calls for %d rows in %d families: %ld (LLM call reduction %.4f)\n",
          N_ROWS, N_FAMILIES, calls, 1.0 - (double)calls / N_ROWS);
  assert_true(calls >= 1);
  assert_true(calls <= N_FAMILIES);
  check_ground_truth(e, 0, N_ROWS, "e2e");
  check_accounting(e, N_ROWS);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.quarantine"), 0);

  /* Receipts: fix id, generator, model with its digest, confidence. */
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE fix_id IS NULL OR "
                             "lambda IS NULL OR confidence IS NULL OR generator NOT IN "
                             "('model', 'cache', 'transfer')"), 0);
  assert_true(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE generator = 'model' AND "
                        "model = '" MODEL_NAME "@a80c4f17acd55265feec403c7aef86be0c25983ab279d8"
                        "3f3bcd3abbcb5b8b72'") > 0);
  /* Every staged fix is a stored, accepted fix of its own column. */
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging s LEFT JOIN rectify.fixes f "
                             "USING (fix_id) WHERE f.fix_id IS NULL OR f.table_name <> "
                             "s.table_name OR f.column_name <> s.column_name"), 0);
  assert_true(sql_ll(e, "SELECT count(*) FROM rectify.fixes WHERE generator = 'model'") <= calls);

  /* Metrics agree with the fake's count. */
  long long ok = metric(&m, "rectify_model_calls_total{outcome=\"ok\"}");
  long long rej = metric(&m, "rectify_model_calls_total{outcome=\"rejected\"}");
  long long err = metric(&m, "rectify_model_calls_total{outcome=\"error\"}");
  long long hits = metric(&m, "rectify_fix_cache_hits_total");
  long long transfers = metric(&m, "rectify_fix_transfers_total");
  fprintf(stderr, "metrics: ok=%lld rejected=%lld error=%lld cache_hits=%lld transfers=%lld\n",
          ok, rej, err, hits, transfers);
  assert_int_equal(ok + rej + err, calls);
  assert_true(hits >= 0 && transfers >= 0);
  assert_true(metric(&m, "rectify_model_latency_seconds_count") >= calls);

  /* What went to the model: prompts with the column, the contract in words
   * and at most 5 broken values; stream false, temperature 0, a seed. */
  char cmd[1200], *out = NULL;
  snprintf(cmd, sizeof(cmd),
           "python3 -c \"import json,sys\n"
           "bad=0\n"
           "for l in open('%s'):\n"
           "  r=json.loads(l)\n"
           "  if r['path']!='/api/chat': continue\n"
           "  b=r['body']; u=b['messages'][1]['content']\n"
           "  vals=[x for x in u.split('Valid values')[0].split(chr(10)) if x.startswith('- ')]\n"
           "  ok=b['stream'] is False and b['options']['temperature']==0 and 'seed' in b['options']"
           " and 'Contract:' in u and 1<=len(vals)<=5 and b['format']['required']\n"
           "  bad+= not ok\n"
           "print(bad)\"",
           m.fake_log);
  assert_int_equal(rf_h_run(cmd, &out, 20000), 0);
  assert_non_null(out);
  assert_int_equal(atoi(out), 0);
  free(out);

  /* Restart: the same families again cost no model call at all. */
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  daemon_start(e);
  produce_families(e, N_ROWS, N_ROWS + 3000, "e2f");
  wait_all_done(e, N_ROWS + 3000, 60000);
  assert_int_equal(fake_count(&m, "/api/chat"), calls);
  check_ground_truth(e, N_ROWS, N_ROWS + 3000, "e2f");
  /* this run's counters: no call, every cluster from the cache (or transfer) */
  hits = metric(&m, "rectify_fix_cache_hits_total");
  transfers = metric(&m, "rectify_fix_transfers_total");
  fprintf(stderr, "after restart: cache_hits=%lld transfers=%lld\n", hits, transfers);
  assert_int_equal(metric(&m, "rectify_model_calls_total{outcome=\"ok\"}"), 0);
  assert_true(hits + transfers >= N_FAMILIES);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging WHERE key LIKE 'e2f-%' AND "
                             "generator NOT IN ('cache', 'transfer')"), 0);
  check_accounting(e, N_ROWS + 3000);

  /* Revoke the fix of the "mailto:" family: the cache never serves it again,
   * so the next rows of that family go back to the model. */
  PGresult *res = PQexec(e->db, "SELECT fix_id FROM rectify.staging WHERE key = 'e2f-20009'");
  assert_int_equal(PQntuples(res), 1);
  char fix[80];
  snprintf(fix, sizeof(fix), "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl fixes revoke %s --config %s --by test",
           rf_h_bin_dir(), fix, e->conf);
  assert_int_equal(rf_h_run(cmd, NULL, 20000), 0);
  assert_int_equal(rf_h_run(cmd, NULL, 20000), 1); /* already revoked */
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl fixes show %s --config %s --json", rf_h_bin_dir(),
           fix, e->conf);
  out = NULL;
  assert_int_equal(rf_h_run(cmd, &out, 20000), 0);
  assert_non_null(strstr(out, "\"revoked\":true"));
  assert_non_null(strstr(out, "\"revoked_by\":\"test\""));
  free(out);
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl fixes list --config %s --json --all", rf_h_bin_dir(),
           e->conf);
  out = NULL;
  assert_int_equal(rf_h_run(cmd, &out, 20000), 0);
  assert_non_null(strstr(out, fix));
  free(out);
  long before = fake_count(&m, "/api/chat");
  char sqlq[256];
  /* one more row of family 9 (weight: N) and of the revoked fix's family */
  long k = N_ROWS + 3000;
  produce_families(e, k, k + 15, "e2g");
  wait_all_done(e, k + 15, 60000);
  snprintf(sqlq, sizeof(sqlq), "SELECT count(*) FROM rectify.staging WHERE fix_id = '%s' AND key "
           "LIKE 'e2g-%%'", fix);
  assert_int_equal(sql_ll(e, sqlq), 0);
  assert_true(fake_count(&m, "/api/chat") > before);
  check_accounting(e, k + 15);

  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  model_env_stop(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_families_cost_one_call_each),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

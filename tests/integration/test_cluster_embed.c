/* test_cluster_embed.c - the embed clustering stage, end to end over Redis,
 * PostgreSQL and the fake Ollama's /api/embed.
 *
 * products.weight gets `cluster = shape,embed:0.45`. On the fake's
 * hashed-trigram vectors (which lowercase) the "N g" and "N G" families (two
 * shapes) have a mean-vector cosine of about 0.65, every other pair below 0.2:
 * they merge; the fake knows a fix for "N g" only, so the
 * merge gets no fix that serves both and is split back by the pipeline's rule:
 *  - 5,000 rows in five families ("12 g", "12.5 grams", "weight: 12", "KG12",
 *    "12 G")
 *    cost a handful of /api/embed requests: at most one per window, and none
 *    for a window whose representatives are all cached, so the count grows
 *    with windows and distinct clusters, never with rows; the daemon's
 *    rectify_embed_requests_total agrees with the fake's log; each request
 *    carried only representatives (at most 5 per cluster);
 *  - every row ends fixed to its ground truth or quarantined, never wrongly
 *    fixed (a bad merge is split back by the pipeline's existing rule);
 *  - with the embed endpoint answering 500, every window falls back to the
 *    shape clusters (rectify_embed_fallbacks_total > 0) and still finishes;
 *  - both: exactly one outcome per message, batches balance, audit verifies
 *    (check_accounting). */
#include "model_env.h"

#define N_ROWS 5000
#define N_FAMILIES 5

static void write_conf(model_env_t *m) {
  core_env_t *e = &m->core;
  char body[8192];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = test-emb\nlog_level = info\nstate_dir = %s\n"
           "http_listen = 127.0.0.1:%d\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 200\n"
           "[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 200\nwindow_max_rows = 2000\ndrain_timeout_ms = 20000\n"
           "embed_model = all-minilm\n"
           "[model]\nurl = http://127.0.0.1:%d\nmodel = " MODEL_NAME "\n"
           "prompt_dir = " RF_SOURCE_DIR "/conf/prompts\nconcurrency = 2\ntimeout_ms = 10000\n"
           "[fixes]\nsynth = no\n"
           "[column \"products.weight\"]\ntype = decimal\nmin = 0\nmax = 100000\n"
           "cluster = shape,embed:0.45\n",
           e->dir, m->http_port, e->redis.port, e->pg.conninfo, m->fake_port);
  assert_int_equal(rf_h_write_file(e->conf, body), 0);
}

static void family_value(long i, char *v, size_t vn, char *want, size_t wn) {
  long n = 1 + (i * 7) % 97, d = 1 + i % 9;
  switch (i % N_FAMILIES) {
  case 0: snprintf(v, vn, "%ld g", n); snprintf(want, wn, "%ld", n); break;
  case 1: snprintf(v, vn, "%ld.%ld grams", n, d); snprintf(want, wn, "%ld.%ld", n, d); break;
  case 2: snprintf(v, vn, "weight: %ld", n); snprintf(want, wn, "%ld", n); break;
  case 3: snprintf(v, vn, "KG%ld", n); snprintf(want, wn, "%ld", n * 1000); break;
  default: snprintf(v, vn, "%ld G", n); snprintf(want, wn, "%ld", n); break;
  }
}

static void send_all(model_env_t *m, const char *prefix) {
  char buf[512], v[64], want[32];
  for (long i = 0; i < N_ROWS; i++) {
    family_value(i, v, sizeof(v), want, sizeof(want));
    snprintf(buf, sizeof(buf),
             "{\"id\":\"%s-%ld\",\"table\":\"products\",\"column\":\"weight\",\"pk\":{\"id\":%ld},"
             "\"value\":\"%s\",\"row\":{\"n\":%ld},\"source_system\":\"test\"}",
             prefix, i, i, v, i);
    xadd_json(&m->core, buf);
  }
}

/* Every row: one outcome; fixed only to its ground truth. Returns the fixed count. */
static long check_rows(model_env_t *m, const char *prefix) {
  long fixed = 0, quarantined = 0;
  char v[64], want[32], key[64];
  for (long i = 0; i < N_ROWS; i++) {
    family_value(i, v, sizeof(v), want, sizeof(want));
    snprintf(key, sizeof(key), "%s-%ld", prefix, i);
    const char *params[1] = {key};
    PGresult *r = PQexecParams(m->core.db,
                               "SELECT 'fixed', new_value FROM rectify.staging WHERE key = $1 "
                               "UNION ALL SELECT 'quarantined', detail FROM rectify.quarantine "
                               "WHERE key = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (PQntuples(r) != 1)
      fail_msg("%s: %d outcomes", key, PQntuples(r));
    if (strcmp(PQgetvalue(r, 0, 0), "fixed") == 0) {
      if (strcmp(PQgetvalue(r, 0, 1), want) != 0)
        fail_msg("WRONG FIX %s (%s): got %s, truth %s", key, v, PQgetvalue(r, 0, 1), want);
      fixed++;
    } else {
      quarantined++;
    }
    PQclear(r);
  }
  fprintf(stderr, "embed e2e %s: fixed=%ld quarantined=%ld\n", prefix, fixed, quarantined);
  return fixed;
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

/* The largest number of inputs one /api/embed request carried. */
static long max_inputs(model_env_t *m) {
  char cmd[900], *out = NULL;
  snprintf(cmd, sizeof(cmd), "python3 -c \"import json,sys; print(max([len(e['body']['input']) "
           "for e in map(json.loads, open(sys.argv[1])) if e['path'] == '/api/embed'] or [0]))\" %s",
           m->fake_log);
  rf_h_run(cmd, &out, 10000);
  long n = out ? atol(out) : -1;
  free(out);
  return n;
}

static void test_embed_requests_grow_with_clusters(void **state) {
  (void)state;
  model_env_t m;
  core_env_t *e = &m.core;
  model_env_start(&m);
  fake_start(&m, NULL);
  write_conf(&m);
  daemon_start(e);
  send_all(&m, "em");
  wait_all_done(e, N_ROWS, 120000);
  long reqs = fake_count(&m, "/api/embed");
  long windows = (long)sql_ll(e, "SELECT count(*) FROM rectify.batches");
  fprintf(stderr, "embed e2e: rows=%d embed_requests=%ld batches=%ld max_inputs=%ld\n", N_ROWS,
          reqs, windows, max_inputs(&m));
  assert_true(reqs >= 1);
  assert_true(reqs <= windows);        /* at most one per window */
  assert_true(reqs <= 10);             /* a handful for 5,000 rows */
  /* four shape families, at most 5 representatives each per request */
  assert_true(max_inputs(&m) >= 1 && max_inputs(&m) <= 5 * 8);
  assert_int_equal(metric(&m, "rectify_embed_requests_total"), reqs);
  assert_int_equal(metric(&m, "rectify_embed_fallbacks_total"), 0);
  /* the stage ran on the answers and merged some shape clusters */
  assert_true(log_has(e->log, "embed stage table=products column=weight clusters_before=5 "
                              "clusters_after=4"));
  assert_false(log_has(e->log, "embed stage skipped"));
  /* the N g + N G merge had no fix for both: split back, each part alone */
  assert_true(log_has(e->log, "cluster split back table=products column=weight"));
  assert_true(check_rows(&m, "em") > 0);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  check_accounting(e, N_ROWS);
  model_env_stop(&m);
}

static void test_embed_failure_falls_back(void **state) {
  (void)state;
  model_env_t m;
  core_env_t *e = &m.core;
  model_env_start(&m);
  fake_start(&m, "{\"embed_500\": true}");
  write_conf(&m);
  daemon_start(e);
  send_all(&m, "fb");
  wait_all_done(e, N_ROWS, 120000);
  long reqs = fake_count(&m, "/api/embed");
  long long fallbacks = metric(&m, "rectify_embed_fallbacks_total");
  fprintf(stderr, "embed fallback: embed_requests=%ld fallbacks=%lld\n", reqs, fallbacks);
  assert_true(reqs >= 1);
  assert_true(fallbacks >= reqs);
  assert_true(log_has(e->log, "embed stage skipped table=products column=weight"));
  assert_int_equal(metric(&m, "rectify_embed_requests_total"), reqs);
  /* the four families the fake knows are fixed by their own shape clusters */
  assert_true(check_rows(&m, "fb") >= N_ROWS / N_FAMILIES * 4);
  assert_int_equal(daemon_stop(e, SIGTERM, 30000), 0);
  check_accounting(e, N_ROWS);
  model_env_stop(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embed_requests_grow_with_clusters),
      cmocka_unit_test(test_embed_failure_falls_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

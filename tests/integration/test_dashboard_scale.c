/* test_dashboard_scale.c - the dashboard stays fast with 100 000 open rows.
 *
 * 100 000 quarantined rows (three tables, 601 clusters, one of them 5 000
 * rows) are written through rectify's writer, then each view is timed: the
 * overview, the first and a far page of the cluster list, a cluster page, a
 * row, and a preview + apply over the 5 000-row cluster. Each must answer
 * within its budget on the 2-core test machine under ASan (the budgets are
 * printed with the timings). The books balance afterwards and the chain
 * verifies.
 */
#include <time.h>

#include "../dashboard/seed.h"
#include "core_env.h"
#include "rectify/dashboard.h"
#include "rectify/error.h"

#define N_ROWS 100000
#define BIG 5000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct wstate {
  int done, status, closed;
} wstate_t;

static void on_done(rf_flush_t *f, int status, void *arg) {
  wstate_t *s = arg;
  s->done++;
  if (status)
    s->status = status;
  rf_flush_free(f);
}

static void on_closed(rf_writer_t *w, void *arg) {
  (void)w;
  ((wstate_t *)arg)->closed = 1;
}

/* Row i: the first BIG rows are one date cluster; the rest spread over 200
 * fingerprints over three columns (600 clusters). */
static void add_row(rf_flush_t *f, long i) {
  static const char *const cols[3][2] = {
      {"orders", "order_date"}, {"customers", "email"}, {"products", "weight"}};
  char key[64], value[64], fp[64], pk[64], raw[256];
  const char *t, *c;
  if (i < BIG) {
    t = "orders";
    c = "order_date";
    snprintf(value, sizeof(value), "%02ld/%02ld/20%02ld", i % 12 + 1, i % 28 + 1, 10 + i % 15);
    snprintf(fp, sizeof(fp), "big-9/9/9999");
  } else {
    t = cols[i % 3][0];
    c = cols[i % 3][1];
    snprintf(value, sizeof(value), "v-%ld", i);
    snprintf(fp, sizeof(fp), "fp-%ld", i % 200);
  }
  snprintf(key, sizeof(key), "scale-%07ld", i);
  snprintf(pk, sizeof(pk), "{\"id\":%ld}", i);
  snprintf(raw, sizeof(raw), "{\"id\":\"%s\",\"table\":\"%s\",\"column\":\"%s\",\"pk\":%s,"
           "\"value\":\"%s\"}", key, t, c, pk, value);
  rf_outcome_t *o = rf_flush_add(f);
  o->kind = RF_OUTCOME_QUARANTINED;
  o->key = rf_strdup(key);
  o->source = rf_strdup("redis:needs_ai");
  o->table_name = rf_strdup(t);
  o->column_name = rf_strdup(c);
  o->pk_json = rf_strdup(pk);
  o->old_value = rf_strdup(value);
  o->fingerprint = rf_strdup(fp);
  o->reason = rf_strdup(i % 2 ? "no_fix" : "lambda_failed_validation");
  o->lambda_src = rf_strdup("lambda x: x");
  o->raw = (unsigned char *)rf_strdup(raw);
  o->raw_len = strlen(raw);
}

static void seed_many(const char *conninfo) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  rf_writer_config_t wc = {.conninfo = conninfo, .chain_id = "scale", .max_txn_rows = 20000};
  wstate_t st = {0, 0, 0};
  rf_writer_t *w = NULL;
  assert_int_equal(rf_writer_new(&loop, &wc, on_done, &st, &w), 0);
  int flushes = 0;
  for (long i = 0; i < N_ROWS; i += 10000) {
    rf_flush_t *f = rf_flush_new("redis:needs_ai", NULL, NULL);
    for (long k = i; k < i + 10000 && k < N_ROWS; k++)
      add_row(f, k);
    assert_int_equal(rf_writer_submit(w, f), 0);
    flushes++;
  }
  while (st.done < flushes)
    uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(st.status, 0);
  rf_writer_close(w, 5000, on_closed, &st);
  while (!st.closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_loop_close(&loop);
}

#define TIMED(budget, what, call)                                                                 \
  do {                                                                                            \
    double t0_ = now_s();                                                                         \
    assert_int_equal((call), 0);                                                                  \
    double dt_ = now_s() - t0_;                                                                   \
    print_message("%-28s %7.3f s (budget %.1f s)\n", what, dt_, (double)(budget));                 \
    if (dt_ > (budget))                                                                           \
      fail_msg("%s took %.3f s, budget %.1f s", what, dt_, (double)(budget));                    \
  } while (0)

static void test_scale(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, SEED_CONTRACTS);
  double t0 = now_s();
  seed_many(e.pg.conninfo);
  print_message("seeded %d rows in %.1f s\n", N_ROWS, now_s() - t0);
  assert_int_equal(rf_h_pg_exec(e.db, "ANALYZE"), 0);
  char err[1024];
  rf_config_t *cfg = rf_config_load(e.conf, err, sizeof(err));
  assert_non_null(cfg);
  rf_dashboard_t *d = NULL;
  rf_dashboard_opts_t o = {.cfg = cfg, .chain_id = "dashboard:scale"};
  assert_int_equal(rf_dashboard_new(&o, &d, err, sizeof(err)), 0);
  rf_dash_status_t st;
  cJSON *doc = NULL;
  TIMED(3.0, "overview", rf_dashboard_overview(d, &doc, &st));
  cJSON *l24 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "last_24h"), 0);
  assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(l24, "open")), N_ROWS);
  cJSON_Delete(doc);
  rf_dash_filter_t f = {NULL, NULL, NULL, 0};
  TIMED(3.0, "clusters page 0", rf_dashboard_clusters(d, &f, &doc, &st));
  cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clusters"), 0);
  assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(first, "count")), BIG);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "clusters")), RF_DASH_PAGE_ROWS);
  cJSON_Delete(doc);
  f.page = 12; /* 601 clusters: the last page holds one */
  TIMED(3.0, "clusters page 12", rf_dashboard_clusters(d, &f, &doc, &st));
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "clusters")), 1);
  cJSON_Delete(doc);
  f.page = 0;
  f.table_name = "customers";
  TIMED(3.0, "clusters filtered", rf_dashboard_clusters(d, &f, &doc, &st));
  cJSON_Delete(doc);
  TIMED(1.0, "cluster page", rf_dashboard_cluster(d, "orders", "order_date", "big-9/9/9999", 20,
                                                  &doc, &st));
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "rows")), RF_DASH_PAGE_ROWS);
  cJSON_Delete(doc);
  TIMED(1.0, "row", rf_dashboard_row(d, "scale-0099999", &doc, &st));
  cJSON_Delete(doc);
  TIMED(5.0, "preview 5000 rows", rf_dashboard_preview(d, "orders", "order_date", "big-9/9/9999",
                                                       SEED_FIXED_LAMBDA, &doc, &st));
  assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "n")), BIG);
  char digest[80];
  snprintf(digest, sizeof(digest), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(doc, "digest")));
  long n_ok = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "n_ok"));
  cJSON_Delete(doc);
  TIMED(10.0, "apply 5000 rows", rf_dashboard_apply(d, "scaler", "orders", "order_date",
                                                     "big-9/9/9999", SEED_FIXED_LAMBDA, digest,
                                                     &doc, &st));
  assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "moved")), n_ok);
  cJSON_Delete(doc);
  TIMED(3.0, "overview after apply", rf_dashboard_overview(d, &doc, &st));
  l24 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "last_24h"), 0);
  assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(l24, "open")), N_ROWS - n_ok);
  cJSON_Delete(doc);
  rf_dashboard_free(d);
  rf_config_free(cfg);
  /* The books: no redis stream here, so the checks by hand. */
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.batches WHERE received <> fixed +"
                              " quarantined"),
                   0);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging s JOIN rectify.quarantine q"
                              " USING (key)"),
                   n_ok);
  char *out = NULL;
  assert_int_equal(audit_verify(&e, &out), 0);
  free(out);
  env_stop(&e);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_scale)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

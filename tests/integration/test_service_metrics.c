/* test_service_metrics.c - /metrics, /healthz and /readyz.
 *
 * After a run with good and bad messages, /metrics passes a strict
 * Prometheus parser (tests/integration/check_metrics.py) and its counters
 * equal the database's totals; /healthz answers 200; /readyz answers 200,
 * then 503 while PostgreSQL is down, then 200 again; a non-loopback
 * http_listen is refused at start. */
#include "service_env.h"

#define N 6000

static long long metric(const char *json, const char *key) {
  char pat[256];
  snprintf(pat, sizeof(pat), "\"%s\": ", key);
  const char *p = strstr(json, pat);
  if (p == NULL)
    fail_msg("metric %s missing from %s", key, json);
  return (long long)strtod(p + strlen(pat), NULL);
}

typedef struct ready_probe {
  const char *url;
  long want;
} ready_probe_t;

static bool ready_is(void *arg) {
  ready_probe_t *r = arg;
  char *body = NULL;
  long st = http_get(r->url, &body);
  free(body);
  return st == r->want;
}

static void test_metrics(void **state) {
  (void)state;
  core_env_t e;
  int port = free_port();
  char extra[64];
  snprintf(extra, sizeof(extra), "\n");
  env_start(&e, extra);
  /* http_listen is set in [daemon]; rewrite the file with it. */
  char listen[64];
  snprintf(listen, sizeof(listen), "http_listen = 127.0.0.1:%d\n", port);
  conf_replace(&e, "http_listen =\n", listen);
  daemon_start(&e);

  produce(&e, 0, N, "m");
  xadd(&e, "not json", 8, NULL);
  xadd(&e, "{\"table\":\"t\"}", 13, NULL);
  wait_all_done(&e, N + 2, 60000);

  char url[128], *body = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
  assert_int_equal(http_get(url, &body), 200);
  assert_string_equal(body, "ok\n");
  free(body);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
  assert_int_equal(http_get(url, &body), 200);
  free(body);

  /* The counters catch up within a publish period; compare once they have. */
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
  char path[700], cmd[1600], *json = NULL;
  snprintf(path, sizeof(path), "%s/metrics.txt", e.dir);
  for (int attempt = 0; attempt < 80; attempt++) {
    assert_int_equal(http_get(url, &body), 200);
    assert_int_equal(rf_h_write_file(path, body), 0);
    free(body);
    free(json);
    json = NULL;
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/integration/check_metrics.py %s",
             RF_SOURCE_DIR, path);
    int rc = rf_h_run(cmd, &json, 30000);
    if (rc != 0)
      fail_msg("check_metrics.py exit %d on %s", rc, path);
    /* The stream's lag is asked at most once a second: wait for it too. */
    if (metric(json, "rectify_messages_acked_total") == N + 2 &&
        strstr(json, "\"rectify_source_lag_messages{partition=needs_ai,source=redis:needs_ai}\": 0.0"))
      break;
    usleep(100 * 1000);
  }
  assert_int_equal(metric(json, "rectify_messages_received_total"),
                   sql_ll(&e, "SELECT sum(received) FROM rectify.batches"));
  assert_int_equal(metric(json, "rectify_messages_fixed_total"),
                   sql_ll(&e, "SELECT sum(fixed) FROM rectify.batches"));
  assert_int_equal(metric(json, "rectify_messages_quarantined_total{reason=no_fix}"),
                   sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE reason = 'no_fix'"));
  assert_int_equal(metric(json, "rectify_messages_quarantined_total{reason=malformed}"),
                   sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE reason = "
                              "'malformed'"));
  assert_int_equal(metric(json, "rectify_messages_quarantined_total{reason=malformed}"), 2);
  assert_int_equal(metric(json, "rectify_batches_committed_total"),
                   sql_ll(&e, "SELECT count(*) FROM rectify.batches"));
  assert_int_equal(metric(json, "rectify_audit_chain_length{chain=test-a}"),
                   sql_ll(&e, "SELECT max(seq) FROM rectify.audit WHERE chain_id = 'test-a'"));
  assert_int_equal(metric(json, "rectify_messages_acked_total"), N + 2);
  assert_int_equal(metric(json, "rectify_inflight_messages"), 0);
  /* Everything was delivered: the group's lag on the stream is 0. */
  assert_int_equal(metric(json, "rectify_source_lag_messages{partition=needs_ai,source=redis:needs_ai}"),
                   0);
  assert_int_equal(metric(json, "rectify_reconciliation_failures_total"), 0);
  free(json);

  /* Not ready while PostgreSQL is down; ready again after. */
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
  PQfinish(e.db);
  e.db = NULL;
  assert_int_equal(rf_h_pg_stop(&e.pg), 0);
  produce(&e, N, N + 100, "m"); /* the writer notices at its next transaction */
  ready_probe_t down = {url, 503}, up = {url, 200};
  assert_true(rf_h_wait_until(ready_is, &down, 30000));
  assert_int_equal(rf_h_pg_restart(&e.pg), 0);
  assert_true(rf_h_wait_until(ready_is, &up, 30000));
  e.db = rf_h_pg_connect(&e.pg);
  wait_all_done(&e, N + 102, 60000);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, N + 102);

  /* A non-loopback listen address is refused at start, with the reason. */
  conf_replace(&e, listen, "http_listen = 8.8.8.8:9187\n");
  daemon_start(&e);
  int st;
  assert_true(rf_h_wait(&e.daemon, 10000, &st) >= 0);
  assert_int_equal(WEXITSTATUS(st), 1);
  snprintf(cmd, sizeof(cmd), "grep -q 'not a loopback address' %s", e.log);
  assert_int_equal(rf_h_run(cmd, NULL, 5000), 0);
  env_stop(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_metrics)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}

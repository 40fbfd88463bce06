/* test_service_sev1.c - the Sev-1 path.
 *
 * A test hook (RECTIFY_TEST_DROP_OUTCOME=1) makes the first window lose one
 * outcome. rectifyd must refuse to commit it (received != fixed +
 * quarantined), log at CRIT, count it in /metrics, POST a JSON alert to
 * alert_webhook_url (retrying after the sink's first 503), and stop
 * acknowledging: the messages stay pending in the stream and nothing of that
 * window reaches the database. After a restart without the hook, everything
 * is processed and accounted for. */
#include "service_env.h"

#define N 300

typedef struct file_has {
  const char *path, *needle;
} file_has_t;

static bool has(void *arg) {
  file_has_t *f = arg;
  char cmd[1400];
  snprintf(cmd, sizeof(cmd), "grep -q '%s' %s 2>/dev/null", f->needle, f->path);
  return rf_h_run(cmd, NULL, 5000) == 0;
}

static void test_sev1(void **state) {
  (void)state;
  core_env_t e;
  int http = free_port(), hook = free_port();
  env_start(&e, NULL);
  /* The whole stream in one window, flushed by size. */
  conf_replace(&e, "window_ms = 200\nwindow_max_rows = 2000\n",
               "window_ms = 9000\nwindow_max_rows = 300\n");
  /* Add the alert URL and the HTTP port to [daemon]. */
  char lines[256];
  snprintf(lines, sizeof(lines),
           "http_listen = 127.0.0.1:%d\nalert_webhook_url = http://127.0.0.1:%d/alert\n"
           "alert_retries = 3\n",
           http, hook);
  conf_replace(&e, "http_listen =\n", lines);

  char sink_out[700], port_s[16], script[700];
  snprintf(sink_out, sizeof(sink_out), "%s/alerts.txt", e.dir);
  snprintf(port_s, sizeof(port_s), "%d", hook);
  snprintf(script, sizeof(script), "%s/tests/integration/webhook_sink.py", RF_SOURCE_DIR);
  rf_h_proc_t sink;
  char sinklog[700];
  snprintf(sinklog, sizeof(sinklog), "%s/sink.log", e.dir);
  char *sargv[] = {"/usr/bin/python3", script, port_s, sink_out, NULL};
  assert_int_equal(rf_h_spawn(&sink, sargv, NULL, sinklog), 0);
  usleep(500 * 1000);

  char bin[600];
  snprintf(bin, sizeof(bin), "%s/rectifyd", rf_h_bin_dir());
  snprintf(e.log, sizeof(e.log), "%s/rectifyd.sev1.log", e.dir);
  char *argv[] = {bin, "-c", e.conf, NULL};
  char *env[] = {"RECTIFY_TEST_DROP_OUTCOME=1", NULL};
  assert_int_equal(rf_h_spawn(&e.daemon, argv, env, e.log), 0);
  /* One table only, so that the first (and only) window is the damaged one. */
  char msg[256];
  for (int i = 0; i < N; i++) {
    snprintf(msg, sizeof(msg),
             "{\"id\":\"s-%d\",\"table\":\"t\",\"column\":\"c\",\"pk\":{\"id\":%d},\"value\":\"v%d\"}",
             i, i, i);
    xadd(&e, msg, strlen(msg), NULL);
  }
  /* The alert arrives, after one retry (the sink refuses the first POST). */
  file_has_t second = {sink_out, "^2 application/json .*\"severity\":\"SEV1\""};
  assert_true(rf_h_wait_until(has, &second, 30000));
  file_has_t crit = {e.log, "CRIT pipeline: SEV-1 reconciliation failed rows=300"};
  assert_true(has(&crit));
  char cmd[1600], *out = NULL;
  snprintf(cmd, sizeof(cmd), "cat %s", sink_out);
  rf_h_run(cmd, &out, 5000);
  assert_non_null(strstr(out, "\"service\":\"rectifyd\""));
  assert_non_null(strstr(out, "\"instance\":\"test-a\""));
  assert_null(strstr(out, "v1")); /* no row values in alerts */
  free(out);

  /* Counted, not ready... and nothing acknowledged or committed. */
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http);
  char *metrics = NULL;
  assert_int_equal(http_get(url, &metrics), 200);
  assert_non_null(strstr(metrics, "rectify_reconciliation_failures_total 1\n"));
  free(metrics);
  assert_int_equal(pending_count(&e), N);
  assert_int_equal(received_total(&e), 0);

  /* The operator restarts it (without the hook): everything is processed. */
  assert_int_equal(daemon_stop(&e, SIGKILL, 10000), 128 + SIGKILL);
  daemon_start(&e);
  wait_all_done(&e, N, 90000);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, N);
  rf_h_signal(&sink, SIGTERM);
  int st;
  rf_h_wait(&sink, 5000, &st);
  env_stop(&e);
}

static bool schema_ready(void *arg) {
  core_env_t *e = arg;
  return sql_ll(e, "SELECT (to_regclass('rectify.audit') IS NOT NULL)::int") == 1;
}

/* The database refuses the audit chain entry itself (here: a trigger a
 * superuser added). After a few retries it is a Sev-1: CRIT, counted,
 * nothing committed or acknowledged. */
static void test_audit_append_refused(void **state) {
  (void)state;
  core_env_t e;
  int http = free_port();
  env_start(&e, NULL);
  char listen[64];
  snprintf(listen, sizeof(listen), "http_listen = 127.0.0.1:%d\n", http);
  conf_replace(&e, "http_listen =\n", listen);
  daemon_start(&e);
  assert_true(rf_h_wait_until(schema_ready, &e, 30000));
  assert_int_equal(rf_h_pg_exec(e.db,
                                "CREATE FUNCTION public.no_audit() RETURNS trigger LANGUAGE plpgsql "
                                "AS $$BEGIN RAISE EXCEPTION 'audit appends are refused'; END$$;"
                                "CREATE TRIGGER no_audit BEFORE INSERT ON rectify.audit "
                                "FOR EACH ROW EXECUTE FUNCTION public.no_audit();"),
                   0);
  produce(&e, 0, 100, "a");
  file_has_t crit = {e.log, "CRIT pipeline: SEV-1 audit append failed"};
  assert_true(rf_h_wait_until(has, &crit, 30000));
  char url[128], *metrics = NULL;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", http);
  usleep(400 * 1000);
  assert_int_equal(http_get(url, &metrics), 200);
  /* One per refused transaction: the windows may have gone in one or several. */
  const char *v = strstr(metrics, "\nrectify_audit_append_failures_total ");
  assert_non_null(v);
  assert_true(atoi(v + strlen("\nrectify_audit_append_failures_total ")) >= 1);
  free(metrics);
  assert_int_equal(received_total(&e), 0);
  assert_int_equal(pending_count(&e), 100);
  env_stop(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sev1),
                                     cmocka_unit_test(test_audit_append_refused)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}

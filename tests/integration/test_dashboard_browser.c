/* test_dashboard_browser.c - the quarantine dashboard end to end, in a real
 * browser.
 *
 * The harness starts PostgreSQL and Redis, seeds the quarantine
 * (tests/dashboard/seed.h: a date cluster whose model proposal the gate
 * refused), starts the real `rectifyctl serve` with a token file, and runs
 * tests/dashboard/run.sh: headless Debian chromium driven by playwright-core
 * signs in with the token, opens the cluster, sees the proposal refused,
 * edits the lambda, previews every row, applies, opens the rows, has a
 * contract-breaking value refused, verifies the chain from the page, and
 * saves a screenshot of each view under <build>/dashboard-screenshots/.
 * Then, from the database: the rows the lambda fixed moved to staging with
 * generator "human", the one it could not fix stayed open, every batch
 * balances, nothing was lost or duplicated, `rectifyctl audit verify` passes
 * and the dashboard's chain entry names the person.
 *
 * Skipped (not failed) when chromium or node is not installed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../dashboard/seed.h"
#include "core_env.h"

#define ACTOR "ivy"

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static bool have(const char *cmd) {
  char line[300];
  snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", cmd);
  return rf_h_run(line, NULL, 10000) == 0;
}

typedef struct up {
  int port;
  const char *log;
} up_t;

/* rectifyctl serve prints its port once it listens. */
static bool serving(void *arg) {
  up_t *u = arg;
  char cmd[900];
  snprintf(cmd, sizeof(cmd), "grep -q 'listening on port %d' %s", u->port, u->log);
  return rf_h_run(cmd, NULL, 5000) == 0;
}

static void test_browser(void **state) {
  (void)state;
  if (access("/usr/bin/chromium", X_OK) != 0 || !have("node") || !have("npm")) {
    print_message("chromium, node or npm is missing: apt-get install chromium nodejs npm\n");
    skip();
  }
  core_env_t e;
  env_start(&e, SEED_CONTRACTS);
  assert_int_equal(seed_quarantine(e.pg.conninfo), 0);
  /* The stream and group exist, as they would with rectifyd running. */
  assert_int_equal(redis_ll(&e, "XGROUP CREATE %s %s 0 MKSTREAM", STREAM, GROUP), -1);
  char tokens[700], token[64], serve_log[700];
  snprintf(token, sizeof(token), "e2e-%08x-0123456789abcdef", (unsigned)getpid());
  snprintf(tokens, sizeof(tokens), "%s/tokens", e.dir);
  char body[200];
  snprintf(body, sizeof(body), ACTOR " %s\n", token);
  assert_int_equal(rf_h_write_file(tokens, body), 0);
  assert_int_equal(chmod(tokens, 0600), 0);
  up_t u = {free_port(), serve_log};
  char listen[64], bin[700];
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", u.port);
  snprintf(bin, sizeof(bin), "%s/rectifyctl", rf_h_bin_dir());
  snprintf(serve_log, sizeof(serve_log), "%s/serve.log", e.dir);
  char *argv[] = {bin, "serve", "--config", e.conf, "--listen", listen, "--token-file", tokens,
                  NULL};
  rf_h_proc_t serve;
  assert_int_equal(rf_h_spawn(&serve, argv, NULL, serve_log), 0);
  assert_true(rf_h_wait_until(serving, &u, 20000));

  char cmd[3000], *out = NULL;
  snprintf(cmd, sizeof(cmd),
           "RF_DASH_URL=http://127.0.0.1:%d RF_DASH_TOKEN=%s RF_SHOT_DIR=%s/dashboard-screenshots "
           "RF_LAMBDA=\"%s\" sh %s/tests/dashboard/run.sh",
           u.port, token, RF_BIN_DIR, SEED_FIXED_LAMBDA, RF_SOURCE_DIR);
  int rc = rf_h_run(cmd, &out, 600000);
  if (rc != 0) {
    char tail[900];
    snprintf(tail, sizeof(tail), "tail -n 30 %s >&2", serve_log);
    if (system(tail) < 0)
      perror("system");
    fail_msg("browser test exit %d, output:\n%s", rc, out ? out : "");
  }
  print_message("browser saw: %s", out);
  assert_non_null(strstr(out, "\"actor\":\"" ACTOR "\""));
  assert_non_null(strstr(out, "5 of 6 rows would move to staging"));
  assert_non_null(strstr(out, "breaks the contract of orders.order_date"));
  free(out);
  rf_h_signal(&serve, SIGTERM);
  int st = 0;
  assert_true(rf_h_wait(&serve, 10000, &st) >= 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

  /* The database agrees with what the page said. */
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE generator = 'human'"
                              " AND table_name = 'orders' AND lambda IS NOT NULL"),
                   SEED_DATES - 1);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE key = 'ord-105'"), 0);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.actions WHERE actor = '" ACTOR "'"
                              " AND action = 'resolve'"),
                   SEED_DATES - 1);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.audit WHERE chain_id LIKE"
                              " 'dashboard:%' AND entry->>'actor' = '" ACTOR "'"),
                   1);
  check_accounting(&e, SEED_TOTAL);
  char *verify = NULL;
  assert_int_equal(audit_verify(&e, &verify), 0);
  assert_non_null(strstr(verify, "OK: audit chain verified"));
  free(verify);
  env_stop(&e);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_browser)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

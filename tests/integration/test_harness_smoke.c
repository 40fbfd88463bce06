/* test_harness_smoke.c - the test harness tests itself.
 *
 * Every integration test stands on tests/harness, so its promises are checked
 * here against the real servers: PostgreSQL starts from the template with the
 * `rectify` database, on loopback, with fsync on, survives stop/restart with
 * its data; Redis answers and persists nothing; processes are spawned, waited
 * for, signalled and timed out; and nothing outlives a test process that is
 * killed (SIGTERM handler, parent-death signal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static bool dir_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 65536);
  size_t n = buf ? fread(buf, 1, 65535, f) : 0;
  (void)n;
  fclose(f);
  return buf;
}

static void test_pg_lifecycle(void **state) {
  (void)state;
  rf_h_pg_t pg;
  assert_int_equal(rf_h_pg_start(&pg), 0);
  assert_true(pg.port >= 20000 && pg.port <= 60000);
  assert_true(pg.pid > 0);
  assert_true(dir_exists(pg.dir));
  char want[128];
  snprintf(want, sizeof(want), "host=127.0.0.1 port=%d dbname=rectify user=postgres", pg.port);
  assert_string_equal(pg.conninfo, want);

  PGconn *c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT 41 + 1"), 42);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT current_database() = 'rectify'"), 1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT current_setting('fsync') = 'on'"), 1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT current_setting('max_connections')::int"), 50);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT current_setting('listen_addresses') = '127.0.0.1'"), 1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT inet_server_addr() = '127.0.0.1'::inet"), 1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT pg_encoding_to_char(encoding) = 'UTF8' FROM "
                                     "pg_database WHERE datname = 'rectify'"),
                   1);
  /* Several statements in one call. */
  assert_int_equal(rf_h_pg_exec(c, "CREATE TABLE t (k bigint PRIMARY KEY);"
                                   "INSERT INTO t SELECT generate_series(1, 1000);"),
                   0);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT count(*) FROM t"), 1000);
  /* Errors are reported, not swallowed. */
  assert_int_equal(rf_h_pg_exec(c, "SELECT * FROM no_such_table"), -1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT NULL::int"), -1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT 'abc'"), -1);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT 1 WHERE false"), -1);
  PQfinish(c);

  /* stop keeps the data; restart brings it back on the same port. */
  int port = pg.port;
  assert_int_equal(rf_h_pg_stop(&pg), 0);
  assert_int_equal(pg.pid, 0);
  assert_true(dir_exists(pg.dir));
  assert_int_equal(PQping(pg.conninfo), PQPING_NO_RESPONSE);
  assert_int_equal(rf_h_pg_stop(&pg), -1); /* not running */
  assert_int_equal(rf_h_pg_restart(&pg), 0);
  assert_int_equal(pg.port, port);
  assert_true(pg.pid > 0);
  assert_int_equal(rf_h_pg_restart(&pg), -1); /* already running */
  c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT sum(k) FROM t"), 500500);
  PQfinish(c);

  /* A crash (SIGKILL of the postmaster while a client is connected): restart
   * recovers, committed data survives. */
  c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  assert_int_equal(kill(pg.pid, SIGKILL), 0);
  assert_int_equal(rf_h_pg_restart(&pg), 0);
  PQfinish(c);
  c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  assert_int_equal(rf_h_pg_scalar(c, "SELECT count(*) FROM t"), 1000);
  PQfinish(c);

  char dir[512];
  snprintf(dir, sizeof(dir), "%s", pg.dir);
  int pid = pg.pid;
  rf_h_pg_destroy(&pg);
  assert_false(dir_exists(dir));
  assert_int_equal(kill(pid, 0), -1);
  assert_int_equal(pg.pid, 0);
  rf_h_pg_destroy(&pg); /* idempotent */
}

static void test_pg_two_clusters(void **state) {
  (void)state;
  rf_h_pg_t a, b;
  assert_int_equal(rf_h_pg_start(&a), 0);
  assert_int_equal(rf_h_pg_start(&b), 0);
  assert_int_not_equal(a.port, b.port);
  assert_string_not_equal(a.dir, b.dir);
  PGconn *ca = rf_h_pg_connect(&a), *cb = rf_h_pg_connect(&b);
  assert_non_null(ca);
  assert_non_null(cb);
  assert_int_equal(rf_h_pg_exec(ca, "CREATE TABLE only_in_a (x int)"), 0);
  assert_int_equal(rf_h_pg_scalar(cb, "SELECT count(*) FROM pg_class WHERE relname = 'only_in_a'"),
                   0);
  PQfinish(ca);
  PQfinish(cb);
  rf_h_pg_destroy(&a);
  rf_h_pg_destroy(&b);
}

static void test_redis(void **state) {
  (void)state;
  rf_h_redis_t r;
  assert_int_equal(rf_h_redis_start(&r), 0);
  assert_true(r.pid > 0);
  redisContext *c = rf_h_redis_connect(&r);
  assert_non_null(c);
  redisReply *rep = redisCommand(c, "PING");
  assert_non_null(rep);
  assert_int_equal(rep->type, REDIS_REPLY_STATUS);
  assert_string_equal(rep->str, "PONG");
  freeReplyObject(rep);
  rep = redisCommand(c, "XADD s * payload %s", "{}");
  assert_non_null(rep);
  assert_int_equal(rep->type, REDIS_REPLY_STRING);
  freeReplyObject(rep);
  rep = redisCommand(c, "XLEN s");
  assert_int_equal(rep->integer, 1);
  freeReplyObject(rep);
  rep = redisCommand(c, "CONFIG GET save");
  assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
  assert_int_equal(rep->elements, 2);
  assert_string_equal(rep->element[1]->str, "");
  freeReplyObject(rep);
  rep = redisCommand(c, "CONFIG GET appendonly");
  assert_string_equal(rep->element[1]->str, "no");
  freeReplyObject(rep);
  redisFree(c);

  char dir[512];
  snprintf(dir, sizeof(dir), "%s", r.dir);
  int port = r.port;
  rf_h_redis_destroy(&r);
  assert_false(dir_exists(dir));
  rf_h_redis_t gone = {.port = port};
  c = rf_h_redis_connect(&gone);
  assert_null(c);
  rf_h_redis_destroy(&r); /* idempotent */
}

static void test_spawn_wait_signal(void **state) {
  (void)state;
  char *dir = rf_h_tmpdir("rf-h-smoke-");
  assert_non_null(dir);
  char log[600];
  snprintf(log, sizeof(log), "%s/child.log", dir);

  char *argv[] = {"/bin/sh", "-c", "echo out=$RF_SMOKE; echo err >&2; exit 7", NULL};
  char *env[] = {"RF_SMOKE=yes", NULL};
  rf_h_proc_t p;
  assert_int_equal(rf_h_spawn(&p, argv, env, log), 0);
  assert_true(p.pid > 0);
  assert_string_equal(p.log, log);
  int st = -1;
  int r = rf_h_wait(&p, 10000, &st);
  assert_int_equal(r, st);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 7);
  assert_int_equal(p.pid, 0);
  char *text = slurp(log);
  assert_non_null(text);
  assert_non_null(strstr(text, "out=yes\n"));
  assert_non_null(strstr(text, "err\n"));
  free(text);
  assert_int_equal(rf_h_signal(&p, SIGTERM), -1); /* reaped */

  /* PATH lookup, timeout, then a signal. */
  char *sl[] = {"sleep", "30", NULL};
  assert_int_equal(rf_h_spawn(&p, sl, NULL, log), 0);
  assert_int_equal(rf_h_wait(&p, 100, &st), -1);
  assert_true(p.pid > 0);
  assert_int_equal(rf_h_signal(&p, SIGTERM), 0);
  assert_true(rf_h_wait(&p, 10000, &st) >= 0);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGTERM);

  char *bad[] = {"/nonexistent/rf-no-such-binary", NULL};
  assert_int_equal(rf_h_spawn(&p, bad, NULL, log), -1);

  char *rm = NULL;
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(rf_h_run(cmd, &rm, 10000), 0);
  free(rm);
  free(dir);
}

static void test_run(void **state) {
  (void)state;
  char *out = NULL;
  assert_int_equal(rf_h_run("printf 'a\\nb'; echo to-stderr >&2; exit 3", &out, 10000), 3);
  assert_non_null(out);
  assert_string_equal(out, "a\nb");
  free(out);
  assert_int_equal(rf_h_run("true", &out, 10000), 0);
  assert_string_equal(out, "");
  free(out);
  assert_int_equal(rf_h_run("kill -9 $$", NULL, 10000), 128 + 9);
  /* Large output is captured whole. */
  assert_int_equal(rf_h_run("seq 1 100000", &out, 20000), 0);
  assert_int_equal(strlen(out), 588895);
  free(out);
  /* A timeout kills the whole command, including its children. */
  time_t t0 = time(NULL);
  assert_int_equal(rf_h_run("sleep 30 | cat", &out, 300), -1);
  assert_null(out);
  assert_true(time(NULL) - t0 < 10);
  /* A background grandchild holding stdout does not hang the caller. */
  t0 = time(NULL);
  assert_int_equal(rf_h_run("(sleep 3 &) ; echo done", &out, 20000), 0);
  assert_string_equal(out, "done\n");
  free(out);
  assert_true(time(NULL) - t0 < 3);
}

static bool flag_set(void *arg) {
  return ++*(int *)arg >= 3;
}
static bool never(void *arg) {
  (void)arg;
  return false;
}

static void test_helpers(void **state) {
  (void)state;
  char *dir = rf_h_tmpdir("rf-h-smoke-");
  assert_non_null(dir);
  assert_true(strncmp(dir, "/tmp/rf-h-smoke-", 16) == 0);
  assert_true(dir_exists(dir));
  char path[600];
  snprintf(path, sizeof(path), "%s/f.txt", dir);
  assert_int_equal(rf_h_write_file(path, "hello\n"), 0);
  assert_int_equal(rf_h_write_file(path, "x"), 0); /* truncates */
  char *text = slurp(path);
  assert_string_equal(text, "x");
  free(text);
  snprintf(path, sizeof(path), "%s/no/such/dir/f", dir);
  assert_int_equal(rf_h_write_file(path, "x"), -1);
  assert_null(rf_h_tmpdir("a/b"));

  int n = 0;
  assert_true(rf_h_wait_until(flag_set, &n, 5000));
  assert_int_equal(n, 3);
  time_t t0 = time(NULL);
  assert_false(rf_h_wait_until(never, NULL, 200));
  assert_true(time(NULL) - t0 < 5);

  assert_non_null(rf_h_bin_dir());
  setenv("RF_BIN_DIR", "/opt/x", 1);
  assert_string_equal(rf_h_bin_dir(), "/opt/x");
  unsetenv("RF_BIN_DIR");
  assert_string_equal(rf_h_bin_dir(), RF_BIN_DIR);

  char cmd[700];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 0);
  free(dir);
}

/* rectifyctl produce (found through rf_h_bin_dir) against a harness Redis:
 * every message arrives, in order, binary-safe, and the truth file names
 * each stream entry. */
static void test_produce_cli(void **state) {
  (void)state;
  rf_h_redis_t r;
  assert_int_equal(rf_h_redis_start(&r), 0);
  char *dir = rf_h_tmpdir("rf-h-smoke-");
  assert_non_null(dir);
  char cmd[2048], truth[600];
  snprintf(truth, sizeof(truth), "%s/truth.jsonl", dir);
  snprintf(cmd, sizeof(cmd),
           "'%s/rectifyctl' produce --redis 127.0.0.1:%d --stream s --count 500 --malformed 0.1 "
           "--seed 4 --batch 64 --oversize-bytes 2048 --truth '%s'",
           rf_h_bin_dir(), r.port, truth);
  char *out = NULL;
  assert_int_equal(rf_h_run(cmd, &out, 60000), 0);
  assert_non_null(strstr(out, "produced 500 messages (valid 450, malformed 50,"));
  free(out);

  redisContext *c = rf_h_redis_connect(&r);
  assert_non_null(c);
  redisReply *rep = redisCommand(c, "XRANGE s - +");
  assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
  assert_int_equal(rep->elements, 500);
  FILE *f = fopen(truth, "r");
  assert_non_null(f);
  char line[8192];
  int nul_payloads = 0, empty_payloads = 0;
  for (size_t i = 0; i < rep->elements; i++) {
    assert_non_null(fgets(line, sizeof(line), f));
    redisReply *e = rep->element[i];
    char want[128];
    snprintf(want, sizeof(want), "{\"id\":\"msg-%zu\",\"entry_id\":\"%s\",", i + 1,
             e->element[0]->str);
    assert_true(strncmp(line, want, strlen(want)) == 0);
    redisReply *fields = e->element[1];
    assert_int_equal(fields->elements, 2);
    assert_string_equal(fields->element[0]->str, "payload");
    redisReply *p = fields->element[1];
    nul_payloads += memchr(p->str, '\0', p->len) != NULL;
    empty_payloads += p->len == 0;
  }
  assert_null(fgets(line, sizeof(line), f));
  fclose(f);
  freeReplyObject(rep);
  assert_true(nul_payloads >= 1);
  assert_true(empty_payloads >= 1);
  redisFree(c);

  /* A bad option is an error with a message, not a partial run. */
  snprintf(cmd, sizeof(cmd), "'%s/rectifyctl' produce --redis 127.0.0.1:%d --stream s2 --count 5 "
           "--families bogus 2>&1", rf_h_bin_dir(), r.port);
  assert_int_equal(rf_h_run(cmd, &out, 60000), 2);
  assert_non_null(strstr(out, "unknown family 'bogus'"));
  free(out);
  c = rf_h_redis_connect(&r);
  rep = redisCommand(c, "EXISTS s2");
  assert_int_equal(rep->integer, 0);
  freeReplyObject(rep);
  redisFree(c);

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 0);
  free(dir);
  rf_h_redis_destroy(&r);
}

/* True when pid is gone or a zombie nobody reaped yet. */
static bool pid_dead(void *arg) {
  int pid = *(int *)arg;
  char path[64], buf[256] = "";
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return true;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* A child process starts servers and reports their pids, then is killed with
 * `sig`. Whatever it started must die with it. */
static void servers_die_with(int sig) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    close(fds[0]);
    rf_h_redis_t r;
    rf_h_pg_t pg;
    int pids[2] = {0, 0};
    if (rf_h_redis_start(&r) == 0)
      pids[0] = r.pid;
    if (rf_h_pg_start(&pg) == 0)
      pids[1] = pg.pid;
    ssize_t w = write(fds[1], pids, sizeof(pids));
    (void)w;
    pause();
    _exit(0);
  }
  close(fds[1]);
  int pids[2] = {0, 0};
  assert_int_equal(read(fds[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
  close(fds[0]);
  assert_true(pids[0] > 0);
  assert_true(pids[1] > 0);
  assert_int_equal(kill(child, sig), 0);
  int st;
  assert_int_equal(waitpid(child, &st, 0), child);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), sig);
  assert_true(rf_h_wait_until(pid_dead, &pids[0], 15000));
  assert_true(rf_h_wait_until(pid_dead, &pids[1], 15000));
}

static void test_no_leak_on_sigterm(void **state) {
  (void)state;
  servers_die_with(SIGTERM);
}

static void test_no_leak_on_sigkill(void **state) {
  (void)state;
  servers_die_with(SIGKILL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_helpers),
      cmocka_unit_test(test_run),
      cmocka_unit_test(test_spawn_wait_signal),
      cmocka_unit_test(test_redis),
      cmocka_unit_test(test_produce_cli),
      cmocka_unit_test(test_pg_lifecycle),
      cmocka_unit_test(test_pg_two_clusters),
      cmocka_unit_test(test_no_leak_on_sigterm),
      cmocka_unit_test(test_no_leak_on_sigkill),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

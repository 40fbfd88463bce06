/* core_env.h - shared scaffolding for the durable-core integration tests:
 * a throwaway PostgreSQL and redis-server, a config file, rectifyd as a real
 * child process, and the accounting checks every test ends with.
 * Header-only (static functions): each test is its own binary. */
#ifndef RF_TEST_CORE_ENV_H
#define RF_TEST_CORE_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define STREAM "needs_ai"
#define GROUP "rectify"

typedef struct core_env {
  rf_h_pg_t pg;
  rf_h_redis_t redis;
  char *dir;
  char conf[600];
  char log[600];
  rf_h_proc_t daemon;
  redisContext *rc;
  PGconn *db;
  int runs;
} core_env_t;

static inline void env_write_conf(core_env_t *e, const char *instance, const char *extra) {
  char body[4096];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = %s\nlog_level = info\nstate_dir = %s\nhttp_listen =\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 200\n"
           "[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 200\nwindow_max_rows = 2000\ndrain_timeout_ms = 20000\n%s",
           instance, e->dir, e->redis.port, e->pg.conninfo, extra ? extra : "");
  assert_int_equal(rf_h_write_file(e->conf, body), 0);
}

static inline void env_start(core_env_t *e, const char *extra_conf) {
  memset(e, 0, sizeof(*e));
  e->dir = rf_h_tmpdir("rf-core");
  assert_non_null(e->dir);
  assert_int_equal(rf_h_pg_start(&e->pg), 0);
  assert_int_equal(rf_h_redis_start(&e->redis), 0);
  snprintf(e->conf, sizeof(e->conf), "%s/rectify.conf", e->dir);
  env_write_conf(e, "test-a", extra_conf);
  e->rc = rf_h_redis_connect(&e->redis);
  assert_non_null(e->rc);
  e->db = rf_h_pg_connect(&e->pg);
  assert_non_null(e->db);
}

static inline void env_stop(core_env_t *e) {
  if (e->daemon.pid) {
    rf_h_signal(&e->daemon, SIGKILL);
    int st;
    rf_h_wait(&e->daemon, 5000, &st);
  }
  if (e->rc)
    redisFree(e->rc);
  if (e->db)
    PQfinish(e->db);
  rf_h_redis_destroy(&e->redis);
  rf_h_pg_destroy(&e->pg);
  free(e->dir);
}

static inline void daemon_start(core_env_t *e) {
  char bin[600];
  snprintf(bin, sizeof(bin), "%s/rectifyd", rf_h_bin_dir());
  snprintf(e->log, sizeof(e->log), "%s/rectifyd.%d.log", e->dir, ++e->runs);
  char *argv[] = {bin, "-c", e->conf, NULL};
  assert_int_equal(rf_h_spawn(&e->daemon, argv, NULL, e->log), 0);
}

/* Sends sig and waits; returns the exit code (or 128+signal). */
static inline int daemon_stop(core_env_t *e, int sig, int timeout_ms) {
  int st = 0;
  rf_h_signal(&e->daemon, sig);
  if (rf_h_wait(&e->daemon, timeout_ms, &st) < 0) {
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "tail -n 30 %s >&2", e->log);
    if (system(cmd) < 0)
      perror("system");
    fail_msg("rectifyd did not exit within %d ms of signal %d", timeout_ms, sig);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* XADD one payload; copies the entry id into id (>= 64 bytes) when given. */
static inline void xadd(core_env_t *e, const void *data, size_t len, char *id) {
  const char *argv[] = {"XADD", STREAM, "*", "payload", data};
  size_t lens[] = {4, strlen(STREAM), 1, 7, len};
  redisReply *r = redisCommandArgv(e->rc, 5, argv, lens);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  if (id)
    snprintf(id, 64, "%s", r->str);
  freeReplyObject(r);
}

/* A valid message; families vary the shape of the bad value. */
static inline void make_msg(char *buf, size_t n, long i, const char *id_prefix) {
  static const char *const tables[][2] = {{"orders", "order_date"}, {"products", "weight"},
                                          {"customers", "email"}};
  const char *t = tables[i % 3][0], *c = tables[i % 3][1];
  char value[64];
  switch (i % 6) {
  case 0: snprintf(value, sizeof(value), "%02ld/%02ld/20%02ld", i % 12 + 1, i % 28 + 1, i % 30); break;
  case 1: snprintf(value, sizeof(value), "%ld.%ld oz", i % 40, i % 10); break;
  case 2: snprintf(value, sizeof(value), " User%ld@Example.COM ", i); break;
  case 3: snprintf(value, sizeof(value), "March %ld, 2024", i % 28 + 1); break;
  case 4: snprintf(value, sizeof(value), "%ld g", i % 900); break;
  default: snprintf(value, sizeof(value), "user%ld(at)example.com", i); break;
  }
  snprintf(buf, n,
           "{\"id\":\"%s-%ld\",\"table\":\"%s\",\"column\":\"%s\",\"pk\":{\"id\":%ld},"
           "\"value\":\"%s\",\"row\":{\"n\":%ld},\"source_system\":\"test\"}",
           id_prefix, i, t, c, i, value, i);
}

static inline void produce(core_env_t *e, long from, long to, const char *id_prefix) {
  char buf[512];
  for (long i = from; i < to; i += 500) {
    long end = i + 500 < to ? i + 500 : to;
    for (long k = i; k < end; k++) {
      make_msg(buf, sizeof(buf), k, id_prefix);
      redisAppendCommand(e->rc, "XADD %s * payload %s", STREAM, buf);
    }
    for (long k = i; k < end; k++) {
      redisReply *r;
      assert_int_equal(redisGetReply(e->rc, (void **)&r), REDIS_OK);
      assert_int_equal(r->type, REDIS_REPLY_STRING);
      freeReplyObject(r);
    }
  }
}

static inline long long sql_ll(core_env_t *e, const char *sql) {
  return rf_h_pg_scalar(e->db, sql);
}

static inline long long received_total(core_env_t *e) {
  /* Before rectifyd has migrated, the table does not exist yet: count 0. */
  if (sql_ll(e, "SELECT (to_regclass('rectify.batches') IS NOT NULL)::int") != 1)
    return 0;
  /* Dashboard batches (people resolving quarantined rows, docs/dashboard.md)
   * move rows that were already received: they are not new messages. */
  long long n = sql_ll(e, "SELECT coalesce(sum(received), 0) FROM rectify.batches"
                          " WHERE source <> 'dashboard'");
  return n < 0 ? 0 : n;
}

static inline long long redis_ll(core_env_t *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(e->rc, fmt, ap);
  va_end(ap);
  long long v = -1;
  if (r && r->type == REDIS_REPLY_INTEGER)
    v = r->integer;
  else if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
           r->element[0]->type == REDIS_REPLY_INTEGER)
    v = r->element[0]->integer; /* XPENDING summary: count first */
  freeReplyObject(r);
  return v;
}

static inline long long pending_count(core_env_t *e) {
  return redis_ll(e, "XPENDING %s %s", STREAM, GROUP);
}

/* Entries not yet delivered to the group (XINFO GROUPS lag, Redis >= 7). */
static inline long long group_lag(core_env_t *e) {
  redisReply *r = redisCommand(e->rc, "XINFO GROUPS %s", STREAM);
  long long lag = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
    redisReply *g = r->element[0];
    for (size_t i = 0; i + 1 < g->elements; i += 2)
      if (strcmp(g->element[i]->str, "lag") == 0 && g->element[i + 1]->type == REDIS_REPLY_INTEGER)
        lag = g->element[i + 1]->integer;
  }
  freeReplyObject(r);
  return lag;
}

typedef struct until_done {
  core_env_t *e;
  long long n;
} until_done_t;

static inline bool all_done(void *arg) {
  until_done_t *u = arg;
  return received_total(u->e) >= u->n && pending_count(u->e) == 0 && group_lag(u->e) == 0;
}

static inline void wait_all_done(core_env_t *e, long long n, int timeout_ms) {
  until_done_t u = {e, n};
  if (!rf_h_wait_until(all_done, &u, timeout_ms)) {
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", e->log);
    if (system(cmd) < 0)
      perror("system");
    fail_msg("not done after %d ms: received=%lld of %lld, pending=%lld, lag=%lld", timeout_ms,
             received_total(e), n, pending_count(e), group_lag(e));
  }
}

/* Waits until at least `at_least` messages are committed. */
typedef struct progress {
  core_env_t *e;
  long long at_least;
} progress_t;

static inline bool got_some(void *arg) {
  progress_t *p = arg;
  return received_total(p->e) >= p->at_least;
}

static inline int audit_verify(core_env_t *e, char **out) {
  char cmd[1400];
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --config %s 2>&1", rf_h_bin_dir(),
           e->conf);
  return rf_h_run(cmd, out, 120000);
}

/* Every message sent has exactly one outcome; every batch balances; nothing
 * is pending; the chains verify. A row a person resolved on the dashboard
 * keeps its quarantine row (an immutable fact) and gains a staging row of
 * the same key in a dashboard batch, with its "resolve" action: those are
 * counted apart, and a key may be in both tables only that way. */
static inline void check_accounting(core_env_t *e, long long sent) {
  assert_int_equal(received_total(e), sent);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.batches WHERE received <> fixed + "
                             "quarantined"), 0);
  assert_int_equal(sql_ll(e, "SELECT coalesce(sum(fixed + quarantined), 0) FROM rectify.batches"
                             " WHERE source <> 'dashboard'"),
                   sent);
  long long resolved = sql_ll(e, "SELECT count(*) FROM rectify.actions WHERE action = 'resolve'");
  long long staged = sql_ll(e, "SELECT count(*) FROM rectify.staging");
  long long quarantined = sql_ll(e, "SELECT count(*) FROM rectify.quarantine");
  assert_int_equal(staged - resolved + quarantined, sent);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging s JOIN rectify.quarantine q "
                             "USING (key)"), resolved);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.staging s JOIN rectify.batches b "
                             "USING (batch_id) WHERE b.source = 'dashboard'"), resolved);
  /* At most one final decision per quarantined row. */
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM (SELECT key FROM rectify.actions WHERE action"
                             " IN ('resolve', 'discard', 'requeue') GROUP BY key"
                             " HAVING count(*) > 1) x"), 0);
  assert_int_equal(sql_ll(e, "SELECT count(*) FROM rectify.messages"), sent);
  assert_int_equal(pending_count(e), 0);
  char *out = NULL;
  int rc = audit_verify(e, &out);
  if (rc != 0)
    fail_msg("audit verify exit %d:\n%s", rc, out ? out : "");
  free(out);
}

#endif

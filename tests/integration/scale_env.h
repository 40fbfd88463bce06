/* scale_env.h - scaffolding for the Kafka, scale-out and poison integration
 * tests: several rectifyd instances over one PostgreSQL, a librdkafka mock
 * cluster in its own process (tests/harness/kafka_mock.c), Kafka-side
 * accounting (committed offsets against high watermarks), and the checks
 * that every message has exactly one outcome.
 * Builds on core_env.h (PostgreSQL, Redis, SQL and Redis helpers).
 * Header-only (static functions): each test is its own binary. */
#ifndef RF_TEST_SCALE_ENV_H
#define RF_TEST_SCALE_ENV_H

#include <librdkafka/rdkafka.h>
#include <sys/stat.h>

#include "core_env.h"

#define TOPIC "needs_ai"
#define MAX_INST 4

typedef struct inst {
  char name[32];
  char conf[600];
  char log[600];
  rf_h_proc_t proc;
  int runs;
} inst_t;

typedef struct kafka_mock {
  rf_h_proc_t proc;
  char log[600];
  char bootstrap[512];
} kafka_mock_t;

typedef struct scale_env {
  core_env_t core; /* pg, redis, dir, db, rc */
  kafka_mock_t km;
  bool kafka;
  inst_t inst[MAX_INST];
  rd_kafka_t *admin; /* a consumer handle of the group that never joins: offsets */
  int partitions;
} scale_env_t;

/* ---- the mock cluster ---- */

static inline bool km_ready(void *arg) {
  kafka_mock_t *k = arg;
  FILE *f = fopen(k->log, "r");
  if (f == NULL)
    return false;
  char line[512];
  bool ok = false;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "bootstrap=", 10) == 0) {
      line[strcspn(line, "\r\n")] = '\0';
      snprintf(k->bootstrap, sizeof(k->bootstrap), "%s", line + 10);
      ok = true;
    }
  fclose(f);
  return ok;
}

static inline void km_start(scale_env_t *e, int partitions) {
  char bin[600], topic[64];
  snprintf(bin, sizeof(bin), "%s/tests/harness/kafka_mock", rf_h_bin_dir());
  snprintf(topic, sizeof(topic), TOPIC ":%d", partitions);
  snprintf(e->km.log, sizeof(e->km.log), "%s/kafka_mock.log", e->core.dir);
  char *argv[] = {bin, topic, NULL};
  assert_int_equal(rf_h_spawn(&e->km.proc, argv, NULL, e->km.log), 0);
  assert_true(rf_h_wait_until(km_ready, &e->km, 10000));
  e->partitions = partitions;
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", e->km.bootstrap, err,
                                     sizeof(err)), RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "group.id", GROUP, err, sizeof(err)),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)), RD_KAFKA_CONF_OK);
  e->admin = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  assert_non_null(e->admin);
}

/* Committed offset (0 when none) and high watermark of every partition. */
static inline void kafka_offsets(scale_env_t *e, int64_t *committed, int64_t *high) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(e->partitions);
  for (int p = 0; p < e->partitions; p++)
    rd_kafka_topic_partition_list_add(l, TOPIC, p);
  rd_kafka_resp_err_t err = rd_kafka_committed(e->admin, l, 10000);
  if (err)
    fail_msg("rd_kafka_committed: %s", rd_kafka_err2str(err));
  for (int p = 0; p < e->partitions; p++) {
    int64_t lo, hi;
    committed[p] = l->elems[p].offset < 0 ? 0 : l->elems[p].offset;
    if (high) {
      err = rd_kafka_query_watermark_offsets(e->admin, TOPIC, p, &lo, &hi, 10000);
      if (err)
        fail_msg("watermarks: %s", rd_kafka_err2str(err));
      high[p] = hi;
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
}

/* Messages on the topic not yet committed by the group. */
static inline long long kafka_lag(scale_env_t *e) {
  int64_t c[64], h[64];
  kafka_offsets(e, c, h);
  long long lag = 0;
  for (int p = 0; p < e->partitions; p++)
    lag += h[p] - c[p];
  return lag;
}

/* ---- environment and instances ---- */

static inline void scale_start(scale_env_t *e, bool kafka, int partitions) {
  memset(e, 0, sizeof(*e));
  env_start(&e->core, NULL);
  e->kafka = kafka;
  if (kafka)
    km_start(e, partitions);
}

static inline void scale_stop(scale_env_t *e) {
  for (int i = 0; i < MAX_INST; i++)
    if (e->inst[i].proc.pid) {
      int st;
      rf_h_signal(&e->inst[i].proc, SIGKILL);
      rf_h_wait(&e->inst[i].proc, 5000, &st);
    }
  if (e->admin)
    rd_kafka_destroy(e->admin);
  if (e->km.proc.pid) {
    int st;
    rf_h_signal(&e->km.proc, SIGTERM);
    if (rf_h_wait(&e->km.proc, 5000, &st) < 0) {
      rf_h_signal(&e->km.proc, SIGKILL);
      rf_h_wait(&e->km.proc, 5000, &st);
    }
  }
  env_stop(&e->core);
}

/* Writes instance i's config: its own instance_name (= audit chain), the
 * shared database, and the source. extra is appended (more sections). */
static inline void inst_conf(scale_env_t *e, int i, const char *redis_extra, const char *extra) {
  inst_t *in = &e->inst[i];
  char name[sizeof(in->name)]; /* a copy: gcc's -Wrestrict cannot tell in->name from in->conf */
  snprintf(name, sizeof(name), "inst-%c", 'a' + i);
  memcpy(in->name, name, sizeof(name));
  snprintf(in->conf, sizeof(in->conf), "%s/%s.conf", e->core.dir, name);
  char body[4096];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = %s\nlog_level = info\nstate_dir = %s/%s\nhttp_listen =\n"
           "source = %s\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 200\n%s"
           "[kafka]\nbrokers = %s\ntopic = " TOPIC "\ngroup = " GROUP "\n"
           "session.timeout.ms = 6000\nheartbeat.interval.ms = 500\n"
           "[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 200\nwindow_max_rows = 2000\ndrain_timeout_ms = 20000\n%s",
           in->name, e->core.dir, in->name, e->kafka ? "kafka" : "redis", e->core.redis.port,
           redis_extra ? redis_extra : "", e->kafka ? e->km.bootstrap : "127.0.0.1:9",
           e->core.pg.conninfo, extra ? extra : "");
  char sdir[700];
  snprintf(sdir, sizeof(sdir), "%s/%s", e->core.dir, in->name);
  mkdir(sdir, 0700);
  assert_int_equal(rf_h_write_file(in->conf, body), 0);
}

static inline void inst_start(scale_env_t *e, int i, char *const extra_env[]) {
  inst_t *in = &e->inst[i];
  char bin[600];
  snprintf(bin, sizeof(bin), "%s/rectifyd", rf_h_bin_dir());
  char name[sizeof(in->name)];
  memcpy(name, in->name, sizeof(name));
  snprintf(in->log, sizeof(in->log), "%s/%s.%d.log", e->core.dir, name, ++in->runs);
  char *argv[] = {bin, "-c", in->conf, NULL};
  assert_int_equal(rf_h_spawn(&in->proc, argv, extra_env, in->log), 0);
}

static inline void inst_tail(const inst_t *in) {
  char cmd[1400];
  snprintf(cmd, sizeof(cmd), "echo '--- %s' >&2; tail -n 25 %s >&2", in->log, in->log);
  if (system(cmd) < 0)
    perror("system");
}

/* Sends sig and waits; returns the exit code (or 128+signal). */
static inline int inst_stop(scale_env_t *e, int i, int sig, int timeout_ms) {
  inst_t *in = &e->inst[i];
  int st = 0;
  rf_h_signal(&in->proc, sig);
  if (rf_h_wait(&in->proc, timeout_ms, &st) < 0) {
    inst_tail(in);
    fail_msg("%s did not exit within %d ms of signal %d", in->name, timeout_ms, sig);
  }
  in->proc.pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* rectifyctl produce with the given options, to the environment's source. */
static inline void produce_ctl(scale_env_t *e, long count, const char *opts) {
  char cmd[2048];
  if (e->kafka)
    snprintf(cmd, sizeof(cmd), "%s/rectifyctl produce --kafka %s --topic " TOPIC " --count %ld %s",
             rf_h_bin_dir(), e->km.bootstrap, count, opts ? opts : "");
  else
    snprintf(cmd, sizeof(cmd), "%s/rectifyctl produce --redis 127.0.0.1:%d --stream " STREAM
             " --count %ld %s", rf_h_bin_dir(), e->core.redis.port, count, opts ? opts : "");
  char *out = NULL;
  int rc = rf_h_run(cmd, &out, 120000);
  if (rc != 0)
    fail_msg("produce exit %d: %s\n%s", rc, cmd, out ? out : "");
  free(out);
}

/* The same, in the background (wait with produce_wait). */
static inline void produce_bg(scale_env_t *e, rf_h_proc_t *proc, long count, const char *rate,
                              const char *prefix, const char *seed) {
  char bin[600], cnt[32], target[600], log[700];
  snprintf(bin, sizeof(bin), "%s/rectifyctl", rf_h_bin_dir());
  snprintf(cnt, sizeof(cnt), "%ld", count);
  snprintf(log, sizeof(log), "%s/produce-%s.log", e->core.dir, prefix);
  if (e->kafka) {
    char *argv[] = {bin, "produce", "--kafka", e->km.bootstrap, "--topic", TOPIC, "--count", cnt,
                    "--rate", (char *)rate, "--id-prefix", (char *)prefix, "--seed", (char *)seed,
                    NULL};
    assert_int_equal(rf_h_spawn(proc, argv, NULL, log), 0);
  } else {
    snprintf(target, sizeof(target), "127.0.0.1:%d", e->core.redis.port);
    char *argv[] = {bin, "produce", "--redis", target, "--stream", STREAM, "--count", cnt,
                    "--rate", (char *)rate, "--id-prefix", (char *)prefix, "--seed", (char *)seed,
                    NULL};
    assert_int_equal(rf_h_spawn(proc, argv, NULL, log), 0);
  }
}

static inline void produce_wait(rf_h_proc_t *proc, int timeout_ms) {
  int st;
  assert_true(rf_h_wait(proc, timeout_ms, &st) >= 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

typedef struct at_least {
  scale_env_t *e;
  long long n;
} at_least_t;

static inline bool received_at_least(void *arg) {
  at_least_t *a = arg;
  return received_total(&a->e->core) >= a->n;
}

typedef struct scale_until {
  scale_env_t *e;
  long long n;
} scale_until_t;

static inline bool scale_done(void *arg) {
  scale_until_t *u = arg;
  if (received_total(&u->e->core) < u->n)
    return false;
  if (u->e->kafka)
    return kafka_lag(u->e) == 0;
  return pending_count(&u->e->core) == 0 && group_lag(&u->e->core) == 0;
}

static inline void scale_wait_done(scale_env_t *e, long long n, int timeout_ms) {
  scale_until_t u = {e, n};
  if (!rf_h_wait_until(scale_done, &u, timeout_ms)) {
    for (int i = 0; i < MAX_INST; i++)
      if (e->inst[i].runs)
        inst_tail(&e->inst[i]);
    fail_msg("not done after %d ms: received=%lld of %lld, %s=%lld", timeout_ms,
             received_total(&e->core), n, e->kafka ? "kafka lag" : "redis pending",
             e->kafka ? kafka_lag(e) : pending_count(&e->core));
  }
}

static inline int scale_audit_verify(scale_env_t *e, char **out) {
  char cmd[1400];
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --config %s 2>&1", rf_h_bin_dir(),
           e->inst[0].conf);
  return rf_h_run(cmd, out, 120000);
}

/* Every message sent has exactly one outcome; every batch balances; nothing
 * is pending or uncommitted at the source; every chain verifies. */
static inline void scale_check(scale_env_t *e, long long sent) {
  core_env_t *c = &e->core;
  assert_int_equal(received_total(c), sent);
  assert_int_equal(sql_ll(c, "SELECT count(*) FROM rectify.batches WHERE received <> fixed + "
                             "quarantined"), 0);
  long long staged = sql_ll(c, "SELECT count(*) FROM rectify.staging");
  long long quarantined = sql_ll(c, "SELECT count(*) FROM rectify.quarantine");
  assert_int_equal(staged + quarantined, sent);
  assert_int_equal(sql_ll(c, "SELECT count(*) FROM rectify.staging s JOIN rectify.quarantine q "
                             "USING (key)"), 0);
  assert_int_equal(sql_ll(c, "SELECT count(*) FROM rectify.messages"), sent);
  /* One outcome per source message, too (not only per key). */
  assert_int_equal(sql_ll(c, "SELECT count(DISTINCT source_id) FROM (SELECT source_id FROM "
                             "rectify.staging UNION ALL SELECT source_id FROM rectify.quarantine) x"),
                   sent);
  if (e->kafka)
    assert_int_equal(kafka_lag(e), 0);
  else
    assert_int_equal(pending_count(c), 0);
  char *out = NULL;
  int rc = scale_audit_verify(e, &out);
  if (rc != 0)
    fail_msg("audit verify exit %d:\n%s", rc, out ? out : "");
  free(out);
}

/* The end of a three-instance run in which inst-b was killed: the survivors
 * stop cleanly, the totals are exact, each instance wrote its own chain, and
 * the redeliveries the ledger recognised are printed under label. */
static inline void scale_finish_killed(scale_env_t *e, long long sent, const char *label) {
  for (int i = 0; i < 3; i += 2)
    assert_int_equal(inst_stop(e, i, SIGTERM, 30000), 0);
  scale_check(e, sent);
  assert_int_equal(sql_ll(&e->core, "SELECT count(DISTINCT chain_id) FROM rectify.batches"), 3);
  assert_int_equal(sql_ll(&e->core, "SELECT count(DISTINCT chain_id) FROM rectify.audit"), 3);
  long long dups = sql_ll(&e->core, "SELECT coalesce(sum(duplicates), 0) FROM rectify.batches");
  printf("%s: %lld messages exact over 3 chains, %lld redeliveries recognised\n", label, sent,
         dups);
}

#endif

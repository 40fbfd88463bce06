/* model_env.h - scaffolding for the model integration tests: the durable-core
 * environment (core_env.h) plus the fake Ollama (tests/fake_ollama), a config
 * with [model], [fixes] and the test columns' contracts, and helpers to count
 * model calls and read /metrics. Header-only: each test is its own binary. */
#ifndef RF_TEST_MODEL_ENV_H
#define RF_TEST_MODEL_ENV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core_env.h"

#define MODEL_NAME "rectify-test:latest"

typedef struct model_env {
  core_env_t core;
  rf_h_proc_t fake;
  int fake_port;
  int http_port;
  char fake_log[700];
  char scenario[700];
} model_env_t;

static inline int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* The contracts of the test columns (see tests/fake_ollama for the families). */
#define MODEL_CONTRACTS                                                                            \
  "[column \"orders.order_date\"]\ntype = date\nformat = %Y-%m-%d\nmin = 1990-01-01\n"             \
  "[column \"products.weight\"]\ntype = decimal\nmin = 0\nmax = 100000\n"                          \
  "[column \"customers.email\"]\ntype = email\nmax_length = 254\n"                                 \
  "[column \"items.code\"]\ntype = integer\nmin = 0\nmax = 500\n"                                 \
  "[column \"hostile.value\"]\ntype = integer\n"

/* Writes the config: the core sections, [model] pointing at the fake, extra. */
static inline void model_write_conf(model_env_t *m, const char *model_extra, const char *extra) {
  core_env_t *e = &m->core;
  char body[8192];
  snprintf(body, sizeof(body),
           "[daemon]\ninstance_name = test-m\nlog_level = info\nstate_dir = %s\n"
           "http_listen = 127.0.0.1:%d\n"
           "[redis]\nhost = 127.0.0.1\nport = %d\nstream = " STREAM "\ngroup = " GROUP "\n"
           "block_ms = 200\n"
           "[postgres]\nconninfo = %s\n"
           "[pipeline]\nwindow_ms = 200\nwindow_max_rows = 2000\ndrain_timeout_ms = 20000\n"
           "[model]\nurl = http://127.0.0.1:%d\nmodel = " MODEL_NAME "\n"
           "prompt_dir = " RF_SOURCE_DIR "/conf/prompts\n%s\n"
           /* These tests count model calls: the offline synthesizer would fix some
            * families first. */
           "[fixes]\nsynth = no\n%s\n%s",
           e->dir, m->http_port, e->redis.port, e->pg.conninfo, m->fake_port,
           model_extra ? model_extra : "", extra ? extra : "", MODEL_CONTRACTS);
  assert_int_equal(rf_h_write_file(e->conf, body), 0);
}

static inline void model_env_start(model_env_t *m) {
  memset(m, 0, sizeof(*m));
  env_start(&m->core, NULL);
  m->http_port = free_port();
  m->fake_port = free_port();
  snprintf(m->fake_log, sizeof(m->fake_log), "%s/fake_ollama.requests.jsonl", m->core.dir);
  snprintf(m->scenario, sizeof(m->scenario), "%s/scenario.json", m->core.dir);
}

/* Starts the fake on m->fake_port with a scenario (JSON text, NULL = none). */
static inline void fake_start(model_env_t *m, const char *scenario) {
  char port[16], out[700];
  snprintf(port, sizeof(port), "%d", m->fake_port);
  snprintf(out, sizeof(out), "%s/fake_ollama.log", m->core.dir);
  assert_int_equal(rf_h_write_file(m->scenario, scenario ? scenario : "{}"), 0);
  char *argv[] = {"python3", RF_SOURCE_DIR "/tests/fake_ollama/fake_ollama.py", "--port", port,
                  "--log", m->fake_log, "--model", MODEL_NAME, "--scenario", m->scenario, NULL};
  assert_int_equal(rf_h_spawn(&m->fake, argv, NULL, out), 0);
  /* listening once it printed its line */
  for (int i = 0; i < 200; i++) {
    char cmd[800], *txt = NULL;
    snprintf(cmd, sizeof(cmd), "grep -c listening %s 2>/dev/null", out);
    rf_h_run(cmd, &txt, 5000);
    bool up = txt && atoi(txt) > 0;
    free(txt);
    if (up)
      return;
    usleep(50000);
  }
  fail_msg("fake_ollama did not start (see %s)", out);
}

static inline void fake_stop(model_env_t *m) {
  if (m->fake.pid) {
    rf_h_signal(&m->fake, SIGKILL);
    rf_h_wait(&m->fake, 5000, NULL);
  }
}

static inline void model_env_stop(model_env_t *m) {
  fake_stop(m);
  env_stop(&m->core);
}

/* Number of requests the fake recorded for path (e.g. "/api/chat"). */
static inline long fake_count(model_env_t *m, const char *path) {
  char cmd[900], *out = NULL;
  snprintf(cmd, sizeof(cmd), "grep -c '\"path\": \"%s\"' %s 2>/dev/null || true", path,
           m->fake_log);
  rf_h_run(cmd, &out, 10000);
  long n = out ? atol(out) : 0;
  free(out);
  return n;
}

/* The value of one /metrics sample (exact name with labels), or -1. The
 * daemon publishes its snapshot every 250 ms: let the last one land first. */
static inline long long metric(model_env_t *m, const char *sample) {
  char cmd[900], *out = NULL;
  usleep(300 * 1000);
  snprintf(cmd, sizeof(cmd), "python3 -c \"import urllib.request; print(urllib.request.urlopen("
           "'http://127.0.0.1:%d/metrics', timeout=5).read().decode())\" | "
           "awk -v s='%s' '$1 == s && !d {print $2; d = 1}'", m->http_port, sample);
  rf_h_run(cmd, &out, 10000);
  long long v = out && out[0] ? atoll(out) : -1;
  free(out);
  return v;
}

static inline void xadd_json(core_env_t *e, const char *json) {
  redisReply *r = redisCommand(e->rc, "XADD %s * payload %s", STREAM, json);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  freeReplyObject(r);
}

#endif

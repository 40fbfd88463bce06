/* rectifyd - the daemon's entry point: arguments, configuration, signals,
 * systemd notification, the HTTP endpoint and the loop. The work itself is
 * librectify's pipeline (lib/pipeline.c); this file only wires. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "rectify/alert.h"
#include "rectify/alloc.h"
#include "rectify/config.h"
#include "rectify/error.h"
#include "rectify/fixcache.h"
#include "rectify/fixgen.h"
#include "rectify/gen_model.h"
#include "rectify/synth.h"
#include "rectify/http.h"
#include "rectify/log.h"
#include "rectify/metrics.h"
#include "rectify/ollama.h"
#include "rectify/pipeline.h"

#define RF_PUBLISH_MS 250
#define RF_HEALTH_STALE_MS 10000
#define RF_MAX_CONFIGS 64

/* A fatal error while starting: threads (writer, fix cache) and loop handles
 * may be half set up, and unwinding them in reverse would only risk a hang
 * or a crash on the way out. Nothing is held yet that needs saving (no
 * message was taken from the source), so exit at once, without atexit
 * handlers. */
static void start_failed(void) {
  fflush(NULL);
  _exit(1);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: rectifyd [-c FILE] [--check-config] [--version]\n"
          "\n"
          "  -c, --config FILE   configuration file (default /etc/rectify/rectify.conf)\n"
          "      --check-config  load and validate the configuration, then exit\n"
          "      --version       print the version and exit\n"
          "\n"
          "signals: TERM/INT drain and exit 0; HUP reloads the configuration.\n");
}

typedef struct daemon_state {
  uv_loop_t *loop;
  const char *path;
  rf_config_t *configs[RF_MAX_CONFIGS]; /* every config loaded; the last is current */
  int nconfigs;
  rf_pipeline_t *pipeline;
  rf_metrics_t metrics;
  rf_http_t *http;
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t publish;
  uint64_t watchdog_usec;
  uint64_t last_status_ms;
  double start_time;
  int exit_code;
  int signals_seen;
  bool draining;
  /* Fix generators (docs/model.md): loop thread only. */
  rf_fixcache_t *fixcache;
  rf_gen_model_t *model;
  rf_model_stats_t model_stats;
} daemon_state_t;

static rf_config_t *current(daemon_state_t *d) { return d->configs[d->nconfigs - 1]; }

static void publish(daemon_state_t *d) {
  rf_metrics_snapshot_t s;
  rf_metrics_read(&d->metrics, &s); /* keep model stats others may have set */
  rf_pipeline_get_stats(d->pipeline, &s.pipeline);
  rf_config_t *cfg = current(d);
  snprintf(s.source, sizeof(s.source), "%s:%s", cfg->source,
           strcmp(cfg->source, "kafka") == 0 ? cfg->kafka_topic : cfg->redis_stream);
  snprintf(s.chain_id, sizeof(s.chain_id), "%s", cfg->instance_name);
  s.n_lags = rf_pipeline_source_lag(d->pipeline, s.lags, RF_METRICS_MAX_LAGS);
  s.chain_seq = s.pipeline.chain_seq;
  s.source_ready = s.pipeline.source_ready;
  s.db_ready = s.pipeline.db_ready;
  s.draining = s.pipeline.draining;
  s.model = d->model_stats;
  s.model_configured = d->model != NULL;
  s.model_ready = d->model != NULL && rf_gen_model_ready(d->model);
  s.loop_heartbeat_ms = uv_now(d->loop);
  s.start_time_seconds = d->start_time;
  rf_metrics_publish(&d->metrics, &s);

  if (d->watchdog_usec)
    sd_notify(0, "WATCHDOG=1");
  if (uv_now(d->loop) - d->last_status_ms >= 2000) {
    d->last_status_ms = uv_now(d->loop);
    sd_notifyf(0, "STATUS=%s received=%llu fixed=%llu quarantined=%llu inflight=%llu",
               s.draining ? "draining" : (s.source_ready && s.db_ready ? "running" : "connecting"),
               (unsigned long long)s.pipeline.received, (unsigned long long)s.pipeline.fixed,
               (unsigned long long)s.pipeline.quarantined, (unsigned long long)s.pipeline.inflight);
  }
}

static void on_publish(uv_timer_t *t) { publish(t->data); }

/* Runs on libmicrohttpd's thread: only the snapshot is read. */
static int on_http(void *arg, const char *path, rf_buf_t *body, const char **type) {
  daemon_state_t *d = arg;
  rf_metrics_snapshot_t s;
  rf_metrics_read(&d->metrics, &s);
  if (strcmp(path, "/metrics") == 0) {
    *type = "text/plain; version=0.0.4; charset=utf-8";
    rf_metrics_render_prometheus(&s, body);
    return 200;
  }
  if (strcmp(path, "/healthz") == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* uv_now() is CLOCK_MONOTONIC in ms, as is ts. */
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    return rf_metrics_render_health(&s, now, RF_HEALTH_STALE_MS, body);
  }
  if (strcmp(path, "/readyz") == 0)
    return rf_metrics_render_ready(&s, body);
  rf_buf_puts(body, "not found: try /metrics, /healthz or /readyz\n");
  return 404;
}

static void close_handles(daemon_state_t *d) {
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
  uv_close((uv_handle_t *)&d->publish, NULL);
}

static void on_drained(rf_pipeline_t *p, int status, void *arg) {
  daemon_state_t *d = arg;
  rf_pipeline_stats_t st;
  rf_pipeline_get_stats(p, &st);
  publish(d);
  rf_log(RF_LOG_NOTICE, "rectifyd",
         "stopped received=%llu committed=%llu fixed=%llu quarantined=%llu duplicates=%llu "
         "batches=%llu acked=%llu unacked=%llu status=%s",
         (unsigned long long)st.received, (unsigned long long)st.committed,
         (unsigned long long)st.fixed, (unsigned long long)st.quarantined,
         (unsigned long long)st.duplicates, (unsigned long long)st.batches,
         (unsigned long long)st.acked, (unsigned long long)st.inflight,
         status ? rf_err_name(status) : "ok");
  if (st.reconcile_failures)
    d->exit_code = 3;
  rf_pipeline_set_embedder(p, NULL);
  rf_gen_model_close(d->model);
  d->model = NULL;
  rf_fixcache_close(d->fixcache);
  d->fixcache = NULL;
  close_handles(d);
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_state_t *d = h->data;
  if (d->signals_seen++ > 0) {
    rf_log(RF_LOG_WARN, "rectifyd", "second signal=%s: exiting now; unacknowledged messages are "
           "redelivered later", strsignal(signum));
    exit(1);
  }
  rf_log(RF_LOG_NOTICE, "rectifyd", "signal=%s: draining", strsignal(signum));
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  d->draining = true;
  if (d->model)
    rf_gen_model_drain(d->model);
  rf_pipeline_drain(d->pipeline, on_drained, d);
}

static void on_sighup(uv_signal_t *h, int signum) {
  daemon_state_t *d = h->data;
  (void)signum;
  char err[1024];
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)uv_hrtime() / 1000);
  rf_config_t *cfg = d->nconfigs < RF_MAX_CONFIGS ? rf_config_load(d->path, err, sizeof(err))
                                                  : NULL;
  if (cfg == NULL) {
    rf_log(RF_LOG_ERR, "rectifyd", "reload failed, keeping the running configuration: %s",
           d->nconfigs < RF_MAX_CONFIGS ? err : "too many reloads; restart instead");
  } else {
    d->configs[d->nconfigs++] = cfg;
    rf_log_set_level(cfg->log_level);
    int kept = rf_pipeline_reload(d->pipeline, cfg);
    const rf_config_t *prev = d->configs[d->nconfigs - 2];
    if (strcmp(cfg->http_listen, prev->http_listen) != 0) {
      rf_log(RF_LOG_WARN, "rectifyd", "reload: daemon.http_listen cannot change while running");
      kept++;
    }
    if (strcmp(cfg->model_url, prev->model_url) != 0) {
      rf_log(RF_LOG_WARN, "rectifyd", "reload: model.url cannot change while running (restart "
             "to apply)");
      kept++;
    }
    if (d->model) {
      int rc = rf_gen_model_reload(d->model, cfg, err, sizeof(err));
      if (rc < 0) {
        rf_log(RF_LOG_ERR, "rectifyd", "reload: model settings kept: %s", err);
        kept++;
      } else {
        kept += rc;
      }
    }
    rf_log(RF_LOG_NOTICE, "rectifyd", "reloaded config=%s log_level=%s not_applied=%d", d->path,
           rf_log_level_name(cfg->log_level), kept);
  }
  sd_notify(0, "READY=1");
}

static void on_sev1(rf_pipeline_t *p, const char *what, void *arg) {
  daemon_state_t *d = arg;
  (void)p;
  rf_config_t *cfg = current(d);
  sd_notifyf(0, "STATUS=SEV-1: %s", what);
  if (cfg->alert_webhook_url[0] &&
      rf_alert_send(d->loop, cfg->alert_webhook_url, cfg->alert_retries, cfg->instance_name,
                    what) != 0)
    rf_log(RF_LOG_ERR, "alert", "cannot queue the alert: out of memory");
}

typedef struct probe_wait {
  bool done;
  int status;
  char msg[700];
} probe_wait_t;

static void on_probe(int status, const char *msg, void *arg) {
  probe_wait_t *w = arg;
  w->done = true;
  w->status = status;
  snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
}

/* The generator chain: cache -> transfer -> synth -> model (docs/model.md,
 * docs/synth.md). The model
 * is checked at start-up: a server that answers without the configured model
 * stops the start; one that does not answer only delays fixes. */
static int build_chain(daemon_state_t *d, const rf_config_t *cfg, rf_fixchain_t *chain) {
  char err[1024];
  int rc;
  if (cfg->fixes_cache || cfg->fixes_transfer || cfg->fixes_synth || cfg->model_url[0]) {
    char *password = NULL;
    if (cfg->pg_password_file && cfg->pg_password_file[0] &&
        (password = rf_config_read_secret(cfg->pg_password_file, NULL, err, sizeof(err))) == NULL) {
      rf_log(RF_LOG_CRIT, "rectifyd", "fix cache: %s", err);
      return RF_ECONFIG;
    }
    rc = rf_fixcache_new(d->loop, cfg->pg_conninfo, password, &d->fixcache);
    rf_free(password);
    if (rc)
      return rc;
  }
  if (cfg->fixes_cache) {
    void *g = rf_fixgen_cache_new(d->fixcache, cfg->model_min_confidence, &d->model_stats);
    if (g == NULL || rf_fixchain_add(chain, &rf_fixgen_cache_ops, g) != 0)
      return RF_ENOMEM;
  }
  if (cfg->fixes_transfer) {
    void *g = rf_fixgen_transfer_new(d->fixcache, cfg->model_min_confidence,
                                     cfg->fixes_transfer_max, &d->model_stats);
    if (g == NULL || rf_fixchain_add(chain, &rf_fixgen_transfer_ops, g) != 0)
      return RF_ENOMEM;
  }
  if (cfg->fixes_synth) {
    void *g = rf_fixgen_synth_new(d->fixcache, cfg->model_min_confidence, &d->model_stats);
    if (g == NULL || rf_fixchain_add(chain, &rf_fixgen_synth_ops, g) != 0)
      return RF_ENOMEM;
  }
  if (cfg->model_url[0] == '\0') {
    rf_log(RF_LOG_NOTICE, "rectifyd", "no [model] url: fixes come from the cache, transfer%s "
           "only", cfg->fixes_synth ? " and the synthesizer" : "");
    return 0;
  }
  if ((rc = rf_gen_model_new(d->loop, cfg, d->fixcache, &d->model_stats, &d->model, err,
                             sizeof(err)))) {
    rf_log(RF_LOG_CRIT, "rectifyd", "model: %s", err);
    return rc;
  }
  if ((rc = rf_fixchain_add(chain, &rf_gen_model_ops, d->model)))
    return rc;
  probe_wait_t w = {0};
  if ((rc = rf_gen_model_probe(d->model, on_probe, &w)))
    return rc;
  while (!w.done)
    uv_run(d->loop, UV_RUN_ONCE);
  if (w.status == RF_ENOTFOUND || w.status == RF_ENOMEM) {
    rf_log(RF_LOG_CRIT, "rectifyd", "model: %s", w.msg);
    return w.status;
  }
  if (w.status)
    rf_log(RF_LOG_WARN, "rectifyd", "model url=%s not reachable yet (%s): starting anyway; "
           "clusters wait for it up to max_wait_ms=%d", cfg->model_url, w.msg,
           cfg->model_max_wait_ms);
  else
    rf_log(RF_LOG_NOTICE, "rectifyd", "model url=%s %s", cfg->model_url, w.msg);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"check-config", no_argument, NULL, 'C'},
                                       {"version", no_argument, NULL, 'V'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  daemon_state_t d = {.path = "/etc/rectify/rectify.conf"};
  int check_only = 0, c;
  rf_alloc_init();
  rf_log_init();
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': d.path = optarg; break;
    case 'C': check_only = 1; break;
    case 'V': printf("rectifyd %s\n", RF_VERSION); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  char err[1024];
  rf_config_t *cfg = rf_config_load(d.path, err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "rectifyd: %s\n", err);
    return 2;
  }
  if (cfg->model_url[0] &&
      rf_ollama_url_check(cfg->model_url, cfg->model_allow_remote, err, sizeof(err)) != 0) {
    fprintf(stderr, "rectifyd: %s: [model] %s\n", d.path, err);
    rf_config_free(cfg);
    return 2;
  }
  if (check_only) {
    printf("%s: ok (%zu column contracts)\n", d.path, cfg->n_contracts);
    rf_config_free(cfg);
    return 0;
  }
  d.configs[d.nconfigs++] = cfg;
  rf_log_set_level(cfg->log_level);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  d.start_time = (double)tv.tv_sec + tv.tv_usec / 1e6;
  rf_metrics_init(&d.metrics);
  if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
    d.watchdog_usec = 0;

  d.loop = uv_default_loop();
  rf_fixchain_t *chain = rf_fixchain_new();
  if (chain == NULL || build_chain(&d, cfg, chain) != 0 ||
      rf_pipeline_new(d.loop, cfg, chain, &d.pipeline) != 0) {
    rf_log(RF_LOG_CRIT, "rectifyd", "cannot build the fix generators");
    start_failed();
  }
  rf_pipeline_on_sev1(d.pipeline, on_sev1, &d);
  rf_pipeline_set_embedder(d.pipeline, d.model); /* NULL without [model] url */
  if (cfg->http_listen[0] &&
      rf_http_start(cfg->http_listen, on_http, &d, &d.http, err, sizeof(err)) != 0) {
    rf_log(RF_LOG_CRIT, "rectifyd", "http_listen: %s", err);
    start_failed();
  }
  if (rf_pipeline_start(d.pipeline, err, sizeof(err)) != 0) {
    rf_log(RF_LOG_CRIT, "rectifyd", "start failed: %s", err);
    start_failed();
  }
  uv_signal_init(d.loop, &d.sigterm);
  uv_signal_init(d.loop, &d.sigint);
  uv_signal_init(d.loop, &d.sighup);
  uv_timer_init(d.loop, &d.publish);
  d.sigterm.data = d.sigint.data = d.sighup.data = d.publish.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  uv_signal_start(&d.sighup, on_sighup, SIGHUP);
  uint64_t period = RF_PUBLISH_MS;
  if (d.watchdog_usec && d.watchdog_usec / 2000 < period)
    period = d.watchdog_usec / 2000 ? d.watchdog_usec / 2000 : 1;
  uv_timer_start(&d.publish, on_publish, 0, period);
  rf_log(RF_LOG_NOTICE, "rectifyd", "started version=%s instance=%s config=%s http=%s watchdog_ms=%llu",
         RF_VERSION, cfg->instance_name, d.path, cfg->http_listen[0] ? cfg->http_listen : "off",
         (unsigned long long)(d.watchdog_usec / 1000));
  sd_notify(0, "READY=1\nSTATUS=connecting");

  uv_run(d.loop, UV_RUN_DEFAULT);

  rf_http_stop(d.http);
  rf_pipeline_free(d.pipeline);
  int rc = uv_loop_close(d.loop);
  if (rc)
    rf_log(RF_LOG_WARN, "rectifyd", "loop closed with open handles: %s", uv_strerror(rc));
  rf_metrics_destroy(&d.metrics);
  for (int i = 0; i < d.nconfigs; i++)
    rf_config_free(d.configs[i]);
  curl_global_cleanup();
  return d.exit_code;
}

/* rectifyd - the daemon's entry point: arguments, configuration, signals and
 * the loop. The work itself is librectify's pipeline (lib/pipeline.c). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "rectify/alloc.h"
#include "rectify/config.h"
#include "rectify/error.h"
#include "rectify/fixgen.h"
#include "rectify/log.h"
#include "rectify/pipeline.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: rectifyd [-c FILE] [--check-config] [--version]\n"
          "\n"
          "  -c, --config FILE   configuration file (default /etc/rectify/rectify.conf)\n"
          "      --check-config  load and validate the configuration, then exit\n"
          "      --version       print the version and exit\n");
}

typedef struct daemon_state {
  uv_loop_t *loop;
  rf_pipeline_t *pipeline;
  uv_signal_t sigterm, sigint;
  int exit_code;
  int signals_seen;
} daemon_state_t;

static void on_drained(rf_pipeline_t *p, int status, void *arg) {
  daemon_state_t *d = arg;
  rf_pipeline_stats_t st;
  rf_pipeline_get_stats(p, &st);
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
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_state_t *d = h->data;
  if (d->signals_seen++ > 0) {
    rf_log(RF_LOG_WARN, "rectifyd", "second signal=%s: exiting now; unacknowledged messages are "
           "redelivered later", strsignal(signum));
    exit(1);
  }
  rf_log(RF_LOG_NOTICE, "rectifyd", "signal=%s: draining", strsignal(signum));
  sd_notify(0, "STOPPING=1");
  rf_pipeline_drain(d->pipeline, on_drained, d);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"check-config", no_argument, NULL, 'C'},
                                       {"version", no_argument, NULL, 'V'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *path = "/etc/rectify/rectify.conf";
  int check_only = 0, c;
  rf_alloc_init();
  rf_log_init();
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': path = optarg; break;
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
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "rectifyd: %s\n", err);
    return 2;
  }
  if (check_only) {
    printf("%s: ok (%zu column contracts)\n", path, cfg->n_contracts);
    rf_config_free(cfg);
    return 0;
  }
  rf_log_set_level(cfg->log_level);
  signal(SIGPIPE, SIG_IGN);

  daemon_state_t d = {.loop = uv_default_loop()};
  rf_fixchain_t *chain = rf_fixchain_new();
  if (chain == NULL || rf_pipeline_new(d.loop, cfg, chain, &d.pipeline) != 0) {
    fprintf(stderr, "rectifyd: out of memory\n");
    return 1;
  }
  if (rf_pipeline_start(d.pipeline, err, sizeof(err)) != 0) {
    rf_log(RF_LOG_CRIT, "rectifyd", "start failed: %s", err);
    return 1;
  }
  uv_signal_init(d.loop, &d.sigterm);
  uv_signal_init(d.loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  rf_log(RF_LOG_NOTICE, "rectifyd", "started version=%s instance=%s config=%s", RF_VERSION,
         cfg->instance_name, path);
  sd_notify(0, "READY=1");

  uv_run(d.loop, UV_RUN_DEFAULT);

  rf_pipeline_free(d.pipeline);
  int rc = uv_loop_close(d.loop);
  if (rc)
    rf_log(RF_LOG_WARN, "rectifyd", "loop closed with open handles: %s", uv_strerror(rc));
  rf_config_free(cfg);
  return d.exit_code;
}

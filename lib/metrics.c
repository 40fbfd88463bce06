/* metrics.c - Prometheus text for rectifyd, rendered from a snapshot.
 *
 * A snapshot rather than live counters: the loop thread owns every counter
 * and publishes a copy under one mutex; the HTTP thread formats the copy.
 * No atomics sprinkled over the pipeline, no lock on the hot path.
 */
#include "rectify/metrics.h"

#include <string.h>

#include "rectify/outcome.h"

const double rf_model_latency_bounds[RF_MODEL_LATENCY_BUCKETS] = {0.1, 0.25, 0.5, 1,  2.5,
                                                                   5,   10,   20,  40, 80};
const char *const rf_model_outcome_names[RF_MODEL_OUTCOMES] = {"ok", "error", "timeout",
                                                               "rejected", "breaker_open"};

void rf_metrics_init(rf_metrics_t *m) {
  memset(m, 0, sizeof(*m));
  pthread_mutex_init(&m->lock, NULL);
}

void rf_metrics_destroy(rf_metrics_t *m) { pthread_mutex_destroy(&m->lock); }

void rf_metrics_publish(rf_metrics_t *m, const rf_metrics_snapshot_t *snap) {
  pthread_mutex_lock(&m->lock);
  m->snap = *snap;
  pthread_mutex_unlock(&m->lock);
}

void rf_metrics_read(rf_metrics_t *m, rf_metrics_snapshot_t *out) {
  pthread_mutex_lock(&m->lock);
  *out = m->snap;
  pthread_mutex_unlock(&m->lock);
}

void rf_model_stats_observe(rf_model_stats_t *s, double seconds) {
  for (int i = 0; i < RF_MODEL_LATENCY_BUCKETS; i++)
    if (seconds <= rf_model_latency_bounds[i])
      s->latency_buckets[i]++;
  s->latency_count++;
  s->latency_sum += seconds;
}

static void family(rf_buf_t *b, const char *name, const char *type, const char *help) {
  rf_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(rf_buf_t *b, const char *name, uint64_t v) {
  rf_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Label values: escape backslash, double quote and newline. */
static void label_value(rf_buf_t *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      rf_buf_putc(b, '\\');
    if (*v == '\n') {
      rf_buf_puts(b, "\\n");
      continue;
    }
    rf_buf_putc(b, *v);
  }
}

static void counter(rf_buf_t *b, const char *name, const char *help, uint64_t v) {
  family(b, name, "counter", help);
  sample(b, name, v);
}

static void gauge(rf_buf_t *b, const char *name, const char *help, uint64_t v) {
  family(b, name, "gauge", help);
  sample(b, name, v);
}

void rf_metrics_render_prometheus(const rf_metrics_snapshot_t *s, rf_buf_t *b) {
  const rf_pipeline_stats_t *p = &s->pipeline;
  const rf_model_stats_t *m = &s->model;

  family(b, "rectify_build_info", "gauge", "Version of rectifyd; always 1.");
  rf_buf_puts(b, "rectify_build_info{version=\"");
  label_value(b, RF_VERSION);
  rf_buf_puts(b, "\"} 1\n");
  family(b, "rectify_start_time_seconds", "gauge", "UNIX time rectifyd started.");
  rf_buf_printf(b, "rectify_start_time_seconds %.3f\n", s->start_time_seconds);

  counter(b, "rectify_messages_received_total",
          "Messages taken from the source (redeliveries of held messages excluded).",
          p->received);
  counter(b, "rectify_messages_fixed_total", "Messages committed to staging.", p->fixed);
  family(b, "rectify_messages_quarantined_total", "counter",
         "Messages committed to quarantine, by reason.");
  for (size_t i = 0; rf_pipeline_reasons[i]; i++) {
    rf_buf_puts(b, "rectify_messages_quarantined_total{reason=\"");
    label_value(b, rf_pipeline_reasons[i]);
    rf_buf_printf(b, "\"} %llu\n", (unsigned long long)p->quarantined_by_reason[i]);
  }
  counter(b, "rectify_messages_duplicate_total",
          "Redelivered messages that already had an outcome (acknowledged, not written again).",
          p->duplicates);
  counter(b, "rectify_messages_acked_total", "Messages acknowledged to the source.", p->acked);
  counter(b, "rectify_batches_committed_total", "Batches (flushes) committed.", p->batches);
  counter(b, "rectify_reconciliation_failures_total",
          "Batches whose received != fixed + quarantined (Sev-1).", p->reconcile_failures);
  counter(b, "rectify_audit_append_failures_total",
          "Batches whose audit chain entry the database refused (Sev-1).", p->audit_failures);

  gauge(b, "rectify_inflight_messages", "Messages received and not yet acknowledged.",
        p->inflight);
  gauge(b, "rectify_windows_open", "Open (table, column) windows.", p->windows_open);
  gauge(b, "rectify_window_messages", "Messages waiting in open windows.", p->window_rows);
  gauge(b, "rectify_writer_pending_messages",
        "Messages handed to the writer and not yet committed (writer lag).",
        p->writer_pending_rows);
  family(b, "rectify_source_lag_messages", "gauge",
         "Messages on the source not yet delivered to this consumer group, per stream "
         "or partition.");
  /* Unknown until the source has answered: no sample rather than a 0. */
  for (size_t i = 0; i < s->n_lags && i < RF_METRICS_MAX_LAGS; i++) {
    rf_buf_puts(b, "rectify_source_lag_messages{source=\"");
    label_value(b, s->source);
    rf_buf_puts(b, "\",partition=\"");
    label_value(b, s->lags[i].label);
    rf_buf_printf(b, "\"} %lld\n", (long long)s->lags[i].lag);
  }
  family(b, "rectify_audit_chain_length", "gauge", "Entries in this instance's audit chain.");
  rf_buf_puts(b, "rectify_audit_chain_length{chain=\"");
  label_value(b, s->chain_id);
  rf_buf_printf(b, "\"} %llu\n", (unsigned long long)s->chain_seq);

  family(b, "rectify_model_calls_total", "counter", "Model requests, by outcome.");
  for (int i = 0; i < RF_MODEL_OUTCOMES; i++)
    rf_buf_printf(b, "rectify_model_calls_total{outcome=\"%s\"} %llu\n", rf_model_outcome_names[i],
                  (unsigned long long)m->calls[i]);
  family(b, "rectify_model_latency_seconds", "histogram", "Model request latency.");
  for (int i = 0; i < RF_MODEL_LATENCY_BUCKETS; i++)
    rf_buf_printf(b, "rectify_model_latency_seconds_bucket{le=\"%g\"} %llu\n",
                  rf_model_latency_bounds[i], (unsigned long long)m->latency_buckets[i]);
  rf_buf_printf(b, "rectify_model_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)m->latency_count);
  rf_buf_printf(b, "rectify_model_latency_seconds_sum %.6f\n", m->latency_sum);
  rf_buf_printf(b, "rectify_model_latency_seconds_count %llu\n",
                (unsigned long long)m->latency_count);
  counter(b, "rectify_fix_cache_hits_total", "Clusters fixed from the fix cache.", m->cache_hits);
  counter(b, "rectify_fix_transfers_total", "Clusters fixed by a known fix of the same column.",
          m->transfers);
  counter(b, "rectify_fix_synth_total", "Clusters fixed by the offline synthesizer.",
          m->synth_fixes);
  counter(b, "rectify_fix_rejections_total", "Fix candidates refused by the gate.",
          m->rejections);
  counter(b, "rectify_embed_requests_total",
          "POST /api/embed requests sent by the embed clustering stage (one per window at most).",
          m->embed_requests);
  counter(b, "rectify_embed_fallbacks_total",
          "Windows whose embed stage was skipped (no model, breaker open, error): they went on "
          "with the non-semantic clusters.",
          m->embed_fallbacks + p->embed_skipped);
  gauge(b, "rectify_ready", "1 when source, database and model are reachable.",
        s->source_ready && s->db_ready && (!s->model_configured || s->model_ready) &&
            !s->draining);
}

int rf_metrics_render_health(const rf_metrics_snapshot_t *s, uint64_t now_ms, uint64_t stale_ms,
                             rf_buf_t *out) {
  if (s->loop_heartbeat_ms && now_ms - s->loop_heartbeat_ms <= stale_ms) {
    rf_buf_puts(out, "ok\n");
    return 200;
  }
  rf_buf_printf(out, "event loop has not run for %llu ms\n",
                (unsigned long long)(now_ms - s->loop_heartbeat_ms));
  return 503;
}

int rf_metrics_render_ready(const rf_metrics_snapshot_t *s, rf_buf_t *out) {
  int ok = 1;
  if (!s->source_ready) {
    rf_buf_printf(out, "source %s: not connected\n", s->source);
    ok = 0;
  }
  if (!s->db_ready) {
    rf_buf_puts(out, "postgresql: not connected\n");
    ok = 0;
  }
  if (s->model_configured && !s->model_ready) {
    rf_buf_puts(out, "model: not reachable\n");
    ok = 0;
  }
  if (s->draining) {
    rf_buf_puts(out, "draining\n");
    ok = 0;
  }
  if (ok)
    rf_buf_puts(out, "ready\n");
  return ok ? 200 : 503;
}

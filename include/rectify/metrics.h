/* metrics.h - what rectifyd exposes on /metrics, /healthz and /readyz.
 *
 * The loop thread fills an rf_metrics_t snapshot a few times a second
 * (rf_metrics_publish); the HTTP thread renders the latest one
 * (rf_metrics_render_*). The snapshot is plain data behind one mutex, so the
 * HTTP thread never touches loop state.
 *
 * Names follow Prometheus's conventions: a `rectify_` prefix, base units in
 * the name (_seconds), `_total` on counters, labels for dimensions.
 */
#ifndef RECTIFY_METRICS_H
#define RECTIFY_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rectify/buf.h"
#include "rectify/pipeline.h"
#include "rectify/source.h"

#define RF_METRICS_MAX_LAGS 64

#define RF_MODEL_LATENCY_BUCKETS 10
/* Upper bounds of the model latency histogram, in seconds. */
extern const double rf_model_latency_bounds[RF_MODEL_LATENCY_BUCKETS];

/* Model call outcomes, the label values of rectify_model_calls_total. */
enum rf_model_outcome {
  RF_MODEL_OK,
  RF_MODEL_ERROR,       /* HTTP error or connection failure after retries */
  RF_MODEL_TIMEOUT,
  RF_MODEL_REJECTED,    /* answered, but the gate refused the answer */
  RF_MODEL_BREAKER_OPEN,/* not sent: the circuit breaker was open */
  RF_MODEL_OUTCOMES
};
extern const char *const rf_model_outcome_names[RF_MODEL_OUTCOMES];

typedef struct rf_model_stats {
  uint64_t calls[RF_MODEL_OUTCOMES];
  uint64_t latency_buckets[RF_MODEL_LATENCY_BUCKETS]; /* cumulative counts, Prometheus style */
  uint64_t latency_count;
  double latency_sum;
  uint64_t cache_hits;
  uint64_t transfers;
  uint64_t synth_fixes;
  uint64_t rejections; /* candidates refused by the gate, any generator */
  uint64_t embed_requests;  /* POST /api/embed sent by the embed clustering stage */
  uint64_t embed_fallbacks; /* windows whose embed stage was skipped */
} rf_model_stats_t;

typedef struct rf_metrics_snapshot {
  rf_pipeline_stats_t pipeline;
  rf_model_stats_t model;
  char source[160];        /* e.g. "redis:needs_ai" */
  rf_source_lag_t lags[RF_METRICS_MAX_LAGS]; /* per stream or partition, when known */
  size_t n_lags;
  char chain_id[128];
  uint64_t chain_seq;      /* audit chain length (entries committed by this writer) */
  bool source_ready, db_ready, model_ready, model_configured;
  bool draining;
  uint64_t loop_heartbeat_ms; /* monotonic ms of the loop's last publish */
  double start_time_seconds;  /* UNIX time the daemon started */
} rf_metrics_snapshot_t;

typedef struct rf_metrics {
  pthread_mutex_t lock;
  rf_metrics_snapshot_t snap;
} rf_metrics_t;

void rf_metrics_init(rf_metrics_t *m);
void rf_metrics_destroy(rf_metrics_t *m);
/* Loop thread: replace the snapshot. */
void rf_metrics_publish(rf_metrics_t *m, const rf_metrics_snapshot_t *snap);
/* Any thread: copy the current snapshot. */
void rf_metrics_read(rf_metrics_t *m, rf_metrics_snapshot_t *out);

/* Prometheus text exposition format 0.0.4 of snap. */
void rf_metrics_render_prometheus(const rf_metrics_snapshot_t *snap, rf_buf_t *out);
/* /healthz: 200 when the loop has published within stale_ms, else 503. */
int rf_metrics_render_health(const rf_metrics_snapshot_t *snap, uint64_t now_ms,
                             uint64_t stale_ms, rf_buf_t *out);
/* /readyz: 200 when source, database (and the model, when configured) are
 * reachable and the daemon is not draining; else 503 with what is not. */
int rf_metrics_render_ready(const rf_metrics_snapshot_t *snap, rf_buf_t *out);
/* Records one model call's latency (seconds) in the histogram. */
void rf_model_stats_observe(rf_model_stats_t *s, double seconds);

#endif

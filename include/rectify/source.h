/* source.h - where messages come from: one table of callbacks per kind.
 *
 * The pipeline never knows whether a message came from Redis or Kafka. A
 * source delivers batches of messages through on_msgs (on the loop thread) and
 * acknowledges them only when the pipeline calls ack() — which it does only
 * after the messages' outcomes are committed in PostgreSQL.
 *
 * Ownership: messages passed to on_msgs are borrowed for the callback's
 * duration; copy what you keep. ids passed to ack() are borrowed for the call.
 * All functions run on the loop thread.
 */
#ifndef RECTIFY_SOURCE_H
#define RECTIFY_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rectify/config.h"

typedef struct rf_source rf_source_t;

typedef struct rf_msg {
  const char *id;      /* the source's id: stream entry id, or topic/partition/offset */
  const char *data;    /* the payload, or NULL when the source could not read one */
  size_t len;
  const char *problem; /* why data is NULL (e.g. "entry has no field 'payload'"), else NULL */
  /* 1 on first delivery; more when the source knows of redeliveries. Redis:
   * the entry's delivery counter (XPENDING), this delivery included. Kafka
   * keeps no such counter: 1, or 2 for an offset this process delivered
   * before (a partition that came back after a rebalance). */
  uint32_t deliveries;
} rf_msg_t;

/* Messages on the source not yet delivered to this consumer group, per
 * stream or partition (for /metrics). */
typedef struct rf_source_lag {
  char label[96]; /* the stream, or "topic/partition" */
  int64_t lag;
} rf_source_lag_t;

typedef void (*rf_source_msgs_cb)(rf_source_t *s, const rf_msg_t *msgs, size_t n, void *arg);
/* status 0: acknowledged; otherwise they stay pending and will be redelivered. */
typedef void (*rf_source_ack_cb)(rf_source_t *s, size_t n, int status, void *arg);
typedef void (*rf_source_close_cb)(rf_source_t *s, void *arg);

typedef struct rf_source_ops {
  const char *kind;
  /* true when `deliveries` comes from a durable per-message counter kept by
   * the broker (Redis), so that it may decide `poison`; false when it is only
   * this process's view (Kafka). */
  bool counts_deliveries;
  /* Connects and starts delivering. 0 or a negative RF_E* code. */
  int (*start)(rf_source_t *s);
  /* Stops asking for more (what is already on its way may still arrive). */
  void (*pause)(rf_source_t *s);
  void (*resume)(rf_source_t *s);
  /* Acknowledges ids[0..n); cb runs exactly once when 0 is returned. */
  int (*ack)(rf_source_t *s, const char *const *ids, size_t n, rf_source_ack_cb cb, void *arg);
  /* Stops reading; delivers nothing more; closes once outstanding acks are
   * answered (or failed), then calls cb. The source is freed after cb. */
  void (*close)(rf_source_t *s, rf_source_close_cb cb, void *arg);
  /* Optional: 1 when connected and consuming (for /readyz); NULL means always 1. */
  int (*ready)(const rf_source_t *s);
  /* Optional: the last known lag, up to max entries; returns how many were
   * filled (0: not known yet). Never blocks: sources refresh it as they go. */
  size_t (*lag)(const rf_source_t *s, rf_source_lag_t *out, size_t max);
} rf_source_ops_t;

struct rf_source {
  const rf_source_ops_t *ops;
  char *name;              /* "redis:<stream>" or "kafka:<topic>" */
  uv_loop_t *loop;
  rf_source_msgs_cb on_msgs;
  void *arg;
  void *impl;
  /* Optional, set by the owner after creation: true while it holds the
   * message with this id (it will give it an outcome). A Redis source never
   * claims such an entry back from its own pending list: that would only
   * raise its delivery count. */
  bool (*holds)(const char *id, void *arg);
};

typedef struct rf_redis_source_config {
  const char *host;
  int port;
  const char *password; /* or NULL */
  const char *stream;
  const char *group;
  const char *consumer;
  const char *field;
  int read_count;
  int block_ms;
  /* Every claim_interval_ms, XCLAIM entries idle longer than
   * claim_idle_ms in any consumer's pending list (a dead instance's, or one
   * of ours that the pipeline dropped unacknowledged). 0: never claim. */
  int claim_idle_ms;
  int claim_interval_ms;
} rf_redis_source_config_t;

/* Creates a Redis Streams source (consumer group, XREADGROUP on the loop
 * through hiredis's libuv adapter, own pending entries re-read first and
 * after every reconnect, XCLAIM of idle entries, XACK on ack). Delivery
 * counts come from XPENDING. The config is copied. */
int rf_source_redis_new(uv_loop_t *loop, const rf_redis_source_config_t *cfg,
                        rf_source_msgs_cb on_msgs, void *arg, rf_source_t **out);

typedef struct rf_kafka_source_config {
  const char *brokers;           /* bootstrap.servers */
  const char *topic;
  const char *group;             /* group.id */
  const rf_config_prop_t *props; /* librdkafka properties from [kafka], applied in order */
  size_t n_props;
  const char *conf_path;         /* the file props came from, for FILE:LINE errors */
  int read_count;                /* messages per delivery to on_msgs */
  int revoke_wait_ms;            /* how long a revocation waits for in-flight messages */
  int commit_delay_ms;           /* test hook (RECTIFY_TEST_COMMIT_DELAY_MS): 0 normally */
} rf_kafka_source_config_t;

/* Creates a Kafka consumer-group source: librdkafka's consumer queue on the
 * loop (rd_kafka_queue_io_event_enable + uv_poll), enable.auto.commit=false,
 * per-partition commits of the contiguous acknowledged prefix only,
 * revocation that finishes or drops in-flight messages before it completes,
 * partitions paused and resumed for backpressure. Message ids are
 * "<topic>/<partition>/<offset>". Acknowledging means "the outcome is
 * committed": the offset is committed (asynchronously) as soon as every
 * lower offset of its partition is acknowledged too.
 *
 * Returns 0, RF_ENOMEM, or RF_ECONFIG with "FILE:LINE: ..." in errbuf for a
 * property librdkafka refuses. The config is copied. */
int rf_source_kafka_new(uv_loop_t *loop, const rf_kafka_source_config_t *cfg,
                        rf_source_msgs_cb on_msgs, void *arg, rf_source_t **out, char *errbuf,
                        size_t errlen);

#endif

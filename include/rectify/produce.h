/* produce.h - the load generator behind `rectifyctl produce`.
 *
 * A generator turns (seed, options) into a deterministic sequence of NEEDS_AI
 * messages: realistic anomalies over several tables and columns, each from a
 * named pattern family with a known repaired value (the ground truth), plus a
 * chosen share of malformed messages that intake must quarantine. Generation
 * and delivery are separate: rf_produce_next() fills a message buffer, a sink
 * (a table of callbacks, like sources) sends a batch of them. Redis Streams is
 * the first sink; another one (Kafka) is one more rf_produce_sink_ops_t.
 *
 * Ownership: the generator owns its state (rf_produce_free). A message
 * (rf_produce_msg_t) owns its buffers; rf_produce_next() reuses them, so one
 * message struct per slot of a batch is enough; rf_produce_msg_free() releases
 * them. Strings in a message that point at family names are static.
 */
#ifndef RECTIFY_PRODUCE_H
#define RECTIFY_PRODUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rectify/buf.h"

/* What rectify must do with a message, according to the generator. */
typedef enum rf_produce_outcome {
  RF_PRODUCE_FIXED = 0,       /* repaired to `expected` */
  RF_PRODUCE_FIXED_NULL,      /* repaired to SQL NULL (a placeholder on a nullable column) */
  RF_PRODUCE_QUARANTINED,     /* no valid repair exists (or intake must reject it) */
} rf_produce_outcome_t;

typedef struct rf_produce_opts {
  uint64_t seed;
  double malformed;        /* share of malformed messages, 0..1 (spread evenly) */
  const char *id_prefix;   /* message ids are <prefix><n>, n from 1; NULL: "msg-" */
  const char *families;    /* NULL or "all", or a comma list of family names and
                              "table.column" (all families of that column) */
  size_t oversize_bytes;   /* size of `oversize` messages; 0: 1 MiB + 4 KiB */
} rf_produce_opts_t;

typedef struct rf_produce_msg {
  rf_buf_t payload;        /* the message bytes (may hold NUL or invalid UTF-8) */
  uint64_t n;              /* 1-based position in the sequence */
  bool malformed;
  const char *family;      /* e.g. "date_mdy_slash" or "malformed.truncated" */
  /* Ground truth: */
  rf_buf_t id;             /* the `id` the message carries (also set for malformed ones) */
  const char *table;       /* NULL for malformed messages */
  const char *column;
  rf_buf_t value;          /* the bad value as sent (valid UTF-8 for valid messages) */
  bool value_null;
  rf_buf_t expected;       /* the repaired value when outcome is RF_PRODUCE_FIXED */
  rf_produce_outcome_t outcome;
  const char *reason;      /* intake's reason for malformed messages, else NULL */
} rf_produce_msg_t;

typedef struct rf_produce rf_produce_t;

/* Creates a generator. Returns 0, RF_EINVAL (bad option; err says which, and
 * for an unknown family lists the known ones) or RF_ENOMEM. */
int rf_produce_new(const rf_produce_opts_t *opts, rf_produce_t **out, char *err, size_t errlen);
void rf_produce_free(rf_produce_t *g);
/* Generates the next message into m (its buffers are reset and reused).
 * Returns 0 or RF_ENOMEM. */
int rf_produce_next(rf_produce_t *g, rf_produce_msg_t *m);
void rf_produce_msg_init(rf_produce_msg_t *m);
void rf_produce_msg_free(rf_produce_msg_t *m);

/* Appends m's ground truth as one JSON object (no newline):
 * {"id","entry_id","table","column","family","value","expected","outcome","reason"}.
 * entry_id is the sink's id for the message (NULL: JSON null). value is null
 * for malformed messages. Check rf_buf_ok(out). */
void rf_produce_truth(const rf_produce_msg_t *m, const char *entry_id, rf_buf_t *out);
/* "fixed", "fixed_null" or "quarantined". */
const char *rf_produce_outcome_name(rf_produce_outcome_t o);

/* The family table, for --families and its help: index < rf_produce_family_count(). */
size_t rf_produce_family_count(void);
/* Name, table and column of family i (static strings); false when out of range. */
bool rf_produce_family_info(size_t i, const char **name, const char **table, const char **column);
/* Number of malformed kinds and the name of kind i ("malformed.<kind>"), or NULL. */
size_t rf_produce_malformed_count(void);
const char *rf_produce_malformed_name(size_t i);

/* ---- sinks ---- */

typedef struct rf_produce_sink rf_produce_sink_t;

typedef struct rf_produce_sink_ops {
  const char *kind;
  /* Sends msgs[0..n) in order. On success (0) ids[i] receives the sink's id of
   * message i as a string the caller frees with rf_free (the caller passes an
   * array of n NULLs). Returns 0 or a negative RF_E* code with err filled;
   * then nothing about the batch is known (some may have been sent). */
  int (*send)(rf_produce_sink_t *s, rf_produce_msg_t *const *msgs, size_t n, char **ids,
              char *err, size_t errlen);
  /* Closes and frees the sink. */
  void (*close)(rf_produce_sink_t *s);
} rf_produce_sink_ops_t;

struct rf_produce_sink {
  const rf_produce_sink_ops_t *ops;
  char *name; /* "redis://host:port/stream" */
  void *impl;
};

/* A Redis Streams sink: one XADD <stream> * <field> <payload> per message,
 * pipelined per batch. field NULL means "payload". Returns 0, RF_ENOMEM or
 * RF_ECONN (err says why). */
int rf_produce_redis_sink_open(const char *host, int port, const char *stream, const char *field,
                               rf_produce_sink_t **out, char *err, size_t errlen);

#endif

/* outcome.h - what happened to one message, and a flush of them.
 *
 * The pipeline (loop thread) builds an rf_flush_t out of one closed window:
 * one rf_outcome_t per received message, each either FIXED (goes to
 * rectify.staging) or QUARANTINED (goes to rectify.quarantine). The flush is
 * then handed to the writer thread, which owns it until it hands it back in
 * its done callback. Every string in an outcome is owned by the outcome
 * (rf_malloc'd, freed by rf_outcome_clear); NULL means "absent" (SQL NULL).
 *
 * Invariant the writer checks and the database enforces for every flush:
 *   n == fixed + quarantined, and each key appears once.
 */
#ifndef RECTIFY_OUTCOME_H
#define RECTIFY_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rf_outcome_kind {
  RF_OUTCOME_FIXED = 1,
  RF_OUTCOME_QUARANTINED = 2,
} rf_outcome_kind_t;

/* Quarantine reason codes (stable strings, stored in quarantine.reason). */
#define RF_REASON_MALFORMED "malformed"
#define RF_REASON_OVERSIZE "oversize"
#define RF_REASON_INVALID_UTF8 "invalid_utf8"
#define RF_REASON_NO_FIX "no_fix"
#define RF_REASON_POISON "poison"
#define RF_REASON_LOW_CONFIDENCE "low_confidence"
#define RF_REASON_FAILED_VALIDATION "lambda_failed_validation"
#define RF_REASON_APPLY_ERROR "apply_error"
#define RF_REASON_INVALID_OUTPUT "invalid_output"
#define RF_REASON_MODEL_UNAVAILABLE "model_unavailable"

typedef struct rf_outcome {
  rf_outcome_kind_t kind;
  char *key;         /* message key: producer's id, else "<source>:<source_id>"; never NULL */
  char *source;      /* e.g. "redis:needs_ai" */
  char *source_id;   /* e.g. the stream entry id "1700000000000-0" */
  char *table_name;  /* NULL when the message was too broken to tell */
  char *column_name; /* idem */
  char *pk_json;     /* canonical JSON of pk (rf_json_canonical), NULL when unknown */
  char *pk_hash;     /* hex SHA-256 of pk_json, NULL when unknown */
  char *old_value;   /* the bad value; NULL for JSON null or unknown */
  char *new_value;   /* FIXED: the repaired value (NULL = SQL NULL); QUARANTINED: NULL */
  char *row_json;    /* the message's "row" object as canonical JSON, or NULL */
  char *fingerprint; /* cluster shape fingerprint, or NULL */
  char *cluster_id;  /* hex id of the cluster within its batch, or NULL */
  /* The fix that produced new_value (FIXED) or that was tried (QUARANTINED). */
  char *fix_id;
  char *lambda_src;
  char *generator; /* "cache", "transfer", "synth", "model", "human" */
  char *model;     /* model name and digest, or NULL */
  double confidence;
  bool has_confidence;
  /* QUARANTINED only. */
  char *reason;       /* one of RF_REASON_* */
  char *detail;       /* human-readable detail, or NULL */
  char *model_answer; /* the model's raw answer, or NULL */
  unsigned char *raw; /* the raw message bytes as received (may contain anything) */
  size_t raw_len;
  /* Set by the writer: receipt timestamp (µs since the epoch, UTC). */
  int64_t ts_us;
  /* Set by the writer: the key already had an outcome (a redelivery); nothing
   * was written for this row. */
  bool duplicate;
} rf_outcome_t;

typedef struct rf_flush {
  char *source;          /* source name of the batch, e.g. "redis:needs_ai" */
  char *table_name;      /* the window's table, NULL for the intake window */
  char *column_name;     /* the window's column */
  rf_outcome_t *rows;
  size_t n, cap;
  int64_t opened_us;     /* when the window received its first message */
  int64_t flushed_us;    /* when it was closed */
  /* Filled by the writer on commit. */
  char *batch_id;        /* "<chain>:<seq>" */
  size_t n_duplicates;   /* rows whose key already had an outcome (redelivery) */
  /* Set by whoever builds the flush when every pk_json and row_json is
   * already rf_json_canonical() output (intake guarantees it); otherwise the
   * writer canonicalises them before hashing. */
  bool json_canonical;
  /* JSON array explaining the window's merged clusters (which keys and
   * similarities joined them), committed in the batch's audit entry; NULL
   * when nothing was merged. Owned. */
  char *merges_json;
  /* Opaque to the writer: the pipeline's bookkeeping (acks). */
  void *ack_data;
} rf_flush_t;

/* Frees every string of o and zeroes it. */
void rf_outcome_clear(rf_outcome_t *o);
/* Appends a zeroed outcome to f and returns it; NULL on allocation failure. */
rf_outcome_t *rf_flush_add(rf_flush_t *f);
/* Allocates an empty flush; NULL on allocation failure. */
rf_flush_t *rf_flush_new(const char *source, const char *table_name, const char *column_name);
/* Frees the flush, its outcomes and its strings (not ack_data). NULL is ok. */
void rf_flush_free(rf_flush_t *f);
/* Counts of FIXED and QUARANTINED rows. */
void rf_flush_counts(const rf_flush_t *f, size_t *fixed, size_t *quarantined);

#endif

/* intake.h - one raw message in, one anomaly record out.
 *
 * Intake never drops a message: what it cannot accept becomes an anomaly with
 * `reason` set (malformed, oversize, invalid_utf8) and the raw bytes kept,
 * which the pipeline quarantines whole. The message contract is
 * docs/message-format.md.
 *
 * Ownership: an rf_anomaly_t owns every pointer in it (rf_anomaly_free).
 */
#ifndef RECTIFY_INTAKE_H
#define RECTIFY_INTAKE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rectify/config.h"

typedef struct rf_anomaly {
  char *key;           /* message key: `id` when given, else "<source>:<source_id>" */
  char *source;        /* source name, e.g. "redis:needs_ai" */
  char *source_id;     /* the source's own id (stream entry id, topic/partition/offset) */
  char *table_name;    /* NULL when unknown (rejected before it was read) */
  char *column_name;
  char *pk_json;       /* canonical JSON of pk */
  char *pk_hash;       /* hex SHA-256 of pk_json */
  char *value;         /* NULL when the value is JSON null */
  size_t value_len;
  char *row_json;      /* canonical JSON of `row`, or NULL */
  cJSON *row;          /* parsed `row` (numbers keep their text) once rf_anomaly_row asked
                          for it, or set by whoever built the record; NULL otherwise */
  char *reason_text;   /* the producer's `reason`, or NULL */
  char *source_system;
  char *detected_at;
  unsigned char *raw;  /* the message as received (truncated to max_message_bytes for oversize) */
  size_t raw_len;
  uint32_t deliveries; /* how often the source has delivered it (1 = first time) */
  /* Set when intake rejected the message: */
  const char *reject;  /* RF_REASON_MALFORMED / _OVERSIZE / _INVALID_UTF8, or NULL */
  char *reject_detail;
} rf_anomaly_t;

typedef struct rf_intake_opts {
  size_t max_message_bytes;
  size_t max_value_bytes;
  int max_json_depth;
  bool strict_columns;
  const rf_config_t *cfg; /* for strict_columns; may be NULL otherwise */
} rf_intake_opts_t;

void rf_intake_opts_from_config(rf_intake_opts_t *o, const rf_config_t *cfg);

/* Parses raw[0..len) from `source` into *a (zeroed by the callee). Returns 0
 * whether the message was accepted or rejected (check a->reject), or RF_ENOMEM
 * (then *a is empty and the message must be retried later, not dropped). */
int rf_intake_parse(const rf_intake_opts_t *o, const char *source, const char *source_id,
                    const void *raw, size_t len, rf_anomaly_t *a);
/* Frees everything a owns and zeroes it. */
void rf_anomaly_clear(rf_anomaly_t *a);
/* The message's `row` object (numbers keep their text). Intake keeps only its
 * canonical text: most fixes never read the row, and a parsed tree held for
 * every message in flight costs memory and, freed long after, cache misses.
 * The first call parses it again from the raw message and keeps it in a->row.
 * *row is NULL when the message has no row. 0 or RF_ENOMEM. Not thread-safe
 * for one record; distinct records may be asked from distinct threads. */
int rf_anomaly_row(rf_anomaly_t *a, const cJSON **row);

#endif

/* pipeline.h - the daemon's work, wired together on one libuv loop.
 *
 *   source --on_msgs--> intake --> window (table, column) --flush--> clusters
 *     --> fix chain --> outcomes --> writer thread (one transaction)
 *     --committed--> source ack
 *
 * Invariants the pipeline keeps:
 * - A message is acknowledged only from the writer's done callback with
 *   status 0, i.e. after its outcome is committed.
 * - Every message the pipeline accepts from the source is in exactly one
 *   window or one flush until it is acknowledged or handed back unacked.
 * - A message the source redelivers while the pipeline still holds it is
 *   ignored (the held copy decides); after acknowledgement, a redelivery is
 *   recognised by the writer's key ledger and acknowledged without a second
 *   outcome.
 * - Intake pauses while max_inflight_rows messages are held.
 *
 * All functions run on the loop thread.
 */
#ifndef RECTIFY_PIPELINE_H
#define RECTIFY_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "rectify/config.h"
#include "rectify/fixgen.h"

typedef struct rf_pipeline rf_pipeline_t;

typedef struct rf_pipeline_stats {
  uint64_t received;    /* messages taken from the source (redeliveries of held ones excluded) */
  uint64_t committed;   /* outcomes committed (fixed + quarantined) */
  uint64_t fixed;
  uint64_t quarantined;
  uint64_t duplicates;  /* redeliveries of already-committed messages */
  uint64_t batches;
  uint64_t acked;
  uint64_t reconcile_failures;
  uint64_t audit_failures; /* chain entries the database refused (Sev-1) */
  uint64_t embed_skipped;  /* windows whose embed stage was skipped: no model configured */
  uint64_t inflight;    /* held: received, not yet acknowledged */
  uint64_t windows_open;
  uint64_t window_rows; /* rows in open windows */
  uint64_t writer_pending_rows; /* rows handed to the writer, not yet committed */
  uint64_t chain_seq;   /* seq of the last audit chain entry this writer committed */
  bool source_ready;    /* the source is connected and consuming */
  bool db_ready;        /* the writer is connected and the schema migrated */
  bool draining;
  /* Committed quarantine outcomes by reason, in the order of rf_pipeline_reasons. */
  uint64_t quarantined_by_reason[16];
} rf_pipeline_stats_t;

/* The quarantine reasons counted in quarantined_by_reason (NULL-terminated);
 * reasons not listed are counted under the last entry, "other". */
extern const char *const rf_pipeline_reasons[];

/* Called on the loop thread for every Sev-1 event (a reconciliation mismatch):
 * what happened, in one line. The daemon logs, counts and alerts. */
typedef void (*rf_pipeline_sev1_cb)(rf_pipeline_t *p, const char *what, void *arg);
void rf_pipeline_on_sev1(rf_pipeline_t *p, rf_pipeline_sev1_cb cb, void *arg);

/* Swaps in a new configuration (SIGHUP): window settings, limits and column
 * contracts apply to windows opened from now on. cfg is borrowed and must
 * outlive the pipeline (the daemon keeps every loaded config until exit,
 * because flushes in progress still point into the old one). Sources and the
 * database connection are not changed: rf_pipeline_reload logs which keys it
 * could not apply and returns how many those were. */
int rf_pipeline_reload(rf_pipeline_t *p, const rf_config_t *cfg);

typedef void (*rf_pipeline_drain_cb)(rf_pipeline_t *p, int status, void *arg);

/* Creates the pipeline for cfg (borrowed; must outlive the pipeline). The
 * chain is owned by the pipeline from here on. */
int rf_pipeline_new(uv_loop_t *loop, const rf_config_t *cfg, rf_fixchain_t *chain,
                    rf_pipeline_t **out);
/* Starts the writer thread and the source (from cfg). 0 or RF_E*, with a
 * message in errbuf. */
int rf_pipeline_start(rf_pipeline_t *p, char *errbuf, size_t errlen);
/* Stops intake, flushes every window, waits until everything held is
 * committed and acknowledged (or drain_timeout_ms passes with the database
 * unreachable: what is left stays unacknowledged and is redelivered later),
 * closes the source and the writer, then calls cb(status 0, or RF_ETIMEDOUT).
 * The pipeline is freed with rf_pipeline_free after cb. */
void rf_pipeline_drain(rf_pipeline_t *p, rf_pipeline_drain_cb cb, void *arg);
void rf_pipeline_free(rf_pipeline_t *p);
void rf_pipeline_get_stats(const rf_pipeline_t *p, rf_pipeline_stats_t *out);
/* The embed clustering stage's client (borrowed; NULL: no model, the stage is
 * skipped and counted in embed_skipped). Call before the pipeline starts, and
 * with NULL before g is closed. */
struct rf_gen_model;
void rf_pipeline_set_embedder(rf_pipeline_t *p, struct rf_gen_model *g);
/* The source's last known lag per stream or partition (see source.h);
 * returns how many entries were filled. */
struct rf_source_lag;
size_t rf_pipeline_source_lag(const rf_pipeline_t *p, struct rf_source_lag *out, size_t max);

#endif

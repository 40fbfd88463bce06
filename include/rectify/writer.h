/* writer.h - the writer thread: one PostgreSQL connection, one audit chain.
 *
 * The loop thread submits closed flushes; the writer thread writes each one in
 * one transaction (or several pending flushes in one transaction, each still
 * its own batch): the new keys into the key ledger (a key that already has an
 * outcome is a redelivery: counted in flush->n_duplicates, nothing else is
 * written for it), its staging and quarantine rows with their receipts and
 * leaf hashes (COPY), the batch row (CHECK received = fixed + quarantined),
 * and one audit chain entry committing to the Merkle root of the batch's
 * leaves. Only after COMMIT succeeds does it hand the flush back, on the loop
 * thread, through done_cb(flush, 0, arg); the pipeline then acknowledges the
 * flush's messages and frees it.
 *
 * Failures: a lost or failing connection is retried forever with capped
 * backoff; flushes wait in order, nothing is handed back, nothing is acked.
 * A reconciliation mismatch (Sev-1) is logged at CRIT and the flush is handed
 * back with RF_ERECONCILE and must not be acked. On rf_writer_close(), pending
 * flushes that could not be committed are handed back with RF_ECANCELED.
 *
 * Threads: rf_writer_new/submit/close are called on the loop thread only;
 * done_cb runs on the loop thread.
 */
#ifndef RECTIFY_WRITER_H
#define RECTIFY_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rectify/outcome.h"

typedef struct rf_writer rf_writer_t;

typedef struct rf_writer_config {
  const char *conninfo;       /* libpq conninfo (no password in it) */
  const char *password;       /* or NULL: libpq's own PGPASSWORD/.pgpass apply */
  const char *chain_id;       /* audit chain id: the instance name */
  const unsigned char *audit_key; /* HMAC key for chain links, or NULL for plain SHA-256 */
  size_t audit_key_len;
  const char *heads_file;     /* where chain heads are recorded after each commit, or NULL */
  size_t max_txn_rows;        /* group pending flushes up to this many rows per transaction */
  int retry_max_ms;           /* cap of the reconnect backoff */
} rf_writer_config_t;

/* Called on the loop thread. status 0: committed, flush->batch_id set.
 * Ownership of flush returns to the callee. */
typedef void (*rf_writer_done_cb)(rf_flush_t *flush, int status, void *arg);
typedef void (*rf_writer_close_cb)(rf_writer_t *w, void *arg);

/* Creates the writer and starts its thread; the thread connects and migrates
 * the schema in the background. Returns 0 or a negative RF_E* code. */
int rf_writer_new(uv_loop_t *loop, const rf_writer_config_t *cfg, rf_writer_done_cb done_cb,
                  void *arg, rf_writer_t **out);
/* Queues a flush (ownership passes to the writer). RF_ECLOSED after close. */
int rf_writer_submit(rf_writer_t *w, rf_flush_t *flush);
/* Rows queued but not yet committed (for backpressure and metrics). */
size_t rf_writer_pending_rows(const rf_writer_t *w);
/* True once the writer is connected and the schema is migrated. */
int rf_writer_ready(const rf_writer_t *w);
/* Finishes what is queued (retrying for at most drain_ms when the database is
 * down), hands back what is left with RF_ECANCELED, stops the thread, then
 * calls close_cb and frees w. */
void rf_writer_close(rf_writer_t *w, int drain_ms, rf_writer_close_cb close_cb, void *arg);

/* Create or migrate the rectify schema on an open connection (also used by
 * rectifyctl and the tests). Returns 0 or RF_EDB with a message in errbuf. */
struct pg_conn;
int rf_schema_migrate(struct pg_conn *conn, char *errbuf, size_t errlen);

#endif

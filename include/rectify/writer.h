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
 * A flush whose rows PostgreSQL refuses as data (SQLSTATE class 22, e.g. a
 * pk that is not JSON or text that is not valid UTF-8) cannot succeed by
 * retrying: the writer bisects it, turns only the refused rows into
 * QUARANTINED outcomes with reason "malformed", detail = PostgreSQL's message,
 * the raw bytes kept and every other value dropped, and writes the flush.
 * The flush handed back reflects this (kind, reason, detail changed). If no
 * row can be blamed (the flush's own source/table/column are refused), the
 * flush is handed back with RF_EDB and must not be acknowledged. A key
 * that is not valid UTF-8 is replaced by "invalid-utf8-key:<sha256 hex>" the
 * same way. An outcome whose kind is neither FIXED nor QUARANTINED goes to no
 * table and so fails reconciliation (RF_ERECONCILE).
 *
 * The writer sets each outcome's ts_us (receipt timestamp) when it is 0, the
 * reason of a QUARANTINED outcome to "no_fix" when it is NULL, and rewrites
 * pk_json and row_json in canonical form (rf_json_canonicalize) when they are
 * valid JSON, so that receipts hash exactly what jsonb gives back.
 *
 * Threads: rf_writer_new/submit/close are called on the loop thread only;
 * done_cb runs on the loop thread. The writer thread touches loop state only
 * through uv_async_send.
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
  size_t max_txn_rows;        /* group pending flushes up to this many rows per transaction
                                 (a larger flush still goes alone); 0 = 10000 */
  int retry_max_ms;           /* cap of the reconnect backoff; 0 = 5000 */
} rf_writer_config_t;

/* Called on the loop thread. status 0: committed, flush->batch_id and
 * flush->n_duplicates set. RF_ERECONCILE (Sev-1), RF_ECORRUPT (Sev-1: the
 * database refused the audit chain entry three times in a row) or RF_EDB
 * (refused by the database): nothing of the flush was committed. RF_ECANCELED (closed while
 * the database was unreachable): not known to be committed (a COMMIT lost
 * with its connection may have landed; the redelivery will then be counted
 * as duplicates). In every error case: do not acknowledge. Ownership of
 * flush returns to the callee. */
typedef void (*rf_writer_done_cb)(rf_flush_t *flush, int status, void *arg);
typedef void (*rf_writer_close_cb)(rf_writer_t *w, void *arg);

/* Creates the writer and starts its thread; the thread connects and migrates
 * the schema in the background. cfg's strings and key are copied. Returns 0,
 * RF_EINVAL (no chain id, or one with control characters), RF_ENOMEM, or
 * RF_EINTERNAL (thread or async handle could not be created). */
int rf_writer_new(uv_loop_t *loop, const rf_writer_config_t *cfg, rf_writer_done_cb done_cb,
                  void *arg, rf_writer_t **out);
/* Queues a flush (ownership passes to the writer on success only). Returns 0,
 * RF_ECLOSED after close, RF_EINVAL (a row without a key), RF_ENOMEM. */
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
 * rectifyctl and the tests); safe to run concurrently from several processes
 * (advisory lock). Returns 0 or RF_EDB with a message in errbuf.
 * Implemented in lib/schema.c. */
struct pg_conn;
int rf_schema_migrate(struct pg_conn *conn, char *errbuf, size_t errlen);

/* SQL predicate: quarantine row `q` (an alias) has the message key in
 * parameter `param` ("$1"). The ledger gives the key's batch and
 * quarantine_batch_idx that batch's rows: quarantine has no index of its own
 * on key (schema migration 5). */
#define RF_SQL_QUARANTINE_BY_KEY(q, param)                                                     \
  q ".batch_id = (SELECT m_.batch_id FROM rectify.messages m_ WHERE m_.key = " param ")"      \
  " AND " q ".key = " param

/* ---- internal, exposed for the unit tests (lib/writer.c) ---- */
/* PostgreSQL's binary COPY framing: signature, flags, no header extension;
 * and the end marker (a field count of -1). */
#define RF_COPY_BINARY_HEADER "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"
#define RF_COPY_BINARY_HEADER_LEN 19
#define RF_COPY_BINARY_TRAILER "\377\377"
#define RF_COPY_BINARY_TRAILER_LEN 2
struct rf_buf;
/* Appends the binary COPY tuple of o (stored under batch_id) to `staging` or
 * `quarantine` by o->kind and computes its leaf hash in the same pass. A COPY
 * of such tuples says WITH (FORMAT binary), sends RF_COPY_BINARY_HEADER before
 * them and RF_COPY_BINARY_TRAILER after them.
 * scratch is working space. 0, RF_ENOMEM, RF_EINVAL (kind neither FIXED nor
 * QUARANTINED, or no key) or RF_EINTERNAL. */
int rf__writer_copy_row(const rf_outcome_t *o, const char *batch_id, struct rf_buf *staging,
                        struct rf_buf *quarantine, struct rf_buf *scratch, unsigned char leaf[32]);
/* Turns o into a QUARANTINED "malformed" outcome with detail `why`: keeps key,
 * raw bytes, and source/source_id/table/column when valid UTF-8; drops every
 * other value. 0 or RF_ENOMEM (o unchanged). */
int rf__writer_make_malformed(rf_outcome_t *o, const char *why);

#endif

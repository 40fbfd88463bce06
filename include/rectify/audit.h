/* audit.h - the audit chain: entries, links, recorded heads, verification.
 *
 * One chain per writer (chain id = instance name). Each committed batch
 * appends one entry: canonical JSON (rf_audit_entry_json) committing to the
 * batch's counts and to the RFC 6962 Merkle root of its rows' leaf hashes
 * (see receipt.h), and a link hash = SHA-256(prev_hash || entry bytes), or
 * HMAC-SHA256(key, prev_hash || entry bytes) when an audit key is configured.
 * The first entry of a chain has seq 1 and prev_hash = 32 zero bytes.
 * docs/audit.md is the reference.
 *
 * The heads file records, per chain, the last committed (seq, hash), so that
 * cutting the tail of a chain in the database (deleting its last entries and
 * their rows) is detected: one line per chain, "CHAIN\tSEQ\tHEX-HASH\n".
 */
#ifndef RECTIFY_AUDIT_H
#define RECTIFY_AUDIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rectify/buf.h"
#include "rectify/hash.h"

#define RF_AUDIT_ENTRY_VERSION 1

typedef struct rf_audit_entry {
  const char *chain_id;
  int64_t seq;
  const char *batch_id;    /* "<chain>:<seq>" */
  const char *source;
  const char *table_name;  /* NULL for the intake window */
  const char *column_name;
  int64_t received, fixed, quarantined, duplicates;
  unsigned char root[RF_SHA256_LEN]; /* Merkle root of the batch's leaves, sorted by key */
  unsigned char prev[RF_SHA256_LEN]; /* previous link hash (zeros for seq 1) */
  bool keyed;              /* link is an HMAC ("mac":"hmac-sha256") */
  const char *merges;      /* JSON array explaining the batch's merged clusters, or NULL */
  int64_t ts_us;
} rf_audit_entry_t;

/* Appends the canonical JSON of e (rectify's jsonb-compatible canonical form,
 * so entry::text re-canonicalizes to the same bytes). 0, RF_ENOMEM or RF_EINVAL. */
int rf_audit_entry_json(const rf_audit_entry_t *e, rf_buf_t *out);
/* The link hash of an entry: SHA-256(prev || entry) when key is NULL, else
 * HMAC-SHA256(key, prev || entry). 0 or RF_EINTERNAL. */
int rf_audit_link(const unsigned char prev[RF_SHA256_LEN], const char *entry, size_t len,
                  const unsigned char *key, size_t keylen, unsigned char out[RF_SHA256_LEN]);
/* Writes "<chain>:<seq>" into buf. */
void rf_audit_batch_id(char *buf, size_t len, const char *chain_id, int64_t seq);

typedef struct rf_audit_head {
  char *chain_id;
  int64_t seq;
  unsigned char hash[RF_SHA256_LEN];
} rf_audit_head_t;

/* Reads a heads file. A missing file is not an error (*n = 0). On success the
 * caller frees *out with rf_audit_heads_free. RF_EPARSE (with "FILE:LINE:
 * message" in errbuf), RF_EIO or RF_ENOMEM otherwise. */
int rf_audit_heads_read(const char *path, rf_audit_head_t **out, size_t *n, char *errbuf,
                        size_t errlen);
void rf_audit_heads_free(rf_audit_head_t *heads, size_t n);
/* Records chain's head in path, keeping the other chains' lines: writes a
 * temporary file next to it, fsyncs it and renames it over path (atomic).
 * 0, RF_EIO (errbuf filled) or RF_ENOMEM. */
int rf_audit_heads_write(const char *path, const char *chain_id, int64_t seq,
                         const unsigned char hash[RF_SHA256_LEN], char *errbuf, size_t errlen);

/* ---- verification ------------------------------------------------------ */

typedef struct rf_audit_progress {
  const char *chain_id;
  uint64_t entries, rows;
  double elapsed_s;
} rf_audit_progress_t;

typedef struct rf_audit_verify_opts {
  const char *chain_id;          /* only this chain, or NULL for all */
  const char *heads_file;        /* recorded heads to check, or NULL */
  const unsigned char *key;      /* audit key for HMAC links, or NULL */
  size_t keylen;
  /* Called about once a second while verifying (and once at the end), on
   * the calling thread; NULL for none. */
  void (*progress)(const rf_audit_progress_t *p, void *arg);
  void *progress_arg;
} rf_audit_verify_opts_t;

typedef struct rf_audit_report {
  uint64_t chains, entries, rows; /* how much was checked */
  uint64_t heads_checked;
  /* Set on the first break (return RF_ECORRUPT). */
  char chain_id[256];
  int64_t seq;                    /* 0 when not tied to one entry */
  char key[256];                  /* the message key when a row is at fault, else "" */
  char message[1024];             /* "chain=X seq=N: what is wrong" or the operational error */
  char notes[1024];               /* informational lines (e.g. "database ahead of heads file") */
} rf_audit_report_t;

/* Walks every chain (or opts->chain_id) in seq order and checks every link,
 * every batch (Merkle root recomputed from its rows, counts against rows and
 * against its batches row), rows that belong to no chain entry, the key
 * ledger, and the recorded heads. Streams rows (one batch in memory at a
 * time). Returns 0 when everything verifies, RF_ECORRUPT at the first break
 * (report->message says where and what), RF_EDB/RF_EIO/RF_ENOMEM/RF_EPARSE
 * on operational errors (report->message says why). */
int rf_audit_verify(PGconn *conn, const rf_audit_verify_opts_t *opts, rf_audit_report_t *report);

/* Builds the inclusion proof of the row stored under message `key` and checks
 * it: appends a JSON object (key, table, batch, chain, seq, leaf, index, size,
 * path, root, entry_hash, verified) to out. Returns 0 when the proof verifies
 * (the leaf matches the row, the path leads to the root recorded in the chain
 * entry), RF_ECORRUPT when it does not (out still filled, errbuf says why),
 * RF_ENOTFOUND when no row has that key, RF_EDB/RF_ENOMEM otherwise. */
int rf_audit_prove(PGconn *conn, const char *key, const rf_audit_verify_opts_t *opts, rf_buf_t *out,
                   char *errbuf, size_t errlen);

#endif

/* dashboard.h - the quarantine dashboard: views, human actions, web server.
 *
 * `rectifyctl serve` runs it. Three layers, each usable on its own (the
 * integration tests drive the middle one without HTTP):
 *
 *   views    rf_dashboard_overview/clusters/cluster/row: read-only queries
 *            that return a cJSON document (the JSON API returns it as is, the
 *            HTML pages render it).
 *   actions  rf_dashboard_resolve/apply/discard/requeue: each one is ONE
 *            PostgreSQL transaction that writes the human's decision as new
 *            rows (staging rows with generator "human", action rows), one
 *            batch row (received = fixed + quarantined) and one entry on the
 *            dashboard's own audit chain ("dashboard:<host>") that commits to
 *            the staging rows (Merkle root, as for any batch) and to the
 *            action rows (a second root, "actions_root"), naming the actor.
 *            docs/dashboard.md explains the design.
 *   server   rf_dashboard_serve: libmicrohttpd on a loopback address, token
 *            authentication (Bearer header or an HttpOnly SameSite=Strict
 *            session cookie set by the login page), CSRF checks on every POST.
 *
 * Threads: an rf_dashboard_t owns one PostgreSQL connection; its functions
 * must not be called from two threads at once. The server calls them from
 * libmicrohttpd's single polling thread only.
 *
 * Ownership: cJSON documents returned through `out` belong to the caller
 * (cJSON_Delete). Strings passed in are borrowed for the call.
 */
#ifndef RECTIFY_DASHBOARD_H
#define RECTIFY_DASHBOARD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rectify/buf.h"
#include "rectify/config.h"
#include "rectify/hash.h"

/* Rows per page in lists; rows one cluster apply handles at most (a larger
 * cluster is applied in several rounds, each previewed). */
#define RF_DASH_PAGE_ROWS 50
#define RF_DASH_APPLY_MAX 5000
/* Bytes of a value, lambda, or discard reason a person may submit. */
#define RF_DASH_MAX_INPUT 4096

typedef struct rf_dashboard rf_dashboard_t;

typedef struct rf_dashboard_opts {
  const rf_config_t *cfg;  /* borrowed for the dashboard's lifetime */
  const char *chain_id;    /* NULL: "dashboard:<instance_name>" */
  const char *conninfo;    /* NULL: cfg->pg_conninfo */
} rf_dashboard_opts_t;

/* Connects to PostgreSQL (password from [postgres] password_file), migrates
 * the schema, reads the audit key ([audit] key_file) when one is configured.
 * Returns 0 and *out, or RF_EDB/RF_EIO/RF_ECONFIG/RF_ENOMEM with errbuf set. */
int rf_dashboard_new(const rf_dashboard_opts_t *opts, rf_dashboard_t **out, char *errbuf,
                     size_t errlen);
void rf_dashboard_free(rf_dashboard_t *d);
/* The audit chain the dashboard appends to (borrowed). */
const char *rf_dashboard_chain_id(const rf_dashboard_t *d);

/* ---- the outcome of a call, for the person -------------------------------- */

typedef struct rf_dash_status {
  int code;            /* 0 or the RF_E* code returned */
  int http;            /* the HTTP status that fits: 200, 400, 404, 409, 422, 500, 503 */
  char message[768];   /* one sentence for the person; "" on success */
} rf_dash_status_t;

/* ---- views ------------------------------------------------------------------- */

/* Filters of the cluster list; NULL or "" means any. */
typedef struct rf_dash_filter {
  const char *table_name;
  const char *column_name;
  const char *reason;
  long page;           /* 0-based */
} rf_dash_filter_t;

/* Open rows by table/column/reason, the last 24 hours, LLM call reduction,
 * the audit chains' heads. 0 or an RF_E* code (st says why). */
int rf_dashboard_overview(rf_dashboard_t *d, cJSON **out, rf_dash_status_t *st);
/* One page of open clusters (rows sharing table, column and fingerprint),
 * largest first, each with its count, representatives, the latest proposal
 * (lambda, reasoning, why it was refused). */
int rf_dashboard_clusters(rf_dashboard_t *d, const rf_dash_filter_t *f, cJSON **out,
                          rf_dash_status_t *st);
/* One cluster: its proposal, contract and one page of its open rows. */
int rf_dashboard_cluster(rf_dashboard_t *d, const char *table_name, const char *column_name,
                         const char *fingerprint, long page, cJSON **out, rf_dash_status_t *st);
/* One quarantined row: every column, the raw message, its row context, its
 * status, its actions and its audit history (batch entry, inclusion proof,
 * the dashboard entries that acted on it). RF_ENOTFOUND when no such key. */
int rf_dashboard_row(rf_dashboard_t *d, const char *key, cJSON **out, rf_dash_status_t *st);
/* Runs the audit verifier over every chain (with the heads file and key of
 * the configuration) and returns its report as JSON {ok, message, chains,
 * entries, rows, notes}. */
int rf_dashboard_verify(rf_dashboard_t *d, cJSON **out, rf_dash_status_t *st);

/* ---- actions ---------------------------------------------------------------- */

/* Resolves one open row with `value` (NULL: SQL NULL), which must satisfy the
 * column's contract (RF_EVALUE, http 422, message says why). The row gets a
 * staging row (generator "human") and a "resolve" action. RF_ENOTFOUND (no
 * such row), RF_EEXISTS (not open any more, http 409), RF_EDB. */
int rf_dashboard_resolve(rf_dashboard_t *d, const char *actor, const char *key, const char *value,
                         rf_dash_status_t *st);
/* Discards one open row: a "discard" action with the reason (required). */
int rf_dashboard_discard(rf_dashboard_t *d, const char *actor, const char *key, const char *reason,
                         rf_dash_status_t *st);
/* Requeues one open row to the model: the raw message goes back to the
 * configured source (Redis stream or Kafka topic) with its `id` replaced by
 * "<key>#requeue-<n>", a new key that gets its own outcome, and a "requeue"
 * action records the new key. The message is sent before the action commits
 * and its new key is deterministic, so a retry after a failure can never
 * give two outcomes. RF_EINVAL (http 422) when the raw message is not a
 * JSON object (it would only be quarantined as malformed again). */
int rf_dashboard_requeue(rf_dashboard_t *d, const char *actor, const char *key,
                         rf_dash_status_t *st);

/* Previews `lambda` on every open row of the cluster (at most
 * RF_DASH_APPLY_MAX, by key): the gate verdict on the representatives, and
 * for each row before, after, and whether it passes the contract. *out gets
 * {gate:{ok,reason,detail}, rows:[{key,before,after,ok,error}], n, n_ok,
 * n_fail, digest}; digest names exactly this preview (lambda, rows and
 * results) and must be handed to rf_dashboard_apply. */
int rf_dashboard_preview(rf_dashboard_t *d, const char *table_name, const char *column_name,
                         const char *fingerprint, const char *lambda, cJSON **out,
                         rf_dash_status_t *st);
/* Applies `lambda` to the cluster exactly as previewed: recomputes the
 * preview inside the transaction and refuses (RF_EAGAIN, http 409) when its
 * digest differs from `digest` (rows were added or acted on since). Rows the
 * lambda fixes move to staging (generator "human", the lambda and its fix id
 * kept), each with a "resolve" action; rows it cannot fix stay open. A gate
 * failure is RF_EVALUE (http 422). *out gets {batch, moved, stayed} (NULL,
 * with st->message naming the batch, if that document cannot be built after
 * the commit). */
int rf_dashboard_apply(rf_dashboard_t *d, const char *actor, const char *table_name,
                       const char *column_name, const char *fingerprint, const char *lambda,
                       const char *digest, cJSON **out, rf_dash_status_t *st);

/* ---- the action receipt (also used by the audit verifier) --------------------- */

#define RF_ACTION_RECEIPT_VERSION 1

/* Appends the canonical receipt bytes of one action row:
 * {"v":1,"kind":"action","batch":..,"key":..,"action":..,"actor":..,
 *  "detail":..|null,"ts_us":N}, strings escaped as rf_buf_json_str does.
 * Check rf_buf_ok(out). */
void rf_dashboard_action_bytes(const char *batch_id, const char *key, const char *action,
                               const char *actor, const char *detail, int64_t ts_us,
                               rf_buf_t *out);
/* leaf = SHA-256(0x00 || rf_dashboard_action_bytes(...)); scratch is reset
 * and used as working space. 0, RF_ENOMEM or RF_EINTERNAL. */
int rf_dashboard_action_leaf(const char *batch_id, const char *key, const char *action,
                             const char *actor, const char *detail, int64_t ts_us,
                             rf_buf_t *scratch, unsigned char leaf[RF_SHA256_LEN]);

/* ---- authentication ------------------------------------------------------------ */

typedef struct rf_dash_token {
  char *actor; /* who acts with this token (recorded in the audit chain) */
  char *token;
} rf_dash_token_t;

/* Reads a token file: one token per line, "ACTOR TOKEN" (whitespace between)
 * or a bare "TOKEN" (actor "operator"); '#' comments and blank lines
 * skipped. Tokens must be at least 16 bytes of printable ASCII; actors
 * [A-Za-z0-9._@-]{1,64}. The file must not be readable by others (mode & 007
 * == 0). Returns 0 with out and n (free with rf_dash_tokens_free) or
 * RF_EIO/RF_EPARSE/RF_EDENIED/RF_ENOMEM with "FILE:LINE: why" in errbuf. */
int rf_dash_tokens_load(const char *path, rf_dash_token_t **out, size_t *n, char *errbuf,
                        size_t errlen);
void rf_dash_tokens_free(rf_dash_token_t *t, size_t n);

/* ---- the web server ------------------------------------------------------------ */

typedef struct rf_dash_server rf_dash_server_t;

/* Serves d on `listen` (a loopback "host:port"; port 0 picks a free one).
 * Takes ownership of tokens[0..n) on success. Returns 0 and *out, or
 * RF_EINVAL (not loopback, no token), RF_EIO (cannot listen), RF_ENOMEM. */
int rf_dash_serve(rf_dashboard_t *d, const char *listen, rf_dash_token_t *tokens, size_t n,
                  rf_dash_server_t **out, char *errbuf, size_t errlen);
/* The port actually listened on. */
int rf_dash_server_port(const rf_dash_server_t *s);
/* Stops serving (waits for the request in progress) and frees s. */
void rf_dash_server_stop(rf_dash_server_t *s);

/* ---- internal, exposed for the unit tests ------------------------------------- */

/* HTML-escapes s[0..n) (& < > " ' ) into out. */
void rf__dash_html_escape(rf_buf_t *out, const char *s, size_t n);
/* Decodes application/x-www-form-urlencoded field `name` from body into out
 * (reset first). true when present. */
bool rf__dash_form_field(const char *body, size_t len, const char *name, rf_buf_t *out);
/* True when a and b are equal, in time independent of where they differ. */
bool rf__dash_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif

/* dashboard_act.c - what a person decides about quarantined rows, written as
 * new facts on the dashboard's own audit chain.
 *
 * Why new rows and a chain of its own: every fact table is append-only (the
 * quarantine row that the daemon wrote stays as it is, forever), and the
 * daemon's writers own their chains. So a decision is one transaction that
 * appends, under one advisory lock shared by every dashboard:
 *
 *   staging rows        for resolved rows: the SAME message key, generator
 *                       "human", the new value, and the original identity
 *                       (source, pk, pk hash, raw digest) copied over;
 *   action rows         one per row acted on (resolve/discard/requeue), with
 *                       the actor, the batch and a leaf hash of its receipt;
 *   a batch row         source "dashboard", received = fixed = rows moved to
 *                       staging, quarantined = 0 (so the CHECK holds);
 *   a chain entry       on "dashboard:<instance>": the standard batch entry
 *                       (Merkle root of the batch's staging rows) plus
 *                       kind "actions", the actor, the number of actions and
 *                       the Merkle root of their leaves.
 *
 * The staging primary key makes "resolved at most once" a database fact; the
 * lock makes "open" checked and acted on atomically. docs/dashboard.md has
 * the whole argument, including why the key ledger (rectify.messages) keeps
 * saying "quarantined" for a resolved row.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "dashboard_int.h"
#include "rectify/alloc.h"
#include "rectify/audit.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/intake.h"
#include "rectify/json.h"
#include "rectify/lambda.h"
#include "rectify/log.h"
#include "rectify/merkle.h"
#include "rectify/outcome.h"
#include "rectify/pg.h"
#include "rectify/produce.h"
#include "rectify/produce_kafka.h"
#include "rectify/receipt.h"
#include "rectify/utf8.h"
#include "rectify/writer.h"

/* pg_advisory_xact_lock key for every dashboard action ("dash" in ASCII). */
#define RF_DASH_LOCK_KEY "1684108136"

/* ---- action receipts --------------------------------------------------------------- */

void rf_dashboard_action_bytes(const char *batch_id, const char *key, const char *action,
                               const char *actor, const char *detail, int64_t ts_us,
                               rf_buf_t *out) {
  const char *names[] = {"batch", "key", "action", "actor", "detail"};
  const char *vals[] = {batch_id, key, action, actor, detail};
  rf_buf_printf(out, "{\"v\":%d,\"kind\":\"action\"", RF_ACTION_RECEIPT_VERSION);
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    rf_buf_printf(out, ",\"%s\":", names[i]);
    if (vals[i])
      rf_buf_json_str(out, vals[i], strlen(vals[i]));
    else
      rf_buf_puts(out, "null");
  }
  rf_buf_printf(out, ",\"ts_us\":%" PRId64 "}", ts_us);
}

int rf_dashboard_action_leaf(const char *batch_id, const char *key, const char *action,
                             const char *actor, const char *detail, int64_t ts_us,
                             rf_buf_t *scratch, unsigned char leaf[RF_SHA256_LEN]) {
  rf_buf_reset(scratch);
  rf_dashboard_action_bytes(batch_id, key, action, actor, detail, ts_us, scratch);
  if (!rf_buf_ok(scratch))
    return RF_ENOMEM;
  return rf_merkle_leaf(scratch->data, scratch->len, leaf) ? RF_EINTERNAL : 0;
}

/* ---- loading rows -------------------------------------------------------------------- */

/* Columns of SQL_ROWS_* (quarantine rows an action works on). */
enum { C_KEY, C_SOURCE, C_SOURCE_ID, C_TABLE, C_COLUMN, C_PK, C_PK_HASH, C_OLD, C_ROW,
       C_FP, C_CLUSTER, C_RAW, C_REASON, C_OPEN, C_REQUEUES };

#define ROW_SELECT                                                                             \
  "SELECT q.key, q.source, q.source_id, q.table_name, q.column_name, q.pk::text, q.pk_hash,"   \
  " q.old_value, q.row_context::text, q.fingerprint, q.cluster_id, encode(q.raw, 'hex'),"      \
  " q.reason, (" RF_DASH_OPEN("q") ")::int,"                                                   \
  " (SELECT count(*) FROM rectify.actions r_ WHERE r_.key = q.key AND r_.action = 'requeue')"  \
  " FROM rectify.quarantine q"

static const char SQL_ROW_ONE[] = ROW_SELECT " WHERE " RF_SQL_QUARANTINE_BY_KEY("q", "$1");
/* A cluster's open rows, by key; $4 = limit. Fingerprint "" means none. */
static const char SQL_ROWS_CLUSTER[] =
    ROW_SELECT " WHERE q.table_name = $1 AND q.column_name = $2 AND q.fingerprint = $3"
    " AND " RF_DASH_OPEN("q") " ORDER BY q.key LIMIT $4";
static const char SQL_ROWS_CLUSTER_NOFP[] =
    ROW_SELECT " WHERE q.table_name = $1 AND q.column_name = $2 AND q.fingerprint IS NULL"
    " AND $3 = '' AND " RF_DASH_OPEN("q") " ORDER BY q.key LIMIT $4";

static const char SQL_HEAD[] =
    "SELECT seq, encode(hash, 'hex') FROM rectify.audit WHERE chain_id = $1"
    " ORDER BY seq DESC LIMIT 1";
static const char SQL_COPY_STAGING[] =
    "COPY rectify.staging (key, batch_id, source, source_id, table_name, column_name, pk,"
    " pk_hash, old_value, new_value, row_context, fingerprint, cluster_id, fix_id, lambda,"
    " generator, model, confidence, raw_sha256, ts_us, leaf_hash) FROM STDIN"
    " WITH (FORMAT binary)"; /* tuples from rf__writer_copy_row */
static const char SQL_ACTIONS[] =
    "INSERT INTO rectify.actions (key, action, actor, detail, batch_id, ts_us, created_at,"
    " leaf_hash)"
    " SELECT u.k, u.a, $1, u.d, $2, $3::bigint, timestamptz 'epoch' + $3::bigint * interval"
    " '1 microsecond', decode(u.l, 'hex')"
    " FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY"
    " AS u(k, a, d, l, o) ORDER BY u.o";
static const char SQL_BATCH[] =
    "INSERT INTO rectify.batches (batch_id, chain_id, seq, source, table_name, column_name,"
    " received, fixed, quarantined, duplicates, opened_us, flushed_us, written_us)"
    " VALUES ($1, $2, $3, 'dashboard', $4, $5, $6, $6, 0, 0, $7, $7, $7)";
static const char SQL_AUDIT[] =
    "INSERT INTO rectify.audit (chain_id, seq, batch_id, prev_hash, hash, entry)"
    " VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex'), $6::jsonb)";

static int64_t now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- one action transaction ---------------------------------------------------------- */

typedef struct act {
  char *key;
  const char *action; /* static */
  char *detail;
} act_t;

typedef struct staged {
  char *key;
  unsigned char leaf[RF_SHA256_LEN];
} staged_t;

typedef struct txn {
  rf_dashboard_t *d;
  const char *actor;
  const char *table_name, *column_name; /* of the batch, or NULL when mixed */
  int64_t seq, ts_us;
  unsigned char prev[RF_SHA256_LEN];
  char batch_id[320];
  rf_buf_t copy, scratch;
  staged_t *staged;
  size_t n_staged, cap_staged;
  act_t *acts;
  size_t n_acts, cap_acts;
  bool open; /* BEGIN issued */
} txn_t;

static int exec_simple(txn_t *t, const char *sql, rf_dash_status_t *st) {
  PGresult *res = PQexec(t->d->conn, sql);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
               ? 0
               : rf__dash_dberr(t->d, res, sql, st);
  PQclear(res);
  return rc;
}

/* BEGIN, take the dashboard lock, read the chain head. */
static int txn_begin(txn_t *t, rf_dashboard_t *d, const char *actor, rf_dash_status_t *st) {
  memset(t, 0, sizeof(*t));
  t->d = d;
  t->actor = actor;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  if ((rc = exec_simple(t, "BEGIN", st)))
    return rc;
  t->open = true;
  if ((rc = exec_simple(t, "SELECT pg_advisory_xact_lock(" RF_DASH_LOCK_KEY ")", st)))
    return rc;
  const char *params[1] = {d->chain_id};
  PGresult *res = PQexecParams(d->conn, SQL_HEAD, 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = rf__dash_dberr(d, res, "chain head", st);
  } else if (PQntuples(res) == 0) {
    t->seq = 1;
  } else {
    t->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10) + 1;
    if (rf_hex_decode(PQgetvalue(res, 0, 1), t->prev, RF_SHA256_LEN) != 0)
      rc = rf__dash_fail(st, RF_ECORRUPT, 500, "the head of chain %s is not a 32-byte hash",
                         d->chain_id);
  }
  PQclear(res);
  rf_audit_batch_id(t->batch_id, sizeof(t->batch_id), d->chain_id, t->seq);
  t->ts_us = now_us();
  return rc;
}

static void txn_free(txn_t *t) {
  if (t->open && t->d->conn && PQtransactionStatus(t->d->conn) != PQTRANS_IDLE) {
    PGresult *r = PQexec(t->d->conn, "ROLLBACK");
    PQclear(r);
  }
  rf_buf_free(&t->copy);
  rf_buf_free(&t->scratch);
  for (size_t i = 0; i < t->n_staged; i++)
    rf_free(t->staged[i].key);
  rf_free(t->staged);
  for (size_t i = 0; i < t->n_acts; i++) {
    rf_free(t->acts[i].key);
    rf_free(t->acts[i].detail);
  }
  rf_free(t->acts);
}

static int txn_add_action(txn_t *t, const char *key, const char *action, const char *detail) {
  if (t->n_acts == t->cap_acts) {
    size_t nc = t->cap_acts ? t->cap_acts * 2 : 8;
    act_t *na = rf_realloc(t->acts, nc * sizeof(*na));
    if (na == NULL)
      return RF_ENOMEM;
    t->acts = na;
    t->cap_acts = nc;
  }
  act_t *a = &t->acts[t->n_acts];
  a->key = rf_strdup(key);
  a->detail = detail ? rf_strdup(detail) : NULL;
  a->action = action;
  if (a->key == NULL || (detail && a->detail == NULL)) {
    rf_free(a->key);
    rf_free(a->detail);
    return RF_ENOMEM;
  }
  t->n_acts++;
  return 0;
}

/* Decodes a hex string into a new buffer (rf_free); NULL hex gives NULL. */
static int hex_bytes(const char *hex, unsigned char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (hex == NULL)
    return 0;
  size_t hl = strlen(hex);
  if (hl % 2)
    return RF_EINVAL;
  unsigned char *b = rf_malloc(hl / 2 + 1);
  if (b == NULL)
    return RF_ENOMEM;
  for (size_t i = 0; i < hl / 2; i++) {
    char two[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
    if (rf_hex_decode(two, &b[i], 1) != 0) {
      rf_free(b);
      return RF_EINVAL;
    }
  }
  *out = b;
  *len = hl / 2;
  return 0;
}

/* Adds the staging row of quarantine row (res, i), resolved to new_value by
 * a person (with lambda/fix_id when a lambda produced it), to the COPY
 * buffer, and its "resolve" action. */
static int txn_stage(txn_t *t, const PGresult *res, int i, const char *new_value,
                     const char *lambda, const char *fix_id, const char *detail) {
  rf_outcome_t o;
  memset(&o, 0, sizeof(o));
  int rc = 0;
  o.kind = RF_OUTCOME_FIXED;
  o.key = (char *)PQgetvalue(res, i, C_KEY);
  o.source = (char *)rf__dash_val(res, i, C_SOURCE);
  o.source_id = (char *)rf__dash_val(res, i, C_SOURCE_ID);
  o.table_name = (char *)rf__dash_val(res, i, C_TABLE);
  o.column_name = (char *)rf__dash_val(res, i, C_COLUMN);
  o.pk_hash = (char *)rf__dash_val(res, i, C_PK_HASH);
  o.old_value = (char *)rf__dash_val(res, i, C_OLD);
  o.new_value = (char *)new_value;
  o.fingerprint = (char *)rf__dash_val(res, i, C_FP);
  o.cluster_id = (char *)rf__dash_val(res, i, C_CLUSTER);
  o.fix_id = (char *)fix_id;
  o.lambda_src = (char *)lambda;
  o.generator = "human";
  o.ts_us = t->ts_us;
  /* JSON columns in rectify's canonical form, as the writer stores them. */
  const int jcols[2] = {C_PK, C_ROW};
  char **jdst[2] = {&o.pk_json, &o.row_json};
  for (int k = 0; k < 2; k++) {
    const char *txt = rf__dash_val(res, i, jcols[k]);
    if (txt == NULL)
      continue;
    rf_json_error_t jerr;
    *jdst[k] = rf_json_canonicalize(txt, strlen(txt), &jerr);
    if (*jdst[k] == NULL) {
      /* jsonb::text is always valid JSON, and cJSON reports an allocation
       * failure during parsing as a syntax error (lib/json.c): so this can
       * only be an allocation failure. */
      rc = RF_ENOMEM;
      goto out;
    }
  }
  if ((rc = hex_bytes(rf__dash_val(res, i, C_RAW), &o.raw, &o.raw_len)))
    goto out;
  if (t->n_staged == t->cap_staged) {
    size_t nc = t->cap_staged ? t->cap_staged * 2 : 8;
    staged_t *ns = rf_realloc(t->staged, nc * sizeof(*ns));
    if (ns == NULL) {
      rc = RF_ENOMEM;
      goto out;
    }
    t->staged = ns;
    t->cap_staged = nc;
  }
  staged_t *s = &t->staged[t->n_staged];
  if ((s->key = rf_strdup(o.key)) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  rf_buf_t none = RF_BUF_INIT;
  rc = rf__writer_copy_row(&o, t->batch_id, &t->copy, &none, &t->scratch, s->leaf);
  rf_buf_free(&none);
  if (rc) {
    rf_free(s->key);
    goto out;
  }
  t->n_staged++;
  rc = txn_add_action(t, o.key, "resolve", detail);
out:
  rf_free(o.pk_json);
  rf_free(o.row_json);
  rf_free(o.raw);
  return rc;
}

static int cmp_staged(const void *a, const void *b) {
  return strcmp(((const staged_t *)a)->key, ((const staged_t *)b)->key);
}

/* Writes everything gathered, appends the chain entry, commits, records the
 * head. */
static int txn_commit(txn_t *t, rf_dash_status_t *st) {
  rf_dashboard_t *d = t->d;
  PGresult *res = NULL;
  unsigned char *leaves = NULL;
  char **keys = NULL;
  rf_buf_t entry = RF_BUF_INIT, arr[4] = {RF_BUF_INIT, RF_BUF_INIT, RF_BUF_INIT, RF_BUF_INIT};
  char *canon = NULL;
  int rc = 0;
  size_t nl = t->n_staged > t->n_acts ? t->n_staged : t->n_acts;
  leaves = rf_malloc((nl + 1) * RF_SHA256_LEN);
  if (leaves == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  /* 1. staging rows (COPY), their root sorted by key as for every batch. */
  if (t->n_staged) {
    res = PQexec(d->conn, SQL_COPY_STAGING);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
      rc = rf__dash_dberr(d, res, "COPY staging", st);
      goto out;
    }
    PQclear(res);
    if (PQputCopyData(d->conn, RF_COPY_BINARY_HEADER, RF_COPY_BINARY_HEADER_LEN) != 1 ||
        PQputCopyData(d->conn, t->copy.data, (int)t->copy.len) != 1 ||
        PQputCopyData(d->conn, RF_COPY_BINARY_TRAILER, RF_COPY_BINARY_TRAILER_LEN) != 1 ||
        PQputCopyEnd(d->conn, NULL) != 1) {
      rc = rf__dash_dberr(d, NULL, "COPY staging", st);
      goto out;
    }
    res = PQgetResult(d->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      /* 23505 on staging's key: somebody resolved it meanwhile. */
      rc = rf__dash_dberr(d, res, "COPY staging", st);
      goto out;
    }
    PQclear(res);
    while ((res = PQgetResult(d->conn)) != NULL)
      PQclear(res);
  }
  if (t->n_staged)
    qsort(t->staged, t->n_staged, sizeof(staged_t), cmp_staged);
  for (size_t i = 0; i < t->n_staged; i++)
    memcpy(leaves + i * RF_SHA256_LEN, t->staged[i].leaf, RF_SHA256_LEN);
  unsigned char root[RF_SHA256_LEN], aroot[RF_SHA256_LEN], hash[RF_SHA256_LEN];
  if (rf_merkle_root(leaves, t->n_staged, root) != 0) {
    rc = RF_EINTERNAL;
    goto out;
  }
  /* 2. action rows, with their leaves, in the order of their ids. */
  char ts[32];
  snprintf(ts, sizeof(ts), "%" PRId64, t->ts_us);
  for (int k = 0; k < 4; k++)
    rf_buf_putc(&arr[k], '{');
  for (size_t i = 0; i < t->n_acts; i++) {
    act_t *a = &t->acts[i];
    unsigned char *leaf = leaves + i * RF_SHA256_LEN;
    if ((rc = rf_dashboard_action_leaf(t->batch_id, a->key, a->action, t->actor, a->detail,
                                       t->ts_us, &t->scratch, leaf)))
      goto out;
    char hex[2 * RF_SHA256_LEN + 1];
    rf_hex_encode(leaf, RF_SHA256_LEN, hex);
    const char *v[4] = {a->key, a->action, a->detail, hex};
    for (int k = 0; k < 4; k++) {
      if (i)
        rf_buf_putc(&arr[k], ',');
      rf_pg_array_elem(&arr[k], v[k]);
    }
  }
  for (int k = 0; k < 4; k++) {
    rf_buf_putc(&arr[k], '}');
    if (!rf_buf_ok(&arr[k])) {
      rc = RF_ENOMEM;
      goto out;
    }
  }
  if (rf_merkle_root(leaves, t->n_acts, aroot) != 0) {
    rc = RF_EINTERNAL;
    goto out;
  }
  {
    const char *p[7] = {t->actor, t->batch_id, ts, arr[0].data, arr[1].data, arr[2].data,
                        arr[3].data};
    res = PQexecParams(d->conn, SQL_ACTIONS, 7, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      rc = rf__dash_dberr(d, res, "insert actions", st);
      goto out;
    }
    PQclear(res);
    res = NULL;
  }
  /* 3. the batch row: received = fixed = rows moved to staging. */
  char seq[32], nfix[32];
  snprintf(seq, sizeof(seq), "%" PRId64, t->seq);
  snprintf(nfix, sizeof(nfix), "%zu", t->n_staged);
  {
    const char *p[7] = {t->batch_id, d->chain_id, seq, t->table_name, t->column_name, nfix, ts};
    res = PQexecParams(d->conn, SQL_BATCH, 7, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      rc = rf__dash_dberr(d, res, "insert batch", st);
      goto out;
    }
    PQclear(res);
    res = NULL;
  }
  /* 4. the chain entry: the standard batch entry plus the actions. */
  rf_audit_entry_t e = {
      .chain_id = d->chain_id, .seq = t->seq, .batch_id = t->batch_id, .source = "dashboard",
      .table_name = t->table_name, .column_name = t->column_name,
      .received = (int64_t)t->n_staged, .fixed = (int64_t)t->n_staged, .quarantined = 0,
      .duplicates = 0, .keyed = d->audit_key != NULL, .ts_us = t->ts_us};
  memcpy(e.root, root, RF_SHA256_LEN);
  memcpy(e.prev, t->prev, RF_SHA256_LEN);
  /* The entry is built from valid pieces; as above, a canonicalization
   * failure (RF_EINVAL from rf_audit_entry_json) is an allocation failure. */
  if ((rc = rf_audit_entry_json(&e, &entry))) {
    rc = RF_ENOMEM;
    goto out;
  }
  entry.len--; /* drop the closing brace, add the action fields */
  rf_buf_puts(&entry, ",\"kind\":\"actions\",\"actor\":");
  rf_buf_json_str(&entry, t->actor, strlen(t->actor));
  rf_buf_printf(&entry, ",\"actions\":%zu,\"actions_root\":\"", t->n_acts);
  rf_buf_hex(&entry, aroot, RF_SHA256_LEN);
  rf_buf_puts(&entry, "\"}");
  if (!rf_buf_ok(&entry)) {
    rc = RF_ENOMEM;
    goto out;
  }
  rf_json_error_t jerr;
  if ((canon = rf_json_canonicalize(entry.data, entry.len, &jerr)) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  if (rf_audit_link(t->prev, canon, strlen(canon), d->audit_key, d->audit_key_len, hash) != 0) {
    rc = RF_EINTERNAL;
    goto out;
  }
  {
    char prevhex[2 * RF_SHA256_LEN + 1], hashhex[2 * RF_SHA256_LEN + 1];
    rf_hex_encode(t->prev, RF_SHA256_LEN, prevhex);
    rf_hex_encode(hash, RF_SHA256_LEN, hashhex);
    const char *p[6] = {d->chain_id, seq, t->batch_id, prevhex, hashhex, canon};
    res = PQexecParams(d->conn, SQL_AUDIT, 6, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      rc = rf__dash_dberr(d, res, "insert chain entry", st);
      goto out;
    }
    PQclear(res);
    res = NULL;
  }
  if ((rc = exec_simple(t, "COMMIT", st)))
    goto out;
  t->open = false;
  rf_log(RF_LOG_NOTICE, "dashboard", "actions committed batch=%s actor=%s actions=%zu staged=%zu",
         t->batch_id, t->actor, t->n_acts, t->n_staged);
  const char *heads = d->cfg->heads_file;
  if (heads && heads[0]) {
    char err[512];
    if (rf_audit_heads_write(heads, d->chain_id, t->seq, hash, err, sizeof(err)) != 0)
      rf_log(RF_LOG_WARN, "dashboard", "heads file not updated chain=%s error=\"%s\"",
             d->chain_id, err);
  }
out:
  if (rc == RF_ENOMEM)
    rf__dash_fail(st, rc, 500, "out of memory");
  else if (rc && st->code == 0)
    rf__dash_fail(st, rc, 500, "cannot record the action: %s", rf_strerror(rc));
  PQclear(res);
  rf_free(leaves);
  rf_free(keys);
  rf_free(canon);
  rf_buf_free(&entry);
  for (int k = 0; k < 4; k++)
    rf_buf_free(&arr[k]);
  return rc;
}

/* Loads one row by key inside the transaction; checks it is open. */
static int load_open_row(txn_t *t, const char *key, PGresult **out, rf_dash_status_t *st) {
  const char *p[1] = {key};
  PGresult *res = PQexecParams(t->d->conn, SQL_ROW_ONE, 1, NULL, p, NULL, NULL, 0);
  *out = NULL;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = rf__dash_dberr(t->d, res, "load row", st);
    PQclear(res);
    return rc;
  }
  if (PQntuples(res) == 0) {
    PQclear(res);
    return rf__dash_fail(st, RF_ENOTFOUND, 404, "no quarantined row has the key %s", key);
  }
  if (PQgetvalue(res, 0, C_OPEN)[0] != '1') {
    PQclear(res);
    return rf__dash_fail(st, RF_EEXISTS, 409,
                         "row %s is no longer open: someone resolved, discarded or requeued it; "
                         "reload the page", key);
  }
  *out = res;
  return 0;
}

static int check_actor(const char *actor, rf_dash_status_t *st) {
  if (actor == NULL || actor[0] == '\0')
    return rf__dash_fail(st, RF_EINVAL, 400, "no actor: every action names the person");
  return 0;
}

/* Checks value against the contract of table.column. */
static int check_value(rf_dashboard_t *d, const char *table, const char *column,
                       const char *value, rf_dash_status_t *st) {
  const rf_contract_t *c =
      table && column ? rf_config_contract(d->cfg, table, column) : NULL;
  if (c == NULL)
    return rf__dash_fail(st, RF_EVALUE, 422,
                         "the column %s.%s has no contract in the configuration, so no value "
                         "can be validated; add a [column \"%s.%s\"] section",
                         table ? table : "?", column ? column : "?", table ? table : "?",
                         column ? column : "?");
  char why[512];
  int rc = rf_contract_check(c, value, why, sizeof(why));
  if (rc == RF_ENOMEM)
    return rf__dash_fail(st, rc, 500, "out of memory");
  if (rc) {
    rf_buf_t desc = RF_BUF_INIT;
    rf_contract_describe(c, &desc);
    rf__dash_fail(st, RF_EVALUE, 422, "the value breaks the contract of %s.%s: %s (expected %s)",
                  table, column, why, rf_buf_ok(&desc) && desc.data ? desc.data : "?");
    rf_buf_free(&desc);
    return RF_EVALUE;
  }
  return 0;
}

int rf_dashboard_resolve(rf_dashboard_t *d, const char *actor, const char *key, const char *value,
                         rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  txn_t t;
  PGresult *row = NULL;
  int rc = check_actor(actor, st);
  if (rc)
    return rc;
  if (value && strlen(value) > RF_DASH_MAX_INPUT)
    return rf__dash_fail(st, RF_ELIMIT, 422, "the value is longer than %d bytes",
                         RF_DASH_MAX_INPUT);
  if ((rc = txn_begin(&t, d, actor, st)))
    goto out;
  if ((rc = load_open_row(&t, key, &row, st)))
    goto out;
  t.table_name = rf__dash_val(row, 0, C_TABLE);
  t.column_name = rf__dash_val(row, 0, C_COLUMN);
  if ((rc = check_value(d, t.table_name, t.column_name, value, st)))
    goto out;
  if ((rc = txn_stage(&t, row, 0, value, NULL, NULL, "value entered by hand")))
    goto out;
  rc = txn_commit(&t, st);
out:
  if (rc && st->code == 0)
    rf__dash_fail(st, rc, rc == RF_ENOMEM ? 500 : 400, "%s", rf_strerror(rc));
  txn_free(&t);
  PQclear(row);
  return rc;
}

int rf_dashboard_discard(rf_dashboard_t *d, const char *actor, const char *key, const char *reason,
                         rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  txn_t t;
  PGresult *row = NULL;
  int rc = check_actor(actor, st);
  if (rc)
    return rc;
  size_t rl = reason ? strlen(reason) : 0;
  bool blank = true;
  for (size_t i = 0; i < rl; i++)
    blank = blank && (reason[i] == ' ' || reason[i] == '\t' || reason[i] == '\n' || reason[i] == '\r');
  if (blank)
    return rf__dash_fail(st, RF_EINVAL, 422, "a discard needs a reason: say why the row is dropped");
  if (rl > RF_DASH_MAX_INPUT || !rf_utf8_valid(reason, rl))
    return rf__dash_fail(st, RF_EINVAL, 422, "the reason must be valid UTF-8 of at most %d bytes",
                         RF_DASH_MAX_INPUT);
  if ((rc = txn_begin(&t, d, actor, st)))
    goto out;
  if ((rc = load_open_row(&t, key, &row, st)))
    goto out;
  t.table_name = rf__dash_val(row, 0, C_TABLE);
  t.column_name = rf__dash_val(row, 0, C_COLUMN);
  if ((rc = txn_add_action(&t, key, "discard", reason)))
    goto out;
  rc = txn_commit(&t, st);
out:
  if (rc && st->code == 0)
    rf__dash_fail(st, rc, rc == RF_ENOMEM ? 500 : 400, "%s", rf_strerror(rc));
  txn_free(&t);
  PQclear(row);
  return rc;
}

/* ---- requeue --------------------------------------------------------------------------- */

/* The message to send again: the raw JSON object with `id` = new_key, in
 * canonical form (numbers keep their exact text). */
static int requeue_payload(const unsigned char *raw, size_t len, const char *new_key,
                           rf_buf_t *out, rf_dash_status_t *st) {
  rf_json_error_t jerr;
  cJSON *root = raw ? rf_json_parse((const char *)raw, len, 0, &jerr) : NULL;
  int rc = 0;
  if (root == NULL || !cJSON_IsObject(root)) {
    rc = raw && jerr.status == RF_JSON_NOMEM
             ? rf__dash_fail(st, RF_ENOMEM, 500, "out of memory")
             : rf__dash_fail(st, RF_EINVAL, 422,
                             "the raw message is not a JSON object, so the model could not "
                             "use it either: resolve or discard this row");
    goto out;
  }
  cJSON *id = cJSON_CreateString(new_key);
  if (id == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(root, "id", id)) {
    if (id && !cJSON_AddItemToObject(root, "id", id)) {
      cJSON_Delete(id);
      id = NULL;
    }
    if (id == NULL) {
      rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
      goto out;
    }
  }
  if (rf_json_canonical(root, out) != 0 || !rf_buf_ok(out))
    rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
out:
  cJSON_Delete(root);
  return rc;
}

/* Sends payload (message id new_key) to the configured source; entry id in
 * entry (rf_free). */
static int requeue_send(rf_dashboard_t *d, const rf_buf_t *payload, const char *new_key,
                        char **entry, char *where, size_t wlen, rf_dash_status_t *st) {
  const rf_config_t *c = d->cfg;
  rf_produce_sink_t *sink = NULL;
  char err[512] = "";
  int rc;
  if (c->source && strcmp(c->source, "kafka") == 0) {
    snprintf(where, wlen, "kafka topic %s", c->kafka_topic ? c->kafka_topic : "?");
    rc = rf_produce_kafka_sink_open(c->kafka_brokers, c->kafka_topic, &sink, err, sizeof(err));
  } else {
    snprintf(where, wlen, "redis stream %s", c->redis_stream ? c->redis_stream : "?");
    rc = rf_produce_redis_sink_open(c->redis_host, c->redis_port, c->redis_stream, c->redis_field,
                                    &sink, err, sizeof(err));
  }
  if (rc)
    return rf__dash_fail(st, rc, 503, "cannot reach the %s to requeue: %s", where, err);
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  rf_buf_append(&m.payload, payload->data, payload->len);
  rf_buf_puts(&m.id, new_key);
  rf_produce_msg_t *mp = &m;
  char *ids[1] = {NULL};
  if (!rf_buf_ok(&m.payload) || !rf_buf_ok(&m.id))
    rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
  else if ((rc = sink->ops->send(sink, &mp, 1, ids, err, sizeof(err))) != 0)
    rc = rf__dash_fail(st, rc, 503, "the %s refused the requeued message: %s", where, err);
  *entry = ids[0];
  rf_produce_msg_free(&m);
  sink->ops->close(sink);
  return rc;
}

int rf_dashboard_requeue(rf_dashboard_t *d, const char *actor, const char *key,
                         rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  txn_t t;
  PGresult *row = NULL;
  unsigned char *raw = NULL;
  size_t raw_len = 0;
  rf_buf_t payload = RF_BUF_INIT, detail = RF_BUF_INIT, new_key = RF_BUF_INIT;
  char *entry = NULL;
  int rc = check_actor(actor, st);
  if (rc)
    return rc;
  if ((rc = txn_begin(&t, d, actor, st)))
    goto out;
  if ((rc = load_open_row(&t, key, &row, st)))
    goto out;
  t.table_name = rf__dash_val(row, 0, C_TABLE);
  t.column_name = rf__dash_val(row, 0, C_COLUMN);
  if ((rc = hex_bytes(rf__dash_val(row, 0, C_RAW), &raw, &raw_len))) {
    rf__dash_fail(st, rc, 500, "the stored raw message cannot be read");
    goto out;
  }
  /* Deterministic: a retry after a failed commit sends the same key, which
   * the daemon's ledger then counts as a duplicate. */
  long n = strtol(PQgetvalue(row, 0, C_REQUEUES), NULL, 10) + 1;
  rf_buf_printf(&new_key, "%s#requeue-%ld", key, n);
  if (!rf_buf_ok(&new_key)) {
    rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
    goto out;
  }
  if (new_key.len > 512) {
    rc = rf__dash_fail(st, RF_ELIMIT, 422,
                       "the key is too long to derive a requeue key (at most 512 bytes)");
    goto out;
  }
  if ((rc = requeue_payload(raw, raw_len, new_key.data, &payload, st)))
    goto out;
  char where[300];
  if ((rc = requeue_send(d, &payload, new_key.data, &entry, where, sizeof(where), st)))
    goto out;
  rf_buf_printf(&detail, "requeued to the %s as key %s (entry %s)", where, new_key.data,
                entry ? entry : "?");
  if (!rf_buf_ok(&detail)) {
    rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
    goto out;
  }
  if ((rc = txn_add_action(&t, key, "requeue", detail.data)))
    goto out;
  if ((rc = txn_commit(&t, st)) == 0)
    snprintf(st->message, sizeof(st->message), "%s", detail.data);
out:
  if (rc && st->code == 0)
    rf__dash_fail(st, rc, rc == RF_ENOMEM ? 500 : 400, "%s", rf_strerror(rc));
  txn_free(&t);
  PQclear(row);
  rf_free(raw);
  rf_free(entry);
  rf_buf_free(&payload);
  rf_buf_free(&detail);
  rf_buf_free(&new_key);
  return rc;
}

/* ---- cluster preview and apply -------------------------------------------------------- */

typedef struct preview {
  PGresult *rows;          /* the open rows of the cluster (SQL_ROWS_CLUSTER) */
  size_t n;
  rf_anomaly_t *anoms;     /* n of them: key/value/row borrowed or owned (row) */
  rf_anomaly_t **ptrs;
  rf_apply_row_t *out;     /* per row */
  rf_gate_verdict_t verdict;
  rf_checker_t *checker;
  rf_lambda_t *lambda;
  char digest[2 * RF_SHA256_LEN + 1];
  char fix_id[33];
  size_t n_ok;
} preview_t;

static void preview_free(preview_t *p) {
  for (size_t i = 0; p->anoms && i < p->n; i++)
    cJSON_Delete(p->anoms[i].row);
  for (size_t i = 0; p->out && i < p->n; i++)
    rf_apply_row_clear(&p->out[i]);
  rf_free(p->anoms);
  rf_free(p->ptrs);
  rf_free(p->out);
  rf_checker_free(p->checker);
  rf_lambda_free(p->lambda);
  PQclear(p->rows);
  memset(p, 0, sizeof(*p));
}

/* Loads the cluster's open rows, gates the lambda on representatives, runs it
 * on every row. Returns 0 with p filled (p->verdict.ok false when the gate
 * refuses: then no row was run), or an error with st filled. */
static int preview_run(rf_dashboard_t *d, const char *table, const char *column, const char *fp,
                       const char *lambda, preview_t *p, rf_dash_status_t *st) {
  memset(p, 0, sizeof(*p));
  rf_lambda_ctx_t *ctx = NULL;
  rf_fix_candidate_t cand = {0};
  int rc = 0;
  if (table == NULL || column == NULL || !table[0] || !column[0])
    return rf__dash_fail(st, RF_EINVAL, 400, "a cluster is named by table, column and fingerprint");
  if (fp == NULL)
    fp = "";
  if (lambda == NULL || !lambda[0])
    return rf__dash_fail(st, RF_EINVAL, 422, "the lambda is empty");
  if (strlen(lambda) > RF_DASH_MAX_INPUT)
    return rf__dash_fail(st, RF_ELIMIT, 422, "the lambda is longer than %d bytes",
                         RF_DASH_MAX_INPUT);
  const rf_contract_t *c = rf_config_contract(d->cfg, table, column);
  if (c == NULL)
    return rf__dash_fail(st, RF_EVALUE, 422,
                         "the column %s.%s has no contract in the configuration, so no lambda "
                         "can be proven; add a [column \"%s.%s\"] section",
                         table, column, table, column);
  char why[512];
  if ((rc = rf_checker_new(c, &p->checker, why, sizeof(why))))
    return rf__dash_fail(st, rc, rc == RF_ENOMEM ? 500 : 422, "the contract of %s.%s: %s", table,
                         column, why);
  char lim[32];
  snprintf(lim, sizeof(lim), "%d", RF_DASH_APPLY_MAX);
  const char *params[4] = {table, column, fp, lim};
  p->rows = PQexecParams(d->conn, fp[0] ? SQL_ROWS_CLUSTER : SQL_ROWS_CLUSTER_NOFP, 4, NULL,
                         params, NULL, NULL, 0);
  if (PQresultStatus(p->rows) != PGRES_TUPLES_OK) {
    rc = rf__dash_dberr(d, p->rows, "cluster rows", st);
    goto out;
  }
  p->n = (size_t)PQntuples(p->rows);
  if (p->n == 0) {
    rc = rf__dash_fail(st, RF_ENOTFOUND, 404, "the cluster %s.%s [%s] has no open rows", table,
                       column, fp);
    goto out;
  }
  p->anoms = rf_calloc(p->n, sizeof(*p->anoms));
  p->ptrs = rf_calloc(p->n, sizeof(*p->ptrs));
  p->out = rf_calloc(p->n, sizeof(*p->out));
  if (p->anoms == NULL || p->ptrs == NULL || p->out == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < p->n; i++) {
    rf_anomaly_t *a = &p->anoms[i];
    a->key = PQgetvalue(p->rows, (int)i, C_KEY);
    a->table_name = (char *)table;
    a->column_name = (char *)column;
    a->value = (char *)rf__dash_val(p->rows, (int)i, C_OLD);
    a->value_len = a->value ? strlen(a->value) : 0;
    const char *rj = rf__dash_val(p->rows, (int)i, C_ROW);
    if (rj) {
      rf_json_error_t jerr;
      a->row = rf_json_parse(rj, strlen(rj), 0, &jerr);
      if (a->row == NULL && jerr.status == RF_JSON_NOMEM) {
        rc = RF_ENOMEM;
        goto out;
      }
    }
    p->ptrs[i] = a;
  }
  /* The same gate as every candidate (compile in the safe language,
   * confidence, a dry run that must satisfy the contract); a person's lambda
   * has confidence 1. Its representatives are up to five of the rows the
   * lambda fixes, spread over the cluster: a row it cannot fix stays in
   * quarantine alone, as in the pipeline's apply, and the preview shows it.
   * When it fixes none, the representatives are any rows and the gate's
   * verdict says why. */
  cand.lambda_src = (char *)lambda;
  cand.confidence = 1.0;
  cand.generator = "human";
  rf_fix_id(table, column, fp, lambda, p->fix_id);
  char cerr[400];
  rc = rf_lambda_compile(lambda, strlen(lambda), NULL, &p->lambda, cerr, sizeof(cerr));
  if (rc == RF_ENOMEM)
    goto out;
  if (rc == 0) {
    if ((ctx = rf_lambda_ctx_new()) == NULL) {
      rc = RF_ENOMEM;
      goto out;
    }
    if ((rc = rf_apply_rows(p->lambda, p->checker, p->ptrs, p->n, ctx, p->out)))
      goto out;
  }
  rc = 0;
  rf_anomaly_t **pool = rf_calloc(p->n, sizeof(*pool));
  if (pool == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  size_t npool = 0;
  for (size_t i = 0; p->lambda && i < p->n; i++)
    if (p->out[i].fixed)
      pool[npool++] = p->ptrs[i];
  if (npool == 0) { /* nothing fixed (or no lambda): any rows */
    for (size_t i = 0; i < p->n; i++)
      pool[i] = p->ptrs[i];
    npool = p->n;
  }
  rf_cluster_t cl;
  memset(&cl, 0, sizeof(cl));
  snprintf(cl.fingerprint, sizeof(cl.fingerprint), "%s", fp);
  cl.rows = p->ptrs;
  cl.n = p->n;
  cl.n_reps = npool < RF_CLUSTER_MAX_REPS ? npool : RF_CLUSTER_MAX_REPS;
  for (size_t r = 0; r < cl.n_reps; r++)
    cl.reps[r] = pool[r * npool / cl.n_reps];
  rc = rf_gate_check(&cand, p->checker, &cl, d->cfg->model_min_confidence, &p->verdict, NULL);
  rf_free(pool);
  if (rc || !p->verdict.ok)
    goto out;
  /* The digest names this exact preview: lambda, rows, results. */
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_puts(&b, "rectify-preview-v1");
  rf_buf_append(&b, "", 1);
  rf_buf_puts(&b, lambda);
  for (size_t i = 0; i < p->n; i++) {
    rf_buf_append(&b, "", 1);
    rf_buf_puts(&b, p->anoms[i].key);
    rf_buf_append(&b, p->out[i].fixed ? "\0F" : "\0Q", 2);
    if (p->out[i].fixed && p->out[i].new_value) {
      rf_buf_append(&b, "\0V", 2);
      rf_buf_puts(&b, p->out[i].new_value);
    }
    if (p->out[i].fixed)
      p->n_ok++;
  }
  unsigned char h[RF_SHA256_LEN];
  if (!rf_buf_ok(&b) || rf_sha256(b.data, b.len, h) != 0)
    rc = RF_ENOMEM;
  else
    rf_hex_encode(h, RF_SHA256_LEN, p->digest);
  rf_buf_free(&b);
out:
  rf_lambda_ctx_free(ctx);
  if (rc == RF_ENOMEM)
    rf__dash_fail(st, rc, 500, "out of memory");
  return rc;
}

int rf_dashboard_preview(rf_dashboard_t *d, const char *table_name, const char *column_name,
                         const char *fingerprint, const char *lambda, cJSON **out,
                         rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  preview_t p;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  if ((rc = preview_run(d, table_name, column_name, fingerprint, lambda, &p, st)))
    goto out;
  cJSON *o = cJSON_CreateObject(), *g = cJSON_AddObjectToObject(o, "gate");
  bool ok = o && g && cJSON_AddBoolToObject(g, "ok", p.verdict.ok) &&
            rf__dash_add_str(g, "reason", p.verdict.ok ? NULL : p.verdict.reason) &&
            rf__dash_add_str(g, "detail", p.verdict.ok ? NULL : p.verdict.detail) &&
            rf__dash_add_str(o, "fix_id", p.fix_id) &&
            cJSON_AddNumberToObject(o, "n", (double)p.n) &&
            cJSON_AddNumberToObject(o, "n_ok", (double)p.n_ok) &&
            cJSON_AddNumberToObject(o, "n_fail", (double)(p.verdict.ok ? p.n - p.n_ok : p.n)) &&
            rf__dash_add_str(o, "digest", p.verdict.ok ? p.digest : NULL);
  cJSON *rows = ok ? cJSON_AddArrayToObject(o, "rows") : NULL;
  ok = ok && rows;
  for (size_t i = 0; ok && i < p.n; i++) {
    cJSON *r = cJSON_CreateObject();
    ok = r && cJSON_AddItemToArray(rows, r) && rf__dash_add_str(r, "key", p.anoms[i].key) &&
         rf__dash_add_str(r, "before", p.anoms[i].value);
    if (ok && p.verdict.ok)
      ok = rf__dash_add_str(r, "after", p.out[i].fixed ? p.out[i].new_value : NULL) &&
           cJSON_AddBoolToObject(r, "ok", p.out[i].fixed) &&
           rf__dash_add_str(r, "error", p.out[i].fixed ? NULL : p.out[i].detail);
  }
  if (!ok) {
    cJSON_Delete(o);
    rc = rf__dash_fail(st, RF_ENOMEM, 500, "out of memory");
    goto out;
  }
  *out = o;
out:
  preview_free(&p);
  return rc;
}

int rf_dashboard_apply(rf_dashboard_t *d, const char *actor, const char *table_name,
                       const char *column_name, const char *fingerprint, const char *lambda,
                       const char *digest, cJSON **out, rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  txn_t t;
  preview_t p;
  memset(&p, 0, sizeof(p));
  rf_buf_t detail = RF_BUF_INIT;
  int rc = check_actor(actor, st);
  if (rc)
    return rc;
  if (digest == NULL || !digest[0])
    return rf__dash_fail(st, RF_EINVAL, 400, "preview first: an apply names the preview it confirms");
  if ((rc = txn_begin(&t, d, actor, st)))
    goto out;
  /* Under the lock: the rows and results are exactly what is applied. */
  if ((rc = preview_run(d, table_name, column_name, fingerprint, lambda, &p, st)))
    goto out;
  if (!p.verdict.ok) {
    rc = rf__dash_fail(st, RF_EVALUE, 422, "the gate refuses the lambda (%s): %s",
                       p.verdict.reason, p.verdict.detail);
    goto out;
  }
  if (strcmp(p.digest, digest) != 0) {
    rc = rf__dash_fail(st, RF_EAGAIN, 409,
                       "the cluster changed since the preview (rows were added or acted on, or "
                       "the lambda was edited): preview again");
    goto out;
  }
  if (p.n_ok == 0) {
    rc = rf__dash_fail(st, RF_EVALUE, 422, "the lambda fixes none of the rows");
    goto out;
  }
  t.table_name = table_name;
  t.column_name = column_name;
  rf_buf_printf(&detail, "lambda fix %s applied to cluster %s: %s", p.fix_id,
                fingerprint ? fingerprint : "", lambda);
  if (!rf_buf_ok(&detail)) {
    rc = RF_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < p.n; i++) {
    if (!p.out[i].fixed)
      continue;
    if ((rc = txn_stage(&t, p.rows, (int)i, p.out[i].new_value, lambda, p.fix_id, detail.data)))
      goto out;
  }
  if ((rc = txn_commit(&t, st)))
    goto out;
  /* Committed: a failure to describe it leaves *out NULL, rc 0. */
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !rf__dash_add_str(o, "batch", t.batch_id) ||
      !cJSON_AddNumberToObject(o, "moved", (double)p.n_ok) ||
      !cJSON_AddNumberToObject(o, "stayed", (double)(p.n - p.n_ok))) {
    cJSON_Delete(o);
    snprintf(st->message, sizeof(st->message), "applied as batch %s", t.batch_id);
    goto out;
  }
  *out = o;
out:
  if (rc == RF_ENOMEM && st->code == 0)
    rf__dash_fail(st, rc, 500, "out of memory");
  else if (rc && st->code == 0)
    rf__dash_fail(st, rc, 500, "%s", rf_strerror(rc));
  txn_free(&t);
  preview_free(&p);
  rf_buf_free(&detail);
  return rc;
}

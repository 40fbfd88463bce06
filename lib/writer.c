/* writer.c - the writer thread: the durable end of the pipeline.
 *
 * Why one thread with one connection: PostgreSQL is the bottleneck of the
 * whole daemon, and the audit chain is a strict sequence. One owner for both
 * means no locking around the chain head, and transactions that are large
 * (a COPY of thousands of rows) rather than many. The loop thread never
 * blocks on the database: it queues flushes here and gets them back through
 * a uv_async handle once they are durable.
 *
 * One transaction per group of pending flushes (up to max_txn_rows rows):
 *
 *   BEGIN
 *   claim keys in the ledger     COPY rectify.messages (the group's distinct keys); after a
 *                                redelivery: INSERT .. ON CONFLICT DO NOTHING RETURNING key
 *   COPY quarantine rows         (receipt columns + leaf hash) sent in 64 KiB chunks while
 *   COPY staging rows             they are built; the table with more rows goes first
 *   INSERT batch rows            (CHECK received = fixed + quarantined)
 *   INSERT chain entries         (one per flush, Merkle root of its leaves)
 *   COMMIT
 *
 * PostgreSQL works while the writer does: the claim's COPY is sent and its
 * result read only once the rows are being built, and the rows go out as
 * they are formatted, so the database parses and indexes one chunk while the
 * writer hashes the next.
 *
 * The ledger claim is what makes "exactly one of staging/quarantine" hold
 * across two tables and across instances: a key inserted by a concurrent,
 * uncommitted transaction blocks the second inserter until the first ends.
 * Almost every group is new keys, and a COPY is the cheapest insert; a key
 * already there (a redelivery, a producer's retry) fails it with a unique
 * violation, and the group is retried at once with the ON CONFLICT claim,
 * which inserts what is new and returns it. Keys are claimed in byte order
 * so that two instances never deadlock on each other. A key that was
 * already claimed is a redelivery: no row, no receipt.
 *
 * Every attempt rebuilds everything from the flushes, so a retry after a lost
 * connection (COMMIT may or may not have landed) is just another attempt: the
 * ledger turns rows already written into duplicates, and the chain head is
 * reloaded from the database.
 */
#include "rectify/writer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/audit.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/log.h"
#include "rectify/merkle.h"
#include "rectify/pg.h"
#include "rectify/receipt.h"
#include "rectify/utf8.h"

/* ---- queue nodes ---------------------------------------------------------- */

/* One submitted flush. Allocated at submit so that moving a flush between the
 * queue, the thread and the done list never allocates (and so never fails). */
typedef struct node {
  struct node *next;
  rf_flush_t *f;
  int status;            /* for the done list */
  /* Per-attempt state, owned by the writer thread. */
  int64_t seq;
  char batch_id[320];
  uint32_t *order;       /* row indices in key order */
  unsigned char *is_new; /* per row: claimed by this attempt */
  size_t order_cap;
  size_t n_new, n_fixed, n_quar, n_dup;
  rf_merkle_stream_t tree;
  unsigned char root[RF_SHA256_LEN], hash[RF_SHA256_LEN], prev[RF_SHA256_LEN];
  char *entry;           /* canonical entry JSON of this attempt */
  size_t entry_len;
} node_t;

typedef struct list {
  node_t *head, *tail;
  size_t len;
} list_t;

static void list_push(list_t *l, node_t *n) {
  n->next = NULL;
  if (l->tail)
    l->tail->next = n;
  else
    l->head = n;
  l->tail = n;
  l->len++;
}

static node_t *list_pop(list_t *l) {
  node_t *n = l->head;
  if (n == NULL)
    return NULL;
  l->head = n->next;
  if (l->head == NULL)
    l->tail = NULL;
  n->next = NULL;
  l->len--;
  return n;
}

static void node_free(node_t *n) {
  if (n == NULL)
    return;
  rf_free(n->order);
  rf_free(n->is_new);
  rf_free(n->entry);
  rf_free(n);
}

/* ---- the writer ------------------------------------------------------------ */

/* A (key, node, row) triple of the claim array, sorted by key then node. */
typedef struct claim {
  uint64_t p0, p1; /* the key's first 16 bytes, big-endian, zero-padded: the sort
                      compares these and reads the key itself only on a tie */
  const char *key;
  uint32_t node;
  uint32_t row;
} claim_t;

/* Fills c->p0 and c->p1 from c->key, so that comparing (p0, p1) orders like
 * strcmp on the first 16 bytes (a shorter key is padded with NULs, which sort
 * first, as its end does for strcmp). */
static void claim_prefix(claim_t *c) {
  unsigned char b[16] = {0};
  size_t n = strnlen(c->key, sizeof(b));
  memcpy(b, c->key, n);
  uint64_t v[2] = {0, 0};
  for (int i = 0; i < 16; i++)
    v[i / 8] = v[i / 8] << 8 | b[i];
  c->p0 = v[0];
  c->p1 = v[1];
}

struct rf_writer {
  uv_loop_t *loop;
  uv_async_t async;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cond;
  rf_writer_done_cb done_cb;
  void *arg;
  /* Configuration (copies). */
  char *conninfo, *password, *chain_id, *heads_file;
  unsigned char *key;
  size_t keylen;
  size_t max_txn_rows;
  int retry_max_ms;
  /* Shared, under mu. */
  list_t queue, done;
  bool closing, thread_done;
  uint64_t drain_deadline_ms;
  rf_writer_close_cb close_cb;
  void *close_arg;
  /* Readable from any thread. */
  atomic_size_t pending_rows;
  atomic_int ready;
  /* Writer thread only. */
  PGconn *conn;
  bool head_loaded;
  int64_t head_seq;
  unsigned char head_hash[RF_SHA256_LEN];
  int backoff_ms;
  int audit_failures; /* consecutive refusals of the chain entry (ATT_AUDIT) */
  bool slow_claim;    /* the group being written met a known key: claim with ON CONFLICT */
  bool claim_pending; /* the fast claim is sent, its result not yet read */
  double phase_ms[4]; /* of the last attempt: claim, rows, batches + entries, commit */
  rf_buf_t copy_s, copy_q, scratch, a1, a2, a3, a4, a5, a6;
  claim_t *claims;
  size_t claims_cap;
  node_t **group;
  size_t group_cap;
  char errmsg[1024];
};

static uint64_t mono_ms(void) { return uv_hrtime() / 1000000u; }

static int64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- hand-back -------------------------------------------------------------- */

/* Writer thread: move n to the done list with status and wake the loop. */
static void hand_back(rf_writer_t *w, node_t *n, int status) {
  atomic_fetch_sub(&w->pending_rows, n->f->n);
  n->status = status;
  uv_mutex_lock(&w->mu);
  list_push(&w->done, n);
  uv_mutex_unlock(&w->mu);
  uv_async_send(&w->async);
}

static void on_async_closed(uv_handle_t *h) {
  rf_writer_t *w = h->data;
  if (w->close_cb)
    w->close_cb(w, w->close_arg);
  uv_mutex_destroy(&w->mu);
  uv_cond_destroy(&w->cond);
  rf_free(w->conninfo);
  rf_free(w->password);
  rf_free(w->chain_id);
  rf_free(w->heads_file);
  if (w->key)
    memset(w->key, 0, w->keylen);
  rf_free(w->key);
  rf_free(w);
}

/* Loop thread: deliver finished flushes; finish closing once the thread ended. */
static void on_async(uv_async_t *h) {
  rf_writer_t *w = h->data;
  uv_mutex_lock(&w->mu);
  list_t done = w->done;
  w->done = (list_t){NULL, NULL, 0};
  bool finished = w->thread_done;
  uv_mutex_unlock(&w->mu);
  for (node_t *n; (n = list_pop(&done)) != NULL;) {
    rf_flush_t *f = n->f;
    int st = n->status;
    node_free(n);
    w->done_cb(f, st, w->arg);
  }
  if (finished && !uv_is_closing((uv_handle_t *)&w->async)) {
    uv_thread_join(&w->thread);
    uv_close((uv_handle_t *)&w->async, on_async_closed);
  }
}

/* ---- waiting ------------------------------------------------------------------ */

/* Sleeps up to ms, waking when close() is called; while closing, never past
 * the drain deadline. */
static void sleep_interruptible(rf_writer_t *w, int ms) {
  uv_mutex_lock(&w->mu);
  uint64_t wait = (uint64_t)ms;
  if (w->closing) {
    uint64_t now = mono_ms();
    wait = now >= w->drain_deadline_ms ? 0 : w->drain_deadline_ms - now;
    if (wait > (uint64_t)ms)
      wait = (uint64_t)ms;
  }
  if (wait > 0)
    uv_cond_timedwait(&w->cond, &w->mu, wait * 1000000u);
  uv_mutex_unlock(&w->mu);
}

/* True when close() was called and its drain time is over. */
static bool drain_expired(rf_writer_t *w) {
  uv_mutex_lock(&w->mu);
  bool exp = w->closing && mono_ms() >= w->drain_deadline_ms;
  uv_mutex_unlock(&w->mu);
  return exp;
}

static void backoff(rf_writer_t *w) {
  sleep_interruptible(w, w->backoff_ms);
  w->backoff_ms = w->backoff_ms * 2 > w->retry_max_ms ? w->retry_max_ms : w->backoff_ms * 2;
}

/* ---- connection ---------------------------------------------------------------- */

static const char SQL_CLAIM[] =
    "INSERT INTO rectify.messages (key, batch_id, outcome)"
    " SELECT k, b, o FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, b, o)"
    " ON CONFLICT (key) DO NOTHING RETURNING key";
static const char SQL_BATCHES[] =
    "INSERT INTO rectify.batches (batch_id, chain_id, seq, source, table_name, column_name,"
    " received, fixed, quarantined, duplicates, opened_us, flushed_us, written_us)"
    " SELECT u.b, $1, u.s, u.src, u.t, u.c, u.r, u.f, u.q, u.d, u.o, u.fl, $6"
    " FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $7::text[], $8::int[],"
    " $9::int[], $10::int[], $11::int[], $12::bigint[], $13::bigint[])"
    " AS u(b, s, src, t, c, r, f, q, d, o, fl)";
static const char SQL_AUDIT[] =
    "INSERT INTO rectify.audit (chain_id, seq, batch_id, prev_hash, hash, entry)"
    " SELECT $1, u.s, u.b, decode(u.p, 'hex'), decode(u.h, 'hex'), u.e::jsonb"
    " FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(s, b, p, h, e)";
static const char SQL_HEAD[] =
    "SELECT seq, encode(hash, 'hex') FROM rectify.audit WHERE chain_id = $1"
    " ORDER BY seq DESC LIMIT 1";
/* Every COPY is in PostgreSQL's binary format (copy_begin sends its header,
 * copy_trailer its end): each field goes as a length and its bytes, so the
 * server neither scans the text for delimiters and escapes nor decodes bytea
 * and numbers from text, which was about a third of its work per row. */
static const char SQL_COPY_CLAIM[] =
    "COPY rectify.messages (key, batch_id, outcome) FROM STDIN WITH (FORMAT binary)";
static const char SQL_COPY_STAGING[] =
    "COPY rectify.staging (key, batch_id, source, source_id, table_name, column_name, pk,"
    " pk_hash, old_value, new_value, row_context, fingerprint, cluster_id, fix_id, lambda,"
    " generator, model, confidence, raw_sha256, ts_us, leaf_hash) FROM STDIN WITH (FORMAT binary)";
static const char SQL_COPY_QUARANTINE[] =
    "COPY rectify.quarantine (key, batch_id, source, source_id, table_name, column_name, pk,"
    " pk_hash, old_value, row_context, fingerprint, cluster_id, fix_id, lambda, generator, model,"
    " confidence, reason, detail, model_answer, raw, ts_us, leaf_hash) FROM STDIN"
    " WITH (FORMAT binary)";

static void disconnect(rf_writer_t *w) {
  if (w->conn)
    PQfinish(w->conn);
  w->conn = NULL;
  w->head_loaded = false;
  atomic_store(&w->ready, 0);
}

static int prepare(rf_writer_t *w, const char *name, const char *sql) {
  PGresult *res = PQprepare(w->conn, name, sql, 0, NULL);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : RF_EDB;
  if (rc)
    rf_pg_errmsg(w->conn, res, w->errmsg, sizeof(w->errmsg));
  PQclear(res);
  return rc;
}

/* Reads the chain head from the database (the truth after any failure). */
static int load_head(rf_writer_t *w) {
  const char *params[1] = {w->chain_id};
  PGresult *res = PQexecPrepared(w->conn, "rf_head", 1, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rf_pg_errmsg(w->conn, res, w->errmsg, sizeof(w->errmsg));
    rc = RF_EDB;
  } else if (PQntuples(res) == 0) {
    w->head_seq = 0;
    memset(w->head_hash, 0, RF_SHA256_LEN);
  } else {
    w->head_seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (rf_hex_decode(PQgetvalue(res, 0, 1), w->head_hash, RF_SHA256_LEN) != 0) {
      snprintf(w->errmsg, sizeof(w->errmsg), "chain head hash of seq %lld is not 32 bytes",
               (long long)w->head_seq);
      rc = RF_ECORRUPT;
    }
  }
  PQclear(res);
  if (rc == 0)
    w->head_loaded = true;
  return rc;
}

/* Connects, migrates, prepares, loads the head. 0 or an error (logged). */
static int connect_db(rf_writer_t *w) {
  char err[512];
  w->conn = rf_pg_connect(w->conninfo, w->password, "rectifyd-writer", err, sizeof(err));
  if (w->conn == NULL) {
    rf_log(RF_LOG_ERR, "writer", "connect failed error=\"%s\" retry_ms=%d", err, w->backoff_ms);
    return RF_ECONN;
  }
  int rc = rf_schema_migrate(w->conn, err, sizeof(err));
  if (rc) {
    rf_log(RF_LOG_ERR, "writer", "schema migration failed error=\"%s\"", err);
    goto out;
  }
  if ((rc = prepare(w, "rf_claim", SQL_CLAIM)) != 0 ||
      (rc = prepare(w, "rf_batches", SQL_BATCHES)) != 0 ||
      (rc = prepare(w, "rf_audit", SQL_AUDIT)) != 0 || (rc = prepare(w, "rf_head", SQL_HEAD)) != 0 ||
      (rc = load_head(w)) != 0) {
    rf_log(RF_LOG_ERR, "writer", "connection setup failed error=\"%s\"", w->errmsg);
    goto out;
  }
  rf_log(RF_LOG_INFO, "writer", "connected chain=%s head_seq=%lld", w->chain_id,
         (long long)w->head_seq);
  atomic_store(&w->ready, 1);
out:
  if (rc)
    disconnect(w);
  return rc;
}

static void rollback(rf_writer_t *w) {
  if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
      PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
    PGresult *res = PQexec(w->conn, "ROLLBACK");
    PQclear(res);
  }
}

/* ---- building rows -------------------------------------------------------------- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *q = rf_realloc(*p, c * elem);
  if (q == NULL)
    return false;
  *p = q;
  *cap = c;
  return true;
}

/* ---- binary COPY fields ---------------------------------------------------------- */

static void bin_u16(rf_buf_t *b, uint16_t v) {
  unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  rf_buf_append(b, x, 2);
}

static void bin_u32(rf_buf_t *b, uint32_t v) {
  unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  rf_buf_append(b, x, 4);
}

static void bin_u64(rf_buf_t *b, uint64_t v) {
  bin_u32(b, (uint32_t)(v >> 32));
  bin_u32(b, (uint32_t)v);
}

/* A field of n bytes; NULL data is SQL NULL (length -1). */
static void bin_bytes(rf_buf_t *b, const void *p, size_t n) {
  if (p == NULL) {
    bin_u32(b, UINT32_MAX);
    return;
  }
  bin_u32(b, (uint32_t)n);
  rf_buf_append(b, p, n);
}

static void bin_text(rf_buf_t *b, const char *s) { bin_bytes(b, s, s ? strlen(s) : 0); }

/* jsonb's binary form: version 1, then the JSON text. */
static void bin_jsonb(rf_buf_t *b, const char *s) {
  if (s == NULL) {
    bin_u32(b, UINT32_MAX);
    return;
  }
  size_t n = strlen(s);
  bin_u32(b, (uint32_t)(n + 1));
  rf_buf_putc(b, 1);
  rf_buf_append(b, s, n);
}

static void bin_int8(rf_buf_t *b, int64_t v) {
  bin_u32(b, 8);
  bin_u64(b, (uint64_t)v);
}

static void bin_float8(rf_buf_t *b, double d) {
  uint64_t v;
  memcpy(&v, &d, sizeof(v));
  bin_u32(b, 8);
  bin_u64(b, v);
}

/* Appends one row of binary COPY for o (stored under batch_id) to the staging
 * or quarantine buffer and returns its leaf hash. The receipt and the row come
 * from the same outcome, in the same pass. Returns 0, RF_ENOMEM, RF_EINVAL
 * (kind is neither FIXED nor QUARANTINED: the row goes nowhere). A field
 * longer than a COPY field can be (over 1 GiB) cannot come from intake. */
int rf__writer_copy_row(const rf_outcome_t *o, const char *batch_id, rf_buf_t *staging,
                        rf_buf_t *quarantine, rf_buf_t *scratch, unsigned char leaf[RF_SHA256_LEN]) {
  unsigned char raw_sha[RF_SHA256_LEN];
  const unsigned char *raw_digest = NULL;
  if (o->raw != NULL) {
    int rc = rf_sha256(o->raw, o->raw_len, raw_sha);
    if (rc)
      return rc;
    raw_digest = raw_sha;
  }
  int rc = rf_receipt_leaf(o, batch_id, raw_digest, scratch, leaf);
  if (rc)
    return rc;
  bool fixed = o->kind == RF_OUTCOME_FIXED;
  rf_buf_t *b = fixed ? staging : quarantine;
  bin_u16(b, fixed ? 21 : 23);
  bin_text(b, o->key);
  bin_text(b, batch_id);
  bin_text(b, o->source);
  bin_text(b, o->source_id);
  bin_text(b, o->table_name);
  bin_text(b, o->column_name);
  bin_jsonb(b, o->pk_json);
  bin_text(b, o->pk_hash);
  bin_text(b, o->old_value);
  if (fixed)
    bin_text(b, o->new_value);
  bin_jsonb(b, o->row_json);
  bin_text(b, o->fingerprint);
  bin_text(b, o->cluster_id);
  bin_text(b, o->fix_id);
  bin_text(b, o->lambda_src);
  bin_text(b, o->generator);
  bin_text(b, o->model);
  if (o->has_confidence)
    bin_float8(b, o->confidence);
  else
    bin_bytes(b, NULL, 0);
  if (fixed) {
    bin_bytes(b, raw_digest, RF_SHA256_LEN);
  } else {
    bin_text(b, o->reason); /* never NULL here: see prepare_nodes() */
    bin_text(b, o->detail);
    bin_text(b, o->model_answer);
    bin_bytes(b, o->raw, o->raw_len);
  }
  bin_int8(b, o->ts_us);
  bin_bytes(b, leaf, RF_SHA256_LEN);
  return rf_buf_ok(b) ? 0 : RF_ENOMEM;
}

/* ---- one transaction ------------------------------------------------------------ */

/* Outcome of one attempt. */
/* Consecutive refusals of a chain entry by the database after which the
 * flushes are handed back as a Sev-1 (RF_ECORRUPT) instead of retried. */
#define RF_AUDIT_FAILURES 3

enum attempt {
  ATT_OK = 0,
  ATT_RETRY,     /* transient or connection error: back off, reconnect if needed, retry */
  ATT_CONFLICT,  /* another writer appended to our chain: reload head, retry */
  ATT_DATA,      /* SQLSTATE class 22: some row can never be stored as is */
  ATT_RECONCILE, /* Sev-1 on w->group[bad] (or all when bad < 0) */
  ATT_AUDIT,     /* the database refused the chain entry itself (not a conflict, not a
                    lost connection): retried, then a Sev-1 after RF_AUDIT_FAILURES */
  ATT_NOMEM,
  ATT_LEDGER,    /* the fast claim met a key already in the ledger (a redelivery):
                    retry the group at once with the ON CONFLICT claim */
};

static int cmp_claim(const void *a, const void *b) {
  const claim_t *x = a, *y = b;
  if (x->p0 != y->p0)
    return x->p0 < y->p0 ? -1 : 1;
  if (x->p1 != y->p1)
    return x->p1 < y->p1 ? -1 : 1;
  int c = strcmp(x->key, y->key);
  if (c)
    return c;
  return x->node < y->node ? -1 : x->node > y->node;
}

/* Classifies a failed result; keeps the message in w->errmsg. */
static enum attempt classify(rf_writer_t *w, PGresult *res) {
  rf_pg_errmsg(w->conn, res, w->errmsg, sizeof(w->errmsg));
  if (PQstatus(w->conn) != CONNECTION_OK)
    return ATT_RETRY;
  const char *st = rf_pg_sqlstate(res);
  if (rf_pg_is_data_error(res))
    return ATT_DATA;
  if (strcmp(st, "23505") == 0) {
    const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (cons && strcmp(cons, "messages_pkey") == 0)
      return ATT_LEDGER;
    if (cons && (strcmp(cons, "audit_pkey") == 0 || strcmp(cons, "batches_pkey") == 0 ||
                 strcmp(cons, "audit_batch_id_key") == 0))
      return ATT_CONFLICT;
  }
  if (strcmp(st, "23514") == 0) {
    const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (cons && strcmp(cons, "batches_reconcile") == 0)
      return ATT_RECONCILE;
  }
  return ATT_RETRY;
}

static enum attempt exec_check(rf_writer_t *w, const char *sql) {
  PGresult *res = PQexec(w->conn, sql);
  enum attempt a = PQresultStatus(res) == PGRES_COMMAND_OK ? ATT_OK : classify(w, res);
  PQclear(res);
  return a;
}

/* COPY in three steps, so that rows can be sent while they are built and
 * PostgreSQL parses one chunk while the writer formats the next. */
static const char COPY_HEADER[RF_COPY_BINARY_HEADER_LEN] = RF_COPY_BINARY_HEADER;
static const char COPY_TRAILER[RF_COPY_BINARY_TRAILER_LEN] = RF_COPY_BINARY_TRAILER;

static enum attempt copy_begin(rf_writer_t *w, const char *sql) {
  PGresult *res = PQexec(w->conn, sql);
  enum attempt a = PQresultStatus(res) == PGRES_COPY_IN ? ATT_OK : classify(w, res);
  PQclear(res);
  if (a == ATT_OK && PQputCopyData(w->conn, COPY_HEADER, sizeof(COPY_HEADER)) != 1) {
    rf_pg_errmsg(w->conn, NULL, w->errmsg, sizeof(w->errmsg));
    a = ATT_RETRY; /* the caller ends the COPY, which reports the cause */
  }
  return a;
}

/* Sends buf (any size) and empties it. */
static enum attempt copy_send(rf_writer_t *w, rf_buf_t *buf) {
  const size_t chunk = 1u << 20;
  for (size_t off = 0; off < buf->len; off += chunk) {
    size_t n = buf->len - off < chunk ? buf->len - off : chunk;
    if (PQputCopyData(w->conn, buf->data + off, (int)n) != 1) {
      rf_pg_errmsg(w->conn, NULL, w->errmsg, sizeof(w->errmsg));
      return ATT_RETRY;
    }
  }
  rf_buf_reset(buf);
  return ATT_OK;
}

/* Ends the COPY: with abort_why set, abandons it (the transaction is then
 * failed and rolled back by the caller). *rows receives the row count
 * PostgreSQL reports. Every result is collected, so that the connection is
 * usable afterwards. */
static enum attempt copy_results(rf_writer_t *w, bool keep_error, long *rows) {
  *rows = 0;
  enum attempt a = ATT_OK;
  PGresult *res;
  while ((res = PQgetResult(w->conn)) != NULL) {
    if (PQresultStatus(res) == PGRES_COMMAND_OK)
      *rows += strtol(PQcmdTuples(res), NULL, 10);
    else if (a == ATT_OK && keep_error)
      a = classify(w, res);
    PQclear(res);
    if (PQstatus(w->conn) != CONNECTION_OK)
      break;
  }
  return a;
}

/* Sends the trailer and ends the data: 1, or not 1 when a send failed. */
static int copy_put_end(rf_writer_t *w) {
  if (PQputCopyData(w->conn, COPY_TRAILER, sizeof(COPY_TRAILER)) != 1) {
    PQputCopyEnd(w->conn, "rectify: send failed");
    return -1;
  }
  return PQputCopyEnd(w->conn, NULL);
}

static enum attempt copy_end(rf_writer_t *w, const char *abort_why, long *rows) {
  int ok = abort_why ? PQputCopyEnd(w->conn, abort_why) : copy_put_end(w);
  enum attempt a = copy_results(w, abort_why == NULL, rows);
  if (ok != 1 && a == ATT_OK && abort_why == NULL) {
    rf_pg_errmsg(w->conn, NULL, w->errmsg, sizeof(w->errmsg));
    a = ATT_RETRY;
  }
  return a;
}

/* COPY buf into the table; *rows receives the row count PostgreSQL reports. */
static enum attempt copy_in(rf_writer_t *w, const char *sql, rf_buf_t *buf, long *rows) {
  *rows = 0;
  if (buf->len == 0)
    return ATT_OK;
  enum attempt a = copy_begin(w, sql);
  if (a != ATT_OK)
    return a;
  a = copy_send(w, buf);
  /* After a failed send too: the server's error, if it sent one, says why. */
  enum attempt e = copy_end(w, NULL, rows);
  return e != ATT_OK ? e : a;
}

static void arr_begin(rf_buf_t *b) {
  rf_buf_reset(b);
  rf_buf_putc(b, '{');
}

static void arr_sep(rf_buf_t *b) {
  if (b->len > 1)
    rf_buf_putc(b, ',');
}

static void arr_str(rf_buf_t *b, const char *s) {
  arr_sep(b);
  rf_pg_array_elem(b, s);
}

static void arr_int(rf_buf_t *b, long long v) {
  arr_sep(b);
  rf_buf_printf(b, "%lld", v);
}

/* A prefetch hint. GCC 12 at -O1 and above dropped __builtin_prefetch from
 * build_rows (no prefetch instruction in the object), so on x86 it is the
 * instruction itself; elsewhere the builtin. */
static inline void rf_prefetch(const void *p) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("prefetcht0 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

/* Claims the keys of the group's rows in the ledger (one statement, keys in
 * byte order) and sets each node's key order and is_new flags.
 *
 * Fast (slow == false): the group's distinct keys are COPYed into the ledger,
 * which is the cheapest insert PostgreSQL has (no per-row conflict check, no
 * rows sent back). Almost every group is all new keys. When one is not (a
 * redelivery after a crash, a producer's retry), the unique violation fails
 * the COPY and the transaction: ATT_LEDGER, and the caller retries the group
 * at once with the slow claim, which inserts what is new and returns it. A key
 * that a concurrent transaction holds makes either wait for it, as before. */
static enum attempt claim_keys(rf_writer_t *w, size_t ng, bool slow) {
  size_t total = 0;
  for (size_t i = 0; i < ng; i++)
    total += w->group[i]->f->n;
  if (!grow((void **)&w->claims, &w->claims_cap, total ? total : 1, sizeof(claim_t)))
    return ATT_NOMEM;
  size_t k = 0;
  for (size_t i = 0; i < ng; i++) {
    node_t *n = w->group[i];
    for (size_t r = 0; r < n->f->n; r++) {
      rf_prefetch(n->f->rows[r].key); /* cold: the sort below reads them all */
      w->claims[k] = (claim_t){0, 0, n->f->rows[r].key, (uint32_t)i, (uint32_t)r};
      claim_prefix(&w->claims[k++]);
    }
    memset(n->is_new, 0, n->f->n);
  }
  qsort(w->claims, total, sizeof(claim_t), cmp_claim);
  /* Per node, rows in key order (the Merkle order). */
  size_t *fill = rf_calloc(ng, sizeof(size_t));
  if (fill == NULL)
    return ATT_NOMEM;
  for (size_t c = 0; c < total; c++) {
    node_t *n = w->group[w->claims[c].node];
    n->order[fill[w->claims[c].node]++] = w->claims[c].row;
  }
  rf_free(fill);
  if (total == 0)
    return ATT_OK;
  if (!slow) {
    rf_buf_t *b = &w->a1;
    rf_buf_reset(b);
    for (size_t c = 0; c < total; c++) {
      const claim_t *cl = &w->claims[c];
      if (c > 0 && strcmp(cl->key, w->claims[c - 1].key) == 0)
        continue; /* the same key again in this group: the earliest flush has it */
      const node_t *n = w->group[cl->node];
      n->is_new[cl->row] = 1;
      bin_u16(b, 3);
      bin_text(b, cl->key);
      bin_text(b, n->batch_id);
      bin_text(b, n->f->rows[cl->row].kind == RF_OUTCOME_FIXED ? "fixed" : "quarantined");
    }
    if (!rf_buf_ok(b))
      return ATT_NOMEM;
    /* Sent, not waited for: the rows are built while PostgreSQL inserts the
     * keys (claim_finish). */
    enum attempt a = copy_begin(w, SQL_COPY_CLAIM);
    if (a == ATT_OK)
      a = copy_send(w, b);
    if (a == ATT_OK && copy_put_end(w) != 1) {
      rf_pg_errmsg(w->conn, NULL, w->errmsg, sizeof(w->errmsg));
      a = ATT_RETRY;
    }
    if (a == ATT_OK) {
      w->claim_pending = true;
      return ATT_OK;
    }
    long rows;
    enum attempt e = copy_results(w, true, &rows);
    return e != ATT_OK ? e : a;
  }
  arr_begin(&w->a1);
  arr_begin(&w->a2);
  arr_begin(&w->a3);
  for (size_t c = 0; c < total; c++) {
    const claim_t *cl = &w->claims[c];
    const node_t *n = w->group[cl->node];
    arr_str(&w->a1, cl->key);
    arr_str(&w->a2, n->batch_id);
    arr_str(&w->a3, n->f->rows[cl->row].kind == RF_OUTCOME_FIXED ? "fixed" : "quarantined");
  }
  rf_buf_putc(&w->a1, '}');
  rf_buf_putc(&w->a2, '}');
  rf_buf_putc(&w->a3, '}');
  if (!rf_buf_ok(&w->a1) || !rf_buf_ok(&w->a2) || !rf_buf_ok(&w->a3))
    return ATT_NOMEM;
  const char *params[3] = {w->a1.data, w->a2.data, w->a3.data};
  PGresult *res = PQexecPrepared(w->conn, "rf_claim", 3, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    enum attempt a = classify(w, res);
    PQclear(res);
    return a;
  }
  int nt = PQntuples(res);
  for (int t = 0; t < nt; t++) {
    const char *key = PQgetvalue(res, t, 0);
    /* First claim entry with this key: the earliest flush wins (the order
     * of the unnest array, which is the order PostgreSQL inserted in). */
    size_t lo = 0, hi = total;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (strcmp(w->claims[mid].key, key) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo < total && strcmp(w->claims[lo].key, key) == 0) {
      node_t *n = w->group[w->claims[lo].node];
      n->is_new[w->claims[lo].row] = 1;
    }
  }
  PQclear(res);
  return ATT_OK;
}

/* Converts o into a "malformed" quarantine outcome: keeps the identity (key,
 * source, source id, table, column when they are valid UTF-8) and the raw
 * bytes, drops every other value, records why. 0 or RF_ENOMEM (o unchanged). */
int rf__writer_make_malformed(rf_outcome_t *o, const char *why) {
  char *reason = rf_strdup(RF_REASON_MALFORMED);
  char *detail = rf_strdup(why);
  if (reason == NULL || detail == NULL) {
    rf_free(reason);
    rf_free(detail);
    return RF_ENOMEM;
  }
  char **keep[] = {&o->source, &o->source_id, &o->table_name, &o->column_name};
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
    if (*keep[i] && !rf_utf8_valid(*keep[i], strlen(*keep[i]))) {
      rf_free(*keep[i]);
      *keep[i] = NULL;
    }
  char **drop[] = {&o->pk_json,    &o->pk_hash,   &o->old_value, &o->new_value,
                   &o->row_json,   &o->fingerprint, &o->cluster_id, &o->fix_id,
                   &o->lambda_src, &o->generator, &o->model,     &o->reason,
                   &o->detail,     &o->model_answer};
  for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
    rf_free(*drop[i]);
    *drop[i] = NULL;
  }
  o->has_confidence = false;
  o->confidence = 0;
  o->kind = RF_OUTCOME_QUARANTINED;
  o->reason = reason;
  o->detail = detail;
  return 0;
}

/* A key must be valid UTF-8 to be claimed at all (the claim is one array
 * parameter: one bad key would fail the whole statement). */
static int fix_keys(rf_flush_t *f) {
  for (size_t r = 0; r < f->n; r++) {
    rf_outcome_t *o = &f->rows[r];
    if (rf_utf8_valid(o->key, strlen(o->key)))
      continue;
    unsigned char d[RF_SHA256_LEN];
    char hex[2 * RF_SHA256_LEN + 1];
    if (rf_sha256(o->key, strlen(o->key), d) != 0)
      return RF_EINTERNAL;
    rf_hex_encode(d, RF_SHA256_LEN, hex);
    rf_buf_t k = RF_BUF_INIT;
    rf_buf_printf(&k, "invalid-utf8-key:%s", hex);
    char *nk = rf_buf_steal(&k);
    if (nk == NULL)
      return RF_ENOMEM;
    int rc = rf__writer_make_malformed(o, "message key is not valid UTF-8");
    if (rc) {
      rf_free(nk);
      return rc;
    }
    rf_log(RF_LOG_WARN, "writer", "key replaced reason=invalid_utf8 new_key=%s", nk);
    rf_free(o->key);
    o->key = nk;
  }
  return 0;
}

/* Bytes of COPY text sent at a time while rows are built. */
#define RF_COPY_CHUNK (64u << 10)

/* Waits for the fast claim's result (claim_keys). */
static enum attempt claim_finish(rf_writer_t *w) {
  long rows;
  w->claim_pending = false;
  return copy_results(w, true, &rows);
}

/* Where the rows of the table that is streamed stand while they are built:
 * kept in the buffer while the claim is pending, then sent as they come. */
typedef struct stream {
  rf_buf_t *buf;   /* NULL: nothing streamed */
  const char *sql; /* its COPY */
  bool open;       /* the COPY has begun */
  bool failed;     /* a send failed: the server may say why */
} stream_t;

/* Called between rows: finishes the claim when its result is in (or when
 * the buffer grew large waiting for it), begins the COPY, sends full chunks. */
static enum attempt stream_step(rf_writer_t *w, stream_t *st, bool last) {
  if (w->claim_pending) {
    bool wait = last || (st->buf && st->buf->len >= 4 * RF_COPY_CHUNK);
    if (!wait && PQconsumeInput(w->conn) && PQisBusy(w->conn))
      return ATT_OK;
    enum attempt a = claim_finish(w);
    if (a != ATT_OK)
      return a;
  }
  if (st->buf == NULL)
    return ATT_OK;
  if (!st->open) {
    enum attempt a = copy_begin(w, st->sql);
    if (a != ATT_OK)
      return a;
    st->open = true;
  }
  if (last || st->buf->len >= RF_COPY_CHUNK) {
    if (!rf_buf_ok(st->buf))
      return ATT_NOMEM;
    enum attempt a = copy_send(w, st->buf);
    if (a != ATT_OK) {
      st->failed = true;
      return a;
    }
  }
  return ATT_OK;
}


/* Starts loading the strings of o into the cache. The loop thread allocated
 * them one by one, long ago, so they are scattered and cold: without this
 * the writer waits on a cache miss at nearly every field of every row. */
static inline void prefetch_outcome(const rf_outcome_t *o) {
  /* (a prefetch of NULL is harmless: it never faults) */
#define PF(f) rf_prefetch(o->f)
  PF(key);
  PF(source);
  PF(source_id);
  PF(table_name);
  PF(column_name);
  PF(pk_json);
  PF(pk_hash);
  PF(old_value);
  PF(new_value);
  PF(row_json);
  PF(fingerprint);
  PF(cluster_id);
  PF(reason);
  PF(detail);
  PF(raw);
#undef PF
}

/* Rows ahead of the one being built whose strings are prefetched. */
#define RF_PREFETCH_AHEAD 4


/* Builds the COPY buffers for the group's new rows and every node's counts,
 * Merkle root and entry, calling stream_step() between rows when st is given.
 * *bad receives the node index that fails reconciliation (or -1). */
static enum attempt build_rows(rf_writer_t *w, size_t ng, int64_t written_us, long *bad,
                               stream_t *st) {
  *bad = -1;
  rf_buf_reset(&w->copy_s);
  rf_buf_reset(&w->copy_q);
  unsigned char prev[RF_SHA256_LEN];
  memcpy(prev, w->head_hash, RF_SHA256_LEN);
  for (size_t i = 0; i < ng; i++) {
    node_t *n = w->group[i];
    n->n_new = n->n_fixed = n->n_quar = n->n_dup = 0;
    rf_merkle_stream_init(&n->tree);
    for (size_t j = 0; j < RF_PREFETCH_AHEAD && j < n->f->n; j++)
      prefetch_outcome(&n->f->rows[n->order[j]]);
    for (size_t j = 0; j < n->f->n; j++) {
      uint32_t r = n->order[j];
      if (j + RF_PREFETCH_AHEAD < n->f->n)
        prefetch_outcome(&n->f->rows[n->order[j + RF_PREFETCH_AHEAD]]);
      if (!n->is_new[r]) {
        n->n_dup++;
        continue;
      }
      n->n_new++;
      rf_outcome_t *o = &n->f->rows[r];
      if (o->kind != RF_OUTCOME_FIXED && o->kind != RF_OUTCOME_QUARANTINED)
        continue; /* goes nowhere: reconciliation below catches it */
      unsigned char leaf[RF_SHA256_LEN];
      int rc = rf__writer_copy_row(o, n->batch_id, &w->copy_s, &w->copy_q, &w->scratch, leaf);
      if (rc == RF_ENOMEM)
        return ATT_NOMEM;
      if (rc) {
        snprintf(w->errmsg, sizeof(w->errmsg), "receipt of key %s: %s", o->key, rf_strerror(rc));
        return ATT_RETRY;
      }
      rf_merkle_stream_push(&n->tree, leaf);
      if (o->kind == RF_OUTCOME_FIXED)
        n->n_fixed++;
      else
        n->n_quar++;
      if (st && (j & 31) == 31) {
        enum attempt a = stream_step(w, st, false);
        if (a != ATT_OK)
          return a;
      }
    }
    /* Zero-loss arithmetic, in code, before anything is committed. */
    if (n->n_new != n->n_fixed + n->n_quar || n->n_new + n->n_dup != n->f->n) {
      *bad = (long)i;
      snprintf(w->errmsg, sizeof(w->errmsg),
               "batch %s: received=%zu fixed=%zu quarantined=%zu duplicates=%zu rows=%zu",
               n->batch_id, n->n_new, n->n_fixed, n->n_quar, n->n_dup, n->f->n);
      return ATT_RECONCILE;
    }
    if (rf_merkle_stream_root(&n->tree, n->root) != 0)
      return ATT_RETRY;
    rf_audit_entry_t e = {
        .chain_id = w->chain_id,
        .seq = n->seq,
        .batch_id = n->batch_id,
        .source = n->f->source,
        .table_name = n->f->table_name,
        .column_name = n->f->column_name,
        .received = (int64_t)n->n_new,
        .fixed = (int64_t)n->n_fixed,
        .quarantined = (int64_t)n->n_quar,
        .duplicates = (int64_t)n->n_dup,
        .keyed = w->key != NULL,
        .merges = n->f->merges_json,
        .ts_us = written_us,
    };
    memcpy(e.root, n->root, RF_SHA256_LEN);
    memcpy(e.prev, prev, RF_SHA256_LEN);
    memcpy(n->prev, prev, RF_SHA256_LEN);
    rf_buf_reset(&w->scratch);
    int rc = rf_audit_entry_json(&e, &w->scratch);
    if (rc == RF_ENOMEM)
      return ATT_NOMEM;
    if (rc) {
      snprintf(w->errmsg, sizeof(w->errmsg), "entry of batch %s: %s", n->batch_id,
               rf_strerror(rc));
      return ATT_DATA;
    }
    rf_free(n->entry);
    n->entry_len = w->scratch.len;
    n->entry = rf_buf_steal(&w->scratch);
    if (n->entry == NULL)
      return ATT_NOMEM;
    if (rf_audit_link(prev, n->entry, n->entry_len, w->key, w->keylen, n->hash) != 0)
      return ATT_RETRY;
    memcpy(prev, n->hash, RF_SHA256_LEN);
  }
  if (!rf_buf_ok(&w->copy_s) || !rf_buf_ok(&w->copy_q))
    return ATT_NOMEM;
  return ATT_OK;
}

/* Builds the group's rows and COPYs them into staging and quarantine. The
 * table with more rows gets them while they are built, so that PostgreSQL
 * parses and indexes one chunk while the writer hashes the next; the other
 * table's rows follow in one COPY. *rows_s and *rows_q receive the row
 * counts PostgreSQL reports. */
static enum attempt write_rows(rf_writer_t *w, size_t ng, int64_t written_us, long *bad,
                               long *rows_s, long *rows_q) {
  size_t nf = 0, nq = 0;
  for (size_t i = 0; i < ng; i++) {
    const node_t *n = w->group[i];
    for (size_t r = 0; r < n->f->n; r++)
      if (n->is_new[r]) {
        nf += n->f->rows[r].kind == RF_OUTCOME_FIXED;
        nq += n->f->rows[r].kind == RF_OUTCOME_QUARANTINED;
      }
  }
  bool q_first = nq >= nf;
  stream_t st = {.buf = nf + nq == 0 ? NULL : q_first ? &w->copy_q : &w->copy_s,
                 .sql = q_first ? SQL_COPY_QUARANTINE : SQL_COPY_STAGING};
  rf_buf_t *second = q_first ? &w->copy_s : &w->copy_q;
  long *rows_first = q_first ? rows_q : rows_s, *rows_second = q_first ? rows_s : rows_q;
  const char *sql_second = q_first ? SQL_COPY_STAGING : SQL_COPY_QUARANTINE;
  *rows_s = *rows_q = 0;
  enum attempt a = build_rows(w, ng, written_us, bad, &st);
  if (a == ATT_OK)
    a = stream_step(w, &st, true);
  if (w->claim_pending) { /* the build failed first: the connection must be idle again */
    long n;
    w->claim_pending = false;
    copy_results(w, false, &n);
  }
  if (st.open) {
    /* A failed send: the server's error, if it sent one, says why. A failed
     * build: abandon the COPY (the caller rolls back). */
    enum attempt e = copy_end(w, a == ATT_OK || st.failed ? NULL : "rectify: attempt abandoned",
                              rows_first);
    if (a == ATT_OK || (st.failed && e != ATT_OK))
      a = e;
  }
  if (a == ATT_OK)
    a = copy_in(w, sql_second, second, rows_second);
  return a;
}

static enum attempt insert_batches(rf_writer_t *w, size_t ng, int64_t written_us) {
  rf_buf_t *b = &w->a1, *s = &w->a2, *src = &w->a3, *t = &w->a4, *c = &w->a5;
  rf_buf_t counts[4] = {RF_BUF_INIT, RF_BUF_INIT, RF_BUF_INIT, RF_BUF_INIT};
  rf_buf_t times[2] = {RF_BUF_INIT, RF_BUF_INIT};
  enum attempt a = ATT_OK;
  arr_begin(b);
  arr_begin(s);
  arr_begin(src);
  arr_begin(t);
  arr_begin(c);
  for (int i = 0; i < 4; i++)
    arr_begin(&counts[i]);
  for (int i = 0; i < 2; i++)
    arr_begin(&times[i]);
  for (size_t i = 0; i < ng; i++) {
    node_t *n = w->group[i];
    arr_str(b, n->batch_id);
    arr_int(s, n->seq);
    arr_str(src, n->f->source);
    arr_str(t, n->f->table_name);
    arr_str(c, n->f->column_name);
    arr_int(&counts[0], (long long)n->n_new);
    arr_int(&counts[1], (long long)n->n_fixed);
    arr_int(&counts[2], (long long)n->n_quar);
    arr_int(&counts[3], (long long)n->n_dup);
    arr_int(&times[0], n->f->opened_us);
    arr_int(&times[1], n->f->flushed_us);
  }
  rf_buf_t *all[] = {b, s, src, t, c, &counts[0], &counts[1], &counts[2], &counts[3],
                     &times[0], &times[1]};
  bool ok = true;
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
    rf_buf_putc(all[i], '}');
    ok = ok && rf_buf_ok(all[i]);
  }
  if (!ok) {
    a = ATT_NOMEM;
    goto out;
  }
  char wus[24];
  snprintf(wus, sizeof(wus), "%lld", (long long)written_us);
  const char *params[13] = {w->chain_id,     b->data,         s->data,         src->data,
                            t->data,         wus,             c->data,         counts[0].data,
                            counts[1].data,  counts[2].data,  counts[3].data,  times[0].data,
                            times[1].data};
  PGresult *res = PQexecPrepared(w->conn, "rf_batches", 13, params, NULL, NULL, 0);
  a = PQresultStatus(res) == PGRES_COMMAND_OK ? ATT_OK : classify(w, res);
  PQclear(res);
out:
  for (int i = 0; i < 4; i++)
    rf_buf_free(&counts[i]);
  for (int i = 0; i < 2; i++)
    rf_buf_free(&times[i]);
  return a;
}

static enum attempt insert_entries(rf_writer_t *w, size_t ng) {
  rf_buf_t *s = &w->a1, *b = &w->a2, *p = &w->a3, *h = &w->a4, *e = &w->a5;
  arr_begin(s);
  arr_begin(b);
  arr_begin(p);
  arr_begin(h);
  arr_begin(e);
  for (size_t i = 0; i < ng; i++) {
    node_t *n = w->group[i];
    char hex[2 * RF_SHA256_LEN + 1];
    arr_int(s, n->seq);
    arr_str(b, n->batch_id);
    rf_hex_encode(n->prev, RF_SHA256_LEN, hex);
    arr_str(p, hex);
    rf_hex_encode(n->hash, RF_SHA256_LEN, hex);
    arr_str(h, hex);
    arr_str(e, n->entry);
  }
  rf_buf_t *all[] = {s, b, p, h, e};
  for (size_t i = 0; i < 5; i++) {
    rf_buf_putc(all[i], '}');
    if (!rf_buf_ok(all[i]))
      return ATT_NOMEM;
  }
  const char *params[6] = {w->chain_id, s->data, b->data, p->data, h->data, e->data};
  PGresult *res = PQexecPrepared(w->conn, "rf_audit", 6, params, NULL, NULL, 0);
  enum attempt a = PQresultStatus(res) == PGRES_COMMAND_OK ? ATT_OK : classify(w, res);
  if (a == ATT_RETRY && PQstatus(w->conn) == CONNECTION_OK)
    a = ATT_AUDIT;
  PQclear(res);
  return a;
}

/* Per-attempt preparation of the group's nodes: seq, batch id, scratch arrays. */
static enum attempt prepare_nodes(rf_writer_t *w, size_t ng) {
  int64_t now = wall_us();
  for (size_t i = 0; i < ng; i++) {
    node_t *n = w->group[i];
    n->seq = w->head_seq + (int64_t)i + 1;
    rf_audit_batch_id(n->batch_id, sizeof(n->batch_id), w->chain_id, n->seq);
    if (n->order_cap < n->f->n) {
      uint32_t *order = rf_malloc(n->f->n * sizeof(uint32_t));
      unsigned char *is_new = rf_malloc(n->f->n);
      if (order == NULL || is_new == NULL) {
        rf_free(order);
        rf_free(is_new);
        return ATT_NOMEM;
      }
      rf_free(n->order);
      rf_free(n->is_new);
      n->order = order;
      n->is_new = is_new;
      n->order_cap = n->f->n;
    }
    for (size_t r = 0; r < n->f->n; r++) {
      rf_outcome_t *o = &n->f->rows[r];
      if (r + 8 < n->f->n)
        rf_prefetch(n->f->rows[r + 8].key); /* cold: fix_keys and the claim read them next */
      if (o->ts_us == 0)
        o->ts_us = now;
      /* quarantine.reason is NOT NULL and is part of the receipt: a missing
       * one is set here, before anything is hashed. */
      if (o->kind == RF_OUTCOME_QUARANTINED && o->reason == NULL) {
        o->reason = rf_strdup(RF_REASON_NO_FIX);
        if (o->reason == NULL)
          return ATT_NOMEM;
        rf_log(RF_LOG_WARN, "writer", "quarantined row without reason key=%s set=%s", o->key,
               RF_REASON_NO_FIX);
      }
      /* jsonb normalises what it stores; hash exactly what the verifier will
       * re-derive from it. Text that is not JSON is left for PostgreSQL to
       * refuse (and the bisection to quarantine as malformed). */
      char **js[2] = {&o->pk_json, &o->row_json};
      for (int k = 0; k < 2 && !n->f->json_canonical; k++) {
        if (*js[k] == NULL)
          continue;
        rf_json_error_t jerr;
        char *c = rf_json_canonicalize(*js[k], strlen(*js[k]), &jerr);
        if (c == NULL && jerr.status == RF_JSON_NOMEM)
          return ATT_NOMEM;
        if (c == NULL)
          continue;
        if (strcmp(c, *js[k]) == 0) {
          rf_free(c);
        } else {
          rf_free(*js[k]);
          *js[k] = c;
        }
      }
    }
    int rc = fix_keys(n->f);
    if (rc)
      return rc == RF_ENOMEM ? ATT_NOMEM : ATT_RETRY;
  }
  return ATT_OK;
}

/* One attempt at writing w->group[0..ng) in one transaction. */
static enum attempt write_group(rf_writer_t *w, size_t ng, long *bad) {
  *bad = -1;
  int64_t written_us = wall_us();
  long rows_s = 0, rows_q = 0;
  uint64_t t0 = uv_hrtime();
  enum attempt a = prepare_nodes(w, ng);
  if (a == ATT_OK)
    a = exec_check(w, "BEGIN");
  if (a == ATT_OK)
    a = claim_keys(w, ng, w->slow_claim);
  uint64_t t1 = uv_hrtime();
  if (a == ATT_OK)
    a = write_rows(w, ng, written_us, bad, &rows_s, &rows_q);
  uint64_t t2 = uv_hrtime();
  if (a == ATT_OK) {
    /* The database's own count of what it stored, against ours. */
    size_t fixed = 0, quar = 0;
    for (size_t i = 0; i < ng; i++) {
      fixed += w->group[i]->n_fixed;
      quar += w->group[i]->n_quar;
    }
    if ((size_t)rows_s != fixed || (size_t)rows_q != quar) {
      snprintf(w->errmsg, sizeof(w->errmsg),
               "COPY stored staging=%ld quarantine=%ld rows, expected %zu and %zu", rows_s,
               rows_q, fixed, quar);
      a = ATT_RECONCILE;
    }
  }
  if (a == ATT_OK)
    a = insert_batches(w, ng, written_us);
  if (a == ATT_OK)
    a = insert_entries(w, ng);
  uint64_t t3 = uv_hrtime();
  if (a == ATT_OK)
    a = exec_check(w, "COMMIT");
  if (a != ATT_OK)
    rollback(w);
  /* Where a transaction's time goes: the claim, the rows, the batch and
   * chain rows, the commit (for the "committed" debug line). */
  w->phase_ms[0] = (double)(t1 - t0) / 1e6;
  w->phase_ms[1] = (double)(t2 - t1) / 1e6;
  w->phase_ms[2] = (double)(t3 - t2) / 1e6;
  w->phase_ms[3] = (double)(uv_hrtime() - t3) / 1e6;
  return a;
}

/* ---- bisection of data errors ----------------------------------------------------- */

/* Probe: can rows order[lo..hi) of node n be stored? Inside the probe
 * transaction, under a savepoint that is always rolled back. Returns ATT_OK,
 * ATT_DATA (refused; message in w->errmsg) or another failure. */
static enum attempt probe(rf_writer_t *w, node_t *n, size_t lo, size_t hi) {
  rf_buf_reset(&w->copy_s);
  rf_buf_reset(&w->copy_q);
  for (size_t j = lo; j < hi; j++) {
    uint32_t r = n->order[j];
    const rf_outcome_t *o = &n->f->rows[r];
    if (!n->is_new[r] || (o->kind != RF_OUTCOME_FIXED && o->kind != RF_OUTCOME_QUARANTINED))
      continue;
    unsigned char leaf[RF_SHA256_LEN];
    int rc = rf__writer_copy_row(o, n->batch_id, &w->copy_s, &w->copy_q, &w->scratch, leaf);
    if (rc)
      return rc == RF_ENOMEM ? ATT_NOMEM : ATT_RETRY;
  }
  long dummy;
  enum attempt a = exec_check(w, "SAVEPOINT rf_probe");
  if (a == ATT_OK)
    a = copy_in(w, SQL_COPY_STAGING, &w->copy_s, &dummy);
  if (a == ATT_OK)
    a = copy_in(w, SQL_COPY_QUARANTINE, &w->copy_q, &dummy);
  if (PQstatus(w->conn) != CONNECTION_OK)
    return ATT_RETRY;
  char keep[sizeof(w->errmsg)];
  memcpy(keep, w->errmsg, sizeof(keep));
  enum attempt r = exec_check(w, "ROLLBACK TO SAVEPOINT rf_probe");
  memcpy(w->errmsg, keep, sizeof(keep));
  return r != ATT_OK ? r : a;
}

/* Finds the refused rows of order[lo..hi) by halving; converts each to a
 * malformed quarantine outcome. *found counts them. */
static enum attempt bisect(rf_writer_t *w, node_t *n, size_t lo, size_t hi, size_t *found) {
  if (lo >= hi)
    return ATT_OK;
  enum attempt a = probe(w, n, lo, hi);
  if (a == ATT_OK)
    return ATT_OK;
  if (a != ATT_DATA)
    return a;
  if (hi - lo == 1) {
    rf_outcome_t *o = &n->f->rows[n->order[lo]];
    char why[1100];
    snprintf(why, sizeof(why), "PostgreSQL refused the row: %s", w->errmsg);
    rf_log(RF_LOG_WARN, "writer", "row refused key=%s error=\"%s\"", o->key, w->errmsg);
    if (rf__writer_make_malformed(o, why) != 0)
      return ATT_NOMEM;
    (*found)++;
    return ATT_OK;
  }
  size_t mid = lo + (hi - lo) / 2;
  a = bisect(w, n, lo, mid, found);
  if (a == ATT_OK)
    a = bisect(w, n, mid, hi, found);
  return a;
}

/* The single flush in w->group[0] failed with a data error: find and convert
 * the guilty rows in a probe transaction that is always rolled back.
 * ATT_OK when some rows were converted (retry the flush), ATT_DATA when none
 * could be blamed (the flush itself is refused), or another failure. */
static enum attempt isolate_data_error(rf_writer_t *w) {
  node_t *n = w->group[0];
  char first[sizeof(w->errmsg)];
  memcpy(first, w->errmsg, sizeof(first));
  size_t found = 0;
  enum attempt a = prepare_nodes(w, 1);
  if (a == ATT_OK)
    a = exec_check(w, "BEGIN");
  if (a == ATT_OK)
    a = claim_keys(w, 1, true);
  if (a == ATT_OK)
    a = bisect(w, n, 0, n->f->n, &found);
  rollback(w);
  if (a == ATT_OK && found == 0) {
    memcpy(w->errmsg, first, sizeof(first));
    return ATT_DATA;
  }
  if (a == ATT_OK)
    rf_log(RF_LOG_WARN, "writer", "malformed rows isolated count=%zu flush_rows=%zu", found,
           n->f->n);
  return a;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void record_head(rf_writer_t *w) {
  char hex[2 * RF_SHA256_LEN + 1];
  rf_hex_encode(w->head_hash, RF_SHA256_LEN, hex);
  if (w->heads_file) {
    char err[512];
    if (rf_audit_heads_write(w->heads_file, w->chain_id, w->head_seq, w->head_hash, err,
                             sizeof(err)) != 0)
      rf_log(RF_LOG_ERR, "writer", "heads file not written path=%s error=\"%s\"", w->heads_file,
             err);
  }
  rf_log(RF_LOG_DEBUG, "writer", "chain head chain=%s seq=%lld hash=%s", w->chain_id,
         (long long)w->head_seq, hex);
}

/* Writes the group w->group[0..ng) until every node is handed back (committed,
 * Sev-1, refused) or the drain time of a close is over. */
static void process(rf_writer_t *w, size_t ng) {
  while (ng > 0) {
    if (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK) {
      if (drain_expired(w))
        break;
      disconnect(w);
      if (connect_db(w) != 0) {
        backoff(w);
        continue;
      }
    }
    if (!w->head_loaded && load_head(w) != 0) {
      rf_log(RF_LOG_ERR, "writer", "chain head not loaded error=\"%s\"", w->errmsg);
      disconnect(w);
      backoff(w);
      continue;
    }
    long bad = -1;
    uint64_t t0 = uv_hrtime();
    enum attempt a = write_group(w, ng, &bad);
    switch (a) {
    case ATT_OK: {
      size_t rows = 0, dups = 0;
      for (size_t i = 0; i < ng; i++) {
        node_t *n = w->group[i];
        rf_free(n->f->batch_id);
        n->f->batch_id = rf_strdup(n->batch_id);
        n->f->n_duplicates = n->n_dup;
        rows += n->f->n;
        dups += n->n_dup;
      }
      w->head_seq = w->group[ng - 1]->seq;
      memcpy(w->head_hash, w->group[ng - 1]->hash, RF_SHA256_LEN);
      record_head(w);
      rf_log(RF_LOG_DEBUG, "writer",
             "committed chain=%s first_seq=%lld batches=%zu rows=%zu duplicates=%zu ms=%.1f"
             " claim_ms=%.1f rows_ms=%.1f chain_ms=%.1f commit_ms=%.1f",
             w->chain_id, (long long)w->group[0]->seq, ng, rows, dups,
             (double)(uv_hrtime() - t0) / 1e6, w->phase_ms[0], w->phase_ms[1], w->phase_ms[2],
             w->phase_ms[3]);
      /* batch_id strdup failure leaves it NULL: the flush is still durable. */
      for (size_t i = 0; i < ng; i++)
        hand_back(w, w->group[i], 0);
      w->backoff_ms = 100;
      w->audit_failures = 0;
      w->slow_claim = false;
      return;
    }
    case ATT_LEDGER:
      rf_log(RF_LOG_INFO, "writer", "redelivered keys in group, claiming one by one chain=%s batches=%zu",
             w->chain_id, ng);
      w->slow_claim = true;
      continue;
    case ATT_AUDIT:
      if (++w->audit_failures < RF_AUDIT_FAILURES)
        break; /* retried like any failure, below */
      rf_log(RF_LOG_CRIT, "writer", "audit append failed sev=1 chain=%s attempts=%d error=\"%s\"",
             w->chain_id, w->audit_failures, w->errmsg);
      w->audit_failures = 0;
      for (size_t i = 0; i < ng; i++)
        hand_back(w, w->group[i], RF_ECORRUPT);
      return;
    case ATT_RECONCILE: {
      rf_log(RF_LOG_CRIT, "writer", "reconciliation mismatch sev=1 chain=%s error=\"%s\"",
             w->chain_id, w->errmsg);
      size_t keep = 0;
      for (size_t i = 0; i < ng; i++) {
        if (bad < 0 || (size_t)bad == i)
          hand_back(w, w->group[i], RF_ERECONCILE);
        else
          w->group[keep++] = w->group[i];
      }
      ng = keep;
      continue;
    }
    case ATT_DATA:
      if (ng > 1) {
        /* Find the flush: write them one by one, in order. */
        rf_log(RF_LOG_WARN, "writer", "data error in group, writing flushes alone error=\"%s\"",
               w->errmsg);
        for (size_t i = 0; i < ng; i++) {
          node_t *one = w->group[i];
          node_t **saved = w->group;
          w->group = &one;
          process(w, 1);
          w->group = saved;
        }
        return;
      }
      a = isolate_data_error(w);
      if (a == ATT_DATA) {
        rf_log(RF_LOG_ERR, "writer",
               "flush refused by the database, not acknowledged source=%s rows=%zu error=\"%s\"",
               w->group[0]->f->source, w->group[0]->f->n, w->errmsg);
        hand_back(w, w->group[0], RF_EDB);
        return;
      }
      if (a == ATT_OK)
        continue; /* retry with the guilty rows converted */
      break;      /* the probe itself failed: treat like any failure */
    case ATT_CONFLICT:
      rf_log(RF_LOG_WARN, "writer",
             "chain head moved under us (another writer uses chain id %s?) error=\"%s\"",
             w->chain_id, w->errmsg);
      w->head_loaded = false;
      sleep_interruptible(w, 50);
      continue;
    default:
      break;
    }
    /* Transient failure: keep the flushes, back off, reload the head. */
    if (a == ATT_NOMEM)
      snprintf(w->errmsg, sizeof(w->errmsg), "out of memory");
    rf_log(RF_LOG_ERR, "writer", "write failed, will retry chain=%s batches=%zu retry_ms=%d error=\"%s\"",
           w->chain_id, ng, w->backoff_ms, w->errmsg);
    w->head_loaded = false;
    if (drain_expired(w))
      break;
    backoff(w);
  }
  for (size_t i = 0; i < ng; i++)
    hand_back(w, w->group[i], RF_ECANCELED);
}

static void thread_main(void *arg) {
  rf_writer_t *w = arg;
  /* Connect and migrate up front, so that readiness means something and the
   * first flush does not wait for it. */
  for (;;) {
    uv_mutex_lock(&w->mu);
    bool closing = w->closing;
    uv_mutex_unlock(&w->mu);
    if (closing || connect_db(w) == 0)
      break;
    backoff(w);
  }
  for (;;) {
    uv_mutex_lock(&w->mu);
    while (w->queue.len == 0 && !w->closing)
      uv_cond_wait(&w->cond, &w->mu);
    if (w->queue.len == 0) {
      uv_mutex_unlock(&w->mu);
      break;
    }
    /* Take a group: at least one flush, more while they fit max_txn_rows. */
    size_t ng = 0, rows = 0;
    list_t taken = {NULL, NULL, 0};
    while (w->queue.head && (ng == 0 || rows + w->queue.head->f->n <= w->max_txn_rows) &&
           ng < w->group_cap) {
      node_t *n = list_pop(&w->queue);
      rows += n->f->n;
      list_push(&taken, n);
      ng++;
    }
    bool expired = w->closing && mono_ms() >= w->drain_deadline_ms;
    uv_mutex_unlock(&w->mu);
    size_t i = 0;
    for (node_t *n = taken.head; n; n = n->next)
      w->group[i++] = n;
    if (expired && (w->conn == NULL || PQstatus(w->conn) != CONNECTION_OK)) {
      for (i = 0; i < ng; i++)
        hand_back(w, w->group[i], RF_ECANCELED);
      continue;
    }
    process(w, ng);
  }
  disconnect(w);
  rf_buf_t *bufs[] = {&w->copy_s, &w->copy_q, &w->scratch, &w->a1, &w->a2,
                      &w->a3,     &w->a4,     &w->a5,      &w->a6};
  for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
    rf_buf_free(bufs[i]);
  rf_free(w->claims);
  rf_free(w->group);
  uv_mutex_lock(&w->mu);
  w->thread_done = true;
  uv_mutex_unlock(&w->mu);
  uv_async_send(&w->async);
}

/* ---- public API ----------------------------------------------------------------------- */

static bool valid_chain_id(const char *s) {
  if (s == NULL || *s == '\0' || strlen(s) > 200)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return rf_utf8_valid(s, strlen(s));
}

int rf_writer_new(uv_loop_t *loop, const rf_writer_config_t *cfg, rf_writer_done_cb done_cb,
                  void *arg, rf_writer_t **out) {
  *out = NULL;
  if (loop == NULL || cfg == NULL || done_cb == NULL || !valid_chain_id(cfg->chain_id))
    return RF_EINVAL;
  int rc = RF_ENOMEM;
  bool mu = false, cond = false;
  rf_writer_t *w = rf_calloc(1, sizeof(*w));
  if (w == NULL)
    return RF_ENOMEM;
  w->loop = loop;
  w->done_cb = done_cb;
  w->arg = arg;
  w->conninfo = rf_strdup(cfg->conninfo ? cfg->conninfo : "");
  w->password = cfg->password ? rf_strdup(cfg->password) : NULL;
  w->chain_id = rf_strdup(cfg->chain_id);
  w->heads_file = cfg->heads_file ? rf_strdup(cfg->heads_file) : NULL;
  if (cfg->audit_key) {
    w->key = rf_memdup(cfg->audit_key, cfg->audit_key_len);
    w->keylen = cfg->audit_key_len;
  }
  w->max_txn_rows = cfg->max_txn_rows ? cfg->max_txn_rows : 10000;
  w->retry_max_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : 5000;
  w->backoff_ms = w->retry_max_ms < 100 ? w->retry_max_ms : 100;
  w->group_cap = 256;
  w->group = rf_calloc(w->group_cap, sizeof(node_t *));
  if (!w->conninfo || (cfg->password && !w->password) || !w->chain_id ||
      (cfg->heads_file && !w->heads_file) || (cfg->audit_key && !w->key) || !w->group)
    goto err;
  rc = RF_EINTERNAL;
  if (uv_mutex_init(&w->mu) != 0)
    goto err;
  mu = true;
  if (uv_cond_init(&w->cond) != 0)
    goto err;
  cond = true;
  if (uv_async_init(loop, &w->async, on_async) != 0)
    goto err;
  w->async.data = w;
  atomic_init(&w->pending_rows, 0);
  atomic_init(&w->ready, 0);
  if (uv_thread_create(&w->thread, thread_main, w) != 0) {
    /* The async handle must be closed through the loop; nothing else runs yet. */
    w->thread_done = true;
    w->close_cb = NULL;
    uv_close((uv_handle_t *)&w->async, on_async_closed);
    return RF_EINTERNAL;
  }
  *out = w;
  return 0;
err:
  if (cond)
    uv_cond_destroy(&w->cond);
  if (mu)
    uv_mutex_destroy(&w->mu);
  rf_free(w->group);
  rf_free(w->conninfo);
  rf_free(w->password);
  rf_free(w->chain_id);
  rf_free(w->heads_file);
  rf_free(w->key);
  rf_free(w);
  return rc;
}

int rf_writer_submit(rf_writer_t *w, rf_flush_t *flush) {
  for (size_t r = 0; r < flush->n; r++)
    if (flush->rows[r].key == NULL)
      return RF_EINVAL;
  node_t *n = rf_calloc(1, sizeof(*n));
  if (n == NULL)
    return RF_ENOMEM;
  n->f = flush;
  uv_mutex_lock(&w->mu);
  if (w->closing) {
    uv_mutex_unlock(&w->mu);
    rf_free(n);
    return RF_ECLOSED;
  }
  atomic_fetch_add(&w->pending_rows, flush->n);
  list_push(&w->queue, n);
  uv_cond_signal(&w->cond);
  uv_mutex_unlock(&w->mu);
  return 0;
}

size_t rf_writer_pending_rows(const rf_writer_t *w) {
  return atomic_load(&((rf_writer_t *)w)->pending_rows);
}

int rf_writer_ready(const rf_writer_t *w) { return atomic_load(&((rf_writer_t *)w)->ready); }

void rf_writer_close(rf_writer_t *w, int drain_ms, rf_writer_close_cb close_cb, void *arg) {
  uv_mutex_lock(&w->mu);
  w->closing = true;
  w->drain_deadline_ms = mono_ms() + (uint64_t)(drain_ms > 0 ? drain_ms : 0);
  w->close_cb = close_cb;
  w->close_arg = arg;
  uv_cond_broadcast(&w->cond);
  uv_mutex_unlock(&w->mu);
  /* The thread finishes on its own and wakes on_async, which joins it and
   * closes the handle; close_cb runs from the handle's close callback. */
}

/* fixcache.c - rectify.fixes behind a worker thread, the `cache` and
 * `transfer` generators, and the queries of `rectifyctl fixes`.
 *
 * Why a thread of its own: libpq is blocking and the loop must never wait
 * for PostgreSQL. The writer thread owns the write transactions and must not
 * be slowed by lookups; the lookups are few (one per cluster, not per row),
 * so one more connection on one more thread is the simplest design that
 * keeps the loop free. Operations run in FIFO order, so a fix recorded before
 * a lookup is queued is visible to that lookup.
 *
 * Revocation is checked at use time: every proposal reads the table (there is
 * no in-process copy to go stale), so a revoked fix is never offered again.
 */
#include "rectify/fixcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/log.h"
#include "rectify/pg.h"

enum op_kind { OP_LOOKUP, OP_GOOD_VALUES, OP_RECORD, OP_REVOKED };

typedef struct op {
  enum op_kind kind;
  char *table_name, *column_name, *fingerprint;
  int limit;
  rf_known_fix_t fix; /* OP_RECORD */
  long long hits;
  /* results */
  int status;
  rf_known_fix_t *fixes;
  size_t n_fixes;
  char **values;
  size_t n_values;
  rf_fixcache_fixes_cb fixes_cb;
  rf_fixcache_values_cb values_cb;
  rf_fixcache_revoked_cb revoked_cb;
  bool revoked;
  bool retry; /* OP_RECORD: the last failure is worth retrying */
  void *arg;
  struct op *next;
} op_t;

struct rf_fixcache {
  uv_loop_t *loop;
  uv_async_t async;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  op_t *todo_head, *todo_tail; /* guarded by lock */
  op_t *done_head, *done_tail; /* guarded by lock */
  bool stop;                   /* guarded by lock */
  char *conninfo, *password;
  PGconn *conn;                /* worker thread only */
  uint64_t next_connect_ns;    /* worker thread only */
};

void rf_known_fix_clear(rf_known_fix_t *f) {
  rf_free(f->fix_id);
  rf_free(f->table_name);
  rf_free(f->column_name);
  rf_free(f->fingerprint);
  rf_free(f->lambda_src);
  rf_free(f->generator);
  rf_free(f->model);
  rf_free(f->reasoning);
  memset(f, 0, sizeof(*f));
}

static void op_free(op_t *op) {
  rf_free(op->table_name);
  rf_free(op->column_name);
  rf_free(op->fingerprint);
  rf_known_fix_clear(&op->fix);
  for (size_t i = 0; i < op->n_fixes; i++)
    rf_known_fix_clear(&op->fixes[i]);
  rf_free(op->fixes);
  for (size_t i = 0; i < op->n_values; i++)
    rf_free(op->values[i]);
  rf_free(op->values);
  rf_free(op);
}

/* ---- worker thread ------------------------------------------------------------ */

static bool ensure_conn(rf_fixcache_t *fc) {
  if (fc->conn && PQstatus(fc->conn) == CONNECTION_OK)
    return true;
  if (fc->conn) {
    PQfinish(fc->conn);
    fc->conn = NULL;
  }
  uint64_t now = uv_hrtime();
  if (now < fc->next_connect_ns)
    return false;
  char err[256];
  fc->conn = rf_pg_connect(fc->conninfo, fc->password, "rectifyd-fixcache", err, sizeof(err));
  if (fc->conn == NULL) {
    fc->next_connect_ns = now + 1000000000ULL; /* at most one attempt a second */
    rf_log(RF_LOG_WARN, "fixcache", "cannot connect error=\"%s\"; fixes are not reused until "
           "it is back", err);
    return false;
  }
  return true;
}

/* 42P01 undefined_table: the writer has not migrated a fresh database yet. */
static bool no_table_yet(const PGresult *res) {
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  return st && strcmp(st, "42P01") == 0;
}

static char *dup_or_null(const PGresult *res, int row, int col) {
  return PQgetisnull(res, row, col) ? NULL : rf_strdup(PQgetvalue(res, row, col));
}

static int run_lookup(rf_fixcache_t *fc, op_t *op) {
  char limit[16];
  snprintf(limit, sizeof(limit), "%d", op->limit > 0 ? op->limit : 1);
  const char *params[4] = {op->table_name, op->column_name, limit, op->fingerprint};
  PGresult *res = PQexecParams(
      fc->conn,
      op->fingerprint
          ? "SELECT fix_id, fingerprint, lambda, generator, model, reasoning, confidence, hits"
            " FROM rectify.fixes WHERE table_name = $1 AND column_name = $2 AND fingerprint = $4"
            " AND NOT revoked ORDER BY hits DESC, first_used, fix_id LIMIT $3"
          : "SELECT fix_id, fingerprint, lambda, generator, model, reasoning, confidence, hits"
            " FROM rectify.fixes WHERE table_name = $1 AND column_name = $2"
            " AND NOT revoked ORDER BY hits DESC, first_used, fix_id LIMIT $3",
      op->fingerprint ? 4 : 3, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    /* Before the writer has migrated a fresh database, there is nothing to find. */
    rc = no_table_yet(res) ? 0 : RF_EDB;
    if (rc) {
      char err[256];
      rf_log(RF_LOG_WARN, "fixcache", "lookup failed error=\"%s\"",
             rf_pg_errmsg(fc->conn, res, err, sizeof(err)));
    }
    PQclear(res);
    return rc;
  }
  int n = PQntuples(res);
  if (n > 0 && (op->fixes = rf_calloc((size_t)n, sizeof(*op->fixes))) == NULL)
    rc = RF_ENOMEM;
  for (int i = 0; i < n && rc == 0; i++) {
    rf_known_fix_t *f = &op->fixes[op->n_fixes++];
    f->fix_id = dup_or_null(res, i, 0);
    f->fingerprint = dup_or_null(res, i, 1);
    f->lambda_src = dup_or_null(res, i, 2);
    f->generator = dup_or_null(res, i, 3);
    f->model = dup_or_null(res, i, 4);
    f->reasoning = dup_or_null(res, i, 5);
    f->confidence = PQgetisnull(res, i, 6) ? 0 : strtod(PQgetvalue(res, i, 6), NULL);
    f->hits = atoll(PQgetvalue(res, i, 7));
    f->table_name = rf_strdup(op->table_name);
    f->column_name = rf_strdup(op->column_name);
    if (!f->fix_id || !f->fingerprint || !f->lambda_src || !f->generator || !f->table_name ||
        !f->column_name || (!f->model && !PQgetisnull(res, i, 4)) ||
        (!f->reasoning && !PQgetisnull(res, i, 5)))
      rc = RF_ENOMEM;
  }
  PQclear(res);
  return rc;
}

static int run_good_values(rf_fixcache_t *fc, op_t *op) {
  char limit[16];
  snprintf(limit, sizeof(limit), "%d", op->limit > 0 ? op->limit : 3);
  const char *params[3] = {op->table_name, op->column_name, limit};
  PGresult *res = PQexecParams(
      fc->conn,
      "SELECT DISTINCT new_value FROM (SELECT new_value FROM rectify.staging"
      " WHERE table_name = $1 AND column_name = $2 AND new_value IS NOT NULL LIMIT 200) s"
      " ORDER BY new_value LIMIT $3",
      3, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = no_table_yet(res) ? 0 : RF_EDB;
    PQclear(res);
    return rc;
  }
  int n = PQntuples(res);
  if (n > 0 && (op->values = rf_calloc((size_t)n, sizeof(char *))) == NULL)
    rc = RF_ENOMEM;
  for (int i = 0; i < n && rc == 0; i++)
    if ((op->values[op->n_values++] = rf_strdup(PQgetvalue(res, i, 0))) == NULL)
      rc = RF_ENOMEM;
  PQclear(res);
  return rc;
}

static int run_record(rf_fixcache_t *fc, op_t *op) {
  char conf[64], hits[32];
  snprintf(conf, sizeof(conf), "%.17g", op->fix.confidence);
  snprintf(hits, sizeof(hits), "%lld", op->hits);
  const char *params[10] = {op->fix.fix_id,     op->fix.table_name, op->fix.column_name,
                            op->fix.fingerprint, op->fix.lambda_src, op->fix.generator,
                            op->fix.model,       conf,               op->fix.reasoning,
                            hits};
  PGresult *res = PQexecParams(
      fc->conn,
      "INSERT INTO rectify.fixes (fix_id, table_name, column_name, fingerprint, lambda,"
      " generator, model, confidence, reasoning, hits) VALUES ($1, $2, $3, $4, $5, $6, $7,"
      " $8::double precision, $9, $10::bigint)"
      " ON CONFLICT (fix_id) DO UPDATE SET hits = rectify.fixes.hits + EXCLUDED.hits,"
      " last_used = now()",
      10, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    char err[256];
    op->retry = no_table_yet(res) || PQstatus(fc->conn) != CONNECTION_OK;
    rf_log(op->retry ? RF_LOG_DEBUG : RF_LOG_WARN, "fixcache", "cannot store fix=%s error=\"%s\"",
           op->fix.fix_id, rf_pg_errmsg(fc->conn, res, err, sizeof(err)));
    rc = RF_EDB;
  }
  PQclear(res);
  return rc;
}

static int run_revoked(rf_fixcache_t *fc, op_t *op) {
  const char *params[1] = {op->fingerprint}; /* the fix id */
  PGresult *res = PQexecParams(fc->conn, "SELECT revoked FROM rectify.fixes WHERE fix_id = $1",
                               1, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    rc = no_table_yet(res) ? 0 : RF_EDB;
  else
    op->revoked = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  return rc;
}

static bool stopping(rf_fixcache_t *fc) {
  pthread_mutex_lock(&fc->lock);
  bool stop = fc->stop;
  pthread_mutex_unlock(&fc->lock);
  return stop;
}

/* A fix is worth keeping: when the database is not reachable or not migrated
 * yet (a fresh database: the writer migrates it at start-up), try again for
 * a while instead of losing it (and paying for another model call later). */
static int record_with_retries(rf_fixcache_t *fc, op_t *op) {
  int rc = RF_EDB;
  for (int attempt = 0; attempt < 150 && !stopping(fc); attempt++) {
    if (attempt)
      usleep(200 * 1000);
    if (!ensure_conn(fc))
      continue;
    if ((rc = run_record(fc, op)) == 0 || op->retry == false)
      return rc;
  }
  rf_log(RF_LOG_WARN, "fixcache", "fix=%s not stored: %s", op->fix.fix_id, rf_strerror(rc));
  return rc;
}

static void *worker(void *arg) {
  rf_fixcache_t *fc = arg;
  for (;;) {
    pthread_mutex_lock(&fc->lock);
    while (!fc->stop && fc->todo_head == NULL)
      pthread_cond_wait(&fc->cond, &fc->lock);
    if (fc->stop) {
      pthread_mutex_unlock(&fc->lock);
      break;
    }
    op_t *op = fc->todo_head;
    fc->todo_head = op->next;
    if (fc->todo_head == NULL)
      fc->todo_tail = NULL;
    pthread_mutex_unlock(&fc->lock);
    op->next = NULL;
    if (!ensure_conn(fc))
      op->status = RF_EDB;
    else if (op->kind == OP_LOOKUP)
      op->status = run_lookup(fc, op);
    else if (op->kind == OP_GOOD_VALUES)
      op->status = run_good_values(fc, op);
    else if (op->kind == OP_REVOKED)
      op->status = run_revoked(fc, op);
    else
      op->status = record_with_retries(fc, op);
    pthread_mutex_lock(&fc->lock);
    if (fc->done_tail)
      fc->done_tail->next = op;
    else
      fc->done_head = op;
    fc->done_tail = op;
    pthread_mutex_unlock(&fc->lock);
    uv_async_send(&fc->async);
  }
  if (fc->conn)
    PQfinish(fc->conn);
  fc->conn = NULL;
  return NULL;
}

/* ---- loop side ----------------------------------------------------------------- */

static void deliver(op_t *op) {
  if (op->kind == OP_LOOKUP)
    op->fixes_cb(op->status, op->fixes, op->n_fixes, op->arg);
  else if (op->kind == OP_GOOD_VALUES)
    op->values_cb(op->status, op->values, op->n_values, op->arg);
  else if (op->kind == OP_REVOKED)
    op->revoked_cb(op->status, op->revoked, op->arg);
  op_free(op);
}

static void on_async(uv_async_t *h) {
  rf_fixcache_t *fc = h->data;
  pthread_mutex_lock(&fc->lock);
  op_t *list = fc->done_head;
  fc->done_head = fc->done_tail = NULL;
  pthread_mutex_unlock(&fc->lock);
  while (list) {
    op_t *next = list->next;
    deliver(list);
    list = next;
  }
}

int rf_fixcache_new(uv_loop_t *loop, const char *conninfo, const char *password,
                    rf_fixcache_t **out) {
  rf_fixcache_t *fc = rf_calloc(1, sizeof(*fc));
  if (fc == NULL || (fc->conninfo = rf_strdup(conninfo)) == NULL ||
      (password && (fc->password = rf_strdup(password)) == NULL))
    goto nomem;
  fc->loop = loop;
  pthread_mutex_init(&fc->lock, NULL);
  pthread_cond_init(&fc->cond, NULL);
  if (uv_async_init(loop, &fc->async, on_async) != 0)
    goto nomem;
  fc->async.data = fc;
  if (pthread_create(&fc->thread, NULL, worker, fc) != 0) {
    uv_close((uv_handle_t *)&fc->async, NULL); /* fc leaks until the loop runs: rare */
    return RF_EINTERNAL;
  }
  *out = fc;
  return 0;
nomem:
  if (fc) {
    rf_free(fc->conninfo);
    rf_free(fc->password);
  }
  rf_free(fc);
  return RF_ENOMEM;
}

static void on_async_closed(uv_handle_t *h) {
  rf_fixcache_t *fc = h->data;
  pthread_mutex_destroy(&fc->lock);
  pthread_cond_destroy(&fc->cond);
  rf_free(fc->conninfo);
  rf_free(fc->password);
  rf_free(fc);
}

void rf_fixcache_close(rf_fixcache_t *fc) {
  if (fc == NULL)
    return;
  pthread_mutex_lock(&fc->lock);
  fc->stop = true;
  pthread_cond_signal(&fc->cond);
  pthread_mutex_unlock(&fc->lock);
  pthread_join(fc->thread, NULL);
  /* Done first (FIFO), then what never ran; everything as canceled. */
  op_t *lists[2] = {fc->done_head, fc->todo_head};
  fc->done_head = fc->done_tail = fc->todo_head = fc->todo_tail = NULL;
  for (int l = 0; l < 2; l++)
    for (op_t *op = lists[l], *next; op; op = next) {
      next = op->next;
      op->status = RF_ECANCELED;
      for (size_t i = 0; i < op->n_fixes; i++)
        rf_known_fix_clear(&op->fixes[i]);
      op->n_fixes = 0;
      deliver(op);
    }
  uv_close((uv_handle_t *)&fc->async, on_async_closed);
}

static int submit(rf_fixcache_t *fc, op_t *op) {
  pthread_mutex_lock(&fc->lock);
  bool stopped = fc->stop;
  if (!stopped) {
    if (fc->todo_tail)
      fc->todo_tail->next = op;
    else
      fc->todo_head = op;
    fc->todo_tail = op;
    pthread_cond_signal(&fc->cond);
  }
  pthread_mutex_unlock(&fc->lock);
  if (stopped) {
    op_free(op);
    return RF_ECLOSED;
  }
  return 0;
}

static op_t *op_new(enum op_kind kind, const char *table_name, const char *column_name,
                    const char *fingerprint, int limit) {
  op_t *op = rf_calloc(1, sizeof(*op));
  if (op == NULL)
    return NULL;
  op->kind = kind;
  op->limit = limit;
  if ((table_name && (op->table_name = rf_strdup(table_name)) == NULL) ||
      (column_name && (op->column_name = rf_strdup(column_name)) == NULL) ||
      (fingerprint && (op->fingerprint = rf_strdup(fingerprint)) == NULL)) {
    op_free(op);
    return NULL;
  }
  return op;
}

int rf_fixcache_lookup(rf_fixcache_t *fc, const char *table_name, const char *column_name,
                       const char *fingerprint, int limit, rf_fixcache_fixes_cb cb, void *arg) {
  op_t *op = op_new(OP_LOOKUP, table_name, column_name, fingerprint, limit);
  if (op == NULL)
    return RF_ENOMEM;
  op->fixes_cb = cb;
  op->arg = arg;
  return submit(fc, op);
}

int rf_fixcache_good_values(rf_fixcache_t *fc, const char *table_name, const char *column_name,
                            int limit, rf_fixcache_values_cb cb, void *arg) {
  op_t *op = op_new(OP_GOOD_VALUES, table_name, column_name, NULL, limit);
  if (op == NULL)
    return RF_ENOMEM;
  op->values_cb = cb;
  op->arg = arg;
  return submit(fc, op);
}

int rf_fixcache_check_revoked(rf_fixcache_t *fc, const char *fix_id, rf_fixcache_revoked_cb cb,
                              void *arg) {
  op_t *op = op_new(OP_REVOKED, NULL, NULL, fix_id, 0);
  if (op == NULL)
    return RF_ENOMEM;
  op->revoked_cb = cb;
  op->arg = arg;
  return submit(fc, op);
}

int rf_fixcache_record(rf_fixcache_t *fc, const rf_known_fix_t *fix, long long hits) {
  op_t *op = op_new(OP_RECORD, NULL, NULL, NULL, 0);
  if (op == NULL)
    return RF_ENOMEM;
  op->hits = hits;
  op->fix.confidence = fix->confidence;
  if ((op->fix.fix_id = rf_strdup(fix->fix_id)) == NULL ||
      (op->fix.table_name = rf_strdup(fix->table_name)) == NULL ||
      (op->fix.column_name = rf_strdup(fix->column_name)) == NULL ||
      (op->fix.fingerprint = rf_strdup(fix->fingerprint)) == NULL ||
      (op->fix.lambda_src = rf_strdup(fix->lambda_src)) == NULL ||
      (op->fix.generator = rf_strdup(fix->generator)) == NULL ||
      (fix->model && (op->fix.model = rf_strdup(fix->model)) == NULL) ||
      (fix->reasoning && (op->fix.reasoning = rf_strdup(fix->reasoning)) == NULL)) {
    op_free(op);
    return RF_ENOMEM;
  }
  return submit(fc, op);
}

/* ---- the generators --------------------------------------------------------------- */

typedef struct gen {
  rf_fixcache_t *fc;
  double min_confidence;
  int max_tries;
  bool transfer;
  rf_model_stats_t *stats;
} gen_t;

typedef struct proposal {
  gen_t *g;
  const rf_fix_request_t *req;
  rf_fixgen_cb cb;
  void *arg;
} proposal_t;

/* A candidate from a stored fix; for transfer, re-keyed to the new fingerprint. */
static rf_fix_candidate_t *candidate_from(const rf_known_fix_t *f, const rf_fix_request_t *req,
                                          bool transfer) {
  rf_fix_candidate_t *c = rf_calloc(1, sizeof(*c));
  char id[33];
  if (c == NULL)
    return NULL;
  c->confidence = f->confidence;
  if (transfer)
    rf_fix_id(req->table_name, req->column_name, req->cluster->fingerprint, f->lambda_src, id);
  if ((c->lambda_src = rf_strdup(f->lambda_src)) == NULL ||
      (c->generator = rf_strdup(transfer ? "transfer" : "cache")) == NULL ||
      (c->fix_id = rf_strdup(transfer ? id : f->fix_id)) == NULL ||
      (f->model && (c->model = rf_strdup(f->model)) == NULL) ||
      (f->reasoning && (c->reasoning = rf_strdup(f->reasoning)) == NULL)) {
    rf_fix_candidate_free(c);
    return NULL;
  }
  return c;
}

static void on_fixes(int status, const rf_known_fix_t *fixes, size_t n, void *arg) {
  proposal_t *p = arg;
  gen_t *g = p->g;
  const rf_fix_request_t *req = p->req;
  rf_fixgen_cb cb = p->cb;
  void *cb_arg = p->arg;
  rf_checker_t *checker = NULL;
  rf_fix_candidate_t *cand = NULL;
  rf_buf_t why = RF_BUF_INIT;
  int rc = status;
  rf_free(p);
  if (status == RF_ECANCELED) {
    cb(RF_ECANCELED, NULL, NULL, cb_arg);
    return;
  }
  if (status) {
    rf_buf_printf(&why, "the fix cache is unavailable (%s)", rf_strerror(status));
    rc = 0;
    goto out;
  }
  char err[256];
  if ((rc = rf_checker_new(req->contract, &checker, err, sizeof(err)))) {
    if (rc != RF_ENOMEM) {
      rf_buf_printf(&why, "the column contract does not compile: %s", err);
      rc = 0;
    }
    goto out;
  }
  size_t tried = 0;
  for (size_t i = 0; i < n && tried < (size_t)(g->transfer ? g->max_tries : 1); i++) {
    const rf_known_fix_t *f = &fixes[i];
    bool seen = false; /* the same lambda stored for several fingerprints */
    for (size_t k = 0; k < i && !seen; k++)
      seen = strcmp(fixes[k].lambda_src, f->lambda_src) == 0;
    if (seen)
      continue;
    /* Transfer may find this very fingerprint's fix when it was stored after
     * the cache looked (a model answer that landed in between): a cache hit. */
    bool same = strcmp(f->fingerprint, req->cluster->fingerprint) == 0;
    bool transfer = g->transfer && !same;
    tried++;
    rf_fix_candidate_t probe = {.lambda_src = f->lambda_src, .confidence = f->confidence};
    rf_gate_verdict_t v;
    if ((rc = rf_gate_check(&probe, checker, req->cluster, g->min_confidence, &v, NULL)))
      goto out;
    if (!v.ok) {
      g->stats->rejections++;
      rf_buf_printf(&why, "%sfix %.12s refused by the gate: %s", why.len ? "; " : "", f->fix_id,
                    v.detail);
      continue;
    }
    if ((cand = candidate_from(f, req, transfer)) == NULL) {
      rc = RF_ENOMEM;
      goto out;
    }
    rf_known_fix_t stored = *f;
    stored.fix_id = cand->fix_id;
    stored.table_name = (char *)req->table_name;
    stored.column_name = (char *)req->column_name;
    stored.fingerprint = (char *)req->cluster->fingerprint;
    stored.generator = cand->generator;
    if (rf_fixcache_record(g->fc, &stored, (long long)req->cluster->n) != 0)
      rf_log(RF_LOG_WARN, "fixcache", "cannot queue the use of fix=%s", cand->fix_id);
    if (transfer)
      g->stats->transfers++;
    else
      g->stats->cache_hits++;
    rf_log(RF_LOG_INFO, "fixcache", "%s fix=%s table=%s column=%s fingerprint=%s rows=%zu%s%s",
           transfer ? "transferred" : "cache hit", cand->fix_id, req->table_name,
           req->column_name, req->cluster->fingerprint, req->cluster->n,
           transfer ? " from=" : "", transfer ? f->fix_id : "");
    break;
  }
  if (cand == NULL && why.len == 0)
    rf_buf_puts(&why, g->transfer ? "no known fix of this column" : "no stored fix for this "
                                                                     "fingerprint");
out:
  rf_checker_free(checker);
  if (rc) {
    rf_fix_candidate_free(cand);
    cb(rc, NULL, NULL, cb_arg);
  } else {
    cb(0, cand, cand ? NULL : (rf_buf_ok(&why) ? why.data : "out of memory"), cb_arg);
  }
  rf_buf_free(&why);
}

static int propose(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  gen_t *g = self;
  if (req->contract == NULL) {
    cb(0, NULL, "the column has no contract, so no fix can be proven", arg);
    return 0;
  }
  proposal_t *p = rf_malloc(sizeof(*p));
  if (p == NULL)
    return RF_ENOMEM;
  *p = (proposal_t){g, req, cb, arg};
  int rc = rf_fixcache_lookup(g->fc, req->table_name, req->column_name,
                              g->transfer ? NULL : req->cluster->fingerprint,
                              g->transfer ? g->max_tries * 4 : 1, on_fixes, p);
  if (rc)
    rf_free(p);
  return rc;
}

static void destroy(void *self) { rf_free(self); }

const rf_fixgen_ops_t rf_fixgen_cache_ops = {"cache", propose, destroy};
const rf_fixgen_ops_t rf_fixgen_transfer_ops = {"transfer", propose, destroy};

static void *gen_new(rf_fixcache_t *fc, double min_confidence, int max_tries, bool transfer,
                     rf_model_stats_t *stats) {
  gen_t *g = rf_calloc(1, sizeof(*g));
  if (g)
    *g = (gen_t){fc, min_confidence, max_tries, transfer, stats};
  return g;
}

void *rf_fixgen_cache_new(rf_fixcache_t *fc, double min_confidence, rf_model_stats_t *stats) {
  return gen_new(fc, min_confidence, 1, false, stats);
}

void *rf_fixgen_transfer_new(rf_fixcache_t *fc, double min_confidence, int max_tries,
                             rf_model_stats_t *stats) {
  return gen_new(fc, min_confidence, max_tries, true, stats);
}

/* ---- rectifyctl fixes ----------------------------------------------------------------- */

static int query_fail(PGconn *conn, PGresult *res, char *err, size_t errlen) {
  rf_pg_errmsg(conn, res, err, errlen);
  PQclear(res);
  return RF_EDB;
}

int rf_fixes_list(PGconn *conn, const rf_fixes_filter_t *f, bool json, rf_buf_t *out, char *err,
                  size_t errlen) {
  char limit[16];
  snprintf(limit, sizeof(limit), "%d", f->limit > 0 ? f->limit : 100);
  const char *params[4] = {f->table_name, f->column_name, f->include_revoked ? "t" : "f", limit};
  PGresult *res = PQexecParams(
      conn,
      "SELECT fix_id, table_name, column_name, fingerprint, generator, coalesce(model, ''),"
      " coalesce(confidence::text, ''), hits, revoked, last_used::text, lambda"
      " FROM rectify.fixes WHERE ($1::text IS NULL OR table_name = $1)"
      " AND ($2::text IS NULL OR column_name = $2) AND ($3::boolean OR NOT revoked)"
      " ORDER BY table_name, column_name, hits DESC, fix_id LIMIT $4::integer",
      4, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    return query_fail(conn, res, err, errlen);
  int n = PQntuples(res);
  if (json)
    rf_buf_putc(out, '[');
  else
    rf_buf_printf(out, "%-32s  %-28s  %-14s  %-9s  %8s  %s\n", "FIX", "TABLE.COLUMN",
                  "FINGERPRINT", "GENERATOR", "HITS", "LAMBDA");
  for (int i = 0; i < n; i++) {
    const char *v[11];
    for (int c = 0; c < 11; c++)
      v[c] = PQgetvalue(res, i, c);
    bool revoked = v[8][0] == 't';
    if (json) {
      static const char *const names[] = {"fix_id", "table", "column", "fingerprint",
                                          "generator", "model", "confidence"};
      rf_buf_puts(out, i ? ",{" : "{");
      for (int c = 0; c < 7; c++) {
        rf_buf_printf(out, "%s\"%s\":", c ? "," : "", names[c]);
        if (c == 6 && v[c][0])
          rf_buf_puts(out, v[c]);
        else if (c == 6)
          rf_buf_puts(out, "null");
        else
          rf_buf_json_str(out, v[c], strlen(v[c]));
      }
      rf_buf_printf(out, ",\"hits\":%s,\"revoked\":%s,\"last_used\":", v[7],
                    revoked ? "true" : "false");
      rf_buf_json_str(out, v[9], strlen(v[9]));
      rf_buf_puts(out, ",\"lambda\":");
      rf_buf_json_str(out, v[10], strlen(v[10]));
      rf_buf_putc(out, '}');
    } else {
      char tc[256];
      snprintf(tc, sizeof(tc), "%s.%s", v[1], v[2]);
      rf_buf_printf(out, "%-32s  %-28s  %-14s  %-9s  %8s  %s%s\n", v[0], tc, v[3], v[4], v[7],
                    revoked ? "[revoked] " : "", v[10]);
    }
  }
  if (json)
    rf_buf_puts(out, "]\n");
  PQclear(res);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

/* Resolves a fix id or unique prefix; 0 and id (>= 65 bytes), or an error. */
static int resolve_id(PGconn *conn, const char *prefix, char *id, char *err, size_t errlen) {
  size_t n = strlen(prefix);
  if (n < 6 || n > 64 || strspn(prefix, "0123456789abcdef") != n) {
    snprintf(err, errlen, "'%s' is not a fix id (at least 6 lowercase hex digits)", prefix);
    return RF_EINVAL;
  }
  const char *params[1] = {prefix};
  PGresult *res = PQexecParams(conn,
                               "SELECT fix_id FROM rectify.fixes WHERE left(fix_id, length($1))"
                               " = $1 ORDER BY fix_id LIMIT 2",
                               1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    return query_fail(conn, res, err, errlen);
  int rc = 0;
  if (PQntuples(res) == 0) {
    snprintf(err, errlen, "no fix %s", prefix);
    rc = RF_ENOTFOUND;
  } else if (PQntuples(res) > 1) {
    snprintf(err, errlen, "'%s' matches several fixes: give more digits", prefix);
    rc = RF_EINVAL;
  } else {
    snprintf(id, 65, "%s", PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  return rc;
}

int rf_fixes_show(PGconn *conn, const char *fix_id, bool json, rf_buf_t *out, char *err,
                  size_t errlen) {
  char id[65];
  int rc = resolve_id(conn, fix_id, id, err, errlen);
  if (rc)
    return rc;
  const char *params[1] = {id};
  PGresult *res = PQexecParams(
      conn,
      "SELECT fix_id, table_name, column_name, fingerprint, lambda, generator,"
      " coalesce(model, ''), coalesce(confidence::text, ''), coalesce(reasoning, ''),"
      " first_used::text, last_used::text, hits, revoked, coalesce(revoked_at::text, ''),"
      " coalesce(revoked_by, ''),"
      " (SELECT count(*) FROM rectify.staging s WHERE s.fix_id = f.fix_id)"
      " FROM rectify.fixes f WHERE fix_id = $1",
      1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
    return query_fail(conn, res, err, errlen);
  static const char *const names[] = {"fix_id",     "table",     "column",    "fingerprint",
                                      "lambda",     "generator", "model",     "confidence",
                                      "reasoning",  "first_used", "last_used", "hits",
                                      "revoked",    "revoked_at", "revoked_by", "staged_rows"};
  if (json)
    rf_buf_putc(out, '{');
  for (int c = 0; c < 16; c++) {
    const char *v = PQgetvalue(res, 0, c);
    if (json) {
      rf_buf_printf(out, "%s\"%s\":", c ? "," : "", names[c]);
      if (c == 11 || c == 15 || (c == 7 && v[0]))
        rf_buf_puts(out, v);
      else if (c == 12)
        rf_buf_puts(out, v[0] == 't' ? "true" : "false");
      else if (v[0] == '\0' && (c == 6 || c == 7 || c >= 13))
        rf_buf_puts(out, "null");
      else
        rf_buf_json_str(out, v, strlen(v));
    } else if (v[0]) {
      rf_buf_printf(out, "%-12s %s\n", names[c],
                    c == 12 ? (v[0] == 't' ? "yes" : "no") : v);
    }
  }
  if (json)
    rf_buf_puts(out, "}\n");
  PQclear(res);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

int rf_fixes_revoke(PGconn *conn, const char *fix_id, const char *actor, char *err,
                    size_t errlen) {
  char id[65];
  int rc = resolve_id(conn, fix_id, id, err, errlen);
  if (rc)
    return rc;
  const char *params[2] = {id, actor};
  PGresult *res = PQexecParams(conn,
                               "UPDATE rectify.fixes SET revoked = true, revoked_at = now(),"
                               " revoked_by = $2 WHERE fix_id = $1 AND NOT revoked",
                               2, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return query_fail(conn, res, err, errlen);
  rc = atoi(PQcmdTuples(res)) == 1 ? 0 : RF_EEXISTS;
  if (rc)
    snprintf(err, errlen, "fix %s is already revoked", id);
  PQclear(res);
  return rc;
}

/* pipeline.c - intake, windows, clusters, fixes, writer and acks on one loop.
 *
 * Everything here runs on the loop thread; the writer thread is reached only
 * through rf_writer_submit() and answers through its done callback, which
 * libuv runs back on this thread. The life of a message:
 *
 *   on_msgs: skip if held, else intake -> held set -> window
 *   window full or old: detach -> job: cluster -> fix chain per cluster
 *   all clusters answered: outcomes -> rf_flush_t -> writer
 *   writer done(0): ack the flush's ids -> ack done: release from held set
 *
 * Shutdown (drain) pauses the source, flushes every window at once and waits
 * for the held set to empty, bounded by drain_timeout_ms.
 */
#include "rectify/pipeline.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/gen_model.h"
#include "rectify/intake.h"
#include "rectify/log.h"
#include "rectify/outcome.h"
#include "rectify/source.h"
#include "rectify/writer.h"

static _Thread_local int uthash_oom;
#define uthash_malloc(sz) rf_malloc(sz)
#define uthash_free(ptr, sz) rf_free(ptr)
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (uthash_oom = 1)
#include <uthash.h>

typedef struct window {
  char *hkey; /* "table\x1f" "column", or "" for the intake window */
  char *table_name, *column_name;
  rf_anomaly_t **rows;
  size_t n, cap;
  uint64_t opened_ms;
  UT_hash_handle hh;
} window_t;

typedef struct held {
  char *id;
  UT_hash_handle hh;
} held_t;

struct rf_pipeline {
  uv_loop_t *loop;
  const rf_config_t *cfg;
  rf_intake_opts_t intake;
  rf_fixchain_t *chain;
  rf_source_t *source;
  rf_writer_t *writer;
  window_t *windows;
  held_t *held;
  uv_timer_t tick;
  uv_timer_t drain_timer;
  rf_pipeline_stats_t stats;
  uint64_t jobs;       /* windows detached whose flush is not yet handed back */
  bool paused;
  bool flushing;  /* in flush_all: a job that ends inside must not start another */
  bool draining;
  bool drain_timed_out;
  bool sev1;           /* a reconciliation failure: stop acknowledging */
  bool source_closing, source_closed;
  bool writer_closing, writer_closed;
  int handles_open;
  rf_pipeline_drain_cb drain_cb;
  void *drain_arg;
  rf_pipeline_sev1_cb sev1_cb;
  void *sev1_arg;
  char *password;
  unsigned char *audit_key;
  size_t audit_key_len;
  char *test_fail_keys; /* RECTIFY_TEST_FAIL_KEYS (test hook, docs/delivery.md), or NULL */
  bool test_drop_outcome; /* RECTIFY_TEST_DROP_OUTCOME (test hook, docs/operations.md) */
  rf_gen_model_t *embedder; /* the embed clustering stage's client (borrowed), or NULL */
};

typedef struct cluster_result {
  rf_fix_candidate_t *cand;
  char *why;
  rf_gate_verdict_t verdict; /* the pipeline's gate on cand */
  rf_lambda_t *lambda;       /* when the verdict is ok */
  rf_apply_row_t *rows;      /* when applied: one per row of the cluster */
  char fix_id[65];
  bool gated;                /* the pipeline's gate has run on cand */
  bool rerun;                /* split back: run the fix chain on this sub-cluster alone */
  char *merge;               /* owned: why this cluster is (or was part of) a merge,
                              * for the quarantine detail; NULL when never merged */
} cluster_result_t;

/* Fixes are applied on the loop when small, else on the thread pool. */
#define RF_APPLY_INLINE_ROWS 512

typedef struct job {
  rf_pipeline_t *p;
  window_t *w;               /* detached window: owns its anomalies */
  rf_clustering_t clusters;
  cluster_result_t *results;
  size_t pending;
  const rf_contract_t *contract; /* the window's column contract, or NULL */
  rf_checker_t *checker;
  bool canceled;             /* a generator was canceled (shutdown): leave it unacked */
  uv_work_t work;
  int apply_rc;
  double embed_threshold;    /* while the window waits for its embeddings */
} job_t;

typedef struct cluster_call {
  job_t *job;
  size_t index;
} cluster_call_t;

static void check_drained(rf_pipeline_t *p);

const char *const rf_pipeline_reasons[] = {
    RF_REASON_MALFORMED,         RF_REASON_OVERSIZE,        RF_REASON_INVALID_UTF8,
    RF_REASON_NO_FIX,            RF_REASON_POISON,          RF_REASON_LOW_CONFIDENCE,
    RF_REASON_FAILED_VALIDATION, RF_REASON_APPLY_ERROR,     RF_REASON_INVALID_OUTPUT,
    RF_REASON_MODEL_UNAVAILABLE, "other",                   NULL};

static void count_reason(rf_pipeline_t *p, const char *reason) {
  size_t i = 0;
  while (rf_pipeline_reasons[i + 1] && strcmp(rf_pipeline_reasons[i], reason) != 0)
    i++;
  p->stats.quarantined_by_reason[i]++;
}

static uint64_t now_ms(rf_pipeline_t *p) { return uv_now(p->loop); }

/* ---- held set and backpressure ------------------------------------------ */

static void flush_all(rf_pipeline_t *p, bool only_due);

static void update_backpressure(rf_pipeline_t *p) {
  uint64_t max = (uint64_t)p->cfg->max_inflight_rows;
  if (p->draining || p->sev1) {
    if (!p->paused && p->source) {
      p->source->ops->pause(p->source);
      p->paused = true;
    }
    return;
  }
  if (!p->paused && p->stats.inflight >= max) {
    p->source->ops->pause(p->source);
    p->paused = true;
  } else if (p->paused && p->stats.inflight <= max * 3 / 4) {
    p->source->ops->resume(p->source);
    p->paused = false;
  }
  if (p->paused && !p->flushing && p->jobs == 0 && p->stats.windows_open > 0 && p->writer &&
      rf_writer_pending_rows(p->writer) <= (size_t)p->cfg->txn_max_rows) {
    /* Intake stays paused because of the rows the open windows hold, and
     * the writer is down to its last transaction. The windows cannot grow
     * until intake resumes, so waiting for their age would only leave the
     * writer idle (and with max_inflight_rows below windows x
     * window_max_rows, stall intake for window_ms each time): flush them. */
    flush_all(p, false);
  }
}

/* rf_source_t.holds: the message is held (it is on its way to an outcome). */
static bool holds_msg(const char *id, void *arg) {
  rf_pipeline_t *p = arg;
  held_t *h;
  HASH_FIND_STR(p->held, id, h);
  return h != NULL;
}

static void release_ids(rf_pipeline_t *p, rf_flush_t *f) {
  for (size_t i = 0; i < f->n; i++) {
    held_t *h;
    const char *id = f->rows[i].source_id;
    HASH_FIND_STR(p->held, id, h);
    if (h) {
      HASH_DEL(p->held, h);
      rf_free(h->id);
      rf_free(h);
    }
  }
  p->stats.inflight -= f->n;
}

/* ---- windows ------------------------------------------------------------ */

static void window_free(window_t *w) {
  if (w == NULL)
    return;
  for (size_t i = 0; i < w->n; i++) {
    rf_anomaly_clear(w->rows[i]);
    rf_free(w->rows[i]);
  }
  rf_free(w->rows);
  rf_free(w->hkey);
  rf_free(w->table_name);
  rf_free(w->column_name);
  rf_free(w);
}

static window_t *window_get(rf_pipeline_t *p, const char *table_name, const char *column_name) {
  char key[2 * 128 + 2];
  if (table_name)
    snprintf(key, sizeof(key), "%s\x1f%s", table_name, column_name);
  else
    key[0] = '\0';
  window_t *w;
  HASH_FIND_STR(p->windows, key, w);
  if (w)
    return w;
  if ((w = rf_calloc(1, sizeof(*w))) == NULL || (w->hkey = rf_strdup(key)) == NULL ||
      (table_name && (w->table_name = rf_strdup(table_name)) == NULL) ||
      (column_name && (w->column_name = rf_strdup(column_name)) == NULL)) {
    window_free(w);
    return NULL;
  }
  w->opened_ms = now_ms(p);
  uthash_oom = 0;
  HASH_ADD_KEYPTR(hh, p->windows, w->hkey, strlen(w->hkey), w);
  if (uthash_oom) {
    window_free(w);
    return NULL;
  }
  p->stats.windows_open++;
  return w;
}

/* ---- outcomes ----------------------------------------------------------- */

/* Moves the anomaly's identity and payload into a new quarantine outcome. */
static int quarantine_outcome(rf_flush_t *f, rf_anomaly_t *a, const rf_cluster_t *c,
                              const char *reason, const char *detail) {
  rf_outcome_t *o = rf_flush_add(f);
  if (o == NULL)
    return RF_ENOMEM;
  o->kind = RF_OUTCOME_QUARANTINED;
  o->key = a->key, a->key = NULL;
  o->source = a->source, a->source = NULL;
  o->source_id = a->source_id, a->source_id = NULL;
  o->table_name = a->table_name, a->table_name = NULL;
  o->column_name = a->column_name, a->column_name = NULL;
  o->pk_json = a->pk_json, a->pk_json = NULL;
  o->pk_hash = a->pk_hash, a->pk_hash = NULL;
  o->old_value = a->value, a->value = NULL;
  o->row_json = a->row_json, a->row_json = NULL;
  o->raw = a->raw, a->raw = NULL;
  o->raw_len = a->raw_len;
  o->reason = rf_strdup(reason);
  o->detail = detail ? rf_strdup(detail) : NULL;
  if (c) {
    o->fingerprint = rf_strdup(c->fingerprint);
    o->cluster_id = rf_strdup(c->id);
  }
  if (!o->reason || (detail && !o->detail) || (c && (!o->fingerprint || !o->cluster_id)))
    return RF_ENOMEM;
  return 0;
}

/* Records on o which fix produced (or was tried for) it. */
static int fix_outcome(rf_outcome_t *o, const rf_fix_candidate_t *cand, const char *fix_id) {
  if ((cand->lambda_src && (o->lambda_src = rf_strdup(cand->lambda_src)) == NULL) ||
      (cand->generator && (o->generator = rf_strdup(cand->generator)) == NULL) ||
      (cand->model && (o->model = rf_strdup(cand->model)) == NULL) ||
      (fix_id && fix_id[0] && (o->fix_id = rf_strdup(fix_id)) == NULL))
    return RF_ENOMEM;
  o->confidence = cand->confidence;
  o->has_confidence = true;
  return 0;
}

/* A quarantine outcome for a row whose fix was refused or failed on it. */
static int refused_outcome(rf_flush_t *f, rf_anomaly_t *a, const rf_cluster_t *c,
                           const rf_fix_candidate_t *cand, const char *fix_id, const char *reason,
                           const char *detail) {
  int rc = quarantine_outcome(f, a, c, reason, detail);
  if (rc)
    return rc;
  rf_outcome_t *o = &f->rows[f->n - 1];
  if ((rc = fix_outcome(o, cand, fix_id)))
    return rc;
  if (cand->raw_answer && (o->model_answer = rf_strdup(cand->raw_answer)) == NULL)
    return RF_ENOMEM;
  return 0;
}

/* A FIXED outcome: the anomaly's identity, the fix, and the new value (taken
 * from r). */
static int fixed_outcome(rf_flush_t *f, rf_anomaly_t *a, const rf_cluster_t *c,
                         const rf_fix_candidate_t *cand, const char *fix_id, rf_apply_row_t *r) {
  int rc = quarantine_outcome(f, a, c, RF_REASON_NO_FIX, NULL);
  if (rc)
    return rc;
  rf_outcome_t *o = &f->rows[f->n - 1];
  o->kind = RF_OUTCOME_FIXED;
  rf_free(o->reason);
  o->reason = NULL;
  o->new_value = r->new_value;
  r->new_value = NULL;
  return fix_outcome(o, cand, fix_id);
}

/* ---- writer ------------------------------------------------------------- */

static void on_acked(rf_source_t *s, size_t n, int status, void *arg) {
  rf_flush_t *f = arg;
  rf_pipeline_t *p = s->arg;
  (void)n;
  if (status == 0)
    p->stats.acked += f->n;
  else
    rf_log(RF_LOG_WARN, "pipeline", "ack failed batch=%s rows=%zu error=\"%s\"; they stay "
           "pending and are recognised as duplicates when redelivered",
           f->batch_id ? f->batch_id : "?", f->n, rf_strerror(status));
  release_ids(p, f);
  rf_flush_free(f);
  update_backpressure(p);
  check_drained(p);
}

/* A Sev-1: count it, tell the daemon (CRIT log, alert), and stop reading and
 * acknowledging. The messages concerned stay held, so they are never acked
 * by this process and come back after the operator restarts it. */
static void sev1(rf_pipeline_t *p, int status, size_t rows, const char *source) {
  const char *what_failed =
      status == RF_ECORRUPT ? "audit append failed" : "reconciliation failed";
  if (status == RF_ECORRUPT)
    p->stats.audit_failures++;
  else
    p->stats.reconcile_failures++;
  p->sev1 = true;
  rf_log(RF_LOG_CRIT, "pipeline", "SEV-1 %s rows=%zu source=%s; acknowledging stops until an "
         "operator restarts the daemon", what_failed, rows, source);
  if (p->sev1_cb) {
    char what[256];
    snprintf(what, sizeof(what), "%s for a batch of %zu rows from %s", what_failed, rows, source);
    p->sev1_cb(p, what, p->sev1_arg);
  }
  update_backpressure(p);
}

static void on_written(rf_flush_t *f, int status, void *arg) {
  rf_pipeline_t *p = arg;
  p->jobs--;
  if (status != 0) {
    if (status == RF_ERECONCILE || status == RF_ECORRUPT) {
      sev1(p, status, f->n, f->source);
      /* The messages stay held (never acked) so nothing more is read. */
      rf_flush_free(f);
      check_drained(p);
      return;
    }
    /* Handed back unwritten at shutdown: not acknowledged, redelivered later. */
    rf_log(RF_LOG_WARN, "pipeline", "flush not committed rows=%zu error=\"%s\"; left "
           "unacknowledged for redelivery", f->n, rf_strerror(status));
    release_ids(p, f);
    rf_flush_free(f);
    check_drained(p);
    return;
  }
  p->stats.batches++;
  for (size_t i = 0; i < f->n; i++) {
    const rf_outcome_t *o = &f->rows[i];
    if (o->duplicate)
      p->stats.duplicates++;
    else if (o->kind == RF_OUTCOME_FIXED)
      p->stats.fixed++;
    else {
      p->stats.quarantined++;
      count_reason(p, o->reason ? o->reason : "other");
    }
  }
  p->stats.committed += f->n - f->n_duplicates;
  const char *seq = f->batch_id ? strrchr(f->batch_id, ':') : NULL;
  if (seq)
    p->stats.chain_seq = strtoull(seq + 1, NULL, 10);
  if (p->sev1) {
    rf_flush_free(f);
    return;
  }
  const char **ids = rf_malloc((f->n ? f->n : 1) * sizeof(*ids));
  if (ids == NULL) {
    rf_log(RF_LOG_ERR, "pipeline", "out of memory acknowledging batch=%s; left pending",
           f->batch_id);
    release_ids(p, f);
    rf_flush_free(f);
    check_drained(p);
    return;
  }
  for (size_t i = 0; i < f->n; i++)
    ids[i] = f->rows[i].source_id;
  int rc = p->source->ops->ack(p->source, ids, f->n, on_acked, f);
  rf_free(ids);
  if (rc) {
    rf_log(RF_LOG_ERR, "pipeline", "ack failed batch=%s error=\"%s\"; left pending", f->batch_id,
           rf_strerror(rc));
    release_ids(p, f);
    rf_flush_free(f);
    check_drained(p);
  }
}

/* ---- jobs: a detached window on its way to the writer --------------------- */

static void job_free(job_t *j) {
  if (j->results)
    for (size_t i = 0; i < j->clusters.n; i++) {
      cluster_result_t *res = &j->results[i];
      rf_fix_candidate_free(res->cand);
      rf_free(res->why);
      rf_lambda_free(res->lambda);
      rf_free(res->merge);
      if (res->rows)
        for (size_t r = 0; r < j->clusters.clusters[i].n; r++)
          rf_apply_row_clear(&res->rows[r]);
      rf_free(res->rows);
    }
  rf_free(j->results);
  rf_checker_free(j->checker);
  rf_clustering_free(&j->clusters);
  window_free(j->w);
  rf_free(j);
}

static void job_fail(job_t *j, int rc) {
  rf_pipeline_t *p = j->p;
  if (rc == RF_ERECONCILE) {
    sev1(p, rc, j->w->n, p->source ? p->source->name : "?");
    p->jobs--;
    job_free(j); /* its ids stay held: never acknowledged by this process */
    check_drained(p);
    return;
  }
  /* Nothing of this window can be committed now: leave it unacknowledged. It
   * is redelivered (pending re-read after reconnect or restart). */
  rf_log(RF_LOG_ERR, "pipeline", "window dropped unacknowledged rows=%zu error=\"%s\"", j->w->n,
         rf_strerror(rc));
  for (size_t i = 0; i < j->w->n; i++) {
    held_t *h;
    HASH_FIND_STR(p->held, j->w->rows[i]->source_id, h);
    if (h) {
      HASH_DEL(p->held, h);
      rf_free(h->id);
      rf_free(h);
    }
  }
  p->stats.inflight -= j->w->n;
  p->jobs--;
  job_free(j);
  update_backpressure(p);
  check_drained(p);
}

/* The quarantine detail of a row whose cluster is or was a merge: detail,
 * then the merge's explanation (rf_cluster_explain_json), into *b. Returns 0
 * (b->data is then the text, or NULL when detail is NULL and there is no
 * merge) or RF_ENOMEM. */
static int with_merge(rf_buf_t *b, const char *detail, const char *merge) {
  rf_buf_reset(b);
  if (detail == NULL && merge == NULL) {
    rf_buf_free(b);
    return 0;
  }
  rf_buf_puts(b, detail ? detail : "");
  if (merge)
    rf_buf_printf(b, "%s%s", detail && detail[0] ? "; " : "", merge);
  return rf_buf_ok(b) ? 0 : RF_ENOMEM;
}

/* The explanations of the window's merged clusters ("merged cluster: [...]",
 * "split back ...: [...]"), as a JSON array of strings for the batch's audit
 * entry (f->merges_json stays NULL when none merged). */
static int merges_json(const job_t *j, rf_flush_t *f) {
  rf_buf_t b = RF_BUF_INIT;
  if (j->results == NULL)
    return 0;
  for (size_t k = 0; k < j->clusters.n; k++) {
    const char *m = j->results[k].merge;
    if (m == NULL)
      continue;
    rf_buf_putc(&b, b.len ? ',' : '[');
    rf_buf_json_str(&b, m, strlen(m)); /* a sentence with the explanation in it */
  }
  if (b.len == 0)
    return 0;
  rf_buf_putc(&b, ']');
  if ((f->merges_json = rf_buf_steal(&b)) == NULL)
    return RF_ENOMEM;
  return 0;
}

static void job_finish(job_t *j) {
  rf_pipeline_t *p = j->p;
  window_t *w = j->w;
  int rc = RF_ENOMEM;
  rf_flush_t *f = NULL;
  rf_buf_t detail = {0};
  if (p->writer == NULL || p->source == NULL) { /* answered after shutdown: redelivered */
    rc = RF_ECANCELED;
    goto err;
  }
  if ((f = rf_flush_new(p->source->name, w->table_name, w->column_name)) == NULL)
    goto err;
  f->json_canonical = true; /* intake canonicalised pk and row */
  if ((rc = merges_json(j, f)))
    goto err;
  rc = RF_ENOMEM;
  f->opened_us = (int64_t)w->opened_ms * 1000;
  f->flushed_us = (int64_t)now_ms(p) * 1000;
  if (w->table_name == NULL) {
    for (size_t i = 0; i < w->n; i++)
      if ((rc = quarantine_outcome(f, w->rows[i], NULL, w->rows[i]->reject,
                                   w->rows[i]->reject_detail)))
        goto err;
  } else {
    for (size_t k = 0; k < j->clusters.n; k++) {
      const rf_cluster_t *c = &j->clusters.clusters[k];
      cluster_result_t *res = &j->results[k];
      if (res->cand != NULL && res->rows != NULL) {
        /* Applied: each row fixed, or quarantined alone (apply_error,
         * invalid_output). */
        for (size_t i = 0; i < c->n; i++) {
          rf_apply_row_t *r = &res->rows[i];
          if (r->fixed)
            rc = fixed_outcome(f, c->rows[i], c, res->cand, res->fix_id, r);
          else if ((rc = with_merge(&detail, r->detail, res->merge)) == 0)
            rc = refused_outcome(f, c->rows[i], c, res->cand, res->fix_id, r->reason,
                                 detail.data);
          if (rc)
            goto err;
        }
        continue;
      }
      if (res->cand != NULL) {
        /* Refused by the gate: the whole cluster, with the raw answer kept. */
        if ((rc = with_merge(&detail, res->verdict.detail, res->merge)))
          goto err;
        for (size_t i = 0; i < c->n; i++)
          if ((rc = refused_outcome(f, c->rows[i], c, res->cand, res->fix_id,
                                    res->verdict.reason, detail.data)))
            goto err;
        continue;
      }
      const char *why = res->why ? res->why : "no fix generator proposed a fix";
      const char *reason =
          rf_gen_model_is_unavailable(why) ? RF_REASON_MODEL_UNAVAILABLE : RF_REASON_NO_FIX;
      if ((rc = with_merge(&detail, why, res->merge)))
        goto err;
      for (size_t i = 0; i < c->n; i++)
        if ((rc = quarantine_outcome(f, c->rows[i], c, reason, detail.data)))
          goto err;
    }
  }
  if (p->test_drop_outcome && f->n > 0) { /* test hook: a lost outcome, once */
    p->test_drop_outcome = false;
    rf_outcome_clear(&f->rows[--f->n]);
  }
  if (f->n != w->n) {
    rc = RF_ERECONCILE;
    rf_log(RF_LOG_CRIT, "pipeline", "SEV-1 window of %zu messages produced %zu outcomes", w->n,
           f->n);
    goto err;
  }
  if ((rc = rf_writer_submit(p->writer, f)))
    goto err;
  rf_buf_free(&detail);
  job_free(j);
  return;
err:
  rf_buf_free(&detail);
  rf_flush_free(f);
  job_fail(j, rc);
}

/* Thread pool: applies every accepted fix of the job (one lambda ctx for the
 * whole job, i.e. per worker thread while it runs). */
static void apply_work(uv_work_t *req) {
  job_t *j = req->data;
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  j->apply_rc = ctx ? 0 : RF_ENOMEM;
  for (size_t k = 0; k < j->clusters.n && j->apply_rc == 0; k++) {
    cluster_result_t *res = &j->results[k];
    const rf_cluster_t *c = &j->clusters.clusters[k];
    if (res->lambda == NULL)
      continue;
    if ((res->rows = rf_calloc(c->n ? c->n : 1, sizeof(*res->rows))) == NULL)
      j->apply_rc = RF_ENOMEM;
    else if ((j->apply_rc = rf_apply_rows(res->lambda, j->checker, c->rows, c->n, ctx,
                                          res->rows)) != 0) {
      rf_free(res->rows);
      res->rows = NULL;
    }
  }
  rf_lambda_ctx_free(ctx);
}

static void apply_done(uv_work_t *req, int status) {
  job_t *j = req->data;
  if (status == 0 && j->apply_rc == 0)
    job_finish(j);
  else
    job_fail(j, status ? RF_ECANCELED : j->apply_rc);
}

static void on_fix(int status, rf_fix_candidate_t *cand, const char *why_none, void *arg);

/* Runs the pipeline's gate on cluster k's candidate, once. Returns 0 or an
 * error for job_fail. */
static int gate_result(job_t *j, size_t k) {
  rf_pipeline_t *p = j->p;
  cluster_result_t *res = &j->results[k];
  const rf_cluster_t *c = &j->clusters.clusters[k];
  int rc;
  char err[256];
  if (res->cand == NULL || res->gated)
    return 0;
  res->gated = true;
  if (c->n_subs >= 2 && res->merge == NULL) {
    rf_buf_t merge = RF_BUF_INIT;
    rf_buf_puts(&merge, "merged cluster: ");
    rf_cluster_explain_json(c, &merge);
    if (!rf_buf_ok(&merge)) {
      rf_buf_free(&merge);
      return RF_ENOMEM;
    }
    res->merge = rf_buf_steal(&merge);
  }
  if (j->checker == NULL && j->contract &&
      (rc = rf_checker_new(j->contract, &j->checker, err, sizeof(err))) != 0 && rc != RF_EINVAL)
    return rc;
  if (res->cand->fix_id)
    snprintf(res->fix_id, sizeof(res->fix_id), "%s", res->cand->fix_id);
  else if (res->cand->lambda_src)
    rf_fix_id(j->w->table_name, j->w->column_name, c->fingerprint, res->cand->lambda_src,
              res->fix_id);
  if ((rc = rf_gate_check(res->cand, j->checker, c, p->cfg->model_min_confidence,
                          &res->verdict, &res->lambda)))
    return rc;
  if (!res->verdict.ok && res->cand->lambda_src == NULL && res->cand->reasoning)
    snprintf(res->verdict.detail, sizeof(res->verdict.detail), "no usable answer: %s",
             res->cand->reasoning);
  if (!res->verdict.ok)
    rf_log(RF_LOG_INFO, "pipeline", "fix refused table=%s column=%s fingerprint=%s rows=%zu "
           "generator=%s reason=%s", j->w->table_name, j->w->column_name, c->fingerprint, c->n,
           res->cand->generator ? res->cand->generator : "?", res->verdict.reason);
  return 0;
}

static rf_fix_candidate_t *cand_dup(const rf_fix_candidate_t *c) {
  rf_fix_candidate_t *d = rf_calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->confidence = c->confidence;
  const char *const from[] = {c->lambda_src, c->reasoning, c->pattern_type, c->generator,
                              c->model,      c->fix_id,    c->raw_answer};
  char **to[] = {&d->lambda_src, &d->reasoning, &d->pattern_type, &d->generator,
                 &d->model,      &d->fix_id,    &d->raw_answer};
  for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
    if (from[i] && (*to[i] = rf_strdup(from[i])) == NULL) {
      rf_fix_candidate_free(d);
      return NULL;
    }
  return d;
}

/* The split-back rule (docs/clustering.md): merged cluster k got no fix that
 * serves every one of its sub-clusters, so it is replaced by them and each
 * is handled alone: a sub-cluster whose own samples pass the merged
 * cluster's candidate keeps it, the others are marked to run the fix chain
 * on their own (rerun). No merge can then make a fix worse than no merge.
 * Returns 0 or RF_ENOMEM (j stays consistent for job_fail). */
static int split_back(job_t *j, size_t k) {
  rf_pipeline_t *p = j->p;
  const rf_cluster_t *c = &j->clusters.clusters[k];
  size_t m = c->n_subs, n0 = j->clusters.n, kept = 0;
  rf_buf_t merge = RF_BUF_INIT;
  int rc = RF_ENOMEM;
  char fp[sizeof(c->fingerprint)];
  snprintf(fp, sizeof(fp), "%s", c->fingerprint);
  rf_buf_puts(&merge, "split back from a merged cluster whose fix did not serve every part: ");
  rf_cluster_explain_json(c, &merge);
  if (!rf_buf_ok(&merge))
    goto out;
  cluster_result_t *grown = rf_realloc(j->results, (n0 + m - 1) * sizeof(*grown));
  if (grown == NULL)
    goto out;
  j->results = grown;
  if ((rc = rf_clustering_split(&j->clusters, k)))
    goto out;
  cluster_result_t old = j->results[k];
  memmove(&j->results[k + m], &j->results[k + 1], (n0 - k - 1) * sizeof(*grown));
  memset(&j->results[k], 0, m * sizeof(*grown));
  rf_free(old.why);
  rf_lambda_free(old.lambda);
  rf_free(old.merge);
  rc = 0;
  for (size_t i = 0; i < m && rc == 0; i++) {
    cluster_result_t *res = &j->results[k + i];
    const rf_cluster_t *sub = &j->clusters.clusters[k + i];
    res->rerun = true;
    if ((res->merge = rf_strdup(merge.data)) == NULL) {
      rc = RF_ENOMEM;
      break;
    }
    if (old.cand == NULL || old.cand->lambda_src == NULL)
      continue;
    rf_gate_verdict_t v;
    rf_lambda_t *l = NULL;
    if ((rc = rf_gate_check(old.cand, j->checker, sub, p->cfg->model_min_confidence, &v, &l)))
      break;
    if (!v.ok)
      continue;
    if ((res->cand = cand_dup(old.cand)) == NULL) {
      rf_lambda_free(l);
      rc = RF_ENOMEM;
      break;
    }
    res->verdict = v;
    res->lambda = l;
    res->gated = true;
    res->rerun = false;
    if (old.cand->fix_id)
      snprintf(res->fix_id, sizeof(res->fix_id), "%s", old.cand->fix_id);
    else
      rf_fix_id(j->w->table_name, j->w->column_name, sub->fingerprint, old.cand->lambda_src,
                res->fix_id);
    kept++;
  }
  if (rc == 0)
    rf_log(RF_LOG_INFO, "pipeline", "cluster split back table=%s column=%s fingerprint=%s "
           "subs=%zu kept_fix=%zu rerun=%zu", j->w->table_name, j->w->column_name, fp, m, kept,
           m - kept);
  rf_fix_candidate_free(old.cand);
out:
  rf_buf_free(&merge);
  return rc;
}

/* Every cluster has answered: gate each candidate on its cluster (a merged
 * cluster on every sub-cluster's samples), split back the merged clusters
 * left without a fix and run the fix chain again on their sub-clusters that
 * need it (job_ready runs again when they answer), then apply the accepted
 * fixes (inline when small, else on the thread pool). */
static void job_ready(job_t *j) {
  rf_pipeline_t *p = j->p;
  int rc = 0;
  size_t to_apply = 0;
  bool again;
  do {
    if (j->canceled) {
      job_fail(j, RF_ECANCELED);
      return;
    }
    again = false;
    for (size_t k = 0; k < j->clusters.n; k++)
      if ((rc = gate_result(j, k)))
        goto fail;
    /* From the last down, so that a split never moves a cluster still to be
     * looked at; every split before any rerun starts, so that the cluster
     * array the generators borrow no longer moves. */
    for (size_t k = j->clusters.n; k-- > 0;) {
      const cluster_result_t *res = &j->results[k];
      if (j->clusters.clusters[k].n_subs >= 2 && !(res->cand && res->verdict.ok) &&
          (rc = split_back(j, k)))
        goto fail;
    }
    j->pending = 1; /* held until every rerun is started */
    for (size_t k = 0; k < j->clusters.n; k++) {
      cluster_result_t *res = &j->results[k];
      if (!res->rerun)
        continue;
      res->rerun = false;
      again = true;
      cluster_call_t *call = rf_malloc(sizeof(*call));
      rf_fix_request_t req = {j->w->table_name, j->w->column_name, j->contract,
                              &j->clusters.clusters[k]};
      if (call == NULL) {
        res->why = rf_strdup("out of memory");
        continue;
      }
      *call = (cluster_call_t){j, k};
      j->pending++;
      if ((rc = rf_fixchain_run(p->chain, &req, on_fix, call))) {
        j->pending--;
        rf_free(call);
        res->why = rf_strdup(rf_strerror(rc));
      }
    }
    if (--j->pending != 0)
      return; /* on_fix calls job_ready again when the last rerun answers */
  } while (again);
  for (size_t k = 0; k < j->clusters.n; k++)
    if (j->results[k].cand && j->results[k].verdict.ok)
      to_apply += j->clusters.clusters[k].n;
  j->work.data = j;
  if (to_apply > RF_APPLY_INLINE_ROWS) {
    if ((rc = uv_queue_work(p->loop, &j->work, apply_work, apply_done)) != 0) {
      rc = RF_ENOMEM;
      goto fail;
    }
    return;
  }
  if (to_apply) {
    apply_work(&j->work);
    if ((rc = j->apply_rc))
      goto fail;
  }
  job_finish(j);
  return;
fail:
  job_fail(j, rc);
}

static void on_fix(int status, rf_fix_candidate_t *cand, const char *why_none, void *arg) {
  cluster_call_t *call = arg;
  job_t *j = call->job;
  cluster_result_t *res = &j->results[call->index];
  rf_free(call);
  res->cand = cand;
  if (status == RF_ECANCELED)
    j->canceled = true;
  if (cand == NULL) {
    const char *why = status ? rf_strerror(status) : why_none;
    res->why = why ? rf_strdup(why) : NULL;
  }
  if (--j->pending == 0)
    job_ready(j);
}

/* ---- the embed clustering stage (docs/clustering.md) ---------------------- */

static void window_start(job_t *j);

static void on_embeddings(int status, const float *vecs, size_t dim, const char *why, void *arg) {
  job_t *j = arg;
  rf_clustering_t *c = &j->clusters;
  size_t k = c->n < RF_CLUSTER_EMBED_MAX ? c->n : RF_CLUSTER_EMBED_MAX;
  float *cv = NULL;
  size_t before = c->n;
  int rc = status;
  if (rc == 0 && (cv = rf_calloc(c->n, dim * sizeof(*cv))) == NULL)
    rc = RF_ENOMEM;
  for (size_t i = 0, at = 0; rc == 0 && i < k; i++) {
    rf_cluster_mean_vector(vecs + at * dim, c->clusters[i].n_reps, dim, cv + i * dim);
    at += c->clusters[i].n_reps;
  }
  if (rc == 0)
    rc = rf_cluster_embed_merge(c, cv, dim, j->embed_threshold);
  rf_free(cv);
  if (rc)
    rf_log(RF_LOG_WARN, "pipeline", "embed stage skipped table=%s column=%s clusters=%zu "
           "error=\"%s\"", j->w->table_name, j->w->column_name, c->n,
           why ? why : rf_strerror(rc));
  else
    rf_log(RF_LOG_INFO, "pipeline", "embed stage table=%s column=%s clusters_before=%zu "
           "clusters_after=%zu threshold=%.3f", j->w->table_name, j->w->column_name, before, c->n,
           j->embed_threshold);
  window_start(j);
}

/* Asks for the embeddings of j's clusters' representatives (the first
 * RF_CLUSTER_EMBED_MAX clusters: the plan ignores the rest). Returns true when
 * on_embeddings runs (now or later) and will start the window; false when the
 * stage is skipped (no model, breaker open, out of memory): the caller goes on
 * with the non-semantic clusters at once. */
static bool embed_start(job_t *j) {
  rf_pipeline_t *p = j->p;
  rf_clustering_t *c = &j->clusters;
  size_t k = c->n < RF_CLUSTER_EMBED_MAX ? c->n : RF_CLUSTER_EMBED_MAX, n = 0;
  if (p->embedder == NULL) {
    p->stats.embed_skipped++;
    rf_log(RF_LOG_WARN, "pipeline", "embed stage skipped table=%s column=%s: no [model] url "
           "is configured", j->w->table_name, j->w->column_name);
    return false;
  }
  for (size_t i = 0; i < k; i++)
    n += c->clusters[i].n_reps;
  const char **vals = rf_calloc(n ? n : 1, sizeof(*vals));
  size_t *lens = rf_calloc(n ? n : 1, sizeof(*lens));
  int rc = RF_ENOMEM;
  if (vals && lens) {
    n = 0;
    for (size_t i = 0; i < k; i++)
      for (size_t r = 0; r < c->clusters[i].n_reps; r++, n++) {
        vals[n] = c->clusters[i].reps[r]->value;
        lens[n] = c->clusters[i].reps[r]->value_len;
      }
    rc = rf_gen_model_embed(p->embedder, p->cfg->embed_model, vals, lens, n, on_embeddings, j);
  }
  rf_free(vals);
  rf_free(lens);
  if (rc < 0)
    rf_log(RF_LOG_WARN, "pipeline", "embed stage skipped table=%s column=%s clusters=%zu "
           "error=\"%s\"", j->w->table_name, j->w->column_name, c->n, rf_strerror(rc));
  return rc >= 0;
}

void rf_pipeline_set_embedder(rf_pipeline_t *p, rf_gen_model_t *g) { p->embedder = g; }

static void window_flush(rf_pipeline_t *p, window_t *w) {
  HASH_DEL(p->windows, w);
  p->stats.windows_open--;
  job_t *j = rf_calloc(1, sizeof(*j));
  if (j == NULL) {
    job_t tmp = {.p = p, .w = w};
    p->jobs++;
    job_t *heap = rf_malloc(sizeof(*heap));
    if (heap) {
      *heap = tmp;
      job_fail(heap, RF_ENOMEM);
    } else {
      /* Cannot even say goodbye: release ids so drain finishes. */
      p->stats.inflight -= w->n;
      p->jobs--;
      window_free(w);
    }
    return;
  }
  j->p = p;
  j->w = w;
  p->jobs++;
  if (w->table_name == NULL) {
    job_finish(j);
    return;
  }
  /* The column's clustering chain, else the global one (both validated at
   * load time, so a parse error here is a config that bypassed the loader). */
  const rf_contract_t *contract = rf_config_contract(p->cfg, w->table_name, w->column_name);
  const char *spec = contract && contract->cluster ? contract->cluster
                     : p->cfg->cluster_chain      ? p->cfg->cluster_chain
                                                  : RF_CLUSTER_CHAIN_DEFAULT;
  rf_cluster_chain_t chain;
  char cerr[200];
  double embed_t = p->cfg->embed_threshold > 0 ? p->cfg->embed_threshold
                                                : RF_CLUSTER_EMBED_THRESHOLD_DEFAULT;
  int rc = rf_cluster_chain_parse(spec, embed_t, &chain, cerr, sizeof(cerr));
  if (rc)
    rf_log(RF_LOG_ERR, "pipeline", "bad cluster chain table=%s column=%s chain=\"%s\" error=\"%s\"",
           w->table_name, w->column_name, spec, cerr);
  if (rc == 0 && contract == NULL && (chain.n > 1 || chain.embed)) {
    /* Without a contract no generator can prove a fix, so the clusters only
     * group quarantined rows: merging them (to share one fix) would be
     * undone by the split-back rule, after asking every generator twice
     * and, with an embed stage, the model for embeddings. */
    chain.n = 1;
    chain.embed = false;
  }
  if (rc == 0)
    rc = rf_cluster_chain_build(&chain, w->table_name, w->column_name, w->rows, w->n,
                                &j->clusters);
  j->contract = contract;
  if (rc == 0 && chain.embed && j->clusters.n >= 2) {
    j->embed_threshold = chain.embed_threshold;
    if (embed_start(j))
      return; /* window_start runs when the embeddings are in */
  }
  if (rc) {
    job_fail(j, rc);
    return;
  }
  window_start(j);
}

/* Starts the fix chain of every cluster of j. */
static void window_start(job_t *j) {
  rf_pipeline_t *p = j->p;
  window_t *w = j->w;
  const rf_contract_t *contract = j->contract;
  int rc = 0;
  if ((j->results = rf_calloc(j->clusters.n ? j->clusters.n : 1, sizeof(*j->results))) == NULL) {
    job_fail(j, RF_ENOMEM);
    return;
  }
  j->pending = 1; /* held until every cluster is started */
  for (size_t k = 0; k < j->clusters.n; k++) {
    cluster_call_t *call = rf_malloc(sizeof(*call));
    rf_fix_request_t req = {w->table_name, w->column_name, contract, &j->clusters.clusters[k]};
    if (call == NULL) {
      j->results[k].why = rf_strdup("out of memory");
      continue;
    }
    *call = (cluster_call_t){j, k};
    j->pending++;
    if ((rc = rf_fixchain_run(p->chain, &req, on_fix, call))) {
      j->pending--;
      rf_free(call);
      j->results[k].why = rf_strdup(rf_strerror(rc));
    }
  }
  if (--j->pending == 0)
    job_ready(j);
}

static void flush_all(rf_pipeline_t *p, bool only_due) {
  window_t *w, *tmp;
  uint64_t now = now_ms(p);
  bool outer = !p->flushing;
  p->flushing = true;
  HASH_ITER(hh, p->windows, w, tmp) {
    if (!only_due || now - w->opened_ms >= (uint64_t)p->cfg->window_ms)
      window_flush(p, w);
  }
  if (outer)
    p->flushing = false;
}

static void on_tick(uv_timer_t *t) {
  rf_pipeline_t *p = t->data;
  flush_all(p, !p->draining);
  check_drained(p);
}

/* ---- intake ------------------------------------------------------------- */

/* The "always fails" test hook: key is one of the comma-separated keys of
 * RECTIFY_TEST_FAIL_KEYS. Such a message is dropped at intake as if its
 * processing had crashed: never acknowledged, so it is redelivered. */
static bool test_hook_fails(const rf_pipeline_t *p, const char *key) {
  size_t kl = key ? strlen(key) : 0;
  for (const char *c = p->test_fail_keys; key && *c;) {
    const char *end = strchr(c, ',');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == kl && memcmp(c, key, n) == 0)
      return true;
    c += n + (end != NULL);
  }
  return false;
}

static void on_msgs(rf_source_t *s, const rf_msg_t *msgs, size_t n, void *arg) {
  rf_pipeline_t *p = arg;
  (void)s;
  for (size_t i = 0; i < n; i++) {
    const rf_msg_t *m = &msgs[i];
    if (holds_msg(m->id, p))
      continue; /* redelivered while we still hold it: the held copy decides */
    rf_anomaly_t *a = rf_malloc(sizeof(*a));
    if (a == NULL || rf_intake_parse(&p->intake, s->name, m->id, m->data ? m->data : "",
                                     m->data ? m->len : 0, a) != 0) {
      rf_free(a);
      rf_log(RF_LOG_ERR, "pipeline", "out of memory at intake id=%s; left pending", m->id);
      continue;
    }
    a->deliveries = m->deliveries;
    if (m->problem) {
      a->reject = RF_REASON_MALFORMED;
      rf_free(a->reject_detail);
      a->reject_detail = rf_strdup(m->problem);
    }
    if (!a->reject && s->ops->counts_deliveries &&
        m->deliveries > (uint32_t)p->cfg->max_deliveries) {
      /* Delivered this often without an outcome: whatever keeps failing on
       * it, it now gets one (quarantine) instead of failing forever. */
      char detail[160];
      snprintf(detail, sizeof(detail), "delivered %" PRIu32 " times without an outcome "
               "(max_deliveries=%d)", m->deliveries, p->cfg->max_deliveries);
      a->reject = RF_REASON_POISON;
      rf_free(a->reject_detail);
      a->reject_detail = rf_strdup(detail);
      rf_log(RF_LOG_WARN, "pipeline", "poison message quarantined id=%s deliveries=%" PRIu32,
             m->id, m->deliveries);
    } else if (p->test_fail_keys && test_hook_fails(p, a->key)) {
      rf_log(RF_LOG_WARN, "pipeline", "test hook RECTIFY_TEST_FAIL_KEYS: processing failed, "
             "left unacknowledged id=%s deliveries=%" PRIu32, m->id, m->deliveries);
      rf_anomaly_clear(a);
      rf_free(a);
      continue;
    }
    window_t *w = window_get(p, a->reject ? NULL : a->table_name, a->column_name);
    held_t *h = rf_calloc(1, sizeof(*h));
    if (w == NULL || h == NULL || (h->id = rf_strdup(m->id)) == NULL) {
      if (h)
        rf_free(h->id);
      rf_free(h);
      rf_anomaly_clear(a);
      rf_free(a);
      rf_log(RF_LOG_ERR, "pipeline", "out of memory at intake id=%s; left pending", m->id);
      continue;
    }
    if (w->n == w->cap) {
      size_t cap = w->cap ? w->cap * 2 : 64;
      rf_anomaly_t **rows = rf_realloc(w->rows, cap * sizeof(*rows));
      if (rows == NULL) {
        rf_free(h->id);
        rf_free(h);
        rf_anomaly_clear(a);
        rf_free(a);
        continue;
      }
      w->rows = rows;
      w->cap = cap;
    }
    uthash_oom = 0;
    HASH_ADD_KEYPTR(hh, p->held, h->id, strlen(h->id), h);
    if (uthash_oom) {
      rf_free(h->id);
      rf_free(h);
      rf_anomaly_clear(a);
      rf_free(a);
      continue;
    }
    w->rows[w->n++] = a;
    p->stats.received++;
    p->stats.inflight++;
    if (w->n >= (size_t)p->cfg->window_max_rows)
      window_flush(p, w);
  }
  if (p->draining) /* what was on its way when the drain began: one batch per window */
    flush_all(p, false);
  update_backpressure(p);
}

/* ---- lifecycle ---------------------------------------------------------- */

int rf_pipeline_new(uv_loop_t *loop, const rf_config_t *cfg, rf_fixchain_t *chain,
                    rf_pipeline_t **out) {
  rf_pipeline_t *p = rf_calloc(1, sizeof(*p));
  if (p == NULL)
    return RF_ENOMEM;
  p->loop = loop;
  p->cfg = cfg;
  p->chain = chain;
  rf_intake_opts_from_config(&p->intake, cfg);
  uv_timer_init(loop, &p->tick);
  uv_timer_init(loop, &p->drain_timer);
  p->tick.data = p;
  p->drain_timer.data = p;
  p->handles_open = 2;
  *out = p;
  return 0;
}

/* Creates and starts the configured source (docs/delivery.md). */
static int start_source(rf_pipeline_t *p, const char *redis_password, char *errbuf,
                        size_t errlen) {
  const rf_config_t *cfg = p->cfg;
  int rc;
  const char *drop = getenv("RECTIFY_TEST_DROP_OUTCOME");
  if (drop && drop[0] == '1') {
    p->test_drop_outcome = true;
    rf_log(RF_LOG_WARN, "pipeline", "TEST HOOK active: RECTIFY_TEST_DROP_OUTCOME=1 (the first "
           "window loses one outcome: a Sev-1)");
  }
  const char *hook = getenv("RECTIFY_TEST_FAIL_KEYS");
  if (hook && hook[0]) {
    if ((p->test_fail_keys = rf_strdup(hook)) == NULL)
      return RF_ENOMEM;
    rf_log(RF_LOG_WARN, "pipeline", "TEST HOOK active: RECTIFY_TEST_FAIL_KEYS=%s", hook);
  }
  if (strcmp(cfg->source, "kafka") == 0) {
    const char *delay = getenv("RECTIFY_TEST_COMMIT_DELAY_MS");
    int delay_ms = delay && delay[0] ? atoi(delay) : 0;
    if (delay_ms > 0)
      rf_log(RF_LOG_WARN, "pipeline", "TEST HOOK active: RECTIFY_TEST_COMMIT_DELAY_MS=%d",
             delay_ms);
    /* A revocation waits for what is in windows and the writer. */
    int wait_ms = cfg->window_ms + 5000;
    rf_kafka_source_config_t kc = {
        .brokers = cfg->kafka_brokers,
        .topic = cfg->kafka_topic,
        .group = cfg->kafka_group,
        .props = cfg->kafka_props,
        .n_props = cfg->n_kafka_props,
        .conf_path = cfg->path,
        .read_count = 1000,
        .revoke_wait_ms = wait_ms > 30000 ? 30000 : wait_ms,
        .commit_delay_ms = delay_ms,
    };
    if ((rc = rf_source_kafka_new(p->loop, &kc, on_msgs, p, &p->source, errbuf, errlen)))
      return rc;
  } else {
    /* Consumer names must be unique among running instances. The default
     * (instance_name, itself defaulting to the host name) is kept when the
     * operator chose an instance name: stable across restarts, so a restart
     * re-reads its own pending entries at once. When it is just the host
     * name, two instances on one host would share it, so the pid is added;
     * a restarted instance then takes over its predecessor's entries by
     * XCLAIM after claim_idle_ms. */
    char host[256], consumer[320];
    const char *name = cfg->redis_consumer;
    if (gethostname(host, sizeof(host)) == 0) {
      host[sizeof(host) - 1] = '\0';
      if (strcmp(name, host) == 0) {
        snprintf(consumer, sizeof(consumer), "%s-%ld", host, (long)getpid());
        name = consumer;
      }
    }
    rf_redis_source_config_t rc_cfg = {
        .host = cfg->redis_host,
        .port = cfg->redis_port,
        .password = redis_password,
        .stream = cfg->redis_stream,
        .group = cfg->redis_group,
        .consumer = name,
        .field = cfg->redis_field,
        .read_count = cfg->redis_read_count,
        .block_ms = cfg->redis_block_ms,
        .claim_idle_ms = cfg->redis_claim_idle_ms,
        .claim_interval_ms = cfg->redis_claim_interval_ms,
    };
    if ((rc = rf_source_redis_new(p->loop, &rc_cfg, on_msgs, p, &p->source))) {
      snprintf(errbuf, errlen, "cannot create the redis source: %s", rf_strerror(rc));
      return rc;
    }
    rf_log(RF_LOG_INFO, "pipeline", "redis consumer=%s group=%s stream=%s", name,
           cfg->redis_group, cfg->redis_stream);
  }
  p->source->holds = holds_msg;
  if ((rc = p->source->ops->start(p->source))) {
    snprintf(errbuf, errlen, "cannot start the %s source: %s", p->source->ops->kind,
             rf_strerror(rc));
    return rc;
  }
  return 0;
}

int rf_pipeline_start(rf_pipeline_t *p, char *errbuf, size_t errlen) {
  const rf_config_t *cfg = p->cfg;
  int rc;
  if (cfg->pg_password_file && cfg->pg_password_file[0] &&
      (p->password = rf_config_read_secret(cfg->pg_password_file, NULL, errbuf, errlen)) == NULL)
    return RF_ECONFIG;
  if (cfg->audit_key_file && cfg->audit_key_file[0] &&
      (p->audit_key = (unsigned char *)rf_config_read_secret(cfg->audit_key_file,
                                                             &p->audit_key_len, errbuf,
                                                             errlen)) == NULL)
    return RF_ECONFIG;
  char *redis_password = NULL;
  if (cfg->redis_password_file && cfg->redis_password_file[0] &&
      (redis_password = rf_config_read_secret(cfg->redis_password_file, NULL, errbuf, errlen)) ==
          NULL)
    return RF_ECONFIG;
  const char *env_pw = getenv("REDIS_PASSWORD");
  rf_writer_config_t wc = {
      .conninfo = cfg->pg_conninfo,
      .password = p->password,
      .chain_id = cfg->instance_name,
      .audit_key = p->audit_key,
      .audit_key_len = p->audit_key_len,
      .heads_file = cfg->heads_file,
      .max_txn_rows = (size_t)cfg->txn_max_rows,
      .retry_max_ms = 5000,
  };
  if ((rc = rf_writer_new(p->loop, &wc, on_written, p, &p->writer))) {
    snprintf(errbuf, errlen, "cannot start the writer: %s", rf_strerror(rc));
    rf_free(redis_password);
    return rc;
  }
  if ((rc = start_source(p, redis_password ? redis_password : env_pw, errbuf, errlen))) {
    rf_free(redis_password);
    return rc;
  }
  rf_free(redis_password);
  /* A window is flushed at most one period after it is due: keep that
   * small (a tick is a walk over the open windows, a few dozen at most). */
  uint64_t period = (uint64_t)cfg->window_ms / 10;
  if (period < 5)
    period = 5;
  if (period > 50)
    period = 50;
  uv_timer_start(&p->tick, on_tick, period, period);
  return 0;
}

static void on_handle_closed(uv_handle_t *h) {
  rf_pipeline_t *p = h->data;
  if (--p->handles_open == 0 && p->drain_cb)
    p->drain_cb(p, p->drain_timed_out ? RF_ETIMEDOUT : 0, p->drain_arg);
}

static void close_handles(rf_pipeline_t *p) {
  uv_close((uv_handle_t *)&p->tick, on_handle_closed);
  uv_close((uv_handle_t *)&p->drain_timer, on_handle_closed);
}

static void on_writer_closed(rf_writer_t *w, void *arg) {
  rf_pipeline_t *p = arg;
  (void)w;
  p->writer = NULL;
  p->writer_closed = true;
  if (p->source_closed)
    close_handles(p);
  else
    check_drained(p);
}

static void close_writer(rf_pipeline_t *p) {
  if (p->writer_closing)
    return;
  p->writer_closing = true;
  if (p->writer)
    rf_writer_close(p->writer, 0, on_writer_closed, p);
  else
    on_writer_closed(NULL, p);
}

static void on_source_closed(rf_source_t *s, void *arg) {
  rf_pipeline_t *p = arg;
  (void)s;
  p->source = NULL;
  p->source_closed = true;
  if (p->writer_closed)
    close_handles(p);
  else
    close_writer(p);
}

/* Drain progress: windows first, then what the writer holds, then acks; on
 * timeout the writer hands back what it could not commit (left unacked). */
static void check_drained(rf_pipeline_t *p) {
  if (!p->draining || p->source_closing || p->stats.windows_open > 0)
    return;
  if (p->stats.inflight > 0) {
    if (!p->drain_timed_out)
      return;
    if (!p->writer_closing) {
      close_writer(p);
      return;
    }
    if (!p->writer_closed)
      return;
  }
  uv_timer_stop(&p->tick);
  uv_timer_stop(&p->drain_timer);
  p->source_closing = true;
  if (p->source)
    p->source->ops->close(p->source, on_source_closed, p);
  else
    on_source_closed(NULL, p);
}

static void on_drain_timeout(uv_timer_t *t) {
  rf_pipeline_t *p = t->data;
  rf_log(RF_LOG_WARN, "pipeline", "drain timed out held=%llu; the rest stays unacknowledged and "
         "is redelivered later", (unsigned long long)p->stats.inflight);
  p->drain_timed_out = true;
  check_drained(p);
}

void rf_pipeline_drain(rf_pipeline_t *p, rf_pipeline_drain_cb cb, void *arg) {
  p->drain_cb = cb;
  p->drain_arg = arg;
  if (p->draining)
    return;
  p->draining = true;
  rf_log(RF_LOG_NOTICE, "pipeline", "draining held=%llu windows=%llu",
         (unsigned long long)p->stats.inflight, (unsigned long long)p->stats.windows_open);
  if (p->source)
    update_backpressure(p);
  flush_all(p, false);
  if (p->cfg->drain_timeout_ms > 0)
    uv_timer_start(&p->drain_timer, on_drain_timeout, (uint64_t)p->cfg->drain_timeout_ms, 0);
  check_drained(p);
}

void rf_pipeline_free(rf_pipeline_t *p) {
  if (p == NULL)
    return;
  window_t *w, *wt;
  HASH_ITER(hh, p->windows, w, wt) {
    HASH_DEL(p->windows, w);
    window_free(w);
  }
  held_t *h, *ht;
  HASH_ITER(hh, p->held, h, ht) {
    HASH_DEL(p->held, h);
    rf_free(h->id);
    rf_free(h);
  }
  rf_fixchain_free(p->chain);
  rf_free(p->password);
  rf_free(p->audit_key);
  rf_free(p->test_fail_keys);
  rf_free(p);
}

void rf_pipeline_get_stats(const rf_pipeline_t *p, rf_pipeline_stats_t *out) {
  *out = p->stats;
  uint64_t rows = 0;
  for (const window_t *w = p->windows; w; w = w->hh.next)
    rows += w->n;
  out->window_rows = rows;
  out->writer_pending_rows = p->writer ? rf_writer_pending_rows(p->writer) : 0;
  out->db_ready = p->writer && rf_writer_ready(p->writer);
  out->source_ready = p->source && !p->source_closing &&
                      (p->source->ops->ready == NULL || p->source->ops->ready(p->source));
  out->draining = p->draining;
}

size_t rf_pipeline_source_lag(const rf_pipeline_t *p, rf_source_lag_t *out, size_t max) {
  if (p->source == NULL || p->source_closing || p->source->ops->lag == NULL)
    return 0;
  return p->source->ops->lag(p->source, out, max);
}

void rf_pipeline_on_sev1(rf_pipeline_t *p, rf_pipeline_sev1_cb cb, void *arg) {
  p->sev1_cb = cb;
  p->sev1_arg = arg;
}

int rf_pipeline_reload(rf_pipeline_t *p, const rf_config_t *cfg) {
  const rf_config_t *old = p->cfg;
  int kept = 0;
  /* What a running pipeline cannot change: its connections and identity. */
  static const struct {
    const char *name;
    size_t off;
  } fixed[] = {
      {"daemon.instance_name", offsetof(rf_config_t, instance_name)},
      {"daemon.source", offsetof(rf_config_t, source)},
      {"redis.host", offsetof(rf_config_t, redis_host)},
      {"redis.stream", offsetof(rf_config_t, redis_stream)},
      {"redis.group", offsetof(rf_config_t, redis_group)},
      {"redis.consumer", offsetof(rf_config_t, redis_consumer)},
      {"postgres.conninfo", offsetof(rf_config_t, pg_conninfo)},
      {"audit.key_file", offsetof(rf_config_t, audit_key_file)},
      {"kafka.brokers", offsetof(rf_config_t, kafka_brokers)},
      {"kafka.topic", offsetof(rf_config_t, kafka_topic)},
      {"kafka.group", offsetof(rf_config_t, kafka_group)},
  };
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
    const char *a = *(char *const *)((const char *)old + fixed[i].off);
    const char *b = *(char *const *)((const char *)cfg + fixed[i].off);
    if (strcmp(a, b) != 0) {
      rf_log(RF_LOG_WARN, "pipeline", "reload: %s cannot change while running (restart to "
             "apply) old=\"%s\" new=\"%s\"", fixed[i].name, a, b);
      kept++;
    }
  }
  if (old->redis_port != cfg->redis_port) {
    rf_log(RF_LOG_WARN, "pipeline", "reload: redis.port cannot change while running");
    kept++;
  }
  p->cfg = cfg;
  rf_intake_opts_from_config(&p->intake, cfg);
  rf_log(RF_LOG_NOTICE, "pipeline", "reloaded window_ms=%d window_max_rows=%d "
         "max_inflight_rows=%d contracts=%zu not_applied=%d", cfg->window_ms,
         cfg->window_max_rows, cfg->max_inflight_rows, cfg->n_contracts, kept);
  return kept;
}

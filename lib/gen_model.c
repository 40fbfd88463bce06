/* gen_model.c - the model generator: prompts, the bounded pool, retries, the
 * circuit breaker, max wait, and the gate's one retry.
 *
 * Why a pool and not one request per cluster: a window can hold dozens of
 * clusters and a local model answers one or two prompts at a time; sending
 * them all at once only makes every answer late. Why coalescing: the same
 * family shows up in window after window while its first answer is still
 * being written; asking again would cost a model call per window instead of
 * one per family (the cache answers every later window once the fix is
 * stored). Why a breaker: while Ollama is down, every request fails fast or
 * times out; the breaker turns that into one cheap probe per cooldown
 * instead of a storm, while the rows wait (unacknowledged) up to max_wait.
 *
 * A task moves through: PREPARING (fetching good values) -> QUEUED ->
 * INFLIGHT -> done, or back to BACKOFF (retry after a delay) / PARKED (retries
 * used up: wait for the breaker to close or the cooldown to pass), always
 * bounded by its deadline (max_wait_ms after it arrived).
 */
#include "rectify/gen_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/hash.h"
#include "rectify/log.h"
#include "rectify/ollama.h"
#include "rectify/outcome.h"

#define RF_TICK_MS 50
/* How long an accepted fix is remembered here, for the clusters of the same
 * family whose cache lookup ran before the fix was stored (also the longest a
 * revocation can go unnoticed). */
#define RF_RECENT_MS 5000
#define RF_RECENT_MAX 64
#define RF_GOOD_VALUES 3
#define RF_UNAVAILABLE_PREFIX RF_REASON_MODEL_UNAVAILABLE ": "

enum tstate { T_PREPARING, T_QUEUED, T_INFLIGHT, T_CHECKING, T_BACKOFF, T_PARKED };
enum bstate { B_CLOSED, B_OPEN, B_PROBING };

typedef struct waiter {
  const rf_fix_request_t *req;
  rf_fixgen_cb cb;
  void *arg;
  struct waiter *next;
} waiter_t;

typedef struct recent {
  char *key;
  rf_fix_candidate_t *cand;
  uint64_t expires_ms;
  struct recent *next;
} recent_t;

/* Embedding cache: open addressing on SHA-256(model NUL value), no deletion.
 * Two generations bound it: when the current one holds RF_EMBED_GEN entries
 * the old one is dropped and the current one becomes old (a hit there is
 * copied forward), so at most 2 * RF_EMBED_GEN vectors are kept. */
#define RF_EMBED_GEN 32768
#define RF_EMBED_MAX_DIM 8192

typedef struct embed_slot {
  unsigned char key[RF_SHA256_LEN];
  float *vec; /* NULL: empty slot */
} embed_slot_t;

typedef struct embed_table {
  embed_slot_t *slots;
  size_t cap, n; /* cap: a power of two, or 0 */
} embed_table_t;

typedef struct task task_t;
struct task {
  rf_gen_model_t *g;
  char *key;
  const rf_fix_request_t *req; /* the first proposal's (borrowed until its callback) */
  rf_fixgen_cb cb;
  void *arg;
  waiter_t *waiters;
  enum tstate state;
  bool orphan; /* canceled while a fix cache operation was out: free it on return */
  rf_fix_candidate_t *held; /* T_CHECKING: the accepted candidate, until the revocation check */
  uint64_t created_ms, deadline_ms, wake_ms;
  int failures_in_round;
  int answers;
  char *base_user, *user;
  char last_error[300];
  rf_checker_t *checker;
  task_t *prev, *next; /* every live task */
  task_t *qnext;       /* the FIFO, when QUEUED */
};

struct rf_gen_model {
  uv_loop_t *loop;
  rf_ollama_t *ollama;
  rf_fixcache_t *fc;
  rf_model_stats_t *stats;
  char *model_name, *keep_alive, *ident;
  char *t_system, *t_user, *t_retry;
  int concurrency, queue_max, retries, breaker_failures, seed;
  long timeout_ms;
  uint64_t backoff_ms, cooldown_ms, max_wait_ms;
  double min_confidence;
  task_t *tasks;
  size_t n_tasks;
  task_t *qhead, *qtail;
  recent_t *recent;
  size_t n_recent;
  int inflight;
  enum bstate breaker;
  int consecutive_failures;
  uint64_t open_until_ms;
  bool answered_once, last_ok, digest_known, tags_probe_running;
  uv_timer_t tick;
  bool tick_running;
  bool draining, closing;
  int handles_open;
  /* the embed clustering stage: two generations of cached vectors */
  embed_table_t embed_cur, embed_old;
  size_t embed_dim;      /* of every cached vector; 0 while none is */
  int embed_inflight;
};

typedef struct probe {
  rf_gen_model_t *g;
  rf_gen_model_probe_cb cb;
  void *arg;
} probe_t;

static void dispatch(rf_gen_model_t *g);

static uint64_t now_ms(const rf_gen_model_t *g) { return uv_now(g->loop); }

/* ---- templates ------------------------------------------------------------------ */

static char *read_template(const char *dir, const char *name, char *errbuf, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(errbuf, errlen, "model prompt template %s: %s (set [model] prompt_dir)", path,
             strerror(errno));
    return NULL;
  }
  rf_buf_t b = RF_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 256 * 1024)
    rf_buf_append(&b, chunk, n);
  fclose(f);
  if (!rf_buf_ok(&b) || b.len == 0 || b.len >= 256 * 1024) {
    snprintf(errbuf, errlen, "model prompt template %s: empty, too large or out of memory", path);
    rf_buf_free(&b);
    return NULL;
  }
  return rf_buf_steal(&b);
}

/* Copies tpl to out, replacing {{name}} by the matching value. */
static void render(rf_buf_t *out, const char *tpl, const char *const *names,
                   const char *const *values, size_t n) {
  const char *p = tpl;
  while (*p) {
    const char *open = strstr(p, "{{");
    if (open == NULL) {
      rf_buf_puts(out, p);
      return;
    }
    rf_buf_append(out, p, (size_t)(open - p));
    const char *close = strstr(open + 2, "}}");
    size_t i = n;
    if (close)
      for (i = 0; i < n; i++)
        if (strlen(names[i]) == (size_t)(close - open - 2) &&
            memcmp(names[i], open + 2, (size_t)(close - open - 2)) == 0)
          break;
    if (i == n) { /* not a placeholder of ours: keep the text */
      rf_buf_puts(out, "{{");
      p = open + 2;
      continue;
    }
    rf_buf_puts(out, values[i]);
    p = close + 2;
  }
}

static void json_lines(rf_buf_t *out, const char *const *vals, const size_t *lens, size_t n) {
  for (size_t i = 0; i < n; i++) {
    rf_buf_puts(out, i ? "\n- " : "- ");
    if (vals[i])
      rf_buf_json_str(out, vals[i], lens[i]);
    else
      rf_buf_puts(out, "null");
  }
}

static int build_prompt(task_t *t, char *const *good, size_t n_good) {
  rf_gen_model_t *g = t->g;
  const rf_fix_request_t *req = t->req;
  rf_buf_t contract = RF_BUF_INIT, bad = RF_BUF_INIT, gv = RF_BUF_INIT, user = RF_BUF_INIT;
  const char *vals[RF_CLUSTER_MAX_REPS];
  size_t lens[RF_CLUSTER_MAX_REPS];
  for (size_t i = 0; i < req->cluster->n_reps; i++) {
    vals[i] = req->cluster->reps[i]->value;
    lens[i] = req->cluster->reps[i]->value_len;
  }
  rf_contract_describe(req->contract, &contract);
  json_lines(&bad, vals, lens, req->cluster->n_reps);
  if (n_good) {
    size_t glens[RF_GOOD_VALUES];
    for (size_t i = 0; i < n_good; i++)
      glens[i] = strlen(good[i]);
    json_lines(&gv, (const char *const *)good, glens, n_good);
  } else {
    rf_buf_puts(&gv, "(none known yet)");
  }
  static const char *const names[] = {"table", "column", "contract", "bad_values", "good_values"};
  const char *values[] = {req->table_name, req->column_name, contract.data ? contract.data : "",
                          bad.data ? bad.data : "", gv.data ? gv.data : ""};
  render(&user, g->t_user, names, values, 5);
  int rc = rf_buf_ok(&contract) && rf_buf_ok(&bad) && rf_buf_ok(&gv) && rf_buf_ok(&user)
               ? 0
               : RF_ENOMEM;
  if (rc == 0) {
    t->base_user = rf_buf_steal(&user);
    t->user = rf_strdup(t->base_user);
    if (t->base_user == NULL || t->user == NULL)
      rc = RF_ENOMEM;
  }
  rf_buf_free(&contract);
  rf_buf_free(&bad);
  rf_buf_free(&gv);
  rf_buf_free(&user);
  return rc;
}

/* ---- task lifecycle ---------------------------------------------------------------- */

static void task_unlink(task_t *t) {
  rf_gen_model_t *g = t->g;
  if (t->state == T_QUEUED) {
    task_t **pp = &g->qhead, *prev = NULL;
    while (*pp && *pp != t)
      prev = *pp, pp = &(*pp)->qnext;
    if (*pp) {
      *pp = t->qnext;
      if (g->qtail == t)
        g->qtail = prev;
    }
  }
  if (t->prev)
    t->prev->next = t->next;
  else
    g->tasks = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->prev = t->next = NULL;
  g->n_tasks--;
}

static void task_free(task_t *t) {
  while (t->waiters) {
    waiter_t *w = t->waiters;
    t->waiters = w->next;
    rf_free(w);
  }
  rf_checker_free(t->checker);
  rf_fix_candidate_free(t->held);
  rf_free(t->key);
  rf_free(t->base_user);
  rf_free(t->user);
  rf_free(t);
}

static rf_fix_candidate_t *candidate_dup(const rf_fix_candidate_t *c) {
  rf_fix_candidate_t *d = rf_calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->confidence = c->confidence;
  const char *const src[] = {c->lambda_src, c->reasoning, c->pattern_type, c->generator,
                             c->model,      c->fix_id,    c->raw_answer};
  char **dst[] = {&d->lambda_src, &d->reasoning, &d->pattern_type, &d->generator,
                  &d->model,      &d->fix_id,    &d->raw_answer};
  for (size_t i = 0; i < 7; i++)
    if (src[i] && (*dst[i] = rf_strdup(src[i])) == NULL) {
      rf_fix_candidate_free(d);
      return NULL;
    }
  return d;
}

/* Ends a task: every proposal joined to it gets status/cand/why. The task is
 * unlinked before any callback runs (callbacks may call back into g). */
static void task_complete(task_t *t, int status, rf_fix_candidate_t *cand, const char *why) {
  task_unlink(t);
  waiter_t *w = t->waiters;
  t->waiters = NULL;
  rf_fixgen_cb cb = t->cb;
  void *arg = t->arg;
  for (; w; w = t->waiters) {
    t->waiters = w->next;
    rf_fix_candidate_t *copy = cand ? candidate_dup(cand) : NULL;
    if (cand && copy == NULL)
      w->cb(RF_ENOMEM, NULL, NULL, w->arg);
    else
      w->cb(status, copy, why, w->arg);
    rf_free(w);
  }
  if ((t->state == T_PREPARING || t->state == T_CHECKING) && status == RF_ECANCELED) {
    t->orphan = true; /* a fix cache operation still points at it */
    cb(status, cand, why, arg);
    return;
  }
  task_free(t);
  cb(status, cand, why, arg);
}

static void give_up(task_t *t, const char *detail) {
  rf_gen_model_t *g = t->g;
  char why[512];
  snprintf(why, sizeof(why), RF_UNAVAILABLE_PREFIX "%s", detail);
  if (g->breaker != B_CLOSED)
    g->stats->calls[RF_MODEL_BREAKER_OPEN]++;
  rf_log(RF_LOG_WARN, "model", "gave up table=%s column=%s fingerprint=%s rows=%zu waited_ms=%llu "
         "why=\"%s\"", t->req->table_name, t->req->column_name, t->req->cluster->fingerprint,
         t->req->cluster->n, (unsigned long long)(now_ms(g) - t->created_ms), detail);
  task_complete(t, 0, NULL, why);
}

static void enqueue(task_t *t, bool front) {
  rf_gen_model_t *g = t->g;
  t->state = T_QUEUED;
  t->qnext = NULL;
  if (front) {
    t->qnext = g->qhead;
    g->qhead = t;
    if (g->qtail == NULL)
      g->qtail = t;
  } else {
    if (g->qtail)
      g->qtail->qnext = t;
    else
      g->qhead = t;
    g->qtail = t;
  }
}

static void on_tick(uv_timer_t *h);

static void ensure_tick(rf_gen_model_t *g) {
  if (!g->tick_running && !g->closing) {
    uv_timer_start(&g->tick, on_tick, RF_TICK_MS, RF_TICK_MS);
    g->tick_running = true;
  }
}

/* ---- breaker ------------------------------------------------------------------------ */

static void breaker_success(rf_gen_model_t *g) {
  g->consecutive_failures = 0;
  g->last_ok = true;
  g->answered_once = true;
  if (g->breaker != B_CLOSED)
    rf_log(RF_LOG_NOTICE, "model", "breaker closed: the model answers again");
  g->breaker = B_CLOSED;
  /* Parked tasks need not wait for their cooldown any more. */
  for (task_t *t = g->tasks; t; t = t->next)
    if (t->state == T_PARKED) {
      t->failures_in_round = 0;
      enqueue(t, false);
    }
}

static void breaker_failure(rf_gen_model_t *g, const char *what) {
  g->last_ok = false;
  g->consecutive_failures++;
  if (g->breaker == B_CLOSED && g->consecutive_failures >= g->breaker_failures) {
    g->breaker = B_OPEN;
    g->open_until_ms = now_ms(g) + g->cooldown_ms;
    rf_log(RF_LOG_WARN, "model", "breaker open failures=%d cooldown_ms=%llu last_error=\"%s\"",
           g->consecutive_failures, (unsigned long long)g->cooldown_ms, what);
  }
}

static void probe_tags_start(rf_gen_model_t *g, probe_t *p);

static void on_breaker_probe(const rf_ollama_reply_t *r, void *arg) {
  rf_gen_model_t *g = arg;
  if (r->status == RF_ECANCELED)
    return;
  if (r->status == 0 && r->http_status == 200) {
    breaker_success(g);
    if (!g->digest_known && !g->tags_probe_running)
      probe_tags_start(g, NULL);
  } else {
    g->breaker = B_OPEN;
    g->open_until_ms = now_ms(g) + g->cooldown_ms;
    g->last_ok = false;
    rf_log(RF_LOG_INFO, "model", "breaker probe failed error=\"%s\"; open for %llu ms more",
           r->status ? r->error : "unexpected HTTP status", (unsigned long long)g->cooldown_ms);
  }
  dispatch(g);
}

/* ---- requests ------------------------------------------------------------------------ */

static void on_chat(const rf_ollama_reply_t *r, void *arg);

static void task_failed(task_t *t, const char *what) {
  rf_gen_model_t *g = t->g;
  uint64_t now = now_ms(g);
  snprintf(t->last_error, sizeof(t->last_error), "%s", what);
  if (g->draining) {
    rf_log(RF_LOG_NOTICE, "model", "draining: request failed, rows left for redelivery "
           "table=%s column=%s", t->req->table_name, t->req->column_name);
    task_complete(t, RF_ECANCELED, NULL, NULL);
    return;
  }
  if (now >= t->deadline_ms) {
    char d[400];
    snprintf(d, sizeof(d), "no answer within max_wait_ms=%llu; last error: %s",
             (unsigned long long)g->max_wait_ms, what);
    give_up(t, d);
    return;
  }
  t->failures_in_round++;
  if (t->failures_in_round <= g->retries) {
    uint64_t delay = g->backoff_ms << (t->failures_in_round - 1 < 20 ? t->failures_in_round - 1 : 20);
    if (delay > g->cooldown_ms)
      delay = g->cooldown_ms;
    delay = delay / 2 + (uint64_t)((double)delay * ((double)rand() / RAND_MAX)); /* +-50% */
    t->state = T_BACKOFF;
    t->wake_ms = now + delay;
  } else {
    t->failures_in_round = 0;
    t->state = T_PARKED;
    t->wake_ms = now + g->cooldown_ms;
  }
}

static void send_task(task_t *t) {
  rf_gen_model_t *g = t->g;
  rf_buf_t body = RF_BUF_INIT;
  rf_ollama_chat_body(&body, g->model_name, g->t_system, t->user, rf_gate_answer_schema, g->seed,
                      g->keep_alive);
  int rc = rf_buf_ok(&body) ? rf_ollama_request(g->ollama, "/api/chat", body.data, g->timeout_ms,
                                                on_chat, t)
                            : RF_ENOMEM;
  rf_buf_free(&body);
  if (rc) {
    task_failed(t, rf_strerror(rc));
    return;
  }
  t->state = T_INFLIGHT;
  g->inflight++;
  rf_log(RF_LOG_DEBUG, "model", "request table=%s column=%s fingerprint=%s attempt_answer=%d",
         t->req->table_name, t->req->column_name, t->req->cluster->fingerprint, t->answers + 1);
}

static void dispatch(rf_gen_model_t *g) {
  if (g->closing)
    return;
  if (g->breaker == B_OPEN && now_ms(g) >= g->open_until_ms) {
    g->breaker = B_PROBING;
    if (rf_ollama_request(g->ollama, "/api/version", NULL, g->timeout_ms < 5000 ? g->timeout_ms : 5000,
                          on_breaker_probe, g) != 0) {
      g->breaker = B_OPEN;
      g->open_until_ms = now_ms(g) + g->cooldown_ms;
    }
  }
  while (g->breaker == B_CLOSED && g->inflight < g->concurrency && g->qhead) {
    task_t *t = g->qhead;
    g->qhead = t->qnext;
    if (g->qhead == NULL)
      g->qtail = NULL;
    t->qnext = NULL;
    t->state = T_INFLIGHT; /* not QUEUED any more, whatever send_task decides */
    send_task(t);
  }
}

static void on_tick(uv_timer_t *h) {
  rf_gen_model_t *g = h->data;
  uint64_t now = now_ms(g);
  task_t *t = g->tasks;
  while (t) {
    task_t *next = t->next;
    if ((t->state == T_QUEUED || t->state == T_BACKOFF || t->state == T_PARKED) &&
        now >= t->deadline_ms) {
      char d[400];
      snprintf(d, sizeof(d), "no answer within max_wait_ms=%llu%s%s",
               (unsigned long long)g->max_wait_ms, t->last_error[0] ? "; last error: " : "",
               t->last_error);
      give_up(t, d);
    } else if ((t->state == T_BACKOFF || t->state == T_PARKED) && now >= t->wake_ms) {
      enqueue(t, false);
    }
    t = next;
  }
  dispatch(g);
  if (g->tasks == NULL && g->breaker != B_OPEN) {
    uv_timer_stop(&g->tick);
    g->tick_running = false;
  }
}

/* A final candidate for a refused answer: the pipeline's gate refuses it
 * again, deterministically, and quarantines the cluster with the raw answer. */
static rf_fix_candidate_t *refused_candidate(rf_gen_model_t *g, const char *raw, size_t raw_len,
                                             const char *detail) {
  rf_fix_candidate_t *c = rf_calloc(1, sizeof(*c));
  if (c == NULL || (c->generator = rf_strdup("model")) == NULL ||
      (c->model = rf_strdup(g->ident)) == NULL || (c->raw_answer = rf_strndup(raw, raw_len)) == NULL ||
      (c->reasoning = rf_strdup(detail)) == NULL) {
    rf_fix_candidate_free(c);
    return NULL;
  }
  return c;
}

static void recent_free(recent_t *r) {
  rf_free(r->key);
  rf_fix_candidate_free(r->cand);
  rf_free(r);
}

/* Drops expired entries (all of them when all is set). */
static void recent_purge(rf_gen_model_t *g, bool all) {
  uint64_t now = now_ms(g);
  for (recent_t **pp = &g->recent; *pp;) {
    recent_t *r = *pp;
    if (all || now >= r->expires_ms) {
      *pp = r->next;
      g->n_recent--;
      recent_free(r);
    } else {
      pp = &r->next;
    }
  }
}

static void recent_add(rf_gen_model_t *g, const char *key, const rf_fix_candidate_t *cand) {
  recent_purge(g, false);
  if (g->n_recent >= RF_RECENT_MAX)
    return;
  recent_t *r = rf_calloc(1, sizeof(*r));
  if (r == NULL || (r->key = rf_strdup(key)) == NULL || (r->cand = candidate_dup(cand)) == NULL) {
    if (r)
      recent_free(r);
    return; /* only an optimisation */
  }
  rf_free(r->cand->generator);
  r->cand->generator = rf_strdup("cache"); /* served again: it is a stored fix now */
  if (r->cand->generator == NULL) {
    recent_free(r);
    return;
  }
  r->expires_ms = now_ms(g) + RF_RECENT_MS;
  r->next = g->recent;
  g->recent = r;
  g->n_recent++;
}

static void accept_fix(task_t *t, rf_fix_candidate_t *cand) {
  rf_gen_model_t *g = t->g;
  const rf_fix_request_t *req = t->req;
  g->stats->calls[RF_MODEL_OK]++;
  recent_add(g, t->key, cand);
  rf_known_fix_t fix = {.fix_id = cand->fix_id,
                        .table_name = (char *)req->table_name,
                        .column_name = (char *)req->column_name,
                        .fingerprint = (char *)req->cluster->fingerprint,
                        .lambda_src = cand->lambda_src,
                        .generator = cand->generator,
                        .model = cand->model,
                        .reasoning = cand->reasoning,
                        .confidence = cand->confidence};
  if (g->fc && rf_fixcache_record(g->fc, &fix, (long long)req->cluster->n) != 0)
    rf_log(RF_LOG_WARN, "model", "cannot queue storing fix=%s", cand->fix_id);
  rf_log(RF_LOG_INFO, "model", "fix accepted fix=%s table=%s column=%s fingerprint=%s rows=%zu "
         "confidence=%.2f answers=%d", cand->fix_id, req->table_name, req->column_name,
         req->cluster->fingerprint, req->cluster->n, cand->confidence, t->answers);
  task_complete(t, 0, cand, NULL);
}

/* The answer was refused: one retry with the failure explained (not for low
 * confidence), else the final candidate goes to the pipeline, which
 * quarantines the cluster with the reason and the raw answer. */
static void refuse_answer(task_t *t, rf_fix_candidate_t *cand, const char *raw, size_t raw_len,
                   const rf_gate_verdict_t *v) {
  rf_gen_model_t *g = t->g;
  const rf_fix_request_t *req = t->req;
  g->stats->calls[RF_MODEL_REJECTED]++;
  g->stats->rejections++;
  rf_log(RF_LOG_INFO, "model", "answer refused table=%s column=%s fingerprint=%s reason=%s "
         "answers=%d detail=\"%s\"", req->table_name, req->column_name,
         req->cluster->fingerprint, v->reason, t->answers, v->detail);
  if (strcmp(v->reason, RF_REASON_LOW_CONFIDENCE) != 0 && t->answers < 2 && !g->draining) {
    rf_buf_t user = RF_BUF_INIT;
    rf_buf_t prev = RF_BUF_INIT;
    rf_buf_append(&prev, raw, raw_len > 4000 ? 4000 : raw_len);
    static const char *const names[] = {"previous_answer", "failure"};
    const char *values[] = {prev.data ? prev.data : "", v->detail};
    rf_buf_puts(&user, t->base_user);
    render(&user, g->t_retry, names, values, 2);
    rf_buf_free(&prev);
    char *u = rf_buf_steal(&user);
    rf_fix_candidate_free(cand);
    if (u == NULL) {
      task_complete(t, RF_ENOMEM, NULL, NULL);
      return;
    }
    rf_free(t->user);
    t->user = u;
    t->failures_in_round = 0;
    enqueue(t, true);
    return;
  }
  if (cand == NULL && (cand = refused_candidate(g, raw, raw_len, v->detail)) == NULL) {
    task_complete(t, RF_ENOMEM, NULL, NULL);
    return;
  }
  task_complete(t, 0, cand, NULL);
}

static void on_revoked(int status, bool revoked, void *arg) {
  task_t *t = arg;
  if (t->orphan) {
    task_free(t);
    return;
  }
  rf_gen_model_t *g = t->g;
  rf_fix_candidate_t *cand = t->held;
  t->held = NULL;
  t->state = T_INFLIGHT; /* neither queued nor waiting: decided below */
  if (status == RF_ECANCELED) {
    rf_fix_candidate_free(cand);
    task_complete(t, RF_ECANCELED, NULL, NULL);
  } else if (revoked) {
    rf_gate_verdict_t v = {.ok = false, .reason = RF_REASON_FAILED_VALIDATION};
    snprintf(v.detail, sizeof(v.detail), "the transformation is fix %s, which an operator "
             "revoked (rectifyctl fixes revoke): it is never used again", cand->fix_id);
    /* The final candidate must not carry the revoked lambda: refuse with none. */
    char *raw_copy = rf_strdup(cand->raw_answer ? cand->raw_answer : "");
    rf_fix_candidate_free(cand);
    if (raw_copy == NULL) {
      task_complete(t, RF_ENOMEM, NULL, NULL);
    } else {
      refuse_answer(t, NULL, raw_copy, strlen(raw_copy), &v);
      rf_free(raw_copy);
    }
  } else {
    accept_fix(t, cand);
  }
  dispatch(g);
}

static void on_answer(task_t *t, const char *body, size_t len) {
  rf_gen_model_t *g = t->g;
  const rf_fix_request_t *req = t->req;
  char why[400];
  rf_fix_candidate_t *cand = NULL;
  rf_gate_verdict_t v = {0};
  int rc;
  t->answers++;
  char *content = rf_ollama_chat_content(body, len, why, sizeof(why));
  const char *raw = content ? content : body;
  size_t raw_len = content ? strlen(content) : len;
  if (content == NULL) {
    v.reason = RF_REASON_FAILED_VALIDATION;
    snprintf(v.detail, sizeof(v.detail), "%s", why);
  } else if ((rc = rf_gate_parse_answer(content, raw_len, &cand, why, sizeof(why))) != 0) {
    if (rc == RF_ENOMEM)
      goto nomem;
    v.reason = RF_REASON_FAILED_VALIDATION;
    snprintf(v.detail, sizeof(v.detail), "%s", why);
  } else {
    char id[33];
    rf_fix_id(req->table_name, req->column_name, req->cluster->fingerprint, cand->lambda_src, id);
    if ((cand->model = rf_strdup(g->ident)) == NULL || (cand->fix_id = rf_strdup(id)) == NULL)
      goto nomem;
    if ((rc = rf_gate_check(cand, t->checker, req->cluster, g->min_confidence, &v, NULL)))
      goto nomem;
  }
  if (v.ok && g->fc) {
    /* An operator may have revoked this very fix: never use it again. */
    t->held = cand;
    t->state = T_CHECKING;
    rf_free(content);
    if (rf_fixcache_check_revoked(g->fc, cand->fix_id, on_revoked, t) != 0) {
      t->held = NULL;
      t->state = T_INFLIGHT;
      accept_fix(t, cand);
    }
    return;
  }
  if (v.ok)
    accept_fix(t, cand);
  else
    refuse_answer(t, cand, raw, raw_len, &v);
  rf_free(content);
  return;
nomem:
  rf_fix_candidate_free(cand);
  rf_free(content);
  task_complete(t, RF_ENOMEM, NULL, NULL);
}

static void on_chat(const rf_ollama_reply_t *r, void *arg) {
  task_t *t = arg;
  rf_gen_model_t *g = t->g;
  g->inflight--;
  if (r->status == RF_ECANCELED) {
    task_complete(t, RF_ECANCELED, NULL, NULL);
    return;
  }
  rf_model_stats_observe(g->stats, r->seconds);
  char what[400];
  long hs = r->http_status;
  if (r->status != 0 || hs == 429 || hs == 500 || hs == 502 || hs == 503) {
    if (r->status)
      snprintf(what, sizeof(what), "%s", r->error);
    else {
      char e[256];
      rf_ollama_error_text(r->body, r->len, e, sizeof(e));
      snprintf(what, sizeof(what), "HTTP %ld: %s", hs, e);
    }
    g->stats->calls[r->status == RF_ETIMEDOUT ? RF_MODEL_TIMEOUT : RF_MODEL_ERROR]++;
    rf_log(RF_LOG_WARN, "model", "request failed table=%s column=%s error=\"%s\"",
           t->req->table_name, t->req->column_name, what);
    breaker_failure(g, what);
    task_failed(t, what);
  } else if (hs != 200) {
    char e[256];
    rf_ollama_error_text(r->body, r->len, e, sizeof(e));
    snprintf(what, sizeof(what), "Ollama answered HTTP %ld: %s", hs, e);
    g->stats->calls[RF_MODEL_ERROR]++;
    g->answered_once = true;
    give_up(t, what);
  } else {
    breaker_success(g);
    if (!g->digest_known && !g->tags_probe_running)
      probe_tags_start(g, NULL);
    on_answer(t, r->body, r->len);
  }
  dispatch(g);
}

/* ---- proposals --------------------------------------------------------------------------- */

static void on_good_values(int status, char *const *values, size_t n, void *arg) {
  task_t *t = arg;
  if (t->orphan) {
    task_free(t);
    return;
  }
  rf_gen_model_t *g = t->g;
  if (status == RF_ECANCELED) {
    task_complete(t, RF_ECANCELED, NULL, NULL);
    return;
  }
  if (build_prompt(t, status == 0 ? values : NULL, status == 0 ? n : 0) != 0) {
    task_complete(t, RF_ENOMEM, NULL, NULL);
    return;
  }
  enqueue(t, false);
  dispatch(g);
}

static int propose(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  rf_gen_model_t *g = self;
  if (g->closing)
    return RF_ECLOSED;
  if (req->contract == NULL) {
    cb(0, NULL, "the column has no contract, so no fix can be proven", arg);
    return 0;
  }
  rf_buf_t key = RF_BUF_INIT;
  rf_buf_printf(&key, "%s\x1f%s\x1f%s", req->table_name, req->column_name,
                req->cluster->fingerprint);
  if (!rf_buf_ok(&key))
    return RF_ENOMEM;
  recent_purge(g, false);
  for (recent_t *r = g->recent; r; r = r->next)
    if (strcmp(r->key, key.data) == 0) {
      rf_fix_candidate_t *c = candidate_dup(r->cand);
      rf_buf_free(&key);
      if (c == NULL)
        return RF_ENOMEM;
      g->stats->cache_hits++;
      cb(0, c, NULL, arg);
      return 0;
    }
  for (task_t *t = g->tasks; t; t = t->next)
    if (strcmp(t->key, key.data) == 0) {
      waiter_t *w = rf_malloc(sizeof(*w));
      if (w == NULL) {
        rf_buf_free(&key);
        return RF_ENOMEM;
      }
      *w = (waiter_t){req, cb, arg, t->waiters};
      t->waiters = w;
      rf_buf_free(&key);
      return 0;
    }
  if (g->draining && g->breaker != B_CLOSED) {
    rf_buf_free(&key);
    cb(RF_ECANCELED, NULL, NULL, arg);
    return 0;
  }
  if (g->n_tasks >= (size_t)g->queue_max) {
    char why[200];
    snprintf(why, sizeof(why), RF_UNAVAILABLE_PREFIX "the model queue is full (queue_max=%d)",
             g->queue_max);
    rf_buf_free(&key);
    cb(0, NULL, why, arg);
    return 0;
  }
  task_t *t = rf_calloc(1, sizeof(*t));
  char err[300];
  int rc = RF_ENOMEM;
  if (t == NULL) {
    rf_buf_free(&key);
    return RF_ENOMEM;
  }
  t->g = g;
  t->key = rf_buf_steal(&key);
  t->req = req;
  t->cb = cb;
  t->arg = arg;
  t->created_ms = now_ms(g);
  t->deadline_ms = t->created_ms + g->max_wait_ms;
  t->state = T_PREPARING;
  if (t->key == NULL || (rc = rf_checker_new(req->contract, &t->checker, err, sizeof(err)))) {
    task_free(t);
    if (rc == RF_ENOMEM)
      return RF_ENOMEM;
    char why[400];
    snprintf(why, sizeof(why), "the column contract does not compile: %s", err);
    cb(0, NULL, why, arg);
    return 0;
  }
  t->next = g->tasks;
  if (g->tasks)
    g->tasks->prev = t;
  g->tasks = t;
  g->n_tasks++;
  ensure_tick(g);
  if (g->fc && rf_fixcache_good_values(g->fc, req->table_name, req->column_name, RF_GOOD_VALUES,
                                       on_good_values, t) == 0)
    return 0;
  if (build_prompt(t, NULL, 0) != 0) {
    task_unlink(t);
    task_free(t);
    return RF_ENOMEM;
  }
  enqueue(t, false);
  dispatch(g);
  return 0;
}

static void destroy(void *self) { (void)self; /* owned by the daemon: rf_gen_model_close */ }

const rf_fixgen_ops_t rf_gen_model_ops = {"model", propose, destroy};

bool rf_gen_model_is_unavailable(const char *why_none) {
  return why_none && strstr(why_none, "model: " RF_UNAVAILABLE_PREFIX) != NULL;
}

/* ---- start-up probe ---------------------------------------------------------------------- */

static void set_ident(rf_gen_model_t *g, const char *digest) {
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_puts(&b, g->model_name);
  if (digest && digest[0])
    rf_buf_printf(&b, "@%s", digest);
  char *s = rf_buf_steal(&b);
  if (s) {
    rf_free(g->ident);
    g->ident = s;
    g->digest_known = true;
  }
}

static void on_tags(const rf_ollama_reply_t *r, void *arg) {
  probe_t *p = arg;
  rf_gen_model_t *g = p->g;
  char msg[600] = "";
  int status;
  g->tags_probe_running = false;
  if (r->status) {
    status = r->status;
    snprintf(msg, sizeof(msg), "GET /api/tags: %s", r->error);
  } else if (r->http_status != 200) {
    char e[256];
    rf_ollama_error_text(r->body, r->len, e, sizeof(e));
    status = RF_EPROTO;
    snprintf(msg, sizeof(msg), "GET /api/tags answered HTTP %ld: %s", r->http_status, e);
  } else {
    char *digest = NULL;
    status = rf_ollama_find_model(r->body, r->len, g->model_name, &digest, msg, sizeof(msg));
    if (status == 0) {
      set_ident(g, digest);
      g->last_ok = true;
      snprintf(msg, sizeof(msg), "model %s is available", g->ident);
      rf_log(RF_LOG_NOTICE, "model", "ready model=%s", g->ident);
    }
    rf_free(digest);
  }
  if (p->cb)
    p->cb(status, msg, p->arg);
  else if (status && status != RF_ECANCELED)
    rf_log(RF_LOG_WARN, "model", "%s", msg);
  rf_free(p);
}

static void probe_tags_start(rf_gen_model_t *g, probe_t *p) {
  if (p == NULL && (p = rf_calloc(1, sizeof(*p))) == NULL)
    return;
  p->g = g;
  g->tags_probe_running = true;
  if (rf_ollama_request(g->ollama, "/api/tags", NULL, g->timeout_ms < 10000 ? g->timeout_ms : 10000,
                        on_tags, p) != 0) {
    g->tags_probe_running = false;
    if (p->cb)
      p->cb(RF_ENOMEM, "out of memory", p->arg);
    rf_free(p);
  }
}

static void on_version(const rf_ollama_reply_t *r, void *arg) {
  probe_t *p = arg;
  char msg[400];
  if (r->status || r->http_status != 200) {
    int status = r->status ? r->status : RF_EPROTO;
    if (r->status)
      snprintf(msg, sizeof(msg), "GET /api/version: %s", r->error);
    else
      snprintf(msg, sizeof(msg), "GET /api/version answered HTTP %ld", r->http_status);
    p->cb(status, msg, p->arg);
    rf_free(p);
    return;
  }
  probe_tags_start(p->g, p);
}

int rf_gen_model_probe(rf_gen_model_t *g, rf_gen_model_probe_cb cb, void *arg) {
  probe_t *p = rf_calloc(1, sizeof(*p));
  if (p == NULL)
    return RF_ENOMEM;
  *p = (probe_t){g, cb, arg};
  int rc = rf_ollama_request(g->ollama, "/api/version", NULL,
                             g->timeout_ms < 10000 ? g->timeout_ms : 10000, on_version, p);
  if (rc)
    rf_free(p);
  return rc;
}

const char *rf_gen_model_ident(const rf_gen_model_t *g) { return g->ident; }

/* The pool's numeric settings from [model]: at start and on reload. */
static void apply_limits(rf_gen_model_t *g, const rf_config_t *cfg) {
  g->concurrency = cfg->model_concurrency;
  g->queue_max = cfg->model_queue_max;
  g->retries = cfg->model_retries;
  g->breaker_failures = cfg->model_breaker_failures;
  g->seed = cfg->model_seed;
  g->timeout_ms = cfg->model_timeout_ms;
  g->backoff_ms = (uint64_t)cfg->model_backoff_ms;
  g->cooldown_ms = (uint64_t)cfg->model_breaker_cooldown_ms;
  g->max_wait_ms = (uint64_t)cfg->model_max_wait_ms;
  g->min_confidence = cfg->model_min_confidence;
}

int rf_gen_model_reload(rf_gen_model_t *g, const rf_config_t *cfg, char *errbuf,
                        size_t errlen) {
  char *t_system = NULL, *t_user = NULL, *t_retry = NULL, *keep_alive = NULL;
  if ((t_system = read_template(cfg->model_prompt_dir, "system.txt", errbuf, errlen)) == NULL ||
      (t_user = read_template(cfg->model_prompt_dir, "user.txt", errbuf, errlen)) == NULL ||
      (t_retry = read_template(cfg->model_prompt_dir, "retry.txt", errbuf, errlen)) == NULL ||
      (keep_alive = rf_strdup(cfg->model_keep_alive)) == NULL) {
    if (keep_alive == NULL && t_retry != NULL)
      snprintf(errbuf, errlen, "out of memory");
    rf_free(t_system);
    rf_free(t_user);
    rf_free(t_retry);
    return RF_ECONFIG;
  }
  rf_free(g->t_system);
  rf_free(g->t_user);
  rf_free(g->t_retry);
  rf_free(g->keep_alive);
  g->t_system = t_system;
  g->t_user = t_user;
  g->t_retry = t_retry;
  g->keep_alive = keep_alive;
  apply_limits(g, cfg);
  int kept = 0;
  if (strcmp(cfg->model_name, g->model_name) != 0) {
    rf_log(RF_LOG_WARN, "model", "reload: model.model cannot change while running (restart to "
           "apply) old=\"%s\" new=\"%s\"", g->model_name, cfg->model_name);
    kept++;
  }
  rf_log(RF_LOG_NOTICE, "model", "reloaded concurrency=%d queue_max=%d timeout_ms=%ld retries=%d "
         "max_wait_ms=%llu min_confidence=%.2f prompts=%s", g->concurrency, g->queue_max,
         g->timeout_ms, g->retries, (unsigned long long)g->max_wait_ms, g->min_confidence,
         cfg->model_prompt_dir);
  dispatch(g); /* a larger pool may start queued requests now */
  return kept;
}

bool rf_gen_model_ready(const rf_gen_model_t *g) {
  return g->breaker == B_CLOSED && g->last_ok;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* ---- embeddings (the embed clustering stage) --------------------------------------- */

typedef struct embed_req {
  rf_gen_model_t *g;
  size_t n;
  unsigned char (*keys)[RF_SHA256_LEN];
  size_t *miss;     /* inputs whose vector was not cached, unique keys */
  size_t n_miss;
  rf_gen_model_embed_cb cb;
  void *arg;
} embed_req_t;

static size_t slot_of(const embed_table_t *t, const unsigned char *key) {
  size_t h;
  memcpy(&h, key, sizeof(h));
  return h & (t->cap - 1);
}

static float *table_get(const embed_table_t *t, const unsigned char *key) {
  if (t->cap == 0)
    return NULL;
  for (size_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].vec == NULL)
      return NULL;
    if (memcmp(t->slots[i].key, key, RF_SHA256_LEN) == 0)
      return t->slots[i].vec;
  }
}

static void table_free(embed_table_t *t) {
  for (size_t i = 0; i < t->cap; i++)
    rf_free(t->slots[i].vec);
  rf_free(t->slots);
  *t = (embed_table_t){0};
}

/* Stores a copy of vec (g->embed_dim floats) under key. Returns 0 or RF_ENOMEM. */
static int cache_put(rf_gen_model_t *g, const unsigned char *key, const float *vec) {
  embed_table_t *t = &g->embed_cur;
  if (table_get(t, key))
    return 0;
  if (t->n >= RF_EMBED_GEN) {
    table_free(&g->embed_old);
    g->embed_old = *t;
    *t = (embed_table_t){0};
  }
  if (t->cap == 0) {
    if ((t->slots = rf_calloc(2 * RF_EMBED_GEN, sizeof(*t->slots))) == NULL)
      return RF_ENOMEM;
    t->cap = 2 * RF_EMBED_GEN;
  }
  float *copy = rf_malloc(g->embed_dim * sizeof(*copy));
  if (copy == NULL)
    return RF_ENOMEM;
  memcpy(copy, vec, g->embed_dim * sizeof(*copy));
  size_t i = slot_of(t, key);
  while (t->slots[i].vec != NULL)
    i = (i + 1) & (t->cap - 1);
  memcpy(t->slots[i].key, key, RF_SHA256_LEN);
  t->slots[i].vec = copy;
  t->n++;
  return 0;
}

static float *cache_get(rf_gen_model_t *g, const unsigned char *key) {
  float *v = table_get(&g->embed_cur, key);
  return v ? v : table_get(&g->embed_old, key);
}

static void cache_clear(rf_gen_model_t *g) {
  table_free(&g->embed_cur);
  table_free(&g->embed_old);
  g->embed_dim = 0;
}

static void embed_req_free(embed_req_t *e) {
  rf_free(e->keys);
  rf_free(e->miss);
  rf_free(e);
}

/* Assembles the n vectors (cache + fresh answers: fresh[m * dim] for miss m)
 * into a new array of n * g->embed_dim floats, or NULL (out of memory). Runs
 * before the fresh vectors are cached, so no eviction can take a hit away. */
static float *embed_assemble(embed_req_t *e, const float *fresh) {
  rf_gen_model_t *g = e->g;
  size_t dim = g->embed_dim;
  float *all = rf_malloc(e->n * dim * sizeof(*all));
  for (size_t i = 0; all && i < e->n; i++) {
    const float *v = cache_get(g, e->keys[i]);
    for (size_t m = 0; v == NULL && fresh && m < e->n_miss; m++)
      if (memcmp(e->keys[e->miss[m]], e->keys[i], RF_SHA256_LEN) == 0)
        v = fresh + m * dim;
    memcpy(all + i * dim, v, dim * sizeof(*all)); /* every key is a hit or a miss */
  }
  return all;
}

static void on_embed(const rf_ollama_reply_t *r, void *arg) {
  embed_req_t *e = arg;
  rf_gen_model_t *g = e->g;
  char what[400];
  float *vecs = NULL;
  size_t dim = 0;
  int status = RF_EUNAVAILABLE;
  g->embed_inflight--;
  if (r->status == RF_ECANCELED) {
    status = RF_ECANCELED;
    snprintf(what, sizeof(what), "canceled");
  } else if (r->status != 0) {
    snprintf(what, sizeof(what), "%s", r->error);
    status = r->status;
    breaker_failure(g, what); /* the server did not answer: the breaker's business */
  } else if (r->http_status != 200) {
    char et[256];
    rf_ollama_error_text(r->body, r->len, et, sizeof(et));
    snprintf(what, sizeof(what), "/api/embed answered HTTP %ld: %s", r->http_status, et);
  } else if ((status = rf_ollama_embed_parse(r->body, r->len, e->n_miss, RF_EMBED_MAX_DIM, &vecs,
                                             &dim, what, sizeof(what))) == 0) {
    breaker_success(g);
    if (g->embed_dim != dim) { /* the model changed under us: start over */
      bool had_hits = e->n_miss < e->n;
      cache_clear(g);
      g->embed_dim = dim;
      if (had_hits) { /* their cached vectors had the old dimension */
        rf_free(vecs);
        snprintf(what, sizeof(what), "the embedding dimension changed to %zu", dim);
        goto fallback;
      }
    }
    float *all = embed_assemble(e, vecs);
    for (size_t m = 0; all && m < e->n_miss; m++)
      if (cache_put(g, e->keys[e->miss[m]], vecs + m * dim))
        break; /* out of memory: the rest is not cached, the answer stands */
    rf_free(vecs);
    if (all) {
      e->cb(0, all, dim, NULL, e->arg);
      rf_free(all);
      embed_req_free(e);
      return;
    }
    status = RF_ENOMEM;
    snprintf(what, sizeof(what), "out of memory");
  }
fallback:
  if (status == 0)
    status = RF_EUNAVAILABLE;
  g->stats->embed_fallbacks++;
  rf_log(RF_LOG_WARN, "model", "embed request failed inputs=%zu error=\"%s\"", e->n_miss, what);
  e->cb(status, NULL, 0, what, e->arg);
  embed_req_free(e);
}

int rf_gen_model_embed(rf_gen_model_t *g, const char *model, const char *const *values,
                       const size_t *lens, size_t n, rf_gen_model_embed_cb cb, void *arg) {
  int rc = RF_ENOMEM;
  rf_buf_t body = RF_BUF_INIT;
  const char **mv = NULL;
  size_t *ml = NULL;
  embed_req_t *e = NULL;
  if (n == 0 || n > RF_EMBED_GEN) {
    rc = RF_EINVAL;
    goto out;
  }
  if (g->closing || g->draining || g->breaker != B_CLOSED || g->embed_inflight >= g->concurrency) {
    rc = RF_EUNAVAILABLE;
    goto out;
  }
  if ((e = rf_calloc(1, sizeof(*e))) == NULL || (e->keys = rf_calloc(n, sizeof(*e->keys))) == NULL ||
      (e->miss = rf_calloc(n, sizeof(*e->miss))) == NULL)
    goto out;
  e->g = g;
  e->n = n;
  e->cb = cb;
  e->arg = arg;
  for (size_t i = 0; i < n; i++) {
    const void *parts[3] = {model, "", values[i] ? values[i] : RF_CLUSTER_NULL_KEY};
    size_t plens[3] = {strlen(model), 1, values[i] ? lens[i] : strlen(RF_CLUSTER_NULL_KEY)};
    if (values[i] == NULL)
      parts[1] = "\1"; /* NULL and the string "<null>" are different inputs */
    if ((rc = rf_sha256_parts(parts, plens, 3, e->keys[i])) != 0)
      goto out;
    if (cache_get(g, e->keys[i]) != NULL)
      continue;
    size_t m = 0;
    while (m < e->n_miss && memcmp(e->keys[e->miss[m]], e->keys[i], RF_SHA256_LEN) != 0)
      m++;
    if (m == e->n_miss)
      e->miss[e->n_miss++] = i;
  }
  if (e->n_miss == 0) {
    float *all = embed_assemble(e, NULL);
    if (all == NULL)
      goto out;
    cb(0, all, g->embed_dim, NULL, arg);
    rf_free(all);
    embed_req_free(e);
    return 1;
  }
  rc = RF_ENOMEM;
  if ((mv = rf_calloc(e->n_miss, sizeof(*mv))) == NULL ||
      (ml = rf_calloc(e->n_miss, sizeof(*ml))) == NULL)
    goto out;
  for (size_t m = 0; m < e->n_miss; m++) {
    mv[m] = values[e->miss[m]];
    ml[m] = lens[e->miss[m]];
  }
  rf_ollama_embed_body(&body, model, mv, ml, e->n_miss, g->keep_alive);
  if (!rf_buf_ok(&body))
    goto out;
  if ((rc = rf_ollama_request(g->ollama, "/api/embed", body.data, g->timeout_ms, on_embed, e)))
    goto out;
  g->embed_inflight++;
  g->stats->embed_requests++;
  rf_log(RF_LOG_DEBUG, "model", "embed request inputs=%zu cached=%zu", e->n_miss, n - e->n_miss);
  e = NULL;
  rc = 0;
out:
  if (rc < 0)
    g->stats->embed_fallbacks++;
  if (e)
    embed_req_free(e);
  rf_free(mv);
  rf_free(ml);
  rf_buf_free(&body);
  return rc;
}

int rf_gen_model_new(uv_loop_t *loop, const rf_config_t *cfg, rf_fixcache_t *fc,
                     rf_model_stats_t *stats, rf_gen_model_t **out, char *errbuf, size_t errlen) {
  int rc;
  *out = NULL;
  if (cfg->model_url == NULL || cfg->model_url[0] == '\0') {
    snprintf(errbuf, errlen, "[model] url is not set");
    return RF_ECONFIG;
  }
  if ((rc = rf_ollama_url_check(cfg->model_url, cfg->model_allow_remote, errbuf, errlen)))
    return rc;
  rf_gen_model_t *g = rf_calloc(1, sizeof(*g));
  if (g == NULL)
    goto nomem;
  g->loop = loop;
  g->fc = fc;
  g->stats = stats;
  apply_limits(g, cfg);
  if ((g->model_name = rf_strdup(cfg->model_name)) == NULL ||
      (g->keep_alive = rf_strdup(cfg->model_keep_alive)) == NULL ||
      (g->ident = rf_strdup(cfg->model_name)) == NULL)
    goto nomem;
  if ((g->t_system = read_template(cfg->model_prompt_dir, "system.txt", errbuf, errlen)) == NULL ||
      (g->t_user = read_template(cfg->model_prompt_dir, "user.txt", errbuf, errlen)) == NULL ||
      (g->t_retry = read_template(cfg->model_prompt_dir, "retry.txt", errbuf, errlen)) == NULL) {
    rc = RF_ECONFIG;
    goto err;
  }
  if ((rc = rf_ollama_new(loop, cfg->model_url, &g->ollama))) {
    snprintf(errbuf, errlen, "cannot create the Ollama client: %s", rf_strerror(rc));
    goto err;
  }
  uv_timer_init(loop, &g->tick);
  g->tick.data = g;
  g->handles_open = 2; /* tick + ollama */
  *out = g;
  return 0;
nomem:
  snprintf(errbuf, errlen, "out of memory");
  rc = RF_ENOMEM;
err:
  if (g) {
    rf_free(g->model_name);
    rf_free(g->keep_alive);
    rf_free(g->ident);
    rf_free(g->t_system);
    rf_free(g->t_user);
    rf_free(g->t_retry);
    rf_free(g);
  }
  return rc;
}

void rf_gen_model_drain(rf_gen_model_t *g) {
  g->draining = true;
  task_t *t = g->tasks;
  while (t) {
    task_t *next = t->next;
    if ((t->state == T_BACKOFF || t->state == T_PARKED ||
         (t->state == T_QUEUED && g->breaker != B_CLOSED)))
      task_complete(t, RF_ECANCELED, NULL, NULL);
    t = next;
  }
}

static void maybe_free(rf_gen_model_t *g) {
  if (--g->handles_open > 0)
    return;
  rf_free(g->model_name);
  rf_free(g->keep_alive);
  rf_free(g->ident);
  rf_free(g->t_system);
  rf_free(g->t_user);
  rf_free(g->t_retry);
  cache_clear(g);
  rf_free(g);
}

static void on_ollama_closed(void *arg) { maybe_free(arg); }
static void on_tick_closed(uv_handle_t *h) { maybe_free(h->data); }

void rf_gen_model_close(rf_gen_model_t *g) {
  if (g == NULL || g->closing)
    return;
  g->closing = true;
  /* In-flight requests complete with RF_ECANCELED through on_chat. */
  rf_ollama_close(g->ollama, on_ollama_closed, g);
  while (g->tasks)
    task_complete(g->tasks, RF_ECANCELED, NULL, NULL);
  recent_purge(g, true);
  uv_timer_stop(&g->tick);
  uv_close((uv_handle_t *)&g->tick, on_tick_closed);
}

/* fixgen.c - the generator chain.
 *
 * The chain is itself asynchronous: each step's callback starts the next
 * generator. A step that completes synchronously recurses at most once per
 * generator, so the depth is bounded by the (small) chain length.
 */
#include "rectify/fixgen.h"

#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"

#define RF_FIXCHAIN_MAX 8

struct rf_fixchain {
  rf_fixgen_t gens[RF_FIXCHAIN_MAX];
  size_t n;
};

typedef struct run {
  rf_fixchain_t *chain;
  rf_fix_request_t req;
  size_t next;
  rf_fixgen_cb cb;
  void *arg;
  rf_buf_t why;      /* "gen[, gen...]: text; ..." */
  size_t last_colon; /* where the last entry's ": text" starts in why */
} run_t;

void rf_fix_candidate_free(rf_fix_candidate_t *c) {
  if (c == NULL)
    return;
  rf_free(c->lambda_src);
  rf_free(c->reasoning);
  rf_free(c->pattern_type);
  rf_free(c->generator);
  rf_free(c->model);
  rf_free(c->fix_id);
  rf_free(c->raw_answer);
  rf_free(c);
}

rf_fixchain_t *rf_fixchain_new(void) { return rf_calloc(1, sizeof(rf_fixchain_t)); }

int rf_fixchain_add(rf_fixchain_t *chain, const rf_fixgen_ops_t *ops, void *self) {
  if (chain->n == RF_FIXCHAIN_MAX)
    return RF_ELIMIT;
  chain->gens[chain->n++] = (rf_fixgen_t){ops, self};
  return 0;
}

size_t rf_fixchain_len(const rf_fixchain_t *chain) { return chain->n; }

static void finish(run_t *r, int status, rf_fix_candidate_t *cand) {
  const char *why = r->why.len ? r->why.data : "no fix generator is configured";
  r->cb(status, cand, cand ? NULL : why, r->arg);
  rf_buf_free(&r->why);
  rf_free(r);
}

static void step(run_t *r);

/* Adds why generator `name` proposed nothing. Generators that give the same
 * reason share one entry ("cache, transfer, synth: the column has no
 * contract, ..."): one line for people to read, and fewer bytes in every
 * quarantined row's detail. */
static void add_why(run_t *r, const char *name, const char *text) {
  size_t tl = strlen(text);
  if (r->why.len && r->why.len - r->last_colon == tl + 2 &&
      memcmp(r->why.data + r->last_colon + 2, text, tl) == 0) {
    r->why.len = r->last_colon;
    rf_buf_printf(&r->why, ", %s", name);
  } else {
    rf_buf_printf(&r->why, "%s%s", r->why.len ? "; " : "", name);
  }
  r->last_colon = r->why.len;
  rf_buf_printf(&r->why, ": %s", text);
}

static void on_proposal(int status, rf_fix_candidate_t *cand, const char *why_none, void *arg) {
  run_t *r = arg;
  if (status == RF_ECANCELED || cand) {
    finish(r, status, cand);
    return;
  }
  add_why(r, r->chain->gens[r->next - 1].ops->name,
          status ? rf_strerror(status) : (why_none ? why_none : "no proposal"));
  step(r);
}

static void step(run_t *r) {
  while (r->next < r->chain->n) {
    rf_fixgen_t *g = &r->chain->gens[r->next++];
    int rc = g->ops->propose(g->self, &r->req, on_proposal, r);
    if (rc == 0)
      return; /* the callback continues the chain */
    add_why(r, g->ops->name, rf_strerror(rc));
  }
  finish(r, 0, NULL);
}

int rf_fixchain_run(rf_fixchain_t *chain, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  run_t *r = rf_calloc(1, sizeof(*r));
  if (r == NULL)
    return RF_ENOMEM;
  r->chain = chain;
  r->req = *req;
  r->cb = cb;
  r->arg = arg;
  step(r);
  return 0;
}

void rf_fixchain_free(rf_fixchain_t *chain) {
  if (chain == NULL)
    return;
  for (size_t i = 0; i < chain->n; i++)
    if (chain->gens[i].ops->destroy)
      chain->gens[i].ops->destroy(chain->gens[i].self);
  rf_free(chain);
}

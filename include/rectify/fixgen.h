/* fixgen.h - fix generators: one interface, tried in order, cheapest first.
 *
 * A generator looks at a cluster (its column contract and representatives)
 * and proposes zero or one candidate transformation. The chain tries each
 * generator in turn (cache -> transfer -> synth -> model in later issues) and
 * reports the first candidate, or none. Every candidate, whatever its source,
 * then passes the same gate before it touches a row.
 *
 * Callback rule (libuv's): propose() that returns 0 calls its callback exactly
 * once, possibly before returning; propose() that fails returns a negative
 * RF_E* code and never calls it. On shutdown pending proposals complete with
 * status RF_ECANCELED.
 */
#ifndef RECTIFY_FIXGEN_H
#define RECTIFY_FIXGEN_H

#include <stddef.h>

#include "rectify/cluster.h"
#include "rectify/config.h"

typedef struct rf_fix_candidate {
  char *lambda_src;   /* the transformation, in the rectify lambda language */
  double confidence;  /* 0..1 */
  char *reasoning;    /* one sentence, or NULL */
  char *pattern_type; /* e.g. "date_format", or NULL */
  char *generator;    /* "cache", "transfer", "synth", "model" */
  char *model;        /* model name and digest, or NULL */
  char *fix_id;       /* hex content hash, when known */
  char *raw_answer;   /* the model's raw answer, or NULL */
} rf_fix_candidate_t;

void rf_fix_candidate_free(rf_fix_candidate_t *c);

/* What the generators see. Borrowed for the duration of propose(), and for an
 * asynchronous generator until its callback has run. */
typedef struct rf_fix_request {
  const char *table_name;
  const char *column_name;
  const rf_contract_t *contract; /* NULL when the column has none */
  const rf_cluster_t *cluster;
} rf_fix_request_t;

/* status 0 with cand == NULL: no proposal. cand is owned by the callee. */
typedef void (*rf_fixgen_cb)(int status, rf_fix_candidate_t *cand, const char *why_none,
                             void *arg);

typedef struct rf_fixgen_ops {
  const char *name;
  int (*propose)(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg);
  void (*destroy)(void *self);
} rf_fixgen_ops_t;

typedef struct rf_fixgen {
  const rf_fixgen_ops_t *ops;
  void *self;
} rf_fixgen_t;

typedef struct rf_fixchain rf_fixchain_t;

/* An empty chain (no generators: every cluster ends as `no_fix`). */
rf_fixchain_t *rf_fixchain_new(void);
/* Appends a generator; the chain takes ownership (destroy on free). */
int rf_fixchain_add(rf_fixchain_t *chain, const rf_fixgen_ops_t *ops, void *self);
size_t rf_fixchain_len(const rf_fixchain_t *chain);
/* Runs the generators in order until one proposes. cb follows the rule above;
 * with no proposal, why_none says which generators declined and why. */
int rf_fixchain_run(rf_fixchain_t *chain, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg);
void rf_fixchain_free(rf_fixchain_t *chain);

#endif

/* gate.c - the gate every candidate fix passes, and apply.
 *
 * Why here and not in each generator: principle 3 ("prove before you
 * apply") must mean the same thing for a fix from the cache, a transferred
 * fix and a fresh model answer. Generators call rf_gate_check to decide
 * whether to offer a candidate (cache, transfer) or to retry (model); the
 * pipeline calls it once more on whatever the chain returns, and only a
 * candidate that passes there is applied.
 *
 * The model's answer is untrusted text: it is parsed with cJSON under a size
 * bound, every field is type-checked, and the lambda is compiled by the
 * lambda language's checker, which refuses everything outside the safe
 * subset. Nothing of the answer except the lambda's *outputs* (computed by
 * rectify from the row) ever becomes a value.
 */
#include "rectify/gate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/error.h"
#include "rectify/hash.h"
#include "rectify/outcome.h"

#define RF_ANSWER_MAX (64 * 1024)

const char rf_gate_answer_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"transformation\":{\"type\":\"string\"},"
    "\"confidence_score\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"reasoning\":{\"type\":\"string\"},"
    "\"pattern_type\":{\"type\":\"string\"}},"
    "\"required\":[\"transformation\",\"confidence_score\",\"reasoning\",\"pattern_type\"]}";

int rf_gate_parse_answer(const char *text, size_t len, rf_fix_candidate_t **out, char *why,
                         size_t whylen) {
  int rc = RF_EPARSE;
  cJSON *root = NULL;
  rf_fix_candidate_t *c = NULL;
  *out = NULL;
  if (len > RF_ANSWER_MAX) {
    snprintf(why, whylen, "the answer is %zu bytes, more than %d", len, RF_ANSWER_MAX);
    goto out;
  }
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (root == NULL) {
    snprintf(why, whylen, "the answer is not JSON (error near byte %td)",
             end ? end - text : (ptrdiff_t)0);
    goto out;
  }
  for (const char *p = end; p && p < text + len; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
      snprintf(why, whylen, "the answer has text after the JSON object");
      goto out;
    }
  if (!cJSON_IsObject(root)) {
    snprintf(why, whylen, "the answer is JSON but not an object");
    goto out;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "transformation");
  const cJSON *conf = cJSON_GetObjectItemCaseSensitive(root, "confidence_score");
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pattern_type");
  if (!cJSON_IsString(t) || t->valuestring[0] == '\0') {
    snprintf(why, whylen, "the answer breaks the schema: `transformation` must be a non-empty "
                          "string");
    goto out;
  }
  if (!cJSON_IsNumber(conf) || !isfinite(conf->valuedouble) || conf->valuedouble < 0 ||
      conf->valuedouble > 1) {
    snprintf(why, whylen, "the answer breaks the schema: `confidence_score` must be a number "
                          "between 0 and 1");
    goto out;
  }
  if (!cJSON_IsString(r) || !cJSON_IsString(pt)) {
    snprintf(why, whylen, "the answer breaks the schema: `reasoning` and `pattern_type` must be "
                          "strings");
    goto out;
  }
  rc = RF_ENOMEM;
  if ((c = rf_calloc(1, sizeof(*c))) == NULL || (c->lambda_src = rf_strdup(t->valuestring)) == NULL ||
      (c->reasoning = rf_strndup(r->valuestring, 1000)) == NULL ||
      (c->pattern_type = rf_strndup(pt->valuestring, 100)) == NULL ||
      (c->generator = rf_strdup("model")) == NULL || (c->raw_answer = rf_strndup(text, len)) == NULL) {
    snprintf(why, whylen, "out of memory");
    goto out;
  }
  c->confidence = conf->valuedouble;
  *out = c;
  c = NULL;
  rc = 0;
out:
  cJSON_Delete(root);
  rf_fix_candidate_free(c);
  return rc;
}

/* Rows go to the lambda in batches of EVAL_CHUNK (inputs on the stack). Their
 * values passed intake's UTF-8 check (rf_json_parse refuses invalid UTF-8 and
 * lone surrogates) or come back from the database that stored them, so the
 * lambda does not validate them again (RF_LAMBDA_TRUSTED_UTF8). */
#define EVAL_CHUNK 64

/* State of the dry run's and the apply loop's sinks. */
typedef struct gate_eval {
  size_t base;                 /* index of the current batch's first row */
  size_t n;                    /* rows in all */
  const rf_checker_t *checker;
  rf_gate_verdict_t *v;        /* dry run: the detail of the first bad sample */
  rf_apply_row_t *out;         /* apply: one per row */
} gate_eval_t;

/* Evaluates l on rows[0..st->n), calling sink(st, i, res) per row (row
 * st->base + i). Returns 0, RF_ENOMEM or the sink's first non-zero return. */
static int eval_rows(const rf_lambda_t *l, rf_lambda_ctx_t *ctx, rf_anomaly_t *const *rows,
                     rf_lambda_sink_fn sink, gate_eval_t *st) {
  rf_lambda_input_t in[EVAL_CHUNK];
  bool wants_row = rf_lambda_arity(l) == 2; /* lambda x, row: ... */
  for (st->base = 0; st->base < st->n; st->base += EVAL_CHUNK) {
    size_t m = st->n - st->base < EVAL_CHUNK ? st->n - st->base : EVAL_CHUNK;
    for (size_t i = 0; i < m; i++) {
      rf_anomaly_t *a = rows[st->base + i];
      const cJSON *row = NULL;
      int rc = wants_row ? rf_anomaly_row(a, &row) : 0;
      if (rc)
        return rc;
      in[i] = (rf_lambda_input_t){a->value, a->value ? a->value_len : 0, row};
    }
    int rc = rf_lambda_eval_batch(ctx, l, in, m, RF_LAMBDA_TRUSTED_UTF8, sink, st);
    if (rc)
      return rc;
  }
  return 0;
}

/* Decides whether a successful result is an acceptable output: a str, int or
 * float (its str() is the value) or None (SQL NULL). */
static bool result_type_ok(const rf_lambda_result_t *res) {
  if (res->is_none)
    return true;
  return res->type && (strcmp(res->type, "str") == 0 || strcmp(res->type, "int") == 0 ||
                       strcmp(res->type, "float") == 0);
}

#define DRY_RUN_BAD 1 /* dry_run_row's "stop: this sample fails" */

/* The dry run's sink: DRY_RUN_BAD with v->detail on the first sample that
 * raises, returns a wrong type or breaks the contract; RF_ENOMEM; else 0. */
static int dry_run_row(void *arg, size_t i, const rf_lambda_result_t *res) {
  gate_eval_t *st = arg;
  rf_gate_verdict_t *v = st->v;
  size_t k = st->base + i + 1;
  char why[300];
  if (!res->ok) {
    snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the transformation raised "
             "%s: %s", k, st->n, res->error, res->message);
    return DRY_RUN_BAD;
  }
  if (!result_type_ok(res)) {
    snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the transformation returned "
             "a %s, not a str", k, st->n, res->type);
    return DRY_RUN_BAD;
  }
  int c = rf_checker_check(st->checker, res->is_none ? NULL : res->value, res->value_len, why,
                           sizeof(why));
  if (c == RF_ENOMEM)
    return RF_ENOMEM;
  if (c) {
    snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the output breaks the "
             "column contract: %s", k, st->n, why);
    return DRY_RUN_BAD;
  }
  return 0;
}

int rf_gate_check(const rf_fix_candidate_t *cand, const rf_checker_t *checker,
                  const rf_cluster_t *cluster, double min_confidence, rf_gate_verdict_t *v,
                  rf_lambda_t **lambda_out) {
  rf_lambda_t *l = NULL;
  rf_lambda_ctx_t *ctx = NULL;
  int rc = 0;
  char err[400];
  memset(v, 0, sizeof(*v));
  v->reason = RF_REASON_FAILED_VALIDATION;
  if (lambda_out)
    *lambda_out = NULL;
  if (cand->lambda_src == NULL) {
    snprintf(v->detail, sizeof(v->detail), "the candidate has no transformation");
    goto out;
  }
  rc = rf_lambda_compile(cand->lambda_src, strlen(cand->lambda_src), NULL, &l, err, sizeof(err));
  if (rc == RF_ENOMEM)
    goto out;
  if (rc) {
    snprintf(v->detail, sizeof(v->detail), "the transformation is refused by the lambda "
             "language (%s): %s", rf_lambda_compile_error_class(rc), err);
    rc = 0;
    goto out;
  }
  if (!(cand->confidence >= min_confidence)) {
    v->reason = RF_REASON_LOW_CONFIDENCE;
    snprintf(v->detail, sizeof(v->detail), "confidence %.2f is below min_confidence %.2f",
             cand->confidence, min_confidence);
    goto out;
  }
  if (checker == NULL) {
    snprintf(v->detail, sizeof(v->detail), "the column has no contract, so no fix can be "
             "proven (add a [column \"table.column\"] section)");
    goto out;
  }
  if ((ctx = rf_lambda_ctx_new()) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  gate_eval_t st = {.n = cluster->n_reps, .checker = checker, .v = v};
  if ((rc = eval_rows(l, ctx, cluster->reps, dry_run_row, &st))) {
    if (rc == DRY_RUN_BAD)
      rc = 0;
    goto out;
  }
  if (cluster->n_reps == 0) {
    snprintf(v->detail, sizeof(v->detail), "the cluster has no samples to prove the fix on");
    goto out;
  }
  /* A merged cluster's representatives are taken in turn from its
   * sub-clusters, so with more than RF_CLUSTER_MAX_REPS of them some are not
   * among them: one fix must serve every sub-cluster (docs/clustering.md). */
  for (size_t s = 0; s < cluster->n_subs; s++) {
    const rf_cluster_t *sub = &cluster->subs[s];
    st = (gate_eval_t){.n = sub->n_reps, .checker = checker, .v = v};
    if ((rc = eval_rows(l, ctx, sub->reps, dry_run_row, &st))) {
      if (rc == DRY_RUN_BAD) {
        char inner[sizeof(v->detail)];
        memcpy(inner, v->detail, sizeof(inner));
        snprintf(v->detail, sizeof(v->detail), "merged sub-cluster %s: %.540s", sub->fingerprint,
                 inner);
        rc = 0;
      }
      goto out;
    }
  }
  v->ok = true;
  v->reason = NULL;
  if (lambda_out) {
    *lambda_out = l;
    l = NULL;
  }
out:
  rf_lambda_ctx_free(ctx);
  rf_lambda_free(l);
  return rc;
}

void rf_apply_row_clear(rf_apply_row_t *r) {
  rf_free(r->new_value);
  rf_free(r->detail);
  memset(r, 0, sizeof(*r));
}

static int reject_row(rf_apply_row_t *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject_row(rf_apply_row_t *r, const char *reason, const char *fmt, ...) {
  char buf[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  r->fixed = false;
  r->reason = reason;
  return (r->detail = rf_strdup(buf)) ? 0 : RF_ENOMEM;
}

/* The apply loop's sink: fills out[row] (fixed with a copy of the value, or
 * rejected with a reason). Returns 0 or RF_ENOMEM. */
static int apply_row(void *arg, size_t i, const rf_lambda_result_t *res) {
  gate_eval_t *st = arg;
  rf_apply_row_t *r = &st->out[st->base + i];
  char why[300];
  if (!res->ok)
    return reject_row(r, RF_REASON_APPLY_ERROR, "the transformation raised %s: %s", res->error,
                      res->message);
  if (!result_type_ok(res))
    return reject_row(r, RF_REASON_INVALID_OUTPUT, "the transformation returned a %s, not a str",
                      res->type);
  int c = rf_checker_check(st->checker, res->is_none ? NULL : res->value, res->value_len, why,
                           sizeof(why));
  if (c == RF_ENOMEM)
    return RF_ENOMEM;
  if (c)
    return reject_row(r, RF_REASON_INVALID_OUTPUT, "the output breaks the column contract: %s",
                      why);
  /* the result is borrowed from the ctx: the row keeps its own copy */
  if (!res->is_none && (r->new_value = rf_memdup(res->value, res->value_len + 1)) == NULL)
    return RF_ENOMEM;
  r->fixed = true;
  return 0;
}

int rf_apply_rows(const rf_lambda_t *l, const rf_checker_t *checker, rf_anomaly_t *const *rows,
                  size_t n, rf_lambda_ctx_t *ctx, rf_apply_row_t *out) {
  memset(out, 0, n * sizeof(*out));
  gate_eval_t st = {.n = n, .checker = checker, .out = out};
  int rc = eval_rows(l, ctx, rows, apply_row, &st);
  if (rc)
    for (size_t i = 0; i < n; i++)
      rf_apply_row_clear(&out[i]);
  return rc;
}

void rf_fix_id(const char *table_name, const char *column_name, const char *fingerprint,
               const char *lambda_src, char out[33]) {
  static const char tag[] = "rectify-fix-v1";
  const void *parts[] = {tag, table_name, column_name, fingerprint, lambda_src};
  size_t lens[5] = {sizeof(tag), strlen(table_name) + 1, strlen(column_name) + 1,
                    strlen(fingerprint) + 1, strlen(lambda_src)};
  unsigned char h[RF_SHA256_LEN];
  if (rf_sha256_parts(parts, lens, 5, h) != 0)
    memset(h, 0, sizeof(h));
  rf_hex_encode(h, 16, out);
}

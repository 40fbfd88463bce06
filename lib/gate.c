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

/* Evaluates l on one anomaly: returns 0 and fills res, or RF_ENOMEM. */
static int eval_row(const rf_lambda_t *l, rf_lambda_ctx_t *ctx, const rf_anomaly_t *a,
                    rf_lambda_result_t *res) {
  return rf_lambda_eval_ctx(ctx, l, a->value, a->value ? a->value_len : 0, a->row, res);
}

/* Decides whether a successful result is an acceptable output: a str, int or
 * float (its str() is the value) or None (SQL NULL). */
static bool result_type_ok(const rf_lambda_result_t *res) {
  if (res->is_none)
    return true;
  return res->type && (strcmp(res->type, "str") == 0 || strcmp(res->type, "int") == 0 ||
                       strcmp(res->type, "float") == 0);
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
  for (size_t i = 0; i < cluster->n_reps; i++) {
    const rf_anomaly_t *a = cluster->reps[i];
    rf_lambda_result_t res;
    if ((rc = eval_row(l, ctx, a, &res)))
      goto out;
    char why[300];
    int bad = 0;
    if (!res.ok) {
      snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the transformation raised "
               "%s: %s", i + 1, cluster->n_reps, res.error, res.message);
      bad = 1;
    } else if (!result_type_ok(&res)) {
      snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the transformation returned "
               "a %s, not a str", i + 1, cluster->n_reps, res.type);
      bad = 1;
    } else {
      int c = rf_checker_check(checker, res.is_none ? NULL : res.value, res.value_len, why,
                               sizeof(why));
      if (c == RF_ENOMEM) {
        rf_lambda_result_clear(&res);
        rc = RF_ENOMEM;
        goto out;
      }
      if (c) {
        snprintf(v->detail, sizeof(v->detail), "sample %zu of %zu: the output breaks the "
                 "column contract: %s", i + 1, cluster->n_reps, why);
        bad = 1;
      }
    }
    rf_lambda_result_clear(&res);
    if (bad)
      goto out;
  }
  if (cluster->n_reps == 0) {
    snprintf(v->detail, sizeof(v->detail), "the cluster has no samples to prove the fix on");
    goto out;
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

int rf_apply_rows(const rf_lambda_t *l, const rf_checker_t *checker, rf_anomaly_t *const *rows,
                  size_t n, rf_lambda_ctx_t *ctx, rf_apply_row_t *out) {
  int rc = 0;
  memset(out, 0, n * sizeof(*out));
  for (size_t i = 0; i < n && rc == 0; i++) {
    rf_lambda_result_t res;
    rf_apply_row_t *r = &out[i];
    if ((rc = eval_row(l, ctx, rows[i], &res)))
      break;
    char why[300];
    if (!res.ok) {
      rc = reject_row(r, RF_REASON_APPLY_ERROR, "the transformation raised %s: %s", res.error,
                      res.message);
    } else if (!result_type_ok(&res)) {
      rc = reject_row(r, RF_REASON_INVALID_OUTPUT, "the transformation returned a %s, not a str",
                      res.type);
    } else {
      int c = rf_checker_check(checker, res.is_none ? NULL : res.value, res.value_len, why,
                               sizeof(why));
      if (c == RF_ENOMEM)
        rc = RF_ENOMEM;
      else if (c)
        rc = reject_row(r, RF_REASON_INVALID_OUTPUT, "the output breaks the column contract: %s",
                        why);
      else {
        r->fixed = true;
        if (!res.is_none) {
          r->new_value = res.value; /* owned by the result: take it */
          res.value = NULL;
        }
      }
    }
    rf_lambda_result_clear(&res);
  }
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

/* gate.h - prove a candidate fix before it touches a row, then apply it.
 *
 * Every candidate, whatever generator proposed it, passes the same gate:
 *   1. its lambda compiles in the rectify lambda language (rf_lambda_compile);
 *   2. its confidence is at least min_confidence (else `low_confidence`);
 *   3. a dry run on every representative of the cluster succeeds and gives a
 *      contract-valid value (else `lambda_failed_validation`).
 * A model's answer is first parsed against the answer schema
 * {transformation, confidence_score, reasoning, pattern_type}; an answer that
 * breaks it is `lambda_failed_validation` too, with the raw answer kept.
 *
 * Apply then runs the accepted lambda on every row of the cluster: a row whose
 * evaluation raises is `apply_error`, one whose output breaks the contract is
 * `invalid_output`; both go to quarantine alone, the others are fixed.
 *
 * Threads: everything here is pure computation on borrowed inputs; apply may
 * run on a worker thread with its own rf_lambda_ctx_t.
 */
#ifndef RECTIFY_GATE_H
#define RECTIFY_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "rectify/cluster.h"
#include "rectify/contract.h"
#include "rectify/fixgen.h"
#include "rectify/lambda.h"

/* The JSON schema of a model's answer, as Ollama's `format` wants it. */
extern const char rf_gate_answer_schema[];

/* Parses a model's answer text (the assistant message content) into a new
 * candidate (generator "model", raw_answer = a copy of the text). Returns 0,
 * RF_EPARSE with why filled when the text is not JSON of the schema, or
 * RF_ENOMEM. */
int rf_gate_parse_answer(const char *text, size_t len, rf_fix_candidate_t **out, char *why,
                         size_t whylen);

typedef struct rf_gate_verdict {
  bool ok;
  const char *reason; /* when !ok: RF_REASON_LOW_CONFIDENCE or RF_REASON_FAILED_VALIDATION */
  char detail[640];   /* when !ok: what failed, for the human and for a retry prompt */
} rf_gate_verdict_t;

/* Runs the gate for cand on cluster's representatives (and, for a merged
 * cluster, on every sub-cluster's representatives) against checker
 * (NULL: the column has no contract, which fails: nothing to prove against).
 * On success, *lambda_out (when not NULL) receives the compiled lambda (free
 * with rf_lambda_free). Returns 0 with *v filled either way, or RF_ENOMEM. */
int rf_gate_check(const rf_fix_candidate_t *cand, const rf_checker_t *checker,
                  const rf_cluster_t *cluster, double min_confidence, rf_gate_verdict_t *v,
                  rf_lambda_t **lambda_out);

/* The result of applying a fix to one row. */
typedef struct rf_apply_row {
  bool fixed;         /* true: new_value (NULL = SQL NULL) goes to staging */
  char *new_value;    /* owned */
  const char *reason; /* when !fixed: RF_REASON_APPLY_ERROR or RF_REASON_INVALID_OUTPUT */
  char *detail;       /* when !fixed: owned one-line reason */
} rf_apply_row_t;

/* Applies l to rows[0..n) and checks each output; out[0..n) is filled (free
 * each with rf_apply_row_clear). ctx is the calling thread's. Returns 0, or
 * RF_ENOMEM (out is then fully cleared). */
int rf_apply_rows(const rf_lambda_t *l, const rf_checker_t *checker, rf_anomaly_t *const *rows,
                  size_t n, rf_lambda_ctx_t *ctx, rf_apply_row_t *out);
void rf_apply_row_clear(rf_apply_row_t *r);

/* The fix id: hex SHA-256 (first 32 hex digits) of the fix content
 * ("rectify-fix-v1", table, column, fingerprint, lambda, NUL-separated). */
void rf_fix_id(const char *table_name, const char *column_name, const char *fingerprint,
               const char *lambda_src, char out[33]);

#endif

/* receipt.c - canonical receipt bytes (one function, used by writer and verifier).
 *
 * Why one hand-written function rather than "serialize the row somehow": the
 * verifier must rebuild exactly the bytes the writer hashed, years later, from
 * what PostgreSQL gives back. So the format is fixed, versioned ("v"), and
 * independent of any library's choices: a JSON object with the keys always in
 * the order below, strings escaped by rf_buf_json_str(), absent values as
 * null, integers in decimal and the confidence in an exact round-trip form. docs/audit.md lists the fields.
 */
#include "rectify/receipt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/error.h"
#include "rectify/merkle.h"

void rf_receipt_put_double(rf_buf_t *out, double d) {
  if (isnan(d)) {
    rf_buf_puts(out, "NaN");
    return;
  }
  if (isinf(d)) {
    rf_buf_puts(out, d < 0 ? "-Infinity" : "Infinity");
    return;
  }
  /* "%.15g" when it reads back exactly (for values that have a shorter exact
   * form, %g then prints that form: trailing zeros are dropped), else "%.16g",
   * else "%.17g" (always exact). Deterministic, and cheap for the common case. */
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
    if (strtod(tmp, NULL) == d)
      break;
  }
  rf_buf_puts(out, tmp);
}

static void put_str(rf_buf_t *out, const char *name, const char *s) {
  rf_buf_putc(out, ',');
  rf_buf_json_str(out, name, strlen(name));
  rf_buf_putc(out, ':');
  if (s == NULL)
    rf_buf_puts(out, "null");
  else
    rf_buf_json_str(out, s, strlen(s));
}

/* A digest field: hex SHA-256 of data, or null when data is absent. */
static int put_digest(rf_buf_t *out, const char *name, const void *data, size_t len,
                      const unsigned char *given) {
  unsigned char d[RF_SHA256_LEN];
  rf_buf_putc(out, ',');
  rf_buf_json_str(out, name, strlen(name));
  rf_buf_putc(out, ':');
  if (given == NULL && data == NULL) {
    rf_buf_puts(out, "null");
    return 0;
  }
  if (given == NULL) {
    int rc = rf_sha256(data, len, d);
    if (rc)
      return rc;
    given = d;
  }
  rf_buf_putc(out, '"');
  rf_buf_hex(out, given, RF_SHA256_LEN);
  rf_buf_putc(out, '"');
  return 0;
}

int rf_receipt_bytes(const rf_outcome_t *o, const char *batch_id, const unsigned char *raw_sha256,
                     rf_buf_t *out) {
  bool fixed = o->kind == RF_OUTCOME_FIXED;
  if ((!fixed && o->kind != RF_OUTCOME_QUARANTINED) || o->key == NULL)
    return RF_EINVAL;
  int rc;
  rf_buf_printf(out, "{\"v\":%d", RF_RECEIPT_VERSION);
  put_str(out, "batch", batch_id);
  put_str(out, "key", o->key);
  put_str(out, "outcome", fixed ? "fixed" : "quarantined");
  put_str(out, "source", o->source);
  put_str(out, "source_id", o->source_id);
  put_str(out, "table", o->table_name);
  put_str(out, "column", o->column_name);
  put_str(out, "pk", o->pk_json);
  put_str(out, "pk_hash", o->pk_hash);
  put_str(out, "old", o->old_value);
  put_str(out, "new", fixed ? o->new_value : NULL);
  rc = put_digest(out, "row_sha256", o->row_json, o->row_json ? strlen(o->row_json) : 0, NULL);
  if (rc)
    return rc;
  put_str(out, "fingerprint", o->fingerprint);
  put_str(out, "cluster", o->cluster_id);
  put_str(out, "fix_id", o->fix_id);
  put_str(out, "lambda", o->lambda_src);
  put_str(out, "generator", o->generator);
  put_str(out, "model", o->model);
  rf_buf_puts(out, ",\"confidence\":");
  if (o->has_confidence) {
    rf_buf_putc(out, '"');
    rf_receipt_put_double(out, o->confidence);
    rf_buf_putc(out, '"');
  } else {
    rf_buf_puts(out, "null");
  }
  put_str(out, "reason", fixed ? NULL : o->reason);
  put_str(out, "detail", fixed ? NULL : o->detail);
  const char *answer = fixed ? NULL : o->model_answer;
  rc = put_digest(out, "answer_sha256", answer, answer ? strlen(answer) : 0, NULL);
  if (rc)
    return rc;
  rc = put_digest(out, "raw_sha256", o->raw, o->raw_len, raw_sha256);
  if (rc)
    return rc;
  rf_buf_printf(out, ",\"ts_us\":%lld}", (long long)o->ts_us);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

int rf_receipt_leaf(const rf_outcome_t *o, const char *batch_id, const unsigned char *raw_sha256,
                    rf_buf_t *scratch, unsigned char leaf[RF_SHA256_LEN]) {
  rf_buf_reset(scratch);
  int rc = rf_receipt_bytes(o, batch_id, raw_sha256, scratch);
  if (rc)
    return rc;
  return rf_merkle_leaf(scratch->data, scratch->len, leaf);
}

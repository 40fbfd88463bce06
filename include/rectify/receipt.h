/* receipt.h - the canonical receipt of one row outcome, and its leaf hash.
 *
 * Every row of rectify.staging and rectify.quarantine carries the fields of
 * its receipt (DESIGN.md principle 7) as columns, plus leaf_hash =
 * SHA-256(0x00 || receipt bytes). The receipt bytes are built by exactly ONE
 * function, rf_receipt_bytes(), from an rf_outcome_t: the writer calls it on
 * the outcome it is about to store, the verifier rebuilds an rf_outcome_t
 * from the stored columns and calls it again. Any stored column that changes
 * changes the bytes. docs/audit.md documents the byte format.
 *
 * Large or free-form fields are covered through their SHA-256 (raw payload,
 * model answer, canonical row context); everything else verbatim.
 * For a FIXED outcome reason/detail/model_answer are not stored and count as
 * absent; for a QUARANTINED outcome new_value counts as absent.
 */
#ifndef RECTIFY_RECEIPT_H
#define RECTIFY_RECEIPT_H

#include <stddef.h>

#include "rectify/buf.h"
#include "rectify/hash.h"
#include "rectify/outcome.h"

#define RF_RECEIPT_VERSION 1

/* Appends the canonical receipt bytes of o, stored under batch_id, to out.
 * raw_sha256: the payload digest when only the digest is at hand (staging
 * stores no raw bytes), or NULL to hash o->raw[0..raw_len) (o->raw == NULL
 * means "no payload"). Returns 0, RF_EINVAL (o->kind is neither FIXED nor
 * QUARANTINED, or o->key is NULL), RF_ENOMEM (out->oom) or RF_EINTERNAL. */
int rf_receipt_bytes(const rf_outcome_t *o, const char *batch_id, const unsigned char *raw_sha256,
                     rf_buf_t *out);

/* leaf = SHA-256(0x00 || rf_receipt_bytes(...)). scratch is reset and used as
 * working space (keep one per thread to avoid reallocations). Same returns. */
int rf_receipt_leaf(const rf_outcome_t *o, const char *batch_id, const unsigned char *raw_sha256,
                    rf_buf_t *scratch, unsigned char leaf[RF_SHA256_LEN]);

/* Appends d as "%.15g" if strtod() reads that back as exactly d, else
 * "%.16g", else "%.17g" ("NaN", "Infinity", "-Infinity" for non-finite
 * values): 0.85 -> "0.85", 0.1+0.2 -> "0.30000000000000004". Used for the
 * receipt and for the COPY text of confidence, so both agree. */
void rf_receipt_put_double(rf_buf_t *out, double d);

#endif

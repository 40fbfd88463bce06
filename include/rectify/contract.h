/* contract.h - is this value what the column's contract says it must be?
 *
 * One validator serves the gate (dry runs on samples), apply (every repaired
 * row) and the quarantine dashboard. The rules, per `type` (docs/model.md has
 * the full text):
 *
 *   date, timestamp  parsed with the contract's strftime `format` exactly as
 *                    Python's datetime.strptime(value, format) parses it (the
 *                    lambda runtime's strptime); min/max are written in the
 *                    same format and compared as points in time (aware values
 *                    are compared in UTC)
 *   integer          -?[0-9]+ (no '+', spaces, separators or exponent)
 *   decimal          -?[0-9]+(\.[0-9]+)? ; min/max compared exactly (no floats)
 *   boolean          "true" or "false"; with `allowed = T, F` (two values)
 *                    the first spelling means true and the second false
 *   email            a dot-atom local part (RFC 5322 atext, at most 64 bytes)
 *                    '@' a DNS name (letters, digits, '-', at least two labels,
 *                    alphabetic TLD, at most 253 bytes); no quoted local parts,
 *                    comments or address literals
 *   enum             one of `allowed`, compared exactly
 *   string           any text
 *
 * and for every type: `pattern` must match the whole value (PCRE2, Python
 * syntax, with match limits), `max_length` counts characters (code points),
 * NULL is valid only when `nullable`, and the value must be valid UTF-8.
 *
 * Ownership: a checker copies what it needs from the contract; it is
 * immutable once compiled, so any number of threads may use it at once.
 */
#ifndef RECTIFY_CONTRACT_H
#define RECTIFY_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include "rectify/config.h"

typedef struct rf_checker rf_checker_t;

/* Compiles contract c (pattern, format, bounds) once. Returns 0 and *out, or
 * RF_EINVAL (a bound that does not parse, a bad pattern or format; why says
 * which) or RF_ENOMEM. */
int rf_checker_new(const rf_contract_t *c, rf_checker_t **out, char *why, size_t whylen);
void rf_checker_free(rf_checker_t *k);
/* 0 when value[0..len) (value == NULL: SQL NULL) satisfies the contract;
 * RF_EVALUE with a one-line reason in why (which may quote the value: it is
 * row data, log it only at debug) when it does not; RF_ENOMEM. */
int rf_checker_check(const rf_checker_t *k, const char *value, size_t len, char *why,
                     size_t whylen);

/* Convenience for one-off checks (the dashboard): compile, check, free.
 * value is NUL-terminated or NULL. Same returns as rf_checker_check, plus
 * those of rf_checker_new. */
int rf_contract_check(const rf_contract_t *c, const char *value, char *why, size_t whylen);

/* Describes the contract in words for a prompt or a page, e.g. "a date in the
 * format %Y-%m-%d, from 2000-01-01; never empty (not nullable)". Appends to
 * out (check rf_buf_ok). */
struct rf_buf;
void rf_contract_describe(const rf_contract_t *c, struct rf_buf *out);

#endif

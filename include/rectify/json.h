/* json.h - JSON parsing that keeps numbers exact, and rectify's canonical form.
 *
 * rf_json_parse() is cJSON plus two guarantees cJSON alone lacks: every number
 * keeps its source text (in the node's valuestring), so a primary key such as
 * 12345678901234567890 is never rounded through a double; and the input is
 * checked (valid UTF-8, no NUL bytes or \u0000 escapes, no lone surrogates,
 * nesting at most max_depth, numbers of sane size) so that whatever it accepts
 * PostgreSQL's jsonb accepts too.
 *
 * The canonical form is PostgreSQL jsonb's normalisation written compactly:
 * object keys sorted by (length, bytes) with duplicate keys resolved last-wins,
 * numbers in numeric's canonical text (1e3 -> 1000, 1.50 stays 1.50, -0 -> 0),
 * strings escaped as rf_buf_json_str does, no whitespace. Therefore
 * canonical(text) == canonical(jsonb::text of the same value), which lets the
 * audit verifier re-derive hashes from what the database stores.
 */
#ifndef RECTIFY_JSON_H
#define RECTIFY_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "rectify/buf.h"

typedef enum rf_json_status {
  RF_JSON_OK = 0,
  RF_JSON_SYNTAX,      /* not JSON */
  RF_JSON_UTF8,        /* invalid UTF-8 in the text or a lone surrogate escape */
  RF_JSON_NUL,         /* a NUL byte or a \u0000 escape */
  RF_JSON_DEPTH,       /* nested deeper than max_depth */
  RF_JSON_NUMBER,      /* a number too long or with an exponent beyond +-1000 */
  RF_JSON_NOMEM,
} rf_json_status_t;

typedef struct rf_json_error {
  rf_json_status_t status;
  size_t offset;       /* byte offset of the problem when known */
  char message[128];
} rf_json_error_t;

/* Parses text[0..len). Returns a cJSON tree (free with cJSON_Delete) or NULL
 * with err filled. max_depth 0 means 64. */
cJSON *rf_json_parse(const char *text, size_t len, int max_depth, rf_json_error_t *err);
/* Appends the canonical form of v to out. Numbers must come from rf_json_parse
 * (source text kept) or be integral doubles. Returns 0 or RF_ENOMEM/RF_EINVAL. */
int rf_json_canonical(const cJSON *v, rf_buf_t *out);
/* Convenience: canonical form of text, as a new string (rf_free). NULL + err on failure. */
char *rf_json_canonicalize(const char *text, size_t len, rf_json_error_t *err);

#endif

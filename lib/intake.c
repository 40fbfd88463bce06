/* intake.c - message contract enforcement.
 *
 * The order of checks is the order of cost: size before parsing, UTF-8 and
 * NUL bytes before JSON (rf_json_parse), then the fields. The first failed
 * check decides the reason, and the detail says exactly what was wrong so
 * that a person looking at the quarantine row knows what the producer sent.
 */
#include "rectify/intake.h"

#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/hash.h"
#include "rectify/json.h"
#include "rectify/outcome.h"
#include "rectify/utf8.h"

#define RF_MAX_NAME_BYTES 128
#define RF_MAX_KEY_BYTES 512
#define RF_MAX_META_BYTES 4096

void rf_intake_opts_from_config(rf_intake_opts_t *o, const rf_config_t *cfg) {
  o->max_message_bytes = cfg->max_message_bytes;
  o->max_value_bytes = cfg->max_value_bytes;
  o->max_json_depth = cfg->max_json_depth;
  o->strict_columns = cfg->strict_columns;
  o->cfg = cfg;
}

int rf_anomaly_row(rf_anomaly_t *a, const cJSON **row) {
  *row = NULL;
  if (a->row == NULL && a->raw != NULL && a->reject == NULL) {
    /* The raw message was parsed once already, within max_json_depth (at
     * most 512, the configuration's bound): only memory can fail now. */
    rf_json_error_t jerr;
    cJSON *root = rf_json_parse((const char *)a->raw, a->raw_len, 512, &jerr);
    if (root == NULL)
      return jerr.status == RF_JSON_NOMEM ? RF_ENOMEM : RF_EINTERNAL;
    cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "row");
    if (cJSON_IsObject(r))
      a->row = cJSON_DetachItemViaPointer(root, r);
    cJSON_Delete(root);
  }
  *row = a->row;
  return 0;
}

void rf_anomaly_clear(rf_anomaly_t *a) {
  rf_free(a->key);
  rf_free(a->source);
  rf_free(a->source_id);
  rf_free(a->table_name);
  rf_free(a->column_name);
  rf_free(a->pk_json);
  rf_free(a->pk_hash);
  rf_free(a->value);
  rf_free(a->row_json);
  cJSON_Delete(a->row);
  rf_free(a->reason_text);
  rf_free(a->source_system);
  rf_free(a->detected_at);
  rf_free(a->raw);
  rf_free(a->reject_detail);
  memset(a, 0, sizeof(*a));
}

static int reject(rf_anomaly_t *a, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(rf_anomaly_t *a, const char *reason, const char *fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  a->reject = reason;
  rf_free(a->reject_detail);
  a->reject_detail = rf_strdup(detail);
  return a->reject_detail ? 0 : RF_ENOMEM;
}

static const char *json_type_name(const cJSON *v) {
  if (v == NULL)
    return "missing";
  if (cJSON_IsString(v))
    return "a string";
  if (cJSON_IsNumber(v))
    return "a number";
  if (cJSON_IsBool(v))
    return "a boolean";
  if (cJSON_IsNull(v))
    return "null";
  if (cJSON_IsArray(v))
    return "an array";
  return "an object";
}

/* Copies a required (or optional) string member; returns 0, 1 (rejected) or RF_ENOMEM. */
static int take_string(rf_anomaly_t *a, const cJSON *v, const char *name, bool required,
                       size_t max, char **out) {
  if (v == NULL && !required)
    return 0;
  if (!cJSON_IsString(v))
    return reject(a, RF_REASON_MALFORMED, "field '%s' must be a string, got %s", name,
                  json_type_name(v)) ?: 1;
  size_t n = strlen(v->valuestring);
  if (required && n == 0)
    return reject(a, RF_REASON_MALFORMED, "field '%s' must not be empty", name) ?: 1;
  if (n > max)
    return reject(a, RF_REASON_MALFORMED, "field '%s' is %zu bytes, limit %zu", name, n, max) ?: 1;
  *out = rf_memdup(v->valuestring, n);
  return *out ? 0 : RF_ENOMEM;
}

static int canonical_of(const cJSON *v, char **out) {
  rf_buf_t b = RF_BUF_INIT;
  int rc = rf_json_canonical(v, &b);
  if (rc) {
    rf_buf_free(&b);
    return rc;
  }
  *out = rf_buf_steal(&b);
  return *out ? 0 : RF_ENOMEM;
}

static int fill_key(rf_anomaly_t *a) {
  if (a->key)
    return 0;
  size_t n = strlen(a->source) + strlen(a->source_id) + 2;
  a->key = rf_malloc(n);
  if (a->key == NULL)
    return RF_ENOMEM;
  snprintf(a->key, n, "%s:%s", a->source, a->source_id);
  return 0;
}

/* The message's top-level fields, found in one pass over its members (the
 * first of duplicate names wins, as with cJSON_GetObjectItemCaseSensitive)
 * instead of one scan of the members per field. */
enum { F_ID, F_TABLE, F_COLUMN, F_PK, F_VALUE, F_ROW, F_REASON, F_SOURCE_SYSTEM, F_DETECTED_AT,
       F_N };
static const char *const field_names[F_N] = {"id",  "table",  "column",        "pk",         "value",
                                             "row", "reason", "source_system", "detected_at"};

static void index_fields(const cJSON *root, const cJSON *f[F_N]) {
  for (int i = 0; i < F_N; i++)
    f[i] = NULL;
  for (const cJSON *c = root->child; c; c = c->next) {
    const char *k = c->string;
    if (k == NULL)
      continue;
    for (int i = 0; i < F_N; i++)
      if (k[0] == field_names[i][0] && f[i] == NULL && strcmp(k, field_names[i]) == 0) {
        f[i] = c;
        break;
      }
  }
}

static int parse_fields(const rf_intake_opts_t *o, cJSON *root, rf_anomaly_t *a) {
  int rc;
  if (!cJSON_IsObject(root))
    return reject(a, RF_REASON_MALFORMED, "message must be a JSON object, got %s",
                  json_type_name(root));
  const cJSON *f[F_N];
  index_fields(root, f);
  /* The key first, so that even a rejected message keeps its producer's id. */
  const cJSON *id = f[F_ID];
  if (id && !cJSON_IsNull(id)) {
    if (!cJSON_IsString(id) || id->valuestring[0] == '\0' ||
        strlen(id->valuestring) > RF_MAX_KEY_BYTES)
      return reject(a, RF_REASON_MALFORMED,
                    "field 'id' must be a non-empty string of at most %d bytes, got %s",
                    RF_MAX_KEY_BYTES, json_type_name(id));
    if ((a->key = rf_strdup(id->valuestring)) == NULL)
      return RF_ENOMEM;
  }
  if ((rc = take_string(a, f[F_TABLE], "table", true, RF_MAX_NAME_BYTES, &a->table_name)))
    return rc > 0 ? 0 : rc;
  if ((rc = take_string(a, f[F_COLUMN], "column", true, RF_MAX_NAME_BYTES, &a->column_name)))
    return rc > 0 ? 0 : rc;

  const cJSON *pk = f[F_PK];
  if (!cJSON_IsObject(pk) || pk->child == NULL)
    return reject(a, RF_REASON_MALFORMED, "field 'pk' must be a non-empty object, got %s",
                  pk && cJSON_IsObject(pk) ? "an empty object" : json_type_name(pk));
  if ((rc = canonical_of(pk, &a->pk_json)))
    return rc;
  unsigned char digest[RF_SHA256_LEN];
  if ((rc = rf_sha256(a->pk_json, strlen(a->pk_json), digest)))
    return rc;
  if ((a->pk_hash = rf_malloc(2 * RF_SHA256_LEN + 1)) == NULL)
    return RF_ENOMEM;
  rf_hex_encode(digest, RF_SHA256_LEN, a->pk_hash);

  /* (cJSON_HasObjectItem ignores case: "Value" is a value of the wrong type) */
  if (f[F_VALUE] == NULL && !cJSON_HasObjectItem(root, "value"))
    return reject(a, RF_REASON_MALFORMED, "field 'value' is missing (use null for a null value)");
  const cJSON *value = f[F_VALUE];
  if (cJSON_IsString(value)) {
    size_t n = strlen(value->valuestring);
    if (n > o->max_value_bytes)
      return reject(a, RF_REASON_OVERSIZE, "field 'value' is %zu bytes, limit %zu", n,
                    o->max_value_bytes);
    if ((a->value = rf_memdup(value->valuestring, n)) == NULL)
      return RF_ENOMEM;
    a->value_len = n;
  } else if (!cJSON_IsNull(value)) {
    return reject(a, RF_REASON_MALFORMED, "field 'value' must be a string or null, got %s",
                  json_type_name(value));
  }

  const cJSON *row = f[F_ROW];
  if (row && !cJSON_IsNull(row)) {
    if (!cJSON_IsObject(row))
      return reject(a, RF_REASON_MALFORMED, "field 'row' must be an object, got %s",
                    json_type_name(row));
    if ((rc = canonical_of(row, &a->row_json)))
      return rc;
    /* The tree goes with the message's (rf_anomaly_row parses it again if a
     * fix needs it). */
  }
  char **slots[] = {&a->reason_text, &a->source_system, &a->detected_at};
  for (int i = 0; i < 3; i++) {
    const cJSON *m = f[F_REASON + i];
    if (m && cJSON_IsNull(m))
      continue;
    if ((rc = take_string(a, m, field_names[F_REASON + i], false, RF_MAX_META_BYTES, slots[i])))
      return rc > 0 ? 0 : rc;
  }
  if (o->strict_columns && o->cfg &&
      rf_config_contract(o->cfg, a->table_name, a->column_name) == NULL)
    return reject(a, RF_REASON_MALFORMED,
                  "unknown column %s.%s (strict_columns is on and it has no [column] contract)",
                  a->table_name, a->column_name);
  return 0;
}

int rf_intake_parse(const rf_intake_opts_t *o, const char *source, const char *source_id,
                    const void *raw, size_t len, rf_anomaly_t *a) {
  int rc = RF_ENOMEM;
  memset(a, 0, sizeof(*a));
  a->deliveries = 1;
  if ((a->source = rf_strdup(source)) == NULL || (a->source_id = rf_strdup(source_id)) == NULL)
    goto err;

  size_t keep = len > o->max_message_bytes ? o->max_message_bytes : len;
  if ((a->raw = rf_memdup(raw, keep)) == NULL)
    goto err;
  a->raw_len = keep;

  if (len > o->max_message_bytes) {
    unsigned char digest[RF_SHA256_LEN];
    char hex[2 * RF_SHA256_LEN + 1];
    if (rf_sha256(raw, len, digest))
      goto err;
    rf_hex_encode(digest, RF_SHA256_LEN, hex);
    if (reject(a, RF_REASON_OVERSIZE,
               "message is %zu bytes, limit %zu; raw kept truncated, sha256 of the whole: %s",
               len, o->max_message_bytes, hex))
      goto err;
  } else if (len == 0) {
    if (reject(a, RF_REASON_MALFORMED, "empty message"))
      goto err;
  } else if (!rf_utf8_valid(raw, len)) {
    if (reject(a, RF_REASON_INVALID_UTF8, "message is not valid UTF-8"))
      goto err;
  } else {
    rf_json_error_t jerr;
    cJSON *root = rf_json_parse(raw, len, o->max_json_depth, &jerr);
    if (root == NULL) {
      if (jerr.status == RF_JSON_NOMEM)
        goto err;
      const char *reason =
          jerr.status == RF_JSON_UTF8 ? RF_REASON_INVALID_UTF8 : RF_REASON_MALFORMED;
      const char *what = jerr.status == RF_JSON_NUL      ? "NUL character: "
                         : jerr.status == RF_JSON_DEPTH  ? "too deeply nested: "
                         : jerr.status == RF_JSON_NUMBER ? "number out of range: "
                                                         : "not JSON: ";
      if (reject(a, reason, "%s%s", what, jerr.message))
        goto err;
    } else {
      rc = parse_fields(o, root, a);
      cJSON_Delete(root);
      if (rc)
        goto err;
    }
  }
  if ((rc = fill_key(a)))
    goto err;
  return 0;
err:
  rf_anomaly_clear(a);
  return rc ? rc : RF_ENOMEM;
}

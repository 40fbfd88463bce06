/* dashboard_db.c - the dashboard's connection and its read-only views.
 *
 * Why every view is a cJSON document: the JSON API returns it as is and the
 * HTML pages render the same document, so the page and the API can never
 * disagree, and the integration tests check the data without parsing HTML.
 *
 * Speed with 100 000 open rows: "open" is two anti-joins (RF_DASH_OPEN) on
 * primary keys and actions (key, id); the cluster list groups first and only
 * then fetches representatives and the latest proposal for the ≤ 50 clusters
 * of the page, through quarantine_cluster_idx (migration 2). Lists are paged.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard_int.h"
#include "rectify/alloc.h"
#include "rectify/audit.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/fixgen.h"
#include "rectify/gate.h"
#include "rectify/json.h"
#include "rectify/log.h"
#include "rectify/pg.h"
#include "rectify/utf8.h"
#include "rectify/writer.h"

/* ---- shared helpers -------------------------------------------------------------------- */

int rf__dash_fail(rf_dash_status_t *st, int code, int http, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->message, sizeof(st->message), fmt, ap);
  va_end(ap);
  st->code = code;
  st->http = http;
  return code;
}

int rf__dash_dberr(rf_dashboard_t *d, const PGresult *res, const char *what, rf_dash_status_t *st) {
  char msg[512];
  rf_pg_errmsg(d->conn, res, msg, sizeof(msg));
  rf_log(RF_LOG_WARN, "dashboard", "query failed what=\"%s\" error=\"%s\"", what, msg);
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (state && strcmp(state, "23505") == 0)
    return rf__dash_fail(st, RF_EEXISTS, 409,
                         "someone else acted on these rows at the same moment: reload the page");
  return rf__dash_fail(st, RF_EDB, PQstatus(d->conn) == CONNECTION_OK ? 500 : 503,
                       "database error (%s): %s", what, msg);
}

const char *rf__dash_val(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

bool rf__dash_add_str(cJSON *obj, const char *name, const char *s) {
  return (s ? cJSON_AddStringToObject(obj, name, s) : cJSON_AddNullToObject(obj, name)) != NULL;
}

int rf__dash_conn(rf_dashboard_t *d, rf_dash_status_t *st) {
  if (d->conn && PQstatus(d->conn) == CONNECTION_OK) {
    if (PQtransactionStatus(d->conn) != PQTRANS_IDLE) {
      PGresult *r = PQexec(d->conn, "ROLLBACK");
      PQclear(r);
    }
    return 0;
  }
  if (d->conn)
    PQfinish(d->conn);
  char err[512];
  d->conn = rf_pg_connect(d->conninfo, d->password, "rectify-dashboard", err, sizeof(err));
  if (d->conn == NULL)
    return rf__dash_fail(st, RF_EDB, 503, "PostgreSQL is unreachable: %s", err);
  return 0;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

int rf_dashboard_new(const rf_dashboard_opts_t *opts, rf_dashboard_t **out, char *errbuf,
                     size_t errlen) {
  const rf_config_t *cfg = opts->cfg;
  rf_dashboard_t *d = rf_calloc(1, sizeof(*d));
  int rc = RF_ENOMEM;
  *out = NULL;
  if (d == NULL)
    goto fail;
  d->cfg = cfg;
  const char *ci = opts->conninfo ? opts->conninfo : cfg->pg_conninfo;
  if ((d->conninfo = rf_strdup(ci ? ci : "")) == NULL)
    goto fail;
  if (opts->chain_id) {
    d->chain_id = rf_strdup(opts->chain_id);
  } else {
    rf_buf_t b = RF_BUF_INIT;
    rf_buf_printf(&b, "dashboard:%s", cfg->instance_name ? cfg->instance_name : "localhost");
    d->chain_id = rf_buf_steal(&b);
  }
  if (d->chain_id == NULL)
    goto fail;
  for (const char *p = d->chain_id; *p; p++)
    if ((unsigned char)*p < 0x20) {
      snprintf(errbuf, errlen, "the chain id has control characters");
      rc = RF_EINVAL;
      goto fail;
    }
  if (cfg->pg_password_file && cfg->pg_password_file[0] && opts->conninfo == NULL) {
    if ((d->password = rf_config_read_secret(cfg->pg_password_file, NULL, errbuf, errlen)) ==
        NULL) {
      rc = RF_EIO;
      goto fail;
    }
  }
  if (cfg->audit_key_file && cfg->audit_key_file[0]) {
    char *k = rf_config_read_secret(cfg->audit_key_file, &d->audit_key_len, errbuf, errlen);
    if (k == NULL) {
      rc = RF_EIO;
      goto fail;
    }
    d->audit_key = (unsigned char *)k;
  }
  d->conn = rf_pg_connect(d->conninfo, d->password, "rectify-dashboard", errbuf, errlen);
  if (d->conn == NULL) {
    rc = RF_EDB;
    goto fail;
  }
  if ((rc = rf_schema_migrate(d->conn, errbuf, errlen)))
    goto fail;
  *out = d;
  return 0;
fail:
  if (rc == RF_ENOMEM)
    snprintf(errbuf, errlen, "out of memory");
  rf_dashboard_free(d);
  return rc;
}

void rf_dashboard_free(rf_dashboard_t *d) {
  if (d == NULL)
    return;
  if (d->conn)
    PQfinish(d->conn);
  if (d->password) {
    memset(d->password, 0, strlen(d->password));
    rf_free(d->password);
  }
  if (d->audit_key) {
    memset(d->audit_key, 0, d->audit_key_len);
    rf_free(d->audit_key);
  }
  rf_free(d->conninfo);
  rf_free(d->chain_id);
  rf_free(d);
}

const char *rf_dashboard_chain_id(const rf_dashboard_t *d) { return d->chain_id; }

/* ---- query helpers ------------------------------------------------------------------------ */

/* Runs a parameterized query expecting rows; NULL with st filled on error. */
static PGresult *query(rf_dashboard_t *d, const char *what, const char *sql, int n,
                       const char *const *params, rf_dash_status_t *st) {
  PGresult *res = PQexecParams(d->conn, sql, n, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rf__dash_dberr(d, res, what, st);
    PQclear(res);
    return NULL;
  }
  return res;
}

/* Turns every row of res into an object of its columns (numbers where the
 * column type is a count, strings otherwise) appended to arr. */
static bool rows_to_json(const PGresult *res, cJSON *arr) {
  int nf = PQnfields(res);
  for (int i = 0; i < PQntuples(res); i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o))
      return cJSON_Delete(o), false;
    for (int c = 0; c < nf; c++) {
      const char *name = PQfname(res, c);
      const char *v = rf__dash_val(res, i, c);
      Oid t = PQftype(res, c);
      bool ok;
      if (v && (t == 20 || t == 21 || t == 23)) /* int8, int2, int4 */
        ok = cJSON_AddNumberToObject(o, name, strtod(v, NULL)) != NULL;
      else if (v && t == 16) /* bool */
        ok = cJSON_AddBoolToObject(o, name, v[0] == 't') != NULL;
      else
        ok = rf__dash_add_str(o, name, v);
      if (!ok)
        return false;
    }
  }
  return true;
}

static int oom(rf_dash_status_t *st) { return rf__dash_fail(st, RF_ENOMEM, 500, "out of memory"); }

/* Adds {name: [rows...]} for sql to obj. */
static int add_rows(rf_dashboard_t *d, cJSON *obj, const char *name, const char *sql, int n,
                    const char *const *params, rf_dash_status_t *st) {
  PGresult *res = query(d, name, sql, n, params, st);
  if (res == NULL)
    return st->code;
  cJSON *arr = cJSON_AddArrayToObject(obj, name);
  bool ok = arr && rows_to_json(res, arr);
  PQclear(res);
  return ok ? 0 : oom(st);
}

/* ---- overview ------------------------------------------------------------------------------ */

static const char SQL_OPEN_BY[] =
    "SELECT q.table_name AS table, q.column_name AS column, q.reason, count(*)::int8 AS open"
    " FROM rectify.quarantine q WHERE " RF_DASH_OPEN("q") " GROUP BY 1, 2, 3"
    " ORDER BY 4 DESC, 1, 2, 3 LIMIT 200";
static const char SQL_LAST24[] =
    "SELECT (SELECT count(*) FROM rectify.quarantine WHERE created_at > now() - interval '24 hours')"
    "   AS quarantined,"
    " (SELECT count(*) FROM rectify.staging WHERE created_at > now() - interval '24 hours'"
    "   AND generator IS DISTINCT FROM 'human') AS fixed,"
    " (SELECT count(*) FROM rectify.actions WHERE created_at > now() - interval '24 hours'"
    "   AND action = 'resolve') AS resolved,"
    " (SELECT count(*) FROM rectify.actions WHERE created_at > now() - interval '24 hours'"
    "   AND action = 'discard') AS discarded,"
    " (SELECT count(*) FROM rectify.actions WHERE created_at > now() - interval '24 hours'"
    "   AND action = 'requeue') AS requeued,"
    " (SELECT count(*) FROM rectify.quarantine q WHERE " RF_DASH_OPEN("q") ") AS open";
/* Rows that reached the fix generators (intake rejects excluded) in the last
 * 24 hours, and how many model calls they took: one per (batch, cluster)
 * whose candidate came from the model (retries not counted). */
static const char SQL_LLM[] =
    "WITH r AS ("
    " SELECT batch_id, cluster_id, generator FROM rectify.staging"
    "  WHERE created_at > now() - interval '24 hours' AND generator IS DISTINCT FROM 'human'"
    " UNION ALL SELECT batch_id, cluster_id, generator FROM rectify.quarantine"
    "  WHERE created_at > now() - interval '24 hours' AND fingerprint IS NOT NULL)"
    " SELECT count(*) AS rows,"
    " count(DISTINCT (batch_id, cluster_id)) AS clusters,"
    " count(DISTINCT (batch_id, cluster_id)) FILTER (WHERE generator = 'model') AS model_calls,"
    " count(*) FILTER (WHERE generator IN ('cache', 'transfer', 'synth')) AS rows_without_model"
    " FROM r";
static const char SQL_CHAINS[] =
    "SELECT chain_id AS chain, max(seq) AS head_seq, max(created_at)::text AS last_entry,"
    " count(*) AS entries FROM rectify.audit GROUP BY chain_id ORDER BY chain_id";

int rf_dashboard_overview(rf_dashboard_t *d, cJSON **out, rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return oom(st);
  if ((rc = add_rows(d, o, "open_by", SQL_OPEN_BY, 0, NULL, st)) ||
      (rc = add_rows(d, o, "last_24h", SQL_LAST24, 0, NULL, st)) ||
      (rc = add_rows(d, o, "llm", SQL_LLM, 0, NULL, st)) ||
      (rc = add_rows(d, o, "chains", SQL_CHAINS, 0, NULL, st)))
    goto fail;
  /* Reduction against one model call per row. */
  cJSON *llm = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "llm"), 0);
  double rows = cJSON_GetNumberValue(cJSON_GetObjectItem(llm, "rows"));
  double calls = cJSON_GetNumberValue(cJSON_GetObjectItem(llm, "model_calls"));
  if (llm && rows > 0 && !cJSON_AddNumberToObject(llm, "reduction_pct", 100.0 * (1.0 - calls / rows)))
    goto nomem;
  if (!rf__dash_add_str(o, "chain_id", d->chain_id))
    goto nomem;
  *out = o;
  return 0;
nomem:
  rc = oom(st);
fail:
  cJSON_Delete(o);
  return rc;
}

/* ---- clusters ------------------------------------------------------------------------------ */

#define SAME_CLUSTER(a, b)                                                                     \
  a ".table_name = " b ".table_name AND " a ".column_name = " b ".column_name AND (" a          \
  ".fingerprint = " b ".fingerprint OR (" a ".fingerprint IS NULL AND " b                      \
  ".fingerprint IS NULL))"

/* $1..$3 filters ('' = any), $4 limit, $5 offset; $6..$8 one cluster ('' ok). */
#define SQL_CLUSTER_PAGE(where)                                                                \
  "SELECT g.table_name AS table, g.column_name AS column, coalesce(g.fingerprint, '') AS"      \
  " fingerprint, g.n AS count, g.first_seen::text AS first_seen, g.last_seen::text AS"         \
  " last_seen, g.reasons,"                                                                     \
  " (SELECT array_to_json(array_agg(v.old_value))::text FROM (SELECT q2.old_value FROM"        \
  "  rectify.quarantine q2 WHERE " SAME_CLUSTER("q2", "g") " AND " RF_DASH_OPEN("q2")          \
  "  ORDER BY q2.key LIMIT 5) v) AS representatives,"                                          \
  " p.lambda, p.model, p.confidence::text AS confidence, p.reason, p.detail, p.model_answer,"  \
  " p.generator"                                                                               \
  " FROM (SELECT q.table_name, q.column_name, q.fingerprint, count(*)::int8 AS n,"             \
  "  min(q.created_at) AS first_seen, max(q.created_at) AS last_seen,"                         \
  "  string_agg(DISTINCT q.reason, ', ') AS reasons"                                           \
  "  FROM rectify.quarantine q WHERE q.table_name IS NOT NULL AND q.column_name IS NOT NULL"   \
  "  AND " RF_DASH_OPEN("q") " AND " where                                                     \
  "  GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT $4 OFFSET $5) g"                          \
  " LEFT JOIN LATERAL (SELECT q3.lambda, q3.model, q3.confidence, q3.reason, q3.detail,"       \
  "  q3.model_answer, q3.generator FROM rectify.quarantine q3 WHERE " SAME_CLUSTER("q3", "g")  \
  "  ORDER BY (q3.lambda IS NULL), q3.ts_us DESC LIMIT 1) p ON true"                           \
  " ORDER BY g.n DESC, 1, 2, 3"

static const char SQL_CLUSTERS[] = SQL_CLUSTER_PAGE(
    "($1 = '' OR q.table_name = $1) AND ($2 = '' OR q.column_name = $2) AND"
    " ($3 = '' OR q.reason = $3)");
static const char SQL_ONE_CLUSTER[] = SQL_CLUSTER_PAGE(
    "q.table_name = $1 AND q.column_name = $2 AND coalesce(q.fingerprint, '') = $3");

/* Adds "reasoning" (from the model's answer) and "contract" to a cluster. */
static bool enrich_cluster(rf_dashboard_t *d, cJSON *c) {
  const char *ans = cJSON_GetStringValue(cJSON_GetObjectItem(c, "model_answer"));
  const char *reasoning = NULL;
  rf_fix_candidate_t *cand = NULL;
  char why[256];
  if (ans && rf_gate_parse_answer(ans, strlen(ans), &cand, why, sizeof(why)) == 0)
    reasoning = cand->reasoning;
  bool ok = rf__dash_add_str(c, "reasoning", reasoning);
  rf_fix_candidate_free(cand);
  /* The representatives come as JSON text: make them an array. */
  cJSON *reps = cJSON_GetObjectItem(c, "representatives");
  const char *txt = cJSON_GetStringValue(reps);
  cJSON *arr = txt ? cJSON_Parse(txt) : cJSON_CreateArray();
  if (ok && arr)
    ok = cJSON_ReplaceItemInObjectCaseSensitive(c, "representatives", arr);
  else
    cJSON_Delete(arr), ok = false;
  const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(c, "table"));
  const char *col = cJSON_GetStringValue(cJSON_GetObjectItem(c, "column"));
  const rf_contract_t *k = t && col ? rf_config_contract(d->cfg, t, col) : NULL;
  if (ok && k) {
    rf_buf_t b = RF_BUF_INIT;
    rf_contract_describe(k, &b);
    ok = rf_buf_ok(&b) && rf__dash_add_str(c, "contract", b.data ? b.data : "");
    rf_buf_free(&b);
  } else if (ok) {
    ok = rf__dash_add_str(c, "contract", NULL);
  }
  return ok;
}

static const char *nz(const char *s) { return s ? s : ""; }

int rf_dashboard_clusters(rf_dashboard_t *d, const rf_dash_filter_t *f, cJSON **out,
                          rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  long page = f->page < 0 ? 0 : f->page;
  char lim[32], off[32];
  snprintf(lim, sizeof(lim), "%d", RF_DASH_PAGE_ROWS + 1);
  snprintf(off, sizeof(off), "%ld", page * RF_DASH_PAGE_ROWS);
  const char *params[5] = {nz(f->table_name), nz(f->column_name), nz(f->reason), lim, off};
  PGresult *res = query(d, "clusters", SQL_CLUSTERS, 5, params, st);
  if (res == NULL)
    return st->code;
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "clusters");
  bool ok = o && arr && rows_to_json(res, arr);
  int n = PQntuples(res);
  PQclear(res);
  if (ok && n > RF_DASH_PAGE_ROWS)
    cJSON_DeleteItemFromArray(arr, RF_DASH_PAGE_ROWS);
  cJSON *c;
  cJSON_ArrayForEach(c, arr) if (ok) ok = enrich_cluster(d, c);
  ok = ok && cJSON_AddNumberToObject(o, "page", (double)page) &&
       cJSON_AddBoolToObject(o, "more", n > RF_DASH_PAGE_ROWS) &&
       rf__dash_add_str(o, "table", f->table_name) &&
       rf__dash_add_str(o, "column", f->column_name) && rf__dash_add_str(o, "reason", f->reason);
  if (!ok) {
    cJSON_Delete(o);
    return oom(st);
  }
  *out = o;
  return 0;
}

static const char SQL_CLUSTER_ROWS[] =
    "SELECT q.key, q.old_value AS value, q.pk::text AS pk, q.reason, q.created_at::text AS"
    " created_at FROM rectify.quarantine q WHERE q.table_name = $1 AND q.column_name = $2 AND"
    " coalesce(q.fingerprint, '') = $3 AND " RF_DASH_OPEN("q") " ORDER BY q.key LIMIT $4 OFFSET $5";

int rf_dashboard_cluster(rf_dashboard_t *d, const char *table_name, const char *column_name,
                         const char *fingerprint, long page, cJSON **out, rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  if (table_name == NULL || column_name == NULL)
    return rf__dash_fail(st, RF_EINVAL, 400, "a cluster is named by table, column and fingerprint");
  if (page < 0)
    page = 0;
  char lim[32], off[32];
  snprintf(lim, sizeof(lim), "%d", RF_DASH_PAGE_ROWS + 1);
  snprintf(off, sizeof(off), "%ld", page * RF_DASH_PAGE_ROWS);
  const char *params[5] = {table_name, column_name, nz(fingerprint), "1", "0"};
  PGresult *res = query(d, "cluster", SQL_ONE_CLUSTER, 5, params, st);
  if (res == NULL)
    return st->code;
  if (PQntuples(res) == 0) {
    PQclear(res);
    return rf__dash_fail(st, RF_ENOTFOUND, 404, "no open rows in cluster %s.%s [%s]", table_name,
                         column_name, nz(fingerprint));
  }
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr && rows_to_json(res, arr);
  PQclear(res);
  cJSON *o = ok ? cJSON_DetachItemFromArray(arr, 0) : NULL;
  cJSON_Delete(arr);
  ok = o && enrich_cluster(d, o);
  params[3] = lim;
  params[4] = off;
  if (ok && (rc = add_rows(d, o, "rows", SQL_CLUSTER_ROWS, 5, params, st))) {
    cJSON_Delete(o);
    return rc;
  }
  cJSON *rows = ok ? cJSON_GetObjectItem(o, "rows") : NULL;
  bool more = rows && cJSON_GetArraySize(rows) > RF_DASH_PAGE_ROWS;
  if (more)
    cJSON_DeleteItemFromArray(rows, RF_DASH_PAGE_ROWS);
  ok = ok && cJSON_AddNumberToObject(o, "page", (double)page) &&
       cJSON_AddBoolToObject(o, "more", more) &&
       cJSON_AddNumberToObject(o, "apply_max", RF_DASH_APPLY_MAX);
  if (!ok) {
    cJSON_Delete(o);
    return oom(st);
  }
  *out = o;
  return 0;
}

/* ---- one row --------------------------------------------------------------------------------- */

static const char SQL_ROW[] =
    "SELECT q.key, q.batch_id, q.source, q.source_id, q.table_name AS table, q.column_name AS"
    " column, q.pk::text AS pk, q.pk_hash, q.old_value AS value, q.row_context::text AS"
    " row_context, q.fingerprint, q.cluster_id, q.fix_id, q.lambda, q.generator, q.model,"
    " q.confidence::text AS confidence, q.reason, q.detail, q.model_answer,"
    " encode(q.raw, 'hex') AS raw_hex, q.created_at::text AS created_at,"
    " CASE WHEN EXISTS (SELECT 1 FROM rectify.staging s WHERE s.key = q.key) THEN 'resolved'"
    "  ELSE coalesce((SELECT CASE a.action WHEN 'discard' THEN 'discarded'"
    "   WHEN 'requeue' THEN 'requeued' WHEN 'resolve' THEN 'resolved' END"
    "   FROM rectify.actions a WHERE a.key = q.key"
    "   AND a.action IN ('resolve', 'discard', 'requeue') ORDER BY a.id DESC LIMIT 1), 'open')"
    " END AS status"
    " FROM rectify.quarantine q WHERE " RF_SQL_QUARANTINE_BY_KEY("q", "$1");
static const char SQL_ROW_ACTIONS[] =
    "SELECT a.id, a.action, a.actor, a.detail, a.batch_id, a.created_at::text AS created_at"
    " FROM rectify.actions a WHERE a.key = $1 ORDER BY a.id";
static const char SQL_ROW_STAGED[] =
    "SELECT s.batch_id, s.new_value, s.generator, s.lambda, s.fix_id, s.created_at::text AS"
    " created_at FROM rectify.staging s WHERE s.key = $1";
/* The chain entries that cover this row: its own batch and every dashboard
 * batch that acted on it. */
static const char SQL_ROW_AUDIT[] =
    "SELECT au.chain_id AS chain, au.seq, au.batch_id AS batch, encode(au.hash, 'hex') AS hash,"
    " au.entry->>'actor' AS actor, au.entry->>'kind' AS kind, au.created_at::text AS created_at"
    " FROM rectify.audit au WHERE au.batch_id = (SELECT batch_id FROM rectify.messages"
    "  WHERE key = $1)"
    " OR au.batch_id IN (SELECT batch_id FROM rectify.actions WHERE key = $1 AND batch_id IS NOT"
    "  NULL)"
    " ORDER BY au.created_at, au.chain_id, au.seq";

int rf_dashboard_row(rf_dashboard_t *d, const char *key, cJSON **out, rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  if (key == NULL || !key[0])
    return rf__dash_fail(st, RF_EINVAL, 400, "which row? (key is missing)");
  const char *params[1] = {key};
  PGresult *res = query(d, "row", SQL_ROW, 1, params, st);
  if (res == NULL)
    return st->code;
  if (PQntuples(res) == 0) {
    PQclear(res);
    return rf__dash_fail(st, RF_ENOTFOUND, 404, "no quarantined row has the key %s", key);
  }
  cJSON *arr = cJSON_CreateArray();
  bool ok = arr && rows_to_json(res, arr);
  PQclear(res);
  cJSON *o = ok ? cJSON_DetachItemFromArray(arr, 0) : NULL;
  cJSON_Delete(arr);
  if (o == NULL)
    return oom(st);
  /* The raw message as text when it is UTF-8 (else only the hex). */
  const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(o, "raw_hex"));
  if (hex) {
    size_t n = strlen(hex) / 2;
    char *raw = rf_malloc(n + 1);
    if (raw == NULL)
      goto nomem;
    for (size_t i = 0; i < n; i++) {
      unsigned char b = 0;
      char two[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
      rf_hex_decode(two, &b, 1);
      raw[i] = (char)b;
    }
    raw[n] = '\0';
    bool text = memchr(raw, '\0', n) == NULL && rf_utf8_valid(raw, n);
    ok = rf__dash_add_str(o, "raw", text ? raw : NULL);
    rf_free(raw);
    if (!ok)
      goto nomem;
  } else if (!rf__dash_add_str(o, "raw", NULL)) {
    goto nomem;
  }
  /* Reasoning from the model's answer. */
  const char *ans = cJSON_GetStringValue(cJSON_GetObjectItem(o, "model_answer"));
  rf_fix_candidate_t *cand = NULL;
  char why[256];
  if (ans && rf_gate_parse_answer(ans, strlen(ans), &cand, why, sizeof(why)) != 0)
    cand = NULL;
  ok = rf__dash_add_str(o, "reasoning", cand ? cand->reasoning : NULL);
  rf_fix_candidate_free(cand);
  if (!ok)
    goto nomem;
  const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(o, "table"));
  const char *col = cJSON_GetStringValue(cJSON_GetObjectItem(o, "column"));
  const rf_contract_t *k = t && col ? rf_config_contract(d->cfg, t, col) : NULL;
  rf_buf_t b = RF_BUF_INIT;
  if (k)
    rf_contract_describe(k, &b);
  ok = rf_buf_ok(&b) && rf__dash_add_str(o, "contract", k ? (b.data ? b.data : "") : NULL);
  rf_buf_free(&b);
  if (!ok)
    goto nomem;
  if ((rc = add_rows(d, o, "actions", SQL_ROW_ACTIONS, 1, params, st)) ||
      (rc = add_rows(d, o, "staged", SQL_ROW_STAGED, 1, params, st)) ||
      (rc = add_rows(d, o, "audit", SQL_ROW_AUDIT, 1, params, st)))
    goto fail;
  /* The inclusion proof of the row's current outcome: rf_audit_prove looks
   * in staging first, so for a resolved row it proves the person's staging
   * row in its dashboard batch, else the quarantine row in its own batch. */
  rf_audit_verify_opts_t vo = {.key = d->audit_key, .keylen = d->audit_key_len};
  rf_buf_t proof = RF_BUF_INIT;
  char perr[512] = "";
  int prc = rf_audit_prove(d->conn, key, &vo, &proof, perr, sizeof(perr));
  cJSON *pj = proof.len ? cJSON_Parse(proof.data) : NULL;
  rf_buf_free(&proof);
  if (pj == NULL)
    pj = cJSON_CreateObject();
  ok = pj && rf__dash_add_str(pj, "error", prc ? perr : NULL) &&
       cJSON_AddItemToObject(o, "proof", pj);
  if (!ok) {
    cJSON_Delete(pj);
    goto nomem;
  }
  *out = o;
  return 0;
nomem:
  rc = oom(st);
fail:
  cJSON_Delete(o);
  return rc;
}

/* ---- verify -------------------------------------------------------------------------------------- */

int rf_dashboard_verify(rf_dashboard_t *d, cJSON **out, rf_dash_status_t *st) {
  memset(st, 0, sizeof(*st));
  *out = NULL;
  int rc = rf__dash_conn(d, st);
  if (rc)
    return rc;
  rf_audit_verify_opts_t vo = {
      .heads_file = d->cfg->heads_file && d->cfg->heads_file[0] ? d->cfg->heads_file : NULL,
      .key = d->audit_key,
      .keylen = d->audit_key_len};
  rf_audit_report_t *rep = rf_calloc(1, sizeof(*rep));
  if (rep == NULL)
    return oom(st);
  int e = rf_audit_verify(d->conn, &vo, rep);
  cJSON *o = cJSON_CreateObject();
  bool ok = o && cJSON_AddBoolToObject(o, "ok", e == 0) &&
            rf__dash_add_str(o, "status", e == 0 ? "verified" : e == RF_ECORRUPT ? "broken" : "error") &&
            rf__dash_add_str(o, "message", e ? rep->message : NULL) &&
            rf__dash_add_str(o, "notes", rep->notes[0] ? rep->notes : NULL) &&
            cJSON_AddNumberToObject(o, "chains", (double)rep->chains) &&
            cJSON_AddNumberToObject(o, "entries", (double)rep->entries) &&
            cJSON_AddNumberToObject(o, "rows", (double)rep->rows) &&
            cJSON_AddNumberToObject(o, "heads", (double)rep->heads_checked);
  rf_free(rep);
  if (!ok) {
    cJSON_Delete(o);
    return oom(st);
  }
  *out = o;
  return 0;
}

/* audit.c - the audit chain: entry format, link hashes, heads file, verifier.
 *
 * Why one chain entry per batch and not per row: see docs/audit.md (in short,
 * a per-row chain doubles the rows PostgreSQL must write, and the batch's
 * Merkle root gives the same tamper evidence plus per-row inclusion proofs).
 *
 * The verifier trusts nothing it reads: it re-canonicalizes every entry from
 * entry::text, recomputes every link, rebuilds every row's receipt from its
 * columns with the same function the writer used (rf_receipt_bytes), and
 * recomputes each batch's Merkle root from those leaves, never from the stored
 * leaf_hash column. It runs in one REPEATABLE READ READ ONLY transaction so it
 * sees one consistent snapshot while the daemon keeps writing, walks entries
 * with a cursor and streams each batch's rows in single-row mode, so memory is
 * bounded by one batch's leaf hashes (32 bytes per row, for proofs only).
 */
#include "rectify/audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/dashboard.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/log.h"
#include "rectify/merkle.h"
#include "rectify/outcome.h"
#include "rectify/pg.h"
#include "rectify/receipt.h"
#include "rectify/writer.h"

/* ---- entries and links ---------------------------------------------------------- */

static void put_key(rf_buf_t *b, const char *k) {
  if (b->len > 1)
    rf_buf_putc(b, ',');
  rf_buf_json_str(b, k, strlen(k));
  rf_buf_putc(b, ':');
}

static void put_s(rf_buf_t *b, const char *k, const char *v) {
  put_key(b, k);
  if (v)
    rf_buf_json_str(b, v, strlen(v));
  else
    rf_buf_puts(b, "null");
}

static void put_i(rf_buf_t *b, const char *k, int64_t v) {
  put_key(b, k);
  rf_buf_printf(b, "%" PRId64, v);
}

static void put_h(rf_buf_t *b, const char *k, const unsigned char h[RF_SHA256_LEN]) {
  put_key(b, k);
  rf_buf_putc(b, '"');
  rf_buf_hex(b, h, RF_SHA256_LEN);
  rf_buf_putc(b, '"');
}

int rf_audit_entry_json(const rf_audit_entry_t *e, rf_buf_t *out) {
  rf_buf_t raw = RF_BUF_INIT;
  int rc = 0;
  rf_buf_putc(&raw, '{');
  put_i(&raw, "v", RF_AUDIT_ENTRY_VERSION);
  put_s(&raw, "mac", e->keyed ? "hmac-sha256" : "sha256");
  put_s(&raw, "chain", e->chain_id);
  put_i(&raw, "seq", e->seq);
  put_s(&raw, "batch", e->batch_id);
  put_s(&raw, "source", e->source);
  put_s(&raw, "table", e->table_name);
  put_s(&raw, "column", e->column_name);
  put_i(&raw, "received", e->received);
  put_i(&raw, "fixed", e->fixed);
  put_i(&raw, "quarantined", e->quarantined);
  put_i(&raw, "duplicates", e->duplicates);
  put_h(&raw, "root", e->root);
  put_h(&raw, "prev", e->prev);
  put_i(&raw, "ts_us", e->ts_us);
  if (e->merges) { /* the clustering's explanations, committed with the batch */
    put_key(&raw, "merges");
    rf_buf_puts(&raw, e->merges);
  }
  rf_buf_putc(&raw, '}');
  if (!rf_buf_ok(&raw)) {
    rc = RF_ENOMEM;
    goto out;
  }
  /* Canonical form: the same bytes jsonb gives back, re-canonicalized. */
  rf_json_error_t jerr;
  char *canon = rf_json_canonicalize(raw.data, raw.len, &jerr);
  if (canon == NULL) {
    rc = jerr.status == RF_JSON_NOMEM ? RF_ENOMEM : RF_EINVAL;
    goto out;
  }
  rf_buf_puts(out, canon);
  rf_free(canon);
  rc = rf_buf_ok(out) ? 0 : RF_ENOMEM;
out:
  rf_buf_free(&raw);
  return rc;
}

int rf_audit_link(const unsigned char prev[RF_SHA256_LEN], const char *entry, size_t len,
                  const unsigned char *key, size_t keylen, unsigned char out[RF_SHA256_LEN]) {
  const void *parts[2] = {prev, entry};
  size_t lens[2] = {RF_SHA256_LEN, len};
  if (key)
    return rf_hmac_sha256_parts(key, keylen, parts, lens, 2, out);
  return rf_sha256_parts(parts, lens, 2, out);
}

void rf_audit_batch_id(char *buf, size_t len, const char *chain_id, int64_t seq) {
  snprintf(buf, len, "%s:%" PRId64, chain_id, seq);
}

/* ---- heads file --------------------------------------------------------------------- */

void rf_audit_heads_free(rf_audit_head_t *heads, size_t n) {
  for (size_t i = 0; i < n; i++)
    rf_free(heads[i].chain_id);
  rf_free(heads);
}

int rf_audit_heads_read(const char *path, rf_audit_head_t **out, size_t *n, char *errbuf,
                        size_t errlen) {
  *out = NULL;
  *n = 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    if (errno == ENOENT)
      return 0;
    snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return RF_EIO;
  }
  rf_audit_head_t *heads = NULL;
  size_t cnt = 0, cap = 0;
  int rc = 0, lineno = 0;
  char line[1024];
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n')
      line[--len] = '\0';
    else if (!feof(f)) {
      snprintf(errbuf, errlen, "%s:%d: line too long", path, lineno);
      rc = RF_EPARSE;
      goto out;
    }
    if (len == 0 || line[0] == '#')
      continue;
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    char *end = NULL;
    long long seq = t2 ? strtoll(t1 + 1, &end, 10) : 0;
    if (t1 == NULL || t2 == NULL || end != t2 || seq < 1 || t1 == line) {
      snprintf(errbuf, errlen, "%s:%d: expected CHAIN<TAB>SEQ<TAB>HASH", path, lineno);
      rc = RF_EPARSE;
      goto out;
    }
    *t1 = '\0';
    if (cnt == cap) {
      size_t nc = cap ? cap * 2 : 4;
      rf_audit_head_t *nh = rf_realloc(heads, nc * sizeof(*nh));
      if (nh == NULL) {
        rc = RF_ENOMEM;
        goto out;
      }
      heads = nh;
      cap = nc;
    }
    rf_audit_head_t *h = &heads[cnt];
    if (rf_hex_decode(t2 + 1, h->hash, RF_SHA256_LEN) != 0) {
      snprintf(errbuf, errlen, "%s:%d: hash is not 64 hex digits", path, lineno);
      rc = RF_EPARSE;
      goto out;
    }
    h->seq = seq;
    h->chain_id = rf_strdup(line);
    if (h->chain_id == NULL) {
      rc = RF_ENOMEM;
      goto out;
    }
    cnt++;
  }
  if (ferror(f)) {
    snprintf(errbuf, errlen, "%s: read error", path);
    rc = RF_EIO;
  }
out:
  fclose(f);
  if (rc) {
    rf_audit_heads_free(heads, cnt);
    if (rc == RF_ENOMEM)
      snprintf(errbuf, errlen, "out of memory");
    return rc;
  }
  *out = heads;
  *n = cnt;
  return 0;
}

int rf_audit_heads_write(const char *path, const char *chain_id, int64_t seq,
                         const unsigned char hash[RF_SHA256_LEN], char *errbuf, size_t errlen) {
  rf_audit_head_t *heads = NULL;
  size_t n = 0;
  rf_buf_t b = RF_BUF_INIT, tmp = RF_BUF_INIT;
  int fd = -1, rc = rf_audit_heads_read(path, &heads, &n, errbuf, errlen);
  if (rc == RF_EPARSE) {
    /* A damaged file is replaced rather than blocking every commit; say so. */
    rf_log(RF_LOG_WARN, "audit", "heads file unreadable, rewriting error=\"%s\"", errbuf);
    n = 0;
    rc = 0;
  }
  if (rc)
    goto out;
  char hex[2 * RF_SHA256_LEN + 1];
  rf_buf_puts(&b, "# rectify audit chain heads: CHAIN<TAB>SEQ<TAB>SHA256-HEX (written after each commit)\n");
  for (size_t i = 0; i < n; i++) {
    if (strcmp(heads[i].chain_id, chain_id) == 0)
      continue;
    rf_hex_encode(heads[i].hash, RF_SHA256_LEN, hex);
    rf_buf_printf(&b, "%s\t%" PRId64 "\t%s\n", heads[i].chain_id, heads[i].seq, hex);
  }
  rf_hex_encode(hash, RF_SHA256_LEN, hex);
  rf_buf_printf(&b, "%s\t%" PRId64 "\t%s\n", chain_id, seq, hex);
  rf_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
  if (!rf_buf_ok(&b) || !rf_buf_ok(&tmp)) {
    rc = RF_ENOMEM;
    snprintf(errbuf, errlen, "out of memory");
    goto out;
  }
  fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  size_t off = 0;
  while (fd >= 0 && off < b.len) {
    ssize_t k = write(fd, b.data + off, b.len - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    off += (size_t)k;
  }
  if (fd < 0 || off != b.len || fsync(fd) != 0 || close(fd) != 0) {
    snprintf(errbuf, errlen, "%s: %s", tmp.data, strerror(errno));
    if (fd >= 0 && off != b.len)
      close(fd);
    fd = -1;
    unlink(tmp.data);
    rc = RF_EIO;
    goto out;
  }
  fd = -1;
  if (rename(tmp.data, path) != 0) {
    snprintf(errbuf, errlen, "rename %s: %s", path, strerror(errno));
    unlink(tmp.data);
    rc = RF_EIO;
  }
out:
  rf_audit_heads_free(heads, n);
  rf_buf_free(&b);
  rf_buf_free(&tmp);
  return rc;
}

/* ---- reading rows back ------------------------------------------------------------ */

/* One stored row, rebuilt. */
typedef struct stored_row {
  const char *table; /* "staging" or "quarantine" */
  rf_outcome_t o;    /* strings borrowed from the PGresult or owned (pk, row) */
  unsigned char stored_leaf[RF_SHA256_LEN];
  unsigned char leaf[RF_SHA256_LEN]; /* recomputed from the columns */
  bool leaf_ok;                      /* stored_leaf == leaf */
} stored_row_t;

/* Columns: 0 t, 1 key, 2 source, 3 source_id, 4 table_name, 5 column_name,
 * 6 pk, 7 pk_hash, 8 old_value, 9 new_value, 10 row_context, 11 fingerprint,
 * 12 cluster_id, 13 fix_id, 14 lambda, 15 generator, 16 model, 17 confidence,
 * 18 reason, 19 detail, 20 model_answer, 21 raw_sha256 hex, 22 raw hex,
 * 23 ts_us, 24 leaf hex. */
#define ROW_COLUMNS(t, newv, reason, detail, answer, rawsha, raw)                              \
  "SELECT " t ", key, source, source_id, table_name, column_name, pk::text, pk_hash,"           \
  " old_value, " newv ", row_context::text, fingerprint, cluster_id, fix_id, lambda,"            \
  " generator, model, confidence::text, " reason ", " detail ", " answer ", " rawsha ", " raw    \
  ", ts_us, encode(leaf_hash, 'hex')"

static const char SQL_BATCH_ROWS[] =
    ROW_COLUMNS("'s'", "new_value", "NULL::text", "NULL::text", "NULL::text",
                "encode(raw_sha256, 'hex')", "NULL::text")
    " FROM rectify.staging WHERE batch_id = $1 UNION ALL "
    ROW_COLUMNS("'q'", "NULL::text", "reason", "detail", "model_answer", "NULL::text",
                "encode(raw, 'hex')")
    " FROM rectify.quarantine WHERE batch_id = $1 ORDER BY 2";

static const char *getv(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Rebuilds the row at (res, i) and its leaf. The outcome's strings point into
 * res except pk_json/row_json (canonicalized, owned: free with free_row).
 * Returns 0, RF_ECORRUPT (a stored value cannot be what the writer wrote;
 * why in errbuf), RF_ENOMEM. */
static int read_row(const PGresult *res, int i, const char *batch_id, stored_row_t *sr,
                    rf_buf_t *scratch, char *errbuf, size_t errlen) {
  memset(sr, 0, sizeof(*sr));
  rf_outcome_t *o = &sr->o;
  bool fixed = PQgetvalue(res, i, 0)[0] == 's';
  sr->table = fixed ? "staging" : "quarantine";
  o->kind = fixed ? RF_OUTCOME_FIXED : RF_OUTCOME_QUARANTINED;
  char **cols[] = {&o->key,        &o->source,      &o->source_id, &o->table_name,
                   &o->column_name, NULL,           &o->pk_hash,   &o->old_value,
                   &o->new_value,  NULL,            &o->fingerprint, &o->cluster_id,
                   &o->fix_id,     &o->lambda_src,  &o->generator, &o->model};
  for (int c = 1; c <= 16; c++)
    if (cols[c - 1])
      *cols[c - 1] = (char *)getv(res, i, c);
  const int jcols[2] = {6, 10};
  char **jdst[2] = {&o->pk_json, &o->row_json};
  for (int k = 0; k < 2; k++) {
    const char *t = getv(res, i, jcols[k]);
    if (t == NULL)
      continue;
    rf_json_error_t jerr;
    *jdst[k] = rf_json_canonicalize(t, strlen(t), &jerr);
    if (*jdst[k] == NULL) {
      if (jerr.status == RF_JSON_NOMEM)
        return RF_ENOMEM;
      snprintf(errbuf, errlen, "stored JSON cannot be canonicalized: %s", jerr.message);
      return RF_ECORRUPT;
    }
  }
  const char *conf = getv(res, i, 17);
  if (conf) {
    o->has_confidence = true;
    o->confidence = strtod(conf, NULL);
  }
  o->reason = (char *)getv(res, i, 18);
  o->detail = (char *)getv(res, i, 19);
  o->model_answer = (char *)getv(res, i, 20);
  o->ts_us = strtoll(PQgetvalue(res, i, 23), NULL, 10);
  unsigned char raw_sha[RF_SHA256_LEN];
  const unsigned char *raw_digest = NULL;
  const char *rawsha = getv(res, i, 21), *rawhex = getv(res, i, 22);
  if (rawsha) {
    if (rf_hex_decode(rawsha, raw_sha, RF_SHA256_LEN) != 0) {
      snprintf(errbuf, errlen, "raw_sha256 is not 32 bytes");
      return RF_ECORRUPT;
    }
    raw_digest = raw_sha;
  } else if (rawhex) {
    /* Hash the raw bytes straight from their hex text, in pieces. */
    size_t hl = strlen(rawhex);
    unsigned char *bytes = rf_malloc(hl / 2 + 1);
    if (bytes == NULL)
      return RF_ENOMEM;
    int rc = hl % 2 ? RF_EINVAL : 0;
    for (size_t k = 0; rc == 0 && k < hl / 2; k++) {
      unsigned char byte;
      char two[3] = {rawhex[2 * k], rawhex[2 * k + 1], '\0'};
      rc = rf_hex_decode(two, &byte, 1);
      bytes[k] = byte;
    }
    if (rc == 0)
      rc = rf_sha256(bytes, hl / 2, raw_sha);
    rf_free(bytes);
    if (rc)
      return RF_EINTERNAL;
    raw_digest = raw_sha;
  }
  if (rf_hex_decode(PQgetvalue(res, i, 24), sr->stored_leaf, RF_SHA256_LEN) != 0) {
    snprintf(errbuf, errlen, "leaf_hash is not 32 bytes");
    return RF_ECORRUPT;
  }
  int rc = rf_receipt_leaf(o, batch_id, raw_digest, scratch, sr->leaf);
  if (rc == RF_ENOMEM)
    return rc;
  if (rc) {
    snprintf(errbuf, errlen, "receipt cannot be rebuilt: %s", rf_strerror(rc));
    return RF_ECORRUPT;
  }
  sr->leaf_ok = memcmp(sr->leaf, sr->stored_leaf, RF_SHA256_LEN) == 0;
  return 0;
}

static void free_row(stored_row_t *sr) {
  rf_free(sr->o.pk_json);
  rf_free(sr->o.row_json);
  sr->o.pk_json = sr->o.row_json = NULL;
}

/* ---- verification --------------------------------------------------------------------- */

typedef struct vstate {
  PGconn *conn;
  const rf_audit_verify_opts_t *opts;
  rf_audit_report_t *rep;
  rf_buf_t scratch;
  uint64_t t0_ns, last_progress_ns;
  const char *chain;
} vstate_t;

static int broken(vstate_t *v, const char *chain, int64_t seq, const char *key, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
static int broken(vstate_t *v, const char *chain, int64_t seq, const char *key, const char *fmt,
               ...) {
  rf_audit_report_t *r = v->rep;
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  snprintf(r->chain_id, sizeof(r->chain_id), "%s", chain ? chain : "");
  r->seq = seq;
  snprintf(r->key, sizeof(r->key), "%s", key ? key : "");
  if (key)
    snprintf(r->message, sizeof(r->message), "chain=%s seq=%" PRId64 ": key=%s: %s", chain, seq,
             key, what);
  else
    snprintf(r->message, sizeof(r->message), "chain=%s seq=%" PRId64 ": %s", chain, seq, what);
  return RF_ECORRUPT;
}

static int operr(vstate_t *v, int rc, const char *what, const PGresult *res) {
  char msg[512];
  rf_pg_errmsg(v->conn, res, msg, sizeof(msg));
  snprintf(v->rep->message, sizeof(v->rep->message), "%s: %s", what, msg);
  return rc;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void progress(vstate_t *v, bool force) {
  if (v->opts->progress == NULL)
    return;
  uint64_t t = now_ns();
  if (!force && t - v->last_progress_ns < 1000000000u)
    return;
  v->last_progress_ns = t;
  rf_audit_progress_t p = {v->chain, v->rep->entries, v->rep->rows, (double)(t - v->t0_ns) / 1e9};
  v->opts->progress(&p, v->opts->progress_arg);
}

static int exec_cmd(vstate_t *v, const char *sql) {
  PGresult *res = PQexec(v->conn, sql);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : operr(v, RF_EDB, sql, res);
  PQclear(res);
  return rc;
}

/* Checks the rows of one batch against its entry: every leaf, the counts and
 * the Merkle root. Streams rows in single-row mode. */
static int verify_batch_rows(vstate_t *v, const char *chain, int64_t seq, const char *batch_id,
                             const cJSON *entry, const unsigned char root[RF_SHA256_LEN]) {
  const char *params[1] = {batch_id};
  if (!PQsendQueryParams(v->conn, SQL_BATCH_ROWS, 1, NULL, params, NULL, NULL, 0) ||
      !PQsetSingleRowMode(v->conn))
    return operr(v, RF_EDB, "rows query", NULL);
  rf_merkle_stream_t tree;
  rf_merkle_stream_init(&tree);
  int64_t fixed = 0, quar = 0;
  char prev_key[256] = "";
  bool have_prev = false;
  int rc = 0;
  PGresult *res;
  while ((res = PQgetResult(v->conn)) != NULL) {
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE && rc == 0) {
      stored_row_t sr;
      char why[256];
      int r = read_row(res, 0, batch_id, &sr, &v->scratch, why, sizeof(why));
      if (r == RF_ECORRUPT)
        rc = broken(v, chain, seq, sr.o.key, "in %s: %s", sr.table, why);
      else if (r)
        rc = r;
      else if (!sr.leaf_ok)
        rc = broken(v, chain, seq, sr.o.key,
                 "%s row does not match its leaf hash (row edited)", sr.table);
      else if (have_prev && strcmp(prev_key, sr.o.key) == 0)
        rc = broken(v, chain, seq, sr.o.key, "key stored twice (in staging and quarantine)");
      if (rc == 0) {
        rf_merkle_stream_push(&tree, sr.leaf);
        if (sr.o.kind == RF_OUTCOME_FIXED)
          fixed++;
        else
          quar++;
        snprintf(prev_key, sizeof(prev_key), "%s", sr.o.key);
        have_prev = true;
        v->rep->rows++;
      }
      free_row(&sr);
    } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
      rc = operr(v, RF_EDB, "rows query", res);
    }
    PQclear(res);
    progress(v, false);
  }
  if (rc)
    return rc;
  int64_t e_fixed = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "fixed"));
  int64_t e_quar =
      (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "quarantined"));
  if (fixed != e_fixed || quar != e_quar)
    return broken(v, chain, seq, NULL,
               "batch %s holds %" PRId64 " staging and %" PRId64
               " quarantine rows, its entry says fixed=%" PRId64 " quarantined=%" PRId64
               " (rows %s)",
               batch_id, fixed, quar, e_fixed, e_quar,
               fixed + quar > e_fixed + e_quar ? "added" : "removed or moved");
  unsigned char got[RF_SHA256_LEN];
  if (rf_merkle_stream_root(&tree, got) != 0)
    return operr(v, RF_EINTERNAL, "merkle", NULL);
  if (memcmp(got, root, RF_SHA256_LEN) != 0)
    return broken(v, chain, seq, NULL,
               "Merkle root of batch %s's rows does not match its entry (rows replaced)",
               batch_id);
  return 0;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Numbers from rf_json_parse keep their text in valuestring. */
static bool jint(const cJSON *o, const char *k, int64_t *out) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(it))
    return false;
  const char *t = it->valuestring;
  if (t == NULL) {
    *out = (int64_t)it->valuedouble;
    return true;
  }
  char *end;
  errno = 0;
  long long v = strtoll(t, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

static bool streq_null(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

/* The action rows of a dashboard entry ("kind":"actions", docs/dashboard.md):
 * every leaf recomputed from its columns, the actor of every action is the
 * entry's, the count and the Merkle root (rows in id order) match the entry. */
static int verify_batch_actions(vstate_t *v, const char *chain, int64_t seq, const char *batch_id,
                                const cJSON *entry) {
  static const char sql[] =
      "SELECT key, action, actor, detail, ts_us, encode(leaf_hash, 'hex'),"
      " (created_at = timestamptz 'epoch' + ts_us * interval '1 microsecond')"
      " FROM rectify.actions WHERE batch_id = $1 ORDER BY id";
  const char *actor = jstr(entry, "actor"), *eroot = jstr(entry, "actions_root");
  int64_t n_actions = 0;
  unsigned char want_root[RF_SHA256_LEN], got[RF_SHA256_LEN];
  if (actor == NULL || eroot == NULL || !jint(entry, "actions", &n_actions) ||
      rf_hex_decode(eroot, want_root, RF_SHA256_LEN) != 0)
    return broken(v, chain, seq, NULL, "actions entry lacks actor, actions or actions_root");
  const char *params[1] = {batch_id};
  PGresult *res = PQexecParams(v->conn, sql, 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = operr(v, RF_EDB, "actions query", res);
    PQclear(res);
    return rc;
  }
  rf_merkle_stream_t tree;
  rf_merkle_stream_init(&tree);
  int rc = 0, n = PQntuples(res);
  for (int i = 0; i < n && rc == 0; i++) {
    const char *key = PQgetvalue(res, i, 0);
    unsigned char stored[RF_SHA256_LEN], leaf[RF_SHA256_LEN];
    if (PQgetisnull(res, i, 4) || PQgetisnull(res, i, 5) ||
        rf_hex_decode(PQgetvalue(res, i, 5), stored, RF_SHA256_LEN) != 0) {
      rc = broken(v, chain, seq, key, "action row lacks its timestamp or leaf hash");
      break;
    }
    rc = rf_dashboard_action_leaf(batch_id, key, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                                  getv(res, i, 3), strtoll(PQgetvalue(res, i, 4), NULL, 10),
                                  &v->scratch, leaf);
    if (rc)
      break;
    if (memcmp(leaf, stored, RF_SHA256_LEN) != 0 || PQgetvalue(res, i, 6)[0] != 't')
      rc = broken(v, chain, seq, key, "action row does not match its leaf hash (action edited)");
    else if (strcmp(PQgetvalue(res, i, 2), actor) != 0)
      rc = broken(v, chain, seq, key, "action by %s in an entry signed for %s",
                  PQgetvalue(res, i, 2), actor);
    else
      rf_merkle_stream_push(&tree, leaf);
  }
  PQclear(res);
  if (rc)
    return rc;
  if (n != n_actions)
    return broken(v, chain, seq, NULL,
                  "batch %s holds %d action rows, its entry says %" PRId64 " (actions %s)",
                  batch_id, n, n_actions, n > n_actions ? "added" : "removed or moved");
  if (rf_merkle_stream_root(&tree, got) != 0)
    return operr(v, RF_EINTERNAL, "merkle", NULL);
  if (memcmp(got, want_root, RF_SHA256_LEN) != 0)
    return broken(v, chain, seq, NULL,
                  "Merkle root of batch %s's actions does not match its entry (actions replaced)",
                  batch_id);
  return 0;
}

/* Verifies one entry (row of the entry cursor). */
static int verify_entry(vstate_t *v, const char *chain, const PGresult *res, int i,
                        int64_t expect_seq, unsigned char prev[RF_SHA256_LEN]) {
  int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
  const char *batch_id = PQgetvalue(res, i, 1);
  unsigned char prev_hash[RF_SHA256_LEN], hash[RF_SHA256_LEN], want[RF_SHA256_LEN];
  if (seq != expect_seq)
    return broken(v, chain, expect_seq, NULL,
               "entry missing (the next entry in the database is seq %" PRId64 ")", seq);
  if (rf_hex_decode(PQgetvalue(res, i, 2), prev_hash, RF_SHA256_LEN) != 0 ||
      rf_hex_decode(PQgetvalue(res, i, 3), hash, RF_SHA256_LEN) != 0)
    return broken(v, chain, seq, NULL, "stored hash is not 32 bytes");
  if (memcmp(prev_hash, prev, RF_SHA256_LEN) != 0)
    return broken(v, chain, seq, NULL,
               "prev_hash is not the hash of seq %" PRId64 " (entries reordered or replaced)",
               seq - 1);
  const char *text = PQgetvalue(res, i, 4);
  rf_json_error_t jerr;
  char *canon = rf_json_canonicalize(text, strlen(text), &jerr);
  if (canon == NULL)
    return jerr.status == RF_JSON_NOMEM ? RF_ENOMEM
                                        : broken(v, chain, seq, NULL, "entry is not valid JSON");
  int rc = 0;
  cJSON *e = rf_json_parse(canon, strlen(canon), 8, &jerr);
  if (e == NULL) {
    rc = jerr.status == RF_JSON_NOMEM ? RF_ENOMEM : broken(v, chain, seq, NULL, "entry unreadable");
    goto out;
  }
  const char *mac = jstr(e, "mac");
  bool keyed = mac && strcmp(mac, "hmac-sha256") == 0;
  if (keyed && v->opts->key == NULL) {
    snprintf(v->rep->message, sizeof(v->rep->message),
             "chain=%s seq=%" PRId64 ": links are HMACs: the audit key is needed (--key-file)",
             chain, seq);
    rc = RF_EINVAL;
    goto out;
  }
  if (!keyed && v->opts->key != NULL) {
    rc = broken(v, chain, seq, NULL, "entry is not keyed (mac=%s) but an audit key was given",
             mac ? mac : "missing");
    goto out;
  }
  rf_audit_link(prev, canon, strlen(canon), keyed ? v->opts->key : NULL, v->opts->keylen, want);
  if (memcmp(want, hash, RF_SHA256_LEN) != 0) {
    rc = broken(v, chain, seq, NULL, "hash does not match the entry (entry or link edited)");
    goto out;
  }
  /* The link holds: now the entry's own claims. */
  int64_t e_seq = 0, e_v = 0, recv = 0, fx = 0, q = 0, dup = 0;
  char want_batch[320];
  rf_audit_batch_id(want_batch, sizeof(want_batch), chain, seq);
  const char *e_root = jstr(e, "root"), *e_prev = jstr(e, "prev");
  unsigned char root[RF_SHA256_LEN], eprev[RF_SHA256_LEN];
  if (!jint(e, "v", &e_v) || e_v != RF_AUDIT_ENTRY_VERSION || !jint(e, "seq", &e_seq) ||
      !jint(e, "received", &recv) || !jint(e, "fixed", &fx) || !jint(e, "quarantined", &q) ||
      !jint(e, "duplicates", &dup) || e_root == NULL || e_prev == NULL ||
      rf_hex_decode(e_root, root, RF_SHA256_LEN) != 0 ||
      rf_hex_decode(e_prev, eprev, RF_SHA256_LEN) != 0) {
    rc = broken(v, chain, seq, NULL, "entry lacks a field or has a bad one");
    goto out;
  }
  if (e_seq != seq || !streq_null(jstr(e, "chain"), chain) ||
      !streq_null(jstr(e, "batch"), batch_id) || strcmp(batch_id, want_batch) != 0 ||
      memcmp(eprev, prev, RF_SHA256_LEN) != 0) {
    rc = broken(v, chain, seq, NULL, "entry names another position (chain, seq, batch or prev)");
    goto out;
  }
  if (recv != fx + q) {
    rc = broken(v, chain, seq, NULL, "entry says received=%" PRId64 " != fixed+quarantined", recv);
    goto out;
  }
  /* The batch row must agree with the entry. */
  if (PQgetisnull(res, i, 5)) {
    rc = broken(v, chain, seq, NULL, "batch row %s is missing", batch_id);
    goto out;
  }
  if (!streq_null(getv(res, i, 5), jstr(e, "source")) ||
      !streq_null(getv(res, i, 6), jstr(e, "table")) ||
      !streq_null(getv(res, i, 7), jstr(e, "column")) ||
      strtoll(PQgetvalue(res, i, 8), NULL, 10) != recv ||
      strtoll(PQgetvalue(res, i, 9), NULL, 10) != fx ||
      strtoll(PQgetvalue(res, i, 10), NULL, 10) != q ||
      strtoll(PQgetvalue(res, i, 11), NULL, 10) != dup) {
    rc = broken(v, chain, seq, NULL, "batch row %s does not match its entry", batch_id);
    goto out;
  }
  rc = verify_batch_rows(v, chain, seq, batch_id, e, root);
  const char *kind = jstr(e, "kind");
  if (rc == 0 && kind != NULL) {
    if (strcmp(kind, "actions") == 0)
      rc = verify_batch_actions(v, chain, seq, batch_id, e);
    else
      rc = broken(v, chain, seq, NULL, "unknown entry kind \"%s\"", kind);
  }
  if (rc == 0) {
    memcpy(prev, hash, RF_SHA256_LEN);
    v->rep->entries++;
  }
out:
  cJSON_Delete(e);
  rf_free(canon);
  return rc;
}

static const char SQL_ENTRIES[] =
    "DECLARE rf_entries NO SCROLL CURSOR FOR"
    " SELECT a.seq, a.batch_id, encode(a.prev_hash, 'hex'), encode(a.hash, 'hex'), a.entry::text,"
    " b.source, b.table_name, b.column_name, b.received, b.fixed, b.quarantined, b.duplicates"
    " FROM rectify.audit a LEFT JOIN rectify.batches b ON b.batch_id = a.batch_id"
    " WHERE a.chain_id = $1 ORDER BY a.seq";

/* Walks one chain; *last_seq/last_hash receive its head; head_hash_at is
 * filled with the hash at seq `probe_seq` when that seq exists. */
static int verify_chain(vstate_t *v, const char *chain, int64_t *last_seq,
                        unsigned char last_hash[RF_SHA256_LEN], int64_t probe_seq,
                        unsigned char probe_hash[RF_SHA256_LEN], bool *probe_found) {
  const char *params[1] = {chain};
  v->chain = chain;
  *last_seq = 0;
  *probe_found = false;
  memset(last_hash, 0, RF_SHA256_LEN);
  PGresult *res = PQexecParams(v->conn, SQL_ENTRIES, 1, NULL, params, NULL, NULL, 0);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : operr(v, RF_EDB, "entries cursor", res);
  PQclear(res);
  if (rc)
    return rc;
  unsigned char prev[RF_SHA256_LEN] = {0};
  int64_t expect = 1;
  for (;;) {
    res = PQexec(v->conn, "FETCH 500 FROM rf_entries");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      rc = operr(v, RF_EDB, "fetch entries", res);
      PQclear(res);
      break;
    }
    int nt = PQntuples(res);
    for (int i = 0; rc == 0 && i < nt; i++) {
      rc = verify_entry(v, chain, res, i, expect, prev);
      if (rc == 0) {
        if (expect == probe_seq) {
          memcpy(probe_hash, prev, RF_SHA256_LEN);
          *probe_found = true;
        }
        *last_seq = expect;
        memcpy(last_hash, prev, RF_SHA256_LEN);
        expect++;
      }
      progress(v, false);
    }
    PQclear(res);
    if (rc || nt == 0)
      break;
  }
  if (rc == 0)
    rc = exec_cmd(v, "CLOSE rf_entries");
  return rc;
}

/* Splits a batch id "<chain>:<seq>" at its last colon (rf_audit_batch_id's
 * inverse); without a colon the whole id is the chain and seq is 0. */
static int64_t split_batch_id(const char *b, char *chain, size_t len) {
  const char *colon = strrchr(b, ':');
  snprintf(chain, len, "%.*s", colon ? (int)(colon - b) : (int)strlen(b), b);
  return colon ? strtoll(colon + 1, NULL, 10) : 0;
}

/* Rows and batch rows that no chain entry covers, and ledger consistency. */
static int verify_coverage(vstate_t *v) {
  const char *chain = v->opts->chain_id;
  char prefix[300] = "";
  if (chain)
    snprintf(prefix, sizeof(prefix), "%s:", chain);
  const char *params[1] = {prefix};
  static const char sql_orphans[] =
      "SELECT r.t, r.key, r.batch_id FROM ("
      " SELECT 'staging' AS t, key, batch_id FROM rectify.staging"
      " UNION ALL SELECT 'quarantine', key, batch_id FROM rectify.quarantine"
      " UNION ALL SELECT 'batches', NULL, batch_id FROM rectify.batches) r"
      " WHERE ($1 = '' OR left(r.batch_id, length($1)) = $1)"
      " AND NOT EXISTS (SELECT 1 FROM rectify.audit a WHERE a.batch_id = r.batch_id)"
      " ORDER BY r.batch_id, r.key LIMIT 1";
  static const char sql_ledger[] =
      "SELECT m.key, m.batch_id FROM rectify.messages m"
      " LEFT JOIN rectify.staging s ON s.key = m.key"
      " LEFT JOIN rectify.quarantine q ON q.key = m.key"
      " WHERE ($1 = '' OR left(m.batch_id, length($1)) = $1) AND ("
      "  (s.key IS NULL AND q.key IS NULL)"
      /* A quarantined key may also have a staging row: a person resolved it
       * (checked by sql_resolved below). */
      "  OR (m.outcome = 'fixed' AND (s.key IS NULL OR s.batch_id <> m.batch_id))"
      "  OR (m.outcome NOT IN ('fixed', 'quarantined'))"
      "  OR (q.key IS NOT NULL AND (m.outcome <> 'quarantined' OR q.batch_id <> m.batch_id)))"
      " ORDER BY m.batch_id, m.key LIMIT 1";
  PGresult *res = PQexecParams(v->conn, sql_orphans, 1, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = operr(v, RF_EDB, "orphan rows", res);
  } else if (PQntuples(res) > 0) {
    const char *b = PQgetvalue(res, 0, 2);
    char ch[256];
    int64_t seq = split_batch_id(b, ch, sizeof(ch));
    rc = broken(v, ch, seq, getv(res, 0, 1), "%s row of batch %s has no chain entry (row inserted?)",
             PQgetvalue(res, 0, 0), b);
  }
  PQclear(res);
  if (rc)
    return rc;
  res = PQexecParams(v->conn, sql_ledger, 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = operr(v, RF_EDB, "ledger", res);
  } else if (PQntuples(res) > 0) {
    const char *b = PQgetvalue(res, 0, 1);
    char ch[256];
    int64_t seq = split_batch_id(b, ch, sizeof(ch));
    rc = broken(v, ch, seq, PQgetvalue(res, 0, 0),
                "key ledger and tables disagree (row missing or moved)");
  }
  PQclear(res);
  if (rc)
    return rc;
  /* Human actions (docs/dashboard.md): every action row is on a chain; a
   * staging row of a quarantined key is a resolution with its "resolve"
   * action in the same batch, and every "resolve" action has its row. */
  static const char sql_actions[] =
      "SELECT a.key, coalesce(a.batch_id, '') FROM rectify.actions a"
      " WHERE (($1 = '' AND a.batch_id IS NULL) OR ($1 = '' OR left(a.batch_id, length($1)) = $1))"
      " AND NOT EXISTS (SELECT 1 FROM rectify.audit au WHERE au.batch_id = a.batch_id)"
      " ORDER BY a.id LIMIT 1";
  static const char sql_resolved[] =
      "SELECT s.key, s.batch_id FROM rectify.staging s"
      " LEFT JOIN rectify.messages m ON m.key = s.key"
      " WHERE (m.key IS NULL OR m.outcome = 'quarantined')"
      " AND ($1 = '' OR left(s.batch_id, length($1)) = $1)"
      " AND NOT EXISTS (SELECT 1 FROM rectify.actions a WHERE a.key = s.key"
      "  AND a.action = 'resolve' AND a.batch_id = s.batch_id)"
      " ORDER BY s.batch_id, s.key LIMIT 1";
  static const char sql_resolves[] =
      "SELECT a.key, a.batch_id FROM rectify.actions a"
      " WHERE a.action = 'resolve' AND a.batch_id IS NOT NULL"
      " AND ($1 = '' OR left(a.batch_id, length($1)) = $1)"
      " AND NOT EXISTS (SELECT 1 FROM rectify.staging s WHERE s.key = a.key"
      "  AND s.batch_id = a.batch_id)"
      " ORDER BY a.id LIMIT 1";
  const char *sqls[3] = {sql_actions, sql_resolved, sql_resolves};
  const char *whats[3] = {"action row has no chain entry (action inserted?)",
                          "staging row of a quarantined key has no resolve action (row inserted?)",
                          "resolve action has no staging row (row removed or moved)"};
  for (int k = 0; k < 3 && rc == 0; k++) {
    res = PQexecParams(v->conn, sqls[k], 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      rc = operr(v, RF_EDB, "actions coverage", res);
    } else if (PQntuples(res) > 0) {
      const char *b = PQgetvalue(res, 0, 1);
      char ch[256];
      int64_t seq = split_batch_id(b, ch, sizeof(ch));
      rc = broken(v, ch, seq, PQgetvalue(res, 0, 0), "%s (batch %s)", whats[k], b[0] ? b : "none");
    }
    PQclear(res);
  }
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int rf_audit_verify(PGconn *conn, const rf_audit_verify_opts_t *opts, rf_audit_report_t *report) {
  memset(report, 0, sizeof(*report));
  vstate_t v = {conn, opts, report, RF_BUF_INIT, now_ns(), now_ns(), ""};
  rf_audit_head_t *heads = NULL;
  size_t nheads = 0;
  char **chains = NULL;
  size_t nchains = 0;
  PGresult *res = NULL;
  int rc = 0;
  if (opts->heads_file) {
    rc = rf_audit_heads_read(opts->heads_file, &heads, &nheads, report->message,
                             sizeof(report->message));
    if (rc)
      goto out;
  }
  if ((rc = exec_cmd(&v, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) != 0 ||
      (rc = exec_cmd(&v, "SET LOCAL extra_float_digits = 3")) != 0)
    goto out;
  /* Chains: those in the database plus those the heads file knows about
   * (a chain cut down to nothing exists only there). */
  res = PQexec(conn, "SELECT DISTINCT chain_id FROM rectify.audit");
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = operr(&v, RF_EDB, "list chains", res);
    goto out;
  }
  size_t cap = (size_t)PQntuples(res) + nheads + 1;
  chains = rf_calloc(cap, sizeof(char *));
  if (chains == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  for (int i = 0; i < PQntuples(res); i++)
    chains[nchains++] = PQgetvalue(res, i, 0);
  for (size_t h = 0; h < nheads; h++) {
    bool seen = false;
    for (size_t c = 0; c < nchains && !seen; c++)
      seen = strcmp(chains[c], heads[h].chain_id) == 0;
    if (!seen)
      chains[nchains++] = heads[h].chain_id;
  }
  qsort(chains, nchains, sizeof(char *), cmp_str);
  for (size_t c = 0; c < nchains && rc == 0; c++) {
    const char *chain = chains[c];
    if (opts->chain_id && strcmp(opts->chain_id, chain) != 0)
      continue;
    const rf_audit_head_t *head = NULL;
    for (size_t h = 0; h < nheads; h++)
      if (strcmp(heads[h].chain_id, chain) == 0)
        head = &heads[h];
    int64_t last = 0;
    unsigned char last_hash[RF_SHA256_LEN], at_head[RF_SHA256_LEN];
    bool found = false;
    rc = verify_chain(&v, chain, &last, last_hash, head ? head->seq : -1, at_head, &found);
    if (rc)
      break;
    report->chains++;
    if (head == NULL)
      continue;
    report->heads_checked++;
    if (!found) {
      rc = broken(&v, chain, last + 1, NULL,
               "entry missing: the heads file records seq %" PRId64
               " but the chain ends at seq %" PRId64 " (tail cut)",
               head->seq, last);
    } else if (memcmp(at_head, head->hash, RF_SHA256_LEN) != 0) {
      rc = broken(&v, chain, head->seq, NULL,
               "hash differs from the one recorded in the heads file (chain rewritten)");
    } else if (last > head->seq) {
      size_t used = strlen(report->notes);
      snprintf(report->notes + used, sizeof(report->notes) - used,
               "chain %s: database is %" PRId64 " entries ahead of the heads file (seq %" PRId64
               " recorded, %" PRId64 " in the database)\n",
               chain, last - head->seq, head->seq, last);
    }
  }
  if (rc == 0 && opts->chain_id && report->chains == 0) {
    snprintf(report->message, sizeof(report->message), "chain %s not found", opts->chain_id);
    rc = RF_ENOTFOUND;
  }
  if (rc == 0)
    rc = verify_coverage(&v);
  progress(&v, true);
out:
  if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
    PGresult *r = PQexec(conn, "ROLLBACK");
    PQclear(r);
  }
  if (rc == RF_ENOMEM)
    snprintf(report->message, sizeof(report->message), "out of memory");
  PQclear(res);
  rf_free(chains);
  rf_audit_heads_free(heads, nheads);
  rf_buf_free(&v.scratch);
  return rc;
}

/* ---- inclusion proofs -------------------------------------------------------------------- */

int rf_audit_prove(PGconn *conn, const char *key, const rf_audit_verify_opts_t *opts, rf_buf_t *out,
                   char *errbuf, size_t errlen) {
  PGresult *res = NULL, *rows = NULL;
  unsigned char *leaves = NULL;
  cJSON *e = NULL;
  char *canon = NULL;
  rf_buf_t scratch = RF_BUF_INIT;
  int rc = 0;
  const char *params[1] = {key};
  res = PQexecParams(conn,
                     "SELECT batch_id FROM rectify.staging WHERE key = $1 UNION ALL"
                     " SELECT q.batch_id FROM rectify.quarantine q WHERE "
                     RF_SQL_QUARANTINE_BY_KEY("q", "$1"),
                     1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rf_pg_errmsg(conn, res, errbuf, errlen);
    rc = RF_EDB;
    goto out;
  }
  if (PQntuples(res) == 0) {
    snprintf(errbuf, errlen, "no row with key %s", key);
    rc = RF_ENOTFOUND;
    goto out;
  }
  char batch_id[320];
  snprintf(batch_id, sizeof(batch_id), "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  const char *bparams[1] = {batch_id};
  res = PQexecParams(conn,
                     "SELECT chain_id, seq, encode(prev_hash, 'hex'), encode(hash, 'hex'),"
                     " entry::text FROM rectify.audit WHERE batch_id = $1",
                     1, NULL, bparams, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rf_pg_errmsg(conn, res, errbuf, errlen);
    rc = RF_EDB;
    goto out;
  }
  if (PQntuples(res) == 0) {
    snprintf(errbuf, errlen, "batch %s of key %s has no chain entry", batch_id, key);
    rc = RF_ECORRUPT;
    goto out;
  }
  rows = PQexecParams(conn, SQL_BATCH_ROWS, 1, NULL, bparams, NULL, NULL, 0);
  if (PQresultStatus(rows) != PGRES_TUPLES_OK) {
    rf_pg_errmsg(conn, rows, errbuf, errlen);
    rc = RF_EDB;
    goto out;
  }
  size_t n = (size_t)PQntuples(rows), index = n;
  leaves = rf_malloc(n * RF_SHA256_LEN + 1);
  if (leaves == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  const char *table = "";
  bool leaf_ok = false;
  for (size_t i = 0; i < n; i++) {
    stored_row_t sr;
    char why[256];
    rc = read_row(rows, (int)i, batch_id, &sr, &scratch, why, sizeof(why));
    if (rc == 0) {
      memcpy(leaves + i * RF_SHA256_LEN, sr.leaf, RF_SHA256_LEN);
      if (strcmp(sr.o.key, key) == 0) {
        index = i;
        table = sr.table;
        leaf_ok = sr.leaf_ok;
      }
    } else if (rc == RF_ECORRUPT) {
      snprintf(errbuf, errlen, "row %s of batch %s: %s", sr.o.key, batch_id, why);
    }
    free_row(&sr);
    if (rc)
      goto out;
  }
  if (index == n) {
    snprintf(errbuf, errlen, "key %s vanished while proving", key);
    rc = RF_ENOTFOUND;
    goto out;
  }
  unsigned char root[RF_SHA256_LEN], path[RF_MERKLE_MAX_DEPTH * RF_SHA256_LEN];
  unsigned char entry_root[RF_SHA256_LEN], prev[RF_SHA256_LEN], hash[RF_SHA256_LEN],
      link[RF_SHA256_LEN];
  size_t path_len = 0;
  if (rf_merkle_root(leaves, n, root) != 0 || rf_merkle_path(leaves, n, index, path, &path_len) != 0) {
    rc = RF_EINTERNAL;
    goto out;
  }
  const char *text = PQgetvalue(res, 0, 4);
  rf_json_error_t jerr;
  canon = rf_json_canonicalize(text, strlen(text), &jerr);
  e = canon ? rf_json_parse(canon, strlen(canon), 8, &jerr) : NULL;
  const char *eroot = e ? jstr(e, "root") : NULL;
  const char *mac = e ? jstr(e, "mac") : NULL;
  bool keyed = mac && strcmp(mac, "hmac-sha256") == 0;
  if (eroot == NULL || rf_hex_decode(eroot, entry_root, RF_SHA256_LEN) != 0 ||
      rf_hex_decode(PQgetvalue(res, 0, 2), prev, RF_SHA256_LEN) != 0 ||
      rf_hex_decode(PQgetvalue(res, 0, 3), hash, RF_SHA256_LEN) != 0) {
    snprintf(errbuf, errlen, "chain entry of batch %s is unreadable", batch_id);
    rc = RF_ECORRUPT;
    goto out;
  }
  bool link_ok = true;
  if (!keyed || opts->key) {
    rf_audit_link(prev, canon, strlen(canon), keyed ? opts->key : NULL, opts->keylen, link);
    link_ok = memcmp(link, hash, RF_SHA256_LEN) == 0;
  }
  bool path_ok = rf_merkle_verify_path(leaves + index * RF_SHA256_LEN, index, n, path, path_len,
                                       entry_root) == 0;
  bool verified = leaf_ok && path_ok && link_ok;
  char hex[2 * RF_SHA256_LEN + 1];
  rf_buf_puts(out, "{\"key\":");
  rf_buf_json_str(out, key, strlen(key));
  rf_buf_printf(out, ",\"table\":\"%s\",\"batch\":", table);
  rf_buf_json_str(out, batch_id, strlen(batch_id));
  rf_buf_puts(out, ",\"chain\":");
  rf_buf_json_str(out, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
  rf_buf_printf(out, ",\"seq\":%s", PQgetvalue(res, 0, 1));
  rf_hex_encode(leaves + index * RF_SHA256_LEN, RF_SHA256_LEN, hex);
  rf_buf_printf(out, ",\"leaf\":\"%s\",\"index\":%zu,\"size\":%zu,\"path\":[", hex, index, n);
  for (size_t i = 0; i < path_len; i++) {
    rf_hex_encode(path + i * RF_SHA256_LEN, RF_SHA256_LEN, hex);
    rf_buf_printf(out, "%s\"%s\"", i ? "," : "", hex);
  }
  rf_hex_encode(entry_root, RF_SHA256_LEN, hex);
  rf_buf_printf(out, "],\"root\":\"%s\"", hex);
  rf_buf_printf(out, ",\"entry_hash\":\"%s\",\"mac\":\"%s\"", PQgetvalue(res, 0, 3),
                keyed ? "hmac-sha256" : "sha256");
  rf_buf_printf(out, ",\"leaf_matches_row\":%s,\"path_leads_to_root\":%s,\"link\":\"%s\"",
                leaf_ok ? "true" : "false", path_ok ? "true" : "false",
                keyed && !opts->key ? "unchecked (no key)" : link_ok ? "ok" : "mismatch");
  rf_buf_printf(out, ",\"verified\":%s}", verified ? "true" : "false");
  if (!rf_buf_ok(out)) {
    rc = RF_ENOMEM;
    goto out;
  }
  if (!verified) {
    snprintf(errbuf, errlen, "%s",
             !leaf_ok   ? "the row does not match its leaf hash (row edited)"
             : !path_ok ? "the audit path does not lead to the entry's root (batch altered)"
                        : "the chain entry's hash does not match (entry edited)");
    rc = RF_ECORRUPT;
  }
out:
  if (rc == RF_ENOMEM)
    snprintf(errbuf, errlen, "out of memory");
  cJSON_Delete(e);
  rf_free(canon);
  rf_free(leaves);
  rf_buf_free(&scratch);
  PQclear(res);
  PQclear(rows);
  return rc;
}

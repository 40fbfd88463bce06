/* cluster.c - shape fingerprints and diverse representatives.
 *
 * Clusters are found with a uthash table keyed by fingerprint; their order is
 * the order of first appearance so that the same window always gives the same
 * clusters. Representatives are chosen by farthest-point selection over up to
 * 64 distinct values with a bounded edit distance: the model (or synthesizer)
 * then sees the family's variety, not five copies of its most common member.
 */
#include "rectify/cluster.h"

#include <string.h>

#include "rectify/alloc.h"

/* uthash allocates through rf_malloc and reports failure instead of exiting. */
static _Thread_local int uthash_oom;
#define uthash_malloc(sz) rf_malloc(sz)
#define uthash_free(ptr, sz) rf_free(ptr)
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (uthash_oom = 1)
#include <uthash.h>

#include "rectify/error.h"
#include "rectify/hash.h"

#define RF_REP_CANDIDATES 64
#define RF_EDIT_PREFIX 32

void rf_shape_fingerprint(const char *v, size_t len, rf_buf_t *out) {
  if (v == NULL) {
    rf_buf_puts(out, "<null>");
    return;
  }
  if (len == 0) {
    rf_buf_puts(out, "<empty>");
    return;
  }
  char last = 0;
  size_t start = out->len, written = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    char cls;
    if (c >= '0' && c <= '9')
      cls = '9';
    else if (c >= 'a' && c <= 'z')
      cls = 'a';
    else if (c >= 'A' && c <= 'Z')
      cls = 'A';
    else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      cls = ' ';
    else if (c >= 0x80) {
      if ((c & 0xC0) == 0x80)
        continue; /* continuation byte: one class per code point */
      cls = 'u';
    } else if (c < 0x20 || c == 0x7f)
      cls = '^';
    else
      cls = (char)c;
    if (cls == last)
      continue;
    last = cls;
    if (written == RF_FINGERPRINT_MAX) {
      rf_buf_puts(out, "~");
      break;
    }
    rf_buf_putc(out, cls);
    written++;
  }
  (void)start;
}

typedef struct slot {
  char *fp;
  size_t index; /* into clusters */
  UT_hash_handle hh;
} slot_t;

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  size_t row[RF_EDIT_PREFIX + 1];
  if (la > RF_EDIT_PREFIX)
    la = RF_EDIT_PREFIX;
  if (lb > RF_EDIT_PREFIX)
    lb = RF_EDIT_PREFIX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      if (up + 1 < best)
        best = up + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static bool same_value(const rf_anomaly_t *x, const rf_anomaly_t *y) {
  if (x->value == NULL || y->value == NULL)
    return x->value == y->value;
  return x->value_len == y->value_len && memcmp(x->value, y->value, x->value_len) == 0;
}

static void pick_reps(rf_cluster_t *c) {
  rf_anomaly_t *cand[RF_REP_CANDIDATES];
  size_t nc = 0;
  for (size_t i = 0; i < c->n && nc < RF_REP_CANDIDATES; i++) {
    bool dup = false;
    for (size_t k = 0; k < nc && !dup; k++)
      dup = same_value(cand[k], c->rows[i]);
    if (!dup)
      cand[nc++] = c->rows[i];
  }
  size_t mind[RF_REP_CANDIDATES];
  bool used[RF_REP_CANDIDATES] = {false};
  for (size_t k = 0; k < nc; k++)
    mind[k] = (size_t)-1;
  size_t pick = 0;
  c->n_reps = 0;
  while (c->n_reps < RF_CLUSTER_MAX_REPS && c->n_reps < nc) {
    used[pick] = true;
    c->reps[c->n_reps++] = cand[pick];
    const rf_anomaly_t *p = cand[pick];
    size_t best = 0, best_d = 0;
    bool found = false;
    for (size_t k = 0; k < nc; k++) {
      if (used[k])
        continue;
      size_t d = edit_distance(p->value ? p->value : "", p->value_len,
                               cand[k]->value ? cand[k]->value : "", cand[k]->value_len);
      if (d < mind[k])
        mind[k] = d;
      if (!found || mind[k] > best_d) {
        best = k;
        best_d = mind[k];
        found = true;
      }
    }
    if (!found)
      break;
    pick = best;
  }
}

static int cluster_id(const char *table_name, const char *column_name, const char *fp,
                      char id[17]) {
  const void *parts[5] = {table_name, "", column_name, "", fp};
  size_t lens[5] = {strlen(table_name), 1, strlen(column_name), 1, strlen(fp)};
  unsigned char digest[RF_SHA256_LEN];
  int rc = rf_sha256_parts(parts, lens, 5, digest);
  if (rc == 0)
    rf_hex_encode(digest, 8, id);
  return rc;
}

int rf_cluster_build(const char *table_name, const char *column_name, rf_anomaly_t **rows,
                     size_t n, rf_clustering_t *out) {
  slot_t *index = NULL, *s, *tmp;
  rf_buf_t fp = RF_BUF_INIT;
  size_t cap = 0;
  int rc = RF_ENOMEM;
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < n; i++) {
    rf_anomaly_t *a = rows[i];
    rf_buf_reset(&fp);
    rf_shape_fingerprint(a->value, a->value_len, &fp);
    if (!rf_buf_ok(&fp))
      goto err;
    HASH_FIND_STR(index, fp.data, s);
    if (s == NULL) {
      if (out->n == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        rf_cluster_t *cl = rf_realloc(out->clusters, ncap * sizeof(*cl));
        if (cl == NULL)
          goto err;
        out->clusters = cl;
        cap = ncap;
      }
      rf_cluster_t *c = &out->clusters[out->n];
      memset(c, 0, sizeof(*c));
      memcpy(c->fingerprint, fp.data, fp.len + 1);
      if ((rc = cluster_id(table_name, column_name, c->fingerprint, c->id)))
        goto err;
      rc = RF_ENOMEM;
      if ((s = rf_calloc(1, sizeof(*s))) == NULL)
        goto err;
      s->index = out->n++;
      if ((s->fp = rf_strdup(c->fingerprint)) == NULL) {
        rf_free(s);
        goto err;
      }
      uthash_oom = 0;
      HASH_ADD_KEYPTR(hh, index, s->fp, strlen(s->fp), s);
      if (uthash_oom) {
        rf_free(s->fp);
        rf_free(s);
        goto err;
      }
    }
    rf_cluster_t *c = &out->clusters[s->index];
    if (c->n == c->cap) {
      size_t ncap = c->cap ? c->cap * 2 : 16;
      rf_anomaly_t **r = rf_realloc(c->rows, ncap * sizeof(*r));
      if (r == NULL)
        goto err;
      c->rows = r;
      c->cap = ncap;
    }
    c->rows[c->n++] = a;
  }
  for (size_t k = 0; k < out->n; k++)
    pick_reps(&out->clusters[k]);
  rc = 0;
  goto done;
err:
  rf_clustering_free(out);
done:
  HASH_ITER(hh, index, s, tmp) {
    HASH_DEL(index, s);
    rf_free(s->fp);
    rf_free(s);
  }
  rf_buf_free(&fp);
  return rc;
}

void rf_clustering_free(rf_clustering_t *c) {
  for (size_t k = 0; k < c->n; k++)
    rf_free(c->clusters[k].rows);
  rf_free(c->clusters);
  memset(c, 0, sizeof(*c));
}

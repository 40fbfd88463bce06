/* cluster.c - partitions, diverse representatives, chains and merges.
 *
 * Clusters are found with a uthash table keyed by the partition key; their
 * order is the order of first appearance so that the same window always gives
 * the same clusters. Representatives are chosen by farthest-point selection
 * over up to 64 distinct values with a bounded edit distance: the model (or
 * synthesizer) then sees the family's variety, not five copies of its most
 * common member.
 *
 * A chain partitions with its first method, then each merge stage gives every
 * partition group one key: the format key (cluster_method.h) that most of its
 * first RF_CLUSTER_KEY_SAMPLE rows have, if it covers at least half of them.
 * Groups with equal keys are joined (union-find over the partition groups, so
 * the joins of all stages compose). Keying a sample per group instead of
 * every row keeps the cost of merging independent of the window's size: a
 * chain costs one partition key per row, like shape alone. Merged clusters
 * copy their parts (rows, sub-clusters, joins) before anything is freed, so a
 * failed merge leaves the clustering as it was.
 */
#include "rectify/cluster.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Levenshtein distance of the first RF_EDIT_PREFIX bytes of a and b, by
 * Myers' bit-parallel algorithm (Hyyro's formulation for global distance):
 * one machine word holds a column of the dynamic-programming table, so a
 * pair costs O(lb) word operations instead of O(la * lb) cells. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  _Static_assert(RF_EDIT_PREFIX <= 64, "one word per column");
  if (la > RF_EDIT_PREFIX)
    la = RF_EDIT_PREFIX;
  if (lb > RF_EDIT_PREFIX)
    lb = RF_EDIT_PREFIX;
  if (la == 0)
    return lb;
  /* peq[c]: bit i set where a[i] == c; kept all-zero between calls */
  static _Thread_local uint64_t peq[256];
  for (size_t i = 0; i < la; i++)
    peq[(unsigned char)a[i]] |= UINT64_C(1) << i;
  uint64_t pv = ~UINT64_C(0), mv = 0, last = UINT64_C(1) << (la - 1);
  size_t score = la;
  for (size_t j = 0; j < lb; j++) {
    uint64_t eq = peq[(unsigned char)b[j]];
    uint64_t xv = eq | mv;
    uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
    uint64_t ph = mv | ~(xh | pv);
    uint64_t mh = pv & xh;
    if (ph & last)
      score++;
    else if (mh & last)
      score--;
    ph = (ph << 1) | 1;
    mh <<= 1;
    pv = mh | ~(xv | ph);
    mv = ph & xv;
  }
  for (size_t i = 0; i < la; i++)
    peq[(unsigned char)a[i]] = 0;
  return score;
}

static bool same_value(const rf_anomaly_t *x, const rf_anomaly_t *y) {
  if (x->value == NULL || y->value == NULL)
    return x->value == y->value;
  return x->value_len == y->value_len && memcmp(x->value, y->value, x->value_len) == 0;
}

/* FNV-1a of a value (NULL and "" differ: NULL hashes to 0). */
static uint32_t value_hash(const rf_anomaly_t *x) {
  if (x->value == NULL)
    return 0;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < x->value_len; i++)
    h = (h ^ (unsigned char)x->value[i]) * 16777619u;
  return h | 1;
}

static void pick_reps(rf_cluster_t *c) {
  /* The candidates are the first RF_REP_CANDIDATES distinct values in row
   * order. A cluster is often one value many times over, so the distinct
   * test goes through a small open-addressing table of the candidates'
   * hashes, not through every candidate for every row. */
  enum { SLOTS = 4 * RF_REP_CANDIDATES };
  _Static_assert((SLOTS & (SLOTS - 1)) == 0 && RF_REP_CANDIDATES < 255, "slot table");
  rf_anomaly_t *cand[RF_REP_CANDIDATES];
  uint32_t hash[SLOTS];
  uint8_t idx[SLOTS]; /* candidate index + 1; 0 = empty */
  memset(idx, 0, sizeof(idx));
  size_t nc = 0;
  for (size_t i = 0; i < c->n && nc < RF_REP_CANDIDATES; i++) {
    uint32_t h = value_hash(c->rows[i]);
    size_t s = h & (SLOTS - 1);
    bool dup = false;
    for (; idx[s] != 0; s = (s + 1) & (SLOTS - 1))
      if (hash[s] == h && same_value(cand[idx[s] - 1], c->rows[i])) {
        dup = true;
        break;
      }
    if (dup)
      continue;
    hash[s] = h;
    idx[s] = (uint8_t)(nc + 1);
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

/* The cluster fingerprint of a partition key: the key itself for shape, else
 * "<prefix>:<key>", shortened at a code-point boundary with "~" and 16 hex of
 * the key's SHA-256 when it does not fit. */
static int cluster_fingerprint(const rf_cluster_method_t *m, const rf_buf_t *key,
                               char fp[RF_FINGERPRINT_MAX + 8]) {
  if (m->kind == RF_CLUSTER_SHAPE) {
    memcpy(fp, key->data, key->len + 1);
    return 0;
  }
  char prefix[8];
  if (m->kind == RF_CLUSTER_FINGERPRINT)
    snprintf(prefix, sizeof(prefix), "fp:");
  else
    snprintf(prefix, sizeof(prefix), "ng%u:", m->n);
  size_t pl = strlen(prefix);
  if (pl + key->len <= RF_FINGERPRINT_MAX) {
    memcpy(fp, prefix, pl);
    memcpy(fp + pl, key->data, key->len + 1);
    return 0;
  }
  unsigned char digest[RF_SHA256_LEN];
  int rc = rf_sha256(key->data, key->len, digest);
  if (rc)
    return rc;
  size_t keep = RF_FINGERPRINT_MAX - pl - 17; /* "~" + 16 hex */
  while (keep > 0 && ((unsigned char)key->data[keep] & 0xC0) == 0x80)
    keep--;
  memcpy(fp, prefix, pl);
  memcpy(fp + pl, key->data, keep);
  fp[pl + keep] = '~';
  rf_hex_encode(digest, 8, fp + pl + keep + 1);
  return 0;
}

static int add_row(rf_cluster_t *c, rf_anomaly_t *a) {
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 16;
    rf_anomaly_t **r = rf_realloc(c->rows, ncap * sizeof(*r));
    if (r == NULL)
      return RF_ENOMEM;
    c->rows = r;
    c->cap = ncap;
  }
  c->rows[c->n++] = a;
  return 0;
}

/* Partitions rows by m's key of each value. */
static int partition(const rf_cluster_method_t *m, const char *table_name,
                     const char *column_name, rf_anomaly_t **rows, size_t n,
                     rf_clustering_t *out) {
  slot_t *index = NULL, *s, *tmp;
  rf_buf_t key = RF_BUF_INIT;
  size_t cap = 0;
  int rc = RF_ENOMEM;
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < n; i++) {
    rf_anomaly_t *a = rows[i];
    rf_buf_reset(&key);
    if (m->key(m, a->value, a->value_len, &key) || !rf_buf_ok(&key) || key.data == NULL) {
      rc = RF_ENOMEM;
      goto err;
    }
    HASH_FIND(hh, index, key.data, key.len, s);
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
      if ((rc = cluster_fingerprint(m, &key, c->fingerprint)) ||
          (rc = cluster_id(table_name, column_name, c->fingerprint, c->id)))
        goto err;
      rc = RF_ENOMEM;
      if ((s = rf_calloc(1, sizeof(*s))) == NULL)
        goto err;
      s->index = out->n++;
      if ((s->fp = rf_memdup(key.data, key.len + 1)) == NULL) {
        rf_free(s);
        goto err;
      }
      uthash_oom = 0;
      HASH_ADD_KEYPTR(hh, index, s->fp, key.len, s);
      if (uthash_oom) {
        rf_free(s->fp);
        rf_free(s);
        goto err;
      }
    }
    if (add_row(&out->clusters[s->index], a))
      goto err;
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
  rf_buf_free(&key);
  return rc;
}

int rf_cluster_build(const char *table_name, const char *column_name, rf_anomaly_t **rows,
                     size_t n, rf_clustering_t *out) {
  rf_cluster_method_t shape;
  rf_cluster_method_init(&shape, "shape", 0);
  return partition(&shape, table_name, column_name, rows, n, out);
}

/* ---- merging -------------------------------------------------------------- */

static void cluster_clear(rf_cluster_t *c) {
  rf_free(c->rows);
  for (size_t i = 0; i < c->n_subs; i++)
    rf_free(c->subs[i].rows);
  rf_free(c->subs);
  for (size_t i = 0; i < c->n_joins; i++)
    rf_free(c->joins[i].key);
  rf_free(c->joins);
  memset(c, 0, sizeof(*c));
}

/* A join between clusters a and b of a clustering (indexes), before it is
 * materialised. */
typedef struct pending_join {
  const char *method;
  size_t a, b;
  const char *key; /* borrowed */
  double share, similarity;
} pending_join_t;

static size_t uf_find(size_t *parent, size_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

/* Unions a and b keeping the lowest index as the root; false when they
 * were already together. */
static bool uf_union(size_t *parent, size_t a, size_t b) {
  a = uf_find(parent, a);
  b = uf_find(parent, b);
  if (a == b)
    return false;
  if (a < b)
    parent[b] = a;
  else
    parent[a] = b;
  return true;
}

static int hex_cmp(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Builds in *dst the merge of c->clusters[members[0..nm)] (nm >= 2) with the
 * joins of js that belong to it. Copies everything; returns 0 or RF_ENOMEM
 * (dst cleared). */
static int materialize(const rf_clustering_t *c, const size_t *members, size_t nm,
                       const pending_join_t *js, size_t nj, const size_t *parent_root,
                       size_t root, rf_cluster_t *dst) {
  size_t *offset = rf_malloc(nm * sizeof(*offset));
  const char **ids = NULL;
  int rc = RF_ENOMEM;
  memset(dst, 0, sizeof(*dst));
  if (offset == NULL)
    goto err;
  size_t n_subs = 0, n_rows = 0, n_joins = 0;
  for (size_t i = 0; i < nm; i++) {
    const rf_cluster_t *m = &c->clusters[members[i]];
    offset[i] = n_subs;
    n_subs += m->n_subs ? m->n_subs : 1;
    n_joins += m->n_joins;
    n_rows += m->n;
  }
  for (size_t i = 0; i < nj; i++)
    n_joins += parent_root[js[i].a] == root;
  if ((dst->subs = rf_calloc(n_subs, sizeof(*dst->subs))) == NULL ||
      (dst->joins = rf_calloc(n_joins ? n_joins : 1, sizeof(*dst->joins))) == NULL ||
      (dst->rows = rf_malloc((n_rows ? n_rows : 1) * sizeof(*dst->rows))) == NULL ||
      (ids = rf_malloc(n_subs * sizeof(*ids))) == NULL)
    goto err;
  dst->cap = n_rows ? n_rows : 1;
  for (size_t i = 0; i < nm; i++) {
    const rf_cluster_t *m = &c->clusters[members[i]];
    size_t ms = m->n_subs ? m->n_subs : 1;
    for (size_t k = 0; k < ms; k++) {
      const rf_cluster_t *src = m->n_subs ? &m->subs[k] : m;
      rf_cluster_t *sub = &dst->subs[dst->n_subs];
      memcpy(sub->fingerprint, src->fingerprint, sizeof(sub->fingerprint));
      memcpy(sub->id, src->id, sizeof(sub->id));
      memcpy(sub->reps, src->reps, sizeof(sub->reps));
      sub->n_reps = src->n_reps;
      if ((sub->rows = rf_memdup(src->rows, (src->n ? src->n : 1) * sizeof(*src->rows))) == NULL)
        goto err;
      sub->n = sub->cap = src->n;
      dst->n_subs++;
    }
    for (size_t k = 0; k < m->n_joins; k++) {
      rf_cluster_join_t *j = &dst->joins[dst->n_joins];
      *j = m->joins[k];
      j->a += offset[i];
      j->b += offset[i];
      if (m->joins[k].key && (j->key = rf_strdup(m->joins[k].key)) == NULL)
        goto err;
      dst->n_joins++;
    }
    memcpy(dst->rows + dst->n, m->rows, m->n * sizeof(*m->rows));
    dst->n += m->n;
  }
  for (size_t i = 0; i < nj; i++) {
    if (parent_root[js[i].a] != root)
      continue;
    size_t ia = 0, ib = 0;
    for (size_t k = 0; k < nm; k++) {
      if (members[k] == js[i].a)
        ia = k;
      if (members[k] == js[i].b)
        ib = k;
    }
    rf_cluster_join_t *j = &dst->joins[dst->n_joins];
    *j = (rf_cluster_join_t){js[i].method, offset[ia], offset[ib], NULL, js[i].share,
                             js[i].similarity};
    if (js[i].key && (j->key = rf_strdup(js[i].key)) == NULL)
      goto err;
    dst->n_joins++;
  }
  /* Representatives in turn from each sub-cluster: the model sees every
   * variant that was merged. */
  for (size_t r = 0; r < RF_CLUSTER_MAX_REPS && dst->n_reps < RF_CLUSTER_MAX_REPS; r++)
    for (size_t k = 0; k < dst->n_subs && dst->n_reps < RF_CLUSTER_MAX_REPS; k++)
      if (r < dst->subs[k].n_reps)
        dst->reps[dst->n_reps++] = dst->subs[k].reps[r];
  memcpy(dst->fingerprint, dst->subs[0].fingerprint, sizeof(dst->fingerprint));
  /* The id: over the sorted sub-cluster ids, whatever their order here. */
  for (size_t k = 0; k < dst->n_subs; k++)
    ids[k] = dst->subs[k].id;
  qsort(ids, dst->n_subs, sizeof(*ids), hex_cmp);
  {
    rf_buf_t all = RF_BUF_INIT;
    rf_buf_puts(&all, "merge");
    for (size_t k = 0; k < dst->n_subs; k++) {
      rf_buf_putc(&all, ',');
      rf_buf_puts(&all, ids[k]);
    }
    unsigned char digest[RF_SHA256_LEN];
    if (!rf_buf_ok(&all) || (rc = rf_sha256(all.data, all.len, digest)) != 0) {
      rc = rf_buf_ok(&all) ? rc : RF_ENOMEM;
      rf_buf_free(&all);
      goto err;
    }
    rf_buf_free(&all);
    rf_hex_encode(digest, 8, dst->id);
  }
  rc = 0;
  goto done;
err:
  cluster_clear(dst);
  if (rc == 0)
    rc = RF_ENOMEM;
done:
  rf_free(offset);
  rf_free(ids);
  return rc;
}

/* Replaces c by the clustering where the joins js[0..nj) (indexes into c)
 * hold. All or nothing: on error c is unchanged. */
static int apply_joins(rf_clustering_t *c, const pending_join_t *js, size_t nj) {
  if (nj == 0)
    return 0;
  size_t n = c->n;
  size_t *parent = rf_malloc(n * sizeof(*parent));
  size_t *root = rf_malloc(n * sizeof(*root));
  size_t *count = rf_calloc(n, sizeof(*count));
  size_t *members = rf_malloc(n * sizeof(*members));
  size_t *slot = rf_malloc(n * sizeof(*slot));
  rf_cluster_t *next = NULL;
  size_t n_next = 0;
  int rc = RF_ENOMEM;
  if (!parent || !root || !count || !members || !slot)
    goto done;
  for (size_t i = 0; i < n; i++)
    parent[i] = i;
  for (size_t i = 0; i < nj; i++)
    uf_union(parent, js[i].a, js[i].b);
  for (size_t i = 0; i < n; i++) {
    root[i] = uf_find(parent, i);
    if (count[root[i]]++ == 0)
      slot[root[i]] = n_next++;
  }
  if ((next = rf_calloc(n_next, sizeof(*next))) == NULL)
    goto done;
  /* Pass 1, may fail: build every merged cluster as a copy. */
  for (size_t r = 0; r < n; r++) {
    if (root[r] != r || count[r] < 2)
      continue;
    size_t nm = 0;
    for (size_t i = r; i < n; i++)
      if (root[i] == r)
        members[nm++] = i;
    if ((rc = materialize(c, members, nm, js, nj, root, r, &next[slot[r]])) != 0) {
      for (size_t k = 0; k < n_next; k++)
        cluster_clear(&next[k]);
      rf_free(next);
      next = NULL;
      goto done;
    }
  }
  /* Pass 2, cannot fail: move the clusters that stay alone, free the parts
   * of the merged ones. */
  for (size_t i = 0; i < n; i++) {
    if (count[root[i]] == 1)
      next[slot[i]] = c->clusters[i];
    else
      cluster_clear(&c->clusters[i]);
  }
  rf_free(c->clusters);
  c->clusters = next;
  c->n = n_next;
  rc = 0;
done:
  rf_free(parent);
  rf_free(root);
  rf_free(count);
  rf_free(members);
  rf_free(slot);
  return rc;
}

/* ---- chains ----------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int rf_cluster_chain_parse(const char *spec, double embed_default, rf_cluster_chain_t *out,
                           char *err, size_t errlen) {
  rf_cluster_chain_t ch;
  memset(&ch, 0, sizeof(ch));
  ch.embed_threshold = embed_default;
  if (spec == NULL) {
    set_err(err, errlen, "empty clustering chain");
    return RF_ECONFIG;
  }
  const char *p = spec;
  for (size_t item = 0;; item++) {
    const char *end = strchr(p, ',');
    if (end == NULL)
      end = p + strlen(p);
    while (p < end && (*p == ' ' || *p == '\t'))
      p++;
    const char *e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    char word[64];
    size_t wl = (size_t)(e - p);
    if (wl == 0) {
      set_err(err, errlen, "empty stage %zu in clustering chain \"%s\"", item + 1, spec);
      return RF_ECONFIG;
    }
    if (wl >= sizeof(word)) {
      set_err(err, errlen, "stage %zu of clustering chain is too long", item + 1);
      return RF_ECONFIG;
    }
    memcpy(word, p, wl);
    word[wl] = '\0';
    char *arg = strchr(word, ':');
    if (arg)
      *arg++ = '\0';
    if (ch.embed) {
      set_err(err, errlen, "\"embed\" must be the last stage of the clustering chain");
      return RF_ECONFIG;
    }
    if (strcmp(word, "embed") == 0) {
      if (ch.n == 0) {
        set_err(err, errlen,
                "the first stage must be shape, fingerprint or ngram (embed only merges)");
        return RF_ECONFIG;
      }
      if (arg) {
        char *rest;
        double t = strtod(arg, &rest);
        if (*arg == '\0' || *rest != '\0' || !(t > 0 && t <= 1)) {
          set_err(err, errlen, "embed threshold \"%s\" is not a number in (0, 1]", arg);
          return RF_ECONFIG;
        }
        ch.embed_threshold = t;
      } else if (!(embed_default > 0 && embed_default <= 1)) {
        set_err(err, errlen, "embed threshold %g is not in (0, 1]", embed_default);
        return RF_ECONFIG;
      }
      ch.embed = true;
    } else {
      unsigned long nval = 0;
      if (arg) {
        char *rest;
        if (*arg < '0' || *arg > '9' || (nval = strtoul(arg, &rest, 10), *rest != '\0') ||
            nval > 1000) {
          set_err(err, errlen, "\"%s\" needs a whole number after ':', not \"%s\"", word, arg);
          return RF_ECONFIG;
        }
        if (nval == 0) {
          set_err(err, errlen, "ngram size 0 outside %d..%d", RF_CLUSTER_NGRAM_MIN,
                  RF_CLUSTER_NGRAM_MAX);
          return RF_ECONFIG;
        }
      }
      if (ch.n == RF_CLUSTER_CHAIN_MAX) {
        set_err(err, errlen, "more than %d stages in clustering chain", RF_CLUSTER_CHAIN_MAX);
        return RF_ECONFIG;
      }
      int rc = rf_cluster_method_init(&ch.stages[ch.n], word, (unsigned)nval);
      if (rc == RF_ENOTFOUND) {
        set_err(err, errlen,
                "unknown clustering method \"%s\" (want shape, fingerprint, ngram or embed)",
                word);
        return RF_ECONFIG;
      }
      if (rc) {
        if (strcmp(word, "ngram") == 0)
          set_err(err, errlen, "ngram size %lu outside %d..%d", nval, RF_CLUSTER_NGRAM_MIN,
                  RF_CLUSTER_NGRAM_MAX);
        else
          set_err(err, errlen, "\"%s\" takes no argument", word);
        return RF_ECONFIG;
      }
      ch.n++;
    }
    if (*end == '\0')
      break;
    p = end + 1;
  }
  *out = ch;
  return 0;
}

void rf_cluster_chain_format(const rf_cluster_chain_t *chain, rf_buf_t *out) {
  for (size_t i = 0; i < chain->n; i++) {
    if (i)
      rf_buf_putc(out, ',');
    rf_buf_puts(out, chain->stages[i].name);
    if (chain->stages[i].kind == RF_CLUSTER_NGRAM)
      rf_buf_printf(out, ":%u", chain->stages[i].n);
  }
  if (chain->embed)
    rf_buf_printf(out, ",embed:%g", chain->embed_threshold);
}

static int span_cmp(const void *x, const void *y, void *base) {
  const size_t *a = x, *b = y; /* {offset, length} pairs */
  size_t n = a[1] < b[1] ? a[1] : b[1];
  int c = memcmp((const char *)base + a[0], (const char *)base + b[0], n);
  if (c)
    return c;
  return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* The key most of c's first RF_CLUSTER_KEY_SAMPLE rows have under stage m
 * (folded: rf_cluster_folded_shape, else rf_cluster_format_key), appended to
 * key when it covers at least RF_CLUSTER_KEY_MIN_SHARE of them; *share is
 * the share it covers and *distinct the number of distinct keys. Returns 0
 * or RF_ENOMEM. */
static int mode_key(const rf_cluster_method_t *m, bool folded, const rf_cluster_t *c,
                    rf_buf_t *keys, rf_buf_t *scratch, rf_buf_t *key, double *share,
                    size_t *distinct) {
  size_t spans[RF_CLUSTER_KEY_SAMPLE][2];
  size_t ns = c->n < RF_CLUSTER_KEY_SAMPLE ? c->n : RF_CLUSTER_KEY_SAMPLE;
  rf_buf_reset(keys);
  for (size_t i = 0; i < ns; i++) {
    size_t off = keys->len;
    const rf_anomaly_t *a = c->rows[i];
    int rc = folded ? rf_cluster_folded_shape(m, a->value, a->value_len, scratch, keys)
                    : rf_cluster_format_key(m, a->value, a->value_len, scratch, keys);
    if (rc)
      return rc;
    spans[i][0] = off;
    spans[i][1] = keys->len - off;
  }
  *share = 0;
  *distinct = 0;
  if (ns == 0 || keys->data == NULL)
    return 0;
  qsort_r(spans, ns, sizeof(spans[0]), span_cmp, keys->data);
  size_t best = 0, best_n = 0;
  for (size_t i = 0; i < ns;) {
    size_t j = i + 1;
    while (j < ns && span_cmp(spans[i], spans[j], keys->data) == 0)
      j++;
    (*distinct)++;
    if (j - i > best_n) {
      best_n = j - i;
      best = i;
    }
    i = j;
  }
  *share = (double)best_n / (double)ns;
  if (*share < RF_CLUSTER_KEY_MIN_SHARE)
    return 0;
  rf_buf_append(key, keys->data + spans[best][0], spans[best][1]);
  return rf_buf_ok(key) ? 0 : RF_ENOMEM;
}

/* The merge key of group c at stage st: its dominant format key, else, when
 * its letters look like data (most sampled rows have a key of their own),
 * its dominant folded shape, prefixed "shape:". Empty when neither. */
static int stage_key(const rf_cluster_method_t *m, size_t st, const rf_cluster_t *c,
                     rf_buf_t *keys, rf_buf_t *scratch, rf_buf_t *key, size_t *prefix,
                     double *share) {
  size_t distinct;
  rf_buf_reset(key);
  rf_buf_printf(key, "%zu\x1f", st); /* keys of different stages never meet */
  *prefix = key->len;
  if (!rf_buf_ok(key) || mode_key(m, false, c, keys, scratch, key, share, &distinct))
    return RF_ENOMEM;
  if (key->len > *prefix)
    return 0;
  size_t ns = c->n < RF_CLUSTER_KEY_SAMPLE ? c->n : RF_CLUSTER_KEY_SAMPLE;
  if (ns < RF_CLUSTER_DATA_MIN_ROWS || (double)distinct < RF_CLUSTER_DATA_SHARE * (double)ns)
    return 0;
  rf_buf_puts(key, "shape:");
  size_t before = key->len;
  if (!rf_buf_ok(key) || mode_key(m, true, c, keys, scratch, key, share, &distinct))
    return RF_ENOMEM;
  if (key->len == before)
    key->data[key->len = *prefix] = '\0'; /* no folded shape dominates either */
  return 0;
}

typedef struct key_slot {
  char *key;
  size_t index;
  double share;
  UT_hash_handle hh;
} key_slot_t;

int rf_cluster_chain_build(const rf_cluster_chain_t *chain, const char *table_name,
                           const char *column_name, rf_anomaly_t **rows, size_t n,
                           rf_clustering_t *out) {
  if (chain->n == 0) {
    memset(out, 0, sizeof(*out));
    return RF_EINVAL;
  }
  int rc = partition(&chain->stages[0], table_name, column_name, rows, n, out);
  if (rc || chain->n == 1 || out->n < 2)
    return rc;
  size_t nb = out->n;
  size_t *parent = rf_malloc(nb * sizeof(*parent));
  pending_join_t *js = rf_malloc(nb * sizeof(*js)); /* a spanning forest: < nb joins */
  key_slot_t *index = NULL, *s, *tmp;
  rf_buf_t keys = RF_BUF_INIT, scratch = RF_BUF_INIT, key = RF_BUF_INIT;
  size_t nj = 0;
  rc = RF_ENOMEM;
  if (parent == NULL || js == NULL)
    goto done;
  for (size_t i = 0; i < nb; i++)
    parent[i] = i;
  for (size_t st = 1; st < chain->n; st++) {
    const rf_cluster_method_t *m = &chain->stages[st];
    for (size_t b = 0; b < nb; b++) {
      double share;
      size_t prefix;
      if (stage_key(m, st, &out->clusters[b], &keys, &scratch, &key, &prefix, &share))
        goto done;
      if (key.len == prefix)
        continue; /* no key describes this group */
      HASH_FIND(hh, index, key.data, key.len, s);
      if (s == NULL) {
        if ((s = rf_calloc(1, sizeof(*s))) == NULL)
          goto done;
        if ((s->key = rf_memdup(key.data, key.len + 1)) == NULL) {
          rf_free(s);
          goto done;
        }
        s->index = b;
        s->share = share;
        uthash_oom = 0;
        HASH_ADD_KEYPTR(hh, index, s->key, key.len, s);
        if (uthash_oom) {
          rf_free(s->key);
          rf_free(s);
          goto done;
        }
        continue;
      }
      if (uf_union(parent, s->index, b))
        js[nj++] = (pending_join_t){m->name, s->index, b, s->key + prefix,
                                    share < s->share ? share : s->share, 1.0};
    }
  }
  rc = apply_joins(out, js, nj);
done:
  HASH_ITER(hh, index, s, tmp) {
    HASH_DEL(index, s);
    rf_free(s->key);
    rf_free(s);
  }
  rf_free(parent);
  rf_free(js);
  rf_buf_free(&keys);
  rf_buf_free(&scratch);
  rf_buf_free(&key);
  if (rc)
    rf_clustering_free(out);
  return rc;
}

int rf_cluster_embed_merge(rf_clustering_t *c, const float *vecs, size_t dim, double threshold) {
  if (dim == 0 || !(threshold > 0 && threshold <= 1))
    return RF_EINVAL;
  if (c->n < 2)
    return 0;
  size_t *group_of = rf_malloc(c->n * sizeof(*group_of));
  rf_cluster_link_t *links = rf_malloc((c->n - 1) * sizeof(*links));
  pending_join_t *js = rf_malloc((c->n - 1) * sizeof(*js));
  size_t nl = 0;
  int rc = RF_ENOMEM;
  if (group_of && links && js &&
      (rc = rf_cluster_embed_plan(vecs, c->n, dim, threshold, group_of, links, &nl)) == 0) {
    for (size_t i = 0; i < nl; i++)
      js[i] = (pending_join_t){"embed", links[i].a, links[i].b, NULL, 0, links[i].similarity};
    rc = apply_joins(c, js, nl);
  }
  rf_free(group_of);
  rf_free(links);
  rf_free(js);
  return rc;
}

int rf_clustering_split(rf_clustering_t *c, size_t k) {
  if (k >= c->n || c->clusters[k].n_subs < 2)
    return RF_EINVAL;
  rf_cluster_t *m = &c->clusters[k];
  size_t ns = m->n_subs, n = c->n + ns - 1;
  rf_cluster_t *next = rf_malloc(n * sizeof(*next));
  if (next == NULL)
    return RF_ENOMEM;
  memcpy(next, c->clusters, k * sizeof(*next));
  memcpy(next + k, m->subs, ns * sizeof(*next)); /* the subs own their rows */
  memcpy(next + k + ns, c->clusters + k + 1, (c->n - k - 1) * sizeof(*next));
  rf_free(m->subs);
  m->subs = NULL;
  m->n_subs = 0;
  cluster_clear(m);
  rf_free(c->clusters);
  c->clusters = next;
  c->n = n;
  return 0;
}

static void json_number(rf_buf_t *out, double v) {
  char num[32];
  snprintf(num, sizeof(num), "%.4g", v);
  rf_buf_puts(out, num);
}

void rf_cluster_explain_json(const rf_cluster_t *c, rf_buf_t *out) {
  rf_buf_putc(out, '[');
  for (size_t i = 0; i < c->n_joins; i++) {
    const rf_cluster_join_t *j = &c->joins[i];
    const char *a = c->subs[j->a].fingerprint, *b = c->subs[j->b].fingerprint;
    rf_buf_puts(out, i ? ",{\"method\":" : "{\"method\":");
    rf_buf_json_str(out, j->method, strlen(j->method));
    rf_buf_puts(out, ",\"a\":");
    rf_buf_json_str(out, a, strlen(a));
    rf_buf_puts(out, ",\"b\":");
    rf_buf_json_str(out, b, strlen(b));
    rf_buf_puts(out, ",\"key\":");
    if (j->key)
      rf_buf_json_str(out, j->key, strlen(j->key));
    else
      rf_buf_puts(out, "null");
    rf_buf_puts(out, ",\"share\":");
    json_number(out, j->share);
    rf_buf_puts(out, ",\"similarity\":");
    json_number(out, j->similarity);
    rf_buf_putc(out, '}');
  }
  rf_buf_putc(out, ']');
}

void rf_cluster_mean_vector(const float *rep_vecs, size_t n_reps, size_t dim, float *out) {
  double norm = 0;
  for (size_t d = 0; d < dim; d++) {
    double sum = 0;
    for (size_t r = 0; r < n_reps; r++)
      sum += rep_vecs[r * dim + d];
    out[d] = (float)sum;
    norm += sum * sum;
  }
  if (norm > 0) {
    norm = sqrt(norm);
    for (size_t d = 0; d < dim; d++)
      out[d] = (float)(out[d] / norm);
  }
}

void rf_clustering_free(rf_clustering_t *c) {
  for (size_t k = 0; k < c->n; k++)
    cluster_clear(&c->clusters[k]);
  rf_free(c->clusters);
  memset(c, 0, sizeof(*c));
}

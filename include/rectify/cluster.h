/* cluster.h - group a window's anomalies into families that share one fix.
 *
 * The shape fingerprint maps each character to its class (digit 9, lower a,
 * upper A, space, non-ASCII u, punctuation itself) and collapses runs, so
 * "03/15/2024" and "11/2/2023" share "9/9/9" and get one fix. Clustering
 * decides which rows share a fix, never that two rows are one record: every
 * row keeps its own key and pk hash.
 *
 * A chain (rf_cluster_chain_t, docs/clustering.md) partitions the rows with
 * its first method, then merges the groups whose merge-stage keys collide
 * (fingerprint, ngram), then optionally by embedding similarity. A merged
 * cluster keeps its sub-clusters (each a complete unmerged rf_cluster_t, so
 * that a caller can split it back and handle each alone when one fix does
 * not serve all of them) and the joins that made it (method, key,
 * similarity): every merge is explainable.
 *
 * Ownership: a cluster borrows its rows (pointers into the window); the
 * clustering owns the cluster array, the row-pointer arrays, the sub-clusters
 * and the joins with their keys.
 */
#ifndef RECTIFY_CLUSTER_H
#define RECTIFY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "rectify/buf.h"
#include "rectify/cluster_method.h"
#include "rectify/intake.h"

#define RF_CLUSTER_MAX_REPS 5
#define RF_FINGERPRINT_MAX 64

/* Why two sub-clusters of a merged cluster share it. */
typedef struct rf_cluster_join {
  const char *method;  /* "fingerprint", "ngram", "shape" or "embed" (static) */
  size_t a, b;         /* indexes into the merged cluster's subs */
  char *key;           /* the key both had (key methods), NULL for embed */
  double share;        /* key methods: the smaller share of its sampled rows
                        * that the key covered in a and b; 0 for embed */
  double similarity;   /* 1 for key methods; the average-link cosine for embed */
} rf_cluster_join_t;

typedef struct rf_cluster {
  /* The partition key: the shape fingerprint for shape (unchanged from the
   * durable core), "<method>:<key>" for the others ("fp:na", "ng2:ana"), a
   * long key shortened to 47 bytes + "~" + 16 hex of its SHA-256. A merged
   * cluster has the fingerprint of its first sub-cluster. */
  char fingerprint[RF_FINGERPRINT_MAX + 8];
  char id[17];                 /* hex, stable for (table, column, fingerprint);
                                * merged: for its sub-clusters' ids */
  rf_anomaly_t **rows;         /* borrowed rows: arrival order; merged: each
                                * sub-cluster's rows in turn */
  size_t n, cap;
  rf_anomaly_t *reps[RF_CLUSTER_MAX_REPS]; /* diverse representatives (borrowed);
                                * merged: taken in turn from the sub-clusters */
  size_t n_reps;
  struct rf_cluster *subs;     /* merged: its n_subs >= 2 sub-clusters in order of
                                * first appearance; NULL (n_subs 0) otherwise */
  size_t n_subs;
  rf_cluster_join_t *joins;    /* merged: the n_subs - 1 joins, in the order made */
  size_t n_joins;
} rf_cluster_t;

typedef struct rf_clustering {
  rf_cluster_t *clusters;      /* in order of first appearance */
  size_t n;
} rf_clustering_t;

/* A clustering method chain: stages[0] partitions, the rest merge. */
#define RF_CLUSTER_CHAIN_MAX 8

typedef struct rf_cluster_chain {
  rf_cluster_method_t stages[RF_CLUSTER_CHAIN_MAX];
  size_t n;
  bool embed;              /* last stage: merge by embedding similarity */
  double embed_threshold;  /* (0, 1] */
} rf_cluster_chain_t;

/* The default chain: "shape,fingerprint,ngram:2" (docs/clustering.md says
 * why; bench/cluster measures it). */
#define RF_CLUSTER_CHAIN_DEFAULT "shape,fingerprint,ngram:2"
#define RF_CLUSTER_EMBED_THRESHOLD_DEFAULT 0.9

/* A merge stage joins two groups only if one key covers at least this share
 * of each one's sampled rows (the first RF_CLUSTER_KEY_SAMPLE): the key then
 * describes the group, not a coincidence of one of its values. */
#define RF_CLUSTER_KEY_SAMPLE 64
#define RF_CLUSTER_KEY_MIN_SHARE 0.8
/* A group without a dominant format key joins by folded shape only when at
 * least this share of its sampled rows have distinct format keys: its letters
 * are data (names, addresses), not a handful of categories mixed together. */
#define RF_CLUSTER_DATA_SHARE 0.5
/* ... and only with at least this many rows: a handful of rows cannot tell
 * data from categories. */
#define RF_CLUSTER_DATA_MIN_ROWS 8

/* Appends the shape fingerprint of v (NULL = SQL null) to out. */
void rf_shape_fingerprint(const char *v, size_t len, rf_buf_t *out);
/* Clusters rows[0..n) of one (table, column) window by shape. Returns 0 or
 * RF_ENOMEM (then *out is empty). Same as the chain "shape". */
int rf_cluster_build(const char *table_name, const char *column_name, rf_anomaly_t **rows,
                     size_t n, rf_clustering_t *out);
/* Frees what c owns (not the rows) and zeroes it. */
void rf_clustering_free(rf_clustering_t *c);

/* Parses a chain spec: comma-separated stages, each `method` or `method:arg`:
 * shape, fingerprint, ngram[:N] (N in 1..8, default 2), and, last only,
 * embed[:T] (T in (0, 1], default embed_default). Spaces around items are
 * ignored. Returns 0, or RF_ECONFIG with a one-line reason in err (when
 * errlen > 0) and *out untouched. */
int rf_cluster_chain_parse(const char *spec, double embed_default, rf_cluster_chain_t *out,
                           char *err, size_t errlen);
/* Writes the canonical spec of chain to out ("shape,fingerprint,ngram:2,embed:0.9"). */
void rf_cluster_chain_format(const rf_cluster_chain_t *chain, rf_buf_t *out);

/* Clusters rows[0..n) of one (table, column) window with every stage of
 * chain but embed (which needs vectors: rf_cluster_embed_merge). Returns 0,
 * RF_EINVAL (a chain without stages) or RF_ENOMEM; on error *out is empty. Deterministic: the same rows in the same
 * order give the same clusters, ids and joins. */
int rf_cluster_chain_build(const rf_cluster_chain_t *chain, const char *table_name,
                           const char *column_name, rf_anomaly_t **rows, size_t n,
                           rf_clustering_t *out);

/* The embed stage: merges the clusters of c whose vectors (vecs[i*dim ..] for
 * c->clusters[i]) are similar, by rf_cluster_embed_plan (average link).
 * Merged clusters keep every sub-cluster and join of their parts, plus an
 * "embed" join between the first sub-clusters of the two groups joined.
 * Returns 0, RF_EINVAL (bad dim/threshold) or RF_ENOMEM; on error c is left
 * exactly as it was. */
int rf_cluster_embed_merge(rf_clustering_t *c, const float *vecs, size_t dim, double threshold);

/* Split-back: replaces merged cluster c->clusters[k] by its sub-clusters, in
 * place (clusters after k move up), each then a plain cluster of its own
 * with its own id, fingerprint, rows and representatives. Returns 0,
 * RF_EINVAL (k out of range or not merged) or RF_ENOMEM (c unchanged). */
int rf_clustering_split(rf_clustering_t *c, size_t k);

/* Appends why c is one cluster, as a JSON array (for quarantine rows and
 * receipts): one object per join, in order,
 *   {"method":"fingerprint","a":"9.9 a","b":"9.9 A.","key":"0.0|oz","share":1,"similarity":1}
 * with a and b the two sub-clusters' fingerprints ("key" null for embed);
 * "[]" for a cluster that was not merged. */
void rf_cluster_explain_json(const rf_cluster_t *c, rf_buf_t *out);

/* A cluster's vector from its representatives' vectors: the mean of
 * rep_vecs[0..n_reps) (each dim floats), scaled to unit length. */
void rf_cluster_mean_vector(const float *rep_vecs, size_t n_reps, size_t dim, float *out);

#endif

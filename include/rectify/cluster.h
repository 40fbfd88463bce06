/* cluster.h - group a window's anomalies by the shape of their bad value.
 *
 * The shape fingerprint maps each character to its class (digit 9, lower a,
 * upper A, space, non-ASCII u, punctuation itself) and collapses runs, so
 * "03/15/2024" and "11/2/2023" share "9/9/9" and get one fix. Clustering
 * decides which rows share a fix, never that two rows are one record: every
 * row keeps its own key and pk hash.
 *
 * Ownership: a cluster borrows its rows (pointers into the window); the
 * clustering owns the cluster array and the row-pointer arrays.
 */
#ifndef RECTIFY_CLUSTER_H
#define RECTIFY_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include "rectify/buf.h"
#include "rectify/intake.h"

#define RF_CLUSTER_MAX_REPS 5
#define RF_FINGERPRINT_MAX 64

typedef struct rf_cluster {
  char fingerprint[RF_FINGERPRINT_MAX + 8];
  char id[17];                 /* hex, stable for (table, column, fingerprint) */
  rf_anomaly_t **rows;         /* borrowed rows, in arrival order */
  size_t n, cap;
  rf_anomaly_t *reps[RF_CLUSTER_MAX_REPS]; /* diverse representatives (borrowed) */
  size_t n_reps;
} rf_cluster_t;

typedef struct rf_clustering {
  rf_cluster_t *clusters;      /* in order of first appearance */
  size_t n;
} rf_clustering_t;

/* Appends the shape fingerprint of v (NULL = SQL null) to out. */
void rf_shape_fingerprint(const char *v, size_t len, rf_buf_t *out);
/* Clusters rows[0..n) of one (table, column) window. Returns 0 or RF_ENOMEM
 * (then *out is empty). */
int rf_cluster_build(const char *table_name, const char *column_name, rf_anomaly_t **rows,
                     size_t n, rf_clustering_t *out);
void rf_clustering_free(rf_clustering_t *c);

#endif

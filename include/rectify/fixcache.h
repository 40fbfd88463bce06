/* fixcache.h - accepted fixes in rectify.fixes, shared by every instance,
 * and the two generators built on them: `cache` and `transfer`.
 *
 * The fix cache has its own PostgreSQL connection on its own worker thread:
 * the loop thread only queues small operations and gets the answers back
 * through a uv_async (callbacks run on the loop thread). Reads always go to
 * the database, so a fix revoked by `rectifyctl fixes revoke` (on any host)
 * is never used by a proposal that starts after the revocation committed.
 *
 *   cache     a non-revoked fix stored for exactly this (table, column,
 *             fingerprint); offered only if it passes the gate on the new
 *             cluster's samples. No model call.
 *   transfer  for a new fingerprint, the column's known fixes, most used
 *             first (at most transfer_max); the first that passes the gate is
 *             taken and stored for the new fingerprint (generator
 *             "transfer", model and confidence of the original).
 *
 * Callbacks follow libuv's rule (see fixgen.h); on close, pending operations
 * complete with RF_ECANCELED.
 */
#ifndef RECTIFY_FIXCACHE_H
#define RECTIFY_FIXCACHE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "rectify/buf.h"
#include "rectify/fixgen.h"
#include "rectify/metrics.h"

typedef struct rf_fixcache rf_fixcache_t;

/* One row of rectify.fixes. Strings owned by whoever holds the struct. */
typedef struct rf_known_fix {
  char *fix_id;
  char *table_name, *column_name, *fingerprint;
  char *lambda_src;
  char *generator;
  char *model;     /* may be NULL */
  char *reasoning; /* may be NULL */
  double confidence;
  long long hits;
} rf_known_fix_t;

void rf_known_fix_clear(rf_known_fix_t *f);

/* Starts the worker thread (it connects lazily, and reconnects after a
 * failure). conninfo and password are copied. 0 or RF_ENOMEM/RF_EINTERNAL. */
int rf_fixcache_new(uv_loop_t *loop, const char *conninfo, const char *password,
                    rf_fixcache_t **out);
/* Stops the thread (joins it), completes what is pending with RF_ECANCELED,
 * closes the async handle and frees fc once the loop has run its close
 * callback. */
void rf_fixcache_close(rf_fixcache_t *fc);

/* status 0: fixes[0..n) (borrowed for the callback) ordered by hits, most
 * first. A database that is unreachable gives RF_EDB. */
typedef void (*rf_fixcache_fixes_cb)(int status, const rf_known_fix_t *fixes, size_t n,
                                     void *arg);
/* Non-revoked fixes of table.column, for fingerprint only when it is not
 * NULL; at most limit. */
int rf_fixcache_lookup(rf_fixcache_t *fc, const char *table_name, const char *column_name,
                       const char *fingerprint, int limit, rf_fixcache_fixes_cb cb, void *arg);
/* status 0: values[0..n) (borrowed) are a few distinct repaired values of
 * table.column from rectify.staging ("good values" for a prompt). */
typedef void (*rf_fixcache_values_cb)(int status, char *const *values, size_t n, void *arg);
int rf_fixcache_good_values(rf_fixcache_t *fc, const char *table_name, const char *column_name,
                            int limit, rf_fixcache_values_cb cb, void *arg);
/* status 0: whether fix_id is stored and revoked (a fix an operator revoked
 * is never used again, even when a model proposes it anew). */
typedef void (*rf_fixcache_revoked_cb)(int status, bool revoked, void *arg);
int rf_fixcache_check_revoked(rf_fixcache_t *fc, const char *fix_id, rf_fixcache_revoked_cb cb,
                              void *arg);
/* Stores an accepted fix (insert, or add hits and touch last_used when the
 * fix id is known). Fire and forget: failures are logged. */
int rf_fixcache_record(rf_fixcache_t *fc, const rf_known_fix_t *fix, long long hits);

/* The generators. self from rf_fixgen_cache_new / rf_fixgen_transfer_new is
 * handed to rf_fixchain_add with the matching ops; fc and stats are borrowed
 * and must outlive the chain. */
extern const rf_fixgen_ops_t rf_fixgen_cache_ops;
extern const rf_fixgen_ops_t rf_fixgen_transfer_ops;
void *rf_fixgen_cache_new(rf_fixcache_t *fc, double min_confidence, rf_model_stats_t *stats);
void *rf_fixgen_transfer_new(rf_fixcache_t *fc, double min_confidence, int max_tries,
                             rf_model_stats_t *stats);

/* rectifyctl fixes: blocking, on a connection of the caller's. */
typedef struct rf_fixes_filter {
  const char *table_name;  /* NULL: any */
  const char *column_name; /* NULL: any */
  bool include_revoked;
  int limit;               /* 0: 100 */
} rf_fixes_filter_t;
int rf_fixes_list(PGconn *conn, const rf_fixes_filter_t *f, bool json, rf_buf_t *out, char *err,
                  size_t errlen);
/* RF_ENOTFOUND when no fix has that id (a unique prefix of at least 6 hex
 * digits is accepted). */
int rf_fixes_show(PGconn *conn, const char *fix_id, bool json, rf_buf_t *out, char *err,
                  size_t errlen);
/* Marks a fix revoked (by `actor`, now). RF_ENOTFOUND, or RF_EEXISTS when it
 * already was. */
int rf_fixes_revoke(PGconn *conn, const char *fix_id, const char *actor, char *err,
                    size_t errlen);

#endif

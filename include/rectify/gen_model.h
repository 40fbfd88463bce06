/* gen_model.h - the model fix generator: a bounded pool of Ollama requests.
 *
 * One proposal per cluster becomes one task. Tasks for the same (table,
 * column, fingerprint) that arrive while one is already being answered join
 * it instead of asking again. A task's prompt is built from the templates in
 * [model] prompt_dir (system.txt, user.txt, retry.txt) with the column, its
 * contract in words, 3-5 representative bad values and a few known good
 * values of the column. Then:
 *
 *  - at most `concurrency` requests are in flight; the others wait in a FIFO
 *    bounded by `queue_max` (beyond it a cluster is unavailable at once);
 *  - a request that times out, cannot connect, or gets 429/500/502/503 is
 *    retried up to `retries` times with exponential backoff (+-50% jitter);
 *  - after `breaker_failures` failures in a row the breaker opens: nothing is
 *    sent for `breaker_cooldown_ms`, then one GET /api/version probe decides
 *    (answer: closed again; else open again);
 *  - a task without an answer `max_wait_ms` after it arrived is given up:
 *    the cluster is quarantined as `model_unavailable`. Until then its rows
 *    stay unacknowledged (the pipeline pauses intake at max_inflight_rows);
 *  - an answer goes through the gate (gate.h); one that fails the dry run or
 *    the schema gets ONE retry with the failure explained; low confidence
 *    gets none. The final candidate is returned either way, with the raw
 *    answer, so the pipeline's gate quarantines it with the reason.
 *  - an accepted fix is stored in the fix cache.
 *
 * All on the loop thread. The generator is owned by the daemon, not by the
 * chain (its ops' destroy does nothing): close it with rf_gen_model_close
 * while the loop still runs.
 */
#ifndef RECTIFY_GEN_MODEL_H
#define RECTIFY_GEN_MODEL_H

#include <stdbool.h>
#include <uv.h>

#include "rectify/config.h"
#include "rectify/fixcache.h"
#include "rectify/fixgen.h"
#include "rectify/metrics.h"

typedef struct rf_gen_model rf_gen_model_t;

extern const rf_fixgen_ops_t rf_gen_model_ops;

/* Creates the generator from cfg's [model] section (url must be set; the
 * egress guard is checked here too), reading the prompt templates. fc (may be
 * NULL) and stats are borrowed. 0, or RF_ECONFIG / RF_EDENIED / RF_ENOMEM
 * with errbuf filled. */
int rf_gen_model_new(uv_loop_t *loop, const rf_config_t *cfg, rf_fixcache_t *fc,
                     rf_model_stats_t *stats, rf_gen_model_t **out, char *errbuf, size_t errlen);

/* Start-up check: GET /api/version, then /api/tags. cb(0) when the model is
 * there (its digest is then part of every fix's `model`); RF_ENOTFOUND when
 * the server answered without the model (msg says which it has: refuse to
 * start); RF_ECONN / RF_ETIMEDOUT / RF_EPROTO when it did not answer (start
 * anyway: tasks wait for it up to max_wait_ms). */
typedef void (*rf_gen_model_probe_cb)(int status, const char *msg, void *arg);
int rf_gen_model_probe(rf_gen_model_t *g, rf_gen_model_probe_cb cb, void *arg);

/* The model as recorded on fixes: "name@digest", or "name" while unknown. */
const char *rf_gen_model_ident(const rf_gen_model_t *g);
/* True when the last request got an answer and the breaker is closed. */
/* SIGHUP: applies the [model] settings a running pool can change (limits,
 * timeouts, retries, breaker, max wait, min_confidence, keep_alive, seed and
 * the prompt templates, re-read from prompt_dir). Returns how many settings
 * it could not apply (the model name; the url is the daemon's to compare),
 * logged; or RF_ECONFIG with errbuf when a template cannot be read, and then
 * nothing changes. */
int rf_gen_model_reload(rf_gen_model_t *g, const rf_config_t *cfg, char *errbuf, size_t errlen);
bool rf_gen_model_ready(const rf_gen_model_t *g);

/* The pipeline's test: does this no-proposal reason say the model could not
 * be reached (quarantine reason `model_unavailable`) rather than "no fix"? */
bool rf_gen_model_is_unavailable(const char *why_none);

/* SIGTERM: tasks that are waiting for an unreachable model are canceled
 * (their rows stay unacknowledged and come back after the restart); tasks
 * with a healthy model finish. */
void rf_gen_model_drain(rf_gen_model_t *g);
/* ---- embeddings: the embed clustering stage (docs/clustering.md) ----
 *
 * One POST /api/embed for the values whose vectors are not cached yet
 * (cache: SHA-256 of model and value, bounded at 65,536 vectors), through the
 * same client, egress rule and breaker as generation: nothing is sent while
 * the breaker is not closed, at most `concurrency` embed requests are in
 * flight, and a request that gets no answer (timeout, connection) counts as a
 * breaker failure. No retries: the caller's fallback (the non-semantic
 * clusters) is always available. stats->embed_requests counts requests sent,
 * stats->embed_fallbacks every call that did not end with vectors.
 *
 * cb gets status 0 with vecs[i * dim ..] for values[i] (borrowed for the
 * callback's duration), or a negative code with why. */
typedef void (*rf_gen_model_embed_cb)(int status, const float *vecs, size_t dim, const char *why,
                                      void *arg);
/* Embeds values[0..n) (values[i] == NULL: SQL null) with the Ollama model
 * `model`. Returns 1 when every vector was cached (cb has then ALREADY run,
 * before returning), 0 when a request is in flight (cb runs exactly once,
 * later), or RF_EUNAVAILABLE (breaker not closed, pool full, closing),
 * RF_EINVAL (n == 0 or too many values) or RF_ENOMEM: cb never runs. */
int rf_gen_model_embed(rf_gen_model_t *g, const char *model, const char *const *values,
                       const size_t *lens, size_t n, rf_gen_model_embed_cb cb, void *arg);


/* Cancels everything (RF_ECANCELED), closes the client and the timer, frees
 * g once the loop has closed them. */
void rf_gen_model_close(rf_gen_model_t *g);

#endif

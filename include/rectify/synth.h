/* synth.h - the offline synthesizer: fixes without a model.
 *
 * Most broken values belong to a few families: dates in another format,
 * numbers with units, percent signs, currency or other separators, stray
 * whitespace and case, placeholder nulls, a prefix or suffix around the
 * value, a value that sits in a neighbouring field. For those the
 * synthesizer searches the lambda language itself: it enumerates candidate
 * lambdas from the families and their parameters, guided by the column's
 * contract and the cluster's samples, and keeps those that turn EVERY
 * sample into a contract-valid value (compiled and run by the real
 * interpreter, checked by the real contract checker). It then
 *
 *   - ranks the fitting candidates by simplicity (cost, then source text,
 *     so the same samples and contract always give the same lambda);
 *   - looks for rivals: other fitting candidates whose output differs on
 *     some sample (03/04/2024 read as March 4 or April 3). Rows of the
 *     cluster beyond the samples ("evidence") can eliminate a rival: one
 *     that fixes a strict subset of the evidence rows the best fixes. A
 *     rival that survives and is of the same family or no more complex is
 *     an ambiguity: the synthesizer REFUSES (the cluster goes on to the
 *     model, or to quarantine). A surviving, more complex rival of another
 *     family lowers the confidence;
 *   - sets the confidence from the evidence: how many distinct samples,
 *     how many evidence rows the lambda fixes, how many rivals remained.
 *
 * docs/synth.md lists the families, costs and rules.
 *
 * The candidates are ordinary lambda-language programs: generator "synth",
 * the same gate, the same fix cache as a model's answer.
 *
 * Ownership: every input is borrowed for the duration of the call; the
 * candidate returned belongs to the caller (rf_fix_candidate_free).
 * Threads: rf_synth_find is reentrant (no global state).
 */
#ifndef RECTIFY_SYNTH_H
#define RECTIFY_SYNTH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "rectify/config.h"
#include "rectify/contract.h"
#include "rectify/fixcache.h"
#include "rectify/fixgen.h"
#include "rectify/metrics.h"

/* At most this many samples (every one must be fixed) and evidence rows. */
#define RF_SYNTH_MAX_SAMPLES 1024
#define RF_SYNTH_MAX_EVIDENCE 256

/* One value with its row context. value NULL = SQL NULL; row may be NULL. */
typedef struct rf_synth_sample {
  const char *value;
  size_t len;
  const cJSON *row;
} rf_synth_sample_t;

/* The column the values belong to. The names matter: a unit in the column
 * name (weight_g, length_cm) is the unit values are converted to, and a
 * neighbouring field is used only when its name extends the column's. */
typedef struct rf_synth_column {
  const char *table_name;
  const char *column_name;
  const rf_contract_t *contract; /* required */
  const rf_checker_t *checker;   /* compiled from contract, required */
} rf_synth_column_t;

/* What the search did, for operators and tests (optional). */
typedef struct rf_synth_report {
  size_t tried;      /* candidate lambdas compiled and run on the samples */
  size_t fitting;    /* of which turned every sample into a valid value */
  size_t rivals;     /* fitting candidates that disagree with the chosen one */
  size_t eliminated; /* rivals eliminated by the evidence rows */
  size_t evidence;   /* evidence rows used */
  size_t evidence_fixed; /* evidence rows the chosen lambda fixes */
} rf_synth_report_t;

/* Searches a fix for samples[0..n) (1 <= n <= RF_SYNTH_MAX_SAMPLES: every
 * one must become valid) using rows[0..n_rows) (may be NULL/0; at most
 * RF_SYNTH_MAX_EVIDENCE are used) as evidence to break ties.
 * Returns 0 with *out = a new candidate (generator "synth", lambda_src,
 * confidence, reasoning, pattern_type = the family) or *out = NULL with why
 * saying why none (no family fits, or which candidates disagree on what);
 * RF_EINVAL when n is 0 or too large, or col lacks a contract/checker (why
 * says which); RF_ENOMEM. report (may be NULL) is filled either way. */
int rf_synth_find(const rf_synth_column_t *col, const rf_synth_sample_t *samples, size_t n,
                  const rf_synth_sample_t *rows, size_t n_rows, rf_fix_candidate_t **out,
                  rf_synth_report_t *report, char *why, size_t whylen);

/* rectifyctl synth: parses input[0..len), one sample per line (a JSON string,
 * null, or {"value": ..., "row": {...}}), runs rf_synth_find for the
 * contract of table.column in cfg (no evidence rows: every sample must be
 * fixed) and appends one JSON object and a newline to out:
 *   {"ok":true,"column","lambda","confidence","family","reasoning","tried",
 *    "fitting","rivals","samples":[{"value","output"},...]}
 *   {"ok":false,"column","why","tried","fitting","rivals"}
 * Returns 0 (a fix), 1 (none; out says why), or with err filled and nothing
 * appended: RF_EINVAL (no such contract, no samples), RF_EPARSE (a line is
 * not a sample: err names it), RF_ELIMIT (too many samples), RF_ENOMEM. */
int rf_synth_explain(const rf_config_t *cfg, const char *table_name, const char *column_name,
                     const char *input, size_t len, rf_buf_t *out, char *err, size_t errlen);

/* The `synth` fix generator (between transfer and model in the chain).
 * propose() runs rf_synth_find on the cluster's representatives (samples)
 * and its rows (evidence) and completes synchronously. A candidate that
 * passes the gate (min_confidence) is recorded in the fix cache (fc may be
 * NULL) and counted in stats->synth_fixes; fc and stats are borrowed and
 * must outlive the chain. NULL on allocation failure. */
extern const rf_fixgen_ops_t rf_fixgen_synth_ops;
void *rf_fixgen_synth_new(rf_fixcache_t *fc, double min_confidence, rf_model_stats_t *stats);

#endif

/* cluster_method.h - the keys and vectors clustering is made of.
 *
 * A key-collision method maps one value to a key; values with equal keys
 * belong together. rectify has three (docs/clustering.md):
 *
 *   shape        the class string of rf_shape_fingerprint ("03/15/2024" -> "9/9/9")
 *   fingerprint  OpenRefine's key collision: trim, NFKD and drop combining
 *                marks (accents fold to ASCII), lowercase, drop punctuation
 *                and control characters, split on whitespace, sort and
 *                dedupe the tokens, join with one space
 *                ("  Café, CAFE cafe " -> "cafe")
 *   ngram        OpenRefine's n-gram fingerprint: the same normalisation, all
 *                whitespace dropped too, then the sorted distinct character
 *                n-grams joined ("Paris" n=2 -> "arispar")
 *
 * The merge stages of a chain (cluster.h) do not key the raw value but its
 * *format view*: the value split into a numeric skeleton (every token of
 * digits and the punctuation touching them, each digit run written "0" when
 * it has 1-2 digits and "00" when longer, digit grouping joined into its run:
 * "$1,234.56" -> "$00.0", "03/15/2024" -> "0/0/00") and the text around it,
 * which the method keys. Numbers are data; their punctuation
 * is format (a date's separators, a negative amount's parentheses), so it
 * never goes through the punctuation-stripping methods.
 *
 * Vectors: rf_cluster_vector() is a deterministic stand-in for a sentence
 * embedding (hashed character trigrams), used by tests, the benchmark and the
 * fake Ollama's /api/embed, with the exact definition below so that a Python
 * implementation gives the same floats.
 *
 * Ownership: keys are appended to a caller's rf_buf_t; nothing here keeps a
 * pointer to its arguments. Every function is thread-safe.
 */
#ifndef RECTIFY_CLUSTER_METHOD_H
#define RECTIFY_CLUSTER_METHOD_H

#include <stdbool.h>
#include <stddef.h>

#include "rectify/buf.h"

/* The key every method gives SQL NULL (a JSON null value): no real key of any
 * method contains '<', so it never collides with a value's key. */
#define RF_CLUSTER_NULL_KEY "<null>"

#define RF_CLUSTER_NGRAM_MIN 1
#define RF_CLUSTER_NGRAM_MAX 8
#define RF_CLUSTER_NGRAM_DEFAULT 2

typedef enum rf_cluster_kind {
  RF_CLUSTER_SHAPE,
  RF_CLUSTER_FINGERPRINT,
  RF_CLUSTER_NGRAM,
} rf_cluster_kind_t;

typedef struct rf_cluster_method rf_cluster_method_t;

/* Appends the key of v[0..len) (v == NULL: SQL null) to out. Returns 0, or
 * RF_ENOMEM (out is then marked oom). */
typedef int (*rf_cluster_key_fn)(const rf_cluster_method_t *m, const char *v, size_t len,
                                 rf_buf_t *out);

struct rf_cluster_method {
  const char *name;      /* "shape", "fingerprint", "ngram" (static) */
  rf_cluster_kind_t kind;
  rf_cluster_key_fn key;
  unsigned n;            /* ngram: the n-gram length; 0 for the others */
};

/* Fills *m for `name` ("shape", "fingerprint", "ngram") with n-gram length n
 * (ngram only; 0 = RF_CLUSTER_NGRAM_DEFAULT). Returns 0, RF_ENOTFOUND for an
 * unknown name, RF_ERANGE for n outside [RF_CLUSTER_NGRAM_MIN, _MAX] or an n
 * given to a method without one. */
int rf_cluster_method_init(rf_cluster_method_t *m, const char *name, unsigned n);

/* The three keys, usable directly. Same contract as rf_cluster_key_fn.
 * Values are expected to be UTF-8 (intake guarantees it); an invalid byte is
 * read as U+FFFD and so never crashes or loops. */
int rf_cluster_fingerprint_key(const char *v, size_t len, rf_buf_t *out);
int rf_cluster_ngram_key(const char *v, size_t len, unsigned n, rf_buf_t *out);

/* The format view of v (see the top of this file): appends the numeric
 * skeleton to `numbers` (tokens separated by one space; "" when v has no
 * digit) and the text with every numeric token replaced by one space to
 * `text`. v must not be NULL. Returns 0 or RF_ENOMEM. */
int rf_cluster_format_view(const char *v, size_t len, rf_buf_t *numbers, rf_buf_t *text);

/* The merge-stage key of v under m: the numeric skeleton, a '|' and m's key of
 * the text part (RF_CLUSTER_NULL_KEY for NULL). `scratch` is a work buffer
 * the caller keeps between calls (reset here). Returns 0 or RF_ENOMEM. */
int rf_cluster_format_key(const rf_cluster_method_t *m, const char *v, size_t len,
                          rf_buf_t *scratch, rf_buf_t *out);

/* The shape of v after m's case and whitespace folding, punctuation kept:
 * ASCII letters lowercased and edge whitespace trimmed (ngram: every ASCII
 * whitespace dropped), then rf_shape_fingerprint (" John.DOE@X.com " ->
 * "a.a@a.a"). The merge stages' key for groups whose letters are data (no
 * format key dominates them). Returns 0 or RF_ENOMEM. */
int rf_cluster_folded_shape(const rf_cluster_method_t *m, const char *v, size_t len,
                            rf_buf_t *scratch, rf_buf_t *out);

/* ---- vectors and the embed merge -------------------------------------- */

/* A deterministic unit vector for v: lowercase ASCII letters, frame the bytes
 * as " " + v + " ", and for each of its byte trigrams t compute the 32-bit
 * FNV-1a hash h(t) (offset 2166136261, prime 16777619); add +1 to
 * out[h % dim] when bit 31 of h is clear, -1 when it is set; finally divide by
 * the L2 norm (an all-zero vector stays zero: v shorter than one trigram has
 * one, " " + v + " ", hashed whole). dim >= 1. NULL is hashed as "<null>". */
void rf_cluster_vector(const char *v, size_t len, float *out, size_t dim);

/* Cosine similarity of a and b; 0 when either is all zeros. */
double rf_cluster_cosine(const float *a, const float *b, size_t dim);

/* Embedding merges are planned on at most this many groups (the first ones);
 * the rest are left as they are. Average-link costs O(k^2) memory. */
#define RF_CLUSTER_EMBED_MAX 1024

typedef struct rf_cluster_link {
  size_t a, b;        /* group b joined group a (a < b; indexes of the input) */
  double similarity;  /* the average-link similarity when they joined */
} rf_cluster_link_t;

/* Average-link agglomeration of k groups with vectors vecs[i*dim ..]: while
 * the most similar pair of current groups has an average pairwise cosine
 * (over their input groups) of at least `threshold`, join it (ties: the
 * lowest (a, b)). Writes group_of[i] = the lowest input index of i's final
 * group, and the joins in the order they happened to links[0..*n_links)
 * (links must hold k - 1 entries). Groups at index >= RF_CLUSTER_EMBED_MAX
 * stay alone. Returns 0, RF_EINVAL (dim == 0 or threshold outside (0, 1]) or
 * RF_ENOMEM. */
int rf_cluster_embed_plan(const float *vecs, size_t k, size_t dim, double threshold,
                          size_t *group_of, rf_cluster_link_t *links, size_t *n_links);

#endif

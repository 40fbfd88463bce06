/* lambda.h - the rectify lambda language: compile once, evaluate many times.
 *
 * A lambda is a strict, side-effect-free subset of a Python 3.11 lambda
 * (`lambda x: EXPR` or `lambda x, row: EXPR`), documented in
 * docs/lambda-language.md. Everything it accepts evaluates to CPython's result;
 * everything else is refused before evaluation.
 *
 * Ownership and threads:
 *  - rf_lambda_compile() copies what it needs from `src`; the caller keeps src.
 *  - A compiled rf_lambda_t is immutable: any number of threads may call
 *    rf_lambda_eval() on it at once. Free it once, after every evaluation ended.
 *  - Evaluation state lives in an rf_lambda_ctx_t. rf_lambda_eval() makes a
 *    temporary one per call; hot loops keep one ctx per thread and call
 *    rf_lambda_eval_ctx(), which reuses the ctx's memory (no malloc per row
 *    except the result string). A ctx must not be used by two threads at once.
 *  - `x` and `row` are borrowed for the duration of the call.
 *  - A result owns res->value (rf_malloc'ed); release it with
 *    rf_lambda_result_clear(), which also makes the struct reusable.
 */
#ifndef RECTIFY_LAMBDA_H
#define RECTIFY_LAMBDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct rf_lambda rf_lambda_t; /* immutable once compiled, thread-safe to eval */
typedef struct rf_lambda_ctx rf_lambda_ctx_t;

typedef struct rf_lambda_limits {
  size_t max_source;       /* bytes of source text (default 4096) */
  size_t max_nodes;        /* AST nodes (default 2000) */
  size_t max_depth;        /* nesting depth of the expression (default 64) */
  uint64_t max_steps;      /* evaluation steps per call (default 100000); work on long
                              strings and lists is charged too, 1 step per 64 bytes/items */
  size_t max_str_bytes;    /* bytes of any one str value (default 1 MiB) */
  size_t max_list_items;   /* items of any one list/tuple (default 100000) */
  size_t max_int_digits;   /* decimal digits of int<->str conversions, as CPython's
                              sys.int_max_str_digits (default 4300); arithmetic results are
                              capped at twice that many digits (LimitError) */
  uint32_t re_match_limit; /* PCRE2 match limit per regex call (default 100000) */
  uint32_t re_depth_limit; /* PCRE2 depth limit per regex call (default 5000) */
  size_t max_memory;       /* bytes one evaluation may allocate (default 32 MiB) */
} rf_lambda_limits_t;

/* Fill `lim` with the safe defaults listed above. */
void rf_lambda_limits_default(rf_lambda_limits_t *lim);

/* Compile `src[0..len)`. Returns 0 and *out (free with rf_lambda_free), or:
 *   RF_ESYNTAX  the text is not a lambda expression ("SyntaxError" class),
 *   RF_EDENIED  it is Python but outside the language ("CheckError" class),
 *   RF_ELIMIT   a compile-time limit (source length, nodes, depth) was exceeded,
 *   RF_ENOMEM   allocation failed.
 * On error, errbuf (if errlen > 0) receives "message at line:col". lim == NULL
 * means defaults; the limits are copied into the lambda. */
int rf_lambda_compile(const char *src, size_t len, const rf_lambda_limits_t *lim,
                      rf_lambda_t **out, char *errbuf, size_t errlen);
void rf_lambda_free(rf_lambda_t *l);
/* 1 for `lambda x: ...`, 2 for `lambda x, row: ...`. */
int rf_lambda_arity(const rf_lambda_t *l);
/* The error class of the last compile failure code: "SyntaxError",
 * "CheckError" or "LimitError" (static string). */
const char *rf_lambda_compile_error_class(int rc);

typedef struct rf_lambda_result {
  bool ok;
  const char *type; /* static: type(result).__name__ when ok */
  char *value;      /* str(result), NUL-terminated, owned; NULL when is_none or !ok */
  size_t value_len;
  bool is_none; /* result is None */
  const char *error; /* static: exception class name when !ok ("ValueError", "LimitError") */
  char message[512]; /* str(exception) when !ok */
  bool borrowed;     /* value belongs to the ctx (rf_lambda_eval_borrow); clear won't free it */
} rf_lambda_result_t;

/* Evaluate l on x (x == NULL means None; otherwise x[0..xlen) is a UTF-8 str;
 * invalid UTF-8 gives a ValueError result) and row (NULL = empty mapping; a
 * cJSON object: string->str, number->int when its text is integral else
 * float, true/false->bool, null->None, array->list, object->dict).
 * Returns 0 with *res filled (ok, or a Python error), or RF_ENOMEM when an
 * allocation failed (res then holds no allocation). res need not be cleared
 * before the call; clear it after. */
int rf_lambda_eval(const rf_lambda_t *l, const char *x, size_t xlen, const cJSON *row,
                   rf_lambda_result_t *res);
void rf_lambda_result_clear(rf_lambda_result_t *res);

/* A reusable evaluation context (one per thread). NULL on allocation failure. */
rf_lambda_ctx_t *rf_lambda_ctx_new(void);
void rf_lambda_ctx_free(rf_lambda_ctx_t *c);
/* As rf_lambda_eval, with c's memory reused between calls. */
int rf_lambda_eval_ctx(rf_lambda_ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen,
                       const cJSON *row, rf_lambda_result_t *res);
/* As rf_lambda_eval_ctx, but res->value is borrowed from c (res->borrowed):
 * valid until the next evaluation on c or rf_lambda_ctx_free(c). The hot path
 * of an apply loop that copies the value anyway: no allocation per row at all. */
int rf_lambda_eval_borrow(rf_lambda_ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen,
                          const cJSON *row, rf_lambda_result_t *res);

/* Batch evaluation: the apply loop's entry point (lib/gate.c), which
 * evaluates one lambda over the rows of a cluster. */
typedef struct rf_lambda_input {
  const char *x; /* NULL means None */
  size_t xlen;
  const cJSON *row; /* as rf_lambda_eval's row */
} rf_lambda_input_t;
/* Receives row i's result. res (ok or a Python error) is borrowed as with
 * rf_lambda_eval_borrow: res->value is valid until the sink returns; copy it
 * to keep it. Return 0 to go on; any other value stops the batch. */
typedef int (*rf_lambda_sink_fn)(void *arg, size_t i, const rf_lambda_result_t *res);
/* flags: the caller guarantees every in[i].x is valid UTF-8 (rectify's intake
 * validated it: rf_json_parse refuses invalid UTF-8 and lone surrogates), so it
 * is not validated again. Invalid UTF-8 under this flag is a caller bug: debug
 * builds assert; release builds may give a wrong result and may read up to 3
 * bytes past a sequence truncated at x[xlen). Pass only validated text. */
#define RF_LAMBDA_TRUSTED_UTF8 1u
/* Evaluates l on in[0..n) in order on c, calling sink(arg, i, &res) after
 * each row. Same results as rf_lambda_eval_borrow row by row, with the
 * per-call work done once per batch. Returns 0 when every row went to the
 * sink, RF_ENOMEM when an evaluation ran out of memory (rows before i were
 * delivered), or the first non-zero value a sink returned. */
int rf_lambda_eval_batch(rf_lambda_ctx_t *c, const rf_lambda_t *l, const rf_lambda_input_t *in,
                         size_t n, unsigned flags, rf_lambda_sink_fn sink, void *arg);

#endif

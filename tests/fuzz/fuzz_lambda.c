/* fuzz_lambda.c - libFuzzer target: parse + check + eval of the lambda language.
 *
 * Input: a first line "SRC\n" (the lambda source) and the rest as x (a UTF-8 str; invalid UTF-8 is a clean ValueError).
 * When the rest starts with "{" it is also tried as the JSON row of a
 * two-parameter lambda. Any crash, leak, sanitizer report or hang is a bug.
 * When the lambda has a kernel (lib/lambda/kernel.c) or a re.sub class filter
 * (refast.c), the same input also runs through the tree walker without them:
 * a different result is a bug too (abort).
 * Built and run by tests/fuzz/run.sh (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/lambda.h"
#include "lambda_int.h"

static void clear_refilt(rf__node_t *n) {
  if (!n)
    return;
  n->refilt = NULL;
  clear_refilt(n->a);
  clear_refilt(n->b);
  clear_refilt(n->c);
  for (int i = 0; i < n->nargs; i++)
    clear_refilt(n->args[i]);
  for (int i = 0; i < n->nkw; i++)
    clear_refilt(n->kw[i]);
}

/* the fast paths must give the tree walker's result, exception text included */
static void compare_slow(rf_lambda_ctx_t *ctx, const uint8_t *src, size_t srclen, const char *x,
                         size_t xlen, const rf_lambda_result_t *a) {
  rf_lambda_t *slow = NULL;
  char err[512];
  if (rf_lambda_compile((const char *)src, srclen, NULL, &slow, err, sizeof(err)) != 0)
    abort();
  slow->kernel = NULL;
  clear_refilt(slow->body);
  rf_lambda_result_t b;
  if (rf_lambda_eval_ctx(ctx, slow, x, xlen, NULL, &b) == 0) {
    if (a->ok != b.ok)
      abort();
    if (a->ok && (strcmp(a->type, b.type) != 0 || a->is_none != b.is_none ||
                  a->value_len != b.value_len ||
                  (a->value && memcmp(a->value, b.value, a->value_len) != 0)))
      abort();
    if (!a->ok && (strcmp(a->error, b.error) != 0 || strcmp(a->message, b.message) != 0))
      abort();
    rf_lambda_result_clear(&b);
  }
  rf_lambda_free(slow);
}

static bool has_refilt(const rf__node_t *n) {
  if (!n)
    return false;
  if (n->refilt || has_refilt(n->a) || has_refilt(n->b) || has_refilt(n->c))
    return true;
  for (int i = 0; i < n->nargs; i++)
    if (has_refilt(n->args[i]))
      return true;
  for (int i = 0; i < n->nkw; i++)
    if (has_refilt(n->kw[i]))
      return true;
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static rf_lambda_ctx_t *ctx;
  if (!ctx) {
    rf_alloc_init();
    ctx = rf_lambda_ctx_new();
    if (!ctx)
      abort();
  }
  const uint8_t *nl = memchr(data, '\n', size);
  size_t srclen = nl ? (size_t)(nl - data) : size;
  const char *x = nl ? (const char *)nl + 1 : NULL;
  size_t xlen = nl ? size - srclen - 1 : 0;
  char err[512];
  rf_lambda_t *l = NULL;
  if (rf_lambda_compile((const char *)data, srclen, NULL, &l, err, sizeof(err)) != 0)
    return 0;
  if (rf_lambda_arity(l) != 1 && rf_lambda_arity(l) != 2)
    abort();
  rf_lambda_result_t res;
  if (rf_lambda_eval_ctx(ctx, l, x, xlen, NULL, &res) == 0) {
    if (res.ok && !res.is_none && (!res.value || strlen(res.value) > res.value_len))
      abort();
    if (!res.ok && !res.error)
      abort();
    if ((l->kernel || has_refilt(l->body)) && strcmp(res.error ? res.error : "", "MemoryError"))
      compare_slow(ctx, data, srclen, x, xlen, &res);
    rf_lambda_result_clear(&res);
  }
  if (x && xlen && x[0] == '{' && rf_lambda_arity(l) == 2) {
    char *copy = malloc(xlen + 1);
    if (copy) {
      memcpy(copy, x, xlen);
      copy[xlen] = '\0';
      cJSON *row = cJSON_Parse(copy);
      if (row && rf_lambda_eval_ctx(ctx, l, "v", 1, row, &res) == 0)
        rf_lambda_result_clear(&res);
      cJSON_Delete(row);
      free(copy);
    }
  }
  rf_lambda_free(l);
  return 0;
}

/* fuzz_lambda.c - libFuzzer target: parse + check + eval of the lambda language.
 *
 * Input: a first line "SRC\n" (the lambda source) and the rest as x (a UTF-8 str; invalid UTF-8 is a clean ValueError).
 * When the rest starts with "{" it is also tried as the JSON row of a
 * two-parameter lambda. Any crash, leak, sanitizer report or hang is a bug.
 * Built and run by tests/fuzz/run.sh (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/lambda.h"

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

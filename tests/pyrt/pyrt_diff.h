/* pyrt_diff.h - shared pieces of the differential driver (tests only). */
#ifndef RF_TESTS_PYRT_DIFF_H
#define RF_TESTS_PYRT_DIFF_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "../../lib/lambda/pyerr.h"
#include "rectify/buf.h"

typedef struct pyrt_result {
  rf_buf_t out;    /* rectify's answer as text (JSON text for structured results) */
  rf_pyerr_t err;  /* or the exception it raised */
  bool msg_loose;  /* compare the exception class only */
} pyrt_result_t;

void pyrt_result_init(pyrt_result_t *r);
/* The string member `key` of c (NULL when absent), its length in *len. */
const char *pyrt_str(const cJSON *c, const char *key, size_t *len);
void pyrt_run_pyre(const cJSON *c, pyrt_result_t *r);
void pyrt_run_pytime(const cJSON *c, pyrt_result_t *r);

#endif

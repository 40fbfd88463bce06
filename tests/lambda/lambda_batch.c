/* lambda_batch.c - evaluate many lambdas from JSON lines (test driver).
 *
 * Input, one JSON object per line:  {"src": "lambda x: ...", "x": "..." | null, "row": {...}}
 * Output, one JSON object per line, in the same order:
 *   {"ok":true,"type":"str","value":"..."}  ("value":null for None)
 *   {"ok":false,"error":"ValueError","message":"..."}
 * Compile failures report error SyntaxError/CheckError/LimitError. Lambdas are
 * cached by source text, so one compiled lambda serves many inputs, and one
 * evaluation context is reused for every line, as the daemon does.
 * With --time, each output also carries "us": the microseconds of compile+eval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/lambda.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  int timing = argc > 1 && strcmp(argv[1], "--time") == 0;
  rf_alloc_init();
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  if (!ctx)
    return 2;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  char *last_src = NULL;
  rf_lambda_t *last = NULL;
  int last_rc = 0;
  char last_err[512] = "";
  rf_buf_t out = RF_BUF_INIT;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *src = j ? cJSON_GetObjectItemCaseSensitive(j, "src") : NULL;
    if (!cJSON_IsString(src)) {
      fprintf(stderr, "lambda_batch: bad input line: %s", line);
      cJSON_Delete(j);
      return 2;
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "x");
    const cJSON *row = cJSON_GetObjectItemCaseSensitive(j, "row");
    double t0 = now_us();
    if (!last_src || strcmp(last_src, src->valuestring) != 0) {
      rf_lambda_free(last);
      last = NULL;
      free(last_src);
      last_src = strdup(src->valuestring);
      last_rc = rf_lambda_compile(src->valuestring, strlen(src->valuestring), NULL, &last,
                                  last_err, sizeof(last_err));
    }
    rf_buf_reset(&out);
    if (last_rc != 0) {
      const char *cls = rf_lambda_compile_error_class(last_rc);
      rf_buf_puts(&out, "{\"ok\":false,\"error\":");
      rf_buf_json_str(&out, cls, strlen(cls));
      rf_buf_puts(&out, ",\"message\":");
      rf_buf_json_str(&out, last_err, strlen(last_err));
    } else {
      rf_lambda_result_t res;
      const char *xv = cJSON_IsString(x) ? x->valuestring : NULL;
      int rc = rf_lambda_eval_ctx(ctx, last, xv, xv ? strlen(xv) : 0,
                                  cJSON_IsObject(row) ? row : NULL, &res);
      if (rc) {
        rf_buf_printf(&out, "{\"ok\":false,\"error\":\"RF_E\",\"message\":\"%s\"", rf_strerror(rc));
      } else if (res.ok) {
        rf_buf_puts(&out, "{\"ok\":true,\"type\":");
        rf_buf_json_str(&out, res.type, strlen(res.type));
        rf_buf_puts(&out, ",\"value\":");
        if (res.is_none)
          rf_buf_puts(&out, "null");
        else
          rf_buf_json_str(&out, res.value, res.value_len);
      } else {
        rf_buf_puts(&out, "{\"ok\":false,\"error\":");
        rf_buf_json_str(&out, res.error, strlen(res.error));
        rf_buf_puts(&out, ",\"message\":");
        rf_buf_json_str(&out, res.message, strlen(res.message));
      }
      if (rc == 0)
        rf_lambda_result_clear(&res);
    }
    if (timing)
      rf_buf_printf(&out, ",\"us\":%.1f", now_us() - t0);
    rf_buf_puts(&out, "}\n");
    fwrite(out.data, 1, out.len, stdout);
    cJSON_Delete(j);
  }
  rf_buf_free(&out);
  free(line);
  free(last_src);
  rf_lambda_free(last);
  rf_lambda_ctx_free(ctx);
  return 0;
}

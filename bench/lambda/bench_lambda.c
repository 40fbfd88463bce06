/* bench_lambda.c - rows per second of one lambda over a file of values.
 *
 *   bench_lambda 'lambda x: ...' VALUES_FILE [RUNS]
 * VALUES_FILE holds one value per line. Compiles once, keeps one evaluation
 * context (as the daemon does per worker thread) and evaluates every value
 * RUNS times (default 1) with the apply loop's call (lib/gate.c): one
 * rf_lambda_eval_batch over the values, RF_LAMBDA_TRUSTED_UTF8 (the values
 * are validated once when loaded, as intake validates messages), results
 * borrowed by a sink that counts errors. With RF_BENCH_MODE in the
 * environment: "batch-validate" is the same batch without the flag (x is
 * validated again), "borrow" uses rf_lambda_eval_borrow per row,
 * "owned" rf_lambda_eval_ctx (one malloc/free of the result per row).
 * Prints, per run:
 *   run=N rows=R seconds=S rows_per_sec=X errors=E
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/lambda.h"
#include "rectify/utf8.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int count_errors(void *arg, size_t i, const rf_lambda_result_t *res) {
  (void)i;
  if (!res->ok)
    ++*(size_t *)arg;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_lambda 'lambda x: ...' VALUES_FILE [RUNS]\n");
    return 2;
  }
  rf_alloc_init();
  int runs = argc > 3 ? atoi(argv[3]) : 1;
  const char *mode = getenv("RF_BENCH_MODE") ? getenv("RF_BENCH_MODE") : "batch";
  int batch = strcmp(mode, "batch") == 0, borrow = strcmp(mode, "borrow") == 0;
  int validate = strcmp(mode, "batch-validate") == 0;
  if (!batch && !validate && !borrow && strcmp(mode, "owned") != 0) {
    fprintf(stderr, "bench_lambda: RF_BENCH_MODE must be batch, batch-validate, borrow or owned\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "r");
  if (!f) {
    perror(argv[2]);
    return 2;
  }
  size_t n = 0, cap = 1024;
  char **vals = malloc(cap * sizeof(*vals));
  size_t *lens = malloc(cap * sizeof(*lens));
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, f)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    if (n == cap) {
      cap *= 2;
      vals = realloc(vals, cap * sizeof(*vals));
      lens = realloc(lens, cap * sizeof(*lens));
    }
    if (!rf_utf8_valid(line, (size_t)len)) {
      fprintf(stderr, "bench_lambda: %s: line %zu is not valid UTF-8\n", argv[2], n + 1);
      return 2;
    }
    vals[n] = strdup(line);
    lens[n++] = (size_t)len;
  }
  free(line);
  fclose(f);
  rf_lambda_input_t *in = malloc((n ? n : 1) * sizeof(*in));
  for (size_t i = 0; i < n; i++)
    in[i] = (rf_lambda_input_t){vals[i], lens[i], NULL};
  rf_lambda_t *l;
  char err[512];
  if (rf_lambda_compile(argv[1], strlen(argv[1]), NULL, &l, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_lambda: %s\n", err);
    return 1;
  }
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  for (int r = 0; r < runs; r++) {
    size_t errors = 0;
    double t0 = now();
    if (batch || validate) {
      if (rf_lambda_eval_batch(ctx, l, in, n, validate ? 0 : RF_LAMBDA_TRUSTED_UTF8, count_errors,
                               &errors) != 0)
        errors = n;
    } else {
      for (size_t i = 0; i < n; i++) {
        rf_lambda_result_t res;
        if (borrow ? rf_lambda_eval_borrow(ctx, l, vals[i], lens[i], NULL, &res) != 0
                           : rf_lambda_eval_ctx(ctx, l, vals[i], lens[i], NULL, &res) != 0)
          errors++;
        else if (!res.ok)
          errors++;
        rf_lambda_result_clear(&res);
      }
    }
    double dt = now() - t0;
    printf("run=%d rows=%zu seconds=%.6f rows_per_sec=%.0f errors=%zu\n", r, n, dt,
           (double)n / dt, errors);
  }
  rf_lambda_ctx_free(ctx);
  rf_lambda_free(l);
  for (size_t i = 0; i < n; i++)
    free(vals[i]);
  free(vals);
  free(lens);
  free(in);
  return 0;
}

/* bench_lambda.c - rows per second of one lambda over a file of values.
 *
 *   bench_lambda 'lambda x: ...' VALUES_FILE [RUNS]
 * VALUES_FILE holds one value per line. Compiles once, keeps one evaluation
 * context (as the daemon does per worker thread) and evaluates every value
 * with rf_lambda_eval_borrow (the apply loop's call: the result text is
 * borrowed, no allocation per row), RUNS times (default 1). With
 * RF_BENCH_OWNED=1 in the environment it uses rf_lambda_eval_ctx instead
 * (one malloc/free of the result per row). Prints, per run:
 *   run=N rows=R seconds=S rows_per_sec=X errors=E
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/lambda.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_lambda 'lambda x: ...' VALUES_FILE [RUNS]\n");
    return 2;
  }
  rf_alloc_init();
  int runs = argc > 3 ? atoi(argv[3]) : 1;
  int borrow = getenv("RF_BENCH_OWNED") == NULL;
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
    vals[n] = strdup(line);
    lens[n++] = (size_t)len;
  }
  free(line);
  fclose(f);
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
    for (size_t i = 0; i < n; i++) {
      rf_lambda_result_t res;
      if (borrow ? rf_lambda_eval_borrow(ctx, l, vals[i], lens[i], NULL, &res) != 0
                 : rf_lambda_eval_ctx(ctx, l, vals[i], lens[i], NULL, &res) != 0)
        errors++;
      else if (!res.ok)
        errors++;
      rf_lambda_result_clear(&res);
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
  return 0;
}

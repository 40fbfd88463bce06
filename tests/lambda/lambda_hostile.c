/* lambda_hostile.c - every hostile lambda is refused, quickly and in bounded memory.
 *
 * Reads tests/data/lambda/hostile/hostile.jsonl ({"name","src","x"} per line).
 * Each case runs in a forked child (so a crash or a runaway allocation is
 * contained and measured): compile with the default limits, evaluate once,
 * report the outcome. A case passes when
 *   - compilation fails with SyntaxError, CheckError or LimitError, or the
 *     evaluation fails with LimitError or CheckError (a refused format field);
 *   - compile + eval took at most RF_HOSTILE_MS milliseconds (default 100;
 *     the time of a sanitizer build is scaled by RF_HOSTILE_SLOWDOWN, default 1);
 *   - the child's peak RSS grew by at most RF_HOSTILE_MAX_MB (default 160 MiB),
 *     and, outside sanitizer builds, it ran under RLIMIT_AS of 1 GiB.
 * Prints one line per case and a summary; exits 1 when any case fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/lambda.h"

#if defined(__SANITIZE_ADDRESS__)
#define RF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RF_ASAN 1
#endif
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long self_maxrss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Child: run the case, write "outcome\tclass\tms\trss_growth_kb\tmessage" to fd. */
static void run_child(int fd, const char *src, const char *x) {
#ifndef RF_ASAN
  struct rlimit rl = {1ul << 30, 1ul << 30};
  setrlimit(RLIMIT_AS, &rl);
#endif
  long rss0 = self_maxrss_kb();
  char err[512] = "";
  const char *outcome, *cls;
  double t0 = now_ms();
  rf_lambda_t *l = NULL;
  rf_lambda_result_t res;
  memset(&res, 0, sizeof(res));
  int rc = rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err));
  if (rc) {
    outcome = "compile";
    cls = rf_lambda_compile_error_class(rc);
  } else {
    rc = rf_lambda_eval(l, x, x ? strlen(x) : 0, NULL, &res);
    if (rc) {
      outcome = "eval";
      cls = "RF_ENOMEM";
    } else if (res.ok) {
      outcome = "ok";
      cls = res.type;
      snprintf(err, sizeof(err), "%.200s", res.value ? res.value : "None");
    } else {
      outcome = "eval";
      cls = res.error;
      snprintf(err, sizeof(err), "%s", res.message);
    }
  }
  double ms = now_ms() - t0;
  long grow = self_maxrss_kb() - rss0;
  char line[1024];
  for (char *p = err; *p; p++)
    if (*p == '\n' || *p == '\t')
      *p = ' ';
  int n = snprintf(line, sizeof(line), "%s\t%s\t%.2f\t%ld\t%s", outcome, cls, ms, grow, err);
  if (write(fd, line, (size_t)n) < 0)
    _exit(3);
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  _exit(0);
}

int main(int argc, char **argv) {
  rf_alloc_init();
  const char *path = argc > 1 ? argv[1] : RF_TEST_DATA "/lambda/hostile/hostile.jsonl";
  double budget_ms = getenv("RF_HOSTILE_MS") ? atof(getenv("RF_HOSTILE_MS")) : 100.0;
  double slowdown = getenv("RF_HOSTILE_SLOWDOWN") ? atof(getenv("RF_HOSTILE_SLOWDOWN")) : 1.0;
  long max_kb = (getenv("RF_HOSTILE_MAX_MB") ? atol(getenv("RF_HOSTILE_MAX_MB")) : 160) * 1024;
#ifndef RF_ASAN
  slowdown = 1.0;
#endif
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "lambda_hostile: %s: %s\n", path, strerror(errno));
    return 2;
  }
  char *line = NULL;
  size_t cap = 0;
  int total = 0, failed = 0;
  double worst_ms = 0;
  long worst_kb = 0;
  while (getline(&line, &cap, f) > 0) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "src");
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "x");
    if (!cJSON_IsString(name) || !cJSON_IsString(src)) {
      fprintf(stderr, "lambda_hostile: bad line: %.80s\n", line);
      return 2;
    }
    int fds[2];
    if (pipe(fds) != 0)
      return 2;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      run_child(fds[1], src->valuestring, cJSON_IsString(x) ? x->valuestring : NULL);
    }
    close(fds[1]);
    char buf[1100];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(buf) - 1 && (r = read(fds[0], buf + got, sizeof(buf) - 1 - got)) > 0)
      got += (size_t)r;
    buf[got] = '\0';
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    total++;
    char outcome[32] = "", cls[64] = "", msg[600] = "";
    double ms = 0;
    long grow = 0;
    sscanf(buf, "%31[^\t]\t%63[^\t]\t%lf\t%ld\t%599[^\n]", outcome, cls, &ms, &grow, msg);
    const char *why = NULL;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      why = "child crashed";
    else if (strcmp(outcome, "compile") == 0 && strcmp(cls, "SyntaxError") != 0 &&
             strcmp(cls, "CheckError") != 0 && strcmp(cls, "LimitError") != 0)
      why = "unexpected compile error class";
    else if (strcmp(outcome, "eval") == 0 && strcmp(cls, "LimitError") != 0 &&
             strcmp(cls, "CheckError") != 0)
      why = "evaluation raised something other than a limit";
    else if (strcmp(outcome, "ok") == 0)
      why = "evaluated successfully";
    else if (ms > budget_ms * slowdown)
      why = "too slow";
    else if (grow > max_kb)
      why = "too much memory";
    if (ms > worst_ms)
      worst_ms = ms;
    if (grow > worst_kb)
      worst_kb = grow;
    printf("%-4s %-28s %-8s %-12s %7.2f ms %7ld KiB  %.90s\n", why ? "FAIL" : "ok",
           name->valuestring, outcome, cls, ms, grow, msg);
    if (why) {
      printf("     ^ %s (src: %.120s)\n", why, src->valuestring);
      failed++;
    }
    cJSON_Delete(j);
  }
  free(line);
  fclose(f);
  printf("hostile: %d cases, %d refused within %.0f ms and %ld MiB (worst %.2f ms, %ld KiB)\n",
         total, total - failed, budget_ms * slowdown, max_kb / 1024, worst_ms, worst_kb);
  return failed || total < 80 ? 1 : 0;
}

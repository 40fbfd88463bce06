/* pyrt_diff.c - differential driver: rectify's Python runtime vs CPython.
 *
 * Why: the lambda language promises CPython's exact results. The generators
 * next to this file (gen_pyfmt.py, gen_pyre.py, gen_pytime.py) let CPython
 * 3.11 answer thousands of cases; this driver asks rectify the same questions
 * and counts agreements. Usage: pyrt_diff pyfmt|pyre|pytime CASES.jsonl
 * Exit status 0 only when every case agrees (output text, or exception class
 * and message).
 */
#include <cjson/cJSON.h>
#include <gmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/lambda/pyfmt.h"
#include "../../lib/lambda/pyre.h"
#include "../../lib/lambda/pytime.h"
#include "pyrt_diff.h"

/* Result of one case on the rectify side. */
void pyrt_result_init(pyrt_result_t *r) {
  rf_buf_init(&r->out);
  r->err.type = NULL;
  r->err.msg[0] = '\0';
  r->msg_loose = false;
}

const char *pyrt_str(const cJSON *c, const char *key, size_t *len) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(c, key);
  if (!cJSON_IsString(it)) {
    *len = 0;
    return NULL;
  }
  *len = strlen(it->valuestring);
  return it->valuestring;
}

static double parse_double(const char *s) { return strtod(s, NULL); }

static void run_pyfmt(const cJSON *c, pyrt_result_t *r) {
  size_t fl, vl, sl;
  const char *f = pyrt_str(c, "f", &fl);
  const char *v = pyrt_str(c, "v", &vl);
  const char *spec = pyrt_str(c, "spec", &sl);
  const char *fmt = pyrt_str(c, "fmt", &sl);
  if (strcmp(f, "repr") == 0) {
    rf_py_float_repr(parse_double(v), &r->out);
  } else if (strcmp(f, "float") == 0) {
    spec = pyrt_str(c, "spec", &sl);
    rf_py_format_float(parse_double(v), spec, sl, &r->out, &r->err);
  } else if (strcmp(f, "int") == 0) {
    spec = pyrt_str(c, "spec", &sl);
    mpz_t z;
    mpz_init_set_str(z, v, 10);
    rf_py_format_int(z, spec, sl, &r->out, &r->err);
    mpz_clear(z);
  } else if (strcmp(f, "str") == 0) {
    spec = pyrt_str(c, "spec", &sl);
    rf_py_format_str(v, vl, spec, sl, &r->out, &r->err);
  } else {
    /* pct_int / pct_float / pct_str: one conversion, fmt = "%...". */
    rf_py_pct_spec_t ps;
    int used = rf_py_pct_parse(fmt + 1, sl - 1, 0, &ps, &r->err);
    if (used < 0)
      return;
    if ((size_t)used != sl - 1) {
      rf_pyerr_set(&r->err, "TypeError", "not all arguments converted during string formatting");
      return;
    }
    if (strcmp(f, "pct_int") == 0) {
      mpz_t z;
      mpz_init_set_str(z, v, 10);
      if (strchr("eEfFgG", ps.conv))
        rf_py_pct_float(&ps, mpz_get_d(z), &r->out, &r->err);
      else
        rf_py_pct_int(&ps, z, &r->out, &r->err);
      mpz_clear(z);
    } else if (strcmp(f, "pct_float") == 0) {
      rf_py_pct_float(&ps, parse_double(v), &r->out, &r->err);
    } else {
      rf_py_pct_str(&ps, v, vl, &r->out, &r->err);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s pyfmt|pyre|pytime CASES.jsonl\n", argv[0]);
    return 2;
  }
  const char *mod = argv[1];
  void (*run)(const cJSON *, pyrt_result_t *) = NULL;
  if (strcmp(mod, "pyfmt") == 0)
    run = run_pyfmt;
  else if (strcmp(mod, "pyre") == 0)
    run = pyrt_run_pyre;
  else if (strcmp(mod, "pytime") == 0)
    run = pyrt_run_pytime;
  else {
    fprintf(stderr, "unknown module %s\n", mod);
    return 2;
  }
  FILE *fp = fopen(argv[2], "r");
  if (fp == NULL) {
    perror(argv[2]);
    return 2;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long total = 0, agree = 0, shown = 0;
  while ((n = getline(&line, &cap, fp)) > 0) {
    cJSON *c = cJSON_ParseWithLength(line, (size_t)n);
    if (c == NULL) {
      fprintf(stderr, "bad case line %ld\n", total + 1);
      return 2;
    }
    pyrt_result_t r;
    pyrt_result_init(&r);
    run(c, &r);
    size_t el, xl, ml;
    const char *expect = pyrt_str(c, "out", &el);
    const cJSON *expect_json = cJSON_GetObjectItemCaseSensitive(c, "out");
    const char *exc = pyrt_str(c, "exc", &xl);
    const char *msg = pyrt_str(c, "msg", &ml);
    bool ok;
    char got[1024];
    if (r.err.type) {
      snprintf(got, sizeof(got), "%s: %s", r.err.type, r.err.msg);
      ok = exc && strcmp(exc, r.err.type) == 0 && (r.msg_loose || strcmp(msg, r.err.msg) == 0);
    } else if (!rf_buf_ok(&r.out)) {
      snprintf(got, sizeof(got), "(out of memory)");
      ok = false;
    } else {
      snprintf(got, sizeof(got), "%.*s", (int)(r.out.len > 1000 ? 1000 : r.out.len),
               r.out.data ? r.out.data : "");
      if (expect)
        ok = r.out.len == el && memcmp(r.out.data ? r.out.data : "", expect, el) == 0;
      else if (expect_json) {
        char *ej = cJSON_PrintUnformatted(expect_json);
        ok = ej && r.out.data && strcmp(ej, r.out.data) == 0;
        free(ej);
      } else
        ok = false;
    }
    total++;
    if (ok) {
      agree++;
    } else if (shown++ < 15) {
      char *line_s = cJSON_PrintUnformatted(c);
      fprintf(stdout, "DISAGREE %s\n   rectify: %s\n", line_s, got);
      free(line_s);
    }
    rf_buf_free(&r.out);
    cJSON_Delete(c);
  }
  free(line);
  fclose(fp);
  printf("%s differential: %ld cases, %ld agree\n", mod, total, agree);
  return total > 0 && agree == total ? 0 : 1;
}

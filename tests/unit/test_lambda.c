/* test_lambda.c - unit tests of the lambda language (lib/lambda/).
 *
 * Table-driven evaluation cases live in tests/data/lambda/unit_cases.txt; the
 * tests here cover what a table cannot: error positions, limits, the API's
 * ownership rules, context reuse, rows, threads, and allocation-failure walks
 * (every allocation of compile and eval is made to fail in turn: each must
 * end in a clean RF_ENOMEM with nothing leaked - ASan checks the leaks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/lambda.h"
#include "rectify/utf8.h"
/* internals, to compare the kernel and the re.sub filter with the tree walker */
#include "../../lib/lambda/lambda_int.h"

/* ------------------------------------------------------------------ helpers */

typedef struct outcome {
  int compile_rc;
  char compile_err[512];
  rf_lambda_result_t res;
} outcome_t;

static void run(const char *src, const char *x, const char *rowjson, outcome_t *o) {
  memset(o, 0, sizeof(*o));
  rf_lambda_t *l = NULL;
  o->compile_rc = rf_lambda_compile(src, strlen(src), NULL, &l, o->compile_err,
                                    sizeof(o->compile_err));
  if (o->compile_rc)
    return;
  cJSON *row = rowjson ? cJSON_Parse(rowjson) : NULL;
  int rc = rf_lambda_eval(l, x, x ? strlen(x) : 0, row, &o->res);
  assert_int_equal(rc, 0);
  cJSON_Delete(row);
  rf_lambda_free(l);
}

static void want_value(const char *src, const char *x, const char *type, const char *value) {
  outcome_t o;
  run(src, x, NULL, &o);
  if (o.compile_rc)
    fail_msg("%s: compile failed: %s", src, o.compile_err);
  if (!o.res.ok)
    fail_msg("%s: raised %s: %s", src, o.res.error, o.res.message);
  assert_string_equal(o.res.type, type);
  if (value)
    assert_string_equal(o.res.value, value);
  else
    assert_true(o.res.is_none);
  rf_lambda_result_clear(&o.res);
}

static void want_compile_error(const char *src, int rc, const char *needle) {
  outcome_t o;
  run(src, "x", NULL, &o);
  if (o.compile_rc != rc)
    fail_msg("%s: compile rc %d (%s), want %d", src, o.compile_rc, o.compile_err, rc);
  if (needle && !strstr(o.compile_err, needle))
    fail_msg("%s: message '%s' lacks '%s'", src, o.compile_err, needle);
}

static void want_raise(const char *src, const char *x, const char *cls) {
  outcome_t o;
  run(src, x, NULL, &o);
  if (o.compile_rc)
    fail_msg("%s: compile failed: %s", src, o.compile_err);
  if (o.res.ok)
    fail_msg("%s: returned %s, want %s", src, o.res.value ? o.res.value : "None", cls);
  assert_string_equal(o.res.error, cls);
  assert_non_null(o.res.message);
  rf_lambda_result_clear(&o.res);
}

/* ------------------------------------------------------------------ table */

static void unescape(char *s, bool src) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] == 'n') {
      *w++ = '\n';
      r++;
    } else if (!src && r[0] == '\\' && r[1] == 't') {
      *w++ = '\t';
      r++;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

static void test_table(void **state) {
  (void)state;
  FILE *f = fopen(RF_TEST_DATA "/lambda/unit_cases.txt", "r");
  assert_non_null(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *src = line, *x = strchr(src, '\t');
    assert_non_null(x);
    *x++ = '\0';
    char *type = strchr(x, '\t');
    assert_non_null(type);
    *type++ = '\0';
    char *value = strchr(type, '\t');
    if (value)
      *value++ = '\0';
    unescape(src, true);
    bool none = strcmp(x, "\\N") == 0;
    unescape(x, false);
    if (type[0] == '!') {
      const char *cls = type + 1;
      outcome_t o;
      run(src, none ? NULL : x, NULL, &o);
      if (o.compile_rc) {
        if (strcmp(rf_lambda_compile_error_class(o.compile_rc), cls) != 0)
          fail_msg("line '%s': compile error %s (%s), want %s", src,
                   rf_lambda_compile_error_class(o.compile_rc), o.compile_err, cls);
      } else {
        if (o.res.ok || strcmp(o.res.error, cls) != 0)
          fail_msg("line '%s': got %s %s, want %s", src, o.res.ok ? "ok" : o.res.error,
                   o.res.ok ? (o.res.value ? o.res.value : "None") : o.res.message, cls);
        rf_lambda_result_clear(&o.res);
      }
    } else {
      assert_non_null(value);
      want_value(src, none ? NULL : x, type, strcmp(value, "\\N") == 0 ? NULL : value);
    }
    n++;
  }
  fclose(f);
  assert_true(n >= 80);
}

/* ------------------------------------------------------------------ compile errors */

static void test_positions(void **state) {
  (void)state;
  want_compile_error("lambda x: x +", RF_ESYNTAX, "at 1:14");
  want_compile_error("lambda x: foo(x)", RF_EDENIED, "function 'foo' is not allowed at 1:11");
  want_compile_error("lambda x: bar + 1", RF_EDENIED, "name 'bar' is not allowed at 1:11");
  want_compile_error("lambda x: x.__class__", RF_EDENIED, "'__class__' is not allowed at 1:13");
  want_compile_error("lambda x: (x.strip()\n .bad())", RF_EDENIED, "method 'bad' is not allowed at 2:3");
  want_compile_error("lambda x: x.strip()\n .bad()", RF_ESYNTAX, "at 2:2");
  want_compile_error("lambda x: 'abc", RF_ESYNTAX, "unterminated string literal at 1:11");
  want_compile_error("lambda x: f'{x!z}'", RF_ESYNTAX, "invalid conversion character");
  want_compile_error("lambda x: f'{}'", RF_ESYNTAX, "empty expression");
  want_compile_error("lambda x: f'{x=}'", RF_EDENIED, "self-documenting");
  want_compile_error("lambda x: f'{x:{x:{x}}}'", RF_ESYNTAX, "nested too deeply");
  want_compile_error("lambda x: 012", RF_ESYNTAX, "leading zeros");
  want_compile_error("lambda x: 1j", RF_EDENIED, "complex");
  want_compile_error("lambda x: '\\N{NO SUCH NAME}'", RF_ESYNTAX, "unknown Unicode character name");
  want_compile_error("lambda x: '\\x4'", RF_ESYNTAX, "truncated");
  want_compile_error("lambda x: x is 'a'", RF_EDENIED, "only allowed with None");
  want_compile_error("lambda x: re.I", RF_EDENIED, "flags argument");
  want_compile_error("lambda x: enumerate(x)", RF_EDENIED, "only allowed where it is iterated");
  want_compile_error("lambda x: (c for c in x)", RF_EDENIED, "generator expression");
  want_compile_error("lambda x: str(c for c in x)", RF_EDENIED, "generator expression");
  want_compile_error("lambda x: max(c for c in x, default=1)", RF_ESYNTAX, "parenthesized");
  want_compile_error("lambda x, x: x", RF_ESYNTAX, "duplicate argument");
  want_compile_error("lambda x, y, z: x", RF_EDENIED, "one or two parameters");
  want_compile_error("", RF_ESYNTAX, "empty source");
  want_compile_error("x + 1", RF_ESYNTAX, "expected 'lambda'");
  {
    rf_lambda_t *l = NULL;
    char err[128];
    assert_int_equal(rf_lambda_compile("lambda x: x\0", 12, NULL, &l, err, sizeof(err)), RF_ESYNTAX);
    assert_int_equal(rf_lambda_compile("lambda x: '\xff'", 16, NULL, &l, err, sizeof(err)), RF_ESYNTAX);
    assert_null(l);
  }
  want_compile_error("lambda x: [1 for a, *b in x]", RF_EDENIED, "starred");
  want_compile_error("lambda x: x.split(*x)", RF_EDENIED, "star-arguments");
  want_compile_error("lambda x: 1 if x", RF_ESYNTAX, "expected 'else'");
  want_compile_error("lambda x: x.replace('a', 'b', count=1)", RF_EDENIED, "keyword argument 'count'");
}

static void test_limits(void **state) {
  (void)state;
  rf_lambda_limits_t lim;
  rf_lambda_limits_default(&lim);
  assert_int_equal(lim.max_source, 4096);
  char big[6000];
  memset(big, ' ', sizeof(big));
  memcpy(big, "lambda x: x", 11);
  big[sizeof(big) - 1] = '\0';
  want_compile_error(big, RF_ELIMIT, "source too long");
  char deep[400];
  int k = snprintf(deep, sizeof(deep), "lambda x: ");
  for (int i = 0; i < 100; i++)
    deep[k++] = '(';
  deep[k++] = 'x';
  for (int i = 0; i < 100; i++)
    deep[k++] = ')';
  deep[k] = '\0';
  want_compile_error(deep, RF_ELIMIT, "nested too deeply");
  /* custom limits are honoured */
  lim.max_steps = 50;
  rf_lambda_t *l;
  char err[256];
  const char *src = "lambda x: [c for c in x]";
  assert_int_equal(rf_lambda_compile(src, strlen(src), &lim, &l, err, sizeof(err)), 0);
  rf_lambda_result_t res;
  assert_int_equal(rf_lambda_eval(l, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", 52, NULL, &res), 0);
  assert_false(res.ok);
  assert_string_equal(res.error, "LimitError");
  assert_non_null(strstr(res.message, "step limit"));
  rf_lambda_result_clear(&res);
  assert_int_equal(rf_lambda_eval(l, "abc", 3, NULL, &res), 0);
  assert_true(res.ok);
  assert_string_equal(res.value, "['a', 'b', 'c']");
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  lim.max_steps = 100000;
  lim.max_str_bytes = 10;
  src = "lambda x: x * 3";
  assert_int_equal(rf_lambda_compile(src, strlen(src), &lim, &l, err, sizeof(err)), 0);
  assert_int_equal(rf_lambda_eval(l, "abcd", 4, NULL, &res), 0);
  assert_string_equal(res.error, "LimitError");
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  want_raise("lambda x: 2 ** 100000", "a", "LimitError");
  want_raise("lambda x: x.zfill(10**9)", "a", "LimitError");
  want_raise("lambda x: re.match('(a+)+$', 'a' * 40 + 'b')", "a", "LimitError");
  want_raise("lambda x: sum(range(10**12))", "a", "LimitError");
}

/* ------------------------------------------------------------------ API behaviour */

static void test_api(void **state) {
  (void)state;
  rf_lambda_t *l;
  char err[256];
  const char *src = "lambda x, row: row.get('city', x).strip().title()";
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  assert_int_equal(rf_lambda_arity(l), 2);
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  assert_non_null(ctx);
  rf_lambda_result_t res;
  cJSON *row = cJSON_Parse("{\"city\":\"  new york \",\"n\":3}");
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rf_lambda_eval_ctx(ctx, l, "x", 1, row, &res), 0);
    assert_true(res.ok);
    assert_string_equal(res.type, "str");
    assert_string_equal(res.value, "New York");
    assert_int_equal(res.value_len, 8);
    rf_lambda_result_clear(&res);
  }
  /* no row: an empty mapping */
  assert_int_equal(rf_lambda_eval_ctx(ctx, l, " paris", 6, NULL, &res), 0);
  assert_string_equal(res.value, "Paris");
  rf_lambda_result_clear(&res);
  /* invalid UTF-8 input is a clean ValueError */
  assert_int_equal(rf_lambda_eval_ctx(ctx, l, "\xff", 1, NULL, &res), 0);
  assert_false(res.ok);
  assert_string_equal(res.error, "ValueError");
  rf_lambda_result_clear(&res);
  cJSON_Delete(row);
  rf_lambda_free(l);
  /* row value types */
  row = cJSON_Parse("{\"i\":3,\"f\":2.5,\"b\":true,\"n\":null,\"l\":[1,\"a\"],\"d\":{\"k\":1}}");
  src = "lambda x, r: (r['i'], r['f'], r['b'], r['n'], r['l'], r['d'], 'k' in r['d'], len(r))";
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  assert_int_equal(rf_lambda_eval_ctx(ctx, l, NULL, 0, row, &res), 0);
  assert_true(res.ok);
  assert_string_equal(res.value, "(3, 2.5, True, None, [1, 'a'], {'k': 1}, True, 6)");
  rf_lambda_result_clear(&res);
  cJSON_Delete(row);
  rf_lambda_free(l);
  /* None result */
  src = "lambda x: None";
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  assert_int_equal(rf_lambda_arity(l), 1);
  assert_int_equal(rf_lambda_eval_ctx(ctx, l, "a", 1, NULL, &res), 0);
  assert_true(res.ok && res.is_none);
  assert_null(res.value);
  assert_string_equal(res.type, "NoneType");
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  rf_lambda_ctx_free(ctx);
  rf_lambda_free(NULL);
  rf_lambda_ctx_free(NULL);
  assert_string_equal(rf_lambda_compile_error_class(RF_EDENIED), "CheckError");
}

/* ------------------------------------------------------------------ threads */

typedef struct tharg {
  const rf_lambda_t *l;
  int bad;
} tharg_t;

static void *thread_main(void *p) {
  tharg_t *a = p;
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  char in[32], want[32];
  for (int i = 0; i < 2000 && ctx; i++) {
    snprintf(in, sizeof(in), " %d-ab ", i);
    snprintf(want, sizeof(want), "%d|AB", i);
    rf_lambda_result_t res;
    if (rf_lambda_eval_ctx(ctx, a->l, in, strlen(in), NULL, &res) != 0 || !res.ok ||
        strcmp(res.value, want) != 0)
      a->bad++;
    rf_lambda_result_clear(&res);
  }
  rf_lambda_ctx_free(ctx);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  const char *src = "lambda x: re.sub(r'^(\\d+)-(\\w+)$', r'\\1|\\2', x.strip()).upper()";
  rf_lambda_t *l;
  char err[256];
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  pthread_t th[4];
  tharg_t args[4];
  for (int i = 0; i < 4; i++) {
    args[i].l = l;
    args[i].bad = 0;
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].bad, 0);
  }
  rf_lambda_free(l);
}

/* ------------------------------------------------------------------ row numbers */

static void row_value(const char *json, const char *src, const char *type, const char *value) {
  rf_json_error_t jerr;
  cJSON *row = rf_json_parse(json, strlen(json), 32, &jerr);
  assert_non_null(row);
  rf_lambda_t *l;
  char err[256];
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  rf_lambda_result_t res;
  assert_int_equal(rf_lambda_eval(l, "x", 1, row, &res), 0);
  if (!res.ok)
    fail_msg("%s on %s: %s %s", src, json, res.error, res.message);
  assert_string_equal(res.type, type);
  assert_string_equal(res.value, value);
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  cJSON_Delete(row);
}

/* row numbers come from their JSON text, as json.loads reads them */
static void test_row_numbers(void **state) {
  (void)state;
  row_value("{\"n\": 12345678901234567890}", "lambda x, row: row['n'] + 1", "int",
            "12345678901234567891");
  row_value("{\"n\": -98765432109876543210123}", "lambda x, row: row['n']", "int",
            "-98765432109876543210123");
  row_value("{\"n\": 1.0}", "lambda x, row: row['n']", "float", "1.0");
  row_value("{\"n\": 1e2}", "lambda x, row: row['n']", "float", "100.0");
  row_value("{\"n\": -0}", "lambda x, row: row['n']", "int", "0");
  row_value("{\"n\": -0.0}", "lambda x, row: row['n']", "float", "-0.0");
  row_value("{\"n\": 0.1}", "lambda x, row: row['n'] * 3", "float", "0.30000000000000004");
  row_value("{\"a\": [1, 2.50, 9007199254740993]}", "lambda x, row: row['a']", "list",
            "[1, 2.5, 9007199254740993]");
  /* a number cJSON built without text: its double */
  cJSON *row = cJSON_CreateObject();
  cJSON_AddNumberToObject(row, "n", 3.0);
  rf_lambda_t *l;
  char err[256];
  const char *src = "lambda x, row: row['n']";
  assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
  rf_lambda_result_t res;
  assert_int_equal(rf_lambda_eval(l, "x", 1, row, &res), 0);
  assert_true(res.ok);
  assert_string_equal(res.type, "int");
  assert_string_equal(res.value, "3");
  rf_lambda_result_clear(&res);
  rf_lambda_free(l);
  cJSON_Delete(row);
}

/* ------------------------------------------------------------------ fast paths */

/* Inputs that each fast path must get exactly right or decline on. */
static const char *const fast_inputs[] = {
    "", " ", "  Hello World  ", "MiXeD Stra\xc3\x9f" "e", "\xc4\xb0stanbul", "\xce\xa3\xce\x91\xce\xa3 x",
    "\xce\x90 \xc5\x89 \xc7\xb0", "a\xc2\x85" "b", "\xc2\xa0 x \xc2\xa0", "\xe2\x80\x80x\xe3\x80\x80",
    "\x1c\x1d" "ab\x1e\x1f", "\xe2\x80\xa8 y", "12.0 oz.", "597.9 oz.", " 1_0.5 ", " inf ", "nan",
    "0x1p3", "-0", "+.5", "1.", ".", "-", "1e5", "1E-7", "1e", "0.00001", "0.0001", "123456789012345",
    "1234567890123456", "00012.500", "\xd9\xa1\xd9\xa2", "$1,234.56", "a:b:c", "::", "aaa",
    "x aa y aa", "\t12\n", "007", "-007", "1__0", "\xf0\x9f\x98\x80 smile", "\xff", "a\xc3",
    "\xed\xa0\x80", "12.5kg", "1e400", "5e-324",
};

static const char *const kernel_src[] = {
    "lambda x: x.strip().lower()", "lambda x: x.lstrip()", "lambda x: x.rstrip().upper()",
    "lambda x: x.casefold()", "lambda x: x.strip(' .$')", "lambda x: x.strip('\xc3\xa9 ')",
    "lambda x: float(x.split()[0])", "lambda x: float(x)", "lambda x: int(x)",
    "lambda x: int(x.split(',')[0])", "lambda x: x.split()[-1]", "lambda x: x.split()[1]",
    "lambda x: x.split(':')[-1]", "lambda x: x.split('aa')[-1]", "lambda x: x.split(' ')[-2]",
    "lambda x: float(x.replace(',', '').replace('$', ''))",
    "lambda x: x.removeprefix('$').removesuffix(' oz.')", "lambda x: re.sub(r'[^0-9.]', '', x)",
    "lambda x: re.sub(r'[^0-9.]+', '-', x)", "lambda x: str(x.upper())",
    "lambda x: int(re.sub(r'[^0-9]', '', x))",
};

static void same_result(const char *what, const char *src, const char *x,
                        const rf_lambda_result_t *a, const rf_lambda_result_t *b) {
  if (a->ok != b->ok || (a->ok && (strcmp(a->type, b->type) != 0 ||
                                   a->value_len != b->value_len ||
                                   (a->value && memcmp(a->value, b->value, a->value_len) != 0))) ||
      (!a->ok && (strcmp(a->error, b->error) != 0 || strcmp(a->message, b->message) != 0)))
    fail_msg("%s: %s on '%s': %s %s / %s %s", what, src, x, a->ok ? a->type : a->error,
             a->ok ? (a->value ? a->value : "None") : a->message, b->ok ? b->type : b->error,
             b->ok ? (b->value ? b->value : "None") : b->message);
}

/* The kernel's result on every input is the tree walker's (the same lambda
 * with its kernel removed), with default and with tiny limits. */
static void test_kernel_equivalence(void **state) {
  (void)state;
  rf_lambda_limits_t lims[3];
  rf_lambda_limits_default(&lims[0]);
  rf_lambda_limits_default(&lims[1]);
  lims[1].max_steps = 30;
  lims[1].max_memory = 600;
  rf_lambda_limits_default(&lims[2]);
  lims[2].max_str_bytes = 9;
  lims[2].max_list_items = 3;
  lims[2].max_int_digits = 2;
  char big[3000];
  memset(big, ' ', sizeof(big) - 1);
  memcpy(big + 1000, "12.5 x", 6);
  big[sizeof(big) - 1] = '\0';
  rf_lambda_ctx_t *c1 = rf_lambda_ctx_new(), *c2 = rf_lambda_ctx_new();
  for (size_t li = 0; li < 3; li++)
    for (size_t s = 0; s < sizeof(kernel_src) / sizeof(kernel_src[0]); s++) {
      rf_lambda_t *fast, *slow;
      char err[256];
      const char *src = kernel_src[s];
      assert_int_equal(rf_lambda_compile(src, strlen(src), &lims[li], &fast, err, sizeof(err)), 0);
      assert_int_equal(rf_lambda_compile(src, strlen(src), &lims[li], &slow, err, sizeof(err)), 0);
      if (li == 0 && !fast->kernel)
        fail_msg("%s: no kernel was built", src);
      slow->kernel = NULL;
      for (size_t i = 0; i <= sizeof(fast_inputs) / sizeof(fast_inputs[0]); i++) {
        const char *x = i < sizeof(fast_inputs) / sizeof(fast_inputs[0]) ? fast_inputs[i] : big;
        rf_lambda_result_t a, b;
        assert_int_equal(rf_lambda_eval_borrow(c1, fast, x, strlen(x), NULL, &a), 0);
        assert_int_equal(rf_lambda_eval_ctx(c2, slow, x, strlen(x), NULL, &b), 0);
        same_result("kernel", src, x, &a, &b);
        rf_lambda_result_clear(&a);
        rf_lambda_result_clear(&b);
      }
      rf_lambda_free(fast);
      rf_lambda_free(slow);
    }
  rf_lambda_ctx_free(c1);
  rf_lambda_ctx_free(c2);
}

/* ------------------------------------------------------------------ batches */

typedef struct batch_log {
  rf_lambda_result_t res[64]; /* owned copies of what the sink saw */
  size_t n;
  size_t stop_at; /* the sink returns 7 at this row (SIZE_MAX: never) */
} batch_log_t;

static int log_row(void *arg, size_t i, const rf_lambda_result_t *res) {
  batch_log_t *b = arg;
  assert_int_equal(i, b->n);
  assert_true(b->n < 64);
  rf_lambda_result_t *r = &b->res[b->n++];
  *r = *res;
  r->borrowed = false;
  if (res->value) { /* borrowed: valid only until the sink returns (the copy is
                      * the test's, outside allocation-failure injection) */
    r->value = malloc(res->value_len + 1);
    assert_non_null(r->value);
    memcpy(r->value, res->value, res->value_len + 1);
  }
  return i == b->stop_at ? 7 : 0;
}

static void log_clear(batch_log_t *b) {
  for (size_t i = 0; i < b->n; i++)
    free(b->res[i].value);
  b->n = 0;
}

/* rf_lambda_eval_batch gives, row by row, rf_lambda_eval_ctx's results: with
 * and without RF_LAMBDA_TRUSTED_UTF8 (trusted only on valid UTF-8), kernels
 * and tree walker, None inputs, rows, errors; a sink's stop value comes back;
 * allocation failures end in RF_ENOMEM with nothing leaked. */
static void test_batch(void **state) {
  (void)state;
  static const char *const more_src[] = {
      "lambda x: x[::-1]", "lambda x: None", "lambda x: len(x)", "lambda x, row: x + str(row['n'])",
      "lambda x, row: row.get('s', 'none')", "lambda x: x.strip() if x else 'empty'",
  };
  enum { NK = sizeof(kernel_src) / sizeof(kernel_src[0]), NM = sizeof(more_src) / sizeof(more_src[0]) };
  const size_t nin = sizeof(fast_inputs) / sizeof(fast_inputs[0]);
  rf_lambda_input_t in[64], valid[64];
  size_t nvalid = 0;
  cJSON *row = cJSON_Parse("{\"n\": 3, \"s\": \"\u00e9t\u00e9\"}");
  assert_non_null(row);
  assert_true(nin + 1 <= 64);
  for (size_t i = 0; i < nin; i++) {
    in[i] = (rf_lambda_input_t){fast_inputs[i], strlen(fast_inputs[i]), i % 2 ? row : NULL};
    if (rf_utf8_valid(in[i].x, in[i].xlen))
      valid[nvalid++] = in[i];
  }
  in[nin] = (rf_lambda_input_t){NULL, 0, row}; /* None */
  valid[nvalid++] = in[nin];
  rf_lambda_ctx_t *cb = rf_lambda_ctx_new(), *cr = rf_lambda_ctx_new();
  batch_log_t *log = calloc(1, sizeof(*log));
  assert_non_null(log);
  for (size_t s = 0; s < NK + NM; s++) {
    const char *src = s < NK ? kernel_src[s] : more_src[s - NK];
    rf_lambda_t *l;
    char err[256];
    assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
    for (int trusted = 0; trusted < 2; trusted++) {
      const rf_lambda_input_t *v = trusted ? valid : in;
      size_t n = trusted ? nvalid : nin + 1;
      log->stop_at = SIZE_MAX;
      assert_int_equal(rf_lambda_eval_batch(cb, l, v, n, trusted ? RF_LAMBDA_TRUSTED_UTF8 : 0,
                                            log_row, log), 0);
      assert_int_equal(log->n, n);
      for (size_t i = 0; i < n; i++) {
        rf_lambda_result_t b;
        assert_int_equal(rf_lambda_eval_ctx(cr, l, v[i].x, v[i].xlen, v[i].row, &b), 0);
        same_result(trusted ? "batch (trusted)" : "batch", src, v[i].x ? v[i].x : "None",
                    &log->res[i], &b);
        assert_int_equal(log->res[i].is_none, b.is_none);
        rf_lambda_result_clear(&b);
      }
      log_clear(log);
    }
    log->stop_at = 2;
    assert_int_equal(rf_lambda_eval_batch(cb, l, in, nin, 0, log_row, log), 7);
    assert_int_equal(log->n, 3);
    log_clear(log);
    rf_lambda_free(l);
  }
  /* allocation failures: tree walker and kernel, each allocation in turn */
  static const char *const walk_src[] = {"lambda x: x[::-1] + x.upper()",
                                         "lambda x: x.strip().lower()"};
  for (size_t s = 0; s < 2; s++) {
    rf_lambda_t *l;
    char err[256];
    assert_int_equal(rf_lambda_compile(walk_src[s], strlen(walk_src[s]), NULL, &l, err,
                                       sizeof(err)), 0);
    bool done = false;
    for (long k = 0; k < 500 && !done; k++) {
      rf_lambda_ctx_t *c = rf_lambda_ctx_new();
      if (!c)
        continue;
      log->stop_at = SIZE_MAX;
      rf_alloc_fail_after(k);
      int rc = rf_lambda_eval_batch(c, l, valid, nvalid, RF_LAMBDA_TRUSTED_UTF8, log_row, log);
      rf_alloc_fail_reset();
      if (rc == 0) {
        assert_int_equal(log->n, nvalid);
        done = true;
      } else {
        assert_int_equal(rc, RF_ENOMEM);
      }
      log_clear(log);
      rf_lambda_ctx_free(c);
    }
    if (!done)
      fail_msg("%s: the batch never succeeded", walk_src[s]);
    rf_lambda_free(l);
  }
  free(log);
  rf_lambda_ctx_free(cb);
  rf_lambda_ctx_free(cr);
  cJSON_Delete(row);
}

/* The fused one-pass kernels ([strip] + case mapping, split()[k] + conversion)
 * against the tree walker on generated values: ASCII, Latin-1 ('\xdf' -> SS,
 * '\xff', '\xb5'), Greek with the capital sigma, CJK, emoji, Unicode
 * whitespace at the edges (U+0085, U+00A0, U+2000, U+3000), empty and
 * all-whitespace values, lengths 0..40, malformed UTF-8 (untrusted only), and
 * limits that put safe_len among the lengths (output growth included:
 * '\xc4\xb0'.lower() and '\xce\x90'.upper() are longer than their input). Each
 * value runs through the batch (trusted when valid) and per row (untrusted). */
static const char *const fused_src[] = {
    "lambda x: x.strip().lower()",  "lambda x: x.strip().upper()",  "lambda x: x.strip().casefold()",
    "lambda x: x.lstrip().lower()", "lambda x: x.rstrip().upper()", "lambda x: x.lstrip().casefold()",
    "lambda x: x.lower()",          "lambda x: x.upper()",          "lambda x: x.casefold()",
    "lambda x: str(x.rstrip().lower())", "lambda x: float(x.split()[0])", "lambda x: int(x.split()[0])",
    "lambda x: x.split()[0]",       "lambda x: x.split()[1]",       "lambda x: float(x.split()[2])",
};

static const char *const fused_pieces[] = {
    "a", "Z", "q", "M", "0", "7", ".", "-", "+", " ", " ", "\t", "\n", "\x1c", "\x0b", "e",
    "\xc3\x9f" /* sharp s */, "\xc3\xbf" /* y diaeresis */, "\xc2\xb5" /* micro */,
    "\xce\xa3" /* capital sigma */, "\xce\xb1", "\xc3\x89", "\xc4\xb0" /* I dot */,
    "\xce\x90" /* iota dialytika tonos */, "\xe4\xb8\xad" /* CJK */, "\xf0\x9f\x98\x80",
    "\xc2\x85", "\xc2\xa0", "\xe2\x80\x80", "\xe3\x80\x80", "\xd0\x96", "\xd5\x87",
    "\xc7\x85" /* titlecase dz */, "Hello", "WORLD", "12.5", "00", "\x00",
};

/* numbers for float(x.split()[k]) / int(...): signs, points, zeros, exponents */
static const char *const fused_num[] = {
    "0", "1", "7", "9", "5", "0", "00", ".", ".", "-", "+", "e", "E", " ", " ", "\t", "_", "x",
    "\xd9\xa1", "\xc2\xa0",
};

static const char *const fused_bad[] = {
    "\xff", "a\xc3", "\xc3(", "\xed\xa0\x80", "\xc0\xaf", " \xe2\x80", "\xc2", "AB\x80" "cd",
};

static void fused_compare(rf_lambda_ctx_t *c1, rf_lambda_ctx_t *c2, const rf_lambda_t *fast,
                          const rf_lambda_t *slow, const char *src, const char *x, size_t xlen,
                          bool valid) {
  rf_lambda_result_t a, b;
  assert_int_equal(rf_lambda_eval_ctx(c2, slow, x, xlen, NULL, &b), 0);
  assert_int_equal(rf_lambda_eval_borrow(c1, fast, x, xlen, NULL, &a), 0);
  same_result("fused", src, x, &a, &b);
  rf_lambda_result_clear(&a);
  if (valid) {
    batch_log_t *log = calloc(1, sizeof(*log));
    assert_non_null(log);
    log->stop_at = SIZE_MAX;
    rf_lambda_input_t in = {x, xlen, NULL};
    assert_int_equal(rf_lambda_eval_batch(c1, fast, &in, 1, RF_LAMBDA_TRUSTED_UTF8, log_row, log), 0);
    assert_int_equal(log->n, 1);
    same_result("fused (trusted batch)", src, x, &log->res[0], &b);
    log_clear(log);
    free(log);
  }
  rf_lambda_result_clear(&b);
}

static void test_fused_equivalence(void **state) {
  (void)state;
  enum { NP = sizeof(fused_pieces) / sizeof(fused_pieces[0]) };
  rf_lambda_limits_t lims[3];
  rf_lambda_limits_default(&lims[0]);
  rf_lambda_limits_default(&lims[1]);
  lims[1].max_str_bytes = 12;
  rf_lambda_limits_default(&lims[2]);
  lims[2].max_memory = 512 + 2 * 1024 + 15 * (2 * 160 + 8); /* safe_len 15 for two operations */
  rf_lambda_ctx_t *c1 = rf_lambda_ctx_new(), *c2 = rf_lambda_ctx_new();
  assert_non_null(c1);
  assert_non_null(c2);
  char x[256];
  for (size_t li = 0; li < 3; li++)
    for (size_t s = 0; s < sizeof(fused_src) / sizeof(fused_src[0]); s++) {
      const char *src = fused_src[s];
      rf_lambda_t *fast, *slow;
      char err[256];
      assert_int_equal(rf_lambda_compile(src, strlen(src), &lims[li], &fast, err, sizeof(err)), 0);
      assert_int_equal(rf_lambda_compile(src, strlen(src), &lims[li], &slow, err, sizeof(err)), 0);
      if (li == 0 && (!fast->kernel || !rf__kernel_fused(fast->kernel)))
        fail_msg("%s: no fused kernel", src);
      slow->kernel = NULL;
      uint32_t seed = 12345u + (uint32_t)s;
      for (int t = 0; t < 1500; t++) {
        /* a deterministic mix: edges of whitespace pieces around a body */
        size_t len = 0, want = (size_t)(t % 41);
        while (len < want) {
          seed = seed * 1103515245u + 12345u;
          uint32_t r = seed >> 8;
          const char *pc = fused_pieces[(t % 3 == 0 ? r % 12 : r) % NP];
          if (t % 5 == 0 && len == 0)
            pc = fused_pieces[26 + r % 4]; /* a Unicode whitespace first */
          size_t pl = strlen(pc) ? strlen(pc) : 1; /* the "\x00" piece is one NUL byte */
          if (len + pl > sizeof(x) - 8)
            break;
          memcpy(x + len, pc, pl);
          len += pl;
        }
        if (t % 7 == 0) { /* trailing Unicode or ASCII whitespace */
          const char *pc = fused_pieces[(t / 7) % 2 ? 26 + (t / 14) % 4 : 10];
          memcpy(x + len, pc, strlen(pc));
          len += strlen(pc);
        }
        x[len] = '\0';
        fused_compare(c1, c2, fast, slow, src, x, len, rf_utf8_valid(x, len));
      }
      enum { NN = sizeof(fused_num) / sizeof(fused_num[0]) };
      for (int t = 0; strstr(src, "split") && t < 3000; t++) {
        size_t len = 0, want = (size_t)(t % 19);
        while (len < want) {
          seed = seed * 1103515245u + 12345u;
          uint32_t r = seed >> 8;
          const char *pc = fused_num[(t % 4 ? r % 7 : r) % NN]; /* mostly digits */
          if (r % 9 == 0)
            pc = fused_num[7 + r % 6]; /* a point, a sign, an exponent or a space */
          memcpy(x + len, pc, strlen(pc));
          len += strlen(pc);
        }
        x[len] = '\0';
        fused_compare(c1, c2, fast, slow, src, x, len, rf_utf8_valid(x, len));
      }
      for (size_t i = 0; i < sizeof(fused_bad) / sizeof(fused_bad[0]); i++) {
        for (int pad = 0; pad < 12; pad += 5) { /* malformed at the start, middle, end */
          size_t bl = strlen(fused_bad[i]);
          memset(x, 'a', (size_t)pad);
          memcpy(x + pad, fused_bad[i], bl);
          memcpy(x + pad + bl, " Mm ", 4);
          fused_compare(c1, c2, fast, slow, src, x, (size_t)pad + bl + 4, false);
          fused_compare(c1, c2, fast, slow, src, x + pad, bl, false);
        }
      }
      rf_lambda_free(fast);
      rf_lambda_free(slow);
    }
  rf_lambda_ctx_free(c1);
  rf_lambda_ctx_free(c2);
}

/* re.sub through the class filter equals re.sub through PCRE2, counts too. */
static void test_refilt_equivalence(void **state) {
  (void)state;
  static const char *const pats[] = {
      "[^0-9.]", "[^0-9.]+", "[0-9]", "[a-z]+", "[\\\\d]", "[^\\\\d]+", "[]a]", "[^]a]",
      "[a-]", "[-a]", "[\\\\]\\\\-]", "[\xc3\xa9-\xc3\xbc]", "[^a-zA-Z0-9 ]", "[\\\\n\\\\t]+", "[.]", "[$,]+",
  };
  static const char *const repls[] = {"''", "'-'", "'\xc3\xa9'", "'ab'"};
  static const char *const counts[] = {"", ", 1", ", 2"};
  rf_lambda_ctx_t *c1 = rf_lambda_ctx_new(), *c2 = rf_lambda_ctx_new();
  for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++)
    for (size_t r = 0; r < 4; r++)
      for (size_t k = 0; k < 3; k++) {
        char src[256];
        snprintf(src, sizeof(src), "lambda x: re.sub('%s', %s, x%s)", pats[p], repls[r], counts[k]);
        rf_lambda_t *fast, *slow;
        char err[256];
        assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &fast, err, sizeof(err)), 0);
        assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &slow, err, sizeof(err)), 0);
        if (!fast->body->refilt)
          fail_msg("%s: the class filter was not used", src);
        slow->kernel = NULL;
        slow->body->refilt = NULL;
        for (size_t i = 0; i < sizeof(fast_inputs) / sizeof(fast_inputs[0]); i++) {
          const char *x = fast_inputs[i];
          rf_lambda_result_t a, b;
          assert_int_equal(rf_lambda_eval_ctx(c1, fast, x, strlen(x), NULL, &a), 0);
          assert_int_equal(rf_lambda_eval_ctx(c2, slow, x, strlen(x), NULL, &b), 0);
          same_result("refilt", src, x, &a, &b);
          rf_lambda_result_clear(&a);
          rf_lambda_result_clear(&b);
        }
        rf_lambda_free(fast);
        rf_lambda_free(slow);
      }
  /* outside the recognised subset: PCRE2 as before */
  static const char *const other[] = {"[\\\\w]", "[\\\\s]+", "[a--]", "[[:alpha:]]", "[a]*",
                                      "[a]+?", "[^]", "[z-a]", "(?i)[a]", "[a]b"};
  for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
    char src[128];
    snprintf(src, sizeof(src), "lambda x: re.sub('%s', '', x)", other[i]);
    rf_lambda_t *l;
    char err[256];
    assert_int_equal(rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err)), 0);
    if (l->body->refilt)
      fail_msg("%s: must not use the class filter", src);
    rf_lambda_free(l);
  }
  rf_lambda_ctx_free(c1);
  rf_lambda_ctx_free(c2);
}

/* ------------------------------------------------------------------ allocation failures */

static const char *const torture_src[] = {
    "lambda x: x.strip().lower()",
    "lambda x, row: f\"{row.get('a', x)!r:>12} {len(x):03d}\"",
    "lambda x: [c.upper() for c in x.split(',') if c] + sorted(x)",
    "lambda x: re.sub(r'(\\d+)', r'<\\1>', x) + str(re.findall('[a-z]', x))",
    "lambda x: datetime.strptime('2024-01-05', '%Y-%m-%d').strftime('%d/%m/%Y') + x",
    "lambda x: '%s %05.1f %x' % (x, 2.5, 255) + '{0:^9}'.format(x) + str(2 ** 100)",
    "lambda x: ''.join(c for c in x.title() if c.isalpha()) * 3",
    "lambda x: (int('123456789012345678901234567890') * 7, round(2.675, 2), x.partition('-'))",
    "lambda x: x.upper().split('-')[1].replace(',', '')",
    "lambda x: re.sub('[^a-z]+', '_', x).upper()",
};

static void test_alloc_failures(void **state) {
  (void)state;
  cJSON *row = cJSON_Parse("{\"a\":\"row-a\",\"b\":[1,2]}");
  for (size_t s = 0; s < sizeof(torture_src) / sizeof(torture_src[0]); s++) {
    const char *src = torture_src[s];
    bool done = false;
    for (long n = 0; n < 5000 && !done; n++) {
      rf_lambda_t *l = NULL;
      char err[256];
      rf_alloc_fail_after(n);
      int rc = rf_lambda_compile(src, strlen(src), NULL, &l, err, sizeof(err));
      if (rc != 0) {
        rf_alloc_fail_reset();
        assert_int_equal(rc, RF_ENOMEM);
        assert_null(l);
        continue;
      }
      rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
      rf_lambda_result_t res;
      memset(&res, 0, sizeof(res));
      if (ctx) {
        rc = rf_lambda_eval_ctx(ctx, l, "ab-12,cd", 8, row, &res);
      } else {
        rc = RF_ENOMEM;
      }
      rf_alloc_fail_reset();
      if (rc == 0) {
        if (!res.ok && strcmp(res.error, "MemoryError") != 0)
          fail_msg("%s with allocation %ld failing: %s %s", src, n, res.error, res.message);
        done = res.ok;
        rf_lambda_result_clear(&res);
      } else {
        assert_int_equal(rc, RF_ENOMEM);
        assert_null(res.value);
      }
      /* the same context works again once memory is back */
      if (ctx) {
        assert_int_equal(rf_lambda_eval_ctx(ctx, l, "ab-12,cd", 8, row, &res), 0);
        assert_true(res.ok);
        rf_lambda_result_clear(&res);
      }
      rf_lambda_ctx_free(ctx);
      rf_lambda_free(l);
    }
    if (!done)
      fail_msg("%s never succeeded", src);
  }
  cJSON_Delete(row);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),   cmocka_unit_test(test_positions),
      cmocka_unit_test(test_limits),  cmocka_unit_test(test_api),
      cmocka_unit_test(test_threads), cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_kernel_equivalence), cmocka_unit_test(test_refilt_equivalence),
      cmocka_unit_test(test_row_numbers), cmocka_unit_test(test_batch),
      cmocka_unit_test(test_fused_equivalence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

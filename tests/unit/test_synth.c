/* test_synth.c - the offline synthesizer: families (tests/data/synth/cases.txt),
 * ambiguity, evidence, determinism, confidence, the generator in a chain,
 * rectifyctl synth's JSON, and allocation-failure walks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/fixgen.h"
#include "rectify/lambda.h"
#include "rectify/metrics.h"
#include "rectify/synth.h"

/* ---- contracts ---- */

typedef struct column {
  rf_contract_t k;
  rf_checker_t *checker;
  char table[64], name[64];
} column_t;

static void column_clear(column_t *c) {
  rf_checker_free(c->checker);
  free(c->k.type);
  free(c->k.format);
  free(c->k.pattern);
  free(c->k.min);
  free(c->k.max);
  for (size_t i = 0; i < c->k.n_allowed; i++)
    free(c->k.allowed[i]);
  free(c->k.allowed);
  memset(c, 0, sizeof(*c));
}

/* "table.column key=value ..." */
static void column_parse(const char *spec, column_t *c) {
  char buf[512];
  snprintf(buf, sizeof(buf), "%s", spec);
  column_clear(c);
  char *save = NULL;
  char *tc = strtok_r(buf, " ", &save);
  char *dot = strchr(tc, '.');
  assert_non_null(dot);
  snprintf(c->table, sizeof(c->table), "%.*s", (int)(dot - tc), tc);
  snprintf(c->name, sizeof(c->name), "%s", dot + 1);
  c->k.table_name = c->table;
  c->k.column_name = c->name;
  for (char *kv = strtok_r(NULL, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(kv, '=');
    assert_non_null(eq);
    *eq = '\0';
    const char *v = eq + 1;
    if (strcmp(kv, "type") == 0)
      c->k.type = strdup(v);
    else if (strcmp(kv, "format") == 0)
      c->k.format = strdup(v);
    else if (strcmp(kv, "pattern") == 0)
      c->k.pattern = strdup(v);
    else if (strcmp(kv, "min") == 0)
      c->k.min = strdup(v);
    else if (strcmp(kv, "max") == 0)
      c->k.max = strdup(v);
    else if (strcmp(kv, "nullable") == 0)
      c->k.nullable = strcmp(v, "yes") == 0;
    else if (strcmp(kv, "allowed") == 0) {
      char a[256];
      snprintf(a, sizeof(a), "%s", v);
      char *s2 = NULL;
      for (char *t = strtok_r(a, ",", &s2); t; t = strtok_r(NULL, ",", &s2)) {
        c->k.allowed = realloc(c->k.allowed, (c->k.n_allowed + 1) * sizeof(char *));
        c->k.allowed[c->k.n_allowed++] = strdup(t);
      }
    } else
      fail_msg("unknown contract key %s", kv);
  }
  if (c->k.format == NULL && c->k.type && strcmp(c->k.type, "date") == 0)
    c->k.format = strdup("%Y-%m-%d");
  if (c->k.format == NULL && c->k.type && strcmp(c->k.type, "timestamp") == 0)
    c->k.format = strdup("%Y-%m-%dT%H:%M:%S");
  char why[256];
  if (rf_checker_new(&c->k, &c->checker, why, sizeof(why)) != 0)
    fail_msg("contract %s: %s", spec, why);
}

static rf_synth_column_t col_of(const column_t *c) {
  return (rf_synth_column_t){c->table, c->name, &c->k, c->checker};
}

/* ---- samples ---- */

typedef struct sampleset {
  cJSON *docs[64];
  rf_synth_sample_t s[64];
  char *want[64];   /* expected output, or NULL */
  bool want_null[64];
  size_t n;
} sampleset_t;

static void samples_clear(sampleset_t *ss) {
  for (size_t i = 0; i < ss->n; i++) {
    cJSON_Delete(ss->docs[i]);
    free(ss->want[i]);
  }
  memset(ss, 0, sizeof(*ss));
}

/* Adds `SAMPLE [-> OUTPUT]`. */
static void samples_add(sampleset_t *ss, const char *line) {
  assert_true(ss->n < 64);
  const char *arrow = strstr(line, " -> ");
  size_t len = arrow ? (size_t)(arrow - line) : strlen(line);
  cJSON *d = cJSON_ParseWithLength(line, len);
  if (d == NULL)
    fail_msg("bad sample line: %s", line);
  size_t i = ss->n++;
  ss->docs[i] = d;
  const cJSON *v = d, *row = NULL;
  if (cJSON_IsObject(d)) {
    v = cJSON_GetObjectItemCaseSensitive(d, "value");
    row = cJSON_GetObjectItemCaseSensitive(d, "row");
  }
  ss->s[i].value = cJSON_IsString(v) ? v->valuestring : NULL;
  ss->s[i].len = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
  ss->s[i].row = row;
  if (arrow) {
    cJSON *w = cJSON_Parse(arrow + 4);
    if (w == NULL)
      fail_msg("bad expected output: %s", line);
    if (cJSON_IsNull(w))
      ss->want_null[i] = true;
    else
      ss->want[i] = strdup(w->valuestring);
    cJSON_Delete(w);
  }
}

static void sample_str(sampleset_t *ss, const char *v) {
  char line[256];
  cJSON *s = cJSON_CreateString(v);
  char *j = cJSON_PrintUnformatted(s);
  snprintf(line, sizeof(line), "%s", j);
  free(j);
  cJSON_Delete(s);
  samples_add(ss, line);
}

/* Runs the candidate's lambda on every sample and compares with the expected
 * outputs. */
static void check_outputs(const rf_fix_candidate_t *cand, const sampleset_t *ss, int line) {
  rf_lambda_t *l = NULL;
  char err[256];
  if (rf_lambda_compile(cand->lambda_src, strlen(cand->lambda_src), NULL, &l, err, sizeof(err)))
    fail_msg("line %d: the lambda does not compile: %s", line, err);
  for (size_t i = 0; i < ss->n; i++) {
    rf_lambda_result_t r;
    assert_int_equal(rf_lambda_eval(l, ss->s[i].value, ss->s[i].len, ss->s[i].row, &r), 0);
    if (!r.ok)
      fail_msg("line %d sample %zu: %s: %s", line, i + 1, r.error, r.message);
    if (ss->want_null[i]) {
      if (!r.is_none)
        fail_msg("line %d sample %zu: got '%s', want None", line, i + 1, r.value);
    } else if (ss->want[i]) {
      if (r.is_none || strcmp(r.value, ss->want[i]) != 0)
        fail_msg("line %d sample %zu: got '%s', want '%s' (lambda %s)", line, i + 1,
                 r.is_none ? "None" : r.value, ss->want[i], cand->lambda_src);
    }
    rf_lambda_result_clear(&r);
  }
  rf_lambda_free(l);
}

/* ---- the table ---- */

typedef struct tcase {
  int line;
  bool fix;
  char expect[128]; /* family, or text of the refusal */
} tcase_t;

static void run_case(const column_t *c, const tcase_t *tc, sampleset_t *ss) {
  rf_synth_column_t col = col_of(c);
  rf_fix_candidate_t *cand = NULL;
  rf_synth_report_t rep;
  char why[1024];
  int rc = rf_synth_find(&col, ss->s, ss->n, NULL, 0, &cand, &rep, why, sizeof(why));
  if (rc)
    fail_msg("line %d: rf_synth_find: %s (%s)", tc->line, rf_strerror(rc), why);
  if (tc->fix) {
    if (cand == NULL)
      fail_msg("line %d: no fix: %s", tc->line, why);
    if (strcmp(cand->pattern_type, tc->expect) != 0)
      fail_msg("line %d: family %s, want %s (lambda %s)", tc->line, cand->pattern_type, tc->expect,
               cand->lambda_src);
    assert_string_equal(cand->generator, "synth");
    assert_true(cand->confidence >= 0.5 && cand->confidence <= 0.99);
    assert_non_null(cand->reasoning);
    assert_true(rep.fitting >= 1 && rep.tried >= rep.fitting);
    check_outputs(cand, ss, tc->line);
  } else {
    if (cand)
      fail_msg("line %d: a fix was proposed where none should be: %s", tc->line, cand->lambda_src);
    if (strstr(why, tc->expect) == NULL)
      fail_msg("line %d: why is \"%s\", want it to mention \"%s\"", tc->line, why, tc->expect);
  }
  rf_fix_candidate_free(cand);
}

static void test_cases_file(void **state) {
  (void)state;
  FILE *f = fopen(RF_TEST_DATA "/synth/cases.txt", "r");
  assert_non_null(f);
  column_t c = {0};
  sampleset_t ss = {0};
  tcase_t tc = {0};
  bool in_case = false;
  char line[1024];
  int lineno = 0, ncases = 0;
  for (;;) {
    char *got = fgets(line, sizeof(line), f);
    if (got) {
      lineno++;
      line[strcspn(line, "\n")] = '\0';
    }
    bool blank = got == NULL || line[0] == '\0';
    if (blank || (got && line[0] != ' ' && line[0] != '#')) {
      if (in_case) {
        run_case(&c, &tc, &ss);
        samples_clear(&ss);
        in_case = false;
        ncases++;
      }
    }
    if (got == NULL)
      break;
    if (blank || line[0] == '#')
      continue;
    if (strncmp(line, "column ", 7) == 0) {
      column_parse(line + 7, &c);
    } else if (strncmp(line, "fix ", 4) == 0 || strncmp(line, "refuse ", 7) == 0) {
      tc.line = lineno;
      tc.fix = line[0] == 'f';
      snprintf(tc.expect, sizeof(tc.expect), "%s", line + (tc.fix ? 4 : 7));
      in_case = true;
    } else if (line[0] == ' ' && in_case) {
      samples_add(&ss, line + strspn(line, " "));
    } else {
      fail_msg("cases.txt:%d: cannot read: %s", lineno, line);
    }
  }
  fclose(f);
  column_clear(&c);
  assert_true(ncases >= 60);
}

/* ---- ambiguity, evidence, determinism, confidence ---- */

static void test_ambiguous_dates_refused(void **state) {
  (void)state;
  column_t c = {0};
  column_parse("orders.order_date type=date", &c);
  sampleset_t ss = {0};
  sample_str(&ss, "03/04/2024");
  rf_synth_column_t col = col_of(&c);
  rf_fix_candidate_t *cand = NULL;
  rf_synth_report_t rep;
  char why[1024];
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, NULL, 0, &cand, &rep, why, sizeof(why)), 0);
  assert_null(cand);
  assert_non_null(strstr(why, "ambiguous"));
  assert_non_null(strstr(why, "%m/%d/%Y"));
  assert_non_null(strstr(why, "%d/%m/%Y"));
  assert_true(rep.rivals >= 1);

  /* Evidence rows that all fit both formats do not decide either. */
  sampleset_t ev = {0};
  sample_str(&ev, "01/02/2023");
  sample_str(&ev, "05/06/2022");
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, ev.s, ev.n, &cand, &rep, why, sizeof(why)), 0);
  assert_null(cand);
  assert_non_null(strstr(why, "do not decide"));

  /* One row with a day above 12 does: %m/%d/%Y fixes it, %d/%m/%Y does not. */
  sample_str(&ev, "03/15/2024");
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, ev.s, ev.n, &cand, &rep, why, sizeof(why)), 0);
  assert_non_null(cand);
  assert_non_null(strstr(cand->lambda_src, "'%m/%d/%Y'"));
  assert_int_equal(rep.eliminated, 1);
  assert_int_equal(rep.evidence, 3);
  assert_int_equal(rep.evidence_fixed, 3);
  rf_fix_candidate_free(cand);

  /* Rows that each favour another reading: refused. */
  sample_str(&ev, "15/03/2024");
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, ev.s, ev.n, &cand, &rep, why, sizeof(why)), 0);
  assert_null(cand);
  assert_non_null(strstr(why, "ambiguous"));
  samples_clear(&ev);
  samples_clear(&ss);
  column_clear(&c);
}

static char *find_lambda(const column_t *c, const sampleset_t *ss, double *conf) {
  rf_synth_column_t col = col_of(c);
  rf_fix_candidate_t *cand = NULL;
  char why[1024];
  assert_int_equal(rf_synth_find(&col, ss->s, ss->n, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
  if (cand == NULL)
    fail_msg("no fix: %s", why);
  char *s = strdup(cand->lambda_src);
  if (conf)
    *conf = cand->confidence;
  rf_fix_candidate_free(cand);
  return s;
}

static void test_deterministic(void **state) {
  (void)state;
  static const char *const vals[] = {"$1,234.56", "$12.34", "$7.00", "$999.99"};
  column_t c = {0};
  column_parse("payments.amount type=decimal", &c);
  char *first = NULL;
  /* every rotation of the samples, twice: the same lambda */
  for (int round = 0; round < 2; round++)
    for (size_t rot = 0; rot < 4; rot++) {
      sampleset_t ss = {0};
      for (size_t i = 0; i < 4; i++)
        sample_str(&ss, vals[(i + rot) % 4]);
      char *l = find_lambda(&c, &ss, NULL);
      if (first == NULL)
        first = l;
      else {
        assert_string_equal(l, first);
        free(l);
      }
      samples_clear(&ss);
    }
  free(first);
  column_clear(&c);
}

static void test_confidence_grows_with_samples(void **state) {
  (void)state;
  static const char *const vals[] = {"03/15/2024", "11/22/2023", "01/30/2020", "12/31/2021",
                                     "06/13/2022"};
  column_t c = {0};
  column_parse("orders.order_date type=date", &c);
  double prev = 0;
  for (size_t n = 1; n <= 5; n++) {
    sampleset_t ss = {0};
    for (size_t i = 0; i < n; i++)
      sample_str(&ss, vals[i]);
    double conf;
    free(find_lambda(&c, &ss, &conf));
    assert_true(conf > prev);
    prev = conf;
    samples_clear(&ss);
  }
  assert_true(prev >= 0.9);
  column_clear(&c);
}

static void test_percent_by_range(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *want; /* output of "12.5%", or NULL: refused */
  } t[] = {
      {"s.r type=decimal min=0 max=1", "0.125"},
      {"s.r type=decimal max=1.0", "0.125"},
      {"s.r type=decimal min=0 max=100", "12.5"},
      {"s.r type=decimal min=0 max=1000", "12.5"},
      {"s.r type=decimal min=0", NULL},
      {"s.r type=decimal min=0 max=50", NULL},
  };
  for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
    column_t c = {0};
    column_parse(t[k].spec, &c);
    sampleset_t ss = {0};
    sample_str(&ss, "12.5%");
    sample_str(&ss, "3%");
    rf_synth_column_t col = col_of(&c);
    rf_fix_candidate_t *cand = NULL;
    char why[1024];
    assert_int_equal(rf_synth_find(&col, ss.s, ss.n, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
    if (t[k].want == NULL) {
      if (cand)
        fail_msg("%s: proposed %s", t[k].spec, cand->lambda_src);
      assert_non_null(strstr(why, "ambiguous"));
    } else {
      if (cand == NULL)
        fail_msg("%s: %s", t[k].spec, why);
      ss.want[0] = strdup(t[k].want);
      check_outputs(cand, &ss, (int)k);
      rf_fix_candidate_free(cand);
    }
    samples_clear(&ss);
    column_clear(&c);
  }
}

static void test_nullable_placeholders(void **state) {
  (void)state;
  column_t c = {0};
  column_parse("customers.country type=enum allowed=US,FR,DE,GB nullable=yes", &c);
  sampleset_t ss = {0};
  samples_add(&ss, "\"N/A\"");
  samples_add(&ss, "null");
  samples_add(&ss, "\"  unknown \"");
  samples_add(&ss, "\"\"");
  char *l = find_lambda(&c, &ss, NULL);
  assert_non_null(strstr(l, "None if x is None or x.strip().lower() in ("));
  /* the lambda maps every placeholder spelling, including unseen ones */
  rf_lambda_t *lam;
  char err[200];
  assert_int_equal(rf_lambda_compile(l, strlen(l), NULL, &lam, err, sizeof(err)), 0);
  static const char *const more[] = {"NULL", "-", "n.a.", "#N/A", "none"};
  for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
    rf_lambda_result_t r;
    assert_int_equal(rf_lambda_eval(lam, more[i], strlen(more[i]), NULL, &r), 0);
    assert_true(r.ok && r.is_none);
    rf_lambda_result_clear(&r);
  }
  rf_lambda_free(lam);
  free(l);
  samples_clear(&ss);
  column_clear(&c);

  /* not nullable: refused */
  column_parse("customers.country type=enum allowed=US,FR,DE,GB", &c);
  samples_add(&ss, "\"N/A\"");
  rf_synth_column_t col = col_of(&c);
  rf_fix_candidate_t *cand = NULL;
  char why[1024];
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
  assert_null(cand);
  assert_non_null(strstr(why, "not nullable"));
  samples_clear(&ss);
  column_clear(&c);
}

static void test_row_neighbour(void **state) {
  (void)state;
  column_t c = {0};
  column_parse("s.first_name type=string pattern=[A-Z][a-z]+", &c);
  sampleset_t ss = {0};
  /* first_name empty; the row's first_name_full has "John Smith" */
  samples_add(&ss, "{\"value\":\"\",\"row\":{\"first_name_full\":\"John Smith\",\"city\":\"Paris\"}}");
  samples_add(&ss, "{\"value\":null,\"row\":{\"first_name_full\":\"Jane Doe\",\"city\":\"Rome\"}}");
  rf_synth_column_t col = col_of(&c);
  rf_fix_candidate_t *cand = NULL;
  char why[1024];
  /* both parts are names: which one is the first name is not decided */
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
  assert_null(cand);
  assert_non_null(strstr(why, "ambiguous"));
  samples_clear(&ss);
  /* with a pattern that only the first part satisfies, it is */
  column_parse("s.first_name type=string pattern=J[a-z]+", &c);
  col = col_of(&c);
  samples_add(&ss, "{\"value\":\"\",\"row\":{\"first_name_full\":\"John Smith\"}} -> \"John\"");
  samples_add(&ss, "{\"value\":null,\"row\":{\"first_name_full\":\"Jane Doe\"}} -> \"Jane\"");
  assert_int_equal(rf_synth_find(&col, ss.s, ss.n, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
  if (cand == NULL)
    fail_msg("%s", why);
  assert_string_equal(cand->pattern_type, "row_field");
  assert_non_null(strstr(cand->lambda_src, "lambda x, row:"));
  assert_non_null(strstr(cand->lambda_src, "row['first_name_full'].split()[0]"));
  check_outputs(cand, &ss, __LINE__);
  rf_fix_candidate_free(cand);
  samples_clear(&ss);
  column_clear(&c);
}

static void test_bad_arguments(void **state) {
  (void)state;
  column_t c = {0};
  column_parse("orders.order_date type=date", &c);
  rf_synth_column_t col = col_of(&c);
  rf_fix_candidate_t *cand = (rf_fix_candidate_t *)1;
  char why[256];
  assert_int_equal(rf_synth_find(&col, NULL, 0, NULL, 0, &cand, NULL, why, sizeof(why)),
                   RF_EINVAL);
  assert_null(cand);
  assert_non_null(strstr(why, "samples"));
  rf_synth_column_t nocontract = {"t", "c", NULL, NULL};
  rf_synth_sample_t s = {"x", 1, NULL};
  assert_int_equal(rf_synth_find(&nocontract, &s, 1, NULL, 0, &cand, NULL, why, sizeof(why)),
                   RF_EINVAL);
  assert_non_null(strstr(why, "no contract"));
  /* already valid: nothing to fix, nothing proposed */
  rf_synth_sample_t ok = {"2024-03-05", 10, NULL};
  assert_int_equal(rf_synth_find(&col, &ok, 1, NULL, 0, &cand, NULL, why, sizeof(why)), 0);
  assert_null(cand);
  column_clear(&c);
}

/* ---- the generator in a chain ---- */

typedef struct got {
  int calls, status;
  rf_fix_candidate_t *cand;
  char why[1024];
} got_t;

static void on_fix(int status, rf_fix_candidate_t *cand, const char *why_none, void *arg) {
  got_t *g = arg;
  g->calls++;
  g->status = status;
  g->cand = cand;
  snprintf(g->why, sizeof(g->why), "%s", why_none ? why_none : "");
}

static rf_anomaly_t *mk(const char *v) {
  rf_anomaly_t *a = calloc(1, sizeof(*a));
  a->value = v ? strdup(v) : NULL;
  a->value_len = v ? strlen(v) : 0;
  return a;
}

static void test_generator(void **state) {
  (void)state;
  column_t c = {0};
  column_parse("orders.order_date type=date min=2000-01-01", &c);
  rf_anomaly_t *rows[40];
  char v[32];
  for (int i = 0; i < 40; i++) {
    snprintf(v, sizeof(v), "%02d/%02d/20%02d", 1 + i % 12, 1 + (i * 7) % 28, 10 + i % 10);
    rows[i] = mk(v);
  }
  rf_clustering_t cl;
  assert_int_equal(rf_cluster_build("orders", "order_date", rows, 40, &cl), 0);
  assert_int_equal(cl.n, 1);
  rf_model_stats_t stats = {0};
  rf_fixchain_t *chain = rf_fixchain_new();
  void *g = rf_fixgen_synth_new(NULL, 0.75, &stats);
  assert_non_null(g);
  assert_int_equal(rf_fixchain_add(chain, &rf_fixgen_synth_ops, g), 0);
  rf_fix_request_t req = {"orders", "order_date", &c.k, &cl.clusters[0]};
  got_t got = {0};
  assert_int_equal(rf_fixchain_run(chain, &req, on_fix, &got), 0);
  assert_int_equal(got.calls, 1); /* synchronous */
  assert_int_equal(got.status, 0);
  assert_non_null(got.cand);
  assert_string_equal(got.cand->generator, "synth");
  assert_non_null(got.cand->fix_id);
  char id[33];
  rf_fix_id("orders", "order_date", cl.clusters[0].fingerprint, got.cand->lambda_src, id);
  assert_string_equal(got.cand->fix_id, id);
  assert_non_null(strstr(got.cand->lambda_src, "%m/%d/%Y"));
  assert_int_equal(stats.synth_fixes, 1);
  rf_fix_candidate_free(got.cand);

  /* A cluster it cannot fix: no proposal, the reason says why, nothing counted. */
  rf_anomaly_t *bad[3] = {mk("hello"), mk("world"), mk("again")};
  rf_clustering_t cl2;
  assert_int_equal(rf_cluster_build("orders", "order_date", bad, 3, &cl2), 0);
  req.cluster = &cl2.clusters[0];
  memset(&got, 0, sizeof(got));
  assert_int_equal(rf_fixchain_run(chain, &req, on_fix, &got), 0);
  assert_int_equal(got.calls, 1);
  assert_null(got.cand);
  assert_non_null(strstr(got.why, "synth: "));
  assert_int_equal(stats.synth_fixes, 1);

  /* A contract-less column. */
  req.contract = NULL;
  memset(&got, 0, sizeof(got));
  assert_int_equal(rf_fixchain_run(chain, &req, on_fix, &got), 0);
  assert_null(got.cand);
  assert_non_null(strstr(got.why, "no contract"));

  /* min_confidence above what one sample gives: declined (the model may try). */
  rf_fixchain_free(chain);
  chain = rf_fixchain_new();
  assert_int_equal(rf_fixchain_add(chain, &rf_fixgen_synth_ops,
                                   rf_fixgen_synth_new(NULL, 0.999, &stats)), 0);
  req.contract = &c.k;
  req.cluster = &cl.clusters[0];
  memset(&got, 0, sizeof(got));
  assert_int_equal(rf_fixchain_run(chain, &req, on_fix, &got), 0);
  assert_null(got.cand);
  assert_non_null(strstr(got.why, "low_confidence"));
  assert_int_equal(stats.rejections, 1);

  rf_fixchain_free(chain);
  rf_clustering_free(&cl);
  rf_clustering_free(&cl2);
  for (int i = 0; i < 40; i++) {
    rf_anomaly_clear(rows[i]);
    free(rows[i]);
  }
  for (int i = 0; i < 3; i++) {
    rf_anomaly_clear(bad[i]);
    free(bad[i]);
  }
  column_clear(&c);
}

/* ---- rectifyctl synth ---- */

static rf_config_t *load_conf(void) {
  char path[] = "/tmp/rf-synth-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("[column \"orders.order_date\"]\ntype = date\nmin = 2000-01-01\n", f);
  fclose(f);
  char err[512];
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg == NULL)
    fail_msg("%s", err);
  return cfg;
}

static void test_explain(void **state) {
  (void)state;
  rf_config_t *cfg = load_conf();
  rf_buf_t out = RF_BUF_INIT;
  char err[512];
  const char *in = "\"03/15/2024\"\n\n{\"value\":\"11/02/2023\",\"row\":{\"a\":1}}\n";
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", in, strlen(in), &out, err,
                                    sizeof(err)), 0);
  cJSON *j = cJSON_Parse(out.data);
  assert_non_null(j);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
  assert_string_equal(cJSON_GetObjectItem(j, "family")->valuestring, "date_format");
  assert_non_null(strstr(cJSON_GetObjectItem(j, "lambda")->valuestring, "%m/%d/%Y"));
  cJSON *s = cJSON_GetObjectItem(j, "samples");
  assert_int_equal(cJSON_GetArraySize(s), 2);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 1), "output")->valuestring,
                      "2023-11-02");
  cJSON_Delete(j);

  rf_buf_reset(&out);
  in = "\"03/04/2024\"\n";
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", in, strlen(in), &out, err,
                                    sizeof(err)), 1);
  j = cJSON_Parse(out.data);
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
  assert_non_null(strstr(cJSON_GetObjectItem(j, "why")->valuestring, "ambiguous"));
  cJSON_Delete(j);

  rf_buf_reset(&out);
  in = "\"03/04/2024\"\n12\n";
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", in, strlen(in), &out, err,
                                    sizeof(err)), RF_EPARSE);
  assert_non_null(strstr(err, "line 2"));
  in = "\"03/04/2024\"\n{\"row\":{}}\n";
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", in, strlen(in), &out, err,
                                    sizeof(err)), RF_EPARSE);
  in = "not json\n";
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", in, strlen(in), &out, err,
                                    sizeof(err)), RF_EPARSE);
  assert_non_null(strstr(err, "line 1"));
  assert_int_equal(rf_synth_explain(cfg, "orders", "order_date", "\n\n", 2, &out, err,
                                    sizeof(err)), RF_EINVAL);
  assert_int_equal(rf_synth_explain(cfg, "orders", "nope", "\"x\"", 3, &out, err, sizeof(err)),
                   RF_EINVAL);
  assert_non_null(strstr(err, "orders.nope"));
  rf_buf_free(&out);
  rf_config_free(cfg);
}

/* ---- allocation failures ---- */

static void walk(const char *spec, const char *const *vals, size_t n, const char *const *ev,
                 size_t nev) {
  column_t c = {0};
  column_parse(spec, &c);
  sampleset_t ss = {0}, es = {0};
  for (size_t i = 0; i < n; i++)
    samples_add(&ss, vals[i]);
  for (size_t i = 0; i < nev; i++)
    sample_str(&es, ev[i]);
  rf_synth_column_t col = col_of(&c);
  char *want = NULL;
  {
    rf_fix_candidate_t *cand = NULL;
    char why[1024];
    assert_int_equal(rf_synth_find(&col, ss.s, ss.n, es.s, es.n, &cand, NULL, why, sizeof(why)), 0);
    if (cand == NULL)
      fail_msg("%s: %s", spec, why);
    want = strdup(cand->lambda_src);
    rf_fix_candidate_free(cand);
  }
  for (long k = 0;; k++) {
    rf_fix_candidate_t *cand = NULL;
    char why[1024];
    rf_alloc_fail_after(k);
    int rc = rf_synth_find(&col, ss.s, ss.n, es.s, es.n, &cand, NULL, why, sizeof(why));
    rf_alloc_fail_reset();
    if (rc == 0 && cand) {
      assert_string_equal(cand->lambda_src, want);
      rf_fix_candidate_free(cand);
      break;
    }
    if (rc != RF_ENOMEM)
      fail_msg("%s: allocation %ld failed: rc %d, cand %p, why %s", spec, k, rc, (void *)cand, why);
    assert_null(cand);
    assert_true(k < 2000000);
  }
  free(want);
  samples_clear(&ss);
  samples_clear(&es);
  column_clear(&c);
}

static void test_alloc_failures(void **state) {
  (void)state;
  static const char *const dates[] = {"\"03/04/2024\"", "\"01/02/2023\""};
  static const char *const dev[] = {"03/15/2024", "12/31/2020"};
  walk("orders.order_date type=date", dates, 2, dev, 2);
  static const char *const money[] = {"\"$1,234.56\"", "\" $12.34 \""};
  walk("payments.amount type=decimal", money, 2, NULL, 0);
  static const char *const weights[] = {"\"12 ounces\"", "\"3 g\""};
  walk("products.weight_g type=decimal min=0", weights, 2, NULL, 0);
  static const char *const countries[] = {"\"usa\"", "\"none\"", "\"U.K.\""};
  walk("customers.country type=enum allowed=US,GB nullable=yes", countries, 3, NULL, 0);
  static const char *const emails[] = {"\"mailto:A.B@example.com\"", "\"mailto:C@example.org\""};
  walk("customers.email type=email", emails, 2, NULL, 0);
  static const char *const rows[] = {"{\"value\":null,\"row\":{\"city_zip\":\"Springfield, 12345\"}}",
                                     "{\"value\":\"\",\"row\":{\"city_zip\":\"Rome, 00100\"}}"};
  walk("s.city type=string pattern=[A-Z][a-z]+", rows, 2, NULL, 0);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases_file),
      cmocka_unit_test(test_ambiguous_dates_refused),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_confidence_grows_with_samples),
      cmocka_unit_test(test_percent_by_range),
      cmocka_unit_test(test_nullable_placeholders),
      cmocka_unit_test(test_row_neighbour),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_generator),
      cmocka_unit_test(test_explain),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_cluster_methods.c - keys, format view, chains, merges, embed plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/cluster_method.h"
#include "rectify/error.h"

/* ---- keys ---- */

static void fp_is(const char *v, size_t len, const char *want) {
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_cluster_fingerprint_key(v, len, &b), 0);
  assert_non_null(b.data);
  if (strcmp(b.data, want) != 0)
    fail_msg("fingerprint(\"%s\") = \"%s\", want \"%s\"", v ? v : "NULL", b.data, want);
  rf_buf_free(&b);
}
#define FP(v, want) fp_is((v), sizeof(v) - 1, (want))

static void test_fingerprint(void **state) {
  (void)state;
  FP("12.0 oz", "120 oz");
  FP("12 ounce", "12 ounce");
  FP("16.0 OZ.", "160 oz");
  FP("N/A", "na");
  FP("n.a.", "na");
  FP("none", "none");
  FP("-", "");
  FP("", "");
  FP("   ", "");
  fp_is(NULL, 0, RF_CLUSTER_NULL_KEY);
  FP("  Caf\xc3\xa9, CAFE cafe ", "cafe");          /* accents, case, dedupe */
  FP("\xc3\x85ngstr\xc3\xb6m", "angstrom");         /* precomposed letters fold */
  FP("na\xc3\xafve caf\xc3\xa9", "cafe naive");     /* tokens sorted */
  FP("\xef\xac\x81ne", "fine");                     /* NFKD: the fi ligature */
  FP("\xe2\x80\x9cquoted\xe2\x80\x9d", "quoted");   /* Unicode punctuation */
  FP("a\xe2\x80\x8b" "b", "ab");                    /* zero-width space (Cf) dropped */
  FP("a\xc2\xa0" "b", "a b");                       /* no-break space separates */
  FP("\xe2\x82\xac" "5", "\xe2\x82\xac" "5");       /* symbols stay, as in OpenRefine */
  FP("a\x01" "b\tc\nd", "ab c d");                  /* controls dropped, whitespace splits */
  FP("b a b A", "a b");
  FP("Stra\xc3\x9f" "e", "stra\xc3\x9f" "e");       /* no decomposition: kept */
  /* Invalid UTF-8 is read as U+FFFD, never crashes; a NUL inside is a control. */
  fp_is("x\xff y", 5, "x\xef\xbf\xbd y");
  fp_is("a\0b", 3, "ab");
}

static void ng_is(const char *v, size_t len, unsigned n, const char *want) {
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_cluster_ngram_key(v, len, n, &b), 0);
  if (strcmp(b.data, want) != 0)
    fail_msg("ngram%u(\"%s\") = \"%s\", want \"%s\"", n, v ? v : "NULL", b.data, want);
  rf_buf_free(&b);
}
#define NG(v, n, want) ng_is((v), sizeof(v) - 1, (n), (want))

static void test_ngram(void **state) {
  (void)state;
  NG("Paris", 2, "arispari");      /* ar is pa ri */
  NG("N/A", 2, "na");
  NG("n.a.", 2, "na");
  NG("none", 2, "nenoon");         /* ne no on */
  NG("12 oz", 2, "122ooz");        /* whitespace dropped: 12 2o oz */
  NG("12oz", 2, "122ooz");
  NG("16.0 OZ.", 2, "0o1660oz");   /* 0o 16 60 oz */
  NG("aab", 1, "ab");
  NG("a", 2, "a");                 /* shorter than one gram: itself */
  NG("", 2, "");
  NG("-", 3, "");
  ng_is(NULL, 0, 2, RF_CLUSTER_NULL_KEY);
  NG("\xc3\xa9" "a", 2, "ea");     /* accents fold before the grams */
  NG("\xc3\xa9t\xc3\xa9", 3, "ete");
  NG("abcabc", 3, "abcbcacab");    /* abc bca cab, deduped */
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_cluster_ngram_key("abc", 3, 0, &b), RF_EINVAL);
  assert_int_equal(rf_cluster_ngram_key("abc", 3, RF_CLUSTER_NGRAM_MAX + 1, &b), RF_EINVAL);
  rf_buf_free(&b);
  /* Many grams (more than fit on the stack). */
  char longv[400];
  for (int i = 0; i < 399; i++)
    longv[i] = (char)('a' + (i * 7) % 26);
  longv[399] = '\0';
  rf_buf_t x = RF_BUF_INIT, y = RF_BUF_INIT;
  assert_int_equal(rf_cluster_ngram_key(longv, 399, 2, &x), 0);
  assert_int_equal(rf_cluster_ngram_key(longv, 399, 2, &y), 0);
  assert_string_equal(x.data, y.data);
  assert_true(x.len % 2 == 0 && x.len <= 26 * 2 * 26);
  rf_buf_free(&x);
  rf_buf_free(&y);
}

static void test_method_init(void **state) {
  (void)state;
  rf_cluster_method_t m;
  assert_int_equal(rf_cluster_method_init(&m, "shape", 0), 0);
  assert_int_equal(m.kind, RF_CLUSTER_SHAPE);
  assert_int_equal(rf_cluster_method_init(&m, "ngram", 0), 0);
  assert_int_equal(m.n, RF_CLUSTER_NGRAM_DEFAULT);
  assert_int_equal(rf_cluster_method_init(&m, "ngram", 9), RF_ERANGE);
  assert_int_equal(rf_cluster_method_init(&m, "fingerprint", 2), RF_ERANGE);
  assert_int_equal(rf_cluster_method_init(&m, "soundex", 0), RF_ENOTFOUND);
  /* Through the interface, the same keys as the direct calls. */
  const char *vals[] = {"12.0 oz", "16.0 OZ.", "N/A", "", "\xc3\xa9t\xc3\xa9"};
  const char *names[] = {"shape", "fingerprint", "ngram"};
  for (size_t k = 0; k < 3; k++) {
    assert_int_equal(rf_cluster_method_init(&m, names[k], 0), 0);
    for (size_t i = 0; i < 5; i++) {
      rf_buf_t a = RF_BUF_INIT, b = RF_BUF_INIT;
      assert_int_equal(m.key(&m, vals[i], strlen(vals[i]), &a), 0);
      if (k == 0)
        rf_shape_fingerprint(vals[i], strlen(vals[i]), &b);
      else if (k == 1)
        rf_cluster_fingerprint_key(vals[i], strlen(vals[i]), &b);
      else
        rf_cluster_ngram_key(vals[i], strlen(vals[i]), 2, &b);
      assert_string_equal(a.data, b.data);
      rf_buf_free(&a);
      rf_buf_free(&b);
    }
  }
}

static void view_is(const char *v, const char *numbers, const char *text) {
  rf_buf_t n = RF_BUF_INIT, t = RF_BUF_INIT;
  assert_int_equal(rf_cluster_format_view(v, strlen(v), &n, &t), 0);
  if (strcmp(n.data, numbers) != 0 || strcmp(t.data, text) != 0)
    fail_msg("view(\"%s\") = \"%s\" + \"%s\", want \"%s\" + \"%s\"", v, n.data, t.data, numbers,
             text);
  rf_buf_free(&n);
  rf_buf_free(&t);
}

static void fkey_is(const char *method, const char *v, const char *want) {
  rf_cluster_method_t m;
  assert_int_equal(rf_cluster_method_init(&m, method, 0), 0);
  rf_buf_t s = RF_BUF_INIT, out = RF_BUF_INIT;
  assert_int_equal(rf_cluster_format_key(&m, v, v ? strlen(v) : 0, &s, &out), 0);
  if (strcmp(out.data, want) != 0)
    fail_msg("%s format key(\"%s\") = \"%s\", want \"%s\"", method, v ? v : "NULL", out.data,
             want);
  rf_buf_free(&s);
  rf_buf_free(&out);
}

static void test_format_view(void **state) {
  (void)state;
  view_is("03/15/2024", "0/0/00", " ");
  view_is("2024/03/15", "00/0/0", " ");    /* the year's place is format */
  view_is("03/15/24", "0/0/0", " ");
  view_is("15.03.2024", "0.0.00", " ");
  view_is("$1,234.56", "$00.0", " ");      /* grouping joins the run */
  view_is("$12.50", "$0.0", " ");
  view_is("$123.45", "$00.0", " ");
  view_is("1.234,56 \xe2\x82\xac", "00,0", "  \xe2\x82\xac");
  view_is("1,234,567", "00", " ");
  view_is("1,234", "0,00", " ");           /* ambiguous: not grouping */
  view_is("(12.50)", "(0.0)", " ");        /* a negative keeps its parentheses */
  view_is("12.0 OZ.", "0.0", "  OZ.");
  view_is("N/A", "", "N/A");
  view_is("March 15, 2024", "0, 00", "March    ");
  view_is("", "", "");
  fkey_is("fingerprint", "12.0 oz", "0.0|oz");
  fkey_is("fingerprint", "16.0 OZ.", "0.0|oz");
  fkey_is("fingerprint", "12 ounce", "0|ounce");
  fkey_is("fingerprint", "N/A", "|na");
  fkey_is("fingerprint", "n.a.", "|na");
  fkey_is("fingerprint", "-", "|");
  fkey_is("fingerprint", "$12.50", "$0.0|");
  fkey_is("fingerprint", "(12.50)", "(0.0)|");    /* not the same as $12.50 */
  fkey_is("fingerprint", "15.03.2024", "0.0.00|"); /* not the same as 03/15/2024 */
  fkey_is("fingerprint", "MARCH 15, 2024", "0, 00|march");
  fkey_is("fingerprint", NULL, RF_CLUSTER_NULL_KEY);
  fkey_is("ngram", "12.0oz", "0.0|oz");
  fkey_is("ngram", "12.0 O Z", "0.0|oz");
  fkey_is("shape", "12.0 OZ", "0.0| A");
  fkey_is("shape", "12", "0| "); /* the token left a space */

  rf_cluster_method_t fp, ng;
  rf_cluster_method_init(&fp, "fingerprint", 0);
  rf_cluster_method_init(&ng, "ngram", 2);
  rf_buf_t s = RF_BUF_INIT, out = RF_BUF_INIT;
  assert_int_equal(rf_cluster_folded_shape(&fp, " John.DOE@X.com\t", 16, &s, &out), 0);
  assert_string_equal(out.data, "a.a@a.a");
  rf_buf_reset(&out);
  assert_int_equal(rf_cluster_folded_shape(&ng, " a b ", 5, &s, &out), 0);
  assert_string_equal(out.data, "a");
  rf_buf_reset(&out);
  assert_int_equal(rf_cluster_folded_shape(&fp, " a b ", 5, &s, &out), 0);
  assert_string_equal(out.data, "a a");
  rf_buf_free(&s);
  rf_buf_free(&out);
}

/* ---- vectors and the embed plan ---- */

static void test_vectors(void **state) {
  (void)state;
  float a[8], b[8];
  /* " ab " has trigrams " ab" and "ab ": pinned so that the fake Ollama's
   * Python port can be checked against the same numbers. */
  rf_cluster_vector("ab", 2, a, 8);
  const float want[8] = {-0.70710678f, 0, 0, 0, 0, 0, 0.70710678f, 0};
  for (int i = 0; i < 8; i++)
    assert_true(fabsf(a[i] - want[i]) < 1e-6f);
  rf_cluster_vector("AB", 2, b, 8);
  assert_memory_equal(a, b, sizeof(a));
  /* "" has no trigram: the two-byte frame is hashed whole (2982523533 % 8 = 5, bit 31 set). */
  rf_cluster_vector("", 0, a, 8);
  for (int i = 0; i < 8; i++)
    assert_true(fabsf(a[i] - (i == 5 ? -1.0f : 0.0f)) < 1e-6f);
  float n64[64], c[64];
  rf_cluster_vector(NULL, 0, n64, 64);
  rf_cluster_vector(RF_CLUSTER_NULL_KEY, strlen(RF_CLUSTER_NULL_KEY), c, 64);
  assert_memory_equal(n64, c, sizeof(c));
  double norm = 0;
  for (int i = 0; i < 64; i++)
    norm += (double)c[i] * c[i];
  assert_true(fabs(norm - 1) < 1e-6);
  float z[4] = {0, 0, 0, 0}, o[4] = {1, 0, 0, 0};
  assert_true(rf_cluster_cosine(z, o, 4) == 0);
  assert_true(fabs(rf_cluster_cosine(o, o, 4) - 1) < 1e-12);
  /* Similar strings are closer than different ones. */
  float x[256], y[256], w[256];
  rf_cluster_vector("12.0 oz", 7, x, 256);
  rf_cluster_vector("16.0 oz", 7, y, 256);
  rf_cluster_vector("03/15/2024", 10, w, 256);
  assert_true(rf_cluster_cosine(x, y, 256) > rf_cluster_cosine(x, w, 256));
  float mean[2], reps[4] = {1, 0, 0, 1};
  rf_cluster_mean_vector(reps, 2, 2, mean);
  assert_true(fabsf(mean[0] - 0.70710678f) < 1e-6f && fabsf(mean[1] - 0.70710678f) < 1e-6f);
}

static void unit2(float *v, double deg) {
  v[0] = (float)cos(deg * M_PI / 180);
  v[1] = (float)sin(deg * M_PI / 180);
}

static void test_embed_plan(void **state) {
  (void)state;
  /* a, b, c at 0, 15 and 35 degrees: a~b 0.966, b~c 0.940, a~c 0.819.
   * Single link would chain all three at 0.9; average link joins a and b,
   * then {a,b}~c = (0.819 + 0.940) / 2 = 0.879 < 0.9. */
  float v[4 * 2];
  unit2(v, 0);
  unit2(v + 2, 15);
  unit2(v + 4, 35);
  unit2(v + 6, 180);
  size_t group[4], nl;
  rf_cluster_link_t links[3];
  assert_int_equal(rf_cluster_embed_plan(v, 4, 2, 0.9, group, links, &nl), 0);
  assert_int_equal(nl, 1);
  assert_int_equal(links[0].a, 0);
  assert_int_equal(links[0].b, 1);
  assert_true(fabs(links[0].similarity - cos(15 * M_PI / 180)) < 1e-6);
  assert_int_equal(group[0], 0);
  assert_int_equal(group[1], 0);
  assert_int_equal(group[2], 2);
  assert_int_equal(group[3], 3);
  /* Lower the threshold below 0.879: c joins, the opposite vector never. */
  assert_int_equal(rf_cluster_embed_plan(v, 4, 2, 0.85, group, links, &nl), 0);
  assert_int_equal(nl, 2);
  assert_int_equal(group[2], 0);
  assert_int_equal(group[3], 3);
  assert_true(links[1].similarity < 0.9 && links[1].similarity > 0.85);
  assert_int_equal(rf_cluster_embed_plan(v, 4, 0, 0.9, group, links, &nl), RF_EINVAL);
  assert_int_equal(rf_cluster_embed_plan(v, 4, 2, 0, group, links, &nl), RF_EINVAL);
  assert_int_equal(rf_cluster_embed_plan(v, 4, 2, 1.5, group, links, &nl), RF_EINVAL);
  assert_int_equal(rf_cluster_embed_plan(v, 1, 2, 0.9, group, links, &nl), 0);
  assert_int_equal(nl, 0);
  for (long n = 0;; n++) {
    rf_alloc_fail_after(n);
    int rc = rf_cluster_embed_plan(v, 4, 2, 0.9, group, links, &nl);
    rf_alloc_fail_reset();
    if (rc == 0)
      break;
    assert_int_equal(rc, RF_ENOMEM);
  }
}

/* ---- chains ---- */

static void parse_err(const char *spec, const char *want_part) {
  rf_cluster_chain_t ch;
  memset(&ch, 0x5a, sizeof(ch));
  rf_cluster_chain_t before = ch;
  char err[200] = "";
  assert_int_equal(rf_cluster_chain_parse(spec, 0.9, &ch, err, sizeof(err)), RF_ECONFIG);
  if (strstr(err, want_part) == NULL)
    fail_msg("parse(\"%s\"): \"%s\" does not say \"%s\"", spec ? spec : "NULL", err, want_part);
  assert_memory_equal(&ch, &before, sizeof(ch)); /* untouched */
}

static void format_is(const char *spec, const char *want) {
  rf_cluster_chain_t ch;
  char err[200];
  if (rf_cluster_chain_parse(spec, 0.9, &ch, err, sizeof(err)) != 0)
    fail_msg("parse(\"%s\"): %s", spec, err);
  rf_buf_t b = RF_BUF_INIT;
  rf_cluster_chain_format(&ch, &b);
  assert_string_equal(b.data, want);
  rf_buf_free(&b);
}

static void test_chain_parse(void **state) {
  (void)state;
  format_is(RF_CLUSTER_CHAIN_DEFAULT, "shape,fingerprint,ngram:2");
  format_is(" shape , fingerprint,ngram:3 ,embed:0.85", "shape,fingerprint,ngram:3,embed:0.85");
  format_is("fingerprint,embed", "fingerprint,embed:0.9");
  format_is("ngram", "ngram:2");
  parse_err(NULL, "empty");
  parse_err("", "empty stage 1");
  parse_err("shape,,ngram", "empty stage 2");
  parse_err("soundex", "unknown clustering method \"soundex\"");
  parse_err("ngram:0", "ngram size 0 outside 1..8");
  parse_err("ngram:9", "ngram size 9 outside 1..8");
  parse_err("ngram:x", "needs a whole number");
  parse_err("ngram:", "needs a whole number");
  parse_err("shape:2", "\"shape\" takes no argument");
  parse_err("embed", "first stage");
  parse_err("shape,embed,ngram", "last stage");
  parse_err("shape,embed:1.5", "not a number in (0, 1]");
  parse_err("shape,embed:0", "not a number in (0, 1]");
  parse_err("shape,embed:abc", "not a number in (0, 1]");
  parse_err("shape,shape,shape,shape,shape,shape,shape,shape,shape", "more than 8 stages");
  rf_cluster_chain_t ch;
  assert_int_equal(rf_cluster_chain_parse("shape,embed", 2.0, &ch, NULL, 0), RF_ECONFIG);
}

typedef struct rows {
  rf_anomaly_t *a;
  rf_anomaly_t **p;
  size_t n;
} rows_t;

static void rows_make(rows_t *r, const char *const *vals, size_t n) {
  r->a = calloc(n, sizeof(*r->a));
  r->p = calloc(n, sizeof(*r->p));
  r->n = n;
  for (size_t i = 0; i < n; i++) {
    r->a[i].value = vals[i] ? strdup(vals[i]) : NULL;
    r->a[i].value_len = vals[i] ? strlen(vals[i]) : 0;
    r->p[i] = &r->a[i];
  }
}

static void rows_free(rows_t *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->a[i].value);
  free(r->a);
  free(r->p);
}

static const rf_cluster_t *find_cluster(const rf_clustering_t *c, const char *value) {
  for (size_t k = 0; k < c->n; k++)
    for (size_t i = 0; i < c->clusters[k].n; i++)
      if (c->clusters[k].rows[i]->value && strcmp(c->clusters[k].rows[i]->value, value) == 0)
        return &c->clusters[k];
  fail_msg("no cluster holds \"%s\"", value);
  return NULL;
}

/* Every row is in exactly one cluster; a merged cluster's rows are exactly
 * its sub-clusters' rows, in turn; joins index real subs. */
static void check_bookkeeping(const rf_clustering_t *c, const rows_t *r) {
  int *seen = calloc(r->n, sizeof(*seen));
  for (size_t k = 0; k < c->n; k++) {
    const rf_cluster_t *cl = &c->clusters[k];
    assert_true(cl->n > 0);
    assert_true(cl->n_reps >= 1 && cl->n_reps <= RF_CLUSTER_MAX_REPS);
    for (size_t i = 0; i < cl->n; i++)
      seen[cl->rows[i] - r->a]++;
    if (cl->n_subs == 0) {
      assert_null(cl->subs);
      assert_int_equal(cl->n_joins, 0);
      continue;
    }
    assert_true(cl->n_subs >= 2);
    assert_int_equal(cl->n_joins, cl->n_subs - 1);
    assert_string_equal(cl->fingerprint, cl->subs[0].fingerprint);
    size_t at = 0;
    for (size_t s = 0; s < cl->n_subs; s++) {
      const rf_cluster_t *sub = &cl->subs[s];
      assert_int_equal(sub->n_subs, 0);
      assert_string_not_equal(sub->id, cl->id);
      for (size_t i = 0; i < sub->n; i++)
        assert_ptr_equal(sub->rows[i], cl->rows[at++]);
    }
    assert_int_equal(at, cl->n);
    for (size_t j = 0; j < cl->n_joins; j++) {
      assert_true(cl->joins[j].a < cl->n_subs && cl->joins[j].b < cl->n_subs);
      assert_true(cl->joins[j].a != cl->joins[j].b);
      assert_non_null(cl->joins[j].method);
    }
  }
  for (size_t i = 0; i < r->n; i++)
    assert_int_equal(seen[i], 1);
  free(seen);
}

static const char *const weights[] = {
    "12.0 oz", "16.0 OZ.", "7.5 oz", "3.2 OZ.", "03/15/2024", "15.03.2024", "N/A",
    "n.a.",    "none",     "-",      "",       NULL,         "11/02/2023", "01.02.2021",
    "8.0 oz",  "9.9 OZ.",  "n/a",    "2024/03/15"};

static void test_chain_merges(void **state) {
  (void)state;
  rows_t r;
  rows_make(&r, weights, sizeof(weights) / sizeof(weights[0]));
  rf_cluster_chain_t shape, chain;
  assert_int_equal(rf_cluster_chain_parse("shape", 0.9, &shape, NULL, 0), 0);
  assert_int_equal(rf_cluster_chain_parse(RF_CLUSTER_CHAIN_DEFAULT, 0.9, &chain, NULL, 0), 0);
  rf_clustering_t s, c;
  assert_int_equal(rf_cluster_chain_build(&shape, "products", "weight_g", r.p, r.n, &s), 0);
  assert_int_equal(rf_cluster_chain_build(&chain, "products", "weight_g", r.p, r.n, &c), 0);
  check_bookkeeping(&s, &r);
  check_bookkeeping(&c, &r);
  /* The shape chain is rf_cluster_build. */
  rf_clustering_t b;
  assert_int_equal(rf_cluster_build("products", "weight_g", r.p, r.n, &b), 0);
  assert_int_equal(b.n, s.n);
  for (size_t k = 0; k < b.n; k++) {
    assert_string_equal(b.clusters[k].id, s.clusters[k].id);
    assert_int_equal(b.clusters[k].n, s.clusters[k].n);
  }
  rf_clustering_free(&b);

  /* "12.0 oz" and "16.0 OZ." are split by shape and joined by the chain. */
  assert_ptr_not_equal(find_cluster(&s, "12.0 oz"), find_cluster(&s, "16.0 OZ."));
  const rf_cluster_t *oz = find_cluster(&c, "12.0 oz");
  assert_ptr_equal(oz, find_cluster(&c, "16.0 OZ."));
  assert_int_equal(oz->n, 6);
  assert_int_equal(oz->n_subs, 2);
  assert_string_equal(oz->subs[0].fingerprint, "9.9 a");
  assert_string_equal(oz->subs[1].fingerprint, "9.9 A.");
  assert_string_equal(oz->joins[0].method, "fingerprint");
  assert_string_equal(oz->joins[0].key, "0.0|oz");
  assert_true(oz->joins[0].similarity == 1.0 && oz->joins[0].share == 1.0);
  /* Its representatives come from both sub-clusters in turn. */
  assert_true(oz->n_reps >= 2);
  assert_string_equal(oz->reps[0]->value, "12.0 oz");
  assert_string_equal(oz->reps[1]->value, "16.0 OZ.");
  /* N/A, n.a. and n/a share "na"; "-" and "" share the empty key. */
  const rf_cluster_t *na = find_cluster(&c, "N/A");
  assert_ptr_equal(na, find_cluster(&c, "n.a."));
  assert_ptr_equal(na, find_cluster(&c, "n/a"));
  assert_string_equal(na->joins[0].key, "|na");
  assert_ptr_equal(find_cluster(&c, "-"), find_cluster(&c, ""));
  assert_ptr_not_equal(find_cluster(&c, "-"), na);
  assert_ptr_not_equal(find_cluster(&c, "none"), na);
  /* Format is never merged away: three date formats stay three clusters,
   * and 03/15/2024 (month first) never meets 2024/03/15 (year first). */
  const rf_cluster_t *mdy = find_cluster(&c, "03/15/2024");
  assert_ptr_not_equal(mdy, find_cluster(&c, "15.03.2024"));
  assert_ptr_equal(find_cluster(&s, "03/15/2024"), find_cluster(&s, "2024/03/15"));
  /* NULL stays alone. */
  for (size_t k = 0; k < c.n; k++)
    if (strcmp(c.clusters[k].fingerprint, "<null>") == 0)
      assert_int_equal(c.clusters[k].n, 1);
  assert_true(c.n < s.n);

  /* Determinism, and ids stable for the same sub-clusters. */
  rf_clustering_t c2;
  assert_int_equal(rf_cluster_chain_build(&chain, "products", "weight_g", r.p, r.n, &c2), 0);
  assert_int_equal(c2.n, c.n);
  for (size_t k = 0; k < c.n; k++) {
    assert_string_equal(c.clusters[k].id, c2.clusters[k].id);
    assert_string_equal(c.clusters[k].fingerprint, c2.clusters[k].fingerprint);
    assert_int_equal(c.clusters[k].n, c2.clusters[k].n);
    assert_memory_equal(c.clusters[k].rows, c2.clusters[k].rows,
                        c.clusters[k].n * sizeof(*c.clusters[k].rows));
  }
  rf_clustering_free(&c2);
  /* Another column, the same values: other ids (merging never crosses columns). */
  assert_int_equal(rf_cluster_chain_build(&chain, "products", "weight_kg", r.p, r.n, &c2), 0);
  assert_string_not_equal(find_cluster(&c2, "12.0 oz")->id, oz->id);
  rf_clustering_free(&c2);
  rf_clustering_free(&s);
  rf_clustering_free(&c);
  rows_free(&r);
}

static void test_chain_guards(void **state) {
  (void)state;
  /* Group "9.9 a" is half ounces, half kilograms: no key covers 80% of it,
   * so it does not join the pure "9.9 A." ounces group. */
  const char *mixed[] = {"1.0 oz", "2.0 kg", "3.0 oz", "4.0 kg", "5.0 oz", "6.0 kg",
                         "1.5 OZ.", "2.5 OZ."};
  rows_t r;
  rows_make(&r, mixed, 8);
  rf_cluster_chain_t chain;
  assert_int_equal(rf_cluster_chain_parse(RF_CLUSTER_CHAIN_DEFAULT, 0.9, &chain, NULL, 0), 0);
  rf_clustering_t c;
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c), 0);
  assert_int_equal(c.n, 2);
  assert_ptr_not_equal(find_cluster(&c, "1.0 oz"), find_cluster(&c, "1.5 OZ."));
  rf_clustering_free(&c);
  rows_free(&r);

  /* Words that are categories ("USA", "none", "gbr"): shapes A and a hold
   * few distinct keys, so they never join by folded shape. */
  const char *cats[] = {"USA", "NONE", "GBR", "USA", "NONE", "USA", "GBR", "NONE", "USA", "GBR",
                        "usa", "none", "gbr", "usa", "none", "usa", "gbr", "none", "usa", "gbr"};
  rows_make(&r, cats, 20);
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c), 0);
  assert_int_equal(c.n, 2);
  rf_clustering_free(&c);
  rows_free(&r);

  /* Letters that are data (e-mail addresses, all different): case and
   * padding variants join by folded shape, and the join says so. */
  const char *mails[RF_CLUSTER_DATA_MIN_ROWS * 2 + 2];
  char mb[RF_CLUSTER_DATA_MIN_ROWS * 2][40];
  for (int i = 0; i < RF_CLUSTER_DATA_MIN_ROWS; i++) {
    snprintf(mb[i], sizeof(mb[i]), " User%c.Name@Example.COM ", 'a' + i);
    snprintf(mb[RF_CLUSTER_DATA_MIN_ROWS + i], sizeof(mb[0]), "user.%c@example.com", 'a' + i);
    mails[i] = mb[i];
    mails[RF_CLUSTER_DATA_MIN_ROWS + i] = mb[RF_CLUSTER_DATA_MIN_ROWS + i];
  }
  mails[RF_CLUSTER_DATA_MIN_ROWS * 2] = "mailto:x.y@z.com";
  mails[RF_CLUSTER_DATA_MIN_ROWS * 2 + 1] = "mailto:a.b@c.com";
  rows_make(&r, mails, RF_CLUSTER_DATA_MIN_ROWS * 2 + 2);
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c), 0);
  assert_int_equal(c.n, 2);
  const rf_cluster_t *m = find_cluster(&c, "user.a@example.com");
  assert_ptr_equal(m, find_cluster(&c, " Userb.Name@Example.COM "));
  assert_int_equal(m->n, RF_CLUSTER_DATA_MIN_ROWS * 2);
  assert_string_equal(m->joins[0].key, "shape:a.a@a.a");
  assert_ptr_not_equal(m, find_cluster(&c, "mailto:x.y@z.com"));
  rf_clustering_free(&c);
  /* The same with fewer rows per group than RF_CLUSTER_DATA_MIN_ROWS: too
   * few to tell data from categories, so no join. */
  mails[RF_CLUSTER_DATA_MIN_ROWS - 1] = mails[RF_CLUSTER_DATA_MIN_ROWS * 2 + 1];
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p + 1, RF_CLUSTER_DATA_MIN_ROWS * 2 - 1,
                                          &c), 0);
  assert_int_equal(c.n, 2);
  assert_ptr_not_equal(find_cluster(&c, "user.a@example.com"),
                       find_cluster(&c, " Userb.Name@Example.COM "));
  rf_clustering_free(&c);
  rows_free(&r);

  /* Empty input, one row, and a chain of one non-shape method. */
  rf_cluster_chain_t fp;
  assert_int_equal(rf_cluster_chain_parse("fingerprint", 0.9, &fp, NULL, 0), 0);
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", NULL, 0, &c), 0);
  assert_int_equal(c.n, 0);
  rf_clustering_free(&c);
  const char *one[] = {"  Caf\xc3\xa9 CAFE "};
  rows_make(&r, one, 1);
  assert_int_equal(rf_cluster_chain_build(&fp, "t", "c", r.p, 1, &c), 0);
  assert_int_equal(c.n, 1);
  assert_string_equal(c.clusters[0].fingerprint, "fp:cafe");
  rf_clustering_free(&c);
  rows_free(&r);
  /* A long key is shortened to fit, at a code-point boundary, with its hash. */
  char longv[200];
  for (int i = 0; i < 30; i++)
    memcpy(longv + 6 * i, (char[]){'\xc3', '\x9f', (char)('0' + i / 10), (char)('0' + i % 10), 'x',
                                   ' '}, 6);
  longv[180] = '\0'; /* "ß00x ß01x ...": 30 tokens, a 179-byte key */
  const char *lv[] = {longv};
  rows_make(&r, lv, 1);
  assert_int_equal(rf_cluster_chain_build(&fp, "t", "c", r.p, 1, &c), 0);
  const char *f = c.clusters[0].fingerprint;
  assert_true(strlen(f) <= RF_FINGERPRINT_MAX);
  assert_non_null(strchr(f, '~'));
  assert_int_equal(strlen(strchr(f, '~') + 1), 16);
  assert_int_equal(strncmp(f, "fp:\xc3\x9f" "00x ", 8), 0);
  for (const char *p = f; *p != '~'; p++) /* never half a code point before "~" */
    if ((unsigned char)*p == 0xc3)
      assert_int_equal((unsigned char)p[1], 0x9f);
  rf_clustering_free(&c);
  rows_free(&r);
}

static void test_embed_merge(void **state) {
  (void)state;
  rows_t r;
  rows_make(&r, weights, sizeof(weights) / sizeof(weights[0]));
  rf_cluster_chain_t chain;
  assert_int_equal(rf_cluster_chain_parse(RF_CLUSTER_CHAIN_DEFAULT, 0.9, &chain, NULL, 0), 0);
  rf_clustering_t c;
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c), 0);
  size_t before = c.n;
  /* Vectors: the ounces cluster and the N/A cluster point the same way,
   * everything else is orthogonal. */
  size_t dim = before;
  float *v = calloc(before * dim, sizeof(float));
  const rf_cluster_t *oz = find_cluster(&c, "12.0 oz"), *na = find_cluster(&c, "N/A");
  size_t ioz = (size_t)(oz - c.clusters), ina = (size_t)(na - c.clusters);
  for (size_t k = 0; k < before; k++)
    v[k * dim + k] = 1;
  v[ina * dim + ina] = 0;
  v[ina * dim + ioz] = 1;
  size_t oz_subs = oz->n_subs, na_subs = na->n_subs, oz_n = oz->n, na_n = na->n;
  char oz_fp[sizeof(oz->fingerprint)];
  strcpy(oz_fp, oz->fingerprint);
  /* Allocation failures leave c exactly as it was. */
  for (long n = 0;; n++) {
    rf_alloc_fail_after(n);
    int rc = rf_cluster_embed_merge(&c, v, dim, 0.9);
    rf_alloc_fail_reset();
    if (rc == 0)
      break;
    assert_int_equal(rc, RF_ENOMEM);
    assert_int_equal(c.n, before);
    check_bookkeeping(&c, &r);
    assert_true(n < 10000);
  }
  assert_int_equal(c.n, before - 1);
  check_bookkeeping(&c, &r);
  const rf_cluster_t *m = find_cluster(&c, "12.0 oz");
  assert_ptr_equal(m, find_cluster(&c, "n.a."));
  assert_int_equal(m->n, oz_n + na_n);
  assert_int_equal(m->n_subs, oz_subs + na_subs);
  assert_string_equal(m->fingerprint, oz_fp);
  /* The parts' own joins are kept (rebased), then the embed join. */
  const rf_cluster_join_t *last = &m->joins[m->n_joins - 1];
  assert_string_equal(last->method, "embed");
  assert_null(last->key);
  assert_true(fabs(last->similarity - 1) < 1e-9);
  assert_int_equal(last->b, oz_subs); /* the first sub-cluster of the N/A part */
  assert_string_equal(m->joins[0].key, "0.0|oz");
  assert_string_equal(m->joins[oz_subs - 1 + 0 + 1].key, "|na");
  assert_int_equal(rf_cluster_embed_merge(&c, v, 0, 0.9), RF_EINVAL);
  assert_int_equal(rf_cluster_embed_merge(&c, v, dim, 1.01), RF_EINVAL);
  free(v);
  rf_clustering_free(&c);
  rows_free(&r);
}

static void test_split_and_explain(void **state) {
  (void)state;
  rows_t r;
  rows_make(&r, weights, sizeof(weights) / sizeof(weights[0]));
  rf_cluster_chain_t chain, shape;
  assert_int_equal(rf_cluster_chain_parse(RF_CLUSTER_CHAIN_DEFAULT, 0.9, &chain, NULL, 0), 0);
  assert_int_equal(rf_cluster_chain_parse("shape", 0.9, &shape, NULL, 0), 0);
  rf_clustering_t c, s;
  assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c), 0);
  assert_int_equal(rf_cluster_chain_build(&shape, "t", "c", r.p, r.n, &s), 0);
  size_t k = (size_t)(find_cluster(&c, "12.0 oz") - c.clusters);
  rf_buf_t b = RF_BUF_INIT;
  rf_cluster_explain_json(&c.clusters[k], &b);
  assert_string_equal(b.data, "[{\"method\":\"fingerprint\",\"a\":\"9.9 a\",\"b\":\"9.9 A.\","
                              "\"key\":\"0.0|oz\",\"share\":1,\"similarity\":1}]");
  rf_buf_reset(&b);
  size_t plain = (size_t)(find_cluster(&c, "none") - c.clusters);
  rf_cluster_explain_json(&c.clusters[plain], &b);
  assert_string_equal(b.data, "[]");
  rf_buf_free(&b);
  assert_int_equal(rf_clustering_split(&c, plain), RF_EINVAL);
  assert_int_equal(rf_clustering_split(&c, c.n), RF_EINVAL);
  size_t before = c.n;
  rf_alloc_fail_after(0);
  assert_int_equal(rf_clustering_split(&c, k), RF_ENOMEM);
  rf_alloc_fail_reset();
  assert_int_equal(c.n, before);
  check_bookkeeping(&c, &r);
  /* Split every merged cluster: exactly the shape clustering comes back
   * (same ids, rows and representatives), in the merged clusters' order. */
  for (size_t i = 0; i < c.n; i++)
    if (c.clusters[i].n_subs)
      assert_int_equal(rf_clustering_split(&c, i), 0);
  check_bookkeeping(&c, &r);
  assert_int_equal(c.n, s.n);
  for (size_t i = 0; i < s.n; i++) {
    const rf_cluster_t *x = &s.clusters[i], *y = NULL;
    for (size_t j = 0; j < c.n; j++)
      if (strcmp(c.clusters[j].id, x->id) == 0)
        y = &c.clusters[j];
    assert_non_null(y);
    assert_int_equal(y->n, x->n);
    assert_memory_equal(y->rows, x->rows, x->n * sizeof(*x->rows));
    assert_int_equal(y->n_reps, x->n_reps);
    assert_memory_equal(y->reps, x->reps, x->n_reps * sizeof(*x->reps));
  }
  rf_clustering_free(&c);
  rf_clustering_free(&s);
  rows_free(&r);
}

static void test_alloc_failures(void **state) {
  (void)state;
  /* A window with merges of both kinds, non-ASCII values and long keys. */
  const char *vals[64];
  char buf[64][48];
  for (int i = 0; i < 64; i++) {
    switch (i % 8) {
    case 0: snprintf(buf[i], sizeof(buf[i]), "%d.%d oz", i, i % 10); break;
    case 1: snprintf(buf[i], sizeof(buf[i]), "%d.%d OZ.", i, i % 10); break;
    case 2: snprintf(buf[i], sizeof(buf[i]), "%s", i % 3 ? "N/A" : "n.a."); break;
    case 3: snprintf(buf[i], sizeof(buf[i]), " User%c.Name@Example.COM ", 'a' + i % 26); break;
    case 4: snprintf(buf[i], sizeof(buf[i]), "user%c.name@example.com", 'a' + i % 26); break;
    case 5: snprintf(buf[i], sizeof(buf[i]), "caf\xc3\xa9 %d", i); break;
    case 6: snprintf(buf[i], sizeof(buf[i]), "%02d/%02d/2024", i % 12 + 1, i % 28 + 1); break;
    default: snprintf(buf[i], sizeof(buf[i]), "%s", ""); break;
    }
    vals[i] = buf[i];
  }
  rows_t r;
  rows_make(&r, vals, 64);
  const char *specs[] = {RF_CLUSTER_CHAIN_DEFAULT, "fingerprint,ngram:3", "ngram:2,shape"};
  for (size_t sp = 0; sp < 3; sp++) {
    rf_cluster_chain_t chain;
    assert_int_equal(rf_cluster_chain_parse(specs[sp], 0.9, &chain, NULL, 0), 0);
    rf_clustering_t ref;
    assert_int_equal(rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &ref), 0);
    check_bookkeeping(&ref, &r);
    for (long n = 0;; n++) {
      rf_clustering_t c;
      rf_alloc_fail_after(n);
      int rc = rf_cluster_chain_build(&chain, "t", "c", r.p, r.n, &c);
      rf_alloc_fail_reset();
      if (rc == 0) {
        assert_int_equal(c.n, ref.n);
        for (size_t k = 0; k < c.n; k++)
          assert_string_equal(c.clusters[k].id, ref.clusters[k].id);
        rf_clustering_free(&c);
        break;
      }
      assert_int_equal(rc, RF_ENOMEM);
      assert_int_equal(c.n, 0);
      assert_null(c.clusters);
      assert_true(n < 100000);
    }
    rf_clustering_free(&ref);
  }
  rows_free(&r);
  /* The keys alone, on the ICU path. */
  for (long n = 0;; n++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_alloc_fail_after(n);
    int rc = rf_cluster_fingerprint_key("Cr\xc3\xa8me Br\xc3\xbbl\xc3\xa9" "e", 14, &b);
    int rc2 = rc ? rc : rf_cluster_ngram_key("\xc3\xa9t\xc3\xa9 d\xc3\xa9j\xc3\xa0", 13, 2, &b);
    rf_alloc_fail_reset();
    rf_buf_free(&b);
    if (rc == 0 && rc2 == 0)
      break;
    assert_int_equal(rc ? rc : rc2, RF_ENOMEM);
    assert_true(n < 1000);
  }
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprint),  cmocka_unit_test(test_ngram),
      cmocka_unit_test(test_method_init),  cmocka_unit_test(test_format_view),
      cmocka_unit_test(test_vectors),      cmocka_unit_test(test_embed_plan),
      cmocka_unit_test(test_chain_parse),  cmocka_unit_test(test_chain_merges),
      cmocka_unit_test(test_chain_guards), cmocka_unit_test(test_embed_merge),
      cmocka_unit_test(test_split_and_explain), cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

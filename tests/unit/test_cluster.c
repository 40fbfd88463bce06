/* test_cluster.c - shape fingerprints, clustering and representatives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/error.h"
#include "rectify/fixgen.h"

static void fp_is(const char *v, const char *want) {
  rf_buf_t b = RF_BUF_INIT;
  rf_shape_fingerprint(v, v ? strlen(v) : 0, &b);
  if (strcmp(b.data, want) != 0)
    fail_msg("fingerprint(%s) = %s, want %s", v ? v : "NULL", b.data, want);
  rf_buf_free(&b);
}

static void test_fingerprint(void **state) {
  (void)state;
  fp_is("03/15/2024", "9/9/9");
  fp_is("11/2/2023", "9/9/9");
  fp_is("12.0 oz", "9.9 a");
  fp_is("16.0 OZ.", "9.9 A.");
  fp_is("March 15, 2024", "Aa 9, 9");
  fp_is("  x  ", " a ");
  fp_is("été", "uau");
  fp_is("a\tb\x01", "a a^");
  fp_is("", "<empty>");
  fp_is(NULL, "<null>");
  char longv[300];
  for (int i = 0; i < 299; i++)
    longv[i] = (i % 2) ? 'a' : '1';
  longv[299] = '\0';
  rf_buf_t b = RF_BUF_INIT;
  rf_shape_fingerprint(longv, 299, &b);
  assert_int_equal(b.len, RF_FINGERPRINT_MAX + 1); /* capped, with a '~' */
  assert_int_equal(b.data[b.len - 1], '~');
  rf_buf_free(&b);
}

static rf_anomaly_t *mk(const char *v) {
  rf_anomaly_t *a = calloc(1, sizeof(*a));
  a->value = v ? strdup(v) : NULL;
  a->value_len = v ? strlen(v) : 0;
  return a;
}

static void test_clusters(void **state) {
  (void)state;
  const char *vals[] = {"03/15/2024", "12.0 oz", "11/02/2023", NULL, "03/15/2024",
                        "7.5 oz",     "01/01/1999", "12/31/2000", "06/06/2006", "02/02/2002"};
  size_t n = sizeof(vals) / sizeof(vals[0]);
  rf_anomaly_t *rows[16];
  for (size_t i = 0; i < n; i++)
    rows[i] = mk(vals[i]);
  rf_clustering_t c;
  assert_int_equal(rf_cluster_build("orders", "d", rows, n, &c), 0);
  assert_int_equal(c.n, 3);
  /* Order of first appearance. */
  assert_string_equal(c.clusters[0].fingerprint, "9/9/9");
  assert_string_equal(c.clusters[1].fingerprint, "9.9 a");
  assert_string_equal(c.clusters[2].fingerprint, "<null>");
  assert_int_equal(c.clusters[0].n, 7);
  assert_int_equal(c.clusters[1].n, 2);
  /* Representatives: distinct values, at most 5, the first one first. */
  assert_int_equal(c.clusters[0].n_reps, 5);
  assert_ptr_equal(c.clusters[0].reps[0], rows[0]);
  for (size_t i = 0; i < c.clusters[0].n_reps; i++)
    for (size_t k = i + 1; k < c.clusters[0].n_reps; k++)
      assert_string_not_equal(c.clusters[0].reps[i]->value, c.clusters[0].reps[k]->value);
  assert_int_equal(c.clusters[1].n_reps, 2);
  assert_int_equal(c.clusters[2].n_reps, 1);
  /* Ids are stable for (table, column, fingerprint) and differ by column. */
  rf_clustering_t c2;
  assert_int_equal(rf_cluster_build("orders", "e", rows, n, &c2), 0);
  assert_string_not_equal(c.clusters[0].id, c2.clusters[0].id);
  rf_clustering_t c3;
  assert_int_equal(rf_cluster_build("orders", "d", rows + 2, 1, &c3), 0);
  assert_string_equal(c.clusters[0].id, c3.clusters[0].id);
  rf_clustering_free(&c);
  rf_clustering_free(&c2);
  rf_clustering_free(&c3);
  for (size_t i = 0; i < n; i++) {
    free(rows[i]->value);
    free(rows[i]);
  }
}

static void test_alloc_failures(void **state) {
  (void)state;
  rf_anomaly_t *rows[40];
  char v[32];
  for (int i = 0; i < 40; i++) {
    snprintf(v, sizeof(v), i % 3 ? "%d/%d/2024" : "%d oz", i, i + 1);
    rows[i] = mk(v);
  }
  for (long n = 0;; n++) {
    rf_clustering_t c;
    rf_alloc_fail_after(n);
    int rc = rf_cluster_build("t", "c", rows, 40, &c);
    rf_alloc_fail_reset();
    if (rc == 0) {
      assert_int_equal(c.n, 2);
      rf_clustering_free(&c);
      break;
    }
    assert_int_equal(rc, RF_ENOMEM);
    assert_int_equal(c.n, 0);
    assert_true(n < 1000);
  }
  for (int i = 0; i < 40; i++) {
    free(rows[i]->value);
    free(rows[i]);
  }
}

/* A generator that declines, and one that proposes, to check the chain. */
static int decline(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  (void)req;
  (*(int *)self)++;
  cb(0, NULL, "nothing fits", arg);
  return 0;
}
static int broken(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  (void)self, (void)req, (void)cb, (void)arg;
  return RF_EUNAVAILABLE;
}
static int propose(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  (void)req;
  (*(int *)self)++;
  rf_fix_candidate_t *c = rf_calloc(1, sizeof(*c));
  c->lambda_src = rf_strdup("lambda x: x");
  c->generator = rf_strdup("test");
  cb(0, c, NULL, arg);
  return 0;
}
static const rf_fixgen_ops_t decline_ops = {"decline", decline, NULL};
static const rf_fixgen_ops_t broken_ops = {"broken", broken, NULL};
static const rf_fixgen_ops_t propose_ops = {"propose", propose, NULL};

typedef struct got {
  int calls;
  rf_fix_candidate_t *cand;
  char why[256];
} got_t;

static void on_result(int status, rf_fix_candidate_t *cand, const char *why, void *arg) {
  got_t *g = arg;
  assert_int_equal(status, 0);
  g->calls++;
  g->cand = cand;
  snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
}

static void test_fixchain(void **state) {
  (void)state;
  rf_fix_request_t req = {"t", "c", NULL, NULL};
  got_t g = {0};
  rf_fixchain_t *empty = rf_fixchain_new();
  assert_int_equal(rf_fixchain_run(empty, &req, on_result, &g), 0);
  assert_int_equal(g.calls, 1);
  assert_null(g.cand);
  assert_string_equal(g.why, "no fix generator is configured");
  rf_fixchain_free(empty);

  int declined = 0, proposed = 0;
  rf_fixchain_t *chain = rf_fixchain_new();
  rf_fixchain_add(chain, &decline_ops, &declined);
  rf_fixchain_add(chain, &broken_ops, NULL);
  rf_fixchain_add(chain, &propose_ops, &proposed);
  memset(&g, 0, sizeof(g));
  assert_int_equal(rf_fixchain_run(chain, &req, on_result, &g), 0);
  assert_int_equal(g.calls, 1);
  assert_non_null(g.cand);
  assert_string_equal(g.cand->lambda_src, "lambda x: x");
  assert_int_equal(declined, 1);
  assert_int_equal(proposed, 1);
  rf_fix_candidate_free(g.cand);
  rf_fixchain_free(chain);

  chain = rf_fixchain_new();
  rf_fixchain_add(chain, &decline_ops, &declined);
  rf_fixchain_add(chain, &broken_ops, NULL);
  memset(&g, 0, sizeof(g));
  assert_int_equal(rf_fixchain_run(chain, &req, on_result, &g), 0);
  assert_null(g.cand);
  assert_string_equal(g.why, "decline: nothing fits; broken: service unavailable");
  rf_fixchain_free(chain);

  /* the same reason from several generators in a row: one entry */
  chain = rf_fixchain_new();
  rf_fixchain_add(chain, &decline_ops, &declined);
  rf_fixchain_add(chain, &decline_ops, &declined);
  rf_fixchain_add(chain, &broken_ops, NULL);
  rf_fixchain_add(chain, &decline_ops, &declined);
  memset(&g, 0, sizeof(g));
  assert_int_equal(rf_fixchain_run(chain, &req, on_result, &g), 0);
  assert_string_equal(g.why,
                      "decline, decline: nothing fits; broken: service unavailable; decline: nothing fits");
  rf_fixchain_free(chain);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprint),
      cmocka_unit_test(test_clusters),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_fixchain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_synth_e2e.c - fixes without a model, end to end.
 *
 * rectifyd with the demo's column contracts and NO [model] url consumes a
 * stream from the load generator (lib/produce.c, every family)
 * over Redis into PostgreSQL. The synthesizer must fix most of it, and never
 * wrongly: every staged row equals the generator's ground truth, every row
 * the truth says must be quarantined is quarantined; staged rows name the
 * generator `synth` and a stored fix; batches balance, nothing is pending,
 * the audit chains verify. Then the same families after a restart come from
 * the fix cache (synth's fixes were stored like any other). */
#include "core_env.h"

#include "rectify/alloc.h"
#include "rectify/produce.h"

#define N_MSGS 12000

#define DEMO_CONTRACTS                                                                             \
  "[column \"orders.order_date\"]\ntype = date\nformat = %Y-%m-%d\nmin = 2000-01-01\n"             \
  "[column \"products.weight_g\"]\ntype = decimal\nmin = 0\n"                                      \
  "[column \"customers.email\"]\ntype = email\n"                                                   \
  "[column \"customers.country\"]\ntype = enum\nallowed = US, FR, DE, GB\nnullable = yes\n"        \
  "[column \"payments.amount\"]\ntype = decimal\n"

typedef struct truth {
  char id[32];
  const char *family;
  rf_produce_outcome_t outcome;
  bool malformed;
  char *expected;
} truth_t;

/* Produces messages [from, to) with seed and id prefix; fills t[from..to). */
static void produce_stream(core_env_t *e, uint64_t seed, const char *prefix, long from, long to,
                           truth_t *t) {
  char err[512];
  rf_produce_t *g;
  rf_produce_opts_t o = {.seed = seed, .malformed = 0, .id_prefix = prefix};
  assert_int_equal(rf_produce_new(&o, &g, err, sizeof(err)), 0);
  rf_produce_sink_t *sink;
  if (rf_produce_redis_sink_open("127.0.0.1", e->redis.port, STREAM, "payload", &sink, err,
                                 sizeof(err)))
    fail_msg("sink: %s", err);
  rf_produce_msg_t msgs[500], *ptrs[500];
  char *ids[500];
  for (int i = 0; i < 500; i++) {
    rf_produce_msg_init(&msgs[i]);
    ptrs[i] = &msgs[i];
  }
  for (long i = from; i < to;) {
    int n = 0;
    for (; n < 500 && i + n < to; n++) {
      assert_int_equal(rf_produce_next(g, &msgs[n]), 0);
      truth_t *tt = &t[i + n];
      snprintf(tt->id, sizeof(tt->id), "%s", msgs[n].id.data);
      tt->family = msgs[n].family;
      tt->outcome = msgs[n].outcome;
      tt->malformed = msgs[n].malformed;
      tt->expected = msgs[n].outcome == RF_PRODUCE_FIXED ? strdup(msgs[n].expected.data) : NULL;
      ids[n] = NULL;
    }
    if (sink->ops->send(sink, ptrs, (size_t)n, ids, err, sizeof(err)))
      fail_msg("send: %s", err);
    for (int k = 0; k < n; k++)
      rf_free(ids[k]);
    i += n;
  }
  for (int i = 0; i < 500; i++)
    rf_produce_msg_free(&msgs[i]);
  sink->ops->close(sink);
  rf_produce_free(g);
}

typedef struct tally {
  long fixed_ok, fixed_wrong, quarantined_ok, missed, fixable;
} tally_t;

/* Compares every outcome in the database with the truth t[from..to). */
static tally_t compare(core_env_t *e, truth_t *t, long from, long to) {
  tally_t c = {0};
  for (long i = from; i < to; i++) {
    const char *params[1] = {t[i].id};
    PGresult *r = PQexecParams(e->db,
                               "SELECT 'fixed', new_value, generator FROM rectify.staging WHERE key "
                               "= $1 UNION ALL SELECT 'quarantined', reason, NULL FROM "
                               "rectify.quarantine WHERE key = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    if (PQntuples(r) != 1)
      fail_msg("%s: %d outcomes", t[i].id, PQntuples(r));
    bool fixed = strcmp(PQgetvalue(r, 0, 0), "fixed") == 0;
    bool must_q = t[i].malformed || t[i].outcome == RF_PRODUCE_QUARANTINED;
    c.fixable += !must_q;
    if (!fixed) {
      if (must_q)
        c.quarantined_ok++;
      else
        c.missed++;
    } else {
      bool isnull = PQgetisnull(r, 0, 1);
      bool ok = !must_q && (t[i].outcome == RF_PRODUCE_FIXED_NULL
                                ? isnull
                                : !isnull && strcmp(PQgetvalue(r, 0, 1), t[i].expected) == 0);
      if (ok) {
        c.fixed_ok++;
      } else {
        c.fixed_wrong++;
        fprintf(stderr, "WRONG FIX %s (%s): got %s, truth %s\n", t[i].id, t[i].family,
                isnull ? "NULL" : PQgetvalue(r, 0, 1),
                must_q ? "quarantine" : t[i].expected ? t[i].expected : "NULL");
      }
    }
    PQclear(r);
  }
  return c;
}

static void test_synth_without_model(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, DEMO_CONTRACTS);
  daemon_start(&e);
  truth_t *t = calloc(N_MSGS + 3000, sizeof(*t));
  produce_stream(&e, 1, "s-", 0, N_MSGS, t);
  wait_all_done(&e, N_MSGS, 180000);

  tally_t c = compare(&e, t, 0, N_MSGS);
  fprintf(stderr, "synth e2e: fixable=%ld fixed_ok=%ld fixed_wrong=%ld missed=%ld "
                  "quarantined_ok=%ld\n", c.fixable, c.fixed_ok, c.fixed_wrong, c.missed,
          c.quarantined_ok);
  assert_int_equal(c.fixed_wrong, 0);
  /* most of it: every family but the three sharing 9/9/9 with impossible dates */
  assert_true(c.fixed_ok * 100 >= c.fixable * 80);
  assert_int_equal(c.fixed_ok + c.missed, c.fixable);

  /* Who fixed it: the synthesizer (no model is configured), with stored fixes. */
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE generator IS NULL OR "
                              "generator NOT IN ('synth', 'cache', 'transfer')"), 0);
  long long by_synth = sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE generator = 'synth'");
  fprintf(stderr, "fixed by synth %lld, from the cache or transfer (fixes synth stored in an "
          "earlier window) %lld\n", by_synth, (long long)c.fixed_ok - by_synth);
  assert_true(by_synth > 0);
  assert_true(sql_ll(&e, "SELECT count(*) FROM rectify.fixes WHERE generator = 'synth'") >= 15);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging s LEFT JOIN rectify.fixes f "
                              "USING (fix_id) WHERE f.fix_id IS NULL"), 0);
  assert_int_equal(sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE lambda IS NULL OR "
                              "confidence IS NULL OR confidence < 0.75"), 0);
  /* Unfixable clusters are quarantined with the synthesizer's reason. */
  assert_true(sql_ll(&e, "SELECT count(*) FROM rectify.quarantine WHERE reason = 'no_fix' AND "
                         "detail LIKE '%synth:%'") > 0);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, N_MSGS);

  /* Restart: the same families come from the fix cache and transfer. */
  daemon_start(&e);
  produce_stream(&e, 2, "r-", N_MSGS, N_MSGS + 3000, t);
  wait_all_done(&e, N_MSGS + 3000, 120000);
  tally_t c2 = compare(&e, t, N_MSGS, N_MSGS + 3000);
  assert_int_equal(c2.fixed_wrong, 0);
  assert_true(c2.fixed_ok * 100 >= c2.fixable * 80);
  long long cached = sql_ll(&e, "SELECT count(*) FROM rectify.staging WHERE key LIKE 'r-%' AND "
                                "generator IN ('cache', 'transfer')");
  fprintf(stderr, "after restart: %lld of %ld fixed rows from the cache or transfer\n", cached,
          c2.fixed_ok);
  assert_true(cached * 2 > c2.fixed_ok);
  assert_int_equal(daemon_stop(&e, SIGTERM, 30000), 0);
  check_accounting(&e, N_MSGS + 3000);
  for (long i = 0; i < N_MSGS + 3000; i++)
    free(t[i].expected);
  free(t);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_synth_without_model)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

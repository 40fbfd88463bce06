/* test_writer_pg.c - the writer thread against a real PostgreSQL.
 *
 * Redelivered keys never make a second row or receipt; two writers racing on
 * the same keys put each key in exactly one table; the schema's CHECK and
 * append-only triggers hold; PostgreSQL stopped mid-run delays but never
 * loses or hands back early; data errors are bisected into "malformed"
 * quarantine rows; a reconciliation mismatch is refused; concurrent schema
 * migrations are safe; two writers misconfigured with one chain id never fork
 * it; and `rectifyctl audit verify` accepts all of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/pg.h"
#include "rectify/writer.h"

static rf_h_pg_t pg;
static char *tmpdir;

/* ---- helpers ---------------------------------------------------------------- */

#define MAX_DONE 256

typedef struct ctx {
  uv_loop_t loop;
  rf_flush_t *flushes[MAX_DONE];
  int status[MAX_DONE];
  int ndone, nclosed;
} ctx_t;

static void on_done(rf_flush_t *f, int status, void *arg) {
  ctx_t *c = arg;
  assert_true(c->ndone < MAX_DONE);
  c->flushes[c->ndone] = f;
  c->status[c->ndone] = status;
  c->ndone++;
}

static void on_closed(rf_writer_t *w, void *arg) {
  (void)w;
  ((ctx_t *)arg)->nclosed++;
}

static void ctx_init(ctx_t *c) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(uv_loop_init(&c->loop), 0);
}

static void ctx_free(ctx_t *c) {
  for (int i = 0; i < c->ndone; i++)
    rf_flush_free(c->flushes[i]);
  assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void tick(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop until `n` flushes are back or timeout_ms passes. */
static void run_until(ctx_t *c, int n, int timeout_ms) {
  uv_timer_t t;
  uv_timer_init(&c->loop, &t);
  uint64_t end = uv_hrtime() / 1000000 + (uint64_t)timeout_ms;
  while (c->ndone < n && uv_hrtime() / 1000000 < end) {
    uv_timer_start(&t, tick, 20, 0);
    uv_run(&c->loop, UV_RUN_DEFAULT);
  }
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&c->loop, UV_RUN_NOWAIT);
}

static rf_writer_t *writer(ctx_t *c, const char *chain, const char *heads, size_t txn_rows) {
  rf_writer_config_t cfg = {.conninfo = pg.conninfo, .chain_id = chain, .heads_file = heads,
                            .max_txn_rows = txn_rows, .retry_max_ms = 300};
  rf_writer_t *w = NULL;
  assert_int_equal(rf_writer_new(&c->loop, &cfg, on_done, c, &w), 0);
  return w;
}

static void close_writer(ctx_t *c, rf_writer_t *w) {
  int before = c->nclosed;
  rf_writer_close(w, 1000, on_closed, c);
  while (c->nclosed == before)
    uv_run(&c->loop, UV_RUN_ONCE);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(tmp, sizeof(tmp), f, ap);
  va_end(ap);
  return rf_strdup(tmp);
}

/* A flush of keys prefix-[from, to); even ids fixed unless all_kind is set. */
static rf_flush_t *make_flush(const char *prefix, int from, int to, int all_kind) {
  rf_flush_t *f = rf_flush_new("test:src", "orders", "order_date");
  assert_non_null(f);
  for (int i = from; i < to; i++) {
    rf_outcome_t *o = rf_flush_add(f);
    assert_non_null(o);
    o->kind = all_kind ? (rf_outcome_kind_t)all_kind
                       : (i % 2 == 0 ? RF_OUTCOME_FIXED : RF_OUTCOME_QUARANTINED);
    o->key = fmt("%s-%d", prefix, i);
    o->source = rf_strdup("test:src");
    o->source_id = fmt("%d-0", i);
    o->table_name = rf_strdup("orders");
    o->column_name = rf_strdup("order_date");
    o->pk_json = fmt("{\"id\": %d, \"region\": \"eu\"}", i); /* not canonical on purpose */
    o->pk_hash = rf_strdup("00");
    o->old_value = fmt("%02d/01/2024\ttab \"q\" \\ \xc3\xa9", i % 28 + 1);
    o->row_json = fmt("{\"order_date\": \"x\", \"id\": %d}", i);
    o->fingerprint = rf_strdup("9/9/9999");
    o->generator = rf_strdup("synth");
    o->confidence = 0.1 * (i % 10);
    o->has_confidence = i % 3 != 0;
    if (o->kind == RF_OUTCOME_FIXED) {
      o->new_value = fmt("2024-01-%02d", i % 28 + 1);
      o->lambda_src = rf_strdup("lambda x: x");
    } else {
      o->reason = rf_strdup(RF_REASON_NO_FIX);
      o->detail = fmt("detail\nfor %d", i);
      o->model_answer = i % 4 ? rf_strdup("sure: lambda x: y") : NULL;
    }
    char raw[64];
    int n = snprintf(raw, sizeof(raw), "{\"k\":%d}\x01\xfe", i);
    o->raw = rf_memdup(raw, (size_t)n);
    o->raw_len = (size_t)n;
  }
  return f;
}

static PGconn *conn(void) {
  PGconn *c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  return c;
}

static long long scalar(const char *sql) {
  PGconn *c = conn();
  long long v = rf_h_pg_scalar(c, sql);
  PQfinish(c);
  return v;
}

/* rectifyctl audit verify; returns the exit code, *out its stdout. */
static int verify(const char *extra, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --db '%s' %s", rf_h_bin_dir(),
           pg.conninfo, extra ? extra : "");
  return rf_h_run(cmd, out, 120000);
}

static void assert_verifies(const char *extra) {
  char *out = NULL;
  int rc = verify(extra, &out);
  if (rc != 0)
    fail_msg("audit verify exited %d:\n%s", rc, out ? out : "");
  assert_non_null(strstr(out, "OK: audit chain verified"));
  free(out);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_write_and_redeliver(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  char heads[600];
  snprintf(heads, sizeof(heads), "%s/heads-w1", tmpdir);
  rf_writer_t *w = writer(&c, "w1", heads, 0);
  rf_flush_t *first = make_flush("rd", 0, 100, 0);
  rf_free(first->rows[3].reason); /* a quarantined row without a reason gets "no_fix" */
  first->rows[3].reason = NULL;
  assert_int_equal(rf_writer_submit(w, first), 0);
  run_until(&c, 1, 30000);
  assert_int_equal(c.ndone, 1);
  assert_int_equal(c.status[0], 0);
  assert_string_equal(c.flushes[0]->batch_id, "w1:1");
  assert_int_equal(c.flushes[0]->n_duplicates, 0);
  assert_true(rf_writer_ready(w));
  assert_int_equal(scalar("SELECT count(*) FROM rectify.staging WHERE key LIKE 'rd-%'"), 50);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.quarantine WHERE key LIKE 'rd-%'"), 50);
  /* Values arrive intact (COPY escaping) and created_at derives from ts_us. */
  assert_int_equal(scalar("SELECT count(*) FROM rectify.staging WHERE key = 'rd-2'"
                          " AND old_value = E'03/01/2024\\ttab \"q\" \\\\ \\u00e9'"
                          " AND new_value = '2024-01-03' AND pk = '{\"id\":2,\"region\":\"eu\"}'"
                          " AND created_at = to_timestamp(ts_us::float8 / 1e6)"),
                   1);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.quarantine WHERE key = 'rd-3'"
                          " AND reason = 'no_fix'"),
                   1);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.quarantine WHERE key = 'rd-1'"
                          " AND detail = E'detail\\nfor 1' AND raw = '\\x7b226b223a317d01fe'::bytea"),
                   1);
  /* Redelivery: rd-50..rd-149, half of them already stored, with the opposite kinds. */
  rf_flush_t *again = make_flush("rd", 50, 150, 0);
  for (size_t i = 0; i < again->n; i++)
    if (again->rows[i].kind == RF_OUTCOME_FIXED) { /* flip: must not move rows */
      rf_outcome_t *o = &again->rows[i];
      o->kind = RF_OUTCOME_QUARANTINED;
      rf_free(o->new_value);
      o->new_value = NULL;
      o->reason = rf_strdup(RF_REASON_NO_FIX);
    }
  assert_int_equal(rf_writer_submit(w, again), 0);
  run_until(&c, 2, 30000);
  assert_int_equal(c.status[1], 0);
  assert_string_equal(c.flushes[1]->batch_id, "w1:2");
  assert_int_equal(c.flushes[1]->n_duplicates, 50);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.staging WHERE key LIKE 'rd-%'"), 50);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.quarantine WHERE key LIKE 'rd-%'"), 100);
  assert_int_equal(scalar("SELECT count(*) FROM (SELECT key FROM rectify.staging UNION ALL"
                          " SELECT key FROM rectify.quarantine) k WHERE key LIKE 'rd-%'"),
                   150);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.staging WHERE key = 'rd-50'"
                          " AND batch_id = 'w1:1'"),
                   1);
  assert_int_equal(scalar("SELECT received * 1000 + duplicates FROM rectify.batches"
                          " WHERE batch_id = 'w1:2'"),
                   50 * 1000 + 50);
  assert_int_equal(scalar("SELECT (entry->>'duplicates')::int FROM rectify.audit"
                          " WHERE batch_id = 'w1:2'"),
                   50);
  /* A flush made only of redeliveries: a batch with zero rows, still chained. */
  assert_int_equal(rf_writer_submit(w, make_flush("rd", 0, 10, 0)), 0);
  run_until(&c, 3, 30000);
  assert_int_equal(c.status[2], 0);
  assert_int_equal(c.flushes[2]->n_duplicates, 10);
  assert_int_equal(scalar("SELECT received FROM rectify.batches WHERE batch_id = 'w1:3'"), 0);
  close_writer(&c, w);
  /* The heads file records the last commit. */
  char *content = NULL;
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "cat %s", heads);
  assert_int_equal(rf_h_run(cmd, &content, 5000), 0);
  assert_non_null(strstr(content, "w1\t3\t"));
  free(content);
  char extra[700];
  snprintf(extra, sizeof(extra), "--heads %s", heads);
  assert_verifies(extra);
  ctx_free(&c);
}

static void test_constraints_and_triggers(void **state) {
  (void)state;
  PGconn *c = conn();
  /* received = fixed + quarantined is enforced by the database. */
  assert_int_not_equal(rf_h_pg_exec(c, "INSERT INTO rectify.batches (batch_id, chain_id, seq,"
                                       " source, received, fixed, quarantined, duplicates,"
                                       " written_us) VALUES ('x:1', 'x', 1, 's', 3, 1, 1, 0, 0)"),
                       0);
  assert_int_equal(rf_h_pg_exec(c, "INSERT INTO rectify.batches (batch_id, chain_id, seq,"
                                   " source, received, fixed, quarantined, duplicates,"
                                   " written_us) VALUES ('x:1', 'x', 1, 's', 2, 1, 1, 0, 0)"),
                   0);
  const char *tables[] = {"staging", "quarantine", "messages", "batches", "audit", "actions"};
  for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE rectify.%s SET batch_id = batch_id", tables[i]);
    if (strcmp(tables[i], "actions") == 0)
      snprintf(sql, sizeof(sql), "UPDATE rectify.actions SET actor = actor");
    assert_int_not_equal(rf_h_pg_exec(c, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM rectify.%s", tables[i]);
    assert_int_not_equal(rf_h_pg_exec(c, sql), 0);
    snprintf(sql, sizeof(sql), "TRUNCATE rectify.%s CASCADE", tables[i]);
    assert_int_not_equal(rf_h_pg_exec(c, sql), 0);
  }
  /* The error says why. */
  PGresult *r = PQexec(c, "DELETE FROM rectify.audit");
  assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
  assert_string_equal(rf_pg_sqlstate(r), "42501");
  PQclear(r);
  /* Staging rows are immutable; the chain table rejects a bad hash length. */
  assert_int_not_equal(rf_h_pg_exec(c, "INSERT INTO rectify.audit (chain_id, seq, batch_id,"
                                       " prev_hash, hash, entry) VALUES ('y', 1, 'y:1', '\\x00',"
                                       " '\\x00', '{}')"),
                       0);
  PQfinish(c);
  /* The hand-made batch row x:1 has no chain entry: verify must say so. */
  char *out = NULL;
  assert_int_equal(verify("", &out), 1);
  assert_non_null(strstr(out, "chain=x seq=1:"));
  assert_non_null(strstr(out, "no chain entry"));
  free(out);
}

static void test_race_two_writers(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  rf_writer_t *a = writer(&c, "race-a", NULL, 1000);
  rf_writer_t *b = writer(&c, "race-b", NULL, 1000);
  /* Same 2000 keys, in 500-key flushes, FIXED on one side and QUARANTINED on
   * the other, submitted to both at once. */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rf_writer_submit(a, make_flush("race", i * 500, (i + 1) * 500,
                                                    RF_OUTCOME_FIXED)), 0);
    assert_int_equal(rf_writer_submit(b, make_flush("race", (3 - i) * 500, (4 - i) * 500,
                                                    RF_OUTCOME_QUARANTINED)), 0);
  }
  run_until(&c, 8, 60000);
  assert_int_equal(c.ndone, 8);
  size_t dups = 0;
  for (int i = 0; i < 8; i++) {
    assert_int_equal(c.status[i], 0);
    dups += c.flushes[i]->n_duplicates;
  }
  assert_int_equal(dups, 2000);
  assert_int_equal(scalar("SELECT count(*) FROM (SELECT key FROM rectify.staging UNION ALL"
                          " SELECT key FROM rectify.quarantine) k WHERE key LIKE 'race-%'"),
                   2000);
  assert_int_equal(scalar("SELECT count(DISTINCT key) FROM (SELECT key FROM rectify.staging"
                          " UNION ALL SELECT key FROM rectify.quarantine) k"
                          " WHERE key LIKE 'race-%'"),
                   2000);
  assert_int_equal(scalar("SELECT sum(received) FROM rectify.batches WHERE chain_id LIKE 'race-%'"),
                   2000);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.messages WHERE key LIKE 'race-%'"), 2000);
  close_writer(&c, a);
  close_writer(&c, b);
  assert_verifies("--chain race-a");
  assert_verifies("--chain race-b");
  ctx_free(&c);
}

static void test_pg_down_mid_run(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  char heads[600];
  snprintf(heads, sizeof(heads), "%s/heads-down", tmpdir);
  rf_writer_t *w = writer(&c, "down", heads, 0);
  assert_int_equal(rf_writer_submit(w, make_flush("down", 0, 300, 0)), 0);
  run_until(&c, 1, 30000);
  assert_int_equal(c.status[0], 0);
  assert_int_equal(rf_h_pg_stop(&pg), 0);
  for (int i = 1; i <= 5; i++)
    assert_int_equal(rf_writer_submit(w, make_flush("down", i * 300, (i + 1) * 300, 0)), 0);
  /* Nothing may come back while the database is down. */
  run_until(&c, 2, 3000);
  assert_int_equal(c.ndone, 1);
  assert_int_equal(rf_writer_pending_rows(w), 1500);
  assert_int_equal(rf_h_pg_restart(&pg), 0);
  run_until(&c, 6, 60000);
  assert_int_equal(c.ndone, 6);
  for (int i = 0; i < 6; i++)
    assert_int_equal(c.status[i], 0);
  assert_int_equal(rf_writer_pending_rows(w), 0);
  assert_int_equal(scalar("SELECT count(*) FROM (SELECT key FROM rectify.staging UNION ALL"
                          " SELECT key FROM rectify.quarantine) k WHERE key LIKE 'down-%'"),
                   1800);
  assert_int_equal(scalar("SELECT max(seq) FROM rectify.audit WHERE chain_id = 'down'"), 6);
  close_writer(&c, w);
  char extra[700];
  snprintf(extra, sizeof(extra), "--chain down --heads %s", heads);
  assert_verifies(extra);
  ctx_free(&c);
}

static void test_data_error_bisect(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  rf_writer_t *w = writer(&c, "bisect", NULL, 0);
  rf_flush_t *f = make_flush("bis", 0, 40, 0);
  /* Row 13: pk is not JSON; row 26: row context is not JSON. PostgreSQL
   * refuses both with SQLSTATE 22P02. */
  rf_free(f->rows[13].pk_json);
  f->rows[13].pk_json = rf_strdup("{not json");
  rf_free(f->rows[26].row_json);
  f->rows[26].row_json = rf_strdup("[1,");
  /* A second flush in the same transaction group is unaffected. */
  assert_int_equal(rf_writer_submit(w, f), 0);
  assert_int_equal(rf_writer_submit(w, make_flush("bis", 40, 60, 0)), 0);
  run_until(&c, 2, 60000);
  assert_int_equal(c.ndone, 2);
  assert_int_equal(c.status[0], 0);
  assert_int_equal(c.status[1], 0);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.quarantine WHERE key IN ('bis-13', 'bis-26')"
                          " AND reason = 'malformed' AND detail LIKE '%invalid input syntax%json%'"
                          " AND raw IS NOT NULL AND pk IS NULL"),
                   2);
  /* bis-26 was a FIXED row: it moved to quarantine and is in no other table. */
  assert_int_equal(scalar("SELECT count(*) FROM rectify.staging WHERE key = 'bis-26'"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM (SELECT key FROM rectify.staging UNION ALL"
                          " SELECT key FROM rectify.quarantine) k WHERE key LIKE 'bis-%'"),
                   60);
  /* The flush handed back says what happened to its rows. */
  rf_flush_t *back = c.flushes[0]->n == 40 ? c.flushes[0] : c.flushes[1];
  assert_int_equal(back->rows[26].kind, RF_OUTCOME_QUARANTINED);
  assert_string_equal(back->rows[26].reason, RF_REASON_MALFORMED);
  close_writer(&c, w);
  assert_verifies("--chain bisect");
  ctx_free(&c);
}

static void test_reconcile_mismatch(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  rf_writer_t *w = writer(&c, "recon", NULL, 0);
  rf_flush_t *bad = make_flush("rec", 0, 10, 0);
  bad->rows[4].kind = (rf_outcome_kind_t)7; /* goes to no table */
  assert_int_equal(rf_writer_submit(w, make_flush("rec", 100, 110, 0)), 0);
  assert_int_equal(rf_writer_submit(w, bad), 0);
  assert_int_equal(rf_writer_submit(w, make_flush("rec", 200, 210, 0)), 0);
  run_until(&c, 3, 30000);
  assert_int_equal(c.ndone, 3);
  int ok = 0, recon = 0;
  for (int i = 0; i < 3; i++) {
    if (c.status[i] == 0)
      ok++;
    else if (c.status[i] == RF_ERECONCILE && c.flushes[i] == bad)
      recon++;
  }
  assert_int_equal(ok, 2);
  assert_int_equal(recon, 1);
  /* Nothing of the refused flush was written: no rows, no ledger keys. */
  assert_int_equal(scalar("SELECT count(*) FROM rectify.messages WHERE key ~ '^rec-[0-9]$'"), 0);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.messages WHERE key LIKE 'rec-%'"), 20);
  assert_int_equal(scalar("SELECT max(seq) FROM rectify.audit WHERE chain_id = 'recon'"), 2);
  close_writer(&c, w);
  assert_verifies("--chain recon");
  ctx_free(&c);
}

typedef struct mig {
  char conninfo[600];
  int rc;
  char err[512];
} mig_t;

static void migrate_thread(void *arg) {
  mig_t *m = arg;
  PGconn *c = PQconnectdb(m->conninfo);
  m->rc = PQstatus(c) == CONNECTION_OK ? rf_schema_migrate(c, m->err, sizeof(m->err)) : -1;
  PQfinish(c);
}

static void test_concurrent_migrations(void **state) {
  (void)state;
  PGconn *c = conn();
  assert_int_equal(rf_h_pg_exec(c, "CREATE DATABASE mig"), 0);
  PQfinish(c);
  mig_t m[4];
  uv_thread_t t[4];
  for (int i = 0; i < 4; i++) {
    snprintf(m[i].conninfo, sizeof(m[i].conninfo), "host=127.0.0.1 port=%d dbname=mig user=postgres",
             pg.port);
    assert_int_equal(uv_thread_create(&t[i], migrate_thread, &m[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    uv_thread_join(&t[i]);
    if (m[i].rc != 0)
      fail_msg("migration %d failed: %s", i, m[i].err);
  }
  PGconn *mc = PQconnectdb(m[0].conninfo);
  /* Every migration applied exactly once, none skipped. */
  assert_int_equal(rf_h_pg_scalar(mc, "SELECT (count(*) = max(version) AND count(*) >= 1)::int "
                                      "FROM rectify.schema_migrations"), 1);
  /* A database migrated by a newer rectify is refused. */
  assert_int_equal(rf_h_pg_exec(mc, "INSERT INTO rectify.schema_migrations VALUES (999, 'future')"), 0);
  char err[512];
  assert_int_equal(rf_schema_migrate(mc, err, sizeof(err)), RF_EDB);
  assert_non_null(strstr(err, "newer"));
  PQfinish(mc);
}

static void test_same_chain_two_writers(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  rf_writer_t *a = writer(&c, "shared", NULL, 100);
  rf_writer_t *b = writer(&c, "shared", NULL, 100);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(rf_writer_submit(a, make_flush("sha", i * 100, i * 100 + 50, 0)), 0);
    assert_int_equal(rf_writer_submit(b, make_flush("sha", i * 100 + 50, i * 100 + 100, 0)), 0);
  }
  run_until(&c, 20, 60000);
  assert_int_equal(c.ndone, 20);
  for (int i = 0; i < 20; i++)
    assert_int_equal(c.status[i], 0);
  /* One chain, no fork: seq 1..20 exactly once each. */
  assert_int_equal(scalar("SELECT count(*) FROM rectify.audit WHERE chain_id = 'shared'"), 20);
  assert_int_equal(scalar("SELECT max(seq) FROM rectify.audit WHERE chain_id = 'shared'"), 20);
  close_writer(&c, a);
  close_writer(&c, b);
  assert_verifies("--chain shared");
  ctx_free(&c);
}

static void test_close_drains(void **state) {
  (void)state;
  ctx_t c;
  ctx_init(&c);
  rf_writer_t *w = writer(&c, "drain", NULL, 100);
  for (int i = 0; i < 5; i++)
    assert_int_equal(rf_writer_submit(w, make_flush("drn", i * 100, (i + 1) * 100, 0)), 0);
  /* Close at once: what is queued is still written, then handed back, then
   * the close callback runs. */
  rf_writer_close(w, 10000, on_closed, &c);
  while (c.nclosed == 0)
    uv_run(&c.loop, UV_RUN_ONCE);
  assert_int_equal(c.ndone, 5);
  for (int i = 0; i < 5; i++)
    assert_int_equal(c.status[i], 0);
  assert_int_equal(scalar("SELECT count(*) FROM rectify.messages WHERE key LIKE 'drn-%'"), 500);
  ctx_free(&c);
}

static int setup(void **state) {
  (void)state;
  rf_alloc_init();
  rf_log_set_level(getenv("RF_TEST_LOG") ? RF_LOG_DEBUG : RF_LOG_CRIT);
  tmpdir = rf_h_tmpdir("rf-writer-pg-");
  return tmpdir && rf_h_pg_start(&pg) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  rf_h_pg_destroy(&pg);
  if (tmpdir) {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    rf_h_run(cmd, NULL, 10000);
    free(tmpdir);
  }
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_and_redeliver),
      cmocka_unit_test(test_race_two_writers),
      cmocka_unit_test(test_pg_down_mid_run),
      cmocka_unit_test(test_data_error_bisect),
      cmocka_unit_test(test_reconcile_mismatch),
      cmocka_unit_test(test_same_chain_two_writers),
      cmocka_unit_test(test_close_drains),
      cmocka_unit_test(test_concurrent_migrations),
      /* Last: it leaves a batch row without a chain entry on purpose. */
      cmocka_unit_test(test_constraints_and_triggers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

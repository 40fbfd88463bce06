/* test_audit_tamper.c - a superuser tampers with what the writer stored;
 * `rectifyctl audit verify` must exit 1 and name the exact chain and seq
 * (and the key when a row is at fault). Untampered, it exits 0.
 *
 * The writer fills the database `rectify` once (chain "t", six batches, with
 * a heads file); each scenario works on its own copy (CREATE DATABASE ...
 * TEMPLATE rectify) and disables the append-only triggers the way a superuser
 * can: SET session_replication_role = replica. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/writer.h"

static rf_h_pg_t pg;
static char *tmpdir;
static char heads[700];
static int ndb;

typedef struct ctx {
  uv_loop_t loop;
  int ndone, nfailed, closed;
} ctx_t;

static void on_done(rf_flush_t *f, int status, void *arg) {
  ctx_t *c = arg;
  c->ndone++;
  if (status)
    c->nfailed++;
  rf_flush_free(f);
}

static void on_closed(rf_writer_t *w, void *arg) {
  (void)w;
  ((ctx_t *)arg)->closed = 1;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, f);
  vsnprintf(tmp, sizeof(tmp), f, ap);
  va_end(ap);
  return rf_strdup(tmp);
}

static rf_flush_t *make_flush(int batch) {
  rf_flush_t *f = rf_flush_new("test:tamper", "orders", "order_date");
  for (int i = 0; i < 20; i++) {
    rf_outcome_t *o = rf_flush_add(f);
    int id = batch * 100 + i;
    o->kind = i % 3 ? RF_OUTCOME_FIXED : RF_OUTCOME_QUARANTINED;
    o->key = fmt("tk-%04d", id);
    o->source = rf_strdup("test:tamper");
    o->source_id = fmt("%d-0", id);
    o->table_name = rf_strdup("orders");
    o->column_name = rf_strdup("order_date");
    o->pk_json = fmt("{\"id\":%d}", id);
    o->old_value = fmt("%02d/01/2024", i + 1);
    o->row_json = fmt("{\"id\":%d,\"v\":1.50}", id);
    o->confidence = 0.9;
    o->has_confidence = true;
    if (o->kind == RF_OUTCOME_FIXED) {
      o->new_value = fmt("2024-01-%02d", i + 1);
      o->lambda_src = rf_strdup("lambda x: x");
      o->generator = rf_strdup("synth");
    } else {
      o->reason = rf_strdup(RF_REASON_NO_FIX);
      o->detail = rf_strdup("nothing fits");
      o->model_answer = rf_strdup("raw answer");
    }
    o->raw = (unsigned char *)fmt("{\"id\":%d}", id);
    o->raw_len = strlen((char *)o->raw);
  }
  return f;
}

static void tick(uv_timer_t *t) { uv_stop(t->loop); }

/* Writes `batches` flushes into database `db` on chain `chain`. */
static void fill(const char *db, const char *chain, const char *heads_file,
                 const unsigned char *key, size_t keylen, int batches) {
  ctx_t c = {0};
  uv_loop_init(&c.loop);
  char conninfo[600];
  snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=%s user=postgres", pg.port,
           db);
  rf_writer_config_t cfg = {.conninfo = conninfo, .chain_id = chain, .heads_file = heads_file,
                            .audit_key = key, .audit_key_len = keylen,
                            .max_txn_rows = 20 /* one batch per transaction */};
  rf_writer_t *w = NULL;
  assert_int_equal(rf_writer_new(&c.loop, &cfg, on_done, &c, &w), 0);
  for (int b = 1; b <= batches; b++)
    assert_int_equal(rf_writer_submit(w, make_flush(b)), 0);
  uv_timer_t t;
  uv_timer_init(&c.loop, &t);
  for (int i = 0; i < 3000 && c.ndone < batches; i++) {
    uv_timer_start(&t, tick, 10, 0);
    uv_run(&c.loop, UV_RUN_DEFAULT);
  }
  assert_int_equal(c.ndone, batches);
  assert_int_equal(c.nfailed, 0);
  uv_close((uv_handle_t *)&t, NULL);
  rf_writer_close(w, 1000, on_closed, &c);
  while (!c.closed)
    uv_run(&c.loop, UV_RUN_ONCE);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&c.loop), 0);
}

/* A fresh copy of the untampered database; returns its name (static buffer). */
static const char *copy_db(void) {
  static char name[32];
  snprintf(name, sizeof(name), "tamper%d", ++ndb);
  PGconn *c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  char sql[128];
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE rectify", name);
  assert_int_equal(rf_h_pg_exec(c, sql), 0);
  PQfinish(c);
  return name;
}

/* Runs sql as a superuser with the append-only triggers disabled. */
static void tamper(const char *db, const char *sql) {
  char conninfo[600];
  snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=%s user=postgres", pg.port,
           db);
  PGconn *c = PQconnectdb(conninfo);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  assert_int_equal(rf_h_pg_exec(c, "SET session_replication_role = replica"), 0);
  int rc = rf_h_pg_exec(c, sql);
  PQfinish(c);
  if (rc != 0)
    fail_msg("tampering failed: %s", sql);
}

static int run_ctl(const char *sub, const char *db, const char *extra, char **out) {
  char cmd[4096];
  snprintf(cmd, sizeof(cmd),
           "%s/rectifyctl audit %s --db 'host=127.0.0.1 port=%d dbname=%s user=postgres' %s",
           rf_h_bin_dir(), sub, pg.port, db, extra ? extra : "");
  return rf_h_run(cmd, out, 120000);
}

/* Verifies db with the heads file; expects exit `want` and every string in
 * the NULL-terminated list in the output. */
static void expect(const char *db, const char *extra, int want, ...) {
  char args[900];
  snprintf(args, sizeof(args), "--heads %s %s", heads, extra ? extra : "");
  char *out = NULL;
  int rc = run_ctl("verify", db, args, &out);
  if (rc != want)
    fail_msg("verify %s exited %d, want %d:\n%s", db, rc, want, out ? out : "");
  va_list ap;
  va_start(ap, want);
  for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
    if (out == NULL || strstr(out, s) == NULL)
      fail_msg("verify %s: output lacks \"%s\":\n%s", db, s, out ? out : "");
  va_end(ap);
  free(out);
}

/* ---- scenarios ------------------------------------------------------------------- */

static void test_untampered(void **state) {
  (void)state;
  expect("rectify", NULL, 0, "OK: audit chain verified", "entries=6", "rows=120", "heads=1", NULL);
  /* Inclusion proof of one row. */
  char *out = NULL;
  assert_int_equal(run_ctl("prove", "rectify", "tk-0305", &out), 0);
  assert_non_null(strstr(out, "\"batch\":\"t:3\""));
  assert_non_null(strstr(out, "\"verified\":true"));
  free(out);
  assert_int_equal(run_ctl("prove", "rectify", "no-such-key", NULL), 2);
}

static void test_edit_staging_value(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.staging SET new_value = '2099-01-01' WHERE key = 'tk-0302'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=3: key=tk-0302:", "row edited", NULL);
  char *out = NULL;
  assert_int_equal(run_ctl("prove", db, "tk-0302", &out), 1);
  assert_non_null(strstr(out, "\"verified\":false"));
  free(out);
}

static void test_edit_quarantine_row(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.quarantine SET reason = 'poison' WHERE key = 'tk-0203'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=2: key=tk-0203:", NULL);
  db = copy_db();
  tamper(db, "UPDATE rectify.quarantine SET raw = '\\x00'::bytea WHERE key = 'tk-0406'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=4: key=tk-0406:", NULL);
}

static void test_edit_stored_leaf(void **state) {
  (void)state;
  /* Editing a value AND its stored leaf hash: the verifier recomputes leaves
   * from the columns, so the row is still caught. */
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.staging SET leaf_hash = (SELECT leaf_hash FROM rectify.staging"
             " WHERE key = 'tk-0102') WHERE key = 'tk-0101'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=1: key=tk-0101:", NULL);
}

static void test_move_row(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.staging SET batch_id = 't:2' WHERE key = 'tk-0501'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=2: key=tk-0501:", NULL);
}

static void test_delete_row(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "DELETE FROM rectify.staging WHERE key = 'tk-0407'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=4:", "removed", NULL);
  db = copy_db();
  tamper(db, "DELETE FROM rectify.quarantine WHERE key = 'tk-0600'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=6:", NULL);
}

static void test_insert_row(void **state) {
  (void)state;
  /* Into an existing batch: a copy of a real row under a new key. */
  const char *db = copy_db();
  tamper(db, "INSERT INTO rectify.staging (key, batch_id, source, source_id, table_name,"
             " column_name, pk, pk_hash, old_value, new_value, row_context, fingerprint,"
             " cluster_id, fix_id, lambda, generator, model, confidence, raw_sha256, ts_us,"
             " leaf_hash) SELECT 'tk-forged', batch_id, source, source_id, table_name,"
             " column_name, pk, pk_hash, old_value, new_value, row_context, fingerprint,"
             " cluster_id, fix_id, lambda, generator, model, confidence, raw_sha256, ts_us,"
             " leaf_hash FROM rectify.staging WHERE key = 'tk-0501'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=5: key=tk-forged:", NULL);
  /* Into a batch that does not exist. */
  db = copy_db();
  tamper(db, "INSERT INTO rectify.quarantine (key, batch_id, reason, ts_us, leaf_hash)"
             " VALUES ('tk-ghost', 't:77', 'no_fix', 0, decode(repeat('00', 32), 'hex'))");
  expect(db, NULL, 1, "BROKEN: chain=t seq=77: key=tk-ghost:", "no chain entry", NULL);
}

static void test_edit_entry(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.audit SET entry = jsonb_set(entry, '{fixed}', '14')"
             " WHERE chain_id = 't' AND seq = 3");
  expect(db, NULL, 1, "BROKEN: chain=t seq=3:", "entry or link edited", NULL);
  /* The batch row alone. */
  db = copy_db();
  tamper(db, "UPDATE rectify.batches SET duplicates = 5 WHERE batch_id = 't:4'");
  expect(db, NULL, 1, "BROKEN: chain=t seq=4:", "batch row", NULL);
}

static void test_swap_entries(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "UPDATE rectify.audit SET seq = 1000 WHERE chain_id = 't' AND seq = 2;"
             "UPDATE rectify.audit SET seq = 2 WHERE chain_id = 't' AND seq = 3;"
             "UPDATE rectify.audit SET seq = 3 WHERE chain_id = 't' AND seq = 1000");
  expect(db, NULL, 1, "BROKEN: chain=t seq=2:", NULL);
}

static void test_delete_middle_entry(void **state) {
  (void)state;
  const char *db = copy_db();
  tamper(db, "DELETE FROM rectify.audit WHERE chain_id = 't' AND seq = 3");
  expect(db, NULL, 1, "BROKEN: chain=t seq=3:", "entry missing", NULL);
}

static void test_cut_tail(void **state) {
  (void)state;
  /* Delete the last two batches completely: entries, batch rows, rows, ledger. */
  const char *db = copy_db();
  tamper(db, "DELETE FROM rectify.audit WHERE chain_id = 't' AND seq >= 5;"
             "DELETE FROM rectify.batches WHERE batch_id IN ('t:5', 't:6');"
             "DELETE FROM rectify.staging WHERE batch_id IN ('t:5', 't:6');"
             "DELETE FROM rectify.quarantine WHERE batch_id IN ('t:5', 't:6');"
             "DELETE FROM rectify.messages WHERE batch_id IN ('t:5', 't:6')");
  expect(db, NULL, 1, "BROKEN: chain=t seq=5:", "tail cut", "records seq 6", NULL);
  /* Without the heads file the cut is invisible: that is what the file is for. */
  char *out = NULL;
  assert_int_equal(run_ctl("verify", db, "--no-heads", &out), 0);
  free(out);
  /* And the whole chain gone: still caught through the heads file. */
  db = copy_db();
  tamper(db, "DELETE FROM rectify.audit; DELETE FROM rectify.batches;"
             "DELETE FROM rectify.staging; DELETE FROM rectify.quarantine;"
             "DELETE FROM rectify.messages");
  expect(db, NULL, 1, "BROKEN: chain=t seq=1:", "tail cut", NULL);
}

static void test_database_ahead_of_heads(void **state) {
  (void)state;
  /* An older heads file (the database committed more since) is fine, and reported. */
  char old[800];
  snprintf(old, sizeof(old), "%s/heads-old", tmpdir);
  char *out = NULL;
  PGconn *c = rf_h_pg_connect(&pg);
  PGresult *r = PQexec(c, "SELECT encode(hash, 'hex') FROM rectify.audit WHERE chain_id = 't'"
                          " AND seq = 4");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  char line[200];
  snprintf(line, sizeof(line), "t\t4\t%s\n", PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  assert_int_equal(rf_h_write_file(old, line), 0);
  char args[900];
  snprintf(args, sizeof(args), "--heads %s", old);
  assert_int_equal(run_ctl("verify", "rectify", args, &out), 0);
  assert_non_null(strstr(out, "2 entries ahead"));
  free(out);
  /* A heads file whose hash differs: the chain was rewritten. */
  snprintf(line, sizeof(line), "t\t4\t%064d\n", 7);
  assert_int_equal(rf_h_write_file(old, line), 0);
  assert_int_equal(run_ctl("verify", "rectify", args, &out), 1);
  assert_non_null(strstr(out, "chain=t seq=4:"));
  free(out);
}

static void test_keyed_chain(void **state) {
  (void)state;
  PGconn *c = rf_h_pg_connect(&pg);
  assert_int_equal(rf_h_pg_exec(c, "CREATE DATABASE keyed"), 0);
  PQfinish(c);
  const unsigned char key[] = "0123456789abcdef0123456789abcdef";
  char kheads[800], keyfile[800], wrong[800], args[2000];
  snprintf(kheads, sizeof(kheads), "%s/heads-keyed", tmpdir);
  snprintf(keyfile, sizeof(keyfile), "%s/audit.key", tmpdir);
  snprintf(wrong, sizeof(wrong), "%s/wrong.key", tmpdir);
  assert_int_equal(rf_h_write_file(keyfile, (const char *)key), 0);
  assert_int_equal(rf_h_write_file(wrong, "not the key"), 0);
  fill("keyed", "k", kheads, key, sizeof(key) - 1, 3);
  char *out = NULL;
  snprintf(args, sizeof(args), "--heads %s --key-file %s", kheads, keyfile);
  assert_int_equal(run_ctl("verify", "keyed", args, &out), 0);
  free(out);
  /* Without the key the links cannot be checked: an operational error. */
  snprintf(args, sizeof(args), "--heads %s", kheads);
  assert_int_equal(run_ctl("verify", "keyed", args, NULL), 2);
  /* A wrong key (or a forged, re-hashed chain): broken at the first entry. */
  snprintf(args, sizeof(args), "--heads %s --key-file %s", kheads, wrong);
  assert_int_equal(run_ctl("verify", "keyed", args, &out), 1);
  assert_non_null(strstr(out, "chain=k seq=1:"));
  free(out);
}

static void test_usage_errors(void **state) {
  (void)state;
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify", rf_h_bin_dir());
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 2);
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --db 'host=127.0.0.1 port=1'",
           rf_h_bin_dir());
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 2);
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --db '%s' --bogus", rf_h_bin_dir(),
           pg.conninfo);
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 2);
  snprintf(cmd, sizeof(cmd), "%s/rectifyctl audit verify --db '%s' --key-file /nonexistent",
           rf_h_bin_dir(), pg.conninfo);
  assert_int_equal(rf_h_run(cmd, NULL, 10000), 2);
}

static int setup(void **state) {
  (void)state;
  rf_alloc_init();
  rf_log_set_level(getenv("RF_TEST_LOG") ? RF_LOG_DEBUG : RF_LOG_CRIT);
  tmpdir = rf_h_tmpdir("rf-tamper-");
  if (tmpdir == NULL || rf_h_pg_start(&pg) != 0)
    return -1;
  snprintf(heads, sizeof(heads), "%s/heads", tmpdir);
  fill("rectify", "t", heads, NULL, 0, 6);
  return 0;
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
      cmocka_unit_test(test_untampered),        cmocka_unit_test(test_edit_staging_value),
      cmocka_unit_test(test_edit_quarantine_row), cmocka_unit_test(test_edit_stored_leaf),
      cmocka_unit_test(test_move_row),          cmocka_unit_test(test_delete_row),
      cmocka_unit_test(test_insert_row),        cmocka_unit_test(test_edit_entry),
      cmocka_unit_test(test_swap_entries),      cmocka_unit_test(test_delete_middle_entry),
      cmocka_unit_test(test_cut_tail),          cmocka_unit_test(test_database_ahead_of_heads),
      cmocka_unit_test(test_keyed_chain),       cmocka_unit_test(test_usage_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

/* schema.c - the rectify schema in PostgreSQL, created and migrated by rectifyd.
 *
 * Why in code rather than a .sql file shipped next to the binary: the daemon
 * must be able to start against an empty database, several instances may start
 * at the same moment, and the binary must refuse a database migrated by a newer
 * version. So migrations are numbered, applied in one transaction under a
 * transaction-level advisory lock (every instance queues on the same lock; the
 * first applies, the others find nothing to do), and recorded in
 * rectify.schema_migrations. A released migration is never edited: append one.
 *
 * The tables are described in DESIGN.md ("Storage") and docs/audit.md. Every
 * table that holds facts (staging, quarantine, messages, batches, audit,
 * actions) rejects UPDATE, DELETE and TRUNCATE with a statement trigger;
 * only `fixes` is mutable (hits, last use, revocation).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/pg.h"
#include "rectify/writer.h"

/* pg_advisory_xact_lock key: "rect" in ASCII. */
#define RF_SCHEMA_LOCK_KEY "1919247220"

typedef struct migration {
  int version;
  const char *name;
  const char *sql;
} migration_t;

static const migration_t migrations[] = {
    {1, "initial schema",
     /* The key ledger: one row per message key that has an outcome. Claimed
      * first in every write transaction, it makes "exactly one of staging or
      * quarantine" hold across both tables and across racing instances. */
     "CREATE TABLE rectify.messages ("
     "  key text COLLATE \"C\" PRIMARY KEY,"
     "  batch_id text NOT NULL,"
     "  outcome text NOT NULL CHECK (outcome IN ('fixed', 'quarantined')));"
     /* Fixed rows, each with its receipt columns and leaf hash. */
     "CREATE TABLE rectify.staging ("
     "  key text COLLATE \"C\" PRIMARY KEY,"
     "  batch_id text NOT NULL,"
     "  source text, source_id text, table_name text, column_name text,"
     "  pk jsonb, pk_hash text, old_value text, new_value text, row_context jsonb,"
     "  fingerprint text, cluster_id text, fix_id text, lambda text, generator text,"
     "  model text, confidence double precision,"
     "  raw_sha256 bytea CHECK (octet_length(raw_sha256) = 32),"
     "  ts_us bigint NOT NULL,"
     "  created_at timestamptz GENERATED ALWAYS AS"
     "    (to_timestamp(ts_us::double precision / 1000000)) STORED,"
     "  leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32));"
     "CREATE INDEX staging_batch_idx ON rectify.staging (batch_id);"
     "CREATE INDEX staging_table_column_idx ON rectify.staging (table_name, column_name);"
     /* Rows a human decides on: raw payload kept, reason and detail. */
     "CREATE TABLE rectify.quarantine ("
     "  key text COLLATE \"C\" PRIMARY KEY,"
     "  batch_id text NOT NULL,"
     "  source text, source_id text, table_name text, column_name text,"
     "  pk jsonb, pk_hash text, old_value text, row_context jsonb,"
     "  fingerprint text, cluster_id text, fix_id text, lambda text, generator text,"
     "  model text, confidence double precision,"
     "  reason text NOT NULL, detail text, model_answer text, raw bytea,"
     "  ts_us bigint NOT NULL,"
     "  created_at timestamptz GENERATED ALWAYS AS"
     "    (to_timestamp(ts_us::double precision / 1000000)) STORED,"
     "  leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32));"
     "CREATE INDEX quarantine_batch_idx ON rectify.quarantine (batch_id);"
     "CREATE INDEX quarantine_reason_idx ON rectify.quarantine (reason, created_at);"
     "CREATE INDEX quarantine_table_column_idx ON rectify.quarantine (table_name, column_name);"
     /* Human and system actions on quarantined rows: the status of a row is
      * its latest action; the row itself never changes. */
     "CREATE TABLE rectify.actions ("
     "  id bigserial PRIMARY KEY,"
     "  key text COLLATE \"C\" NOT NULL REFERENCES rectify.quarantine (key),"
     "  action text NOT NULL CHECK (action IN ('resolve', 'discard', 'requeue', 'reopen', 'note')),"
     "  actor text NOT NULL,"
     "  detail text,"
     "  created_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX actions_key_idx ON rectify.actions (key, id);"
     /* Accepted lambdas, shared by every instance (the fix cache). */
     "CREATE TABLE rectify.fixes ("
     "  fix_id text PRIMARY KEY,"
     "  table_name text NOT NULL, column_name text NOT NULL, fingerprint text NOT NULL,"
     "  lambda text NOT NULL, generator text NOT NULL, model text,"
     "  confidence double precision, reasoning text,"
     "  first_used timestamptz NOT NULL DEFAULT now(),"
     "  last_used timestamptz NOT NULL DEFAULT now(),"
     "  hits bigint NOT NULL DEFAULT 0,"
     "  revoked boolean NOT NULL DEFAULT false, revoked_at timestamptz, revoked_by text);"
     "CREATE INDEX fixes_lookup_idx ON rectify.fixes (table_name, column_name, fingerprint)"
     "  WHERE NOT revoked;"
     /* One row per batch (= one flush); the zero-loss arithmetic is a CHECK. */
     "CREATE TABLE rectify.batches ("
     "  batch_id text PRIMARY KEY,"
     "  chain_id text NOT NULL, seq bigint NOT NULL,"
     "  source text NOT NULL, table_name text, column_name text,"
     "  received integer NOT NULL CHECK (received >= 0),"
     "  fixed integer NOT NULL CHECK (fixed >= 0),"
     "  quarantined integer NOT NULL CHECK (quarantined >= 0),"
     "  duplicates integer NOT NULL CHECK (duplicates >= 0),"
     "  opened_us bigint, flushed_us bigint, written_us bigint NOT NULL,"
     "  committed_at timestamptz NOT NULL DEFAULT now(),"
     "  CONSTRAINT batches_reconcile CHECK (received = fixed + quarantined));"
     /* The audit chain: one entry per batch, hash over (prev hash || entry). */
     "CREATE TABLE rectify.audit ("
     "  chain_id text NOT NULL,"
     "  seq bigint NOT NULL CHECK (seq >= 1),"
     "  batch_id text NOT NULL UNIQUE,"
     "  prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),"
     "  hash bytea NOT NULL CHECK (octet_length(hash) = 32),"
     "  entry jsonb NOT NULL,"
     "  created_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (chain_id, seq));"
     /* Append-only enforcement. Statement triggers: they fire even when no
      * row matches, so an UPDATE ... WHERE false is refused too. */
     "CREATE FUNCTION rectify.reject_change() RETURNS trigger LANGUAGE plpgsql AS $f$"
     "BEGIN"
     "  RAISE EXCEPTION 'rectify.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP"
     "    USING ERRCODE = 'insufficient_privilege';"
     "END $f$;"
     "DO $d$ DECLARE t text; BEGIN"
     "  FOREACH t IN ARRAY ARRAY['messages', 'staging', 'quarantine', 'actions', 'batches', 'audit']"
     "  LOOP"
     "    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON rectify.%I"
     "                    FOR EACH STATEMENT EXECUTE FUNCTION rectify.reject_change()',"
     "                   t || '_no_change', t);"
     "    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON rectify.%I"
     "                    FOR EACH STATEMENT EXECUTE FUNCTION rectify.reject_change()',"
     "                   t || '_no_truncate', t);"
     "  END LOOP;"
     "END $d$;"},
    {2, "dashboard: actions on the audit chain, indexes for the quarantine views",
     /* Every human action is covered by the dashboard's audit chain: the
      * action row names its chain batch and carries its leaf hash (see
      * docs/dashboard.md). Rows written before this migration have NULLs. */
     "ALTER TABLE rectify.actions"
     "  ADD COLUMN batch_id text,"
     "  ADD COLUMN ts_us bigint,"
     "  ADD COLUMN leaf_hash bytea CHECK (octet_length(leaf_hash) = 32);"
     "CREATE INDEX actions_batch_idx ON rectify.actions (batch_id, id);"
     /* Open rows by cluster, by age, and the last 24 hours of each table. */
     "CREATE INDEX quarantine_cluster_idx ON rectify.quarantine"
     "  (table_name, column_name, fingerprint, key);"
     "CREATE INDEX quarantine_created_idx ON rectify.quarantine (created_at);"
     "CREATE INDEX staging_created_idx ON rectify.staging (created_at);"},
    {3, "drop an index the cluster index covers",
     /* (table_name, column_name) is a prefix of quarantine_cluster_idx: the
      * same lookups, one index fewer to maintain on every quarantined row. */
     "DROP INDEX rectify.quarantine_table_column_idx;"},
    {4, "cheaper indexes on the outcome tables",
     /* Every outcome row pays for every index on its table, and the writer
      * is bounded by PostgreSQL. No query reads quarantine by (reason,
      * created_at): the views group every open row by reason, which is a
      * scan either way. created_at only serves "the last 24 hours", and rows
      * arrive in created_at order: a BRIN index answers that range from a
      * few bytes per 128 pages, at almost no cost per insert. */
     "DROP INDEX rectify.quarantine_reason_idx;"
     "DROP INDEX rectify.quarantine_created_idx;"
     "DROP INDEX rectify.staging_created_idx;"
     "CREATE INDEX quarantine_created_brin ON rectify.quarantine USING brin (created_at);"
     "CREATE INDEX staging_created_brin ON rectify.staging USING brin (created_at);"},
    {5, "the ledger is the one unique index on quarantined keys",
     /* rectify.messages holds every key that has an outcome exactly once,
      * and quarantine rows are only written for keys claimed there in the
      * same transaction: quarantine's own primary key was a second unique
      * btree insert per quarantined row on the same keys. A quarantined row
      * is found by key through the ledger's batch id and the batch index
      * (RF_SQL_QUARANTINE_BY_KEY); actions reference the ledger. */
     "ALTER TABLE rectify.actions DROP CONSTRAINT actions_key_fkey;"
     "ALTER TABLE rectify.actions ADD CONSTRAINT actions_key_fkey"
     "  FOREIGN KEY (key) REFERENCES rectify.messages (key);"
     "ALTER TABLE rectify.quarantine DROP CONSTRAINT quarantine_pkey;"},
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Runs one command; on failure fills errbuf and returns RF_EDB. */
static int exec_ok(PGconn *conn, const char *sql, char *errbuf, size_t errlen) {
  PGresult *res = PQexec(conn, sql);
  ExecStatusType st = PQresultStatus(res);
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    rf_pg_errmsg(conn, res, errbuf, errlen);
    rc = RF_EDB;
  }
  PQclear(res);
  return rc;
}

int rf_schema_migrate(PGconn *conn, char *errbuf, size_t errlen) {
  int rc = 0;
  PGresult *res = NULL;
  char msg[512];
  const int latest = migrations[N_MIGRATIONS - 1].version;

  rc = exec_ok(conn, "BEGIN", errbuf, errlen);
  if (rc)
    goto out;
  /* Serialises concurrent migrations; released by COMMIT or ROLLBACK. */
  rc = exec_ok(conn, "SELECT pg_advisory_xact_lock(" RF_SCHEMA_LOCK_KEY ")", errbuf, errlen);
  if (rc)
    goto out;
  /* DDL only when needed, so that a role with INSERT/SELECT only (see
   * docs/audit.md) can start against a migrated database. */
  res = PQexec(conn, "SELECT to_regclass('rectify.schema_migrations') IS NULL");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rf_pg_errmsg(conn, res, errbuf, errlen);
    rc = RF_EDB;
    goto out;
  }
  bool fresh = PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  res = NULL;
  if (fresh) {
    rc = exec_ok(conn, "CREATE SCHEMA IF NOT EXISTS rectify", errbuf, errlen);
    if (rc == 0)
      rc = exec_ok(conn,
                   "CREATE TABLE rectify.schema_migrations ("
                   "  version integer PRIMARY KEY, name text NOT NULL,"
                   "  applied_at timestamptz NOT NULL DEFAULT now())",
                   errbuf, errlen);
    if (rc)
      goto out;
  }
  res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM rectify.schema_migrations");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    rf_pg_errmsg(conn, res, errbuf, errlen);
    rc = RF_EDB;
    goto out;
  }
  int current = atoi(PQgetvalue(res, 0, 0));
  PQclear(res);
  res = NULL;
  if (current > latest) {
    snprintf(errbuf, errlen,
             "database schema version %d is newer than this build knows (%d): upgrade rectify",
             current, latest);
    rc = RF_EDB;
    goto out;
  }
  for (size_t i = 0; i < N_MIGRATIONS; i++) {
    const migration_t *m = &migrations[i];
    if (m->version <= current)
      continue;
    rc = exec_ok(conn, m->sql, msg, sizeof(msg));
    if (rc) {
      snprintf(errbuf, errlen, "migration %d (%s): %s", m->version, m->name, msg);
      goto out;
    }
    char ver[16];
    snprintf(ver, sizeof(ver), "%d", m->version);
    const char *params[2] = {ver, m->name};
    res = PQexecParams(conn, "INSERT INTO rectify.schema_migrations (version, name) VALUES ($1, $2)",
                       2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      rf_pg_errmsg(conn, res, errbuf, errlen);
      rc = RF_EDB;
      goto out;
    }
    PQclear(res);
    res = NULL;
    rf_log(RF_LOG_NOTICE, "schema", "migrated version=%d name=\"%s\"", m->version, m->name);
  }
  rc = exec_ok(conn, "COMMIT", errbuf, errlen);
out:
  PQclear(res);
  if (rc && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
    PGresult *r = PQexec(conn, "ROLLBACK");
    PQclear(r);
  }
  return rc;
}

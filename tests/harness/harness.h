/* harness.h - throwaway PostgreSQL and Redis servers, child processes and
 * small helpers for rectify's integration tests and benchmarks.
 *
 * All functions return 0 on success / -1 on failure (with a message on
 * stderr) unless noted.
 *
 * Ownership and lifetime:
 *  - Every server and process started here is registered; rf_h_*_destroy (or
 *    rf_h_wait reaping it) unregisters it. Whatever is still registered is
 *    stopped at exit (atexit) and on SIGTERM/SIGINT, and each child also gets
 *    a parent-death signal, so a test killed by a ctest timeout leaves no
 *    server behind. Directories of servers killed that way are swept by the
 *    next harness run (they carry their owner's pid).
 *  - Strings returned as "malloc'd" come from libc malloc, not rf_malloc, so
 *    a test's rf_alloc_fail_after() never breaks the harness: free() them.
 *  - The harness is meant to be driven from one thread (the test's).
 *
 * Environment overrides: RF_PG_BINDIR (PostgreSQL binaries), RF_REDIS_SERVER
 * (redis-server path), RF_BIN_DIR (rectifyd/rectifyctl), RF_H_KEEP=1 (keep
 * server directories at exit for post-mortem; their paths are printed).
 */
#ifndef RECTIFY_TEST_HARNESS_H
#define RECTIFY_TEST_HARNESS_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>

typedef struct rf_h_pg {
  char dir[512]; /* owns data/, sock/ and log/postgresql.log */
  int port;
  char conninfo[512];
  int pid; /* postmaster pid, 0 when stopped */
} rf_h_pg_t;

/* A throwaway PostgreSQL cluster: initdb (as the `postgres` user when running
 * as root; a template cluster is initdb'ed once per machine under /tmp and
 * copied for speed), listening on 127.0.0.1 on a free port, unix socket in its
 * own dir, trust auth on loopback, a database `rectify` created, fsync on,
 * max_connections=50. pg->conninfo =
 * "host=127.0.0.1 port=N dbname=rectify user=postgres". */
int rf_h_pg_start(rf_h_pg_t *pg);
/* Fast shutdown (SIGINT); keeps the data dir. */
int rf_h_pg_stop(rf_h_pg_t *pg);
/* Start again after rf_h_pg_stop (or after the test killed the postmaster
 * itself, e.g. with SIGKILL to simulate a crash), same port and data. */
int rf_h_pg_restart(rf_h_pg_t *pg);
/* Stop if running, remove the dir. Safe on a zeroed or already destroyed pg. */
void rf_h_pg_destroy(rf_h_pg_t *pg);
/* A new connection (PQfinish it); NULL on failure. */
PGconn *rf_h_pg_connect(const rf_h_pg_t *pg);
/* First column of the first row as an integer (booleans as 1/0); -1 on error,
 * including SQL NULL, no rows or a non-integer value. */
long long rf_h_pg_scalar(PGconn *c, const char *sql);
/* Runs sql (may be several statements, simple query protocol). */
int rf_h_pg_exec(PGconn *c, const char *sql);

typedef struct rf_h_redis {
  char dir[512];
  int port;
  int pid;
} rf_h_redis_t;

/* redis-server on 127.0.0.1:free port, no persistence, log in dir/redis.log. */
int rf_h_redis_start(rf_h_redis_t *r);
/* Stop (SIGTERM, then SIGKILL after 10 s) and remove the dir. Safe on a zeroed r. */
void rf_h_redis_destroy(rf_h_redis_t *r);
/* A blocking hiredis context (redisFree it); NULL on failure. */
redisContext *rf_h_redis_connect(const rf_h_redis_t *r);

typedef struct rf_h_proc {
  int pid; /* 0 once reaped */
  char log[512];
} rf_h_proc_t;

/* fork+exec argv (argv[0] = path, or a name looked up in PATH), stdout+stderr
 * appended to logfile (created if needed), extra env "K=V" entries
 * (NULL-terminated, may be NULL) added to or replacing the current ones. */
int rf_h_spawn(rf_h_proc_t *p, char *const argv[], char *const extra_env[], const char *logfile);
/* kill(p->pid, sig); -1 if the process was already reaped. */
int rf_h_signal(rf_h_proc_t *p, int sig);
/* Waits up to timeout_ms (< 0: forever) for the process to end. Returns the
 * status as from waitpid (use WIFEXITED...; also stored in *status when not
 * NULL), or -1 on timeout or error. A reaped process has p->pid = 0. */
int rf_h_wait(rf_h_proc_t *p, int timeout_ms, int *status);
/* Runs a command line through /bin/sh -c, captures stdout into *out
 * (malloc'd, NUL-terminated; out may be NULL to discard), stderr is
 * inherited. Returns the exit code, 128+N if killed by signal N, or -1 on
 * failure or timeout (timeout_ms < 0: none; the command's process group is
 * killed on timeout). */
int rf_h_run(const char *cmdline, char **out, int timeout_ms);

/* Directory with rectifyd/rectifyctl: $RF_BIN_DIR, else the build dir. */
const char *rf_h_bin_dir(void);
/* mkdtemp("/tmp/<prefix>XXXXXX"); malloc'd path, NULL on failure. */
char *rf_h_tmpdir(const char *prefix);
/* Creates/truncates path with content (mode 0644). */
int rf_h_write_file(const char *path, const char *content);
/* Polls pred(arg) every 50 ms until it returns true or timeout_ms passes;
 * returns true/false. pred is called at least once. */
bool rf_h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms);

#endif

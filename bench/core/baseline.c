/* bench_core_baseline - the minimal hand-written quarantine loop that
 * rectifyd's durable core is measured against.
 *
 *   bench_core_baseline --redis HOST:PORT --stream S --db CONNINFO
 *                       [--group G] [--count 1000]
 *
 * Why it exists: "how fast could this path possibly go here?" needs a number
 * from the same machine, the same PostgreSQL settings (fsync on) and the same
 * messages. This loop does the least work that still keeps rectify's
 * promises for the quarantine path, synchronously, with no threads:
 *
 *   XREADGROUP COUNT n  ->  parse each message (rectify's strict JSON parser,
 *   canonical pk, SHA-256 pk hash)  ->  BEGIN; COPY n quarantine rows (key
 *   unique, raw payload kept); COPY n audit rows, each hash =
 *   SHA-256(prev_hash || row bytes); COMMIT  ->  XACK the n ids.
 *
 * It exits when XREADGROUP returns nothing new (the stream was pre-filled),
 * printing messages, seconds, messages/s, peak RSS, CPU seconds and the time
 * spent in each phase (read, build rows, PostgreSQL, ack) on one line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/hash.h"
#include "rectify/json.h"
#include "rectify/pg.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS baseline_quarantine ("
    "  key text COLLATE \"C\" PRIMARY KEY, source_id text NOT NULL,"
    "  table_name text, column_name text, pk jsonb, pk_hash text, value text,"
    "  reason text NOT NULL, raw bytea, created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS baseline_audit ("
    "  seq bigint PRIMARY KEY, key text NOT NULL,"
    "  prev_hash bytea NOT NULL, hash bytea NOT NULL);";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_core_baseline: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void pg_ok(PGconn *c, PGresult *r, ExecStatusType want, const char *what) {
  if (PQresultStatus(r) != want) {
    fprintf(stderr, "bench_core_baseline: %s: %s", what, PQerrorMessage(c));
    exit(2);
  }
  PQclear(r);
}

static void copy_in(PGconn *c, const char *sql, const rf_buf_t *rows) {
  pg_ok(c, PQexec(c, sql), PGRES_COPY_IN, sql);
  if (PQputCopyData(c, rows->data, (int)rows->len) != 1 || PQputCopyEnd(c, NULL) != 1)
    die("COPY send failed: %s", PQerrorMessage(c));
  pg_ok(c, PQgetResult(c), PGRES_COMMAND_OK, "COPY");
  PGresult *r;
  while ((r = PQgetResult(c)) != NULL)
    PQclear(r);
}

/* A string member of o, or NULL. */
static const char *member_str(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Appends one quarantine row (COPY text format, with its newline) for a
 * message to rows. */
static void quarantine_row(rf_buf_t *rows, const char *entry_id, const char *data, size_t len) {
  rf_json_error_t jerr;
  cJSON *o = rf_json_parse(data, len, 32, &jerr);
  const char *id = o ? member_str(o, "id") : NULL;
  rf_buf_t pk = RF_BUF_INIT;
  char pk_hash[2 * RF_SHA256_LEN + 1] = "";
  const cJSON *pkv = o ? cJSON_GetObjectItemCaseSensitive(o, "pk") : NULL;
  if (cJSON_IsObject(pkv) && rf_json_canonical(pkv, &pk) == 0 && rf_buf_ok(&pk)) {
    unsigned char h[RF_SHA256_LEN];
    rf_sha256(pk.data, pk.len, h);
    rf_hex_encode(h, RF_SHA256_LEN, pk_hash);
  }
  if (id) {
    rf_pg_copy_text(rows, id);
  } else {
    rf_buf_puts(rows, "redis:");
    rf_pg_copy_text(rows, entry_id);
  }
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, entry_id);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, o ? member_str(o, "table") : NULL);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, o ? member_str(o, "column") : NULL);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, pk_hash[0] ? pk.data : NULL);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, pk_hash[0] ? pk_hash : NULL);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, o ? member_str(o, "value") : NULL);
  rf_buf_putc(rows, '\t');
  rf_pg_copy_text(rows, o ? "no_fix" : "malformed");
  rf_buf_putc(rows, '\t');
  rf_pg_copy_bytea(rows, data, len);
  rf_buf_putc(rows, '\n');
  rf_buf_free(&pk);
  cJSON_Delete(o);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"redis", required_argument, NULL, 'r'}, {"stream", required_argument, NULL, 's'},
      {"group", required_argument, NULL, 'g'}, {"db", required_argument, NULL, 'd'},
      {"count", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *redis = NULL, *stream = NULL, *group = "baseline", *db = NULL;
  long count = 1000;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': redis = optarg; break;
    case 's': stream = optarg; break;
    case 'g': group = optarg; break;
    case 'd': db = optarg; break;
    case 'n': {
      char *end;
      errno = 0;
      count = strtol(optarg, &end, 10);
      if (errno || *end || count < 1 || count > 100000)
        die("--count must be 1..100000, not '%s'", optarg);
      break;
    }
    case 'h':
      printf("usage: bench_core_baseline --redis HOST:PORT --stream S --db CONNINFO "
             "[--group G] [--count N]\n");
      return 0;
    default: return 2;
    }
  }
  if (!redis || !stream || !db)
    die("%s", "--redis, --stream and --db are required");
  const char *colon = strrchr(redis, ':');
  if (!colon || colon == redis)
    die("--redis must be HOST:PORT, not '%s'", redis);
  char host[256];
  snprintf(host, sizeof(host), "%.*s", (int)(colon - redis), redis);
  int port = atoi(colon + 1);

  rf_alloc_init();
  redisContext *rc = redisConnect(host, port);
  if (!rc || rc->err)
    die("redis: %s", rc ? rc->errstr : "out of memory");
  PGconn *pg = PQconnectdb(db);
  if (PQstatus(pg) != CONNECTION_OK)
    die("postgres: %s", PQerrorMessage(pg));
  pg_ok(pg, PQexec(pg, schema_sql), PGRES_COMMAND_OK, "schema");

  redisReply *rep = redisCommand(rc, "XGROUP CREATE %s %s 0 MKSTREAM", stream, group);
  if (!rep || (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) != 0))
    die("XGROUP CREATE: %s", rep ? rep->str : rc->errstr);
  freeReplyObject(rep);

  rf_buf_t rows = RF_BUF_INIT, audit = RF_BUF_INIT;
  unsigned char prev[RF_SHA256_LEN] = {0};
  long long seq = 0, total = 0;
  const char **ack_argv = rf_calloc((size_t)count + 3, sizeof(*ack_argv));
  size_t *ack_lens = rf_calloc((size_t)count + 3, sizeof(*ack_lens));
  if (!ack_argv || !ack_lens)
    die("%s", "out of memory");
  char countstr[32];
  snprintf(countstr, sizeof(countstr), "%ld", count);
  double t0 = now_s();
  double t_read = 0, t_build = 0, t_pg = 0, t_ack = 0, t;
  for (;;) {
    t = now_s();
    const char *rargv[] = {"XREADGROUP", "GROUP", group, "baseline-1", "COUNT", countstr,
                           "STREAMS",    stream,  ">"};
    rep = redisCommandArgv(rc, 9, rargv, NULL);
    if (!rep)
      die("XREADGROUP: %s", rc->errstr);
    if (rep->type == REDIS_REPLY_ERROR)
      die("XREADGROUP: %s", rep->str);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0 ||
        rep->element[0]->element[1]->elements == 0) {
      freeReplyObject(rep); /* nil: nothing new, the pre-filled stream is drained */
      break;
    }
    t_read += now_s() - t;
    t = now_s();
    redisReply *entries = rep->element[0]->element[1];
    rf_buf_reset(&rows);
    rf_buf_reset(&audit);
    ack_argv[0] = "XACK";
    ack_argv[1] = stream;
    ack_argv[2] = group;
    ack_lens[0] = 4;
    ack_lens[1] = strlen(stream);
    ack_lens[2] = strlen(group);
    size_t nack = 3;
    for (size_t i = 0; i < entries->elements; i++) {
      redisReply *e = entries->element[i];
      const char *eid = e->element[0]->str;
      redisReply *fields = e->element[1];
      const char *data = "";
      size_t len = 0;
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (strcmp(fields->element[f]->str, "payload") == 0) {
          data = fields->element[f + 1]->str;
          len = fields->element[f + 1]->len;
        }
      }
      size_t start = rows.len;
      quarantine_row(&rows, eid, data, len);
      /* The audit link covers the previous link and the row's exact bytes. */
      const void *parts[2] = {prev, rows.data + start};
      size_t lens[2] = {RF_SHA256_LEN, rows.len - start};
      unsigned char h[RF_SHA256_LEN];
      rf_sha256_parts(parts, lens, 2, h);
      rf_buf_printf(&audit, "%lld\t", ++seq);
      /* key: the first field of the row, already COPY-escaped */
      rf_buf_append(&audit, rows.data + start, strcspn(rows.data + start, "\t"));
      rf_buf_putc(&audit, '\t');
      rf_pg_copy_bytea(&audit, prev, RF_SHA256_LEN);
      rf_buf_putc(&audit, '\t');
      rf_pg_copy_bytea(&audit, h, RF_SHA256_LEN);
      rf_buf_putc(&audit, '\n');
      memcpy(prev, h, RF_SHA256_LEN);
      ack_argv[nack] = eid;
      ack_lens[nack++] = e->element[0]->len;
    }
    if (!rf_buf_ok(&rows) || !rf_buf_ok(&audit))
      die("%s", "out of memory");
    t_build += now_s() - t;
    t = now_s();
    pg_ok(pg, PQexec(pg, "BEGIN"), PGRES_COMMAND_OK, "BEGIN");
    copy_in(pg,
            "COPY baseline_quarantine (key, source_id, table_name, column_name, pk, pk_hash, "
            "value, reason, raw) FROM STDIN",
            &rows);
    copy_in(pg, "COPY baseline_audit (seq, key, prev_hash, hash) FROM STDIN", &audit);
    pg_ok(pg, PQexec(pg, "COMMIT"), PGRES_COMMAND_OK, "COMMIT");
    t_pg += now_s() - t;
    t = now_s();
    /* Only now, with the outcome durable, acknowledge. */
    redisReply *ack = redisCommandArgv(rc, (int)nack, ack_argv, ack_lens);
    if (!ack || ack->type != REDIS_REPLY_INTEGER || ack->integer != (long long)(nack - 3))
      die("XACK: %s", ack && ack->type == REDIS_REPLY_ERROR ? ack->str : "unexpected reply");
    freeReplyObject(ack);
    t_ack += now_s() - t;
    total += (long long)entries->elements;
    freeReplyObject(rep);
  }
  double secs = now_s() - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  printf("baseline messages=%lld seconds=%.3f msgs_per_s=%.0f peak_rss_kb=%ld cpu_s=%.2f "
         "read_s=%.3f build_s=%.3f pg_s=%.3f ack_s=%.3f\n",
         total, secs, secs > 0 ? (double)total / secs : 0.0, ru.ru_maxrss, cpu, t_read, t_build,
         t_pg, t_ack);
  rf_buf_free(&rows);
  rf_buf_free(&audit);
  rf_free(ack_argv);
  rf_free(ack_lens);
  PQfinish(pg);
  redisFree(rc);
  return 0;
}

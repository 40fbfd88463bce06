/* bench_writer - throughput of the writer thread alone.
 *
 *   bench_writer CONNINFO [FLUSHES=200] [ROWS=1000] [TXN_MAX_ROWS=10000] [fixed|quarantined|mixed]
 *
 * Submits FLUSHES flushes of ROWS outcomes each (unique keys, realistic
 * sizes: ~120-byte raw payload, small pk and row context), keeping at most
 * 4 * TXN_MAX_ROWS rows queued, and reports rows/s from the first submit to
 * the last commit. The database should be empty (or use a fresh one): keys
 * are made unique per run with the process id and time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/writer.h"

typedef struct bench {
  uv_loop_t *loop;
  rf_writer_t *w;
  uv_timer_t timer;
  long flushes, rows, submitted, done, failed;
  const char *mode;
  size_t max_pending;
  unsigned long run;
  uint64_t t0;
} bench_t;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, f);
  vsnprintf(tmp, sizeof(tmp), f, ap);
  va_end(ap);
  return rf_strdup(tmp);
}

static rf_flush_t *make_flush(bench_t *b, long idx) {
  rf_flush_t *f = rf_flush_new("redis:needs_ai", "orders", "order_date");
  for (long i = 0; f && i < b->rows; i++) {
    rf_outcome_t *o = rf_flush_add(f);
    long id = idx * b->rows + i;
    bool fixed = strcmp(b->mode, "fixed") == 0 || (strcmp(b->mode, "mixed") == 0 && i % 2);
    o->kind = fixed ? RF_OUTCOME_FIXED : RF_OUTCOME_QUARANTINED;
    o->key = fmt("bench-%lx-%ld", (long)b->run, id);
    o->source = rf_strdup("redis:needs_ai");
    o->source_id = fmt("1700000000000-%ld", id);
    o->table_name = rf_strdup("orders");
    o->column_name = rf_strdup("order_date");
    o->pk_json = fmt("{\"id\":%ld}", id);
    o->pk_hash = rf_strdup("3f7a2c9e0b1d4f6a8c5e7b9d1f3a5c7e9b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a");
    o->old_value = fmt("%02ld/%02ld/2024", id % 28 + 1, id % 12 + 1);
    o->new_value = fixed ? fmt("2024-%02ld-%02ld", id % 12 + 1, id % 28 + 1) : NULL;
    o->row_json = fmt("{\"id\":%ld,\"total\":\"12.50\",\"order_date\":\"%ld/01/2024\"}", id, id % 28);
    o->fingerprint = rf_strdup("9/9/9999");
    o->cluster_id = rf_strdup("c01");
    o->fix_id = rf_strdup("f6a1c0de");
    o->lambda_src = rf_strdup("lambda x: datetime.strptime(x, '%d/%m/%Y').strftime('%Y-%m-%d')");
    o->generator = rf_strdup("cache");
    o->confidence = 0.92;
    o->has_confidence = true;
    if (!fixed) {
      o->reason = rf_strdup(RF_REASON_NO_FIX);
      o->detail = rf_strdup("no generator produced a candidate");
    }
    char raw[256];
    int n = snprintf(raw, sizeof(raw),
                     "{\"id\":\"%ld\",\"table\":\"orders\",\"column\":\"order_date\",\"pk\":{\"id\":%ld},"
                     "\"value\":\"%s\",\"row\":{}}",
                     id, id, o->old_value);
    o->raw = rf_memdup(raw, (size_t)n);
    o->raw_len = (size_t)n;
  }
  return f;
}

static void fill(bench_t *b);

static void on_closed(rf_writer_t *w, void *arg) {
  (void)w;
  bench_t *b = arg;
  uv_close((uv_handle_t *)&b->timer, NULL);
}

static void on_done(rf_flush_t *f, int status, void *arg) {
  bench_t *b = arg;
  if (status)
    b->failed++;
  b->done++;
  rf_flush_free(f);
  if (b->done == b->flushes) {
    double s = (double)(uv_hrtime() - b->t0) / 1e9;
    printf("flushes=%ld rows=%ld failed=%ld seconds=%.2f rows_per_s=%.0f\n", b->flushes,
           b->flushes * b->rows, b->failed, s, (double)(b->flushes * b->rows) / s);
    rf_writer_close(b->w, 1000, on_closed, b);
    return;
  }
  fill(b);
}

static void fill(bench_t *b) {
  while (b->submitted < b->flushes && rf_writer_pending_rows(b->w) < b->max_pending) {
    rf_flush_t *f = make_flush(b, b->submitted);
    if (f == NULL || rf_writer_submit(b->w, f) != 0) {
      fprintf(stderr, "bench_writer: cannot build or submit a flush\n");
      exit(2);
    }
    b->submitted++;
  }
}

static void on_timer(uv_timer_t *t) {
  bench_t *b = t->data;
  if (b->t0 == 0 && rf_writer_ready(b->w)) {
    b->t0 = uv_hrtime();
    fill(b);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_writer CONNINFO [FLUSHES] [ROWS] [TXN_MAX_ROWS] [fixed|quarantined|mixed]\n");
    return 2;
  }
  rf_alloc_init();
  rf_log_init();
  rf_log_set_level(getenv("RF_LOG") ? rf_log_level_parse(getenv("RF_LOG")) : RF_LOG_WARN);
  bench_t b = {0};
  b.loop = uv_default_loop();
  b.flushes = argc > 2 ? atol(argv[2]) : 200;
  b.rows = argc > 3 ? atol(argv[3]) : 1000;
  size_t txn = argc > 4 ? (size_t)atol(argv[4]) : 10000;
  b.mode = argc > 5 ? argv[5] : "quarantined";
  b.max_pending = 4 * txn;
  b.run = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 20);
  rf_writer_config_t cfg = {.conninfo = argv[1], .chain_id = "bench", .max_txn_rows = txn,
                            .heads_file = getenv("RF_HEADS_FILE")};
  int rc = rf_writer_new(b.loop, &cfg, on_done, &b, &b.w);
  if (rc) {
    fprintf(stderr, "bench_writer: %s\n", rf_strerror(rc));
    return 2;
  }
  uv_timer_init(b.loop, &b.timer);
  b.timer.data = &b;
  uv_timer_start(&b.timer, on_timer, 10, 10);
  uv_run(b.loop, UV_RUN_DEFAULT);
  uv_loop_close(b.loop);
  return b.failed ? 1 : 0;
}

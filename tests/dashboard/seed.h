/* seed.h - quarantine rows for the dashboard tests, written by rectify's own
 * writer (lib/writer.c: ledger claim, COPY with receipts, batch row, chain
 * entry), exactly as rectifyd writes the rows its gate refused. Using the
 * writer instead of a model makes the rows, the proposals and the reasons
 * deterministic, and they still verify with `rectifyctl audit verify`.
 *
 * What is seeded (chain "seed"):
 *   cluster DATES   orders.order_date, fingerprint "9/9/9999", SEED_DATES rows
 *                   "MM/DD/YYYY" (the last one, 02/30/2024, is not a date), with
 *                   the model's proposal `lambda x: x.replace('/', '-')` refused
 *                   by the gate (lambda_failed_validation), its raw answer kept;
 *   cluster EMAILS  customers.email, SEED_EMAILS rows " UserN@Example.COM ",
 *                   no_fix, no proposal;
 *   one malformed   raw "{not json", no table (reason malformed).
 * Header-only, for tests/integration/test_dashboard_*.c.
 */
#ifndef RF_TEST_DASHBOARD_SEED_H
#define RF_TEST_DASHBOARD_SEED_H

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "rectify/alloc.h"
#include "rectify/hash.h"
#include "rectify/outcome.h"
#include "rectify/writer.h"

#define SEED_DATES 6
#define SEED_EMAILS 4
#define SEED_TOTAL (SEED_DATES + SEED_EMAILS + 1)
#define SEED_DATE_FP "9/9/9999"
#define SEED_PROPOSAL "lambda x: x.replace('/', '-')"
#define SEED_FIXED_LAMBDA "lambda x: datetime.strptime(x, '%m/%d/%Y').strftime('%Y-%m-%d')"
#define SEED_CONTRACTS                                                                             \
  "[column \"orders.order_date\"]\ntype = date\nformat = %Y-%m-%d\nmin = 1990-01-01\n"             \
  "[column \"customers.email\"]\ntype = email\nmax_length = 254\n"

typedef struct seed_state {
  int done;
  int status;
} seed_state_t;

static inline void seed_done(rf_flush_t *f, int status, void *arg) {
  seed_state_t *s = arg;
  s->done = 1;
  s->status = status;
  rf_flush_free(f);
}

static inline void seed_closed(rf_writer_t *w, void *arg) {
  (void)w;
  *(int *)arg = 1;
}

static inline char *seed_dup(const char *s) { return s ? rf_strdup(s) : NULL; }

/* Fills one QUARANTINED outcome. */
static inline void seed_row(rf_flush_t *f, const char *key, const char *table, const char *column,
                     long pk, const char *value, const char *fp, const char *reason,
                     const char *detail, const char *lambda, const char *answer) {
  rf_outcome_t *o = rf_flush_add(f);
  char buf[1024], pkj[64];
  unsigned char h[RF_SHA256_LEN];
  char hex[2 * RF_SHA256_LEN + 1];
  o->kind = RF_OUTCOME_QUARANTINED;
  o->key = seed_dup(key);
  o->source = seed_dup("redis:needs_ai");
  snprintf(buf, sizeof(buf), "1700000000000-%ld", pk);
  o->source_id = seed_dup(buf);
  o->reason = seed_dup(reason);
  o->detail = seed_dup(detail);
  if (table == NULL) {
    o->raw = (unsigned char *)seed_dup("{not json");
    o->raw_len = 9;
    return;
  }
  o->table_name = seed_dup(table);
  o->column_name = seed_dup(column);
  snprintf(pkj, sizeof(pkj), "{\"id\":%ld}", pk);
  o->pk_json = seed_dup(pkj);
  rf_sha256(pkj, strlen(pkj), h);
  rf_hex_encode(h, RF_SHA256_LEN, hex);
  o->pk_hash = seed_dup(hex);
  o->old_value = seed_dup(value);
  snprintf(buf, sizeof(buf), "{\"n\":%ld,\"region\":\"eu\"}", pk);
  o->row_json = seed_dup(buf);
  o->fingerprint = seed_dup(fp);
  o->cluster_id = seed_dup("00000000000000c1");
  o->lambda_src = seed_dup(lambda);
  if (lambda) {
    o->generator = seed_dup("model");
    o->model = seed_dup("rectify-test:latest");
    o->confidence = 0.9;
    o->has_confidence = true;
  }
  o->model_answer = seed_dup(answer);
  snprintf(buf, sizeof(buf),
           "{\"id\":\"%s\",\"table\":\"%s\",\"column\":\"%s\",\"pk\":{\"id\":%ld},"
           "\"value\":\"%s\",\"row\":{\"n\":%ld,\"region\":\"eu\"}}",
           key, table, column, pk, value, pk);
  o->raw = (unsigned char *)seed_dup(buf);
  o->raw_len = strlen(buf);
}

/* Writes the seed through the real writer; returns 0 or the writer's status. */
static inline int seed_quarantine(const char *conninfo) {
  static const char *const seed_dates[SEED_DATES] = {"03/15/2024", "12/01/2023", "07/04/2024",
                                                     "11/30/2022", "01/09/2025", "02/30/2024"};
  uv_loop_t loop;
  uv_loop_init(&loop);
  rf_writer_config_t wc = {.conninfo = conninfo, .chain_id = "seed"};
  seed_state_t st = {0, 0};
  rf_writer_t *w = NULL;
  if (rf_writer_new(&loop, &wc, seed_done, &st, &w) != 0)
    return -1;
  rf_flush_t *f = rf_flush_new("redis:needs_ai", NULL, NULL);
  static const char answer[] =
      "{\"transformation\":\"" SEED_PROPOSAL "\",\"confidence_score\":0.9,"
      "\"reasoning\":\"The values are dates written month/day/year; replacing the slashes "
      "gives a date.\",\"pattern_type\":\"date_format\"}";
  for (long i = 0; i < SEED_DATES; i++) {
    char key[64];
    snprintf(key, sizeof(key), "ord-%ld", 100 + i);
    seed_row(f, key, "orders", "order_date", 100 + i, seed_dates[i], SEED_DATE_FP,
             "lambda_failed_validation",
             "sample '03/15/2024' gives '03-15-2024', which breaks the contract: not a date "
             "in the format %Y-%m-%d",
             SEED_PROPOSAL, answer);
  }
  for (long i = 0; i < SEED_EMAILS; i++) {
    char key[64], v[64];
    snprintf(key, sizeof(key), "cust-%ld", 200 + i);
    snprintf(v, sizeof(v), " User%ld@Example.COM ", 200 + i);
    seed_row(f, key, "customers", "email", 200 + i, v, " Aaaa9@Aaaaaaa.AAA ", "no_fix",
             "no fix generator proposed a fix", NULL, NULL);
  }
  seed_row(f, "redis:needs_ai:1700000000000-999", NULL, NULL, 999, NULL, NULL, "malformed",
           "not JSON (error near byte 1)", NULL, NULL);
  int rc = rf_writer_submit(w, f);
  while (rc == 0 && !st.done)
    uv_run(&loop, UV_RUN_ONCE);
  int closed = 0;
  rf_writer_close(w, 5000, seed_closed, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_loop_close(&loop);
  return rc ? rc : st.status;
}

#endif

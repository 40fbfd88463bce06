/* test_dashboard_actions.c - the dashboard's actions and its web server
 * against a real PostgreSQL, Redis and rectifyd.
 *
 * Seeded quarantine (tests/dashboard/seed.h, written by rectify's writer):
 * a date cluster with a refused model proposal, an email cluster, a
 * malformed message. Then, through the library and through HTTP:
 *   - a value that breaks the contract is refused with a clear message and
 *     writes nothing; a valid one moves the row to staging (generator human);
 *     acting twice on a row is refused (409);
 *   - discard needs a reason; requeue sends the raw message back to the Redis
 *     stream under a new key, which the real rectifyd then processes, and a
 *     malformed row cannot be requeued;
 *   - a cluster apply needs the digest of its preview, moves exactly the rows
 *     the preview said, leaves the others open;
 *   - two dashboards racing on one row: exactly one wins;
 *   - without a token: 401; cross-site (Origin, Sec-Fetch-Site), foreign
 *     Host, missing CSRF token with the cookie, non-JSON actions: refused;
 *     the login cookie is HttpOnly and SameSite=Strict;
 *   - every batch balances, nothing is lost or duplicated (check_accounting),
 *     `rectifyctl audit verify` passes and the dashboard entries name the
 *     person; editing an action row or deleting a resolved staging row is
 *     then caught by the verifier.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "../dashboard/seed.h"
#include "core_env.h"
#include "rectify/dashboard.h"
#include "rectify/error.h"

typedef struct t_env {
  core_env_t core;
  rf_config_t *cfg;
  rf_dashboard_t *d;
  rf_dash_server_t *srv;
  int port;
  char token[64];
} t_env_t;

static t_env_t T;

static long long q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long q(const char *fmt, ...) {
  char sql[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof(sql), fmt, ap);
  va_end(ap);
  return sql_ll(&T.core, sql);
}

static int setup(void **state) {
  (void)state;
  env_start(&T.core, SEED_CONTRACTS);
  assert_int_equal(seed_quarantine(T.core.pg.conninfo), 0);
  char err[1024];
  T.cfg = rf_config_load(T.core.conf, err, sizeof(err));
  if (T.cfg == NULL)
    fail_msg("config: %s", err);
  rf_dashboard_opts_t o = {.cfg = T.cfg, .chain_id = "dashboard:test"};
  if (rf_dashboard_new(&o, &T.d, err, sizeof(err)) != 0)
    fail_msg("dashboard: %s", err);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rf_dash_server_stop(T.srv);
  rf_dashboard_free(T.d);
  rf_config_free(T.cfg);
  env_stop(&T.core);
  return 0;
}

/* ---- library ------------------------------------------------------------------ */

static void test_views(void **state) {
  (void)state;
  cJSON *doc = NULL;
  rf_dash_status_t st;
  assert_int_equal(rf_dashboard_overview(T.d, &doc, &st), 0);
  cJSON *l24 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "last_24h"), 0);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(l24, "open")), SEED_TOTAL);
  cJSON_Delete(doc);
  rf_dash_filter_t f = {NULL, NULL, NULL, 0};
  assert_int_equal(rf_dashboard_clusters(T.d, &f, &doc, &st), 0);
  cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "clusters"), 0);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(first, "table")), "orders");
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(first, "count")), SEED_DATES);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(first, "lambda")), SEED_PROPOSAL);
  assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(first, "reasoning")),
                         "month/day/year"));
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(first, "reason")),
                      "lambda_failed_validation");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(first, "representatives")), 5);
  cJSON_Delete(doc);
  assert_int_equal(rf_dashboard_row(T.d, "ord-100", &doc, &st), 0);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "status")), "open");
  assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "raw")), "\"ord-100\""));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "proof"), "verified")));
  cJSON_Delete(doc);
  assert_int_equal(rf_dashboard_row(T.d, "no-such-key", &doc, &st), RF_ENOTFOUND);
  assert_int_equal(st.http, 404);
}

static void test_resolve(void **state) {
  (void)state;
  rf_dash_status_t st;
  long long staged0 = q("SELECT count(*) FROM rectify.staging");
  /* Breaks the contract: refused, clearly, and nothing is written. */
  assert_int_equal(rf_dashboard_resolve(T.d, "alice", "ord-101", "2023/12/01", &st), RF_EVALUE);
  assert_int_equal(st.http, 422);
  assert_non_null(strstr(st.message, "breaks the contract of orders.order_date"));
  assert_non_null(strstr(st.message, "%Y-%m-%d"));
  assert_int_equal(rf_dashboard_resolve(T.d, "alice", "ord-101", NULL, &st), RF_EVALUE);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging"), staged0);
  assert_int_equal(q("SELECT count(*) FROM rectify.actions"), 0);
  assert_int_equal(q("SELECT count(*) FROM rectify.audit WHERE chain_id = 'dashboard:test'"), 0);
  /* Valid. */
  assert_int_equal(rf_dashboard_resolve(T.d, "alice", "ord-101", "2023-12-01", &st), 0);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'ord-101' AND generator ="
                     " 'human' AND new_value = '2023-12-01' AND old_value = '12/01/2023'"
                     " AND pk_hash = (SELECT pk_hash FROM rectify.quarantine WHERE key = 'ord-101')"),
                   1);
  assert_int_equal(q("SELECT count(*) FROM rectify.actions WHERE key = 'ord-101' AND action ="
                     " 'resolve' AND actor = 'alice'"),
                   1);
  /* Twice: refused. */
  assert_int_equal(rf_dashboard_resolve(T.d, "alice", "ord-101", "2023-12-02", &st), RF_EEXISTS);
  assert_int_equal(st.http, 409);
  assert_int_equal(rf_dashboard_resolve(T.d, "alice", "nope", "2023-12-02", &st), RF_ENOTFOUND);
  /* The malformed row has no column contract: nothing can be validated. */
  assert_int_equal(
      rf_dashboard_resolve(T.d, "alice", "redis:needs_ai:1700000000000-999", "x", &st), RF_EVALUE);
  assert_non_null(strstr(st.message, "no contract"));
}

static void test_discard(void **state) {
  (void)state;
  rf_dash_status_t st;
  assert_int_equal(rf_dashboard_discard(T.d, "bob", "cust-200", "  ", &st), RF_EINVAL);
  assert_int_equal(st.http, 422);
  assert_int_equal(rf_dashboard_discard(T.d, "bob", "cust-200", "test account, not a customer", &st),
                   0);
  assert_int_equal(rf_dashboard_discard(T.d, "bob", "cust-200", "again", &st), RF_EEXISTS);
  assert_int_equal(rf_dashboard_resolve(T.d, "bob", "cust-200", "a@b.example", &st), RF_EEXISTS);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'cust-200'"), 0);
}

static void test_requeue(void **state) {
  (void)state;
  rf_dash_status_t st;
  long long len0 = redis_ll(&T.core, "XLEN %s", STREAM);
  assert_int_equal(rf_dashboard_requeue(T.d, "carol", "redis:needs_ai:1700000000000-999", &st),
                   RF_EINVAL);
  assert_int_equal(st.http, 422);
  assert_int_equal(rf_dashboard_requeue(T.d, "carol", "cust-201", &st), 0);
  assert_non_null(strstr(st.message, "cust-201#requeue-1"));
  assert_int_equal(redis_ll(&T.core, "XLEN %s", STREAM), len0 + 1);
  redisReply *r = redisCommand(T.core.rc, "XRANGE %s - + COUNT 1", STREAM);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_ARRAY);
  const char *payload = r->element[0]->element[1]->element[1]->str;
  assert_non_null(strstr(payload, "\"id\":\"cust-201#requeue-1\""));
  assert_non_null(strstr(payload, "\"value\":\" User201@Example.COM \""));
  freeReplyObject(r);
  assert_int_equal(rf_dashboard_requeue(T.d, "carol", "cust-201", &st), RF_EEXISTS);
  /* The real daemon gives the requeued message its own outcome. */
  daemon_start(&T.core);
  wait_all_done(&T.core, SEED_TOTAL + 1, 60000);
  assert_int_equal(q("SELECT count(*) FROM rectify.messages WHERE key = 'cust-201#requeue-1'"), 1);
  assert_int_equal(daemon_stop(&T.core, SIGTERM, 30000), 0);
}

static void test_apply(void **state) {
  (void)state;
  rf_dash_status_t st;
  cJSON *doc = NULL;
  /* The model's proposal does not pass the gate. */
  assert_int_equal(rf_dashboard_preview(T.d, "orders", "order_date", SEED_DATE_FP, SEED_PROPOSAL,
                                        &doc, &st),
                   0);
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "gate"), "ok")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(doc, "digest")));
  cJSON_Delete(doc);
  assert_int_equal(rf_dashboard_apply(T.d, "dave", "orders", "order_date", SEED_DATE_FP,
                                      SEED_PROPOSAL, "0000", &doc, &st),
                   RF_EVALUE);
  /* The edited lambda: every open row previewed (ord-101 is resolved). */
  assert_int_equal(rf_dashboard_preview(T.d, "orders", "order_date", SEED_DATE_FP,
                                        SEED_FIXED_LAMBDA, &doc, &st),
                   0);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "gate"), "ok")));
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "n")), SEED_DATES - 1);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "n_ok")), SEED_DATES - 2);
  cJSON *row;
  int failing = 0;
  cJSON_ArrayForEach(row, cJSON_GetObjectItem(doc, "rows")) {
    const char *before = cJSON_GetStringValue(cJSON_GetObjectItem(row, "before"));
    if (strcmp(before, "03/15/2024") == 0)
      assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(row, "after")), "2024-03-15");
    if (!cJSON_IsTrue(cJSON_GetObjectItem(row, "ok"))) {
      failing++;
      assert_string_equal(before, "02/30/2024");
    }
  }
  assert_int_equal(failing, 1);
  char digest[80];
  snprintf(digest, sizeof(digest), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(doc, "digest")));
  cJSON_Delete(doc);
  /* A stale digest (the lambda differs from the previewed one): refused. */
  assert_int_equal(rf_dashboard_apply(T.d, "dave", "orders", "order_date", SEED_DATE_FP,
                                      "lambda x: datetime.strptime(x, '%m/%d/%Y').strftime('%Y-%m-%d') ",
                                      digest, &doc, &st),
                   RF_EAGAIN);
  assert_int_equal(st.http, 409);
  /* Somebody acts on one of the previewed rows meanwhile: refused, and the
   * fresh preview is then applied. */
  assert_int_equal(rf_dashboard_resolve(T.d, "erin", "ord-104", "2025-01-09", &st), 0);
  assert_int_equal(rf_dashboard_apply(T.d, "dave", "orders", "order_date", SEED_DATE_FP,
                                      SEED_FIXED_LAMBDA, digest, &doc, &st),
                   RF_EAGAIN);
  assert_int_equal(rf_dashboard_preview(T.d, "orders", "order_date", SEED_DATE_FP,
                                        SEED_FIXED_LAMBDA, &doc, &st),
                   0);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "n")), SEED_DATES - 2);
  snprintf(digest, sizeof(digest), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(doc, "digest")));
  cJSON_Delete(doc);
  assert_int_equal(rf_dashboard_apply(T.d, "dave", "orders", "order_date", SEED_DATE_FP,
                                      SEED_FIXED_LAMBDA, digest, &doc, &st),
                   0);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "moved")), SEED_DATES - 3);
  assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "stayed")), 1);
  cJSON_Delete(doc);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE generator = 'human' AND"
                     " table_name = 'orders' AND lambda IS NOT NULL AND fix_id IS NOT NULL"),
                   SEED_DATES - 3);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'ord-100' AND new_value ="
                     " '2024-03-15'"),
                   1);
  /* Applying the same preview again: only 02/30/2024 is left, which the
   * lambda cannot fix, so the gate refuses. */
  assert_int_equal(rf_dashboard_apply(T.d, "dave", "orders", "order_date", SEED_DATE_FP,
                                      SEED_FIXED_LAMBDA, digest, &doc, &st),
                   RF_EVALUE);
  assert_int_equal(st.http, 422);
  /* Open: no staging row and no final action. */
  assert_int_equal(q("SELECT count(*) FROM rectify.quarantine q WHERE NOT EXISTS (SELECT 1 FROM"
                     " rectify.staging s WHERE s.key = q.key) AND NOT EXISTS (SELECT 1 FROM"
                     " rectify.actions a WHERE a.key = q.key) AND q.key NOT LIKE '%%#requeue-%%'"),
                   SEED_TOTAL - 1 /* ord-101 */ - 1 /* cust-200 */ - 1 /* cust-201 */ -
                       1 /* ord-104 */ - (SEED_DATES - 3));
}

/* Two dashboards (two chains) race to resolve the same row. */
typedef struct racer {
  rf_dashboard_t *d;
  const char *actor;
  int rc;
} racer_t;

static void *race(void *arg) {
  racer_t *r = arg;
  rf_dash_status_t st;
  r->rc = rf_dashboard_resolve(r->d, r->actor, "cust-202", "user202@example.com", &st);
  return NULL;
}

static void test_race(void **state) {
  (void)state;
  char err[512];
  rf_dashboard_t *d2 = NULL;
  rf_dashboard_opts_t o = {.cfg = T.cfg, .chain_id = "dashboard:other"};
  assert_int_equal(rf_dashboard_new(&o, &d2, err, sizeof(err)), 0);
  racer_t a = {T.d, "erin", 1}, b = {d2, "frank", 1};
  pthread_t ta, tb;
  pthread_create(&ta, NULL, race, &a);
  pthread_create(&tb, NULL, race, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_true((a.rc == 0 && b.rc == RF_EEXISTS) || (a.rc == RF_EEXISTS && b.rc == 0));
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'cust-202'"), 1);
  assert_int_equal(q("SELECT count(*) FROM rectify.actions WHERE key = 'cust-202'"), 1);
  rf_dashboard_free(d2);
}

/* ---- HTTP ----------------------------------------------------------------------- */

typedef struct resp {
  long status;
  rf_buf_t body, headers;
} resp_t;

static size_t on_data(char *p, size_t sz, size_t n, void *arg) {
  rf_buf_append(arg, p, sz * n);
  return sz * n;
}

/* One request; hdrs is NULL-terminated. */
static void http(const char *method, const char *path, const char *const *hdrs, const char *body,
                 resp_t *r) {
  CURL *c = curl_easy_init();
  struct curl_slist *l = NULL;
  char url[512];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", T.port, path);
  memset(r, 0, sizeof(*r));
  for (size_t i = 0; hdrs && hdrs[i]; i++)
    l = curl_slist_append(l, hdrs[i]);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
  if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  rf_buf_putc(&r->body, '\0');
  rf_buf_putc(&r->headers, '\0');
  curl_slist_free_all(l);
  curl_easy_cleanup(c);
}

static void resp_free(resp_t *r) {
  rf_buf_free(&r->body);
  rf_buf_free(&r->headers);
}

static void test_http(void **state) {
  (void)state;
  char path[512], err[512];
  snprintf(T.token, sizeof(T.token), "tok-%08x-abcdefghijklmnop", (unsigned)getpid());
  snprintf(path, sizeof(path), "%s/tokens", T.core.dir);
  char line[200];
  snprintf(line, sizeof(line), "# people\ngrace %s\n", T.token);
  assert_int_equal(rf_h_write_file(path, line), 0);
  rf_dash_token_t *toks = NULL;
  size_t nt = 0;
  /* 0644: refused (others may read the tokens). */
  assert_int_equal(rf_dash_tokens_load(path, &toks, &nt, err, sizeof(err)), RF_EDENIED);
  chmod(path, 0600);
  assert_int_equal(rf_dash_tokens_load(path, &toks, &nt, err, sizeof(err)), 0);
  assert_int_equal(nt, 1);
  assert_string_equal(toks[0].actor, "grace");
  /* Bad token files name the line. */
  static const char *const bad_files[][2] = {
      {"alice short\n", ":1: expected"},
      {"# c\n\nbad/actor 0123456789abcdef01\n", ":3: the actor"},
      {"a 0123456789abcdef01\nb 0123456789abcdef01\n", ":2: the same token"},
      {"# nothing\n", "no token"}};
  for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad-tokens", T.core.dir);
    assert_int_equal(rf_h_write_file(bad, bad_files[i][0]), 0);
    chmod(bad, 0600);
    rf_dash_token_t *bt = NULL;
    size_t bn = 0;
    assert_int_equal(rf_dash_tokens_load(bad, &bt, &bn, err, sizeof(err)), RF_EPARSE);
    if (strstr(err, bad_files[i][1]) == NULL)
      fail_msg("token file %zu: \"%s\" lacks \"%s\"", i, err, bad_files[i][1]);
  }
  /* Never without a token; never off loopback. */
  rf_dash_server_t *bad = NULL;
  assert_int_equal(rf_dash_serve(T.d, "0.0.0.0:0", toks, nt, &bad, err, sizeof(err)) < 0, 1);
  assert_int_equal(rf_dash_serve(T.d, "127.0.0.1:0", toks, nt, &T.srv, err, sizeof(err)), 0);
  T.port = rf_dash_server_port(T.srv);
  char bearer[128], host_bad[64], origin_ok[64];
  snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", T.token);
  snprintf(host_bad, sizeof(host_bad), "Host: rebind.example:%d", T.port);
  snprintf(origin_ok, sizeof(origin_ok), "Origin: http://127.0.0.1:%d", T.port);
  resp_t r;
  /* 401 without a token, or with a wrong one. */
  http("GET", "/api/overview", NULL, NULL, &r);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  http("GET", "/", NULL, NULL, &r);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.body.data, "name=\"token\""));
  resp_free(&r);
  const char *wrong[] = {"Authorization: Bearer tok-wrong-wrong-wrong-wrong", NULL};
  http("GET", "/api/overview", wrong, NULL, &r);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  const char *hb[] = {bearer, NULL};
  http("GET", "/api/overview", hb, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body.data, "\"open_by\""));
  resp_free(&r);
  http("GET", "/clusters", hb, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.headers.data, "Content-Security-Policy"));
  resp_free(&r);
  /* DNS rebinding: a foreign Host. */
  const char *rebind[] = {bearer, host_bad, NULL};
  http("GET", "/api/overview", rebind, NULL, &r);
  assert_int_equal(r.status, 421);
  resp_free(&r);
  /* Cross-site POSTs are refused even with a valid token. */
  const char *evil1[] = {bearer, "Origin: http://evil.example", "Content-Type: application/json",
                         NULL};
  http("POST", "/api/discard", evil1, "{\"key\":\"cust-203\",\"reason\":\"x\"}", &r);
  assert_int_equal(r.status, 403);
  resp_free(&r);
  const char *evil2[] = {bearer, "Sec-Fetch-Site: cross-site", "Content-Type: application/json",
                         NULL};
  http("POST", "/api/discard", evil2, "{\"key\":\"cust-203\",\"reason\":\"x\"}", &r);
  assert_int_equal(r.status, 403);
  resp_free(&r);
  const char *form[] = {bearer, "Content-Type: application/x-www-form-urlencoded", NULL};
  http("POST", "/api/discard", form, "key=cust-203&reason=x", &r);
  assert_int_equal(r.status, 415);
  resp_free(&r);
  assert_int_equal(q("SELECT count(*) FROM rectify.actions WHERE key = 'cust-203'"), 0);
  /* Login: wrong token 401; right token: a strict, HttpOnly cookie. */
  const char *lh[] = {origin_ok, NULL};
  http("POST", "/login", lh, "token=nope", &r);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  const char *lh_evil[] = {"Origin: http://evil.example", NULL};
  char form_body[200];
  snprintf(form_body, sizeof(form_body), "token=%s", T.token);
  http("POST", "/login", lh_evil, form_body, &r);
  assert_int_equal(r.status, 403);
  resp_free(&r);
  http("POST", "/login", lh, form_body, &r);
  assert_int_equal(r.status, 303);
  char *sc = strstr(r.headers.data, "Set-Cookie: rf_session=");
  assert_non_null(sc);
  assert_non_null(strstr(sc, "HttpOnly"));
  assert_non_null(strstr(sc, "SameSite=Strict"));
  char cookie[200];
  snprintf(cookie, sizeof(cookie), "Cookie: rf_session=%.64s", sc + strlen("Set-Cookie: rf_session="));
  resp_free(&r);
  const char *ch[] = {cookie, NULL};
  http("GET", "/cluster?table=customers&column=email&fp=%20Aaaa9%40Aaaaaaa.AAA%20", ch, NULL, &r);
  assert_int_equal(r.status, 200);
  char *m = strstr(r.body.data, "name=\"csrf-token\" content=\"");
  assert_non_null(m);
  char csrf[200];
  snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %.64s", m + strlen("name=\"csrf-token\" content=\""));
  resp_free(&r);
  /* Cookie without the CSRF token: refused; with it: done, by grace. */
  const char *nocsrf[] = {cookie, origin_ok, "Content-Type: application/json", NULL};
  http("POST", "/api/discard", nocsrf, "{\"key\":\"cust-203\",\"reason\":\"duplicate\"}", &r);
  assert_int_equal(r.status, 403);
  resp_free(&r);
  const char *okh[] = {cookie, csrf, origin_ok, "Sec-Fetch-Site: same-origin",
                       "Content-Type: application/json", NULL};
  http("POST", "/api/resolve", okh, "{\"key\":\"cust-203\",\"value\":\"not an email\"}", &r);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body.data, "breaks the contract of customers.email"));
  resp_free(&r);
  http("POST", "/api/resolve", okh, "{\"key\":\"cust-203\",\"value\":\"user203@example.com\"}", &r);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(q("SELECT count(*) FROM rectify.actions WHERE key = 'cust-203' AND actor ="
                     " 'grace'"),
                   1);
  http("GET", "/row?key=cust-203", ch, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body.data, "resolved"));
  assert_non_null(strstr(r.body.data, "grace"));
  resp_free(&r);
  /* Escaping: a key with markup is shown as text. */
  http("GET", "/row?key=%3Cscript%3E", ch, NULL, &r);
  assert_int_equal(r.status, 404);
  assert_null(strstr(r.body.data, "<script>"));
  resp_free(&r);
}

/* ---- allocation failures ----------------------------------------------------------- */

/* Every allocation of every view and of a resolve fails in turn: the call
 * returns RF_ENOMEM (or succeeds), leaks nothing (ASan) and writes nothing
 * half-way. */
static void test_alloc_failures(void **state) {
  (void)state;
  rf_dash_status_t st;
  cJSON *doc = NULL;
  rf_dash_filter_t f = {NULL, NULL, NULL, 0};
  for (int view = 0; view < 5; view++) {
    int rc = RF_ENOMEM;
    long n;
    for (n = 0; rc == RF_ENOMEM && n < 100000; n++) {
      rf_alloc_fail_after(n);
      switch (view) {
      case 0: rc = rf_dashboard_overview(T.d, &doc, &st); break;
      case 1: rc = rf_dashboard_clusters(T.d, &f, &doc, &st); break;
      case 2: rc = rf_dashboard_cluster(T.d, "orders", "order_date", SEED_DATE_FP, 0, &doc, &st); break;
      case 3: rc = rf_dashboard_row(T.d, "ord-100", &doc, &st); break;
      default:
        rc = rf_dashboard_preview(T.d, "orders", "order_date", SEED_DATE_FP, SEED_FIXED_LAMBDA,
                                  &doc, &st);
      }
      rf_alloc_fail_reset();
      if (rc == RF_ENOMEM)
        assert_null(doc);
      else if (rc != 0)
        fail_msg("view %d, failing allocation %ld: %s (%d)", view, n, st.message, rc);
      cJSON_Delete(doc);
      doc = NULL;
    }
    assert_int_equal(rc, 0);
    print_message("view %d: succeeded after %ld allocation failures\n", view, n - 1);
  }
  int rc = RF_ENOMEM;
  long n;
  for (n = 0; rc == RF_ENOMEM && n < 100000; n++) {
    rf_alloc_fail_after(n);
    rc = rf_dashboard_resolve(T.d, "heidi", "ord-105", "2024-02-29", &st);
    rf_alloc_fail_reset();
    if (rc == RF_ENOMEM) {
      assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'ord-105'"), 0);
      assert_int_equal(q("SELECT count(*) FROM rectify.actions WHERE key = 'ord-105'"), 0);
    }
  }
  if (rc != 0)
    fail_msg("resolve, failing allocation %ld: %s (%d)", n - 1, st.message, rc);
  print_message("resolve: succeeded after %ld allocation failures\n", n - 1);
  assert_int_equal(q("SELECT count(*) FROM rectify.staging WHERE key = 'ord-105'"), 1);
}

/* ---- the books ------------------------------------------------------------------- */

static void test_accounting_and_audit(void **state) {
  (void)state;
  /* The seed (SEED_TOTAL) and the requeued message are the messages. */
  check_accounting(&T.core, SEED_TOTAL + 1);
  assert_int_equal(q("SELECT count(*) FROM rectify.batches WHERE received <> fixed + quarantined"),
                   0);
  /* Every human action is on a dashboard chain, naming its person. */
  assert_int_equal(q("SELECT count(*) FROM rectify.actions a JOIN rectify.audit au USING"
                     " (batch_id) WHERE au.entry->>'actor' = a.actor AND au.chain_id LIKE"
                     " 'dashboard:%%'"),
                   q("SELECT count(*) FROM rectify.actions"));
  assert_int_equal(q("SELECT count(DISTINCT entry->>'actor') FROM rectify.audit WHERE chain_id"
                     " LIKE 'dashboard:%%'"),
                   q("SELECT count(DISTINCT actor) FROM rectify.actions"));
  char *out = NULL;
  assert_int_equal(audit_verify(&T.core, &out), 0);
  assert_non_null(strstr(out, "OK"));
  free(out);
  cJSON *doc = NULL;
  rf_dash_status_t st;
  assert_int_equal(rf_dashboard_verify(T.d, &doc, &st), 0);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(doc, "ok")));
  cJSON_Delete(doc);
  /* Tampering with a human action, or removing a resolved row, is caught. */
  assert_int_equal(rf_h_pg_exec(T.core.db, "SET session_replication_role = replica;"
                                           "UPDATE rectify.actions SET actor = 'mallory'"
                                           " WHERE key = 'cust-200';"
                                           "SET session_replication_role = origin"),
                   0);
  assert_int_equal(audit_verify(&T.core, &out), 1);
  assert_non_null(strstr(out, "action"));
  free(out);
  assert_int_equal(rf_h_pg_exec(T.core.db, "SET session_replication_role = replica;"
                                           "UPDATE rectify.actions SET actor = 'bob'"
                                           " WHERE key = 'cust-200';"
                                           "DELETE FROM rectify.staging WHERE key = 'ord-101';"
                                           "SET session_replication_role = origin"),
                   0);
  assert_int_equal(audit_verify(&T.core, &out), 1);
  assert_non_null(strstr(out, "BROKEN"));
  free(out);
}

int main(void) {
  rf_alloc_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_views),   cmocka_unit_test(test_resolve),
      cmocka_unit_test(test_discard), cmocka_unit_test(test_requeue),
      cmocka_unit_test(test_apply),   cmocka_unit_test(test_race),
      cmocka_unit_test(test_http),    cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_accounting_and_audit),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  curl_global_cleanup();
  return rc;
}

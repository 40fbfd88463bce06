/* test_ollama_embed.c - the /api/embed request body and response parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/ollama.h"

static void test_body(void **state) {
  (void)state;
  const char *vals[3] = {"12 oz", NULL, "a\"b"};
  size_t lens[3] = {5, 0, 3};
  rf_buf_t b = RF_BUF_INIT;
  rf_ollama_embed_body(&b, "all-minilm", vals, lens, 3, "5m");
  assert_true(rf_buf_ok(&b));
  rf_json_error_t err;
  cJSON *j = rf_json_parse(b.data, b.len, 8, &err);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "all-minilm");
  cJSON *in = cJSON_GetObjectItem(j, "input");
  assert_int_equal(cJSON_GetArraySize(in), 3);
  assert_string_equal(cJSON_GetArrayItem(in, 0)->valuestring, "12 oz");
  assert_string_equal(cJSON_GetArrayItem(in, 1)->valuestring, "<null>");
  assert_string_equal(cJSON_GetArrayItem(in, 2)->valuestring, "a\"b");
  cJSON_Delete(j);
  rf_buf_free(&b);
}

static void parse_ok(const char *body, size_t n, size_t want_dim, float first) {
  float *v = NULL;
  size_t dim = 0;
  char why[256];
  int rc = rf_ollama_embed_parse(body, strlen(body), n, 16, &v, &dim, why, sizeof(why));
  if (rc)
    fail_msg("%s: %s", body, why);
  assert_int_equal(dim, want_dim);
  assert_true(v[0] == first);
  rf_free(v);
}

static void parse_bad(const char *body, size_t n, const char *needle) {
  float *v = NULL;
  size_t dim = 0;
  char why[256] = "";
  int rc = rf_ollama_embed_parse(body, strlen(body), n, 16, &v, &dim, why, sizeof(why));
  if (rc != RF_EPROTO)
    fail_msg("accepted: %s", body);
  assert_null(v);
  if (needle && strstr(why, needle) == NULL)
    fail_msg("%s: why \"%s\" lacks \"%s\"", body, why, needle);
}

static void test_parse(void **state) {
  (void)state;
  parse_ok("{\"model\":\"m\",\"embeddings\":[[0.5,1,2],[3,4,5e-1]]}", 2, 3, 0.5f);
  parse_ok("{\"embeddings\":[[-1]]}", 1, 1, -1.0f);
  parse_bad("not json", 1, NULL);
  parse_bad("{\"model\":\"m\"}", 1, "embeddings");
  parse_bad("{\"embeddings\":[[1,2]]}", 2, NULL);              /* wrong count */
  parse_bad("{\"embeddings\":[[1,2],[3]]}", 2, NULL);           /* ragged */
  parse_bad("{\"embeddings\":[[1,\"x\"]]}", 1, NULL);           /* not a number */
  parse_bad("{\"embeddings\":[[]]}", 1, NULL);                  /* dimension 0 */
  parse_bad("{\"embeddings\":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]]}", 1, NULL); /* > max */
}

static void test_alloc_failures(void **state) {
  (void)state;
  const char *body = "{\"embeddings\":[[0.5,1,2],[3,4,5]]}";
  for (long n = 0;; n++) {
    float *v = NULL;
    size_t dim = 0;
    char why[128];
    rf_alloc_fail_after(n);
    int rc = rf_ollama_embed_parse(body, strlen(body), 2, 16, &v, &dim, why, sizeof(why));
    rf_alloc_fail_reset();
    if (rc == 0) {
      assert_int_equal(dim, 3);
      rf_free(v);
      return;
    }
    assert_int_equal(rc, RF_ENOMEM);
    assert_null(v);
    assert_true(n < 1000);
  }
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_body), cmocka_unit_test(test_parse),
                                     cmocka_unit_test(test_alloc_failures)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

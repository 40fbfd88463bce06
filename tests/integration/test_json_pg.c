/* test_json_pg.c - rectify's canonical JSON equals PostgreSQL jsonb's.
 *
 * The audit verifier re-derives pk hashes and chain entries from what jsonb
 * columns give back, so canonical(text) must equal canonical(text::jsonb::text)
 * for everything intake accepts. This asks a real PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rectify/alloc.h"
#include "rectify/json.h"

static const char *const docs[] = {
    "{\"id\":1}",
    "{\"id\":9007199254740993}",
    "{\"id\":123456789012345678901234567890}",
    "{\"b\":1,\"a\":2,\"aa\":3,\"\xc3\xa9\":4,\"z\":5}",
    "{\"k\":1,\"k\":2,\"k\":{\"x\":3}}",
    "[1,1.0,1.50,-0,-0.0,0.000,1e3,1E+2,1.5e2,1.50e1,1e-3,12.5e-1,-12.5e-3,0e5,0.000e2,2E-0]",
    "[1e300,-1e-300,123.456e-7,9.99e2,1234567890.0987654321]",
    "{\"s\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\\u00e9\\u20ac\\ud83d\\ude00\\/\"}",
    "{\"nested\":{\"z\":[{\"b\":null,\"a\":true}],\"a\":false},\"\":\"empty key\"}",
    "{\"deep\":[[[[[[[[[[\"x\"]]]]]]]]]]}",
    "{\"sp ace\":\" leading and trailing \",\"tab\\tkey\":\"v\"}",
    "[\"\\u0041\\u00df\\u4e2d\", \"\xe4\xb8\xad\xf0\x9f\x98\x80\"]",
    "{\"neg\":-123.000,\"small\":0.1,\"big\":100000000000000000000000000.5}",
};

static void test_canonical_matches_jsonb(void **state) {
  (void)state;
  rf_h_pg_t pg;
  assert_int_equal(rf_h_pg_start(&pg), 0);
  PGconn *c = rf_h_pg_connect(&pg);
  assert_non_null(c);
  for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    rf_json_error_t err;
    char *mine = rf_json_canonicalize(docs[i], strlen(docs[i]), &err);
    if (mine == NULL)
      fail_msg("%s: %s", docs[i], err.message);
    const char *params[1] = {docs[i]};
    PGresult *r = PQexecParams(c, "SELECT $1::jsonb::text", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
      fail_msg("%s: %s", docs[i], PQerrorMessage(c));
    const char *pgtext = PQgetvalue(r, 0, 0);
    char *theirs = rf_json_canonicalize(pgtext, strlen(pgtext), &err);
    assert_non_null(theirs);
    if (strcmp(mine, theirs) != 0)
      fail_msg("doc %zu differs:\n  rectify: %s\n  jsonb:   %s\n  (jsonb text: %s)", i, mine,
               theirs, pgtext);
    rf_free(mine);
    rf_free(theirs);
    PQclear(r);
  }
  printf("json: %zu documents canonicalise identically through jsonb\n",
         sizeof(docs) / sizeof(docs[0]));
  PQfinish(c);
  rf_h_pg_destroy(&pg);
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_canonical_matches_jsonb)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

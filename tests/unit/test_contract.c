/* test_contract.c - the column-contract validator: the table of small cases in
 * tests/data/contract/cases.txt, contracts that cannot compile, the words a
 * prompt gets, and an allocation-failure walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/config.h"
#include "rectify/contract.h"
#include "rectify/error.h"

/* Builds a contract from "k=v;k=v" (test-owned, freed by contract_clear). */
static void contract_parse(const char *spec, rf_contract_t *c) {
  memset(c, 0, sizeof(*c));
  char *copy = strdup(spec), *save = NULL;
  for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(kv, '=');
    assert_non_null(eq);
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    if (strcmp(k, "type") == 0)
      c->type = rf_strdup(v);
    else if (strcmp(k, "format") == 0)
      c->format = rf_strdup(v);
    else if (strcmp(k, "pattern") == 0)
      c->pattern = rf_strdup(v);
    else if (strcmp(k, "min") == 0)
      c->min = rf_strdup(v);
    else if (strcmp(k, "max") == 0)
      c->max = rf_strdup(v);
    else if (strcmp(k, "nullable") == 0)
      c->nullable = strcmp(v, "yes") == 0;
    else if (strcmp(k, "max_length") == 0)
      c->max_length = atol(v);
    else if (strcmp(k, "allowed") == 0) {
      char *vs = strdup(v), *s2 = NULL;
      for (char *a = strtok_r(vs, ",", &s2); a; a = strtok_r(NULL, ",", &s2)) {
        c->allowed = rf_realloc(c->allowed, (c->n_allowed + 1) * sizeof(char *));
        c->allowed[c->n_allowed++] = rf_strdup(a);
      }
      free(vs);
    } else
      fail_msg("unknown contract key %s", k);
  }
  free(copy);
}

static void contract_clear(rf_contract_t *c) {
  rf_free(c->type);
  rf_free(c->format);
  rf_free(c->pattern);
  rf_free(c->min);
  rf_free(c->max);
  for (size_t i = 0; i < c->n_allowed; i++)
    rf_free(c->allowed[i]);
  rf_free(c->allowed);
}

static void test_cases_file(void **state) {
  (void)state;
  FILE *f = fopen(RF_TEST_DATA "/contract/cases.txt", "r");
  assert_non_null(f);
  char line[1024];
  int n = 0, lineno = 0, failures = 0;
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *s1 = strstr(line, " | ");
    char *s2 = s1 ? strstr(s1 + 3, " | ") : NULL;
    if (s2 == NULL)
      fail_msg("cases.txt:%d: expected CONTRACT | VALUE | EXPECT", lineno);
    *s1 = '\0';
    *s2 = '\0';
    const char *spec = line, *value = s1 + 3, *expect = s2 + 3;
    if (strcmp(value, "<NULL>") == 0)
      value = NULL;
    rf_contract_t c;
    contract_parse(spec, &c);
    char why[256] = "";
    int rc = rf_contract_check(&c, value, why, sizeof(why));
    bool want_ok = strcmp(expect, "ok") == 0;
    bool good = want_ok ? rc == 0
                        : (rc == RF_EVALUE && strncmp(expect, "bad:", 4) == 0 &&
                           strstr(why, expect + 4) != NULL);
    if (!good) {
      fprintf(stderr, "cases.txt:%d: [%s] value=\"%s\": got rc=%d why=\"%s\", want %s\n", lineno,
              spec, value ? value : "<NULL>", rc, why, expect);
      failures++;
    }
    contract_clear(&c);
    n++;
  }
  fclose(f);
  assert_true(n >= 90);
  assert_int_equal(failures, 0);
}

static void test_bad_contracts(void **state) {
  (void)state;
  static const struct {
    const char *spec, *needle;
  } cases[] = {
      {"type=date;min=01/01/2000", "min '01/01/2000' does not parse"},
      {"type=date;format=%Q", "format '%Q'"},
      {"type=decimal;max=ten", "max 'ten' is not a decimal"},
      {"type=string;pattern=(ab", "pattern:"},
      {"type=boolean;allowed=Y", "exactly two spellings"},
      {"type=enum", "no `allowed`"},
      {"type=colour", "unknown contract type"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rf_contract_t c;
    contract_parse(cases[i].spec, &c);
    rf_checker_t *k = (rf_checker_t *)1;
    char why[256] = "";
    int rc = rf_checker_new(&c, &k, why, sizeof(why));
    if (rc != RF_EINVAL || k != NULL || strstr(why, cases[i].needle) == NULL)
      fail_msg("[%s]: rc=%d why=\"%s\", want EINVAL with \"%s\"", cases[i].spec, rc, why,
               cases[i].needle);
    contract_clear(&c);
  }
}

static void test_checker_reuse_and_lengths(void **state) {
  (void)state;
  rf_contract_t c;
  contract_parse("type=string;max_length=2", &c);
  rf_checker_t *k;
  char why[128];
  assert_int_equal(rf_checker_new(&c, &k, why, sizeof(why)), 0);
  /* an embedded NUL or invalid UTF-8 is never valid text */
  assert_int_equal(rf_checker_check(k, "a\0b", 3, why, sizeof(why)), RF_EVALUE);
  assert_int_equal(rf_checker_check(k, "\xff", 1, why, sizeof(why)), RF_EVALUE);
  assert_int_equal(rf_checker_check(k, "ab", 2, why, sizeof(why)), 0);
  /* length is explicit: "abc" cut to 2 is fine */
  assert_int_equal(rf_checker_check(k, "abc", 2, why, sizeof(why)), 0);
  assert_int_equal(rf_checker_check(k, "abc", 3, why, sizeof(why)), RF_EVALUE);
  /* a zero-sized why buffer is fine */
  assert_int_equal(rf_checker_check(k, "abc", 3, NULL, 0), RF_EVALUE);
  rf_checker_free(k);
  contract_clear(&c);
}

static void test_describe(void **state) {
  (void)state;
  rf_contract_t c;
  contract_parse("type=date;format=%d/%m/%Y;min=01/01/2000;max_length=10", &c);
  rf_buf_t b = RF_BUF_INIT;
  rf_contract_describe(&c, &b);
  assert_true(rf_buf_ok(&b));
  assert_non_null(strstr(b.data, "a date written exactly in the strftime format %d/%m/%Y"));
  assert_non_null(strstr(b.data, "at least 01/01/2000"));
  assert_non_null(strstr(b.data, "at most 10 characters"));
  assert_non_null(strstr(b.data, "never None"));
  rf_buf_free(&b);
  contract_clear(&c);
  contract_parse("type=enum;allowed=US,FR;nullable=yes", &c);
  rf_contract_describe(&c, &b);
  assert_non_null(strstr(b.data, "allowed values: US, FR"));
  assert_non_null(strstr(b.data, "may be None"));
  rf_buf_free(&b);
  contract_clear(&c);
}

static void test_alloc_failures(void **state) {
  (void)state;
  static const char *const specs[] = {
      "type=date;min=2000-01-01;max=2030-01-01;pattern=\\d{4}-\\d\\d-\\d\\d",
      "type=decimal;min=0;max=10",
      "type=enum;allowed=a,b,c",
  };
  for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
    rf_contract_t c;
    contract_parse(specs[s], &c);
    bool succeeded = false;
    for (long n = 0; n < 200 && !succeeded; n++) {
      char why[128];
      rf_checker_t *k = NULL;
      rf_alloc_fail_after(n);
      int rc = rf_checker_new(&c, &k, why, sizeof(why));
      rf_alloc_fail_reset();
      if (rc == 0) {
        succeeded = true;
        rf_checker_free(k);
      } else {
        assert_int_equal(rc, RF_ENOMEM);
        assert_null(k);
      }
    }
    assert_true(succeeded);
    contract_clear(&c);
  }
}

int main(void) {
  rf_alloc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases_file),       cmocka_unit_test(test_bad_contracts),
      cmocka_unit_test(test_checker_reuse_and_lengths), cmocka_unit_test(test_describe),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

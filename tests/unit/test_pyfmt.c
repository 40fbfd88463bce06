/* test_pyfmt.c - CPython formatting: repr, format specs, %-formatting.
 * Expected values were produced by CPython 3.11; the differential test
 * (tests/pyrt) checks thousands more against the live interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/lambda/pyfmt.h"
#include "rectify/alloc.h"

typedef struct {
  const char *in;   /* value: float text, int decimal, or str */
  const char *spec;
  const char *out;  /* expected text, or NULL */
  const char *exc;  /* expected exception class */
  const char *msg;  /* expected message (NULL: not checked) */
} fcase_t;

static void check(int rc, rf_buf_t *b, rf_pyerr_t *e, const fcase_t *c) {
  if (c->out) {
    if (rc != 0)
      fail_msg("value %s spec '%s': unexpected %s: %s", c->in, c->spec, e->type, e->msg);
    assert_true(rf_buf_ok(b));
    assert_string_equal(b->data ? b->data : "", c->out);
  } else {
    assert_int_equal(rc, -1);
    assert_string_equal(e->type, c->exc);
    if (c->msg)
      assert_string_equal(e->msg, c->msg);
  }
}

static void test_float_repr(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *out;
  } t[] = {
      {0.0, "0.0"}, {-0.0, "-0.0"}, {1.0, "1.0"}, {0.1, "0.1"}, {1e16, "1e+16"},
      {1e15, "1000000000000000.0"}, {1.5e-5, "1.5e-05"}, {0.0001, "0.0001"},
      {123456789.0, "123456789.0"}, {1.0 / 3, "0.3333333333333333"}, {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"}, {9007199254740993.0, "9007199254740992.0"},
      {2e16 + 8, "2.000000000000001e+16"}, {INFINITY, "inf"}, {-INFINITY, "-inf"}, {NAN, "nan"},
      {-NAN, "nan"}, {0x1p-1022, "2.2250738585072014e-308"}, {0x1p60, "1.152921504606847e+18"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_py_float_repr(t[i].v, &b);
    assert_string_equal(b.data, t[i].out);
    rf_buf_free(&b);
  }
}

static void test_format_float(void **state) {
  (void)state;
  static const fcase_t t[] = {
      {"1.0", ".3", "1.0", NULL, NULL},
      {"100.0", ".3", "1e+02", NULL, NULL},
      {"1.0", "#.3", "1.00", NULL, NULL},
      {"1.0", "#g", "1.00000", NULL, NULL},
      {"1.5", ".0", "2e+00", NULL, NULL},
      {"2.5", ".0f", "2", NULL, NULL},
      {"-0.0", "z", "0.0", NULL, NULL},
      {"-0.0001", "z.2f", "0.00", NULL, NULL},
      {"-1e-09", "z.3e", "-1.000e-09", NULL, NULL},
      {"0.1", "%", "10.000000%", NULL, NULL},
      {"-0.0", "%", "-0.000000%", NULL, NULL},
      {"12345.678", "_.2f", "12_345.68", NULL, NULL},
      {"1234567.891", ",.2f", "1,234,567.89", NULL, NULL},
      {"1234.5", "015,.2f", "0,000,001,234.50", NULL, NULL},
      {"inf", "010", "0000000inf", NULL, NULL},
      {"inf", "E", "INF", NULL, NULL},
      {"nan", "+", "+nan", NULL, NULL},
      {"1.0", "=^10", "===1.0====", NULL, NULL},
      {"3.14159", "*<10.2f", "3.14******", NULL, NULL},
      {"-3.14159", "=+10.2f", "-     3.14", NULL, NULL},
      {"-3.14159", "010.2f", "-000003.14", NULL, NULL},
      {"123456789.0", "n", "1.23457e+08", NULL, NULL},
      {"1e+16", "", "1e+16", NULL, NULL},
      {"0.5", ".1000f", NULL, NULL, NULL}, /* long output: checked below */
      {"2.5", "d", NULL, "ValueError", "Unknown format code 'd' for object of type 'float'"},
      {"2.5", "s", NULL, "ValueError", "Unknown format code 's' for object of type 'float'"},
      {"2.5", ",n", NULL, "ValueError", "Cannot specify ',' with 'n'."},
      {"2.5", "_n", NULL, "ValueError", "Cannot specify '_' with 'n'."},
      {"2.5", ",_", NULL, "ValueError", "Cannot specify both ',' and '_'."},
      {"2.5", ".", NULL, "ValueError", "Format specifier missing precision"},
      {"2.5", "5x5", NULL, "ValueError", "Invalid format specifier '5x5' for object of type 'float'"},
      {"2.5", "200000", NULL, "LimitError", NULL},
      {"2.5", ".200000f", NULL, "LimitError", NULL},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    if (!t[i].out && !t[i].exc)
      continue;
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    int rc = rf_py_format_float(strtod(t[i].in, NULL), t[i].spec, strlen(t[i].spec), &b, &e);
    check(rc, &b, &e, &t[i]);
    rf_buf_free(&b);
  }
  /* 0.5 with 1000 decimals: "0.5" then 999 zeros, correctly rounded. */
  rf_buf_t b = RF_BUF_INIT;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_format_float(0.1, ".60f", 4, &b, &e), 0);
  assert_string_equal(b.data, "0.100000000000000005551115123125782702118158340454101562500000");
  rf_buf_free(&b);
}

static void test_format_int(void **state) {
  (void)state;
  static const fcase_t t[] = {
      {"1234", "09,", "0,001,234", NULL, NULL},
      {"1234", "08,", "0,001,234", NULL, NULL},
      {"1234", "010,", "00,001,234", NULL, NULL},
      {"255", "#010_x", "0x000_00ff", NULL, NULL},
      {"255", "#X", "0XFF", NULL, NULL},
      {"-12345", "012_", "-000_012_345", NULL, NULL},
      {"100000000000000000000", "_b",
       "101_0110_1011_1100_0111_0101_1110_0010_1101_0110_0011_0001_0000_0000_0000_0000_0000", NULL,
       NULL},
      {"65", "05c", "0000A", NULL, NULL},
      {"233", "^5c", "  \xc3\xa9  ", NULL, NULL},
      {"42", "+", "+42", NULL, NULL},
      {"42", " ", " 42", NULL, NULL},
      {"-42", "*^9", "***-42***", NULL, NULL},
      {"42", "e", "4.200000e+01", NULL, NULL},
      {"42", "%", "4200.000000%", NULL, NULL},
      {"1234", "n", "1234", NULL, NULL},
      {"0", "#o", "0o0", NULL, NULL},
      {"3", ".2", NULL, "ValueError", "Precision not allowed in integer format specifier"},
      {"3", "z", NULL, "ValueError",
       "Negative zero coercion (z) not allowed in integer format specifier"},
      {"3", "#c", NULL, "ValueError",
       "Alternate form (#) not allowed with integer format specifier 'c'"},
      {"3", "+c", NULL, "ValueError", "Sign not allowed with integer format specifier 'c'"},
      {"3", ",c", NULL, "ValueError", "Cannot specify ',' with 'c'."},
      {"1114112", "c", NULL, "OverflowError", "%c arg not in range(0x110000)"},
      {"100000000000000000000", "c", NULL, "OverflowError",
       "Python int too large to convert to C long"},
      {"3", "s", NULL, "ValueError", "Unknown format code 's' for object of type 'int'"},
      {"3", "\xc3\xa9", NULL, "ValueError",
       "Unknown format code '\\xe9' for object of type 'int'"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    mpz_t z;
    mpz_init_set_str(z, t[i].in, 10);
    int rc = rf_py_format_int(z, t[i].spec, strlen(t[i].spec), &b, &e);
    check(rc, &b, &e, &t[i]);
    mpz_clear(z);
    rf_buf_free(&b);
  }
  /* 2**1024 does not fit a double. */
  mpz_t big;
  mpz_init(big);
  mpz_ui_pow_ui(big, 2, 1024);
  rf_buf_t b = RF_BUF_INIT;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_format_int(big, "e", 1, &b, &e), -1);
  assert_string_equal(e.type, "OverflowError");
  assert_string_equal(e.msg, "int too large to convert to float");
  rf_buf_free(&b);
  mpz_clear(big);
}

static void test_format_str(void **state) {
  (void)state;
  static const fcase_t t[] = {
      {"ab", "05", "ab000", NULL, NULL},
      {"ab", "^6", "  ab  ", NULL, NULL},
      {"ab", "^5", " ab  ", NULL, NULL},
      {"\xc3\xa9t\xc3\xa9", ">5", "  \xc3\xa9t\xc3\xa9", NULL, NULL},
      {"\xc3\xa9t\xc3\xa9", ".2", "\xc3\xa9t", NULL, NULL},
      {"x", "\xc3\xa9^5", "\xc3\xa9\xc3\xa9x\xc3\xa9\xc3\xa9", NULL, NULL},
      {"ab", "+", NULL, "ValueError", "Sign not allowed in string format specifier"},
      {"ab", " ", NULL, "ValueError", "Space not allowed in string format specifier"},
      {"ab", "z", NULL, "ValueError",
       "Negative zero coercion (z) not allowed in string format specifier"},
      {"ab", "#", NULL, "ValueError", "Alternate form (#) not allowed in string format specifier"},
      {"ab", "=5", NULL, "ValueError", "'=' alignment not allowed in string format specifier"},
      {"ab", "d", NULL, "ValueError", "Unknown format code 'd' for object of type 'str'"},
      {"ab", ",", NULL, "ValueError", "Cannot specify ',' with 's'."},
      {"ab", ",d", NULL, "ValueError", "Unknown format code 'd' for object of type 'str'"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    int rc = rf_py_format_str(t[i].in, strlen(t[i].in), t[i].spec, strlen(t[i].spec), &b, &e);
    check(rc, &b, &e, &t[i]);
    rf_buf_free(&b);
  }
}

static void test_pct(void **state) {
  (void)state;
  static const struct {
    const char *fmt;
    char kind; /* i(nt) f(loat) s(tr) */
    const char *v;
    const char *out;
    const char *exc;
    const char *msg;
  } t[] = {
      {"%.5d", 'i', "-42", "-00042", NULL, NULL},
      {"%#5.3x", 'i', "-255", "-0x0ff", NULL, NULL},
      {"%#05x", 'i', "255", "0x0ff", NULL, NULL},
      {"%#-8o", 'i', "8", "0o10    ", NULL, NULL},
      {"%+05d", 'i', "-3", "-0003", NULL, NULL},
      {"%-05d", 'i', "-3", "-3   ", NULL, NULL},
      {"%.0d", 'i', "0", "0", NULL, NULL},
      {"%ld", 'i', "5", "5", NULL, NULL},
      {"%c", 'i', "65", "A", NULL, NULL},
      {"%c", 'i', "1114112", NULL, "OverflowError", "%c arg not in range(0x110000)"},
      {"%05f", 'f', "inf", "00inf", NULL, NULL},
      {"%+05f", 'f', "inf", "+0inf", NULL, NULL},
      {"% 05.1f", 'f', "2.25", " 02.2", NULL, NULL},
      {"%#.0f", 'f', "2.0", "2.", NULL, NULL},
      {"%#g", 'f', "2.0", "2.00000", NULL, NULL},
      {"%.f", 'f', "1.5", "2", NULL, NULL},
      {"%010.3e", 'f', "-1.5", "-1.500e+00", NULL, NULL},
      {"%05s", 's', "ab", "   ab", NULL, NULL},
      {"%.1s", 's', "xyz", "x", NULL, NULL},
      {"%-4c", 's', "\xc3\xa9", "\xc3\xa9   ", NULL, NULL},
      {"%c", 's', "ab", NULL, "TypeError", "%c requires int or char"},
      {"%q", 'i', "1", NULL, "ValueError", "unsupported format character 'q' (0x71) at index 1"},
      {"%lld", 'i', "1", NULL, "ValueError", "unsupported format character 'l' (0x6c) at index 2"},
      {"%\xc3\xa9", 'i', "1", NULL, "ValueError",
       "unsupported format character '?' (0xe9) at index 1"},
      {"%5", 'i', "1", NULL, "ValueError", "incomplete format"},
      {"%*d", 'i', "1", NULL, "ValueError", NULL},
      {"%(a)d", 'i', "1", NULL, "ValueError", NULL},
      {"%999999d", 'i', "1", NULL, "LimitError", NULL},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    rf_py_pct_spec_t ps;
    size_t fl = strlen(t[i].fmt);
    int rc = rf_py_pct_parse(t[i].fmt + 1, fl - 1, 0, &ps, &e);
    if (rc >= 0) {
      assert_int_equal(rc, (int)fl - 1);
      if (t[i].kind == 'i') {
        mpz_t z;
        mpz_init_set_str(z, t[i].v, 10);
        rc = rf_py_pct_int(&ps, z, &b, &e);
        mpz_clear(z);
      } else if (t[i].kind == 'f') {
        rc = rf_py_pct_float(&ps, strtod(t[i].v, NULL), &b, &e);
      } else {
        rc = rf_py_pct_str(&ps, t[i].v, strlen(t[i].v), &b, &e);
      }
    }
    if (t[i].out) {
      if (rc != 0)
        fail_msg("%s: unexpected %s: %s", t[i].fmt, e.type, e.msg);
      assert_string_equal(b.data, t[i].out);
    } else {
      assert_int_equal(rc, -1);
      assert_string_equal(e.type, t[i].exc);
      if (t[i].msg)
        assert_string_equal(e.msg, t[i].msg);
    }
    rf_buf_free(&b);
  }
}

/* Every allocation failure gives MemoryError (or an oom buffer) and leaks
 * nothing; the walk ends when the call succeeds. */
static void test_alloc_failures(void **state) {
  (void)state;
  mpz_t big;
  mpz_init(big);
  mpz_ui_pow_ui(big, 7, 400);
  for (int which = 0; which < 5; which++) {
    bool done = false;
    for (long n = 0; !done; n++) {
      assert_true(n < 200);
      rf_buf_t b = RF_BUF_INIT;
      rf_pyerr_t e = {NULL, ""};
      rf_alloc_fail_after(n);
      int rc;
      switch (which) {
      case 0: rc = rf_py_format_float(1e300, "_.400f", 6, &b, &e); break;
      case 1: rc = rf_py_format_int(big, "#_x", 3, &b, &e); break;
      case 2: rc = rf_py_format_str("abc", 3, "*^500", 5, &b, &e); break;
      case 3: {
        rf_py_pct_spec_t ps;
        rc = rf_py_pct_parse("600.300e", 8, 0, &ps, &e);
        if (rc > 0)
          rc = rf_py_pct_float(&ps, 1.5, &b, &e);
        break;
      }
      default:
        rf_py_float_repr(0.1, &b);
        rc = rf_buf_ok(&b) ? 0 : -1;
        if (rc)
          e.type = "MemoryError";
        break;
      }
      rf_alloc_fail_reset();
      if (rc == 0) {
        assert_true(rf_buf_ok(&b));
        assert_true(b.len > 0);
        done = true;
      } else {
        assert_string_equal(e.type, "MemoryError");
      }
      rf_buf_free(&b);
    }
  }
  mpz_clear(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_float_repr),   cmocka_unit_test(test_format_float),
      cmocka_unit_test(test_format_int),   cmocka_unit_test(test_format_str),
      cmocka_unit_test(test_pct),          cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

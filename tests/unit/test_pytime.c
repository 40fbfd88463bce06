/* test_pytime.c - datetime.strptime / strftime / isoformat as CPython 3.11.
 * Expected values come from CPython 3.11 on a UTC machine (C locale). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/lambda/pytime.h"
#include "rectify/alloc.h"

/* isoformat() + "|" + tzname(), like the differential corpus. */
static void show(const rf_py_datetime_t *dt, rf_buf_t *b) {
  rf_pyerr_t e = {NULL, ""};
  rf_py_isoformat(dt, 'T', b);
  rf_buf_putc(b, '|');
  assert_int_equal(rf_py_strftime(dt, "%Z", 2, b, &e), 0);
}

static void test_strptime_table(void **state) {
  (void)state;
  static const struct {
    const char *s, *fmt, *out, *exc, *msg;
  } t[] = {
      {"2023-01-05", "%Y-%m-%d", "2023-01-05T00:00:00|", NULL, NULL},
      {"2023-1-5", "%Y-%m-%d", "2023-01-05T00:00:00|", NULL, NULL},
      {" 5 mAy 99", "%d %b %y", "1999-05-05T00:00:00|", NULL, NULL},
      {"5 may 68", "%d %B %y", "2068-05-05T00:00:00|", NULL, NULL},
      {"12 am", "%I %p", "1900-01-01T00:00:00|", NULL, NULL},
      {"12 PM", "%I %p", "1900-01-01T12:00:00|", NULL, NULL},
      {"1 pm", "%I %p", "1900-01-01T13:00:00|", NULL, NULL},
      {"1.5", "%S.%f", "1900-01-01T00:00:01.500000|", NULL, NULL},
      {"2023-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%S%z", "2023-01-01T00:00:00+00:00|UTC", NULL,
       NULL},
      {"12:00 +05:30", "%H:%M %z", "1900-01-01T12:00:00+05:30|UTC+05:30", NULL, NULL},
      {"+23:59:59.999999", "%z", "1900-01-01T00:00:00+23:59:59.999999|UTC+23:59:59.999999",
       NULL, NULL},
      {"UTC +0100", "%Z %z", "1900-01-01T00:00:00+01:00|UTC", NULL, NULL},
      {"gmt -0530", "%Z %z", "1900-01-01T00:00:00-05:30|gmt", NULL, NULL},
      {"utc", "%Z", "1900-01-01T00:00:00|", NULL, NULL},
      {"2024 366", "%Y %j", "2024-12-31T00:00:00|", NULL, NULL},
      {"2023 366", "%Y %j", "2024-01-01T00:00:00|", NULL, NULL},
      {"2023 0 1", "%Y %U %w", "2023-01-02T00:00:00|", NULL, NULL},
      {"2023-W01-1", "%G-W%V-%u", "2023-01-02T00:00:00|", NULL, NULL},
      {"Wed Mar 17 22:44:55 1999", "%c", "1999-03-17T22:44:55|", NULL, NULL},
      {"03/17/99", "%x", "1999-03-17T00:00:00|", NULL, NULL},
      {"a\xe2\x80\x83\t b", "a b", "1900-01-01T00:00:00|", NULL, NULL},
      {"T", "t", "1900-01-01T00:00:00|", NULL, NULL},
      {"\xc3\xa9", "\xc3\x89", "1900-01-01T00:00:00|", NULL, NULL},
      {"1112", "%d%m", "1900-12-11T00:00:00|", NULL, NULL},
      {"1234", "%d%m", NULL, "ValueError", "unconverted data remains: 4"},
      {"2023-02-29", "%Y-%m-%d", NULL, "ValueError", "day is out of range for month"},
      {"02-29", "%m-%d", NULL, "ValueError", "day is out of range for month"},
      {"0000", "%Y", NULL, "ValueError", "year 0 is out of range"},
      {"9999 53 6", "%Y %U %w", NULL, "ValueError", "year 10000 is out of range"},
      {"61", "%S", NULL, "ValueError", "second must be in 0..59"},
      {"+2400", "%z", NULL, "ValueError",
       "offset must be a timedelta strictly between -timedelta(hours=24) and "
       "timedelta(hours=24), not datetime.timedelta(days=1)."},
      {"+01:0030", "%z", NULL, "ValueError", "Inconsistent use of : in +01:0030"},
      {"+0100:30", "%z", NULL, "ValueError", "invalid literal for int() with base 10: ':3'"},
      {"a\tb\x01\xc3\xa9\xc2\xa0'\"", "%Y", NULL, "ValueError",
       "time data 'a\\tb\\x01\xc3\xa9\\xa0\\'\"' does not match format '%Y'"},
      {"it's", "%Y", NULL, "ValueError", "time data \"it's\" does not match format '%Y'"},
      {"x", "%q", NULL, "ValueError", "'q' is a bad directive in format '%q'"},
      {"x", "% d", NULL, "ValueError", "'%' is a bad directive in format '% d'"},
      {"x", "%Y%", NULL, "ValueError", "stray % in format '%Y%'"},
      {"1 1", "%d %d", NULL, "error", NULL},
      {"2023 1", "%G %V", NULL, "ValueError",
       "ISO year directive '%G' must be used with the ISO week directive '%V' and a weekday "
       "directive ('%A', '%a', '%w', or '%u')."},
      {"1 1", "%V %u", NULL, "ValueError",
       "ISO week directive '%V' is incompatible with the year directive '%Y'. Use the ISO year "
       "'%G' instead."},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_py_datetime_t dt;
    rf_pyerr_t e = {NULL, ""};
    int rc = rf_py_strptime(t[i].s, strlen(t[i].s), t[i].fmt, strlen(t[i].fmt), &dt, &e);
    if (t[i].out) {
      if (rc != 0)
        fail_msg("%s / %s: %s: %s", t[i].s, t[i].fmt, e.type, e.msg);
      rf_buf_t b = RF_BUF_INIT;
      show(&dt, &b);
      assert_string_equal(b.data, t[i].out);
      rf_buf_free(&b);
    } else {
      assert_int_equal(rc, -1);
      assert_string_equal(e.type, t[i].exc);
      if (t[i].msg)
        assert_string_equal(e.msg, t[i].msg);
    }
  }
}

static void test_strftime_isoformat(void **state) {
  (void)state;
  rf_py_datetime_t dt = {5, 3, 4, 5, 6, 7, 8, false, false, 0, 0, ""};
  static const struct {
    const char *fmt, *out;
  } t[] = {
      {"%Y", "5"}, {"%%Z%", "%Z%"}, {"%", "%"}, {"%c", "Fri Mar  4 05:06:07 5"},
      {"%x %X", "03/04/05 05:06:07"}, {"%f|%z|%Z", "000008||"}, {"%:z", "%:z"},
      {"%-d %_m %^a %#b", "4  3 FRI MAR"}, {"%j %U %W %G-%V-%u", "063 09 09 5-09-5"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    assert_int_equal(rf_py_strftime(&dt, t[i].fmt, strlen(t[i].fmt), &b, &e), 0);
    assert_string_equal(b.data ? b.data : "", t[i].out);
    rf_buf_free(&b);
  }
  /* %5000Y: the result would exceed 256 bytes per format character: "" */
  rf_buf_t b = RF_BUF_INIT;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_strftime(&dt, "%5000Y", 6, &b, &e), 0);
  assert_int_equal(b.len, 0);
  rf_buf_free(&b);

  dt.aware = true;
  dt.utcoffset_s = -3600;
  dt.utcoffset_us = -5;
  assert_int_equal(rf_py_strftime(&dt, "%z|%Z", 5, &b, &e), 0);
  assert_string_equal(b.data, "-010000.000005|UTC-01:00:00.000005");
  rf_buf_reset(&b);
  rf_py_isoformat(&dt, ' ', &b);
  assert_string_equal(b.data, "0005-03-04 05:06:07.000008-01:00:00.000005");
  rf_buf_reset(&b);
  snprintf(dt.tzname, sizeof(dt.tzname), "Foo%%");
  dt.utcoffset_s = 45;
  dt.utcoffset_us = 0;
  assert_int_equal(rf_py_strftime(&dt, "%z|%Z", 5, &b, &e), 0);
  assert_string_equal(b.data, "+000045|Foo%");
  rf_buf_reset(&b);
  rf_py_datetime_t d = {2024, 2, 29, 0, 0, 0, 0, true, false, 0, 0, ""};
  rf_py_isoformat(&d, 'T', &b);
  assert_string_equal(b.data, "2024-02-29");
  assert_int_equal(rf_py_weekday(&d), 3);
  rf_buf_reset(&b);
  assert_int_equal(rf_py_strftime(&d, "%f %H", 5, &b, &e), 0);
  assert_string_equal(b.data, "000000 00");
  rf_buf_free(&b);
  assert_int_equal(rf_py_strftime(&d, "a\0b", 3, &b, &e), -1);
  assert_string_equal(e.type, "ValueError");
}

static void test_compiled(void **state) {
  (void)state;
  rf_py_strptime_fmt_t *f = NULL;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_strptime_compile("%q", 2, &f, &e), -1);
  assert_null(f);
  assert_int_equal(rf_py_strptime_compile("%d/%m/%Y %H:%M", 14, &f, &e), 0);
  static const char *const in[] = {"1/2/2023 3:04", "31/12/1999 23:59", "29/02/2024 00:00"};
  static const char *const want[] = {"2023-02-01T03:04:00|", "1999-12-31T23:59:00|",
                                     "2024-02-29T00:00:00|"};
  for (size_t i = 0; i < 3; i++) {
    rf_py_datetime_t dt;
    assert_int_equal(rf_py_strptime_exec(f, in[i], strlen(in[i]), &dt, &e), 0);
    rf_buf_t b = RF_BUF_INIT;
    show(&dt, &b);
    assert_string_equal(b.data, want[i]);
    rf_buf_free(&b);
  }
  rf_py_datetime_t dt;
  assert_int_equal(rf_py_strptime_exec(f, "30/02/2023 1:00", 15, &dt, &e), -1);
  assert_string_equal(e.msg, "day is out of range for month");
  rf_py_strptime_free(f);
  rf_py_strptime_free(NULL);
}

static void test_alloc_failures(void **state) {
  (void)state;
  /* A long format spills out of the inline element array. */
  char fmt[200] = "";
  char s[200] = "";
  for (int i = 0; i < 30; i++) {
    strcat(fmt, i ? "-%%" : "%Y");
    strcat(s, i ? "-%" : "2023");
  }
  for (int which = 0; which < 3; which++) {
    bool done = false;
    for (long n = 0; !done; n++) {
      assert_true(n < 100);
      rf_pyerr_t e = {NULL, ""};
      rf_py_datetime_t dt;
      rf_buf_t b = RF_BUF_INIT;
      rf_py_strptime_fmt_t *f = NULL;
      rf_alloc_fail_after(n);
      int rc;
      if (which == 0) {
        rc = rf_py_strptime(s, strlen(s), fmt, strlen(fmt), &dt, &e);
      } else if (which == 1) {
        rc = rf_py_strptime_compile(fmt, strlen(fmt), &f, &e);
        if (rc == 0)
          rc = rf_py_strptime_exec(f, "x", 1, &dt, &e) == -1 ? 0 : -2;
      } else {
        rf_py_datetime_t d = {2023, 5, 6, 7, 8, 9, 10, false, true, 3600, 0, ""};
        const char *sf = "%Y-%m-%d %H:%M:%S.%f%z %Z";
        rc = rf_py_strftime(&d, sf, strlen(sf), &b, &e);
      }
      rf_alloc_fail_reset();
      if (rc == 0) {
        done = true;
        if (which == 0)
          assert_int_equal(dt.year, 2023);
        if (which == 1)
          assert_string_equal(e.type, "ValueError"); /* "time data 'x' does not match" */
        if (which == 2)
          assert_string_equal(b.data, "2023-05-06 07:08:09.000010+0100 UTC+01:00");
      } else {
        assert_int_equal(rc, -1);
        assert_string_equal(e.type, "MemoryError");
      }
      rf_py_strptime_free(f);
      rf_buf_free(&b);
    }
  }
}

int main(void) {
  setenv("TZ", "UTC", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strptime_table),
      cmocka_unit_test(test_strftime_isoformat),
      cmocka_unit_test(test_compiled),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

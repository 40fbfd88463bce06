/* test_pyre.c - Python re on PCRE2: translation, errors, sub/split/findall,
 * limits and allocation failures. Expected values come from CPython 3.11. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../lib/lambda/pyre.h"
#include "rectify/alloc.h"

static const rf_py_re_limits_t LIM = {1000000, 10000, 1 << 20, 4096};

static rf_py_re_t *compile_ok(const char *pat, int flags) {
  rf_py_re_t *re = NULL;
  rf_pyerr_t e = {NULL, ""};
  if (rf_py_re_compile(pat, strlen(pat), flags, &LIM, &re, &e) != 0)
    fail_msg("compile %s: %s: %s", pat, e.type, e.msg);
  return re;
}

static void test_sub_table(void **state) {
  (void)state;
  static const struct {
    const char *pat;
    int flags;
    const char *repl, *subj;
    long count;
    const char *out;
  } t[] = {
      {"x*", 0, "-", "abxd", 0, "-a-b--d-"},
      {"", 0, "-", "abc", 0, "-a-b-c-"},
      {"(a)|b", 0, "[\\1]", "abab", 0, "[a][][a][]"},
      {"(?P<w>\\w+)", 0, "\\g<w>!", "hi there", 0, "hi! there!"},
      {"(\\w+)@(\\w+)\\.com", 0, "\\2 at \\1", "a@b.com c@d.com", 1, "b at a c@d.com"},
      {"\\s+", 0, "_", "a \t\nb\xe2\x80\x83" "c\x1c" "d", 0, "a_b_c_d"},
      {"\\d", 0, "D", "1\xd9\xa1x", 0, "DDx"},
      {"\\d", RF_PY_RE_ASCII, "D", "1\xd9\xa1x", 0, "D\xd9\xa1x"},
      {"^", RF_PY_RE_MULTILINE, "^", "a\nb\n", 0, "^a\n^b\n^"},
      {"a\\Z", 0, "Z", "a\na", 0, "a\nZ"},
      {"(?x) a b  # c\n c", 0, "X", "abc a b c", 0, "X a b c"},
      {"a{,2}", 0, "X", "aaaaa", 0, "XXXX"},
      {"a{}", 0, "X", "a{}", 0, "X"},
      {"(a)", 0, "\\g<1>0\\n\\t\\\\\\-", "a", 0, "a0\n\t\\\\-"},
      {"a", 0, "b", "aaa", -1, "aaa"},
      {"\\x41\\u0042\\U00000043\\101", 0, "ok", "ABCA", 0, "ok"},
      {"caf\xc3\xa9", RF_PY_RE_IGNORECASE, "X", "CAF\xc3\x89", 0, "X"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_py_re_t *re = compile_ok(t[i].pat, t[i].flags);
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    if (rf_py_re_sub(re, t[i].repl, strlen(t[i].repl), t[i].subj, strlen(t[i].subj), t[i].count,
                     &b, &e) != 0)
      fail_msg("sub %s: %s: %s", t[i].pat, e.type, e.msg);
    assert_string_equal(b.data, t[i].out);
    rf_buf_free(&b);
    rf_py_re_free(re);
  }
}

static void test_compile_errors(void **state) {
  (void)state;
  static const struct {
    const char *pat;
    int flags;
    const char *type, *msg;
  } t[] = {
      {"a**", 0, "error", "multiple repeat at position 2"},
      {"a{1}{2}", 0, "error", "multiple repeat at position 4"},
      {"*a", 0, "error", "nothing to repeat at position 0"},
      {"(?i)a(?m)b", 0, "error", "global flags not at the start of the expression at position 5"},
      {"\\e", 0, "error", "bad escape \\e at position 0"},
      {"[\\e]", 0, "error", "bad escape \\e at position 1"},
      {"(?P>x)", 0, "error", "unknown extension ?P> at position 1"},
      {"(?<n>a)", 0, "error", "unknown extension ?<n at position 1"},
      {"\\8", 0, "error", "invalid group reference 8 at position 1"},
      {"(a)\\2", 0, "error", "invalid group reference 2 at position 4"},
      {"(a\\1)", 0, "error", "cannot refer to an open group at position 2"},
      {"[z-a]", 0, "error", "bad character range z-a at position 1"},
      {"x{2,1}", 0, "error", "min repeat greater than max repeat at position 2"},
      {"\\u12", 0, "error", "incomplete escape \\u12 at position 0"},
      {"\\p{L}", 0, "error", "bad escape \\p at position 0"},
      {"(?#x", 0, "error", "missing ), unterminated comment at position 0"},
      {"(?P=x)", 0, "error", "unknown group name 'x' at position 4"},
      {"\\777", 0, "error", "octal escape value \\777 outside of range 0-0o377 at position 0"},
      {"(a", 0, "error", "missing ), unterminated subpattern at position 0"},
      {"a\n(", 0, "error", "missing ), unterminated subpattern at position 2 (line 2, column 1)"},
      {"a", RF_PY_RE_LOCALE, "ValueError", "cannot use LOCALE flag with a str pattern"},
      {"a", RF_PY_RE_ASCII | RF_PY_RE_UNICODE, "ValueError",
       "ASCII and UNICODE flags are incompatible"},
      {"a{99999999999}", 0, "OverflowError", "the repetition number is too large"},
      {"\\N{DIGIT ONE}", 0, "error", NULL},
      {"(?a:x)", 0, "error", NULL},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_py_re_t *re = NULL;
    rf_pyerr_t e = {NULL, ""};
    assert_int_equal(rf_py_re_compile(t[i].pat, strlen(t[i].pat), t[i].flags, &LIM, &re, &e), -1);
    assert_null(re);
    assert_string_equal(e.type, t[i].type);
    if (t[i].msg)
      assert_string_equal(e.msg, t[i].msg);
  }
  /* pattern size limit */
  char big[5000];
  memset(big, 'a', sizeof(big));
  rf_py_re_t *re = NULL;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_re_compile(big, sizeof(big), 0, &LIM, &re, &e), -1);
  assert_string_equal(e.type, "LimitError");
}

static void test_template_errors(void **state) {
  (void)state;
  static const struct {
    const char *repl, *type, *msg;
  } t[] = {
      {"\\g", "error", "missing < at position 2"},
      {"\\g<", "error", "missing group name at position 3"},
      {"\\g<>", "error", "missing group name at position 3"},
      {"\\g<1", "error", "missing >, unterminated name at position 3"},
      {"\\g<x>", "IndexError", "unknown group name 'x'"},
      {"\\g<1x>", "error", "bad character in group name '1x' at position 3"},
      {"\\g<5>", "error", "invalid group reference 5 at position 3"},
      {"\\5", "error", "invalid group reference 5 at position 1"},
      {"\\q", "error", "bad escape \\q at position 0"},
      {"\\", "error", "bad escape (end of pattern) at position 0"},
      {"a\n\\q", "error", "bad escape \\q at position 2 (line 2, column 1)"},
  };
  rf_py_re_t *re = compile_ok("(a)(?P<name>b)?", 0);
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pyerr_t e = {NULL, ""};
    assert_int_equal(rf_py_re_sub(re, t[i].repl, strlen(t[i].repl), "ab", 2, 0, &b, &e), -1);
    assert_string_equal(e.type, t[i].type);
    assert_string_equal(e.msg, t[i].msg);
    rf_buf_free(&b);
  }
  rf_py_re_free(re);
}

static void test_exec_split_findall(void **state) {
  (void)state;
  rf_py_re_t *re = compile_ok("(?P<k>\\w+)=(\\d+)?", 0);
  assert_int_equal(rf_py_re_groups(re), 2);
  assert_int_equal(rf_py_re_group_index(re, "k", 1), 1);
  assert_int_equal(rf_py_re_group_index(re, "zz", 2), -1);
  rf_py_match_t m;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_re_exec(re, " ab=", 4, RF_PY_RE_MATCH, &m, &e), 0);
  assert_int_equal(rf_py_re_exec(re, " ab=", 4, RF_PY_RE_SEARCH, &m, &e), 1);
  assert_int_equal(m.ngroups, 2);
  assert_int_equal(m.span[0], 1);
  assert_int_equal(m.span[1], 4);
  assert_int_equal(m.span[4], -1);
  rf_py_match_clear(&m);
  assert_int_equal(rf_py_re_exec(re, "ab=1x", 5, RF_PY_RE_FULLMATCH, &m, &e), 0);
  rf_py_re_free(re);

  re = compile_ok("x*", 0);
  rf_py_strlist_t l;
  assert_int_equal(rf_py_re_split(re, "axbc", 4, 0, &l, &e), 0);
  static const char *const want[] = {"", "a", "", "b", "c", ""};
  assert_int_equal(l.n, 6);
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(l.items[i].len, strlen(want[i]));
    assert_memory_equal(l.items[i].p, want[i], l.items[i].len);
  }
  rf_py_strlist_clear(&l);
  rf_py_re_free(re);

  re = compile_ok("(a)|b", 0);
  assert_int_equal(rf_py_re_split(re, "xaybz", 5, 0, &l, &e), 0);
  assert_int_equal(l.n, 5);
  assert_null(l.items[3].p); /* the unmatched group is None */
  rf_py_strlist_clear(&l);
  assert_int_equal(rf_py_re_findall(re, "ab", 2, &l, &e), 0);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.tuple_width, 0);
  assert_int_equal(l.items[1].len, 0); /* "" for the unmatched group */
  assert_non_null(l.items[1].p);
  rf_py_strlist_clear(&l);
  rf_py_re_free(re);

  re = compile_ok("(a)(b)?", 0);
  assert_int_equal(rf_py_re_findall(re, "aab", 3, &l, &e), 0);
  assert_int_equal(l.tuple_width, 2);
  assert_int_equal(l.n, 4);
  assert_memory_equal(l.items[3].p, "b", 1);
  rf_py_strlist_clear(&l);
  rf_py_re_free(re);
}

static void test_limits(void **state) {
  (void)state;
  rf_py_re_limits_t lim = {10000, 1000, 64, 4096};
  rf_py_re_t *re = NULL;
  rf_pyerr_t e = {NULL, ""};
  assert_int_equal(rf_py_re_compile("^(a|aa)+$", 9, 0, &lim, &re, &e), 0);
  char subj[40];
  memset(subj, 'a', sizeof(subj));
  subj[sizeof(subj) - 1] = 'b';
  rf_py_match_t m;
  assert_int_equal(rf_py_re_exec(re, subj, sizeof(subj), RF_PY_RE_SEARCH, &m, &e), -1);
  assert_string_equal(e.type, "LimitError");
  rf_py_re_free(re);

  assert_int_equal(rf_py_re_compile("a", 1, 0, &lim, &re, &e), 0);
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_py_re_sub(re, "0123456789", 10, subj, 20, 0, &b, &e), -1);
  assert_string_equal(e.type, "LimitError");
  rf_buf_free(&b);
  rf_py_strlist_t l;
  assert_int_equal(rf_py_re_split(re, subj, sizeof(subj), 0, &l, &e), -1);
  assert_string_equal(e.type, "LimitError");
  assert_null(l.items);
  rf_py_re_free(re);
}

static void test_alloc_failures(void **state) {
  (void)state;
  for (int which = 0; which < 4; which++) {
    bool done = false;
    for (long n = 0; !done; n++) {
      assert_true(n < 500);
      rf_py_re_t *re = NULL;
      rf_pyerr_t e = {NULL, ""};
      rf_buf_t b = RF_BUF_INIT;
      rf_py_strlist_t l = {0, NULL, 0};
      rf_py_match_t m = {0, NULL};
      rf_alloc_fail_after(n);
      int rc = rf_py_re_compile("(?P<w>\\w+)(\\s*)", 15, 0, &LIM, &re, &e);
      if (rc == 0) {
        switch (which) {
        case 0: break;
        case 1: rc = rf_py_re_sub(re, "<\\g<w>>", 7, "ab cd ef gh", 11, 0, &b, &e); break;
        case 2: rc = rf_py_re_split(re, "ab cd ef gh", 11, 0, &l, &e); break;
        default: rc = rf_py_re_exec(re, "ab cd", 5, RF_PY_RE_SEARCH, &m, &e) == 1 ? 0 : -1; break;
        }
      }
      rf_alloc_fail_reset();
      if (rc == 0) {
        done = true;
        if (which == 1)
          assert_string_equal(b.data, "<ab><cd><ef><gh>");
        if (which == 2)
          assert_int_equal(l.n, 13);
      } else {
        assert_string_equal(e.type, "MemoryError");
      }
      rf_py_match_clear(&m);
      rf_py_strlist_clear(&l);
      rf_buf_free(&b);
      rf_py_re_free(re);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sub_table),          cmocka_unit_test(test_compile_errors),
      cmocka_unit_test(test_template_errors),    cmocka_unit_test(test_exec_split_findall),
      cmocka_unit_test(test_limits),             cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

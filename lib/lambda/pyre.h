/* pyre.h - Python's `re` module semantics on PCRE2.
 *
 * Patterns use Python 3.11 `re` syntax for str patterns; rf_py_re_compile
 * translates what differs (\Z, (?P<name>...), (?P=name), Unicode-by-default
 * \d \w \s \b via PCRE2_UCP unless RF_PY_RE_ASCII, ...) and rejects with
 * error "error" (re.error) what Python rejects. Compiled patterns are
 * immutable and safe to use from several threads at once (match data is per
 * call). Every match runs under PCRE2 match and depth limits taken from the
 * limits given at compile time; hitting one raises LimitError, never a hang.
 * Offsets in results are byte offsets into the UTF-8 subject.
 */
#ifndef RF_LAMBDA_PYRE_H
#define RF_LAMBDA_PYRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyerr.h"
#include "rectify/buf.h"

/* Python's flag values, so that re.I | re.M works numerically. */
#define RF_PY_RE_IGNORECASE 2
#define RF_PY_RE_LOCALE 4 /* rejected: ValueError as for str patterns */
#define RF_PY_RE_MULTILINE 8
#define RF_PY_RE_DOTALL 16
#define RF_PY_RE_UNICODE 32
#define RF_PY_RE_VERBOSE 64
#define RF_PY_RE_ASCII 256

typedef struct rf_py_re_limits {
  uint32_t match_limit; /* PCRE2 match limit (backtracking work), e.g. 1000000 */
  uint32_t depth_limit; /* PCRE2 depth limit, e.g. 10000 */
  size_t max_output;    /* bytes a sub()/split()/findall() result may reach */
  size_t max_pattern;   /* bytes of pattern source */
} rf_py_re_limits_t;

typedef struct rf_py_re rf_py_re_t;

int rf_py_re_compile(const char *pat, size_t len, int flags, const rf_py_re_limits_t *lim,
                     rf_py_re_t **out, rf_pyerr_t *err);
void rf_py_re_free(rf_py_re_t *re);
/* Number of capturing groups (re.compile(p).groups). */
int rf_py_re_groups(const rf_py_re_t *re);
/* Group number for a name, or -1. */
int rf_py_re_group_index(const rf_py_re_t *re, const char *name, size_t len);

enum rf_py_re_mode { RF_PY_RE_MATCH, RF_PY_RE_SEARCH, RF_PY_RE_FULLMATCH };

/* A match: span[2*g], span[2*g+1] are byte offsets of group g (0 = whole
 * match), both -1 when the group did not participate. */
typedef struct rf_py_match {
  int ngroups; /* not counting group 0 */
  long *span;  /* 2 * (ngroups + 1) entries, owned; free with rf_py_match_clear */
} rf_py_match_t;

/* Returns 1 on a match (m filled), 0 on no match, -1 with err. */
int rf_py_re_exec(const rf_py_re_t *re, const char *subj, size_t len, enum rf_py_re_mode mode,
                  rf_py_match_t *m, rf_pyerr_t *err);
void rf_py_match_clear(rf_py_match_t *m);

/* re.sub(pattern, repl, string, count=count): repl is a Python replacement
 * template (\1, \g<1>, \g<name>, \n and other escapes; bad escapes raise
 * re.error as in 3.11). count 0 = all. Empty-match rules of Python 3.7+. */
int rf_py_re_sub(const rf_py_re_t *re, const char *repl, size_t repl_len, const char *subj,
                 size_t len, long count, rf_buf_t *out, rf_pyerr_t *err);

/* A list of optional strings pointing into the subject (no copies). */
typedef struct rf_py_strlist {
  size_t n;
  struct rf_py_str {
    const char *p; /* NULL means None */
    size_t len;
  } *items;         /* owned; free with rf_py_strlist_clear */
  size_t tuple_width; /* findall with >1 group: items are rows of this width; else 0 */
} rf_py_strlist_t;

/* re.split(pattern, string, maxsplit=maxsplit): groups are included; an
 * unmatched group gives None. */
int rf_py_re_split(const rf_py_re_t *re, const char *subj, size_t len, long maxsplit,
                   rf_py_strlist_t *out, rf_pyerr_t *err);
/* re.findall: no groups -> whole matches; one group -> that group ("" when
 * unmatched); several -> tuples ("" for unmatched), tuple_width = groups. */
int rf_py_re_findall(const rf_py_re_t *re, const char *subj, size_t len, rf_py_strlist_t *out,
                     rf_pyerr_t *err);
void rf_py_strlist_clear(rf_py_strlist_t *l);

#endif

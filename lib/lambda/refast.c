/* refast.c - re.sub() of a single character class as a code point filter.
 *
 * The most common regex fix, re.sub(r'[^0-9.]', '', x), asks PCRE2 to find
 * each character of a set: one pcre2_match() call per match, each with its
 * start-up cost. When the pattern is exactly one character class, optionally
 * followed by '+', and the replacement has no backslash (so it is literal
 * text), the substitution is a filter over code points: each character in
 * the set (or each maximal run of them, with '+') is replaced by the literal.
 * That is exactly what Python does for every subject, because such a pattern
 * matches one code point (or a run) and never matches empty.
 *
 * Only a conservative subset of Python's class syntax is recognised: literal
 * characters (any code point), ranges of literals, escapes of ASCII
 * punctuation, \n \t \r \f \v, and \d (Unicode decimal digits, which is what
 * Python's \d matches in a str pattern without flags: str.isdecimal()).
 * Anything else (\w, \s, \x.., nested '[', '--', '&&', flags, a bad range)
 * returns NULL at compile time and the call goes through pyre.c as before.
 */
#include <string.h>

#include "compile.h"

struct rf__refilt {
  uint64_t ascii[2]; /* result of the membership test for code points < 128 */
  bool negate;
  bool plus;  /* [..]+ : one match per maximal run */
  bool digit; /* \d in the class */
  int nranges;
  uint32_t (*ranges)[2]; /* inclusive code point ranges, the non-ASCII part */
};

static inline bool ascii_in(const rf__refilt_t *f, unsigned char ch) {
  return (f->ascii[ch >> 6] >> (ch & 63)) & 1;
}

static bool member(const rf__refilt_t *f, uint32_t cp) {
  if (cp < 128)
    return ascii_in(f, (unsigned char)cp);
  bool in = f->digit && rf__u_isdecimal(cp);
  for (int i = 0; i < f->nranges && !in; i++)
    in = cp >= f->ranges[i][0] && cp <= f->ranges[i][1];
  return in != f->negate;
}

/* One class atom at p[*i]: 1 = literal code point in *cp, 2 = \d, 0 = not
 * in the recognised subset. */
static int atom(const char *p, size_t len, size_t *i, uint32_t *cp) {
  if (*i >= len)
    return 0;
  unsigned char ch = (unsigned char)p[*i];
  if (ch == '[' || ch == ']')
    return 0;
  if (ch != '\\') {
    *cp = rf__utf8_get(p, i);
    return 1;
  }
  if (*i + 1 >= len)
    return 0;
  unsigned char e = (unsigned char)p[*i + 1];
  *i += 2;
  switch (e) {
  case 'd': return 2;
  case 'n': *cp = '\n'; return 1;
  case 't': *cp = '\t'; return 1;
  case 'r': *cp = '\r'; return 1;
  case 'f': *cp = '\f'; return 1;
  case 'v': *cp = '\v'; return 1;
  default: break;
  }
  /* Python: an escaped ASCII character that is not a letter or digit is itself */
  if (e < 128 && e > 32 && !((e | 0x20) >= 'a' && (e | 0x20) <= 'z') && !(e >= '0' && e <= '9')) {
    *cp = e;
    return 1;
  }
  return 0;
}

static void add_range(rf__cc_t *cc, rf__refilt_t *f, uint32_t lo, uint32_t hi, int *cap) {
  for (uint32_t c = lo; c <= hi && c < 128; c++)
    f->ascii[c >> 6] |= UINT64_C(1) << (c & 63);
  if (hi < 128)
    return;
  if (lo < 128)
    lo = 128;
  if (f->nranges == *cap) {
    int ncap = *cap ? *cap * 2 : 4;
    uint32_t(*nr)[2] = rf__cc_alloc(cc, (size_t)ncap * sizeof(*nr));
    if (f->nranges)
      memcpy(nr, f->ranges, (size_t)f->nranges * sizeof(*nr));
    f->ranges = nr;
    *cap = ncap;
  }
  f->ranges[f->nranges][0] = lo;
  f->ranges[f->nranges][1] = hi;
  f->nranges++;
}

/* See compile.h. */
const rf__refilt_t *rf__refilt_compile(rf__cc_t *cc, const char *p, size_t len) {
  if (len < 3 || p[0] != '[')
    return NULL;
  /* set-operation look-alikes that Python warns about: leave them to pyre */
  static const char *const doubled[] = {"--", "&&", "~~", "||"};
  for (size_t k = 0; k < 4; k++)
    if (memmem(p, len, doubled[k], 2))
      return NULL;
  rf__refilt_t f;
  memset(&f, 0, sizeof(f));
  int cap = 0;
  size_t i = 1;
  if (p[i] == '^') {
    f.negate = true;
    i++;
  }
  bool first = true;
  for (;;) {
    if (i >= len)
      return NULL; /* unterminated: Python raises, pyre reports it */
    if (p[i] == ']' && !first) {
      i++;
      break;
    }
    uint32_t lo = 0, hi = 0;
    int k;
    if (first && p[i] == ']') { /* a leading ']' is literal */
      lo = ']';
      i++;
      k = 1;
    } else {
      k = atom(p, len, &i, &lo);
    }
    first = false;
    if (k == 0)
      return NULL;
    if (k == 2) {
      f.digit = true;
      for (uint32_t c = '0'; c <= '9'; c++)
        f.ascii[c >> 6] |= UINT64_C(1) << (c & 63);
      if (i < len && p[i] == '-' && i + 1 < len && p[i + 1] != ']')
        return NULL; /* \d-x: a bad range in Python */
      continue;
    }
    hi = lo;
    if (i + 1 < len && p[i] == '-' && p[i + 1] != ']') {
      i++;
      if (atom(p, len, &i, &hi) != 1 || hi < lo)
        return NULL;
    }
    add_range(cc, &f, lo, hi, &cap);
  }
  if (i < len && p[i] == '+') {
    f.plus = true;
    i++;
  }
  if (i != len)
    return NULL;
  if (f.negate) {
    f.ascii[0] = ~f.ascii[0];
    f.ascii[1] = ~f.ascii[1];
  }
  rf__refilt_t *out = rf__cc_alloc(cc, sizeof(*out));
  *out = f;
  return out;
}

/* See lambda_int.h. */
int rf__refilt_sub(const rf__refilt_t *f, const char *repl, size_t rl, const char *s, size_t len,
                   int64_t count, size_t max_out, rf_buf_t *out) {
  size_t base = out->len, last = 0, i = 0;
  int64_t n = 0;
  if (!rf_buf_reserve(out, len))
    return -2;
  while (i < len && (count == 0 || n < count)) {
    size_t st = i;
    unsigned char ch = (unsigned char)s[i];
    bool in;
    if (ch < 128) {
      in = ascii_in(f, ch);
      i++;
    } else {
      in = member(f, rf__utf8_get(s, &i));
    }
    if (!in)
      continue;
    if (f->plus)
      while (i < len) {
        size_t j = i;
        unsigned char c2 = (unsigned char)s[j];
        bool in2;
        if (c2 < 128) {
          in2 = ascii_in(f, c2);
          j++;
        } else {
          in2 = member(f, rf__utf8_get(s, &j));
        }
        if (!in2)
          break;
        i = j;
      }
    rf_buf_append(out, s + last, st - last);
    rf_buf_append(out, repl, rl);
    last = i;
    n++;
    if (max_out && out->len - base > max_out)
      return -1;
  }
  rf_buf_append(out, s + last, len - last);
  if (!rf_buf_ok(out))
    return -2;
  return max_out && out->len - base > max_out ? -1 : 0;
}

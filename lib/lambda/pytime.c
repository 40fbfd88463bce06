/* pytime.c - datetime.strptime / strftime / isoformat as CPython 3.11 does
 * them in the C locale.
 *
 * Why not the C library's strptime: CPython does not call it. Its _strptime
 * module turns the format into a regular expression, one alternation per
 * directive (%d is "3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9]"), matches it with
 * re.IGNORECASE and takes the FIRST match the backtracking engine finds,
 * then computes the date in Python. glibc's strptime accepts different
 * inputs. So this file compiles a format into the same sequence of
 * alternations (literal runs, \s+ runs, directive alternatives in CPython's
 * order) and runs a small backtracking matcher over it, then repeats
 * _strptime's arithmetic and datetime's constructor checks. A compiled format
 * is immutable; matching allocates nothing.
 *
 * strftime: CPython's datetime.strftime replaces %z, %Z and %f itself and
 * hands the rest to time.strftime, i.e. the C library's strftime with a
 * struct tm built like CPython's gettmarg(); we do the same, including its
 * output-buffer growth rule (a result longer than 256 bytes per format
 * character comes back empty).
 *
 * Not supported (clean ValueError / no match instead of CPython's answer):
 * non-ASCII decimal digits where \d would accept them, and Unicode case
 * folding of non-ASCII literals under re.IGNORECASE.
 */
#include "pytime.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"

/* ---------------------------------------------------------------------- */
/* Calendar arithmetic (proleptic Gregorian, ordinal 1 = 0001-01-01)       */
/* ---------------------------------------------------------------------- */

static bool is_leap(long y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

static int days_in_month(long y, int m) {
  static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m];
}

static long days_before_year(long y) {
  long p = y - 1;
  return p * 365 + p / 4 - p / 100 + p / 400;
}

static long days_before_month(long y, int m) {
  static const int dbm[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  return dbm[m] + (m > 2 && is_leap(y));
}

static long ymd_to_ord(long y, int m, int d) {
  return days_before_year(y) + days_before_month(y, m) + d;
}

static void ord_to_ymd(long ord, long *y, int *m, int *d) {
  /* Same algorithm as CPython's ord_to_ymd. */
  long n = ord - 1;
  long n400 = n / 146097;
  n %= 146097;
  long year = n400 * 400 + 1;
  long n100 = n / 36524;
  n %= 36524;
  long n4 = n / 1461;
  n %= 1461;
  long n1 = n / 365;
  n %= 365;
  year += n100 * 100 + n4 * 4 + n1;
  if (n1 == 4 || n100 == 4) {
    *y = year - 1;
    *m = 12;
    *d = 31;
    return;
  }
  bool leap = n1 == 3 && (n4 != 24 || n100 == 3);
  static const int dbm[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int month = (int)((n + 50) >> 5);
  long preceding = dbm[month] + (month > 2 && leap);
  if (preceding > n) {
    month--;
    preceding -= (month == 2 && leap) ? 29 : days_in_month(1, month);
  }
  *y = year;
  *m = month;
  *d = (int)(n - preceding + 1);
}

/* datetime.date(y, m, d)'s argument checks. */
static int check_date(long y, int m, int d, rf_pyerr_t *err) {
  if (y < 1 || y > 9999)
    return rf_pyerr_set(err, "ValueError", "year %ld is out of range", y);
  if (m < 1 || m > 12)
    return rf_pyerr_set(err, "ValueError", "month must be in 1..12");
  if (d < 1 || d > days_in_month(y, m))
    return rf_pyerr_set(err, "ValueError", "day is out of range for month");
  return 0;
}

/* date.fromordinal(ord) */
static int from_ordinal(long ord, long *y, int *m, int *d, rf_pyerr_t *err) {
  if (ord < 1)
    return rf_pyerr_set(err, "ValueError", "ordinal must be >= 1");
  ord_to_ymd(ord, y, m, d);
  if (*y > 9999)
    return rf_pyerr_set(err, "ValueError", "year %ld is out of range", *y);
  return 0;
}

int rf_py_weekday(const rf_py_datetime_t *dt) {
  return (int)((ymd_to_ord(dt->year, dt->month, dt->day) + 6) % 7);
}

/* ---------------------------------------------------------------------- */
/* Text helpers                                                            */
/* ---------------------------------------------------------------------- */

static size_t u8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (s[0] < 0x80 || n < 2) {
    *cp = s[0];
    return 1;
  }
  if ((s[0] & 0xE0) == 0xC0) {
    *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if ((s[0] & 0xF0) == 0xE0 && n >= 3) {
    *cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return 3;
  }
  if ((s[0] & 0xF8) == 0xF0 && n >= 4) {
    *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
  }
  *cp = s[0];
  return 1;
}

/* Python's str.isspace() / re's \s for str patterns. */
static bool py_isspace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the whitespace run at s (bytes); *nchars gets code points. */
static size_t space_run(const char *s, size_t n, size_t *nchars) {
  size_t i = 0, c = 0;
  while (i < n) {
    uint32_t cp;
    size_t l = u8_decode((const unsigned char *)s + i, n - i, &cp);
    if (!py_isspace(cp))
      break;
    i += l;
    c++;
  }
  if (nchars)
    *nchars = c;
  return i;
}

/* Code points CPython's repr() escapes (str.isprintable() is false): C0/C1
 * controls, DEL, non-ASCII spaces and separators, format characters,
 * surrogates, private use and noncharacters. Unassigned code points are not
 * known here and print as themselves. */
static bool py_unprintable(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD || c == 0x061C || c == 0x1680 ||
         c == 0x180E || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
         (c >= 0x205F && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0x3000 ||
         (c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
         (c & 0xFFFE) == 0xFFFE || (c >= 0xF0000);
}

/* repr(str) of s[0..n). */
static void py_repr(rf_buf_t *b, const char *s, size_t n) {
  bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
  char q = sq && !dq ? '"' : '\'';
  rf_buf_putc(b, q);
  size_t i = 0;
  while (i < n) {
    uint32_t c;
    size_t l = u8_decode((const unsigned char *)s + i, n - i, &c);
    if (c == (uint32_t)q || c == '\\') {
      rf_buf_putc(b, '\\');
      rf_buf_putc(b, (char)c);
    } else if (c == '\t') {
      rf_buf_puts(b, "\\t");
    } else if (c == '\n') {
      rf_buf_puts(b, "\\n");
    } else if (c == '\r') {
      rf_buf_puts(b, "\\r");
    } else if (py_unprintable(c)) {
      if (c < 0x100)
        rf_buf_printf(b, "\\x%02x", c);
      else if (c < 0x10000)
        rf_buf_printf(b, "\\u%04x", c);
      else
        rf_buf_printf(b, "\\U%08x", c);
    } else {
      rf_buf_append(b, s + i, l);
    }
    i += l;
  }
  rf_buf_putc(b, q);
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Simple lowercase mapping for the scripts whose case pairs are regular
 * (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic): enough for literal
 * text in formats matched under re.IGNORECASE. */
static uint32_t fold(uint32_t c) {
  if (c < 0x80)
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
    return c + 32;
  if (c >= 0x100 && c <= 0x137 && c != 0x130)
    return c | 1;
  if (c >= 0x139 && c <= 0x148)
    return (c & 1) ? c + 1 : c;
  if (c >= 0x14A && c <= 0x177)
    return c | 1;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
    return c + 32;
  if (c >= 0x410 && c <= 0x42F)
    return c + 32;
  if (c >= 0x400 && c <= 0x40F)
    return c + 80;
  return c;
}

/* ---------------------------------------------------------------------- */
/* Locale data (C locale) and the directive table                          */
/* ---------------------------------------------------------------------- */

static const char *const f_weekday[7] = {"monday", "tuesday", "wednesday", "thursday",
                                         "friday", "saturday", "sunday"};
static const char *const a_weekday[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const f_month[12] = {"january", "february", "march",     "april",
                                        "may",     "june",     "july",      "august",
                                        "september", "october", "november", "december"};
static const char *const a_month[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                        "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const am_pm[2] = {"am", "pm"};

/* Time zone names %Z accepts: {"utc", "gmt", tzname[0]} and tzname[1] when
 * daylight, lowercased, as _strptime's LocaleTime.__calc_timezone. */
static struct {
  char names[4][16];
  int n;
} tzinfo_names;
static pthread_once_t tz_once = PTHREAD_ONCE_INIT;

static void tz_init(void) {
  tzset();
  const char *cand[4] = {"utc", "gmt", tzname[0], daylight ? tzname[1] : NULL};
  for (int i = 0; i < 4; i++) {
    if (cand[i] == NULL || strlen(cand[i]) >= 16 || cand[i][0] == '\0')
      continue;
    char low[16];
    size_t k = 0;
    for (; cand[i][k]; k++)
      low[k] = ascii_lower(cand[i][k]);
    low[k] = '\0';
    bool dup = false;
    for (int j = 0; j < tzinfo_names.n; j++)
      dup |= strcmp(tzinfo_names.names[j], low) == 0;
    if (!dup)
      memcpy(tzinfo_names.names[tzinfo_names.n++], low, k + 1);
  }
}

/* Fixed-width numeric alternatives, in CPython's regex order. In these
 * mini-patterns 'D' is a digit, "[a-b]" a range, anything else literal. */
static const char *const alt_d[] = {"3[0-1]", "[1-2]D", "0[1-9]", "[1-9]", " [1-9]", NULL};
static const char *const alt_H[] = {"2[0-3]", "[0-1]D", "D", NULL};
static const char *const alt_I[] = {"1[0-2]", "0[1-9]", "[1-9]", NULL};
static const char *const alt_4[] = {"DDDD", NULL};
static const char *const alt_2[] = {"DD", NULL};
static const char *const alt_j[] = {"36[0-6]", "3[0-5]D", "[1-2]DD", "0[1-9]D", "00[1-9]",
                                    "[1-9]D", "0[1-9]", "[1-9]", NULL};
static const char *const alt_m[] = {"1[0-2]", "0[1-9]", "[1-9]", NULL};
static const char *const alt_M[] = {"[0-5]D", "D", NULL};
static const char *const alt_S[] = {"6[0-1]", "[0-5]D", "D", NULL};
static const char *const alt_U[] = {"5[0-3]", "[0-4]D", "D", NULL};
static const char *const alt_w[] = {"[0-6]", NULL};
static const char *const alt_u[] = {"[1-7]", NULL};
static const char *const alt_V[] = {"5[0-3]", "0[1-9]", "[1-4]D", "D", NULL};

static const char *const *numeric_alts(char d) {
  switch (d) {
  case 'd': return alt_d;
  case 'H': return alt_H;
  case 'I': return alt_I;
  case 'G': case 'Y': return alt_4;
  case 'y': return alt_2;
  case 'j': return alt_j;
  case 'm': return alt_m;
  case 'M': return alt_M;
  case 'S': return alt_S;
  case 'U': case 'W': return alt_U;
  case 'w': return alt_w;
  case 'u': return alt_u;
  case 'V': return alt_V;
  default: return NULL;
  }
}

/* Matches a mini-pattern at s; returns the length, or 0. */
static size_t mini_match(const char *pat, const char *s, size_t n) {
  size_t i = 0;
  for (const char *p = pat; *p; p++) {
    if (i >= n)
      return 0;
    char c = s[i];
    if (*p == 'D') {
      if (c < '0' || c > '9')
        return 0;
    } else if (*p == '[') {
      if (c < p[1] || c > p[3])
        return 0;
      p += 4;
    } else if (*p != c) {
      return 0;
    }
    i++;
  }
  return i;
}

/* Name lists sorted longest first (stable), as TimeRE.__seqToRE. */
typedef struct namelist {
  const char *const *names;
  int n;
} namelist_t;

/* ---------------------------------------------------------------------- */
/* Compiled formats                                                        */
/* ---------------------------------------------------------------------- */

enum { EL_LIT, EL_WS, EL_DIR };

typedef struct elem {
  uint8_t kind;
  char dir;       /* EL_DIR: the directive letter */
  uint32_t off;   /* EL_LIT: offset of the literal in the format */
  uint32_t len;   /* EL_LIT: its length */
} elem_t;

#define INLINE_ELEMS 24
#define MAX_ELEMS 4096

struct rf_py_strptime_fmt {
  const char *fmt; /* the format text (owned when compiled on the heap) */
  size_t flen;
  size_t n;
  elem_t *el;
  elem_t inline_el[INLINE_ELEMS];
  bool owns_fmt;
};

static bool add_elem(rf_py_strptime_fmt_t *f, size_t *cap, elem_t e) {
  if (f->n == *cap) {
    if (*cap >= MAX_ELEMS)
      return false;
    size_t ncap = *cap * 2;
    elem_t *ne = rf_malloc(ncap * sizeof(*ne));
    if (ne == NULL)
      return false;
    memcpy(ne, f->el, f->n * sizeof(*ne));
    if (f->el != f->inline_el)
      rf_free(f->el);
    f->el = ne;
    *cap = ncap;
  }
  /* Merge adjacent literal runs. */
  if (e.kind == EL_LIT && e.len > 0 && f->n > 0 && f->el[f->n - 1].kind == EL_LIT &&
      f->el[f->n - 1].len > 0 && f->el[f->n - 1].off + f->el[f->n - 1].len == e.off) {
    f->el[f->n - 1].len += e.len;
    return true;
  }
  f->el[f->n++] = e;
  return true;
}

static bool is_directive(uint32_t c) {
  return c < 128 && c && strchr("dfHIGjmMSUwuVyYzAaBbpZ%WcxX", (int)c) != NULL;
}

static bool is_regex_char(uint32_t c) {
  return c < 128 && c && strchr("\\.^$*+?(){}[]|", (int)c) != NULL;
}

/* Appends the expansion of %c / %x / %X in the C locale ("%a %b %d
 * %H:%M:%S %Y", "%m/%d/%y", "%H:%M:%S", whitespace as \s+). Their literal
 * characters are not in the user's format: such an element has len 0 and
 * carries its character in `dir`. */
static bool expand_locale(rf_py_strptime_fmt_t *f, size_t *cap, char d) {
  const char *sub = d == 'c' ? "a b d H:M:S Y" : d == 'x' ? "m/d/y" : "H:M:S";
  for (const char *p = sub; *p; p++) {
    elem_t e = {EL_DIR, *p, 0, 0};
    if (*p == ' ')
      e = (elem_t){EL_WS, 0, 0, 0};
    else if (*p == '/' || *p == ':')
      e = (elem_t){EL_LIT, *p, 0, 0};
    if (!add_elem(f, cap, e))
      return false;
  }
  return true;
}

/* Compiles fmt into f (f->el must point at storage of *cap elements).
 * Errors, in CPython's order: bad directive / stray % while scanning, then
 * re.error for a group name defined twice. */
static int compile_into(rf_py_strptime_fmt_t *f, size_t cap, const char *fmt, size_t flen,
                        rf_pyerr_t *err) {
  f->fmt = fmt;
  f->flen = flen;
  f->n = 0;
  size_t i = 0;
  while (i < flen) {
    uint32_t c;
    size_t l = u8_decode((const unsigned char *)fmt + i, flen - i, &c);
    if (py_isspace(c)) {
      if (!add_elem(f, &cap, (elem_t){EL_WS, 0, 0, 0}))
        goto nomem;
      i += space_run(fmt + i, flen - i, NULL);
      continue;
    }
    if (c != '%') {
      if (!add_elem(f, &cap, (elem_t){EL_LIT, 0, (uint32_t)i, (uint32_t)l}))
        goto nomem;
      i += l;
      continue;
    }
    if (i + 1 >= flen)
      return rf_pyerr_set(err, "ValueError", "stray %% in format '%.*s'", (int)flen, fmt);
    uint32_t d;
    size_t dl = u8_decode((const unsigned char *)fmt + i + 1, flen - i - 1, &d);
    if (py_isspace(d) || is_regex_char(d))
      return rf_pyerr_set(err, "ValueError", "'%%' is a bad directive in format '%.*s'",
                          (int)flen, fmt);
    if (!is_directive(d))
      return rf_pyerr_set(err, "ValueError", "'%.*s' is a bad directive in format '%.*s'",
                          (int)dl, fmt + i + 1, (int)flen, fmt);
    if (d == '%') {
      if (!add_elem(f, &cap, (elem_t){EL_LIT, 0, (uint32_t)(i + 1), 1}))
        goto nomem;
    } else if (d == 'c' || d == 'x' || d == 'X') {
      if (!expand_locale(f, &cap, (char)d))
        goto nomem;
    } else if (!add_elem(f, &cap, (elem_t){EL_DIR, (char)d, 0, 0})) {
      goto nomem;
    }
    i += 1 + dl;
  }
  /* re.compile: every group name at most once. */
  {
    char seen[128] = {0};
    for (size_t k = 0; k < f->n; k++) {
      if (f->el[k].kind != EL_DIR)
        continue;
      unsigned char g = (unsigned char)f->el[k].dir;
      if (seen[g])
        return rf_pyerr_set(err, "error", "redefinition of group name '%c'", g);
      seen[g] = 1;
    }
  }
  return 0;
nomem:
  if (f->n >= MAX_ELEMS)
    return rf_pyerr_set(err, "LimitError", "strptime format has too many elements");
  return rf_pyerr_set(err, "MemoryError", "out of memory");
}

int rf_py_strptime_compile(const char *fmt, size_t flen, rf_py_strptime_fmt_t **out,
                           rf_pyerr_t *err) {
  *out = NULL;
  rf_py_strptime_fmt_t *f = rf_calloc(1, sizeof(*f));
  char *copy = NULL;
  if (f == NULL || (copy = rf_memdup(fmt, flen)) == NULL) {
    rf_free(f);
    return rf_pyerr_set(err, "MemoryError", "out of memory");
  }
  f->el = f->inline_el;
  f->owns_fmt = true;
  if (compile_into(f, INLINE_ELEMS, copy, flen, err) < 0) {
    f->fmt = copy;
    rf_py_strptime_free(f);
    return -1;
  }
  *out = f;
  return 0;
}

void rf_py_strptime_free(rf_py_strptime_fmt_t *f) {
  if (f == NULL)
    return;
  if (f->el != f->inline_el)
    rf_free(f->el);
  if (f->owns_fmt)
    rf_free((char *)f->fmt);
  rf_free(f);
}

/* ---------------------------------------------------------------------- */
/* Matching                                                                */
/* ---------------------------------------------------------------------- */

typedef struct span {
  uint32_t start, len;
} span_t;

typedef struct mstate {
  const rf_py_strptime_fmt_t *f;
  const char *s;
  size_t n;
  span_t grp[128]; /* per directive letter: the matched text */
  long steps;
} mstate_t;

#define MAX_STEPS 1000000L

static int match_from(mstate_t *st, size_t ei, size_t pos);

static bool lit_eq_ci(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

/* Matches the literal a[0..an) at b[0..bn) case-insensitively; returns the
 * number of bytes of b consumed, or -1. Case pairs may differ in UTF-8
 * length only outside the folded ranges, so lengths are tracked apart. */
static long lit_match(const char *a, size_t an, const char *b, size_t bn) {
  size_t i = 0, j = 0;
  while (i < an) {
    if (j >= bn)
      return -1;
    uint32_t ca, cb;
    i += u8_decode((const unsigned char *)a + i, an - i, &ca);
    j += u8_decode((const unsigned char *)b + j, bn - j, &cb);
    if (fold(ca) != fold(cb))
      return -1;
  }
  return (long)j;
}

/* Tries the alternatives of directive `d` at pos in regex order; on each
 * candidate, continues with element ei + 1. Returns 1 (matched), 0, or -1
 * (step limit). */
static int try_dir(mstate_t *st, size_t ei, char d, size_t pos) {
  const char *s = st->s + pos;
  size_t n = st->n - pos;
  span_t *g = &st->grp[(unsigned char)d];
  int r;
#define TRY_LEN(L)                                                            \
  do {                                                                        \
    g->start = (uint32_t)pos;                                                 \
    g->len = (uint32_t)(L);                                                   \
    r = match_from(st, ei + 1, pos + (L));                                    \
    if (r != 0)                                                               \
      return r;                                                               \
  } while (0)
  const char *const *alts = numeric_alts(d);
  if (alts) {
    for (; *alts; alts++) {
      size_t l = mini_match(*alts, s, n);
      if (l)
        TRY_LEN(l);
    }
    return 0;
  }
  switch (d) {
  case 'f': {
    size_t k = 0;
    while (k < n && k < 6 && s[k] >= '0' && s[k] <= '9')
      k++;
    for (; k >= 1; k--)
      TRY_LEN(k);
    return 0;
  }
  case 'z': {
    /* [+-]\d\d:?[0-5]\d(:?[0-5]\d(\.\d{1,6})?)?|(?-i:Z) */
#define DIG(i) ((i) < n && s[i] >= '0' && s[i] <= '9')
#define D05(i) ((i) < n && s[i] >= '0' && s[i] <= '5')
    if (n >= 3 && (s[0] == '+' || s[0] == '-') && DIG(1) && DIG(2)) {
      for (int c1 = 1; c1 >= 0; c1--) {
        size_t p = 3;
        if (c1) {
          if (!(p < n && s[p] == ':'))
            continue;
          p++;
        }
        if (!(D05(p) && DIG(p + 1)))
          continue;
        p += 2;
        /* optional group: include first */
        for (int c2 = 1; c2 >= 0; c2--) {
          size_t q = p;
          if (c2) {
            if (!(q < n && s[q] == ':'))
              continue;
            q++;
          }
          if (!(D05(q) && DIG(q + 1)))
            continue;
          q += 2;
          if (q < n && s[q] == '.' && DIG(q + 1)) {
            size_t k = 0;
            while (k < 6 && DIG(q + 1 + k))
              k++;
            for (; k >= 1; k--)
              TRY_LEN(q + 1 + k);
          }
          TRY_LEN(q);
        }
        TRY_LEN(p);
      }
    }
    if (n >= 1 && s[0] == 'Z')
      TRY_LEN(1);
    return 0;
#undef DIG
#undef D05
  }
  default: break;
  }
  /* Name alternations, longest first. */
  const char *const *names = NULL;
  int count = 0;
  switch (d) {
  case 'A': names = f_weekday; count = 7; break;
  case 'a': names = a_weekday; count = 7; break;
  case 'B': names = f_month; count = 12; break;
  case 'b': names = a_month; count = 12; break;
  case 'p': names = am_pm; count = 2; break;
  default: break;
  }
  const char *tzn[4];
  if (d == 'Z') {
    pthread_once(&tz_once, tz_init);
    for (int i = 0; i < tzinfo_names.n; i++)
      tzn[i] = tzinfo_names.names[i];
    names = tzn;
    count = tzinfo_names.n;
  }
  size_t maxlen = 0;
  for (int i = 0; i < count; i++)
    if (strlen(names[i]) > maxlen)
      maxlen = strlen(names[i]);
  for (size_t len = maxlen; len >= 1; len--) {
    for (int i = 0; i < count; i++) {
      if (strlen(names[i]) != len || len > n || !lit_eq_ci(names[i], s, len))
        continue;
      TRY_LEN(len);
    }
  }
#undef TRY_LEN
  return 0;
}

static int match_from(mstate_t *st, size_t ei, size_t pos) {
  if (++st->steps > MAX_STEPS)
    return -1;
  const rf_py_strptime_fmt_t *f = st->f;
  if (ei == f->n) {
    st->grp[0].start = (uint32_t)pos; /* slot 0: end of the match */
    return 1;
  }
  const elem_t *e = &f->el[ei];
  switch (e->kind) {
  case EL_LIT: {
    const char *lit = e->len ? f->fmt + e->off : &e->dir;
    size_t len = e->len ? e->len : 1;
    long used = lit_match(lit, len, st->s + pos, st->n - pos);
    if (used < 0)
      return 0;
    return match_from(st, ei + 1, pos + (size_t)used);
  }
  case EL_WS: {
    size_t nch;
    size_t run = space_run(st->s + pos, st->n - pos, &nch);
    if (nch == 0)
      return 0;
    /* Greedy: longest run first, giving back one code point at a time. */
    size_t ends[64];
    if (nch <= 64) {
      size_t i = 0, k = 0;
      while (i < run) {
        uint32_t cp;
        i += u8_decode((const unsigned char *)st->s + pos + i, run - i, &cp);
        ends[k++] = i;
      }
      for (size_t j = nch; j >= 1; j--) {
        int r = match_from(st, ei + 1, pos + ends[j - 1]);
        if (r != 0)
          return r;
      }
      return 0;
    }
    /* Long runs: walk back from the end byte by byte to char starts. */
    for (size_t end = run; end >= 1; end--) {
      if (((unsigned char)st->s[pos + end - 1] & 0xC0) == 0x80 && end != run)
        continue;
      if (end != run && ((unsigned char)st->s[pos + end] & 0xC0) == 0x80)
        continue;
      int r = match_from(st, ei + 1, pos + end);
      if (r != 0)
        return r;
    }
    return 0;
  }
  default:
    return try_dir(st, ei, e->dir, pos);
  }
}

/* ---------------------------------------------------------------------- */
/* _strptime's arithmetic                                                  */
/* ---------------------------------------------------------------------- */

static long num(const char *s, size_t n) {
  long v = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] >= '0' && s[i] <= '9')
      v = v * 10 + (s[i] - '0');
  return v;
}

static int name_index(const char *const *names, int count, const char *s, size_t n) {
  for (int i = 0; i < count; i++)
    if (strlen(names[i]) == n && lit_eq_ci(names[i], s, n))
      return i;
  return -1;
}

/* repr(datetime.timedelta(microseconds=total_us)). */
static void timedelta_repr(char *buf, size_t cap, long long total_us) {
  long long days = total_us / 86400000000LL;
  long long rem = total_us % 86400000000LL;
  if (rem < 0) {
    rem += 86400000000LL;
    days--;
  }
  long long secs = rem / 1000000, us = rem % 1000000;
  size_t k = (size_t)snprintf(buf, cap, "datetime.timedelta(");
  const char *sep = "";
  if (days) {
    k += (size_t)snprintf(buf + k, cap - k, "days=%lld", days);
    sep = ", ";
  }
  if (secs && k < cap) {
    k += (size_t)snprintf(buf + k, cap - k, "%sseconds=%lld", sep, secs);
    sep = ", ";
  }
  if (us && k < cap)
    k += (size_t)snprintf(buf + k, cap - k, "%smicroseconds=%lld", sep, us);
  if (!days && !secs && !us && k < cap)
    k += (size_t)snprintf(buf + k, cap - k, "0");
  if (k < cap)
    snprintf(buf + k, cap - k, ")");
}

static int no_match(const rf_py_strptime_fmt_t *f, const char *s, size_t n, rf_pyerr_t *err) {
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_puts(&b, "time data ");
  py_repr(&b, s, n > 400 ? 400 : n);
  rf_buf_puts(&b, " does not match format ");
  py_repr(&b, f->fmt, f->flen > 200 ? 200 : f->flen);
  if (!rf_buf_ok(&b)) {
    rf_buf_free(&b);
    return rf_pyerr_set(err, "ValueError", "time data does not match format");
  }
  rf_pyerr_set(err, "ValueError", "%s", b.data);
  rf_buf_free(&b);
  return -1;
}

int rf_py_strptime_exec(const rf_py_strptime_fmt_t *f, const char *s, size_t len,
                        rf_py_datetime_t *out, rf_pyerr_t *err) {
  mstate_t st;
  st.f = f;
  st.s = s;
  st.n = len;
  st.steps = 0;
  int r = match_from(&st, 0, 0);
  if (r < 0)
    return rf_pyerr_set(err, "LimitError", "strptime backtracking limit exceeded");
  if (r == 0)
    return no_match(f, s, len, err);
  size_t end = st.grp[0].start;
  if (end != len)
    return rf_pyerr_set(err, "ValueError", "unconverted data remains: %.*s", (int)(len - end),
                        s + end);

  long year = -1, iso_year = -1;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0;
  long fraction = 0;
  bool have_gmtoff = false;
  long gmtoff = 0, gmtoff_fraction = 0;
  long iso_week = -1, week_of_year = -1;
  int week_of_year_start = -1;
  long weekday = -1, julian = 0;
  bool have_julian = false;
  const span_t *zname = NULL;
  const span_t *pgrp = NULL;
  for (size_t k = 0; k < f->n; k++)
    if (f->el[k].kind == EL_DIR && f->el[k].dir == 'p')
      pgrp = &st.grp['p'];
  /* Groups in order of appearance (Python's groupdict order). */
  for (size_t k = 0; k < f->n; k++) {
    if (f->el[k].kind != EL_DIR)
      continue;
    char d = f->el[k].dir;
    const span_t *g = &st.grp[(unsigned char)d];
    const char *t = s + g->start;
    size_t tl = g->len;
    switch (d) {
    case 'y':
      year = num(t, tl);
      year += year <= 68 ? 2000 : 1900;
      break;
    case 'Y': year = num(t, tl); break;
    case 'G': iso_year = num(t, tl); break;
    case 'm': month = (int)num(t, tl); break;
    case 'B': month = name_index(f_month, 12, t, tl) + 1; break;
    case 'b': month = name_index(a_month, 12, t, tl) + 1; break;
    case 'd': day = (int)num(t, tl); break;
    case 'H': hour = (int)num(t, tl); break;
    case 'I': {
      hour = (int)num(t, tl);
      int ampm = pgrp ? name_index(am_pm, 2, s + pgrp->start, pgrp->len) : 0;
      if (ampm == 0) {
        if (hour == 12)
          hour = 0;
      } else if (ampm == 1) {
        if (hour != 12)
          hour += 12;
      }
      break;
    }
    case 'M': minute = (int)num(t, tl); break;
    case 'S': second = (int)num(t, tl); break;
    case 'f': {
      fraction = num(t, tl);
      for (size_t z = tl; z < 6; z++)
        fraction *= 10;
      break;
    }
    case 'A': weekday = name_index(f_weekday, 7, t, tl); break;
    case 'a': weekday = name_index(a_weekday, 7, t, tl); break;
    case 'w':
      weekday = num(t, tl);
      weekday = weekday == 0 ? 6 : weekday - 1;
      break;
    case 'u': weekday = num(t, tl) - 1; break;
    case 'j':
      julian = num(t, tl);
      have_julian = true;
      break;
    case 'U': case 'W':
      week_of_year = num(t, tl);
      week_of_year_start = d == 'U' ? 6 : 0;
      break;
    case 'V': iso_week = num(t, tl); break;
    case 'z': {
      if (tl == 1 && t[0] == 'Z') {
        gmtoff = 0;
        gmtoff_fraction = 0;
        have_gmtoff = true;
        break;
      }
      char z[24];
      size_t zl = tl < sizeof(z) ? tl : sizeof(z) - 1;
      memcpy(z, t, zl);
      z[zl] = '\0';
      if (zl > 3 && z[3] == ':') {
        memmove(z + 3, z + 4, zl - 3);
        zl--;
        if (zl > 5) {
          if (z[5] != ':')
            return rf_pyerr_set(err, "ValueError", "Inconsistent use of : in %.*s", (int)tl, t);
          memmove(z + 5, z + 6, zl - 5);
          zl--;
        }
      }
      /* int(z[5:7]) where the first ':' was not at z[3]: "+0100:30". */
      if (zl >= 7 && (z[5] < '0' || z[5] > '9' || z[6] < '0' || z[6] > '9'))
        return rf_pyerr_set(err, "ValueError", "invalid literal for int() with base 10: '%.2s'",
                            z + 5);
      long hours = num(z + 1, 2);
      long minutes = num(z + 3, 2);
      long seconds = zl >= 7 ? num(z + 5, 2) : 0;
      gmtoff = hours * 3600 + minutes * 60 + seconds;
      gmtoff_fraction = 0;
      if (zl > 8) {
        size_t fl = zl - 8;
        gmtoff_fraction = num(z + 8, fl);
        for (size_t q = fl; q < 6; q++)
          gmtoff_fraction *= 10;
      }
      if (z[0] == '-') {
        gmtoff = -gmtoff;
        gmtoff_fraction = -gmtoff_fraction;
      }
      have_gmtoff = true;
      break;
    }
    case 'Z': zname = g; break;
    default: break;
    }
  }
  if (year < 0 && iso_year >= 0) {
    if (iso_week < 0 || weekday < 0)
      return rf_pyerr_set(err, "ValueError",
                          "ISO year directive '%%G' must be used with the ISO week directive "
                          "'%%V' and a weekday directive ('%%A', '%%a', '%%w', or '%%u').");
    if (have_julian)
      return rf_pyerr_set(err, "ValueError",
                          "Day of the year directive '%%j' is not compatible with ISO year "
                          "directive '%%G'. Use '%%Y' instead.");
  } else if (week_of_year < 0 && iso_week >= 0) {
    if (weekday < 0)
      return rf_pyerr_set(err, "ValueError",
                          "ISO week directive '%%V' must be used with the ISO year directive "
                          "'%%G' and a weekday directive ('%%A', '%%a', '%%w', or '%%u').");
    return rf_pyerr_set(err, "ValueError",
                        "ISO week directive '%%V' is incompatible with the year directive "
                        "'%%Y'. Use the ISO year '%%G' instead.");
  }
  bool leap_year_fix = false;
  if (year < 0 && month == 2 && day == 29) {
    year = 1904;
    leap_year_fix = true;
  } else if (year < 0) {
    year = 1900;
  }
  if (!have_julian && weekday >= 0) {
    if (week_of_year >= 0) {
      /* _calc_julian_from_U_or_W */
      if (check_date(year, 1, 1, err) < 0)
        return -1;
      long first_weekday = (ymd_to_ord(year, 1, 1) + 6) % 7;
      long dow = weekday;
      if (week_of_year_start != 0) {
        first_weekday = (first_weekday + 1) % 7;
        dow = (dow + 1) % 7;
      }
      long week_0_length = (7 - first_weekday) % 7;
      if (week_of_year == 0)
        julian = 1 + dow - first_weekday;
      else
        julian = 1 + week_0_length + 7 * (week_of_year - 1) + dow;
      have_julian = true;
    } else if (iso_year >= 0 && iso_week >= 0) {
      /* _calc_julian_from_V */
      if (check_date(iso_year, 1, 4, err) < 0)
        return -1;
      long isoweekday_jan4 = (ymd_to_ord(iso_year, 1, 4) + 6) % 7 + 1;
      long correction = isoweekday_jan4 + 3;
      long ordinal = iso_week * 7 + (weekday + 1) - correction;
      if (ordinal < 1) {
        if (check_date(iso_year, 1, 1, err) < 0)
          return -1;
        ordinal += ymd_to_ord(iso_year, 1, 1);
        iso_year -= 1;
        if (check_date(iso_year, 1, 1, err) < 0)
          return -1;
        ordinal -= ymd_to_ord(iso_year, 1, 1);
      }
      year = iso_year;
      julian = ordinal;
      have_julian = true;
    }
    if (have_julian && julian <= 0) {
      year -= 1;
      julian += is_leap(year) ? 366 : 365;
    }
  }
  if (!have_julian) {
    if (check_date(year, month, day, err) < 0)
      return -1;
  } else {
    if (check_date(year, 1, 1, err) < 0)
      return -1;
    long y2 = 0;
    int m2 = 0, d2 = 0;
    if (from_ordinal(julian - 1 + ymd_to_ord(year, 1, 1), &y2, &m2, &d2, err) < 0)
      return -1;
    year = y2;
    month = m2;
    day = d2;
  }
  if (leap_year_fix)
    year = 1900;

  /* datetime_timezone(timedelta(seconds=gmtoff, microseconds=fraction)) */
  if (have_gmtoff) {
    long long total = (long long)gmtoff * 1000000 + gmtoff_fraction;
    if (total <= -86400000000LL || total >= 86400000000LL) {
      char td[128];
      timedelta_repr(td, sizeof(td), total);
      return rf_pyerr_set(err, "ValueError",
                          "offset must be a timedelta strictly between -timedelta(hours=24) and "
                          "timedelta(hours=24), not %s.",
                          td);
    }
  }
  /* datetime(year, month, day, hour, minute, second, fraction, tz) */
  if (check_date(year, month, day, err) < 0)
    return -1;
  if (hour > 23)
    return rf_pyerr_set(err, "ValueError", "hour must be in 0..23");
  if (minute > 59)
    return rf_pyerr_set(err, "ValueError", "minute must be in 0..59");
  if (second > 59)
    return rf_pyerr_set(err, "ValueError", "second must be in 0..59");
  memset(out, 0, sizeof(*out));
  out->year = (int)year;
  out->month = month;
  out->day = day;
  out->hour = hour;
  out->minute = minute;
  out->second = second;
  out->microsecond = (int)fraction;
  if (have_gmtoff) {
    out->aware = true;
    out->utcoffset_s = (int)gmtoff;
    out->utcoffset_us = (int)gmtoff_fraction;
    if (zname && zname->len < sizeof(out->tzname)) {
      memcpy(out->tzname, s + zname->start, zname->len);
      out->tzname[zname->len] = '\0';
    }
  }
  return 0;
}

int rf_py_strptime(const char *s, size_t len, const char *fmt, size_t flen, rf_py_datetime_t *out,
                   rf_pyerr_t *err) {
  rf_py_strptime_fmt_t f;
  f.el = f.inline_el;
  f.owns_fmt = false;
  int rc = compile_into(&f, INLINE_ELEMS, fmt, flen, err);
  if (rc == 0)
    rc = rf_py_strptime_exec(&f, s, len, out, err);
  if (f.el != f.inline_el)
    rf_free(f.el);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* strftime / isoformat                                                    */
/* ---------------------------------------------------------------------- */

/* Total offset in microseconds (utcoffset_us carries the sign of the
 * fraction, as timedelta(seconds=s, microseconds=us)). */
static long long offset_us(const rf_py_datetime_t *dt) {
  return (long long)dt->utcoffset_s * 1000000 + dt->utcoffset_us;
}

/* CPython's format_utcoffset(): [+-]HH<sep>MM[<sep>SS[.ffffff]]. */
static void format_utcoffset(rf_buf_t *b, long long total, const char *sep) {
  char sign = '+';
  if (total < 0) {
    sign = '-';
    total = -total;
  }
  long long us = total % 1000000, secs = total / 1000000;
  long long hh = secs / 3600, mm = (secs / 60) % 60, ss = secs % 60;
  if (us)
    rf_buf_printf(b, "%c%02lld%s%02lld%s%02lld.%06lld", sign, hh, sep, mm, sep, ss, us);
  else if (ss)
    rf_buf_printf(b, "%c%02lld%s%02lld%s%02lld", sign, hh, sep, mm, sep, ss);
  else
    rf_buf_printf(b, "%c%02lld%s%02lld", sign, hh, sep, mm);
}

/* tzinfo.tzname(): the %Z name, or timezone's default "UTC+HH:MM". */
static void tzname_of(rf_buf_t *b, const rf_py_datetime_t *dt) {
  if (!dt->aware)
    return;
  if (dt->tzname[0]) {
    rf_buf_puts(b, dt->tzname);
    return;
  }
  long long total = offset_us(dt);
  rf_buf_puts(b, "UTC");
  if (total != 0)
    format_utcoffset(b, total, ":");
}

int rf_py_strftime(const rf_py_datetime_t *dt, const char *fmt, size_t flen, rf_buf_t *out,
                   rf_pyerr_t *err) {
  if (memchr(fmt, '\0', flen))
    return rf_pyerr_set(err, "ValueError", "embedded null character");
  int rc = 0;
  rf_buf_t nf = RF_BUF_INIT;
  /* wrap_strftime(): %z, %Z and %f are CPython's, the rest is strftime's. */
  size_t i = 0;
  while (i < flen) {
    char c = fmt[i];
    if (c != '%') {
      size_t j = i;
      while (j < flen && fmt[j] != '%')
        j++;
      rf_buf_append(&nf, fmt + i, j - i);
      i = j;
      continue;
    }
    if (i + 1 >= flen) {
      rf_buf_putc(&nf, '%');
      i++;
      continue;
    }
    char d = fmt[i + 1];
    if (d == 'z') {
      if (dt->aware && !dt->is_date)
        format_utcoffset(&nf, offset_us(dt), "");
    } else if (d == 'Z') {
      if (!dt->is_date) {
        rf_buf_t z = RF_BUF_INIT;
        tzname_of(&z, dt);
        for (size_t k = 0; k < z.len; k++) {
          if (z.data[k] == '%')
            rf_buf_putc(&nf, '%');
          rf_buf_putc(&nf, z.data[k]);
        }
        if (!rf_buf_ok(&z))
          nf.oom = true;
        rf_buf_free(&z);
      }
    } else if (d == 'f') {
      rf_buf_printf(&nf, "%06d", dt->is_date ? 0 : dt->microsecond);
    } else {
      rf_buf_append(&nf, fmt + i, 2);
    }
    i += 2;
  }
  if (!rf_buf_ok(&nf)) {
    rc = rf_pyerr_set(err, "MemoryError", "out of memory");
    goto done;
  }
  if (nf.len == 0)
    goto done;
  {
    /* time.strftime(): struct tm as gettmarg() builds it from timetuple(). */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = dt->year - 1900;
    tm.tm_mon = dt->month - 1;
    tm.tm_mday = dt->day;
    if (!dt->is_date) {
      tm.tm_hour = dt->hour;
      tm.tm_min = dt->minute;
      tm.tm_sec = dt->second;
    }
    long ord = ymd_to_ord(dt->year, dt->month, dt->day);
    tm.tm_wday = (int)((ord + 6) % 7 + 1) % 7;
    tm.tm_yday = (int)(ord - ymd_to_ord(dt->year, 1, 1));
    tm.tm_isdst = -1;
    size_t fmtchars = 0;
    for (size_t k = 0; k < nf.len; k++)
      fmtchars += ((unsigned char)nf.data[k] & 0xC0) != 0x80;
    char sbuf[1024];
    for (size_t cap = 1024;; cap += cap) {
      char *buf = cap == sizeof(sbuf) ? sbuf : rf_malloc(cap);
      if (buf == NULL) {
        rc = rf_pyerr_set(err, "MemoryError", "out of memory");
        break;
      }
      /* The format is data by design: it is the lambda's strftime format. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      size_t n = strftime(buf, cap, nf.data, &tm);
#pragma GCC diagnostic pop
      bool last = n > 0 || cap >= 256 * fmtchars;
      if (last)
        rf_buf_append(out, buf, n);
      if (buf != sbuf)
        rf_free(buf);
      if (last)
        break;
    }
  }
done:
  rf_buf_free(&nf);
  if (rc == 0 && !rf_buf_ok(out))
    rc = rf_pyerr_set(err, "MemoryError", "out of memory");
  return rc;
}

void rf_py_isoformat(const rf_py_datetime_t *dt, char sep, rf_buf_t *out) {
  rf_buf_printf(out, "%04d-%02d-%02d", dt->year, dt->month, dt->day);
  if (dt->is_date)
    return;
  rf_buf_printf(out, "%c%02d:%02d:%02d", sep, dt->hour, dt->minute, dt->second);
  if (dt->microsecond)
    rf_buf_printf(out, ".%06d", dt->microsecond);
  if (dt->aware)
    format_utcoffset(out, offset_us(dt), ":");
}

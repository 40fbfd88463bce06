/* pyfmt.c - CPython 3.11's str/int/float formatting, in plain C.
 *
 * Why this exists: the lambda language promises CPython's exact results, and
 * formatting is where "almost the same" shows first ('{:.3}' vs '{:.3g}',
 * '0,001,234', '-0.0', '1e+16'). The code mirrors the structure of CPython's
 * Python/formatter_unicode.c (spec parsing, number layout, grouping) and
 * Python/pystrtod.c (format_float_short: where the decimal point and the
 * exponent go), so that a reader can hold the two side by side.
 *
 * Digits: CPython uses David Gay's dtoa. We get the same digit strings from
 * glibc, which is correctly rounded for %e and %f at any precision: mode 2
 * (n significant digits) is "%.{n-1}e", mode 3 (n digits after the point) is
 * "%.{n}f", and mode 0 (shortest round-trip, for repr) is the smallest n whose
 * correctly rounded digits read back to the same double (with the
 * power-of-two boundary case, where the neighbour one unit away may be the
 * shortest, handled explicitly). Trailing zeros are stripped as dtoa does and
 * put back by the layout code exactly where format_float_short puts them.
 *
 * Errors: ValueError/OverflowError/TypeError with CPython's messages;
 * LimitError for widths or precisions above RF_PYFMT_MAX_WIDTH; MemoryError
 * when an allocation fails (the output buffer's oom flag included).
 */
#include "pyfmt.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"

/* ---------------------------------------------------------------------- */
/* Small helpers: UTF-8, scratch memory, errors                            */
/* ---------------------------------------------------------------------- */

/* Decodes one code point at s[0..n); returns its byte length (>= 1). Invalid
 * bytes decode as themselves (length 1), so lengths never exceed n. */
static size_t utf8_decode(const char *s, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] < 0x80 || n < 2) {
    *cp = u[0];
    return 1;
  }
  if ((u[0] & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80) {
    *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    return 2;
  }
  if ((u[0] & 0xF0) == 0xE0 && n >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
    *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    return 3;
  }
  if ((u[0] & 0xF8) == 0xF0 && n >= 4 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
      (u[3] & 0xC0) == 0x80) {
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
          ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return 4;
  }
  *cp = u[0];
  return 1;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Number of code points in s[0..n). */
static size_t utf8_count(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* Byte length of the first k code points of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n, size_t k) {
  size_t i = 0;
  while (i < n && k > 0) {
    uint32_t cp;
    i += utf8_decode(s + i, n - i, &cp);
    k--;
  }
  return i;
}

/* Scratch memory: a stack area, spilling to the heap for large outputs, so
 * that ordinary formatting allocates nothing beyond the output buffer. */
typedef struct scratch {
  char *p;
  size_t cap;
  char st[320];
} scratch_t;

static void scratch_init(scratch_t *s) {
  s->p = s->st;
  s->cap = sizeof(s->st);
}

static bool scratch_reserve(scratch_t *s, size_t n) {
  if (n <= s->cap)
    return true;
  char *q = rf_malloc(n);
  if (q == NULL)
    return false;
  if (s->p != s->st)
    rf_free(s->p);
  s->p = q;
  s->cap = n;
  return true;
}

static void scratch_free(scratch_t *s) {
  if (s->p != s->st)
    rf_free(s->p);
  scratch_init(s);
}

static int nomem(rf_pyerr_t *err) { return rf_pyerr_set(err, "MemoryError", "out of memory"); }

/* 0, or MemoryError when the output buffer ran out of memory. */
static int finish(rf_buf_t *out, rf_pyerr_t *err) { return rf_buf_ok(out) ? 0 : nomem(err); }

static void put_fill(rf_buf_t *out, const char *fill, size_t flen, size_t n) {
  if (n == 0 || !rf_buf_reserve(out, n * flen))
    return;
  if (flen == 1) {
    memset(out->data + out->len, fill[0], n);
    out->len += n;
  } else {
    for (size_t i = 0; i < n; i++) {
      memcpy(out->data + out->len, fill, flen);
      out->len += flen;
    }
  }
  out->data[out->len] = '\0';
}

/* ---------------------------------------------------------------------- */
/* Digits (dtoa modes 0, 2, 3 via glibc)                                   */
/* ---------------------------------------------------------------------- */

/* Digit string of |v| (finite): digits without leading/trailing zeros (at
 * least "0"), and decpt such that |v| ~= 0.DIGITS * 10**decpt. */
typedef struct digits {
  scratch_t s;
  size_t len;
  int decpt;
} digits_t;

/* Parses "D.DDDDe[+-]XX" from snprintf into d (in place in d->s). */
static void digits_from_e(digits_t *d, size_t n) {
  char *p = d->s.p;
  char *e = memchr(p, 'e', n);
  int exp10 = atoi(e + 1);
  size_t k = 0;
  for (char *q = p; q < e; q++)
    if (*q != '.')
      p[k++] = *q;
  while (k > 1 && p[k - 1] == '0')
    k--;
  d->len = k;
  d->decpt = exp10 + 1;
  if (k == 1 && p[0] == '0')
    d->decpt = 1;
}

/* mode 2: ndigits significant digits (>= 1), correctly rounded. */
static bool digits_mode2(digits_t *d, double a, int ndigits) {
  size_t need = (size_t)ndigits + 16;
  if (!scratch_reserve(&d->s, need))
    return false;
  int n = snprintf(d->s.p, d->s.cap, "%.*e", ndigits - 1, a);
  digits_from_e(d, (size_t)n);
  return true;
}

/* mode 3: ndigits digits after the decimal point, correctly rounded. */
static bool digits_mode3(digits_t *d, double a, int ndigits) {
  size_t need = (size_t)ndigits + (size_t)(a >= 1 ? log10(a) : 0) + 16;
  if (!scratch_reserve(&d->s, need))
    return false;
  int n = snprintf(d->s.p, d->s.cap, "%.*f", ndigits, a);
  char *p = d->s.p;
  size_t intlen = 0;
  while (intlen < (size_t)n && p[intlen] != '.')
    intlen++;
  size_t k = 0, lead = 0;
  bool seen = false;
  for (int i = 0; i < n; i++) {
    if (p[i] == '.')
      continue;
    if (!seen && p[i] == '0') {
      lead++;
      continue;
    }
    seen = true;
    p[k++] = p[i];
  }
  while (k > 0 && p[k - 1] == '0')
    k--;
  if (k == 0) {
    p[0] = '0';
    d->len = 1;
    d->decpt = 1;
    return true;
  }
  d->len = k;
  d->decpt = (int)intlen - (int)lead;
  return true;
}

/* Adds (+1) or subtracts (-1) one unit in the last place of a normalized
 * n-digit mantissa m (m[0] != '0'), adjusting *exp10; keeps n digits. */
static void mantissa_step(char *m, int n, int *exp10, int dir) {
  int i = n - 1;
  if (dir > 0) {
    while (i >= 0 && m[i] == '9')
      m[i--] = '0';
    if (i >= 0) {
      m[i]++;
    } else {
      m[0] = '1';
      (*exp10)++;
    }
  } else {
    while (i >= 0 && m[i] == '0')
      m[i--] = '9';
    m[i]--;
    if (m[0] == '0') {
      memmove(m, m + 1, (size_t)n - 1);
      m[n - 1] = '9';
      (*exp10)--;
    }
  }
}

static double mantissa_value(const char *m, int n, int exp10) {
  char tmp[48];
  snprintf(tmp, sizeof(tmp), "%c.%.*se%d", m[0], n - 1, m + 1, exp10);
  return strtod(tmp, NULL);
}

/* mode 0: the shortest digit string that reads back as a (finite, > 0), and
 * of those the one nearest to a, like dtoa's mode 0. */
static void digits_mode0(digits_t *d, double a) {
  char *p = d->s.p; /* st has room for 17 digits */
  int m_frexp;
  bool pow2 = frexp(a, &m_frexp) == 0.5;
  for (int n = 1; n <= 17; n++) {
    char tmp[48];
    snprintf(tmp, sizeof(tmp), "%.*e", n - 1, a);
    double back = strtod(tmp, NULL);
    bool ok = back == a;
    char m[24];
    int k = 0;
    char *e = strchr(tmp, 'e');
    for (char *q = tmp; q < e; q++)
      if (*q != '.')
        m[k++] = *q;
    int exp10 = atoi(e + 1);
    if (!ok && pow2 && n > 1) {
      /* At a power of two the interval of values reading back as a is wider
       * above a than below: the n-digit neighbour above may read back. */
      int e2 = exp10;
      char m2[24];
      memcpy(m2, m, (size_t)n);
      mantissa_step(m2, n, &e2, back < a ? +1 : -1);
      if (mantissa_value(m2, n, e2) == a) {
        memcpy(m, m2, (size_t)n);
        exp10 = e2;
        ok = true;
      }
    }
    if (ok) {
      while (n > 1 && m[n - 1] == '0')
        n--;
      memcpy(p, m, (size_t)n);
      d->len = (size_t)n;
      d->decpt = exp10 + 1;
      return;
    }
  }
  /* Unreachable for IEEE doubles: 17 digits always round-trip. */
  snprintf(p, d->s.cap, "%.16e", a);
  digits_from_e(d, strlen(p));
}

/* ---------------------------------------------------------------------- */
/* PyOS_double_to_string / format_float_short                              */
/* ---------------------------------------------------------------------- */

#define DTSF_SIGN 1
#define DTSF_ADD_DOT_0 2
#define DTSF_ALT 4
#define DTSF_NO_NEG_0 8

/* PyOS_double_to_string(v, code, precision, flags) into sc (NUL-terminated);
 * code is one of e E f F g G r. Returns the length, or (size_t)-1 on
 * allocation failure. */
static size_t double_to_string(double v, char code, int precision, int flags, scratch_t *sc) {
  bool upper = code == 'E' || code == 'F' || code == 'G';
  char lc = upper ? (char)(code + 32) : code;
  int mode = 0;
  switch (lc) {
  case 'e': mode = 2; precision++; break;
  case 'f': mode = 3; break;
  case 'g': mode = 2; if (precision == 0) precision = 1; break;
  default: mode = 0; precision = 17; lc = 'g'; break; /* 'r' */
  }
  bool r_mode = code == 'r';
  bool neg = signbit(v) != 0;
  if (isnan(v) || isinf(v)) {
    if (isnan(v))
      neg = false; /* CPython ignores the sign of a nan */
    char *p = sc->p;
    if (neg)
      *p++ = '-';
    else if (flags & DTSF_SIGN)
      *p++ = '+';
    memcpy(p, isnan(v) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"), 4);
    return (size_t)(p - sc->p) + 3;
  }
  digits_t d;
  scratch_init(&d.s);
  double a = fabs(v);
  bool ok = true;
  size_t result = (size_t)-1;
  if (a == 0) {
    d.s.p[0] = '0';
    d.len = 1;
    d.decpt = 1;
  } else if (mode == 0) {
    digits_mode0(&d, a);
  } else if (mode == 2) {
    ok = digits_mode2(&d, a, precision);
  } else {
    ok = digits_mode3(&d, a, precision);
  }
  if (!ok)
    goto done;
  const char *digits = d.s.p;
  long digits_len = (long)d.len;
  long decpt = d.decpt;
  if ((flags & DTSF_NO_NEG_0) && neg && digits_len == 1 && digits[0] == '0')
    neg = false;
  bool add_dot_0 = (flags & DTSF_ADD_DOT_0) != 0;
  bool alt = (flags & DTSF_ALT) != 0;
  bool use_exp = false;
  long exp = 0;
  long vd_end = digits_len;
  if (r_mode) {
    if (decpt <= -4 || decpt > 16)
      use_exp = true;
  } else if (lc == 'e') {
    use_exp = true;
    vd_end = precision;
  } else if (lc == 'f') {
    vd_end = decpt + precision;
  } else { /* g */
    if (decpt <= -4 || decpt > (add_dot_0 ? precision - 1 : precision))
      use_exp = true;
    if (alt)
      vd_end = precision;
  }
  if (use_exp) {
    exp = decpt - 1;
    decpt = 1;
  }
  long vd_start = decpt <= 0 ? decpt - 1 : 0;
  if (!use_exp && add_dot_0)
    vd_end = vd_end > decpt ? vd_end : decpt + 1;
  else
    vd_end = vd_end > decpt ? vd_end : decpt;
  if (vd_end < digits_len)
    vd_end = digits_len;
  /* sign, digits and zeros, point, exponent "e+308", NUL */
  if (!scratch_reserve(sc, (size_t)(vd_end - vd_start) + 16))
    goto done;
  char *p = sc->p;
  if (neg)
    *p++ = '-';
  else if (flags & DTSF_SIGN)
    *p++ = '+';
  if (decpt <= 0) {
    memset(p, '0', (size_t)(decpt - vd_start));
    p += decpt - vd_start;
    *p++ = '.';
    memset(p, '0', (size_t)(0 - decpt));
    p += 0 - decpt;
  } else {
    memset(p, '0', (size_t)(0 - vd_start));
    p += 0 - vd_start;
  }
  if (0 < decpt && decpt <= digits_len) {
    memcpy(p, digits, (size_t)decpt);
    p += decpt;
    *p++ = '.';
    memcpy(p, digits + decpt, (size_t)(digits_len - decpt));
    p += digits_len - decpt;
  } else {
    memcpy(p, digits, (size_t)digits_len);
    p += digits_len;
  }
  if (digits_len < decpt) {
    memset(p, '0', (size_t)(decpt - digits_len));
    p += decpt - digits_len;
    *p++ = '.';
    memset(p, '0', (size_t)(vd_end - decpt));
    p += vd_end - decpt;
  } else {
    memset(p, '0', (size_t)(vd_end - digits_len));
    p += vd_end - digits_len;
  }
  if (p[-1] == '.' && !alt)
    p--;
  if (use_exp)
    p += sprintf(p, "%c%+.02ld", upper ? 'E' : 'e', exp);
  *p = '\0';
  result = (size_t)(p - sc->p);
done:
  scratch_free(&d.s);
  return result;
}

void rf_py_float_repr(double v, rf_buf_t *out) {
  scratch_t sc;
  scratch_init(&sc);
  size_t n = double_to_string(v, 'r', 0, DTSF_ADD_DOT_0, &sc);
  rf_buf_append(out, sc.p, n); /* repr never needs the heap */
  scratch_free(&sc);
}

/* Writes mpz v in base (2, 8, 10, 16) into sc, without sign; returns the
 * length, or (size_t)-1 on allocation failure. */
static size_t mpz_digits(const mpz_t v, int base, scratch_t *sc) {
  size_t need = mpz_sizeinbase(v, base) + 2;
  if (!scratch_reserve(sc, need))
    return (size_t)-1;
  mpz_get_str(sc->p, base, v);
  char *p = sc->p;
  size_t n = strlen(p);
  if (p[0] == '-') {
    memmove(p, p + 1, n);
    n--;
  }
  return n;
}

void rf_py_int_str(const mpz_t v, rf_buf_t *out) {
  scratch_t sc;
  scratch_init(&sc);
  size_t n = mpz_digits(v, 10, &sc);
  if (n == (size_t)-1) {
    out->oom = true;
    return;
  }
  if (mpz_sgn(v) < 0)
    rf_buf_putc(out, '-');
  rf_buf_append(out, sc.p, n);
  scratch_free(&sc);
}

/* ---------------------------------------------------------------------- */
/* The format-spec mini-language                                          */
/* ---------------------------------------------------------------------- */

enum { LT_NONE = 0, LT_COMMA, LT_UNDER, LT_UNDER4, LT_LOCALE };

typedef struct fspec {
  char fill[4];
  size_t fill_len;
  bool fill_is_zero;
  char align;
  bool alt;
  char sign; /* 0, '+', '-', ' ' */
  bool no_neg_0;
  long width;     /* -1: absent */
  int thousands;  /* LT_* */
  long precision; /* -1: absent */
  uint32_t type;  /* code point, 0: none */
} fspec_t;

static bool is_align(uint32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; }

/* Reads ASCII decimal digits at spec[*pos]; saturates far above the limit
 * so that overflow is impossible and the limit check below sees it. */
static int get_integer(const char *spec, size_t n, size_t *pos, long *result) {
  long acc = 0;
  int nd = 0;
  while (*pos < n && spec[*pos] >= '0' && spec[*pos] <= '9') {
    if (acc <= 100L * RF_PYFMT_MAX_WIDTH)
      acc = acc * 10 + (spec[*pos] - '0');
    (*pos)++;
    nd++;
  }
  *result = acc;
  return nd;
}

static int comma_type_error(uint32_t type, int thousands, rf_pyerr_t *err) {
  char sep = thousands == LT_COMMA ? ',' : '_';
  if (type > 32 && type < 128)
    return rf_pyerr_set(err, "ValueError", "Cannot specify '%c' with '%c'.", sep, (char)type);
  return rf_pyerr_set(err, "ValueError", "Cannot specify '%c' with '\\x%x'.", sep,
                      (unsigned)type);
}

/* parse_internal_render_format_spec() of CPython 3.11. */
static int parse_spec(const char *spec, size_t n, fspec_t *f, char default_type, char default_align,
                      const char *type_name, rf_pyerr_t *err) {
  size_t pos = 0;
  bool align_specified = false, fill_specified = false;
  f->fill[0] = ' ';
  f->fill_len = 1;
  f->align = default_align;
  f->alt = false;
  f->sign = 0;
  f->no_neg_0 = false;
  f->width = -1;
  f->thousands = LT_NONE;
  f->precision = -1;
  f->type = (uint32_t)(unsigned char)default_type;

  if (n > 0) {
    uint32_t c0, c1 = 0;
    size_t l0 = utf8_decode(spec, n, &c0);
    if (l0 < n)
      utf8_decode(spec + l0, n - l0, &c1);
    if (l0 < n && is_align(c1)) {
      memcpy(f->fill, spec, l0);
      f->fill_len = l0;
      f->align = (char)c1;
      fill_specified = align_specified = true;
      pos = l0 + 1;
    } else if (is_align(c0)) {
      f->align = (char)c0;
      align_specified = true;
      pos = 1;
    }
  }
  if (pos < n && (spec[pos] == ' ' || spec[pos] == '+' || spec[pos] == '-'))
    f->sign = spec[pos++];
  if (pos < n && spec[pos] == 'z') {
    f->no_neg_0 = true;
    pos++;
  }
  if (pos < n && spec[pos] == '#') {
    f->alt = true;
    pos++;
  }
  if (!fill_specified && pos < n && spec[pos] == '0') {
    f->fill[0] = '0';
    f->fill_len = 1;
    if (!align_specified && default_align == '>')
      f->align = '=';
    pos++;
  }
  if (get_integer(spec, n, &pos, &f->width) == 0)
    f->width = -1;
  if (pos < n && spec[pos] == ',') {
    f->thousands = LT_COMMA;
    pos++;
  }
  if (pos < n && spec[pos] == '_') {
    if (f->thousands != LT_NONE)
      return rf_pyerr_set(err, "ValueError", "Cannot specify both ',' and '_'.");
    f->thousands = LT_UNDER;
    pos++;
  }
  if (pos < n && spec[pos] == ',' && f->thousands == LT_UNDER)
    return rf_pyerr_set(err, "ValueError", "Cannot specify both ',' and '_'.");
  if (pos < n && spec[pos] == '.') {
    pos++;
    if (get_integer(spec, n, &pos, &f->precision) == 0)
      return rf_pyerr_set(err, "ValueError", "Format specifier missing precision");
  }
  if (pos < n) {
    uint32_t t;
    size_t tl = utf8_decode(spec + pos, n - pos, &t);
    if (pos + tl < n)
      return rf_pyerr_set(err, "ValueError", "Invalid format specifier '%.*s' for object of type '%s'",
                          (int)n, spec, type_name);
    f->type = t;
  }
  if (f->thousands) {
    switch (f->type) {
    case 'd': case 'e': case 'f': case 'g': case 'E': case 'G': case '%': case 'F': case 0:
      break;
    case 'b': case 'o': case 'x': case 'X':
      if (f->thousands == LT_UNDER) {
        f->thousands = LT_UNDER4;
        break;
      }
      /* fall through */
    default:
      return comma_type_error(f->type, f->thousands, err);
    }
  }
  f->fill_is_zero = f->fill_len == 1 && f->fill[0] == '0';
  return 0;
}

static int unknown_code(uint32_t type, const char *type_name, rf_pyerr_t *err) {
  if (type > 32 && type < 128)
    return rf_pyerr_set(err, "ValueError", "Unknown format code '%c' for object of type '%s'",
                        (char)type, type_name);
  return rf_pyerr_set(err, "ValueError", "Unknown format code '\\x%x' for object of type '%s'",
                      (unsigned)type, type_name);
}

static int check_limits(const fspec_t *f, rf_pyerr_t *err) {
  if (f->width > RF_PYFMT_MAX_WIDTH)
    return rf_pyerr_set(err, "LimitError", "format width %ld exceeds the limit of %d", f->width,
                        RF_PYFMT_MAX_WIDTH);
  if (f->precision > RF_PYFMT_MAX_WIDTH)
    return rf_pyerr_set(err, "LimitError", "format precision %ld exceeds the limit of %d",
                        f->precision, RF_PYFMT_MAX_WIDTH);
  return 0;
}

/* _PyUnicode_InsertThousandsGrouping: lays out n digits (zero-extended to at
 * least min_width characters) with a separator every `group` digits (0: no
 * grouping). With dst == NULL only counts; else writes the result so that it
 * ends just before dst_end. Returns the number of characters. */
static size_t group_digits(char *dst_end, const char *digits, long n, long min_width, int group,
                           char sep) {
  long remaining = n, count = 0;
  bool use_sep = false, broken = false;
  char *w = dst_end;
  if (min_width < 0)
    min_width = 0;
#define EMIT_GROUP(l)                                                         \
  do {                                                                        \
    long n_zeros = (l) - remaining > 0 ? (l) - remaining : 0;                 \
    long n_chars = remaining < (l) ? remaining : (l);                         \
    if (n_chars < 0)                                                          \
      n_chars = 0;                                                            \
    count += (use_sep ? 1 : 0) + n_zeros + n_chars;                           \
    if (w) {                                                                  \
      if (use_sep)                                                            \
        *--w = sep;                                                           \
      w -= n_chars;                                                           \
      memcpy(w, digits + remaining - n_chars, (size_t)n_chars);               \
      w -= n_zeros;                                                           \
      memset(w, '0', (size_t)n_zeros);                                        \
    }                                                                         \
    remaining -= n_chars;                                                     \
  } while (0)
  if (group > 0) {
    for (;;) {
      long m = remaining > min_width ? remaining : min_width;
      long l = group < (m > 1 ? m : 1) ? group : (m > 1 ? m : 1);
      EMIT_GROUP(l);
      use_sep = true;
      min_width -= l;
      if (remaining <= 0 && min_width <= 0) {
        broken = true;
        break;
      }
      min_width -= 1;
    }
  }
  if (!broken) {
    long m = remaining > min_width ? remaining : min_width;
    long l = m > 1 ? m : 1;
    EMIT_GROUP(l);
  }
#undef EMIT_GROUP
  return (size_t)count;
}

/* calc_number_widths() + fill_number(): writes
 *   <lpad><sign><prefix><spad><grouped digits><.><remainder><rpad>
 * digits[0..ndigits) are the integer digits; rem is what follows the decimal
 * point (or the exponent, or the 'c' character) and is copied as is. */
static void layout_number(rf_buf_t *out, const fspec_t *f, char numsign, const char *prefix,
                          size_t nprefix, const char *digits, size_t ndigits, bool has_decimal,
                          const char *rem, size_t nrem, size_t rem_chars) {
  char sign = 0;
  if (f->sign == '+')
    sign = numsign == '-' ? '-' : '+';
  else if (f->sign == ' ')
    sign = numsign == '-' ? '-' : ' ';
  else if (numsign == '-')
    sign = '-';
  long n_non = (sign ? 1 : 0) + (long)nprefix + (has_decimal ? 1 : 0) + (long)rem_chars;
  long min_width = (f->fill_is_zero && f->align == '=') ? f->width - n_non : 0;
  int group = 0;
  char sep = 0;
  if (f->thousands == LT_COMMA || f->thousands == LT_UNDER) {
    group = 3;
    sep = f->thousands == LT_COMMA ? ',' : '_';
  } else if (f->thousands == LT_UNDER4) {
    group = 4;
    sep = '_';
  }
  size_t n_grouped = ndigits ? group_digits(NULL, digits, (long)ndigits, min_width, group, sep) : 0;
  long n_pad = f->width - (n_non + (long)n_grouped);
  long lpad = 0, spad = 0, rpad = 0;
  if (n_pad > 0) {
    switch (f->align) {
    case '<': rpad = n_pad; break;
    case '^': lpad = n_pad / 2; rpad = n_pad - lpad; break;
    case '=': spad = n_pad; break;
    default: lpad = n_pad; break;
    }
  }
  put_fill(out, f->fill, f->fill_len, (size_t)lpad);
  if (sign)
    rf_buf_putc(out, sign);
  rf_buf_append(out, prefix, nprefix);
  put_fill(out, f->fill, f->fill_len, (size_t)spad);
  if (n_grouped && rf_buf_reserve(out, n_grouped)) {
    group_digits(out->data + out->len + n_grouped, digits, (long)ndigits, min_width, group, sep);
    out->len += n_grouped;
    out->data[out->len] = '\0';
  }
  if (has_decimal)
    rf_buf_putc(out, '.');
  rf_buf_append(out, rem, nrem);
  put_fill(out, f->fill, f->fill_len, (size_t)rpad);
}

int rf_py_format_str(const char *s, size_t len, const char *spec, size_t speclen, rf_buf_t *out,
                     rf_pyerr_t *err) {
  fspec_t f;
  if (parse_spec(spec, speclen, &f, 's', '<', "str", err) < 0)
    return -1;
  if (f.type != 's')
    return unknown_code(f.type, "str", err);
  if (f.sign == ' ')
    return rf_pyerr_set(err, "ValueError", "Space not allowed in string format specifier");
  if (f.sign)
    return rf_pyerr_set(err, "ValueError", "Sign not allowed in string format specifier");
  if (f.no_neg_0)
    return rf_pyerr_set(err, "ValueError",
                        "Negative zero coercion (z) not allowed in string format specifier");
  if (f.alt)
    return rf_pyerr_set(err, "ValueError",
                        "Alternate form (#) not allowed in string format specifier");
  if (f.align == '=')
    return rf_pyerr_set(err, "ValueError", "'=' alignment not allowed in string format specifier");
  if (check_limits(&f, err) < 0)
    return -1;
  size_t nchars = utf8_count(s, len);
  size_t nbytes = len;
  if (f.precision >= 0 && nchars > (size_t)f.precision) {
    nbytes = utf8_prefix(s, len, (size_t)f.precision);
    nchars = (size_t)f.precision;
  }
  size_t total = f.width > (long)nchars ? (size_t)f.width : nchars;
  size_t lpad = 0;
  if (f.align == '>')
    lpad = total - nchars;
  else if (f.align == '^')
    lpad = (total - nchars) / 2;
  put_fill(out, f.fill, f.fill_len, lpad);
  rf_buf_append(out, s, nbytes);
  put_fill(out, f.fill, f.fill_len, total - nchars - lpad);
  return finish(out, err);
}

/* Formats a double for the float presentation types (format_float_internal);
 * `f` is already parsed and its type is one of 0 e E f F g G n %. */
static int format_float_spec(double v, fspec_t *f, rf_buf_t *out, rf_pyerr_t *err) {
  if (check_limits(f, err) < 0)
    return -1;
  int precision = (int)f->precision;
  int default_precision = 6;
  int flags = 0;
  char type = (char)f->type;
  bool add_pct = false;
  if (f->alt)
    flags |= DTSF_ALT;
  if (f->no_neg_0)
    flags |= DTSF_NO_NEG_0;
  if (type == 0) {
    flags |= DTSF_ADD_DOT_0;
    type = 'r';
    default_precision = 0;
  }
  if (type == 'n')
    type = 'g';
  if (type == '%') {
    type = 'f';
    v *= 100;
    add_pct = true;
  }
  if (precision < 0)
    precision = default_precision;
  else if (type == 'r')
    type = 'g';

  /* The plain number goes into scratch memory, then is laid out. */
  scratch_t tmp;
  scratch_init(&tmp);
  int rc = 0;
  size_t n = double_to_string(v, type, precision, flags, &tmp);
  if (n == (size_t)-1 || (add_pct && !scratch_reserve(&tmp, n + 2))) {
    rc = nomem(err);
    goto done;
  }
  if (add_pct)
    tmp.p[n++] = '%';
  const char *s = tmp.p;
  char numsign = 0;
  if (n > 0 && s[0] == '-') {
    numsign = '-';
    s++;
    n--;
  }
  size_t nd = 0;
  while (nd < n && s[nd] >= '0' && s[nd] <= '9')
    nd++;
  bool has_decimal = nd < n && s[nd] == '.';
  const char *rem = s + nd + (has_decimal ? 1 : 0);
  size_t nrem = n - nd - (has_decimal ? 1 : 0);
  if (f->type == 'n')
    f->thousands = LT_LOCALE; /* C locale: '.' and no grouping */
  layout_number(out, f, numsign, "", 0, s, nd, has_decimal, rem, nrem, nrem);
  rc = finish(out, err);
done:
  scratch_free(&tmp);
  return rc;
}

int rf_py_format_float(double v, const char *spec, size_t speclen, rf_buf_t *out,
                       rf_pyerr_t *err) {
  if (speclen == 0) {
    rf_py_float_repr(v, out);
    return finish(out, err);
  }
  fspec_t f;
  if (parse_spec(spec, speclen, &f, 0, '>', "float", err) < 0)
    return -1;
  switch (f.type) {
  case 0: case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'n': case '%':
    return format_float_spec(v, &f, out, err);
  default:
    return unknown_code(f.type, "float", err);
  }
}

/* int -> float with round-half-even, as PyLong_AsDouble; OverflowError when
 * the result does not fit. */
static int mpz_to_double(const mpz_t v, double *d, rf_pyerr_t *err) {
  if (mpz_sizeinbase(v, 2) > 1024)
    return rf_pyerr_set(err, "OverflowError", "int too large to convert to float");
  if (mpz_sizeinbase(v, 2) <= 53) {
    *d = mpz_get_d(v);
    return 0;
  }
  scratch_t sc;
  scratch_init(&sc);
  size_t n = mpz_digits(v, 10, &sc);
  if (n == (size_t)-1)
    return nomem(err);
  errno = 0;
  double x = strtod(sc.p, NULL);
  scratch_free(&sc);
  if (isinf(x))
    return rf_pyerr_set(err, "OverflowError", "int too large to convert to float");
  *d = mpz_sgn(v) < 0 ? -x : x;
  return 0;
}

static int format_long_spec(const mpz_t v, fspec_t *f, rf_buf_t *out, rf_pyerr_t *err) {
  if (f->precision != -1)
    return rf_pyerr_set(err, "ValueError", "Precision not allowed in integer format specifier");
  if (f->no_neg_0)
    return rf_pyerr_set(err, "ValueError",
                        "Negative zero coercion (z) not allowed in integer format specifier");
  if (f->type == 'c') {
    if (f->sign)
      return rf_pyerr_set(err, "ValueError",
                          "Sign not allowed with integer format specifier 'c'");
    if (f->alt)
      return rf_pyerr_set(err, "ValueError",
                          "Alternate form (#) not allowed with integer format specifier 'c'");
    if (!mpz_fits_slong_p(v))
      return rf_pyerr_set(err, "OverflowError", "Python int too large to convert to C long");
    if (mpz_sgn(v) < 0 || mpz_cmp_ui(v, 0x10ffff) > 0)
      return rf_pyerr_set(err, "OverflowError", "%%c arg not in range(0x110000)");
    if (check_limits(f, err) < 0)
      return -1;
    char ch[4];
    size_t chl = utf8_encode((uint32_t)mpz_get_ui(v), ch);
    layout_number(out, f, 0, "", 0, "", 0, false, ch, chl, 1);
    return finish(out, err);
  }
  if (check_limits(f, err) < 0)
    return -1;
  int base = 10;
  const char *prefix = "";
  switch (f->type) {
  case 'b': base = 2; prefix = "0b"; break;
  case 'o': base = 8; prefix = "0o"; break;
  case 'x': base = 16; prefix = "0x"; break;
  case 'X': base = 16; prefix = "0X"; break;
  default: break;
  }
  scratch_t sc;
  scratch_init(&sc);
  size_t n = mpz_digits(v, base, &sc);
  if (n == (size_t)-1)
    return nomem(err);
  if (f->type == 'X')
    for (size_t i = 0; i < n; i++)
      if (sc.p[i] >= 'a' && sc.p[i] <= 'f')
        sc.p[i] = (char)(sc.p[i] - 32);
  if (f->type == 'n')
    f->thousands = LT_LOCALE;
  layout_number(out, f, mpz_sgn(v) < 0 ? '-' : 0, prefix, f->alt ? strlen(prefix) : 0, sc.p, n,
                false, "", 0, 0);
  scratch_free(&sc);
  return finish(out, err);
}

int rf_py_format_int(const mpz_t v, const char *spec, size_t speclen, rf_buf_t *out,
                     rf_pyerr_t *err) {
  if (speclen == 0) {
    rf_py_int_str(v, out);
    return finish(out, err);
  }
  fspec_t f;
  if (parse_spec(spec, speclen, &f, 'd', '>', "int", err) < 0)
    return -1;
  switch (f.type) {
  case 'b': case 'c': case 'd': case 'o': case 'x': case 'X': case 'n':
    return format_long_spec(v, &f, out, err);
  case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case '%': {
    double d = 0;
    if (mpz_to_double(v, &d, err) < 0)
      return -1;
    return format_float_spec(d, &f, out, err);
  }
  default:
    return unknown_code(f.type, "int", err);
  }
}

/* ---------------------------------------------------------------------- */
/* printf-style '%' formatting                                            */
/* ---------------------------------------------------------------------- */

static int pct_limit(long v, const char *what, rf_pyerr_t *err) {
  return rf_pyerr_set(err, "LimitError", "%%-format %s %ld exceeds the limit of %d", what, v,
                      RF_PYFMT_MAX_WIDTH);
}

int rf_py_pct_parse(const char *p, size_t n, size_t index, rf_py_pct_spec_t *spec,
                    rf_pyerr_t *err) {
  size_t i = 0;
  long width = -1, prec = -1;
  memset(spec, 0, sizeof(*spec));
  if (i < n && p[i] == '(')
    return rf_pyerr_set(err, "ValueError",
                        "'%%(name)' mapping keys are not supported in rectify lambdas");
  for (; i < n; i++) {
    char c = p[i];
    if (c == '-')
      spec->left = true;
    else if (c == '+')
      spec->plus = true;
    else if (c == ' ')
      spec->space = true;
    else if (c == '#')
      spec->alt = true;
    else if (c == '0')
      spec->zero = true;
    else
      break;
  }
  if (i < n && p[i] == '*')
    return rf_pyerr_set(err, "ValueError", "'*' widths are not supported in rectify lambdas");
  if (i < n && p[i] >= '0' && p[i] <= '9') {
    width = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      if (width <= RF_PYFMT_MAX_WIDTH)
        width = width * 10 + (p[i] - '0');
      i++;
    }
  }
  if (i < n && p[i] == '.') {
    prec = 0;
    i++;
    if (i < n && p[i] == '*')
      return rf_pyerr_set(err, "ValueError",
                          "'*' precisions are not supported in rectify lambdas");
    while (i < n && p[i] >= '0' && p[i] <= '9') {
      if (prec <= RF_PYFMT_MAX_WIDTH)
        prec = prec * 10 + (p[i] - '0');
      i++;
    }
  }
  if (i < n && (p[i] == 'h' || p[i] == 'l' || p[i] == 'L'))
    i++;
  if (i >= n)
    return rf_pyerr_set(err, "ValueError", "incomplete format");
  uint32_t c;
  size_t cl = utf8_decode(p + i, n - i, &c);
  if (c > 127 || !strchr("diuoxXeEfFgGcsra", (int)c) || c == 0)
    return rf_pyerr_set(err, "ValueError", "unsupported format character '%c' (0x%x) at index %zu",
                        (31 <= c && c <= 126) ? (char)c : '?', (unsigned)c, index + 1 + i);
  if (width > RF_PYFMT_MAX_WIDTH)
    return pct_limit(width, "width", err);
  if (prec > RF_PYFMT_MAX_WIDTH)
    return pct_limit(prec, "precision", err);
  spec->width = (int)width;
  spec->prec = (int)prec;
  spec->conv = (char)c;
  return (int)(i + cl);
}

/* unicode_format_arg_output(): pads one converted argument. `numeric`
 * is CPython's arg->sign (d i u o x X e E f F g G). */
static void pct_output(const rf_py_pct_spec_t *spec, const char *s, size_t n, bool numeric,
                       rf_buf_t *out) {
  char fill = numeric && spec->zero ? '0' : ' ';
  long width = spec->width;
  long len = (long)utf8_count(s, n);
  if ((width == -1 || width <= len) && (spec->prec == -1 || spec->prec >= len) && !spec->plus &&
      !spec->space) {
    rf_buf_append(out, s, n);
    return;
  }
  size_t nbytes = n;
  if ((spec->conv == 's' || spec->conv == 'r' || spec->conv == 'a') && spec->prec >= 0 &&
      len > spec->prec) {
    len = spec->prec;
    nbytes = utf8_prefix(s, n, (size_t)len);
  }
  size_t pindex = 0;
  char signchar = 0;
  bool sign = numeric;
  if (sign) {
    if (nbytes > 0 && (s[0] == '-' || s[0] == '+')) {
      signchar = s[0];
      len--;
      pindex++;
    } else if (spec->plus) {
      signchar = '+';
    } else if (spec->space) {
      signchar = ' ';
    } else {
      sign = false;
    }
  }
  if (width < len)
    width = len;
  if (sign) {
    if (fill != ' ')
      rf_buf_putc(out, signchar);
    if (width > len)
      width--;
  }
  bool prefix = spec->alt && (spec->conv == 'x' || spec->conv == 'X' || spec->conv == 'o');
  if (prefix) {
    if (fill != ' ') {
      rf_buf_append(out, s + pindex, 2);
      pindex += 2;
    }
    width -= 2;
    if (width < 0)
      width = 0;
    len -= 2;
  }
  if (width > len && !spec->left) {
    put_fill(out, &fill, 1, (size_t)(width - len));
    width = len;
  }
  if (fill == ' ') {
    if (sign)
      rf_buf_putc(out, signchar);
    if (prefix) {
      rf_buf_append(out, s + pindex, 2);
      pindex += 2;
    }
  }
  if (len > 0)
    rf_buf_append(out, s + pindex, utf8_prefix(s + pindex, nbytes - pindex, (size_t)len));
  if (width > len)
    put_fill(out, " ", 1, (size_t)(width - len));
}

int rf_py_pct_int(const rf_py_pct_spec_t *spec, const mpz_t v, rf_buf_t *out, rf_pyerr_t *err) {
  if (spec->conv == 'c') {
    if (mpz_sgn(v) < 0 || mpz_cmp_ui(v, 0x10ffff) > 0)
      return rf_pyerr_set(err, "OverflowError", "%%c arg not in range(0x110000)");
    char ch[4];
    size_t chl = utf8_encode((uint32_t)mpz_get_ui(v), ch);
    pct_output(spec, ch, chl, false, out);
    return finish(out, err);
  }
  int base = 10;
  const char *prefix = NULL;
  switch (spec->conv) {
  case 'd': case 'i': case 'u': break;
  case 'o': base = 8; prefix = "0o"; break;
  case 'x': base = 16; prefix = "0x"; break;
  case 'X': base = 16; prefix = "0X"; break;
  default:
    return rf_pyerr_set(err, "TypeError", "%%%c format: an integer conversion was expected",
                        spec->conv);
  }
  /* _PyUnicode_FormatLong: [-][0x]<zeros to prec><digits>. */
  scratch_t sc;
  scratch_init(&sc);
  size_t nd = mpz_digits(v, base, &sc);
  if (nd == (size_t)-1)
    return nomem(err);
  if (spec->conv == 'X')
    for (size_t i = 0; i < nd; i++)
      if (sc.p[i] >= 'a' && sc.p[i] <= 'f')
        sc.p[i] = (char)(sc.p[i] - 32);
  size_t zeros = spec->prec > 0 && (size_t)spec->prec > nd ? (size_t)spec->prec - nd : 0;
  char stackbuf[256];
  size_t need = nd + zeros + 4;
  char *tmp = need <= sizeof(stackbuf) ? stackbuf : rf_malloc(need);
  if (tmp == NULL) {
    scratch_free(&sc);
    return nomem(err);
  }
  size_t k = 0;
  if (mpz_sgn(v) < 0)
    tmp[k++] = '-';
  if (prefix && spec->alt) {
    memcpy(tmp + k, prefix, 2);
    k += 2;
  }
  memset(tmp + k, '0', zeros);
  k += zeros;
  memcpy(tmp + k, sc.p, nd);
  k += nd;
  scratch_free(&sc);
  pct_output(spec, tmp, k, true, out);
  if (tmp != stackbuf)
    rf_free(tmp);
  return finish(out, err);
}

int rf_py_pct_float(const rf_py_pct_spec_t *spec, double v, rf_buf_t *out, rf_pyerr_t *err) {
  if (!strchr("eEfFgG", spec->conv) || spec->conv == 0)
    return rf_pyerr_set(err, "TypeError", "%%%c format: a float conversion was expected",
                        spec->conv);
  int prec = spec->prec < 0 ? 6 : spec->prec;
  scratch_t tmp;
  scratch_init(&tmp);
  int rc;
  size_t n = double_to_string(v, spec->conv, prec, spec->alt ? DTSF_ALT : 0, &tmp);
  if (n == (size_t)-1) {
    rc = nomem(err);
  } else {
    pct_output(spec, tmp.p, n, true, out);
    rc = finish(out, err);
  }
  scratch_free(&tmp);
  return rc;
}

int rf_py_pct_str(const rf_py_pct_spec_t *spec, const char *s, size_t len, rf_buf_t *out,
                  rf_pyerr_t *err) {
  if (spec->conv == 'c') {
    size_t n = utf8_count(s, len);
    if (n != 1)
      return rf_pyerr_set(err, "TypeError", "%%c requires int or char");
  } else if (spec->conv != 's' && spec->conv != 'r' && spec->conv != 'a') {
    return rf_pyerr_set(err, "TypeError", "%%%c format: a string conversion was expected",
                        spec->conv);
  }
  pct_output(spec, s, len, false, out);
  return finish(out, err);
}

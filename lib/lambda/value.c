/* value.c - values of the lambda language and CPython's operators on them.
 *
 * A value is a 16-byte tagged union passed by value; anything bigger lives in
 * the per-evaluation arena, so an evaluation never frees individually and the
 * whole arena is recycled for the next row. Ints are int64 with an mpz (GMP)
 * slow path; an int is always in its canonical form (VT_INT when it fits), so
 * equality and hashing never need to compare representations. Strings are
 * UTF-8 slices with a cached code point count (ncp == len means ASCII, which
 * unlocks byte-indexed fast paths). Operators follow CPython 3.11's number and
 * sequence protocols, including the signs of // and %, int/float promotion,
 * exact int-float comparison and correctly rounded int true division.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda_int.h"
#include "pyfmt.h"
#include "rectify/alloc.h"

const rf__val_t rf__none = {.t = VT_NONE};
const rf__val_t rf__true = {.t = VT_BOOL, .i = 1};
const rf__val_t rf__false = {.t = VT_BOOL, .i = 0};

/* ------------------------------------------------------------------ arena */

void rf__arena_init(rf__arena_t *a, size_t max) {
  memset(a, 0, sizeof(*a));
  a->max = max;
}

static void clear_bigs(rf__arena_t *a) {
  for (rf__big_t *b = a->bigs; b; b = b->next)
    mpz_clear(b->z);
  a->bigs = NULL;
}

void rf__arena_reset(rf__arena_t *a) {
  clear_bigs(a);
  if (!a->head)
    return;
  /* keep the largest chunk (the head after growth) */
  rf__chunk_t *keep = a->head, *c = keep->next;
  while (c) {
    rf__chunk_t *nx = c->next;
    rf_free(c);
    c = nx;
  }
  keep->next = NULL;
  keep->used = 0;
  a->total = 0;
}

void rf__arena_free(rf__arena_t *a) {
  clear_bigs(a);
  rf__chunk_t *c = a->head;
  while (c) {
    rf__chunk_t *nx = c->next;
    rf_free(c);
    c = nx;
  }
  a->head = NULL;
  a->total = 0;
}

void *rf__arena_alloc(rf__arena_t *a, size_t n, bool *limit) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0)
    n = 16;
  rf__chunk_t *h = a->head;
  if (h && h->cap - h->used >= n) {
    void *p = h->data + h->used;
    h->used += n;
    a->total += n;
    return p;
  }
  if (a->max && a->total + n > a->max) {
    if (limit)
      *limit = true;
    return NULL;
  }
  size_t cap = h ? h->cap * 2 : 8192;
  if (cap > (4u << 20))
    cap = 4u << 20;
  if (cap < n)
    cap = n;
  rf__chunk_t *c = rf_malloc(sizeof(*c) + cap);
  if (!c) {
    if (limit)
      *limit = false;
    return NULL;
  }
  c->cap = cap;
  c->used = n;
  if (h && h->cap - h->used > cap - n) {
    /* the old head still has more room: put the new chunk behind it */
    c->next = h->next;
    h->next = c;
  } else {
    c->next = h;
    a->head = c;
  }
  a->total += n;
  return c->data;
}

/* ------------------------------------------------------------------ raising */

void rf__raise(rf__ctx_t *c, const char *type, const char *fmt, ...) {
  va_list ap;
  c->err.type = type;
  va_start(ap, fmt);
  vsnprintf(c->err.msg, sizeof(c->err.msg), fmt, ap);
  va_end(ap);
  _longjmp(c->jb, 1);
}

void rf__raise_err(rf__ctx_t *c, const rf_pyerr_t *e) {
  if (e != &c->err)
    c->err = *e;
  if (!c->err.type)
    c->err.type = "SystemError";
  _longjmp(c->jb, 1);
}

void rf__raise_oom(rf__ctx_t *c) {
  c->oom = true;
  c->err.type = "MemoryError";
  snprintf(c->err.msg, sizeof(c->err.msg), "out of memory");
  _longjmp(c->jb, 1);
}

void *rf__alloc(rf__ctx_t *c, size_t n) {
  bool limit = false;
  void *p = rf__arena_alloc(&c->arena, n, &limit);
  if (!p) {
    if (limit)
      rf__raise(c, "LimitError", "memory limit exceeded (%zu bytes)", c->arena.max);
    rf__raise_oom(c);
  }
  return p;
}

void rf__steps(rf__ctx_t *c, uint64_t n) {
  c->steps += n;
  if (c->steps > c->max_steps)
    rf__raise(c, "LimitError", "step limit exceeded (%llu steps)",
              (unsigned long long)c->max_steps);
}

/* ------------------------------------------------------------------ UTF-8 */

int rf__utf8_put(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* decode at p[*i] (valid UTF-8 assumed) */
uint32_t rf__utf8_get(const char *p, size_t *i) {
  const unsigned char *s = (const unsigned char *)p + *i;
  if (s[0] < 0x80) {
    (*i)++;
    return s[0];
  }
  if (s[0] < 0xE0) {
    *i += 2;
    return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
  }
  if (s[0] < 0xF0) {
    *i += 3;
    return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
  }
  *i += 4;
  return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
         ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

size_t rf__utf8_count(const char *p, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += ((unsigned char)p[i] & 0xC0) != 0x80;
  return n;
}

size_t rf__cp_offset(const rf__str_t *s, size_t cpi) {
  if (s->ncp == s->len)
    return cpi;
  if (cpi >= s->ncp)
    return s->len;
  size_t i = 0, k = 0;
  while (k < cpi) {
    i++;
    while (i < s->len && ((unsigned char)s->p[i] & 0xC0) == 0x80)
      i++;
    k++;
  }
  return i;
}

/* ------------------------------------------------------------------ constructors */

rf__val_t rf__v_int(int64_t i) {
  rf__val_t v = {.t = VT_INT};
  v.i = i;
  return v;
}
rf__val_t rf__v_bool(bool b) { return b ? rf__true : rf__false; }
rf__val_t rf__v_float(double f) {
  rf__val_t v = {.t = VT_FLOAT};
  v.f = f;
  return v;
}

rf__big_t *rf__big_new(rf__ctx_t *c) {
  rf__big_t *b = rf__alloc(c, sizeof(*b));
  mpz_init(b->z);
  b->next = c->arena.bigs;
  c->arena.bigs = b;
  return b;
}

static size_t max_int_bits(const rf__ctx_t *c) {
  return c->l->lim.max_int_digits * 2 * 3322 / 1000 + 64;
}

rf__val_t rf__v_big(rf__ctx_t *c, const mpz_t z) {
  if (mpz_fits_slong_p(z))
    return rf__v_int(mpz_get_si(z));
  if (mpz_sizeinbase(z, 2) > max_int_bits(c))
    rf__raise(c, "LimitError", "integer result too large (limit %zu digits)",
              c->l->lim.max_int_digits * 2);
  rf__big_t *b = rf__big_new(c);
  mpz_set(b->z, z);
  rf__val_t v = {.t = VT_BIG};
  v.z = b;
  return v;
}

/* result of an mpz computation held in a fresh big: canonicalise */
static rf__val_t big_result(rf__ctx_t *c, rf__big_t *b) {
  if (mpz_fits_slong_p(b->z))
    return rf__v_int(mpz_get_si(b->z));
  if (mpz_sizeinbase(b->z, 2) > max_int_bits(c))
    rf__raise(c, "LimitError", "integer result too large (limit %zu digits)",
              c->l->lim.max_int_digits * 2);
  rf__val_t v = {.t = VT_BIG};
  v.z = b;
  return v;
}

rf__val_t rf__v_str(rf__ctx_t *c, const char *p, size_t len, size_t ncp) {
  if (len > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  rf__str_t *s = rf__alloc(c, sizeof(*s));
  s->p = p;
  s->len = len;
  s->ncp = ncp;
  rf__val_t v = {.t = VT_STR};
  v.s = s;
  return v;
}

rf__val_t rf__v_strcopy(rf__ctx_t *c, const char *p, size_t len) {
  if (len > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  char *q = rf__alloc(c, len ? len : 1);
  if (len)
    memcpy(q, p, len);
  return rf__v_str(c, q, len, rf__utf8_count(q, len));
}

rf__val_t rf__v_strbuf(rf__ctx_t *c, rf_buf_t *b) {
  if (!rf_buf_ok(b)) {
    rf_buf_reset(b);
    rf__raise_oom(c);
  }
  if (b->len > c->l->lim.max_str_bytes) {
    rf_buf_reset(b);
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  }
  rf__val_t v = rf__v_strcopy(c, b->data ? b->data : "", b->len);
  rf_buf_reset(b);
  return v;
}

rf__val_t rf__v_seq(rf__ctx_t *c, uint32_t t, size_t n) {
  if (n > c->l->lim.max_list_items)
    rf__raise(c, "LimitError", "%s too long (limit %zu items)", t == VT_LIST ? "list" : "tuple",
              c->l->lim.max_list_items);
  rf__seq_t *q = rf__alloc(c, sizeof(*q) + n * sizeof(rf__val_t));
  q->n = n;
  q->it = (rf__val_t *)(q + 1);
  rf__val_t v = {.t = t};
  v.q = q;
  return v;
}

/* ------------------------------------------------------------------ basics */

const char *rf__type_name(rf__val_t v) {
  switch (v.t) {
  case VT_NONE: return "NoneType";
  case VT_BOOL: return "bool";
  case VT_INT:
  case VT_BIG: return "int";
  case VT_FLOAT: return "float";
  case VT_STR: return "str";
  case VT_LIST: return "list";
  case VT_TUPLE: return "tuple";
  case VT_DICT: return "dict";
  case VT_MATCH: return "re.Match";
  case VT_DATETIME: return v.dt->is_date ? "date" : "datetime";
  case VT_RANGE: return "range";
  }
  return "object";
}

/* type(x).__name__ (for messages CPython prints the short name: 'Match') */
static const char *short_type(rf__val_t v) { return v.t == VT_MATCH ? "re.Match" : rf__type_name(v); }

static int64_t range_len(const rf__range_t *r) {
  if (r->step > 0 && r->start < r->stop)
    return (int64_t)(((__int128)r->stop - r->start - 1) / r->step + 1);
  if (r->step < 0 && r->start > r->stop)
    return (int64_t)(((__int128)r->start - r->stop - 1) / (-(__int128)r->step) + 1);
  return 0;
}

bool rf__truthy(rf__val_t v) {
  switch (v.t) {
  case VT_NONE: return false;
  case VT_BOOL:
  case VT_INT: return v.i != 0;
  case VT_BIG: return true;
  case VT_FLOAT: return v.f != 0.0;
  case VT_STR: return v.s->len != 0;
  case VT_LIST:
  case VT_TUPLE: return v.q->n != 0;
  case VT_DICT: return v.d->n != 0;
  case VT_RANGE: return range_len(v.r) != 0;
  default: return true;
  }
}

bool rf__is_int(rf__val_t v) { return v.t == VT_INT || v.t == VT_BIG || v.t == VT_BOOL; }

void rf__get_mpz(rf__val_t v, mpz_t z) {
  if (v.t == VT_BIG)
    mpz_set(z, v.z->z);
  else
    mpz_set_si(z, (long)v.i);
}

double rf__to_double(rf__ctx_t *c, rf__val_t v) {
  if (v.t == VT_FLOAT)
    return v.f;
  if (v.t == VT_INT || v.t == VT_BOOL)
    return (double)v.i;
  /* big: correctly rounded (round-half-even) like CPython's PyLong_AsDouble */
  mpz_srcptr z = v.z->z;
  size_t bits = mpz_sizeinbase(z, 2);
  if (bits > 1024)
    rf__raise(c, "OverflowError", "int too large to convert to float");
  mpz_t t;
  mpz_init(t);
  mpz_abs(t, z);
  size_t shift = bits > 64 ? bits - 64 : 0;
  bool sticky = shift && mpz_scan1(t, 0) < shift;
  mpz_tdiv_q_2exp(t, t, shift);
  uint64_t top = mpz_getlimbn(t, 0);
  mpz_clear(t);
  /* top has 64 bits; reduce to 63 + sticky so the hardware conversion rounds right */
  uint64_t half = top >> 1;
  if ((top & 1) || sticky)
    half |= 1;
  double d = ldexp((double)half, (int)shift + 1);
  if (isinf(d))
    rf__raise(c, "OverflowError", "int too large to convert to float");
  return mpz_sgn(z) < 0 ? -d : d;
}

int64_t rf__index(rf__ctx_t *c, rf__val_t v, const char *what) {
  if (v.t == VT_INT || v.t == VT_BOOL)
    return v.i;
  if (v.t == VT_BIG)
    return mpz_sgn(v.z->z) < 0 ? INT64_MIN : INT64_MAX; /* clamped like slice indices */
  rf__raise(c, "TypeError", "%s", what);
}

/* ------------------------------------------------------------------ str() and repr() */

void rf__check_int_str(rf__ctx_t *c, const mpz_t z) {
  size_t limit = c->l->lim.max_int_digits;
  size_t bits = mpz_sizeinbase(z, 2);
  /* CPython checks an estimate first, then the exact count */
  if (bits / 3.33 > (double)limit + 2 || mpz_sizeinbase(z, 10) > limit + 1) {
    mpz_t t;
    mpz_init(t);
    mpz_abs(t, z);
    size_t digits = mpz_sizeinbase(t, 10);
    mpz_ui_pow_ui(t, 10, digits - 1);
    mpz_t a;
    mpz_init(a);
    mpz_abs(a, z);
    if (mpz_cmp(a, t) < 0)
      digits--;
    mpz_clear(t);
    mpz_clear(a);
    if (digits > limit)
      rf__raise(c, "ValueError",
                "Exceeds the limit (%zu digits) for integer string conversion; use "
                "sys.set_int_max_str_digits() to increase the limit",
                limit);
  }
}

void rf__int_str(rf__ctx_t *c, rf__val_t v, rf_buf_t *out) {
  if (v.t == VT_BIG) {
    rf__check_int_str(c, v.z->z);
    rf_py_int_str(v.z->z, out);
  } else {
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v.i);
    rf_buf_append(out, tmp, (size_t)n);
  }
}

/* repr(float). Most data values have few decimals: when some k <= 6 gives an
 * integer m with m / 10**k == f exactly (IEEE division is correctly rounded,
 * so this is "the decimal m e-k reads back as f"), the smallest such k is
 * the shortest repr (|f| < 1e9 keeps 10**-k well above the float spacing, so
 * at most one m can round-trip per k and llround finds it). Anything else
 * goes to the general shortest-repr code of pyfmt.c. */
void rf__float_str(double f, rf_buf_t *out) {
  static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  double a = fabs(f);
  if (a >= 1e-4 && a < 1e9) {
    for (int k = 0; k <= 6; k++) {
      double scaled = a * p10[k];
      long long m = llround(scaled);
      if ((double)m / p10[k] != a)
        continue;
      /* digits of m, right to left: k decimals (or "0"), the point, the integer part */
      char tmp[48];
      char *e = tmp + sizeof(tmp), *w = e;
      if (k == 0) {
        *--w = '0';
      } else {
        for (int j = 0; j < k; j++) {
          *--w = (char)('0' + m % 10);
          m /= 10;
        }
      }
      *--w = '.';
      if (m == 0)
        *--w = '0';
      while (m > 0) {
        *--w = (char)('0' + m % 10);
        m /= 10;
      }
      if (f < 0)
        *--w = '-';
      rf_buf_append(out, w, (size_t)(e - w));
      return;
    }
  }
  rf_py_float_repr(f, out);
}

void rf__repr_str(const char *p, size_t len, rf_buf_t *out, bool ascii) {
  bool sq = false, dq = false;
  for (size_t i = 0; i < len; i++) {
    if (p[i] == '\'')
      sq = true;
    else if (p[i] == '"')
      dq = true;
  }
  char q = sq && !dq ? '"' : '\'';
  rf_buf_putc(out, q);
  for (size_t i = 0; i < len;) {
    unsigned char ch = (unsigned char)p[i];
    if (ch < 0x80) {
      i++;
      if (ch == (unsigned char)q || ch == '\\') {
        rf_buf_putc(out, '\\');
        rf_buf_putc(out, (char)ch);
      } else if (ch == '\t') {
        rf_buf_puts(out, "\\t");
      } else if (ch == '\n') {
        rf_buf_puts(out, "\\n");
      } else if (ch == '\r') {
        rf_buf_puts(out, "\\r");
      } else if (ch < 0x20 || ch == 0x7f) {
        rf_buf_printf(out, "\\x%02x", ch);
      } else {
        rf_buf_putc(out, (char)ch);
      }
      continue;
    }
    size_t st = i;
    uint32_t cp = rf__utf8_get(p, &i);
    if (!ascii && rf__u_isprintable(cp)) {
      rf_buf_append(out, p + st, i - st);
    } else if (cp <= 0xff) {
      rf_buf_printf(out, "\\x%02x", cp);
    } else if (cp <= 0xffff) {
      rf_buf_printf(out, "\\u%04x", cp);
    } else {
      rf_buf_printf(out, "\\U%08x", cp);
    }
  }
  rf_buf_putc(out, q);
}

static void repr_dt(const rf_py_datetime_t *dt, rf_buf_t *out) {
  if (dt->is_date) {
    rf_buf_printf(out, "datetime.date(%d, %d, %d)", dt->year, dt->month, dt->day);
    return;
  }
  rf_buf_printf(out, "datetime.datetime(%d, %d, %d, %d, %d", dt->year, dt->month, dt->day,
                dt->hour, dt->minute);
  if (dt->second || dt->microsecond)
    rf_buf_printf(out, ", %d", dt->second);
  if (dt->microsecond)
    rf_buf_printf(out, ", %d", dt->microsecond);
  if (dt->aware) {
    long total_us = (long)dt->utcoffset_s * 1000000L + dt->utcoffset_us;
    if (total_us == 0 && !dt->tzname[0]) {
      rf_buf_puts(out, ", tzinfo=datetime.timezone.utc)");
      return;
    }
    long days = total_us >= 0 ? 0 : -1;
    long rem = total_us - days * 86400L * 1000000L;
    long secs = rem / 1000000L, us = rem % 1000000L;
    rf_buf_puts(out, ", tzinfo=datetime.timezone(datetime.timedelta(");
    bool first = true;
    if (days) {
      rf_buf_printf(out, "days=%ld", days);
      first = false;
    }
    if (secs) {
      rf_buf_printf(out, "%sseconds=%ld", first ? "" : ", ", secs);
      first = false;
    }
    if (us) {
      rf_buf_printf(out, "%smicroseconds=%ld", first ? "" : ", ", us);
      first = false;
    }
    if (first)
      rf_buf_puts(out, "0");
    rf_buf_puts(out, ")");
    if (dt->tzname[0]) {
      rf_buf_puts(out, ", ");
      rf__repr_str(dt->tzname, strlen(dt->tzname), out, false);
    }
    rf_buf_puts(out, "))");
    return;
  }
  rf_buf_putc(out, ')');
}

void rf__repr_of(rf__ctx_t *c, rf__val_t v, rf_buf_t *out, bool ascii) {
  switch (v.t) {
  case VT_STR:
    rf__work(c, v.s->len);
    rf__repr_str(v.s->p, v.s->len, out, ascii);
    return;
  case VT_LIST:
  case VT_TUPLE:
    rf__work(c, v.q->n);
    rf_buf_putc(out, v.t == VT_LIST ? '[' : '(');
    for (size_t i = 0; i < v.q->n; i++) {
      if (i)
        rf_buf_puts(out, ", ");
      rf__repr_of(c, v.q->it[i], out, ascii);
    }
    if (v.t == VT_TUPLE && v.q->n == 1)
      rf_buf_putc(out, ',');
    rf_buf_putc(out, v.t == VT_LIST ? ']' : ')');
    break;
  case VT_DICT:
    rf__work(c, v.d->n);
    rf_buf_putc(out, '{');
    for (size_t i = 0; i < v.d->n; i++) {
      if (i)
        rf_buf_puts(out, ", ");
      rf__repr_of(c, v.d->k[i], out, ascii);
      rf_buf_puts(out, ": ");
      rf__repr_of(c, v.d->v[i], out, ascii);
    }
    rf_buf_putc(out, '}');
    break;
  case VT_MATCH: {
    const rf__match_t *m = v.m;
    long s = m->span[0], e = m->span[1];
    long cs = (long)rf__utf8_count(m->subj->p, (size_t)s);
    long ce = cs + (long)rf__utf8_count(m->subj->p + s, (size_t)(e - s));
    rf_buf_printf(out, "<re.Match object; span=(%ld, %ld), match=", cs, ce);
    rf__repr_str(m->subj->p + s, (size_t)(e - s), out, ascii);
    rf_buf_putc(out, '>');
    break;
  }
  case VT_DATETIME:
    repr_dt(v.dt, out);
    break;
  default:
    rf__str_of(c, v, out);
    return;
  }
  if (out->len > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
}

void rf__str_of(rf__ctx_t *c, rf__val_t v, rf_buf_t *out) {
  switch (v.t) {
  case VT_NONE: rf_buf_puts(out, "None"); return;
  case VT_BOOL: rf_buf_puts(out, v.i ? "True" : "False"); return;
  case VT_INT:
  case VT_BIG: rf__int_str(c, v, out); return;
  case VT_FLOAT: rf__float_str(v.f, out); return;
  case VT_STR: rf_buf_append(out, v.s->p, v.s->len); return;
  case VT_DATETIME:
    rf_py_isoformat(v.dt, ' ', out);
    return;
  case VT_RANGE:
    if (v.r->step == 1)
      rf_buf_printf(out, "range(%lld, %lld)", (long long)v.r->start, (long long)v.r->stop);
    else
      rf_buf_printf(out, "range(%lld, %lld, %lld)", (long long)v.r->start, (long long)v.r->stop,
                    (long long)v.r->step);
    return;
  default: rf__repr_of(c, v, out, false); return;
  }
}

rf__val_t rf__to_str(rf__ctx_t *c, rf__val_t v) {
  if (v.t == VT_STR)
    return v;
  rf_buf_reset(&c->tmp);
  rf__str_of(c, v, &c->tmp);
  return rf__v_strbuf(c, &c->tmp);
}

/* ------------------------------------------------------------------ comparisons */

static bool is_num(rf__val_t v) {
  return v.t == VT_INT || v.t == VT_BIG || v.t == VT_BOOL || v.t == VT_FLOAT;
}

/* -1, 0, 1 for numbers; 2 when unordered (NaN) */
static int num_cmp(rf__val_t a, rf__val_t b) {
  if (a.t != VT_FLOAT && b.t != VT_FLOAT) {
    if (a.t != VT_BIG && b.t != VT_BIG)
      return (a.i > b.i) - (a.i < b.i);
    if (a.t == VT_BIG && b.t == VT_BIG)
      return mpz_cmp(a.z->z, b.z->z) > 0 ? 1 : mpz_cmp(a.z->z, b.z->z) < 0 ? -1 : 0;
    if (a.t == VT_BIG)
      return mpz_sgn(a.z->z);
    return -mpz_sgn(b.z->z);
  }
  if (a.t == VT_FLOAT && b.t == VT_FLOAT) {
    if (isnan(a.f) || isnan(b.f))
      return 2;
    return (a.f > b.f) - (a.f < b.f);
  }
  /* int vs float: exact */
  bool swap = a.t != VT_FLOAT;
  double f = swap ? b.f : a.f;
  rf__val_t iv = swap ? a : b;
  int r;
  if (isnan(f))
    return 2;
  if (iv.t == VT_BIG) {
    r = mpz_cmp_d(iv.z->z, f); /* int vs float */
    r = r > 0 ? 1 : r < 0 ? -1 : 0;
  } else if (iv.i > -(INT64_C(1) << 53) && iv.i < (INT64_C(1) << 53)) {
    double d = (double)iv.i;
    r = (d > f) - (d < f);
  } else {
    mpz_t z;
    mpz_init_set_si(z, (long)iv.i);
    r = mpz_cmp_d(z, f);
    r = r > 0 ? 1 : r < 0 ? -1 : 0;
    mpz_clear(z);
  }
  /* r compares int to float */
  return swap ? r : -r;
}

static int str_cmp(const rf__str_t *a, const rf__str_t *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int r = n ? memcmp(a->p, b->p, n) : 0;
  if (r)
    return r < 0 ? -1 : 1;
  return (a->len > b->len) - (a->len < b->len);
}

static int dt_cmp(const rf_py_datetime_t *a, const rf_py_datetime_t *b) {
  int x[7] = {a->year, a->month, a->day, a->hour, a->minute, a->second, a->microsecond};
  int y[7] = {b->year, b->month, b->day, b->hour, b->minute, b->second, b->microsecond};
  for (int i = 0; i < 7; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

bool rf__eq(rf__ctx_t *c, rf__val_t a, rf__val_t b) {
  if (is_num(a) && is_num(b))
    return num_cmp(a, b) == 0;
  if (a.t != b.t)
    return false;
  switch (a.t) {
  case VT_NONE: return true;
  case VT_STR:
    return a.s->len == b.s->len && (a.s->p == b.s->p || memcmp(a.s->p, b.s->p, a.s->len) == 0);
  case VT_LIST:
  case VT_TUPLE:
    if (a.q->n != b.q->n)
      return false;
    rf__work(c, a.q->n);
    for (size_t i = 0; i < a.q->n; i++)
      if (!rf__eq(c, a.q->it[i], b.q->it[i]))
        return false;
    return true;
  case VT_DICT:
    if (a.d->n != b.d->n)
      return false;
    for (size_t i = 0; i < a.d->n; i++) {
      size_t j;
      for (j = 0; j < b.d->n; j++)
        if (rf__eq(c, a.d->k[i], b.d->k[j]))
          break;
      if (j == b.d->n || !rf__eq(c, a.d->v[i], b.d->v[j]))
        return false;
    }
    return true;
  case VT_DATETIME:
    if (a.dt->is_date != b.dt->is_date || a.dt->aware != b.dt->aware)
      return false;
    return dt_cmp(a.dt, b.dt) == 0;
  case VT_RANGE: {
    int64_t la = range_len(a.r), lb = range_len(b.r);
    if (la != lb)
      return false;
    if (la == 0)
      return true;
    if (a.r->start != b.r->start)
      return false;
    return la == 1 || a.r->step == b.r->step;
  }
  default: return a.m == b.m;
  }
}

static const char *op_sym(int op) {
  switch (op) {
  case OP_LT: return "<";
  case OP_LE: return "<=";
  case OP_GT: return ">";
  case OP_GE: return ">=";
  default: return "?";
  }
}

static bool ord_result(int r, int op) {
  switch (op) {
  case OP_LT: return r < 0;
  case OP_LE: return r <= 0;
  case OP_GT: return r > 0;
  default: return r >= 0;
  }
}

bool rf__compare(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b) {
  switch (op) {
  case OP_EQ: return rf__eq(c, a, b);
  case OP_NE: return !rf__eq(c, a, b);
  case OP_IN: return rf__contains(c, b, a);
  case OP_NOTIN: return !rf__contains(c, b, a);
  case OP_IS:
  case OP_ISNOT: {
    bool same = a.t == b.t && (a.t == VT_NONE || (a.t == VT_BOOL && a.i == b.i));
    return op == OP_IS ? same : !same;
  }
  default: break;
  }
  if (is_num(a) && is_num(b)) {
    int r = num_cmp(a, b);
    return r != 2 && ord_result(r, op);
  }
  if (a.t == b.t) {
    if (a.t == VT_STR)
      return ord_result(str_cmp(a.s, b.s), op);
    if (a.t == VT_LIST || a.t == VT_TUPLE) {
      size_t n = a.q->n < b.q->n ? a.q->n : b.q->n;
      rf__work(c, n);
      for (size_t i = 0; i < n; i++)
        if (!rf__eq(c, a.q->it[i], b.q->it[i]))
          return rf__compare(c, op, a.q->it[i], b.q->it[i]);
      return ord_result((a.q->n > b.q->n) - (a.q->n < b.q->n), op);
    }
    if (a.t == VT_DATETIME && a.dt->is_date == b.dt->is_date && a.dt->aware == b.dt->aware)
      return ord_result(dt_cmp(a.dt, b.dt), op);
    if (a.t == VT_DATETIME && a.dt->is_date == b.dt->is_date)
      rf__raise(c, "TypeError", "can't compare offset-naive and offset-aware datetimes");
  }
  rf__raise(c, "TypeError", "'%s' not supported between instances of '%s' and '%s'", op_sym(op),
            short_type(a), short_type(b));
}

bool rf__lt(rf__ctx_t *c, rf__val_t a, rf__val_t b) { return rf__compare(c, OP_LT, a, b); }

rf__val_t rf__hash_check(rf__ctx_t *c, rf__val_t key) {
  if (key.t == VT_LIST || key.t == VT_DICT)
    rf__raise(c, "TypeError", "unhashable type: '%s'", rf__type_name(key));
  if (key.t == VT_TUPLE)
    for (size_t i = 0; i < key.q->n; i++)
      rf__hash_check(c, key.q->it[i]);
  return key;
}

static const char *str_find(const char *h, size_t hl, const char *n, size_t nl) {
  if (nl == 0)
    return h;
  if (nl > hl)
    return NULL;
  return memmem(h, hl, n, nl);
}

bool rf__contains(rf__ctx_t *c, rf__val_t cont, rf__val_t item) {
  switch (cont.t) {
  case VT_STR:
    if (item.t != VT_STR)
      rf__raise(c, "TypeError", "'in <string>' requires string as left operand, not %s",
                rf__type_name(item));
    rf__work(c, cont.s->len);
    return str_find(cont.s->p, cont.s->len, item.s->p, item.s->len) != NULL;
  case VT_LIST:
  case VT_TUPLE:
    rf__work(c, cont.q->n);
    for (size_t i = 0; i < cont.q->n; i++)
      if (rf__eq(c, cont.q->it[i], item))
        return true;
    return false;
  case VT_DICT:
    rf__hash_check(c, item);
    for (size_t i = 0; i < cont.d->n; i++)
      if (rf__eq(c, cont.d->k[i], item))
        return true;
    return false;
  case VT_RANGE: {
    const rf__range_t *r = cont.r;
    if (item.t == VT_INT || item.t == VT_BOOL) {
      __int128 v = item.i;
      if (r->step > 0 ? (v < r->start || v >= r->stop) : (v > r->start || v <= r->stop))
        return false;
      return (v - r->start) % r->step == 0;
    }
    if (item.t == VT_BIG)
      return false;
    /* other values: compare one by one, as CPython does */
    int64_t n = range_len(r);
    rf__steps(c, (uint64_t)n);
    for (int64_t i = 0; i < n; i++)
      if (rf__eq(c, rf__v_int(r->start + i * r->step), item))
        return true;
    return false;
  }
  default:
    rf__raise(c, "TypeError", "argument of type '%s' is not iterable", short_type(cont));
  }
}

/* ------------------------------------------------------------------ arithmetic */

_Noreturn static void unsupported(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b) {
  static const char *const sym[] = {"", "+", "-", "*", "/", "//", "%", "** or pow()", "@",
                                    "<<", ">>", "&", "|", "^"};
  rf__raise(c, "TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", sym[op],
            short_type(a), short_type(b));
}

static double float_floordiv_mod(rf__ctx_t *c, double vx, double wx, double *modp, int op) {
  if (wx == 0.0)
    rf__raise(c, "ZeroDivisionError", op == OP_MOD ? "float modulo" : "float floor division by zero");
  double mod = fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = copysign(0.0, wx);
  }
  double floordiv;
  if (div) {
    floordiv = floor(div);
    if (div - floordiv > 0.5)
      floordiv += 1.0;
  } else {
    floordiv = copysign(0.0, vx / wx);
  }
  *modp = mod;
  return floordiv;
}

static rf__val_t float_pow(rf__ctx_t *c, double iv, double iw) {
  if (iw == 0)
    return rf__v_float(1.0);
  if (isnan(iv))
    return rf__v_float(iv);
  if (isnan(iw))
    return rf__v_float(iv == 1.0 ? 1.0 : iw);
  if (isinf(iw)) {
    iv = fabs(iv);
    if (iv == 1.0)
      return rf__v_float(1.0);
    if ((iw > 0) == (iv > 1.0))
      return rf__v_float(fabs(iw));
    return rf__v_float(0.0);
  }
  if (isinf(iv)) {
    bool odd = fmod(fabs(iw), 2.0) == 1.0;
    if (iw > 0)
      return rf__v_float(odd ? iv : fabs(iv));
    return rf__v_float(odd ? copysign(0.0, iv) : 0.0);
  }
  if (iv == 0.0) {
    if (iw < 0)
      rf__raise(c, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
    bool odd = fmod(fabs(iw), 2.0) == 1.0;
    return rf__v_float(odd ? iv : 0.0);
  }
  if (iv < 0.0 && floor(iw) != iw)
    rf__raise(c, "ValueError",
              "complex results are not supported (negative number to a fractional power)");
  if (iv == 1.0)
    return rf__v_float(1.0);
  double r = pow(iv, iw);
  if (isinf(r))
    rf__raise(c, "OverflowError", "(34, 'Numerical result out of range')");
  return rf__v_float(r);
}

/* correctly rounded a / b for ints (CPython's long_true_divide) */
static double int_truediv(rf__ctx_t *c, rf__val_t a, rf__val_t b) {
  if (a.t != VT_BIG && b.t != VT_BIG) {
    if (b.i == 0)
      rf__raise(c, "ZeroDivisionError", "division by zero");
    if (a.i > -(INT64_C(1) << 53) && a.i < (INT64_C(1) << 53) && b.i > -(INT64_C(1) << 53) &&
        b.i < (INT64_C(1) << 53))
      return (double)a.i / (double)b.i;
  }
  mpz_t x, y, q, r;
  mpz_inits(x, y, q, r, NULL);
  rf__get_mpz(a, x);
  rf__get_mpz(b, y);
  if (mpz_sgn(y) == 0) {
    mpz_clears(x, y, q, r, NULL);
    rf__raise(c, "ZeroDivisionError", "division by zero");
  }
  int neg = (mpz_sgn(x) < 0) != (mpz_sgn(y) < 0);
  mpz_abs(x, x);
  mpz_abs(y, y);
  if (mpz_sgn(x) == 0) {
    mpz_clears(x, y, q, r, NULL);
    return neg ? -0.0 : 0.0;
  }
  long e = (long)mpz_sizeinbase(x, 2) - (long)mpz_sizeinbase(y, 2);
  long s = 55 - e; /* quotient gets 55 or 56 bits */
  if (s > 0)
    mpz_mul_2exp(x, x, (mp_bitcnt_t)s);
  else if (s < 0)
    mpz_mul_2exp(y, y, (mp_bitcnt_t)-s);
  mpz_tdiv_qr(q, r, x, y);
  uint64_t qq = mpz_get_ui(q);
  if (mpz_sgn(r))
    qq |= 1;
  mpz_clears(x, y, q, r, NULL);
  double d = ldexp((double)qq, (int)-s);
  if (isinf(d))
    rf__raise(c, "OverflowError", "integer division result too large for a float");
  return neg ? -d : d;
}

static void check_bits(rf__ctx_t *c, double bits) {
  if (bits > (double)max_int_bits(c))
    rf__raise(c, "LimitError", "integer result too large (limit %zu digits)",
              c->l->lim.max_int_digits * 2);
}

static rf__val_t int_binop(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b) {
  bool small = a.t != VT_BIG && b.t != VT_BIG;
  int64_t x = a.i, y = b.i, r;
  if (small) {
    switch (op) {
    case OP_ADD:
      if (!__builtin_add_overflow(x, y, &r))
        return rf__v_int(r);
      break;
    case OP_SUB:
      if (!__builtin_sub_overflow(x, y, &r))
        return rf__v_int(r);
      break;
    case OP_MUL:
      if (!__builtin_mul_overflow(x, y, &r))
        return rf__v_int(r);
      break;
    case OP_FLOORDIV:
    case OP_MOD:
      if (y == 0)
        rf__raise(c, "ZeroDivisionError",
                  op == OP_MOD ? "integer division or modulo by zero"
                               : "integer division or modulo by zero");
      if (!(x == INT64_MIN && y == -1)) {
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          q--;
          m += y;
        }
        return rf__v_int(op == OP_MOD ? m : q);
      }
      break;
    case OP_BITAND: return a.t == VT_BOOL && b.t == VT_BOOL ? rf__v_bool(x & y) : rf__v_int(x & y);
    case OP_BITOR: return a.t == VT_BOOL && b.t == VT_BOOL ? rf__v_bool(x | y) : rf__v_int(x | y);
    case OP_BITXOR: return a.t == VT_BOOL && b.t == VT_BOOL ? rf__v_bool(x ^ y) : rf__v_int(x ^ y);
    case OP_RSHIFT:
      if (y < 0)
        rf__raise(c, "ValueError", "negative shift count");
      return rf__v_int(y >= 64 ? (x < 0 ? -1 : 0) : (x >> y));
    case OP_LSHIFT:
      if (y < 0)
        rf__raise(c, "ValueError", "negative shift count");
      if (x == 0)
        return rf__v_int(0);
      if (y < 62) {
        int64_t lim = INT64_MAX >> y;
        if (x <= lim && x >= -lim)
          return rf__v_int(x * ((int64_t)1 << y));
      }
      break;
    default: break;
    }
  }
  if (op == OP_DIV)
    return rf__v_float(int_truediv(c, a, b));
  mpz_t x2, y2;
  mpz_inits(x2, y2, NULL);
  rf__get_mpz(a, x2);
  rf__get_mpz(b, y2);
  rf__big_t *res = NULL;
  const char *err = NULL;
  switch (op) {
  case OP_ADD: res = rf__big_new(c); mpz_add(res->z, x2, y2); break;
  case OP_SUB: res = rf__big_new(c); mpz_sub(res->z, x2, y2); break;
  case OP_MUL:
    if ((double)mpz_sizeinbase(x2, 2) + (double)mpz_sizeinbase(y2, 2) >
        (double)max_int_bits(c) + 2) {
      err = "mul";
      break;
    }
    res = rf__big_new(c);
    mpz_mul(res->z, x2, y2);
    break;
  case OP_FLOORDIV:
  case OP_MOD:
    if (mpz_sgn(y2) == 0) {
      err = "zero";
      break;
    }
    res = rf__big_new(c);
    if (op == OP_FLOORDIV)
      mpz_fdiv_q(res->z, x2, y2);
    else
      mpz_fdiv_r(res->z, x2, y2);
    break;
  case OP_BITAND: res = rf__big_new(c); mpz_and(res->z, x2, y2); break;
  case OP_BITOR: res = rf__big_new(c); mpz_ior(res->z, x2, y2); break;
  case OP_BITXOR: res = rf__big_new(c); mpz_xor(res->z, x2, y2); break;
  case OP_LSHIFT:
  case OP_RSHIFT:
    if (mpz_sgn(y2) < 0) {
      err = "neg";
      break;
    }
    res = rf__big_new(c);
    if (op == OP_RSHIFT) {
      if (!mpz_fits_ulong_p(y2))
        mpz_set_si(res->z, mpz_sgn(x2) < 0 ? -1 : 0);
      else
        mpz_fdiv_q_2exp(res->z, x2, mpz_get_ui(y2));
    } else if (mpz_sgn(x2) == 0) {
      mpz_set_ui(res->z, 0);
    } else if (!mpz_fits_ulong_p(y2) ||
               (double)mpz_sizeinbase(x2, 2) + (double)mpz_get_ui(y2) > (double)max_int_bits(c)) {
      err = "mul";
    } else {
      mpz_mul_2exp(res->z, x2, mpz_get_ui(y2));
    }
    break;
  case OP_POW: {
    if (mpz_sgn(y2) < 0) {
      err = "negpow";
      break;
    }
    res = rf__big_new(c);
    if (mpz_cmp_ui(x2, 1) == 0 || mpz_sgn(x2) == 0 || mpz_cmp_si(x2, -1) == 0) {
      if (mpz_sgn(x2) == 0)
        mpz_set_ui(res->z, mpz_sgn(y2) == 0 ? 1 : 0);
      else if (mpz_cmp_ui(x2, 1) == 0)
        mpz_set_ui(res->z, 1);
      else
        mpz_set_si(res->z, mpz_odd_p(y2) ? -1 : 1);
    } else if (!mpz_fits_ulong_p(y2) ||
               (double)(mpz_sizeinbase(x2, 2) - 1) * (double)mpz_get_ui(y2) >
                   (double)max_int_bits(c)) {
      err = "mul";
    } else {
      mpz_pow_ui(res->z, x2, mpz_get_ui(y2));
    }
    break;
  }
  default: err = "op"; break;
  }
  mpz_clears(x2, y2, NULL);
  if (err) {
    if (strcmp(err, "zero") == 0)
      rf__raise(c, "ZeroDivisionError", "integer division or modulo by zero");
    if (strcmp(err, "neg") == 0)
      rf__raise(c, "ValueError", "negative shift count");
    if (strcmp(err, "negpow") == 0)
      return float_pow(c, rf__to_double(c, a), rf__to_double(c, b));
    if (strcmp(err, "mul") == 0)
      check_bits(c, 1e300);
    unsupported(c, op, a, b);
  }
  return big_result(c, res);
}

static rf__val_t repeat(rf__ctx_t *c, rf__val_t seq, rf__val_t n) {
  if (n.t == VT_BIG) {
    if (mpz_sgn(n.z->z) < 0)
      n = rf__v_int(0);
    else
      rf__raise(c, "OverflowError", "cannot fit 'int' into an index-sized integer");
  }
  int64_t k = n.i < 0 ? 0 : n.i;
  if (seq.t == VT_STR) {
    if (k == 0 || seq.s->len == 0)
      return rf__v_str(c, "", 0, 0);
    if ((uint64_t)k > c->l->lim.max_str_bytes / seq.s->len)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
    size_t total = seq.s->len * (size_t)k;
    rf__work(c, total);
    char *p = rf__alloc(c, total);
    for (int64_t i = 0; i < k; i++)
      memcpy(p + (size_t)i * seq.s->len, seq.s->p, seq.s->len);
    return rf__v_str(c, p, total, seq.s->ncp * (size_t)k);
  }
  size_t m = seq.q->n;
  if (k == 0 || m == 0)
    return rf__v_seq(c, seq.t, 0);
  if ((uint64_t)k > c->l->lim.max_list_items / m)
    rf__raise(c, "LimitError", "%s too long (limit %zu items)",
              seq.t == VT_LIST ? "list" : "tuple", c->l->lim.max_list_items);
  rf__val_t r = rf__v_seq(c, seq.t, m * (size_t)k);
  rf__work(c, m * (size_t)k);
  rf__seq_t *q = (rf__seq_t *)r.q;
  for (int64_t i = 0; i < k; i++)
    memcpy(q->it + (size_t)i * m, seq.q->it, m * sizeof(rf__val_t));
  return r;
}

static rf__val_t concat(rf__ctx_t *c, rf__val_t a, rf__val_t b) {
  if (a.t == VT_STR) {
    if (b.s->len == 0)
      return a;
    if (a.s->len == 0)
      return b;
    size_t total = a.s->len + b.s->len;
    if (total > c->l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
    rf__work(c, total);
    char *p = rf__alloc(c, total);
    memcpy(p, a.s->p, a.s->len);
    memcpy(p + a.s->len, b.s->p, b.s->len);
    return rf__v_str(c, p, total, a.s->ncp + b.s->ncp);
  }
  rf__val_t r = rf__v_seq(c, a.t, a.q->n + b.q->n);
  rf__work(c, a.q->n + b.q->n);
  rf__seq_t *q = (rf__seq_t *)r.q;
  if (a.q->n)
    memcpy(q->it, a.q->it, a.q->n * sizeof(rf__val_t));
  if (b.q->n)
    memcpy(q->it + a.q->n, b.q->it, b.q->n * sizeof(rf__val_t));
  return r;
}

rf__val_t rf__binop(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b) {
  bool ai = rf__is_int(a), bi = rf__is_int(b);
  if (ai && bi) {
    if (op == OP_POW) {
      if (b.t == VT_BIG ? mpz_sgn(b.z->z) < 0 : b.i < 0)
        return float_pow(c, rf__to_double(c, a), rf__to_double(c, b));
      if (a.t != VT_BIG && b.t != VT_BIG) {
        /* small fast path */
        int64_t base = a.i, e = b.i, acc = 1;
        bool ok = true;
        while (e > 0 && ok) {
          if (e & 1)
            ok = !__builtin_mul_overflow(acc, base, &acc);
          e >>= 1;
          if (e && ok)
            ok = !__builtin_mul_overflow(base, base, &base);
        }
        if (ok)
          return rf__v_int(acc);
      }
    }
    return int_binop(c, op, a, b);
  }
  bool an = ai || a.t == VT_FLOAT, bn = bi || b.t == VT_FLOAT;
  if (an && bn) {
    double x = rf__to_double(c, a), y = rf__to_double(c, b), m;
    switch (op) {
    case OP_ADD: return rf__v_float(x + y);
    case OP_SUB: return rf__v_float(x - y);
    case OP_MUL: return rf__v_float(x * y);
    case OP_DIV:
      if (y == 0.0)
        rf__raise(c, "ZeroDivisionError", "float division by zero");
      return rf__v_float(x / y);
    case OP_FLOORDIV: return rf__v_float(float_floordiv_mod(c, x, y, &m, op));
    case OP_MOD:
      float_floordiv_mod(c, x, y, &m, op);
      return rf__v_float(m);
    case OP_POW: return float_pow(c, x, y);
    default: unsupported(c, op, a, b);
    }
  }
  switch (op) {
  case OP_ADD:
    if (a.t == b.t && (a.t == VT_STR || a.t == VT_LIST || a.t == VT_TUPLE))
      return concat(c, a, b);
    if (a.t == VT_STR)
      rf__raise(c, "TypeError", "can only concatenate str (not \"%s\") to str", short_type(b));
    if (a.t == VT_LIST)
      rf__raise(c, "TypeError", "can only concatenate list (not \"%s\") to list", short_type(b));
    if (a.t == VT_TUPLE)
      rf__raise(c, "TypeError", "can only concatenate tuple (not \"%s\") to tuple", short_type(b));
    break;
  case OP_MUL:
    if ((a.t == VT_STR || a.t == VT_LIST || a.t == VT_TUPLE) && bi)
      return repeat(c, a, b);
    if ((b.t == VT_STR || b.t == VT_LIST || b.t == VT_TUPLE) && ai)
      return repeat(c, b, a);
    if (a.t == VT_STR || a.t == VT_LIST || a.t == VT_TUPLE || b.t == VT_STR ||
        b.t == VT_LIST || b.t == VT_TUPLE) {
      if ((a.t == VT_STR || a.t == VT_LIST || a.t == VT_TUPLE) && !bn)
        rf__raise(c, "TypeError", "can't multiply sequence by non-int of type '%s'",
                  short_type(b));
      if ((b.t == VT_STR || b.t == VT_LIST || b.t == VT_TUPLE) && !an)
        rf__raise(c, "TypeError", "can't multiply sequence by non-int of type '%s'",
                  short_type(a));
      rf__raise(c, "TypeError", "can't multiply sequence by non-int of type '%s'",
                short_type(a.t == VT_FLOAT ? a : b));
    }
    break;
  case OP_MOD:
    if (a.t == VT_STR)
      return rf__str_percent(c, a.s, b);
    break;
  default: break;
  }
  unsupported(c, op, a, b);
}

rf__val_t rf__unary(rf__ctx_t *c, int op, rf__val_t a) {
  if (a.t == VT_FLOAT) {
    if (op == OP_NEG)
      return rf__v_float(-a.f);
    if (op == OP_POS)
      return a;
    rf__raise(c, "TypeError", "bad operand type for unary ~: 'float'");
  }
  if (rf__is_int(a)) {
    if (a.t != VT_BIG) {
      if (op == OP_POS)
        return rf__v_int(a.i);
      if (op == OP_NEG && a.i != INT64_MIN)
        return rf__v_int(-a.i);
      if (op == OP_INVERT)
        return rf__v_int(~a.i);
    }
    rf__big_t *r = rf__big_new(c);
    rf__get_mpz(a, r->z);
    if (op == OP_NEG)
      mpz_neg(r->z, r->z);
    else if (op == OP_INVERT)
      mpz_com(r->z, r->z);
    return big_result(c, r);
  }
  rf__raise(c, "TypeError", "bad operand type for unary %s: '%s'",
            op == OP_NEG ? "-" : op == OP_POS ? "+" : "~", short_type(a));
}

/* ------------------------------------------------------------------ indexing */

static rf__val_t str_char(rf__ctx_t *c, const rf__str_t *s, size_t cpi) {
  if (s->ncp == s->len)
    return rf__v_str(c, s->p + cpi, 1, 1);
  rf__work(c, s->len);
  size_t off = rf__cp_offset(s, cpi), e = off;
  rf__utf8_get(s->p, &e);
  return rf__v_str(c, s->p + off, e - off, 1);
}

rf__val_t rf__getitem(rf__ctx_t *c, rf__val_t obj, rf__val_t key) {
  if (obj.t == VT_DICT) {
    rf__hash_check(c, key);
    for (size_t i = 0; i < obj.d->n; i++)
      if (rf__eq(c, obj.d->k[i], key))
        return obj.d->v[i];
    rf_buf_reset(&c->tmp);
    rf__repr_of(c, key, &c->tmp, false);
    rf__raise(c, "KeyError", "%.*s", (int)(c->tmp.len > 400 ? 400 : c->tmp.len),
              c->tmp.data ? c->tmp.data : "");
  }
  if (obj.t == VT_STR || obj.t == VT_LIST || obj.t == VT_TUPLE || obj.t == VT_RANGE) {
    const char *tn = rf__type_name(obj);
    if (!rf__is_int(key))
      rf__raise(c, "TypeError", "%s indices must be integers%s, not %s", obj.t == VT_STR ? "string" : tn,
                obj.t == VT_STR || obj.t == VT_RANGE ? "" : " or slices", short_type(key));
    int64_t n = obj.t == VT_STR ? (int64_t)obj.s->ncp : obj.t == VT_RANGE ? range_len(obj.r) : (int64_t)obj.q->n;
    if (key.t == VT_BIG)
      rf__raise(c, "IndexError", "cannot fit 'int' into an index-sized integer");
    int64_t i = key.i;
    if (i < 0)
      i += n;
    if (i < 0 || i >= n)
      rf__raise(c, "IndexError", "%s index out of range",
                obj.t == VT_STR ? "string" : obj.t == VT_RANGE ? "range object" : tn);
    if (obj.t == VT_STR)
      return str_char(c, obj.s, (size_t)i);
    if (obj.t == VT_RANGE)
      return rf__v_int(obj.r->start + i * obj.r->step);
    return obj.q->it[i];
  }
  if (obj.t == VT_MATCH)
    return rf__match_getitem(c, obj.m, key);
  rf__raise(c, "TypeError", "'%s' object is not subscriptable", short_type(obj));
}

/* PySlice_Unpack + PySlice_AdjustIndices */
static int64_t slice_part(rf__ctx_t *c, rf__val_t v, int64_t dflt) {
  if (v.t == VT_NONE)
    return dflt;
  if (!rf__is_int(v))
    rf__raise(c, "TypeError",
              "slice indices must be integers or None or have an __index__ method");
  if (v.t == VT_BIG)
    return mpz_sgn(v.z->z) < 0 ? INT64_MIN + 1 : INT64_MAX;
  return v.i;
}

rf__val_t rf__getslice(rf__ctx_t *c, rf__val_t obj, rf__val_t lo, rf__val_t hi, rf__val_t st) {
  if (obj.t != VT_STR && obj.t != VT_LIST && obj.t != VT_TUPLE) {
    if (obj.t == VT_DICT)
      rf__raise(c, "TypeError", "unhashable type: 'slice'");
    rf__raise(c, "TypeError", "'%s' object is not subscriptable", short_type(obj));
  }
  int64_t step = slice_part(c, st, 1);
  if (step == 0)
    rf__raise(c, "ValueError", "slice step cannot be zero");
  if (step < -INT64_MAX)
    step = -INT64_MAX;
  int64_t len = obj.t == VT_STR ? (int64_t)obj.s->ncp : (int64_t)obj.q->n;
  int64_t start = slice_part(c, lo, step < 0 ? INT64_MAX : 0);
  int64_t stop = slice_part(c, hi, step < 0 ? INT64_MIN + 1 : INT64_MAX);
  if (start < 0) {
    start += len;
    if (start < 0)
      start = step < 0 ? -1 : 0;
  } else if (start >= len) {
    start = step < 0 ? len - 1 : len;
  }
  if (stop < 0) {
    stop += len;
    if (stop < 0)
      stop = step < 0 ? -1 : 0;
  } else if (stop >= len) {
    stop = step < 0 ? len - 1 : len;
  }
  int64_t n = 0;
  if (step < 0) {
    if (stop < start)
      n = (start - stop - 1) / (-step) + 1;
  } else if (start < stop) {
    n = (stop - start - 1) / step + 1;
  }
  rf__work(c, (size_t)n);
  if (obj.t == VT_STR) {
    const rf__str_t *s = obj.s;
    if (s->ncp == s->len) {
      if (step == 1)
        return rf__v_str(c, s->p + start, (size_t)n, (size_t)n);
      char *p = rf__alloc(c, n ? (size_t)n : 1);
      for (int64_t i = 0; i < n; i++)
        p[i] = s->p[start + i * step];
      return rf__v_str(c, p, (size_t)n, (size_t)n);
    }
    rf__work(c, s->len);
    if (step == 1) {
      size_t b = rf__cp_offset(s, (size_t)start), e = rf__cp_offset(s, (size_t)(start + n));
      return rf__v_str(c, s->p + b, e - b, (size_t)n);
    }
    /* general: index code point starts */
    size_t *offs = rf__alloc(c, (s->ncp + 1) * sizeof(size_t));
    size_t k = 0;
    for (size_t i = 0; i < s->len;) {
      offs[k++] = i;
      rf__utf8_get(s->p, &i);
    }
    offs[k] = s->len;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
      int64_t j = start + i * step;
      total += offs[j + 1] - offs[j];
    }
    char *p = rf__alloc(c, total ? total : 1);
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
      int64_t j = start + i * step;
      memcpy(p + o, s->p + offs[j], offs[j + 1] - offs[j]);
      o += offs[j + 1] - offs[j];
    }
    return rf__v_str(c, p, total, (size_t)n);
  }
  rf__val_t r = rf__v_seq(c, obj.t, (size_t)n);
  rf__seq_t *q = (rf__seq_t *)r.q;
  for (int64_t i = 0; i < n; i++)
    q->it[i] = obj.q->it[start + i * step];
  return r;
}

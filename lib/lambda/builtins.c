/* builtins.c - allowed builtins, re.*, datetime, methods of non-str values,
 * and the three formatting protocols (format(), str.format, %).
 *
 * Each function reproduces the CPython 3.11 builtin it is named after,
 * including the exception class it raises for bad arguments. Number and
 * string formatting, regular expressions and strptime/strftime are delegated
 * to the runtime modules (pyfmt.c, pyre.c, pytime.c); this file adapts values
 * to them and turns their rf_pyerr_t into a raise. Runtime results that live
 * outside the arena (PCRE2 spans, string lists) are copied into the arena and
 * released before anything here can raise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda_int.h"
#include "pyfmt.h"
#include "pyre.h"
#include "pytime.h"
#include "rectify/alloc.h"

static void argc_range(rf__ctx_t *c, const char *name, int n, int min, int max) {
  if (n < min) {
    if (min == 1 && max == 1)
      rf__raise(c, "TypeError", "%s() takes exactly one argument (%d given)", name, n);
    rf__raise(c, "TypeError", "%s expected at least %d argument%s, got %d", name, min,
              min == 1 ? "" : "s", n);
  }
  if (n > max) {
    if (max == 1 && min == 1)
      rf__raise(c, "TypeError", "%s() takes exactly one argument (%d given)", name, n);
    rf__raise(c, "TypeError", "%s expected at most %d argument%s, got %d", name, max,
              max == 1 ? "" : "s", n);
  }
}

static rf__val_t *kwarg(const rf__node_t *n, rf__val_t *kw, const char *name) {
  for (int i = 0; i < n->nkw; i++)
    if (strcmp(n->kwnames[i], name) == 0)
      return &kw[i];
  return NULL;
}

static int64_t as_index(rf__ctx_t *c, rf__val_t v) {
  if (!rf__is_int(v))
    rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
              rf__type_name(v));
  if (v.t == VT_BIG)
    rf__raise(c, "OverflowError", "Python int too large to convert to C ssize_t");
  return v.i;
}

static rf__val_t str_val(const rf__str_t *s) {
  rf__val_t v = {.t = VT_STR};
  v.s = s;
  return v;
}

/* ------------------------------------------------------------------ int() and float() of str */

/* CPython's _PyUnicode_TransformDecimalAndSpaceToASCII + strip; NULL when a
 * non-ASCII character is neither a decimal digit nor whitespace. */
static char *ascii_number(rf__ctx_t *c, const rf__str_t *s, size_t *outlen) {
  char *p = rf__alloc(c, s->len + 1);
  size_t k = 0;
  for (size_t i = 0; i < s->len;) {
    unsigned char ch = (unsigned char)s->p[i];
    if (ch < 0x80) {
      p[k++] = (char)ch;
      i++;
      continue;
    }
    uint32_t cp = rf__utf8_get(s->p, &i);
    if (rf__u_isspace(cp)) {
      p[k++] = ' ';
    } else {
      int d = rf__u_decimal(cp);
      if (d < 0)
        return NULL;
      p[k++] = (char)('0' + d);
    }
  }
  size_t b = 0, e = k;
  while (b < e && rf__u_isspace((unsigned char)p[b]))
    b++;
  while (e > b && rf__u_isspace((unsigned char)p[e - 1]))
    e--;
  p[e] = '\0';
  *outlen = e - b;
  return p + b;
}

_Noreturn static void bad_literal(rf__ctx_t *c, const char *prefix, const rf__str_t *s) {
  rf_buf_reset(&c->tmp);
  rf__repr_str(s->p, s->len > 200 ? rf__cp_offset(s, 200) : s->len, &c->tmp, false);
  rf__raise(c, "ValueError", "%s%.*s", prefix, (int)(c->tmp.len > 300 ? 300 : c->tmp.len),
            c->tmp.data ? c->tmp.data : "");
}

static int digit_val(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A' + 10;
  return 99;
}

rf__val_t rf__int_from_str(rf__ctx_t *c, const rf__str_t *s, int base) {
  char prefix[64];
  snprintf(prefix, sizeof(prefix), "invalid literal for int() with base %d: ", base);
  rf__work(c, s->len);
  size_t n;
  char *p = ascii_number(c, s, &n);
  if (!p || n == 0)
    bad_literal(c, prefix, s);
  size_t i = 0;
  bool neg = false;
  if (p[i] == '+' || p[i] == '-') {
    neg = p[i] == '-';
    i++;
  }
  bool prefixed = false;
  if (i + 1 < n && p[i] == '0') {
    char x = (char)(p[i + 1] | 0x20);
    if ((x == 'x' && (base == 16 || base == 0)) || (x == 'o' && (base == 8 || base == 0)) ||
        (x == 'b' && (base == 2 || base == 0))) {
      base = x == 'x' ? 16 : x == 'o' ? 8 : 2;
      i += 2;
      prefixed = true;
    }
  }
  bool base0 = base == 0;
  if (base0)
    base = 10;
  /* digits with single underscores between them (or right after a prefix) */
  char *dig = rf__alloc(c, n + 1);
  size_t k = 0;
  bool last_us = prefixed; /* an underscore may follow a prefix */
  bool allow_us = prefixed;
  for (; i < n; i++) {
    if (p[i] == '_') {
      if (!allow_us || (k == 0 && !prefixed) || (i + 1 < n && p[i + 1] == '_'))
        bad_literal(c, prefix, s);
      last_us = true;
      allow_us = false;
      continue;
    }
    if (digit_val(p[i]) >= base)
      bad_literal(c, prefix, s);
    dig[k++] = p[i];
    last_us = false;
    allow_us = true;
  }
  (void)last_us;
  if (k == 0 || p[n - 1] == '_')
    bad_literal(c, prefix, s);
  dig[k] = '\0';
  if (base0 && !prefixed && dig[0] == '0') {
    for (size_t j = 0; j < k; j++)
      if (dig[j] != '0')
        bad_literal(c, "invalid literal for int() with base 0: ", s);
  }
  if ((base & (base - 1)) != 0 && k > c->l->lim.max_int_digits)
    rf__raise(c, "ValueError",
              "Exceeds the limit (%zu digits) for integer string conversion: value has %zu "
              "digits; use sys.set_int_max_str_digits() to increase the limit",
              c->l->lim.max_int_digits, k);
  if (k <= 18 && base == 10) {
    int64_t v = 0;
    for (size_t j = 0; j < k; j++)
      v = v * 10 + (dig[j] - '0');
    return rf__v_int(neg ? -v : v);
  }
  rf__big_t *b = rf__big_new(c);
  mpz_set_str(b->z, dig, base);
  if (neg)
    mpz_neg(b->z, b->z);
  return rf__v_big(c, b->z);
}

rf__val_t rf__float_from_str(rf__ctx_t *c, const rf__str_t *s) {
  const char *prefix = "could not convert string to float: ";
  rf__work(c, s->len);
  size_t n;
  char *p = ascii_number(c, s, &n);
  if (!p || n == 0)
    bad_literal(c, prefix, s);
  size_t i = 0;
  bool neg = false;
  if (p[i] == '+' || p[i] == '-') {
    neg = p[i] == '-';
    i++;
  }
  const char *rest = p + i;
  size_t rl = n - i;
  if ((rl == 3 && strncasecmp(rest, "inf", 3) == 0) ||
      (rl == 8 && strncasecmp(rest, "infinity", 8) == 0))
    return rf__v_float(neg ? -INFINITY : INFINITY);
  if (rl == 3 && strncasecmp(rest, "nan", 3) == 0)
    return rf__v_float(neg ? -NAN : NAN);
  /* fast path (Clinger): up to 15 digits and no exponent is m / 10**k, exactly rounded */
  {
    uint64_t m = 0;
    int digits = 0, frac = -1;
    size_t j;
    for (j = i; j < n; j++) {
      char ch = p[j];
      if (ch >= '0' && ch <= '9') {
        m = m * 10 + (uint64_t)(ch - '0');
        digits++;
        if (frac >= 0)
          frac++;
      } else if (ch == '.' && frac < 0) {
        frac = 0;
      } else {
        break;
      }
    }
    if (j == n && digits > 0 && digits <= 15) {
      static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
      double d = (double)m;
      if (frac > 0)
        d /= p10[frac];
      return rf__v_float(neg ? -d : d);
    }
  }
  /* [digits] [. digits] [e [sign] digits], underscores only between digits */
  char *clean = rf__alloc(c, n + 2);
  size_t k = 0;
  if (neg)
    clean[k++] = '-';
  bool any = false, prev_digit = false;
  int state = 0; /* 0 int part, 1 frac, 2 exp sign, 3 exp digits */
  bool expdig = false;
  for (size_t j = i; j < n; j++) {
    char ch = p[j];
    if (ch >= '0' && ch <= '9') {
      clean[k++] = ch;
      prev_digit = true;
      if (state <= 1)
        any = true;
      else {
        state = 3;
        expdig = true;
      }
    } else if (ch == '_') {
      if (!prev_digit || j + 1 >= n || !(p[j + 1] >= '0' && p[j + 1] <= '9'))
        bad_literal(c, prefix, s);
      prev_digit = false;
    } else if (ch == '.' && state == 0) {
      clean[k++] = ch;
      state = 1;
      prev_digit = false;
    } else if ((ch == 'e' || ch == 'E') && state <= 1 && any) {
      clean[k++] = 'e';
      state = 2;
      prev_digit = false;
      if (j + 1 < n && (p[j + 1] == '+' || p[j + 1] == '-'))
        clean[k++] = p[++j];
    } else {
      bad_literal(c, prefix, s);
    }
  }
  if (!any || (state >= 2 && !expdig))
    bad_literal(c, prefix, s);
  clean[k] = '\0';
  return rf__v_float(strtod(clean, NULL));
}

/* ------------------------------------------------------------------ iteration helpers */

static void each(rf__ctx_t *c, rf__val_t v, const rf__node_t *gen, rf__iter_fn fn, void *ud) {
  if (gen)
    rf__genexp_run(c, gen, fn, ud);
  else
    rf__iterate(c, v, fn, ud);
}

typedef struct lst {
  rf__val_t *it;
  size_t n, cap;
} lst_t;

static bool lst_push(rf__ctx_t *c, rf__val_t v, void *ud) {
  lst_t *l = ud;
  if (l->n == l->cap) {
    if (l->n >= c->l->lim.max_list_items)
      rf__raise(c, "LimitError", "list too long (limit %zu items)", c->l->lim.max_list_items);
    size_t cap = l->cap ? l->cap * 2 : 8;
    rf__val_t *ni = rf__alloc(c, cap * sizeof(*ni));
    if (l->n)
      memcpy(ni, l->it, l->n * sizeof(*ni));
    l->it = ni;
    l->cap = cap;
  }
  l->it[l->n++] = v;
  return true;
}

static rf__val_t lst_value(rf__ctx_t *c, lst_t *l, uint32_t t) {
  rf__val_t r = rf__v_seq(c, t, l->n);
  if (l->n)
    memcpy(((rf__seq_t *)r.q)->it, l->it, l->n * sizeof(rf__val_t));
  return r;
}

static rf__val_t materialise(rf__ctx_t *c, rf__val_t v, const rf__node_t *gen, uint32_t t) {
  if (!gen)
    return rf__to_list(c, v, t);
  lst_t l = {0};
  rf__genexp_run(c, gen, lst_push, &l);
  return lst_value(c, &l, t);
}

/* ------------------------------------------------------------------ min / max / sum / any / all */

typedef struct best {
  rf__val_t v;
  bool have;
  int op;
} best_t;

static bool best_fn(rf__ctx_t *c, rf__val_t v, void *ud) {
  best_t *b = ud;
  if (!b->have || rf__compare(c, b->op, v, b->v)) {
    b->v = v;
    b->have = true;
  }
  return true;
}

static rf__val_t do_minmax(rf__ctx_t *c, bool ismax, int nargs, rf__val_t *args,
                           const rf__node_t *n, rf__val_t *kw, const rf__node_t *gen) {
  const char *name = ismax ? "max" : "min";
  rf__val_t *dflt = kwarg(n, kw, "default");
  if (nargs == 0)
    rf__raise(c, "TypeError", "%s expected at least 1 argument, got 0", name);
  best_t b = {rf__none, false, ismax ? OP_GT : OP_LT};
  if (nargs == 1) {
    each(c, args[0], gen, best_fn, &b);
    if (!b.have) {
      if (dflt)
        return *dflt;
      rf__raise(c, "ValueError", "%s() arg is an empty sequence", name);
    }
    return b.v;
  }
  if (dflt)
    rf__raise(c, "TypeError",
              "Cannot specify a default for %s() with multiple positional arguments", name);
  for (int i = 0; i < nargs; i++)
    best_fn(c, args[i], &b);
  return b.v;
}

typedef struct acc {
  rf__val_t v;
} acc_t;

static bool sum_fn(rf__ctx_t *c, rf__val_t v, void *ud) {
  acc_t *a = ud;
  a->v = rf__binop(c, OP_ADD, a->v, v);
  return true;
}

typedef struct anyall {
  bool want, found;
} anyall_t;

static bool anyall_fn(rf__ctx_t *c, rf__val_t v, void *ud) {
  (void)c;
  anyall_t *a = ud;
  if (rf__truthy(v) == a->want) {
    a->found = true;
    return false;
  }
  return true;
}

/* ------------------------------------------------------------------ sorted */

static void merge_sort(rf__ctx_t *c, rf__val_t *a, rf__val_t *tmp, size_t n, bool reverse) {
  if (n < 2)
    return;
  size_t m = n / 2;
  merge_sort(c, a, tmp, m, reverse);
  merge_sort(c, a + m, tmp, n - m, reverse);
  size_t i = 0, j = m, k = 0;
  rf__work(c, n);
  while (i < m && j < n) {
    /* take from the right only when strictly before the left element */
    bool right = reverse ? rf__lt(c, a[i], a[j]) : rf__lt(c, a[j], a[i]);
    tmp[k++] = right ? a[j++] : a[i++];
  }
  while (i < m)
    tmp[k++] = a[i++];
  while (j < n)
    tmp[k++] = a[j++];
  memcpy(a, tmp, n * sizeof(*a));
}

/* ------------------------------------------------------------------ round */

static rf__val_t round_float_digits(rf__ctx_t *c, double x, int64_t nd) {
  if (nd > 323)
    return rf__v_float(x);
  if (nd < -308)
    return rf__v_float(0.0 * x);
  if (!isfinite(x) || x == 0.0)
    return rf__v_float(x);
  mpq_t q;
  mpz_t z, p10;
  mpq_init(q);
  mpz_inits(z, p10, NULL);
  mpq_set_d(q, x);
  mpz_ui_pow_ui(p10, 10, (unsigned long)(nd >= 0 ? nd : -nd));
  if (nd >= 0)
    mpz_mul(mpq_numref(q), mpq_numref(q), p10);
  else
    mpz_mul(mpq_denref(q), mpq_denref(q), p10);
  mpq_canonicalize(q);
  /* round half to even */
  mpz_t r, twice;
  mpz_inits(r, twice, NULL);
  mpz_fdiv_qr(z, r, mpq_numref(q), mpq_denref(q));
  mpz_mul_2exp(twice, r, 1);
  int cmp = mpz_cmp(twice, mpq_denref(q));
  if (cmp > 0 || (cmp == 0 && mpz_odd_p(z)))
    mpz_add_ui(z, z, 1);
  char *digits = mpz_get_str(NULL, 10, z);
  mpz_clears(r, twice, z, p10, NULL);
  mpq_clear(q);
  char buf[512];
  snprintf(buf, sizeof(buf), "%s%se%lld", (x < 0 && digits[0] == '0') ? "-" : "", digits,
           (long long)-nd);
  void (*freefn)(void *, size_t);
  mp_get_memory_functions(NULL, NULL, &freefn);
  freefn(digits, strlen(digits) + 1);
  double r2 = strtod(buf, NULL);
  if (isinf(r2))
    rf__raise(c, "OverflowError", "rounded value too large to represent");
  return rf__v_float(r2);
}

static rf__val_t float_to_int(rf__ctx_t *c, double f) {
  if (isinf(f))
    rf__raise(c, "OverflowError", "cannot convert float infinity to integer");
  if (isnan(f))
    rf__raise(c, "ValueError", "cannot convert float NaN to integer");
  if (f > -9.2e18 && f < 9.2e18)
    return rf__v_int((int64_t)f);
  rf__big_t *b = rf__big_new(c);
  mpz_set_d(b->z, f);
  return rf__v_big(c, b->z);
}

static rf__val_t do_round(rf__ctx_t *c, int nargs, rf__val_t *args, const rf__node_t *n,
                          rf__val_t *kw) {
  rf__val_t *kn = kwarg(n, kw, "number"), *kd = kwarg(n, kw, "ndigits");
  if (nargs > 2)
    rf__raise(c, "TypeError", "round() takes at most 2 arguments (%d given)", nargs);
  if ((kn && nargs >= 1) || (kd && nargs >= 2))
    rf__raise(c, "TypeError", "argument for round() given by name and position");
  rf__val_t x, nd = rf__none;
  if (nargs >= 1)
    x = args[0];
  else if (kn)
    x = *kn;
  else
    rf__raise(c, "TypeError", "round() missing required argument 'number' (pos 1)");
  if (nargs >= 2)
    nd = args[1];
  else if (kd)
    nd = *kd;
  if (x.t == VT_FLOAT) {
    if (nd.t == VT_NONE) {
      double r = round(x.f);
      if (fabs(x.f - r) == 0.5)
        r = 2.0 * round(x.f / 2.0);
      return float_to_int(c, r);
    }
    if (!rf__is_int(nd))
      rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                rf__type_name(nd));
    int64_t d = nd.t == VT_BIG ? (mpz_sgn(nd.z->z) < 0 ? -100000 : 100000) : nd.i;
    return round_float_digits(c, x.f, d);
  }
  if (rf__is_int(x)) {
    if (x.t == VT_BOOL)
      x = rf__v_int(x.i);
    if (nd.t == VT_NONE)
      return x;
    if (!rf__is_int(nd))
      rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                rf__type_name(nd));
    if (nd.t != VT_BIG && nd.i >= 0)
      return x;
    if (nd.t == VT_BIG && mpz_sgn(nd.z->z) >= 0)
      return x;
    int64_t k = nd.t == VT_BIG ? INT64_MAX : -nd.i;
    mpz_t z, p, q, r, twice;
    mpz_inits(z, p, q, r, twice, NULL);
    rf__get_mpz(x, z);
    if ((double)k > (double)mpz_sizeinbase(z, 10) + 1) {
      mpz_clears(z, p, q, r, twice, NULL);
      return rf__v_int(0);
    }
    mpz_ui_pow_ui(p, 10, (unsigned long)k);
    mpz_fdiv_qr(q, r, z, p);
    mpz_mul_2exp(twice, r, 1);
    int cmp = mpz_cmp(twice, p);
    if (cmp > 0 || (cmp == 0 && mpz_odd_p(q)))
      mpz_add_ui(q, q, 1);
    mpz_mul(q, q, p);
    rf__big_t *b = rf__big_new(c);
    mpz_set(b->z, q);
    mpz_clears(z, p, q, r, twice, NULL);
    return rf__v_big(c, b->z);
  }
  rf__raise(c, "TypeError", "type %s doesn't define __round__ method", rf__type_name(x));
}

/* ------------------------------------------------------------------ re */

static const rf_py_re_t *get_re(rf__ctx_t *c, const rf__node_t *n, rf__val_t pat, rf__val_t fl) {
  if (pat.t != VT_STR)
    rf__raise(c, "TypeError", "first argument must be string or compiled pattern");
  if (!rf__is_int(fl))
    rf__raise(c, "TypeError", "unsupported operand type(s) for &: '%s' and 'int'",
              rf__type_name(fl));
  int flags = fl.t == VT_BIG ? -1 : (int)fl.i;
  if (n->re) /* literal pattern and flags, compiled with the lambda */
    return n->re;
  for (rf__rtre_t *r = c->rtre; r; r = r->next)
    if (r->flags == flags && r->patlen == pat.s->len && memcmp(r->pat, pat.s->p, r->patlen) == 0)
      return r->re;
  rf__steps(c, 50 + pat.s->len);
  rf__rtre_t *node = rf__alloc(c, sizeof(*node));
  rf_pyerr_t err = {0};
  rf_py_re_t *re = NULL;
  if (rf_py_re_compile(pat.s->p, pat.s->len, flags, &c->l->relim, &re, &err) != 0)
    rf__raise_err(c, &err);
  node->re = re;
  node->pat = pat.s->p;
  node->patlen = pat.s->len;
  node->flags = flags;
  node->next = c->rtre;
  c->rtre = node;
  return re;
}

static const rf__str_t *subject(rf__ctx_t *c, rf__val_t v) {
  if (v.t != VT_STR)
    rf__raise(c, "TypeError", "expected string or bytes-like object, got '%s'", rf__type_name(v));
  return v.s;
}

/* positional-or-keyword argument `name` at position pos */
static rf__val_t param(rf__ctx_t *c, const char *fn, int nargs, rf__val_t *args,
                       const rf__node_t *n, rf__val_t *kw, int pos, const char *name,
                       const rf__val_t *dflt) {
  rf__val_t *k = kwarg(n, kw, name);
  if (pos < nargs) {
    if (k)
      rf__raise(c, "TypeError", "argument for %s() given by name ('%s') and position (%d)", fn,
                name, pos + 1);
    return args[pos];
  }
  if (k)
    return *k;
  if (!dflt)
    rf__raise(c, "TypeError", "%s() missing required argument '%s' (pos %d)", fn, name, pos + 1);
  return *dflt;
}

static rf__val_t make_match(rf__ctx_t *c, const rf__str_t *subj, const rf_py_re_t *re,
                            const rf__str_t *pat, rf_py_match_t *m) {
  rf__match_t *mm = rf__alloc(c, sizeof(*mm));
  size_t ns = 2 * (size_t)(m->ngroups + 1);
  long *span = rf__arena_alloc(&c->arena, ns * sizeof(long), NULL);
  if (!span) {
    rf_py_match_clear(m);
    rf__alloc(c, ns * sizeof(long)); /* raises the right error */
  }
  memcpy(span, m->span, ns * sizeof(long));
  mm->ngroups = m->ngroups;
  rf_py_match_clear(m);
  mm->span = span;
  mm->subj = subj;
  mm->re = re;
  mm->pat = pat;
  rf__val_t v = {.t = VT_MATCH};
  v.m = mm;
  return v;
}

static rf__val_t strlist_value(rf__ctx_t *c, rf_py_strlist_t *sl) {
  /* copy pointers into the arena first, then free the runtime's list */
  size_t n = sl->n;
  struct rf_py_str *items = rf__arena_alloc(&c->arena, (n ? n : 1) * sizeof(*items), NULL);
  if (!items) {
    rf_py_strlist_clear(sl);
    rf__alloc(c, (n ? n : 1) * sizeof(*items));
  }
  if (n)
    memcpy(items, sl->items, n * sizeof(*items));
  size_t w = sl->tuple_width;
  rf_py_strlist_clear(sl);
  if (w) {
    size_t rows = n / w;
    rf__val_t r = rf__v_seq(c, VT_LIST, rows);
    for (size_t i = 0; i < rows; i++) {
      rf__val_t t = rf__v_seq(c, VT_TUPLE, w);
      for (size_t j = 0; j < w; j++) {
        struct rf_py_str *s = &items[i * w + j];
        ((rf__seq_t *)t.q)->it[j] =
            s->p ? rf__v_str(c, s->p, s->len, rf__utf8_count(s->p, s->len)) : rf__v_str(c, "", 0, 0);
      }
      ((rf__seq_t *)r.q)->it[i] = t;
    }
    return r;
  }
  rf__val_t r = rf__v_seq(c, VT_LIST, n);
  for (size_t i = 0; i < n; i++) {
    struct rf_py_str *s = &items[i];
    ((rf__seq_t *)r.q)->it[i] =
        s->p ? rf__v_str(c, s->p, s->len, rf__utf8_count(s->p, s->len)) : rf__none;
  }
  return r;
}

static rf__val_t do_re(rf__ctx_t *c, int id, int nargs, rf__val_t *args, const rf__node_t *n,
                       rf__val_t *kw) {
  static const rf__val_t zero = {.t = VT_INT};
  const char *fn = rf__fn_name(id);
  int maxpos = id == FN_RE_SUB ? 5 : id == FN_RE_SPLIT ? 4 : 3;
  /* A call may do up to re_match_limit units of backtracking that no step
   * counter sees: charge for that worst case, so that a loop of calls that
   * each stay just under the limit still ends within the step budget. */
  rf__steps(c, 1 + c->l->lim.re_match_limit / 50);
  if (nargs > maxpos)
    rf__raise(c, "TypeError", "%s() takes from %d to %d positional arguments but %d were given",
              fn, id == FN_RE_SUB ? 3 : 2, maxpos, nargs);
  rf__val_t pat = param(c, fn, nargs, args, n, kw, 0, "pattern", NULL);
  rf_pyerr_t err = {0};
  int r;
  if (id == FN_RE_SUB) {
    rf__val_t repl = param(c, fn, nargs, args, n, kw, 1, "repl", NULL);
    const rf__str_t *s = subject(c, param(c, fn, nargs, args, n, kw, 2, "string", NULL));
    rf__val_t cnt = param(c, fn, nargs, args, n, kw, 3, "count", &zero);
    rf__val_t fl = param(c, fn, nargs, args, n, kw, 4, "flags", &zero);
    const rf_py_re_t *re = get_re(c, n, pat, fl);
    if (repl.t != VT_STR)
      rf__raise(c, "TypeError", "expected str instance, %s found", rf__type_name(repl));
    int64_t count = as_index(c, cnt);
    rf__work(c, s->len * 4);
    rf_buf_reset(&c->tmp);
    r = rf_py_re_sub(re, repl.s->p, repl.s->len, s->p, s->len, count < 0 ? 0 : count, &c->tmp, &err);
    if (r != 0 && count >= 0)
      rf__raise_err(c, &err);
    if (count < 0) /* CPython: a negative count substitutes nothing */
      return str_val(s);
    rf__work(c, c->tmp.len);
    return rf__v_strbuf(c, &c->tmp);
  }
  const rf__str_t *s = subject(c, param(c, fn, nargs, args, n, kw, 1, "string", NULL));
  if (id == FN_RE_SPLIT) {
    rf__val_t ms = param(c, fn, nargs, args, n, kw, 2, "maxsplit", &zero);
    rf__val_t fl = param(c, fn, nargs, args, n, kw, 3, "flags", &zero);
    const rf_py_re_t *re = get_re(c, n, pat, fl);
    int64_t maxsplit = as_index(c, ms);
    rf__work(c, s->len * 4);
    if (maxsplit < 0) {
      rf__val_t one = rf__v_seq(c, VT_LIST, 1);
      ((rf__seq_t *)one.q)->it[0] = str_val(s);
      return one;
    }
    rf_py_strlist_t sl = {0};
    if (rf_py_re_split(re, s->p, s->len, maxsplit, &sl, &err) != 0)
      rf__raise_err(c, &err);
    return strlist_value(c, &sl);
  }
  rf__val_t fl = param(c, fn, nargs, args, n, kw, 2, "flags", &zero);
  const rf_py_re_t *re = get_re(c, n, pat, fl);
  rf__work(c, s->len * 4);
  if (id == FN_RE_FINDALL) {
    rf_py_strlist_t sl = {0};
    if (rf_py_re_findall(re, s->p, s->len, &sl, &err) != 0)
      rf__raise_err(c, &err);
    return strlist_value(c, &sl);
  }
  enum rf_py_re_mode mode = id == FN_RE_MATCH    ? RF_PY_RE_MATCH
                            : id == FN_RE_SEARCH ? RF_PY_RE_SEARCH
                                                 : RF_PY_RE_FULLMATCH;
  rf_py_match_t m = {0};
  r = rf_py_re_exec(re, s->p, s->len, mode, &m, &err);
  if (r < 0)
    rf__raise_err(c, &err);
  if (r == 0)
    return rf__none;
  return make_match(c, s, re, pat.s, &m);
}

/* ------------------------------------------------------------------ match objects */

static int group_index(rf__ctx_t *c, const rf__match_t *m, rf__val_t g) {
  if (g.t == VT_INT || g.t == VT_BOOL) {
    if (g.i < 0 || g.i > m->ngroups)
      rf__raise(c, "IndexError", "no such group");
    return (int)g.i;
  }
  if (g.t == VT_STR) {
    int i = rf_py_re_group_index(m->re, g.s->p, g.s->len);
    if (i < 0)
      rf__raise(c, "IndexError", "no such group");
    return i;
  }
  rf__raise(c, "IndexError", "no such group");
}

static rf__val_t group_value(rf__ctx_t *c, const rf__match_t *m, int g, rf__val_t dflt) {
  long s = m->span[2 * g], e = m->span[2 * g + 1];
  if (s < 0)
    return dflt;
  return rf__v_str(c, m->subj->p + s, (size_t)(e - s), rf__utf8_count(m->subj->p + s, (size_t)(e - s)));
}

static long cp_pos(const rf__match_t *m, long byteoff) {
  if (byteoff < 0)
    return -1;
  return (long)rf__utf8_count(m->subj->p, (size_t)byteoff);
}

rf__val_t rf__match_getitem(rf__ctx_t *c, const rf__match_t *m, rf__val_t key) {
  return group_value(c, m, group_index(c, m, key), rf__none);
}

/* names of the named groups, in pattern order, from the pattern text */
static int group_names(const rf__str_t *pat, const char **names, size_t *lens, int max) {
  int n = 0;
  bool inclass = false;
  for (size_t i = 0; i < pat->len; i++) {
    char ch = pat->p[i];
    if (ch == '\\') {
      i++;
      continue;
    }
    if (inclass) {
      if (ch == ']')
        inclass = false;
      continue;
    }
    if (ch == '[') {
      inclass = true;
      if (i + 1 < pat->len && pat->p[i + 1] == ']')
        i++;
      else if (i + 2 < pat->len && pat->p[i + 1] == '^' && pat->p[i + 2] == ']')
        i += 2;
      continue;
    }
    if (ch == '(' && i + 3 < pat->len && pat->p[i + 1] == '?' && pat->p[i + 2] == 'P' &&
        pat->p[i + 3] == '<') {
      size_t st = i + 4, e = st;
      while (e < pat->len && pat->p[e] != '>')
        e++;
      if (n < max) {
        names[n] = pat->p + st;
        lens[n] = e - st;
        n++;
      }
      i = e;
    }
  }
  return n;
}

static rf__val_t match_method(rf__ctx_t *c, int id, const rf__match_t *m, int nargs,
                              rf__val_t *args, const rf__node_t *n, rf__val_t *kw) {
  switch (id) {
  case M_GROUP: {
    if (nargs == 0)
      return group_value(c, m, 0, rf__none);
    if (nargs == 1)
      return group_value(c, m, group_index(c, m, args[0]), rf__none);
    rf__val_t t = rf__v_seq(c, VT_TUPLE, (size_t)nargs);
    for (int i = 0; i < nargs; i++)
      ((rf__seq_t *)t.q)->it[i] = group_value(c, m, group_index(c, m, args[i]), rf__none);
    return t;
  }
  case M_GROUPS:
  case M_GROUPDICT: {
    rf__val_t *kd = kwarg(n, kw, "default");
    if (nargs > 1 || (nargs == 1 && kd))
      rf__raise(c, "TypeError", "%s() takes at most 1 argument", rf__fn_name(id));
    rf__val_t dflt = nargs == 1 ? args[0] : kd ? *kd : rf__none;
    if (id == M_GROUPS) {
      rf__val_t t = rf__v_seq(c, VT_TUPLE, (size_t)m->ngroups);
      for (int i = 0; i < m->ngroups; i++)
        ((rf__seq_t *)t.q)->it[i] = group_value(c, m, i + 1, dflt);
      return t;
    }
    const char *names[100];
    size_t lens[100];
    int nn = group_names(m->pat, names, lens, 100);
    rf__dict_t *d = rf__alloc(c, sizeof(*d));
    d->k = rf__alloc(c, (size_t)(nn ? nn : 1) * sizeof(rf__val_t));
    d->v = rf__alloc(c, (size_t)(nn ? nn : 1) * sizeof(rf__val_t));
    d->n = 0;
    for (int i = 0; i < nn; i++) {
      int g = rf_py_re_group_index(m->re, names[i], lens[i]);
      if (g < 0)
        continue;
      d->k[d->n] = rf__v_str(c, names[i], lens[i], lens[i]);
      d->v[d->n] = group_value(c, m, g, dflt);
      d->n++;
    }
    rf__val_t v = {.t = VT_DICT};
    v.d = d;
    return v;
  }
  case M_START:
  case M_END:
  case M_SPAN: {
    if (nargs > 1)
      rf__raise(c, "TypeError", "%s expected at most 1 argument, got %d", rf__fn_name(id), nargs);
    int g = nargs ? group_index(c, m, args[0]) : 0;
    long s = cp_pos(m, m->span[2 * g]), e = cp_pos(m, m->span[2 * g + 1]);
    if (id == M_START)
      return rf__v_int(s);
    if (id == M_END)
      return rf__v_int(e);
    rf__val_t t = rf__v_seq(c, VT_TUPLE, 2);
    ((rf__seq_t *)t.q)->it[0] = rf__v_int(s);
    ((rf__seq_t *)t.q)->it[1] = rf__v_int(e);
    return t;
  }
  default:
    rf__raise(c, "AttributeError", "'re.Match' object has no attribute '%s'", rf__fn_name(id));
  }
}

/* ------------------------------------------------------------------ datetime */

static rf__val_t dt_value(rf__ctx_t *c, const rf_py_datetime_t *src) {
  rf_py_datetime_t *d = rf__alloc(c, sizeof(*d));
  *d = *src;
  rf__val_t v = {.t = VT_DATETIME};
  v.dt = d;
  return v;
}

static int days_in_month(int y, int m) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return dim[m - 1];
}

static rf__val_t dt_replace(rf__ctx_t *c, const rf_py_datetime_t *dt, int nargs, rf__val_t *args,
                            const rf__node_t *n, rf__val_t *kw) {
  static const char *const names[] = {"year", "month", "day", "hour", "minute", "second",
                                      "microsecond"};
  int nf = dt->is_date ? 3 : 7;
  rf_py_datetime_t r = *dt;
  int *fields[] = {&r.year, &r.month, &r.day, &r.hour, &r.minute, &r.second, &r.microsecond};
  if (nargs > nf)
    rf__raise(c, "TypeError", "replace() takes at most %d arguments (%d given)", nf + (dt->is_date ? 0 : 1),
              nargs);
  for (int i = 0; i < nargs; i++) {
    if (!rf__is_int(args[i]))
      rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                rf__type_name(args[i]));
    if (args[i].t == VT_BIG || args[i].i > INT32_MAX || args[i].i < INT32_MIN)
      rf__raise(c, "OverflowError", "signed integer is greater than maximum");
    *fields[i] = (int)args[i].i;
  }
  for (int k = 0; k < n->nkw; k++) {
    int i;
    for (i = 0; i < nf; i++)
      if (strcmp(n->kwnames[k], names[i]) == 0)
        break;
    if (i == nf)
      rf__raise(c, "TypeError", "'%s' is an invalid keyword argument for replace()", n->kwnames[k]);
    if (i < nargs)
      rf__raise(c, "TypeError", "argument for replace() given by name ('%s') and position (%d)",
                names[i], i + 1);
    if (!rf__is_int(kw[k]))
      rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                rf__type_name(kw[k]));
    if (kw[k].t == VT_BIG || kw[k].i > INT32_MAX || kw[k].i < INT32_MIN)
      rf__raise(c, "OverflowError", "signed integer is greater than maximum");
    *fields[i] = (int)kw[k].i;
  }
  if (r.year < 1 || r.year > 9999)
    rf__raise(c, "ValueError", "year %d is out of range", r.year);
  if (r.month < 1 || r.month > 12)
    rf__raise(c, "ValueError", "month must be in 1..12");
  if (r.day < 1 || r.day > days_in_month(r.year, r.month))
    rf__raise(c, "ValueError", "day is out of range for month");
  if (r.hour < 0 || r.hour > 23)
    rf__raise(c, "ValueError", "hour must be in 0..23");
  if (r.minute < 0 || r.minute > 59)
    rf__raise(c, "ValueError", "minute must be in 0..59");
  if (r.second < 0 || r.second > 59)
    rf__raise(c, "ValueError", "second must be in 0..59");
  if (r.microsecond < 0 || r.microsecond > 999999)
    rf__raise(c, "ValueError", "microsecond must be in 0..999999");
  return dt_value(c, &r);
}

static rf__val_t dt_method(rf__ctx_t *c, int id, const rf_py_datetime_t *dt, int nargs,
                           rf__val_t *args, const rf__node_t *n, rf__val_t *kw) {
  const char *tn = dt->is_date ? "datetime.date" : "datetime.datetime";
  rf_pyerr_t err = {0};
  switch (id) {
  case M_STRFTIME: {
    if (nargs != 1 || n->nkw)
      rf__raise(c, "TypeError", "strftime() takes exactly 1 argument (%d given)", nargs);
    if (args[0].t != VT_STR)
      rf__raise(c, "TypeError", "strftime() argument 1 must be str, not %s",
                rf__type_name(args[0]));
    rf__work(c, args[0].s->len * 8);
    rf_buf_reset(&c->tmp);
    if (rf_py_strftime(dt, args[0].s->p, args[0].s->len, &c->tmp, &err) != 0)
      rf__raise_err(c, &err);
    return rf__v_strbuf(c, &c->tmp);
  }
  case M_DATE: {
    if (dt->is_date)
      break;
    if (nargs)
      rf__raise(c, "TypeError", "datetime.date() takes no arguments (%d given)", nargs);
    rf_py_datetime_t d;
    memset(&d, 0, sizeof(d));
    d.year = dt->year;
    d.month = dt->month;
    d.day = dt->day;
    d.is_date = true;
    return dt_value(c, &d);
  }
  case M_ISOFORMAT: {
    char sep = 'T';
    rf__val_t *ks = kwarg(n, kw, "sep");
    if (dt->is_date && (nargs || ks))
      rf__raise(c, "TypeError", "date.isoformat() takes no arguments");
    if (nargs > 2)
      rf__raise(c, "TypeError", "isoformat() takes at most 2 arguments");
    rf__val_t sv = nargs ? args[0] : ks ? *ks : rf__none;
    if (sv.t != VT_NONE) {
      if (sv.t != VT_STR)
        rf__raise(c, "TypeError", "isoformat() argument 1 must be a unicode character, not %s",
                  rf__type_name(sv));
      if (sv.s->ncp != 1)
        rf__raise(c, "TypeError", "isoformat() argument 1 must be a unicode character, not str");
      if (sv.s->len != 1)
        rf__raise(c, "ValueError", "non-ASCII isoformat separators are not supported");
      sep = sv.s->p[0];
    }
    if (nargs > 1)
      rf__raise(c, "ValueError", "isoformat() timespec argument is not supported");
    rf_buf_reset(&c->tmp);
    rf_py_isoformat(dt, sep, &c->tmp);
    return rf__v_strbuf(c, &c->tmp);
  }
  case M_WEEKDAY:
  case M_ISOWEEKDAY:
    if (nargs)
      rf__raise(c, "TypeError", "%s() takes no arguments (%d given)", rf__fn_name(id), nargs);
    return rf__v_int(rf_py_weekday(dt) + (id == M_ISOWEEKDAY));
  case M_REPLACE:
    return dt_replace(c, dt, nargs, args, n, kw);
  default:
    break;
  }
  rf__raise(c, "AttributeError", "'%s' object has no attribute '%s'", tn, rf__fn_name(id));
}

rf__val_t rf__get_attr(rf__ctx_t *c, int id, rf__val_t obj) {
  if (obj.t == VT_DATETIME) {
    const rf_py_datetime_t *d = obj.dt;
    switch (id) {
    case A_YEAR: return rf__v_int(d->year);
    case A_MONTH: return rf__v_int(d->month);
    case A_DAY: return rf__v_int(d->day);
    default:
      if (d->is_date)
        break;
      switch (id) {
      case A_HOUR: return rf__v_int(d->hour);
      case A_MINUTE: return rf__v_int(d->minute);
      case A_SECOND: return rf__v_int(d->second);
      case A_MICROSECOND: return rf__v_int(d->microsecond);
      default: break;
      }
    }
    rf__raise(c, "AttributeError", "'datetime.date' object has no attribute '%s'", rf__fn_name(id));
  }
  rf__raise(c, "AttributeError", "'%s' object has no attribute '%s'", rf__type_name(obj),
            rf__fn_name(id));
}

/* ------------------------------------------------------------------ methods on non-str values */

rf__val_t rf__call_method(rf__ctx_t *c, const rf__node_t *n, rf__val_t self, int nargs,
                          rf__val_t *args, rf__val_t *kw) {
  int id = n->fn;
  switch (self.t) {
  case VT_STR:
    return rf__call_strmethod(c, id, self.s, nargs, args, n, kw);
  case VT_LIST:
  case VT_TUPLE: {
    const char *tn = rf__type_name(self);
    if (id == M_COUNT) {
      if (nargs != 1)
        rf__raise(c, "TypeError", "%s.count() takes exactly one argument (%d given)", tn, nargs);
      int64_t k = 0;
      rf__work(c, self.q->n);
      for (size_t i = 0; i < self.q->n; i++)
        k += rf__eq(c, self.q->it[i], args[0]);
      return rf__v_int(k);
    }
    if (id == M_INDEX) {
      if (nargs < 1 || nargs > 3)
        rf__raise(c, "TypeError", "index expected at least 1 argument, got %d", nargs);
      int64_t len = (int64_t)self.q->n, st = 0, en = len;
      if (nargs > 1) {
        st = as_index(c, args[1]);
        if (st < 0 && (st += len) < 0)
          st = 0;
      }
      if (nargs > 2) {
        en = as_index(c, args[2]);
        if (en < 0 && (en += len) < 0)
          en = 0;
      }
      rf__work(c, self.q->n);
      for (int64_t i = st; i < en && i < len; i++)
        if (rf__eq(c, self.q->it[i], args[0]))
          return rf__v_int(i);
      if (self.t == VT_TUPLE)
        rf__raise(c, "ValueError", "tuple.index(x): x not in tuple");
      rf_buf_reset(&c->tmp);
      rf__repr_of(c, args[0], &c->tmp, false);
      rf__raise(c, "ValueError", "%.*s is not in list", (int)(c->tmp.len > 200 ? 200 : c->tmp.len),
                c->tmp.data);
    }
    rf__raise(c, "AttributeError", "'%s' object has no attribute '%s'", tn, rf__fn_name(id));
  }
  case VT_DICT:
    if (id == M_GET) {
      if (nargs < 1 || nargs > 2)
        rf__raise(c, "TypeError", "get expected at %s 2 arguments, got %d",
                  nargs < 1 ? "least" : "most", nargs);
      rf__hash_check(c, args[0]);
      for (size_t i = 0; i < self.d->n; i++)
        if (rf__eq(c, self.d->k[i], args[0]))
          return self.d->v[i];
      return nargs == 2 ? args[1] : rf__none;
    }
    rf__raise(c, "AttributeError", "'dict' object has no attribute '%s'", rf__fn_name(id));
  case VT_MATCH:
    return match_method(c, id, self.m, nargs, args, n, kw);
  case VT_DATETIME:
    return dt_method(c, id, self.dt, nargs, args, n, kw);
  default:
    rf__raise(c, "AttributeError", "'%s' object has no attribute '%s'", rf__type_name(self),
              rf__fn_name(id));
  }
}

/* ------------------------------------------------------------------ formatting */

void rf__format_value(rf__ctx_t *c, rf__val_t v, const char *spec, size_t speclen, rf_buf_t *out) {
  rf_pyerr_t err = {0};
  int r = 0;
  switch (v.t) {
  case VT_STR:
    rf__work(c, v.s->len);
    r = rf_py_format_str(v.s->p, v.s->len, spec, speclen, out, &err);
    break;
  case VT_BOOL:
    if (speclen == 0) {
      rf_buf_puts(out, v.i ? "True" : "False");
      return;
    }
    /* fallthrough */
  case VT_INT:
  case VT_BIG: {
    mpz_t z;
    mpz_init(z);
    rf__get_mpz(v, z);
    char ty = speclen ? spec[speclen - 1] : 0;
    if (v.t == VT_BIG && !strchr("xXobc", ty ? ty : 'd')) {
      size_t limit = c->l->lim.max_int_digits;
      if (mpz_sizeinbase(z, 10) > limit + 1) {
        mpz_clear(z);
        rf__raise(c, "ValueError",
                  "Exceeds the limit (%zu digits) for integer string conversion; use "
                  "sys.set_int_max_str_digits() to increase the limit",
                  limit);
      }
    }
    r = rf_py_format_int(z, spec, speclen, out, &err);
    mpz_clear(z);
    break;
  }
  case VT_FLOAT:
    r = rf_py_format_float(v.f, spec, speclen, out, &err);
    break;
  case VT_DATETIME:
    if (speclen == 0) {
      rf__str_of(c, v, out);
      return;
    }
    r = rf_py_strftime(v.dt, spec, speclen, out, &err);
    break;
  default:
    if (speclen == 0) {
      rf__str_of(c, v, out);
      return;
    }
    rf__raise(c, "TypeError", "unsupported format string passed to %s.__format__",
              rf__type_name(v));
  }
  if (r != 0)
    rf__raise_err(c, &err);
  if (out->len > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
}

static rf__val_t fmt_one(rf__ctx_t *c, rf__val_t v, const char *spec, size_t sl) {
  rf_buf_reset(&c->tmp);
  rf__format_value(c, v, spec, sl, &c->tmp);
  return rf__v_strbuf(c, &c->tmp);
}

/* %-formatting */
rf__val_t rf__str_percent(rf__ctx_t *c, const rf__str_t *fmt, rf__val_t args) {
  const rf__val_t *av;
  size_t na;
  bool mapping = args.t == VT_DICT;
  if (args.t == VT_TUPLE) {
    av = args.q->it;
    na = args.q->n;
  } else {
    av = &args;
    na = 1;
  }
  size_t ai = 0;
  rf__work(c, fmt->len);
  /* pieces are built into the arena; c->tmp holds one conversion at a time */
  const rf__str_t **parts = rf__alloc(c, (fmt->len + 2) * sizeof(*parts));
  size_t np = 0, total = 0;
  size_t i = 0, lit = 0;
  while (i < fmt->len) {
    if (fmt->p[i] != '%') {
      i++;
      continue;
    }
    if (i > lit) {
      rf__val_t l = rf__v_str(c, fmt->p + lit, i - lit, rf__utf8_count(fmt->p + lit, i - lit));
      parts[np++] = l.s;
      total += i - lit;
    }
    if (i + 1 < fmt->len && fmt->p[i + 1] == '%') {
      parts[np++] = rf__v_str(c, "%", 1, 1).s;
      total++;
      i += 2;
      lit = i;
      continue;
    }
    rf_py_pct_spec_t sp;
    rf_pyerr_t err = {0};
    size_t index = rf__utf8_count(fmt->p, i);
    if (i + 1 < fmt->len && fmt->p[i + 1] == '(' && !mapping)
      rf__raise(c, "TypeError", "format requires a mapping");
    int used = rf_py_pct_parse(fmt->p + i + 1, fmt->len - i - 1, index, &sp, &err);
    if (used < 0) {
      /* CPython fetches the argument before it looks at the conversion */
      if (ai >= na && !mapping && strncmp(err.msg, "unsupported format character", 28) == 0)
        rf__raise(c, "TypeError", "not enough arguments for format string");
      rf__raise_err(c, &err);
    }
    if (ai >= na && !(mapping && ai == 0))
      rf__raise(c, "TypeError", "not enough arguments for format string");
    rf__val_t v = av[ai++];
    rf_buf_reset(&c->tmp);
    int r = 0;
    switch (sp.conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': {
      if (v.t == VT_FLOAT && strchr("diu", sp.conv)) {
        v = float_to_int(c, v.f);
      } else if (!rf__is_int(v)) {
        if (strchr("diu", sp.conv))
          rf__raise(c, "TypeError", "%%%c format: a real number is required, not %s", sp.conv,
                    rf__type_name(v));
        rf__raise(c, "TypeError", "%%%c format: an integer is required, not %s", sp.conv,
                  rf__type_name(v));
      }
      if (v.t == VT_BIG && strchr("diu", sp.conv))
        rf__check_int_str(c, v.z->z);
      mpz_t z;
      mpz_init(z);
      rf__get_mpz(v, z);
      r = rf_py_pct_int(&sp, z, &c->tmp, &err);
      mpz_clear(z);
      break;
    }
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
      if (v.t != VT_FLOAT && !rf__is_int(v))
        rf__raise(c, "TypeError", "must be real number, not %s", rf__type_name(v));
      r = rf_py_pct_float(&sp, rf__to_double(c, v), &c->tmp, &err);
      break;
    case 'c': {
      char u[4];
      int k;
      if (rf__is_int(v)) {
        if (v.t == VT_BIG || v.i < 0 || v.i > 0x10FFFF)
          rf__raise(c, "OverflowError", "%%c arg not in range(0x110000)");
        if (v.i >= 0xD800 && v.i <= 0xDFFF)
          rf__raise(c, "ValueError", "surrogate code points are not supported");
        k = rf__utf8_put(u, (uint32_t)v.i);
      } else if (v.t == VT_STR && v.s->ncp == 1) {
        k = (int)v.s->len;
        memcpy(u, v.s->p, v.s->len);
      } else {
        rf__raise(c, "TypeError", "%%c requires int or char");
      }
      r = rf_py_pct_str(&sp, u, (size_t)k, &c->tmp, &err);
      break;
    }
    default: {
      rf_buf_t *b = &c->tmp;
      rf__val_t sv;
      if (sp.conv == 's') {
        sv = rf__to_str(c, v);
      } else {
        rf_buf_reset(b);
        rf__repr_of(c, v, b, sp.conv == 'a');
        sv = rf__v_strbuf(c, b);
      }
      rf_buf_reset(b);
      r = rf_py_pct_str(&sp, sv.s->p, sv.s->len, b, &err);
      break;
    }
    }
    if (r != 0)
      rf__raise_err(c, &err);
    rf__val_t piece = rf__v_strbuf(c, &c->tmp);
    parts[np++] = piece.s;
    total += piece.s->len;
    if (total > c->l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
    i += 1 + (size_t)used;
    lit = i;
  }
  if (lit < fmt->len) {
    parts[np++] = rf__v_str(c, fmt->p + lit, fmt->len - lit,
                            rf__utf8_count(fmt->p + lit, fmt->len - lit)).s;
    total += fmt->len - lit;
  }
  if (ai < na && !mapping)
    rf__raise(c, "TypeError", "not all arguments converted during string formatting");
  if (total > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  char *p = rf__alloc(c, total ? total : 1);
  size_t o = 0, ncp = 0;
  for (size_t k = 0; k < np; k++) {
    memcpy(p + o, parts[k]->p, parts[k]->len);
    o += parts[k]->len;
    ncp += parts[k]->ncp;
  }
  return rf__v_str(c, p, total, ncp);
}

/* str.format */
typedef struct fmtctx {
  int nargs;
  const rf__val_t *args;
  int nkw;
  const char *const *kwnames;
  const rf__val_t *kw;
  int auto_idx; /* -1 manual, >= 0 next automatic index, -2 unset */
} fmtctx_t;

static rf__val_t format_string(rf__ctx_t *c, const char *p, size_t len, fmtctx_t *f, int depth);

static rf__val_t field_value(rf__ctx_t *c, const char *name, size_t nl, fmtctx_t *f) {
  /* first part: digits, identifier or empty */
  size_t i = 0;
  while (i < nl && name[i] != '.' && name[i] != '[')
    i++;
  rf__val_t v;
  if (i == 0) {
    if (f->auto_idx == -1)
      rf__raise(c, "ValueError",
                "cannot switch from manual field specification to automatic field numbering");
    if (f->auto_idx == -2)
      f->auto_idx = 0;
    int k = f->auto_idx++;
    if (k >= f->nargs)
      rf__raise(c, "IndexError", "Replacement index %d out of range for positional args tuple", k);
    v = f->args[k];
  } else {
    bool digits = true;
    for (size_t j = 0; j < i; j++)
      if (name[j] < '0' || name[j] > '9')
        digits = false;
    if (digits) {
      if (f->auto_idx >= 0)
        rf__raise(c, "ValueError",
                  "cannot switch from automatic field numbering to manual field specification");
      f->auto_idx = -1;
      if (i > 9)
        rf__raise(c, "ValueError", "Too many decimal digits in format string");
      long k = strtol(name, NULL, 10);
      if (k >= f->nargs)
        rf__raise(c, "IndexError", "Replacement index %ld out of range for positional args tuple", k);
      v = f->args[k];
    } else {
      int k;
      for (k = 0; k < f->nkw; k++)
        if (strlen(f->kwnames[k]) == i && memcmp(f->kwnames[k], name, i) == 0)
          break;
      if (k == f->nkw)
        rf__raise(c, "KeyError", "'%.*s'", (int)(i > 200 ? 200 : i), name);
      v = f->kw[k];
    }
  }
  while (i < nl) {
    if (name[i] == '.')
      rf__raise(c, "CheckError", "attribute access in format fields is not allowed");
    /* [key] */
    size_t e = i + 1;
    while (e < nl && name[e] != ']')
      e++;
    if (e >= nl)
      rf__raise(c, "ValueError", "Missing ']' in format string");
    if (e == i + 1)
      rf__raise(c, "ValueError", "Empty attribute in format string");
    const char *key = name + i + 1;
    size_t kl = e - i - 1;
    bool digits = true;
    for (size_t j = 0; j < kl; j++)
      if (key[j] < '0' || key[j] > '9')
        digits = false;
    rf__val_t kv = digits && kl < 18 ? rf__v_int(strtoll(key, NULL, 10))
                                     : rf__v_str(c, key, kl, rf__utf8_count(key, kl));
    v = rf__getitem(c, v, kv);
    i = e + 1;
    if (i < nl && name[i] != '.' && name[i] != '[')
      rf__raise(c, "ValueError", "Only '.' or '[' may follow ']' in format field specifier");
  }
  return v;
}

static rf__val_t format_string(rf__ctx_t *c, const char *p, size_t len, fmtctx_t *f, int depth) {
  if (depth > 2)
    rf__raise(c, "ValueError", "Max string recursion exceeded");
  rf__work(c, len);
  const rf__str_t **parts = rf__alloc(c, (len + 1) * sizeof(*parts));
  size_t np = 0, total = 0, i = 0, lit = 0;
#define LIT(a, b)                                                                                \
  do {                                                                                           \
    if ((b) > (a)) {                                                                             \
      parts[np++] = rf__v_str(c, p + (a), (b) - (a), rf__utf8_count(p + (a), (b) - (a))).s;       \
      total += (b) - (a);                                                                        \
    }                                                                                            \
  } while (0)
  while (i < len) {
    char ch = p[i];
    if (ch != '{' && ch != '}') {
      i++;
      continue;
    }
    if (i + 1 < len && p[i + 1] == ch) {
      LIT(lit, i + 1);
      i += 2;
      lit = i;
      continue;
    }
    if (ch == '}')
      rf__raise(c, "ValueError", "Single '}' encountered in format string");
    LIT(lit, i);
    /* find the matching '}' */
    size_t j = i + 1;
    int nest = 1;
    bool inbracket = false;
    while (j < len) {
      if (p[j] == '[' && !inbracket)
        inbracket = true;
      else if (p[j] == ']')
        inbracket = false;
      else if (!inbracket && p[j] == '{')
        nest++;
      else if (!inbracket && p[j] == '}' && --nest == 0)
        break;
      j++;
    }
    if (j >= len)
      rf__raise(c, "ValueError", i + 1 >= len ? "Single '{' encountered in format string"
                                              : "expected '}' before end of string");
    /* field = name [!conv] [:spec] */
    const char *fp = p + i + 1;
    size_t fl = j - i - 1, k = 0;
    bool br = false;
    while (k < fl) {
      if (fp[k] == '[')
        br = true;
      else if (fp[k] == ']')
        br = false;
      else if (!br && (fp[k] == '!' || fp[k] == ':'))
        break;
      k++;
    }
    size_t namelen = k;
    char conv = 0;
    if (k < fl && fp[k] == '!') {
      if (k + 1 >= fl)
        rf__raise(c, "ValueError", "end of string while looking for conversion specifier");
      conv = fp[k + 1];
      k += 2;
      if (k < fl && fp[k] != ':')
        rf__raise(c, "ValueError", "expected ':' after conversion specifier");
    }
    const char *spec = "";
    size_t speclen = 0;
    if (k < fl && fp[k] == ':') {
      spec = fp + k + 1;
      speclen = fl - k - 1;
    }
    rf__val_t v = field_value(c, fp, namelen, f);
    if (conv == 'r' || conv == 'a') {
      rf_buf_reset(&c->tmp);
      rf__repr_of(c, v, &c->tmp, conv == 'a');
      v = rf__v_strbuf(c, &c->tmp);
    } else if (conv == 's') {
      v = rf__to_str(c, v);
    } else if (conv) {
      rf__raise(c, "ValueError", "Unknown conversion specifier %c", conv);
    }
    if (memchr(spec, '{', speclen)) {
      rf__val_t sv = format_string(c, spec, speclen, f, depth + 1);
      spec = sv.s->p;
      speclen = sv.s->len;
    }
    rf__val_t piece = fmt_one(c, v, spec, speclen);
    parts[np++] = piece.s;
    total += piece.s->len;
    if (total > c->l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
    i = j + 1;
    lit = i;
  }
  LIT(lit, len);
#undef LIT
  char *out = rf__alloc(c, total ? total : 1);
  size_t o = 0, ncp = 0;
  for (size_t k = 0; k < np; k++) {
    memcpy(out + o, parts[k]->p, parts[k]->len);
    o += parts[k]->len;
    ncp += parts[k]->ncp;
  }
  return rf__v_str(c, out, total, ncp);
}

rf__val_t rf__str_format(rf__ctx_t *c, const rf__str_t *fmt, int nargs, const rf__val_t *args,
                         int nkw, const char *const *kwnames, const rf__val_t *kw) {
  fmtctx_t f = {nargs, args, nkw, kwnames, kw, -2};
  return format_string(c, fmt->p, fmt->len, &f, 0);
}

/* ------------------------------------------------------------------ builtins */

rf__val_t rf__call_builtin(rf__ctx_t *c, const rf__node_t *n, int nargs, rf__val_t *args,
                           rf__val_t *kw, rf__node_t *gen) {
  int id = n->fn;
  const char *name = rf__fn_name(id);
  switch (id) {
  case FN_STR:
    argc_range(c, "str", nargs, 0, 1);
    return nargs ? rf__to_str(c, args[0]) : rf__v_str(c, "", 0, 0);
  case FN_REPR:
  case FN_ASCII:
    argc_range(c, name, nargs, 1, 1);
    rf_buf_reset(&c->tmp);
    rf__repr_of(c, args[0], &c->tmp, id == FN_ASCII);
    return rf__v_strbuf(c, &c->tmp);
  case FN_INT: {
    rf__val_t *kb = kwarg(n, kw, "base");
    if (nargs > 2)
      rf__raise(c, "TypeError", "int() takes at most 2 arguments (%d given)", nargs);
    if (kb && nargs == 2)
      rf__raise(c, "TypeError", "argument for int() given by name ('base') and position (2)");
    bool hasbase = nargs == 2 || kb;
    rf__val_t bv = nargs == 2 ? args[1] : kb ? *kb : rf__v_int(10);
    if (nargs == 0) {
      if (hasbase)
        rf__raise(c, "TypeError", "int() missing string argument");
      return rf__v_int(0);
    }
    rf__val_t x = args[0];
    if (hasbase) {
      if (!rf__is_int(bv))
        rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                  rf__type_name(bv));
      int64_t b = bv.t == VT_BIG ? 99 : bv.i;
      if (x.t != VT_STR)
        rf__raise(c, "TypeError", "int() can't convert non-string with explicit base");
      if (b != 0 && (b < 2 || b > 36))
        rf__raise(c, "ValueError", "int() base must be >= 2 and <= 36, or 0");
      return rf__int_from_str(c, x.s, (int)b);
    }
    switch (x.t) {
    case VT_STR: return rf__int_from_str(c, x.s, 10);
    case VT_BOOL: return rf__v_int(x.i);
    case VT_INT:
    case VT_BIG: return x;
    case VT_FLOAT: return float_to_int(c, x.f);
    default:
      rf__raise(c, "TypeError",
                "int() argument must be a string, a bytes-like object or a real number, not '%s'",
                rf__type_name(x));
    }
  }
  case FN_FLOAT:
    argc_range(c, "float", nargs, 0, 1);
    if (nargs == 0)
      return rf__v_float(0.0);
    switch (args[0].t) {
    case VT_STR: return rf__float_from_str(c, args[0].s);
    case VT_FLOAT: return args[0];
    case VT_BOOL:
    case VT_INT:
    case VT_BIG: return rf__v_float(rf__to_double(c, args[0]));
    default:
      rf__raise(c, "TypeError", "float() argument must be a string or a real number, not '%s'",
                rf__type_name(args[0]));
    }
  case FN_BOOL:
    argc_range(c, "bool", nargs, 0, 1);
    return rf__v_bool(nargs && rf__truthy(args[0]));
  case FN_LEN: {
    argc_range(c, "len", nargs, 1, 1);
    rf__val_t v = args[0];
    switch (v.t) {
    case VT_STR: return rf__v_int((int64_t)v.s->ncp);
    case VT_LIST:
    case VT_TUPLE: return rf__v_int((int64_t)v.q->n);
    case VT_DICT: return rf__v_int((int64_t)v.d->n);
    case VT_RANGE: {
      int64_t len = 0;
      const rf__range_t *r = v.r;
      if (r->step > 0 && r->start < r->stop)
        len = (int64_t)(((__int128)r->stop - r->start - 1) / r->step + 1);
      else if (r->step < 0 && r->start > r->stop)
        len = (int64_t)(((__int128)r->start - r->stop - 1) / (-(__int128)r->step) + 1);
      return rf__v_int(len);
    }
    default:
      rf__raise(c, "TypeError", "object of type '%s' has no len()", rf__type_name(v));
    }
  }
  case FN_ROUND:
    return do_round(c, nargs, args, n, kw);
  case FN_ABS:
    argc_range(c, "abs", nargs, 1, 1);
    if (args[0].t == VT_FLOAT)
      return rf__v_float(fabs(args[0].f));
    if (rf__is_int(args[0])) {
      if (args[0].t != VT_BIG ? args[0].i < 0 : mpz_sgn(args[0].z->z) < 0)
        return rf__unary(c, OP_NEG, args[0]);
      return args[0].t == VT_BOOL ? rf__v_int(args[0].i) : args[0];
    }
    rf__raise(c, "TypeError", "bad operand type for abs(): '%s'", rf__type_name(args[0]));
  case FN_MIN:
  case FN_MAX:
    return do_minmax(c, id == FN_MAX, nargs, args, n, kw, gen);
  case FN_SUM: {
    if (nargs < 1 || nargs > 2)
      rf__raise(c, "TypeError", "sum() takes at most 2 arguments (%d given)", nargs);
    rf__val_t *ks = kwarg(n, kw, "start");
    acc_t a = {nargs == 2 ? args[1] : ks ? *ks : rf__v_int(0)};
    if (a.v.t == VT_STR)
      rf__raise(c, "TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
    each(c, args[0], gen, sum_fn, &a);
    return a.v;
  }
  case FN_ANY:
  case FN_ALL: {
    argc_range(c, name, nargs, 1, 1);
    anyall_t a = {id == FN_ANY, false};
    each(c, args[0], gen, anyall_fn, &a);
    return rf__v_bool(id == FN_ANY ? a.found : !a.found);
  }
  case FN_LIST:
  case FN_TUPLE:
    argc_range(c, name, nargs, 0, 1);
    if (nargs == 0)
      return rf__v_seq(c, id == FN_LIST ? VT_LIST : VT_TUPLE, 0);
    {
      rf__val_t r = materialise(c, args[0], gen, id == FN_LIST ? VT_LIST : VT_TUPLE);
      if (!gen && id == FN_LIST && r.q == args[0].q) {
        /* list(a_list) is a copy */
        r = rf__to_list(c, rf__to_list(c, args[0], VT_TUPLE), VT_LIST);
      }
      return r;
    }
  case FN_SORTED: {
    if (nargs != 1)
      rf__raise(c, "TypeError", "sorted expected 1 argument, got %d", nargs);
    rf__val_t *kr = kwarg(n, kw, "reverse");
    bool rev = false;
    if (kr) {
      if (kr->t == VT_FLOAT)
        rf__raise(c, "TypeError", "'float' object cannot be interpreted as an integer");
      rev = rf__truthy(*kr);
    }
    rf__val_t l = materialise(c, args[0], gen, VT_TUPLE);
    rf__val_t r = rf__v_seq(c, VT_LIST, l.q->n);
    rf__seq_t *q = (rf__seq_t *)r.q;
    if (l.q->n)
      memcpy(q->it, l.q->it, l.q->n * sizeof(rf__val_t));
    rf__val_t *tmp = rf__alloc(c, (l.q->n ? l.q->n : 1) * sizeof(rf__val_t));
    merge_sort(c, q->it, tmp, q->n, rev);
    return r;
  }
  case FN_FORMAT: {
    argc_range(c, "format", nargs, 1, 2);
    if (nargs == 2 && args[1].t != VT_STR)
      rf__raise(c, "TypeError", "format() argument 2 must be str, not %s", rf__type_name(args[1]));
    if (nargs == 1)
      return fmt_one(c, args[0], "", 0);
    return fmt_one(c, args[0], args[1].s->p, args[1].s->len);
  }
  case FN_RANGE: {
    argc_range(c, "range", nargs, 1, 3);
    int64_t v[3] = {0, 0, 0};
    for (int i = 0; i < nargs; i++) {
      if (!rf__is_int(args[i]))
        rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                  rf__type_name(args[i]));
      if (args[i].t == VT_BIG)
        rf__raise(c, "LimitError", "range bounds must fit in 64 bits");
      v[i] = args[i].i;
    }
    rf__range_t *r = rf__alloc(c, sizeof(*r));
    r->start = nargs == 1 ? 0 : v[0];
    r->stop = nargs == 1 ? v[0] : v[1];
    r->step = nargs == 3 ? v[2] : 1;
    if (r->step == 0)
      rf__raise(c, "ValueError", "range() arg 3 must not be zero");
    rf__val_t rv = {.t = VT_RANGE};
    rv.r = r;
    return rv;
  }
  case FN_ENUMERATE: {
    rf__val_t *ks = kwarg(n, kw, "start");
    if (nargs < 1 || nargs > 2)
      rf__raise(c, "TypeError", "enumerate() takes at most 2 arguments (%d given)", nargs);
    rf__val_t st = nargs == 2 ? args[1] : ks ? *ks : rf__v_int(0);
    if (!rf__is_int(st))
      rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                rf__type_name(st));
    rf__val_t l = materialise(c, args[0], gen, VT_TUPLE);
    rf__val_t r = rf__v_seq(c, VT_LIST, l.q->n);
    rf__val_t k = st.t == VT_BOOL ? rf__v_int(st.i) : st;
    for (size_t i = 0; i < l.q->n; i++) {
      rf__val_t t = rf__v_seq(c, VT_TUPLE, 2);
      ((rf__seq_t *)t.q)->it[0] = k;
      ((rf__seq_t *)t.q)->it[1] = l.q->it[i];
      ((rf__seq_t *)r.q)->it[i] = t;
      k = rf__binop(c, OP_ADD, k, rf__v_int(1));
    }
    return r;
  }
  case FN_ZIP: {
    rf__val_t *ls = rf__alloc(c, (size_t)(nargs ? nargs : 1) * sizeof(*ls));
    size_t m = (size_t)-1;
    for (int i = 0; i < nargs; i++) {
      ls[i] = materialise(c, args[i], i == 0 ? gen : NULL, VT_TUPLE);
      if (ls[i].q->n < m)
        m = ls[i].q->n;
    }
    if (nargs == 0)
      m = 0;
    rf__val_t r = rf__v_seq(c, VT_LIST, m);
    for (size_t j = 0; j < m; j++) {
      rf__val_t t = rf__v_seq(c, VT_TUPLE, (size_t)nargs);
      for (int i = 0; i < nargs; i++)
        ((rf__seq_t *)t.q)->it[i] = ls[i].q->it[j];
      ((rf__seq_t *)r.q)->it[j] = t;
    }
    return r;
  }
  case FN_REVERSED: {
    argc_range(c, "reversed", nargs, 1, 1);
    rf__val_t v = args[0];
    if (gen || (v.t != VT_STR && v.t != VT_LIST && v.t != VT_TUPLE && v.t != VT_RANGE &&
                v.t != VT_DICT))
      rf__raise(c, "TypeError", "'%s' object is not reversible",
                gen ? "generator" : rf__type_name(v));
    rf__val_t l = rf__to_list(c, v, VT_TUPLE);
    rf__val_t r = rf__v_seq(c, VT_LIST, l.q->n);
    for (size_t i = 0; i < l.q->n; i++)
      ((rf__seq_t *)r.q)->it[i] = l.q->it[l.q->n - 1 - i];
    return r;
  }
  case FN_RE_SUB:
  case FN_RE_MATCH:
  case FN_RE_SEARCH:
  case FN_RE_FULLMATCH:
  case FN_RE_FINDALL:
  case FN_RE_SPLIT:
    return do_re(c, id, nargs, args, n, kw);
  case FN_STRPTIME: {
    if (nargs != 2)
      rf__raise(c, "TypeError", "strptime() takes exactly 2 arguments (%d given)", nargs);
    for (int i = 0; i < 2; i++)
      if (args[i].t != VT_STR)
        rf__raise(c, "TypeError", "strptime() argument %d must be str, not %s", i + 1,
                  rf__type_name(args[i]));
    rf__work(c, (args[0].s->len + args[1].s->len) * 8);
    rf_py_datetime_t dt;
    memset(&dt, 0, sizeof(dt));
    rf_pyerr_t err = {0};
    if (rf_py_strptime(args[0].s->p, args[0].s->len, args[1].s->p, args[1].s->len, &dt, &err) != 0)
      rf__raise_err(c, &err);
    return dt_value(c, &dt);
  }
  default:
    rf__raise(c, "SystemError", "unknown builtin %d", id);
  }
}

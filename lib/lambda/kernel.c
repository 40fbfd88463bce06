/* kernel.c - straight str pipelines run without the tree walker.
 *
 * Most fixes are one chain of str operations on x, maybe ending in a
 * conversion: x.strip().lower(), float(x.split()[0]), re.sub(r'[^0-9.]', '', x).
 * Through the tree walker each step boxes a value, allocates a header in the
 * arena and dispatches by node kind, argument count and receiver type, which
 * costs more than the work itself on short values. At compile time such a
 * body is also compiled into a kernel: a flat list of byte-level operations on
 * one (pointer, length) view, executed per row straight into the ctx's result
 * buffer, with no arena, no jump buffer and no boxing.
 *
 * The kernel is an accelerator, never a second semantics: it either produces
 * exactly the tree walker's result or declines (returns 0) and the row goes
 * through the tree walker, which then produces the result or the exception.
 * It declines on anything it does not handle exactly: invalid UTF-8, an index
 * out of range, a number it does not parse, a capital sigma under lower(),
 * and any input for which a conservative bound of the tree walker's steps,
 * memory, string or list size reaches a limit (so a LimitError is never
 * hidden). Operations (each with CPython's semantics, on any valid UTF-8):
 *   strip/lstrip/rstrip()          Unicode whitespace; or a literal char set
 *   lower/upper/casefold()         full case mapping (ucd.c)
 *   split()[k], split(sep)[k]      literal sep and int k; no list is built
 *   replace(old, new)              literal, non-empty old
 *   removeprefix/removesuffix(s)   literal s
 *   re.sub(CLASS, repl, ...)       refast.c's filter, literal repl
 * ending optionally in float(...), int(...) (base 10) or str(...).
 * The unit tests and the fuzzer compare kernel and tree walker on the same
 * inputs (a copy of the lambda with its kernel pointer cleared).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

enum kop_kind { KO_STRIP, KO_STRIPSET, KO_CASE, KO_SPLITWS, KO_SPLITSEP, KO_REPLACE,
                KO_PREFIX, KO_SUFFIX, KO_REFILT };
enum { KF_STR, KF_FLOAT, KF_INT };
/* Fused one-pass forms of the commonest chains (chosen at build time):
 *   FAST_CASE  [strip/lstrip/rstrip()] then lower/upper/casefold(), as str
 *   FAST_WORD  split()[k] with k >= 0, then float/int/str
 * Each handles the usual inputs itself and hands the rest to the generic
 * loop (run_case/run_word return -1), which is exact on every input. */
enum { FAST_NONE, FAST_CASE, FAST_WORD };
#define MAX_OPS 16

typedef struct kop {
  uint8_t kind;
  uint8_t which;       /* strip: 1 left, 2 right; case: enum rf__case */
  const rf__str_t *a;  /* strip set, split sep, replace old, affix */
  const rf__str_t *b;  /* replace new, re.sub repl */
  const uint32_t *set; /* KO_STRIPSET: code points of a */
  size_t nset;
  int64_t idx;         /* split index */
  const rf__refilt_t *filt;
} kop_t;

struct rf__kernel {
  int nops;
  int final;
  int fast;      /* FAST_* */
  uint8_t strip; /* FAST_CASE: 1 left, 2 right */
  uint8_t how;   /* FAST_CASE: enum rf__case */
  const rf__cmap_t *ctab; /* FAST_CASE: ucd.c's two-byte table for how */
  size_t safe_len; /* longest string for which no limit of the tree walker can be hit */
  kop_t ops[MAX_OPS];
};

/* ------------------------------------------------------------------ compile */

static bool const_str(const rf__node_t *n) {
  return n->kind == NK_CONST && n->cval.t == VT_STR;
}

static bool const_none(const rf__node_t *n) {
  return n->kind == NK_CONST && n->cval.t == VT_NONE;
}

static bool const_int(const rf__node_t *n, int64_t *v) {
  if (n->kind == NK_CONST && n->cval.t == VT_INT) {
    *v = n->cval.i;
    return true;
  }
  if (n->kind == NK_UNARY && n->op == OP_NEG && n->a->kind == NK_CONST && n->a->cval.t == VT_INT &&
      n->a->cval.i > INT64_MIN) {
    *v = -n->a->cval.i;
    return true;
  }
  return false;
}

static uint64_t count_nodes(const rf__node_t *n) {
  if (!n)
    return 0;
  uint64_t k = 1 + count_nodes(n->a) + count_nodes(n->b) + count_nodes(n->c);
  for (int i = 0; i < n->nargs; i++)
    k += count_nodes(n->args[i]);
  for (int i = 0; i < n->nkw; i++)
    k += count_nodes(n->kw[i]);
  return k;
}

static kop_t *push(rf__kernel_t *k) {
  if (k->nops == MAX_OPS)
    return NULL;
  kop_t *o = &k->ops[k->nops++];
  memset(o, 0, sizeof(*o));
  return o;
}

/* Append the operations of n (a str-valued chain ending in x) to k. */
static bool chain(rf__cc_t *cc, rf__kernel_t *k, const rf__node_t *n) {
  if (n->kind == NK_LOCAL)
    return n->fn == 0; /* slot 0 is the parameter x */
  if (n->kind == NK_SUBSCR) {
    const rf__node_t *call = n->a;
    int64_t idx;
    if (call->kind != NK_CALL || call->fn != M_SPLIT || call->nkw || call->nargs > 1 ||
        !const_int(n->b, &idx) || !chain(cc, k, call->a))
      return false;
    kop_t *o = push(k);
    if (!o)
      return false;
    o->idx = idx;
    if (call->nargs == 0 || const_none(call->args[0])) {
      o->kind = KO_SPLITWS;
      return true;
    }
    if (!const_str(call->args[0]) || call->args[0]->cval.s->len == 0)
      return false;
    o->kind = KO_SPLITSEP;
    o->a = call->args[0]->cval.s;
    return true;
  }
  if (n->kind != NK_CALL || n->nkw)
    return false;
  if (n->fn == FN_RE_SUB) {
    if (!n->refilt || n->nargs != 3 || !const_str(n->args[1]) ||
        memchr(n->args[1]->cval.s->p, '\\', n->args[1]->cval.s->len) ||
        !chain(cc, k, n->args[2]))
      return false;
    kop_t *o = push(k);
    if (!o)
      return false;
    o->kind = KO_REFILT;
    o->filt = n->refilt;
    o->b = n->args[1]->cval.s;
    return true;
  }
  if (n->fn <= FN_BUILTIN_END || !chain(cc, k, n->a))
    return false;
  kop_t *o = push(k);
  if (!o)
    return false;
  switch (n->fn) {
  case M_STRIP:
  case M_LSTRIP:
  case M_RSTRIP:
    o->which = n->fn == M_STRIP ? 3 : n->fn == M_LSTRIP ? 1 : 2;
    if (n->nargs == 0 || (n->nargs == 1 && const_none(n->args[0]))) {
      o->kind = KO_STRIP;
      return true;
    }
    if (n->nargs != 1 || !const_str(n->args[0]))
      return false;
    o->kind = KO_STRIPSET;
    o->a = n->args[0]->cval.s;
    {
      uint32_t *set = rf__cc_alloc(cc, (o->a->ncp + 1) * sizeof(*set));
      size_t i = 0;
      while (i < o->a->len)
        set[o->nset++] = rf__utf8_get(o->a->p, &i);
      o->set = set;
    }
    return true;
  case M_LOWER:
  case M_UPPER:
  case M_CASEFOLD:
    if (n->nargs)
      return false;
    o->kind = KO_CASE;
    o->which = n->fn == M_LOWER ? RF_CASE_LOWER : n->fn == M_UPPER ? RF_CASE_UPPER : RF_CASE_FOLD;
    return true;
  case M_REPLACE:
    if (n->nargs != 2 || !const_str(n->args[0]) || !const_str(n->args[1]) ||
        n->args[0]->cval.s->len == 0)
      return false;
    o->kind = KO_REPLACE;
    o->a = n->args[0]->cval.s;
    o->b = n->args[1]->cval.s;
    return true;
  case M_REMOVEPREFIX:
  case M_REMOVESUFFIX:
    if (n->nargs != 1 || !const_str(n->args[0]))
      return false;
    o->kind = n->fn == M_REMOVEPREFIX ? KO_PREFIX : KO_SUFFIX;
    o->a = n->args[0]->cval.s;
    return true;
  default:
    return false;
  }
}

/* The tree walker's cost on strings of at most L bytes is bounded by
 *   steps(L) = nodes + 2 + (nops + 1) * (8 + L/4) + 2001-ish per re call
 *     (one step per node; each str method and conversion charges at most
 *     3 * (1 + 4L/64); re.sub also 1 + re_match_limit/50),
 *   bytes(L) = 512 + nops * (1024 + 160 L) + 8 L
 *     (headers, copies, decoded code point arrays, split's list growth),
 * and its strings and lists by L (+1 items). safe_len is the largest L within
 * every limit: a row whose strings all stay within it cannot raise
 * LimitError in the tree walker, so the kernel's result is the tree walker's. */
static bool safe_len(rf__kernel_t *k, uint64_t nodes, const rf_lambda_limits_t *lim) {
  uint64_t n1 = (uint64_t)k->nops + 1, fixed = nodes + 2 + n1 * 8;
  bool split = false;
  for (int i = 0; i < k->nops; i++) {
    if (k->ops[i].kind == KO_REFILT)
      fixed += 2 + lim->re_match_limit / 50;
    split |= k->ops[i].kind == KO_SPLITWS || k->ops[i].kind == KO_SPLITSEP;
  }
  if (fixed > lim->max_steps)
    return false; /* a step budget below the fixed cost: always the tree walker */
  uint64_t L = lim->max_str_bytes;
  if (4 * ((lim->max_steps - fixed) / n1) < L)
    L = 4 * ((lim->max_steps - fixed) / n1);
  if (lim->max_memory) {
    uint64_t per = (uint64_t)k->nops * 160 + 8, base = 512 + (uint64_t)k->nops * 1024;
    uint64_t m = lim->max_memory > base ? (lim->max_memory - base) / per : 0;
    if (m < L)
      L = m;
  }
  if (split && lim->max_list_items < L + 1)
    L = lim->max_list_items ? lim->max_list_items - 1 : 0;
  k->safe_len = (size_t)L;
  return true;
}

void rf__kernel_build(rf__cc_t *cc) {
  rf_lambda_t *l = cc->l;
  const rf__node_t *n = l->body;
  rf__kernel_t *k = rf__cc_alloc(cc, sizeof(*k));
  memset(k, 0, sizeof(*k));
  k->final = KF_STR;
  if (n->kind == NK_CALL && n->nargs == 1 && n->nkw == 0 &&
      (n->fn == FN_FLOAT || n->fn == FN_INT || n->fn == FN_STR)) {
    k->final = n->fn == FN_FLOAT ? KF_FLOAT : n->fn == FN_INT ? KF_INT : KF_STR;
    if (!chain(cc, k, n->args[0]))
      return;
  } else if (!chain(cc, k, n)) {
    return;
  }
  if (!safe_len(k, count_nodes(n), &l->lim))
    return;
  const kop_t *o = k->ops;
  if (k->final == KF_STR && k->nops >= 1 && k->nops <= 2 && o[k->nops - 1].kind == KO_CASE &&
      (k->nops == 1 || o[0].kind == KO_STRIP)) {
    k->fast = FAST_CASE;
    k->strip = k->nops == 2 ? o[0].which : 0;
    k->how = o[k->nops - 1].which;
    k->ctab = rf__u_case_table((enum rf__case)k->how);
  } else if (k->nops == 1 && o[0].kind == KO_SPLITWS && o[0].idx >= 0) {
    k->fast = FAST_WORD;
  }
  l->kernel = k;
}

/* ------------------------------------------------------------------ run */

#define ascii_space rf__ascii_space

/* Room for n more bytes in b, without a call when it is already there. */
static inline bool room(rf_buf_t *b, size_t n) {
  return b->len + n < b->cap || rf_buf_reserve(b, n);
}

/* 0x80 in each byte of w that is ASCII whitespace (\t-\r, \x1c-' '). */
static inline uint64_t ws_mask(uint64_t w) {
  const uint64_t ones = UINT64_C(0x0101010101010101), h = ones * 0x80;
  uint64_t v = w & ~h;
  uint64_t r1 = (v + ones * (0x80 - 9)) & ~(v + ones * (0x7f - 13));
  uint64_t r2 = (v + ones * (0x80 - 28)) & ~(v + ones * (0x7f - 32));
  return (r1 | r2) & ~w & h;
}

#define HI8 UINT64_C(0x8080808080808080)

/* The bytes p[i .. min(i + 8, n)) as a little-endian word, zero above them;
 * reads nothing outside p[0..n) (i < n). */
static inline uint64_t load8(const unsigned char *p, size_t i, size_t n) {
  uint64_t v;
  size_t r = n - i;
  if (r >= 8) {
    memcpy(&v, p + i, 8);
  } else if (n >= 8) {
    memcpy(&v, p + n - 8, 8);
    v >>= 8 * (8 - r);
  } else if (r >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, p + i, 4);
    memcpy(&hi, p + n - 4, 4);
    v = lo | (uint64_t)hi << (8 * (r - 4));
  } else {
    v = p[i];
    if (r > 1)
      v |= (uint64_t)p[i + 1] << 8;
    if (r > 2)
      v |= (uint64_t)p[i + 2] << 16;
  }
  return v;
}

/* First index in [i, e) whose byte is not ASCII whitespace, 8 at a time. */
static inline size_t span_ws(const char *p, size_t i, size_t e) {
  for (; i + 8 <= e; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    uint64_t stop = ~ws_mask(w) & HI8;
    if (stop)
      return i + ((size_t)__builtin_ctzll(stop) >> 3);
  }
  while (i < e && ascii_space((unsigned char)p[i]))
    i++;
  return i;
}

/* First index in [i, e) whose byte is ASCII whitespace or not ASCII. */
static inline size_t span_word(const char *p, size_t i, size_t e) {
  for (; i + 8 <= e; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    uint64_t stop = (ws_mask(w) | w) & HI8;
    if (stop)
      return i + ((size_t)__builtin_ctzll(stop) >> 3);
  }
  while (i < e && (unsigned char)p[i] < 0x80 && !ascii_space((unsigned char)p[i]))
    i++;
  return i;
}

/* Smallest e' >= b with p[e'..e) all ASCII whitespace. */
static inline size_t rspan_ws(const char *p, size_t b, size_t e) {
  for (; e >= b + 8; e -= 8) {
    uint64_t w;
    memcpy(&w, p + e - 8, 8);
    uint64_t stop = ~ws_mask(w) & HI8;
    if (stop)
      return e - ((size_t)__builtin_clzll(stop) >> 3);
  }
  while (e > b && ascii_space((unsigned char)p[e - 1]))
    e--;
  return e;
}

/* start of the code point that ends at p[e] (exclusive) */
static inline size_t cp_start(const char *p, size_t e) {
  size_t s = e - 1;
  while (s > 0 && ((unsigned char)p[s] & 0xC0) == 0x80)
    s--;
  return s;
}

static bool in_set(const kop_t *o, uint32_t cp) {
  for (size_t i = 0; i < o->nset; i++)
    if (o->set[i] == cp)
      return true;
  return false;
}

static void strip(const kop_t *o, const char *p, size_t *bp, size_t *ep) {
  size_t b = *bp, e = *ep;
  bool ws = o->kind == KO_STRIP;
  if (ws && (o->which & 1))
    b = span_ws(p, b, e);
  if (ws && (o->which & 2))
    e = rspan_ws(p, b, e);
  if (o->which & 1)
    while (b < e) {
      unsigned char ch = (unsigned char)p[b];
      size_t j = b;
      if (ch < 0x80) {
        if (!(ws ? ascii_space(ch) : in_set(o, ch)))
          break;
        b++;
        continue;
      }
      uint32_t cp = rf__utf8_get(p, &j);
      if (!(ws ? rf__u_isspace(cp) : in_set(o, cp)))
        break;
      b = j;
    }
  if (o->which & 2)
    while (e > b) {
      unsigned char ch = (unsigned char)p[e - 1];
      if (ch < 0x80) {
        if (!(ws ? ascii_space(ch) : in_set(o, ch)))
          break;
        e--;
        continue;
      }
      size_t s = cp_start(p, e), j = s;
      uint32_t cp = rf__utf8_get(p, &j);
      if (!(ws ? rf__u_isspace(cp) : in_set(o, cp)))
        break;
      e = s;
    }
  *bp = b;
  *ep = e;
}

/* Is the code point at p[*i] whitespace? Advances *i past it. */
static inline bool ws_at(const char *p, size_t *i) {
  unsigned char ch = (unsigned char)p[*i];
  if (ch < 0x80) {
    (*i)++;
    return ascii_space(ch);
  }
  return rf__u_isspace(rf__utf8_get(p, i));
}

/* x.split()[idx]: the word's bytes in [*b, *e); false for IndexError. The
 * words of split() and rsplit() without maxsplit are the same list, so a
 * negative index scans from the right. */
static bool split_ws(const char *p, size_t len, int64_t idx, size_t *b, size_t *e) {
  if (idx >= 0) {
    size_t i = 0;
    int64_t k = 0;
    for (;;) {
      for (;;) { /* skip whitespace */
        i = span_ws(p, i, len);
        size_t j = i;
        if (i >= len || (unsigned char)p[i] < 0x80 || !ws_at(p, &j))
          break;
        i = j;
      }
      if (i >= len)
        return false;
      size_t st = i;
      for (;;) { /* the word */
        i = span_word(p, i, len);
        size_t j = i;
        if (i >= len || (unsigned char)p[i] < 0x80 || ws_at(p, &j))
          break;
        i = j;
      }
      if (k++ == idx) {
        *b = st;
        *e = i;
        return true;
      }
    }
  }
  size_t i = len;
  int64_t k = -1;
  for (;;) {
    while (i > 0) {
      size_t s = cp_start(p, i), j = s;
      if (!ws_at(p, &j))
        break;
      i = s;
    }
    if (i == 0)
      return false;
    size_t en = i;
    while (i > 0) {
      size_t s = cp_start(p, i), j = s;
      if (ws_at(p, &j))
        break;
      i = s;
    }
    if (k-- == idx) {
      *b = i;
      *e = en;
      return true;
    }
  }
}

/* x.split(sep)[idx] with a non-empty literal sep (left-to-right pieces). */
static bool split_sep(const char *p, size_t len, const rf__str_t *sep, int64_t idx, size_t *b,
                      size_t *e) {
  if (idx < 0) {
    int64_t n = 1;
    const char *h = p, *he = p + len, *f;
    while ((f = memmem(h, (size_t)(he - h), sep->p, sep->len)) != NULL) {
      n++;
      h = f + sep->len;
    }
    idx += n;
    if (idx < 0)
      return false;
  }
  const char *h = p, *he = p + len;
  for (int64_t k = 0;; k++) {
    const char *f = memmem(h, (size_t)(he - h), sep->p, sep->len);
    if (k == idx) {
      *b = (size_t)(h - p);
      *e = f ? (size_t)(f - p) : len;
      return true;
    }
    if (!f)
      return false;
    h = f + sep->len;
  }
}

/* 0x80 in each byte of w that is not an ASCII digit. */
static inline uint64_t nondigit_mask(uint64_t w) {
  const uint64_t ones = UINT64_C(0x0101010101010101);
  uint64_t v = w & ~HI8;
  uint64_t dig = (v + ones * (0x80 - '0')) & ~(v + ones * (0x7f - '9')) & ~w & HI8;
  return ~dig & HI8;
}

/* First index in [i, e) whose byte is not an ASCII digit, 8 at a time. */
static inline size_t span_digits(const char *p, size_t i, size_t e) {
  const unsigned char *s = (const unsigned char *)p;
  while (i < e) {
    size_t r = e - i;
    uint64_t m = nondigit_mask(load8(s, i, e));
    if (r < 8)
      m |= (uint64_t)0x80 << (8 * r); /* the zeros past e */
    if (m)
      return i + ((size_t)__builtin_ctzll(m) >> 3);
    i += 8;
  }
  return e;
}

/* w[0..n) = s[0..n) for n <= 16 without a call. */
static inline void copy16(char *w, const char *s, size_t n) {
  if (n >= 8) {
    memcpy(w, s, 8);
    memcpy(w + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    memcpy(w, s, 4);
    memcpy(w + n - 4, s + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; i++)
      w[i] = s[i];
  }
}

/* float(s) for the plain ASCII forms; false to decline. Writes str(result).
 *
 * [sign] digits [. digits] with at most 15 digits in all: the value is
 * m / 10**k, correctly rounded (Clinger: both are exact doubles), and a
 * decimal of at most 15 significant digits is the shortest repr of its
 * nearest double (DBL_DIG), so repr() prints exactly those digits, without
 * leading and trailing zeros, in repr's fixed layout (below 1e15; from 1e-4
 * on, else the general path): the input's own bytes from the first
 * significant integer digit to the last non-zero fraction digit ("0597.90"
 * -> "597.9"), ".0" after an integer, "0." before a fraction. Other plain
 * forms (more digits, an exponent) go through strtod (correctly rounded) and
 * rf__float_str, as the tree walker does. */
static bool float_text(const char *p, size_t len, rf_buf_t *out) {
  size_t b = 0, e = len;
  while (b < e && ascii_space((unsigned char)p[b]))
    b++;
  while (e > b && ascii_space((unsigned char)p[e - 1]))
    e--;
  size_t i = b;
  bool neg = false;
  if (i < e && (p[i] == '+' || p[i] == '-'))
    neg = p[i++] == '-';
  size_t is = i, ie = span_digits(p, i, e), fs = ie, fe = ie; /* int [is, ie), fraction [fs, fe) */
  i = ie;
  if (i < e && p[i] == '.') {
    fs = i + 1;
    fe = i = span_digits(p, fs, e);
  }
  size_t ndig = (ie - is) + (fe - fs);
  if (ndig == 0)
    return false;
  if (i == e && ndig <= 15) {
    size_t ia = is, ft = fe;
    while (ia < ie && p[ia] == '0')
      ia++;
    while (ft > fs && p[ft - 1] == '0')
      ft--;
    size_t lz = 0; /* zeros after the point, before the first significant digit */
    if (ia == ie)
      while (fs + lz < ft && p[fs + lz] == '0')
        lz++;
    if (ia == ie && ft > fs && lz > 3)
      goto general; /* repr's 1e-05 layout */
    if (!room(out, 48))
      return false;
    char *w = out->data + out->len, *w0 = w;
    *w = '-';
    w += neg;
    if (ia < ie && ft > fs) { /* int.frac: the input's bytes, point included */
      copy16(w, p + ia, ft - ia);
      w += ft - ia;
    } else if (ia < ie) { /* int.0 */
      copy16(w, p + ia, ie - ia);
      w += ie - ia;
      memcpy(w, ".0", 2);
      w += 2;
    } else if (ft > fs) { /* 0.frac */
      memcpy(w, "0.", 2);
      copy16(w + 2, p + fs, ft - fs);
      w += 2 + (ft - fs);
    } else {
      memcpy(w, "0.0", 3);
      w += 3;
    }
    out->len += (size_t)(w - w0);
    out->data[out->len] = '\0';
    return true;
  }
  /* [exponent]: Python's grammar without underscores, through strtod */
  size_t j = i;
  if (j < e && (p[j] == 'e' || p[j] == 'E')) {
    j++;
    if (j < e && (p[j] == '+' || p[j] == '-'))
      j++;
    size_t ds = j;
    while (j < e && p[j] >= '0' && p[j] <= '9')
      j++;
    if (j == ds)
      return false;
  }
  if (j != e || e - b > 400)
    return false;
general:;
  char tmp[416];
  memcpy(tmp, p + b, e - b);
  tmp[e - b] = '\0';
  rf__float_str(strtod(tmp, NULL), out);
  return true;
}

/* 0x80 in each byte of v that is not '0'. */
static inline uint64_t nonzero_digit_mask(uint64_t v) {
  const uint64_t lo7 = ~HI8;
  uint64_t z = v ^ (lo7 / 0x7f * '0'); /* '0' bytes become 0 */
  return (((z & lo7) + lo7) | z) & HI8;
}

/* Bytes [0, b) of a word: 0xFF each (b <= 7). */
static inline uint64_t below(size_t b) {
  return (UINT64_C(1) << (8 * b)) - 1;
}

/* float_text for a word w[0..wl) of x (no whitespace in it) when it is
 * [sign] digits [. digits] within 7 bytes after the sign: the same text,
 * from one word load and masks instead of a scan per part. x[0..xlen) is
 * readable around it. 1 done, 0 not this form (float_text decides), -1 out
 * of memory. */
static int float_word(const unsigned char *x, size_t xlen, size_t st, size_t wl, rf_buf_t *out) {
  uint64_t v = load8(x, st, xlen);
  bool neg = false;
  if (wl && (x[st] == '-' || x[st] == '+')) {
    neg = x[st] == '-';
    v >>= 8;
    wl--;
  }
  if (wl == 0 || wl > 7)
    return 0;
  uint64_t end = (uint64_t)0x80 << (8 * wl), nd = (nondigit_mask(v) & below(wl)) | end;
  size_t ie = (size_t)__builtin_ctzll(nd) >> 3, fs = ie, ft = ie;
  uint64_t nz = nonzero_digit_mask(v);
  if (ie < wl) { /* then the point, and digits up to the end */
    fs = ie + 1;
    if (((v >> (8 * ie)) & 0xFF) != '.' || (nd & ~below(fs)) != end || ie + (wl - fs) == 0)
      return 0;
    uint64_t f = nz & below(wl) & ~below(fs); /* non-zero fraction digits */
    ft = f ? (size_t)(64 - __builtin_clzll(f) + 7) >> 3 : fs;
  }
  size_t ia = (size_t)__builtin_ctzll(nz | (uint64_t)0x80 << (8 * ie)) >> 3; /* after leading zeros */
  if (!room(out, 24))
    return -1;
  char *w = out->data + out->len, *w0 = w;
  uint64_t t;
  *w = '-';
  w += neg;
  if (ia < ie) { /* int[.frac] or int.0 */
    t = v >> (8 * ia);
    memcpy(w, &t, 8);
    if (ft > fs) {
      w += ft - ia;
    } else {
      memcpy(w + (ie - ia), ".0", 2);
      w += ie - ia + 2;
    }
  } else if (ft > fs) { /* 0.frac, unless repr's 1e-05 layout */
    if ((size_t)__builtin_ctzll(nz & ~below(fs)) >> 3 > fs + 3)
      return 0;
    memcpy(w, "0.", 2);
    t = v >> (8 * fs);
    memcpy(w + 2, &t, 8);
    w += 2 + (ft - fs);
  } else {
    memcpy(w, "0.0", 3);
    w += 3;
  }
  out->len += (size_t)(w - w0);
  out->data[out->len] = '\0';
  return 1;
}

/* int(s) for ASCII [+-]digits; false to decline. Writes str(result). */
static bool int_text(const char *p, size_t len, size_t max_digits, rf_buf_t *out) {
  size_t b = 0, e = len;
  while (b < e && ascii_space((unsigned char)p[b]))
    b++;
  while (e > b && ascii_space((unsigned char)p[e - 1]))
    e--;
  bool neg = false;
  if (b < e && (p[b] == '+' || p[b] == '-'))
    neg = p[b++] == '-';
  if (b == e || e - b > max_digits)
    return false;
  for (size_t i = b; i < e; i++)
    if (p[i] < '0' || p[i] > '9')
      return false;
  while (b + 1 < e && p[b] == '0')
    b++;
  if (neg && !(e - b == 1 && p[b] == '0'))
    rf_buf_putc(out, '-');
  rf_buf_append(out, p + b, e - b);
  return true;
}

static inline int done(rf_lambda_result_t *res, const char *p, size_t len, const char *type) {
  res->ok = true;
  res->type = type;
  res->value = (char *)p;
  res->value_len = len;
  res->is_none = false;
  res->error = NULL;
  res->message[0] = '\0';
  res->borrowed = true;
  return 1;
}

/* FAST_CASE in one pass straight into c->out: the ASCII whitespace edges byte
 * by byte (short values: cheaper than the word scans), then the case mapping
 * 8 bytes at a time while they are ASCII, two-byte sequences through ucd.c's
 * table. A non-ASCII edge (it may be Unicode whitespace) takes strip()'s exact
 * loop; anything the table does not hold (a longer sequence, the capital
 * sigma, a mapping ICU gives per character) and any malformed byte go to the
 * generic loop (-1). */
static __attribute__((noinline)) int run_case(rf__ctx_t *c, const rf__kernel_t *k, const char *x,
                                              size_t xlen, bool trusted, rf_lambda_result_t *res) {
  const unsigned char *s = (const unsigned char *)x;
  bool up = k->how == RF_CASE_UPPER;
  size_t b = 0, e = xlen;
  if (k->strip && xlen) {
    /* the first and the last (up to) 8 bytes, counted without a loop: the
     * zero bytes above a short value are not whitespace */
    uint64_t lm = ~ws_mask(load8(s, 0, xlen)) & HI8;
    uint64_t rm = ~ws_mask(load8(s, xlen > 8 ? xlen - 8 : 0, xlen) << (8 * (xlen > 8 ? 0 : 8 - xlen))) & HI8;
    if (k->strip & 1)
      b = lm ? (size_t)__builtin_ctzll(lm) >> 3 : span_ws(x, 8, xlen);
    if (b >= xlen)
      b = e = xlen; /* all whitespace */
    else if (k->strip & 2)
      e = rm ? xlen - ((size_t)__builtin_clzll(rm) >> 3) : rspan_ws(x, b, xlen - 8);
  }
  if (b < e && (((k->strip & 1) && s[b] >= 0x80) || ((k->strip & 2) && s[e - 1] >= 0x80))) {
    if (!trusted && rf_utf8_check(x, xlen) == (size_t)-1)
      return 0; /* the tree walker raises ValueError */
    kop_t o = {.kind = KO_STRIP, .which = k->strip};
    strip(&o, x, &b, &e);
  }
  size_t n = e - b; /* n <= xlen <= safe_len: 4n + 8 cannot overflow */
  rf_buf_t *out = &c->out;
  out->len = 0;
  out->oom = false;
  /* an ASCII byte writes 1 byte, a two-byte sequence at most 7 (copied as 7) */
  if (!room(out, 4 * n + 8))
    return 0;
  const unsigned char *q = s + b;
  char *w0 = out->data, *w = w0;
  size_t i = 0;
  /* Up to 8 bytes per turn as one little-endian word v (never read outside
   * x); its ASCII prefix is mapped and written as a whole word (the room
   * above covers the bytes past it, which later turns overwrite). Carries of
   * rf__swar_case only move up, so the bytes before the first non-ASCII one
   * map correctly. */
  while (i < n) {
    size_t r = n - i < 8 ? n - i : 8;
    uint64_t v = load8(q, i, n);
    uint64_t high = v & HI8, m = rf__swar_case(v, up);
    memcpy(w, &m, 8);
    if (!high) {
      w += r;
      i += r;
      continue;
    }
    size_t a = (size_t)__builtin_ctzll(high) >> 3;
    w += a;
    i += a;
    unsigned char ch = q[i];
    if (ch < 0xC2 || ch >= 0xE0 || i + 1 >= n || (q[i + 1] & 0xC0) != 0x80)
      return -1; /* three or four bytes, or malformed */
    const rf__cmap_t *cm = &k->ctab[(((uint32_t)(ch & 0x1F) << 6) | (q[i + 1] & 0x3Fu)) - 0x80];
    if ((unsigned)cm->n - 1u >= 7u)
      return -1; /* 0: context-dependent, 0xFF: per character */
    memcpy(w, cm->b, 7);
    w += cm->n;
    i += 2;
  }
  size_t len = (size_t)(w - w0);
  if (len > k->safe_len)
    return 0;
  w0[len] = '\0';
  out->len = len;
  return done(res, w0, len, "str");
}

/* Bit k set when byte k of v has its high bit. */
static inline uint32_t high_bits(uint64_t v) {
  return (uint32_t)((((v & HI8) >> 7) * UINT64_C(0x0102040810204080)) >> 56);
}

/* FAST_CASE on an x of 1..16 bytes: two words (overlapping, or one with
 * zeros above it) hold all of x. Their ASCII bytes are case-mapped and stored
 * whole (whitespace maps to itself), each two-byte sequence whose mapping is
 * two bytes too (sharp s, most Latin, Greek and Cyrillic letters) is patched
 * in at the same place, and the result is the stripped slice: no loop over
 * the bytes, no branch on the number of spaces or letters. A non-ASCII edge
 * (it may be Unicode whitespace), a sequence of another length or a mapping
 * of another length go to run_case. */
static inline int run_case_short(rf__ctx_t *c, const rf__kernel_t *k, const char *x, size_t xlen,
                                 bool trusted, rf_lambda_result_t *res) {
  if (xlen - 1 < 16) {
    const unsigned char *s = (const unsigned char *)x;
    bool up = k->how == RF_CASE_UPPER;
    uint64_t f, l;
    uint32_t hm; /* bit i: x[i] is not ASCII */
    if (xlen >= 8) {
      memcpy(&f, x, 8);
      memcpy(&l, x + xlen - 8, 8);
      hm = high_bits(f) | high_bits(l) << (xlen - 8);
    } else {
      f = load8(s, 0, xlen);
      l = f << (8 * (8 - xlen)); /* the zeros below are not whitespace */
      hm = high_bits(f);
    }
    uint64_t lm = ~ws_mask(f) & HI8, rm = ~ws_mask(l) & HI8;
    if (lm && rm) {
      size_t b = k->strip & 1 ? (size_t)__builtin_ctzll(lm) >> 3 : 0;
      size_t e = k->strip & 2 ? xlen - ((size_t)__builtin_clzll(rm) >> 3) : xlen;
      if (e < b)
        e = b; /* all whitespace (only a short x: a longer one had lm or rm 0) */
      if (hm && b < e && (((k->strip & 1) && s[b] >= 0x80) || ((k->strip & 2) && s[e - 1] >= 0x80)))
        return run_case(c, k, x, xlen, trusted, res);
      rf_buf_t *out = &c->out;
      out->len = 0;
      out->oom = false;
      if (!room(out, 16))
        return 0;
      /* high bits cleared: no carry between bytes; those bytes are rewritten */
      uint64_t mf = rf__swar_case(f & ~HI8, up), ml = rf__swar_case(l & ~HI8, up);
      memcpy(out->data, &mf, 8);
      if (xlen > 8)
        memcpy(out->data + xlen - 8, &ml, 8);
      while (hm) {
        unsigned i = (unsigned)__builtin_ctz(hm);
        unsigned char ch = s[i];
        if (ch < 0xC2 || ch >= 0xE0 || i + 1 >= xlen || (s[i + 1] & 0xC0) != 0x80)
          return run_case(c, k, x, xlen, trusted, res); /* longer, or malformed */
        const rf__cmap_t *cm = &k->ctab[(((uint32_t)(ch & 0x1F) << 6) | (s[i + 1] & 0x3Fu)) - 0x80];
        if (cm->n != 2)
          return run_case(c, k, x, xlen, trusted, res);
        memcpy(out->data + i, cm->b, 2);
        hm &= ~(3u << i);
      }
      out->data[e] = '\0';
      out->len = e;
      return done(res, out->data + b, e - b, "str");
    }
  }
  return run_case(c, k, x, xlen, trusted, res);
}

/* FAST_WORD: split()[k] (k >= 0) of an ASCII x in one forward scan that stops
 * at the k-th word, then the final conversion on the word, which holds no
 * whitespace. A non-ASCII byte before the word's end goes to the generic loop. */
static int run_word(rf__ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen, bool trusted,
                    rf_lambda_result_t *res) {
  const rf__kernel_t *k = l->kernel;
  const unsigned char *s = (const unsigned char *)x;
  if (!trusted && !rf__is_ascii(x, xlen))
    return -1; /* the generic loop validates */
  size_t i = 0, st;
  int64_t idx = k->ops[0].idx;
  for (;;) {
    for (;;) { /* whitespace, 8 bytes at a time (the zeros past the end stop it) */
      if (i >= xlen)
        return 0; /* IndexError: the tree walker raises it */
      uint64_t m = ~ws_mask(load8(s, i, xlen)) & HI8;
      if (m) {
        i += (size_t)__builtin_ctzll(m) >> 3;
        break;
      }
      i += 8;
    }
    if (i >= xlen)
      return 0;
    if (s[i] >= 0x80)
      return -1; /* maybe Unicode whitespace */
    st = i;
    for (;;) { /* the word: up to whitespace, a non-ASCII byte or the end */
      size_t r = xlen - i;
      uint64_t v = load8(s, i, xlen), m = (ws_mask(v) | v) & HI8;
      if (r < 8)
        m |= (uint64_t)0x80 << (8 * r);
      if (m) {
        i += (size_t)__builtin_ctzll(m) >> 3;
        break;
      }
      i += 8;
      if (i >= xlen)
        break;
    }
    if (i < xlen && s[i] >= 0x80)
      return -1;
    if (idx-- == 0)
      break;
  }
  rf_buf_t *out = &c->out;
  out->len = 0;
  out->oom = false;
  const char *type = "str";
  switch (k->final) {
  case KF_FLOAT: {
    int r = float_word(s, xlen, st, i - st, out);
    if (r < 0 || (r == 0 && !float_text(x + st, i - st, out)))
      return 0;
    type = "float";
    break;
  }
  case KF_INT:
    if (!int_text(x + st, i - st, l->lim.max_int_digits, out))
      return 0;
    type = "int";
    break;
  default:
    rf_buf_append(out, x + st, i - st);
    break;
  }
  if (!rf_buf_ok(out))
    return 0;
  return done(res, out->data, out->len, type);
}

/* Any chain, one operation at a time through the scratch buffers. */
static __attribute__((noinline)) int run_ops(rf__ctx_t *c, const rf_lambda_t *l, const char *x,
                                             size_t xlen, bool trusted, rf_lambda_result_t *res) {
  const rf__kernel_t *k = l->kernel;
  const rf_lambda_limits_t *lim = &l->lim;
  bool ascii = rf__is_ascii(x, xlen);
  assert(!trusted || rf_utf8_check(x, xlen) != (size_t)-1);
  if (!ascii && !trusted && rf_utf8_check(x, xlen) == (size_t)-1)
    return 0; /* the tree walker raises ValueError */
  const char *p = x;
  size_t len = xlen, maxlen = xlen;
  int cur = 0; /* next scratch buffer */
  for (int i = 0; i < k->nops; i++) {
    const kop_t *o = &k->ops[i];
    size_t b = 0, e = len;
    rf_buf_t *w = &c->kbuf[cur];
    switch (o->kind) {
    case KO_STRIP:
    case KO_STRIPSET:
      strip(o, p, &b, &e);
      break;
    case KO_CASE:
      w->len = 0;
      w->oom = false;
      if (ascii) {
        if (!room(w, len))
          return 0;
        rf__ascii_case(w->data, p, len, o->which == RF_CASE_UPPER);
        w->len = len;
        w->data[len] = '\0';
      } else if (!rf__u_map_str(p, len, (enum rf__case)o->which, w)) {
        return 0; /* capital sigma: context-dependent, the tree walker does it */
      }
      if (!rf_buf_ok(w))
        return 0;
      p = w->data ? w->data : "";
      e = len = w->len;
      cur ^= 1;
      break;
    case KO_SPLITWS:
      if (!split_ws(p, len, o->idx, &b, &e))
        return 0;
      break;
    case KO_SPLITSEP:
      if (!split_sep(p, len, o->a, o->idx, &b, &e))
        return 0;
      break;
    case KO_REPLACE: {
      const char *h = p, *he = p + len, *f = memmem(h, len, o->a->p, o->a->len);
      if (!f)
        break;
      w->len = 0;
      w->oom = false;
      for (; f; f = memmem(h, (size_t)(he - h), o->a->p, o->a->len)) {
        rf_buf_append(w, h, (size_t)(f - h));
        rf_buf_append(w, o->b->p, o->b->len);
        h = f + o->a->len;
        if (w->len > k->safe_len)
          return 0;
      }
      rf_buf_append(w, h, (size_t)(he - h));
      if (!rf_buf_ok(w))
        return 0;
      p = w->data;
      e = len = w->len;
      ascii = ascii && o->b->ncp == o->b->len;
      cur ^= 1;
      break;
    }
    case KO_PREFIX:
      if (o->a->len <= len && memcmp(p, o->a->p, o->a->len) == 0)
        b = o->a->len;
      break;
    case KO_SUFFIX:
      if (o->a->len && o->a->len <= len && memcmp(p + len - o->a->len, o->a->p, o->a->len) == 0)
        e = len - o->a->len;
      break;
    case KO_REFILT:
      w->len = 0;
      w->oom = false;
      if (rf__refilt_sub(o->filt, o->b->p, o->b->len, p, len, 0, lim->max_str_bytes, w) != 0)
        return 0;
      p = w->data ? w->data : "";
      e = len = w->len;
      ascii = ascii && o->b->ncp == o->b->len;
      cur ^= 1;
      break;
    }
    p += b;
    len = e - b;
    if (len > maxlen)
      maxlen = len;
  }
  if (maxlen > k->safe_len)
    return 0;
  rf_buf_t *out = &c->out;
  const char *type = "str";
  switch (k->final) {
  case KF_STR:
    if (k->nops == 0 || p != c->kbuf[cur ^ 1].data || len != c->kbuf[cur ^ 1].len) {
      /* a view into x or into part of a scratch buffer: copy (NUL-terminated) */
      out->len = 0;
      out->oom = false;
      if (!room(out, len))
        return 0;
      memcpy(out->data, p, len);
      out->len = len;
      out->data[len] = '\0';
      p = out->data;
    } /* else: the whole scratch buffer written last (NUL-terminated: rf_buf) is the result */
    break;
  case KF_FLOAT: /* non-ASCII digits or spaces make these decline */
    out->len = 0;
    out->oom = false;
    if (!float_text(p, len, out) || !rf_buf_ok(out))
      return 0;
    p = out->data;
    len = out->len;
    type = "float";
    break;
  case KF_INT:
    out->len = 0;
    out->oom = false;
    if (!int_text(p, len, lim->max_int_digits, out) || !rf_buf_ok(out))
      return 0;
    p = out->data;
    len = out->len;
    type = "int";
    break;
  }
  return done(res, p, len, type);
}

static __attribute__((noinline)) int fast_case(rf__ctx_t *c, const rf_lambda_t *l, const char *x,
                                               size_t xlen, bool trusted, rf_lambda_result_t *res) {
  int r = run_case_short(c, l->kernel, x, xlen, trusted, res);
  return r >= 0 ? r : run_ops(c, l, x, xlen, trusted, res);
}

static __attribute__((noinline)) int fast_word(rf__ctx_t *c, const rf_lambda_t *l, const char *x,
                                               size_t xlen, bool trusted, rf_lambda_result_t *res) {
  int r = run_word(c, l, x, xlen, trusted, res);
  return r >= 0 ? r : run_ops(c, l, x, xlen, trusted, res);
}

int rf__kernel_run(rf__ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen, bool trusted,
                   rf_lambda_result_t *res) {
  const rf__kernel_t *k = l->kernel;
  if (xlen > k->safe_len)
    return 0;
  /* tail calls: this frame stays small, each path saves only what it uses */
  switch (k->fast) {
  case FAST_CASE:
    return fast_case(c, l, x, xlen, trusted, res);
  case FAST_WORD:
    return fast_word(c, l, x, xlen, trusted, res);
  default:
    return run_ops(c, l, x, xlen, trusted, res);
  }
}

int rf__kernel_fused(const rf__kernel_t *k) {
  return k->fast;
}

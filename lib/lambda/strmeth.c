/* strmeth.c - the allowed str methods, with CPython 3.11's semantics.
 *
 * Strings are UTF-8; every index and length a caller sees counts code points,
 * as in Python. ASCII strings (ncp == len) take byte paths; others are decoded
 * into a code point array in the arena when a method needs random access.
 * Results that are slices of the receiver share its bytes (strip, split,
 * partition, ...), so the common fixes allocate little more than headers.
 * Case mapping and character classes come from ucd.c (ICU).
 */
#include <string.h>

#include "lambda_int.h"

typedef struct cps {
  uint32_t *cp;
  size_t *off; /* byte offset of each code point, off[n] = len */
  size_t n;
} cps_t;

static cps_t decode(rf__ctx_t *c, const rf__str_t *s) {
  cps_t d;
  d.n = s->ncp;
  d.cp = rf__alloc(c, (s->ncp + 1) * sizeof(uint32_t));
  d.off = rf__alloc(c, (s->ncp + 1) * sizeof(size_t));
  size_t i = 0, k = 0;
  while (i < s->len) {
    d.off[k] = i;
    d.cp[k++] = rf__utf8_get(s->p, &i);
  }
  d.off[k] = s->len;
  return d;
}

static void nargs(rf__ctx_t *c, const char *name, int n, int min, int max) {
  if (n < min || n > max) {
    if (min == max && min == 0)
      rf__raise(c, "TypeError", "str.%s() takes no arguments (%d given)", name, n);
    if (min == max)
      rf__raise(c, "TypeError", "%s() takes exactly %s argument%s (%d given)", name,
                min == 1 ? "one" : "two", min == 1 ? "" : "s", n);
    if (n < min)
      rf__raise(c, "TypeError", "%s expected at least %d argument%s, got %d", name, min,
                min == 1 ? "" : "s", n);
    rf__raise(c, "TypeError", "%s expected at most %d argument%s, got %d", name, max,
              max == 1 ? "" : "s", n);
  }
}

static const rf__str_t *str_arg(rf__ctx_t *c, rf__val_t v, const char *fn, int pos) {
  if (v.t != VT_STR)
    rf__raise(c, "TypeError", "%s() argument %d must be str, not %s", fn, pos,
              rf__type_name(v));
  return v.s;
}

static int64_t int_arg(rf__ctx_t *c, rf__val_t v) {
  if (!rf__is_int(v))
    rf__raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
              rf__type_name(v));
  if (v.t == VT_BIG)
    rf__raise(c, "OverflowError", "Python int too large to convert to C ssize_t");
  return v.i;
}

static rf__val_t sub(rf__ctx_t *c, const rf__str_t *s, size_t b, size_t e, size_t ncp) {
  if (b == 0 && e == s->len) {
    rf__val_t v = {.t = VT_STR};
    v.s = s;
    return v;
  }
  return rf__v_str(c, s->p + b, e - b, ncp);
}

static rf__val_t sub_count(rf__ctx_t *c, const rf__str_t *s, size_t b, size_t e) {
  return sub(c, s, b, e, s->ncp == s->len ? e - b : rf__utf8_count(s->p + b, e - b));
}

/* ------------------------------------------------------------------ strip */

static inline bool ascii_space(unsigned char ch) {
  return ch == ' ' || (ch >= 9 && ch <= 13) || (ch >= 0x1c && ch <= 0x1f);
}

static bool in_chars(uint32_t cp, const cps_t *set) {
  for (size_t i = 0; i < set->n; i++)
    if (set->cp[i] == cp)
      return true;
  return false;
}

static rf__val_t do_strip(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args, int which,
                          const char *name) {
  nargs(c, name, nargc, 0, 1);
  cps_t set = {0};
  bool ws = true;
  if (nargc == 1 && args[0].t != VT_NONE) {
    if (args[0].t != VT_STR)
      rf__raise(c, "TypeError", "%s arg must be None or str", name);
    set = decode(c, args[0].s);
    ws = false;
  }
  size_t b = 0, e = s->len;
  if (s->ncp == s->len && (ws || args[0].s->ncp == args[0].s->len)) {
    if (which & 1)
      while (b < e && (ws ? ascii_space((unsigned char)s->p[b]) : in_chars((unsigned char)s->p[b], &set)))
        b++;
    if (which & 2)
      while (e > b && (ws ? ascii_space((unsigned char)s->p[e - 1])
                          : in_chars((unsigned char)s->p[e - 1], &set)))
        e--;
    return sub(c, s, b, e, e - b);
  }
  rf__work(c, s->len);
  cps_t d = decode(c, s);
  size_t i = 0, j = d.n;
  if (which & 1)
    while (i < j && (ws ? rf__u_isspace(d.cp[i]) : in_chars(d.cp[i], &set)))
      i++;
  if (which & 2)
    while (j > i && (ws ? rf__u_isspace(d.cp[j - 1]) : in_chars(d.cp[j - 1], &set)))
      j--;
  return sub(c, s, d.off[i], d.off[j], j - i);
}

/* ------------------------------------------------------------------ case */

static rf__val_t do_case(rf__ctx_t *c, const rf__str_t *s, int id) {
  rf__work(c, s->len);
  if (s->ncp == s->len && (id == M_LOWER || id == M_CASEFOLD || id == M_UPPER)) {
    char *p = rf__alloc(c, s->len ? s->len : 1);
    const char lo = id == M_UPPER ? 'a' : 'A', hi = id == M_UPPER ? 'z' : 'Z';
    for (size_t i = 0; i < s->len; i++) {
      char ch = s->p[i];
      p[i] = (ch >= lo && ch <= hi) ? (char)(ch ^ 0x20) : ch;
    }
    return rf__v_str(c, p, s->len, s->len);
  }
  if (s->ncp == s->len) {
    char *p = rf__alloc(c, s->len ? s->len : 1);
    bool prev_cased = false;
    for (size_t i = 0; i < s->len; i++) {
      char ch = s->p[i];
      bool up = ch >= 'A' && ch <= 'Z', lo = ch >= 'a' && ch <= 'z';
      switch (id) {
      case M_UPPER: if (lo) ch = (char)(ch - 32); break;
      case M_LOWER: case M_CASEFOLD: if (up) ch = (char)(ch + 32); break;
      case M_SWAPCASE: ch = up ? (char)(ch + 32) : lo ? (char)(ch - 32) : ch; break;
      case M_TITLE:
        if (prev_cased && up)
          ch = (char)(ch + 32);
        else if (!prev_cased && lo)
          ch = (char)(ch - 32);
        prev_cased = up || lo;
        break;
      case M_CAPITALIZE:
        if (i == 0 && lo)
          ch = (char)(ch - 32);
        else if (i > 0 && up)
          ch = (char)(ch + 32);
        break;
      default: break;
      }
      p[i] = ch;
    }
    return rf__v_str(c, p, s->len, s->len);
  }
  rf_buf_t *b = &c->tmp;
  rf_buf_reset(b);
  if (id == M_LOWER || id == M_UPPER || id == M_CASEFOLD) {
    enum rf__case how = id == M_LOWER ? RF_CASE_LOWER : id == M_UPPER ? RF_CASE_UPPER : RF_CASE_FOLD;
    if (rf__u_map_str(s->p, s->len, how, b))
      return rf__v_strbuf(c, b); /* raises on oom and beyond max_str_bytes */
  }
  cps_t d = decode(c, s);
  bool prev_cased = false;
  for (size_t i = 0; i < d.n; i++) {
    uint32_t cp = d.cp[i];
    switch (id) {
    case M_UPPER: rf__u_map(cp, RF_CASE_UPPER, b); break;
    case M_LOWER: rf__u_lower_at(d.cp, d.n, i, b); break;
    case M_CASEFOLD: rf__u_map(cp, RF_CASE_FOLD, b); break;
    case M_SWAPCASE:
      if (rf__u_isupper(cp))
        rf__u_lower_at(d.cp, d.n, i, b);
      else if (rf__u_islower(cp))
        rf__u_map(cp, RF_CASE_UPPER, b);
      else
        rf_buf_append(b, s->p + d.off[i], d.off[i + 1] - d.off[i]);
      break;
    case M_TITLE:
      if (prev_cased)
        rf__u_lower_at(d.cp, d.n, i, b);
      else
        rf__u_map(cp, RF_CASE_TITLE, b);
      prev_cased = rf__u_iscased(cp);
      break;
    case M_CAPITALIZE:
      if (i == 0)
        rf__u_map(cp, RF_CASE_TITLE, b);
      else
        rf__u_lower_at(d.cp, d.n, i, b);
      break;
    default: break;
    }
    if (b->len > c->l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  }
  return rf__v_strbuf(c, b);
}

/* ------------------------------------------------------------------ predicates */

static rf__val_t do_is(rf__ctx_t *c, const rf__str_t *s, int id) {
  rf__work(c, s->len);
  if (id == M_ISASCII)
    return rf__v_bool(s->ncp == s->len);
  if (s->len == 0)
    return rf__v_bool(id == M_ISPRINTABLE);
  bool cased = false, prev = false;
  size_t i = 0, k = 0;
  while (i < s->len) {
    uint32_t cp = rf__utf8_get(s->p, &i);
    bool ok = true;
    switch (id) {
    case M_ISDIGIT: ok = rf__u_isdigit(cp); break;
    case M_ISALPHA: ok = rf__u_isalpha(cp); break;
    case M_ISALNUM:
      ok = rf__u_isalpha(cp) || rf__u_isdecimal(cp) || rf__u_isdigit(cp) || rf__u_isnumeric(cp);
      break;
    case M_ISSPACE: ok = rf__u_isspace(cp); break;
    case M_ISDECIMAL: ok = rf__u_isdecimal(cp); break;
    case M_ISNUMERIC: ok = rf__u_isnumeric(cp); break;
    case M_ISPRINTABLE: ok = rf__u_isprintable(cp); break;
    case M_ISIDENTIFIER: ok = k == 0 ? rf__u_isxidstart(cp) : rf__u_isxidcontinue(cp); break;
    case M_ISLOWER:
      if (rf__u_isupper(cp) || rf__u_istitle(cp))
        return rf__false;
      if (rf__u_islower(cp))
        cased = true;
      break;
    case M_ISUPPER:
      if (rf__u_islower(cp) || rf__u_istitle(cp))
        return rf__false;
      if (rf__u_isupper(cp))
        cased = true;
      break;
    case M_ISTITLE:
      if (rf__u_isupper(cp) || rf__u_istitle(cp)) {
        if (prev)
          return rf__false;
        prev = cased = true;
      } else if (rf__u_islower(cp)) {
        if (!prev)
          return rf__false;
        prev = cased = true;
      } else {
        prev = false;
      }
      break;
    default: break;
    }
    if (!ok)
      return rf__false;
    k++;
  }
  if (id == M_ISLOWER || id == M_ISUPPER || id == M_ISTITLE)
    return rf__v_bool(cased);
  return rf__true;
}

/* ------------------------------------------------------------------ searching */

/* ADJUST_INDICES on code points; returns byte offsets too */
typedef struct span {
  int64_t start, end; /* code points */
  size_t bs, be;      /* bytes */
} span_t;

static int64_t opt_index(rf__ctx_t *c, rf__val_t v, int64_t dflt) {
  if (v.t == VT_NONE)
    return dflt;
  if (!rf__is_int(v))
    rf__raise(c, "TypeError", "slice indices must be integers or None or have an __index__ method");
  if (v.t == VT_BIG)
    return mpz_sgn(v.z->z) < 0 ? INT64_MIN / 2 : INT64_MAX / 2;
  return v.i;
}

static span_t adjust(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args, int first) {
  int64_t len = (int64_t)s->ncp;
  int64_t start = nargc > first ? opt_index(c, args[first], 0) : 0;
  int64_t end = nargc > first + 1 ? opt_index(c, args[first + 1], INT64_MAX / 2) : INT64_MAX / 2;
  if (end > len)
    end = len;
  else if (end < 0) {
    end += len;
    if (end < 0)
      end = 0;
  }
  if (start < 0) {
    start += len;
    if (start < 0)
      start = 0;
  }
  span_t sp = {start, end, 0, 0};
  if (start <= end && start <= len) {
    sp.bs = rf__cp_offset(s, (size_t)start);
    sp.be = rf__cp_offset(s, (size_t)end);
  }
  return sp;
}

static int64_t cp_index(const rf__str_t *s, size_t byteoff) {
  return s->ncp == s->len ? (int64_t)byteoff : (int64_t)rf__utf8_count(s->p, byteoff);
}

static const char *memrmem(const char *h, size_t hl, const char *n, size_t nl) {
  if (nl > hl)
    return NULL;
  for (size_t i = hl - nl + 1; i-- > 0;)
    if (memcmp(h + i, n, nl) == 0)
      return h + i;
  return NULL;
}

static rf__val_t do_find(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args) {
  static const char *const names[] = {"find", "rfind", "index", "rindex", "count"};
  const char *name = names[id == M_FIND ? 0 : id == M_RFIND ? 1 : id == M_INDEX ? 2 : id == M_RINDEX ? 3 : 4];
  nargs(c, name, nargc, 1, 3);
  if (args[0].t != VT_STR)
    rf__raise(c, "TypeError", "must be str, not %s", rf__type_name(args[0]));
  const rf__str_t *n = args[0].s;
  span_t sp = adjust(c, s, nargc, args, 1);
  rf__work(c, s->len);
  if (id == M_COUNT) {
    if (sp.end - sp.start < (int64_t)n->ncp)
      return rf__v_int(0);
    if (n->len == 0)
      return rf__v_int(sp.end - sp.start + 1);
    int64_t cnt = 0;
    const char *h = s->p + sp.bs, *he = s->p + sp.be;
    while ((size_t)(he - h) >= n->len) {
      const char *f = memmem(h, (size_t)(he - h), n->p, n->len);
      if (!f)
        break;
      cnt++;
      h = f + n->len;
    }
    return rf__v_int(cnt);
  }
  int64_t r = -1;
  if (sp.end - sp.start >= (int64_t)n->ncp) {
    if (n->len == 0) {
      r = (id == M_FIND || id == M_INDEX) ? sp.start : sp.end;
    } else {
      const char *f = (id == M_FIND || id == M_INDEX)
                          ? memmem(s->p + sp.bs, sp.be - sp.bs, n->p, n->len)
                          : memrmem(s->p + sp.bs, sp.be - sp.bs, n->p, n->len);
      if (f)
        r = cp_index(s, (size_t)(f - s->p));
    }
  }
  if (r < 0 && (id == M_INDEX || id == M_RINDEX))
    rf__raise(c, "ValueError", "substring not found");
  return rf__v_int(r);
}

static bool tailmatch(rf__ctx_t *c, const rf__str_t *s, const rf__str_t *sub_, span_t sp, bool end) {
  (void)c;
  int64_t e = sp.end - (int64_t)sub_->ncp;
  if (e < sp.start)
    return false;
  if (sub_->len == 0)
    return true;
  size_t bs = sp.bs, be = sp.be;
  if (be - bs < sub_->len)
    return false;
  if (end)
    return memcmp(s->p + be - sub_->len, sub_->p, sub_->len) == 0;
  return memcmp(s->p + bs, sub_->p, sub_->len) == 0;
}

static rf__val_t do_startend(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args) {
  const char *name = id == M_STARTSWITH ? "startswith" : "endswith";
  nargs(c, name, nargc, 1, 3);
  span_t sp = adjust(c, s, nargc, args, 1);
  if (sp.start > (int64_t)s->ncp)
    return rf__false;
  if (args[0].t == VT_TUPLE) {
    for (size_t i = 0; i < args[0].q->n; i++) {
      rf__val_t v = args[0].q->it[i];
      if (v.t != VT_STR)
        rf__raise(c, "TypeError", "tuple for %s must only contain str, not %s", name,
                  rf__type_name(v));
      if (tailmatch(c, s, v.s, sp, id == M_ENDSWITH))
        return rf__true;
    }
    return rf__false;
  }
  if (args[0].t != VT_STR)
    rf__raise(c, "TypeError", "%s first arg must be str or a tuple of str, not %s", name,
              rf__type_name(args[0]));
  return rf__v_bool(tailmatch(c, s, args[0].s, sp, id == M_ENDSWITH));
}

/* ------------------------------------------------------------------ replace, split, join */

static rf__val_t do_replace(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args,
                            int nkw) {
  if (nkw)
    rf__raise(c, "TypeError", "replace() takes no keyword arguments");
  nargs(c, "replace", nargc, 2, 3);
  const rf__str_t *old = str_arg(c, args[0], "replace", 1);
  const rf__str_t *new_ = str_arg(c, args[1], "replace", 2);
  int64_t count = nargc > 2 ? int_arg(c, args[2]) : -1;
  if (count < 0)
    count = INT64_MAX;
  rf__work(c, s->len);
  rf_buf_t *b = &c->tmp;
  rf_buf_reset(b);
  int64_t done = 0;
  if (old->len == 0) {
    size_t i = 0;
    while (done < count) {
      rf_buf_append(b, new_->p, new_->len);
      done++;
      if (i >= s->len)
        break;
      size_t st = i;
      rf__utf8_get(s->p, &i);
      rf_buf_append(b, s->p + st, i - st);
      if (b->len > c->l->lim.max_str_bytes)
        break;
    }
    if (i < s->len)
      rf_buf_append(b, s->p + i, s->len - i);
  } else {
    const char *h = s->p, *he = s->p + s->len;
    while (done < count) {
      const char *f = memmem(h, (size_t)(he - h), old->p, old->len);
      if (!f)
        break;
      rf_buf_append(b, h, (size_t)(f - h));
      rf_buf_append(b, new_->p, new_->len);
      h = f + old->len;
      done++;
      if (b->len > c->l->lim.max_str_bytes)
        break;
    }
    if (done == 0) {
      rf__val_t v = {.t = VT_STR};
      v.s = s;
      return v;
    }
    rf_buf_append(b, h, (size_t)(he - h));
  }
  rf__work(c, b->len);
  return rf__v_strbuf(c, b);
}

static rf__val_t kwval(const rf__node_t *n, rf__val_t *kw, const char *name, bool *found) {
  for (int i = 0; i < n->nkw; i++)
    if (strcmp(n->kwnames[i], name) == 0) {
      *found = true;
      return kw[i];
    }
  *found = false;
  return rf__none;
}

typedef struct listb {
  rf__val_t *it;
  size_t n, cap;
} listb_t;

static void lpush(rf__ctx_t *c, listb_t *l, rf__val_t v) {
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
}

static rf__val_t lfinish(rf__ctx_t *c, listb_t *l, bool reverse) {
  rf__val_t r = rf__v_seq(c, VT_LIST, l->n);
  rf__seq_t *q = (rf__seq_t *)r.q;
  for (size_t i = 0; i < l->n; i++)
    q->it[i] = reverse ? l->it[l->n - 1 - i] : l->it[i];
  return r;
}

static rf__val_t do_split(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args,
                          const rf__node_t *n, rf__val_t *kw) {
  const char *name = id == M_SPLIT ? "split" : "rsplit";
  if (nargc > 2)
    rf__raise(c, "TypeError", "%s() takes at most 2 arguments (%d given)", name, nargc);
  bool f1, f2;
  rf__val_t sepv = kwval(n, kw, "sep", &f1), maxv = kwval(n, kw, "maxsplit", &f2);
  if (nargc >= 1) {
    if (f1)
      rf__raise(c, "TypeError", "argument for %s() given by name ('sep') and position (1)", name);
    sepv = args[0];
  }
  if (nargc >= 2) {
    if (f2)
      rf__raise(c, "TypeError", "argument for %s() given by name ('maxsplit') and position (2)",
                name);
    maxv = args[1];
  }
  int64_t maxsplit = -1;
  if (nargc >= 2 || f2)
    maxsplit = int_arg(c, maxv);
  if (maxsplit < 0)
    maxsplit = INT64_MAX;
  rf__work(c, s->len);
  listb_t out = {0};
  bool rev = id == M_RSPLIT;
  if (sepv.t == VT_NONE) {
    /* whitespace split */
    cps_t d = {0};
    bool ascii = s->ncp == s->len;
    if (!ascii)
      d = decode(c, s);
    size_t nn = s->ncp;
#define CP(k) (ascii ? (uint32_t)(unsigned char)s->p[k] : d.cp[k])
#define rf__u_isspace(cp) (ascii ? ascii_space((unsigned char)(cp)) : rf__u_isspace(cp))
#define OFF(k) (ascii ? (size_t)(k) : d.off[k])
    if (!rev) {
      size_t i = 0;
      int64_t splits = 0;
      while (i < nn) {
        while (i < nn && rf__u_isspace(CP(i)))
          i++;
        if (i >= nn)
          break;
        if (splits == maxsplit) {
          size_t e = nn;
          lpush(c, &out, sub(c, s, OFF(i), OFF(e), e - i));
          break;
        }
        size_t j = i;
        while (j < nn && !rf__u_isspace(CP(j)))
          j++;
        lpush(c, &out, sub(c, s, OFF(i), OFF(j), j - i));
        splits++;
        i = j;
      }
      return lfinish(c, &out, false);
    }
    size_t i = nn;
    int64_t splits = 0;
    while (i > 0) {
      while (i > 0 && rf__u_isspace(CP(i - 1)))
        i--;
      if (i == 0)
        break;
      if (splits == maxsplit) {
        lpush(c, &out, sub(c, s, 0, OFF(i), i));
        break;
      }
      size_t j = i;
      while (j > 0 && !rf__u_isspace(CP(j - 1)))
        j--;
      lpush(c, &out, sub(c, s, OFF(j), OFF(i), i - j));
      splits++;
      i = j;
    }
#undef CP
#undef OFF
#undef rf__u_isspace
    return lfinish(c, &out, true);
  }
  if (sepv.t != VT_STR)
    rf__raise(c, "TypeError", "must be str or None, not %s", rf__type_name(sepv));
  const rf__str_t *sep = sepv.s;
  if (sep->len == 0)
    rf__raise(c, "ValueError", "empty separator");
  if (!rev) {
    const char *h = s->p, *he = s->p + s->len;
    int64_t splits = 0;
    while (splits < maxsplit) {
      const char *f = memmem(h, (size_t)(he - h), sep->p, sep->len);
      if (!f)
        break;
      lpush(c, &out, sub_count(c, s, (size_t)(h - s->p), (size_t)(f - s->p)));
      h = f + sep->len;
      splits++;
    }
    lpush(c, &out, sub_count(c, s, (size_t)(h - s->p), s->len));
    return lfinish(c, &out, false);
  }
  size_t e = s->len;
  int64_t splits = 0;
  while (splits < maxsplit) {
    const char *f = memrmem(s->p, e, sep->p, sep->len);
    if (!f)
      break;
    size_t fo = (size_t)(f - s->p);
    lpush(c, &out, sub_count(c, s, fo + sep->len, e));
    e = fo;
    splits++;
  }
  lpush(c, &out, sub_count(c, s, 0, e));
  return lfinish(c, &out, true);
}

static rf__val_t do_splitlines(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args,
                               const rf__node_t *n, rf__val_t *kw) {
  nargs(c, "splitlines", nargc, 0, 1);
  bool f;
  rf__val_t kv = kwval(n, kw, "keepends", &f);
  if (nargc == 1)
    kv = args[0];
  bool keep = false;
  if (nargc == 1 || f) {
    if (kv.t == VT_FLOAT)
      rf__raise(c, "TypeError", "'float' object cannot be interpreted as an integer");
    keep = rf__truthy(kv);
  }
  rf__work(c, s->len);
  listb_t out = {0};
  size_t i = 0, st = 0;
  while (i < s->len) {
    size_t cs = i;
    uint32_t cp = rf__utf8_get(s->p, &i);
    if (!rf__u_islinebreak(cp))
      continue;
    size_t eol = i;
    if (cp == '\r' && i < s->len && s->p[i] == '\n')
      eol = ++i;
    lpush(c, &out, sub_count(c, s, st, keep ? eol : cs));
    st = i;
  }
  if (st < s->len)
    lpush(c, &out, sub_count(c, s, st, s->len));
  return lfinish(c, &out, false);
}

static rf__val_t do_join(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args) {
  nargs(c, "join", nargc, 1, 1);
  rf__val_t seq = args[0];
  if (seq.t != VT_LIST && seq.t != VT_TUPLE) {
    if (seq.t != VT_STR && seq.t != VT_DICT && seq.t != VT_RANGE)
      rf__raise(c, "TypeError", "can only join an iterable");
    seq = rf__to_list(c, seq, VT_LIST);
  }
  size_t n = seq.q->n, total = 0, ncp = 0;
  rf__work(c, n);
  for (size_t i = 0; i < n; i++) {
    rf__val_t v = seq.q->it[i];
    if (v.t != VT_STR)
      rf__raise(c, "TypeError", "sequence item %zu: expected str instance, %s found", i,
                rf__type_name(v));
    total += v.s->len;
    ncp += v.s->ncp;
    if (total > c->l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  }
  if (n == 1)
    return seq.q->it[0];
  if (n > 1) {
    total += s->len * (n - 1);
    ncp += s->ncp * (n - 1);
  }
  if (total > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  rf__work(c, total);
  char *p = rf__alloc(c, total ? total : 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && s->len) {
      memcpy(p + o, s->p, s->len);
      o += s->len;
    }
    const rf__str_t *x = seq.q->it[i].s;
    if (x->len)
      memcpy(p + o, x->p, x->len);
    o += x->len;
  }
  return rf__v_str(c, p, total, ncp);
}

/* ------------------------------------------------------------------ padding */

static size_t checked_width(rf__ctx_t *c, const rf__str_t *s, int64_t width, size_t fillbytes) {
  if (width <= (int64_t)s->ncp)
    return 0;
  uint64_t pad = (uint64_t)(width - (int64_t)s->ncp);
  if (pad > c->l->lim.max_str_bytes || s->len + pad * fillbytes > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  rf__work(c, s->len + pad * fillbytes);
  return (size_t)pad;
}

static rf__val_t do_pad(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args) {
  const char *name = id == M_CENTER ? "center" : id == M_LJUST ? "ljust" : "rjust";
  nargs(c, name, nargc, 1, 2);
  int64_t width = int_arg(c, args[0]);
  const char *fill = " ";
  size_t fl = 1;
  if (nargc == 2) {
    if (args[1].t != VT_STR)
      rf__raise(c, "TypeError", "%s() argument 2 must be str, not %s", name,
                rf__type_name(args[1]));
    if (args[1].s->ncp != 1)
      rf__raise(c, "TypeError", "The fill character must be exactly one character long");
    fill = args[1].s->p;
    fl = args[1].s->len;
  }
  size_t pad = checked_width(c, s, width, fl);
  if (pad == 0) {
    rf__val_t v = {.t = VT_STR};
    v.s = s;
    return v;
  }
  size_t left;
  if (id == M_LJUST)
    left = 0;
  else if (id == M_RJUST)
    left = pad;
  else
    left = pad / 2 + (pad & (size_t)width & 1);
  size_t right = pad - left, total = s->len + pad * fl;
  char *p = rf__alloc(c, total);
  size_t o = 0;
  for (size_t i = 0; i < left; i++, o += fl)
    memcpy(p + o, fill, fl);
  memcpy(p + o, s->p, s->len);
  o += s->len;
  for (size_t i = 0; i < right; i++, o += fl)
    memcpy(p + o, fill, fl);
  return rf__v_str(c, p, total, s->ncp + pad);
}

static rf__val_t do_zfill(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args) {
  nargs(c, "zfill", nargc, 1, 1);
  int64_t width = int_arg(c, args[0]);
  size_t pad = checked_width(c, s, width, 1);
  if (pad == 0) {
    rf__val_t v = {.t = VT_STR};
    v.s = s;
    return v;
  }
  size_t total = s->len + pad;
  char *p = rf__alloc(c, total);
  size_t sign = s->len && (s->p[0] == '+' || s->p[0] == '-') ? 1 : 0;
  if (sign)
    p[0] = s->p[0];
  memset(p + sign, '0', pad);
  memcpy(p + sign + pad, s->p + sign, s->len - sign);
  return rf__v_str(c, p, total, s->ncp + pad);
}

static rf__val_t do_expandtabs(rf__ctx_t *c, const rf__str_t *s, int nargc, rf__val_t *args,
                               const rf__node_t *n, rf__val_t *kw) {
  nargs(c, "expandtabs", nargc, 0, 1);
  bool f;
  rf__val_t tv = kwval(n, kw, "tabsize", &f);
  if (nargc == 1)
    tv = args[0];
  int64_t ts = (nargc == 1 || f) ? int_arg(c, tv) : 8;
  rf__work(c, s->len);
  rf_buf_t *b = &c->tmp;
  rf_buf_reset(b);
  int64_t col = 0;
  for (size_t i = 0; i < s->len;) {
    size_t st = i;
    uint32_t cp = rf__utf8_get(s->p, &i);
    if (cp == '\t') {
      if (ts > 0) {
        int64_t k = ts - (col % ts);
        if ((uint64_t)k + b->len > c->l->lim.max_str_bytes)
          rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
        for (int64_t j = 0; j < k; j++)
          rf_buf_putc(b, ' ');
        col += k;
      }
    } else {
      rf_buf_append(b, s->p + st, i - st);
      col++;
      if (cp == '\n' || cp == '\r')
        col = 0;
    }
  }
  return rf__v_strbuf(c, b);
}

/* ------------------------------------------------------------------ partition, affixes */

static rf__val_t do_partition(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args) {
  nargs(c, id == M_PARTITION ? "partition" : "rpartition", nargc, 1, 1);
  if (args[0].t != VT_STR)
    rf__raise(c, "TypeError", "must be str, not %s", rf__type_name(args[0]));
  const rf__str_t *sep = args[0].s;
  if (sep->len == 0)
    rf__raise(c, "ValueError", "empty separator");
  rf__work(c, s->len);
  const char *f = id == M_PARTITION ? memmem(s->p, s->len, sep->p, sep->len)
                                    : memrmem(s->p, s->len, sep->p, sep->len);
  rf__val_t r = rf__v_seq(c, VT_TUPLE, 3);
  rf__seq_t *q = (rf__seq_t *)r.q;
  rf__val_t empty = rf__v_str(c, "", 0, 0), whole = {.t = VT_STR};
  whole.s = s;
  if (!f) {
    q->it[0] = id == M_PARTITION ? whole : empty;
    q->it[1] = empty;
    q->it[2] = id == M_PARTITION ? empty : whole;
    return r;
  }
  size_t fo = (size_t)(f - s->p);
  q->it[0] = sub_count(c, s, 0, fo);
  q->it[1] = args[0];
  q->it[2] = sub_count(c, s, fo + sep->len, s->len);
  return r;
}

static rf__val_t do_affix(rf__ctx_t *c, const rf__str_t *s, int id, int nargc, rf__val_t *args) {
  const char *name = id == M_REMOVEPREFIX ? "removeprefix" : "removesuffix";
  nargs(c, name, nargc, 1, 1);
  const rf__str_t *a = str_arg(c, args[0], name, 1);
  rf__val_t whole = {.t = VT_STR};
  whole.s = s;
  if (a->len == 0 || a->len > s->len)
    return whole;
  if (id == M_REMOVEPREFIX)
    return memcmp(s->p, a->p, a->len) == 0 ? sub(c, s, a->len, s->len, s->ncp - a->ncp) : whole;
  return memcmp(s->p + s->len - a->len, a->p, a->len) == 0
             ? sub(c, s, 0, s->len - a->len, s->ncp - a->ncp)
             : whole;
}

/* ------------------------------------------------------------------ dispatch */

rf__val_t rf__call_strmethod(rf__ctx_t *c, int id, const rf__str_t *s, int nargc,
                             rf__val_t *args, const rf__node_t *n, rf__val_t *kw) {
  switch (id) {
  case M_STRIP: return do_strip(c, s, nargc, args, 3, "strip");
  case M_LSTRIP: return do_strip(c, s, nargc, args, 1, "lstrip");
  case M_RSTRIP: return do_strip(c, s, nargc, args, 2, "rstrip");
  case M_LOWER: case M_UPPER: case M_TITLE: case M_CAPITALIZE: case M_CASEFOLD: case M_SWAPCASE:
    if (nargc)
      nargs(c, rf__fn_name(id), nargc, 0, 0);
    return do_case(c, s, id);
  case M_REPLACE: return do_replace(c, s, nargc, args, n->nkw);
  case M_SPLIT: case M_RSPLIT: return do_split(c, s, id, nargc, args, n, kw);
  case M_SPLITLINES: return do_splitlines(c, s, nargc, args, n, kw);
  case M_JOIN: return do_join(c, s, nargc, args);
  case M_ZFILL: return do_zfill(c, s, nargc, args);
  case M_CENTER: case M_LJUST: case M_RJUST: return do_pad(c, s, id, nargc, args);
  case M_STARTSWITH: case M_ENDSWITH: return do_startend(c, s, id, nargc, args);
  case M_FIND: case M_RFIND: case M_INDEX: case M_RINDEX: case M_COUNT:
    return do_find(c, s, id, nargc, args);
  case M_REMOVEPREFIX: case M_REMOVESUFFIX: return do_affix(c, s, id, nargc, args);
  case M_PARTITION: case M_RPARTITION: return do_partition(c, s, id, nargc, args);
  case M_ISDIGIT: case M_ISALPHA: case M_ISALNUM: case M_ISSPACE: case M_ISLOWER: case M_ISUPPER:
  case M_ISTITLE: case M_ISDECIMAL: case M_ISNUMERIC: case M_ISASCII: case M_ISIDENTIFIER:
  case M_ISPRINTABLE:
    if (nargc)
      nargs(c, rf__fn_name(id), nargc, 0, 0);
    return do_is(c, s, id);
  case M_FORMAT:
    return rf__str_format(c, s, nargc, args, n->nkw, n->kwnames, kw);
  case M_EXPANDTABS: return do_expandtabs(c, s, nargc, args, n, kw);
  default:
    rf__raise(c, "AttributeError", "'str' object has no attribute '%s'", rf__fn_name(id));
  }
}

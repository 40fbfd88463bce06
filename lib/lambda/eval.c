/* eval.c - the tree-walking evaluator.
 *
 * One recursive function over the checked AST. Every node costs a step and
 * work on long strings and lists costs more (rf__work), so an evaluation ends
 * within max_steps whatever the input; the arena cap bounds its memory.
 * Comprehensions run clause by clause with their targets in frame slots the
 * checker assigned, so nested scopes need no dictionaries. Generator
 * expressions are never materialised as objects: their consumer (sum, any,
 * ''.join, ...) is driven item by item, which keeps CPython's evaluation order
 * and the short-circuit of any()/all().
 */
#include <string.h>

#include "lambda_int.h"
#include "rectify/alloc.h"

/* one-character strings for ASCII, shared by every evaluation */
static const char ascii_chars[128] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87,
    88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107,
    108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125,
    126, 127};

static rf__val_t char_at(rf__ctx_t *c, const char *p, size_t len) {
  rf__str_t *s = rf__alloc(c, sizeof(*s));
  if (len == 1 && (unsigned char)p[0] < 128)
    s->p = &ascii_chars[(unsigned char)p[0]];
  else
    s->p = p;
  s->len = len;
  s->ncp = 1;
  rf__val_t v = {.t = VT_STR};
  v.s = s;
  return v;
}

/* ------------------------------------------------------------------ iteration */

typedef struct iter {
  rf__val_t src;
  size_t i;
  int64_t n;
} iter_t;

static void iter_init(rf__ctx_t *c, iter_t *it, rf__val_t v) {
  it->src = v;
  it->i = 0;
  switch (v.t) {
  case VT_STR:
  case VT_LIST:
  case VT_TUPLE:
  case VT_DICT:
    return;
  case VT_RANGE: {
    const rf__range_t *r = v.r;
    it->n = 0;
    if (r->step > 0 && r->start < r->stop)
      it->n = (int64_t)(((__int128)r->stop - r->start - 1) / r->step + 1);
    else if (r->step < 0 && r->start > r->stop)
      it->n = (int64_t)(((__int128)r->start - r->stop - 1) / (-(__int128)r->step) + 1);
    return;
  }
  default:
    rf__raise(c, "TypeError", "'%s' object is not iterable", rf__type_name(v));
  }
}

static bool iter_next(rf__ctx_t *c, iter_t *it, rf__val_t *out) {
  rf__val_t v = it->src;
  switch (v.t) {
  case VT_STR: {
    if (it->i >= v.s->len)
      return false;
    size_t st = it->i;
    if (v.s->ncp == v.s->len)
      it->i++;
    else
      rf__utf8_get(v.s->p, &it->i);
    *out = char_at(c, v.s->p + st, it->i - st);
    return true;
  }
  case VT_LIST:
  case VT_TUPLE:
    if (it->i >= v.q->n)
      return false;
    *out = v.q->it[it->i++];
    return true;
  case VT_DICT:
    if (it->i >= v.d->n)
      return false;
    *out = v.d->k[it->i++];
    return true;
  case VT_RANGE:
    if ((int64_t)it->i >= it->n)
      return false;
    *out = rf__v_int(v.r->start + (int64_t)it->i * v.r->step);
    it->i++;
    return true;
  default:
    return false;
  }
}

void rf__iterate(rf__ctx_t *c, rf__val_t v, rf__iter_fn fn, void *ud) {
  iter_t it;
  iter_init(c, &it, v);
  rf__val_t x;
  while (iter_next(c, &it, &x)) {
    rf__steps(c, 1);
    if (!fn(c, x, ud))
      return;
  }
}

typedef struct collect {
  rf__val_t *items;
  size_t n, cap;
} collect_t;

static bool collect_fn(rf__ctx_t *c, rf__val_t v, void *ud) {
  collect_t *col = ud;
  if (col->n == col->cap) {
    size_t cap = col->cap ? col->cap * 2 : 8;
    if (col->n >= c->l->lim.max_list_items)
      rf__raise(c, "LimitError", "list too long (limit %zu items)", c->l->lim.max_list_items);
    rf__val_t *ni = rf__alloc(c, cap * sizeof(*ni));
    if (col->n)
      memcpy(ni, col->items, col->n * sizeof(*ni));
    col->items = ni;
    col->cap = cap;
  }
  col->items[col->n++] = v;
  return true;
}

static rf__val_t collected(rf__ctx_t *c, collect_t *col, uint32_t t) {
  rf__val_t r = rf__v_seq(c, t, col->n);
  if (col->n)
    memcpy(((rf__seq_t *)r.q)->it, col->items, col->n * sizeof(rf__val_t));
  return r;
}

rf__val_t rf__to_list(rf__ctx_t *c, rf__val_t v, uint32_t t) {
  if ((v.t == VT_LIST || v.t == VT_TUPLE) && v.t == t)
    return v;
  if (v.t == VT_LIST || v.t == VT_TUPLE) {
    rf__val_t r = rf__v_seq(c, t, v.q->n);
    if (v.q->n)
      memcpy(((rf__seq_t *)r.q)->it, v.q->it, v.q->n * sizeof(rf__val_t));
    return r;
  }
  collect_t col = {0};
  rf__iterate(c, v, collect_fn, &col);
  return collected(c, &col, t);
}

/* ------------------------------------------------------------------ comprehensions */

static void bind(rf__ctx_t *c, const rf__target_t *t, rf__val_t v) {
  if (t->slot >= 0) {
    c->slots[t->slot] = v;
    return;
  }
  if (v.t != VT_LIST && v.t != VT_TUPLE) {
    if (v.t != VT_STR && v.t != VT_DICT && v.t != VT_RANGE)
      rf__raise(c, "TypeError", "cannot unpack non-iterable %s object", rf__type_name(v));
    v = rf__to_list(c, v, VT_TUPLE);
  }
  if (v.q->n < (size_t)t->n)
    rf__raise(c, "ValueError", "not enough values to unpack (expected %d, got %zu)", t->n, v.q->n);
  if (v.q->n > (size_t)t->n)
    rf__raise(c, "ValueError", "too many values to unpack (expected %d)", t->n);
  for (int i = 0; i < t->n; i++)
    bind(c, t->sub[i], v.q->it[i]);
}

static bool comp_level(rf__ctx_t *c, const rf__node_t *g, int lvl, rf__iter_fn fn, void *ud) {
  const rf__comp_t *comp = g->comp;
  if (lvl == comp->nfor)
    return fn(c, rf__eval(c, g->a), ud);
  const struct rf__clause *cl = &comp->fors[lvl];
  iter_t it;
  iter_init(c, &it, rf__eval(c, cl->iter));
  rf__val_t x;
  while (iter_next(c, &it, &x)) {
    rf__steps(c, 1);
    bind(c, cl->target, x);
    bool ok = true;
    for (int i = 0; i < cl->nconds && ok; i++)
      ok = rf__truthy(rf__eval(c, cl->conds[i]));
    if (ok && !comp_level(c, g, lvl + 1, fn, ud))
      return false;
  }
  return true;
}

void rf__genexp_run(rf__ctx_t *c, const rf__node_t *g, rf__iter_fn fn, void *ud) {
  comp_level(c, g, 0, fn, ud);
}

/* ------------------------------------------------------------------ f-strings */

static rf__val_t eval_fstr(rf__ctx_t *c, const rf__node_t *n) {
  if (n->nargs == 1 && n->args[0]->kind == NK_CONST)
    return n->args[0]->cval;
  const rf__str_t **parts = rf__alloc(c, (size_t)(n->nargs ? n->nargs : 1) * sizeof(*parts));
  size_t total = 0, ncp = 0;
  for (int i = 0; i < n->nargs; i++) {
    const rf__node_t *p = n->args[i];
    rf__val_t s;
    if (p->kind == NK_CONST) {
      s = p->cval;
    } else {
      rf__val_t v = rf__eval(c, p->a);
      if (p->op == 'r' || p->op == 'a') {
        rf_buf_reset(&c->tmp);
        rf__repr_of(c, v, &c->tmp, p->op == 'a');
        v = rf__v_strbuf(c, &c->tmp);
      } else if (p->op == 's') {
        v = rf__to_str(c, v);
      }
      const rf__str_t *spec = NULL;
      if (p->b) {
        rf__val_t sv = eval_fstr(c, p->b);
        spec = sv.s;
      }
      if (!spec || spec->len == 0) {
        s = v.t == VT_STR ? v : rf__to_str(c, v);
      } else {
        rf_buf_reset(&c->tmp);
        rf__format_value(c, v, spec->p, spec->len, &c->tmp);
        s = rf__v_strbuf(c, &c->tmp);
      }
    }
    parts[i] = s.s;
    total += s.s->len;
    ncp += s.s->ncp;
  }
  if (total > c->l->lim.max_str_bytes)
    rf__raise(c, "LimitError", "string too long (limit %zu bytes)", c->l->lim.max_str_bytes);
  rf__work(c, total);
  char *buf = rf__alloc(c, total ? total : 1);
  size_t o = 0;
  for (int i = 0; i < n->nargs; i++) {
    if (parts[i]->len)
      memcpy(buf + o, parts[i]->p, parts[i]->len);
    o += parts[i]->len;
  }
  return rf__v_str(c, buf, total, ncp);
}

/* ------------------------------------------------------------------ calls */

static rf__val_t eval_call(rf__ctx_t *c, const rf__node_t *n) {
  rf__val_t self = rf__none;
  if (n->fn > FN_BUILTIN_END)
    self = rf__eval(c, n->a);
  rf__val_t argv[8], kwv[8];
  rf__val_t *args = n->nargs <= 8 ? argv : rf__alloc(c, (size_t)n->nargs * sizeof(*args));
  rf__val_t *kw = n->nkw <= 8 ? kwv : rf__alloc(c, (size_t)n->nkw * sizeof(*kw));
  rf__node_t *gen = NULL;
  for (int i = 0; i < n->nargs; i++) {
    if (n->args[i]->kind == NK_GENEXP) {
      gen = n->args[i];
      args[i] = rf__none;
    } else {
      args[i] = rf__eval(c, n->args[i]);
    }
  }
  for (int i = 0; i < n->nkw; i++)
    kw[i] = rf__eval(c, n->kw[i]);
  if (n->fn > FN_BUILTIN_END) {
    if (gen) {
      /* only str.join takes a generator: materialise it in order */
      collect_t col = {0};
      rf__genexp_run(c, gen, collect_fn, &col);
      args[0] = collected(c, &col, VT_LIST);
    }
    return rf__call_method(c, n, self, n->nargs, args, kw);
  }
  return rf__call_builtin(c, n, n->nargs, args, kw, gen);
}

/* ------------------------------------------------------------------ the walker */

rf__val_t rf__eval(rf__ctx_t *c, const rf__node_t *n) {
  if (++c->steps > c->max_steps)
    rf__steps(c, 0);
  switch (n->kind) {
  case NK_CONST:
    return n->cval;
  case NK_LOCAL:
    return c->slots[n->fn];
  case NK_LIST:
  case NK_TUPLE: {
    rf__val_t r = rf__v_seq(c, n->kind == NK_LIST ? VT_LIST : VT_TUPLE, (size_t)n->nargs);
    rf__seq_t *q = (rf__seq_t *)r.q;
    for (int i = 0; i < n->nargs; i++)
      q->it[i] = rf__eval(c, n->args[i]);
    return r;
  }
  case NK_BINOP: {
    rf__val_t a = rf__eval(c, n->a);
    rf__val_t b = rf__eval(c, n->b);
    if (a.t == VT_INT && b.t == VT_INT) {
      int64_t r;
      if (n->op == OP_ADD && !__builtin_add_overflow(a.i, b.i, &r))
        return rf__v_int(r);
      if (n->op == OP_SUB && !__builtin_sub_overflow(a.i, b.i, &r))
        return rf__v_int(r);
    }
    return rf__binop(c, n->op, a, b);
  }
  case NK_UNARY:
    return rf__unary(c, n->op, rf__eval(c, n->a));
  case NK_NOT:
    return rf__v_bool(!rf__truthy(rf__eval(c, n->a)));
  case NK_AND:
  case NK_OR: {
    rf__val_t v = rf__none;
    for (int i = 0; i < n->nargs; i++) {
      v = rf__eval(c, n->args[i]);
      bool t = rf__truthy(v);
      if (n->kind == NK_AND ? !t : t)
        return v;
    }
    return v;
  }
  case NK_COMPARE: {
    rf__val_t a = rf__eval(c, n->args[0]);
    for (int i = 1; i < n->nargs; i++) {
      rf__val_t b = rf__eval(c, n->args[i]);
      if (!rf__compare(c, n->ops[i - 1], a, b))
        return rf__false;
      a = b;
    }
    return rf__true;
  }
  case NK_IFEXP:
    return rf__truthy(rf__eval(c, n->a)) ? rf__eval(c, n->b) : rf__eval(c, n->c);
  case NK_SUBSCR: {
    rf__val_t obj = rf__eval(c, n->a);
    const rf__node_t *k = n->b;
    if (k->kind == NK_SLICE) {
      rf__val_t lo = k->a ? rf__eval(c, k->a) : rf__none;
      rf__val_t hi = k->b ? rf__eval(c, k->b) : rf__none;
      rf__val_t st = k->c ? rf__eval(c, k->c) : rf__none;
      return rf__getslice(c, obj, lo, hi, st);
    }
    return rf__getitem(c, obj, rf__eval(c, k));
  }
  case NK_SLICE:
    /* a slice inside a tuple subscript: x[1:2, 3] */
    if (n->a)
      rf__eval(c, n->a);
    if (n->b)
      rf__eval(c, n->b);
    if (n->c)
      rf__eval(c, n->c);
    rf__raise(c, "TypeError", "tuple of slices is not a valid index");
  case NK_ATTR:
    return rf__get_attr(c, n->fn, rf__eval(c, n->a));
  case NK_CALL:
    return eval_call(c, n);
  case NK_FSTR:
    return eval_fstr(c, n);
  case NK_LISTCOMP: {
    collect_t col = {0};
    rf__genexp_run(c, n, collect_fn, &col);
    return collected(c, &col, VT_LIST);
  }
  default:
    rf__raise(c, "SystemError", "unexpected node kind %d", n->kind);
  }
}

/* parser.c - recursive descent over Python 3.11's expression grammar.
 *
 * Why recursive descent: the grammar is small (one precedence level per
 * function, as in CPython's own python.gram), error messages can name what was
 * expected at an exact position, and syntactic nesting is bounded by a depth
 * counter so hostile input ("(((((...") is refused long before the C stack is.
 * The parser builds the AST in the lambda's arena and refuses, as CheckError,
 * syntax that is Python but outside the language (walrus, nested lambdas,
 * star-args, dict/set displays, bytes, yield/await, complex numbers). Names,
 * attributes and calls are resolved afterwards by check.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

static const char *const py_keywords[] = {
    "False", "None",   "True",    "and",      "as",       "assert", "async",  "await",
    "break", "class",  "continue", "def",     "del",      "elif",   "else",   "except",
    "finally", "for",  "from",    "global",   "if",       "import", "in",     "is",
    "lambda", "nonlocal", "not",  "or",       "pass",     "raise",  "return", "try",
    "while", "with",   "yield",   NULL};

static rf__tok_t *peek(rf__cc_t *cc) { return &cc->toks[cc->pos]; }
static rf__tok_t *peek2(rf__cc_t *cc) {
  return cc->pos + 1 < cc->ntoks ? &cc->toks[cc->pos + 1] : &cc->toks[cc->ntoks - 1];
}
static rf__tok_t *next(rf__cc_t *cc) {
  rf__tok_t *t = &cc->toks[cc->pos];
  if (t->kind != TK_END)
    cc->pos++;
  return t;
}
static bool tok_is(const rf__tok_t *t, int kind, const char *text) {
  return t->kind == kind && strlen(text) == t->len && memcmp(t->p, text, t->len) == 0;
}
static bool is_op(rf__cc_t *cc, const char *op) { return tok_is(peek(cc), TK_OP, op); }
static bool is_kw(rf__cc_t *cc, const char *kw) { return tok_is(peek(cc), TK_NAME, kw); }
static bool is_keyword(const rf__tok_t *t) {
  if (t->kind != TK_NAME)
    return false;
  for (int i = 0; py_keywords[i]; i++)
    if (tok_is(t, TK_NAME, py_keywords[i]))
      return true;
  return false;
}

_Noreturn static void syntax_at(rf__cc_t *cc, const rf__tok_t *t, const char *what) {
  if (t->kind == TK_END || t->kind == TK_NEWLINE)
    rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "%s (unexpected end of input)", what);
  rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "%s near '%.*s'", what, (int)(t->len > 20 ? 20 : t->len),
              t->p);
}

static void expect_op(rf__cc_t *cc, const char *op) {
  if (!is_op(cc, op)) {
    char what[64];
    snprintf(what, sizeof(what), "invalid syntax: expected '%s'", op);
    syntax_at(cc, peek(cc), what);
  }
  next(cc);
}

static rf__node_t *node(rf__cc_t *cc, int kind, const rf__tok_t *t) {
  if (++cc->nodes > cc->l->lim.max_nodes)
    rf__cc_fail(cc, CE_LIMIT, t->line, t->col, "expression has too many nodes (limit %zu)",
                cc->l->lim.max_nodes);
  rf__node_t *n = rf__cc_alloc(cc, sizeof(*n));
  memset(n, 0, sizeof(*n));
  n->kind = (uint16_t)kind;
  n->line = t->line;
  n->col = t->col;
  return n;
}

static void enter(rf__cc_t *cc) {
  if (++cc->depth > (int)cc->l->lim.max_depth) {
    rf__tok_t *t = peek(cc);
    rf__cc_fail(cc, CE_LIMIT, t->line, t->col, "expression nested too deeply (limit %zu)",
                cc->l->lim.max_depth);
  }
}
static void leave(rf__cc_t *cc) { cc->depth--; }

/* growable node vector in the arena */
typedef struct nvec {
  rf__node_t **v;
  int n, cap;
} nvec_t;
static void nvec_push(rf__cc_t *cc, nvec_t *nv, rf__node_t *x) {
  if (nv->n == nv->cap) {
    int cap = nv->cap ? nv->cap * 2 : 4;
    rf__node_t **v = rf__cc_alloc(cc, (size_t)cap * sizeof(*v));
    if (nv->n)
      memcpy(v, nv->v, (size_t)nv->n * sizeof(*v));
    nv->v = v;
    nv->cap = cap;
  }
  nv->v[nv->n++] = x;
}

static rf__node_t *parse_expression(rf__cc_t *cc);
static rf__node_t *parse_disjunction(rf__cc_t *cc);
static rf__node_t *parse_bitor(rf__cc_t *cc);
static rf__node_t *parse_factor(rf__cc_t *cc);

/* ------------------------------------------------------------------ atoms */

static rf__node_t *make_int(rf__cc_t *cc, const rf__tok_t *t) {
  char *txt = rf__cc_alloc(cc, t->len + 1);
  size_t k = 0;
  for (size_t i = 0; i < t->len; i++)
    if (t->p[i] != '_')
      txt[k++] = t->p[i];
  txt[k] = '\0';
  int base = 10;
  const char *dig = txt;
  if (k > 1 && txt[0] == '0' && strchr("xXoObB", txt[1])) {
    char c = (char)(txt[1] | 0x20);
    base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
    dig = txt + 2;
  }
  rf__node_t *n = node(cc, NK_CONST, t);
  if (base == 10 && strlen(dig) > cc->l->lim.max_int_digits)
    rf__cc_fail(cc, CE_SYNTAX, t->line, t->col,
                "Exceeds the limit (%zu digits) for integer string conversion: value has %zu "
                "digits; use sys.set_int_max_str_digits() to increase the limit - Consider "
                "hexadecimal for big integer literals to avoid the limit.",
                cc->l->lim.max_int_digits, strlen(dig));
  errno = 0;
  char *end;
  unsigned long long u = strtoull(dig, &end, base);
  if (errno == 0 && *end == '\0' && u <= (unsigned long long)INT64_MAX) {
    n->cval = rf__v_int((int64_t)u);
    return n;
  }
  rf__big_t *b = rf__cc_alloc(cc, sizeof(*b));
  mpz_init(b->z);
  b->next = cc->l->arena.bigs;
  cc->l->arena.bigs = b;
  mpz_set_str(b->z, dig, base);
  n->cval.t = VT_BIG;
  n->cval.z = b;
  return n;
}

static rf__node_t *make_float(rf__cc_t *cc, const rf__tok_t *t) {
  char buf[128];
  char *txt = t->len < sizeof(buf) ? buf : rf__cc_alloc(cc, t->len + 1);
  size_t k = 0;
  for (size_t i = 0; i < t->len; i++)
    if (t->p[i] != '_')
      txt[k++] = t->p[i];
  txt[k] = '\0';
  rf__node_t *n = node(cc, NK_CONST, t);
  n->cval = rf__v_float(strtod(txt, NULL));
  return n;
}

static void push_const_str(rf__cc_t *cc, nvec_t *parts, const rf__tok_t *t, const char *p,
                           size_t len) {
  if (len == 0)
    return;
  rf__str_t *s = rf__cc_alloc(cc, sizeof(*s));
  char *q = rf__cc_alloc(cc, len);
  memcpy(q, p, len);
  s->p = q;
  s->len = len;
  s->ncp = rf_utf8_check(q, len);
  if (s->ncp == (size_t)-1)
    rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "invalid UTF-8 in string literal");
  rf__node_t *n = node(cc, NK_CONST, t);
  n->cval.t = VT_STR;
  n->cval.s = s;
  nvec_push(cc, parts, n);
}

/* position of body[i] given the body start */
static void pos_of(const char *body, size_t i, uint32_t line, uint32_t col, uint32_t *ol,
                   uint32_t *oc) {
  for (size_t k = 0; k < i; k++) {
    if (body[k] == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)body[k] & 0xC0) != 0x80) {
      col++;
    }
  }
  *ol = line;
  *oc = col;
}

static rf__node_t *parse_fexpr_text(rf__cc_t *cc, const char *p, size_t n, uint32_t line,
                                    uint32_t col);

/* Parse f-string body[*pi..n) into parts until the end (level 0) or an
 * unmatched '}' (format spec, level > 0). */
static void parse_fbody(rf__cc_t *cc, const rf__tok_t *t, const char *body, size_t n, size_t *pi,
                        bool raw, int level, nvec_t *parts) {
  size_t i = *pi;
  rf_buf_t *lit = &cc->sbuf;
  rf_buf_reset(lit);
  size_t run = i; /* start of the undecoded literal run */
  uint32_t l0, c0;
#define FLUSH_RUN(upto)                                                                         \
  do {                                                                                          \
    if ((upto) > run) {                                                                         \
      pos_of(t->body, (size_t)(body + run - t->body), t->bline, t->bcol, &l0, &c0);             \
      rf__decode_escapes(cc, body + run, (upto) - run, raw, l0, c0, lit);                       \
    }                                                                                           \
  } while (0)
#define FLUSH_LIT()                                                                             \
  do {                                                                                          \
    if (!rf_buf_ok(lit))                                                                        \
      rf__cc_fail(cc, CE_NOMEM, t->line, t->col, "out of memory");                              \
    push_const_str(cc, parts, t, lit->data, lit->len);                                          \
    rf_buf_reset(lit);                                                                          \
  } while (0)
  while (i < n) {
    char ch = body[i];
    if (ch == '\\' && !raw) {
      if (i + 1 < n && body[i + 1] == 'N' && i + 2 < n && body[i + 2] == '{') {
        size_t k = i + 3;
        while (k < n && body[k] != '}')
          k++;
        i = k < n ? k + 1 : n;
      } else {
        i += 2;
      }
      continue;
    }
    if (ch != '{' && ch != '}') {
      i++;
      continue;
    }
    if (level == 0 && i + 1 < n && body[i + 1] == ch) {
      FLUSH_RUN(i);
      rf_buf_putc(lit, ch);
      i += 2;
      run = i;
      continue;
    }
    if (ch == '}') {
      if (level > 0)
        break; /* end of this format spec */
      pos_of(t->body, (size_t)(body + i - t->body), t->bline, t->bcol, &l0, &c0);
      rf__cc_fail(cc, CE_SYNTAX, l0, c0, "f-string: single '}' is not allowed");
    }
    /* a replacement field */
    FLUSH_RUN(i);
    FLUSH_LIT();
    uint32_t fl, fc;
    pos_of(t->body, (size_t)(body + i + 1 - t->body), t->bline, t->bcol, &fl, &fc);
    if (level >= 2)
      rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: expressions nested too deeply");
    size_t e = i + 1;
    int depth = 0;
    char quote = 0;
    for (; e < n; e++) {
      char c = body[e];
      if (c == '\\')
        rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string expression part cannot include a backslash");
      if (quote) {
        if (c == quote)
          quote = 0;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[' || c == '(' || c == '{') {
        depth++;
      } else if (c == '#') {
        rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string expression part cannot include '#'");
      } else if (depth == 0 && strchr("!:}=<>", c)) {
        if (e + 1 < n && body[e + 1] == '=' && strchr("!=<>", c)) {
          e++;
          continue;
        }
        if (c == '<' || c == '>')
          continue;
        break;
      } else if (c == ']' || c == ')' || c == '}') {
        depth--;
      }
    }
    if (quote)
      rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: unterminated string");
    if (e >= n)
      rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: expecting '}'");
    bool blank = true;
    for (size_t k = i + 1; k < e; k++)
      if (!strchr(" \t\n\r\f", body[k]))
        blank = false;
    if (blank)
      rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: empty expression not allowed");
    if (body[e] == '=')
      rf__cc_fail(cc, CE_CHECK, fl, fc, "f-string '=' (self-documenting) fields are not allowed");
    rf__node_t *field = node(cc, NK_FIELD, t);
    field->line = fl;
    field->col = fc;
    field->a = parse_fexpr_text(cc, body + i + 1, e - i - 1, fl, fc);
    if (body[e] == '!') {
      if (e + 1 >= n || !strchr("sra", body[e + 1]) || body[e + 1] == 0)
        rf__cc_fail(cc, CE_SYNTAX, fl, fc,
                    "f-string: invalid conversion character: expected 's', 'r', or 'a'");
      field->op = (uint16_t)body[e + 1];
      e += 2;
      if (e >= n || (body[e] != ':' && body[e] != '}'))
        rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: expecting '}'");
    }
    if (body[e] == ':') {
      e++;
      nvec_t spec = {0};
      cc->fdepth++;
      parse_fbody(cc, t, body, n, &e, raw, level + 1, &spec);
      cc->fdepth--;
      if (e >= n || body[e] != '}')
        rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: expecting '}'");
      rf__node_t *sp = node(cc, NK_FSTR, t);
      sp->args = spec.v;
      sp->nargs = spec.n;
      field->b = sp;
    }
    if (e >= n || body[e] != '}')
      rf__cc_fail(cc, CE_SYNTAX, fl, fc, "f-string: expecting '}'");
    nvec_push(cc, parts, field);
    i = e + 1;
    run = i;
    rf_buf_reset(lit);
  }
  FLUSH_RUN(i);
  FLUSH_LIT();
  *pi = i;
#undef FLUSH_RUN
#undef FLUSH_LIT
}

static rf__node_t *parse_tuple_or_expr(rf__cc_t *cc, const rf__tok_t *start);

static rf__node_t *parse_fexpr_text(rf__cc_t *cc, const char *p, size_t n, uint32_t line,
                                    uint32_t col) {
  rf__tok_t *save_toks = cc->toks;
  size_t save_n = cc->ntoks, save_pos = cc->pos;
  rf__tok_t *toks;
  size_t ntoks;
  rf__lex(cc, p, n, line, col, &toks, &ntoks);
  /* the field is parsed as if parenthesised: newlines do not end it */
  size_t k = 0;
  for (size_t j = 0; j < ntoks; j++)
    if (toks[j].kind != TK_NEWLINE)
      toks[k++] = toks[j];
  cc->toks = toks;
  cc->ntoks = k;
  cc->pos = 0;
  enter(cc);
  rf__node_t *e = parse_tuple_or_expr(cc, peek(cc));
  leave(cc);
  if (peek(cc)->kind != TK_END)
    syntax_at(cc, peek(cc), "f-string: invalid syntax");
  cc->toks = save_toks;
  cc->ntoks = save_n;
  cc->pos = save_pos;
  return e;
}

static rf__node_t *parse_strings(rf__cc_t *cc) {
  rf__tok_t *first = peek(cc);
  bool anyf = false;
  size_t i0 = cc->pos, i1 = cc->pos;
  while (cc->toks[i1].kind == TK_STR) {
    if (cc->toks[i1].sflags & SF_BYTES)
      rf__cc_fail(cc, CE_CHECK, cc->toks[i1].line, cc->toks[i1].col,
                  "bytes literals are not allowed");
    if (cc->toks[i1].sflags & SF_F)
      anyf = true;
    i1++;
  }
  cc->pos = i1;
  if (!anyf) {
    if (i1 - i0 == 1) {
      rf__node_t *n = node(cc, NK_CONST, first);
      n->cval.t = VT_STR;
      n->cval.s = rf__decode_str(cc, first);
      return n;
    }
    /* concatenate */
    size_t total = 0;
    rf__str_t **parts = rf__cc_alloc(cc, (i1 - i0) * sizeof(*parts));
    for (size_t i = i0; i < i1; i++) {
      parts[i - i0] = rf__decode_str(cc, &cc->toks[i]);
      total += parts[i - i0]->len;
    }
    char *p = rf__cc_alloc(cc, total + 1);
    size_t off = 0, ncp = 0;
    for (size_t i = 0; i < i1 - i0; i++) {
      memcpy(p + off, parts[i]->p, parts[i]->len);
      off += parts[i]->len;
      ncp += parts[i]->ncp;
    }
    rf__str_t *s = rf__cc_alloc(cc, sizeof(*s));
    s->p = p;
    s->len = total;
    s->ncp = ncp;
    rf__node_t *n = node(cc, NK_CONST, first);
    n->cval.t = VT_STR;
    n->cval.s = s;
    return n;
  }
  nvec_t parts = {0};
  for (size_t i = i0; i < i1; i++) {
    rf__tok_t *t = &cc->toks[i];
    if (t->sflags & SF_F) {
      size_t pos = 0;
      parse_fbody(cc, t, t->body, t->blen, &pos, (t->sflags & SF_RAW) != 0, 0, &parts);
    } else {
      rf__str_t *s = rf__decode_str(cc, t);
      push_const_str(cc, &parts, t, s->p, s->len);
    }
  }
  rf__node_t *n = node(cc, NK_FSTR, first);
  n->args = parts.v;
  n->nargs = parts.n;
  return n;
}

/* ------------------------------------------------------------------ comprehensions */

static rf__target_t *parse_target(rf__cc_t *cc, bool top);

static rf__target_t *parse_target_atom(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  if (is_op(cc, "(") || is_op(cc, "[")) {
    const char *close = is_op(cc, "(") ? ")" : "]";
    next(cc);
    enter(cc);
    rf__target_t *tg = parse_target(cc, false);
    leave(cc);
    expect_op(cc, close);
    if (tg->slot >= 0 && close[0] == ']') {
      /* [a] is a one-element unpacking */
      rf__target_t *w = rf__cc_alloc(cc, sizeof(*w));
      memset(w, 0, sizeof(*w));
      w->slot = -1;
      w->n = 1;
      w->sub = rf__cc_alloc(cc, sizeof(*w->sub));
      w->sub[0] = tg;
      w->line = t->line;
      w->col = t->col;
      return w;
    }
    return tg;
  }
  if (is_op(cc, "*"))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "starred assignment targets are not allowed");
  if (t->kind != TK_NAME || is_keyword(t))
    syntax_at(cc, t, "invalid syntax: expected a loop variable name");
  next(cc);
  if (is_op(cc, ".") || is_op(cc, "["))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "loop targets must be plain names");
  rf__target_t *tg = rf__cc_alloc(cc, sizeof(*tg));
  memset(tg, 0, sizeof(*tg));
  tg->slot = 0;
  tg->name = rf__cc_strdup(cc, t->p, t->len);
  tg->line = t->line;
  tg->col = t->col;
  return tg;
}

static rf__target_t *parse_target(rf__cc_t *cc, bool top) {
  rf__tok_t *t = peek(cc);
  rf__target_t *first = parse_target_atom(cc);
  if (!is_op(cc, ","))
    return first;
  rf__target_t *tup = rf__cc_alloc(cc, sizeof(*tup));
  memset(tup, 0, sizeof(*tup));
  tup->slot = -1;
  tup->line = t->line;
  tup->col = t->col;
  rf__target_t *items[64];
  int n = 0;
  items[n++] = first;
  while (is_op(cc, ",")) {
    next(cc);
    if ((top && is_kw(cc, "in")) || is_op(cc, ")") || is_op(cc, "]"))
      break;
    if (n == 64)
      rf__cc_fail(cc, CE_LIMIT, t->line, t->col, "too many loop targets");
    items[n++] = parse_target_atom(cc);
  }
  tup->n = n;
  tup->sub = rf__cc_alloc(cc, (size_t)n * sizeof(*tup->sub));
  memcpy(tup->sub, items, (size_t)n * sizeof(*items));
  return tup;
}

static rf__node_t *parse_comp(rf__cc_t *cc, int kind, rf__node_t *elt, const rf__tok_t *t) {
  rf__node_t *n = node(cc, kind, t);
  n->a = elt;
  rf__comp_t *comp = rf__cc_alloc(cc, sizeof(*comp));
  memset(comp, 0, sizeof(*comp));
  struct rf__clause clauses[16];
  int nc = 0;
  while (is_kw(cc, "for") || is_kw(cc, "async")) {
    rf__tok_t *ft = next(cc);
    if (tok_is(ft, TK_NAME, "async"))
      rf__cc_fail(cc, CE_CHECK, ft->line, ft->col, "async comprehensions are not allowed");
    if (nc == 16)
      rf__cc_fail(cc, CE_LIMIT, ft->line, ft->col, "too many 'for' clauses (limit 16)");
    struct rf__clause *cl = &clauses[nc++];
    memset(cl, 0, sizeof(*cl));
    cl->target = parse_target(cc, true);
    if (!is_kw(cc, "in"))
      syntax_at(cc, peek(cc), "invalid syntax: expected 'in'");
    next(cc);
    cl->iter = parse_disjunction(cc);
    nvec_t conds = {0};
    while (is_kw(cc, "if")) {
      next(cc);
      nvec_push(cc, &conds, parse_disjunction(cc));
    }
    cl->conds = conds.v;
    cl->nconds = conds.n;
  }
  comp->nfor = nc;
  comp->fors = rf__cc_alloc(cc, (size_t)nc * sizeof(*comp->fors));
  memcpy(comp->fors, clauses, (size_t)nc * sizeof(*clauses));
  n->comp = comp;
  return n;
}

/* ------------------------------------------------------------------ atoms and trailers */

static rf__node_t *parse_atom(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  switch (t->kind) {
  case TK_INT: next(cc); return make_int(cc, t);
  case TK_FLOAT: next(cc); return make_float(cc, t);
  case TK_IMAG: rf__cc_fail(cc, CE_CHECK, t->line, t->col, "complex numbers are not allowed");
  case TK_STR: return parse_strings(cc);
  case TK_NAME: {
    if (tok_is(t, TK_NAME, "True") || tok_is(t, TK_NAME, "False") || tok_is(t, TK_NAME, "None")) {
      next(cc);
      rf__node_t *n = node(cc, NK_CONST, t);
      n->cval = t->p[0] == 'N' ? rf__none : rf__v_bool(t->p[0] == 'T');
      return n;
    }
    if (tok_is(t, TK_NAME, "lambda"))
      rf__cc_fail(cc, CE_CHECK, t->line, t->col, "nested lambdas are not allowed");
    if (tok_is(t, TK_NAME, "yield") || tok_is(t, TK_NAME, "await"))
      rf__cc_fail(cc, CE_CHECK, t->line, t->col, "'%.*s' is not allowed", (int)t->len, t->p);
    if (is_keyword(t))
      syntax_at(cc, t, "invalid syntax");
    next(cc);
    rf__node_t *n = node(cc, NK_NAME, t);
    n->name = rf__cc_strdup(cc, t->p, t->len);
    if (is_op(cc, ":="))
      rf__cc_fail(cc, CE_CHECK, peek(cc)->line, peek(cc)->col,
                  "assignment expressions (:=) are not allowed");
    return n;
  }
  case TK_OP: break;
  default: syntax_at(cc, t, "invalid syntax");
  }
  if (is_op(cc, "(")) {
    next(cc);
    enter(cc);
    rf__node_t *r;
    if (is_op(cc, ")")) {
      r = node(cc, NK_TUPLE, t);
    } else if (is_kw(cc, "yield")) {
      rf__cc_fail(cc, CE_CHECK, peek(cc)->line, peek(cc)->col, "'yield' is not allowed");
    } else {
      rf__node_t *first = parse_expression(cc);
      if (is_kw(cc, "for") || is_kw(cc, "async")) {
        r = parse_comp(cc, NK_GENEXP, first, t);
      } else if (is_op(cc, ",")) {
        nvec_t items = {0};
        nvec_push(cc, &items, first);
        while (is_op(cc, ",")) {
          next(cc);
          if (is_op(cc, ")"))
            break;
          nvec_push(cc, &items, parse_expression(cc));
        }
        r = node(cc, NK_TUPLE, t);
        r->args = items.v;
        r->nargs = items.n;
      } else {
        r = first;
      }
    }
    leave(cc);
    expect_op(cc, ")");
    return r;
  }
  if (is_op(cc, "[")) {
    next(cc);
    enter(cc);
    rf__node_t *r = node(cc, NK_LIST, t);
    if (!is_op(cc, "]")) {
      rf__node_t *first = parse_expression(cc);
      if (is_kw(cc, "for") || is_kw(cc, "async")) {
        r = parse_comp(cc, NK_LISTCOMP, first, t);
      } else {
        nvec_t items = {0};
        nvec_push(cc, &items, first);
        while (is_op(cc, ",")) {
          next(cc);
          if (is_op(cc, "]"))
            break;
          nvec_push(cc, &items, parse_expression(cc));
        }
        r->args = items.v;
        r->nargs = items.n;
      }
    }
    leave(cc);
    expect_op(cc, "]");
    return r;
  }
  if (is_op(cc, "{"))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "dict and set displays are not allowed");
  if (is_op(cc, "..."))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "Ellipsis is not allowed");
  if (is_op(cc, "*"))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "starred expressions are not allowed");
  syntax_at(cc, t, "invalid syntax");
}

static rf__node_t *parse_call(rf__cc_t *cc, rf__node_t *callee, const rf__tok_t *t) {
  rf__node_t *n = node(cc, NK_CALL, t);
  n->a = callee;
  nvec_t args = {0}, kw = {0};
  const char **kwn = NULL;
  int kwcap = 0;
  bool bare_gen = false; /* f(x for x in y) without its own parentheses */
  while (!is_op(cc, ")")) {
    rf__tok_t *at = peek(cc);
    if (is_op(cc, "*") || is_op(cc, "**"))
      rf__cc_fail(cc, CE_CHECK, at->line, at->col, "star-arguments are not allowed");
    if (at->kind == TK_NAME && tok_is(peek2(cc), TK_OP, "=") && !is_keyword(at)) {
      next(cc);
      next(cc);
      const char *name = rf__cc_strdup(cc, at->p, at->len);
      for (int i = 0; i < kw.n; i++)
        if (strcmp(kwn[i], name) == 0)
          rf__cc_fail(cc, CE_SYNTAX, at->line, at->col, "keyword argument repeated: %s", name);
      if (kw.n == kwcap) {
        int cap = kwcap ? kwcap * 2 : 4;
        const char **nk = rf__cc_alloc(cc, (size_t)cap * sizeof(*nk));
        if (kw.n)
          memcpy(nk, kwn, (size_t)kw.n * sizeof(*nk));
        kwn = nk;
        kwcap = cap;
      }
      kwn[kw.n] = name;
      nvec_push(cc, &kw, parse_expression(cc));
    } else {
      if (kw.n)
        rf__cc_fail(cc, CE_SYNTAX, at->line, at->col,
                    "positional argument follows keyword argument");
      rf__node_t *a = parse_expression(cc);
      if (is_kw(cc, "for") || is_kw(cc, "async")) {
        a = parse_comp(cc, NK_GENEXP, a, at);
        bare_gen = true;
        if (args.n || !is_op(cc, ")"))
          rf__cc_fail(cc, CE_SYNTAX, at->line, at->col,
                      "Generator expression must be parenthesized");
      } else if (is_op(cc, "=")) {
        rf__cc_fail(cc, CE_SYNTAX, peek(cc)->line, peek(cc)->col,
                    "expression cannot contain assignment, perhaps you meant \"==\"?");
      }
      nvec_push(cc, &args, a);
    }
    if (!is_op(cc, ","))
      break;
    next(cc);
    if (bare_gen && !is_op(cc, ")"))
      rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "Generator expression must be parenthesized");
  }
  expect_op(cc, ")");
  n->args = args.v;
  n->nargs = args.n;
  n->kw = kw.v;
  n->nkw = kw.n;
  n->kwnames = kwn;
  return n;
}

static rf__node_t *parse_slice_item(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  rf__node_t *lo = NULL;
  if (!is_op(cc, ":"))
    lo = parse_expression(cc);
  if (!is_op(cc, ":"))
    return lo;
  next(cc);
  rf__node_t *s = node(cc, NK_SLICE, t);
  s->a = lo;
  if (!is_op(cc, ":") && !is_op(cc, "]") && !is_op(cc, ","))
    s->b = parse_expression(cc);
  if (is_op(cc, ":")) {
    next(cc);
    if (!is_op(cc, "]") && !is_op(cc, ","))
      s->c = parse_expression(cc);
  }
  return s;
}

static rf__node_t *parse_primary(rf__cc_t *cc) {
  rf__node_t *e = parse_atom(cc);
  for (;;) {
    rf__tok_t *t = peek(cc);
    if (is_op(cc, ".")) {
      next(cc);
      rf__tok_t *nt = next(cc);
      if (nt->kind != TK_NAME || is_keyword(nt))
        syntax_at(cc, nt, "invalid syntax: expected an attribute name");
      rf__node_t *a = node(cc, NK_ATTR, nt);
      a->a = e;
      a->name = rf__cc_strdup(cc, nt->p, nt->len);
      e = a;
    } else if (is_op(cc, "(")) {
      next(cc);
      enter(cc);
      e = parse_call(cc, e, t);
      leave(cc);
    } else if (is_op(cc, "[")) {
      next(cc);
      enter(cc);
      rf__node_t *s = node(cc, NK_SUBSCR, t);
      s->a = e;
      rf__node_t *first = parse_slice_item(cc);
      if (is_op(cc, ",")) {
        nvec_t items = {0};
        nvec_push(cc, &items, first);
        while (is_op(cc, ",")) {
          next(cc);
          if (is_op(cc, "]"))
            break;
          nvec_push(cc, &items, parse_slice_item(cc));
        }
        rf__node_t *tup = node(cc, NK_TUPLE, t);
        tup->args = items.v;
        tup->nargs = items.n;
        first = tup;
      }
      s->b = first;
      leave(cc);
      expect_op(cc, "]");
      e = s;
    } else {
      return e;
    }
  }
}

/* ------------------------------------------------------------------ operators */

static rf__node_t *parse_power(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  if (tok_is(t, TK_NAME, "await"))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "'await' is not allowed");
  rf__node_t *e = parse_primary(cc);
  if (is_op(cc, "**")) {
    rf__tok_t *ot = next(cc);
    rf__node_t *b = node(cc, NK_BINOP, ot);
    b->op = OP_POW;
    b->a = e;
    enter(cc);
    b->b = parse_factor(cc);
    leave(cc);
    return b;
  }
  return e;
}

static rf__node_t *parse_factor(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  int op = is_op(cc, "-") ? OP_NEG : is_op(cc, "+") ? OP_POS : is_op(cc, "~") ? OP_INVERT : 0;
  if (!op)
    return parse_power(cc);
  next(cc);
  enter(cc);
  rf__node_t *n = node(cc, NK_UNARY, t);
  n->op = (uint16_t)op;
  n->a = parse_factor(cc);
  leave(cc);
  return n;
}

typedef struct binlevel {
  const char *ops[5];
  int codes[5];
} binlevel_t;

static const binlevel_t levels[] = {
    {{"|"}, {OP_BITOR}},
    {{"^"}, {OP_BITXOR}},
    {{"&"}, {OP_BITAND}},
    {{"<<", ">>"}, {OP_LSHIFT, OP_RSHIFT}},
    {{"+", "-"}, {OP_ADD, OP_SUB}},
    {{"*", "/", "//", "%", "@"}, {OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_MATMUL}},
};

static rf__node_t *parse_level(rf__cc_t *cc, int lv) {
  if (lv == (int)(sizeof(levels) / sizeof(levels[0])))
    return parse_factor(cc);
  rf__node_t *e = parse_level(cc, lv + 1);
  for (;;) {
    int code = 0;
    for (int i = 0; i < 5 && levels[lv].ops[i]; i++)
      if (is_op(cc, levels[lv].ops[i]))
        code = levels[lv].codes[i];
    if (!code)
      return e;
    rf__tok_t *t = next(cc);
    rf__node_t *b = node(cc, NK_BINOP, t);
    b->op = (uint16_t)code;
    b->a = e;
    b->b = parse_level(cc, lv + 1);
    e = b;
  }
}

static rf__node_t *parse_bitor(rf__cc_t *cc) { return parse_level(cc, 0); }

static int comp_op(rf__cc_t *cc) {
  static const struct { const char *s; int op; } tab[] = {
      {"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {"<=", OP_LE}, {">", OP_GT}, {">=", OP_GE}};
  for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
    if (is_op(cc, tab[i].s)) {
      next(cc);
      return tab[i].op;
    }
  if (is_op(cc, "<>"))
    syntax_at(cc, peek(cc), "invalid syntax");
  if (is_kw(cc, "in")) {
    next(cc);
    return OP_IN;
  }
  if (is_kw(cc, "not") && tok_is(peek2(cc), TK_NAME, "in")) {
    next(cc);
    next(cc);
    return OP_NOTIN;
  }
  if (is_kw(cc, "is")) {
    next(cc);
    if (is_kw(cc, "not")) {
      next(cc);
      return OP_ISNOT;
    }
    return OP_IS;
  }
  return 0;
}

static rf__node_t *parse_comparison(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  rf__node_t *first = parse_bitor(cc);
  int op = comp_op(cc);
  if (!op)
    return first;
  nvec_t items = {0};
  uint8_t ops[256];
  int nops = 0;
  nvec_push(cc, &items, first);
  while (op) {
    if (nops == 256)
      rf__cc_fail(cc, CE_LIMIT, t->line, t->col, "comparison chain too long");
    ops[nops++] = (uint8_t)op;
    nvec_push(cc, &items, parse_bitor(cc));
    op = comp_op(cc);
  }
  rf__node_t *n = node(cc, NK_COMPARE, t);
  n->args = items.v;
  n->nargs = items.n;
  n->ops = rf__cc_alloc(cc, (size_t)nops);
  memcpy(n->ops, ops, (size_t)nops);
  return n;
}

static rf__node_t *parse_inversion(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  if (!is_kw(cc, "not"))
    return parse_comparison(cc);
  next(cc);
  enter(cc);
  rf__node_t *n = node(cc, NK_NOT, t);
  n->a = parse_inversion(cc);
  leave(cc);
  return n;
}

static rf__node_t *parse_boolop(rf__cc_t *cc, bool isor) {
  rf__tok_t *t = peek(cc);
  rf__node_t *first = isor ? parse_boolop(cc, false) : parse_inversion(cc);
  const char *kw = isor ? "or" : "and";
  if (!is_kw(cc, kw))
    return first;
  nvec_t items = {0};
  nvec_push(cc, &items, first);
  while (is_kw(cc, kw)) {
    next(cc);
    nvec_push(cc, &items, isor ? parse_boolop(cc, false) : parse_inversion(cc));
  }
  rf__node_t *n = node(cc, isor ? NK_OR : NK_AND, t);
  n->args = items.v;
  n->nargs = items.n;
  return n;
}

static rf__node_t *parse_disjunction(rf__cc_t *cc) { return parse_boolop(cc, true); }

static rf__node_t *parse_expression(rf__cc_t *cc) {
  rf__tok_t *t = peek(cc);
  if (is_kw(cc, "lambda"))
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "nested lambdas are not allowed");
  enter(cc);
  rf__node_t *e = parse_disjunction(cc);
  if (is_kw(cc, "if")) {
    next(cc);
    rf__node_t *n = node(cc, NK_IFEXP, t);
    n->b = e;
    n->a = parse_disjunction(cc);
    if (!is_kw(cc, "else"))
      syntax_at(cc, peek(cc), "invalid syntax: expected 'else' after 'if' expression");
    next(cc);
    n->c = parse_expression(cc);
    e = n;
  }
  if (is_op(cc, ":="))
    rf__cc_fail(cc, CE_CHECK, peek(cc)->line, peek(cc)->col,
                "assignment expressions (:=) are not allowed");
  leave(cc);
  return e;
}

static rf__node_t *parse_tuple_or_expr(rf__cc_t *cc, const rf__tok_t *start) {
  if (is_op(cc, "*"))
    rf__cc_fail(cc, CE_CHECK, start->line, start->col, "starred expressions are not allowed");
  rf__node_t *first = parse_expression(cc);
  if (!is_op(cc, ","))
    return first;
  nvec_t items = {0};
  nvec_push(cc, &items, first);
  while (is_op(cc, ",")) {
    next(cc);
    if (peek(cc)->kind == TK_END)
      break;
    nvec_push(cc, &items, parse_expression(cc));
  }
  rf__node_t *tup = node(cc, NK_TUPLE, start);
  tup->args = items.v;
  tup->nargs = items.n;
  return tup;
}

/* ------------------------------------------------------------------ the lambda */

rf__node_t *rf__parse_lambda(rf__cc_t *cc, const char *src, size_t len, int *arity,
                             const char *params[2]) {
  rf__lex(cc, src, len, 1, 1, &cc->toks, &cc->ntoks);
  cc->pos = 0;
  while (peek(cc)->kind == TK_NEWLINE)
    next(cc);
  rf__tok_t *t = peek(cc);
  if (!is_kw(cc, "lambda")) {
    if (t->kind == TK_END)
      rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "empty source: expected 'lambda'");
    syntax_at(cc, t, "the source must be a lambda expression: expected 'lambda'");
  }
  next(cc);
  int n = 0;
  while (!is_op(cc, ":")) {
    rf__tok_t *p = peek(cc);
    if (is_op(cc, "*") || is_op(cc, "**") || is_op(cc, "/"))
      rf__cc_fail(cc, CE_CHECK, p->line, p->col,
                  "only the parameters 'x' or 'x, row' are allowed (no *args, **kwargs or /)");
    if (p->kind != TK_NAME || is_keyword(p))
      syntax_at(cc, p, "invalid syntax: expected a parameter name");
    if (n == 2)
      rf__cc_fail(cc, CE_CHECK, p->line, p->col, "a lambda takes one or two parameters");
    next(cc);
    params[n] = rf__cc_strdup(cc, p->p, p->len);
    if (n == 1 && strcmp(params[0], params[1]) == 0)
      rf__cc_fail(cc, CE_SYNTAX, p->line, p->col,
                  "duplicate argument '%s' in function definition", params[1]);
    n++;
    if (is_op(cc, "="))
      rf__cc_fail(cc, CE_CHECK, p->line, p->col, "parameter defaults are not allowed");
    if (!is_op(cc, ","))
      break;
    next(cc);
  }
  if (n == 0)
    rf__cc_fail(cc, CE_CHECK, t->line, t->col, "a lambda takes one or two parameters");
  expect_op(cc, ":");
  rf__node_t *body = parse_expression(cc);
  while (peek(cc)->kind == TK_NEWLINE)
    next(cc);
  if (peek(cc)->kind != TK_END) {
    rf__tok_t *x = peek(cc);
    if (tok_is(x, TK_OP, ";"))
      rf__cc_fail(cc, CE_SYNTAX, x->line, x->col,
                  "invalid syntax: statements and ';' are not allowed");
    syntax_at(cc, x, "invalid syntax: the source must be exactly one lambda expression");
  }
  *arity = n;
  return body;
}

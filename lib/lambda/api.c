/* api.c - the public entry points of the lambda language (rectify/lambda.h).
 *
 * Compile: parse, check, pre-compile literal regular expressions, all into one
 * arena owned by the immutable rf_lambda_t. Evaluate: set the jump buffer,
 * bind x and row into the frame of a per-call context, walk the AST, turn the
 * result into str() text. Everything an evaluation allocates is in the
 * context's arena, which is recycled, so a ctx reused across rows allocates
 * nothing in steady state except the result string the caller owns.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compile.h"
#include "rectify/alloc.h"
#include "rectify/error.h"

void rf_lambda_limits_default(rf_lambda_limits_t *lim) {
  lim->max_source = 4096;
  lim->max_nodes = 2000;
  lim->max_depth = 64;
  lim->max_steps = 100000;
  lim->max_str_bytes = 1u << 20;
  lim->max_list_items = 100000;
  lim->max_int_digits = 4300;
  lim->re_match_limit = 100000;
  lim->re_depth_limit = 5000;
  lim->max_memory = 32u << 20;
}

/* ------------------------------------------------------------------ compile-time helpers */

void rf__cc_fail(rf__cc_t *cc, int kind, uint32_t line, uint32_t col, const char *fmt, ...) {
  va_list ap;
  char msg[400];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(cc->msg, sizeof(cc->msg), "%s at %u:%u", msg, line, col);
  cc->err = kind;
  _longjmp(cc->jb, 1);
}

void *rf__cc_alloc(rf__cc_t *cc, size_t n) {
  void *p = rf__arena_alloc(&cc->l->arena, n, NULL);
  if (!p) {
    cc->err = CE_NOMEM;
    snprintf(cc->msg, sizeof(cc->msg), "out of memory");
    _longjmp(cc->jb, 1);
  }
  return p;
}

char *rf__cc_strdup(rf__cc_t *cc, const char *p, size_t n) {
  char *s = rf__cc_alloc(cc, n + 1);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static bool const_int(const rf__node_t *n, long *v) {
  if (n->kind == NK_CONST && (n->cval.t == VT_INT || n->cval.t == VT_BOOL)) {
    *v = (long)n->cval.i;
    return true;
  }
  long a, b;
  if (n->kind == NK_BINOP && n->op == OP_BITOR && const_int(n->a, &a) && const_int(n->b, &b)) {
    *v = a | b;
    return true;
  }
  return false;
}

/* Pre-compile re calls whose pattern and flags are literals. */
static void precompile(rf__cc_t *cc, rf__node_t *n) {
  if (!n)
    return;
  if (n->kind == NK_CALL && n->fn >= FN_RE_SUB && n->fn <= FN_RE_SPLIT && n->nargs >= 1 &&
      n->args[0]->kind == NK_CONST && n->args[0]->cval.t == VT_STR) {
    int fpos = n->fn == FN_RE_SUB ? 4 : n->fn == FN_RE_SPLIT ? 3 : 2;
    const rf__node_t *fl = n->nargs > fpos ? n->args[fpos] : NULL;
    for (int i = 0; i < n->nkw; i++)
      if (strcmp(n->kwnames[i], "flags") == 0)
        fl = n->kw[i];
    long flags = 0;
    if ((!fl || const_int(fl, &flags)) &&
        cc->l->nre < (int)(sizeof(cc->l->res) / sizeof(cc->l->res[0]))) {
      rf_pyerr_t err = {0};
      rf_py_re_t *re = NULL;
      const rf__str_t *p = n->args[0]->cval.s;
      if (rf_py_re_compile(p->p, p->len, (int)flags, &cc->l->relim, &re, &err) == 0) {
        cc->l->res[cc->l->nre++] = re;
        n->re = re;
        if (n->fn == FN_RE_SUB && flags == 0)
          n->refilt = rf__refilt_compile(cc, p->p, p->len);
      } else if (err.type && strcmp(err.type, "MemoryError") == 0) {
        cc->err = CE_NOMEM;
        snprintf(cc->msg, sizeof(cc->msg), "out of memory");
        _longjmp(cc->jb, 1);
      }
      /* other errors are raised when the call runs, as CPython does */
    }
  }
  precompile(cc, n->a);
  precompile(cc, n->b);
  precompile(cc, n->c);
  for (int i = 0; i < n->nargs; i++)
    precompile(cc, n->args[i]);
  for (int i = 0; i < n->nkw; i++)
    precompile(cc, n->kw[i]);
  if (n->comp)
    for (int i = 0; i < n->comp->nfor; i++) {
      precompile(cc, n->comp->fors[i].iter);
      for (int j = 0; j < n->comp->fors[i].nconds; j++)
        precompile(cc, n->comp->fors[i].conds[j]);
    }
}

const char *rf_lambda_compile_error_class(int rc) {
  switch (rc) {
  case RF_ESYNTAX: return "SyntaxError";
  case RF_EDENIED: return "CheckError";
  case RF_ELIMIT: return "LimitError";
  case RF_ENOMEM: return "MemoryError";
  default: return "Error";
  }
}

int rf_lambda_compile(const char *src, size_t len, const rf_lambda_limits_t *lim,
                      rf_lambda_t **out, char *errbuf, size_t errlen) {
  *out = NULL;
  if (errlen)
    errbuf[0] = '\0';
  rf_lambda_t *l = rf_calloc(1, sizeof(*l));
  if (!l) {
    if (errlen)
      snprintf(errbuf, errlen, "out of memory");
    return RF_ENOMEM;
  }
  if (lim)
    l->lim = *lim;
  else
    rf_lambda_limits_default(&l->lim);
  l->relim.match_limit = l->lim.re_match_limit;
  l->relim.depth_limit = l->lim.re_depth_limit;
  l->relim.max_output = l->lim.max_str_bytes;
  l->relim.max_pattern = l->lim.max_source;
  rf__arena_init(&l->arena, 0);
  if (len > l->lim.max_source) {
    if (errlen)
      snprintf(errbuf, errlen, "source too long (%zu bytes, limit %zu) at 1:1", len,
               l->lim.max_source);
    rf_lambda_free(l);
    return RF_ELIMIT;
  }
  if (memchr(src, '\0', len) || rf_utf8_check(src, len) == (size_t)-1) {
    if (errlen)
      snprintf(errbuf, errlen, "source must be valid UTF-8 without NUL bytes at 1:1");
    rf_lambda_free(l);
    return RF_ESYNTAX;
  }
  /* volatile: read after _longjmp */
  rf__cc_t *volatile cc = rf_calloc(1, sizeof(*cc));
  if (!cc) {
    if (errlen)
      snprintf(errbuf, errlen, "out of memory");
    rf_lambda_free(l);
    return RF_ENOMEM;
  }
  cc->l = l;
  if (_setjmp(cc->jb)) {
    int rc = cc->err == CE_SYNTAX  ? RF_ESYNTAX
             : cc->err == CE_CHECK ? RF_EDENIED
             : cc->err == CE_LIMIT ? RF_ELIMIT
                                   : RF_ENOMEM;
    if (errlen)
      snprintf(errbuf, errlen, "%s", cc->msg);
    rf_buf_free(&cc->sbuf);
    rf_free(cc);
    rf_lambda_free(l);
    return rc;
  }
  const char *params[2] = {NULL, NULL};
  int arity = 0;
  rf__node_t *body = rf__parse_lambda(cc, src, len, &arity, params);
  rf__check(cc, body, arity, params);
  precompile(cc, body);
  l->body = body;
  l->arity = arity;
  rf__kernel_build(cc);
  rf_buf_free(&cc->sbuf);
  rf_free(cc);
  *out = l;
  return 0;
}

void rf_lambda_free(rf_lambda_t *l) {
  if (!l)
    return;
  for (int i = 0; i < l->nre; i++)
    rf_py_re_free(l->res[i]);
  rf__arena_free(&l->arena);
  rf_free(l);
}

int rf_lambda_arity(const rf_lambda_t *l) { return l->arity; }

/* ------------------------------------------------------------------ contexts */

static void end_eval(rf__ctx_t *c);

rf_lambda_ctx_t *rf_lambda_ctx_new(void) {
  rf_lambda_ctx_t *c = rf_calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  rf__arena_init(&c->arena, 0);
  rf_buf_init(&c->tmp);
  rf_buf_init(&c->out);
  return c;
}

void rf_lambda_ctx_free(rf_lambda_ctx_t *c) {
  if (!c)
    return;
  if (c->dirty)
    end_eval(c);
  rf__arena_free(&c->arena);
  rf_buf_free(&c->tmp);
  rf_buf_free(&c->out);
  rf_buf_free(&c->kbuf[0]);
  rf_buf_free(&c->kbuf[1]);
  rf_free(c->slots);
  rf_free(c);
}

static void result_init(rf_lambda_result_t *res) {
  res->ok = false;
  res->type = NULL;
  res->value = NULL;
  res->value_len = 0;
  res->is_none = false;
  res->error = NULL;
  res->message[0] = '\0';
  res->borrowed = false;
}

void rf_lambda_result_clear(rf_lambda_result_t *res) {
  if (!res->borrowed)
    rf_free(res->value);
  result_init(res);
}

/* ------------------------------------------------------------------ row conversion */

static rf__val_t json_value(rf__ctx_t *c, const cJSON *j, int depth) {
  if (depth > 32)
    rf__raise(c, "LimitError", "row nested too deeply");
  rf__steps(c, 1);
  if (cJSON_IsString(j)) {
    const char *s = j->valuestring ? j->valuestring : "";
    size_t len = strlen(s);
    size_t ncp = rf_utf8_check(s, len);
    if (ncp == (size_t)-1)
      rf__raise(c, "ValueError", "row value is not valid UTF-8");
    return rf__v_str(c, s, len, ncp);
  }
  if (cJSON_IsBool(j))
    return rf__v_bool(cJSON_IsTrue(j));
  if (cJSON_IsNull(j))
    return rf__none;
  if (cJSON_IsNumber(j) && j->valuestring && j->valuestring[0]) {
    /* rf_json_parse keeps the number's source text: decide as json.loads
     * does (int when there is no fraction or exponent, of any size; float()
     * of the text otherwise), exactly, without going through the double */
    const char *t = j->valuestring;
    size_t len = strlen(t);
    rf__str_t s = {t, len, len};
    if (rf_utf8_check(t, len) != len)
      rf__raise(c, "ValueError", "row number is not ASCII");
    if (strpbrk(t, ".eE") == NULL)
      return rf__int_from_str(c, &s, 10);
    return rf__float_from_str(c, &s);
  }
  if (cJSON_IsNumber(j)) { /* built by cJSON_CreateNumber: only the double is known */
    double d = j->valuedouble;
    if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
      return rf__v_int((int64_t)d);
    return rf__v_float(d);
  }
  if (cJSON_IsArray(j)) {
    size_t n = (size_t)cJSON_GetArraySize(j);
    rf__val_t v = rf__v_seq(c, VT_LIST, n);
    size_t i = 0;
    for (const cJSON *e = j->child; e && i < n; e = e->next)
      ((rf__seq_t *)v.q)->it[i++] = json_value(c, e, depth + 1);
    return v;
  }
  if (cJSON_IsObject(j)) {
    size_t n = (size_t)cJSON_GetArraySize(j);
    if (n > c->l->lim.max_list_items)
      rf__raise(c, "LimitError", "row has too many members");
    rf__dict_t *d = rf__alloc(c, sizeof(*d));
    d->k = rf__alloc(c, (n ? n : 1) * sizeof(rf__val_t));
    d->v = rf__alloc(c, (n ? n : 1) * sizeof(rf__val_t));
    d->n = 0;
    for (const cJSON *e = j->child; e && d->n < n; e = e->next) {
      const char *k = e->string ? e->string : "";
      size_t kl = strlen(k), ncp = rf_utf8_check(k, kl);
      if (ncp == (size_t)-1)
        rf__raise(c, "ValueError", "row key is not valid UTF-8");
      rf__val_t kv = rf__v_str(c, k, kl, ncp), vv = json_value(c, e, depth + 1);
      /* a repeated key: the last one wins, as json.loads does */
      size_t i;
      for (i = 0; i < d->n; i++)
        if (rf__eq(c, d->k[i], kv))
          break;
      d->k[i] = kv;
      d->v[i] = vv;
      if (i == d->n)
        d->n++;
    }
    rf__val_t v = {.t = VT_DICT};
    v.d = d;
    return v;
  }
  rf__raise(c, "TypeError", "unsupported row value");
}

/* ------------------------------------------------------------------ evaluation */

static void end_eval(rf__ctx_t *c) {
  for (rf__rtre_t *r = c->rtre; r; r = r->next)
    rf_py_re_free(r->re);
  c->rtre = NULL;
  rf__arena_reset(&c->arena);
  rf_buf_reset(&c->tmp);
}

__attribute__((noinline)) static int eval_core(rf_lambda_ctx_t *c, const rf_lambda_t *l,
                                               const char *x, size_t xlen, const cJSON *row,
                                               rf_lambda_result_t *res, bool borrow,
                                               bool trusted) {
  result_init(res);
  if (c->dirty) {
    end_eval(c);
    c->dirty = false;
  }
  if ((size_t)l->nslots > c->nslots_cap) {
    rf__val_t *s = rf_realloc(c->slots, (size_t)l->nslots * sizeof(*s));
    if (!s)
      return RF_ENOMEM;
    c->slots = s;
    c->nslots_cap = (size_t)l->nslots;
  }
  c->l = l;
  c->steps = 0;
  c->max_steps = l->lim.max_steps;
  c->arena.max = l->lim.max_memory;
  c->oom = false;
  c->err.type = NULL;
  c->err.msg[0] = '\0';
  c->rtre = NULL;
  if (_setjmp(c->jb)) {
    bool oom = c->oom || (c->err.type && strcmp(c->err.type, "MemoryError") == 0);
    end_eval(c);
    if (oom)
      return RF_ENOMEM;
    res->ok = false;
    res->error = c->err.type;
    snprintf(res->message, sizeof(res->message), "%s", c->err.msg);
    return 0;
  }
  if (x) {
    if (xlen > l->lim.max_str_bytes)
      rf__raise(c, "LimitError", "input too long (limit %zu bytes)", l->lim.max_str_bytes);
    /* trusted: valid by the caller's guarantee, only the code points are counted */
    assert(!trusted || rf_utf8_check(x, xlen) != (size_t)-1);
    size_t ncp = trusted ? rf__utf8_count(x, xlen) : rf_utf8_check(x, xlen);
    if (ncp == (size_t)-1)
      rf__raise(c, "ValueError", "input is not valid UTF-8");
    c->slots[0] = rf__v_str(c, x, xlen, ncp);
  } else {
    c->slots[0] = rf__none;
  }
  if (l->arity > 1) {
    if (row && !cJSON_IsObject(row))
      rf__raise(c, "TypeError", "row must be a JSON object");
    if (row) {
      c->slots[1] = json_value(c, row, 0);
    } else {
      rf__dict_t *d = rf__alloc(c, sizeof(*d));
      memset(d, 0, sizeof(*d));
      rf__val_t v = {.t = VT_DICT};
      v.d = d;
      c->slots[1] = v;
    }
  }
  rf__val_t v = rf__eval(c, l->body);
  const char *data;
  size_t len;
  if (v.t == VT_NONE) {
    res->is_none = true;
    res->ok = true;
    res->type = "NoneType";
    end_eval(c);
    return 0;
  }
  if (v.t == VT_STR) {
    data = v.s->p;
    len = v.s->len;
  } else {
    rf_buf_reset(&c->tmp);
    rf__str_of(c, v, &c->tmp);
    if (!rf_buf_ok(&c->tmp))
      rf__raise_oom(c);
    data = c->tmp.data ? c->tmp.data : "";
    len = c->tmp.len;
  }
  char *out;
  if (borrow) {
    rf_buf_reset(&c->out);
    rf_buf_append(&c->out, data, len);
    if (!rf_buf_ok(&c->out)) {
      end_eval(c);
      return RF_ENOMEM;
    }
    out = c->out.data ? c->out.data : (char *)"";
    res->borrowed = true;
    c->dirty = true; /* the arena is recycled at the next call */
  } else {
    out = rf_malloc(len + 1);
    if (!out) {
      end_eval(c);
      return RF_ENOMEM;
    }
    if (len)
      memcpy(out, data, len);
    out[len] = '\0';
  }
  res->ok = true;
  res->type = v.t == VT_MATCH ? "Match" : rf__type_name(v);
  res->value = out;
  res->value_len = len;
  if (!borrow)
    end_eval(c);
  return 0;
}

/* The kernel (kernel.c) is tried first when the lambda has one and only x
 * matters (one parameter, or no row to convert); it declines whatever it
 * would not evaluate exactly as eval_core does. */
static inline bool kernel_fits(const rf_lambda_t *l, const char *x, const cJSON *row) {
  return l->kernel && x && (l->arity == 1 || !row);
}

int rf_lambda_eval_ctx(rf_lambda_ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen,
                       const cJSON *row, rf_lambda_result_t *res) {
  if (kernel_fits(l, x, row) && rf__kernel_run(c, l, x, xlen, false, res)) {
    char *own = rf_malloc(res->value_len + 1);
    if (!own) {
      result_init(res);
      return RF_ENOMEM;
    }
    memcpy(own, res->value, res->value_len + 1);
    res->value = own;
    res->borrowed = false;
    return 0;
  }
  return eval_core(c, l, x, xlen, row, res, false, false);
}

int rf_lambda_eval_borrow(rf_lambda_ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen,
                          const cJSON *row, rf_lambda_result_t *res) {
  if (kernel_fits(l, x, row) && rf__kernel_run(c, l, x, xlen, false, res))
    return 0;
  return eval_core(c, l, x, xlen, row, res, true, false);
}

int rf_lambda_eval_batch(rf_lambda_ctx_t *c, const rf_lambda_t *l, const rf_lambda_input_t *in,
                         size_t n, unsigned flags, rf_lambda_sink_fn sink, void *arg) {
  bool trusted = (flags & RF_LAMBDA_TRUSTED_UTF8) != 0;
  bool kernel = l->kernel != NULL, one = l->arity == 1;
  rf_lambda_result_t res;
  for (size_t i = 0; i < n; i++) {
    const rf_lambda_input_t *r = &in[i];
    if (!(kernel && r->x && (one || !r->row) &&
          rf__kernel_run(c, l, r->x, r->xlen, trusted, &res))) {
      int rc = eval_core(c, l, r->x, r->xlen, r->row, &res, true, trusted);
      if (rc)
        return rc;
    }
    int rc = sink(arg, i, &res);
    if (rc)
      return rc;
  }
  return 0;
}

int rf_lambda_eval(const rf_lambda_t *l, const char *x, size_t xlen, const cJSON *row,
                   rf_lambda_result_t *res) {
  result_init(res);
  rf_lambda_ctx_t *c = rf_lambda_ctx_new();
  if (!c)
    return RF_ENOMEM;
  int rc = rf_lambda_eval_ctx(c, l, x, xlen, row, res);
  rf_lambda_ctx_free(c);
  return rc;
}

/* check.c - the allow-list, enforced before anything runs.
 *
 * The parser produced names, attributes and calls as written; this pass
 * resolves every name to a parameter or comprehension variable (a frame slot)
 * or to one of the allowed globals, and accepts a call only when its callee is
 * an allowed builtin, `re.<fn>`, `datetime[.datetime].strptime` or an allowed
 * method name. Receivers are dynamically typed, so a method name is accepted
 * when *some* value type has it; the evaluator raises AttributeError like
 * CPython when the actual receiver lacks it. Dunder names never pass.
 * Each refusal names what and where (line:col).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compile.h"

const rf__fninfo_t rf__builtins[] = {
    {"str", FN_STR, NULL},         {"int", FN_INT, "base"},
    {"float", FN_FLOAT, NULL},     {"bool", FN_BOOL, NULL},
    {"len", FN_LEN, NULL},         {"round", FN_ROUND, "number ndigits"},
    {"abs", FN_ABS, NULL},         {"min", FN_MIN, "default"},
    {"max", FN_MAX, "default"},    {"sorted", FN_SORTED, "reverse"},
    {"sum", FN_SUM, "start"},      {"any", FN_ANY, NULL},
    {"all", FN_ALL, NULL},         {"list", FN_LIST, NULL},
    {"tuple", FN_TUPLE, NULL},     {"format", FN_FORMAT, NULL},
    {"range", FN_RANGE, NULL},     {"repr", FN_REPR, NULL},
    {"ascii", FN_ASCII, NULL},     {"enumerate", FN_ENUMERATE, "start"},
    {"zip", FN_ZIP, NULL},         {"reversed", FN_REVERSED, NULL},
    {NULL, 0, NULL}};

const rf__fninfo_t rf__refuncs[] = {
    {"sub", FN_RE_SUB, "pattern repl string count flags"},
    {"match", FN_RE_MATCH, "pattern string flags"},
    {"search", FN_RE_SEARCH, "pattern string flags"},
    {"fullmatch", FN_RE_FULLMATCH, "pattern string flags"},
    {"findall", FN_RE_FINDALL, "pattern string flags"},
    {"split", FN_RE_SPLIT, "pattern string maxsplit flags"},
    {NULL, 0, NULL}};

const rf__fninfo_t rf__methods[] = {
    {"strip", M_STRIP, NULL},           {"lstrip", M_LSTRIP, NULL},
    {"rstrip", M_RSTRIP, NULL},         {"lower", M_LOWER, NULL},
    {"upper", M_UPPER, NULL},           {"title", M_TITLE, NULL},
    {"capitalize", M_CAPITALIZE, NULL}, {"casefold", M_CASEFOLD, NULL},
    {"swapcase", M_SWAPCASE, NULL},
    {"replace", M_REPLACE, "year month day hour minute second microsecond"},
    {"split", M_SPLIT, "sep maxsplit"}, {"rsplit", M_RSPLIT, "sep maxsplit"},
    {"splitlines", M_SPLITLINES, "keepends"},
    {"join", M_JOIN, NULL},             {"zfill", M_ZFILL, NULL},
    {"center", M_CENTER, NULL},         {"ljust", M_LJUST, NULL},
    {"rjust", M_RJUST, NULL},           {"startswith", M_STARTSWITH, NULL},
    {"endswith", M_ENDSWITH, NULL},     {"find", M_FIND, NULL},
    {"rfind", M_RFIND, NULL},           {"index", M_INDEX, NULL},
    {"rindex", M_RINDEX, NULL},         {"count", M_COUNT, NULL},
    {"removeprefix", M_REMOVEPREFIX, NULL}, {"removesuffix", M_REMOVESUFFIX, NULL},
    {"partition", M_PARTITION, NULL},   {"rpartition", M_RPARTITION, NULL},
    {"isdigit", M_ISDIGIT, NULL},       {"isalpha", M_ISALPHA, NULL},
    {"isalnum", M_ISALNUM, NULL},       {"isspace", M_ISSPACE, NULL},
    {"islower", M_ISLOWER, NULL},       {"isupper", M_ISUPPER, NULL},
    {"istitle", M_ISTITLE, NULL},       {"isdecimal", M_ISDECIMAL, NULL},
    {"isnumeric", M_ISNUMERIC, NULL},   {"isascii", M_ISASCII, NULL},
    {"isidentifier", M_ISIDENTIFIER, NULL}, {"isprintable", M_ISPRINTABLE, NULL},
    {"format", M_FORMAT, "*"},          {"expandtabs", M_EXPANDTABS, "tabsize"},
    {"get", M_GET, NULL},               {"group", M_GROUP, NULL},
    {"groups", M_GROUPS, "default"},    {"groupdict", M_GROUPDICT, "default"},
    {"start", M_START, NULL},           {"end", M_END, NULL},
    {"span", M_SPAN, NULL},             {"strftime", M_STRFTIME, NULL},
    {"date", M_DATE, NULL},             {"isoformat", M_ISOFORMAT, "sep"},
    {"weekday", M_WEEKDAY, NULL},       {"isoweekday", M_ISOWEEKDAY, NULL},
    {NULL, 0, NULL}};

const rf__fninfo_t rf__attrs[] = {
    {"year", A_YEAR, NULL},     {"month", A_MONTH, NULL},   {"day", A_DAY, NULL},
    {"hour", A_HOUR, NULL},     {"minute", A_MINUTE, NULL}, {"second", A_SECOND, NULL},
    {"microsecond", A_MICROSECOND, NULL}, {NULL, 0, NULL}};

static const struct {
  const char *name;
  int value;
} reflags[] = {{"I", RF_PY_RE_IGNORECASE}, {"IGNORECASE", RF_PY_RE_IGNORECASE},
               {"M", RF_PY_RE_MULTILINE},  {"MULTILINE", RF_PY_RE_MULTILINE},
               {"S", RF_PY_RE_DOTALL},     {"DOTALL", RF_PY_RE_DOTALL},
               {"X", RF_PY_RE_VERBOSE},    {"VERBOSE", RF_PY_RE_VERBOSE},
               {"A", RF_PY_RE_ASCII},      {"ASCII", RF_PY_RE_ASCII},
               {"U", RF_PY_RE_UNICODE},    {"UNICODE", RF_PY_RE_UNICODE},
               {NULL, 0}};

static const char *fn_names[A_END];
static pthread_once_t fn_names_once = PTHREAD_ONCE_INIT;

static void fn_names_init(void) {
  const rf__fninfo_t *tabs[] = {rf__builtins, rf__refuncs, rf__methods, rf__attrs};
  for (int t = 0; t < 4; t++)
    for (int i = 0; tabs[t][i].name; i++)
      fn_names[tabs[t][i].id] = tabs[t][i].name;
  fn_names[FN_STRPTIME] = "strptime";
}

/* The name of a builtin, method or attribute id (for messages). */
const char *rf__fn_name(int id) {
  pthread_once(&fn_names_once, fn_names_init);
  if (id < 0 || id >= A_END || !fn_names[id])
    return "?";
  return fn_names[id];
}

static const rf__fninfo_t *lookup(const rf__fninfo_t *tab, const char *name) {
  for (int i = 0; tab[i].name; i++)
    if (strcmp(tab[i].name, name) == 0)
      return &tab[i];
  return NULL;
}

/* consumers that accept a generator expression / iterator as their argument */
static bool is_consumer(int id) {
  switch (id) {
  case FN_SUM: case FN_ANY: case FN_ALL: case FN_MIN: case FN_MAX: case FN_SORTED:
  case FN_LIST: case FN_TUPLE: case FN_ENUMERATE: case FN_ZIP: case FN_REVERSED:
  case M_JOIN:
    return true;
  default:
    return false;
  }
}

typedef struct scope {
  const char *name;
  int slot;
} scope_t;

typedef struct chk {
  rf__cc_t *cc;
  const char *params[2];
  int arity;
  scope_t sc[256];
  int nsc;
  int nslots;
} chk_t;

enum { CTX_VALUE = 0, CTX_ITER = 1, CTX_FLAGS = 2 };

static void walk(chk_t *k, rf__node_t *n, int ctx);

static bool is_dunder(const char *s) {
  size_t l = strlen(s);
  return l >= 2 && s[0] == '_' && s[1] == '_';
}

/* a global name not shadowed by a parameter or loop variable */
static bool is_global(chk_t *k, const rf__node_t *n, const char *name) {
  if (n->kind != NK_NAME || strcmp(n->name, name) != 0)
    return false;
  for (int i = k->nsc - 1; i >= 0; i--)
    if (strcmp(k->sc[i].name, name) == 0)
      return false;
  for (int i = 0; i < k->arity; i++)
    if (strcmp(k->params[i], name) == 0)
      return false;
  return true;
}

static int resolve(chk_t *k, const char *name) {
  for (int i = k->nsc - 1; i >= 0; i--)
    if (strcmp(k->sc[i].name, name) == 0)
      return k->sc[i].slot;
  for (int i = 0; i < k->arity; i++)
    if (strcmp(k->params[i], name) == 0)
      return i;
  return -1;
}

__attribute__((format(printf, 3, 4))) _Noreturn static void deny(chk_t *k, const rf__node_t *n,
                                                                 const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  rf__cc_fail(k->cc, CE_CHECK, n->line, n->col, "%s", msg);
}

static void check_kw(chk_t *k, rf__node_t *n, const rf__fninfo_t *fi) {
  for (int i = 0; i < n->nkw; i++) {
    const char *kw = n->kwnames[i];
    if (is_dunder(kw))
      deny(k, n->kw[i], "keyword argument '%s' is not allowed", kw);
    bool ok = false;
    if (fi->kw && strcmp(fi->kw, "*") == 0) {
      ok = true;
    } else if (fi->kw) {
      size_t kl = strlen(kw);
      for (const char *p = fi->kw; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && memcmp(p, kw, l) == 0)
          ok = true;
        p += l;
        if (*p == ' ')
          p++;
      }
    }
    if (!ok) {
      char msg[160];
      snprintf(msg, sizeof(msg), "keyword argument '%s' is not allowed for %s()", kw, fi->name);
      rf__cc_fail(k->cc, CE_CHECK, n->kw[i]->line, n->kw[i]->col, "%s", msg);
    }
  }
}

static void bind_target(chk_t *k, rf__target_t *t) {
  if (t->slot >= 0) {
    if (is_dunder(t->name))
      rf__cc_fail(k->cc, CE_CHECK, t->line, t->col, "name '%s' is not allowed", t->name);
    if (k->nsc == (int)(sizeof(k->sc) / sizeof(k->sc[0])))
      rf__cc_fail(k->cc, CE_LIMIT, t->line, t->col, "too many loop variables");
    t->slot = k->nslots++;
    k->sc[k->nsc].name = t->name;
    k->sc[k->nsc].slot = t->slot;
    k->nsc++;
    return;
  }
  for (int i = 0; i < t->n; i++)
    bind_target(k, t->sub[i]);
}

static void walk_comp(chk_t *k, rf__node_t *n) {
  rf__comp_t *c = n->comp;
  int saved = k->nsc;
  for (int i = 0; i < c->nfor; i++) {
    walk(k, c->fors[i].iter, CTX_ITER);
    bind_target(k, c->fors[i].target);
    for (int j = 0; j < c->fors[i].nconds; j++)
      walk(k, c->fors[i].conds[j], CTX_VALUE);
  }
  walk(k, n->a, CTX_VALUE);
  k->nsc = saved;
}

static bool is_identity_const(const rf__node_t *n) {
  return n->kind == NK_CONST && (n->cval.t == VT_NONE || n->cval.t == VT_BOOL);
}

/* A literal str.format() template must not reach attributes ("{0.__class__}"):
 * refuse it now rather than when it runs (dynamic templates are refused at
 * run time by the evaluator). */
static void check_format_literal(chk_t *k, const rf__node_t *lit) {
  const char *p = lit->cval.s->p;
  size_t n = lit->cval.s->len;
  for (size_t i = 0; i < n; i++) {
    if (p[i] != '{')
      continue;
    if (i + 1 < n && p[i + 1] == '{') {
      i++;
      continue;
    }
    int bracket = 0;
    for (size_t j = i + 1; j < n; j++) {
      char ch = p[j];
      if (ch == '[')
        bracket = 1;
      else if (ch == ']')
        bracket = 0;
      else if (!bracket && (ch == '!' || ch == ':' || ch == '}' || ch == '{'))
        break;
      else if (!bracket && ch == '.')
        deny(k, lit, "attribute access in a format field is not allowed ('%.*s')",
             (int)(j - i + 1 > 40 ? 40 : j - i + 1), p + i);
    }
  }
}

static void walk_call(chk_t *k, rf__node_t *n, int ctx) {
  rf__node_t *callee = n->a;
  const rf__fninfo_t *fi = NULL;
  int flags_pos = -1; /* positional index of a flags argument */
  if (callee->kind == NK_NAME) {
    if (resolve(k, callee->name) >= 0)
      deny(k, callee, "'%s' is a value and cannot be called", callee->name);
    fi = lookup(rf__builtins, callee->name);
    if (!fi) {
      if (is_dunder(callee->name) || strcmp(callee->name, "getattr") == 0 ||
          strcmp(callee->name, "eval") == 0 || strcmp(callee->name, "exec") == 0)
        deny(k, callee, "calling '%s' is not allowed", callee->name);
      deny(k, callee, "function '%s' is not allowed", callee->name);
    }
    n->fn = fi->id;
    n->a = NULL;
    if ((fi->id == FN_RANGE || fi->id == FN_ENUMERATE || fi->id == FN_ZIP ||
         fi->id == FN_REVERSED) &&
        ctx != CTX_ITER)
      deny(k, n, "%s() is only allowed where it is iterated (a 'for' clause, 'in', or the "
                 "argument of list/tuple/sorted/sum/min/max/any/all/join)",
           fi->name);
  } else if (callee->kind == NK_ATTR) {
    rf__node_t *obj = callee->a;
    const char *name = callee->name;
    if (is_dunder(name))
      deny(k, callee, "attribute '%s' is not allowed", name);
    if (is_global(k, obj, "re")) {
      fi = lookup(rf__refuncs, name);
      if (!fi)
        deny(k, callee, "re.%s is not allowed", name);
      n->fn = fi->id;
      n->a = NULL;
      flags_pos = fi->id == FN_RE_SUB ? 4 : fi->id == FN_RE_SPLIT ? 3 : 2;
    } else if ((is_global(k, obj, "datetime") ||
                (obj->kind == NK_ATTR && strcmp(obj->name, "datetime") == 0 &&
                 is_global(k, obj->a, "datetime"))) &&
               strcmp(name, "strptime") == 0) {
      static const rf__fninfo_t strptime_info = {"strptime", FN_STRPTIME, NULL};
      fi = &strptime_info;
      n->fn = FN_STRPTIME;
      n->a = NULL;
    } else {
      fi = lookup(rf__methods, name);
      if (!fi)
        deny(k, callee, "method '%s' is not allowed", name);
      n->fn = fi->id;
      n->a = obj;
      walk(k, obj, CTX_VALUE);
    }
  } else {
    deny(k, callee, "%s", "only allowed functions and methods can be called");
  }
  check_kw(k, n, fi);
  if (n->fn == M_FORMAT && n->a && n->a->kind == NK_CONST && n->a->cval.t == VT_STR)
    check_format_literal(k, n->a);
  for (int i = 0; i < n->nargs; i++) {
    rf__node_t *a = n->args[i];
    if (a->kind == NK_GENEXP) {
      if (!is_consumer(n->fn))
        deny(k, a, "a generator expression is only allowed as the argument of %s",
             "sum/any/all/min/max/sorted/list/tuple/enumerate/zip/reversed/str.join");
      walk_comp(k, a);
      continue;
    }
    int actx = CTX_VALUE;
    if (i == flags_pos)
      actx = CTX_FLAGS;
    else if (is_consumer(n->fn) && (n->fn != FN_ENUMERATE || i == 0))
      actx = CTX_ITER;
    walk(k, a, actx);
  }
  for (int i = 0; i < n->nkw; i++)
    walk(k, n->kw[i], strcmp(n->kwnames[i], "flags") == 0 && flags_pos >= 0 ? CTX_FLAGS
                                                                           : CTX_VALUE);
}

static void walk(chk_t *k, rf__node_t *n, int ctx) {
  if (!n)
    return;
  int sub = ctx == CTX_FLAGS ? CTX_FLAGS : CTX_VALUE;
  switch (n->kind) {
  case NK_CONST:
  case NK_LOCAL:
    return;
  case NK_NAME: {
    int slot = resolve(k, n->name);
    if (slot >= 0) {
      n->kind = NK_LOCAL;
      n->fn = slot;
      return;
    }
    if (lookup(rf__builtins, n->name) || strcmp(n->name, "re") == 0 ||
        strcmp(n->name, "datetime") == 0)
      deny(k, n, "'%s' may only be used to call one of its allowed functions", n->name);
    deny(k, n, "name '%s' is not allowed", n->name);
  }
  case NK_ATTR: {
    if (is_dunder(n->name))
      deny(k, n, "attribute '%s' is not allowed", n->name);
    if (is_global(k, n->a, "re")) {
      for (int i = 0; reflags[i].name; i++)
        if (strcmp(reflags[i].name, n->name) == 0) {
          if (ctx != CTX_FLAGS)
            deny(k, n, "re.%s is only allowed in the flags argument of a re function", n->name);
          n->kind = NK_CONST;
          n->cval = rf__v_int(reflags[i].value);
          n->a = NULL;
          return;
        }
      deny(k, n, "re.%s is not allowed here", n->name);
    }
    if (is_global(k, n->a, "datetime"))
      deny(k, n, "datetime.%s is not allowed here (only datetime.strptime(...) calls)", n->name);
    const rf__fninfo_t *fi = lookup(rf__attrs, n->name);
    if (!fi) {
      if (lookup(rf__methods, n->name))
        deny(k, n, "method '%s' must be called", n->name);
      deny(k, n, "attribute '%s' is not allowed", n->name);
    }
    n->fn = fi->id;
    walk(k, n->a, CTX_VALUE);
    return;
  }
  case NK_CALL:
    walk_call(k, n, ctx);
    return;
  case NK_LISTCOMP:
    walk_comp(k, n);
    return;
  case NK_GENEXP:
    deny(k, n, "a generator expression is only allowed as the argument of %s",
         "sum/any/all/min/max/sorted/list/tuple/enumerate/zip/reversed/str.join");
  case NK_COMPARE:
    for (int i = 0; i + 1 < n->nargs; i++) {
      int op = n->ops[i];
      if ((op == OP_IS || op == OP_ISNOT) && !is_identity_const(n->args[i]) &&
          !is_identity_const(n->args[i + 1]))
        deny(k, n->args[i + 1], "%s", "'is' / 'is not' are only allowed with None, True or False");
    }
    for (int i = 0; i < n->nargs; i++) {
      int actx = sub;
      if (i > 0 && (n->ops[i - 1] == OP_IN || n->ops[i - 1] == OP_NOTIN))
        actx = CTX_ITER;
      walk(k, n->args[i], actx);
    }
    return;
  case NK_FSTR:
  case NK_LIST:
  case NK_TUPLE:
  case NK_AND:
  case NK_OR:
    for (int i = 0; i < n->nargs; i++)
      walk(k, n->args[i], n->kind == NK_FSTR ? CTX_VALUE : sub);
    return;
  case NK_BINOP:
    walk(k, n->a, sub);
    walk(k, n->b, sub);
    return;
  default:
    walk(k, n->a, sub);
    walk(k, n->b, sub);
    walk(k, n->c, sub);
    return;
  }
}

void rf__check(rf__cc_t *cc, rf__node_t *body, int arity, const char *params[2]) {
  chk_t k;
  memset(&k, 0, sizeof(k));
  k.cc = cc;
  k.arity = arity;
  k.params[0] = params[0];
  k.params[1] = arity > 1 ? params[1] : NULL;
  k.nslots = 2;
  for (int i = 0; i < arity; i++)
    if (is_dunder(params[i]))
      rf__cc_fail(cc, CE_CHECK, 1, 1, "parameter name '%s' is not allowed", params[i]);
  walk(&k, body, CTX_VALUE);
  cc->l->nslots = k.nslots;
}

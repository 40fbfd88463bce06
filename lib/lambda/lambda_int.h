/* lambda_int.h - internals of the lambda language shared by its .c files.
 *
 * Pipeline: lexer.c (tokens) -> parser.c (AST + all static checks, in one
 * arena owned by the compiled lambda) -> eval.c (tree walk over that AST with
 * a per-call context) using value.c (values, str(), repr(), comparisons),
 * strmeth.c (str methods), builtins.c (builtins, re, datetime) and ucd.c
 * (Unicode properties and case mapping through ICU).
 *
 * Errors inside evaluation and compilation unwind with _longjmp to the entry
 * point (like Lua's luaD_throw): every allocation made after the jump buffer
 * was set lives in an arena that the entry point releases, so unwinding never
 * leaks. Code that holds a non-arena resource (an rf_buf_t, PCRE2 results)
 * releases it before anything that may raise.
 */
#ifndef RF_LAMBDA_INT_H
#define RF_LAMBDA_INT_H

#include <gmp.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pyerr.h"
#include "pyre.h"
#include "pytime.h"
#include "rectify/buf.h"
#include "rectify/lambda.h"
#include "rectify/utf8.h"

/* ------------------------------------------------------------------ arena */

typedef struct rf__chunk {
  struct rf__chunk *next;
  size_t cap, used;
  _Alignas(16) char data[];
} rf__chunk_t;

typedef struct rf__big rf__big_t;

typedef struct rf__arena {
  rf__chunk_t *head;
  size_t total;   /* bytes handed out since the last reset */
  size_t max;     /* cap on total (0 = none) */
  rf__big_t *bigs; /* mpz values to clear on reset */
} rf__arena_t;

/* ------------------------------------------------------------------ values */

enum rf__vt {
  VT_NONE,
  VT_BOOL,
  VT_INT, /* fits int64 */
  VT_BIG, /* mpz, never fits int64 (canonical form) */
  VT_FLOAT,
  VT_STR,
  VT_LIST,
  VT_TUPLE,
  VT_DICT,
  VT_MATCH,
  VT_DATETIME, /* datetime or date (dt.is_date) */
  VT_RANGE,
};

typedef struct rf__str {
  const char *p; /* UTF-8, not NUL-terminated */
  size_t len;    /* bytes */
  size_t ncp;    /* code points; == len exactly when ASCII */
} rf__str_t;

struct rf__big {
  mpz_t z;
  rf__big_t *next;
};

typedef struct rf__val rf__val_t;

typedef struct rf__seq {
  size_t n;
  rf__val_t *it;
} rf__seq_t;

typedef struct rf__dict {
  size_t n;
  rf__val_t *k, *v;
} rf__dict_t;

typedef struct rf__match {
  const rf__str_t *subj;
  const rf_py_re_t *re;
  const rf__str_t *pat; /* pattern text (for groupdict names) */
  int ngroups;
  long *span; /* arena copy */
  long pos, endpos;
} rf__match_t;

typedef struct rf__range {
  int64_t start, stop, step;
} rf__range_t;

struct rf__val {
  uint32_t t;
  union {
    int64_t i; /* VT_INT, VT_BOOL (0/1) */
    double f;
    const rf__str_t *s;
    rf__big_t *z;
    const rf__seq_t *q;
    const rf__dict_t *d;
    const rf__match_t *m;
    const rf_py_datetime_t *dt;
    const rf__range_t *r;
  };
};

/* ------------------------------------------------------------------ AST */

enum rf__nk {
  NK_NAME,    /* parser output only: name; check.c turns it into NK_LOCAL */
  NK_CONST,
  NK_LOCAL,   /* slot */
  NK_LIST,
  NK_TUPLE,
  NK_BINOP,   /* op, a, b */
  NK_UNARY,   /* op, a */
  NK_NOT,
  NK_AND,     /* args */
  NK_OR,
  NK_COMPARE, /* args (n operands), ops (n-1) */
  NK_IFEXP,   /* a cond, b then, c else */
  NK_SUBSCR,  /* a obj, b index */
  NK_SLICE,   /* a lo, b hi, c step (each may be NULL) */
  NK_ATTR,    /* a obj, fn = attribute id */
  NK_CALL,    /* fn = function id; a receiver for methods; args; kw */
  NK_FSTR,    /* args: parts (NK_CONST str or NK_FIELD) */
  NK_FIELD,   /* a expr, op conversion ('r','s','a' or 0), b spec (NK_FSTR) or NULL */
  NK_LISTCOMP, /* a element, comp */
  NK_GENEXP,
};

enum rf__op {
  OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_MATMUL,
  OP_LSHIFT, OP_RSHIFT, OP_BITAND, OP_BITOR, OP_BITXOR,
  OP_NEG, OP_POS, OP_INVERT,
  OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_IS, OP_ISNOT,
};

typedef struct rf__node rf__node_t;
typedef struct rf__refilt rf__refilt_t; /* refast.c */
typedef struct rf__kernel rf__kernel_t; /* kernel.c */

typedef struct rf__target rf__target_t;
struct rf__target {
  int slot;            /* >= 0: a name */
  const char *name;
  uint32_t line, col;
  int n;               /* else: a tuple of n sub-targets */
  rf__target_t **sub;
};

typedef struct rf__comp {
  int nfor;
  struct rf__clause {
    rf__target_t *target;
    rf__node_t *iter;
    int nconds;
    rf__node_t **conds;
  } *fors;
} rf__comp_t;

struct rf__node {
  uint16_t kind;
  uint16_t op;
  uint32_t line, col;
  int fn;   /* function/method/attribute id, or slot for NK_LOCAL */
  const char *name; /* NK_NAME, NK_ATTR: identifier (NUL-terminated, arena) */
  rf__node_t *a, *b, *c;
  int nargs;
  rf__node_t **args;
  uint8_t *ops;     /* NK_COMPARE */
  int nkw;
  const char **kwnames;
  rf__node_t **kw;
  rf__val_t cval;   /* NK_CONST */
  rf__comp_t *comp; /* NK_LISTCOMP / NK_GENEXP */
  const rf_py_re_t *re; /* NK_CALL of a re function: pattern precompiled (flags fixed) */
  const rf__str_t *fmtstr; /* NK_CALL strptime/strftime with literal format (unused yet) */
  const rf__refilt_t *refilt; /* NK_CALL re.sub whose literal pattern is one character class */
};

/* ------------------------------------------------------------------ compiled lambda */

struct rf_lambda {
  rf__arena_t arena; /* nodes, constants */
  rf__node_t *body;
  const rf__kernel_t *kernel; /* the body as a straight str pipeline, or NULL (kernel.c) */
  int arity;
  int nslots;
  rf_lambda_limits_t lim;
  rf_py_re_limits_t relim;
  int nre;
  rf_py_re_t *res[64]; /* precompiled literal patterns, freed with the lambda */
};

/* ------------------------------------------------------------------ evaluation context */

struct rf_lambda_ctx {
  rf__arena_t arena;
  jmp_buf jb;
  rf_pyerr_t err;
  bool oom; /* the error is an allocation failure */
  uint64_t steps, max_steps;
  const rf_lambda_t *l;
  rf__val_t *slots;
  size_t nslots_cap;
  rf_buf_t tmp; /* scratch for runtime calls; reset before use */
  rf_buf_t out; /* the borrowed result text */
  rf_buf_t kbuf[2]; /* kernel.c's intermediate strings */
  bool dirty;   /* the arena still holds the previous (borrowed) evaluation */
  struct rf__rtre *rtre; /* patterns compiled during this evaluation (arena list) */
};

/* A pattern compiled at run time: freed when the evaluation ends. */
typedef struct rf__rtre {
  struct rf__rtre *next;
  rf_py_re_t *re;
  const char *pat;
  size_t patlen;
  int flags;
} rf__rtre_t;

typedef struct rf_lambda_ctx rf__ctx_t;

/* ------------------------------------------------------------------ function ids */

/* Builtins (callable by name) */
enum {
  FN_NONE = 0,
  FN_STR, FN_INT, FN_FLOAT, FN_BOOL, FN_LEN, FN_ROUND, FN_ABS, FN_MIN, FN_MAX,
  FN_SORTED, FN_SUM, FN_ANY, FN_ALL, FN_LIST, FN_TUPLE, FN_FORMAT, FN_RANGE,
  FN_REPR, FN_ASCII, FN_ENUMERATE, FN_ZIP, FN_REVERSED,
  FN_RE_SUB, FN_RE_MATCH, FN_RE_SEARCH, FN_RE_FULLMATCH, FN_RE_FINDALL, FN_RE_SPLIT,
  FN_STRPTIME,
  FN_BUILTIN_END,
  /* methods (dispatch on the receiver's type) */
  M_STRIP, M_LSTRIP, M_RSTRIP, M_LOWER, M_UPPER, M_TITLE, M_CAPITALIZE, M_CASEFOLD,
  M_SWAPCASE, M_REPLACE, M_SPLIT, M_RSPLIT, M_SPLITLINES, M_JOIN, M_ZFILL, M_CENTER,
  M_LJUST, M_RJUST, M_STARTSWITH, M_ENDSWITH, M_FIND, M_RFIND, M_INDEX, M_RINDEX,
  M_COUNT, M_REMOVEPREFIX, M_REMOVESUFFIX, M_PARTITION, M_RPARTITION, M_ISDIGIT,
  M_ISALPHA, M_ISALNUM, M_ISSPACE, M_ISLOWER, M_ISUPPER, M_ISTITLE, M_ISDECIMAL,
  M_ISNUMERIC, M_ISASCII, M_ISIDENTIFIER, M_ISPRINTABLE, M_FORMAT, M_EXPANDTABS,
  M_GET, M_GROUP, M_GROUPS, M_GROUPDICT, M_START, M_END, M_SPAN, M_STRFTIME, M_DATE,
  M_ISOFORMAT, M_WEEKDAY, M_ISOWEEKDAY,
  M_END_,
  /* attributes (not called) */
  A_YEAR, A_MONTH, A_DAY, A_HOUR, A_MINUTE, A_SECOND, A_MICROSECOND,
  A_END,
};

typedef struct rf__fninfo {
  const char *name;
  int id;
  const char *kw; /* space-separated allowed keyword names, "*" = any, NULL = none */
} rf__fninfo_t;

extern const rf__fninfo_t rf__builtins[];
extern const rf__fninfo_t rf__methods[];
extern const rf__fninfo_t rf__attrs[];
extern const rf__fninfo_t rf__refuncs[];
const char *rf__fn_name(int id);

/* ------------------------------------------------------------------ arena API */

void rf__arena_init(rf__arena_t *a, size_t max);
void rf__arena_reset(rf__arena_t *a); /* keeps the first chunk */
void rf__arena_free(rf__arena_t *a);
/* NULL on failure: *limit set when the cap (not malloc) failed */
void *rf__arena_alloc(rf__arena_t *a, size_t n, bool *limit);

/* ------------------------------------------------------------------ evaluation helpers (raise on error) */

_Noreturn void rf__raise(rf__ctx_t *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void rf__raise_err(rf__ctx_t *c, const rf_pyerr_t *e);
_Noreturn void rf__raise_oom(rf__ctx_t *c);
void *rf__alloc(rf__ctx_t *c, size_t n);
void rf__steps(rf__ctx_t *c, uint64_t n);
/* Charge for work proportional to n bytes/items. */
static inline void rf__work(rf__ctx_t *c, size_t n) {
  c->steps += 1 + (n >> 6);
  if (c->steps > c->max_steps)
    rf__steps(c, 0);
}

/* values */
extern const rf__val_t rf__none, rf__true, rf__false;
rf__val_t rf__v_int(int64_t i);
rf__val_t rf__v_bool(bool b);
rf__val_t rf__v_float(double f);
rf__val_t rf__v_big(rf__ctx_t *c, const mpz_t z); /* normalises to VT_INT when it fits */
rf__val_t rf__v_str(rf__ctx_t *c, const char *p, size_t len, size_t ncp);
rf__val_t rf__v_strcopy(rf__ctx_t *c, const char *p, size_t len); /* counts code points */
rf__val_t rf__v_strbuf(rf__ctx_t *c, rf_buf_t *b); /* copies b (then resets it) */
rf__val_t rf__v_seq(rf__ctx_t *c, uint32_t t, size_t n); /* items uninitialised */
rf__big_t *rf__big_new(rf__ctx_t *c);
size_t rf__utf8_count(const char *p, size_t len);
int rf__utf8_put(char *out, uint32_t cp);
uint32_t rf__utf8_get(const char *p, size_t *i);
size_t rf__cp_offset(const rf__str_t *s, size_t cpi); /* byte offset of code point cpi */

const char *rf__type_name(rf__val_t v);
bool rf__truthy(rf__val_t v);
void rf__str_of(rf__ctx_t *c, rf__val_t v, rf_buf_t *out); /* str(v) */
void rf__repr_of(rf__ctx_t *c, rf__val_t v, rf_buf_t *out, bool ascii);
void rf__repr_str(const char *p, size_t len, rf_buf_t *out, bool ascii);
rf__val_t rf__to_str(rf__ctx_t *c, rf__val_t v);
bool rf__eq(rf__ctx_t *c, rf__val_t a, rf__val_t b);
/* <0, 0, >0 for ordering; raises TypeError when not orderable with `opname`. */
bool rf__lt(rf__ctx_t *c, rf__val_t a, rf__val_t b);
bool rf__compare(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b);
bool rf__contains(rf__ctx_t *c, rf__val_t container, rf__val_t item);
bool rf__is_int(rf__val_t v); /* int, big or bool */
/* Copy of an int-like value into z (initialised by caller). */
void rf__get_mpz(rf__val_t v, mpz_t z);
double rf__to_double(rf__ctx_t *c, rf__val_t v); /* int/float/bool -> float, OverflowError */
int64_t rf__index(rf__ctx_t *c, rf__val_t v, const char *what); /* int -> int64 for indices */
rf__val_t rf__binop(rf__ctx_t *c, int op, rf__val_t a, rf__val_t b);
rf__val_t rf__unary(rf__ctx_t *c, int op, rf__val_t a);
rf__val_t rf__getitem(rf__ctx_t *c, rf__val_t obj, rf__val_t key);
rf__val_t rf__getslice(rf__ctx_t *c, rf__val_t obj, rf__val_t lo, rf__val_t hi, rf__val_t st);
void rf__check_int_str(rf__ctx_t *c, const mpz_t z); /* ValueError beyond max digits */
void rf__int_str(rf__ctx_t *c, rf__val_t v, rf_buf_t *out);
void rf__float_str(double f, rf_buf_t *out);
rf__val_t rf__hash_check(rf__ctx_t *c, rf__val_t key); /* TypeError for unhashable */
/* format(v, spec) */
void rf__format_value(rf__ctx_t *c, rf__val_t v, const char *spec, size_t speclen, rf_buf_t *out);
rf__val_t rf__str_percent(rf__ctx_t *c, const rf__str_t *fmt, rf__val_t args);
rf__val_t rf__str_format(rf__ctx_t *c, const rf__str_t *fmt, int nargs, const rf__val_t *args,
                         int nkw, const char *const *kwnames, const rf__val_t *kw);

/* iteration: calls fn for each item; fn returns false to stop early */
typedef bool (*rf__iter_fn)(rf__ctx_t *c, rf__val_t item, void *ud);
void rf__iterate(rf__ctx_t *c, rf__val_t it, rf__iter_fn fn, void *ud);
/* materialise any iterable into a sequence (list) */
rf__val_t rf__to_list(rf__ctx_t *c, rf__val_t it, uint32_t t);

/* calls */
rf__val_t rf__call_builtin(rf__ctx_t *c, const rf__node_t *n, int nargs, rf__val_t *args,
                           rf__val_t *kw, rf__node_t *genarg);
rf__val_t rf__call_method(rf__ctx_t *c, const rf__node_t *n, rf__val_t self, int nargs,
                          rf__val_t *args, rf__val_t *kw);
rf__val_t rf__call_strmethod(rf__ctx_t *c, int id, const rf__str_t *s, int nargs,
                             rf__val_t *args, const rf__node_t *n, rf__val_t *kw);
rf__val_t rf__match_getitem(rf__ctx_t *c, const rf__match_t *m, rf__val_t key);
rf__val_t rf__get_attr(rf__ctx_t *c, int id, rf__val_t obj);
rf__val_t rf__eval(rf__ctx_t *c, const rf__node_t *n);
/* drive a generator expression: fn per produced item */
void rf__genexp_run(rf__ctx_t *c, const rf__node_t *g, rf__iter_fn fn, void *ud);
rf__val_t rf__int_from_str(rf__ctx_t *c, const rf__str_t *s, int base);
rf__val_t rf__float_from_str(rf__ctx_t *c, const rf__str_t *s);

/* ------------------------------------------------------------------ Unicode (ucd.c, ICU) */

enum rf__case { RF_CASE_UPPER, RF_CASE_LOWER, RF_CASE_TITLE, RF_CASE_FOLD };
bool rf__u_isspace(uint32_t cp);
bool rf__u_isalpha(uint32_t cp);
bool rf__u_isdecimal(uint32_t cp);
bool rf__u_isdigit(uint32_t cp);
bool rf__u_isnumeric(uint32_t cp);
bool rf__u_isprintable(uint32_t cp);
bool rf__u_islower(uint32_t cp);
bool rf__u_isupper(uint32_t cp);
bool rf__u_istitle(uint32_t cp);
bool rf__u_iscased(uint32_t cp);
bool rf__u_iscaseignorable(uint32_t cp);
bool rf__u_isxidstart(uint32_t cp);
bool rf__u_isxidcontinue(uint32_t cp);
int rf__u_decimal(uint32_t cp); /* decimal digit value or -1 */
bool rf__u_islinebreak(uint32_t cp);
/* Full case mapping of one code point, appended as UTF-8; returns false on error. */
void rf__u_map(uint32_t cp, enum rf__case how, rf_buf_t *out);
/* Lower-case of cp at index i of the string (final sigma rule). */
void rf__u_lower_at(const uint32_t *cps, size_t n, size_t i, rf_buf_t *out);
/* Full case mapping (RF_CASE_UPPER, _LOWER or _FOLD) of the whole valid UTF-8
 * string p[0..len), appended to out (check rf_buf_ok). Returns false, with out
 * as it was, when the result depends on context (a capital sigma under
 * RF_CASE_LOWER): the caller then maps with rf__u_lower_at. Thread-safe. */
bool rf__u_map_str(const char *p, size_t len, enum rf__case how, rf_buf_t *out);
/* One entry of the two-byte case tables: the full mapping of a code point in
 * U+0080..U+07FF as UTF-8. n: bytes of the mapping (1..7), 0 when it depends
 * on context (the capital sigma under lower()), 0xFF when the table does not
 * hold it (use rf__u_map). b is always 7 bytes long, so a caller may copy all
 * of it and advance by n. */
typedef struct rf__cmap {
  uint8_t n;
  char b[7];
} rf__cmap_t;
/* The table of how (RF_CASE_UPPER, _LOWER or _FOLD; TITLE is not held),
 * indexed by code point - 0x80; filled once on first use. Thread-safe. */
const rf__cmap_t *rf__u_case_table(enum rf__case how);
/* \N{name}: code point or -1 */
long rf__u_from_name(const char *name, size_t len);

/* ------------------------------------------------------------------ fast paths */

/* Bytes of p[0..len) before the first non-ASCII byte, 8 at a time. */
static inline size_t rf__ascii_prefix(const char *p, size_t len) {
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    if (w & UINT64_C(0x8080808080808080))
      break;
  }
  while (i < len && (unsigned char)p[i] < 0x80)
    i++;
  return i;
}

/* Is p[0..len) all ASCII? Word loads only, never past the end. */
static inline bool rf__is_ascii(const char *p, size_t len) {
  const uint64_t hi = UINT64_C(0x8080808080808080);
  uint64_t w, acc = 0;
  if (len >= 8) {
    size_t i = 0;
    for (; i + 8 < len; i += 8) {
      memcpy(&w, p + i, 8);
      acc |= w;
    }
    memcpy(&w, p + len - 8, 8); /* the last 8 bytes, overlapping */
    return !((acc | w) & hi);
  }
  if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + len - 4, 4);
    return !((a | b) & 0x80808080u);
  }
  for (size_t i = 0; i < len; i++)
    acc |= (unsigned char)p[i];
  return !(acc & 0x80);
}

/* Python's str.isspace() for an ASCII byte: \t\n\v\f\r, \x1c-\x1f, ' '. */
static inline bool rf__ascii_space(unsigned char ch) {
  return ch <= 32 && ((UINT64_C(0x1F0003E00) >> ch) & 1);
}

/* ASCII letters of 8 ASCII bytes to lower (upper = false) or upper case. */
static inline uint64_t rf__swar_case(uint64_t w, bool upper) {
  const uint64_t ones = UINT64_C(0x0101010101010101);
  uint64_t ge = w + ones * (upper ? 0x80 - 'a' : 0x80 - 'A');
  uint64_t gt = w + ones * (upper ? 0x80 - 'z' - 1 : 0x80 - 'Z' - 1);
  return w ^ (((ge & ~gt) & (ones * 0x80)) >> 2);
}

/* dst[0..n) = src[0..n) (all ASCII) with letters lowered or uppered. */
static inline void rf__ascii_case(char *dst, const char *src, size_t n, bool upper) {
  uint64_t w;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      memcpy(&w, src + i, 8);
      w = rf__swar_case(w, upper);
      memcpy(dst + i, &w, 8);
    }
    memcpy(&w, src + n - 8, 8); /* the last 8, overlapping: same bytes again */
    w = rf__swar_case(w, upper);
    memcpy(dst + n - 8, &w, 8);
    return;
  }
  if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + n - 4, 4);
    w = rf__swar_case(a | (uint64_t)b << 32, upper);
    a = (uint32_t)w;
    b = (uint32_t)(w >> 32);
    memcpy(dst, &a, 4);
    memcpy(dst + n - 4, &b, 4);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (char)(ch ^ ((unsigned char)(ch - (upper ? 'a' : 'A')) < 26u ? 0x20 : 0));
  }
}

/* re.sub of a one-class pattern (refast.c) with literal replacement repl:
 * appends the result to out. count 0 = all. Returns 0, -1 when the result
 * would exceed max_out bytes (0 = no cap; pyre's "regex result exceeds"),
 * -2 when out ran out of memory. */
int rf__refilt_sub(const rf__refilt_t *f, const char *repl, size_t rl, const char *s, size_t len,
                   int64_t count, size_t max_out, rf_buf_t *out);

/* Run l's kernel on x[0..xlen) (kernel.c): 1 when it produced the result
 * (*res filled, its value borrowed from c until the next evaluation), 0 when the input is outside
 * the kernel's reach (invalid UTF-8, an error, a limit that might be hit,
 * context-dependent case mapping): the caller then evaluates the tree, which
 * gives the same result by construction, or the error. Never raises.
 * trusted: x is known to be valid UTF-8 (RF_LAMBDA_TRUSTED_UTF8), so it is
 * not validated again (debug builds assert it). */
int rf__kernel_run(rf__ctx_t *c, const rf_lambda_t *l, const char *x, size_t xlen, bool trusted,
                   rf_lambda_result_t *res);
/* The fused one-pass form the kernel k tries first: 0 none, 1 [strip] + case
 * mapping, 2 split()[k] + conversion (kernel.c; the tests check it is used). */
int rf__kernel_fused(const rf__kernel_t *k);

#endif

/* synth.c - the offline synthesizer: search the lambda language for a fix.
 *
 * Why it is built this way:
 *  - A candidate is a *source* (an expression giving a text: x, x.strip(),
 *    x without a common prefix, a part of x, a related field of `row`) fed to
 *    a *core* chosen by the contract's type (date reformatting, number
 *    clean-up, email, enum, boolean, text). Families compose instead of
 *    multiplying: "mailto:" stripping is a source, lower-casing the core.
 *  - Parameters are inferred in C first (which strptime formats parse every
 *    sample, which decimal/grouping separators, which affixes and units), so
 *    only a handful of lambdas are ever compiled. Every one is then compiled
 *    and run by the real interpreter and checked by the real contract
 *    checker on every sample: what the C inference mirrors loosely (Python's
 *    Unicode strip, CPython's strptime corner cases) cannot let a wrong
 *    candidate through, only keep a right one out.
 *  - Deciding is the careful part. Three to five samples rarely pin a
 *    format: 03/04/2024 fits %m/%d/%Y and %d/%m/%Y with different answers.
 *    Candidates are grouped by their outputs on the samples; a second group
 *    is a rival. The cluster's other rows are evidence: a rival that fixes a
 *    strict subset of the rows the leader fixes is eliminated; a surviving
 *    rival of the same family, or no more complex, means "ambiguous" and the
 *    synthesizer refuses (better the model or a human than a guess).
 *  - Lambdas are strict on purpose (re.fullmatch with the learned shape,
 *    exact vocabulary tables): a row that does not look like the samples
 *    raises and goes to quarantine alone instead of being mangled.
 *  - No global state: the search is reentrant and its allocations all go
 *    through rf_malloc, so the allocation-failure walk reaches every path.
 */
#include "rectify/synth.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lambda/pytime.h"
#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/gate.h"
#include "rectify/json.h"
#include "rectify/lambda.h"
#include "rectify/log.h"

/* ---- vocabulary ------------------------------------------------------------------ */

/* Values that mean "unknown" (compared after strip().lower()). */
static const char *const placeholders[] = {"",        "-",       "--",     "?",      "n/a",
                                           "n.a.",    "n.a",     "na",     "none",   "null",
                                           "nil",     "nan",     "unknown", "#n/a",  "(none)",
                                           "(null)",  "missing", "not available"};
#define NPLACEHOLDERS (sizeof(placeholders) / sizeof(placeholders[0]))

typedef struct unit {
  const char *alias; /* lower case, as written after the number */
  const char *unit;  /* canonical symbol */
  const char *dim;   /* mass, length, volume */
  double factor;     /* to the dimension's base unit (g, m, l) */
} unit_t;

static const unit_t units[] = {
    {"mg", "mg", "mass", 0.001},        {"milligram", "mg", "mass", 0.001},
    {"milligrams", "mg", "mass", 0.001}, {"g", "g", "mass", 1},
    {"gram", "g", "mass", 1},           {"grams", "g", "mass", 1},
    {"gr", "g", "mass", 1},             {"kg", "kg", "mass", 1000},
    {"kilo", "kg", "mass", 1000},       {"kilos", "kg", "mass", 1000},
    {"kilogram", "kg", "mass", 1000},   {"kilograms", "kg", "mass", 1000},
    {"oz", "oz", "mass", 28.349523125}, {"ounce", "oz", "mass", 28.349523125},
    {"ounces", "oz", "mass", 28.349523125}, {"lb", "lb", "mass", 453.59237},
    {"lbs", "lb", "mass", 453.59237},   {"pound", "lb", "mass", 453.59237},
    {"pounds", "lb", "mass", 453.59237}, {"mm", "mm", "length", 0.001},
    {"cm", "cm", "length", 0.01},       {"m", "m", "length", 1},
    {"km", "km", "length", 1000},       {"in", "in", "length", 0.0254},
    {"inch", "in", "length", 0.0254},   {"inches", "in", "length", 0.0254},
    {"ft", "ft", "length", 0.3048},     {"foot", "ft", "length", 0.3048},
    {"feet", "ft", "length", 0.3048},   {"ml", "ml", "volume", 0.001},
    {"cl", "cl", "volume", 0.01},       {"l", "l", "volume", 1},
    {"liter", "l", "volume", 1},        {"liters", "l", "volume", 1},
    {"litre", "l", "volume", 1},        {"litres", "l", "volume", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Currency marks are formatting: amounts are kept, never converted. */
static const char *const currencies[] = {"$",   "us$", "usd", "\xe2\x82\xac", "eur", "\xc2\xa3",
                                         "gbp", "\xc2\xa5", "jpy", "chf", "cad", "c$",
                                         "aud", "a$",  "sek", "nok", "dkk", "kr",
                                         "\xe2\x82\xb9", "inr", "r$", "brl", "pln"};
#define NCURRENCIES (sizeof(currencies) / sizeof(currencies[0]))

/* Countries: ISO 3166-1 alpha-2, alpha-3 and English names, normalized
 * (lower case, letters and digits only). */
typedef struct country {
  const char *a2;
  const char *names; /* '|'-separated normalized aliases */
} country_t;

static const country_t countries[] = {
    {"US", "usa|unitedstates|unitedstatesofamerica|america"},
    {"GB", "gbr|uk|unitedkingdom|greatbritain|britain"},
    {"DE", "deu|ger|germany|deutschland"},
    {"FR", "fra|france"},
    {"ES", "esp|spain|espana"},
    {"IT", "ita|italy|italia"},
    {"NL", "nld|netherlands|holland|thenetherlands"},
    {"BE", "bel|belgium"},
    {"CH", "che|switzerland"},
    {"AT", "aut|austria"},
    {"IE", "irl|ireland"},
    {"PT", "prt|portugal"},
    {"PL", "pol|poland"},
    {"SE", "swe|sweden"},
    {"NO", "nor|norway"},
    {"DK", "dnk|denmark"},
    {"FI", "fin|finland"},
    {"CA", "can|canada"},
    {"MX", "mex|mexico"},
    {"BR", "bra|brazil|brasil"},
    {"JP", "jpn|japan"},
    {"CN", "chn|china"},
    {"IN", "ind|india"},
    {"AU", "aus|australia"},
};
#define NCOUNTRIES (sizeof(countries) / sizeof(countries[0]))

static const char *const bool_true[] = {"true", "t", "yes", "y", "1", "on"};
static const char *const bool_false[] = {"false", "f", "no", "n", "0", "off"};

/* ---- search state ------------------------------------------------------------------ */

typedef struct cand {
  char *src;          /* the whole lambda */
  int cost;
  const char *family;
  char *desc;
  char **out;         /* output on each sample (NULL = None) */
  unsigned char *ev;  /* evidence row fixed? */
  size_t ev_fixed;
  bool ev_done;
} cand_t;

typedef struct source {
  char *expr;     /* Python expression giving a str */
  int cost;
  bool uses_row;
  bool is_row;    /* a field of row, not x */
  const char *family; /* the family a candidate on this source belongs to, or NULL: the core's */
  char **vals;    /* its value on each sample (NULL: not available) */
} source_t;

typedef enum ctype { C_DATE, C_TIMESTAMP, C_INTEGER, C_DECIMAL, C_BOOLEAN, C_EMAIL, C_ENUM,
                     C_STRING } ctype_t;

typedef struct search {
  const rf_synth_column_t *col;
  const rf_contract_t *k;
  ctype_t type;
  const rf_synth_sample_t *s;
  size_t n;
  const rf_synth_sample_t *ev;
  size_t nev;
  bool *ph;        /* sample i is a placeholder the guard maps to None */
  size_t nph;
  rf_buf_t guard;  /* "None if ... else " or empty */
  rf_lambda_ctx_t *ctx;
  cand_t *c;
  size_t nc, capc;
  size_t tried;
  int rc;          /* sticky RF_ENOMEM */
  rf_buf_t notes;  /* why families declined, for the why of a refusal */
  const char *cur_family; /* the current source's family, overriding the core's */
} search_t;

/* ---- small helpers ------------------------------------------------------------------ */

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **p, const char **e) {
  while (*p < *e && is_space(**p))
    (*p)++;
  while (*e > *p && is_space((*e)[-1]))
    (*e)--;
}

static void note(search_t *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(search_t *S, const char *fmt, ...) {
  if (S->notes.len > 900)
    return;
  va_list ap;
  va_start(ap, fmt);
  if (S->notes.len)
    rf_buf_puts(&S->notes, "; ");
  rf_buf_vprintf(&S->notes, fmt, ap);
  va_end(ap);
}

/* Appends s[0..n) as a Python str literal in single quotes. */
static void put_pystr(rf_buf_t *b, const char *s, size_t n) {
  rf_buf_putc(b, '\'');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\' || c == '\'')
      rf_buf_printf(b, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      rf_buf_printf(b, "\\x%02x", c);
    else
      rf_buf_putc(b, (char)c);
  }
  rf_buf_putc(b, '\'');
}

/* Appends a regular expression as r'...' (it never holds a quote: affixes
 * with quotes are escaped as \x27 by re_escape). */
static void put_pyraw(rf_buf_t *b, const char *s) {
  rf_buf_puts(b, "r'");
  rf_buf_puts(b, s);
  rf_buf_putc(b, '\'');
}

/* Appends s[0..n) escaped for a Python regular expression. */
static void re_escape(rf_buf_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\'')
      rf_buf_puts(b, "\\x27");
    else if (c == '\\')
      rf_buf_puts(b, "\\\\");
    else if (c < 0x80 && strchr(".^$*+?{}[]|()#&~", c))
      rf_buf_printf(b, "\\%c", c);
    else
      rf_buf_putc(b, (char)c);
  }
}

/* The shortest %g text of v that reads back as v. */
static void put_double(rf_buf_t *b, double v) {
  char t[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(t, sizeof(t), "%.*g", prec, v);
    if (strtod(t, NULL) == v)
      break;
  }
  rf_buf_puts(b, t);
  if (strpbrk(t, ".e") == NULL)
    rf_buf_puts(b, ".0");
}

static void lower_ascii(char *s) {
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

/* Lower case, letters and digits only (for vocabulary keys). */
static void normalize_key(const char *s, size_t n, char *out, size_t outlen) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < outlen; i++) {
    unsigned char c = (unsigned char)s[i];
    if (isalnum(c) && c < 0x80)
      out[k++] = (char)tolower(c);
  }
  out[k] = '\0';
}

static bool is_placeholder_text(const search_t *S, const char *v, size_t len) {
  const char *p = v, *e = v + len;
  trim(&p, &e);
  char low[32];
  if ((size_t)(e - p) >= sizeof(low))
    return false;
  memcpy(low, p, (size_t)(e - p));
  low[e - p] = '\0';
  lower_ascii(low);
  for (size_t i = 0; i < NPLACEHOLDERS; i++)
    if (strcmp(low, placeholders[i]) == 0) {
      /* A placeholder spelling that is an allowed value (NA, Namibia) is data. */
      for (size_t a = 0; a < S->k->n_allowed; a++)
        if (strcasecmp(S->k->allowed[a], placeholders[i]) == 0)
          return false;
      return true;
    }
  return false;
}

/* ---- candidates ------------------------------------------------------------------ */

static void cand_clear(cand_t *c, size_t n) {
  rf_free(c->src);
  rf_free(c->desc);
  if (c->out)
    for (size_t i = 0; i < n; i++)
      rf_free(c->out[i]);
  rf_free(c->out);
  rf_free(c->ev);
}

static bool result_type_ok(const rf_lambda_result_t *r) {
  return r->is_none || (r->type && (strcmp(r->type, "str") == 0 || strcmp(r->type, "int") == 0 ||
                                    strcmp(r->type, "float") == 0));
}

/* Runs l on one value: 1 when the output is contract-valid (its text in
 * *text when text != NULL, owned; NULL for None), 0 when not, or RF_ENOMEM. */
static int run_one(search_t *S, const rf_lambda_t *l, const rf_synth_sample_t *smp, char **text) {
  rf_lambda_result_t res;
  int rc = rf_lambda_eval_ctx(S->ctx, l, smp->value, smp->value ? smp->len : 0, smp->row, &res);
  if (rc)
    return rc;
  int ok = 0;
  if (res.ok && result_type_ok(&res)) {
    char why[256];
    int c = rf_checker_check(S->col->checker, res.is_none ? NULL : res.value, res.value_len, why,
                             sizeof(why));
    if (c == RF_ENOMEM) {
      rf_lambda_result_clear(&res);
      return RF_ENOMEM;
    }
    if (c == 0) {
      ok = 1;
      if (text && !res.is_none) {
        *text = res.value; /* owned by the result: take it */
        res.value = NULL;
      } else if (text) {
        *text = NULL;
      }
    }
  }
  rf_lambda_result_clear(&res);
  return ok;
}

/* Offers the candidate `lambda x[, row]: GUARD BODY`: compiled, run on every
 * sample, kept when every output is valid. */
static void offer(search_t *S, const char *family, int cost, bool uses_row, const char *desc,
                  const char *body) {
  rf_buf_t src = RF_BUF_INIT;
  rf_lambda_t *l = NULL;
  cand_t c = {0};
  if (S->rc)
    return;
  if (S->cur_family)
    family = S->cur_family;
  rf_buf_printf(&src, "lambda x%s: %s%s", uses_row ? ", row" : "", S->guard.len ? S->guard.data : "",
                body);
  if (!rf_buf_ok(&src))
    goto nomem;
  for (size_t i = 0; i < S->nc; i++)
    if (strcmp(S->c[i].src, src.data) == 0)
      goto out; /* already offered (by a cheaper path, which came first) */
  S->tried++;
  char err[300];
  int rc = rf_lambda_compile(src.data, src.len, NULL, &l, err, sizeof(err));
  if (rc == RF_ENOMEM)
    goto nomem;
  if (rc) {
    /* Our own generator wrote something the language refuses: a bug here,
     * never a reason to accept. */
    rf_log(RF_LOG_WARN, "synth", "generated lambda refused family=%s error=\"%s\"", family, err);
    goto out;
  }
  if ((c.out = rf_calloc(S->n, sizeof(char *))) == NULL)
    goto nomem;
  for (size_t i = 0; i < S->n; i++) {
    int ok = run_one(S, l, &S->s[i], &c.out[i]);
    if (ok < 0)
      goto nomem;
    if (ok == 0)
      goto out;
  }
  if (S->nc == S->capc) {
    size_t ncap = S->capc ? S->capc * 2 : 16;
    cand_t *nc = rf_realloc(S->c, ncap * sizeof(*nc));
    if (nc == NULL)
      goto nomem;
    S->c = nc;
    S->capc = ncap;
  }
  c.cost = cost;
  c.family = family;
  if ((c.desc = rf_strdup(desc)) == NULL || (c.src = rf_buf_steal(&src)) == NULL)
    goto nomem;
  S->c[S->nc++] = c;
  memset(&c, 0, sizeof(c));
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  cand_clear(&c, S->n);
  rf_lambda_free(l);
  rf_buf_free(&src);
}

/* A source's active values: those of samples the guard does not handle.
 * False when one of them is unavailable. */
static bool src_ready(const search_t *S, const source_t *src) {
  size_t active = 0;
  for (size_t i = 0; i < S->n; i++) {
    if (S->ph[i])
      continue;
    if (src->vals[i] == NULL)
      return false;
    active++;
  }
  return active > 0;
}

/* ---- core: dates and timestamps ---------------------------------------------------- */

static const char *const date_parts[] = {
    /* numeric, every order and separator */
    "%Y-%m-%d", "%m-%d-%Y", "%d-%m-%Y", "%y-%m-%d", "%m-%d-%y", "%d-%m-%y",
    "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%y/%m/%d", "%m/%d/%y", "%d/%m/%y",
    "%Y.%m.%d", "%m.%d.%Y", "%d.%m.%Y", "%y.%m.%d", "%m.%d.%y", "%d.%m.%y",
    "%Y %m %d", "%m %d %Y", "%d %m %Y",
    "%Y%m%d", "%d%m%Y", "%m%d%Y",
    /* month names (abbreviated %b and full %B) */
    "%d %b %Y", "%d-%b-%Y", "%d/%b/%Y", "%d.%b.%Y", "%d %b, %Y", "%d-%b-%y", "%d %b %y",
    "%b %d, %Y", "%b %d %Y", "%b-%d-%Y", "%b. %d, %Y", "%Y-%b-%d", "%d%b%Y",
    "%d %B %Y", "%d %B, %Y", "%B %d, %Y", "%B %d %Y", "%B %d,%Y", "%Y %B %d", "%d-%B-%Y",
    /* with a weekday */
    "%a, %d %b %Y", "%a %d %b %Y", "%a, %b %d, %Y", "%a %b %d %Y", "%A, %B %d, %Y",
    "%A, %d %B %Y", "%A %d %B %Y", "%A %B %d, %Y",
};
#define NDATE_PARTS (sizeof(date_parts) / sizeof(date_parts[0]))

static const char *const time_parts[] = {
    "",          " %H:%M",        " %H:%M:%S",     "T%H:%M",        "T%H:%M:%S",
    " %H:%M:%S.%f", "T%H:%M:%S.%f", " %I:%M %p",   " %I:%M:%S %p", " %I:%M%p",
    " %I %p",    " %I%p",         ", %H:%M",       ", %I:%M %p",
};
#define NTIME_PARTS (sizeof(time_parts) / sizeof(time_parts[0]))

/* Time zones: with %z in the output the offset is kept; without, only marks
 * that mean UTC are accepted (as literals: an other offset fails to parse,
 * so no row is silently shifted). */
static const char *const tz_aware[] = {"", "%z", " %z", " %Z"};
static const char *const tz_utc[] = {"", "Z", " UTC", " GMT", "+00:00", " +0000", "+0000", " Z"};

/* True when every literal byte of fmt (outside directives and spaces) occurs
 * in s, and letters are present when a directive needs them. */
static bool fmt_plausible(const char *fmt, const unsigned char present[256], bool letters) {
  for (const char *f = fmt; *f; f++) {
    if (*f == '%') {
      f++;
      if (*f == 'b' || *f == 'B' || *f == 'a' || *f == 'A' || *f == 'p' || *f == 'Z')
        if (!letters)
          return false;
      continue;
    }
    if (*f != ' ' && !present[(unsigned char)*f])
      return false;
  }
  return true;
}

/* Does fmt parse every value? 1 yes, 0 no, RF_ENOMEM. */
static int fmt_fits(const char *fmt, char *const *vals, const bool *skip, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (skip[i])
      continue;
    rf_py_datetime_t dt;
    rf_pyerr_t e = {0};
    if (rf_py_strptime(vals[i], strlen(vals[i]), fmt, strlen(fmt), &dt, &e) != 0)
      return e.type && strcmp(e.type, "MemoryError") == 0 ? RF_ENOMEM : 0;
  }
  return 1;
}

/* Removes ordinal suffixes after digits (1st, 22nd, 3rd, 4th) as
 * re.sub(r'(?<=\d)(?:st|nd|rd|th)\b', '', v) does. NULL on OOM. */
static char *strip_ordinals(const char *v, bool *changed) {
  size_t n = strlen(v);
  char *o = rf_malloc(n + 1);
  if (o == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (i > 0 && isdigit((unsigned char)v[i - 1]) && i + 2 <= n &&
        (strncmp(v + i, "st", 2) == 0 || strncmp(v + i, "nd", 2) == 0 ||
         strncmp(v + i, "rd", 2) == 0 || strncmp(v + i, "th", 2) == 0) &&
        (i + 2 == n || !(isalnum((unsigned char)v[i + 2]) || v[i + 2] == '_'))) {
      i += 2;
      *changed = true;
      continue;
    }
    o[k++] = v[i++];
  }
  o[k] = '\0';
  return o;
}

static void core_date(search_t *S, const source_t *src) {
  const char *out_fmt = S->k->format ? S->k->format : (S->type == C_DATE ? "%Y-%m-%d"
                                                                         : "%Y-%m-%dT%H:%M:%S");
  bool out_aware = strstr(out_fmt, "%z") != NULL;
  char **vals = NULL;
  bool ordinals = false;
  rf_buf_t subj = RF_BUF_INIT, body = RF_BUF_INIT, desc = RF_BUF_INIT;
  size_t before = S->nc;
  if ((vals = rf_calloc(S->n, sizeof(char *))) == NULL)
    goto nomem;
  for (size_t i = 0; i < S->n; i++)
    if (!S->ph[i] && (vals[i] = strip_ordinals(src->vals[i], &ordinals)) == NULL)
      goto nomem;
  for (int pass = 0; pass < (ordinals ? 2 : 1); pass++) {
    /* pass 0: the values as they are; pass 1: without ordinal suffixes. */
    char *const *v = pass ? vals : src->vals;
    unsigned char present[256] = {0}; /* bytes that occur in every value */
    bool letters = false, first = true;
    for (size_t i = 0; i < S->n; i++) {
      if (S->ph[i])
        continue;
      unsigned char here[256] = {0};
      for (const char *p = v[i]; *p; p++) {
        here[(unsigned char)*p] = 1;
        if (isalpha((unsigned char)*p))
          letters = true;
      }
      for (int b = 0; b < 256; b++)
        present[b] = (unsigned char)(first ? here[b] : (present[b] && here[b]));
      first = false;
    }
    rf_buf_reset(&subj);
    if (pass)
      rf_buf_printf(&subj, "re.sub(r'(?<=\\d)(?:st|nd|rd|th)\\b', '', %s)", src->expr);
    else
      rf_buf_puts(&subj, src->expr);
    if (!rf_buf_ok(&subj))
      goto nomem;
    const char *const *tzs = out_aware ? tz_aware : tz_utc;
    size_t ntz = out_aware ? sizeof(tz_aware) / sizeof(tz_aware[0])
                           : sizeof(tz_utc) / sizeof(tz_utc[0]);
    for (size_t d = 0; d < NDATE_PARTS; d++)
      for (size_t t = 0; t < NTIME_PARTS; t++)
        for (size_t z = 0; z < (t == 0 ? 1 : ntz); z++) {
          char fmt[96];
          snprintf(fmt, sizeof(fmt), "%s%s%s", date_parts[d], time_parts[t], tzs[z]);
          if (!fmt_plausible(fmt, present, letters))
            continue;
          int fits = fmt_fits(fmt, v, S->ph, S->n);
          if (fits < 0)
            goto nomem;
          if (!fits)
            continue;
          rf_buf_reset(&body);
          rf_buf_reset(&desc);
          rf_buf_puts(&body, "datetime.strptime(");
          rf_buf_puts(&body, subj.data);
          rf_buf_puts(&body, ", ");
          put_pystr(&body, fmt, strlen(fmt));
          rf_buf_puts(&body, ").strftime(");
          put_pystr(&body, out_fmt, strlen(out_fmt));
          rf_buf_puts(&body, ")");
          rf_buf_printf(&desc, "dates written %s%s", fmt, pass ? " (ordinal suffixes removed)" : "");
          if (!rf_buf_ok(&body) || !rf_buf_ok(&desc))
            goto nomem;
          int cost = src->cost + 2 + (strstr(fmt, "%y") ? 1 : 0) + (pass ? 2 : 0) +
                     (t ? 1 : 0) + (z ? 1 : 0);
          offer(S, src->is_row ? "row_field" : "date_format", cost, src->uses_row, desc.data,
                body.data);
        }
  }
  if (S->nc == before && strcmp(src->expr, "x") == 0)
    note(S, "dates: no known format parses every sample%s",
         out_aware ? "" : " (without %z in the column's format only UTC marks are accepted: an "
                          "offset would be lost)");
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  if (vals)
    for (size_t i = 0; i < S->n; i++)
      rf_free(vals[i]);
  rf_free(vals);
  rf_buf_free(&subj);
  rf_buf_free(&body);
  rf_buf_free(&desc);
}

/* ---- core: numbers ------------------------------------------------------------------ */

typedef struct numparse {
  bool paren, minus;
  const char *pfx, *num, *sfx;
  size_t pfx_len, num_len, sfx_len;
} numparse_t;

/* Splits v into [sign] [prefix] number [suffix]. False when there is no
 * number starting with a digit. */
static bool num_parse(const char *v, numparse_t *np) {
  const char *p = v, *e = v + strlen(v);
  memset(np, 0, sizeof(*np));
  trim(&p, &e);
  if (e - p >= 2 && *p == '(' && e[-1] == ')') {
    np->paren = true;
    p++;
    e--;
    trim(&p, &e);
  }
  if (p < e && *p == '-') {
    np->minus = true;
    p++;
    trim(&p, &e);
  }
  const char *q = p;
  while (q < e && !isdigit((unsigned char)*q))
    q++;
  const char *pe = q;
  while (pe > p && is_space(pe[-1]))
    pe--;
  np->pfx = p;
  np->pfx_len = (size_t)(pe - p);
  if (q == e)
    return false;
  np->num = q;
  while (q < e && (isdigit((unsigned char)*q) ||
                   ((*q == '.' || *q == ',' || *q == '\'' || *q == ' ') && q + 1 < e &&
                    isdigit((unsigned char)q[1]))))
    q++;
  np->num_len = (size_t)(q - np->num);
  while (q < e && is_space(*q))
    q++;
  np->sfx = q;
  np->sfx_len = (size_t)(e - q);
  return true;
}

enum affix_kind { A_NONE, A_PERCENT, A_CURRENCY, A_UNIT, A_UNKNOWN };

static const unit_t *unit_lookup(const char *a, size_t n) {
  char low[24];
  if (n > 0 && a[n - 1] == '.')
    n--; /* "oz." */
  if (n == 0 || n >= sizeof(low))
    return NULL;
  memcpy(low, a, n);
  low[n] = '\0';
  lower_ascii(low);
  for (size_t i = 0; i < NUNITS; i++)
    if (strcmp(units[i].alias, low) == 0)
      return &units[i];
  return NULL;
}

static enum affix_kind affix_kind(const char *a, size_t n, const unit_t **u) {
  char low[24];
  *u = NULL;
  if (n == 0)
    return A_NONE;
  if (n == 1 && *a == '%')
    return A_PERCENT;
  if (n < sizeof(low)) {
    memcpy(low, a, n);
    low[n] = '\0';
    lower_ascii(low);
    for (size_t i = 0; i < NCURRENCIES; i++)
      if (strcmp(currencies[i], low) == 0)
        return A_CURRENCY;
  }
  if ((*u = unit_lookup(a, n)) != NULL)
    return A_UNIT;
  return A_UNKNOWN;
}

/* The unit the column holds, from the last word of its name (weight_g,
 * length_cm, volume_liters), or NULL. */
static const unit_t *column_unit(const char *column) {
  const char *w = strrchr(column, '_');
  w = w ? w + 1 : column;
  return unit_lookup(w, strlen(w));
}

/* Is num[0..n) a number with decimal separator dec (0: none) and grouping
 * separator grp? */
static bool num_valid(const char *num, size_t n, char dec, char grp) {
  const char *d = dec ? memchr(num, dec, n) : NULL;
  size_t il = d ? (size_t)(d - num) : n;
  if (d) {
    size_t fl = n - il - 1;
    if (fl == 0)
      return false;
    for (size_t i = 0; i < fl; i++)
      if (!isdigit((unsigned char)d[1 + i]))
        return false;
  }
  bool grouped = memchr(num, grp, il) != NULL;
  if (!grouped) {
    for (size_t i = 0; i < il; i++)
      if (!isdigit((unsigned char)num[i]))
        return false;
    return il > 0;
  }
  /* \d{1,3}(G\d{3})+ */
  size_t i = 0, lead = 0;
  while (i < il && isdigit((unsigned char)num[i]))
    i++, lead++;
  if (lead < 1 || lead > 3)
    return false;
  while (i < il) {
    if (num[i] != grp || i + 4 > il)
      return false;
    for (size_t k = 1; k <= 3; k++)
      if (!isdigit((unsigned char)num[i + k]))
        return false;
    i += 4;
  }
  return true;
}

/* Appends the alternation of the distinct affixes (escaped), longest first. */
static void put_affix_alt(rf_buf_t *b, const char **a, const size_t *len, size_t n) {
  bool *done = rf_calloc(n ? n : 1, sizeof(bool));
  if (done == NULL) {
    b->oom = true;
    return;
  }
  rf_buf_puts(b, "(?:");
  bool firstalt = true;
  for (;;) {
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
      if (done[i] || len[i] == 0)
        continue;
      if (best == n || len[i] > len[best] ||
          (len[i] == len[best] && memcmp(a[i], a[best], len[i]) < 0))
        best = i;
    }
    if (best == n)
      break;
    for (size_t i = 0; i < n; i++) /* mark duplicates (case-insensitive) done */
      if (len[i] == len[best] && strncasecmp(a[i], a[best], len[i]) == 0)
        done[i] = true;
    if (!firstalt)
      rf_buf_putc(b, '|');
    firstalt = false;
    re_escape(b, a[best], len[best]);
  }
  rf_buf_putc(b, ')');
  rf_free(done);
}

static const struct {
  char dec, grp;
  int cost;
} num_seps[] = {{'.', ',', 0}, {',', '.', 0}, {'.', ' ', 1}, {',', ' ', 1}, {'.', '\'', 1}};

static void core_number(search_t *S, const source_t *src) {
  numparse_t *np = NULL;
  const char **pf = NULL, **sf = NULL;
  size_t *pl = NULL, *sl = NULL;
  rf_buf_t re = RF_BUF_INIT, num = RF_BUF_INIT, body = RF_BUF_INIT, desc = RF_BUF_INIT;
  if ((np = rf_calloc(S->n, sizeof(*np))) == NULL || (pf = rf_calloc(S->n, sizeof(char *))) == NULL ||
      (sf = rf_calloc(S->n, sizeof(char *))) == NULL ||
      (pl = rf_calloc(S->n, sizeof(size_t))) == NULL ||
      (sl = rf_calloc(S->n, sizeof(size_t))) == NULL)
    goto nomem;
  size_t na = 0, nparen = 0, npfx = 0, nsfx = 0;
  enum affix_kind skind = A_NONE;
  bool letters = false;
  const unit_t *seen_units[8];
  size_t nunits = 0;
  for (size_t i = 0; i < S->n; i++) {
    if (S->ph[i])
      continue;
    if (!num_parse(src->vals[i], &np[i])) {
      note(S, "number: a value holds no digits");
      goto out;
    }
    const unit_t *u;
    enum affix_kind pk = affix_kind(np[i].pfx, np[i].pfx_len, &u);
    if (pk != A_NONE && pk != A_CURRENCY) {
      note(S, "number: unknown text before the number (%.*s)",
           (int)(np[i].pfx_len > 20 ? 20 : np[i].pfx_len), np[i].pfx);
      goto out;
    }
    enum affix_kind sk = affix_kind(np[i].sfx, np[i].sfx_len, &u);
    if (sk == A_UNKNOWN) {
      note(S, "number: unknown text after the number (%.*s)",
           (int)(np[i].sfx_len > 20 ? 20 : np[i].sfx_len), np[i].sfx);
      goto out;
    }
    if (sk != A_NONE) {
      if (skind != A_NONE && skind != sk) {
        note(S, "number: the values end in different kinds of marks");
        goto out;
      }
      skind = sk;
      nsfx++;
    }
    if (sk == A_UNIT) {
      bool known = false;
      for (size_t k = 0; k < nunits; k++)
        known |= strcmp(seen_units[k]->unit, u->unit) == 0;
      if (!known) {
        if (nunits == sizeof(seen_units) / sizeof(seen_units[0])) {
          note(S, "number: too many units");
          goto out;
        }
        seen_units[nunits++] = u;
      }
    }
    if (np[i].paren)
      nparen++;
    if (np[i].paren && np[i].minus) {
      note(S, "number: both parentheses and a minus sign");
      goto out;
    }
    if (np[i].pfx_len)
      npfx++;
    pf[i] = np[i].pfx, pl[i] = np[i].pfx_len, sf[i] = np[i].sfx, sl[i] = np[i].sfx_len;
    for (size_t k = 0; k < np[i].pfx_len; k++)
      letters |= isalpha((unsigned char)np[i].pfx[k]) != 0;
    for (size_t k = 0; k < np[i].sfx_len; k++)
      letters |= isalpha((unsigned char)np[i].sfx[k]) != 0;
    na++;
  }
  if (na == 0)
    goto out;
  if (nparen && nparen != na) {
    note(S, "number: only some values are in parentheses");
    goto out;
  }
  if ((skind == A_PERCENT || skind == A_UNIT) && nsfx != na) {
    note(S, "number: only some values carry a %s", skind == A_UNIT ? "unit" : "percent sign");
    goto out;
  }
  const unit_t *target = NULL;
  if (skind == A_UNIT) {
    if ((target = column_unit(S->col->column_name)) == NULL) {
      note(S, "number: the values carry a unit (%s) but the column's name does not say its unit",
           seen_units[0]->unit);
      goto out;
    }
    for (size_t k = 0; k < nunits; k++)
      if (strcmp(seen_units[k]->dim, target->dim) != 0) {
        note(S, "number: unit %s cannot be converted to the column's %s", seen_units[k]->unit,
             target->unit);
        goto out;
      }
  }
  /* Percent: fraction or points, as the contract's range says; both when it
   * does not (they disagree, so the search refuses). */
  bool as_fraction = true, as_points = true;
  if (skind == A_PERCENT && S->k->max) {
    double mx = strtod(S->k->max, NULL);
    if (mx <= 1)
      as_points = false;
    else if (mx >= 100)
      as_fraction = false;
  }
  for (size_t si = 0; si < sizeof(num_seps) / sizeof(num_seps[0]); si++) {
    char dec = num_seps[si].dec, grp = num_seps[si].grp;
    bool fits = true, has_frac = false, has_grp = false;
    for (size_t i = 0; i < S->n && fits; i++) {
      if (S->ph[i])
        continue;
      fits = num_valid(np[i].num, np[i].num_len, dec, grp);
      has_frac |= memchr(np[i].num, dec, np[i].num_len) != NULL;
      has_grp |= memchr(np[i].num, grp, np[i].num_len) != NULL;
    }
    if (!fits)
      continue;
    /* The regular expression, groups: sign, integer part, fraction, unit. */
    rf_buf_reset(&re);
    int g = 0, g_sign = 0, g_int, g_frac = 0, g_unit = 0;
    rf_buf_puts(&re, "\\s*");
    if (nparen)
      rf_buf_puts(&re, "\\(\\s*");
    else {
      rf_buf_puts(&re, "(-?)\\s*");
      g_sign = ++g;
    }
    if (npfx) {
      if (npfx != na)
        rf_buf_puts(&re, "(?:");
      put_affix_alt(&re, pf, pl, S->n);
      rf_buf_puts(&re, "\\s*");
      if (npfx != na)
        rf_buf_puts(&re, ")?");
    }
    if (grp) {
      rf_buf_puts(&re, "(\\d{1,3}(?:");
      re_escape(&re, &grp, 1);
      rf_buf_puts(&re, "\\d{3})+|\\d+)");
    } else {
      rf_buf_puts(&re, "(\\d+)");
    }
    g_int = ++g;
    if (has_frac) {
      rf_buf_puts(&re, "(");
      re_escape(&re, &dec, 1);
      rf_buf_puts(&re, "\\d+|)");
      g_frac = ++g;
    }
    if (skind == A_PERCENT) {
      rf_buf_puts(&re, "\\s*%");
    } else if (skind == A_CURRENCY) {
      rf_buf_puts(&re, "\\s*");
      if (nsfx != na)
        rf_buf_puts(&re, "(?:");
      put_affix_alt(&re, sf, sl, S->n);
      if (nsfx != na)
        rf_buf_puts(&re, ")?");
    } else if (skind == A_UNIT) {
      rf_buf_puts(&re, "\\s*(");
      bool firstalt = true;
      /* every spelling of the units seen, longest first */
      for (size_t len = 12; len > 0; len--)
        for (size_t k = 0; k < NUNITS; k++)
          for (size_t u = 0; u < nunits; u++)
            if (strcmp(units[k].unit, seen_units[u]->unit) == 0 && strlen(units[k].alias) == len) {
              if (!firstalt)
                rf_buf_putc(&re, '|');
              firstalt = false;
              rf_buf_puts(&re, units[k].alias);
            }
      rf_buf_puts(&re, ")\\.?");
      g_unit = ++g;
    }
    if (nparen)
      rf_buf_puts(&re, "\\s*\\)");
    rf_buf_puts(&re, "\\s*");
    /* The number as canonical text. */
    rf_buf_reset(&num);
    if (nparen)
      rf_buf_puts(&num, "'-' + ");
    else
      rf_buf_printf(&num, "m.group(%d) + ", g_sign);
    rf_buf_printf(&num, "m.group(%d)", g_int);
    if (has_grp) {
      rf_buf_puts(&num, ".replace(");
      put_pystr(&num, &grp, 1);
      rf_buf_puts(&num, ", '')");
    }
    if (g_frac) {
      rf_buf_printf(&num, " + m.group(%d)", g_frac);
      if (dec != '.')
        rf_buf_puts(&num, ".replace(',', '.')");
    }
    if (!rf_buf_ok(&re) || !rf_buf_ok(&num))
      goto nomem;
    for (int mode = 0; mode < 2; mode++) {
      /* mode 0: the plain number (percent: points); mode 1: percent as a fraction */
      if (mode == 1 && skind != A_PERCENT)
        break;
      if (skind == A_PERCENT && ((mode == 0 && !as_points) || (mode == 1 && !as_fraction)))
        continue;
      rf_buf_reset(&body);
      rf_buf_reset(&desc);
      const char *family = "number";
      int cost = src->cost + 2 + num_seps[si].cost + (nparen ? 1 : 0);
      rf_buf_puts(&body, "[");
      if (skind == A_UNIT) {
        family = "unit_conversion";
        cost += 3;
        rf_buf_printf(&body, "'{:.{}f}'.format(float(%s)", num.data);
        bool all_one = true;
        for (size_t u = 0; u < nunits; u++)
          all_one &= seen_units[u]->factor == target->factor;
        if (!all_one) {
          rf_buf_puts(&body, " * ");
          if (nunits > 1)
            rf_buf_puts(&body, "(");
          for (size_t u = 0; u < nunits; u++) {
            put_double(&body, seen_units[u]->factor / target->factor);
            if (u + 1 < nunits) {
              rf_buf_printf(&body, " if m.group(%d).lower() in (", g_unit);
              size_t cnt = 0;
              for (size_t k = 0; k < NUNITS; k++)
                if (strcmp(units[k].unit, seen_units[u]->unit) == 0) {
                  if (cnt++)
                    rf_buf_puts(&body, ", ");
                  put_pystr(&body, units[k].alias, strlen(units[k].alias));
                }
              rf_buf_puts(&body, cnt == 1 ? ",) else " : ") else ");
            }
          }
          if (nunits > 1)
            rf_buf_puts(&body, ")");
        }
        if (g_frac)
          rf_buf_printf(&body, ", max(len(m.group(%d)) - 1, 2))", g_frac);
        else
          rf_buf_puts(&body, ", 2)");
        rf_buf_printf(&desc, "numbers in");
        for (size_t u = 0; u < nunits; u++)
          rf_buf_printf(&desc, "%s %s", u ? "," : "", seen_units[u]->unit);
        rf_buf_printf(&desc, " converted to %s", target->unit);
      } else if (mode == 1) {
        family = "percent";
        cost += 2;
        rf_buf_printf(&body, "'{:.{}f}'.format(float(%s) / 100, ", num.data);
        if (g_frac)
          rf_buf_printf(&body, "max(len(m.group(%d)) + 1, 2))", g_frac);
        else
          rf_buf_puts(&body, "2)");
        rf_buf_puts(&desc, "percentages as fractions (the contract's range is at most 1)");
      } else {
        rf_buf_puts(&body, num.data);
        if (skind == A_PERCENT) {
          family = "percent";
          cost += 1;
          rf_buf_puts(&desc, "percentages as points (the contract's range exceeds 1)");
        } else {
          rf_buf_puts(&desc, "numbers with");
          if (npfx || skind == A_CURRENCY)
            rf_buf_puts(&desc, " currency marks,");
          if (nparen)
            rf_buf_puts(&desc, " negatives in parentheses,");
          rf_buf_printf(&desc, " decimal separator '%c'", dec);
          if (has_grp)
            rf_buf_printf(&desc, " and grouping separator '%c'", grp);
        }
      }
      rf_buf_puts(&body, " for m in [re.fullmatch(");
      put_pyraw(&body, re.data);
      rf_buf_printf(&body, ", %s%s)]][0]", src->expr, letters ? ", flags=re.I" : "");
      if (!rf_buf_ok(&body) || !rf_buf_ok(&desc) || !rf_buf_ok(&re) || !rf_buf_ok(&num))
        goto nomem;
      offer(S, src->is_row ? "row_field" : family, cost, src->uses_row, desc.data, body.data);
    }
  }
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  rf_free(np);
  rf_free(pf);
  rf_free(sf);
  rf_free(pl);
  rf_free(sl);
  rf_buf_free(&re);
  rf_buf_free(&num);
  rf_buf_free(&body);
  rf_buf_free(&desc);
}

/* ---- cores: email, enum, boolean, text ---------------------------------------------- */

static bool any_contains(const search_t *S, const source_t *src, const char *needle) {
  for (size_t i = 0; i < S->n; i++) {
    if (S->ph[i])
      continue;
    if (strcasestr(src->vals[i], needle))
      return true;
  }
  return false;
}

static void core_email(search_t *S, const source_t *src) {
  rf_buf_t body = RF_BUF_INIT;
  const char *fam = src->is_row ? "row_field" : "email";
  /* Addresses are stored in lower case: domains are case-insensitive and
   * mailbox names are in practice; one canonical spelling per address. */
  rf_buf_printf(&body, "%s.lower()", src->expr);
  if (!rf_buf_ok(&body))
    goto nomem;
  offer(S, fam, src->cost + 1, src->uses_row, "email addresses in lower case", body.data);
  bool at = any_contains(S, src, "(at)") || any_contains(S, src, "[at]") ||
            any_contains(S, src, "{at}") || any_contains(S, src, "<at>") ||
            any_contains(S, src, " at ");
  bool dot = any_contains(S, src, "(dot)") || any_contains(S, src, "[dot]") ||
             any_contains(S, src, "{dot}") || any_contains(S, src, " dot ");
  if (at) {
    rf_buf_reset(&body);
    rf_buf_puts(&body, "re.sub(r'\\s*(?:\\(at\\)|\\[at\\]|\\{at\\}|<at>)\\s*|\\s+at\\s+', '@', ");
    if (dot)
      rf_buf_printf(&body, "re.sub(r'\\s*(?:\\(dot\\)|\\[dot\\]|\\{dot\\}|<dot>)\\s*|\\s+dot\\s+', "
                           "'.', %s, flags=re.I)", src->expr);
    else
      rf_buf_puts(&body, src->expr);
    rf_buf_puts(&body, ", flags=re.I).lower()");
    if (!rf_buf_ok(&body))
      goto nomem;
    offer(S, fam, src->cost + 3, src->uses_row,
          dot ? "email addresses with 'at' and 'dot' spelled out"
              : "email addresses with 'at' spelled out",
          body.data);
  }
  if (any_contains(S, src, "<") && any_contains(S, src, ">")) {
    rf_buf_reset(&body);
    rf_buf_printf(&body, "re.search(r'<\\s*([^<>\\s]+@[^<>\\s]+)\\s*>', %s).group(1).lower()",
                  src->expr);
    if (!rf_buf_ok(&body))
      goto nomem;
    offer(S, fam, src->cost + 3, src->uses_row, "email addresses inside a display name",
          body.data);
  }
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  rf_buf_free(&body);
}

/* Appends "(('k', 'v'), ...)" for a key -> value table; a key that maps to
 * two values is dropped (ambiguous). */
typedef struct pair {
  char key[40];
  const char *val;
  bool dead;
} pair_t;

static size_t pair_add(pair_t *t, size_t n, size_t cap, const char *key, const char *val) {
  if (key[0] == '\0')
    return n;
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].key, key) == 0) {
      if (strcmp(t[i].val, val) != 0)
        t[i].dead = true;
      return n;
    }
  if (n == cap)
    return n;
  snprintf(t[n].key, sizeof(t[n].key), "%s", key);
  t[n].val = val;
  t[n].dead = false;
  return n + 1;
}

static void put_pairs(rf_buf_t *b, const pair_t *t, size_t n) {
  size_t live = 0;
  rf_buf_putc(b, '(');
  for (size_t i = 0; i < n; i++) {
    if (t[i].dead)
      continue;
    if (live++)
      rf_buf_puts(b, ", ");
    rf_buf_putc(b, '(');
    put_pystr(b, t[i].key, strlen(t[i].key));
    rf_buf_puts(b, ", ");
    put_pystr(b, t[i].val, strlen(t[i].val));
    rf_buf_putc(b, ')');
  }
  if (live == 1)
    rf_buf_putc(b, ',');
  rf_buf_putc(b, ')');
}

#define MAX_PAIRS 160

static void core_enum(search_t *S, const source_t *src) {
  static const char *const cases[] = {"upper", "lower", "title", "capitalize"};
  const char *fam = src->is_row ? "row_field" : "enum_case";
  rf_buf_t body = RF_BUF_INIT, desc = RF_BUF_INIT;
  pair_t *t = NULL;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rf_buf_reset(&body);
    rf_buf_reset(&desc);
    rf_buf_printf(&body, "%s.%s()", src->expr, cases[i]);
    rf_buf_printf(&desc, "allowed values written in another case (%s)", cases[i]);
    if (!rf_buf_ok(&body) || !rf_buf_ok(&desc))
      goto nomem;
    offer(S, fam, src->cost + 1, src->uses_row, desc.data, body.data);
  }
  /* The allowed values and known aliases, compared without case, spaces
   * and punctuation: "u.s." and "usa" are US. */
  if ((t = rf_calloc(MAX_PAIRS, sizeof(*t))) == NULL)
    goto nomem;
  size_t n = 0;
  bool aliases = false;
  for (size_t a = 0; a < S->k->n_allowed; a++) {
    const char *v = S->k->allowed[a];
    char key[40];
    normalize_key(v, strlen(v), key, sizeof(key));
    n = pair_add(t, n, MAX_PAIRS, key, v);
    for (size_t c = 0; c < NCOUNTRIES; c++) {
      if (strcasecmp(countries[c].a2, v) != 0)
        continue;
      for (const char *p = countries[c].names; *p;) {
        size_t len = strcspn(p, "|");
        char alias[40];
        snprintf(alias, sizeof(alias), "%.*s", (int)len, p);
        n = pair_add(t, n, MAX_PAIRS, alias, v);
        aliases = true;
        p += len + (p[len] == '|');
      }
    }
  }
  rf_buf_reset(&body);
  rf_buf_printf(&body, "[v for k in [re.sub(r'[^a-z0-9]', '', %s.lower())] for a, v in ",
                src->expr);
  put_pairs(&body, t, n);
  rf_buf_puts(&body, " if a == k][0]");
  if (!rf_buf_ok(&body))
    goto nomem;
  offer(S, src->is_row ? "row_field" : "enum_vocabulary", src->cost + (aliases ? 4 : 3),
        src->uses_row,
        aliases ? "allowed values, country names and codes, compared without case and punctuation"
                : "allowed values compared without case and punctuation",
        body.data);
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  rf_free(t);
  rf_buf_free(&body);
  rf_buf_free(&desc);
}

static void core_bool(search_t *S, const source_t *src) {
  const char *tv = S->k->n_allowed == 2 ? S->k->allowed[0] : "true";
  const char *fv = S->k->n_allowed == 2 ? S->k->allowed[1] : "false";
  pair_t t[16];
  size_t n = 0;
  rf_buf_t body = RF_BUF_INIT;
  char key[40];
  for (size_t i = 0; i < sizeof(bool_true) / sizeof(bool_true[0]); i++)
    n = pair_add(t, n, 16, bool_true[i], tv);
  for (size_t i = 0; i < sizeof(bool_false) / sizeof(bool_false[0]); i++)
    n = pair_add(t, n, 16, bool_false[i], fv);
  snprintf(key, sizeof(key), "%s", tv);
  lower_ascii(key);
  n = pair_add(t, n, 16, key, tv);
  snprintf(key, sizeof(key), "%s", fv);
  lower_ascii(key);
  n = pair_add(t, n, 16, key, fv);
  rf_buf_printf(&body, "[v for k in [%s.strip().lower()] for a, v in ", src->expr);
  put_pairs(&body, t, n);
  rf_buf_puts(&body, " if a == k][0]");
  if (!rf_buf_ok(&body)) {
    S->rc = RF_ENOMEM;
  } else {
    offer(S, src->is_row ? "row_field" : "boolean", src->cost + 3, src->uses_row,
          "yes/no, y/n, 1/0, on/off, true/false spellings", body.data);
  }
  rf_buf_free(&body);
}

static void core_text(search_t *S, const source_t *src) {
  static const char *const cases[] = {"lower", "upper", "title", "capitalize"};
  const char *fam = src->is_row ? "row_field" : "whitespace_case";
  rf_buf_t body = RF_BUF_INIT, desc = RF_BUF_INIT;
  for (int collapse = 0; collapse < 2; collapse++)
    for (size_t i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
      if (!collapse && i == 0)
        continue; /* the identity is offered with the source */
      rf_buf_reset(&body);
      rf_buf_reset(&desc);
      if (collapse)
        rf_buf_printf(&body, "' '.join(%s.split())", src->expr);
      else
        rf_buf_puts(&body, src->expr);
      if (i > 0)
        rf_buf_printf(&body, ".%s()", cases[i - 1]);
      rf_buf_printf(&desc, "%s%s%s", collapse ? "runs of whitespace collapsed" : "",
                    collapse && i ? ", " : "", i ? cases[i - 1] : "");
      if (i)
        rf_buf_puts(&desc, " case");
      if (!rf_buf_ok(&body) || !rf_buf_ok(&desc))
        goto nomem;
      offer(S, fam, src->cost + (collapse ? 2 : 0) + (i ? 1 : 0), src->uses_row, desc.data,
            body.data);
    }
  goto out;
nomem:
  S->rc = RF_ENOMEM;
out:
  rf_buf_free(&body);
  rf_buf_free(&desc);
}

/* ---- sources ------------------------------------------------------------------------ */

#define MAX_SOURCES 48

typedef struct sources {
  source_t s[MAX_SOURCES];
  size_t n;
} sources_t;

static void source_clear(source_t *src, size_t n) {
  rf_free(src->expr);
  if (src->vals)
    for (size_t i = 0; i < n; i++)
      rf_free(src->vals[i]);
  rf_free(src->vals);
  memset(src, 0, sizeof(*src));
}

/* Adds a source; vals (n entries) is taken. Returns the source or NULL (OOM
 * or full: vals freed). */
static source_t *source_add(search_t *S, sources_t *ss, const char *expr, int cost, bool is_row,
                            char **vals) {
  source_t *src = NULL;
  if (ss->n < MAX_SOURCES) {
    src = &ss->s[ss->n];
    memset(src, 0, sizeof(*src));
    src->vals = vals;
    if ((src->expr = rf_strdup(expr)) == NULL) {
      S->rc = RF_ENOMEM;
      source_clear(src, S->n);
      return NULL;
    }
    src->cost = cost;
    src->is_row = is_row;
    src->uses_row = is_row || strstr(expr, "row[") != NULL;
    src->family = is_row ? "row_field" : strstr(expr, ".split") ? "split"
                : strstr(expr, ".remove") ? "prefix_suffix" : NULL;
    ss->n++;
    return src;
  }
  for (size_t i = 0; i < S->n; i++)
    rf_free(vals[i]);
  rf_free(vals);
  return NULL;
}

/* New per-sample values from base through f (NULL result = unavailable). */
typedef char *(*derive_fn)(const char *v, const void *arg, bool *oom);

static char **derive(search_t *S, char *const *base, derive_fn f, const void *arg) {
  char **vals = rf_calloc(S->n, sizeof(char *));
  if (vals == NULL) {
    S->rc = RF_ENOMEM;
    return NULL;
  }
  for (size_t i = 0; i < S->n; i++) {
    if (S->ph[i] || base[i] == NULL)
      continue;
    bool oom = false;
    vals[i] = f(base[i], arg, &oom);
    if (oom) {
      S->rc = RF_ENOMEM;
      for (size_t k = 0; k < S->n; k++)
        rf_free(vals[k]);
      rf_free(vals);
      return NULL;
    }
  }
  return vals;
}

static char *d_strip(const char *v, const void *arg, bool *oom) {
  const char *p = v, *e = v + strlen(v);
  trim(&p, &e);
  char *o = rf_strndup(p, (size_t)(e - p));
  *oom = o == NULL;
  return o;
}

static char *d_removeprefix(const char *v, const void *arg, bool *oom) {
  const char *pre = arg;
  size_t n = strlen(pre);
  char *o = rf_strdup(strncmp(v, pre, n) == 0 ? v + n : v);
  *oom = o == NULL;
  return o;
}

static char *d_removesuffix(const char *v, const void *arg, bool *oom) {
  const char *suf = arg;
  size_t n = strlen(suf), l = strlen(v);
  char *o = rf_strndup(v, l >= n && strcmp(v + l - n, suf) == 0 ? l - n : l);
  *oom = o == NULL;
  return o;
}

typedef struct split_arg {
  char sep; /* ' ': str.split() on whitespace */
  int index; /* 0 or -1 */
} split_arg_t;

/* v.split()[i] or v.split(sep)[i].strip(); NULL when there is one part only. */
static char *d_split(const char *v, const void *arg, bool *oom) {
  const split_arg_t *a = arg;
  const char *parts[64][2];
  size_t np = 0;
  const char *p = v, *e = v + strlen(v);
  if (a->sep == ' ') {
    while (p < e && np < 64) {
      while (p < e && is_space(*p))
        p++;
      if (p == e)
        break;
      const char *s = p;
      while (p < e && !is_space(*p))
        p++;
      parts[np][0] = s, parts[np][1] = p, np++;
    }
  } else {
    for (;;) {
      const char *s = p;
      while (p < e && *p != a->sep)
        p++;
      if (np < 64)
        parts[np][0] = s, parts[np][1] = p, np++;
      if (p == e)
        break;
      p++;
    }
  }
  if (np < 2)
    return NULL;
  size_t k = a->index < 0 ? np - 1 : (size_t)a->index;
  const char *s = parts[k][0], *t = parts[k][1];
  trim(&s, &t);
  char *o = rf_strndup(s, (size_t)(t - s));
  *oom = o == NULL;
  return o;
}

/* True when field's name extends the column's: every word of the column's
 * name begins a word of the field's name, in order (order_date ->
 * order_datetime, name -> full_name), and they differ. */
static bool name_related(const char *column, const char *field) {
  if (strcasecmp(column, field) == 0)
    return false;
  const char *f = field;
  for (const char *c = column; *c;) {
    size_t cl = strcspn(c, "_- .");
    bool found = false;
    while (*f && !found) {
      size_t fl = strcspn(f, "_- .");
      if (cl > 0 && fl >= cl && strncasecmp(c, f, cl) == 0)
        found = true;
      f += fl;
      while (*f == '_' || *f == '-' || *f == ' ' || *f == '.')
        f++;
    }
    if (!found)
      return false;
    c += cl;
    while (*c == '_' || *c == '-' || *c == ' ' || *c == '.')
      c++;
  }
  return true;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *const split_seps = " ,;|/:";
static const char *const row_split_seps = " ,;|T";

/* Adds the split sources of base (parts 0 and -1 for each separator every
 * value contains). */
static void add_splits(search_t *S, sources_t *ss, const source_t *base, const char *seps,
                       int cost) {
  for (const char *sp = seps; *sp && S->rc == 0; sp++) {
    bool all = true;
    for (size_t i = 0; i < S->n && all; i++)
      if (!S->ph[i])
        all = base->vals[i] && (*sp == ' ' ? strpbrk(base->vals[i], " \t") != NULL
                                           : strchr(base->vals[i], *sp) != NULL);
    if (!all)
      continue;
    for (int idx = 0; idx > -2; idx--) {
      split_arg_t a = {*sp, idx};
      char **vals = derive(S, base->vals, d_split, &a);
      if (vals == NULL)
        return;
      char expr[600];
      if (*sp == ' ')
        snprintf(expr, sizeof(expr), "%s.split()[%d]", base->expr, idx);
      else
        snprintf(expr, sizeof(expr), "%s.split('%c')[%d].strip()", base->expr, *sp, idx);
      source_add(S, ss, expr, cost, base->is_row, vals);
    }
  }
}

/* Adds the prefix and suffix sources of base: the longest common prefix
 * (suffix) of the values and of the cluster's other rows, cut after (before)
 * a non-alphanumeric character. Both the longest and the shortest such cut
 * are offered: "mailto:Ana." may be common to three samples, "mailto:" to
 * the whole cluster; the rows (or the ambiguity rule) decide. */
static void add_affixes(search_t *S, sources_t *ss, const source_t *base) {
  const char *first = NULL;
  size_t lcp = 0, lcs = 0, distinct = 0;
  for (size_t i = 0; i < S->n + S->nev; i++) {
    const char *v;
    size_t vl;
    if (i < S->n) {
      if (S->ph[i] || base->vals[i] == NULL)
        continue;
      v = base->vals[i];
      vl = strlen(v);
    } else {
      /* evidence rows, as base sees them (x or x.strip()) */
      const rf_synth_sample_t *r = &S->ev[i - S->n];
      if (r->value == NULL || base->is_row)
        continue;
      const char *p = r->value, *q = r->value + r->len;
      if (strcmp(base->expr, "x.strip()") == 0)
        trim(&p, &q);
      else if (strcmp(base->expr, "x") != 0)
        continue;
      v = p;
      vl = (size_t)(q - p);
    }
    if (first == NULL) {
      first = v;
      lcp = lcs = vl;
      distinct = 1;
      continue;
    }
    size_t k = 0, fl = strlen(first);
    if (i < S->n && (vl != fl || memcmp(v, first, vl) != 0))
      distinct++;
    while (k < lcp && k < vl && v[k] == first[k])
      k++;
    lcp = k;
    k = 0;
    while (k < lcs && k < vl && k < fl && v[vl - 1 - k] == first[fl - 1 - k])
      k++;
    lcs = k;
  }
  if (first == NULL || distinct < 2)
    return; /* one value says nothing about what is common */
  size_t fl = strlen(first);
  /* An affix with digits is data (a time zone offset, seconds), never
   * decoration: it is not removed. */
  for (size_t k = 0; k < lcp; k++)
    if (isdigit((unsigned char)first[k]))
      lcp = k;
  for (size_t k = 0; k < lcs; k++)
    if (isdigit((unsigned char)first[fl - 1 - k]))
      lcs = k;
  /* cuts: 0 = none, then the longest and the shortest boundary */
  size_t pcut[3] = {0}, scut[3] = {0}, np = 1, nsf = 1;
  size_t k = lcp;
  while (k > 0 && isalnum((unsigned char)first[k - 1]))
    k--;
  if (k > 0)
    pcut[np++] = k;
  for (size_t j = 0; j < k; j++)
    if (!isalnum((unsigned char)first[j])) {
      if (j + 1 != k)
        pcut[np++] = j + 1;
      break;
    }
  k = lcs;
  while (k > 0 && isalnum((unsigned char)first[fl - k]))
    k--;
  if (k > 0)
    scut[nsf++] = k;
  for (size_t j = 0; j < k; j++)
    if (!isalnum((unsigned char)first[fl - 1 - j])) {
      if (j + 1 != k)
        scut[nsf++] = j + 1;
      break;
    }
  rf_buf_t expr = RF_BUF_INIT;
  for (size_t a = 0; a < np && S->rc == 0; a++)
    for (size_t b = 0; b < nsf && S->rc == 0; b++) {
      size_t pl = pcut[a], sl = scut[b];
      if ((pl == 0 && sl == 0) || pl + sl >= fl || pl >= 64 || sl >= 64)
        continue;
      char pre[64], suf[64];
      snprintf(pre, sizeof(pre), "%.*s", (int)pl, first);
      snprintf(suf, sizeof(suf), "%s", first + fl - sl);
      bool ws_only = true;
      for (size_t j = 0; j < pl; j++)
        ws_only &= is_space(pre[j]);
      for (size_t j = 0; j < sl; j++)
        ws_only &= is_space(suf[j]);
      if (ws_only)
        continue; /* that is strip() */
      rf_buf_reset(&expr);
      rf_buf_puts(&expr, base->expr);
      char **vals = NULL, **tmp = NULL;
      if (pl) {
        rf_buf_puts(&expr, ".removeprefix(");
        put_pystr(&expr, pre, pl);
        rf_buf_putc(&expr, ')');
        if ((vals = derive(S, base->vals, d_removeprefix, pre)) == NULL)
          break;
      }
      if (sl) {
        rf_buf_puts(&expr, ".removesuffix(");
        put_pystr(&expr, suf, sl);
        rf_buf_putc(&expr, ')');
        tmp = vals;
        vals = derive(S, tmp ? tmp : base->vals, d_removesuffix, suf);
        if (tmp) {
          for (size_t i = 0; i < S->n; i++)
            rf_free(tmp[i]);
          rf_free(tmp);
        }
        if (vals == NULL)
          break;
      }
      /* and a strip(), for what the affix leaves around the value */
      rf_buf_puts(&expr, ".strip()");
      tmp = vals;
      vals = derive(S, tmp, d_strip, NULL);
      for (size_t i = 0; i < S->n; i++)
        rf_free(tmp[i]);
      rf_free(tmp);
      if (vals == NULL)
        break;
      if (!rf_buf_ok(&expr)) {
        S->rc = RF_ENOMEM;
        for (size_t i = 0; i < S->n; i++)
          rf_free(vals[i]);
        rf_free(vals);
        break;
      }
      source_add(S, ss, expr.data, base->cost + (pl && sl ? 3 : 2), false, vals);
    }
  rf_buf_free(&expr);
}

/* Adds the sources drawn from related fields of row (sorted by name). */
static void add_row_sources(search_t *S, sources_t *ss) {
  const cJSON *r0 = NULL;
  for (size_t i = 0; i < S->n && r0 == NULL; i++)
    if (!S->ph[i])
      r0 = S->s[i].row;
  if (r0 == NULL || !cJSON_IsObject(r0))
    return;
  const char *names[64];
  size_t nn = 0;
  for (const cJSON *f = r0->child; f && nn < 64; f = f->next)
    if (f->string && cJSON_IsString(f) && name_related(S->col->column_name, f->string))
      names[nn++] = f->string;
  qsort(names, nn, sizeof(names[0]), cmp_str);
  for (size_t k = 0; k < nn && S->rc == 0; k++) {
    char **vals = rf_calloc(S->n, sizeof(char *));
    if (vals == NULL) {
      S->rc = RF_ENOMEM;
      return;
    }
    bool all = true, ws = false;
    for (size_t i = 0; i < S->n; i++) {
      if (S->ph[i])
        continue;
      const cJSON *f = cJSON_GetObjectItemCaseSensitive(S->s[i].row, names[k]);
      if (!cJSON_IsString(f)) {
        all = false;
        continue;
      }
      if ((vals[i] = rf_strdup(f->valuestring)) == NULL)
        S->rc = RF_ENOMEM;
      else if (vals[i][0] && (is_space(vals[i][0]) || is_space(vals[i][strlen(vals[i]) - 1])))
        ws = true;
    }
    if (!all || S->rc) {
      for (size_t i = 0; i < S->n; i++)
        rf_free(vals[i]);
      rf_free(vals);
      continue;
    }
    rf_buf_t expr = RF_BUF_INIT;
    rf_buf_puts(&expr, "row[");
    put_pystr(&expr, names[k], strlen(names[k]));
    rf_buf_putc(&expr, ']');
    if (!rf_buf_ok(&expr)) {
      S->rc = RF_ENOMEM;
      for (size_t i = 0; i < S->n; i++)
        rf_free(vals[i]);
      rf_free(vals);
      rf_buf_free(&expr);
      return;
    }
    source_t *src = source_add(S, ss, expr.data, 4, true, vals);
    if (src && ws) {
      char **sv = derive(S, src->vals, d_strip, NULL);
      rf_buf_puts(&expr, ".strip()");
      if (sv && rf_buf_ok(&expr))
        src = source_add(S, ss, expr.data, 5, true, sv);
    }
    if (src && S->rc == 0)
      add_splits(S, ss, src, row_split_seps, src->cost + 2);
    rf_buf_free(&expr);
  }
}

/* ---- deciding ------------------------------------------------------------------------ */

static int cmp_cand(const void *a, const void *b) {
  const cand_t *x = a, *y = b;
  if (x->cost != y->cost)
    return x->cost < y->cost ? -1 : 1;
  return strcmp(x->src, y->src);
}

static bool same_outputs(const cand_t *a, const cand_t *b, size_t n, size_t *where) {
  for (size_t i = 0; i < n; i++) {
    const char *x = a->out[i], *y = b->out[i];
    if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0)) {
      if (where)
        *where = i;
      return false;
    }
  }
  return true;
}

/* Runs c on every evidence row (once). 0 or RF_ENOMEM. */
static int eval_evidence(search_t *S, cand_t *c) {
  rf_lambda_t *l = NULL;
  int rc = 0;
  if (c->ev_done || S->nev == 0)
    return 0;
  char err[200];
  if ((rc = rf_lambda_compile(c->src, strlen(c->src), NULL, &l, err, sizeof(err))))
    return rc == RF_ENOMEM ? RF_ENOMEM : RF_EINTERNAL;
  if ((c->ev = rf_calloc(S->nev, 1)) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  c->ev_fixed = 0;
  for (size_t i = 0; i < S->nev; i++) {
    int ok = run_one(S, l, &S->ev[i], NULL);
    if (ok < 0) {
      rc = ok;
      goto out;
    }
    c->ev[i] = (unsigned char)ok;
    c->ev_fixed += (size_t)ok;
  }
  c->ev_done = true;
out:
  rf_lambda_free(l);
  return rc;
}

/* a fixes a strict superset of the evidence rows b fixes. */
static bool dominates(const search_t *S, const cand_t *a, const cand_t *b) {
  bool more = false;
  for (size_t i = 0; i < S->nev; i++) {
    if (b->ev[i] && !a->ev[i])
      return false;
    if (a->ev[i] && !b->ev[i])
      more = true;
  }
  return more;
}

static void put_sample(rf_buf_t *b, const char *v) {
  if (v == NULL) {
    rf_buf_puts(b, "None");
    return;
  }
  size_t n = strlen(v);
  put_pystr(b, v, n > 40 ? 40 : n);
  if (n > 40)
    rf_buf_puts(b, "...");
}

static int decide(search_t *S, rf_fix_candidate_t **out, rf_synth_report_t *rep, char *why,
                  size_t whylen) {
  int rc = 0;
  size_t *rep_of = NULL;  /* class representatives (indexes into S->c) */
  size_t ncls = 0;
  rf_fix_candidate_t *cand = NULL;
  rf_buf_t reason = RF_BUF_INIT;
  rep->fitting = S->nc;
  if (S->nc == 0) {
    snprintf(why, whylen, "synth: no candidate turns every sample into a valid value (%zu tried)%s%s",
             S->tried, S->notes.len ? ": " : "", S->notes.len ? S->notes.data : "");
    return 0;
  }
  qsort(S->c, S->nc, sizeof(S->c[0]), cmp_cand);
  if ((rep_of = rf_calloc(S->nc, sizeof(size_t))) == NULL)
    return RF_ENOMEM;
  for (size_t i = 0; i < S->nc; i++) {
    bool found = false;
    for (size_t k = 0; k < ncls && !found; k++)
      found = same_outputs(&S->c[rep_of[k]], &S->c[i], S->n, NULL);
    if (!found)
      rep_of[ncls++] = i;
  }
  size_t win = 0; /* index into rep_of */
  if (ncls > 1 && S->nev > 0) {
    for (size_t k = 0; k < ncls; k++)
      if ((rc = eval_evidence(S, &S->c[rep_of[k]])))
        goto out;
    for (size_t k = 1; k < ncls; k++)
      if (S->c[rep_of[k]].ev_fixed > S->c[rep_of[win]].ev_fixed)
        win = k;
  }
  cand_t *w = &S->c[rep_of[win]];
  size_t eliminated = 0, survivors = 0;
  for (size_t k = 0; k < ncls; k++) {
    if (k == win)
      continue;
    cand_t *r = &S->c[rep_of[k]];
    rep->rivals++;
    if (S->nev > 0 && dominates(S, w, r)) {
      eliminated++;
      continue;
    }
    if (strcmp(r->family, w->family) == 0 || r->cost <= w->cost) {
      size_t at = 0;
      same_outputs(w, r, S->n, &at);
      rf_buf_t b = RF_BUF_INIT;
      rf_buf_printf(&b, "synth: ambiguous: '%s' and '%s' both fit every sample but disagree on "
                        "sample %zu (", w->desc, r->desc, at + 1);
      put_sample(&b, S->s[at].value);
      rf_buf_puts(&b, " -> ");
      put_sample(&b, w->out[at]);
      rf_buf_puts(&b, " or ");
      put_sample(&b, r->out[at]);
      rf_buf_printf(&b, ")%s", S->nev ? "; the cluster's other rows do not decide"
                                       : "; more samples could decide");
      snprintf(why, whylen, "%s", rf_buf_ok(&b) ? b.data : "synth: ambiguous");
      rf_buf_free(&b);
      rep->eliminated = eliminated;
      goto out;
    }
    if (!(strcmp(r->family, "split") == 0 && strcmp(w->family, "split") != 0))
      survivors++;
  }
  rep->eliminated = eliminated;
  if ((rc = eval_evidence(S, w)))
    goto out;
  rep->evidence = S->nev;
  rep->evidence_fixed = S->nev ? w->ev_fixed : 0;
  /* Confidence from the evidence. */
  size_t distinct = 0;
  for (size_t i = 0; i < S->n; i++) {
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = (S->s[i].value == NULL && S->s[k].value == NULL) ||
            (S->s[i].value && S->s[k].value && S->s[i].len == S->s[k].len &&
             memcmp(S->s[i].value, S->s[k].value, S->s[i].len) == 0);
    distinct += !dup;
  }
  static const double by_count[] = {0.80, 0.86, 0.90, 0.93, 0.95};
  double conf = distinct <= 5 ? by_count[distinct - 1] : 0.95 + 0.004 * (double)(distinct - 5);
  if (conf > 0.97)
    conf = 0.97;
  double frac = S->nev ? (double)w->ev_fixed / (double)S->nev : 1.0;
  if (S->nev)
    conf *= 0.85 + 0.15 * frac;
  for (size_t i = 0; i < eliminated; i++)
    conf *= 0.98;
  /* A surviving rival lowers the confidence, except a part of the value
   * against a winner that keeps all of it. */
  for (size_t i = 0; i < survivors; i++)
    conf *= 0.85;
  conf = floor(conf * 100 + 0.5) / 100;
  if (conf > 0.99)
    conf = 0.99;
  rf_buf_printf(&reason, "%s; fits %zu sample%s", w->desc, S->n, S->n == 1 ? "" : "s");
  if (S->nev)
    rf_buf_printf(&reason, "; fixes %zu of %zu rows of the cluster", w->ev_fixed, S->nev);
  if (ncls > 1)
    rf_buf_printf(&reason, "; %zu rival%s (%zu ruled out by the cluster's rows)", ncls - 1,
                  ncls == 2 ? "" : "s", eliminated);
  if ((cand = rf_calloc(1, sizeof(*cand))) == NULL || !rf_buf_ok(&reason) ||
      (cand->lambda_src = rf_strdup(w->src)) == NULL ||
      (cand->generator = rf_strdup("synth")) == NULL ||
      (cand->pattern_type = rf_strdup(w->family)) == NULL ||
      (cand->reasoning = rf_buf_steal(&reason)) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  cand->confidence = conf;
  *out = cand;
  cand = NULL;
out:
  rf_fix_candidate_free(cand);
  rf_buf_free(&reason);
  rf_free(rep_of);
  return rc;
}

/* ---- the search ---------------------------------------------------------------------- */

static int type_of(const char *t, ctype_t *out) {
  static const struct {
    const char *name;
    ctype_t type;
  } map[] = {{"date", C_DATE},       {"timestamp", C_TIMESTAMP}, {"integer", C_INTEGER},
             {"decimal", C_DECIMAL}, {"boolean", C_BOOLEAN},     {"email", C_EMAIL},
             {"enum", C_ENUM},       {"string", C_STRING}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (t && strcmp(t, map[i].name) == 0) {
      *out = map[i].type;
      return 0;
    }
  return RF_EINVAL;
}

static void run_cores(search_t *S, const source_t *src) {
  if (!src_ready(S, src) || S->rc)
    return;
  S->cur_family = src->family;
  switch (S->type) {
  case C_DATE:
  case C_TIMESTAMP: core_date(S, src); break;
  case C_INTEGER:
  case C_DECIMAL: core_number(S, src); break;
  case C_EMAIL: core_email(S, src); S->cur_family = NULL; return; /* no identity: lower case */
  case C_ENUM: core_enum(S, src); break;
  case C_BOOLEAN: core_bool(S, src); break;
  case C_STRING: core_text(S, src); break;
  }
  if (strcmp(src->expr, "x") != 0) {
    const char *fam = src->family ? src->family : "whitespace_case";
    const char *desc = src->is_row ? "the value of a related field of the row"
                       : strstr(src->expr, ".split") ? "a part of the value"
                       : strstr(src->expr, ".remove") ? "the value without a common prefix or suffix"
                                                     : "the value without surrounding whitespace";
    offer(S, fam, src->cost, src->uses_row, desc, src->expr);
  }
  S->cur_family = NULL;
}

int rf_synth_find(const rf_synth_column_t *col, const rf_synth_sample_t *samples, size_t n,
                  const rf_synth_sample_t *rows, size_t n_rows, rf_fix_candidate_t **out,
                  rf_synth_report_t *report, char *why, size_t whylen) {
  search_t S = {0};
  sources_t *ss = NULL;
  rf_synth_report_t dummy;
  rf_synth_sample_t *ev = NULL;
  int rc = 0;
  rf_synth_report_t *rep = report ? report : &dummy;
  memset(rep, 0, sizeof(*rep));
  *out = NULL;
  if (whylen)
    why[0] = '\0';
  if (col == NULL || col->contract == NULL || col->checker == NULL) {
    snprintf(why, whylen, "synth: the column has no contract, so no fix can be proven");
    return RF_EINVAL;
  }
  if (n == 0 || n > RF_SYNTH_MAX_SAMPLES) {
    snprintf(why, whylen, "synth: %zu samples (1 to %d are needed)", n, RF_SYNTH_MAX_SAMPLES);
    return RF_EINVAL;
  }
  S.col = col;
  S.k = col->contract;
  if (type_of(S.k->type, &S.type)) {
    snprintf(why, whylen, "synth: unknown contract type '%s'", S.k->type ? S.k->type : "");
    return RF_EINVAL;
  }
  S.s = samples;
  S.n = n;
  /* Evidence: up to RF_SYNTH_MAX_EVIDENCE distinct rows, evenly spread. */
  if (rows && n_rows) {
    size_t want = n_rows < RF_SYNTH_MAX_EVIDENCE ? n_rows : RF_SYNTH_MAX_EVIDENCE;
    if ((ev = rf_calloc(want, sizeof(*ev))) == NULL)
      goto nomem;
    for (size_t k = 0; k < want; k++) {
      const rf_synth_sample_t *r = &rows[k * n_rows / want];
      bool dup = false;
      for (size_t j = 0; j < S.nev && !dup; j++)
        dup = (r->value == NULL && ev[j].value == NULL) ||
              (r->value && ev[j].value && r->len == ev[j].len &&
               memcmp(r->value, ev[j].value, r->len) == 0);
      if (!dup)
        ev[S.nev++] = *r;
    }
    S.ev = ev;
  }
  if ((S.ph = rf_calloc(n, sizeof(bool))) == NULL || (S.ctx = rf_lambda_ctx_new()) == NULL ||
      (ss = rf_calloc(1, sizeof(*ss))) == NULL)
    goto nomem;
  if (S.k->nullable) {
    for (size_t i = 0; i < n; i++)
      if (samples[i].value == NULL || is_placeholder_text(&S, samples[i].value, samples[i].len)) {
        S.ph[i] = true;
        S.nph++;
      }
    if (S.nph) {
      rf_buf_puts(&S.guard, "None if x is None or x.strip().lower() in (");
      size_t w = 0;
      for (size_t i = 0; i < NPLACEHOLDERS; i++) {
        bool allowed = false;
        for (size_t a = 0; a < S.k->n_allowed; a++)
          allowed |= strcasecmp(S.k->allowed[a], placeholders[i]) == 0;
        if (allowed)
          continue;
        if (w++)
          rf_buf_puts(&S.guard, ", ");
        put_pystr(&S.guard, placeholders[i], strlen(placeholders[i]));
      }
      rf_buf_puts(&S.guard, ") else ");
      if (!rf_buf_ok(&S.guard))
        goto nomem;
    }
  }
  if (!S.k->nullable)
    for (size_t i = 0; i < n; i++)
      if (samples[i].value == NULL || is_placeholder_text(&S, samples[i].value, samples[i].len)) {
        note(&S, "sample %zu is a placeholder for an unknown value and the column is not "
                 "nullable", i + 1);
        break;
      }
  /* Values that already satisfy the contract need no fix (and an identity
   * "fix" would prove nothing). */
  size_t valid = 0;
  for (size_t i = 0; i < n; i++) {
    char w[64];
    int c = rf_checker_check(col->checker, samples[i].value, samples[i].len, w, sizeof(w));
    if (c == RF_ENOMEM)
      goto nomem;
    valid += c == 0;
  }
  if (valid == n) {
    snprintf(why, whylen, "synth: every sample already satisfies the contract: nothing to fix");
    goto out;
  }
  if (S.nph == n) {
    offer(&S, "null_placeholder", 0, false, "placeholders for an unknown value mapped to NULL", "x");
  } else {
    /* the value itself, then stripped */
    char **vals = rf_calloc(n, sizeof(char *));
    if (vals == NULL)
      goto nomem;
    bool ws = false;
    for (size_t i = 0; i < n; i++) {
      if (S.ph[i] || samples[i].value == NULL)
        continue;
      if ((vals[i] = rf_strndup(samples[i].value, samples[i].len)) == NULL) {
        for (size_t k = 0; k < n; k++)
          rf_free(vals[k]);
        rf_free(vals);
        goto nomem;
      }
      size_t l = samples[i].len;
      if (l && (is_space(vals[i][0]) || is_space(vals[i][l - 1])))
        ws = true;
    }
    source_t *x = source_add(&S, ss, "x", 0, false, vals);
    source_t *base = x;
    if (x && ws) {
      char **sv = derive(&S, x->vals, d_strip, NULL);
      if (sv)
        base = source_add(&S, ss, "x.strip()", 1, false, sv);
    }
    bool numeric = S.type == C_INTEGER || S.type == C_DECIMAL;
    if (base && S.rc == 0 && !numeric)
      add_affixes(&S, ss, base);
    if (base && S.rc == 0 && (S.type == C_STRING || S.type == C_ENUM || S.type == C_EMAIL))
      add_splits(&S, ss, base, split_seps, base->cost + 3);
    if (S.rc == 0)
      add_row_sources(&S, ss);
    if (S.rc)
      goto nomem;
    for (size_t i = 0; i < ss->n && S.rc == 0; i++)
      run_cores(&S, &ss->s[i]);
  }
  if (S.rc)
    goto nomem;
  rep->tried = S.tried;
  rc = decide(&S, out, rep, why, whylen);
  if (rc == RF_ENOMEM)
    goto nomem;
  goto out;
nomem:
  rc = RF_ENOMEM;
  snprintf(why, whylen, "synth: out of memory");
out:
  if (ss) {
    for (size_t i = 0; i < ss->n; i++)
      source_clear(&ss->s[i], n);
    rf_free(ss);
  }
  for (size_t i = 0; i < S.nc; i++)
    cand_clear(&S.c[i], n);
  rf_free(S.c);
  rf_free(S.ph);
  rf_free(ev);
  rf_buf_free(&S.guard);
  rf_buf_free(&S.notes);
  rf_lambda_ctx_free(S.ctx);
  return rc;
}

/* ---- the generator --------------------------------------------------------------------- */

typedef struct synth_gen {
  rf_fixcache_t *fc;
  double min_confidence;
  rf_model_stats_t *stats;
} synth_gen_t;

static int propose(void *self, const rf_fix_request_t *req, rf_fixgen_cb cb, void *arg) {
  synth_gen_t *g = self;
  const rf_cluster_t *cl = req->cluster;
  rf_checker_t *checker = NULL;
  rf_synth_sample_t *samples = NULL, *rows = NULL;
  rf_fix_candidate_t *cand = NULL;
  int rc = 0;
  char why[1024];
  if (req->contract == NULL) {
    cb(0, NULL, "the column has no contract, so no fix can be proven", arg);
    return 0;
  }
  if (cl->n_reps == 0) {
    cb(0, NULL, "the cluster has no samples", arg);
    return 0;
  }
  if ((rc = rf_checker_new(req->contract, &checker, why, sizeof(why)))) {
    if (rc == RF_ENOMEM)
      return rc;
    char msg[1100];
    snprintf(msg, sizeof(msg), "the column contract does not compile: %s", why);
    cb(0, NULL, msg, arg);
    return 0;
  }
  size_t nrows = cl->n < RF_SYNTH_MAX_EVIDENCE * 4 ? cl->n : RF_SYNTH_MAX_EVIDENCE * 4;
  if ((samples = rf_calloc(cl->n_reps, sizeof(*samples))) == NULL ||
      (rows = rf_calloc(nrows ? nrows : 1, sizeof(*rows))) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < cl->n_reps; i++) {
    const cJSON *row;
    if ((rc = rf_anomaly_row(cl->reps[i], &row)))
      goto out;
    samples[i] = (rf_synth_sample_t){cl->reps[i]->value, cl->reps[i]->value_len, row};
  }
  for (size_t i = 0; i < nrows; i++) {
    rf_anomaly_t *a = cl->rows[i * cl->n / nrows];
    const cJSON *row;
    if ((rc = rf_anomaly_row(a, &row)))
      goto out;
    rows[i] = (rf_synth_sample_t){a->value, a->value_len, row};
  }
  rf_synth_column_t col = {req->table_name, req->column_name, req->contract, checker};
  rf_synth_report_t rep;
  if ((rc = rf_synth_find(&col, samples, cl->n_reps, rows, nrows, &cand, &rep, why,
                          sizeof(why))))
    goto out;
  if (cand == NULL) {
    rf_log(RF_LOG_INFO, "synth", "no fix table=%s column=%s fingerprint=%s tried=%zu fitting=%zu "
           "rivals=%zu", req->table_name, req->column_name, cl->fingerprint, rep.tried,
           rep.fitting, rep.rivals);
    cb(0, NULL, why + (strncmp(why, "synth: ", 7) == 0 ? 7 : 0), arg);
    goto out;
  }
  /* Offer only what the gate accepts, so that the model still gets its
   * chance at a cluster the synthesizer cannot prove. */
  rf_gate_verdict_t v;
  if ((rc = rf_gate_check(cand, checker, cl, g->min_confidence, &v, NULL)))
    goto out;
  if (!v.ok) {
    if (g->stats)
      g->stats->rejections++;
    snprintf(why, sizeof(why), "candidate refused by the gate (%s): %s", v.reason, v.detail);
    cb(0, NULL, why, arg);
    goto out;
  }
  char id[33];
  rf_fix_id(req->table_name, req->column_name, cl->fingerprint, cand->lambda_src, id);
  if ((cand->fix_id = rf_strdup(id)) == NULL) {
    rc = RF_ENOMEM;
    goto out;
  }
  rf_known_fix_t fix = {.fix_id = cand->fix_id,
                        .table_name = (char *)req->table_name,
                        .column_name = (char *)req->column_name,
                        .fingerprint = (char *)cl->fingerprint,
                        .lambda_src = cand->lambda_src,
                        .generator = cand->generator,
                        .reasoning = cand->reasoning,
                        .confidence = cand->confidence};
  if (g->fc && rf_fixcache_record(g->fc, &fix, (long long)cl->n) != 0)
    rf_log(RF_LOG_WARN, "synth", "cannot queue storing fix=%s", cand->fix_id);
  if (g->stats)
    g->stats->synth_fixes++;
  rf_log(RF_LOG_INFO, "synth", "fix found fix=%s table=%s column=%s fingerprint=%s rows=%zu "
         "family=%s confidence=%.2f tried=%zu rivals=%zu evidence_fixed=%zu/%zu", cand->fix_id,
         req->table_name, req->column_name, cl->fingerprint, cl->n, cand->pattern_type,
         cand->confidence, rep.tried, rep.rivals, rep.evidence_fixed, rep.evidence);
  cb(0, cand, NULL, arg);
  cand = NULL;
out:
  rf_fix_candidate_free(cand);
  rf_free(samples);
  rf_free(rows);
  rf_checker_free(checker);
  return rc;
}

static void destroy(void *self) { rf_free(self); }

const rf_fixgen_ops_t rf_fixgen_synth_ops = {"synth", propose, destroy};

void *rf_fixgen_synth_new(rf_fixcache_t *fc, double min_confidence, rf_model_stats_t *stats) {
  synth_gen_t *g = rf_calloc(1, sizeof(*g));
  if (g)
    *g = (synth_gen_t){fc, min_confidence, stats};
  return g;
}

/* ---- rectifyctl synth ------------------------------------------------------------------ */

int rf_synth_explain(const rf_config_t *cfg, const char *table_name, const char *column_name,
                     const char *input, size_t len, rf_buf_t *out, char *err, size_t errlen) {
  int rc = 0;
  cJSON **docs = NULL;
  rf_synth_sample_t *samples = NULL;
  size_t n = 0, cap = 0;
  rf_checker_t *checker = NULL;
  rf_fix_candidate_t *cand = NULL;
  rf_lambda_t *l = NULL;
  char why[1024];
  const rf_contract_t *k = rf_config_contract(cfg, table_name, column_name);
  if (k == NULL) {
    snprintf(err, errlen, "%s has no [column \"%s.%s\"] contract", cfg->path ? cfg->path : "the "
             "configuration", table_name, column_name);
    return RF_EINVAL;
  }
  if ((rc = rf_checker_new(k, &checker, why, sizeof(why)))) {
    snprintf(err, errlen, "the contract of %s.%s does not compile: %s", table_name, column_name,
             rc == RF_ENOMEM ? "out of memory" : why);
    return rc == RF_ENOMEM ? rc : RF_EINVAL;
  }
  size_t line = 0;
  for (const char *p = input, *e = input + len; p < e;) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    const char *le = nl ? nl : e;
    line++;
    const char *s = p, *t = le;
    trim(&s, &t);
    p = nl ? nl + 1 : e;
    if (s == t)
      continue; /* blank line */
    if (n == RF_SYNTH_MAX_SAMPLES) {
      snprintf(err, errlen, "line %zu: more than %d samples", line, RF_SYNTH_MAX_SAMPLES);
      rc = RF_ELIMIT;
      goto out;
    }
    rf_json_error_t je;
    cJSON *d = rf_json_parse(s, (size_t)(t - s), 32, &je);
    if (d == NULL) {
      snprintf(err, errlen, "line %zu: %s", line,
               je.status == RF_JSON_NOMEM ? "out of memory" : je.message);
      rc = je.status == RF_JSON_NOMEM ? RF_ENOMEM : RF_EPARSE;
      goto out;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      cJSON **nd = rf_realloc(docs, ncap * sizeof(*nd));
      rf_synth_sample_t *ns = nd ? rf_realloc(samples, ncap * sizeof(*ns)) : NULL;
      if (nd)
        docs = nd;
      if (ns == NULL) {
        cJSON_Delete(d);
        rc = RF_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
      }
      samples = ns;
      cap = ncap;
    }
    docs[n] = d;
    const cJSON *v = d, *row = NULL;
    if (cJSON_IsObject(d)) {
      v = cJSON_GetObjectItemCaseSensitive(d, "value");
      row = cJSON_GetObjectItemCaseSensitive(d, "row");
      if (v == NULL || (row && !cJSON_IsObject(row) && !cJSON_IsNull(row))) {
        snprintf(err, errlen, "line %zu: an object needs \"value\" (a string or null) and may have "
                 "\"row\" (an object)", line);
        n++;
        rc = RF_EPARSE;
        goto out;
      }
      if (cJSON_IsNull(row))
        row = NULL;
    }
    if (!cJSON_IsString(v) && !cJSON_IsNull(v)) {
      snprintf(err, errlen, "line %zu: a sample is a JSON string, null, or {\"value\":..., "
               "\"row\":{...}}", line);
      n++;
      rc = RF_EPARSE;
      goto out;
    }
    samples[n].value = cJSON_IsString(v) ? v->valuestring : NULL;
    samples[n].len = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    samples[n].row = row;
    n++;
  }
  if (n == 0) {
    snprintf(err, errlen, "no samples on standard input (one JSON string per line)");
    rc = RF_EINVAL;
    goto out;
  }
  rf_synth_column_t col = {table_name, column_name, k, checker};
  rf_synth_report_t rep;
  if ((rc = rf_synth_find(&col, samples, n, NULL, 0, &cand, &rep, why, sizeof(why)))) {
    snprintf(err, errlen, "%s", why);
    goto out;
  }
  rf_buf_puts(out, "{\"ok\":");
  rf_buf_puts(out, cand ? "true" : "false");
  rf_buf_puts(out, ",\"column\":");
  char tc[512];
  snprintf(tc, sizeof(tc), "%s.%s", table_name, column_name);
  rf_buf_json_str(out, tc, strlen(tc));
  if (cand == NULL) {
    rf_buf_puts(out, ",\"why\":");
    rf_buf_json_str(out, why, strlen(why));
  } else {
    rf_buf_puts(out, ",\"lambda\":");
    rf_buf_json_str(out, cand->lambda_src, strlen(cand->lambda_src));
    rf_buf_printf(out, ",\"confidence\":%.2f,\"family\":", cand->confidence);
    rf_buf_json_str(out, cand->pattern_type, strlen(cand->pattern_type));
    rf_buf_puts(out, ",\"reasoning\":");
    rf_buf_json_str(out, cand->reasoning, strlen(cand->reasoning));
  }
  rf_buf_printf(out, ",\"tried\":%zu,\"fitting\":%zu,\"rivals\":%zu", rep.tried, rep.fitting,
                rep.rivals);
  if (cand) {
    if ((rc = rf_lambda_compile(cand->lambda_src, strlen(cand->lambda_src), NULL, &l, why,
                                sizeof(why)))) {
      snprintf(err, errlen, "%s", rc == RF_ENOMEM ? "out of memory" : why);
      rc = rc == RF_ENOMEM ? RF_ENOMEM : RF_EINTERNAL;
      goto out;
    }
    rf_buf_puts(out, ",\"samples\":[");
    for (size_t i = 0; i < n; i++) {
      rf_lambda_result_t res;
      if ((rc = rf_lambda_eval(l, samples[i].value, samples[i].len, samples[i].row, &res))) {
        snprintf(err, errlen, "out of memory");
        goto out;
      }
      rf_buf_puts(out, i ? ",{\"value\":" : "{\"value\":");
      if (samples[i].value)
        rf_buf_json_str(out, samples[i].value, samples[i].len);
      else
        rf_buf_puts(out, "null");
      rf_buf_puts(out, ",\"output\":");
      if (res.ok && !res.is_none)
        rf_buf_json_str(out, res.value, res.value_len);
      else
        rf_buf_puts(out, "null");
      rf_buf_putc(out, '}');
      rf_lambda_result_clear(&res);
    }
    rf_buf_putc(out, ']');
  }
  rf_buf_puts(out, "}\n");
  if (!rf_buf_ok(out)) {
    snprintf(err, errlen, "out of memory");
    rc = RF_ENOMEM;
    goto out;
  }
  rc = cand ? 0 : 1;
out:
  rf_lambda_free(l);
  rf_fix_candidate_free(cand);
  for (size_t i = 0; i < n; i++)
    cJSON_Delete(docs[i]);
  rf_free(docs);
  rf_free(samples);
  rf_checker_free(checker);
  return rc;
}

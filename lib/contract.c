/* contract.c - the one validator of column contracts.
 *
 * Why one module: the gate proves a lambda on samples, apply checks every
 * repaired row, and the dashboard shows a human why a value is refused. If
 * each had its own idea of "a valid date", a value could pass the gate and
 * fail apply, or be shown as valid and refused. So dates are parsed by the
 * lambda runtime's strptime (what Python calls a valid date is what we call
 * one), patterns by its `re` (Python syntax, PCRE2 with limits), and numbers
 * are compared as decimal text, never through a double.
 *
 * A checker is compiled once per contract (pattern, strptime format, bounds)
 * and is then read-only, so apply's worker threads share it.
 */
#include "rectify/contract.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lambda/pyre.h"
#include "lambda/pytime.h"
#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/utf8.h"

enum ctype { C_DATE, C_TIMESTAMP, C_INTEGER, C_DECIMAL, C_BOOLEAN, C_EMAIL, C_ENUM, C_STRING };

static const char *const type_names[] = {"date",    "timestamp", "integer", "decimal",
                                         "boolean", "email",     "enum",    "string"};

/* A point in time: microseconds since 1970-01-01 (UTC when the value is aware,
 * as written when naive). */
typedef struct tpoint {
  long long us;
} tpoint_t;

struct rf_checker {
  enum ctype type;
  bool nullable;
  long max_length;
  rf_py_re_t *pattern;
  rf_py_strptime_fmt_t *fmt;
  char *format;
  char *min, *max;           /* numeric bounds as text */
  bool has_tmin, has_tmax;   /* date bounds */
  tpoint_t tmin, tmax;
  char **allowed;
  size_t n_allowed;
};

/* ---- numbers as text ----------------------------------------------------- */

/* -?[0-9]+ (integer) or -?[0-9]+(\.[0-9]+)? (decimal). */
static bool is_number(const char *s, size_t n, bool allow_fraction) {
  size_t i = 0;
  if (i < n && s[i] == '-')
    i++;
  size_t d = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == d)
    return false;
  if (i < n && s[i] == '.' && allow_fraction) {
    size_t f = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == f)
      return false;
  }
  return i == n;
}

/* Compares two numbers written as -?digits(.digits)? exactly: <0, 0, >0. */
static int cmp_magnitude(const char *a, size_t na, const char *b, size_t nb) {
  /* strip leading zeros of the integer parts */
  while (na > 1 && a[0] == '0' && a[1] != '.')
    a++, na--;
  while (nb > 1 && b[0] == '0' && b[1] != '.')
    b++, nb--;
  const char *da = memchr(a, '.', na), *db = memchr(b, '.', nb);
  size_t ia = da ? (size_t)(da - a) : na, ib = db ? (size_t)(db - b) : nb;
  if (ia != ib)
    return ia < ib ? -1 : 1;
  int c = memcmp(a, b, ia);
  if (c)
    return c < 0 ? -1 : 1;
  const char *fa = da ? da + 1 : "", *fb = db ? db + 1 : "";
  size_t la = da ? na - ia - 1 : 0, lb = db ? nb - ib - 1 : 0;
  for (size_t i = 0; i < la || i < lb; i++) {
    char x = i < la ? fa[i] : '0', y = i < lb ? fb[i] : '0';
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}

static bool is_zero(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != '0' && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

static int cmp_number(const char *a, size_t na, const char *b, size_t nb) {
  bool nega = na && a[0] == '-' && !is_zero(a, na), negb = nb && b[0] == '-' && !is_zero(b, nb);
  if (na && a[0] == '-')
    a++, na--;
  if (nb && b[0] == '-')
    b++, nb--;
  if (nega != negb)
    return nega ? -1 : 1;
  int c = cmp_magnitude(a, na, b, nb);
  return nega ? -c : c;
}

/* ---- dates ---------------------------------------------------------------- */

static long long days_from_civil(long long y, long long m, long long d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void to_point(const rf_py_datetime_t *dt, tpoint_t *p) {
  long long days = days_from_civil(dt->year, dt->month, dt->day);
  long long us = (((days * 24 + dt->hour) * 60 + dt->minute) * 60 + dt->second) * 1000000LL +
                 dt->microsecond;
  if (dt->aware)
    us -= (long long)dt->utcoffset_s * 1000000LL + dt->utcoffset_us;
  p->us = us;
}

static int cmp_point(const tpoint_t *a, const tpoint_t *b) {
  return a->us < b->us ? -1 : a->us > b->us;
}

/* ---- email ---------------------------------------------------------------- */

static bool atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool valid_email(const char *s, size_t n, const char **problem) {
  const char *at = memchr(s, '@', n);
  if (at == NULL)
    return *problem = "no '@'", false;
  size_t ll = (size_t)(at - s), dl = n - ll - 1;
  if (ll == 0 || ll > 64)
    return *problem = "the local part must be 1 to 64 characters", false;
  for (size_t i = 0; i < ll; i++) {
    if (s[i] == '.') {
      if (i == 0 || i == ll - 1 || s[i - 1] == '.')
        return *problem = "misplaced '.' in the local part", false;
    } else if (!atext((unsigned char)s[i])) {
      return *problem = "a character not allowed in the local part", false;
    }
  }
  const char *d = at + 1;
  if (dl == 0 || dl > 253)
    return *problem = "the domain must be 1 to 253 characters", false;
  size_t labels = 0, start = 0;
  for (size_t i = 0; i <= dl; i++) {
    if (i < dl && d[i] != '.') {
      unsigned char c = (unsigned char)d[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-'))
        return *problem = "a character not allowed in the domain", false;
      continue;
    }
    size_t len = i - start;
    if (len == 0 || len > 63)
      return *problem = "an empty or too long domain label", false;
    if (d[start] == '-' || d[i - 1] == '-')
      return *problem = "a domain label starts or ends with '-'", false;
    labels++;
    if (i == dl) { /* the top-level label: letters only, at least two */
      if (len < 2)
        return *problem = "the top-level domain is too short", false;
      for (size_t k = start; k < i; k++)
        if (!((d[k] >= 'a' && d[k] <= 'z') || (d[k] >= 'A' && d[k] <= 'Z')))
          return *problem = "the top-level domain must be letters", false;
    }
    start = i + 1;
  }
  if (labels < 2)
    return *problem = "the domain needs at least two labels", false;
  return true;
}

/* ---- compile -------------------------------------------------------------- */

static size_t utf8_chars(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

void rf_checker_free(rf_checker_t *k) {
  if (k == NULL)
    return;
  rf_py_re_free(k->pattern);
  rf_py_strptime_free(k->fmt);
  rf_free(k->format);
  rf_free(k->min);
  rf_free(k->max);
  for (size_t i = 0; i < k->n_allowed; i++)
    rf_free(k->allowed[i]);
  rf_free(k->allowed);
  rf_free(k);
}

static int date_bound(rf_checker_t *k, const char *text, const char *which, tpoint_t *p,
                      char *why, size_t whylen) {
  rf_py_datetime_t dt;
  rf_pyerr_t e = {0};
  if (rf_py_strptime_exec(k->fmt, text, strlen(text), &dt, &e) != 0) {
    snprintf(why, whylen, "%s '%s' does not parse with format '%s': %s", which, text, k->format,
             e.msg);
    return RF_EINVAL;
  }
  to_point(&dt, p);
  return 0;
}

int rf_checker_new(const rf_contract_t *c, rf_checker_t **out, char *why, size_t whylen) {
  int rc = RF_ENOMEM;
  rf_checker_t *k = rf_calloc(1, sizeof(*k));
  rf_pyerr_t e = {0};
  *out = NULL;
  if (k == NULL)
    goto err;
  size_t t;
  for (t = 0; t < sizeof(type_names) / sizeof(type_names[0]); t++)
    if (c->type && strcmp(c->type, type_names[t]) == 0)
      break;
  if (t == sizeof(type_names) / sizeof(type_names[0])) {
    snprintf(why, whylen, "unknown contract type '%s'", c->type ? c->type : "(none)");
    rc = RF_EINVAL;
    goto err;
  }
  k->type = (enum ctype)t;
  k->nullable = c->nullable;
  k->max_length = c->max_length;
  if (c->pattern) {
    rf_py_re_limits_t lim = {100000, 5000, 1 << 20, 4096};
    if (rf_py_re_compile(c->pattern, strlen(c->pattern), 0, &lim, &k->pattern, &e) != 0) {
      snprintf(why, whylen, "pattern: %s", e.msg);
      rc = e.type && strcmp(e.type, "MemoryError") == 0 ? RF_ENOMEM : RF_EINVAL;
      goto err;
    }
  }
  if (k->type == C_DATE || k->type == C_TIMESTAMP) {
    const char *f = c->format ? c->format : (k->type == C_DATE ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S");
    if ((k->format = rf_strdup(f)) == NULL)
      goto err;
    if (rf_py_strptime_compile(f, strlen(f), &k->fmt, &e) != 0) {
      snprintf(why, whylen, "format '%s': %s", f, e.msg);
      rc = e.type && strcmp(e.type, "MemoryError") == 0 ? RF_ENOMEM : RF_EINVAL;
      goto err;
    }
    if (c->min && (rc = date_bound(k, c->min, "min", &k->tmin, why, whylen)))
      goto err;
    if (c->max && (rc = date_bound(k, c->max, "max", &k->tmax, why, whylen)))
      goto err;
    k->has_tmin = c->min != NULL;
    k->has_tmax = c->max != NULL;
    rc = RF_ENOMEM;
  } else if (k->type == C_INTEGER || k->type == C_DECIMAL) {
    const char *b[2] = {c->min, c->max};
    for (int i = 0; i < 2; i++)
      if (b[i] && !is_number(b[i], strlen(b[i]), true)) {
        snprintf(why, whylen, "%s '%s' is not a decimal number (-?digits[.digits])",
                 i ? "max" : "min", b[i]);
        rc = RF_EINVAL;
        goto err;
      }
    if ((c->min && (k->min = rf_strdup(c->min)) == NULL) ||
        (c->max && (k->max = rf_strdup(c->max)) == NULL))
      goto err;
  }
  if (c->n_allowed) {
    if (k->type == C_BOOLEAN && c->n_allowed != 2) {
      snprintf(why, whylen, "boolean: `allowed` must give exactly two spellings (true, false)");
      rc = RF_EINVAL;
      goto err;
    }
    if ((k->allowed = rf_calloc(c->n_allowed, sizeof(char *))) == NULL)
      goto err;
    for (; k->n_allowed < c->n_allowed; k->n_allowed++)
      if ((k->allowed[k->n_allowed] = rf_strdup(c->allowed[k->n_allowed])) == NULL)
        goto err;
  } else if (k->type == C_ENUM) {
    snprintf(why, whylen, "enum: no `allowed` values");
    rc = RF_EINVAL;
    goto err;
  }
  *out = k;
  return 0;
err:
  if (rc == RF_ENOMEM)
    snprintf(why, whylen, "out of memory");
  rf_checker_free(k);
  return rc;
}

/* ---- check ---------------------------------------------------------------- */

static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (whylen)
    vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return RF_EVALUE;
}

int rf_checker_check(const rf_checker_t *k, const char *v, size_t n, char *why, size_t whylen) {
  rf_pyerr_t e = {0};
  if (v == NULL)
    return k->nullable ? 0 : refuse(why, whylen, "NULL is not allowed (not nullable)");
  if (!rf_utf8_valid(v, n) || memchr(v, '\0', n))
    return refuse(why, whylen, "not valid UTF-8 text");
  if (k->max_length > 0 && utf8_chars(v, n) > (size_t)k->max_length)
    return refuse(why, whylen, "longer than max_length %ld", k->max_length);
  switch (k->type) {
  case C_DATE:
  case C_TIMESTAMP: {
    rf_py_datetime_t dt;
    if (rf_py_strptime_exec(k->fmt, v, n, &dt, &e) != 0) {
      if (e.type && strcmp(e.type, "MemoryError") == 0)
        return RF_ENOMEM;
      return refuse(why, whylen, "not a %s in format '%s': %s", type_names[k->type], k->format,
                    e.msg);
    }
    tpoint_t p;
    to_point(&dt, &p);
    if (k->has_tmin && cmp_point(&p, &k->tmin) < 0)
      return refuse(why, whylen, "before the minimum");
    if (k->has_tmax && cmp_point(&p, &k->tmax) > 0)
      return refuse(why, whylen, "after the maximum");
    break;
  }
  case C_INTEGER:
  case C_DECIMAL:
    if (!is_number(v, n, k->type == C_DECIMAL))
      return refuse(why, whylen, "not %s", k->type == C_INTEGER ? "an integer (-?digits)"
                                                                : "a decimal (-?digits[.digits])");
    if (k->min && cmp_number(v, n, k->min, strlen(k->min)) < 0)
      return refuse(why, whylen, "below the minimum %s", k->min);
    if (k->max && cmp_number(v, n, k->max, strlen(k->max)) > 0)
      return refuse(why, whylen, "above the maximum %s", k->max);
    break;
  case C_BOOLEAN: {
    const char *t = k->n_allowed ? k->allowed[0] : "true", *f = k->n_allowed ? k->allowed[1] : "false";
    if (!(strlen(t) == n && memcmp(v, t, n) == 0) && !(strlen(f) == n && memcmp(v, f, n) == 0))
      return refuse(why, whylen, "not a boolean (%s or %s)", t, f);
    break;
  }
  case C_EMAIL: {
    const char *problem = NULL;
    if (!valid_email(v, n, &problem))
      return refuse(why, whylen, "not an email address: %s", problem);
    break;
  }
  case C_ENUM: {
    size_t i;
    for (i = 0; i < k->n_allowed; i++)
      if (strlen(k->allowed[i]) == n && memcmp(k->allowed[i], v, n) == 0)
        break;
    if (i == k->n_allowed)
      return refuse(why, whylen, "not one of the allowed values");
    break;
  }
  case C_STRING:
    break;
  }
  if (k->pattern) {
    rf_py_match_t m = {0};
    int r = rf_py_re_exec(k->pattern, v, n, RF_PY_RE_FULLMATCH, &m, &e);
    rf_py_match_clear(&m);
    if (r < 0) {
      if (e.type && strcmp(e.type, "MemoryError") == 0)
        return RF_ENOMEM;
      return refuse(why, whylen, "pattern check failed: %s", e.msg);
    }
    if (r == 0)
      return refuse(why, whylen, "does not match the pattern");
  }
  return 0;
}

int rf_contract_check(const rf_contract_t *c, const char *value, char *why, size_t whylen) {
  rf_checker_t *k;
  int rc = rf_checker_new(c, &k, why, whylen);
  if (rc)
    return rc;
  rc = rf_checker_check(k, value, value ? strlen(value) : 0, why, whylen);
  rf_checker_free(k);
  return rc;
}

void rf_contract_describe(const rf_contract_t *c, rf_buf_t *out) {
  const char *t = c->type ? c->type : "string";
  if (strcmp(t, "date") == 0 || strcmp(t, "timestamp") == 0)
    rf_buf_printf(out, "a %s written exactly in the strftime format %s", t,
                  c->format ? c->format : (strcmp(t, "date") == 0 ? "%Y-%m-%d"
                                                                  : "%Y-%m-%dT%H:%M:%S"));
  else if (strcmp(t, "integer") == 0)
    rf_buf_puts(out, "an integer written as digits with an optional leading '-' (no '+', "
                     "spaces, thousands separators or exponent)");
  else if (strcmp(t, "decimal") == 0)
    rf_buf_puts(out, "a decimal number written as digits with an optional leading '-' and "
                     "optional '.digits' (no '+', spaces, separators, units or exponent)");
  else if (strcmp(t, "boolean") == 0)
    rf_buf_printf(out, "a boolean written exactly as %s or %s",
                  c->n_allowed == 2 ? c->allowed[0] : "true",
                  c->n_allowed == 2 ? c->allowed[1] : "false");
  else if (strcmp(t, "email") == 0)
    rf_buf_puts(out, "an email address local@domain (no display name, spaces, quotes or "
                     "comments; the domain has a dot and an alphabetic top-level domain)");
  else if (strcmp(t, "enum") == 0)
    rf_buf_puts(out, "exactly one of the allowed values");
  else
    rf_buf_puts(out, "text");
  if (c->min || c->max) {
    if (c->min)
      rf_buf_printf(out, "; at least %s", c->min);
    if (c->max)
      rf_buf_printf(out, "; at most %s", c->max);
  }
  if (c->n_allowed && strcmp(t, "boolean") != 0) {
    rf_buf_puts(out, "; allowed values: ");
    for (size_t i = 0; i < c->n_allowed; i++)
      rf_buf_printf(out, "%s%s", i ? ", " : "", c->allowed[i]);
  }
  if (c->pattern)
    rf_buf_printf(out, "; the whole value matches the regular expression %s", c->pattern);
  if (c->max_length > 0)
    rf_buf_printf(out, "; at most %ld characters", c->max_length);
  rf_buf_puts(out, c->nullable ? "; may be None (NULL)" : "; never None (not nullable)");
}

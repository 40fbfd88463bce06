/* json.c - cJSON with exact numbers, strict input checks, and a canonical form.
 *
 * Why not cJSON alone: it turns every number into a double (a primary key
 * 9007199254740993 would silently become ...992 and two records would share an
 * identity), it stops at NUL bytes, and it accepts things PostgreSQL's jsonb
 * refuses (\u0000, huge exponents), which would make a COPY fail forever.
 *
 * How: one pre-scan over the text checks UTF-8, NULs, escapes, nesting depth
 * and number sizes, and records the source text of each number token in
 * document order. cJSON then builds the tree, and a pre-order walk (which
 * visits numbers in the same document order) attaches each token's text to
 * its node as valuestring, which cJSON_Delete frees with the rest.
 */
#include "rectify/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/utf8.h"

/* A number's canonical text has at most digits + |exponent| digits; keeping
 * that under 1000 keeps every canonical form re-parseable and far inside
 * PostgreSQL numeric's limits. */
#define RF_JSON_MAX_NUMBER_DIGITS 1000
#define RF_JSON_MAX_EXPONENT 300

typedef struct numtok {
  const char *p;
  size_t len;
} numtok_t;

typedef struct scan {
  numtok_t *nums;
  size_t n, cap;
} scan_t;

static int set_err(rf_json_error_t *err, rf_json_status_t st, size_t off, const char *msg) {
  if (err) {
    err->status = st;
    err->offset = off;
    snprintf(err->message, sizeof(err->message), "%s at byte %zu", msg, off);
  }
  return -1;
}

static int hex4(const char *p, unsigned int *out) {
  unsigned int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

/* Checks a number token's size; the grammar itself is left to cJSON. */
static int check_number(const char *p, size_t len) {
  size_t digits = 0, i = 0;
  long exp = 0;
  if (i < len && p[i] == '-')
    i++;
  for (; i < len && p[i] != 'e' && p[i] != 'E'; i++)
    if (p[i] >= '0' && p[i] <= '9')
      digits++;
  if (digits > RF_JSON_MAX_NUMBER_DIGITS)
    return -1;
  if (i < len) {
    i++;
    bool neg = false;
    if (i < len && (p[i] == '+' || p[i] == '-'))
      neg = p[i++] == '-';
    for (; i < len; i++) {
      exp = exp * 10 + (p[i] - '0');
      if (exp > RF_JSON_MAX_EXPONENT)
        return -1;
    }
    (void)neg;
  }
  return digits + (size_t)exp > RF_JSON_MAX_NUMBER_DIGITS ? -1 : 0;
}

static int prescan(const char *s, size_t len, int max_depth, scan_t *sc, rf_json_error_t *err) {
  int depth = 0;
  size_t i = 0;
  while (i < len) {
    char c = s[i];
    if (c == '"') {
      i++;
      while (i < len && s[i] != '"') {
        if (s[i] == '\\') {
          if (i + 1 >= len)
            return set_err(err, RF_JSON_SYNTAX, i, "unterminated escape");
          if (s[i + 1] == 'u') {
            unsigned int u, lo;
            if (i + 6 > len || hex4(s + i + 2, &u) < 0)
              return set_err(err, RF_JSON_SYNTAX, i, "bad \\u escape");
            if (u == 0)
              return set_err(err, RF_JSON_NUL, i, "\\u0000 escape");
            if (u >= 0xDC00 && u <= 0xDFFF)
              return set_err(err, RF_JSON_UTF8, i, "lone low surrogate escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
              if (i + 12 > len || s[i + 6] != '\\' || s[i + 7] != 'u' || hex4(s + i + 8, &lo) < 0 ||
                  lo < 0xDC00 || lo > 0xDFFF)
                return set_err(err, RF_JSON_UTF8, i, "lone high surrogate escape");
              i += 12;
              continue;
            }
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        i++;
      }
      if (i >= len)
        return set_err(err, RF_JSON_SYNTAX, len, "unterminated string");
      i++;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return set_err(err, RF_JSON_DEPTH, i, "nesting too deep");
    } else if (c == ']' || c == '}') {
      depth--;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i;
      while (i < len && (strchr("+-.eE", s[i]) != NULL || (s[i] >= '0' && s[i] <= '9')))
        i++;
      if (check_number(s + start, i - start) < 0)
        return set_err(err, RF_JSON_NUMBER, start, "number too large");
      if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 16;
        numtok_t *nums = rf_realloc(sc->nums, cap * sizeof(*nums));
        if (nums == NULL)
          return set_err(err, RF_JSON_NOMEM, start, "out of memory");
        sc->nums = nums;
        sc->cap = cap;
      }
      sc->nums[sc->n].p = s + start;
      sc->nums[sc->n].len = i - start;
      sc->n++;
      continue;
    }
    i++;
  }
  return 0;
}

/* Pre-order walk in document order, attaching number texts. */
static int attach_numbers(cJSON *node, const scan_t *sc, size_t *next) {
  for (; node != NULL; node = node->next) {
    if (cJSON_IsNumber(node)) {
      if (*next >= sc->n)
        return RF_EINTERNAL;
      const numtok_t *t = &sc->nums[(*next)++];
      node->valuestring = rf_memdup(t->p, t->len);
      if (node->valuestring == NULL)
        return RF_ENOMEM;
    } else if (node->child) {
      int rc = attach_numbers(node->child, sc, next);
      if (rc)
        return rc;
    }
  }
  return 0;
}

cJSON *rf_json_parse(const char *text, size_t len, int max_depth, rf_json_error_t *err) {
  scan_t sc = {0};
  cJSON *root = NULL;
  if (err)
    memset(err, 0, sizeof(*err));
  if (max_depth <= 0)
    max_depth = 64;
  const char *nul = memchr(text, '\0', len);
  if (nul != NULL) {
    set_err(err, RF_JSON_NUL, (size_t)(nul - text), "NUL byte");
    goto out;
  }
  if (!rf_utf8_valid(text, len)) {
    set_err(err, RF_JSON_UTF8, 0, "invalid UTF-8");
    goto out;
  }
  if (prescan(text, len, max_depth, &sc, err) < 0)
    goto out;
  const char *end = NULL;
  unsigned long failures = rf_alloc_failures();
  root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (root == NULL && rf_alloc_failures() != failures) {
    set_err(err, RF_JSON_NOMEM, 0, "out of memory");
    goto out;
  }
  if (root == NULL) {
    set_err(err, RF_JSON_SYNTAX, end ? (size_t)(end - text) : 0, "invalid JSON");
    goto out;
  }
  while (end && (size_t)(end - text) < len && strchr(" \t\r\n", *end) != NULL && *end)
    end++;
  if (end == NULL || (size_t)(end - text) != len) {
    set_err(err, RF_JSON_SYNTAX, end ? (size_t)(end - text) : 0, "trailing data after JSON");
    cJSON_Delete(root);
    root = NULL;
    goto out;
  }
  size_t next = 0;
  int rc = attach_numbers(root, &sc, &next);
  if (rc == 0 && next != sc.n)
    rc = RF_EINTERNAL;
  if (rc) {
    set_err(err, rc == RF_ENOMEM ? RF_JSON_NOMEM : RF_JSON_SYNTAX, 0,
            rc == RF_ENOMEM ? "out of memory" : "number tokens out of step");
    cJSON_Delete(root);
    root = NULL;
  }
out:
  rf_free(sc.nums);
  return root;
}

/* numeric's canonical text for a JSON number token: value = digits * 10^-scale
 * printed with max(scale, 0) fraction digits; no exponent; no negative zero. */
static void canonical_number(const char *p, size_t len, rf_buf_t *out) {
  char digits[RF_JSON_MAX_NUMBER_DIGITS + 2];
  size_t nd = 0, i = 0;
  long frac = 0, exp = 0;
  bool neg = false, in_frac = false;
  if (i < len && p[i] == '-') {
    neg = true;
    i++;
  }
  for (; i < len && p[i] != 'e' && p[i] != 'E'; i++) {
    if (p[i] == '.') {
      in_frac = true;
      continue;
    }
    if (nd < sizeof(digits) - 1)
      digits[nd++] = p[i];
    if (in_frac)
      frac++;
  }
  if (i < len) {
    bool eneg = false;
    i++;
    if (i < len && (p[i] == '+' || p[i] == '-'))
      eneg = p[i++] == '-';
    for (; i < len; i++)
      exp = exp * 10 + (p[i] - '0');
    if (eneg)
      exp = -exp;
  }
  long scale = frac - exp;
  bool zero = true;
  for (size_t k = 0; k < nd; k++)
    if (digits[k] != '0')
      zero = false;
  if (neg && !zero)
    rf_buf_putc(out, '-');
  if (scale <= 0) {
    size_t k = 0;
    while (k + 1 < nd && digits[k] == '0')
      k++;
    rf_buf_append(out, digits + k, nd - k);
    if (!(nd - k == 1 && digits[k] == '0'))
      for (long z = 0; z < -scale; z++)
        rf_buf_putc(out, '0');
    return;
  }
  /* scale > 0: integer part = digits[0 .. nd-scale), fraction = last scale digits. */
  long intlen = (long)nd - scale;
  if (intlen <= 0) {
    rf_buf_puts(out, "0.");
    for (long z = 0; z < -intlen; z++)
      rf_buf_putc(out, '0');
    rf_buf_append(out, digits, nd);
    return;
  }
  long k = 0;
  while (k + 1 < intlen && digits[k] == '0')
    k++;
  rf_buf_append(out, digits + k, (size_t)(intlen - k));
  rf_buf_putc(out, '.');
  rf_buf_append(out, digits + intlen, (size_t)scale);
}

typedef struct member {
  const cJSON *node;
  size_t index; /* document order */
} member_t;

static int keycmp(const void *a, const void *b) {
  const member_t *ma = a, *mb = b;
  const cJSON *x = ma->node, *y = mb->node;
  size_t lx = strlen(x->string), ly = strlen(y->string);
  if (lx != ly)
    return lx < ly ? -1 : 1;
  int c = memcmp(x->string, y->string, lx);
  if (c)
    return c;
  /* Stable on document order, so that "last wins" below sees the last one last. */
  return ma->index < mb->index ? -1 : (ma->index > mb->index ? 1 : 0);
}

static int canonical(const cJSON *v, rf_buf_t *out) {
  if (cJSON_IsNull(v)) {
    rf_buf_puts(out, "null");
  } else if (cJSON_IsTrue(v)) {
    rf_buf_puts(out, "true");
  } else if (cJSON_IsFalse(v)) {
    rf_buf_puts(out, "false");
  } else if (cJSON_IsNumber(v)) {
    if (v->valuestring) {
      canonical_number(v->valuestring, strlen(v->valuestring), out);
    } else {
      double d = v->valuedouble;
      if (d != (double)(long long)d)
        return RF_EINVAL;
      rf_buf_printf(out, "%lld", (long long)d);
    }
  } else if (cJSON_IsString(v)) {
    rf_buf_json_str(out, v->valuestring, strlen(v->valuestring));
  } else if (cJSON_IsArray(v)) {
    rf_buf_putc(out, '[');
    for (const cJSON *c = v->child; c; c = c->next) {
      if (c != v->child)
        rf_buf_putc(out, ',');
      int rc = canonical(c, out);
      if (rc)
        return rc;
    }
    rf_buf_putc(out, ']');
  } else if (cJSON_IsObject(v)) {
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next)
      n++;
    member_t *members = rf_malloc((n ? n : 1) * sizeof(*members));
    if (members == NULL)
      return RF_ENOMEM;
    n = 0;
    for (const cJSON *c = v->child; c; c = c->next, n++)
      members[n] = (member_t){c, n};
    qsort(members, n, sizeof(*members), keycmp);
    rf_buf_putc(out, '{');
    bool first = true;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
      /* Duplicate keys: jsonb keeps the last one. */
      if (i + 1 < n && strcmp(members[i].node->string, members[i + 1].node->string) == 0)
        continue;
      if (!first)
        rf_buf_putc(out, ',');
      first = false;
      const cJSON *m = members[i].node;
      rf_buf_json_str(out, m->string, strlen(m->string));
      rf_buf_putc(out, ':');
      rc = canonical(m, out);
    }
    rf_free(members);
    if (rc)
      return rc;
    rf_buf_putc(out, '}');
  } else {
    return RF_EINVAL;
  }
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

int rf_json_canonical(const cJSON *v, rf_buf_t *out) {
  int rc = canonical(v, out);
  if (rc == 0 && !rf_buf_ok(out))
    rc = RF_ENOMEM;
  return rc;
}

char *rf_json_canonicalize(const char *text, size_t len, rf_json_error_t *err) {
  cJSON *root = rf_json_parse(text, len, 0, err);
  if (root == NULL)
    return NULL;
  rf_buf_t b = RF_BUF_INIT;
  int rc = rf_json_canonical(root, &b);
  cJSON_Delete(root);
  if (rc) {
    rf_buf_free(&b);
    set_err(err, RF_JSON_NOMEM, 0, "out of memory");
    return NULL;
  }
  return rf_buf_steal(&b);
}

/* lexer.c - Python 3.11 tokens for one lambda expression.
 *
 * Why our own: the language is a subset of Python's expression grammar and
 * the whole source is a few KiB, so the lexer tokenises everything up front
 * into an array in the compile arena. It follows CPython's tokenizer where it
 * matters for expressions: implicit line joining inside brackets, backslash
 * continuation, comments, every string prefix, numeric literals with
 * underscores, and the escape rules of str literals (decoded here). Anything
 * that is not an expression token (';', '$', augmented assignment, ...) is left
 * to the parser to refuse with a position.
 */
#include <stdio.h>
#include <string.h>

#include "compile.h"
#include "rectify/alloc.h"

static const char *const ops3[] = {"**=", "//=", ">>=", "<<=", "...", NULL};
static const char *const ops2[] = {"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=",
                                   "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "<>",
                                   NULL};
static const char ops1[] = "+-*/%@&|^~<>()[]{},:.;=!";

static bool is_id_start(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_id_char(unsigned char ch) { return is_id_start(ch) || (ch >= '0' && ch <= '9'); }

typedef struct lexst {
  rf__cc_t *cc;
  const char *s;
  size_t n, i;
  uint32_t line, col; /* of s[i] */
} lexst_t;

static void adv(lexst_t *L, size_t k) {
  while (k-- && L->i < L->n) {
    unsigned char ch = (unsigned char)L->s[L->i++];
    if (ch == '\n') {
      L->line++;
      L->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
      L->col++;
    }
  }
}

static size_t digits(const char *s, size_t n, size_t i, int base, lexst_t *L, bool lead_us) {
  /* digit (["_"] digit)*, or with lead_us: (["_"] digit)+ */
  size_t start = i;
  for (;;) {
    if (i < n && s[i] == '_' && (i > start || lead_us)) {
      if (i + 1 >= n)
        goto bad;
      i++;
      int d = s[i];
      bool ok = base == 16 ? ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F'))
                           : (d >= '0' && d < '0' + (base > 10 ? 10 : base));
      if (!ok)
        goto bad;
    }
    if (i >= n)
      break;
    int d = s[i];
    bool ok = base == 16 ? ((d >= '0' && d <= '9') || (d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F'))
                         : (d >= '0' && d < '0' + (base > 10 ? 10 : base));
    if (!ok)
      break;
    i++;
  }
  return i;
bad:
  adv(L, i - L->i);
  rf__cc_fail(L->cc, CE_SYNTAX, L->line, L->col, "invalid decimal literal");
}

static void lex_number(lexst_t *L, rf__tok_t *t) {
  const char *s = L->s;
  size_t n = L->n, i = L->i;
  t->kind = TK_INT;
  if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1])) {
    char k = (char)(s[i + 1] | 0x20);
    int base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
    size_t j = digits(s, n, i + 2, base, L, true);
    if (j == i + 2) {
      adv(L, j - L->i);
      rf__cc_fail(L->cc, CE_SYNTAX, L->line, L->col,
                  "invalid %s literal", base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary");
    }
    i = j;
  } else {
    bool isfloat = false;
    size_t j = s[i] == '.' ? i : digits(s, n, i, 10, L, false);
    if (j < n && s[j] == '.') {
      isfloat = true;
      j++;
      if (j < n && s[j] >= '0' && s[j] <= '9')
        j = digits(s, n, j, 10, L, false);
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
      size_t k = j + 1;
      if (k < n && (s[k] == '+' || s[k] == '-'))
        k++;
      if (k < n && s[k] >= '0' && s[k] <= '9') {
        j = digits(s, n, k, 10, L, false);
        isfloat = true;
      } else {
        adv(L, j - L->i);
        rf__cc_fail(L->cc, CE_SYNTAX, L->line, L->col, "invalid decimal literal");
      }
    }
    if (!isfloat) {
      /* leading zeros: "0", "00", "0_0" are fine, "012" is not */
      if (s[i] == '0') {
        for (size_t k = i; k < j; k++)
          if (s[k] != '0' && s[k] != '_')
            rf__cc_fail(L->cc, CE_SYNTAX, L->line, L->col,
                        "leading zeros in decimal integer literals are not permitted; use an 0o "
                        "prefix for octal integers");
      }
    }
    if (isfloat)
      t->kind = TK_FLOAT;
    i = j;
  }
  if (i < n && (s[i] == 'j' || s[i] == 'J')) {
    t->kind = TK_IMAG;
    i++;
  }
  if (i < n && (is_id_char((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)) {
    adv(L, i - L->i);
    rf__cc_fail(L->cc, CE_SYNTAX, L->line, L->col, "invalid decimal literal");
  }
  t->p = s + L->i;
  t->len = i - L->i;
  adv(L, i - L->i);
}

/* At s[i] a string prefix+quote starts when the prefix letters are valid. */
static int string_prefix(const char *s, size_t n, size_t i, size_t *plen) {
  int fl = 0;
  size_t k = i;
  while (k < n && k - i < 3 && strchr("rRbBuUfF", s[k]) && s[k])
    k++;
  if (k >= n || (s[k] != '\'' && s[k] != '"'))
    return -1;
  char pre[4] = {0};
  for (size_t j = i; j < k; j++)
    pre[j - i] = (char)(s[j] | 0x20);
  static const char *const valid[] = {"", "r", "u", "f", "b", "fr", "rf", "br", "rb", NULL};
  int ok = 0;
  for (int v = 0; valid[v]; v++)
    if (strcmp(pre, valid[v]) == 0)
      ok = 1;
  if (!ok)
    return -1;
  if (strchr(pre, 'r'))
    fl |= SF_RAW;
  if (strchr(pre, 'f'))
    fl |= SF_F;
  if (strchr(pre, 'b'))
    fl |= SF_BYTES;
  *plen = k - i;
  return fl;
}

static void lex_string(lexst_t *L, rf__tok_t *t, int fl, size_t plen) {
  const char *s = L->s;
  size_t n = L->n;
  uint32_t sline = L->line, scol = L->col;
  adv(L, plen);
  char q = s[L->i];
  bool triple = L->i + 2 < n && s[L->i + 1] == q && s[L->i + 2] == q;
  adv(L, triple ? 3 : 1);
  t->kind = TK_STR;
  t->sflags = fl;
  t->body = s + L->i;
  t->bline = L->line;
  t->bcol = L->col;
  for (;;) {
    if (L->i >= n)
      rf__cc_fail(L->cc, CE_SYNTAX, sline, scol,
                  triple ? "unterminated triple-quoted string literal"
                         : "unterminated string literal");
    char ch = s[L->i];
    if (ch == '\\') {
      if (L->i + 1 >= n)
        rf__cc_fail(L->cc, CE_SYNTAX, sline, scol, "unterminated string literal");
      adv(L, 2);
      continue;
    }
    if (ch == '\n' && !triple)
      rf__cc_fail(L->cc, CE_SYNTAX, sline, scol, "unterminated string literal");
    if (ch == q) {
      if (!triple) {
        t->blen = (size_t)(s + L->i - t->body);
        adv(L, 1);
        break;
      }
      if (L->i + 2 < n && s[L->i + 1] == q && s[L->i + 2] == q) {
        t->blen = (size_t)(s + L->i - t->body);
        adv(L, 3);
        break;
      }
    }
    adv(L, 1);
  }
  t->line = sline;
  t->col = scol;
}

void rf__lex(rf__cc_t *cc, const char *src, size_t len, uint32_t line, uint32_t col,
             rf__tok_t **out, size_t *nout) {
  lexst_t L = {cc, src, len, 0, line, col};
  size_t cap = 16, n = 0;
  rf__tok_t *toks = rf__cc_alloc(cc, cap * sizeof(*toks));
  int nest = 0;
  for (;;) {
    if (n + 1 >= cap) {
      rf__tok_t *nt = rf__cc_alloc(cc, cap * 2 * sizeof(*toks));
      memcpy(nt, toks, n * sizeof(*toks));
      toks = nt;
      cap *= 2;
    }
    rf__tok_t *t = &toks[n];
    memset(t, 0, sizeof(*t));
    /* skip blanks, comments, continuations */
    while (L.i < L.n) {
      char ch = src[L.i];
      if (ch == ' ' || ch == '\t' || ch == '\f' || ch == '\r') {
        adv(&L, 1);
      } else if (ch == '#') {
        while (L.i < L.n && src[L.i] != '\n')
          adv(&L, 1);
      } else if (ch == '\\') {
        size_t k = L.i + 1;
        if (k < L.n && src[k] == '\r')
          k++;
        if (k < L.n && src[k] == '\n') {
          adv(&L, k + 1 - L.i);
        } else {
          rf__cc_fail(cc, CE_SYNTAX, L.line, L.col,
                      "unexpected character after line continuation character");
        }
      } else if (ch == '\n' && nest > 0) {
        adv(&L, 1);
      } else {
        break;
      }
    }
    t->line = L.line;
    t->col = L.col;
    t->p = src + L.i;
    if (L.i >= L.n) {
      t->kind = TK_END;
      n++;
      break;
    }
    unsigned char ch = (unsigned char)src[L.i];
    size_t plen;
    int fl;
    if (ch == '\n') {
      t->kind = TK_NEWLINE;
      t->len = 1;
      adv(&L, 1);
    } else if ((fl = string_prefix(src, L.n, L.i, &plen)) >= 0) {
      lex_string(&L, t, fl, plen);
      t->p = src + (t->body - src) - 1;
    } else if (is_id_start(ch)) {
      size_t k = L.i;
      while (k < L.n && (is_id_char((unsigned char)src[k])))
        k++;
      if (k < L.n && (unsigned char)src[k] >= 0x80)
        rf__cc_fail(cc, CE_CHECK, L.line, L.col, "non-ASCII identifiers are not allowed");
      t->kind = TK_NAME;
      t->len = k - L.i;
      adv(&L, t->len);
    } else if (ch >= 0x80) {
      rf__cc_fail(cc, CE_CHECK, L.line, L.col,
                  "non-ASCII character outside a string literal is not allowed");
    } else if ((ch >= '0' && ch <= '9') ||
               (ch == '.' && L.i + 1 < L.n && src[L.i + 1] >= '0' && src[L.i + 1] <= '9')) {
      lex_number(&L, t);
    } else {
      size_t k = 0;
      for (int j = 0; ops3[j] && !k; j++)
        if (L.n - L.i >= 3 && memcmp(src + L.i, ops3[j], 3) == 0)
          k = 3;
      for (int j = 0; ops2[j] && !k; j++)
        if (L.n - L.i >= 2 && memcmp(src + L.i, ops2[j], 2) == 0)
          k = 2;
      if (!k && strchr(ops1, ch) && ch)
        k = 1;
      if (!k)
        rf__cc_fail(cc, CE_SYNTAX, L.line, L.col, "invalid character '%c' (U+%04X)",
                    ch >= 0x20 && ch < 0x7f ? ch : '?', ch);
      t->kind = TK_OP;
      t->len = k;
      if (k == 1 && strchr("([{", ch)) {
        if (++nest > 200)
          rf__cc_fail(cc, CE_LIMIT, L.line, L.col, "too many nested parentheses");
      } else if (k == 1 && strchr(")]}", ch) && nest > 0) {
        nest--;
      }
      adv(&L, k);
    }
    n++;
  }
  *out = toks;
  *nout = n;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

void rf__decode_escapes(rf__cc_t *cc, const char *body, size_t n, bool raw, uint32_t line,
                        uint32_t col, rf_buf_t *b) {
  if (raw) {
    /* raw strings keep everything; "\r\n" inside triple quotes is normalised by
     * CPython's tokenizer to "\n" */
    for (size_t i = 0; i < n; i++)
      if (!(body[i] == '\r' && i + 1 < n && body[i + 1] == '\n'))
        rf_buf_putc(b, body[i]);
    return;
  }
  for (size_t i = 0; i < n;) {
    char ch = body[i];
    if (ch == '\r' && i + 1 < n && body[i + 1] == '\n') {
      i++;
      continue;
    }
    if (ch != '\\') {
      rf_buf_putc(b, ch);
      i++;
      continue;
    }
    if (i + 1 >= n) {
      rf_buf_putc(b, '\\');
      break;
    }
    char e = body[i + 1];
    i += 2;
    uint32_t cp;
    int w = 0;
    switch (e) {
    case '\n': continue;
    case '\r':
      if (i < n && body[i] == '\n')
        i++;
      continue;
    case '\\': rf_buf_putc(b, '\\'); continue;
    case '\'': rf_buf_putc(b, '\''); continue;
    case '"': rf_buf_putc(b, '"'); continue;
    case 'a': rf_buf_putc(b, '\a'); continue;
    case 'b': rf_buf_putc(b, '\b'); continue;
    case 'f': rf_buf_putc(b, '\f'); continue;
    case 'n': rf_buf_putc(b, '\n'); continue;
    case 'r': rf_buf_putc(b, '\r'); continue;
    case 't': rf_buf_putc(b, '\t'); continue;
    case 'v': rf_buf_putc(b, '\v'); continue;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
      cp = (uint32_t)(e - '0');
      for (int k = 0; k < 2 && i < n && body[i] >= '0' && body[i] <= '7'; k++)
        cp = cp * 8 + (uint32_t)(body[i++] - '0');
      goto put;
    case 'x': w = 2; break;
    case 'u': w = 4; break;
    case 'U': w = 8; break;
    case 'N': {
      if (i >= n || body[i] != '{')
        rf__cc_fail(cc, CE_SYNTAX, line, col, "(unicode error) 'unicodeescape' codec can't decode "
                                              "bytes: malformed \\N character escape");
      size_t k = i + 1;
      while (k < n && body[k] != '}')
        k++;
      if (k >= n || k == i + 1)
        rf__cc_fail(cc, CE_SYNTAX, line, col, "(unicode error) 'unicodeescape' codec can't decode "
                                              "bytes: malformed \\N character escape");
      long v = rf__u_from_name(body + i + 1, k - i - 1);
      if (v < 0)
        rf__cc_fail(cc, CE_SYNTAX, line, col, "(unicode error) 'unicodeescape' codec can't decode "
                                              "bytes: unknown Unicode character name");
      cp = (uint32_t)v;
      i = k + 1;
      goto put;
    }
    default:
      /* unknown escapes are kept (CPython warns) */
      rf_buf_putc(b, '\\');
      i--;
      continue;
    }
    cp = 0;
    for (int k = 0; k < w; k++) {
      int h = i < n ? hexval((unsigned char)body[i]) : -1;
      if (h < 0)
        rf__cc_fail(cc, CE_SYNTAX, line, col,
                    "(unicode error) 'unicodeescape' codec can't decode bytes: truncated \\%c%s "
                    "escape", e, w == 2 ? "XX" : w == 4 ? "XXXX" : "XXXXXXXX");
      cp = cp * 16 + (uint32_t)h;
      i++;
    }
    if (cp > 0x10FFFF)
      rf__cc_fail(cc, CE_SYNTAX, line, col,
                  "(unicode error) 'unicodeescape' codec can't decode bytes: illegal Unicode "
                  "character");
  put:
    if (cp >= 0xD800 && cp <= 0xDFFF)
      rf__cc_fail(cc, CE_CHECK, line, col, "lone surrogates are not supported in str literals");
    char u[4];
    int k = rf__utf8_put(u, cp);
    rf_buf_append(b, u, (size_t)k);
  }
}

rf__str_t *rf__decode_str(rf__cc_t *cc, const rf__tok_t *t) {
  rf_buf_t *b = &cc->sbuf; /* owned by cc: freed by the compile entry even on failure */
  rf_buf_reset(b);
  rf__decode_escapes(cc, t->body, t->blen, (t->sflags & SF_RAW) != 0, t->line, t->col, b);
  if (!rf_buf_ok(b))
    rf__cc_fail(cc, CE_NOMEM, t->line, t->col, "out of memory");
  rf__str_t *s = rf__cc_alloc(cc, sizeof(*s));
  char *p = rf__cc_alloc(cc, b->len + 1);
  if (b->len)
    memcpy(p, b->data, b->len);
  s->p = p;
  s->len = b->len;
  size_t ncp = rf_utf8_check(s->p, s->len);
  if (ncp == (size_t)-1)
    rf__cc_fail(cc, CE_SYNTAX, t->line, t->col, "invalid UTF-8 in string literal");
  s->ncp = ncp;
  return s;
}

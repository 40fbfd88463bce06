/* pyre.c - Python's `re` for str patterns, on PCRE2.
 *
 * Why a translator: PCRE2 and CPython's sre agree on most syntax but not on
 * all of it, and the lambda language promises CPython's results. Python
 * syntax is therefore parsed here, token by token, the way sre_parse does
 * (escapes, classes, groups, quantifiers, inline flags, verbose mode), and
 * re-emitted as an unambiguous PCRE2 pattern: literal code points become
 * \x{...}, \Z becomes \z, {,n} becomes {0,n}, \s gains \x1c-\x1f, verbose
 * whitespace and comments are dropped here rather than left to
 * PCRE2_EXTENDED (whose rules differ). Whatever Python rejects is rejected
 * here with re.error ("error") and, where practical, CPython's message and
 * position ("bad escape \e at position 0"); whatever PCRE2 would accept with
 * another meaning ((?<n>...), (?P>n), \p{L}, (*VERB), \K, ...) never reaches
 * it.
 *
 * Matching: PCRE2 with UTF (+UCP unless re.ASCII), ALT_CIRCUMFLEX (Python's
 * multiline ^ matches after a final newline), newline = LF, and a match
 * context carrying the match and depth limits; running out of either gives
 * LimitError. sub/split/findall iterate like _sre: after an empty match the
 * next match may not be empty at the same place (PCRE2_NOTEMPTY_ATSTART),
 * which is exactly Python 3.7's rule. PCRE2 allocates through rf_malloc (a
 * general context), so allocation-failure tests cover it too. A compiled
 * pattern is never written after compile: share it between threads freely.
 * No JIT (the daemon runs with MemoryDenyWriteExecute).
 *
 * Not supported (clean re.error instead): \N{NAME}, scoped (?a:...) / (?u:...)
 * / (?L...), non-ASCII group names, repeat counts above 65535.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pyre.h"

#include <pcre2.h>
#include <string.h>

#include "rectify/alloc.h"

struct rf_py_re {
  pcre2_code *code;
  pcre2_match_context *mctx;
  pcre2_general_context *gctx;
  int groups;
  size_t max_output;
};

static void *gc_malloc(size_t n, void *data) {
  (void)data;
  return rf_malloc(n);
}

static void gc_free(void *p, void *data) {
  (void)data;
  rf_free(p);
}

static int nomem(rf_pyerr_t *err) { return rf_pyerr_set(err, "MemoryError", "out of memory"); }

/* ---------------------------------------------------------------------- */
/* UTF-8 and error positions                                               */
/* ---------------------------------------------------------------------- */

static size_t u8_decode(const char *s, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] < 0x80 || n < 2) {
    *cp = u[0];
    return 1;
  }
  if ((u[0] & 0xE0) == 0xC0) {
    *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    return 2;
  }
  if ((u[0] & 0xF0) == 0xE0 && n >= 3) {
    *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    return 3;
  }
  if ((u[0] & 0xF8) == 0xF0 && n >= 4) {
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
          ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return 4;
  }
  *cp = u[0];
  return 1;
}

static size_t cp_index(const char *s, size_t byte_pos) {
  size_t c = 0;
  for (size_t i = 0; i < byte_pos; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* re.error(msg, pattern, pos): "msg at position P" plus "(line L, column C)"
 * when the source has a newline. byte_pos < 0: no position. */
static int re_error(rf_pyerr_t *err, const char *src, size_t len, long byte_pos, const char *msg) {
  if (byte_pos < 0)
    return rf_pyerr_set(err, "error", "%s", msg);
  size_t pos = cp_index(src, (size_t)byte_pos);
  if (memchr(src, '\n', len) == NULL)
    return rf_pyerr_set(err, "error", "%s at position %zu", msg, pos);
  size_t line = 1, last_nl = 0;
  bool seen = false;
  for (size_t i = 0; i < (size_t)byte_pos; i++) {
    if (src[i] == '\n') {
      line++;
      last_nl = i;
      seen = true;
    }
  }
  size_t col = seen ? pos - cp_index(src, last_nl) : pos + 1;
  return rf_pyerr_set(err, "error", "%s at position %zu (line %zu, column %zu)", msg, pos, line,
                      col);
}

/* ---------------------------------------------------------------------- */
/* Python pattern -> PCRE2 pattern                                        */
/* ---------------------------------------------------------------------- */

enum { IT_NONE, IT_AT, IT_ITEM, IT_REPEAT };

#define MAX_GROUPS 1000
#define MAX_NESTING 200

typedef struct tr {
  const char *p;
  size_t n, i;
  rf_buf_t *out;
  rf_pyerr_t *err;
  bool ascii;
  int last;         /* IT_* of the previous item */
  int groups;       /* capturing groups opened so far */
  /* group state: closed[g] once group g's ')' was seen */
  unsigned char closed[MAX_GROUPS + 1];
  char names[MAX_GROUPS + 1][33];
  /* open parentheses: verbose flag to restore, capturing group number */
  struct {
    bool verbose;
    int group;
    size_t pos; /* of the '(' */
  } stack[MAX_NESTING];
  int depth;
  bool verbose;
} tr_t;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_oct(char c) { return c >= '0' && c <= '7'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void emit_cp(tr_t *t, uint32_t cp) { rf_buf_printf(t->out, "\\x{%x}", cp); }

static int terr(tr_t *t, long pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int terr(tr_t *t, long pos, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return re_error(t->err, t->p, t->n, pos, msg);
}

/* Parses \x.. \u.... \U........ at t->i (pointing at the letter); returns
 * the code point or -1 with the error set. */
static long hex_escape(tr_t *t, size_t bs) {
  char c = t->p[t->i];
  int want = c == 'x' ? 2 : c == 'u' ? 4 : 8;
  size_t k = 0;
  uint32_t v = 0;
  while (k < (size_t)want && t->i + 1 + k < t->n && hexval(t->p[t->i + 1 + k]) >= 0) {
    v = v * 16 + (uint32_t)hexval(t->p[t->i + 1 + k]);
    k++;
  }
  if (k < (size_t)want)
    return terr(t, (long)bs, "incomplete escape \\%.*s", (int)(k + 1), t->p + t->i);
  if (c == 'U' && v > 0x10FFFF)
    return terr(t, (long)bs, "bad escape \\%.*s", (int)(k + 1), t->p + t->i);
  t->i += 1 + k;
  return (long)v;
}

/* \s differs: Python's str.isspace() includes \x1c-\x1f. */
static void emit_space_class(tr_t *t, bool negate, bool in_class) {
  if (t->ascii) {
    rf_buf_puts(t->out, negate ? "\\S" : "\\s");
    return;
  }
  if (in_class)
    rf_buf_puts(t->out, negate ? "\\S" : "\\s\\x{1c}-\\x{1f}");
  else
    rf_buf_puts(t->out, negate ? "[^\\s\\x{1c}-\\x{1f}]" : "[\\s\\x{1c}-\\x{1f}]");
}

/* An escape inside a character class (sre_parse._class_escape). */
static int class_escape(tr_t *t) {
  size_t bs = t->i;
  t->i++;
  if (t->i >= t->n)
    return terr(t, (long)bs, "bad escape (end of pattern)");
  char c = t->p[t->i];
  long cp = -1;
  switch (c) {
  case 'a': cp = 7; break;
  case 'b': cp = 8; break;
  case 'f': cp = 12; break;
  case 'n': cp = 10; break;
  case 'r': cp = 13; break;
  case 't': cp = 9; break;
  case 'v': cp = 11; break;
  case '\\': cp = '\\'; break;
  case 'd': case 'D': case 'w': case 'W':
    rf_buf_putc(t->out, '\\');
    rf_buf_putc(t->out, c);
    t->i++;
    return 0;
  case 's': case 'S':
    emit_space_class(t, c == 'S', true);
    t->i++;
    return 0;
  case 'x': case 'u': case 'U':
    cp = hex_escape(t, bs);
    if (cp < 0)
      return -1;
    emit_cp(t, (uint32_t)cp);
    return 0;
  case 'N':
    return terr(t, (long)bs, "\\N{...} escapes are not supported by rectify");
  default:
    break;
  }
  if (cp >= 0) {
    t->i++;
    emit_cp(t, (uint32_t)cp);
    return 0;
  }
  if (is_oct(c)) {
    size_t k = t->i;
    uint32_t v = 0;
    while (k < t->n && k < t->i + 3 && is_oct(t->p[k]))
      v = v * 8 + (uint32_t)(t->p[k++] - '0');
    if (v > 0377)
      return terr(t, (long)bs, "octal escape value \\%.*s outside of range 0-0o377",
                  (int)(k - t->i), t->p + t->i);
    t->i = k;
    emit_cp(t, v);
    return 0;
  }
  if (is_digit(c) || is_alpha(c))
    return terr(t, (long)bs, "bad escape \\%c", c);
  uint32_t u;
  size_t l = u8_decode(t->p + t->i, t->n - t->i, &u);
  t->i += l;
  emit_cp(t, u);
  return 0;
}

static int parse_class(tr_t *t) {
  size_t start = t->i;
  t->i++; /* '[' */
  rf_buf_putc(t->out, '[');
  if (t->i < t->n && t->p[t->i] == '^') {
    rf_buf_putc(t->out, '^');
    t->i++;
  }
  bool first = true;
  uint32_t prev_cp = 0;
  bool prev_is_cp = false;
  for (;;) {
    if (t->i >= t->n)
      return terr(t, (long)start, "unterminated character set");
    char c = t->p[t->i];
    if (c == ']' && !first)
      break;
    first = false;
    if (c == '\\') {
      size_t before = t->out->len;
      if (class_escape(t) < 0)
        return -1;
      /* Track a literal for range checks: \x{..} form only. */
      prev_is_cp = t->out->len > before + 3 && t->out->data[before + 1] == 'x';
      if (prev_is_cp)
        prev_cp = (uint32_t)strtoul(t->out->data + before + 3, NULL, 16);
      continue;
    }
    if (c == '-' && prev_is_cp && t->i + 1 < t->n && t->p[t->i + 1] != ']') {
      /* a range: check its order as sre_parse does */
      size_t dash = t->i;
      t->i++;
      uint32_t hi;
      size_t before = t->out->len;
      rf_buf_putc(t->out, '-');
      if (t->p[t->i] == '\\') {
        size_t esc_at = t->out->len;
        if (class_escape(t) < 0)
          return -1;
        if (!(t->out->len > esc_at + 3 && t->out->data[esc_at + 1] == 'x'))
          return terr(t, (long)(dash - 1), "bad character range");
        hi = (uint32_t)strtoul(t->out->data + esc_at + 3, NULL, 16);
      } else {
        size_t l = u8_decode(t->p + t->i, t->n - t->i, &hi);
        t->i += l;
        emit_cp(t, hi);
      }
      (void)before;
      if (hi < prev_cp) {
        /* Python names the range by its source text. */
        return terr(t, (long)(dash - 1), "bad character range %.*s", (int)(t->i - dash + 1),
                    t->p + dash - 1);
      }
      prev_is_cp = false;
      continue;
    }
    uint32_t u;
    size_t l = u8_decode(t->p + t->i, t->n - t->i, &u);
    t->i += l;
    emit_cp(t, u);
    prev_cp = u;
    prev_is_cp = true;
  }
  t->i++; /* ']' */
  rf_buf_putc(t->out, ']');
  return 0;
}

static int check_group_ref(tr_t *t, long group, long pos) {
  if (group <= t->groups && group >= 1) {
    if (!t->closed[group])
      return terr(t, pos - 1, "cannot refer to an open group"); /* at the backslash */
    return 0;
  }
  return terr(t, pos, "invalid group reference %ld", group);
}

/* An escape outside classes (sre_parse._escape). */
static int escape(tr_t *t) {
  size_t bs = t->i;
  t->i++;
  if (t->i >= t->n)
    return terr(t, (long)bs, "bad escape (end of pattern)");
  char c = t->p[t->i];
  long cp = -1;
  switch (c) {
  case 'a': cp = 7; break;
  case 'f': cp = 12; break;
  case 'n': cp = 10; break;
  case 'r': cp = 13; break;
  case 't': cp = 9; break;
  case 'v': cp = 11; break;
  case '\\': cp = '\\'; break;
  case 'A': case 'b': case 'B':
    rf_buf_putc(t->out, '\\');
    rf_buf_putc(t->out, c);
    t->i++;
    t->last = IT_AT;
    return 0;
  case 'Z':
    rf_buf_puts(t->out, "\\z");
    t->i++;
    t->last = IT_AT;
    return 0;
  case 'd': case 'D': case 'w': case 'W':
    rf_buf_putc(t->out, '\\');
    rf_buf_putc(t->out, c);
    t->i++;
    t->last = IT_ITEM;
    return 0;
  case 's': case 'S':
    emit_space_class(t, c == 'S', false);
    t->i++;
    t->last = IT_ITEM;
    return 0;
  case 'x': case 'u': case 'U':
    cp = hex_escape(t, bs);
    if (cp < 0)
      return -1;
    emit_cp(t, (uint32_t)cp);
    t->last = IT_ITEM;
    return 0;
  case 'N':
    return terr(t, (long)bs, "\\N{...} escapes are not supported by rectify");
  case '0': {
    size_t k = t->i + 1;
    uint32_t v = 0;
    while (k < t->n && k < t->i + 3 && is_oct(t->p[k]))
      v = v * 8 + (uint32_t)(t->p[k++] - '0');
    t->i = k;
    emit_cp(t, v);
    t->last = IT_ITEM;
    return 0;
  }
  default:
    break;
  }
  if (cp >= 0) {
    t->i++;
    emit_cp(t, (uint32_t)cp);
    t->last = IT_ITEM;
    return 0;
  }
  if (is_digit(c)) {
    size_t k = t->i + 1;
    if (k < t->n && is_digit(t->p[k])) {
      if (is_oct(c) && is_oct(t->p[k]) && k + 1 < t->n && is_oct(t->p[k + 1])) {
        uint32_t v = (uint32_t)((c - '0') * 64 + (t->p[k] - '0') * 8 + (t->p[k + 1] - '0'));
        if (v > 0377)
          return terr(t, (long)bs, "octal escape value \\%.3s outside of range 0-0o377",
                      t->p + t->i);
        t->i = k + 2;
        emit_cp(t, v);
        t->last = IT_ITEM;
        return 0;
      }
      k++;
    }
    long group = 0;
    for (size_t q = t->i; q < k; q++)
      group = group * 10 + (t->p[q] - '0');
    if (check_group_ref(t, group, (long)t->i) < 0)
      return -1;
    t->i = k;
    rf_buf_printf(t->out, "\\g{%ld}", group);
    t->last = IT_ITEM;
    return 0;
  }
  if (is_alpha(c))
    return terr(t, (long)bs, "bad escape \\%c", c);
  uint32_t u;
  size_t l = u8_decode(t->p + t->i, t->n - t->i, &u);
  t->i += l;
  emit_cp(t, u);
  t->last = IT_ITEM;
  return 0;
}

/* Is p[i..] a Python repeat "{m}", "{m,}", "{,n}", "{m,n}", "{,}"? Fills
 * the bounds (-1 = absent) and the end index. */
static bool brace_repeat(const char *p, size_t n, size_t i, long *lo, long *hi, size_t *end) {
  size_t k = i + 1;
  if (k < n && p[k] == '}')
    return false;
  long a = -1, b = -1;
  while (k < n && is_digit(p[k])) {
    a = (a < 0 ? 0 : a) * 10 + (p[k] - '0');
    if (a > 10000000000L)
      a = 10000000000L;
    k++;
  }
  bool comma = k < n && p[k] == ',';
  if (comma) {
    k++;
    while (k < n && is_digit(p[k])) {
      b = (b < 0 ? 0 : b) * 10 + (p[k] - '0');
      if (b > 10000000000L)
        b = 10000000000L;
      k++;
    }
  } else {
    b = a;
  }
  if (!(k < n && p[k] == '}'))
    return false;
  *lo = a;
  *hi = comma ? b : a;
  *end = k + 1;
  return true;
}

static bool is_ident_char(uint32_t c, bool first) {
  if (c == '_' || (c < 128 && is_alpha((char)c)))
    return true;
  if (!first && c < 128 && is_digit((char)c))
    return true;
  return c >= 128; /* non-ASCII identifiers: rejected later (PCRE2 names are ASCII) */
}

/* Reads a group name ending at `term`; returns its length or -1. */
static long read_name(tr_t *t, char term, size_t *name_at) {
  size_t k = t->i;
  while (k < t->n && t->p[k] != term)
    k++;
  *name_at = t->i;
  if (k >= t->n) {
    if (k == t->i)
      return terr(t, (long)t->i, "missing group name");
    return terr(t, (long)t->i, "missing %c, unterminated name", term);
  }
  if (k == t->i)
    return terr(t, (long)t->i, "missing group name");
  size_t len = k - t->i;
  bool ok = true;
  size_t q = t->i;
  bool first = true;
  bool ascii = true;
  while (q < k) {
    uint32_t c;
    q += u8_decode(t->p + q, k - q, &c);
    if (!is_ident_char(c, first))
      ok = false;
    if (c >= 128)
      ascii = false;
    first = false;
  }
  if (!ok)
    return terr(t, (long)t->i, "bad character in group name '%.*s'", (int)len, t->p + t->i);
  if (!ascii || len > 32)
    return terr(t, (long)t->i, "group name '%.*s' is not supported by rectify (ASCII, 32 chars)",
                (int)len, t->p + t->i);
  return (long)len;
}

static int find_name(const tr_t *t, const char *name, size_t len) {
  for (int g = 1; g <= t->groups; g++)
    if (strlen(t->names[g]) == len && memcmp(t->names[g], name, len) == 0)
      return g;
  return -1;
}

static int flag_bit(char c) {
  switch (c) {
  case 'a': return RF_PY_RE_ASCII;
  case 'i': return RF_PY_RE_IGNORECASE;
  case 'L': return RF_PY_RE_LOCALE;
  case 'm': return RF_PY_RE_MULTILINE;
  case 's': return RF_PY_RE_DOTALL;
  case 'u': return RF_PY_RE_UNICODE;
  case 'x': return RF_PY_RE_VERBOSE;
  default: return 0;
  }
}

static int open_group(tr_t *t, size_t pos, int capture, bool verbose_inside) {
  if (t->depth >= MAX_NESTING)
    return rf_pyerr_set(t->err, "LimitError", "regex nesting deeper than %d", MAX_NESTING);
  t->stack[t->depth].verbose = t->verbose;
  t->stack[t->depth].group = capture;
  t->stack[t->depth].pos = pos;
  t->depth++;
  t->verbose = verbose_inside;
  t->last = IT_NONE;
  return 0;
}

/* Handles "(?" constructs; t->i at '('. Leading global flags were taken
 * by translate() already: any other (?flags) is not at the start. */
static int paren_ext(tr_t *t) {
  size_t open = t->i;
  t->i += 2; /* "(?" */
  if (t->i >= t->n)
    return terr(t, (long)(t->i), "unexpected end of pattern");
  char c = t->p[t->i];
  if (c == '#') {
    size_t k = t->i;
    while (k < t->n && t->p[k] != ')')
      k++;
    if (k >= t->n)
      return terr(t, (long)open, "missing ), unterminated comment");
    t->i = k + 1;
    return 0; /* comments are not items: t->last unchanged */
  }
  if (c == ':' || c == '=' || c == '!' || c == '>') {
    t->i++;
    rf_buf_printf(t->out, "(?%c", c);
    return open_group(t, open, 0, t->verbose);
  }
  if (c == '<') {
    if (t->i + 1 < t->n && (t->p[t->i + 1] == '=' || t->p[t->i + 1] == '!')) {
      rf_buf_printf(t->out, "(?<%c", t->p[t->i + 1]);
      t->i += 2;
      return open_group(t, open, 0, t->verbose);
    }
    return terr(t, (long)(t->i - 1), "unknown extension ?<%.*s", t->i + 1 < t->n ? 1 : 0,
                t->p + t->i + 1);
  }
  if (c == 'P') {
    t->i++;
    if (t->i < t->n && t->p[t->i] == '<') {
      t->i++;
      size_t at;
      long len = read_name(t, '>', &at);
      if (len < 0)
        return -1;
      if (find_name(t, t->p + at, (size_t)len) > 0)
        return terr(t, (long)at, "redefinition of group name '%.*s' as group %d; was group %d",
                    (int)len, t->p + at, t->groups + 1, find_name(t, t->p + at, (size_t)len));
      if (t->groups >= MAX_GROUPS)
        return rf_pyerr_set(t->err, "LimitError", "more than %d groups", MAX_GROUPS);
      t->groups++;
      memcpy(t->names[t->groups], t->p + at, (size_t)len);
      t->names[t->groups][len] = '\0';
      t->i = at + (size_t)len + 1;
      rf_buf_printf(t->out, "(?<%s>", t->names[t->groups]);
      return open_group(t, open, t->groups, t->verbose);
    }
    if (t->i < t->n && t->p[t->i] == '=') {
      t->i++;
      size_t at;
      long len = read_name(t, ')', &at);
      if (len < 0)
        return -1;
      int g = find_name(t, t->p + at, (size_t)len);
      if (g < 0)
        return terr(t, (long)at, "unknown group name '%.*s'", (int)len, t->p + at);
      if (!t->closed[g])
        return terr(t, (long)at, "cannot refer to an open group");
      t->i = at + (size_t)len + 1;
      rf_buf_printf(t->out, "\\g{%d}", g);
      t->last = IT_ITEM;
      return 0;
    }
    if (t->i >= t->n)
      return terr(t, (long)t->i, "unexpected end of pattern");
    return terr(t, (long)(open + 1), "unknown extension ?P%.*s", 1, t->p + t->i);
  }
  if (c == '(') {
    /* conditional: (?(id/name)yes|no) */
    t->i++;
    size_t k = t->i;
    while (k < t->n && t->p[k] != ')')
      k++;
    if (k >= t->n)
      return terr(t, (long)t->i, "missing ), unterminated name");
    size_t len = k - t->i;
    if (len == 0)
      return terr(t, (long)t->i, "missing group name");
    bool digits = true;
    for (size_t q = t->i; q < k; q++)
      digits &= is_digit(t->p[q]);
    int g;
    if (digits) {
      long v = 0;
      for (size_t q = t->i; q < k && v < 100000; q++)
        v = v * 10 + (t->p[q] - '0');
      if (v == 0)
        return terr(t, (long)t->i, "bad group number");
      if (v > t->groups)
        return terr(t, (long)t->i, "invalid group reference %ld", v);
      g = (int)v;
    } else {
      g = find_name(t, t->p + t->i, len);
      if (g < 0)
        return terr(t, (long)t->i, "unknown group name '%.*s'", (int)len, t->p + t->i);
    }
    t->i = k + 1;
    rf_buf_printf(t->out, "(?(%d)", g);
    return open_group(t, open, 0, t->verbose);
  }
  /* flags: (?aiLmsux) global, (?imsx-imsx:...) scoped */
  size_t fstart = t->i;
  int add = 0, del = 0;
  while (t->i < t->n && flag_bit(t->p[t->i])) {
    add |= flag_bit(t->p[t->i]);
    t->i++;
  }
  if (t->i < t->n && t->p[t->i] == '-') {
    t->i++;
    if (t->i >= t->n || !flag_bit(t->p[t->i]))
      return terr(t, (long)t->i, "missing flag");
    while (t->i < t->n && flag_bit(t->p[t->i])) {
      int b = flag_bit(t->p[t->i]);
      if (b & (RF_PY_RE_ASCII | RF_PY_RE_LOCALE | RF_PY_RE_UNICODE))
        return terr(t, (long)t->i, "bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
      del |= b;
      t->i++;
    }
    if (t->i >= t->n || t->p[t->i] != ':')
      return terr(t, (long)t->i, "missing :");
  }
  if (t->i >= t->n)
    return terr(t, (long)t->i, "missing -, : or )");
  if (t->i == fstart && !del)
    return terr(t, (long)(fstart - 1), "unknown extension ?%.*s", 1, t->p + fstart);
  if (add & RF_PY_RE_LOCALE)
    return terr(t, (long)t->i, "bad inline flags: cannot use 'L' flag with a str pattern");
  if (t->p[t->i] == ')') {
    return terr(t, (long)open, "global flags not at the start of the expression");
  }
  if (t->p[t->i] != ':')
    return terr(t, (long)t->i, "missing -, : or )");
  if (add & (RF_PY_RE_ASCII | RF_PY_RE_UNICODE))
    return terr(t, (long)open, "scoped (?a:...) and (?u:...) flags are not supported by rectify");
  t->i++;
  rf_buf_puts(t->out, "(?");
  static const struct {
    int bit;
    char c;
  } pc[] = {{RF_PY_RE_IGNORECASE, 'i'}, {RF_PY_RE_MULTILINE, 'm'}, {RF_PY_RE_DOTALL, 's'}};
  for (size_t q = 0; q < 3; q++)
    if (add & pc[q].bit)
      rf_buf_putc(t->out, pc[q].c);
  bool any_del = false;
  for (size_t q = 0; q < 3; q++)
    if (del & pc[q].bit) {
      if (!any_del)
        rf_buf_putc(t->out, '-');
      any_del = true;
      rf_buf_putc(t->out, pc[q].c);
    }
  rf_buf_putc(t->out, ':');
  bool v = t->verbose;
  if (add & RF_PY_RE_VERBOSE)
    v = true;
  if (del & RF_PY_RE_VERBOSE)
    v = false;
  return open_group(t, open, 0, v);
}

static int repeat(tr_t *t, size_t qpos, size_t qend) {
  if (t->last == IT_NONE || t->last == IT_AT)
    return terr(t, (long)qpos, "nothing to repeat");
  if (t->last == IT_REPEAT)
    return terr(t, (long)qpos, "multiple repeat");
  (void)qend;
  return 0;
}

/* Translates the whole pattern; *global_flags receives leading (?flags). */
static int translate(tr_t *t, int *global_flags) {
  /* Leading global flags (several groups allowed, as sre_parse). */
  int gflags = 0;
  size_t i = 0;
  for (;;) {
    if (!(i + 2 < t->n && t->p[i] == '(' && t->p[i + 1] == '?'))
      break;
    size_t k = i + 2;
    int f = 0;
    while (k < t->n && flag_bit(t->p[k]))
      f |= flag_bit(t->p[k++]);
    if (k == i + 2 || k >= t->n || t->p[k] != ')')
      break;
    if (f & RF_PY_RE_LOCALE)
      return terr(t, (long)k, "bad inline flags: cannot use 'L' flag with a str pattern");
    gflags |= f;
    i = k + 1;
  }
  *global_flags = gflags;
  if ((gflags & RF_PY_RE_ASCII) && (gflags & RF_PY_RE_UNICODE))
    return terr(t, -1, "bad inline flags: flags 'a', 'u' and 'L' are incompatible");
  t->verbose = (gflags & RF_PY_RE_VERBOSE) != 0 || t->verbose;
  if (gflags & RF_PY_RE_ASCII)
    t->ascii = true;
  t->i = i;
  t->last = IT_NONE;
  while (t->i < t->n) {
    char c = t->p[t->i];
    if (t->verbose) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        t->i++;
        continue;
      }
      if (c == '#') {
        while (t->i < t->n && t->p[t->i] != '\n')
          t->i++;
        continue;
      }
    }
    size_t start = t->i;
    switch (c) {
    case '\\':
      if (escape(t) < 0)
        return -1;
      break;
    case '[':
      if (parse_class(t) < 0)
        return -1;
      t->last = IT_ITEM;
      break;
    case '(':
      if (t->i + 1 < t->n && t->p[t->i + 1] == '?') {
        if (paren_ext(t) < 0)
          return -1;
      } else {
        if (t->i + 1 < t->n && t->p[t->i + 1] == '*')
          return terr(t, (long)t->i + 1, "nothing to repeat");
        if (t->groups >= MAX_GROUPS)
          return rf_pyerr_set(t->err, "LimitError", "more than %d groups", MAX_GROUPS);
        t->groups++;
        t->i++;
        rf_buf_putc(t->out, '(');
        if (open_group(t, start, t->groups, t->verbose) < 0)
          return -1;
      }
      break;
    case ')':
      if (t->depth == 0)
        return terr(t, (long)t->i, "unbalanced parenthesis");
      t->depth--;
      t->verbose = t->stack[t->depth].verbose;
      if (t->stack[t->depth].group > 0)
        t->closed[t->stack[t->depth].group] = 1;
      t->i++;
      rf_buf_putc(t->out, ')');
      t->last = IT_ITEM;
      break;
    case '|':
      t->i++;
      rf_buf_putc(t->out, '|');
      t->last = IT_NONE;
      break;
    case '^':
    case '$':
      t->i++;
      rf_buf_putc(t->out, c);
      t->last = IT_AT;
      break;
    case '.':
      t->i++;
      rf_buf_putc(t->out, '.');
      t->last = IT_ITEM;
      break;
    case '*':
    case '+':
    case '?':
    case '{': {
      long lo = -1, hi = -1;
      size_t end = t->i + 1;
      if (c == '{' && !brace_repeat(t->p, t->n, t->i, &lo, &hi, &end)) {
        t->i++;
        rf_buf_puts(t->out, "\\{");
        t->last = IT_ITEM;
        break;
      }
      if (repeat(t, t->i, end) < 0)
        return -1;
      if (c == '{') {
        long min = lo < 0 ? 0 : lo;
        if (hi >= 0 && hi < min)
          return terr(t, (long)t->i + 1, "min repeat greater than max repeat");
        if (min >= 4294967295L || hi >= 4294967295L)
          return rf_pyerr_set(t->err, "OverflowError", "the repetition number is too large");
        if (hi >= 0 && hi < min)
          return terr(t, (long)t->i + 1, "min repeat greater than max repeat");
        if (min > 65535 || hi > 65535)
          return terr(t, (long)t->i + 1, "repeat counts above 65535 are not supported by rectify");
        if (hi < 0)
          rf_buf_printf(t->out, "{%ld,}", min);
        else
          rf_buf_printf(t->out, "{%ld,%ld}", min, hi);
      } else {
        rf_buf_putc(t->out, c);
      }
      t->i = end;
      if (t->i < t->n && (t->p[t->i] == '?' || t->p[t->i] == '+')) {
        rf_buf_putc(t->out, t->p[t->i]);
        t->i++;
      }
      t->last = IT_REPEAT;
      break;
    }
    default: {
      uint32_t u;
      size_t l = u8_decode(t->p + t->i, t->n - t->i, &u);
      t->i += l;
      if (u < 128 && (is_alpha((char)u) || is_digit((char)u) || u == '_'))
        rf_buf_putc(t->out, (char)u);
      else if (u < 128)
        emit_cp(t, u);
      else
        rf_buf_append(t->out, t->p + start, l);
      t->last = IT_ITEM;
      break;
    }
    }
    if (!rf_buf_ok(t->out))
      return nomem(t->err);
  }
  if (t->depth > 0)
    return terr(t, (long)t->stack[t->depth - 1].pos, "missing ), unterminated subpattern");
  return 0;
}

int rf_py_re_compile(const char *pat, size_t len, int flags, const rf_py_re_limits_t *lim,
                     rf_py_re_t **out, rf_pyerr_t *err) {
  *out = NULL;
  if (lim->max_pattern && len > lim->max_pattern)
    return rf_pyerr_set(err, "LimitError", "regex pattern of %zu bytes exceeds the limit of %zu",
                        len, lim->max_pattern);
  if (flags & RF_PY_RE_LOCALE)
    return rf_pyerr_set(err, "ValueError", "cannot use LOCALE flag with a str pattern");
  if ((flags & RF_PY_RE_ASCII) && (flags & RF_PY_RE_UNICODE))
    return rf_pyerr_set(err, "ValueError", "ASCII and UNICODE flags are incompatible");
  if (flags & ~(RF_PY_RE_IGNORECASE | RF_PY_RE_MULTILINE | RF_PY_RE_DOTALL | RF_PY_RE_UNICODE |
                RF_PY_RE_VERBOSE | RF_PY_RE_ASCII))
    return rf_pyerr_set(err, "ValueError", "unsupported regex flags 0x%x", (unsigned)flags);
  int rc = -1;
  rf_buf_t pcre_pat = RF_BUF_INIT;
  tr_t *t = rf_calloc(1, sizeof(*t));
  rf_py_re_t *re = rf_calloc(1, sizeof(*re));
  pcre2_compile_context *cctx = NULL;
  if (t == NULL || re == NULL) {
    rc = nomem(err);
    goto done;
  }
  t->p = pat;
  t->n = len;
  t->out = &pcre_pat;
  t->err = err;
  t->ascii = (flags & RF_PY_RE_ASCII) != 0;
  t->verbose = (flags & RF_PY_RE_VERBOSE) != 0;
  int gflags = 0;
  rf_buf_reserve(&pcre_pat, len * 2 + 16);
  if (translate(t, &gflags) < 0)
    goto done;
  if (!rf_buf_ok(&pcre_pat)) {
    rc = nomem(err);
    goto done;
  }
  flags |= gflags;
  if ((flags & RF_PY_RE_ASCII) && (flags & RF_PY_RE_UNICODE)) {
    rc = rf_pyerr_set(err, "ValueError", "ASCII and UNICODE flags are incompatible");
    goto done;
  }
  re->gctx = pcre2_general_context_create(gc_malloc, gc_free, NULL);
  if (re->gctx == NULL) {
    rc = nomem(err);
    goto done;
  }
  cctx = pcre2_compile_context_create(re->gctx);
  re->mctx = pcre2_match_context_create(re->gctx);
  if (cctx == NULL || re->mctx == NULL) {
    rc = nomem(err);
    goto done;
  }
  pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
  pcre2_set_match_limit(re->mctx, lim->match_limit ? lim->match_limit : 10000000);
  pcre2_set_depth_limit(re->mctx, lim->depth_limit ? lim->depth_limit : 10000);
  uint32_t opts = PCRE2_UTF | PCRE2_ALT_CIRCUMFLEX | PCRE2_NEVER_BACKSLASH_C;
  if (!(flags & RF_PY_RE_ASCII))
    opts |= PCRE2_UCP;
  if (flags & RF_PY_RE_IGNORECASE)
    opts |= PCRE2_CASELESS;
  if (flags & RF_PY_RE_MULTILINE)
    opts |= PCRE2_MULTILINE;
  if (flags & RF_PY_RE_DOTALL)
    opts |= PCRE2_DOTALL;
  int ecode;
  PCRE2_SIZE eoff;
  re->code = pcre2_compile((PCRE2_SPTR)pcre_pat.data, pcre_pat.len, opts, &ecode, &eoff, cctx);
  if (re->code == NULL) {
    if (ecode == PCRE2_ERROR_NOMEMORY || ecode == PCRE2_ERROR_HEAP_FAILED) {
      rc = nomem(err);
    } else if (ecode <= PCRE2_ERROR_UTF8_ERR1 && ecode >= PCRE2_ERROR_UTF8_ERR21) {
      rc = rf_pyerr_set(err, "ValueError", "regex pattern is not valid UTF-8");
    } else {
      PCRE2_UCHAR msg[200];
      pcre2_get_error_message(ecode, msg, sizeof(msg));
      rc = rf_pyerr_set(err, "error", "%s", (const char *)msg);
    }
    goto done;
  }
  uint32_t cap = 0;
  pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &cap);
  re->groups = (int)cap;
  re->max_output = lim->max_output;
  *out = re;
  re = NULL;
  rc = 0;
done:
  pcre2_compile_context_free(cctx);
  rf_py_re_free(re);
  rf_free(t);
  rf_buf_free(&pcre_pat);
  return rc;
}

void rf_py_re_free(rf_py_re_t *re) {
  if (re == NULL)
    return;
  pcre2_code_free(re->code);
  pcre2_match_context_free(re->mctx);
  pcre2_general_context_free(re->gctx);
  rf_free(re);
}

int rf_py_re_groups(const rf_py_re_t *re) { return re->groups; }

int rf_py_re_group_index(const rf_py_re_t *re, const char *name, size_t len) {
  char buf[64];
  if (len == 0 || len >= sizeof(buf) || memchr(name, '\0', len))
    return -1;
  memcpy(buf, name, len);
  buf[len] = '\0';
  int n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)buf);
  return n > 0 ? n : -1;
}

/* ---------------------------------------------------------------------- */
/* Matching                                                                */
/* ---------------------------------------------------------------------- */

/* One pcre2_match; 1 match, 0 none, -1 error. */
static int run_match(const rf_py_re_t *re, pcre2_match_data *md, const char *subj, size_t len,
                     size_t start, uint32_t opts, rf_pyerr_t *err) {
  int r = pcre2_match(re->code, (PCRE2_SPTR)subj, len, start, opts, md, re->mctx);
  if (r > 0)
    return 1;
  if (r == PCRE2_ERROR_NOMATCH)
    return 0;
  if (r == PCRE2_ERROR_MATCHLIMIT)
    return rf_pyerr_set(err, "LimitError", "regex match limit exceeded");
  if (r == PCRE2_ERROR_DEPTHLIMIT)
    return rf_pyerr_set(err, "LimitError", "regex depth limit exceeded");
  if (r == PCRE2_ERROR_HEAPLIMIT)
    return rf_pyerr_set(err, "LimitError", "regex heap limit exceeded");
  if (r == PCRE2_ERROR_NOMEMORY)
    return nomem(err);
  if (r <= PCRE2_ERROR_UTF8_ERR1 && r >= PCRE2_ERROR_UTF8_ERR21)
    return rf_pyerr_set(err, "ValueError", "regex subject is not valid UTF-8");
  PCRE2_UCHAR msg[200];
  pcre2_get_error_message(r, msg, sizeof(msg));
  return rf_pyerr_set(err, "LimitError", "regex match failed: %s", (const char *)msg);
}

static pcre2_match_data *new_md(const rf_py_re_t *re) {
  return pcre2_match_data_create_from_pattern(re->code, re->gctx);
}

int rf_py_re_exec(const rf_py_re_t *re, const char *subj, size_t len, enum rf_py_re_mode mode,
                  rf_py_match_t *m, rf_pyerr_t *err) {
  m->ngroups = 0;
  m->span = NULL;
  pcre2_match_data *md = new_md(re);
  if (md == NULL)
    return nomem(err);
  uint32_t opts = 0;
  if (mode == RF_PY_RE_MATCH)
    opts = PCRE2_ANCHORED;
  else if (mode == RF_PY_RE_FULLMATCH)
    opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED;
  int r = run_match(re, md, subj, len, 0, opts, err);
  if (r == 1) {
    long *span = rf_malloc(sizeof(long) * 2 * (size_t)(re->groups + 1));
    if (span == NULL) {
      r = nomem(err);
    } else {
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      uint32_t npairs = pcre2_get_ovector_count(md);
      for (int g = 0; g <= re->groups; g++) {
        bool set = (uint32_t)g < npairs && ov[2 * g] != PCRE2_UNSET;
        span[2 * g] = set ? (long)ov[2 * g] : -1;
        span[2 * g + 1] = set ? (long)ov[2 * g + 1] : -1;
      }
      m->ngroups = re->groups;
      m->span = span;
    }
  }
  pcre2_match_data_free(md);
  return r;
}

void rf_py_match_clear(rf_py_match_t *m) {
  rf_free(m->span);
  m->span = NULL;
  m->ngroups = 0;
}

/* Iterates the matches of re over subj like _sre's finditer/sub/split;
 * returns 1 with the match in md, 0 at the end, -1 on error. */
typedef struct iter {
  const rf_py_re_t *re;
  pcre2_match_data *md;
  const char *s;
  size_t n;
  size_t pos;
  bool must_advance;
  bool done;
} iter_t;

static int iter_next(iter_t *it, rf_pyerr_t *err) {
  if (it->done || it->pos > it->n)
    return 0;
  uint32_t opts = it->must_advance ? PCRE2_NOTEMPTY_ATSTART : 0;
  int r = run_match(it->re, it->md, it->s, it->n, it->pos, opts, err);
  if (r <= 0) {
    it->done = true;
    return r;
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it->md);
  it->must_advance = ov[1] == ov[0];
  it->pos = ov[1];
  return 1;
}

static int output_limit(const rf_py_re_t *re, size_t n, rf_pyerr_t *err) {
  if (re->max_output && n > re->max_output)
    return rf_pyerr_set(err, "LimitError", "regex result exceeds %zu bytes", re->max_output);
  return 0;
}

/* Replacement templates (sre_parse.parse_template). */
typedef struct tpl_piece {
  int group; /* -1: literal text in lit[off..off+len) */
  size_t off, len;
} tpl_piece_t;

typedef struct tpl {
  rf_buf_t lit;
  tpl_piece_t *pieces;
  size_t n, cap;
} tpl_t;

static bool tpl_add(tpl_t *t, int group, size_t off, size_t len) {
  if (group < 0 && t->n > 0 && t->pieces[t->n - 1].group < 0 &&
      t->pieces[t->n - 1].off + t->pieces[t->n - 1].len == off) {
    t->pieces[t->n - 1].len += len;
    return true;
  }
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 8;
    tpl_piece_t *np = rf_realloc(t->pieces, nc * sizeof(*np));
    if (np == NULL)
      return false;
    t->pieces = np;
    t->cap = nc;
  }
  t->pieces[t->n++] = (tpl_piece_t){group, off, len};
  return true;
}

static bool tpl_lit(tpl_t *t, const char *p, size_t n) {
  size_t off = t->lit.len;
  rf_buf_append(&t->lit, p, n);
  return rf_buf_ok(&t->lit) && tpl_add(t, -1, off, n);
}

static bool tpl_cp(tpl_t *t, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  }
  return tpl_lit(t, b, n);
}

static int tpl_parse(const rf_py_re_t *re, const char *r, size_t n, tpl_t *t, rf_pyerr_t *err) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && r[j] != '\\')
      j++;
    if (j > i && !tpl_lit(t, r + i, j - i))
      return nomem(err);
    i = j;
    if (i >= n)
      break;
    size_t bs = i;
    if (i + 1 >= n)
      return re_error(err, r, n, (long)bs, "bad escape (end of pattern)");
    char c = r[i + 1];
    i += 2;
    if (c == 'g') {
      if (i >= n || r[i] != '<')
        return re_error(err, r, n, (long)i, "missing <");
      i++;
      size_t k = i;
      while (k < n && r[k] != '>')
        k++;
      if (k >= n) {
        if (k == i)
          return re_error(err, r, n, (long)n, "missing group name");
        return re_error(err, r, n, (long)i, "missing >, unterminated name");
      }
      if (k == i)
        return re_error(err, r, n, (long)i, "missing group name");
      size_t len = k - i;
      bool digits = true, ident = true;
      for (size_t q = i; q < k; q++) {
        digits &= is_digit(r[q]);
        unsigned char uc = (unsigned char)r[q];
        bool ok = uc >= 128 || r[q] == '_' || is_alpha(r[q]) || (q > i && is_digit(r[q]));
        ident &= ok;
      }
      long group;
      if (ident) {
        group = rf_py_re_group_index(re, r + i, len);
        if (group < 0)
          return rf_pyerr_set(err, "IndexError", "unknown group name '%.*s'", (int)len, r + i);
      } else if (digits) {
        group = 0;
        for (size_t q = i; q < k && group < 1000000; q++)
          group = group * 10 + (r[q] - '0');
        if (group > re->groups) {
          char msg[80];
          snprintf(msg, sizeof(msg), "invalid group reference %ld", group);
          return re_error(err, r, n, (long)i, msg);
        }
      } else {
        char msg[300];
        snprintf(msg, sizeof(msg), "bad character in group name '%.*s'", (int)len, r + i);
        return re_error(err, r, n, (long)i, msg);
      }
      if (!tpl_add(t, (int)group, 0, 0))
        return nomem(err);
      i = k + 1;
      continue;
    }
    if (c == '0') {
      uint32_t v = 0;
      size_t k = i;
      while (k < n && k < i + 2 && is_oct(r[k]))
        v = v * 8 + (uint32_t)(r[k++] - '0');
      i = k;
      if (!tpl_cp(t, v & 0xff))
        return nomem(err);
      continue;
    }
    if (is_digit(c)) {
      size_t dstart = i - 1;
      if (i < n && is_digit(r[i])) {
        if (is_oct(c) && is_oct(r[i]) && i + 1 < n && is_oct(r[i + 1])) {
          uint32_t v = (uint32_t)((c - '0') * 64 + (r[i] - '0') * 8 + (r[i + 1] - '0'));
          if (v > 0377) {
            char msg[80];
            snprintf(msg, sizeof(msg), "octal escape value \\%.3s outside of range 0-0o377",
                     r + dstart);
            return re_error(err, r, n, (long)bs, msg);
          }
          i += 2;
          if (!tpl_cp(t, v))
            return nomem(err);
          continue;
        }
        i++;
      }
      long group = 0;
      for (size_t q = dstart; q < i; q++)
        group = group * 10 + (r[q] - '0');
      if (group > re->groups) {
        char msg[80];
        snprintf(msg, sizeof(msg), "invalid group reference %ld", group);
        return re_error(err, r, n, (long)dstart, msg);
      }
      if (!tpl_add(t, (int)group, 0, 0))
        return nomem(err);
      continue;
    }
    long cp = -1;
    switch (c) {
    case 'a': cp = 7; break;
    case 'b': cp = 8; break;
    case 'f': cp = 12; break;
    case 'n': cp = 10; break;
    case 'r': cp = 13; break;
    case 't': cp = 9; break;
    case 'v': cp = 11; break;
    case '\\': cp = '\\'; break;
    default: break;
    }
    if (cp >= 0) {
      if (!tpl_cp(t, (uint32_t)cp))
        return nomem(err);
      continue;
    }
    if (is_alpha(c)) {
      char msg[40];
      snprintf(msg, sizeof(msg), "bad escape \\%c", c);
      return re_error(err, r, n, (long)bs, msg);
    }
    /* Unknown non-letter escape: kept as is, backslash included. */
    if (!tpl_lit(t, r + bs, 2))
      return nomem(err);
  }
  return 0;
}

static void tpl_free(tpl_t *t) {
  rf_buf_free(&t->lit);
  rf_free(t->pieces);
}

int rf_py_re_sub(const rf_py_re_t *re, const char *repl, size_t repl_len, const char *subj,
                 size_t len, long count, rf_buf_t *out, rf_pyerr_t *err) {
  tpl_t t = {RF_BUF_INIT, NULL, 0, 0};
  pcre2_match_data *md = NULL;
  int rc = tpl_parse(re, repl, repl_len, &t, err);
  if (rc < 0)
    goto done;
  size_t base = out->len;
  size_t last = 0;
  if (count >= 0) {
    md = new_md(re);
    if (md == NULL) {
      rc = nomem(err);
      goto done;
    }
    iter_t it = {re, md, subj, len, 0, false, false};
    long n = 0;
    while (count == 0 || n < count) {
      int r = iter_next(&it, err);
      if (r < 0) {
        rc = -1;
        goto done;
      }
      if (r == 0)
        break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      rf_buf_append(out, subj + last, ov[0] - last);
      for (size_t k = 0; k < t.n; k++) {
        if (t.pieces[k].group < 0) {
          rf_buf_append(out, t.lit.data + t.pieces[k].off, t.pieces[k].len);
        } else {
          size_t g = (size_t)t.pieces[k].group;
          if (ov[2 * g] != PCRE2_UNSET)
            rf_buf_append(out, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        }
      }
      last = ov[1];
      n++;
      if (output_limit(re, out->len - base, err) < 0) {
        rc = -1;
        goto done;
      }
      if (!rf_buf_ok(out)) {
        rc = nomem(err);
        goto done;
      }
    }
  }
  rf_buf_append(out, subj + last, len - last);
  if (output_limit(re, out->len - base, err) < 0) {
    rc = -1;
    goto done;
  }
  rc = rf_buf_ok(out) ? 0 : nomem(err);
done:
  pcre2_match_data_free(md);
  tpl_free(&t);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Lists                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct lst {
  rf_py_strlist_t *l;
  size_t cap;
  size_t bytes;
} lst_t;

#define ITEM_OVERHEAD 16 /* bytes charged per item against max_output */

static int lst_push(const rf_py_re_t *re, lst_t *b, const char *p, size_t len, rf_pyerr_t *err) {
  b->bytes += len + ITEM_OVERHEAD;
  if (output_limit(re, b->bytes, err) < 0)
    return -1;
  if (b->l->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 8;
    struct rf_py_str *ni = rf_realloc(b->l->items, nc * sizeof(*ni));
    if (ni == NULL)
      return nomem(err);
    b->l->items = ni;
    b->cap = nc;
  }
  b->l->items[b->l->n].p = p;
  b->l->items[b->l->n].len = len;
  b->l->n++;
  return 0;
}

void rf_py_strlist_clear(rf_py_strlist_t *l) {
  rf_free(l->items);
  l->items = NULL;
  l->n = 0;
  l->tuple_width = 0;
}

int rf_py_re_split(const rf_py_re_t *re, const char *subj, size_t len, long maxsplit,
                   rf_py_strlist_t *out, rf_pyerr_t *err) {
  out->n = 0;
  out->items = NULL;
  out->tuple_width = 0;
  lst_t b = {out, 0, 0};
  pcre2_match_data *md = NULL;
  int rc = -1;
  size_t last = 0;
  if (maxsplit >= 0) {
    md = new_md(re);
    if (md == NULL) {
      rc = nomem(err);
      goto fail;
    }
    iter_t it = {re, md, subj, len, 0, false, false};
    long n = 0;
    while (maxsplit == 0 || n < maxsplit) {
      int r = iter_next(&it, err);
      if (r < 0)
        goto fail;
      if (r == 0)
        break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      if (lst_push(re, &b, subj + last, ov[0] - last, err) < 0)
        goto fail;
      for (int g = 1; g <= re->groups; g++) {
        bool set = ov[2 * g] != PCRE2_UNSET;
        if (lst_push(re, &b, set ? subj + ov[2 * g] : NULL, set ? ov[2 * g + 1] - ov[2 * g] : 0,
                     err) < 0)
          goto fail;
      }
      last = ov[1];
      n++;
    }
  }
  if (lst_push(re, &b, subj + last, len - last, err) < 0)
    goto fail;
  pcre2_match_data_free(md);
  return 0;
fail:
  pcre2_match_data_free(md);
  rf_py_strlist_clear(out);
  return rc;
}

int rf_py_re_findall(const rf_py_re_t *re, const char *subj, size_t len, rf_py_strlist_t *out,
                     rf_pyerr_t *err) {
  out->n = 0;
  out->items = NULL;
  out->tuple_width = re->groups > 1 ? (size_t)re->groups : 0;
  lst_t b = {out, 0, 0};
  pcre2_match_data *md = new_md(re);
  if (md == NULL)
    return nomem(err);
  iter_t it = {re, md, subj, len, 0, false, false};
  for (;;) {
    int r = iter_next(&it, err);
    if (r < 0)
      goto fail;
    if (r == 0)
      break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int g0 = re->groups == 0 ? 0 : 1;
    int g1 = re->groups == 0 ? 0 : re->groups;
    for (int g = g0; g <= g1; g++) {
      bool set = ov[2 * g] != PCRE2_UNSET;
      /* findall gives "" (not None) for a group that did not take part */
      if (lst_push(re, &b, set ? subj + ov[2 * g] : subj, set ? ov[2 * g + 1] - ov[2 * g] : 0,
                   err) < 0)
        goto fail;
    }
  }
  pcre2_match_data_free(md);
  return 0;
fail:
  pcre2_match_data_free(md);
  {
    size_t tw = out->tuple_width;
    rf_py_strlist_clear(out);
    out->tuple_width = tw;
  }
  return -1;
}

/* cluster_method.c - key-collision keys, the format view, vectors, embed plan.
 *
 * Why it looks like this:
 *  - Keys are computed for every row of every window, so the common case
 *    (ASCII) never leaves a byte loop: no ICU, no allocation beyond the
 *    caller's output buffer. Only a value with a non-ASCII byte goes through
 *    ICU (UTF-16, NFKD, drop combining marks, per-code-point lowercasing and
 *    classification), which is where accent folding must be right rather
 *    than fast; ICU tables, not a hand-written accent list.
 *  - fingerprint and ngram follow OpenRefine's keyers (FingerprintKeyer,
 *    NGramFingerprintKeyer) so that data teams recognise their clusters. Two
 *    deliberate differences, both documented in docs/clustering.md: every
 *    Unicode whitespace (newline included) separates tokens instead of the
 *    control-character rule removing \n, and an ngram key of a value shorter
 *    than n is the value itself instead of "", so "a" and "" stay apart.
 *  - The format view is what the merge stages key: numbers are data, the
 *    punctuation touching them is format. Without it "03/15/2024" and
 *    "15.03.2024" (or "$12.50" and "(12.50)") would share a fingerprint,
 *    and one fix cannot serve both.
 *  - The embed plan is a pure function on vectors so that it is tested and
 *    benchmarked without a model; average link because a fix must serve
 *    every member of a merged cluster and single link chains through
 *    intermediate variants (a ~ b ~ c with a and c far apart).
 */
#include "rectify/cluster_method.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "rectify/alloc.h"
#include "rectify/cluster.h"
#include "rectify/error.h"

/* ---- normalisation ------------------------------------------------------ */

static bool ascii_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Java's \p{Punct}: the ASCII punctuation and symbol characters. */
static bool ascii_punct(unsigned char c) {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
         (c >= 0x7b && c <= 0x7e);
}

static bool ascii_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool all_ascii(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] >= 0x80)
      return false;
  return true;
}

/* Appends the normalised tokens of v to out, each followed by sep ('\0' or
 * ' ' ...); returns the number of tokens, or -1 (RF_ENOMEM) on failure. */
static long normalize_ascii(const char *v, size_t len, rf_buf_t *out) {
  long tokens = 0;
  bool in_token = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (ascii_space(c)) {
      if (in_token) {
        rf_buf_putc(out, '\0');
        tokens++;
        in_token = false;
      }
      continue;
    }
    if (c < 0x20 || c == 0x7f || ascii_punct(c))
      continue;
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    rf_buf_putc(out, (char)c);
    in_token = true;
  }
  if (in_token) {
    rf_buf_putc(out, '\0');
    tokens++;
  }
  return rf_buf_ok(out) ? tokens : -1;
}

static long normalize_icu(const char *v, size_t len, rf_buf_t *out) {
  UErrorCode st = U_ZERO_ERROR;
  UChar *u = NULL, *d = NULL;
  long tokens = -1;
  int32_t ulen = 0, dlen;
  if (len > INT32_MAX / 4)
    goto done;
  /* At most one UTF-16 unit per input byte. */
  if ((u = rf_malloc((len + 1) * sizeof(UChar))) == NULL)
    goto done;
  u_strFromUTF8WithSub(u, (int32_t)len + 1, &ulen, v, (int32_t)len, 0xFFFD, NULL, &st);
  if (U_FAILURE(st))
    goto done;
  const UNormalizer2 *nfkd = unorm2_getNFKDInstance(&st);
  if (U_FAILURE(st))
    goto done;
  /* NFKD expands by at most 18x (U+FDFA); size for the common case, retry once. */
  int32_t dcap = ulen * 3 + 16;
  for (int attempt = 0; attempt < 2; attempt++) {
    if ((d = rf_malloc((size_t)dcap * sizeof(UChar))) == NULL)
      goto done;
    st = U_ZERO_ERROR;
    dlen = unorm2_normalize(nfkd, u, ulen, d, dcap, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR)
      break;
    rf_free(d);
    d = NULL;
    dcap = dlen + 1;
  }
  if (d == NULL || U_FAILURE(st))
    goto done;
  tokens = 0;
  bool in_token = false;
  for (int32_t i = 0; i < dlen;) {
    UChar32 c;
    U16_NEXT(d, i, dlen, c);
    if (u_isUWhiteSpace(c)) {
      if (in_token) {
        rf_buf_putc(out, '\0');
        tokens++;
        in_token = false;
      }
      continue;
    }
    int8_t type = u_charType(c);
    if (type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK || type == U_CONTROL_CHAR ||
        type == U_FORMAT_CHAR || u_ispunct(c) || (c < 0x80 && ascii_punct((unsigned char)c)))
      continue;
    c = u_tolower(c);
    char enc[U8_MAX_LENGTH];
    int32_t n = 0;
    UBool err = 0;
    U8_APPEND(enc, n, (int32_t)sizeof(enc), c, err);
    if (err)
      continue; /* a lone surrogate cannot be written as UTF-8 */
    rf_buf_append(out, enc, (size_t)n);
    in_token = true;
  }
  if (in_token) {
    rf_buf_putc(out, '\0');
    tokens++;
  }
  if (!rf_buf_ok(out))
    tokens = -1;
done:
  rf_free(u);
  rf_free(d);
  if (tokens < 0 && rf_buf_ok(out) && U_FAILURE(st)) {
    /* Not an allocation failure: ICU refused the text (it cannot with the
     * substitution character, but never loop or crash on it). Key the bytes. */
    return normalize_ascii(v, len, out);
  }
  if (tokens < 0)
    out->oom = true;
  return tokens;
}

static long normalize(const char *v, size_t len, rf_buf_t *out) {
  return all_ascii(v, len) ? normalize_ascii(v, len, out) : normalize_icu(v, len, out);
}

/* ---- sorting spans ------------------------------------------------------ */

typedef struct span {
  size_t off, len;
} span_t;

static int span_cmp(const void *x, const void *y, void *base) {
  const span_t *a = x, *b = y;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp((const char *)base + a->off, (const char *)base + b->off, n);
  if (c)
    return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

/* Sorts spans of out->data, then rewrites out from `start` as the distinct
 * spans joined by sep (sep 0: no separator). */
static void join_sorted(rf_buf_t *out, size_t start, span_t *s, size_t n, char sep) {
  if (!rf_buf_ok(out))
    return;
  /* Room for the joined copy first: appending from out->data must not move it. */
  size_t need = n;
  for (size_t i = 0; i < n; i++)
    need += s[i].len;
  if (!rf_buf_reserve(out, need))
    return;
  qsort_r(s, n, sizeof(*s), span_cmp, out->data);
  size_t scratch = out->len;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && span_cmp(&s[i - 1], &s[i], out->data) == 0)
      continue;
    if (sep && out->len > scratch)
      rf_buf_putc(out, sep);
    rf_buf_append(out, out->data + s[i].off, s[i].len);
  }
  if (!rf_buf_ok(out))
    return;
  size_t joined = out->len - scratch;
  memmove(out->data + start, out->data + scratch, joined);
  out->len = start + joined;
  out->data[out->len] = '\0';
}

#define SPANS_ON_STACK 64

int rf_cluster_fingerprint_key(const char *v, size_t len, rf_buf_t *out) {
  if (v == NULL) {
    rf_buf_puts(out, RF_CLUSTER_NULL_KEY);
    return rf_buf_ok(out) ? 0 : RF_ENOMEM;
  }
  size_t start = out->len;
  long ntok = normalize(v, len, out);
  if (ntok < 0)
    return RF_ENOMEM;
  span_t stack[SPANS_ON_STACK], *s = stack;
  if ((size_t)ntok > SPANS_ON_STACK && (s = rf_malloc((size_t)ntok * sizeof(*s))) == NULL) {
    out->oom = true;
    return RF_ENOMEM;
  }
  size_t k = 0, off = start;
  for (size_t i = start; i < out->len; i++)
    if (out->data[i] == '\0') {
      s[k++] = (span_t){off, i - off};
      off = i + 1;
    }
  if (k > 0) {
    join_sorted(out, start, s, k, ' ');
  } else {
    rf_buf_puts(out, ""); /* an empty key: data allocated and terminated */
    if (rf_buf_ok(out))
      out->data[out->len = start] = '\0';
  }
  if (s != stack)
    rf_free(s);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

int rf_cluster_ngram_key(const char *v, size_t len, unsigned n, rf_buf_t *out) {
  if (v == NULL) {
    rf_buf_puts(out, RF_CLUSTER_NULL_KEY);
    return rf_buf_ok(out) ? 0 : RF_ENOMEM;
  }
  if (n < RF_CLUSTER_NGRAM_MIN || n > RF_CLUSTER_NGRAM_MAX)
    return RF_EINVAL;
  size_t start = out->len;
  if (normalize(v, len, out) < 0)
    return RF_ENOMEM;
  /* Drop the token terminators: n-grams run across words. */
  size_t w = start;
  for (size_t i = start; i < out->len; i++)
    if (out->data[i] != '\0')
      out->data[w++] = out->data[i];
  out->len = w;
  rf_buf_putc(out, '\0'); /* keeps data non-NULL and terminated */
  if (!rf_buf_ok(out))
    return RF_ENOMEM;
  out->len = w;
  /* Code point starts. */
  size_t cps = 0;
  for (size_t i = start; i < w; i++)
    cps += ((unsigned char)out->data[i] & 0xC0) != 0x80;
  if (cps < n)
    return 0; /* shorter than one gram: the normalised text is the key */
  size_t ngrams = cps - n + 1;
  span_t stack[SPANS_ON_STACK], *s = stack;
  size_t *cp = NULL;
  if ((ngrams > SPANS_ON_STACK && (s = rf_malloc(ngrams * sizeof(*s))) == NULL) ||
      (cp = rf_malloc((cps + 1) * sizeof(*cp))) == NULL) {
    if (s != stack)
      rf_free(s);
    out->oom = true;
    return RF_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = start; i < w; i++)
    if (((unsigned char)out->data[i] & 0xC0) != 0x80)
      cp[k++] = i;
  cp[cps] = w;
  for (size_t g = 0; g < ngrams; g++)
    s[g] = (span_t){cp[g], cp[g + n] - cp[g]};
  join_sorted(out, start, s, ngrams, 0);
  rf_free(cp);
  if (s != stack)
    rf_free(s);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

static int shape_key(const rf_cluster_method_t *m, const char *v, size_t len, rf_buf_t *out) {
  (void)m;
  rf_shape_fingerprint(v, len, out);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

static int fingerprint_key(const rf_cluster_method_t *m, const char *v, size_t len,
                           rf_buf_t *out) {
  (void)m;
  return rf_cluster_fingerprint_key(v, len, out);
}

static int ngram_key(const rf_cluster_method_t *m, const char *v, size_t len, rf_buf_t *out) {
  return rf_cluster_ngram_key(v, len, m->n, out);
}

int rf_cluster_method_init(rf_cluster_method_t *m, const char *name, unsigned n) {
  if (strcmp(name, "shape") == 0 || strcmp(name, "fingerprint") == 0) {
    if (n != 0)
      return RF_ERANGE;
    bool shape = name[0] == 's';
    *m = (rf_cluster_method_t){shape ? "shape" : "fingerprint",
                               shape ? RF_CLUSTER_SHAPE : RF_CLUSTER_FINGERPRINT,
                               shape ? shape_key : fingerprint_key, 0};
    return 0;
  }
  if (strcmp(name, "ngram") == 0) {
    if (n == 0)
      n = RF_CLUSTER_NGRAM_DEFAULT;
    if (n < RF_CLUSTER_NGRAM_MIN || n > RF_CLUSTER_NGRAM_MAX)
      return RF_ERANGE;
    *m = (rf_cluster_method_t){"ngram", RF_CLUSTER_NGRAM, ngram_key, n};
    return 0;
  }
  return RF_ENOTFOUND;
}

/* ---- the format view ---------------------------------------------------- */

static bool group_sep(unsigned char c) { return c == ',' || c == '.' || c == '\''; }

/* t[i..i+3] is a separator and exactly three digits. */
static bool group_at(const unsigned char *t, size_t m, size_t i, unsigned char sep) {
  return i + 4 <= m && t[i] == sep && ascii_digit(t[i + 1]) && ascii_digit(t[i + 2]) &&
         ascii_digit(t[i + 3]) && (i + 4 == m || !ascii_digit(t[i + 4]));
}

/* The skeleton of one numeric token: digit runs become '0', other bytes
 * stay, and digit grouping ("1,234,567", "1.234,56") joins its run. */
static void skeleton(const unsigned char *t, size_t m, rf_buf_t *out) {
  size_t i = 0;
  while (i < m) {
    if (!ascii_digit(t[i])) {
      rf_buf_putc(out, (char)t[i++]);
      continue;
    }
    size_t j = i;
    while (j < m && ascii_digit(t[j]))
      j++;
    size_t end = j;
    if (j - i <= 3 && j < m && group_sep(t[j])) {
      unsigned char sep = t[j];
      size_t k = j, groups = 0;
      while (group_at(t, m, k, sep)) {
        groups++;
        k += 4;
      }
      bool decimal = k + 1 < m && (t[k] == '.' || t[k] == ',') && t[k] != sep &&
                     ascii_digit(t[k + 1]);
      if (groups >= 2 || (groups == 1 && decimal))
        end = k;
    }
    /* Length class: 1-2 digits (day, month, cents, small counts) write "0",
     * longer runs and grouped numbers "00", so a year's position is format:
     * "03/15/2024" -> "0/0/00", "2024/03/15" -> "00/0/0", "03/15/24" -> "0/0/0". */
    rf_buf_puts(out, end - i <= 2 ? "0" : "00");
    i = end;
  }
}

int rf_cluster_format_view(const char *v, size_t len, rf_buf_t *numbers, rf_buf_t *text) {
  const unsigned char *u = (const unsigned char *)v;
  bool first = true;
  size_t i = 0;
  while (i < len) {
    if (!ascii_digit(u[i]) && !ascii_punct(u[i])) {
      rf_buf_putc(text, (char)u[i++]);
      continue;
    }
    size_t j = i;
    bool digit = false;
    while (j < len && (ascii_digit(u[j]) || ascii_punct(u[j])))
      digit |= ascii_digit(u[j++]);
    if (!digit) {
      rf_buf_append(text, u + i, j - i);
    } else {
      if (!first)
        rf_buf_putc(numbers, ' ');
      first = false;
      skeleton(u + i, j - i, numbers);
      rf_buf_putc(text, ' ');
    }
    i = j;
  }
  /* Both are terminated even when empty. */
  rf_buf_puts(numbers, "");
  rf_buf_puts(text, "");
  return rf_buf_ok(numbers) && rf_buf_ok(text) ? 0 : RF_ENOMEM;
}

int rf_cluster_folded_shape(const rf_cluster_method_t *m, const char *v, size_t len,
                            rf_buf_t *scratch, rf_buf_t *out) {
  if (v == NULL) {
    rf_buf_puts(out, RF_CLUSTER_NULL_KEY);
    return rf_buf_ok(out) ? 0 : RF_ENOMEM;
  }
  rf_buf_reset(scratch);
  bool all_space = m->kind == RF_CLUSTER_NGRAM;
  size_t a = 0, b = len;
  while (a < b && ascii_space((unsigned char)v[a]))
    a++;
  while (b > a && ascii_space((unsigned char)v[b - 1]))
    b--;
  for (size_t i = a; i < b; i++) {
    unsigned char c = (unsigned char)v[i];
    if (all_space && ascii_space(c))
      continue;
    rf_buf_putc(scratch, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  rf_buf_puts(scratch, "");
  if (!rf_buf_ok(scratch))
    return RF_ENOMEM;
  rf_shape_fingerprint(scratch->data, scratch->len, out);
  return rf_buf_ok(out) ? 0 : RF_ENOMEM;
}

int rf_cluster_format_key(const rf_cluster_method_t *m, const char *v, size_t len,
                          rf_buf_t *scratch, rf_buf_t *out) {
  if (v == NULL) {
    rf_buf_puts(out, RF_CLUSTER_NULL_KEY);
    return rf_buf_ok(out) ? 0 : RF_ENOMEM;
  }
  rf_buf_reset(scratch);
  int rc = rf_cluster_format_view(v, len, out, scratch);
  if (rc)
    return rc;
  rf_buf_putc(out, '|');
  if (!rf_buf_ok(out))
    return RF_ENOMEM;
  /* The method keys the text part; an empty text keys as "" (not <empty>). */
  if (scratch->len == 0 && m->kind == RF_CLUSTER_SHAPE)
    return 0;
  return m->key(m, scratch->data, scratch->len, out);
}

/* ---- vectors ------------------------------------------------------------ */

static uint32_t fnv1a(const unsigned char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

static void vector_add(float *out, size_t dim, uint32_t h) {
  out[h % dim] += (h & 0x80000000u) ? -1.0f : 1.0f;
}

void rf_cluster_vector(const char *v, size_t len, float *out, size_t dim) {
  if (v == NULL) {
    v = RF_CLUSTER_NULL_KEY;
    len = strlen(v);
  }
  for (size_t i = 0; i < dim; i++)
    out[i] = 0.0f;
  /* The framed text " " + lower(v) + " ", one trigram at a time. */
  size_t total = len + 2;
  unsigned char w[3];
#define FRAMED(i)                                                                              \
  ((i) == 0 || (i) == total - 1                                                                \
       ? (unsigned char)' '                                                                    \
       : (unsigned char)((v[(i)-1] >= 'A' && v[(i)-1] <= 'Z') ? v[(i)-1] - 'A' + 'a' : v[(i)-1]))
  if (total < 3) {
    w[0] = FRAMED(0);
    w[1] = FRAMED(1);
    vector_add(out, dim, fnv1a(w, 2));
  } else {
    for (size_t i = 0; i + 3 <= total; i++) {
      w[0] = FRAMED(i);
      w[1] = FRAMED(i + 1);
      w[2] = FRAMED(i + 2);
      vector_add(out, dim, fnv1a(w, 3));
    }
  }
#undef FRAMED
  double norm = 0;
  for (size_t i = 0; i < dim; i++)
    norm += (double)out[i] * out[i];
  if (norm > 0) {
    norm = sqrt(norm);
    for (size_t i = 0; i < dim; i++)
      out[i] = (float)(out[i] / norm);
  }
}

double rf_cluster_cosine(const float *a, const float *b, size_t dim) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < dim; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  if (aa == 0 || bb == 0)
    return 0;
  return ab / (sqrt(aa) * sqrt(bb));
}

/* ---- the embed plan: average-link agglomeration ------------------------- */

int rf_cluster_embed_plan(const float *vecs, size_t k, size_t dim, double threshold,
                          size_t *group_of, rf_cluster_link_t *links, size_t *n_links) {
  if (dim == 0 || !(threshold > 0 && threshold <= 1))
    return RF_EINVAL;
  *n_links = 0;
  for (size_t i = 0; i < k; i++)
    group_of[i] = i;
  size_t m = k < RF_CLUSTER_EMBED_MAX ? k : RF_CLUSTER_EMBED_MAX;
  if (m < 2)
    return 0;
  double *sim = rf_malloc(m * m * sizeof(*sim));
  size_t *size = rf_malloc(m * sizeof(*size));
  bool *alive = rf_malloc(m * sizeof(*alive));
  int rc = RF_ENOMEM;
  if (sim == NULL || size == NULL || alive == NULL)
    goto done;
  for (size_t i = 0; i < m; i++) {
    size[i] = 1;
    alive[i] = true;
    for (size_t j = i + 1; j < m; j++)
      sim[i * m + j] = rf_cluster_cosine(vecs + i * dim, vecs + j * dim, dim);
  }
  for (;;) {
    size_t bi = 0, bj = 0;
    double best = -2;
    for (size_t i = 0; i < m; i++) {
      if (!alive[i])
        continue;
      for (size_t j = i + 1; j < m; j++)
        if (alive[j] && sim[i * m + j] > best) {
          best = sim[i * m + j];
          bi = i;
          bj = j;
        }
    }
    if (best < threshold)
      break;
    links[(*n_links)++] = (rf_cluster_link_t){bi, bj, best};
    /* Lance-Williams for average link: the new group's similarity to x is
     * the size-weighted mean of its parts' similarities to x. */
    for (size_t x = 0; x < m; x++) {
      if (!alive[x] || x == bi || x == bj)
        continue;
      double si = sim[x < bi ? x * m + bi : bi * m + x];
      double sj = sim[x < bj ? x * m + bj : bj * m + x];
      double s = (si * (double)size[bi] + sj * (double)size[bj]) / (double)(size[bi] + size[bj]);
      sim[x < bi ? x * m + bi : bi * m + x] = s;
    }
    size[bi] += size[bj];
    alive[bj] = false;
    for (size_t x = 0; x < m; x++)
      if (group_of[x] == bj)
        group_of[x] = bi;
  }
  rc = 0;
done:
  rf_free(sim);
  rf_free(size);
  rf_free(alive);
  return rc;
}

/* bench_cluster.c - how well, and how fast, each clustering method finds the
 * real families.
 *
 *   bench_cluster [--rows N] [--window W] [--seed S] [--runs R] [--data FILE]
 *
 * Generates N anomalies (default 1,000,000) over 5 columns and 23 families
 * (table below). A family is the set of values that ONE fix serves; it is
 * represented by its truth function (the fix, written in C), and every
 * generated value is checked against it: truth(value) must equal the value
 * the generator meant, so a family's variants really do share one fix.
 * Variants are of case, length, whitespace, placeholder synonym and format.
 *
 * For each method or chain it prints one markdown row:
 *   clusters   clusters over each column's rows taken as one window, summed
 *              over the columns: the model calls with a warm fix cache
 *   per window mean clusters per window of W rows (default 5000, the
 *              daemon's window_max_rows): model calls with a cold cache
 *   purity     share of rows whose family is the majority family (by rows)
 *              of their cluster: the rows that the cluster's one fix, the
 *              majority family's truth function, serves
 *   rows/s     clustering throughput over all N rows in windows of W rows,
 *              best of R runs, by the thread's CPU time (robust to other
 *              load on the machine) and by wall time; one thread, as the
 *              daemon clusters a window on one thread. The embed rows
 *              include computing the hashed vectors (a model call in
 *              phase 2, not counted there).
 * --data FILE writes "column<TAB>family<TAB>value" lines (values escaped
 * as JSON strings) for inspection.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/cluster.h"
#include "rectify/cluster_method.h"

/* The variants are tables of printf formats, all static in this file. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* ---- random numbers: xoshiro256** (same as lib/produce.c) ---- */

typedef struct rng {
  uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}
static int below(rng_t *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }
static int range(rng_t *r, int lo, int hi) { return lo + below(r, hi - lo + 1); }
#define PICK(r, a) ((a)[below((r), (int)(sizeof(a) / sizeof((a)[0])))])

/* ---- shared pools ---- */

static const char *const months[] = {"January", "February", "March",     "April",
                                     "May",     "June",     "July",      "August",
                                     "September", "October", "November", "December"};
static const char *const placeholders[] = {"N/A", "n/a", "NA",   "n.a.", "none", "None", "NONE",
                                           "-",   "--",  "",     "null", "NULL", "?"};
static const char *const firsts[] = {"John", "Jane", "Maria", "Ahmed", "Li",
                                     "Olga", "Pierre", "Fatima", "Kenji", "Ana"};
static const char *const lasts[] = {"Doe", "Smith", "Garcia", "Khan", "Wang",
                                    "Ivanova", "Dubois", "Haddad", "Tanaka", "Silva"};
static const char *const domains[] = {"example.com", "mail.example.org", "shop.example.net",
                                      "corp.example.de"};

typedef struct alias {
  const char *text, *code;
} alias_t;
static const alias_t country_codes[] = {
    {"usa", "US"}, {"USA", "US"}, {"U.S.A.", "US"}, {"U.S.", "US"}, {"us", "US"},
    {"gbr", "GB"}, {"GBR", "GB"}, {"U.K.", "GB"},   {"uk", "GB"},   {"deu", "DE"},
    {"DEU", "DE"}, {"fra", "FR"}, {"FRA", "FR"}};
static const alias_t country_names[] = {{"United States", "US"},
                                        {"UNITED STATES", "US"},
                                        {"united states", "US"},
                                        {"United States of America", "US"},
                                        {"United Kingdom", "GB"},
                                        {"UNITED KINGDOM", "GB"},
                                        {"Germany", "DE"},
                                        {"GERMANY", "DE"},
                                        {"germany", "DE"},
                                        {" France", "FR"},
                                        {"France ", "FR"},
                                        {"FRANCE", "FR"}};

/* ---- small string helpers for the truth functions ---- */

#define TMAX 256

/* Copies s trimmed and lowercased into out (TMAX). */
static void norm(const char *s, char *out) {
  while (*s && isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  if (n >= TMAX)
    n = TMAX - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = (char)tolower((unsigned char)s[i]);
  out[n] = '\0';
}

static void put_date(char *out, int y, int m, int d) { snprintf(out, TMAX, "%04d-%02d-%02d", y, m, d); }

static int month_of(const char *name) {
  for (int i = 0; i < 12; i++)
    if (strncasecmp(name, months[i], 3) == 0)
      return i + 1;
  return 0;
}

/* Grams with two decimals, half up, of a quantity given in thousandths
 * times a factor in nanograms per unit. */
static void put_grams(char *out, long long milli, long long ng_per_unit) {
  /* grams*100 = milli/1000 * ng/1e9 * 100 = milli*ng / 1e10 */
  __int128 v = (__int128)milli * ng_per_unit;
  long long cents = (long long)((v + 5000000000LL) / 10000000000LL);
  snprintf(out, TMAX, "%lld.%02lld", cents / 100, cents % 100);
}

/* The first number in s, '.' or ',' as the decimal separator, in
 * thousandths. */
static long long milli_of(const char *s) {
  while (*s && !isdigit((unsigned char)*s))
    s++;
  long long ip = 0, frac = 0, scale = 1000;
  while (isdigit((unsigned char)*s))
    ip = ip * 10 + (*s++ - '0');
  if ((*s == '.' || *s == ',') && isdigit((unsigned char)s[1])) {
    s++;
    while (isdigit((unsigned char)*s)) {
      scale /= 10;
      frac += (*s++ - '0') * scale;
    }
  }
  return ip * 1000 + frac;
}

/* Cents of s where `group` separates thousands and `dec` marks the cents. */
static long long cents_of(const char *s, char group, char dec) {
  long long v = 0;
  int after = -1;
  for (; *s; s++) {
    if (isdigit((unsigned char)*s)) {
      v = v * 10 + (*s - '0');
      if (after >= 0)
        after++;
    } else if (*s == dec) {
      after = 0;
    } else if (*s != group && v > 0 && after < 0 && !isspace((unsigned char)*s)) {
      break;
    }
  }
  if (after < 0)
    after = 0;
  while (after < 2) {
    v *= 10;
    after++;
  }
  return v;
}

static void put_cents(char *out, long long c, int neg) {
  snprintf(out, TMAX, "%s%lld.%02lld", neg ? "-" : "", c / 100, c % 100);
}

/* ---- the families: a generator and its truth function ---- */

typedef struct gen {
  rng_t *r;
  rf_buf_t *v;   /* the value */
  char *want;    /* what the generator means it to become (TMAX) */
} gen_t;

typedef struct ymd {
  int y, m, d;
} ymd_t;

static ymd_t a_date(rng_t *r) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  ymd_t t = {range(r, 2000, 2025), range(r, 1, 12), 1};
  t.d = range(r, 1, mdays[t.m - 1]);
  return t;
}

static const char *ws(rng_t *r) {
  static const char *const pads[] = {"", "", "", "", " ", "  ", "\t"};
  return PICK(r, pads);
}

/* 1. orders.order_date: month/day/year with slashes. */
static void g_mdy(gen_t *g) {
  ymd_t t = a_date(g->r);
  rf_buf_printf(g->v, below(g->r, 2) ? "%s%02d/%02d/%04d%s" : "%s%d/%d/%04d%s", ws(g->r), t.m,
                t.d, t.y, ws(g->r));
  put_date(g->want, t.y, t.m, t.d);
}
static void t_mdy(const char *v, char *out) {
  int m, d, y;
  sscanf(v, " %d/%d/%d", &m, &d, &y);
  put_date(out, y, m, d);
}
/* 2. day.month.year */
static void g_dmy_dot(gen_t *g) {
  ymd_t t = a_date(g->r);
  rf_buf_printf(g->v, below(g->r, 2) ? "%02d.%02d.%04d%s" : "%d.%d.%04d%s", t.d, t.m, t.y,
                ws(g->r));
  put_date(g->want, t.y, t.m, t.d);
}
static void t_dmy_dot(const char *v, char *out) {
  int m, d, y;
  sscanf(v, " %d.%d.%d", &d, &m, &y);
  put_date(out, y, m, d);
}
/* 3. year/month/day */
static void g_ymd(gen_t *g) {
  ymd_t t = a_date(g->r);
  rf_buf_printf(g->v, below(g->r, 2) ? "%04d/%02d/%02d" : "%04d/%d/%d", t.y, t.m, t.d);
  put_date(g->want, t.y, t.m, t.d);
}
static void t_ymd(const char *v, char *out) {
  int m, d, y;
  sscanf(v, " %d/%d/%d", &y, &m, &d);
  put_date(out, y, m, d);
}
/* 4. "March 15, 2024" in any case */
static void g_long(gen_t *g) {
  ymd_t t = a_date(g->r);
  char name[16];
  snprintf(name, sizeof(name), "%s", months[t.m - 1]);
  int c = below(g->r, 3);
  for (char *p = name; *p; p++)
    *p = (char)(c == 0 ? toupper((unsigned char)*p) : c == 1 ? tolower((unsigned char)*p) : *p);
  rf_buf_printf(g->v, "%s%s %d, %04d", ws(g->r), name, t.d, t.y);
  put_date(g->want, t.y, t.m, t.d);
}
static void t_long(const char *v, char *out) {
  char name[32];
  int d, y;
  sscanf(v, " %31s %d, %d", name, &d, &y);
  put_date(out, y, month_of(name), d);
}
/* 5. "15-Mar-2024" in any case */
static void g_dmy_mon(gen_t *g) {
  ymd_t t = a_date(g->r);
  char mon[4];
  snprintf(mon, sizeof(mon), "%.3s", months[t.m - 1]);
  int c = below(g->r, 3);
  for (char *p = mon; *p; p++)
    *p = (char)(c == 0 ? toupper((unsigned char)*p) : c == 1 ? tolower((unsigned char)*p) : *p);
  rf_buf_printf(g->v, below(g->r, 2) ? "%02d-%s-%04d" : "%d-%s-%04d", t.d, mon, t.y);
  put_date(g->want, t.y, t.m, t.d);
}
static void t_dmy_mon(const char *v, char *out) {
  char mon[4];
  int d, y;
  sscanf(v, " %d-%3s-%d", &d, mon, &y);
  put_date(out, y, month_of(mon), d);
}
/* 6. 20240315 */
static void g_compact(gen_t *g) {
  ymd_t t = a_date(g->r);
  rf_buf_printf(g->v, "%s%04d%02d%02d", ws(g->r), t.y, t.m, t.d);
  put_date(g->want, t.y, t.m, t.d);
}
static void t_compact(const char *v, char *out) {
  int x = atoi(v + strspn(v, " \t"));
  put_date(out, x / 10000, x / 100 % 100, x % 100);
}
/* 7, 12, 23: a placeholder; a required date is quarantined, a nullable
 * column gets NULL. */
static void g_placeholder_q(gen_t *g) {
  rf_buf_puts(g->v, PICK(g->r, placeholders));
  snprintf(g->want, TMAX, "QUARANTINE");
}
static void t_placeholder_q(const char *v, char *out) {
  (void)v;
  snprintf(out, TMAX, "QUARANTINE");
}
static void g_placeholder_null(gen_t *g) {
  rf_buf_puts(g->v, PICK(g->r, placeholders));
  snprintf(g->want, TMAX, "NULL");
}
static void t_placeholder_null(const char *v, char *out) {
  (void)v;
  snprintf(out, TMAX, "NULL");
}

/* 8. products.weight_g: ounces, spelled any way */
#define NG_OZ 28349523125LL
#define NG_LB 453592370000LL
#define NG_G 1000000000LL
#define NG_KG 1000000000000LL
static void g_ounce(gen_t *g) {
  int w = range(g->r, 5, 800); /* tenths */
  static const char *const forms[] = {"%d.%d oz", "%d.%d OZ.", "%d.%doz", "%d.%d Oz"};
  static const char *const words[] = {"%d oz", "%d ounces", "%d ounce", "%d Ounces"};
  if (below(g->r, 2)) {
    rf_buf_printf(g->v, PICK(g->r, forms), w / 10, w % 10);
  } else {
    w -= w % 10;
    rf_buf_printf(g->v, PICK(g->r, words), w / 10);
  }
  put_grams(g->want, (long long)w * 100, NG_OZ);
}
static void t_ounce(const char *v, char *out) { put_grams(out, milli_of(v), NG_OZ); }
/* 9. pounds */
static void g_pound(gen_t *g) {
  int w = range(g->r, 1, 200);
  static const char *const forms[] = {"%d.%d lb", "%d.%d LB", "%d.%d lbs"};
  static const char *const whole[] = {"%d lb", "%d lbs", "%d lb.", "%d LBS"};
  if (below(g->r, 2)) {
    rf_buf_printf(g->v, PICK(g->r, forms), w / 10, w % 10);
  } else {
    w -= w % 10;
    if (w == 0)
      w = 10;
    rf_buf_printf(g->v, PICK(g->r, whole), w / 10);
  }
  put_grams(g->want, (long long)w * 100, NG_LB);
}
static void t_pound(const char *v, char *out) { put_grams(out, milli_of(v), NG_LB); }
/* 10. grams */
static void g_gram(gen_t *g) {
  int w = range(g->r, 1, 5000);
  static const char *const forms[] = {"%d g", "%dg", "%d G", "%d grams", "%d gr"};
  rf_buf_printf(g->v, PICK(g->r, forms), w);
  put_grams(g->want, (long long)w * 1000, NG_G);
}
static void t_gram(const char *v, char *out) { put_grams(out, milli_of(v), NG_G); }
/* 11. kilograms, decimal point or comma */
static void g_kilo(gen_t *g) {
  int w = range(g->r, 1, 300);
  static const char *const forms[] = {"%d.%d kg", "%d.%d KG", "%d.%dkg", "%d,%d kg"};
  rf_buf_printf(g->v, PICK(g->r, forms), w / 10, w % 10);
  put_grams(g->want, (long long)w * 100, NG_KG);
}
static void t_kilo(const char *v, char *out) { put_grams(out, milli_of(v), NG_KG); }

/* customers.email */
static void email_parts(gen_t *g, const char **f, const char **l, const char **d) {
  *f = PICK(g->r, firsts);
  *l = PICK(g->r, lasts);
  *d = PICK(g->r, domains);
  char *w = g->want;
  snprintf(w, TMAX, "%s.%s@%s", *f, *l, *d);
  for (; *w; w++)
    *w = (char)tolower((unsigned char)*w);
}
static void put_cased(rf_buf_t *b, const char *s, int how) {
  for (; *s; s++)
    rf_buf_putc(b, (char)(how == 0 ? toupper((unsigned char)*s)
                          : how == 1 ? tolower((unsigned char)*s) : *s));
}
/* 13. case and padding */
static void g_email_case(gen_t *g) {
  const char *f, *l, *d;
  email_parts(g, &f, &l, &d);
  int how = below(g->r, 3);
  rf_buf_puts(g->v, ws(g->r));
  put_cased(g->v, f, how);
  rf_buf_putc(g->v, '.');
  put_cased(g->v, l, how);
  rf_buf_putc(g->v, '@');
  put_cased(g->v, d, how == 2 ? (int)below(g->r, 2) : how);
  rf_buf_puts(g->v, ws(g->r));
}
static void t_email_case(const char *v, char *out) { norm(v, out); }
/* 14. "john.doe at example.com" */
static void g_email_at(gen_t *g) {
  const char *f, *l, *d;
  email_parts(g, &f, &l, &d);
  static const char *const at[] = {"(at)", " at ", " [at] ", "[at]", " AT "};
  int how = below(g->r, 3) == 0 ? 2 : 1;
  put_cased(g->v, f, how);
  rf_buf_putc(g->v, '.');
  put_cased(g->v, l, how);
  rf_buf_puts(g->v, PICK(g->r, at));
  rf_buf_puts(g->v, d);
}
static void t_email_at(const char *v, char *out) {
  char n[TMAX];
  norm(v, n);
  size_t k = 0;
  for (size_t i = 0; n[i] && k + 1 < TMAX;) {
    if (strncmp(n + i, "(at)", 4) == 0 || strncmp(n + i, "[at]", 4) == 0) {
      out[k++] = '@';
      i += 4;
    } else if (strncmp(n + i, " at ", 4) == 0) {
      out[k++] = '@';
      i += 4;
    } else if (n[i] == ' ') {
      i++;
    } else {
      out[k++] = n[i++];
    }
  }
  out[k] = '\0';
}
/* 15. mailto: */
static void g_email_mailto(gen_t *g) {
  const char *f, *l, *d;
  email_parts(g, &f, &l, &d);
  static const char *const pre[] = {"mailto:", "MAILTO:", "mailto: ", "Mailto:"};
  rf_buf_printf(g->v, "%s%s.%s@%s", PICK(g->r, pre), f, l, d);
}
static void t_email_mailto(const char *v, char *out) {
  char n[TMAX];
  norm(v, n);
  norm(n + 7, out);
}
/* 16. "John Doe <john.doe@example.com>" */
static void g_email_angle(gen_t *g) {
  const char *f, *l, *d;
  email_parts(g, &f, &l, &d);
  if (below(g->r, 2))
    rf_buf_printf(g->v, "%s %s <%s.%s@%s>", f, l, f, l, d);
  else
    rf_buf_printf(g->v, "\"%s, %s\" <%s>", l, f, g->want);
}
static void t_email_angle(const char *v, char *out) {
  const char *lt = strchr(v, '<');
  char n[TMAX];
  snprintf(n, sizeof(n), "%s", lt ? lt + 1 : v);
  char *gt = strchr(n, '>');
  if (gt)
    *gt = '\0';
  norm(n, out);
}

/* payments.amount */
static int a_cents(rng_t *r) { return below(r, 10) ? range(r, 1, 999999) : range(r, 1000000, 99999999); }
static void grouped(rf_buf_t *b, int v, char sep) {
  char d[16];
  int n = snprintf(d, sizeof(d), "%d", v);
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      rf_buf_putc(b, sep);
    rf_buf_putc(b, d[i]);
  }
}
/* 17. "$1,234.56" */
static void g_amount_us(gen_t *g) {
  int c = a_cents(g->r);
  int form = below(g->r, 3);
  rf_buf_puts(g->v, form == 1 ? "$ " : "$");
  if (form == 2)
    rf_buf_printf(g->v, "%d", c / 100);
  else
    grouped(g->v, c / 100, ',');
  rf_buf_printf(g->v, ".%02d", c % 100);
  put_cents(g->want, c, 0);
}
static void t_amount_us(const char *v, char *out) { put_cents(out, cents_of(v, ',', '.'), 0); }
/* 18. "1.234,56 €" */
static void g_amount_eu(gen_t *g) {
  int c = a_cents(g->r);
  grouped(g->v, c / 100, '.');
  rf_buf_printf(g->v, below(g->r, 2) ? ",%02d \xe2\x82\xac" : ",%02d\xe2\x82\xac", c % 100);
  put_cents(g->want, c, 0);
}
static void t_amount_eu(const char *v, char *out) { put_cents(out, cents_of(v, '.', ','), 0); }
/* 19. "USD 12.50" */
static void g_amount_code(gen_t *g) {
  int c = a_cents(g->r);
  static const char *const forms[] = {"USD %d.%02d", "usd %d.%02d", "%d.%02d USD", "USD%d.%02d"};
  rf_buf_printf(g->v, PICK(g->r, forms), c / 100, c % 100);
  put_cents(g->want, c, 0);
}
static void t_amount_code(const char *v, char *out) { put_cents(out, cents_of(v, ',', '.'), 0); }
/* 20. "(12.50)": accounting negative */
static void g_amount_neg(gen_t *g) {
  int c = range(g->r, 1, 999999);
  rf_buf_puts(g->v, below(g->r, 2) ? "(" : "($");
  grouped(g->v, c / 100, ',');
  rf_buf_printf(g->v, ".%02d)", c % 100);
  put_cents(g->want, c, 1);
}
static void t_amount_neg(const char *v, char *out) { put_cents(out, cents_of(v, ',', '.'), 1); }

/* customers.country */
static void lookup(const alias_t *t, size_t n, const char *v, char *out, int strip_dots) {
  char a[TMAX], b[TMAX];
  norm(v, a);
  size_t k = 0;
  for (size_t i = 0; a[i]; i++)
    if (!strip_dots || a[i] != '.')
      a[k++] = a[i];
  a[k] = '\0';
  for (size_t i = 0; i < n; i++) {
    norm(t[i].text, b);
    k = 0;
    for (size_t j = 0; b[j]; j++)
      if (!strip_dots || b[j] != '.')
        b[k++] = b[j];
    b[k] = '\0';
    if (strcmp(a, b) == 0) {
      snprintf(out, TMAX, "%s", t[i].code);
      return;
    }
  }
  snprintf(out, TMAX, "?");
}
/* 21. codes and abbreviations */
static void g_country_code(gen_t *g) {
  const alias_t *a = &PICK(g->r, country_codes);
  rf_buf_puts(g->v, a->text);
  snprintf(g->want, TMAX, "%s", a->code);
}
static void t_country_code(const char *v, char *out) {
  lookup(country_codes, sizeof(country_codes) / sizeof(country_codes[0]), v, out, 1);
}
/* 22. names */
static void g_country_name(gen_t *g) {
  const alias_t *a = &PICK(g->r, country_names);
  rf_buf_puts(g->v, a->text);
  snprintf(g->want, TMAX, "%s", a->code);
}
static void t_country_name(const char *v, char *out) {
  lookup(country_names, sizeof(country_names) / sizeof(country_names[0]), v, out, 0);
}

typedef struct family {
  const char *name;
  int column;
  void (*gen)(gen_t *g);
  void (*truth)(const char *v, char *out);
} family_t;

static const char *const columns[] = {"orders.order_date", "products.weight_g", "customers.email",
                                      "payments.amount", "customers.country"};
#define NCOLUMNS 5

static const family_t families[] = {
    {"date_mdy", 0, g_mdy, t_mdy},
    {"date_dmy_dot", 0, g_dmy_dot, t_dmy_dot},
    {"date_ymd", 0, g_ymd, t_ymd},
    {"date_long", 0, g_long, t_long},
    {"date_dmy_mon", 0, g_dmy_mon, t_dmy_mon},
    {"date_compact", 0, g_compact, t_compact},
    {"date_placeholder", 0, g_placeholder_q, t_placeholder_q},
    {"weight_ounce", 1, g_ounce, t_ounce},
    {"weight_pound", 1, g_pound, t_pound},
    {"weight_gram", 1, g_gram, t_gram},
    {"weight_kilo", 1, g_kilo, t_kilo},
    {"weight_placeholder", 1, g_placeholder_null, t_placeholder_null},
    {"email_case", 2, g_email_case, t_email_case},
    {"email_at_word", 2, g_email_at, t_email_at},
    {"email_mailto", 2, g_email_mailto, t_email_mailto},
    {"email_angle", 2, g_email_angle, t_email_angle},
    {"amount_us", 3, g_amount_us, t_amount_us},
    {"amount_eu", 3, g_amount_eu, t_amount_eu},
    {"amount_code", 3, g_amount_code, t_amount_code},
    {"amount_negative", 3, g_amount_neg, t_amount_neg},
    {"country_code", 4, g_country_code, t_country_code},
    {"country_name", 4, g_country_name, t_country_name},
    {"country_placeholder", 4, g_placeholder_null, t_placeholder_null},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/* ---- the data set ---- */

typedef struct dataset {
  size_t n;
  rf_anomaly_t *rows;       /* rows[i].value */
  unsigned char *family;    /* family of row i */
  rf_anomaly_t **col[NCOLUMNS]; /* each column's rows, in order */
  size_t ncol[NCOLUMNS];
} dataset_t;

static void die(const char *what) {
  fprintf(stderr, "bench_cluster: %s\n", what);
  exit(1);
}

static void generate(dataset_t *ds, size_t n, uint64_t seed) {
  rng_t r;
  for (int i = 0; i < 4; i++)
    r.s[i] = splitmix64(&seed);
  ds->n = n;
  ds->rows = calloc(n, sizeof(*ds->rows));
  ds->family = malloc(n);
  for (int c = 0; c < NCOLUMNS; c++)
    ds->col[c] = malloc(n * sizeof(*ds->col[c]));
  if (!ds->rows || !ds->family)
    die("out of memory");
  /* Families per column, for a uniform choice of column then family. */
  size_t per[NCOLUMNS][NFAMILIES], nper[NCOLUMNS] = {0};
  for (size_t f = 0; f < NFAMILIES; f++)
    per[families[f].column][nper[families[f].column]++] = f;
  rf_buf_t v = RF_BUF_INIT;
  char want[TMAX], got[TMAX];
  for (size_t i = 0; i < n; i++) {
    int c = (int)(i % NCOLUMNS);
    size_t f = per[c][below(&r, (int)nper[c])];
    rf_buf_reset(&v);
    gen_t g = {&r, &v, want};
    families[f].gen(&g);
    rf_buf_puts(&v, "");
    if (!rf_buf_ok(&v))
      die("out of memory");
    families[f].truth(v.data, got);
    if (strcmp(got, want) != 0) {
      fprintf(stderr, "bench_cluster: family %s: truth(\"%s\") = \"%s\", generator meant \"%s\"\n",
              families[f].name, v.data, got, want);
      exit(1);
    }
    ds->rows[i].value = strdup(v.data);
    ds->rows[i].value_len = v.len;
    ds->family[i] = (unsigned char)f;
    ds->col[c][ds->ncol[c]++] = &ds->rows[i];
  }
  rf_buf_free(&v);
}

/* ---- measuring ---- */

typedef struct method {
  const char *label;
  const char *spec;  /* chain spec */
} method_t;

#define EMBED_DIM 256

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The embed stage with hashed n-gram vectors: one vector per cluster, the
 * mean of its representatives' vectors (what phase 2 asks Ollama for). */
static void embed(rf_clustering_t *c, double threshold, size_t *embedded) {
  if (c->n < 2)
    return;
  float *vecs = malloc(c->n * EMBED_DIM * sizeof(float));
  float reps[RF_CLUSTER_MAX_REPS * EMBED_DIM];
  for (size_t k = 0; k < c->n; k++) {
    const rf_cluster_t *cl = &c->clusters[k];
    for (size_t r = 0; r < cl->n_reps; r++)
      rf_cluster_vector(cl->reps[r]->value, cl->reps[r]->value_len, reps + r * EMBED_DIM,
                        EMBED_DIM);
    rf_cluster_mean_vector(reps, cl->n_reps, EMBED_DIM, vecs + k * EMBED_DIM);
  }
  *embedded += c->n;
  if (rf_cluster_embed_merge(c, vecs, EMBED_DIM, threshold) != 0)
    die("embed merge failed");
  free(vecs);
}

static int build(const rf_cluster_chain_t *ch, int column, rf_anomaly_t **rows, size_t n,
                 rf_clustering_t *out, size_t *embedded) {
  char t[64], col[64];
  const char *dot = strchr(columns[column], '.');
  snprintf(t, sizeof(t), "%.*s", (int)(dot - columns[column]), columns[column]);
  snprintf(col, sizeof(col), "%s", dot + 1);
  int rc = rf_cluster_chain_build(ch, t, col, rows, n, out);
  if (rc == 0 && ch->embed)
    embed(out, ch->embed_threshold, embedded);
  return rc;
}

static void report(const dataset_t *ds, const method_t *m, size_t window, int runs,
                   int verbose) {
  rf_cluster_chain_t ch;
  char err[256];
  if (rf_cluster_chain_parse(m->spec, RF_CLUSTER_EMBED_THRESHOLD_DEFAULT, &ch, err,
                             sizeof(err)) != 0) {
    fprintf(stderr, "bench_cluster: %s: %s\n", m->spec, err);
    exit(1);
  }
  /* Quality: each column as one window. */
  size_t clusters = 0, served = 0, embedded = 0;
  size_t count[NFAMILIES];
  for (int c = 0; c < NCOLUMNS; c++) {
    rf_clustering_t cl;
    if (build(&ch, c, ds->col[c], ds->ncol[c], &cl, &embedded) != 0)
      die("clustering failed");
    clusters += cl.n;
    for (size_t k = 0; k < cl.n; k++) {
      memset(count, 0, sizeof(count));
      size_t best = 0;
      for (size_t i = 0; i < cl.clusters[k].n; i++) {
        size_t f = ds->family[cl.clusters[k].rows[i] - ds->rows];
        if (++count[f] > count[best])
          best = f;
      }
      served += count[best];
      if (verbose) {
        printf("  %-18s %-22s rows=%-7zu subs=%zu majority=%s", columns[c],
               cl.clusters[k].fingerprint, cl.clusters[k].n, cl.clusters[k].n_subs,
               families[best].name);
        for (size_t f = 0; f < NFAMILIES; f++)
          if (f != best && count[f])
            printf(" +%s:%zu", families[f].name, count[f]);
        for (size_t j = 0; j < cl.clusters[k].n_joins; j++) {
          const rf_cluster_join_t *jn = &cl.clusters[k].joins[j];
          printf(" [%s %s~%s key=\"%s\" sim=%.2f]", jn->method,
                 cl.clusters[k].subs[jn->a].fingerprint, cl.clusters[k].subs[jn->b].fingerprint,
                 jn->key ? jn->key : "", jn->similarity);
        }
        printf("\n");
      }
    }
    rf_clustering_free(&cl);
  }
  /* Cold-cache model calls and speed: windows of `window` rows per column. */
  double best_s = 1e30, best_cpu = 1e30;
  size_t window_clusters = 0, windows = 0;
  for (int run = 0; run < runs; run++) {
    size_t wc = 0, nw = 0, emb = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (int c = 0; c < NCOLUMNS; c++)
      for (size_t off = 0; off < ds->ncol[c]; off += window) {
        size_t n = ds->ncol[c] - off < window ? ds->ncol[c] - off : window;
        rf_clustering_t cl;
        if (build(&ch, c, ds->col[c] + off, n, &cl, &emb) != 0)
          die("clustering failed");
        wc += cl.n;
        nw++;
        rf_clustering_free(&cl);
      }
    double s = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    if (s < best_s)
      best_s = s;
    if (cpu < best_cpu)
      best_cpu = cpu;
    window_clusters = wc;
    windows = nw;
  }
  printf("| %-36s | %8zu | %6.1f | %6.4f | %10.0f | %10.0f |\n", m->label, clusters,
         (double)window_clusters / (double)windows, (double)served / (double)ds->n,
         (double)ds->n / best_cpu, (double)ds->n / best_s);
  fflush(stdout);
}

int main(int argc, char **argv) {
  size_t n = 1000000, window = 5000;
  uint64_t seed = 42;
  int runs = 3;
  const char *data = NULL, *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
      n = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
      window = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
      data = argv[++i];
    else if (strcmp(argv[i], "--explain") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: bench_cluster [--rows N] [--window W] [--seed S] [--runs R] "
                      "[--data FILE] [--explain SPEC]\n");
      return 2;
    }
  }
  if (n < NCOLUMNS || window == 0 || runs < 1)
    die("--rows must be at least 5, --window and --runs at least 1");
  rf_alloc_init();
  dataset_t ds;
  memset(&ds, 0, sizeof(ds));
  generate(&ds, n, seed);
  if (data) {
    FILE *f = fopen(data, "w");
    if (!f)
      die("cannot write --data file");
    rf_buf_t b = RF_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
      rf_buf_reset(&b);
      rf_buf_json_str(&b, ds.rows[i].value, ds.rows[i].value_len);
      fprintf(f, "%s\t%s\t%s\n", columns[families[ds.family[i]].column],
              families[ds.family[i]].name, b.data);
    }
    rf_buf_free(&b);
    fclose(f);
  }
  printf("%zu anomalies, %d columns, %zu families (every value checked against its family's "
         "truth function), seed %" PRIu64 ", windows of %zu rows\n\n",
         n, NCOLUMNS, NFAMILIES, seed, window);
  if (only) {
    method_t m = {only, only};
    report(&ds, &m, window, 1, 1);
    return 0;
  }
  static const method_t methods[] = {
      {"shape", "shape"},
      {"fingerprint", "fingerprint"},
      {"ngram:2", "ngram:2"},
      {"ngram:3", "ngram:3"},
      {"shape,fingerprint", "shape,fingerprint"},
      {"shape,ngram:2", "shape,ngram:2"},
      {"shape,fingerprint,ngram:2 (default)", "shape,fingerprint,ngram:2"},
      {"default + embed:0.9 (hashed 3-grams)", "shape,fingerprint,ngram:2,embed:0.9"},
      {"default + embed:0.8 (hashed 3-grams)", "shape,fingerprint,ngram:2,embed:0.8"},
  };
  printf("| method | clusters (model calls) | per %zu-row window | purity | rows/s (CPU) | rows/s (wall) |\n",
         window);
  printf("|---|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    report(&ds, &methods[i], window, runs, 0);
  printf("\nminimum possible: %zu clusters (one per family), purity 1\n", NFAMILIES);
  for (size_t i = 0; i < n; i++)
    free(ds.rows[i].value);
  free(ds.rows);
  free(ds.family);
  for (int c = 0; c < NCOLUMNS; c++)
    free(ds.col[c]);
  return 0;
}

/* produce.c - deterministic NEEDS_AI load: realistic anomalies with ground truth.
 *
 * Why it looks like this:
 *  - Every benchmark and accuracy test needs the same thing: lots of messages
 *    that look like what upstream pipelines really send (dates in six
 *    regional formats, weights in ounces, amounts with currency signs,
 *    country names, placeholders), each with the value rectify should
 *    produce, and a measured share of garbage. The families are a table, so
 *    adding one is one row and one small function.
 *  - Determinism: one xoshiro256** stream seeded from --seed drives every
 *    choice, and malformed messages are spread evenly by position (message n
 *    is malformed when floor(n*share) steps), so a seed and the options fix
 *    the whole output, byte for byte, and the share is exact.
 *  - Generation is separate from delivery: a message is built into a buffer,
 *    then a sink sends a batch. The Redis sink pipelines XADDs with the
 *    binary-safe argv form (malformed payloads hold NUL bytes).
 */
#include "rectify/produce.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/error.h"

/* ---- random numbers: xoshiro256**, seeded through splitmix64 ---- */

typedef struct rng {
  uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng_t *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, n) (n > 0; the modulo bias is below 2^-40 for our n). */
static uint64_t rng_below(rng_t *r, uint64_t n) { return rng_next(r) % n; }

/* Uniform in [lo, hi]. */
static int64_t rng_range(rng_t *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

#define PICK(r, arr) ((arr)[rng_below((r), sizeof(arr) / sizeof((arr)[0]))])

/* ---- data pools ---- */

static const char *const first_names[] = {"John", "Jane", "Maria", "Ahmed", "Li",
                                          "Olga", "Pierre", "Fatima", "Kenji", "Ana"};
static const char *const last_names[] = {"Doe",     "Smith",  "Garcia", "Khan",   "Wang",
                                         "Ivanova", "Dubois", "Haddad", "Tanaka", "Silva"};
static const char *const domains[] = {"example.com", "mail.example.org", "shop.example.net",
                                      "corp.example.de"};
static const char *const month_names[] = {"January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December"};
static const char *const placeholders[] = {"N/A", "n.a.", "none", "-", ""};

typedef struct alias {
  const char *text;
  const char *code;
} alias_t;

static const alias_t country_alpha3[] = {
    {"usa", "US"}, {"gbr", "GB"}, {"deu", "DE"}, {"fra", "FR"}};
static const alias_t country_dotted[] = {
    {"U.S.A.", "US"}, {"U.S.", "US"}, {"U.K.", "GB"}, {"G.B.", "GB"}};
static const alias_t country_names[] = {{"United States", "US"},  {"United Kingdom", "GB"},
                                        {"Germany", "DE"},        {"France", "FR"},
                                        {"United States of America", "US"}};

/* ---- calendar ---- */

typedef struct ymd {
  int y, m, d;
} ymd_t;

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static ymd_t civil_from_days(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  ymd_t r;
  r.d = (int)(doy - (153 * mp + 2) / 5 + 1);
  r.m = (int)(mp < 10 ? mp + 3 : mp - 9);
  r.y = (int)(yoe + era * 400 + (r.m <= 2));
  return r;
}

/* A date between 2000-01-01 (day 10957) and 2025-12-31 (day 20453). */
static ymd_t random_date(rng_t *r) { return civil_from_days(rng_range(r, 10957, 20453)); }

/* ---- families ---- */

typedef struct gen {
  rng_t *rng;
  uint64_t n;
  rf_buf_t *value;
  rf_buf_t *expected;
  rf_produce_outcome_t outcome;
} gen_t;

static void expect_date(gen_t *c, ymd_t d) {
  rf_buf_printf(c->expected, "%04d-%02d-%02d", d.y, d.m, d.d);
}

static void f_date_mdy_slash(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%02d/%02d/%04d", d.m, d.d, d.y);
  expect_date(c, d);
}
static void f_date_dmy_dot(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%02d.%02d.%04d", d.d, d.m, d.y);
  expect_date(c, d);
}
static void f_date_long(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%s %d, %04d", month_names[d.m - 1], d.d, d.y);
  expect_date(c, d);
}
static void f_date_ymd_slash(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%04d/%02d/%02d", d.y, d.m, d.d);
  expect_date(c, d);
}
static void f_date_compact(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%04d%02d%02d", d.y, d.m, d.d);
  expect_date(c, d);
}
static void f_date_dmy_mon(gen_t *c) {
  ymd_t d = random_date(c->rng);
  rf_buf_printf(c->value, "%02d-%.3s-%04d", d.d, month_names[d.m - 1], d.y);
  expect_date(c, d);
}
/* Looks like a date but does not exist, read as month/day or as day/month:
 * no repair is correct. */
static void f_date_impossible(gen_t *c) {
  static const int bad[][2] = {{2, 30}, {2, 31}, {4, 31}, {6, 31}, {9, 31}, {11, 31}, {13, 45},
                               {0, 10}};
  int k = (int)rng_below(c->rng, sizeof(bad) / sizeof(bad[0]));
  rf_buf_printf(c->value, "%02d/%02d/%04d", bad[k][0], bad[k][1], (int)rng_range(c->rng, 2000, 2025));
  c->outcome = RF_PRODUCE_QUARANTINED;
}
/* A placeholder where a date is required (order_date is not nullable). */
static void f_date_placeholder(gen_t *c) {
  rf_buf_puts(c->value, PICK(c->rng, placeholders));
  c->outcome = RF_PRODUCE_QUARANTINED;
}

/* Grams with two decimals from tenths of an ounce, rounded half up:
 * 1 oz = 28.349523125 g exactly. */
static void expect_grams_from_oz10(gen_t *c, int64_t oz10) {
  int64_t units = oz10 * 28349523125LL;               /* grams * 1e10 */
  int64_t cents = (units + 50000000LL) / 100000000LL; /* grams * 100, half up */
  rf_buf_printf(c->expected, "%" PRId64 ".%02" PRId64, cents / 100, cents % 100);
}
static void f_weight_oz(gen_t *c) {
  int64_t oz10 = rng_range(c->rng, 5, 800);
  rf_buf_printf(c->value, "%" PRId64 ".%" PRId64 " oz", oz10 / 10, oz10 % 10);
  expect_grams_from_oz10(c, oz10);
}
static void f_weight_ounce(gen_t *c) {
  int64_t oz = rng_range(c->rng, 1, 80);
  rf_buf_printf(c->value, "%" PRId64 " %s", oz, rng_below(c->rng, 2) ? "ounce" : "ounces");
  expect_grams_from_oz10(c, oz * 10);
}
static void f_weight_oz_caps(gen_t *c) {
  int64_t oz10 = rng_range(c->rng, 5, 800);
  rf_buf_printf(c->value, "%" PRId64 ".%" PRId64 " OZ.", oz10 / 10, oz10 % 10);
  expect_grams_from_oz10(c, oz10);
}
static void f_weight_grams(gen_t *c) {
  int64_t g = rng_range(c->rng, 1, 5000);
  rf_buf_printf(c->value, "%" PRId64 " g", g);
  rf_buf_printf(c->expected, "%" PRId64 ".00", g);
}

static void lower_into(rf_buf_t *b, const char *s) {
  for (; *s; s++)
    rf_buf_putc(b, (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s));
}
static void expect_email(gen_t *c, const char *first, const char *last, const char *domain) {
  lower_into(c->expected, first);
  rf_buf_putc(c->expected, '.');
  lower_into(c->expected, last);
  rf_buf_putc(c->expected, '@');
  lower_into(c->expected, domain);
}
static void f_email_padded_case(gen_t *c) {
  const char *f = PICK(c->rng, first_names), *l = PICK(c->rng, last_names);
  const char *d = PICK(c->rng, domains);
  /* " John.Doe@Example.COM ": capitalised local part, mixed-case domain, padding. */
  rf_buf_printf(c->value, "%s%s.%s@", rng_below(c->rng, 2) ? " " : "  ", f, l);
  int upper_tld = (int)rng_below(c->rng, 2);
  const char *dot = strrchr(d, '.');
  for (const char *p = d; *p; p++) {
    char ch = *p;
    if ((p == d || p[-1] == '.') && ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    if (upper_tld && p > dot && ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    rf_buf_putc(c->value, ch);
  }
  rf_buf_puts(c->value, rng_below(c->rng, 2) ? " " : "\t");
  expect_email(c, f, l, d);
}
static void f_email_at_word(gen_t *c) {
  const char *f = PICK(c->rng, first_names), *l = PICK(c->rng, last_names);
  const char *d = PICK(c->rng, domains);
  static const char *const at[] = {"(at)", " at ", "[at]"};
  lower_into(c->value, f);
  rf_buf_putc(c->value, '.');
  lower_into(c->value, l);
  rf_buf_puts(c->value, PICK(c->rng, at));
  rf_buf_puts(c->value, d);
  expect_email(c, f, l, d);
}
static void f_email_mailto(gen_t *c) {
  const char *f = PICK(c->rng, first_names), *l = PICK(c->rng, last_names);
  const char *d = PICK(c->rng, domains);
  rf_buf_printf(c->value, "mailto:%s.%s@%s", f, l, d);
  expect_email(c, f, l, d);
}

/* Digits of v with a thousands separator. */
static void put_grouped(rf_buf_t *b, int64_t v, char sep) {
  char digits[32];
  int n = snprintf(digits, sizeof(digits), "%" PRId64, v);
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0)
      rf_buf_putc(b, sep);
    rf_buf_putc(b, digits[i]);
  }
}
static void expect_cents(gen_t *c, int64_t cents, bool negative) {
  rf_buf_printf(c->expected, "%s%" PRId64 ".%02" PRId64, negative ? "-" : "", cents / 100,
                cents % 100);
}
static int64_t random_cents(rng_t *r) {
  /* Mostly everyday amounts, sometimes large ones. */
  return rng_below(r, 10) ? rng_range(r, 1, 999999) : rng_range(r, 1000000, 999999999);
}
static void f_amount_dollar(gen_t *c) {
  int64_t cents = random_cents(c->rng);
  rf_buf_putc(c->value, '$');
  put_grouped(c->value, cents / 100, ',');
  rf_buf_printf(c->value, ".%02" PRId64, cents % 100);
  expect_cents(c, cents, false);
}
static void f_amount_eu(gen_t *c) {
  int64_t cents = random_cents(c->rng);
  put_grouped(c->value, cents / 100, '.');
  rf_buf_printf(c->value, ",%02" PRId64 " \xe2\x82\xac", cents % 100); /* U+20AC */
  expect_cents(c, cents, false);
}
static void f_amount_code(gen_t *c) {
  int64_t cents = random_cents(c->rng);
  rf_buf_printf(c->value, "USD %" PRId64 ".%02" PRId64, cents / 100, cents % 100);
  expect_cents(c, cents, false);
}
static void f_amount_parens(gen_t *c) {
  int64_t cents = rng_range(c->rng, 1, 99999);
  rf_buf_printf(c->value, "(%" PRId64 ".%02" PRId64 ")", cents / 100, cents % 100);
  expect_cents(c, cents, true);
}

static void put_alias(gen_t *c, const alias_t *a) {
  rf_buf_puts(c->value, a->text);
  rf_buf_puts(c->expected, a->code);
}
static void f_country_alpha3(gen_t *c) { put_alias(c, &PICK(c->rng, country_alpha3)); }
static void f_country_dotted(gen_t *c) { put_alias(c, &PICK(c->rng, country_dotted)); }
static void f_country_name(gen_t *c) { put_alias(c, &PICK(c->rng, country_names)); }
/* customers.country is nullable: a placeholder means "unknown" = NULL. */
static void f_country_placeholder(gen_t *c) {
  rf_buf_puts(c->value, PICK(c->rng, placeholders));
  c->outcome = RF_PRODUCE_FIXED_NULL;
}

/* Tables: how a message's pk, row context, reason and source look. */
typedef enum table_id { T_ORDERS, T_PRODUCTS, T_CUSTOMERS, T_PAYMENTS } table_id_t;

typedef struct family {
  const char *name;
  table_id_t table;
  const char *column;
  void (*fn)(gen_t *c);
} family_t;

static const char *const table_names[] = {"orders", "products", "customers", "payments"};

static const family_t families[] = {
    {"date_mdy_slash", T_ORDERS, "order_date", f_date_mdy_slash},
    {"date_dmy_dot", T_ORDERS, "order_date", f_date_dmy_dot},
    {"date_long", T_ORDERS, "order_date", f_date_long},
    {"date_ymd_slash", T_ORDERS, "order_date", f_date_ymd_slash},
    {"date_compact", T_ORDERS, "order_date", f_date_compact},
    {"date_dmy_mon", T_ORDERS, "order_date", f_date_dmy_mon},
    {"date_impossible", T_ORDERS, "order_date", f_date_impossible},
    {"date_placeholder", T_ORDERS, "order_date", f_date_placeholder},
    {"weight_oz", T_PRODUCTS, "weight_g", f_weight_oz},
    {"weight_ounce", T_PRODUCTS, "weight_g", f_weight_ounce},
    {"weight_oz_caps", T_PRODUCTS, "weight_g", f_weight_oz_caps},
    {"weight_grams", T_PRODUCTS, "weight_g", f_weight_grams},
    {"email_padded_case", T_CUSTOMERS, "email", f_email_padded_case},
    {"email_at_word", T_CUSTOMERS, "email", f_email_at_word},
    {"email_mailto", T_CUSTOMERS, "email", f_email_mailto},
    {"amount_dollar", T_PAYMENTS, "amount", f_amount_dollar},
    {"amount_eu", T_PAYMENTS, "amount", f_amount_eu},
    {"amount_code", T_PAYMENTS, "amount", f_amount_code},
    {"amount_parens", T_PAYMENTS, "amount", f_amount_parens},
    {"country_alpha3", T_CUSTOMERS, "country", f_country_alpha3},
    {"country_dotted", T_CUSTOMERS, "country", f_country_dotted},
    {"country_name", T_CUSTOMERS, "country", f_country_name},
    {"country_placeholder", T_CUSTOMERS, "country", f_country_placeholder},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

typedef enum mal_kind {
  M_TRUNCATED,
  M_WRONG_TYPE,
  M_MISSING_FIELD,
  M_INVALID_UTF8,
  M_EMPTY,
  M_NUL_BYTE,
  M_DEEP_NESTING,
  M_OVERSIZE,
  M_NOT_OBJECT,
  M_NKINDS
} mal_kind_t;

static const struct {
  const char *name;
  const char *reason;
} mal_kinds[M_NKINDS] = {
    [M_TRUNCATED] = {"malformed.truncated", "malformed"},
    [M_WRONG_TYPE] = {"malformed.wrong_type", "malformed"},
    [M_MISSING_FIELD] = {"malformed.missing_field", "malformed"},
    [M_INVALID_UTF8] = {"malformed.invalid_utf8", "invalid_utf8"},
    [M_EMPTY] = {"malformed.empty", "malformed"},
    [M_NUL_BYTE] = {"malformed.nul_byte", "malformed"},
    [M_DEEP_NESTING] = {"malformed.deep_nesting", "malformed"},
    [M_OVERSIZE] = {"malformed.oversize", "oversize"},
    [M_NOT_OBJECT] = {"malformed.not_object", "malformed"},
};

#define DEFAULT_OVERSIZE ((size_t)1048576 + 4096)
#define DEEP_NESTING 100

struct rf_produce {
  rng_t rng;
  double share;
  char *prefix;
  size_t oversize;
  size_t nselected;
  size_t selected[NFAMILIES];
  uint64_t n;         /* messages generated */
  uint64_t nmalformed;
};

/* ---- public: the family table ---- */

size_t rf_produce_family_count(void) { return NFAMILIES; }

bool rf_produce_family_info(size_t i, const char **name, const char **table, const char **column) {
  if (i >= NFAMILIES)
    return false;
  if (name)
    *name = families[i].name;
  if (table)
    *table = table_names[families[i].table];
  if (column)
    *column = families[i].column;
  return true;
}

size_t rf_produce_malformed_count(void) { return M_NKINDS; }

const char *rf_produce_malformed_name(size_t i) { return i < M_NKINDS ? mal_kinds[i].name : NULL; }

const char *rf_produce_outcome_name(rf_produce_outcome_t o) {
  switch (o) {
  case RF_PRODUCE_FIXED: return "fixed";
  case RF_PRODUCE_FIXED_NULL: return "fixed_null";
  case RF_PRODUCE_QUARANTINED: return "quarantined";
  }
  return "unknown";
}

/* ---- generator ---- */

/* Selects the families named in list (see rf_produce_opts_t). */
static int select_families(rf_produce_t *g, const char *list, char *err, size_t errlen) {
  bool on[NFAMILIES] = {false};
  if (list == NULL || strcmp(list, "all") == 0) {
    for (size_t i = 0; i < NFAMILIES; i++)
      on[i] = true;
  } else {
    const char *p = list;
    while (*p) {
      size_t len = strcspn(p, ",");
      bool found = false;
      for (size_t i = 0; i < NFAMILIES; i++) {
        char tc[96];
        int tl = snprintf(tc, sizeof(tc), "%s.%s", table_names[families[i].table],
                          families[i].column);
        if ((strlen(families[i].name) == len && memcmp(families[i].name, p, len) == 0) ||
            ((size_t)tl == len && memcmp(tc, p, len) == 0)) {
          on[i] = true;
          found = true;
        }
      }
      if (!found) {
        int w = snprintf(err, errlen, "unknown family '%.*s' (known: all", (int)len, p);
        for (size_t i = 0; i < NFAMILIES && w > 0 && (size_t)w < errlen; i++)
          w += snprintf(err + w, errlen - (size_t)w, ", %s", families[i].name);
        if (w > 0 && (size_t)w < errlen)
          snprintf(err + w, errlen - (size_t)w, ", or table.column)");
        return RF_EINVAL;
      }
      p += len;
      if (*p == ',')
        p++;
    }
  }
  g->nselected = 0;
  for (size_t i = 0; i < NFAMILIES; i++)
    if (on[i])
      g->selected[g->nselected++] = i;
  if (g->nselected == 0) {
    snprintf(err, errlen, "no family selected");
    return RF_EINVAL;
  }
  return 0;
}

int rf_produce_new(const rf_produce_opts_t *opts, rf_produce_t **out, char *err, size_t errlen) {
  int rc;
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  if (!(opts->malformed >= 0.0 && opts->malformed <= 1.0)) {
    snprintf(err, errlen, "malformed share must be between 0 and 1");
    return RF_EINVAL;
  }
  const char *prefix = opts->id_prefix ? opts->id_prefix : "msg-";
  if (strlen(prefix) > 256) {
    snprintf(err, errlen, "id prefix longer than 256 bytes");
    return RF_EINVAL;
  }
  if (opts->oversize_bytes != 0 && opts->oversize_bytes < 1024) {
    snprintf(err, errlen, "oversize size must be at least 1024 bytes");
    return RF_EINVAL;
  }
  rf_produce_t *g = rf_calloc(1, sizeof(*g));
  if (g == NULL)
    goto nomem;
  g->prefix = rf_strdup(prefix);
  if (g->prefix == NULL)
    goto nomem;
  rc = select_families(g, opts->families, err, errlen);
  if (rc) {
    rf_produce_free(g);
    return rc;
  }
  rng_seed(&g->rng, opts->seed);
  g->share = opts->malformed;
  g->oversize = opts->oversize_bytes ? opts->oversize_bytes : DEFAULT_OVERSIZE;
  *out = g;
  return 0;
nomem:
  rf_produce_free(g);
  snprintf(err, errlen, "out of memory");
  return RF_ENOMEM;
}

void rf_produce_free(rf_produce_t *g) {
  if (g == NULL)
    return;
  rf_free(g->prefix);
  rf_free(g);
}

void rf_produce_msg_init(rf_produce_msg_t *m) {
  memset(m, 0, sizeof(*m));
  rf_buf_init(&m->payload);
  rf_buf_init(&m->id);
  rf_buf_init(&m->value);
  rf_buf_init(&m->expected);
}

void rf_produce_msg_free(rf_produce_msg_t *m) {
  rf_buf_free(&m->payload);
  rf_buf_free(&m->id);
  rf_buf_free(&m->value);
  rf_buf_free(&m->expected);
  memset(m, 0, sizeof(*m));
}

/* Fields a malformed message breaks. */
enum { F_TABLE, F_COLUMN, F_PK, F_VALUE, F_NFIELDS };

typedef struct shape {
  int omit;  /* field left out, or -1 */
  int wrong; /* field with a wrong JSON type, or -1 */
  enum { V_NORMAL, V_RAW_NUL, V_ESCAPED_NUL } value_mode;
  bool deep;       /* row nested DEEP_NESTING levels */
  size_t pad_to;   /* grow the row's notes until the message is this long (0: no) */
} shape_t;

static void put_pk(rf_buf_t *b, table_id_t t, uint64_t n, rng_t *r) {
  switch (t) {
  case T_ORDERS:
    /* One order id in ten is beyond 2^53: it must survive as an exact integer. */
    if (n % 10 == 3)
      rf_buf_printf(b, "{\"order_id\":%" PRIu64 "}", (uint64_t)9007199254740993ULL + 2 * n);
    else
      rf_buf_printf(b, "{\"order_id\":%" PRIu64 "}", 100000 + n);
    break;
  case T_PRODUCTS:
    rf_buf_printf(b, "{\"sku\":\"SKU-%05" PRIu64 "\",\"warehouse\":%d}", n % 100000,
                  (int)rng_range(r, 1, 12));
    break;
  case T_CUSTOMERS:
    rf_buf_printf(b, "{\"customer_id\":%" PRIu64 "}", 500000 + n);
    break;
  case T_PAYMENTS:
    rf_buf_printf(b, "{\"account_id\":%" PRIu64 ",\"txn_seq\":%d}", 7000000 + n / 7,
                  (int)(n % 7) + 1);
    break;
  }
}

static void put_row(rf_buf_t *b, table_id_t t, uint64_t n, rng_t *r) {
  static const char *const statuses[] = {"new", "paid", "shipped", "delivered", "returned"};
  static const char *const categories[] = {"tools", "garden", "kitchen", "toys", "office"};
  static const char *const methods[] = {"card", "sepa", "wire", "paypal"};
  switch (t) {
  case T_ORDERS:
    rf_buf_printf(b,
                  "{\"customer_id\":%" PRIu64 ",\"status\":\"%s\",\"total\":\"%d.%02d\","
                  "\"currency\":\"USD\",\"ship_date\":\"2024-%02d-%02d\"}",
                  500000 + n / 3, PICK(r, statuses), (int)rng_range(r, 1, 2000),
                  (int)rng_range(r, 0, 99), (int)rng_range(r, 1, 12), (int)rng_range(r, 1, 28));
    break;
  case T_PRODUCTS:
    rf_buf_printf(b, "{\"name\":\"Widget %d\",\"category\":\"%s\",\"unit\":\"each\"}",
                  (int)rng_range(r, 1, 999), PICK(r, categories));
    break;
  case T_CUSTOMERS:
    rf_buf_printf(b, "{\"first_name\":\"%s\",\"last_name\":\"%s\",\"city\":\"Springfield\"}",
                  PICK(r, first_names), PICK(r, last_names));
    break;
  case T_PAYMENTS:
    rf_buf_printf(b, "{\"method\":\"%s\",\"currency\":\"%s\",\"order_id\":%" PRIu64 "}",
                  PICK(r, methods), rng_below(r, 3) ? "USD" : "EUR", 100000 + n);
    break;
  }
}

static const char *reason_for(const family_t *f) {
  switch (f->table) {
  case T_ORDERS: return "type check failed: not a date in %Y-%m-%d";
  case T_PRODUCTS: return "type check failed: not a decimal number of grams";
  case T_CUSTOMERS:
    return strcmp(f->column, "email") == 0 ? "regex check failed: not an email address"
                                           : "enum check failed: not an ISO 3166-1 alpha-2 code";
  case T_PAYMENTS: return "type check failed: not a decimal amount";
  }
  return "check failed";
}

static const char *source_for(table_id_t t) {
  static const char *const s[] = {"erp-orders", "pim", "crm", "billing"};
  return s[t];
}

/* Writes the JSON message for family f with value m->value into m->payload,
 * broken as shape says. */
static void write_message(rf_produce_t *g, rf_produce_msg_t *m, const family_t *f,
                          const shape_t *sh) {
  rf_buf_t *b = &m->payload;
  const char *table = table_names[f->table];
  rf_buf_puts(b, "{\"id\":");
  rf_buf_json_str(b, m->id.data, m->id.len);
  if (sh->omit != F_TABLE) {
    rf_buf_puts(b, ",\"table\":");
    if (sh->wrong == F_TABLE)
      rf_buf_puts(b, "7");
    else
      rf_buf_json_str(b, table, strlen(table));
  }
  if (sh->omit != F_COLUMN) {
    rf_buf_puts(b, ",\"column\":");
    if (sh->wrong == F_COLUMN) {
      rf_buf_puts(b, "[");
      rf_buf_json_str(b, f->column, strlen(f->column));
      rf_buf_puts(b, "]");
    } else {
      rf_buf_json_str(b, f->column, strlen(f->column));
    }
  }
  if (sh->omit != F_PK) {
    rf_buf_puts(b, ",\"pk\":");
    if (sh->wrong == F_PK)
      rf_buf_printf(b, "\"%" PRIu64 "\"", m->n);
    else
      put_pk(b, f->table, m->n, &g->rng);
  }
  if (sh->omit != F_VALUE) {
    rf_buf_puts(b, ",\"value\":");
    if (sh->wrong == F_VALUE) {
      rf_buf_printf(b, "%d", (int)rng_range(&g->rng, 1, 99999));
    } else if (m->value_null) {
      rf_buf_puts(b, "null");
    } else if (sh->value_mode == V_NORMAL) {
      rf_buf_json_str(b, m->value.data, m->value.len);
    } else {
      /* Half the value, then a NUL (raw byte or \u0000 escape), then the rest. */
      size_t half = m->value.len / 2;
      rf_buf_putc(b, '"');
      rf_buf_append(b, m->value.data, half);
      if (sh->value_mode == V_RAW_NUL)
        rf_buf_append(b, "\0", 1);
      else
        rf_buf_puts(b, "\\u0000");
      rf_buf_append(b, m->value.data + half, m->value.len - half);
      rf_buf_putc(b, '"');
    }
  }
  rf_buf_puts(b, ",\"row\":");
  if (sh->deep) {
    rf_buf_puts(b, "{\"nested\":");
    for (int i = 0; i < DEEP_NESTING; i++)
      rf_buf_putc(b, '[');
    for (int i = 0; i < DEEP_NESTING; i++)
      rf_buf_putc(b, ']');
    rf_buf_putc(b, '}');
  } else {
    put_row(b, f->table, m->n, &g->rng);
  }
  if (sh->pad_to && rf_buf_ok(b)) {
    /* Replace the row's closing brace by a notes member long enough. */
    b->len--;
    rf_buf_puts(b, ",\"notes\":\"");
    size_t tail = 256; /* what follows: closing quote, reason, source, time */
    while (rf_buf_ok(b) && b->len + tail < sh->pad_to)
      rf_buf_puts(b, "lorem ipsum dolor sit amet ");
    rf_buf_puts(b, "\"}");
  }
  const char *reason = reason_for(f);
  rf_buf_puts(b, ",\"reason\":");
  rf_buf_json_str(b, reason, strlen(reason));
  rf_buf_printf(b, ",\"source_system\":\"%s\"", source_for(f->table));
  /* detected_at: 2024-06-01T00:00:00Z plus a quarter second per message. */
  time_t t = (time_t)1717200000 + (time_t)(m->n / 4);
  struct tm tm;
  gmtime_r(&t, &tm);
  rf_buf_printf(b, ",\"detected_at\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"}", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (int)(m->n % 4) * 250);
}

/* Replaces payload with a non-object JSON text or trailing data. */
static void write_not_object(rf_produce_t *g, rf_produce_msg_t *m) {
  rf_buf_reset(&m->payload);
  switch (rng_below(&g->rng, 4)) {
  case 0: rf_buf_puts(&m->payload, "[1,2,3]"); break;
  case 1: rf_buf_puts(&m->payload, "\"just a string\""); break;
  case 2: rf_buf_puts(&m->payload, "42"); break;
  default:
    rf_buf_puts(&m->payload, "{\"id\":");
    rf_buf_json_str(&m->payload, m->id.data, m->id.len);
    rf_buf_puts(&m->payload, ",\"table\":\"orders\"} {\"trailing\":true}");
    break;
  }
}

/* Invalid UTF-8 sequences: lone continuation, truncated, overlong, surrogate, > U+10FFFF. */
static const char *const bad_utf8[] = {"\x80", "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80", "\xff"};

int rf_produce_next(rf_produce_t *g, rf_produce_msg_t *m) {
  uint64_t n = ++g->n;
  rf_buf_reset(&m->payload);
  rf_buf_reset(&m->id);
  rf_buf_reset(&m->value);
  rf_buf_reset(&m->expected);
  m->n = n;
  m->value_null = false;
  m->reason = NULL;
  m->outcome = RF_PRODUCE_FIXED;
  rf_buf_printf(&m->id, "%s%" PRIu64, g->prefix, n);

  const family_t *f = &families[g->selected[rng_below(&g->rng, g->nselected)]];
  gen_t c = {&g->rng, n, &m->value, &m->expected, RF_PRODUCE_FIXED};
  f->fn(&c);
  m->outcome = c.outcome;

  /* Exactly floor(n * share) of the first n messages are malformed. */
  m->malformed = floor((double)n * g->share) > floor((double)(n - 1) * g->share);
  shape_t sh = {-1, -1, V_NORMAL, false, 0};
  if (!m->malformed) {
    m->family = f->name;
    m->table = table_names[f->table];
    m->column = f->column;
    write_message(g, m, f, &sh);
  } else {
    mal_kind_t kind = (mal_kind_t)(g->nmalformed++ % M_NKINDS);
    m->family = mal_kinds[kind].name;
    m->reason = mal_kinds[kind].reason;
    m->table = NULL;
    m->column = NULL;
    m->outcome = RF_PRODUCE_QUARANTINED;
    rf_buf_reset(&m->expected);
    switch (kind) {
    case M_TRUNCATED:
      write_message(g, m, f, &sh);
      if (rf_buf_ok(&m->payload)) {
        /* Cut between characters, never inside a UTF-8 sequence: the message
         * must be rejected as malformed JSON, not as invalid UTF-8. */
        size_t cut = 1 + (size_t)rng_below(&g->rng, m->payload.len - 1);
        while (cut > 1 && ((unsigned char)m->payload.data[cut] & 0xC0) == 0x80)
          cut--;
        m->payload.len = cut;
        m->payload.data[cut] = '\0';
      }
      break;
    case M_WRONG_TYPE:
      sh.wrong = (int)rng_below(&g->rng, F_NFIELDS);
      write_message(g, m, f, &sh);
      break;
    case M_MISSING_FIELD:
      sh.omit = (int)rng_below(&g->rng, F_NFIELDS);
      write_message(g, m, f, &sh);
      break;
    case M_INVALID_UTF8: {
      /* Splice a bad sequence into the middle of the value. */
      const char *bad = PICK(&g->rng, bad_utf8);
      rf_buf_t v = RF_BUF_INIT;
      size_t half = m->value.len / 2;
      rf_buf_append(&v, m->value.data ? m->value.data : "", half);
      rf_buf_puts(&v, bad);
      rf_buf_append(&v, m->value.data ? m->value.data + half : "", m->value.len - half);
      if (!rf_buf_ok(&v)) {
        rf_buf_free(&v);
        return RF_ENOMEM;
      }
      rf_buf_free(&m->value);
      m->value = v;
      write_message(g, m, f, &sh);
      break;
    }
    case M_EMPTY:
      break;
    case M_NUL_BYTE:
      sh.value_mode = rng_below(&g->rng, 2) ? V_RAW_NUL : V_ESCAPED_NUL;
      write_message(g, m, f, &sh);
      break;
    case M_DEEP_NESTING:
      sh.deep = true;
      write_message(g, m, f, &sh);
      break;
    case M_OVERSIZE:
      sh.pad_to = g->oversize;
      write_message(g, m, f, &sh);
      break;
    case M_NOT_OBJECT:
      write_not_object(g, m);
      break;
    case M_NKINDS:
      break;
    }
  }
  if (!rf_buf_ok(&m->payload) || !rf_buf_ok(&m->id) || !rf_buf_ok(&m->value) ||
      !rf_buf_ok(&m->expected))
    return RF_ENOMEM;
  return 0;
}

void rf_produce_truth(const rf_produce_msg_t *m, const char *entry_id, rf_buf_t *out) {
  rf_buf_puts(out, "{\"id\":");
  rf_buf_json_str(out, m->id.data ? m->id.data : "", m->id.len);
  rf_buf_puts(out, ",\"entry_id\":");
  if (entry_id)
    rf_buf_json_str(out, entry_id, strlen(entry_id));
  else
    rf_buf_puts(out, "null");
  rf_buf_puts(out, ",\"table\":");
  if (m->table)
    rf_buf_json_str(out, m->table, strlen(m->table));
  else
    rf_buf_puts(out, "null");
  rf_buf_puts(out, ",\"column\":");
  if (m->column)
    rf_buf_json_str(out, m->column, strlen(m->column));
  else
    rf_buf_puts(out, "null");
  rf_buf_puts(out, ",\"family\":");
  rf_buf_json_str(out, m->family, strlen(m->family));
  rf_buf_puts(out, ",\"value\":");
  if (m->malformed || m->value_null)
    rf_buf_puts(out, "null");
  else
    rf_buf_json_str(out, m->value.data ? m->value.data : "", m->value.len);
  rf_buf_puts(out, ",\"expected\":");
  if (m->outcome == RF_PRODUCE_FIXED)
    rf_buf_json_str(out, m->expected.data ? m->expected.data : "", m->expected.len);
  else
    rf_buf_puts(out, "null");
  rf_buf_printf(out, ",\"outcome\":\"%s\",\"reason\":", rf_produce_outcome_name(m->outcome));
  if (m->reason)
    rf_buf_json_str(out, m->reason, strlen(m->reason));
  else
    rf_buf_puts(out, "null");
  rf_buf_putc(out, '}');
}

/* ---- the Redis Streams sink ---- */

typedef struct redis_sink {
  redisContext *c;
  char *stream;
  char *field;
} redis_sink_t;

static int redis_send(rf_produce_sink_t *s, rf_produce_msg_t *const *msgs, size_t n, char **ids,
                      char *err, size_t errlen) {
  redis_sink_t *r = s->impl;
  for (size_t i = 0; i < n; i++) {
    const char *argv[5] = {"XADD", r->stream, "*", r->field, msgs[i]->payload.data
                                                                 ? msgs[i]->payload.data
                                                                 : ""};
    size_t lens[5] = {4, strlen(r->stream), 1, strlen(r->field), msgs[i]->payload.len};
    if (redisAppendCommandArgv(r->c, 5, argv, lens) != REDIS_OK) {
      snprintf(err, errlen, "redis: %s", r->c->errstr[0] ? r->c->errstr : "out of memory");
      return r->c->err == REDIS_ERR_OOM || r->c->err == 0 ? RF_ENOMEM : RF_ECONN;
    }
  }
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    redisReply *rep = NULL;
    if (redisGetReply(r->c, (void **)&rep) != REDIS_OK || rep == NULL) {
      snprintf(err, errlen, "redis: %s", r->c->errstr[0] ? r->c->errstr : "no reply");
      return RF_ECONN; /* the connection is unusable now */
    }
    if (rep->type == REDIS_REPLY_STRING) {
      if (rc == 0 && (ids[i] = rf_strndup(rep->str, rep->len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = RF_ENOMEM;
      }
    } else if (rc == 0) {
      snprintf(err, errlen, "redis: XADD %s: %s", r->stream,
               rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply type");
      rc = RF_EREDIS;
    }
    freeReplyObject(rep); /* keep reading: every reply must be consumed */
  }
  return rc;
}

static void redis_close(rf_produce_sink_t *s) {
  if (s == NULL)
    return;
  redis_sink_t *r = s->impl;
  if (r) {
    if (r->c)
      redisFree(r->c);
    rf_free(r->stream);
    rf_free(r->field);
    rf_free(r);
  }
  rf_free(s->name);
  rf_free(s);
}

static const rf_produce_sink_ops_t redis_sink_ops = {"redis", redis_send, redis_close};

int rf_produce_redis_sink_open(const char *host, int port, const char *stream, const char *field,
                               rf_produce_sink_t **out, char *err, size_t errlen) {
  int rc = RF_ENOMEM;
  *out = NULL;
  snprintf(err, errlen, "out of memory");
  rf_produce_sink_t *s = rf_calloc(1, sizeof(*s));
  if (s == NULL)
    return RF_ENOMEM;
  s->ops = &redis_sink_ops;
  redis_sink_t *r = s->impl = rf_calloc(1, sizeof(*r));
  if (r == NULL)
    goto fail;
  rf_buf_t name = RF_BUF_INIT;
  rf_buf_printf(&name, "redis://%s:%d/%s", host, port, stream);
  s->name = rf_buf_steal(&name);
  r->stream = rf_strdup(stream);
  r->field = rf_strdup(field ? field : "payload");
  if (s->name == NULL || r->stream == NULL || r->field == NULL)
    goto fail;
  struct timeval tv = {5, 0};
  r->c = redisConnectWithTimeout(host, port, tv);
  if (r->c == NULL)
    goto fail;
  if (r->c->err) {
    snprintf(err, errlen, "cannot connect to redis %s:%d: %s", host, port, r->c->errstr);
    rc = RF_ECONN;
    goto fail;
  }
  /* Replies to a large pipelined batch may take a while: no read timeout. */
  struct timeval none = {0, 0};
  redisSetTimeout(r->c, none);
  err[0] = '\0';
  *out = s;
  return 0;
fail:
  redis_close(s);
  return rc;
}

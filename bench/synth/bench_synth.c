/* bench_synth.c - how much of a realistic stream the offline synthesizer fixes,
 * and how often it is wrong.
 *
 * The dataset is generated here, with its ground truth: every family of
 * rectifyctl produce (lib/produce.c: 23 families over orders.order_date,
 * products.weight_g, customers.email, customers.country, payments.amount) plus
 * families of our own on four more columns (percentages into a [0, 1] rate,
 * 12-hour and UTC-marked timestamps, ordinal dates, yes/no booleans, display-
 * name emails, kilograms and pounds, and dates whose day and month are both
 * 12 or less: a family no one can fix without a guess, expected in
 * quarantine). Messages go through the real intake (rf_intake_parse), are
 * windowed per (table, column) in arrival order like rectifyd does, clustered
 * (rf_cluster_build), and each cluster goes through the synth generator (in a
 * chain, with its own gate), the pipeline's gate and apply (rf_apply_rows).
 * No daemon and no database: the numbers are the synthesizer's own.
 *
 * Every fixed row is compared with the truth: precision = fixed rows equal to
 * the truth / fixed rows; recall per family = rows fixed correctly / rows the
 * truth says can be fixed. A row fixed where the truth says "quarantine"
 * counts as wrong. Every wrong fix is listed (family, lambda, an example).
 *
 *   bench_synth [--messages N] [--window ROWS] [--seed S] [--wrong-examples K]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/cluster.h"
#include "rectify/config.h"
#include "rectify/contract.h"
#include "rectify/error.h"
#include "rectify/fixgen.h"
#include "rectify/gate.h"
#include "rectify/intake.h"
#include "rectify/lambda.h"
#include "rectify/log.h"
#include "rectify/metrics.h"
#include "rectify/produce.h"
#include "rectify/synth.h"

static const char conf_text[] =
    "[column \"orders.order_date\"]\ntype = date\nformat = %Y-%m-%d\nmin = 2000-01-01\n"
    "[column \"products.weight_g\"]\ntype = decimal\nmin = 0\n"
    "[column \"customers.email\"]\ntype = email\n"
    "[column \"customers.country\"]\ntype = enum\nallowed = US, FR, DE, GB\nnullable = yes\n"
    "[column \"payments.amount\"]\ntype = decimal\n"
    "[column \"metrics.rate\"]\ntype = decimal\nmin = 0\nmax = 1\n"
    "[column \"events.ts\"]\ntype = timestamp\n"
    "[column \"events.day\"]\ntype = date\n"
    "[column \"accounts.active\"]\ntype = boolean\n";

/* ---- our own families ---- */

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static int rng(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); }

static const char *const months[] = {"January", "February", "March",     "April",   "May",
                                     "June",    "July",     "August",    "September", "October",
                                     "November", "December"};
static const char *const first[] = {"John", "Jane", "Maria", "Ahmed", "Li", "Olga"};
static const char *const last[] = {"Doe", "Smith", "Garcia", "Khan", "Wang", "Ivanova"};

typedef struct own {
  const char *name, *table, *column;
  /* writes the value and the expected output; returns 0 fixed, 1 quarantined */
  int (*fn)(rf_buf_t *v, rf_buf_t *want);
} own_t;

static int days_in(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : d[m - 1];
}

static int o_rate_percent(rf_buf_t *v, rf_buf_t *w) {
  int tenths = rng(0, 1000); /* 0.0% .. 100.0% */
  if (tenths % 10 == 0) {
    rf_buf_printf(v, "%d%%", tenths / 10);
    rf_buf_printf(w, "%d.%02d", tenths / 1000, (tenths / 10) % 100);
  } else {
    rf_buf_printf(v, "%d.%d%%", tenths / 10, tenths % 10);
    rf_buf_printf(w, "%d.%03d", tenths / 1000, tenths % 1000);
  }
  return 0;
}
static int o_ts_ampm(rf_buf_t *v, rf_buf_t *w) {
  int y = rng(2000, 2025), m = rng(1, 12), d = rng(1, days_in(y, m)), h = rng(0, 23), mi = rng(0, 59);
  rf_buf_printf(v, "%02d/%02d/%04d %d:%02d %s", m, d, y, h % 12 ? h % 12 : 12, mi, h < 12 ? "AM" : "PM");
  rf_buf_printf(w, "%04d-%02d-%02dT%02d:%02d:00", y, m, d, h, mi);
  return 0;
}
static int o_ts_utc(rf_buf_t *v, rf_buf_t *w) {
  int y = rng(2000, 2025), m = rng(1, 12), d = rng(1, days_in(y, m)), h = rng(0, 23), mi = rng(0, 59),
      s = rng(0, 59);
  rf_buf_printf(v, "%04d-%02d-%02d %02d:%02d:%02d UTC", y, m, d, h, mi, s);
  rf_buf_printf(w, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, h, mi, s);
  return 0;
}
static int o_date_ordinal(rf_buf_t *v, rf_buf_t *w) {
  int y = rng(2000, 2025), m = rng(1, 12), d = rng(1, days_in(y, m));
  const char *suf = (d % 10 == 1 && d != 11) ? "st" : (d % 10 == 2 && d != 12) ? "nd"
                    : (d % 10 == 3 && d != 13) ? "rd" : "th";
  rf_buf_printf(v, "%s %d%s, %04d", months[m - 1], d, suf, y);
  rf_buf_printf(w, "%04d-%02d-%02d", y, m, d);
  return 0;
}
/* Day and month both 12 or less: D/M or M/D? Nothing can tell. */
static int o_day_ambiguous(rf_buf_t *v, rf_buf_t *w) {
  int y = rng(2000, 2025), m = rng(1, 12), d = rng(1, 12);
  rf_buf_printf(v, "%02d/%02d/%04d", d, m, y);
  (void)w;
  return 1;
}
static int o_bool_yes_no(rf_buf_t *v, rf_buf_t *w) {
  static const char *const t[] = {"yes", "Yes", "Y", "y", "YES"};
  static const char *const f[] = {"no", "No", "N", "n", "NO"};
  bool b = rnd() & 1;
  rf_buf_puts(v, b ? t[rnd() % 5] : f[rnd() % 5]);
  rf_buf_puts(w, b ? "true" : "false");
  return 0;
}
static int o_email_display(rf_buf_t *v, rf_buf_t *w) {
  const char *f = first[rnd() % 6], *l = last[rnd() % 6];
  rf_buf_printf(v, "%s %s <%s.%s@example.com>", f, l, f, l);
  for (const char *p = f; *p; p++)
    rf_buf_putc(w, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
  rf_buf_putc(w, '.');
  for (const char *p = l; *p; p++)
    rf_buf_putc(w, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
  rf_buf_puts(w, "@example.com");
  return 0;
}
static int o_weight_kg(rf_buf_t *v, rf_buf_t *w) {
  int g10 = rng(1, 500); /* tenths of a kilogram */
  rf_buf_printf(v, "%d.%d kg", g10 / 10, g10 % 10);
  rf_buf_printf(w, "%d.00", g10 * 100);
  return 0;
}

static const own_t owns[] = {
    {"rate_percent", "metrics", "rate", o_rate_percent},
    {"ts_ampm", "events", "ts", o_ts_ampm},
    {"ts_utc", "events", "ts", o_ts_utc},
    {"date_ordinal", "orders", "order_date", o_date_ordinal},
    {"day_ambiguous", "events", "day", o_day_ambiguous},
    {"bool_yes_no", "accounts", "active", o_bool_yes_no},
    {"email_display", "customers", "email", o_email_display},
    {"weight_kg", "products", "weight_g", o_weight_kg},
};
#define NOWNS (sizeof(owns) / sizeof(owns[0]))

/* ---- the dataset ---- */

typedef struct item {
  rf_anomaly_t a;
  const char *family;
  char *expected;    /* NULL: SQL NULL */
  bool quarantine;   /* the truth: no fix is right */
  /* result */
  int outcome;       /* 0 none yet, 1 fixed, 2 quarantined */
  char *got;
  const char *generator_lambda;
} item_t;

typedef struct fam {
  const char *name, *table, *column;
  size_t n, expect_fix, fixed_ok, fixed_wrong, quarantined, quarantined_ok;
} fam_t;

static fam_t fams[64];
static size_t nfams;

static fam_t *fam_get(const char *name, const char *table, const char *column) {
  for (size_t i = 0; i < nfams; i++)
    if (strcmp(fams[i].name, name) == 0)
      return &fams[i];
  fams[nfams] = (fam_t){.name = name, .table = table, .column = column};
  return &fams[nfams++];
}

typedef struct wrong {
  const char *family;
  char *lambda;
  char *value, *want, *got;
  size_t count;
} wrong_t;

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_synth: %s: %s\n", what, rf_strerror(rc));
  exit(2);
}

static int cmp_item_col(const void *x, const void *y) {
  const item_t *a = *(item_t *const *)x, *b = *(item_t *const *)y;
  int c = strcmp(a->a.table_name, b->a.table_name);
  if (c == 0)
    c = strcmp(a->a.column_name, b->a.column_name);
  if (c == 0)
    c = a < b ? -1 : a > b;
  return c;
}

typedef struct got_t {
  rf_fix_candidate_t *cand;
  char why[1024];
} got_t;

static void on_fix(int status, rf_fix_candidate_t *cand, const char *why, void *arg) {
  got_t *g = arg;
  if (status)
    die("synth generator", status);
  g->cand = cand;
  snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
}

static int cmp_fam(const void *x, const void *y) {
  const fam_t *a = x, *b = y;
  int c = strcmp(a->table, b->table);
  if (c == 0)
    c = strcmp(a->column, b->column);
  return c ? c : strcmp(a->name, b->name);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long messages = 60000, window = 5000, wrong_examples = 50;
  uint64_t seed = 1;
  static const struct option opts[] = {{"messages", required_argument, NULL, 'n'},
                                       {"window", required_argument, NULL, 'w'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"wrong-examples", required_argument, NULL, 'k'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "n:w:s:k:", opts, NULL)) != -1) {
    switch (c) {
    case 'n': messages = atol(optarg); break;
    case 'w': window = atol(optarg); break;
    case 's': seed = strtoull(optarg, NULL, 10); break;
    case 'k': wrong_examples = atol(optarg); break;
    default:
      fprintf(stderr, "usage: bench_synth [--messages N] [--window ROWS] [--seed S] "
                      "[--wrong-examples K]\n");
      return 2;
    }
  }
  if (messages < 1 || window < 1)
    return 2;
  rf_alloc_init();
  rf_log_set_level(RF_LOG_WARN);
  char path[] = "/tmp/bench-synth-XXXXXX";
  int fd = mkstemp(path);
  FILE *cf = fdopen(fd, "w");
  fputs(conf_text, cf);
  fclose(cf);
  char err[1024];
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  unlink(path);
  if (cfg == NULL) {
    fprintf(stderr, "bench_synth: %s\n", err);
    return 2;
  }
  rf_intake_opts_t io;
  rf_intake_opts_from_config(&io, cfg);

  /* Generate: produce's families and ours, interleaved by one seeded stream. */
  rng_state = seed * 7919;
  rf_produce_opts_t po = {.seed = seed, .malformed = 0};
  rf_produce_t *gen;
  if (rf_produce_new(&po, &gen, err, sizeof(err)))
    die(err, RF_EINVAL);
  size_t nprod = rf_produce_family_count();
  item_t *items = calloc((size_t)messages, sizeof(*items));
  rf_produce_msg_t m;
  rf_produce_msg_init(&m);
  rf_buf_t v = RF_BUF_INIT, w = RF_BUF_INIT, payload = RF_BUF_INIT;
  for (long i = 0; i < messages; i++) {
    item_t *it = &items[i];
    int rc;
    if (rnd() % (nprod + NOWNS) < nprod) {
      if ((rc = rf_produce_next(gen, &m)))
        die("produce", rc);
      if ((rc = rf_intake_parse(&io, "bench", m.id.data, m.payload.data, m.payload.len, &it->a)))
        die("intake", rc);
      it->family = m.family;
      it->quarantine = m.outcome == RF_PRODUCE_QUARANTINED;
      it->expected = m.outcome == RF_PRODUCE_FIXED ? strdup(m.expected.data ? m.expected.data : "")
                                                   : NULL;
    } else {
      const own_t *o = &owns[rnd() % NOWNS];
      rf_buf_reset(&v);
      rf_buf_reset(&w);
      rf_buf_reset(&payload);
      it->quarantine = o->fn(&v, &w) != 0;
      rf_buf_printf(&payload, "{\"id\":\"own-%ld\",\"table\":\"%s\",\"column\":\"%s\","
                              "\"pk\":{\"id\":%ld},\"value\":", i, o->table, o->column, i);
      rf_buf_json_str(&payload, v.data, v.len);
      rf_buf_puts(&payload, "}");
      char sid[32];
      snprintf(sid, sizeof(sid), "own-%ld", i);
      if ((rc = rf_intake_parse(&io, "bench", sid, payload.data, payload.len, &it->a)))
        die("intake", rc);
      it->family = o->name;
      it->expected = it->quarantine ? NULL : strdup(w.data);
    }
    if (it->a.reject) {
      fprintf(stderr, "bench_synth: intake rejected %s: %s\n", it->family, it->a.reject_detail);
      return 2;
    }
    fam_t *f = fam_get(it->family, it->a.table_name, it->a.column_name);
    f->n++;
    f->expect_fix += !it->quarantine;
  }
  rf_produce_msg_free(&m);
  rf_produce_free(gen);

  /* Window per (table, column) in arrival order, cluster, synth, gate, apply. */
  item_t **order = malloc((size_t)messages * sizeof(*order));
  for (long i = 0; i < messages; i++)
    order[i] = &items[i];
  qsort(order, (size_t)messages, sizeof(*order), cmp_item_col);
  rf_model_stats_t stats = {0};
  rf_fixchain_t *chain = rf_fixchain_new();
  rf_fixchain_add(chain, &rf_fixgen_synth_ops, rf_fixgen_synth_new(NULL, 0.75, &stats));
  rf_lambda_ctx_t *ctx = rf_lambda_ctx_new();
  size_t clusters = 0, clusters_fixed = 0, windows = 0;
  size_t refusal_ambiguous = 0, refusal_none = 0, refusal_gate = 0;
  double t_synth = 0, t_apply = 0;
  wrong_t *wrongs = NULL;
  size_t nwrongs = 0;
  rf_anomaly_t **rows = malloc((size_t)window * sizeof(*rows));
  item_t **ritems = malloc((size_t)window * sizeof(*ritems));
  for (long s = 0; s < messages;) {
    long e = s;
    size_t nw = 0;
    while (e < messages && nw < (size_t)window &&
           strcmp(order[e]->a.table_name, order[s]->a.table_name) == 0 &&
           strcmp(order[e]->a.column_name, order[s]->a.column_name) == 0) {
      ritems[nw] = order[e];
      rows[nw++] = &order[e]->a;
      e++;
    }
    windows++;
    const char *tn = order[s]->a.table_name, *cn = order[s]->a.column_name;
    const rf_contract_t *k = rf_config_contract(cfg, tn, cn);
    rf_checker_t *checker = NULL;
    int rc;
    if ((rc = rf_checker_new(k, &checker, err, sizeof(err))))
      die(err, rc);
    rf_clustering_t cl;
    if ((rc = rf_cluster_build(tn, cn, rows, nw, &cl)))
      die("cluster", rc);
    for (size_t ci = 0; ci < cl.n; ci++) {
      rf_cluster_t *cc = &cl.clusters[ci];
      clusters++;
      rf_fix_request_t req = {tn, cn, k, cc};
      got_t got = {0};
      double t0 = now_s();
      if ((rc = rf_fixchain_run(chain, &req, on_fix, &got)))
        die("chain", rc);
      t_synth += now_s() - t0;
      rf_lambda_t *l = NULL;
      if (got.cand) {
        rf_gate_verdict_t verdict;
        if ((rc = rf_gate_check(got.cand, checker, cc, 0.75, &verdict, &l)))
          die("gate", rc);
        if (!verdict.ok) {
          refusal_gate++;
          rf_fix_candidate_free(got.cand);
          got.cand = NULL;
        }
      } else if (strstr(got.why, "ambiguous")) {
        refusal_ambiguous++;
      } else if (strstr(got.why, "refused by the gate")) {
        refusal_gate++;
      } else {
        refusal_none++;
      }
      /* Row -> item: rows of a cluster point into the window's anomalies. */
      rf_apply_row_t *out = NULL;
      if (got.cand) {
        clusters_fixed++;
        out = calloc(cc->n, sizeof(*out));
        t0 = now_s();
        if ((rc = rf_apply_rows(l, checker, cc->rows, cc->n, ctx, out)))
          die("apply", rc);
        t_apply += now_s() - t0;
      }
      for (size_t r = 0; r < cc->n; r++) {
        item_t *it = (item_t *)((char *)cc->rows[r] - offsetof(item_t, a));
        fam_t *f = fam_get(it->family, NULL, NULL);
        bool fixed = out && out[r].fixed;
        if (!fixed) {
          f->quarantined++;
          f->quarantined_ok += it->quarantine;
          continue;
        }
        const char *gv = out[r].new_value;
        bool ok = !it->quarantine && ((gv == NULL && it->expected == NULL) ||
                                      (gv && it->expected && strcmp(gv, it->expected) == 0));
        if (ok) {
          f->fixed_ok++;
          continue;
        }
        f->fixed_wrong++;
        size_t wi = 0;
        while (wi < nwrongs && !(wrongs[wi].family == it->family &&
                                 strcmp(wrongs[wi].lambda, got.cand->lambda_src) == 0))
          wi++;
        if (wi == nwrongs) {
          wrongs = realloc(wrongs, (nwrongs + 1) * sizeof(*wrongs));
          char *val = it->a.value ? strndup(it->a.value, it->a.value_len) : strdup("null");
          wrongs[nwrongs++] = (wrong_t){it->family, strdup(got.cand->lambda_src), val,
                                        strdup(it->quarantine ? "(quarantine)"
                                               : it->expected ? it->expected : "null"),
                                        strdup(gv ? gv : "null"), 0};
        }
        wrongs[wi].count++;
      }
      if (out) {
        for (size_t r = 0; r < cc->n; r++)
          rf_apply_row_clear(&out[r]);
        free(out);
      }
      rf_lambda_free(l);
      rf_fix_candidate_free(got.cand);
    }
    rf_clustering_free(&cl);
    rf_checker_free(checker);
    s = e;
  }

  /* The table, by column then family. */
  qsort(fams, nfams, sizeof(fams[0]), cmp_fam);
  size_t tot = 0, exp_fix = 0, ok = 0, wrong = 0, q = 0, qok = 0;
  printf("| family | column | rows | fixable | fixed correctly | fixed wrong | quarantined | recall |\n");
  printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < nfams; i++) {
    fam_t *f = &fams[i];
    char recall[32];
    if (f->expect_fix)
      snprintf(recall, sizeof(recall), "%.1f%%", 100.0 * (double)f->fixed_ok / (double)f->expect_fix);
    else
      snprintf(recall, sizeof(recall), "n/a (%s)", f->fixed_wrong ? "GUESSED" : "none guessed");
    printf("| %s | %s.%s | %zu | %zu | %zu | %zu | %zu | %s |\n", f->name, f->table, f->column,
           f->n, f->expect_fix, f->fixed_ok, f->fixed_wrong, f->quarantined, recall);
    tot += f->n, exp_fix += f->expect_fix, ok += f->fixed_ok, wrong += f->fixed_wrong;
    q += f->quarantined, qok += f->quarantined_ok;
  }
  printf("| **all** | %zu columns | %zu | %zu | %zu | %zu | %zu | %.1f%% |\n\n", (size_t)9, tot,
         exp_fix, ok, wrong, q, 100.0 * (double)ok / (double)(exp_fix ? exp_fix : 1));
  printf("precision (fixed rows equal to the truth): %zu / %zu = %.3f%%\n", ok, ok + wrong,
         100.0 * (double)ok / (double)(ok + wrong ? ok + wrong : 1));
  printf("recall (fixable rows fixed correctly):     %zu / %zu = %.1f%%\n", ok, exp_fix,
         100.0 * (double)ok / (double)(exp_fix ? exp_fix : 1));
  printf("rows that must be quarantined and were:    %zu / %zu\n", qok, tot - exp_fix);
  printf("windows %zu, clusters %zu: fixed by synth %zu (model calls avoided), refused %zu "
         "(ambiguous %zu, no candidate %zu, gate %zu)\n", windows, clusters, clusters_fixed,
         clusters - clusters_fixed, refusal_ambiguous, refusal_none, refusal_gate);
  printf("synth generator stats: synth_fixes=%" PRIu64 " rejections=%" PRIu64 "\n",
         stats.synth_fixes, stats.rejections);
  printf("time: synthesis %.3f s (%.2f ms per cluster), apply %.3f s (%.2f us per fixed row)\n",
         t_synth, 1000 * t_synth / (double)(clusters ? clusters : 1), t_apply,
         1e6 * t_apply / (double)(ok + wrong ? ok + wrong : 1));
  printf("\nwrong fixes: %zu rows in %zu (family, lambda) groups\n", wrong, nwrongs);
  for (size_t i = 0; i < nwrongs && (long)i < wrong_examples; i++)
    printf("  %zu x %s: %s\n     e.g. %s -> %s, truth %s\n", wrongs[i].count, wrongs[i].family,
           wrongs[i].lambda, wrongs[i].value, wrongs[i].got, wrongs[i].want);
  for (size_t i = 0; i < nwrongs; i++) {
    free(wrongs[i].lambda);
    free(wrongs[i].value);
    free(wrongs[i].want);
    free(wrongs[i].got);
  }
  free(wrongs);
  free(rows);
  free(ritems);
  free(order);
  for (long i = 0; i < messages; i++) {
    rf_anomaly_clear(&items[i].a);
    free(items[i].expected);
  }
  free(items);
  rf_lambda_ctx_free(ctx);
  rf_fixchain_free(chain);
  rf_buf_free(&v);
  rf_buf_free(&w);
  rf_buf_free(&payload);
  rf_config_free(cfg);
  return ok + wrong && (double)ok / (double)(ok + wrong) >= 0.99 ? 0 : 1;
}

/* stats.c - `rectifyctl stats`: totals, reasons, generators, LLM call
 * reduction and chain heads, from the committed tables only. Each query is
 * one aggregate; nothing here loads rows. */
#include "rectify/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/pg.h"

PGconn *rf_stats_connect(const rf_config_t *cfg, const char *appname, char *errbuf,
                         size_t errlen) {
  char *password = NULL;
  if (cfg->pg_password_file && cfg->pg_password_file[0] &&
      (password = rf_config_read_secret(cfg->pg_password_file, NULL, errbuf, errlen)) == NULL)
    return NULL;
  PGconn *c = rf_pg_connect(cfg->pg_conninfo, password, appname, errbuf, errlen);
  rf_free(password);
  return c;
}

static PGresult *query(PGconn *c, const char *sql, char *errbuf, size_t errlen) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    snprintf(errbuf, errlen, "%s", PQerrorMessage(c));
    errbuf[strcspn(errbuf, "\n")] = '\0';
    PQclear(r);
    return NULL;
  }
  return r;
}

typedef struct kv_list {
  PGresult *res; /* two columns: name, count */
} kv_list_t;

int rf_stats_report(PGconn *c, int json, rf_buf_t *out, char *errbuf, size_t errlen) {
  PGresult *tot = NULL, *reasons = NULL, *gens = NULL, *heads = NULL;
  int rc = RF_EDB;
  if ((tot = query(c,
                   "SELECT count(*), coalesce(sum(received),0), coalesce(sum(fixed),0),"
                   " coalesce(sum(quarantined),0), coalesce(sum(duplicates),0),"
                   " (SELECT count(*) FROM rectify.fixes WHERE generator = 'model'),"
                   " coalesce(min(committed_at)::text, ''), coalesce(max(committed_at)::text, '')"
                   " FROM rectify.batches",
                   errbuf, errlen)) == NULL ||
      (reasons = query(c,
                       "SELECT reason, count(*) FROM rectify.quarantine GROUP BY reason"
                       " ORDER BY count(*) DESC, reason",
                       errbuf, errlen)) == NULL ||
      (gens = query(c,
                    "SELECT coalesce(generator, 'unknown'), count(*) FROM rectify.staging"
                    " GROUP BY 1 ORDER BY count(*) DESC, 1",
                    errbuf, errlen)) == NULL ||
      (heads = query(c,
                     "SELECT DISTINCT ON (chain_id) chain_id, seq, encode(hash, 'hex')"
                     " FROM rectify.audit ORDER BY chain_id, seq DESC",
                     errbuf, errlen)) == NULL)
    goto out;
  long long batches = atoll(PQgetvalue(tot, 0, 0)), received = atoll(PQgetvalue(tot, 0, 1)),
            fixed = atoll(PQgetvalue(tot, 0, 2)), quarantined = atoll(PQgetvalue(tot, 0, 3)),
            dups = atoll(PQgetvalue(tot, 0, 4)), model_fixes = atoll(PQgetvalue(tot, 0, 5));
  /* Each accepted model fix cost at least one call; clusters served by the
   * cache, transfer or synth cost none. */
  double reduction = received ? 1.0 - (double)model_fixes / (double)received : 0.0;
  if (json) {
    rf_buf_printf(out,
                  "{\"batches\":%lld,\"received\":%lld,\"fixed\":%lld,\"quarantined\":%lld,"
                  "\"duplicates\":%lld,\"balanced\":%s,\"model_fixes\":%lld,"
                  "\"llm_call_reduction\":%.6f,\"quarantined_by_reason\":{",
                  batches, received, fixed, quarantined, dups,
                  received == fixed + quarantined ? "true" : "false", model_fixes, reduction);
    for (int i = 0; i < PQntuples(reasons); i++) {
      if (i)
        rf_buf_putc(out, ',');
      rf_buf_json_str(out, PQgetvalue(reasons, i, 0), strlen(PQgetvalue(reasons, i, 0)));
      rf_buf_printf(out, ":%s", PQgetvalue(reasons, i, 1));
    }
    rf_buf_puts(out, "},\"fixed_by_generator\":{");
    for (int i = 0; i < PQntuples(gens); i++) {
      if (i)
        rf_buf_putc(out, ',');
      rf_buf_json_str(out, PQgetvalue(gens, i, 0), strlen(PQgetvalue(gens, i, 0)));
      rf_buf_printf(out, ":%s", PQgetvalue(gens, i, 1));
    }
    rf_buf_puts(out, "},\"chain_heads\":[");
    for (int i = 0; i < PQntuples(heads); i++) {
      rf_buf_puts(out, i ? ",{\"chain\":" : "{\"chain\":");
      rf_buf_json_str(out, PQgetvalue(heads, i, 0), strlen(PQgetvalue(heads, i, 0)));
      rf_buf_printf(out, ",\"seq\":%s,\"hash\":\"%s\"}", PQgetvalue(heads, i, 1),
                    PQgetvalue(heads, i, 2));
    }
    rf_buf_puts(out, "]}\n");
  } else {
    rf_buf_printf(out,
                  "batches       %lld  (%s to %s)\n"
                  "received      %lld\n"
                  "fixed         %lld\n"
                  "quarantined   %lld\n"
                  "duplicates    %lld  (redeliveries recognised, not written again)\n"
                  "balanced      %s  (received = fixed + quarantined)\n"
                  "model fixes   %lld  (LLM call reduction %.2f%%)\n",
                  batches, PQgetvalue(tot, 0, 6), PQgetvalue(tot, 0, 7), received, fixed,
                  quarantined, dups, received == fixed + quarantined ? "yes" : "NO", model_fixes,
                  100.0 * reduction);
    rf_buf_puts(out, "\nquarantined by reason\n");
    for (int i = 0; i < PQntuples(reasons); i++)
      rf_buf_printf(out, "  %-26s %s\n", PQgetvalue(reasons, i, 0), PQgetvalue(reasons, i, 1));
    rf_buf_puts(out, "\nfixed by generator\n");
    for (int i = 0; i < PQntuples(gens); i++)
      rf_buf_printf(out, "  %-26s %s\n", PQgetvalue(gens, i, 0), PQgetvalue(gens, i, 1));
    rf_buf_puts(out, "\naudit chain heads\n");
    for (int i = 0; i < PQntuples(heads); i++)
      rf_buf_printf(out, "  %-26s seq %s  %s\n", PQgetvalue(heads, i, 0),
                    PQgetvalue(heads, i, 1), PQgetvalue(heads, i, 2));
  }
  rc = rf_buf_ok(out) ? 0 : RF_ENOMEM;
out:
  PQclear(tot);
  PQclear(reasons);
  PQclear(gens);
  PQclear(heads);
  return rc;
}

/* dashboard_html.c - the dashboard's pages, rendered on the server from the
 * same JSON documents the API returns, plus its one stylesheet and one
 * script (embedded: no build step, no framework, nothing fetched from
 * elsewhere, so the Content-Security-Policy can be 'self' only).
 *
 * Accessibility: every control has a <label>, tables have <caption> and
 * <th scope>, the page has landmarks (header/nav/main) and a skip link,
 * results of actions are announced through an aria-live region, focus is
 * visible, and the colours meet WCAG AA contrast (text #1b1f24 on #ffffff,
 * links #0645ad, errors #a40000).
 *
 * Every value from the database or the person is escaped with
 * rf__dash_html_escape, URL parameters with url_put.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "dashboard_int.h"

/* ---- escaping ------------------------------------------------------------------ */

void rf__dash_html_escape(rf_buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': rf_buf_puts(out, "&amp;"); break;
    case '<': rf_buf_puts(out, "&lt;"); break;
    case '>': rf_buf_puts(out, "&gt;"); break;
    case '"': rf_buf_puts(out, "&quot;"); break;
    case '\'': rf_buf_puts(out, "&#39;"); break;
    default: rf_buf_putc(out, s[i]);
    }
  }
}

static void esc(rf_buf_t *b, const char *s) {
  if (s)
    rf__dash_html_escape(b, s, strlen(s));
}

/* Escaped text, or an em dash for null. */
static void esc_or(rf_buf_t *b, const char *s) {
  if (s)
    esc(b, s);
  else
    rf_buf_puts(b, "<span class=\"null\">null</span>");
}

static void url_put(rf_buf_t *b, const char *s) {
  static const char hx[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-_.~", *p))
      rf_buf_putc(b, (char)*p);
    else
      rf_buf_printf(b, "%%%c%c", hx[*p >> 4], hx[*p & 15]);
  }
}

static const char *str(const cJSON *o, const char *k) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static double num(const cJSON *o, const char *k) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(it) ? it->valuedouble : 0;
}

/* ---- layout ------------------------------------------------------------------------ */

static void head(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const char *title, const char *nav) {
  rf_buf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
  if (pc && pc->csrf) {
    rf_buf_puts(b, "<meta name=\"csrf-token\" content=\"");
    esc(b, pc->csrf);
    rf_buf_puts(b, "\">");
  }
  rf_buf_puts(b, "<title>");
  esc(b, title);
  rf_buf_puts(b, " · rectify quarantine</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
                 "<script src=\"/static/app.js\" defer></script></head><body>"
                 "<a class=\"skip\" href=\"#main\">Skip to content</a>"
                 "<header><span class=\"brand\">rectify · quarantine</span>");
  if (pc && pc->actor) {
    rf_buf_puts(b, "<nav aria-label=\"Main\"><ul>");
    const char *items[][2] = {{"/", "Overview"}, {"/clusters", "Clusters"}};
    for (size_t i = 0; i < 2; i++) {
      rf_buf_printf(b, "<li><a href=\"%s\"%s>%s</a></li>", items[i][0],
                    nav && strcmp(nav, items[i][0]) == 0 ? " aria-current=\"page\"" : "",
                    items[i][1]);
    }
    rf_buf_puts(b, "</ul></nav><form class=\"who\" method=\"post\" action=\"/logout\">"
                   "<span>Signed in as <strong id=\"actor\">");
    esc(b, pc->actor);
    rf_buf_puts(b, "</strong></span> <button type=\"submit\">Sign out</button></form>");
  }
  rf_buf_puts(b, "</header><main id=\"main\" tabindex=\"-1\"><h1>");
  esc(b, title);
  rf_buf_puts(b, "</h1><div id=\"status\" role=\"status\" aria-live=\"polite\"></div>");
}

static void foot(rf_buf_t *b) { rf_buf_puts(b, "</main></body></html>\n"); }

void rf__dash_page_login(rf_buf_t *b, const char *error) {
  head(b, NULL, "Sign in", NULL);
  if (error) {
    rf_buf_puts(b, "<p class=\"error\" role=\"alert\">");
    esc(b, error);
    rf_buf_puts(b, "</p>");
  }
  rf_buf_puts(b,
              "<form method=\"post\" action=\"/login\" class=\"card narrow\">"
              "<p>Sign in with your dashboard token (from the token file given to "
              "<code>rectifyctl serve --token-file</code>).</p>"
              "<label for=\"token\">Token</label>"
              "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" "
              "required autofocus>"
              "<button type=\"submit\" class=\"primary\">Sign in</button></form>");
  foot(b);
}

void rf__dash_page_error(rf_buf_t *b, const rf_dash_page_ctx_t *pc, int status, const char *msg) {
  char title[64];
  snprintf(title, sizeof(title), "Error %d", status);
  head(b, pc, title, NULL);
  rf_buf_puts(b, "<p class=\"error\" role=\"alert\">");
  esc(b, msg);
  rf_buf_puts(b, "</p><p><a href=\"/\">Back to the overview</a></p>");
  foot(b);
}

/* ---- overview ------------------------------------------------------------------------ */

static void cluster_link(rf_buf_t *b, const char *table, const char *column, const char *fp) {
  rf_buf_puts(b, "/cluster?table=");
  url_put(b, table);
  rf_buf_puts(b, "&amp;column=");
  url_put(b, column);
  rf_buf_puts(b, "&amp;fp=");
  url_put(b, fp);
}

void rf__dash_page_overview(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc) {
  head(b, pc, "Overview", "/");
  const cJSON *l24 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "last_24h"), 0);
  const cJSON *llm = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "llm"), 0);
  rf_buf_printf(b,
                "<section aria-labelledby=\"h-now\" class=\"cards\"><h2 id=\"h-now\" "
                "class=\"sr-only\">At a glance</h2>"
                "<div class=\"card stat\"><span class=\"big\" id=\"open-total\">%.0f</span> open rows</div>"
                "<div class=\"card stat\"><span class=\"big\">%.0f</span> quarantined in the last 24 h</div>"
                "<div class=\"card stat\"><span class=\"big\">%.0f</span> fixed automatically in 24 h</div>"
                "<div class=\"card stat\"><span class=\"big\">%.0f / %.0f / %.0f</span> "
                "resolved / discarded / requeued by people in 24 h</div></section>",
                num(l24, "open"), num(l24, "quarantined"), num(l24, "fixed"),
                num(l24, "resolved"), num(l24, "discarded"), num(l24, "requeued"));
  rf_buf_puts(b, "<section aria-labelledby=\"h-llm\"><h2 id=\"h-llm\">LLM call reduction (24 h)</h2>");
  if (llm && num(llm, "rows") > 0)
    rf_buf_printf(b,
                  "<p><strong>%.1f%%</strong> fewer model calls than one per row: %.0f rows "
                  "reached the fix generators in %.0f clusters; %.0f model calls; %.0f rows "
                  "fixed by the cache, transfer or the synthesizer without the model.</p>",
                  num(llm, "reduction_pct"), num(llm, "rows"), num(llm, "clusters"),
                  num(llm, "model_calls"), num(llm, "rows_without_model"));
  else
    rf_buf_puts(b, "<p>No rows in the last 24 hours.</p>");
  rf_buf_puts(b, "</section><section aria-labelledby=\"h-open\"><h2 id=\"h-open\">Open rows by "
                 "table, column and reason</h2><table><caption class=\"sr-only\">Open rows</caption>"
                 "<thead><tr><th scope=\"col\">Table</th><th scope=\"col\">Column</th>"
                 "<th scope=\"col\">Reason</th><th scope=\"col\" class=\"num\">Open</th></tr>"
                 "</thead><tbody>");
  const cJSON *r;
  int n = 0;
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "open_by")) {
    n++;
    rf_buf_puts(b, "<tr><td>");
    esc_or(b, str(r, "table"));
    rf_buf_puts(b, "</td><td>");
    esc_or(b, str(r, "column"));
    rf_buf_puts(b, "</td><td><a href=\"/clusters?table=");
    url_put(b, str(r, "table"));
    rf_buf_puts(b, "&amp;column=");
    url_put(b, str(r, "column"));
    rf_buf_puts(b, "&amp;reason=");
    url_put(b, str(r, "reason"));
    rf_buf_puts(b, "\">");
    esc(b, str(r, "reason"));
    rf_buf_printf(b, "</a></td><td class=\"num\">%.0f</td></tr>", num(r, "open"));
  }
  if (n == 0)
    rf_buf_puts(b, "<tr><td colspan=\"4\">Nothing is waiting. </td></tr>");
  rf_buf_puts(b, "</tbody></table></section><section aria-labelledby=\"h-audit\"><h2 "
                 "id=\"h-audit\">Audit chains</h2><table><caption class=\"sr-only\">Audit chain "
                 "heads</caption><thead><tr><th scope=\"col\">Chain</th><th scope=\"col\" "
                 "class=\"num\">Entries</th><th scope=\"col\" class=\"num\">Head seq</th><th "
                 "scope=\"col\">Last entry</th></tr></thead><tbody>");
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "chains")) {
    rf_buf_puts(b, "<tr><td>");
    esc(b, str(r, "chain"));
    rf_buf_printf(b, "</td><td class=\"num\">%.0f</td><td class=\"num\">%.0f</td><td>",
                  num(r, "entries"), num(r, "head_seq"));
    esc(b, str(r, "last_entry"));
    rf_buf_puts(b, "</td></tr>");
  }
  rf_buf_puts(b, "</tbody></table><p><button type=\"button\" id=\"verify\">Verify the audit "
                 "chain now</button></p><div id=\"verify-result\" aria-live=\"polite\"></div>"
                 "</section>");
  foot(b);
}

/* ---- clusters --------------------------------------------------------------------------- */

static void proposal(rf_buf_t *b, const cJSON *c) {
  rf_buf_puts(b, "<dl class=\"proposal\"><dt>Proposed lambda</dt><dd>");
  if (str(c, "lambda")) {
    rf_buf_puts(b, "<code>");
    esc(b, str(c, "lambda"));
    rf_buf_puts(b, "</code>");
    if (str(c, "generator")) {
      rf_buf_puts(b, " <span class=\"muted\">(");
      esc(b, str(c, "generator"));
      if (str(c, "model")) {
        rf_buf_puts(b, ", ");
        esc(b, str(c, "model"));
      }
      if (str(c, "confidence")) {
        rf_buf_puts(b, ", confidence ");
        esc(b, str(c, "confidence"));
      }
      rf_buf_puts(b, ")</span>");
    }
  } else {
    rf_buf_puts(b, "<span class=\"muted\">none</span>");
  }
  rf_buf_puts(b, "</dd><dt>Model's reasoning</dt><dd>");
  if (str(c, "reasoning"))
    esc(b, str(c, "reasoning"));
  else
    rf_buf_puts(b, "<span class=\"muted\">none</span>");
  rf_buf_puts(b, "</dd><dt>Why it was refused</dt><dd><strong>");
  esc(b, str(c, "reason"));
  rf_buf_puts(b, "</strong>");
  if (str(c, "detail")) {
    rf_buf_puts(b, ": ");
    esc(b, str(c, "detail"));
  }
  rf_buf_puts(b, "</dd></dl>");
}

void rf__dash_page_clusters(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc) {
  head(b, pc, "Clusters", "/clusters");
  rf_buf_puts(b, "<form method=\"get\" action=\"/clusters\" class=\"filters\" "
                 "aria-label=\"Filter clusters\">");
  const char *f[][2] = {{"table", "Table"}, {"column", "Column"}, {"reason", "Reason"}};
  for (size_t i = 0; i < 3; i++) {
    rf_buf_printf(b, "<label for=\"f-%s\">%s</label><input id=\"f-%s\" name=\"%s\" value=\"",
                  f[i][0], f[i][1], f[i][0], f[i][0]);
    esc(b, str(doc, f[i][0]));
    rf_buf_puts(b, "\">");
  }
  rf_buf_puts(b, "<button type=\"submit\">Filter</button></form>");
  const cJSON *c;
  int n = 0;
  rf_buf_puts(b, "<ol class=\"clusters\">");
  cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "clusters")) {
    n++;
    rf_buf_puts(b, "<li class=\"card cluster\"><h2><a href=\"");
    cluster_link(b, str(c, "table"), str(c, "column"), str(c, "fingerprint"));
    rf_buf_puts(b, "\">");
    esc(b, str(c, "table"));
    rf_buf_puts(b, ".");
    esc(b, str(c, "column"));
    rf_buf_puts(b, " <code class=\"fp\">");
    esc(b, str(c, "fingerprint"));
    rf_buf_printf(b, "</code></a> <span class=\"count\">%.0f open rows</span></h2>",
                  num(c, "count"));
    rf_buf_puts(b, "<p>Representatives: ");
    const cJSON *v;
    int k = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(c, "representatives")) {
      if (k++)
        rf_buf_puts(b, ", ");
      rf_buf_puts(b, "<code>");
      esc_or(b, cJSON_GetStringValue(v));
      rf_buf_puts(b, "</code>");
    }
    rf_buf_puts(b, "</p>");
    proposal(b, c);
    rf_buf_puts(b, "</li>");
  }
  rf_buf_puts(b, "</ol>");
  if (n == 0)
    rf_buf_puts(b, "<p>No open cluster matches.</p>");
  long page = (long)num(doc, "page");
  rf_buf_puts(b, "<nav aria-label=\"Pages\" class=\"pages\">");
  for (int dir = -1; dir <= 1; dir += 2) {
    bool show = dir < 0 ? page > 0 : cJSON_IsTrue(cJSON_GetObjectItem(doc, "more"));
    if (!show)
      continue;
    rf_buf_puts(b, "<a href=\"/clusters?table=");
    url_put(b, str(doc, "table"));
    rf_buf_puts(b, "&amp;column=");
    url_put(b, str(doc, "column"));
    rf_buf_puts(b, "&amp;reason=");
    url_put(b, str(doc, "reason"));
    rf_buf_printf(b, "&amp;page=%ld\">%s</a> ", page + dir, dir < 0 ? "Previous page" : "Next page");
  }
  rf_buf_puts(b, "</nav>");
  foot(b);
}

void rf__dash_page_cluster(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc) {
  char title[400];
  snprintf(title, sizeof(title), "Cluster %s.%s", str(doc, "table") ? str(doc, "table") : "",
           str(doc, "column") ? str(doc, "column") : "");
  head(b, pc, title, "/clusters");
  rf_buf_puts(b, "<p>Fingerprint <code class=\"fp\">");
  esc(b, str(doc, "fingerprint"));
  rf_buf_printf(b, "</code> · <strong id=\"cluster-count\">%.0f</strong> open rows · reasons: ",
                num(doc, "count"));
  esc(b, str(doc, "reasons"));
  rf_buf_puts(b, "</p><p>Contract: ");
  if (str(doc, "contract"))
    esc(b, str(doc, "contract"));
  else
    rf_buf_puts(b, "<strong class=\"error\">none configured: nothing can be validated</strong>");
  rf_buf_puts(b, "</p><section class=\"card\" aria-labelledby=\"h-prop\"><h2 id=\"h-prop\">The "
                 "model's proposal</h2>");
  proposal(b, doc);
  rf_buf_puts(b, "</section><section class=\"card\" aria-labelledby=\"h-edit\"><h2 "
                 "id=\"h-edit\">Fix the whole cluster</h2>"
                 "<form id=\"lambda-form\" data-table=\"");
  esc(b, str(doc, "table"));
  rf_buf_puts(b, "\" data-column=\"");
  esc(b, str(doc, "column"));
  rf_buf_puts(b, "\" data-fingerprint=\"");
  esc(b, str(doc, "fingerprint"));
  rf_buf_printf(b, "\"><label for=\"lambda\">Lambda (rectify lambda language; edit the proposal, "
                   "then preview every row; at most %.0f rows per apply)</label>"
                   "<textarea id=\"lambda\" name=\"lambda\" rows=\"3\" spellcheck=\"false\" "
                   "aria-describedby=\"lambda-help\">",
                num(doc, "apply_max"));
  esc(b, str(doc, "lambda") ? str(doc, "lambda") : "lambda x: x");
  rf_buf_puts(b, "</textarea><p id=\"lambda-help\" class=\"muted\">A lambda of one value, e.g. "
                 "<code>lambda x: x.strip().lower()</code>, or of the value and its row, "
                 "<code>lambda x, row: ...</code>; docs/lambda-language.md lists what is "
                 "allowed.</p>"
                 "<button type=\"submit\" id=\"preview\" class=\"primary\">Preview every row</button> "
                 "<button type=\"button\" id=\"apply\" disabled>Apply</button></form>"
                 "<div id=\"preview-result\"></div></section>");
  rf_buf_puts(b, "<section aria-labelledby=\"h-rows\"><h2 id=\"h-rows\">Open rows</h2><table>"
                 "<caption class=\"sr-only\">Open rows of the cluster</caption><thead><tr>"
                 "<th scope=\"col\">Key</th><th scope=\"col\">Value</th><th scope=\"col\">Primary "
                 "key</th><th scope=\"col\">Reason</th><th scope=\"col\">Received</th></tr></thead>"
                 "<tbody>");
  const cJSON *r;
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "rows")) {
    rf_buf_puts(b, "<tr><td><a href=\"/row?key=");
    url_put(b, str(r, "key"));
    rf_buf_puts(b, "\">");
    esc(b, str(r, "key"));
    rf_buf_puts(b, "</a></td><td><code>");
    esc_or(b, str(r, "value"));
    rf_buf_puts(b, "</code></td><td><code>");
    esc_or(b, str(r, "pk"));
    rf_buf_puts(b, "</code></td><td>");
    esc(b, str(r, "reason"));
    rf_buf_puts(b, "</td><td>");
    esc(b, str(r, "created_at"));
    rf_buf_puts(b, "</td></tr>");
  }
  rf_buf_puts(b, "</tbody></table>");
  long page = (long)num(doc, "page");
  rf_buf_puts(b, "<nav aria-label=\"Pages\" class=\"pages\">");
  for (int dir = -1; dir <= 1; dir += 2) {
    bool show = dir < 0 ? page > 0 : cJSON_IsTrue(cJSON_GetObjectItem(doc, "more"));
    if (!show)
      continue;
    rf_buf_puts(b, "<a href=\"");
    cluster_link(b, str(doc, "table"), str(doc, "column"), str(doc, "fingerprint"));
    rf_buf_printf(b, "&amp;page=%ld\">%s</a> ", page + dir, dir < 0 ? "Previous page" : "Next page");
  }
  rf_buf_puts(b, "</nav></section>");
  foot(b);
}

/* ---- one row ----------------------------------------------------------------------------- */

/* Stored text shown verbatim: re-printing JSON through cJSON would round
 * numbers such as 9007199254740993, and the page must show the truth. */
static void json_block(rf_buf_t *b, const char *txt) {
  if (txt == NULL) {
    rf_buf_puts(b, "<span class=\"null\">null</span>");
    return;
  }
  rf_buf_puts(b, "<pre>");
  esc(b, txt);
  rf_buf_puts(b, "</pre>");
}

void rf__dash_page_row(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc) {
  char title[600];
  snprintf(title, sizeof(title), "Row %s", str(doc, "key") ? str(doc, "key") : "");
  head(b, pc, title, NULL);
  const char *status = str(doc, "status");
  rf_buf_puts(b, "<p>Status: <strong id=\"row-status\">");
  esc(b, status);
  rf_buf_puts(b, "</strong> · ");
  if (str(doc, "table")) {
    rf_buf_puts(b, "<a href=\"");
    cluster_link(b, str(doc, "table"), str(doc, "column"),
                 str(doc, "fingerprint") ? str(doc, "fingerprint") : "");
    rf_buf_puts(b, "\">its cluster</a>");
  }
  rf_buf_puts(b, "</p><section class=\"card\" aria-labelledby=\"h-fields\"><h2 id=\"h-fields\">"
                 "The message</h2><dl class=\"fields\">");
  const char *fields[][2] = {
      {"key", "Key"}, {"source", "Source"}, {"source_id", "Source id"}, {"table", "Table"},
      {"column", "Column"}, {"pk", "Primary key"}, {"pk_hash", "Primary key hash"},
      {"value", "Bad value"}, {"reason", "Reason"}, {"detail", "Detail"},
      {"fingerprint", "Fingerprint"}, {"lambda", "Lambda tried"}, {"generator", "Generator"},
      {"model", "Model"}, {"confidence", "Confidence"}, {"reasoning", "Model's reasoning"},
      {"contract", "Contract"}, {"batch_id", "Batch"}, {"created_at", "Received"}};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    rf_buf_printf(b, "<dt>%s</dt><dd>", fields[i][1]);
    esc_or(b, str(doc, fields[i][0]));
    rf_buf_puts(b, "</dd>");
  }
  rf_buf_puts(b, "</dl><h3>Row context</h3>");
  json_block(b, str(doc, "row_context"));
  rf_buf_puts(b, "<h3>Raw message</h3>");
  if (str(doc, "raw"))
    json_block(b, str(doc, "raw"));
  else if (str(doc, "raw_hex")) {
    rf_buf_puts(b, "<p>Not UTF-8 text; hex:</p><pre>");
    esc(b, str(doc, "raw_hex"));
    rf_buf_puts(b, "</pre>");
  } else {
    rf_buf_puts(b, "<span class=\"null\">none</span>");
  }
  if (str(doc, "model_answer")) {
    rf_buf_puts(b, "<h3>The model's raw answer</h3>");
    json_block(b, str(doc, "model_answer"));
  }
  rf_buf_puts(b, "</section>");
  if (status && strcmp(status, "open") == 0) {
    rf_buf_puts(b, "<section class=\"card actions\" aria-labelledby=\"h-act\"><h2 id=\"h-act\">"
                   "Decide</h2><form id=\"resolve-form\" data-key=\"");
    esc(b, str(doc, "key"));
    rf_buf_puts(b, "\"><h3>Resolve with a value</h3><label for=\"value\">New value (checked "
                   "against the contract)</label><input id=\"value\" name=\"value\" "
                   "autocomplete=\"off\" value=\"");
    esc(b, str(doc, "value"));
    rf_buf_puts(b, "\"><label class=\"inline\"><input type=\"checkbox\" id=\"value-null\"> "
                   "Set to NULL</label><button type=\"submit\" class=\"primary\">Resolve</button>"
                   "</form><form id=\"discard-form\" data-key=\"");
    esc(b, str(doc, "key"));
    rf_buf_puts(b, "\"><h3>Discard</h3><label for=\"discard-reason\">Reason (required)</label>"
                   "<input id=\"discard-reason\" name=\"reason\" required><button "
                   "type=\"submit\">Discard</button></form><form id=\"requeue-form\" data-key=\"");
    esc(b, str(doc, "key"));
    rf_buf_puts(b, "\"><h3>Requeue to the model</h3><p class=\"muted\">Sends the raw message "
                   "back to the source under a new key; the new key gets its own outcome.</p>"
                   "<button type=\"submit\">Requeue</button></form></section>");
  }
  rf_buf_puts(b, "<section aria-labelledby=\"h-hist\"><h2 id=\"h-hist\">History</h2><table>"
                 "<caption class=\"sr-only\">Actions on this row</caption><thead><tr><th "
                 "scope=\"col\">When</th><th scope=\"col\">Action</th><th scope=\"col\">Who</th>"
                 "<th scope=\"col\">Detail</th><th scope=\"col\">Batch</th></tr></thead><tbody>");
  const cJSON *r;
  int n = 0;
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "actions")) {
    n++;
    rf_buf_puts(b, "<tr><td>");
    esc(b, str(r, "created_at"));
    rf_buf_puts(b, "</td><td>");
    esc(b, str(r, "action"));
    rf_buf_puts(b, "</td><td>");
    esc(b, str(r, "actor"));
    rf_buf_puts(b, "</td><td>");
    esc_or(b, str(r, "detail"));
    rf_buf_puts(b, "</td><td>");
    esc_or(b, str(r, "batch_id"));
    rf_buf_puts(b, "</td></tr>");
  }
  if (n == 0)
    rf_buf_puts(b, "<tr><td colspan=\"5\">No action yet.</td></tr>");
  rf_buf_puts(b, "</tbody></table>");
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "staged")) {
    rf_buf_puts(b, "<p>In staging since ");
    esc(b, str(r, "created_at"));
    rf_buf_puts(b, " with value <code>");
    esc_or(b, str(r, "new_value"));
    rf_buf_puts(b, "</code> (generator ");
    esc(b, str(r, "generator"));
    rf_buf_puts(b, ", batch ");
    esc(b, str(r, "batch_id"));
    rf_buf_puts(b, ").</p>");
  }
  rf_buf_puts(b, "<h3>Audit chain</h3><table><caption class=\"sr-only\">Chain entries covering "
                 "this row</caption><thead><tr><th scope=\"col\">Chain</th><th scope=\"col\" "
                 "class=\"num\">Seq</th><th scope=\"col\">Kind</th><th scope=\"col\">Actor</th>"
                 "<th scope=\"col\">Entry hash</th><th scope=\"col\">When</th></tr></thead><tbody>");
  cJSON_ArrayForEach(r, cJSON_GetObjectItem(doc, "audit")) {
    rf_buf_puts(b, "<tr><td>");
    esc(b, str(r, "chain"));
    rf_buf_printf(b, "</td><td class=\"num\">%.0f</td><td>", num(r, "seq"));
    esc(b, str(r, "kind") ? str(r, "kind") : "batch");
    rf_buf_puts(b, "</td><td>");
    esc_or(b, str(r, "actor"));
    rf_buf_puts(b, "</td><td><code class=\"hash\">");
    esc(b, str(r, "hash"));
    rf_buf_puts(b, "</code></td><td>");
    esc(b, str(r, "created_at"));
    rf_buf_puts(b, "</td></tr>");
  }
  rf_buf_puts(b, "</tbody></table>");
  const cJSON *proof = cJSON_GetObjectItem(doc, "proof");
  rf_buf_puts(b, "<p>Inclusion proof of the row's current outcome: ");
  if (cJSON_IsTrue(cJSON_GetObjectItem(proof, "verified"))) {
    rf_buf_puts(b, "<strong class=\"ok\">verified</strong> (");
    esc(b, str(proof, "table"));
    rf_buf_puts(b, " row in batch ");
    esc(b, str(proof, "batch"));
    rf_buf_puts(b, ")");
  } else {
    rf_buf_puts(b, "<strong class=\"error\">not verified</strong>: ");
    esc(b, str(proof, "error"));
  }
  rf_buf_puts(b, "</p></section>");
  foot(b);
}

/* ---- static files ------------------------------------------------------------------------ */

static const char APP_CSS[] =
    ":root{--fg:#1b1f24;--bg:#fff;--muted:#4a5360;--line:#c9d1d9;--accent:#0645ad;"
    "--ok:#0a6b2e;--err:#a40000;--card:#f6f8fa}"
    "*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',"
    "sans-serif;color:var(--fg);background:var(--bg)}"
    "a{color:var(--accent)}a:focus,button:focus,input:focus,textarea:focus{outline:3px solid "
    "#f0a000;outline-offset:2px}"
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}"
    ".sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}"
    "header{display:flex;flex-wrap:wrap;gap:16px;align-items:center;padding:8px 24px;"
    "background:#1b1f24;color:#fff}header a{color:#fff}.brand{font-weight:700}"
    "nav ul{list-style:none;display:flex;gap:16px;margin:0;padding:0}"
    "nav a[aria-current]{font-weight:700;text-decoration:underline}"
    ".who{margin-left:auto;display:flex;gap:8px;align-items:center}"
    "main{padding:16px 24px;max-width:1200px}h1{font-size:1.6rem}h2{font-size:1.25rem}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:var(--card);border:1px solid "
    "var(--line);border-radius:6px;padding:12px 16px;margin:12px 0}.stat{min-width:200px}"
    ".big{display:block;font-size:1.8rem;font-weight:700}.narrow{max-width:420px}"
    "table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border-bottom:1px solid "
    "var(--line);padding:4px 8px;text-align:left;vertical-align:top}.num{text-align:right}"
    "code,pre,textarea{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92rem}"
    "pre{background:#fff;border:1px solid var(--line);padding:8px;overflow:auto;max-height:320px;"
    "white-space:pre-wrap;overflow-wrap:anywhere}"
    "label{display:block;font-weight:600;margin-top:8px}label.inline{display:block;"
    "font-weight:400}input,textarea{width:100%;padding:6px;border:1px solid #6b7380;"
    "border-radius:4px;color:var(--fg);background:#fff}input[type=checkbox]{width:auto}"
    "button{margin-top:8px;padding:6px 14px;border:1px solid #1b1f24;border-radius:4px;"
    "background:#fff;color:#1b1f24;cursor:pointer;font:inherit}"
    "button.primary{background:#0645ad;color:#fff;border-color:#0645ad}"
    "button:disabled{opacity:.55;cursor:not-allowed}"
    ".muted{color:var(--muted)}.null{color:var(--muted);font-style:italic}"
    ".error{color:var(--err)}.ok{color:var(--ok)}.fp{background:#eef1f4;padding:0 4px}"
    ".hash{word-break:break-all}.count{font-weight:400;color:var(--muted);font-size:1rem}"
    ".clusters{list-style:none;padding:0}.proposal dt,.fields dt{font-weight:600}"
    ".proposal dd,.fields dd{margin:0 0 6px 0}.fields{display:grid;grid-template-columns:"
    "max-content 1fr;gap:2px 16px}.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end}"
    ".filters input{width:auto}.actions form{margin-bottom:12px}"
    "tr.fail td{background:#fdecea}tr.pass td{background:#eaf6ee}"
    "#status:not(:empty){padding:8px 12px;border-left:4px solid var(--accent);background:"
    "var(--card);margin:8px 0}";

static const char APP_JS[] =
    "'use strict';\n"
    "(function () {\n"
    "  const meta = document.querySelector('meta[name=\"csrf-token\"]');\n"
    "  const csrf = meta ? meta.content : '';\n"
    "  const statusBox = document.getElementById('status');\n"
    "  function say(msg, isError) {\n"
    "    if (!statusBox) return;\n"
    "    statusBox.textContent = msg;\n"
    "    statusBox.className = isError ? 'error' : '';\n"
    "  }\n"
    "  async function post(path, body) {\n"
    "    const r = await fetch(path, {method: 'POST', credentials: 'same-origin',\n"
    "      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},\n"
    "      body: JSON.stringify(body)});\n"
    "    let data = {};\n"
    "    try { data = await r.json(); } catch (e) { data = {error: 'HTTP ' + r.status}; }\n"
    "    if (!r.ok) throw new Error(data.error || ('HTTP ' + r.status));\n"
    "    return data;\n"
    "  }\n"
    "  function cell(tr, text, isNull) {\n"
    "    const td = document.createElement('td');\n"
    "    if (isNull) { td.className = 'null'; td.textContent = 'null'; }\n"
    "    else { const c = document.createElement('code'); c.textContent = text; td.appendChild(c); }\n"
    "    tr.appendChild(td);\n"
    "  }\n"
    "  /* Cluster page: preview every row, then apply exactly that preview. */\n"
    "  const lf = document.getElementById('lambda-form');\n"
    "  if (lf) {\n"
    "    const ta = document.getElementById('lambda');\n"
    "    const applyBtn = document.getElementById('apply');\n"
    "    const out = document.getElementById('preview-result');\n"
    "    let previewed = null;\n"
    "    ta.addEventListener('input', function () { applyBtn.disabled = true; previewed = null; });\n"
    "    lf.addEventListener('submit', async function (ev) {\n"
    "      ev.preventDefault();\n"
    "      applyBtn.disabled = true; previewed = null; out.textContent = '';\n"
    "      say('Previewing…');\n"
    "      try {\n"
    "        const p = await post('/api/preview', {table: lf.dataset.table, column: lf.dataset.column,\n"
    "          fingerprint: lf.dataset.fingerprint, lambda: ta.value});\n"
    "        const h = document.createElement('h3');\n"
    "        h.textContent = 'Preview';\n"
    "        out.appendChild(h);\n"
    "        if (!p.gate.ok) {\n"
    "          say('The gate refuses this lambda (' + p.gate.reason + '): ' + p.gate.detail, true);\n"
    "          return;\n"
    "        }\n"
    "        const s = document.createElement('p');\n"
    "        s.id = 'preview-summary';\n"
    "        s.textContent = p.n_ok + ' of ' + p.n + ' rows would move to staging; ' + p.n_fail +\n"
    "          ' would stay in quarantine.';\n"
    "        out.appendChild(s);\n"
    "        const t = document.createElement('table');\n"
    "        t.id = 'preview-table';\n"
    "        t.innerHTML = '<caption>Before and after, every row</caption><thead><tr>' +\n"
    "          '<th scope=\"col\">Key</th><th scope=\"col\">Before</th><th scope=\"col\">After</th>' +\n"
    "          '<th scope=\"col\">Result</th></tr></thead>';\n"
    "        const tb = document.createElement('tbody');\n"
    "        for (const r of p.rows) {\n"
    "          const tr = document.createElement('tr');\n"
    "          tr.className = r.ok ? 'pass' : 'fail';\n"
    "          const k = document.createElement('td'); k.textContent = r.key; tr.appendChild(k);\n"
    "          cell(tr, r.before, r.before === null);\n"
    "          cell(tr, r.after, r.after === null);\n"
    "          const res = document.createElement('td');\n"
    "          res.textContent = r.ok ? 'moves to staging' : ('stays: ' + r.error);\n"
    "          tr.appendChild(res);\n"
    "          tb.appendChild(tr);\n"
    "        }\n"
    "        t.appendChild(tb);\n"
    "        out.appendChild(t);\n"
    "        previewed = {lambda: ta.value, digest: p.digest};\n"
    "        applyBtn.disabled = p.n_ok === 0;\n"
    "        applyBtn.textContent = 'Apply to ' + p.n_ok + ' rows';\n"
    "        say('Preview ready: check every row, then apply.');\n"
    "      } catch (e) { say(e.message, true); }\n"
    "    });\n"
    "    applyBtn.addEventListener('click', async function () {\n"
    "      if (!previewed) return;\n"
    "      applyBtn.disabled = true;\n"
    "      try {\n"
    "        const r = await post('/api/apply', {table: lf.dataset.table, column: lf.dataset.column,\n"
    "          fingerprint: lf.dataset.fingerprint, lambda: previewed.lambda, digest: previewed.digest});\n"
    "        say('Applied: ' + r.moved + ' rows moved to staging (batch ' + r.batch + '), ' +\n"
    "          r.stayed + ' stayed open.');\n"
    "        out.textContent = '';\n"
    "        previewed = null;\n"
    "      } catch (e) { say(e.message, true); }\n"
    "    });\n"
    "  }\n"
    "  /* Row page: resolve, discard, requeue. */\n"
    "  function rowAction(id, path, body) {\n"
    "    const f = document.getElementById(id);\n"
    "    if (!f) return;\n"
    "    f.addEventListener('submit', async function (ev) {\n"
    "      ev.preventDefault();\n"
    "      try {\n"
    "        const r = await post(path, Object.assign({key: f.dataset.key}, body()));\n"
    "        say((r.message || 'Done') + ' — reloading…');\n"
    "        setTimeout(function () { location.reload(); }, 800);\n"
    "      } catch (e) { say(e.message, true); }\n"
    "    });\n"
    "  }\n"
    "  rowAction('resolve-form', '/api/resolve', function () {\n"
    "    const isNull = document.getElementById('value-null').checked;\n"
    "    return {value: isNull ? null : document.getElementById('value').value};\n"
    "  });\n"
    "  rowAction('discard-form', '/api/discard', function () {\n"
    "    return {reason: document.getElementById('discard-reason').value};\n"
    "  });\n"
    "  rowAction('requeue-form', '/api/requeue', function () { return {}; });\n"
    "  /* Overview: verify the audit chain on demand. */\n"
    "  const vb = document.getElementById('verify');\n"
    "  if (vb) vb.addEventListener('click', async function () {\n"
    "    const out = document.getElementById('verify-result');\n"
    "    out.textContent = 'Verifying…';\n"
    "    try {\n"
    "      const r = await post('/api/verify', {});\n"
    "      out.textContent = (r.ok ? 'OK: audit chain verified' : 'BROKEN: ' + r.message) +\n"
    "        ' (chains ' + r.chains + ', entries ' + r.entries + ', rows ' + r.rows + ')';\n"
    "      out.className = r.ok ? 'ok' : 'error';\n"
    "    } catch (e) { out.textContent = e.message; out.className = 'error'; }\n"
    "  });\n"
    "})();\n";

bool rf__dash_asset(const char *path, const char **type, const char **body, size_t *len) {
  if (strcmp(path, "/static/app.css") == 0) {
    *type = "text/css; charset=utf-8";
    *body = APP_CSS;
    *len = sizeof(APP_CSS) - 1;
    return true;
  }
  if (strcmp(path, "/static/app.js") == 0) {
    *type = "text/javascript; charset=utf-8";
    *body = APP_JS;
    *len = sizeof(APP_JS) - 1;
    return true;
  }
  return false;
}

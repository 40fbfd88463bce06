/* dashboard_int.h - what lib/dashboard*.c share and nobody else sees. */
#ifndef RECTIFY_DASHBOARD_INT_H
#define RECTIFY_DASHBOARD_INT_H

#include <libpq-fe.h>

#include "rectify/dashboard.h"

struct rf_dashboard {
  const rf_config_t *cfg;   /* borrowed */
  PGconn *conn;
  char *conninfo;
  char *password;           /* or NULL */
  char *chain_id;           /* "dashboard:<instance>" */
  unsigned char *audit_key; /* or NULL */
  size_t audit_key_len;
};

/* The predicate "quarantine row q is open": no staging row (not resolved)
 * and no final action (resolve, discard, requeue). Two anti-joins, both
 * served by primary-key and (key, id) indexes. */
#define RF_DASH_OPEN(q)                                                                        \
  "NOT EXISTS (SELECT 1 FROM rectify.staging s_ WHERE s_.key = " q ".key)"                     \
  " AND NOT EXISTS (SELECT 1 FROM rectify.actions a_ WHERE a_.key = " q ".key"                 \
  " AND a_.action IN ('resolve', 'discard', 'requeue'))"

/* Fills st (code, http status, message) and returns code. */
int rf__dash_fail(rf_dash_status_t *st, int code, int http, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Makes sure d->conn is usable (reconnects once if it was lost).
 * 0 or RF_EDB (st filled). */
int rf__dash_conn(rf_dashboard_t *d, rf_dash_status_t *st);
/* A failed query: fills st with the server's message, returns RF_EDB. */
int rf__dash_dberr(rf_dashboard_t *d, const PGresult *res, const char *what, rf_dash_status_t *st);
/* PQgetvalue, or NULL when the field is SQL NULL. */
const char *rf__dash_val(const PGresult *r, int row, int col);
/* Adds a string (NULL: JSON null) to obj. false on allocation failure. */
bool rf__dash_add_str(cJSON *obj, const char *name, const char *s);

/* ---- pages (lib/dashboard_html.c) ---- */

typedef struct rf_dash_page_ctx {
  const char *actor; /* who is signed in */
  const char *csrf;  /* the session's CSRF token ("" with Bearer auth) */
} rf_dash_page_ctx_t;

void rf__dash_page_login(rf_buf_t *b, const char *error);
void rf__dash_page_error(rf_buf_t *b, const rf_dash_page_ctx_t *pc, int status, const char *msg);
void rf__dash_page_overview(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc);
void rf__dash_page_clusters(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc);
void rf__dash_page_cluster(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc);
void rf__dash_page_row(rf_buf_t *b, const rf_dash_page_ctx_t *pc, const cJSON *doc);
/* A static file (app.js or app.css under /static): true with its type and
 * bytes (static storage). */
bool rf__dash_asset(const char *path, const char **type, const char **body, size_t *len);

#endif

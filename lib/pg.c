/* pg.c - libpq helpers: connect, escape for COPY/array literals, classify errors.
 *
 * Why our own escaping functions: COPY text format is the fastest way into
 * PostgreSQL (one round trip for thousands of rows), and its escaping rules are
 * simple and fixed (backslash escapes, \N for NULL). Keeping them in one
 * tested place means no value ever reaches the server any other way.
 */
#include "rectify/pg.h"

#include <stdio.h>
#include <string.h>

void rf_pg_copy_textn(rf_buf_t *b, const char *s, size_t n) {
  if (!rf_buf_reserve(b, n))
    return;
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    char esc;
    switch (s[i]) {
    case '\\': esc = '\\'; break;
    case '\t': esc = 't'; break;
    case '\n': esc = 'n'; break;
    case '\r': esc = 'r'; break;
    case '\b': esc = 'b'; break;
    case '\f': esc = 'f'; break;
    case '\v': esc = 'v'; break;
    default: continue;
    }
    rf_buf_append(b, s + start, i - start);
    char pair[2] = {'\\', esc};
    rf_buf_append(b, pair, 2);
    start = i + 1;
  }
  rf_buf_append(b, s + start, n - start);
}

void rf_pg_copy_text(rf_buf_t *b, const char *s) {
  if (s == NULL)
    rf_buf_append(b, "\\N", 2);
  else
    rf_pg_copy_textn(b, s, strlen(s));
}

void rf_pg_copy_bytea(rf_buf_t *b, const void *p, size_t n) {
  if (p == NULL) {
    rf_buf_append(b, "\\N", 2);
    return;
  }
  /* bytea has two text forms: \x<hex> (two characters a byte) and the escape
   * form (printable ASCII as itself, a backslash as two, any other byte as
   * \ooo). A message is mostly printable ASCII, so the escape form is about
   * half the size for PostgreSQL to parse; the shorter one is sent. Every
   * backslash of either is escaped once more for COPY. */
  const unsigned char *s = p;
  size_t extra = 0;
  for (size_t i = 0; i < n; i++)
    extra += s[i] == '\\' ? 3 : s[i] < 0x20 || s[i] > 0x7E ? 4 : 0;
  if (n + extra > 2 * n + 3) {
    rf_buf_append(b, "\\\\x", 3);
    rf_buf_hex(b, p, n);
    return;
  }
  if (!rf_buf_reserve(b, n + extra))
    return;
  char *w = b->data + b->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c == '\\') {
      memcpy(w, "\\\\\\\\", 4);
      w += 4;
    } else if (c < 0x20 || c > 0x7E) {
      *w++ = '\\';
      *w++ = '\\';
      *w++ = (char)('0' + (c >> 6));
      *w++ = (char)('0' + ((c >> 3) & 7));
      *w++ = (char)('0' + (c & 7));
    } else {
      *w++ = (char)c;
    }
  }
  b->len = (size_t)(w - b->data);
  b->data[b->len] = '\0';
}

void rf_pg_array_elem(rf_buf_t *b, const char *s) {
  if (s == NULL) {
    rf_buf_append(b, "NULL", 4);
    return;
  }
  size_t n = strlen(s);
  if (!rf_buf_reserve(b, n + 2))
    return;
  rf_buf_putc(b, '"');
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '"' && s[i] != '\\')
      continue;
    rf_buf_append(b, s + start, i - start);
    char pair[2] = {'\\', s[i]};
    rf_buf_append(b, pair, 2);
    start = i + 1;
  }
  rf_buf_append(b, s + start, n - start);
  rf_buf_putc(b, '"');
}

const char *rf_pg_sqlstate(const PGresult *res) {
  static const char *const empty = "";
  if (res == NULL)
    return empty;
  const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return st ? st : empty;
}

int rf_pg_is_data_error(const PGresult *res) {
  const char *st = rf_pg_sqlstate(res);
  return st[0] == '2' && st[1] == '2';
}

char *rf_pg_errmsg(PGconn *conn, const PGresult *res, char *buf, size_t len) {
  const char *m = res ? PQresultErrorMessage(res) : NULL;
  if (m == NULL || *m == '\0')
    m = conn ? PQerrorMessage(conn) : "no connection";
  if (m == NULL || *m == '\0')
    m = "unknown error";
  snprintf(buf, len, "%s", m);
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == ' ')
    buf[--n] = '\0';
  return buf;
}

PGconn *rf_pg_connect(const char *conninfo, const char *password, const char *appname,
                      char *errbuf, size_t errlen) {
  /* Defaults first: the expanded conninfo (dbname) overrides them. Keepalives
   * and tcp_user_timeout bound how long a call can hang on a dead peer. */
  static const char *const defaults[][2] = {
      {"connect_timeout", "10"},   {"keepalives", "1"},       {"keepalives_idle", "30"},
      {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
  };
  enum { ND = sizeof(defaults) / sizeof(defaults[0]) };
  const char *keys[ND + 4], *vals[ND + 4];
  int i = 0;
  for (; i < ND; i++) {
    keys[i] = defaults[i][0];
    vals[i] = defaults[i][1];
  }
  keys[i] = "dbname";
  vals[i++] = conninfo ? conninfo : "";
  if (password) {
    keys[i] = "password";
    vals[i++] = password;
  }
  if (appname) {
    keys[i] = "fallback_application_name";
    vals[i++] = appname;
  }
  keys[i] = NULL;
  vals[i] = NULL;
  /* expand_dbname=1: the dbname value is parsed as a full conninfo/URI and
   * the later keywords override or complete it. */
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (c == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    rf_pg_errmsg(c, NULL, errbuf, errlen);
    PQfinish(c);
    return NULL;
  }
  return c;
}

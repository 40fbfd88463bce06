/* pg.h - small PostgreSQL helpers shared by the writer, the schema migration
 * and the audit verifier: connecting, classifying errors, and the two escaping
 * functions through which every value reaches the server (COPY text format and
 * text[] array literals). No SQL is ever built from values.
 */
#ifndef RECTIFY_PG_H
#define RECTIFY_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "rectify/buf.h"

/* Connects (blocking). conninfo may be a conninfo string or URI; password,
 * when not NULL, is passed separately so it never appears in a conninfo
 * string or a log line. application_name is set to `appname`. Returns the
 * connection, or NULL with a one-line message in errbuf. */
PGconn *rf_pg_connect(const char *conninfo, const char *password, const char *appname,
                      char *errbuf, size_t errlen);

/* Appends s as one field of COPY ... (FORMAT text): NULL becomes \N;
 * backslash, tab, newline, CR, backspace, form feed and vertical tab are
 * backslash-escaped; every other byte is copied. */
void rf_pg_copy_text(rf_buf_t *b, const char *s);
/* Same, for a known length (s may contain any byte except NUL). */
void rf_pg_copy_textn(rf_buf_t *b, const char *s, size_t n);
/* Appends p[0..n) as a bytea field of COPY text format ("\\x" + hex);
 * p == NULL becomes \N. */
void rf_pg_copy_bytea(rf_buf_t *b, const void *p, size_t n);

/* Appends s as one element of a text[] literal ("..." with \" and \\
 * escaped; NULL becomes the unquoted NULL). The caller writes '{', ',' and '}'. */
void rf_pg_array_elem(rf_buf_t *b, const char *s);

/* The two-character SQLSTATE class of a failed result ("08", "22", ...), or
 * "" when unknown (e.g. NULL result: the connection is gone). */
const char *rf_pg_sqlstate(const PGresult *res);
/* True when res is an error that retrying cannot fix because the data itself
 * is refused (SQLSTATE class 22, data exception). */
int rf_pg_is_data_error(const PGresult *res);

/* Copies PQresultErrorMessage (or PQerrorMessage(conn) when res is NULL) into
 * buf as one line (newlines become spaces, trailing space trimmed). Returns buf. */
char *rf_pg_errmsg(PGconn *conn, const PGresult *res, char *buf, size_t len);

#endif

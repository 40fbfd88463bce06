/* stats.h - what `rectifyctl stats` reports, read from the database.
 *
 * Everything comes from the committed tables (batches, staging, quarantine,
 * audit), so the numbers hold across every instance that shares the
 * database, and survive restarts.
 */
#ifndef RECTIFY_STATS_H
#define RECTIFY_STATS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "rectify/buf.h"
#include "rectify/config.h"

/* Connects with cfg's [postgres] conninfo and password file. NULL + errbuf. */
PGconn *rf_stats_connect(const rf_config_t *cfg, const char *appname, char *errbuf,
                         size_t errlen);
/* Appends the report to out as text (json = 0) or as one JSON object
 * (json = 1). Returns 0, or RF_EDB with a message in errbuf. */
int rf_stats_report(PGconn *conn, int json, rf_buf_t *out, char *errbuf, size_t errlen);

#endif

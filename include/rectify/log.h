/* log.h - one line per event, level and module first, key=value fields.
 *
 *   rf_log(RF_LOG_INFO, "writer", "batch committed batch=%s rows=%d", id, n);
 *
 * prints, on stderr (journald takes it from there), level and module first:
 *
 *   <6>INFO writer: batch committed batch=... rows=...           (under systemd)
 *   INFO writer: batch committed batch=... rows=... ts=2026-...Z (elsewhere)
 *
 * The level test happens before any formatting. Row values are logged only at
 * DEBUG. The logger is thread-safe; a line is written with one write(2).
 */
#ifndef RECTIFY_LOG_H
#define RECTIFY_LOG_H

#include <stdarg.h>

enum rf_log_level {
  RF_LOG_CRIT = 2,
  RF_LOG_ERR = 3,
  RF_LOG_WARN = 4,
  RF_LOG_NOTICE = 5,
  RF_LOG_INFO = 6,
  RF_LOG_DEBUG = 7,
};

extern int rf__log_level;

#define rf_log(level, module, ...)                                            \
  do {                                                                        \
    if ((level) <= rf__log_level)                                             \
      rf__log_write((level), (module), __VA_ARGS__);                          \
  } while (0)

void rf__log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set the threshold; messages with a level above it are dropped. */
void rf_log_set_level(int level);
/* Parse "crit|err|error|warn|warning|notice|info|debug"; -1 if unknown. */
int rf_log_level_parse(const char *s);
const char *rf_log_level_name(int level);
/* Use journald's "<N>" priority prefixes instead of timestamps (auto-detected
 * from JOURNAL_STREAM by rf_log_init()). */
void rf_log_init(void);

#endif

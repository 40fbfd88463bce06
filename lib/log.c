/* log.c - the logger: one formatted line, one write(2), so lines from several
 * threads never interleave. Under journald (JOURNAL_STREAM set) lines carry
 * "<N>" priority prefixes and no timestamp; elsewhere an ISO-8601 UTC stamp. */
#include "rectify/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int rf__log_level = RF_LOG_INFO;
static int use_journal_prefix;

static const char *const level_names[] = {"EMERG", "ALERT", "CRIT", "ERR",
                                          "WARN",  "NOTICE", "INFO", "DEBUG"};

void rf_log_init(void) { use_journal_prefix = getenv("JOURNAL_STREAM") != NULL; }

void rf_log_set_level(int level) {
  if (level < RF_LOG_CRIT)
    level = RF_LOG_CRIT;
  if (level > RF_LOG_DEBUG)
    level = RF_LOG_DEBUG;
  rf__log_level = level;
}

int rf_log_level_parse(const char *s) {
  static const struct {
    const char *name;
    int level;
  } map[] = {{"crit", RF_LOG_CRIT},     {"err", RF_LOG_ERR},   {"error", RF_LOG_ERR},
             {"warn", RF_LOG_WARN},     {"warning", RF_LOG_WARN}, {"notice", RF_LOG_NOTICE},
             {"info", RF_LOG_INFO},     {"debug", RF_LOG_DEBUG}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (strcasecmp(s, map[i].name) == 0)
      return map[i].level;
  return -1;
}

const char *rf_log_level_name(int level) {
  if (level < 0 || level > RF_LOG_DEBUG)
    return "?";
  return level_names[level];
}

void rf__log_write(int level, const char *module, const char *fmt, ...) {
  char line[4096];
  size_t off = 0;
  int n;

  if (use_journal_prefix)
    n = snprintf(line, sizeof(line), "<%d>%s %s: ", level, rf_log_level_name(level), module);
  else
    n = snprintf(line, sizeof(line), "%s %s: ", rf_log_level_name(level), module);
  if (n > 0)
    off = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
  va_end(ap);
  if (n > 0)
    off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;

  if (!use_journal_prefix && off < sizeof(line) - 40) {
    /* journald stamps its own lines; elsewhere the time is the last field. */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line + off, sizeof(line) - off, " ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(tv.tv_usec / 1000));
    if (n > 0)
      off += (size_t)n;
  }

  /* One event, one line: fold embedded newlines. */
  for (size_t i = 0; i < off; i++)
    if (line[i] == '\n' || line[i] == '\r')
      line[i] = ' ';
  if (off >= sizeof(line) - 1)
    off = sizeof(line) - 2;
  line[off++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, off);
  (void)w;
}

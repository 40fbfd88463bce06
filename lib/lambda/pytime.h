/* pytime.h - datetime.strptime / strftime / isoformat with CPython 3.11's
 * results in the C locale.
 *
 * rf_py_strptime accepts CPython's directives (%Y %y %m %d %H %I %M %S %f %p
 * %b %B %a %A %j %U %W %w %z %Z %% %G %V %u %c %x %X, and what _strptime does
 * with whitespace, case and leading zeros) and fails exactly when CPython
 * raises: ValueError "time data '...' does not match format '...'" or
 * "unconverted data remains: ...", "day is out of range for month", ...
 * rf_py_strftime follows CPython (which calls the C library's strftime in the
 * C locale) for every directive, including %f, %z and %Z of aware values and
 * years below 1000 (%Y of year 5 is "5" on glibc as in CPython on Linux).
 */
#ifndef RF_LAMBDA_PYTIME_H
#define RF_LAMBDA_PYTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "pyerr.h"
#include "rectify/buf.h"

typedef struct rf_py_datetime {
  int year, month, day;
  int hour, minute, second, microsecond;
  bool is_date;     /* a datetime.date (from .date()): no time part */
  bool aware;       /* tzinfo is set (from %z) */
  int utcoffset_s;  /* when aware: offset in seconds (may be negative) */
  int utcoffset_us; /* when aware: sub-second part of the offset */
  char tzname[16];  /* when aware via %Z ("UTC", "GMT", local names) or "" */
} rf_py_datetime_t;

int rf_py_strptime(const char *s, size_t len, const char *fmt, size_t flen, rf_py_datetime_t *out,
                   rf_pyerr_t *err);
int rf_py_strftime(const rf_py_datetime_t *dt, const char *fmt, size_t flen, rf_buf_t *out,
                   rf_pyerr_t *err);
/* Pre-compiled strptime formats, for the per-row hot path: compile once,
 * then exec any number of times from any number of threads (a compiled
 * format is immutable; exec allocates nothing). rf_py_strptime(s, fmt) is
 * compile + exec. Compile raises the format's own errors ("'q' is a bad
 * directive in format '%q'", "stray % in format '%'", re's "error" for a
 * directive used twice); exec raises the data's. The compiled format keeps
 * its own copy of fmt; free with rf_py_strptime_free (NULL is ok).
 * utcoffset_us has the sign of utcoffset_s (timedelta(seconds=s,
 * microseconds=us), as _strptime builds it). */
typedef struct rf_py_strptime_fmt rf_py_strptime_fmt_t;
int rf_py_strptime_compile(const char *fmt, size_t flen, rf_py_strptime_fmt_t **out,
                           rf_pyerr_t *err);
int rf_py_strptime_exec(const rf_py_strptime_fmt_t *f, const char *s, size_t len,
                        rf_py_datetime_t *out, rf_pyerr_t *err);
void rf_py_strptime_free(rf_py_strptime_fmt_t *f);

/* dt.isoformat() (sep 'T'); str(dt) is isoformat with sep ' '; a date gives
 * YYYY-MM-DD. */
void rf_py_isoformat(const rf_py_datetime_t *dt, char sep, rf_buf_t *out);
/* dt.weekday() (Monday = 0). */
int rf_py_weekday(const rf_py_datetime_t *dt);

#endif

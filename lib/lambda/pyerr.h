/* pyerr.h - a Python-style exception raised by the lambda runtime.
 *
 * `type` is a static string naming the CPython exception class exactly as
 * type(e).__name__ prints it ("ValueError", "TypeError", "IndexError",
 * "KeyError", "ZeroDivisionError", "OverflowError", "AttributeError",
 * "error" for re.error), or "LimitError" for a rectify resource limit (steps,
 * sizes, regex work), which CPython has no counterpart for. `msg` is CPython's
 * message where practical (str(e)), truncated to fit.
 */
#ifndef RF_LAMBDA_PYERR_H
#define RF_LAMBDA_PYERR_H

#include <stdarg.h>
#include <stdio.h>

typedef struct rf_pyerr {
  const char *type; /* static; NULL when no error */
  char msg[512];
} rf_pyerr_t;

static inline int rf_pyerr_set(rf_pyerr_t *e, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int rf_pyerr_set(rf_pyerr_t *e, const char *type, const char *fmt, ...) {
  va_list ap;
  e->type = type;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
  va_end(ap);
  return -1;
}

#endif

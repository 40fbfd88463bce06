/* error.h - rectify's error codes.
 *
 * Every fallible function returns 0 on success or a negative RF_E* code, the way
 * libuv returns UV_E* codes. Codes are never renumbered: append new ones at the
 * end of the table. rf_strerror() and rf_err_name() never return NULL.
 */
#ifndef RECTIFY_ERROR_H
#define RECTIFY_ERROR_H

/* X(name, value, message) */
#define RF_ERRNO_MAP(X)                                                       \
  X(NOMEM, -1, "out of memory")                                               \
  X(INVAL, -2, "invalid argument")                                            \
  X(IO, -3, "input/output error")                                             \
  X(CONFIG, -4, "configuration error")                                        \
  X(PARSE, -5, "parse error")                                                 \
  X(RANGE, -6, "value out of range")                                          \
  X(NOTFOUND, -7, "not found")                                                \
  X(EXISTS, -8, "already exists")                                             \
  X(AGAIN, -9, "resource temporarily unavailable")                           \
  X(CANCELED, -10, "operation canceled")                                      \
  X(TIMEDOUT, -11, "timed out")                                               \
  X(CONN, -12, "connection failed")                                           \
  X(PROTO, -13, "protocol error")                                             \
  X(DB, -14, "database error")                                                \
  X(REDIS, -15, "redis error")                                                \
  X(KAFKA, -16, "kafka error")                                                \
  X(LIMIT, -17, "limit exceeded")                                             \
  X(TYPE, -18, "type error")                                                  \
  X(VALUE, -19, "value error")                                                \
  X(SYNTAX, -20, "syntax error")                                              \
  X(DENIED, -21, "not allowed")                                               \
  X(CORRUPT, -22, "integrity check failed")                                   \
  X(RECONCILE, -23, "reconciliation mismatch")                                \
  X(BUSY, -24, "busy")                                                        \
  X(CLOSED, -25, "closed")                                                    \
  X(UNAVAILABLE, -26, "service unavailable")                                  \
  X(INTERNAL, -27, "internal error")

enum rf_errno {
#define RF_X_ENUM(name, val, msg) RF_E##name = (val),
  RF_ERRNO_MAP(RF_X_ENUM)
#undef RF_X_ENUM
};

/* The human-readable message for err ("unknown error" for unknown codes). */
const char *rf_strerror(int err);
/* The code's name without prefix, e.g. "NOMEM" ("UNKNOWN" for unknown codes). */
const char *rf_err_name(int err);

#endif

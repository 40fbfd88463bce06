/* pyfmt.h - CPython 3.11's number and string formatting, on plain C values.
 *
 * Strings are UTF-8 (ptr, len) and may contain any code point; widths and
 * precisions count code points, as in Python. Output is appended to `out`.
 * Every function returns 0, or -1 with `err` set to the exception CPython
 * raises (ValueError "Unknown format code 'q' for object of type 'str'", ...).
 * Widths/precisions above `RF_PYFMT_MAX_WIDTH` raise LimitError instead of
 * allocating (CPython would allocate; rectify refuses).
 */
#ifndef RF_LAMBDA_PYFMT_H
#define RF_LAMBDA_PYFMT_H

#include <gmp.h>
#include <stdbool.h>
#include <stddef.h>

#include "pyerr.h"
#include "rectify/buf.h"

#define RF_PYFMT_MAX_WIDTH 100000

/* repr(float) == str(float): shortest round-trip digits, 'inf', '-inf',
 * 'nan', exponent form when exp < -4 or >= 16 ('1e+16', '1.5e-05'). */
void rf_py_float_repr(double v, rf_buf_t *out);
/* str(int) of an arbitrary-precision integer. */
void rf_py_int_str(const mpz_t v, rf_buf_t *out);

/* format(value, spec) / f"{value:spec}" / "{:spec}".format(value):
 * the format-spec mini-language [[fill]align][sign][z][#][0][width][grouping][.precision][type]. */
int rf_py_format_str(const char *s, size_t len, const char *spec, size_t speclen, rf_buf_t *out,
                     rf_pyerr_t *err);
int rf_py_format_int(const mpz_t v, const char *spec, size_t speclen, rf_buf_t *out,
                     rf_pyerr_t *err);
/* bool formats as int with a spec, as 'True'/'False' with an empty spec:
 * the caller handles the empty-spec case. */
int rf_py_format_float(double v, const char *spec, size_t speclen, rf_buf_t *out,
                       rf_pyerr_t *err);

/* printf-style '%' formatting, one conversion at a time. The caller walks
 * the format string, handles '%%', pairs conversions with arguments (a tuple
 * or a single value), does Python's argument coercions (%d of a float
 * truncates, %f of an int converts, %s/%r/%a take str()/repr()/ascii()
 * computed by the caller) and raises the arity TypeErrors. */
typedef struct rf_py_pct_spec {
  bool left;      /* '-' */
  bool plus;      /* '+' */
  bool space;     /* ' ' */
  bool alt;       /* '#' */
  bool zero;      /* '0' */
  int width;      /* -1 when absent */
  int prec;       /* -1 when absent */
  char conv;      /* one of d i u o x X e E f F g G c s r a */
} rf_py_pct_spec_t;

/* Parses one conversion spec at p (just after the '%'); `index` is the
 * position of that '%' in the whole format (for CPython's error message).
 * Returns the number of bytes consumed, or -1 with err (ValueError
 * "unsupported format character 'q' (0x71) at index 3", "incomplete format").
 * '*' widths and '(name)' mapping keys are rejected with ValueError. */
int rf_py_pct_parse(const char *p, size_t n, size_t index, rf_py_pct_spec_t *spec,
                    rf_pyerr_t *err);
int rf_py_pct_int(const rf_py_pct_spec_t *spec, const mpz_t v, rf_buf_t *out, rf_pyerr_t *err);
int rf_py_pct_float(const rf_py_pct_spec_t *spec, double v, rf_buf_t *out, rf_pyerr_t *err);
/* %s %r %a: s is the already-converted text; %c takes a 1-code-point string. */
int rf_py_pct_str(const rf_py_pct_spec_t *spec, const char *s, size_t len, rf_buf_t *out,
                  rf_pyerr_t *err);

#endif

/* buf.h - a growable byte buffer with a sticky error.
 *
 * Appends never fail loudly: on allocation failure the buffer remembers it
 * (b->oom), later appends are no-ops, and the caller checks once with
 * rf_buf_ok() at the end. The data is always NUL-terminated when ok.
 * The buffer owns b->data; rf_buf_free() releases it, rf_buf_steal() hands it over.
 */
#ifndef RECTIFY_BUF_H
#define RECTIFY_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rf_buf {
  char *data;
  size_t len;
  size_t cap;
  bool oom;
} rf_buf_t;

#define RF_BUF_INIT {NULL, 0, 0, false}

void rf_buf_init(rf_buf_t *b);
void rf_buf_free(rf_buf_t *b);
/* Keep the allocation, forget the contents (and any earlier oom). */
void rf_buf_reset(rf_buf_t *b);
/* Make room for n more bytes; returns false (and sets oom) when it cannot. */
bool rf_buf_reserve(rf_buf_t *b, size_t n);
void rf_buf_append(rf_buf_t *b, const void *p, size_t n);
void rf_buf_puts(rf_buf_t *b, const char *s);
void rf_buf_putc(rf_buf_t *b, char c);
void rf_buf_printf(rf_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rf_buf_vprintf(rf_buf_t *b, const char *fmt, va_list ap);
/* Append s[0..n) as a JSON string literal, quotes included. Escapes exactly
 * '"', '\\' and bytes below 0x20 (as \b \f \n \r \t or \u00XX); all other
 * bytes are copied. This is rectify's canonical JSON string form. */
void rf_buf_json_str(rf_buf_t *b, const char *s, size_t n);
/* Append lowercase hex of p[0..n). */
void rf_buf_hex(rf_buf_t *b, const void *p, size_t n);
static inline bool rf_buf_ok(const rf_buf_t *b) { return !b->oom; }
/* Return the data (caller frees with rf_free) and reset b; NULL on oom. */
char *rf_buf_steal(rf_buf_t *b);

#endif

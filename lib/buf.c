/* buf.c - growable buffer with a sticky out-of-memory flag. */
#include "rectify/buf.h"

#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"

void rf_buf_init(rf_buf_t *b) { *b = (rf_buf_t)RF_BUF_INIT; }

void rf_buf_free(rf_buf_t *b) {
  rf_free(b->data);
  rf_buf_init(b);
}

void rf_buf_reset(rf_buf_t *b) {
  b->len = 0;
  b->oom = false;
  if (b->data)
    b->data[0] = '\0';
}

bool rf_buf_reserve(rf_buf_t *b, size_t n) {
  if (b->oom)
    return false;
  if (b->len + n + 1 <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + n + 1) {
    if (cap > ((size_t)-1) / 2) {
      b->oom = true;
      return false;
    }
    cap *= 2;
  }
  char *p = rf_realloc(b->data, cap);
  if (p == NULL) {
    b->oom = true;
    return false;
  }
  b->data = p;
  b->cap = cap;
  return true;
}

void rf_buf_append(rf_buf_t *b, const void *p, size_t n) {
  if (!rf_buf_reserve(b, n))
    return;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void rf_buf_puts(rf_buf_t *b, const char *s) { rf_buf_append(b, s, strlen(s)); }

void rf_buf_putc(rf_buf_t *b, char c) { rf_buf_append(b, &c, 1); }

void rf_buf_vprintf(rf_buf_t *b, const char *fmt, va_list ap) {
  va_list cp;
  va_copy(cp, ap);
  int n = vsnprintf(NULL, 0, fmt, cp);
  va_end(cp);
  if (n < 0) {
    b->oom = true;
    return;
  }
  if (!rf_buf_reserve(b, (size_t)n))
    return;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void rf_buf_printf(rf_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rf_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void rf_buf_json_str(rf_buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (!rf_buf_reserve(b, n + 2))
    return;
  rf_buf_putc(b, '"');
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    rf_buf_append(b, s + start, i - start);
    start = i + 1;
    switch (c) {
    case '"': rf_buf_append(b, "\\\"", 2); break;
    case '\\': rf_buf_append(b, "\\\\", 2); break;
    case '\b': rf_buf_append(b, "\\b", 2); break;
    case '\f': rf_buf_append(b, "\\f", 2); break;
    case '\n': rf_buf_append(b, "\\n", 2); break;
    case '\r': rf_buf_append(b, "\\r", 2); break;
    case '\t': rf_buf_append(b, "\\t", 2); break;
    default: {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      rf_buf_append(b, esc, 6);
    }
    }
  }
  rf_buf_append(b, s + start, n - start);
  rf_buf_putc(b, '"');
}

void rf_buf_hex(rf_buf_t *b, const void *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = p;
  if (!rf_buf_reserve(b, 2 * n))
    return;
  for (size_t i = 0; i < n; i++) {
    b->data[b->len++] = hex[u[i] >> 4];
    b->data[b->len++] = hex[u[i] & 15];
  }
  b->data[b->len] = '\0';
}

char *rf_buf_steal(rf_buf_t *b) {
  if (b->oom) {
    rf_buf_free(b);
    return NULL;
  }
  char *p = b->data ? b->data : rf_strdup("");
  rf_buf_init(b);
  return p;
}

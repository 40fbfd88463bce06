/* utf8.c - UTF-8 validation.
 *
 * Messages are mostly ASCII: whole ASCII runs are skipped a word at a time,
 * and only the bytes of multi-byte sequences are looked at one by one. A
 * sequence's first two bytes decide overlongs, surrogates and the U+10FFFF
 * bound, so only those two are combined.
 */
#include "rectify/utf8.h"

#include <stdint.h>
#include <string.h>

size_t rf_utf8_check(const char *p, size_t len) {
  const unsigned char *s = (const unsigned char *)p;
  size_t n = 0, i = 0;
  /* ASCII fast path, 8 bytes at a time */
  while (i + 8 <= len) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & UINT64_C(0x8080808080808080))
      break;
    i += 8;
  }
  n = i;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (i + 8 <= len) { /* the ASCII run from here, a word at a time */
        uint64_t w;
        memcpy(&w, s + i, 8);
        w &= UINT64_C(0x8080808080808080);
        size_t k = w ? (size_t)__builtin_ctzll(w) >> 3 : 8;
        i += k;
        n += k;
        continue;
      }
      i++;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (i + 1 >= len || (s[i + 1] & 0xC0) != 0x80)
        return (size_t)-1;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (i + 2 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
        return (size_t)-1;
      uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6);
      if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
        return (size_t)-1;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (i + 3 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
          (s[i + 3] & 0xC0) != 0x80)
        return (size_t)-1;
      uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12);
      if (cp < 0x10000 || cp > 0x10FFFF)
        return (size_t)-1;
      i += 4;
    } else {
      return (size_t)-1;
    }
    n++;
  }
  return n;
}

int rf_utf8_valid(const char *p, size_t len) {
  return rf_utf8_check(p, len) != (size_t)-1;
}

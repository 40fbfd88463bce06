/* utf8.h - UTF-8 validation, shared by intake, JSON, the writer and the
 * lambda language (which also needs the code point count). */
#ifndef RECTIFY_UTF8_H
#define RECTIFY_UTF8_H

#include <stddef.h>

/* The number of code points in p[0..len), or (size_t)-1 when it is not valid
 * UTF-8 (overlong forms, surrogates, above U+10FFFF, truncated sequences). */
size_t rf_utf8_check(const char *p, size_t len);
/* True when p[0..len) is valid UTF-8 (rf_utf8_check's rules). */
int rf_utf8_valid(const char *p, size_t len);

#endif

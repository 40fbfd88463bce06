/* alloc.h - allocation wrappers.
 *
 * All of rectify allocates through these so that tests can make the Nth
 * allocation fail (curl's "torture" idea) and prove every error path cleans up.
 * They behave like their libc namesakes: NULL on failure, rf_free(NULL) is a no-op.
 * cJSON is routed through the same hooks by rf_alloc_init().
 */
#ifndef RECTIFY_ALLOC_H
#define RECTIFY_ALLOC_H

#include <stddef.h>

void *rf_malloc(size_t n);
void *rf_calloc(size_t nmemb, size_t size);
void *rf_realloc(void *p, size_t n);
char *rf_strdup(const char *s);
char *rf_strndup(const char *s, size_t n);
void *rf_memdup(const void *p, size_t n);
void rf_free(void *p);

/* Install rf_malloc/rf_free as cJSON's allocator. Call once at start-up. */
void rf_alloc_init(void);

/* Fault injection for tests: after `n` more successful allocations, every
 * allocation fails until rf_alloc_fail_reset(). n < 0 disables (the default).
 * Counting is process-wide and thread-safe. */
void rf_alloc_fail_after(long n);
void rf_alloc_fail_reset(void);
/* Number of allocations attempted since the last rf_alloc_fail_after(). */
long rf_alloc_count(void);
/* Allocations that returned NULL on the calling thread so far. A library
 * that reports any failure the same way (cJSON returns NULL for bad input
 * and for out of memory alike) compares it before and after the call. */
unsigned long rf_alloc_failures(void);

#endif

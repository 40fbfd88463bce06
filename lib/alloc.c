/* alloc.c - malloc wrappers with fault injection.
 *
 * Production cost is one relaxed atomic load per allocation. Tests call
 * rf_alloc_fail_after(n) and then walk n upward until the operation succeeds,
 * checking at every step that the failure was clean (no leak under ASan, no
 * crash, a proper RF_ENOMEM).
 */
#include "rectify/alloc.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_after = -1;
static atomic_long alloc_count = 0;
static _Thread_local unsigned long failures; /* allocations refused on this thread */

static int should_fail(void) {
  long limit = atomic_load_explicit(&fail_after, memory_order_relaxed);
  if (limit < 0)
    return 0;
  long n = atomic_fetch_add(&alloc_count, 1);
  return n >= limit;
}

static void *counted(void *p) {
  if (p == NULL)
    failures++;
  return p;
}

void *rf_malloc(size_t n) {
  if (should_fail())
    return counted(NULL);
  return counted(malloc(n ? n : 1));
}

void *rf_calloc(size_t nmemb, size_t size) {
  if (should_fail())
    return counted(NULL);
  return counted(calloc(nmemb ? nmemb : 1, size ? size : 1));
}

void *rf_realloc(void *p, size_t n) {
  if (should_fail())
    return counted(NULL);
  return counted(realloc(p, n ? n : 1));
}

unsigned long rf_alloc_failures(void) { return failures; }

void *rf_memdup(const void *p, size_t n) {
  void *q = rf_malloc(n + 1);
  if (q == NULL)
    return NULL;
  if (n)
    memcpy(q, p, n);
  ((char *)q)[n] = '\0';
  return q;
}

char *rf_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  return rf_memdup(s, len);
}

char *rf_strdup(const char *s) { return rf_memdup(s, strlen(s)); }

void rf_free(void *p) { free(p); }

static void *cjson_malloc(size_t n) { return rf_malloc(n); }

void rf_alloc_init(void) {
  cJSON_Hooks hooks = {cjson_malloc, free};
  cJSON_InitHooks(&hooks);
}

void rf_alloc_fail_after(long n) {
  atomic_store(&alloc_count, 0);
  atomic_store(&fail_after, n);
}

void rf_alloc_fail_reset(void) { atomic_store(&fail_after, -1); }

long rf_alloc_count(void) { return atomic_load(&alloc_count); }

/* http.h - a small GET-only HTTP endpoint on loopback (libmicrohttpd).
 *
 * The handler runs on libmicrohttpd's own thread: it must not touch loop
 * state (read a snapshot under a lock instead). It fills body and returns the
 * status code; content_type defaults to text/plain.
 */
#ifndef RECTIFY_HTTP_H
#define RECTIFY_HTTP_H

#include <stddef.h>

#include "rectify/buf.h"

typedef struct rf_http rf_http_t;
typedef int (*rf_http_handler)(void *arg, const char *path, rf_buf_t *body,
                               const char **content_type);

/* Listens on `listen` ("127.0.0.1:9187"; loopback only). 0 or RF_E* with errbuf. */
int rf_http_start(const char *listen, rf_http_handler handler, void *arg, rf_http_t **out,
                  char *errbuf, size_t errlen);
/* Stops the thread and frees; NULL is ok. */
void rf_http_stop(rf_http_t *h);

#endif

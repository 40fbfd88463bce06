/* alert.h - Sev-1 alerts POSTed to a webhook, off the loop.
 *
 * The POST runs on libuv's thread pool with libcurl's easy interface and
 * retries with exponential backoff (1 s, 2 s, 4 s, ... capped at 60 s); the
 * loop never waits for it. Alerts carry no row values. */
#ifndef RECTIFY_ALERT_H
#define RECTIFY_ALERT_H

#include <uv.h>

/* Queues an alert. url and the strings are copied. Returns 0 or RF_ENOMEM. */
int rf_alert_send(uv_loop_t *loop, const char *url, int retries, const char *instance,
                  const char *what);
/* Alerts still being sent (for a drain that waits for them). */
int rf_alert_pending(void);

#endif

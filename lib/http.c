/* http.c - rectifyd's /metrics, /healthz and /readyz over libmicrohttpd.
 *
 * libmicrohttpd parses HTTP; we only route GET paths to one handler. It runs
 * its own polling thread, so a slow scraper never stalls the event loop.
 */
#include "rectify/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/net.h"

struct rf_http {
  struct MHD_Daemon *mhd;
  rf_http_handler handler;
  void *arg;
};

static enum MHD_Result respond(struct MHD_Connection *conn, int status, const char *type,
                               const char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state) {
  rf_http_t *h = cls;
  (void)version, (void)upload_data;
  if (*state == NULL) { /* first call: headers only */
    *state = h;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0; /* ignore bodies */
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char msg[] = "method not allowed\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    MHD_destroy_response(r);
    return ret;
  }
  rf_buf_t body = RF_BUF_INIT;
  const char *type = "text/plain; charset=utf-8";
  int status = h->handler(h->arg, url, &body, &type);
  if (!rf_buf_ok(&body)) {
    rf_buf_free(&body);
    return respond(conn, 500, "text/plain", "out of memory\n", 14);
  }
  enum MHD_Result ret = respond(conn, status, type, body.data ? body.data : "", body.len);
  rf_buf_free(&body);
  return ret;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  (void)cls;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  rf_log(RF_LOG_WARN, "http", "libmicrohttpd: %s", msg);
}

int rf_http_start(const char *listen, rf_http_handler handler, void *arg, rf_http_t **out,
                  char *errbuf, size_t errlen) {
  struct sockaddr_storage addr;
  socklen_t len;
  int rc = rf_net_parse_loopback_listen(listen, &addr, &len, errbuf, errlen);
  if (rc)
    return rc;
  rf_http_t *h = rf_calloc(1, sizeof(*h));
  if (h == NULL)
    return RF_ENOMEM;
  h->handler = handler;
  h->arg = arg;
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  uint16_t port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
  h->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                            on_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_END);
  if (h->mhd == NULL) {
    snprintf(errbuf, errlen, "cannot listen on %s (address in use?)", listen);
    rf_free(h);
    return RF_EIO;
  }
  *out = h;
  return 0;
}

void rf_http_stop(rf_http_t *h) {
  if (h == NULL)
    return;
  MHD_stop_daemon(h->mhd);
  rf_free(h);
}

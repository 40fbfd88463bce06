/* service_env.h - helpers for the service tests: a free loopback port and an
 * HTTP GET through libcurl. Header-only, on top of core_env.h. */
#ifndef RF_TEST_SERVICE_ENV_H
#define RF_TEST_SERVICE_ENV_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>

#include "core_env.h"

static inline int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Replaces the first `from` in the config file env_start wrote with `to`. */
static inline void conf_replace(core_env_t *e, const char *from, const char *to) {
  char conf[4096], body[8192];
  FILE *f = fopen(e->conf, "r");
  assert_non_null(f);
  size_t n = fread(conf, 1, sizeof(conf) - 1, f);
  fclose(f);
  conf[n] = '\0';
  const char *at = strstr(conf, from);
  assert_non_null(at);
  int len = snprintf(body, sizeof(body), "%.*s%s%s", (int)(at - conf), conf, to,
                     at + strlen(from));
  assert_true(len > 0 && (size_t)len < sizeof(body));
  assert_int_equal(rf_h_write_file(e->conf, body), 0);
}

static inline size_t collect(char *p, size_t size, size_t n, void *arg) {
  FILE *f = arg;
  return fwrite(p, size, n, f);
}

/* GETs url into *body (malloc'd); returns the HTTP status or -1. */
static inline long http_get(const char *url, char **body) {
  size_t len = 0;
  FILE *f = open_memstream(body, &len);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  fclose(f);
  return status;
}

#endif

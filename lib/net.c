/* net.c - is this address on this machine? The no-egress rule in one place:
 * the HTTP endpoint and (later) the model URL are checked here. Names are
 * resolved with getaddrinfo and every result must be loopback, so a name that
 * resolves to both 127.0.0.1 and a public address is refused. */
#include "rectify/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rectify/error.h"

static bool sa_is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a))
      return true;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
  }
  return false;
}

static int resolve(const char *host, const char *port, int flags, struct addrinfo **res) {
  char buf[256];
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    if (n - 2 >= sizeof(buf))
      return EAI_NONAME;
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = flags};
  return getaddrinfo(host, port, &hints, res);
}

bool rf_net_is_loopback_host(const char *host) {
  struct addrinfo *res = NULL;
  if (host == NULL || host[0] == '\0' || resolve(host, NULL, 0, &res) != 0)
    return false;
  bool ok = res != NULL;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if (!sa_is_loopback(ai->ai_addr))
      ok = false;
  freeaddrinfo(res);
  return ok;
}

int rf_net_parse_loopback_listen(const char *listen, struct sockaddr_storage *addr,
                                 socklen_t *len, char *err, size_t errlen) {
  const char *colon = strrchr(listen, ':');
  if (colon == NULL || colon == listen || colon[1] == '\0') {
    snprintf(err, errlen, "'%s': expected HOST:PORT", listen);
    return RF_EINVAL;
  }
  char host[256];
  size_t hn = (size_t)(colon - listen);
  if (hn >= sizeof(host)) {
    snprintf(err, errlen, "'%s': host too long", listen);
    return RF_EINVAL;
  }
  memcpy(host, listen, hn);
  host[hn] = '\0';
  struct addrinfo *res = NULL;
  int rc = resolve(host, colon + 1, AI_PASSIVE | AI_NUMERICSERV, &res);
  if (rc != 0 || res == NULL) {
    snprintf(err, errlen, "'%s': %s", listen, rc ? gai_strerror(rc) : "no address");
    return RF_EINVAL;
  }
  if (!rf_net_is_loopback_host(host)) {
    snprintf(err, errlen, "'%s' is not a loopback address: rectify listens on loopback only",
             listen);
    freeaddrinfo(res);
    return RF_EDENIED;
  }
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

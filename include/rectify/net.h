/* net.h - address helpers for the no-egress rule. */
#ifndef RECTIFY_NET_H
#define RECTIFY_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* True when every address host resolves to is a loopback address
 * (127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104). host may be a name
 * ("localhost"), an IPv4 literal or an IPv6 literal with or without brackets. */
bool rf_net_is_loopback_host(const char *host);

/* Parses "HOST:PORT" or "[V6]:PORT" for a listening socket that must be on
 * loopback. Fills addr/len. Returns 0, or RF_EINVAL/RF_EDENIED with a message. */
int rf_net_parse_loopback_listen(const char *listen, struct sockaddr_storage *addr,
                                 socklen_t *len, char *err, size_t errlen);

#endif

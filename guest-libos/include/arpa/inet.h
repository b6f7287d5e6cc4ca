/* guest-libos <arpa/inet.h>: dotted-quad conversions (IPv4 only). */
#ifndef DENALI_LIBOS_ARPA_INET_H
#define DENALI_LIBOS_ARPA_INET_H

#include <netinet/in.h>

/* "a.b.c.d" -> network order; INADDR_NONE (all ones) when malformed. */
#define INADDR_NONE ((in_addr_t)0xffffffff)
in_addr_t inet_addr(const char *s);
/* AF_INET only: 1 when parsed, 0 when malformed, -1 (EAFNOSUPPORT) else. */
int inet_pton(int af, const char *src, void *dst);
const char *inet_ntop(int af, const void *src, char *dst, socklen_t size);
/* Into a static buffer. */
char *inet_ntoa(struct in_addr in);

#endif

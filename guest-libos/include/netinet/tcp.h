/* guest-libos <netinet/tcp.h>. The stack never delays small segments
 * (no Nagle), so TCP_NODELAY is accepted and changes nothing. */
#ifndef DENALI_LIBOS_NETINET_TCP_H
#define DENALI_LIBOS_NETINET_TCP_H

#define TCP_NODELAY 1

#endif

/* guest-libos <netinet/in.h>: IPv4 socket addresses. */
#ifndef DENALI_LIBOS_NETINET_IN_H
#define DENALI_LIBOS_NETINET_IN_H

#include <sys/socket.h>
#include <sys/types.h>

struct in_addr {
	in_addr_t s_addr; /* network byte order */
};

struct sockaddr_in {
	sa_family_t sin_family;
	in_port_t sin_port; /* network byte order */
	struct in_addr sin_addr;
	unsigned char sin_zero[8];
};

#define IPPROTO_IP  0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#define INADDR_ANY	 ((in_addr_t)0x00000000)
#define INADDR_BROADCAST ((in_addr_t)0xffffffff)
#define INADDR_LOOPBACK	 ((in_addr_t)0x7f000001)
#define INET_ADDRSTRLEN	 16

static inline uint16_t htons(uint16_t v)
{
	return __builtin_bswap16(v);
}

static inline uint16_t ntohs(uint16_t v)
{
	return __builtin_bswap16(v);
}

static inline uint32_t htonl(uint32_t v)
{
	return __builtin_bswap32(v);
}

static inline uint32_t ntohl(uint32_t v)
{
	return __builtin_bswap32(v);
}

#endif

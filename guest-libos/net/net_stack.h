/*
 * Private to the stack: wire formats, the instance and the helpers shared by
 * its layers. Host tests include it to look inside.
 */
#ifndef DENALI_NET_STACK_H
#define DENALI_NET_STACK_H

#include "tcp.h"
#include <denali/net.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- byte order and unaligned access -------------------------------------- */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* IPv4 addresses are kept in host order inside the stack. */
static inline uint32_t net_ntohl(uint32_t v)
{
	return __builtin_bswap32(v);
}

static inline uint16_t net_ntohs(uint16_t v)
{
	return __builtin_bswap16(v);
}

/* ---- wire constants --------------------------------------------------------- */

#define ETH_HLEN      14
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP  0x0806
#define ETH_FRAME_MAX 1514
#define IP_HLEN	      20
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP  6
#define IP_PROTO_UDP  17
#define IP_BROADCAST  0xffffffffu
#define UDP_HLEN      8
#define TCP_HLEN      20

/* ---- ARP -------------------------------------------------------------------- */

#define ARP_ENTRIES  16
#define ARP_TTL_NS   (60ull * 1000000000ull)
#define ARP_RETRY_NS (1000ull * 1000000ull)
#define ARP_RETRIES  3

enum arp_state { ARP_FREE, ARP_PENDING, ARP_VALID };

struct arp_entry {
	uint8_t state;
	uint8_t tries;
	uint8_t mac[6];
	uint32_t ip;
	uint64_t deadline; /* VALID: expiry; PENDING: next request */
	uint16_t held_len; /* one frame waiting for the address, 0 = none */
	uint8_t held[ETH_FRAME_MAX];
};

/* ---- UDP -------------------------------------------------------------------- */

struct udp_pcb {
	bool used;
	uint16_t lport;
	uint32_t lip; /* 0 = any */
	uint32_t rip; /* connected peer, 0 = none */
	uint16_t rport;
	uint8_t *buf;		  /* datagram queue: [8-byte header][payload]... */
	uint32_t size, head, len; /* ring of bytes */
};

/* ---- sockets ---------------------------------------------------------------- */

enum sock_kind { SOCK_FREE, SOCK_TCP, SOCK_UDP };

struct net_sock {
	uint8_t kind;
	uint8_t nonblock;
	uint8_t keepalive;
	uint8_t bound;
	uint32_t lip;
	uint16_t lport;
	struct tcp_conn *conn; /* TCP: the connection or listener, NULL before */
	struct udp_pcb *udp;
};

/* ---- the instance ----------------------------------------------------------- */

struct net_stack {
	struct net_config cfg;
	struct net_platform plat;
	struct net_counters cnt;
	uint32_t ip, mask, gw; /* host order */
	uint16_t mtu;
	uint16_t eph_next; /* next ephemeral port */
	uint16_t ip_ident;
	struct arp_entry arp[ARP_ENTRIES];
	struct tcp_conn *conns; /* cfg.tcp_max_conns entries */
	struct tcp_conn *free_conns;
	struct tcp_conn *used_conns; /* every conn not on the free list */
	uint32_t conns_in_use;
	uint8_t *tcp_mem; /* send and receive buffers of every conn */
	uint8_t *udp_mem; /* the receive buffers of every UDP pcb, one block */
	struct udp_pcb *udp;
	uint32_t nudp;
	struct net_sock *socks;
	uint32_t nsocks;
	uint8_t tx[ETH_FRAME_MAX]; /* the frame being built */
	uint8_t isn_key[16];
	uint32_t isn_bias; /* 0; tests move ISNs near the wrap with it */
};

#define NET_UDP_PCBS 16

static inline uint64_t net_now(struct net_stack *st)
{
	return st->plat.now_ns(st->plat.ctx);
}

/* ---- checksums (ipv4.c) ----------------------------------------------------- */

/* One's-complement sum of `len` bytes added to `sum` (not folded). */
uint32_t net_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold and complement. */
uint16_t net_csum_fold(uint32_t sum);
/* Sum of the IPv4 pseudo-header (addresses in host order). */
uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* ---- layers ----------------------------------------------------------------- */

/* eth.c: send `len` bytes of L3 payload already at st->tx + ETH_HLEN. */
int eth_output(struct net_stack *st, const uint8_t dst[6], uint16_t type, size_t len);
extern const uint8_t eth_broadcast[6];

/* arp.c */
void arp_input(struct net_stack *st, const uint8_t *p, size_t len);
/* Send the IPv4 packet at st->tx + ETH_HLEN to next hop `nh` (host order):
 * at once when the address is known, else held and an ARP request sent. */
int arp_output(struct net_stack *st, uint32_t nh, size_t len);
void arp_timers(struct net_stack *st, uint64_t now);
/* A valid IPv4 packet from `ip` came from `mac`: when that is what the
 * cache says, the entry is confirmed for another ARP_TTL_NS. */
void arp_confirm(struct net_stack *st, uint32_t ip, const uint8_t mac[6]);
uint64_t arp_deadline(struct net_stack *st);
/* Our traffic to `ip` is not getting through (TCP retransmission timeouts):
 * a valid entry is dropped, so that the next packet asks again. The peer
 * may have come back with another MAC (its interface was re-created) and
 * will not say so unless asked. */
void arp_suspect(struct net_stack *st, uint32_t ip);

/* ipv4.c */
void ipv4_input(struct net_stack *st, const uint8_t *smac, const uint8_t *p, size_t len);
/* Build the IPv4 header in front of `plen` bytes of payload already at
 * st->tx + ETH_HLEN + IP_HLEN and send. `dst` in host order. */
int ipv4_output(struct net_stack *st, uint32_t dst, uint8_t proto, size_t plen);
/* The next hop towards `dst` (host order): dst on the local network, else
 * the gateway; 0 when there is no route. */
uint32_t ipv4_nexthop(const struct net_stack *st, uint32_t dst);
static inline uint8_t *ipv4_payload(struct net_stack *st)
{
	return st->tx + ETH_HLEN + IP_HLEN;
}

/* udp.c */
void udp_input(struct net_stack *st, uint32_t src, uint32_t dst, const uint8_t *p, size_t len);
struct udp_pcb *udp_open(struct net_stack *st);
void udp_close(struct net_stack *st, struct udp_pcb *u);
int udp_bind(struct net_stack *st, struct udp_pcb *u, uint32_t ip, uint16_t port);
/* 0 or -errno; `dst` host order. */
int udp_send(struct net_stack *st, struct udp_pcb *u, uint32_t dst, uint16_t dport, const void *buf,
	     size_t len);
/* Bytes of the next datagram (truncated to cap), -EAGAIN when none. */
long udp_recv(struct udp_pcb *u, void *buf, size_t cap, uint32_t *src, uint16_t *sport);
static inline bool udp_readable(const struct udp_pcb *u)
{
	return u->len > 0;
}

/* ports (stack.c): a free ephemeral port for `proto`, 0 when none. */
uint16_t net_ephemeral_port(struct net_stack *st, uint8_t proto);
bool net_ip_is_local(struct net_stack *st, uint32_t ip);

/* siphash.c: SipHash-2-4 of `len` bytes under a 16-byte key. */
uint64_t net_siphash(const uint8_t key[16], const void *data, size_t len);

#endif /* DENALI_NET_STACK_H */

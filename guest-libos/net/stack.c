/*
 * The stack instance: creation with every pool allocated once, Ethernet
 * input and output, the timer entry points and ephemeral ports.
 */
#include "net_stack.h"
#include <string.h>

const uint8_t eth_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define DEF_CONNS  128
#define DEF_SNDBUF (16u << 10)
#define DEF_RCVBUF (16u << 10)
#define DEF_SOCKS  160
#define DEF_UDPBUF (16u << 10)
#define DEF_TW_NS  (1000 * TCP_MS)

static void *zalloc(struct net_stack *st, size_t n)
{
	return st->plat.alloc(st->plat.ctx, n, 1);
}

struct net_stack *net_stack_create(const struct net_config *cfg, const struct net_platform *plat)
{
	if (plat->alloc == NULL || plat->now_ns == NULL || plat->send_frame == NULL)
		return NULL;
	struct net_stack *st = plat->alloc(plat->ctx, sizeof(*st), 1);
	if (st == NULL)
		return NULL;
	st->cfg = *cfg;
	st->plat = *plat;
	struct net_config *c = &st->cfg;
	if (c->mtu == 0 || c->mtu > ETH_FRAME_MAX - ETH_HLEN)
		c->mtu = ETH_FRAME_MAX - ETH_HLEN;
	if (c->mtu < 576)
		c->mtu = 576;
	if (c->tcp_max_conns == 0)
		c->tcp_max_conns = DEF_CONNS;
	if (c->tcp_sndbuf < 2048)
		c->tcp_sndbuf = c->tcp_sndbuf ? 2048 : DEF_SNDBUF;
	if (c->tcp_rcvbuf < 2048)
		c->tcp_rcvbuf = c->tcp_rcvbuf ? 2048 : DEF_RCVBUF;
	if (c->tcp_rcvbuf > (1u << 30) || c->tcp_sndbuf > (1u << 30))
		goto fail;
	if (c->sockets == 0)
		c->sockets = DEF_SOCKS;
	if (c->udp_rcvbuf < 2048)
		c->udp_rcvbuf = DEF_UDPBUF;
	if (c->time_wait_ns == 0)
		c->time_wait_ns = DEF_TW_NS;
	st->mtu = c->mtu;
	st->ip = net_ntohl(c->ip);
	st->mask = net_ntohl(c->netmask);
	st->gw = net_ntohl(c->gateway);
	for (int i = 0; i < 16; i++)
		st->isn_key[i] = c->secret[i] ^ c->secret[16 + i];
	st->eph_next = (uint16_t)(49152 + (net_siphash(st->isn_key, "port", 4) % 16384));

	st->nudp = NET_UDP_PCBS;
	st->udp = zalloc(st, sizeof(*st->udp) * st->nudp);
	st->nsocks = c->sockets;
	st->socks = zalloc(st, sizeof(*st->socks) * st->nsocks);
	if (st->udp == NULL || st->socks == NULL)
		goto fail;
	for (uint32_t i = 0; i < st->nudp; i++) {
		st->udp[i].size = c->udp_rcvbuf;
		st->udp[i].buf = plat->alloc(plat->ctx, c->udp_rcvbuf, 0);
		if (st->udp[i].buf == NULL)
			goto fail;
	}
	if (tcp_init(st) < 0)
		goto fail;
	return st;
fail:
	net_stack_destroy(st);
	return NULL;
}

void net_stack_destroy(struct net_stack *st)
{
	if (st == NULL)
		return;
	void (*f)(void *, void *) = st->plat.free;
	void *ctx = st->plat.ctx;
	if (f == NULL)
		return;
	if (st->udp != NULL)
		for (uint32_t i = 0; i < st->nudp; i++)
			f(ctx, st->udp[i].buf);
	f(ctx, st->udp);
	f(ctx, st->socks);
	f(ctx, st->conns);
	f(ctx, st->tcp_mem);
	f(ctx, st);
}

int eth_output(struct net_stack *st, const uint8_t dst[6], uint16_t type, size_t len)
{
	uint8_t *f = st->tx;

	memcpy(f, dst, 6);
	memcpy(f + 6, st->cfg.mac, 6);
	wr16(f + 12, type);
	size_t n = ETH_HLEN + len;
	if (n < 60) { /* minimum frame without FCS */
		memset(f + n, 0, 60 - n);
		n = 60;
	}
	int rc = st->plat.send_frame(st->plat.ctx, f, n);
	if (rc < 0) {
		st->cnt.tx_fail++;
		return rc;
	}
	st->cnt.eth_out++;
	return 0;
}

void net_input(struct net_stack *st, const void *frame, size_t len)
{
	const uint8_t *f = frame;

	st->cnt.eth_in++;
	if (len < ETH_HLEN || len > ETH_FRAME_MAX + 4) {
		st->cnt.eth_drop_short++;
		return;
	}
	if (memcmp(f, st->cfg.mac, 6) != 0 && memcmp(f, eth_broadcast, 6) != 0) {
		st->cnt.eth_drop_addr++;
		return;
	}
	if (memcmp(f + 6, st->cfg.mac, 6) == 0 || (f[6] & 1)) { /* our own or multicast source */
		st->cnt.eth_drop_addr++;
		return;
	}
	switch (rd16(f + 12)) {
	case ETH_TYPE_ARP:
		arp_input(st, f + ETH_HLEN, len - ETH_HLEN);
		break;
	case ETH_TYPE_IPV4:
		ipv4_input(st, f + 6, f + ETH_HLEN, len - ETH_HLEN);
		break;
	default:
		st->cnt.eth_drop_type++;
	}
}

void net_timers(struct net_stack *st)
{
	uint64_t now = net_now(st);

	arp_timers(st, now);
	tcp_timers(st, now);
}

uint64_t net_next_deadline(struct net_stack *st)
{
	uint64_t a = arp_deadline(st), t = tcp_deadline(st);

	return a < t ? a : t;
}

const struct net_counters *net_counters(const struct net_stack *st)
{
	return &st->cnt;
}

uint32_t net_tcp_conns_in_use(const struct net_stack *st)
{
	return st->conns_in_use;
}

static bool port_used(struct net_stack *st, uint8_t proto, uint16_t port)
{
	if (proto == IP_PROTO_TCP)
		return tcp_port_used(st, port);
	for (uint32_t i = 0; i < st->nudp; i++)
		if (st->udp[i].used && st->udp[i].lport == port)
			return true;
	return false;
}

uint16_t net_ephemeral_port(struct net_stack *st, uint8_t proto)
{
	for (int i = 0; i < 16384; i++) {
		uint16_t p = st->eph_next;
		st->eph_next = (uint16_t)(p == 65535 ? 49152 : p + 1);
		if (!port_used(st, proto, p))
			return p;
	}
	return 0;
}

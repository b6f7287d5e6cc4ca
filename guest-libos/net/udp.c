/*
 * UDP (RFC 768): NET_UDP_PCBS endpoints, each with a byte ring of queued
 * datagrams ([src ip 4][src port 2][len 2][payload]...). A datagram that does
 * not fit the ring is dropped and counted; one bound to no endpoint is
 * counted (no ICMP port unreachable is sent).
 */
#include "net_stack.h"
#include <string.h>

#define UDP_QHDR 8

static void q_put(struct udp_pcb *u, const uint8_t *p, uint32_t n)
{
	uint32_t pos = (u->head + u->len) % u->size;

	for (uint32_t i = 0; i < n; i++) {
		u->buf[pos] = p[i];
		pos = pos + 1 == u->size ? 0 : pos + 1;
	}
	u->len += n;
}

static void q_get(struct udp_pcb *u, uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (p != NULL)
			p[i] = u->buf[u->head];
		u->head = u->head + 1 == u->size ? 0 : u->head + 1;
	}
	u->len -= n;
}

static struct udp_pcb *udp_find(struct net_stack *st, uint32_t dst, uint16_t dport, uint32_t src,
				uint16_t sport)
{
	struct udp_pcb *best = NULL;

	for (uint32_t i = 0; i < st->nudp; i++) {
		struct udp_pcb *u = &st->udp[i];
		if (!u->used || u->lport != dport || (u->lip != 0 && u->lip != dst))
			continue;
		if (u->rip != 0 && (u->rip != src || u->rport != sport))
			continue;
		if (best == NULL || u->rip != 0)
			best = u;
	}
	return best;
}

void udp_input(struct net_stack *st, uint32_t src, uint32_t dst, const uint8_t *p, size_t len)
{
	st->cnt.udp_in++;
	if (len < UDP_HLEN || rd16(p + 4) < UDP_HLEN || rd16(p + 4) > len) {
		st->cnt.udp_drop_hdr++;
		return;
	}
	len = rd16(p + 4);
	if (rd16(p + 6) != 0) {
		uint32_t s = net_csum_pseudo(src, dst, IP_PROTO_UDP, (uint16_t)len);
		if (net_csum_fold(net_csum_add(s, p, len)) != 0) {
			st->cnt.udp_drop_csum++;
			return;
		}
	}
	uint16_t sport = rd16(p), dport = rd16(p + 2);
	struct udp_pcb *u = udp_find(st, dst, dport, src, sport);
	if (u == NULL) {
		st->cnt.udp_drop_noport++;
		return;
	}
	uint32_t n = (uint32_t)len - UDP_HLEN;
	if (u->size - u->len < n + UDP_QHDR) {
		st->cnt.udp_drop_full++;
		return;
	}
	uint8_t h[UDP_QHDR];
	wr32(h, src);
	wr16(h + 4, sport);
	wr16(h + 6, (uint16_t)n);
	q_put(u, h, UDP_QHDR);
	q_put(u, p + UDP_HLEN, n);
}

struct udp_pcb *udp_open(struct net_stack *st)
{
	for (uint32_t i = 0; i < st->nudp; i++) {
		struct udp_pcb *u = &st->udp[i];
		if (!u->used) {
			u->used = true;
			u->lport = u->rport = 0;
			u->lip = u->rip = 0;
			u->head = u->len = 0;
			return u;
		}
	}
	return NULL;
}

void udp_close(struct net_stack *st, struct udp_pcb *u)
{
	(void)st;
	u->used = false;
}

int udp_bind(struct net_stack *st, struct udp_pcb *u, uint32_t ip, uint16_t port)
{
	if (ip != 0 && !net_ip_is_local(st, ip))
		return -EADDRNOTAVAIL;
	if (port == 0) {
		port = net_ephemeral_port(st, IP_PROTO_UDP);
		if (port == 0)
			return -EADDRINUSE;
	} else {
		for (uint32_t i = 0; i < st->nudp; i++)
			if (&st->udp[i] != u && st->udp[i].used && st->udp[i].lport == port)
				return -EADDRINUSE;
	}
	u->lip = ip;
	u->lport = port;
	return 0;
}

int udp_send(struct net_stack *st, struct udp_pcb *u, uint32_t dst, uint16_t dport, const void *buf,
	     size_t len)
{
	if (len > (size_t)st->mtu - IP_HLEN - UDP_HLEN)
		return -EMSGSIZE;
	if (dst == 0 || dport == 0)
		return -EDESTADDRREQ;
	if (u->lport == 0) {
		int rc = udp_bind(st, u, 0, 0);
		if (rc < 0)
			return rc;
	}
	uint8_t *p = ipv4_payload(st);
	uint16_t n = (uint16_t)(UDP_HLEN + len);
	wr16(p, u->lport);
	wr16(p + 2, dport);
	wr16(p + 4, n);
	wr16(p + 6, 0);
	memcpy(p + UDP_HLEN, buf, len);
	uint16_t c =
	    net_csum_fold(net_csum_add(net_csum_pseudo(st->ip, dst, IP_PROTO_UDP, n), p, n));
	wr16(p + 6, c == 0 ? 0xffff : c);
	st->cnt.udp_out++;
	return ipv4_output(st, dst, IP_PROTO_UDP, n);
}

long udp_recv(struct udp_pcb *u, void *buf, size_t cap, uint32_t *src, uint16_t *sport)
{
	uint8_t h[UDP_QHDR];

	if (u->len == 0)
		return -EAGAIN;
	q_get(u, h, UDP_QHDR);
	uint32_t n = rd16(h + 6);
	uint32_t take = n < cap ? n : (uint32_t)cap;
	q_get(u, buf, take);
	q_get(u, NULL, n - take);
	if (src)
		*src = rd32(h);
	if (sport)
		*sport = rd16(h + 4);
	return take;
}

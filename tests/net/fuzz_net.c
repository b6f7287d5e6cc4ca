/*
 * Fuzz target: frame input to the guest-libos TCP/IP stack.
 *
 * The input is a list of records [op:1][len:2, big-endian][frame:len]. Each
 * frame goes to one stack instance (listener on 80, UDP on 7, an active open
 * to 198.18.0.2:5555 in flight, small pools). Bits of op steer it past the
 * checks a mutator cannot guess:
 *   0x01  the TCP ack field is relative: the ISS of the matching connection
 *         is added (ISNs are keyed hashes);
 *   0x02  IPv4 and TCP/UDP/ICMP checksums are recomputed;
 *   0x04  the clock advances (op >> 4) * 50 ms + 1 ns and timers run;
 *   0x08  the application acts on every socket (accept, read, write; op
 *         bits 0x10/0x20 close or shut down).
 * Oracles besides ASan/UBSan: every frame the stack sends is well formed
 * (length, IPv4 header checksum, TCP/UDP checksum), and once every socket
 * is closed and the timers have run out, no connection is left in use.
 */
#include "net_stack.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER 0xc6120002u

static uint64_t now;

static uint64_t f_now(void *ctx)
{
	(void)ctx;
	return now;
}

static int f_send(void *ctx, const void *frame, size_t len)
{
	const uint8_t *f = frame;
	(void)ctx;
	if (len < 60 || len > ETH_FRAME_MAX) {
		fprintf(stderr, "fuzz_net: bad frame length %zu\n", len);
		abort();
	}
	if (rd16(f + 12) != ETH_TYPE_IPV4)
		return 0;
	const uint8_t *ip = f + ETH_HLEN;
	size_t tot = rd16(ip + 2);
	if (tot < IP_HLEN || ETH_HLEN + tot > len || net_csum_fold(net_csum_add(0, ip, IP_HLEN))) {
		fprintf(stderr, "fuzz_net: bad IPv4 header sent\n");
		abort();
	}
	if (ip[9] == IP_PROTO_TCP || ip[9] == IP_PROTO_UDP) {
		uint16_t n = (uint16_t)(tot - IP_HLEN);
		uint32_t s = net_csum_pseudo(rd32(ip + 12), rd32(ip + 16), ip[9], n);
		if (net_csum_fold(net_csum_add(s, ip + IP_HLEN, n)) != 0) {
			fprintf(stderr, "fuzz_net: bad transport checksum sent\n");
			abort();
		}
	}
	return 0;
}

static void *f_alloc(void *ctx, size_t n, int zero)
{
	(void)ctx;
	void *p = malloc(n ? n : 1);
	if (p != NULL)
		memset(p, zero ? 0 : 0xa5, n);
	return p;
}

static void f_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void fix_checksums(uint8_t *f, size_t len)
{
	if (len < ETH_HLEN + IP_HLEN || rd16(f + 12) != ETH_TYPE_IPV4)
		return;
	uint8_t *ip = f + ETH_HLEN;
	size_t hl = (size_t)(ip[0] & 0xf) * 4, tot = rd16(ip + 2);
	if (hl < IP_HLEN || ETH_HLEN + hl > len)
		return;
	wr16(ip + 10, 0);
	wr16(ip + 10, net_csum_fold(net_csum_add(0, ip, hl)));
	if (tot < hl || ETH_HLEN + tot > len)
		return;
	uint8_t *p = ip + hl;
	size_t n = tot - hl;
	size_t off = ip[9] == IP_PROTO_TCP ? 16 : ip[9] == IP_PROTO_UDP ? 6 : ip[9] == 1 ? 2 : 0;
	if (off == 0 || n < off + 2)
		return;
	wr16(p + off, 0);
	uint32_t s =
	    ip[9] == 1 ? 0 : net_csum_pseudo(rd32(ip + 12), rd32(ip + 16), ip[9], (uint16_t)n);
	uint16_t c = net_csum_fold(net_csum_add(s, p, n));
	wr16(p + off, ip[9] == IP_PROTO_UDP && c == 0 ? 0xffff : c);
}

static void fix_ack(struct net_stack *st, uint8_t *f, size_t len)
{
	if (len < ETH_HLEN + IP_HLEN + TCP_HLEN || rd16(f + 12) != ETH_TYPE_IPV4)
		return;
	uint8_t *ip = f + ETH_HLEN;
	if (ip[9] != IP_PROTO_TCP || (ip[0] & 0xf) != 5)
		return;
	uint8_t *t = ip + IP_HLEN;
	struct tcp_seg s = {
	    .src = rd32(ip + 12), .dst = rd32(ip + 16), .sport = rd16(t), .dport = rd16(t + 2)};
	struct tcp_conn *c = tcp_lookup(st, &s);
	if (c != NULL)
		wr32(t + 8, rd32(t + 8) + c->iss);
}

static void app(struct net_stack *st, uint8_t op)
{
	uint8_t buf[700];

	for (uint32_t i = 0; i < st->nsocks; i++) {
		struct net_sock *k = &st->socks[i];
		int s = (int)i;
		if (k->kind == SOCK_UDP) {
			struct net_sockaddr_in from;
			long n = net_sock_recvfrom(st, s, buf, sizeof(buf), 0, &from);
			if (n >= 0)
				net_sock_sendto(st, s, buf, (size_t)n, 0, &from);
			continue;
		}
		if (k->kind != SOCK_TCP || k->conn == NULL)
			continue;
		if (k->conn->state == TCP_LISTEN) {
			while (net_sock_accept(st, s, NULL) >= 0)
				;
			continue;
		}
		net_sock_recv(st, s, buf, sizeof(buf), 0);
		memset(buf, 'r', sizeof(buf));
		net_sock_send(st, s, buf, 300, 0);
		struct net_pollfd p = {.fd = s, .events = NET_POLLIN | NET_POLLOUT};
		net_sock_poll(st, &p, 1, 0);
		if (op & 0x20)
			net_sock_shutdown(st, s, NET_SHUT_WR);
		if ((op & 0x10) && (i & 1))
			net_sock_close(st, s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x0a};
	memcpy(cfg.mac, mac, 6);
	cfg.ip = net_ntohl(0xc6120001u);
	cfg.netmask = net_ntohl(0xffffff00u);
	cfg.gateway = net_ntohl(0xc61200feu);
	cfg.tcp_max_conns = 8;
	cfg.sockets = 12;
	cfg.tcp_sndbuf = 4096;
	cfg.tcp_rcvbuf = 4096;
	cfg.udp_rcvbuf = 4096;
	struct net_platform plat = {
	    .now_ns = f_now, .send_frame = f_send, .alloc = f_alloc, .free = f_free};
	now = 1000000000ull;
	struct net_stack *st = net_stack_create(&cfg, &plat);
	if (st == NULL)
		abort();

	/* ARP for the peer, so that output is sent, not held. */
	uint8_t f[ETH_FRAME_MAX + 4];
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	static const uint8_t pmac[6] = {2, 0, 0, 0, 0, 0x0b};
	memcpy(f + 6, pmac, 6);
	wr16(f + 12, ETH_TYPE_ARP);
	wr16(f + 14, 1);
	wr16(f + 16, ETH_TYPE_IPV4);
	f[18] = 6;
	f[19] = 4;
	wr16(f + 20, 1);
	memcpy(f + 22, pmac, 6);
	wr32(f + 28, PEER);
	wr32(f + 38, 0xc6120001u);
	net_input(st, f, 60);

	struct net_sockaddr_in a = {.sin_family = NET_AF_INET, .sin_port = net_ntohs(80)};
	int ls = net_sock_socket(st, NET_AF_INET, NET_SOCK_STREAM, 0);
	net_sock_bind(st, ls, &a);
	net_sock_listen(st, ls, 4);
	net_sock_setflags(st, ls, NET_O_NONBLOCK);
	int us = net_sock_socket(st, NET_AF_INET, NET_SOCK_DGRAM, 0);
	a.sin_port = net_ntohs(7);
	net_sock_bind(st, us, &a);
	int cs = net_sock_socket(st, NET_AF_INET, NET_SOCK_STREAM, 04000);
	a.sin_port = net_ntohs(40000);
	net_sock_bind(st, cs, &a);
	struct net_sockaddr_in to = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(5555), .sin_addr = net_ntohl(PEER)};
	net_sock_connect(st, cs, &to);

	while (size >= 3) {
		uint8_t op = data[0];
		size_t len = rd16(data + 1) % (ETH_FRAME_MAX + 5);
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		memcpy(f, data, len);
		data += len;
		size -= len;
		if (op & 1)
			fix_ack(st, f, len);
		if (op & 2)
			fix_checksums(f, len);
		net_input(st, f, len);
		if (op & 4) {
			now += (uint64_t)(op >> 4) * 50 * TCP_MS + 1;
			net_timers(st);
		}
		if (op & 8)
			app(st, op);
	}

	for (uint32_t i = 0; i < st->nsocks; i++)
		if (st->socks[i].kind != SOCK_FREE)
			net_sock_close(st, (int)i);
	for (int i = 0; i < 100000; i++) {
		uint64_t d = net_next_deadline(st);
		if (d == UINT64_MAX)
			break;
		if (d > now)
			now = d;
		net_timers(st);
	}
	if (net_next_deadline(st) != UINT64_MAX || st->conns_in_use != 0) {
		fprintf(stderr, "fuzz_net: %u connections left after close and every timer\n",
			st->conns_in_use);
		for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
			fprintf(stderr,
				"  state %u user %d parent %p timers %llu %llu %llu lport %u\n",
				c->state, c->user, (void *)c->parent,
				(unsigned long long)c->t_rexmt, (unsigned long long)c->t_delack,
				(unsigned long long)c->t_misc, c->lport);
		abort();
	}
	for (int i = 0; i < NET_TCP_NSTATES; i++)
		if (st->cnt.tcp_state[i] != 0)
			abort();
	net_stack_destroy(st);
	return 0;
}

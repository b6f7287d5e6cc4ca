/*
 * Ethernet, ARP, IPv4, ICMP and UDP of the guest-libos stack, against
 * hand-built frames and between two instances.
 */
#include "harness.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void test_siphash_vector(void **state)
{
	(void)state;
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* The paper's appendix A: 15 bytes 00..0e under key 00..0f. */
	assert_int_equal(net_siphash(key, msg, 15), 0xa129ca6149be45e5ull);
	/* First entry of the reference vectors: the empty message. */
	assert_int_equal(net_siphash(key, msg, 0), 0x726fdb47dd0e0e31ull);
	assert_int_not_equal(net_siphash(key, msg, 8), net_siphash(key, msg, 9));
}

static size_t arp_frame(uint8_t *f, const uint8_t *dmac, uint16_t op, const uint8_t *sha,
			uint32_t sip, const uint8_t *tha, uint32_t tip)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, sha, 6);
	wr16(f + 12, ETH_TYPE_ARP);
	uint8_t *a = f + ETH_HLEN;
	wr16(a, 1);
	wr16(a + 2, ETH_TYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, sha, 6);
	wr32(a + 14, sip);
	memcpy(a + 18, tha, 6);
	wr32(a + 24, tip);
	return 60;
}

/* Send one UDP datagram from stack 0 to ip:7 through a socket. */
static void udp_to(struct net_stack *st, uint32_t ip)
{
	int s = net_sock_socket(st, NET_AF_INET, NET_SOCK_DGRAM, 0);
	assert_true(s >= 0);
	struct net_sockaddr_in to = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(7), .sin_addr = net_ntohl(ip)};
	assert_int_equal(net_sock_sendto(st, s, "hi", 2, 0, &to), 2);
	assert_int_equal(net_sock_close(st, s), 0);
}

static void test_arp_request_reply(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct wire_end *e = &w->end[0];
	uint8_t f[64];
	static const uint8_t zero[6];

	net_input(e->st, f, arp_frame(f, BCAST, 1, MAC_B, IP_B, zero, IP_A));
	assert_int_equal(e->ncap, 1);
	const uint8_t *r = e->cap[0];
	assert_memory_equal(r, MAC_B, 6);
	assert_int_equal(rd16(r + 12), ETH_TYPE_ARP);
	assert_int_equal(rd16(r + ETH_HLEN + 6), 2);
	assert_memory_equal(r + ETH_HLEN + 8, MAC_A, 6);
	assert_int_equal(rd32(r + ETH_HLEN + 14), IP_A);
	assert_int_equal(rd32(r + ETH_HLEN + 24), IP_B);
	/* The requester was learned: a datagram to it needs no request. */
	udp_to(e->st, IP_B);
	assert_int_equal(e->ncap, 2);
	assert_memory_equal(e->cap[1], MAC_B, 6);
	assert_int_equal(rd16(e->cap[1] + 12), ETH_TYPE_IPV4);
	/* A request for someone else is not answered and teaches nothing. */
	static const uint8_t mac_c[6] = {2, 0, 0, 0, 0, 0x0c};
	net_input(e->st, f, arp_frame(f, BCAST, 1, mac_c, 0xc6120003u, zero, 0xc6120009u));
	assert_int_equal(e->ncap, 2);
	udp_to(e->st, 0xc6120003u);
	assert_int_equal(e->ncap, 3);
	assert_memory_equal(e->cap[2], BCAST, 6); /* had to ask */
	/* Malformed ARP is dropped and counted. */
	uint64_t drops = e->st->cnt.arp_drop;
	size_t n = arp_frame(f, BCAST, 1, MAC_B, IP_B, zero, IP_A);
	f[ETH_HLEN + 4] = 7;
	net_input(e->st, f, n);
	assert_int_equal(e->st->cnt.arp_drop, drops + 1);
	wire_free(w);
}

static void test_arp_resolve_expire_retry(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct wire_end *e = &w->end[0];
	uint8_t f[64];

	udp_to(e->st, IP_B);
	assert_int_equal(e->ncap, 1);
	assert_memory_equal(e->cap[0], BCAST, 6);
	assert_int_equal(rd16(e->cap[0] + ETH_HLEN + 6), 1);
	assert_int_equal(rd32(e->cap[0] + ETH_HLEN + 24), IP_B);
	/* The reply releases the held datagram. */
	net_input(e->st, f, arp_frame(f, MAC_A, 2, MAC_B, IP_B, MAC_A, IP_A));
	assert_int_equal(e->ncap, 2);
	assert_memory_equal(e->cap[1], MAC_B, 6);
	assert_int_equal(rd16(e->cap[1] + 12), ETH_TYPE_IPV4);
	/* Valid for a minute, with no timer of its own; used after that, it
	 * has expired and is asked for again. */
	assert_int_equal(net_next_deadline(e->st), UINT64_MAX);
	w->now += ARP_TTL_NS - 1000;
	udp_to(e->st, IP_B);
	assert_int_equal(e->ncap, 3);
	assert_memory_equal(e->cap[2], MAC_B, 6);
	assert_int_equal(e->st->cnt.arp_expired, 0);
	w->now += 2000;
	udp_to(e->st, IP_B);
	assert_int_equal(e->st->cnt.arp_expired, 1);
	assert_int_equal(e->ncap, 4);
	assert_memory_equal(e->cap[3], BCAST, 6);
	net_input(e->st, f, arp_frame(f, MAC_A, 2, MAC_B, IP_B, MAC_A, IP_A));
	assert_int_equal(e->ncap, 5);
	assert_memory_equal(e->cap[4], MAC_B, 6);
	/* arp_timers also clears expired entries. */
	w->now += ARP_TTL_NS;
	net_timers(e->st);
	assert_int_equal(e->st->cnt.arp_expired, 2);
	/* Unanswered: ARP_RETRIES requests, then the frame is given up. */
	e->ncap = 0;
	udp_to(e->st, IP_B);
	for (int i = 0; i < 10; i++) {
		w->now += ARP_RETRY_NS;
		net_timers(e->st);
	}
	assert_int_equal(e->ncap, ARP_RETRIES);
	assert_int_equal(e->st->cnt.arp_unresolved, 1);
	assert_int_equal(net_next_deadline(e->st), UINT64_MAX);
	wire_free(w);
}

static void test_arp_bounded(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct wire_end *e = &w->end[0];
	uint8_t f[64], mac[6] = {2, 1, 0, 0, 0, 0};
	static const uint8_t zero[6];

	for (int i = 0; i < 3 * ARP_ENTRIES; i++) {
		mac[5] = (uint8_t)i;
		w->now += 1000;
		net_input(e->st, f,
			  arp_frame(f, BCAST, 1, mac, 0xc6120010u + (uint32_t)i, zero, IP_A));
	}
	int used = 0;
	for (int i = 0; i < ARP_ENTRIES; i++)
		used += e->st->arp[i].state != ARP_FREE;
	assert_int_equal(used, ARP_ENTRIES);
	assert_int_equal(e->st->cnt.arp_evict, 2 * ARP_ENTRIES);
	/* The newest are kept. */
	bool newest = false;
	for (int i = 0; i < ARP_ENTRIES; i++)
		newest |= e->st->arp[i].ip == 0xc6120010u + 3 * ARP_ENTRIES - 1;
	assert_true(newest);
	wire_free(w);
}

static uint8_t *icmp_echo(uint8_t *f, size_t *len, size_t payload)
{
	uint8_t *p = f + ETH_HLEN + IP_HLEN;
	p[0] = 8;
	p[1] = 0;
	wr16(p + 2, 0);
	wr16(p + 4, 0x1234);
	wr16(p + 6, 7);
	for (size_t i = 0; i < payload; i++)
		p[8 + i] = (uint8_t)i;
	wr16(p + 2, net_csum_fold(net_csum_add(0, p, 8 + payload)));
	*len = frame_ipv4(f, MAC_A, MAC_B, IP_B, IP_A, IP_PROTO_ICMP, 8 + payload);
	return p;
}

static void test_icmp_echo(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct wire_end *e = &w->end[0];
	uint8_t f[1600];
	size_t n;

	icmp_echo(f, &n, 56);
	net_input(e->st, f, n);
	/* Unknown MAC: an ARP request, the reply is held; answer it. */
	assert_int_equal(e->ncap, 1);
	uint8_t a[64];
	net_input(e->st, a, arp_frame(a, MAC_A, 2, MAC_B, IP_B, MAC_A, IP_A));
	assert_int_equal(e->ncap, 2);
	const uint8_t *r = e->cap[1];
	const uint8_t *ip = r + ETH_HLEN, *icmp = ip + IP_HLEN;
	assert_int_equal(rd32(ip + 12), IP_A);
	assert_int_equal(rd32(ip + 16), IP_B);
	assert_int_equal(net_csum_fold(net_csum_add(0, ip, IP_HLEN)), 0);
	assert_int_equal(icmp[0], 0);
	assert_int_equal(rd16(icmp + 4), 0x1234);
	assert_int_equal(rd16(icmp + 6), 7);
	assert_int_equal(net_csum_fold(net_csum_add(0, icmp, 64)), 0);
	assert_memory_equal(icmp + 8, f + ETH_HLEN + IP_HLEN + 8, 56);
	assert_int_equal(e->st->cnt.icmp_echo_out, 1);
	/* A corrupted echo is not answered. */
	uint8_t *p = icmp_echo(f, &n, 56);
	p[10] ^= 1;
	net_input(e->st, f, n);
	assert_int_equal(e->ncap, 2);
	assert_int_equal(e->st->cnt.icmp_drop, 1);
	wire_free(w);
}

static void test_ipv4_checks(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct wire_end *e = &w->end[0];
	struct net_counters *c = &e->st->cnt;
	uint8_t f[1600];
	size_t n;
	uint8_t *ip = f + ETH_HLEN;

#define REBUILD() (icmp_echo(f, &n, 16))
#define RESUM()                                                                                    \
	do {                                                                                       \
		wr16(ip + 10, 0);                                                                  \
		wr16(ip + 10, net_csum_fold(net_csum_add(0, ip, IP_HLEN)));                        \
	} while (0)

	REBUILD();
	ip[0] = 0x65; /* version 6 */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_hdr, 1);
	REBUILD();
	ip[0] = 0x44; /* IHL 16 bytes */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_hdr, 2);
	REBUILD();
	wr16(ip + 2, (uint16_t)(n - ETH_HLEN + 1)); /* longer than the frame */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_hdr, 3);
	REBUILD();
	wr16(ip + 2, 19); /* shorter than the header */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_hdr, 4);
	REBUILD();
	ip[8] = 3; /* TTL changed, checksum not */
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_csum, 1);
	REBUILD();
	wr16(ip + 6, 0x2000); /* more fragments */
	RESUM();
	net_input(e->st, f, n);
	REBUILD();
	wr16(ip + 6, 0x0010); /* offset 128 */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_frag, 2);
	REBUILD();
	wr32(ip + 16, 0xc6120063u); /* not ours */
	RESUM();
	net_input(e->st, f, n);
	REBUILD();
	wr32(ip + 12, 0xffffffffu); /* broadcast source */
	RESUM();
	net_input(e->st, f, n);
	REBUILD();
	wr32(ip + 12, 0xe0000001u); /* multicast source */
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_addr, 3);
	REBUILD();
	ip[9] = 99;
	RESUM();
	net_input(e->st, f, n);
	assert_int_equal(c->ip_drop_proto, 1);
	/* Ethernet: short, someone else's, unknown type. */
	net_input(e->st, f, 13);
	assert_int_equal(c->eth_drop_short, 1);
	REBUILD();
	f[0] = 0x02;
	f[5] = 0x77;
	net_input(e->st, f, n);
	assert_int_equal(c->eth_drop_addr, 1);
	REBUILD();
	wr16(f + 12, 0x86dd);
	net_input(e->st, f, n);
	assert_int_equal(c->eth_drop_type, 1);
	assert_int_equal(e->ncap, 0);
	assert_int_equal(c->icmp_in, 0);
	/* Options and Ethernet padding are fine: an echo with a 4-byte NOP option. */
	uint8_t g[1600];
	memset(g, 0, sizeof(g));
	icmp_echo(f, &n, 16);
	memcpy(g, f, ETH_HLEN);
	uint8_t *gip = g + ETH_HLEN;
	memcpy(gip, ip, IP_HLEN);
	gip[0] = 0x46;
	memset(gip + IP_HLEN, 1, 4);
	memcpy(gip + 24, ip + IP_HLEN, 24);
	wr16(gip + 2, 48);
	wr16(gip + 10, 0);
	wr16(gip + 10, net_csum_fold(net_csum_add(0, gip, 24)));
	net_input(e->st, g, ETH_HLEN + 48 + 10);
	assert_int_equal(c->icmp_in, 1);
	assert_int_equal(c->icmp_drop, 0);
	wire_free(w);
}

static void test_udp_input(void **state)
{
	(void)state;
	struct wire *w = wire_single(NULL);
	struct net_stack *st = w->end[0].st;
	uint8_t f[1600], buf[64];

	int s = net_sock_socket(st, NET_AF_INET, NET_SOCK_DGRAM, 0);
	struct net_sockaddr_in a = {.sin_family = NET_AF_INET, .sin_port = net_ntohs(5000)};
	assert_int_equal(net_sock_bind(st, s, &a), 0);
	int s2 = net_sock_socket(st, NET_AF_INET, NET_SOCK_DGRAM, 0);
	assert_int_equal(net_sock_bind(st, s2, &a), -EADDRINUSE);
	net_sock_close(st, s2);
	assert_int_equal(net_sock_recv(st, s, buf, sizeof(buf), NET_MSG_DONTWAIT), -EAGAIN);

	net_input(st, f, frame_udp(f, IP_B, IP_A, 4444, 5000, "hello", 5));
	struct net_sockaddr_in from;
	assert_int_equal(net_sock_recvfrom(st, s, buf, sizeof(buf), 0, &from), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(net_ntohl(from.sin_addr), IP_B);
	assert_int_equal(net_ntohs(from.sin_port), 4444);
	/* Bad checksum, no port, length beyond the packet. */
	size_t n = frame_udp(f, IP_B, IP_A, 4444, 5000, "hello", 5);
	f[n - 1] ^= 0x40;
	net_input(st, f, n);
	assert_int_equal(st->cnt.udp_drop_csum, 1);
	net_input(st, f, frame_udp(f, IP_B, IP_A, 4444, 5001, "x", 1));
	assert_int_equal(st->cnt.udp_drop_noport, 1);
	n = frame_udp(f, IP_B, IP_A, 4444, 5000, "hello", 5);
	wr16(f + ETH_HLEN + IP_HLEN + 4, 40);
	net_input(st, f, n);
	assert_int_equal(st->cnt.udp_drop_hdr, 1);
	/* Checksum 0 means none (RFC 768). */
	n = frame_udp(f, IP_B, IP_A, 4444, 5000, "abc", 3);
	wr16(f + ETH_HLEN + IP_HLEN + 6, 0);
	net_input(st, f, n);
	assert_int_equal(net_sock_recv(st, s, buf, sizeof(buf), 0), 3);
	/* A full queue drops and counts; what was queued stays intact. */
	uint8_t big[1400];
	memset(big, 0x5a, sizeof(big));
	int queued = 0;
	for (int i = 0; i < 20; i++) {
		uint64_t before = st->cnt.udp_drop_full;
		net_input(st, f, frame_udp(f, IP_B, IP_A, 4444, 5000, big, sizeof(big)));
		queued += st->cnt.udp_drop_full == before;
	}
	assert_true(st->cnt.udp_drop_full > 0);
	for (int i = 0; i < queued; i++) {
		uint8_t r[1500];
		assert_int_equal(net_sock_recv(st, s, r, sizeof(r), 0), sizeof(big));
		assert_memory_equal(r, big, sizeof(big));
	}
	/* Truncation to the caller's buffer drops the rest of that datagram. */
	net_input(st, f, frame_udp(f, IP_B, IP_A, 4444, 5000, "0123456789", 10));
	net_input(st, f, frame_udp(f, IP_B, IP_A, 4444, 5000, "ab", 2));
	assert_int_equal(net_sock_recv(st, s, buf, 4, 0), 4);
	assert_int_equal(net_sock_recv(st, s, buf, sizeof(buf), 0), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(net_sock_close(st, s), 0);
	wire_free(w);
}

static void test_udp_two_stacks(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	char buf[2048];

	int sb = net_sock_socket(b, NET_AF_INET, NET_SOCK_DGRAM, 0);
	struct net_sockaddr_in addr = {.sin_family = NET_AF_INET, .sin_port = net_ntohs(7)};
	assert_int_equal(net_sock_bind(b, sb, &addr), 0);
	int sa = net_sock_socket(a, NET_AF_INET, NET_SOCK_DGRAM, 0);
	addr.sin_addr = net_ntohl(IP_B);
	assert_int_equal(net_sock_connect(a, sa, &addr), 0);
	for (int i = 0; i < 50; i++) {
		int len = 1 + (i * 37) % 1472;
		memset(buf, 'a' + i % 26, (size_t)len);
		assert_int_equal(net_sock_send(a, sa, buf, (size_t)len, 0), len);
		struct net_sockaddr_in from;
		/* Blocking receive: the wait runs the wire (ARP first). */
		long n = net_sock_recvfrom(b, sb, buf, sizeof(buf), 0, &from);
		assert_int_equal(n, len);
		assert_int_equal(buf[len - 1], 'a' + i % 26);
		assert_int_equal(net_sock_sendto(b, sb, buf, (size_t)n, 0, &from), n);
		assert_int_equal(net_sock_recv(a, sa, buf, sizeof(buf), 0), len);
	}
	assert_int_equal(net_sock_send(a, sa, buf, 1473, 0), -EMSGSIZE);
	struct net_pollfd p = {.fd = sa, .events = NET_POLLIN};
	assert_int_equal(net_sock_poll(a, &p, 1, 10), 0);
	assert_int_equal(p.revents, 0);
	assert_int_equal(a->cnt.arp_out, 1); /* one request, then cached */
	wire_free(w);
}

/* The checksum as the stack first had it: network-order 16-bit words, one
 * at a time. net_csum_add() now sums eight bytes per step; it must agree. */
static uint32_t csum_ref(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	while (len >= 2) {
		s += (uint32_t)((p[0] << 8) | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static void test_csum_matches_reference(void **state)
{
	(void)state;
	static uint8_t buf[70000 + 8];
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	/* Every length up to two frames, every alignment, varied start sums. */
	for (size_t len = 0; len <= 3100; len++)
		for (size_t off = 0; off < 8; off++) {
			uint32_t start = (uint32_t)(len * 2654435761u) % 0x40000u;
			assert_int_equal(net_csum_fold(net_csum_add(start, buf + off, len)),
					 net_csum_fold(csum_ref(start, buf + off, len)));
		}
	/* Carries: all-ones data, long, and a start sum near 2^32. */
	memset(buf, 0xff, sizeof(buf));
	for (size_t len = 65530; len <= 70000; len += 7)
		assert_int_equal(net_csum_fold(net_csum_add(0xfffffff0u, buf, len)),
				 net_csum_fold(csum_ref(0xfffffff0u, buf, len)));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(net_csum_fold(net_csum_add(0, buf, 100)), 0xffff);
	assert_int_equal(net_csum_fold(net_csum_add(0, buf, 0)), 0xffff);
	/* Chained over even chunks, as one call. */
	for (size_t i = 0; i < 3000; i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	uint32_t one = net_csum_add(5, buf, 2999);
	uint32_t chained =
	    net_csum_add(net_csum_add(net_csum_add(5, buf, 20), buf + 20, 1000), buf + 1020, 1979);
	assert_int_equal(net_csum_fold(chained), net_csum_fold(one));
	assert_int_equal(net_csum_fold(one), net_csum_fold(csum_ref(5, buf, 2999)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_siphash_vector),
	    cmocka_unit_test(test_arp_request_reply),
	    cmocka_unit_test(test_arp_resolve_expire_retry),
	    cmocka_unit_test(test_arp_bounded),
	    cmocka_unit_test(test_icmp_echo),
	    cmocka_unit_test(test_ipv4_checks),
	    cmocka_unit_test(test_udp_input),
	    cmocka_unit_test(test_udp_two_stacks),
	    cmocka_unit_test(test_csum_matches_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

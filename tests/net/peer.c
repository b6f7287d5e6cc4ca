/*
 * A scripted TCP peer (198.18.0.2) for the hand-built-segment tests of the
 * stack: see peer.h.
 */
#include "peer.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void answer_arp(struct peer *p);

static void arp_from_peer(struct peer *p)
{
	uint8_t f[64];
	memset(f, 0, sizeof(f));
	memset(f, 0xff, 6);
	memcpy(f + 6, MAC_B, 6);
	wr16(f + 12, ETH_TYPE_ARP);
	uint8_t *a = f + ETH_HLEN;
	wr16(a, 1);
	wr16(a + 2, ETH_TYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, 1);
	memcpy(a + 8, MAC_B, 6);
	wr32(a + 14, IP_B);
	wr32(a + 24, IP_A);
	net_input(p->st, f, 60);
}

void prime_arp(struct peer *p)
{
	arp_from_peer(p);
	p->e->ncap = 0;
}

void peer_init(struct peer *p, const struct net_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->w = wire_single(cfg);
	p->e = &p->w->end[0];
	p->st = p->e->st;
	p->wnd = 65535;
	p->port = RPORT;
	prime_arp(p);
}

/* Send a segment from the peer; data advances p->seq. */
void psend(struct peer *p, uint8_t flags, const void *data, size_t len, const uint8_t *opt,
	   size_t optlen)
{
	uint8_t f[1600];
	size_t n = frame_tcp(f, IP_B, IP_A, p->port, LPORT, p->seq, p->ack, flags, p->wnd, opt,
			     optlen, data, len);
	net_input(p->st, f, n);
	answer_arp(p);
	p->seq += (uint32_t)len + ((flags & TH_SYN) ? 1 : 0) + ((flags & TH_FIN) ? 1 : 0);
}

/* Segment at raw seq (for out-of-order tests), p->seq unchanged. */
void psend_at(struct peer *p, uint32_t seq, const void *data, size_t len)
{
	uint32_t save = p->seq;
	p->seq = seq;
	psend(p, TH_ACK, data, len, NULL, 0);
	p->seq = save;
}

struct tcp_seg last(struct peer *p)
{
	struct tcp_seg s;
	assert_true(p->e->ncap > 0);
	assert_true(cap_tcp(p->e->cap[p->e->ncap - 1], p->e->cap_len[p->e->ncap - 1], &s));
	return s;
}

/* The peer answers the stack's ARP requests (entries expire after a
 * minute); the requests are taken out of the capture. */
static void answer_arp(struct peer *p)
{
	struct wire_end *e = p->e;
	for (unsigned i = 0; i < e->ncap; i++) {
		if (rd16(e->cap[i] + 12) != ETH_TYPE_ARP)
			continue;
		memmove(e->cap[i], e->cap[i + 1], (size_t)(e->ncap - i - 1) * sizeof(e->cap[0]));
		memmove(&e->cap_len[i], &e->cap_len[i + 1],
			(size_t)(e->ncap - i - 1) * sizeof(e->cap_len[0]));
		e->ncap--;
		unsigned keep = e->ncap;
		arp_from_peer(p); /* a request from the peer teaches the stack its MAC */
		/* Drop our ARP reply to it, keep the frame it released. */
		for (unsigned j = keep; j < e->ncap; j++) {
			if (rd16(e->cap[j] + 12) == ETH_TYPE_ARP) {
				memmove(e->cap[j], e->cap[j + 1],
					(size_t)(e->ncap - j - 1) * sizeof(e->cap[0]));
				memmove(&e->cap_len[j], &e->cap_len[j + 1],
					(size_t)(e->ncap - j - 1) * sizeof(e->cap_len[0]));
				e->ncap--;
				j--;
			}
		}
		i = (unsigned)-1;
	}
}

void advance(struct peer *p, uint64_t ns)
{
	uint64_t end = p->w->now + ns;
	for (;;) {
		uint64_t d = net_next_deadline(p->st);
		if (d > end)
			break;
		if (d > p->w->now)
			p->w->now = d;
		net_timers(p->st);
		answer_arp(p);
	}
	p->w->now = end;
}

int listen_sock(struct net_stack *st, int backlog)
{
	int s = net_sock_socket(st, NET_AF_INET, NET_SOCK_STREAM, 0);
	struct net_sockaddr_in a = {.sin_family = NET_AF_INET, .sin_port = net_ntohs(LPORT)};
	assert_int_equal(net_sock_bind(st, s, &a), 0);
	assert_int_equal(net_sock_listen(st, s, backlog), 0);
	net_sock_setflags(st, s, NET_O_NONBLOCK);
	return s;
}

const uint8_t SYN_OPT[8] = {2, 4, 0x03, 0xe8, 1, 3, 3, 2}; /* MSS 1000, WS 2 */

/* Passive open from the peer; returns the accepted socket. */
int passive_open(struct peer *p, int ls)
{
	p->seq = 1000;
	psend(p, TH_SYN, NULL, 0, SYN_OPT, sizeof(SYN_OPT));
	struct tcp_seg s = last(p);
	assert_int_equal(s.flags, TH_SYN | TH_ACK);
	assert_int_equal(s.ack, 1001);
	p->ack = s.seq + 1;
	psend(p, TH_ACK, NULL, 0, NULL, 0);
	int c = net_sock_accept(p->st, ls, NULL);
	assert_true(c >= 0);
	net_sock_setflags(p->st, c, NET_O_NONBLOCK);
	p->e->ncap = 0;
	return c;
}

/* Active open from the stack, the peer answering after `rtt`. */
int active_open(struct peer *p, uint64_t rtt)
{
	int c = net_sock_socket(p->st, NET_AF_INET, NET_SOCK_STREAM, 0);
	net_sock_setflags(p->st, c, NET_O_NONBLOCK);
	struct net_sockaddr_in to = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(RPORT), .sin_addr = net_ntohl(IP_B)};
	assert_int_equal(net_sock_connect(p->st, c, &to), -EINPROGRESS);
	struct tcp_seg s = last(p);
	assert_int_equal(s.flags, TH_SYN);
	assert_int_equal(s.mss, 1460);
	assert_int_equal(s.ws, 0);
	p->port = RPORT;
	/* The scripted peer is "port RPORT" talking to the stack's port. */
	advance(p, rtt);
	p->seq = 50000;
	p->ack = s.seq + 1;
	uint8_t f[100];
	net_input(p->st, f,
		  frame_tcp(f, IP_B, IP_A, RPORT, s.sport, p->seq, p->ack, TH_SYN | TH_ACK, 65535,
			    (const uint8_t *)"\x02\x04\x05\xb4", 4, NULL, 0));
	p->seq++;
	assert_int_equal(last(p).flags, TH_ACK);
	assert_int_equal(last(p).ack, p->seq);
	assert_int_equal(net_sock_error(p->st, c), 0);
	p->e->ncap = 0;
	return c;
}

/* Peer segments to the stack's ephemeral port. */
void pack(struct peer *p, int c, uint32_t ack, uint16_t wnd)
{
	uint8_t f[100];
	struct tcp_conn *t = p->st->socks[c].conn;
	net_input(
	    p->st, f,
	    frame_tcp(f, IP_B, IP_A, RPORT, t->lport, p->seq, ack, TH_ACK, wnd, NULL, 0, NULL, 0));
}

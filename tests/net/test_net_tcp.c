/*
 * The TCP state machine of the guest-libos stack against hand-built
 * segments from a scripted peer (198.18.0.2), with the stack's output
 * captured: options, delayed ACKs, reassembly, RST and SYN rules (RFC 793,
 * RFC 5961), the SYN backlog, RTO from RTT samples (RFC 6298) with
 * exponential backoff, fast retransmit, TIME_WAIT reopen, keep-alive.
 */
#include "harness.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define LPORT 80
#define RPORT 5555

struct peer {
	struct wire *w;
	struct net_stack *st;
	struct wire_end *e;
	uint32_t seq; /* peer's next sequence number */
	uint32_t ack; /* what the peer acknowledges */
	uint16_t wnd;
	uint16_t port;
};

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

static void prime_arp(struct peer *p)
{
	arp_from_peer(p);
	p->e->ncap = 0;
}

static void answer_arp(struct peer *p);

static void peer_init(struct peer *p, const struct net_config *cfg)
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
static void psend(struct peer *p, uint8_t flags, const void *data, size_t len, const uint8_t *opt,
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
static void psend_at(struct peer *p, uint32_t seq, const void *data, size_t len)
{
	uint32_t save = p->seq;
	p->seq = seq;
	psend(p, TH_ACK, data, len, NULL, 0);
	p->seq = save;
}

static struct tcp_seg last(struct peer *p)
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

static void advance(struct peer *p, uint64_t ns)
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

static int listen_sock(struct net_stack *st, int backlog)
{
	int s = net_sock_socket(st, NET_AF_INET, NET_SOCK_STREAM, 0);
	struct net_sockaddr_in a = {.sin_family = NET_AF_INET, .sin_port = net_ntohs(LPORT)};
	assert_int_equal(net_sock_bind(st, s, &a), 0);
	assert_int_equal(net_sock_listen(st, s, backlog), 0);
	net_sock_setflags(st, s, NET_O_NONBLOCK);
	return s;
}

static const uint8_t SYN_OPT[8] = {2, 4, 0x03, 0xe8, 1, 3, 3, 2}; /* MSS 1000, WS 2 */

/* Passive open from the peer; returns the accepted socket. */
static int passive_open(struct peer *p, int ls)
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

static void test_passive_open_options_delack(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);

	p.seq = 1000;
	assert_int_equal(net_sock_accept(p.st, ls, NULL), -EAGAIN);
	psend(&p, TH_SYN, NULL, 0, SYN_OPT, sizeof(SYN_OPT));
	struct tcp_seg s = last(&p);
	assert_int_equal(s.flags, TH_SYN | TH_ACK);
	assert_int_equal(s.ack, 1001);
	assert_int_equal(s.mss, 1460);
	assert_int_equal(s.ws, 0); /* 16 KiB receive buffer needs no scaling */
	assert_int_equal(p.st->cnt.tcp_state[TCP_SYN_RCVD], 1);
	assert_int_equal(net_sock_accept(p.st, ls, NULL), -EAGAIN); /* not yet established */
	p.ack = s.seq + 1;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	int c = net_sock_accept(p.st, ls, NULL);
	assert_true(c >= 0);
	struct tcp_conn *t = p.st->socks[c].conn;
	assert_int_equal(t->state, TCP_ESTABLISHED);
	assert_int_equal(t->mss, 1000);
	assert_int_equal(t->snd_ws, 2);
	assert_int_equal(t->snd_wnd, 65535u << 2);
	p.e->ncap = 0;
	/* One segment: the ACK waits TCP_DELACK. */
	char d[100];
	memset(d, 'x', sizeof(d));
	psend(&p, TH_ACK | TH_PSH, d, sizeof(d), NULL, 0);
	assert_int_equal(p.e->ncap, 0);
	assert_int_equal(net_next_deadline(p.st), p.w->now + TCP_DELACK);
	advance(&p, TCP_DELACK - 1);
	assert_int_equal(p.e->ncap, 0);
	advance(&p, 1);
	assert_int_equal(p.e->ncap, 1);
	assert_int_equal(last(&p).ack, 1101);
	assert_int_equal(p.st->cnt.tcp_delayed_acks, 1);
	/* Two segments: ACKed at once on the second. */
	psend(&p, TH_ACK, d, sizeof(d), NULL, 0);
	assert_int_equal(p.e->ncap, 1);
	psend(&p, TH_ACK, d, sizeof(d), NULL, 0);
	assert_int_equal(p.e->ncap, 2);
	assert_int_equal(last(&p).ack, 1301);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	/* The window shrank by what is unread (scale 0: the raw field). */
	assert_int_equal(last(&p).wnd, 16384 - 300);
	char r[400];
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), 300);
	wire_free(p.w);
}

static void test_reassembly(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);
	uint8_t d[1000], r[2000];
	for (int i = 0; i < 1000; i++)
		d[i] = (uint8_t)(i * 7);
	uint32_t base = p.seq; /* 1001 */

	/* Third, then second: each answered at once with the same ACK. */
	psend_at(&p, base + 600, d + 600, 300);
	assert_int_equal(p.e->ncap, 1);
	assert_int_equal(last(&p).ack, base);
	psend_at(&p, base + 300, d + 300, 300);
	assert_int_equal(p.e->ncap, 2);
	assert_int_equal(last(&p).ack, base);
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), -EAGAIN);
	assert_int_equal(p.st->cnt.tcp_ooo, 2);
	/* A duplicate of the second and an overlap of both change nothing. */
	psend_at(&p, base + 300, d + 300, 300);
	psend_at(&p, base + 500, d + 500, 200);
	/* The first fills the hole (overlapping the second by 50): all ACKed. */
	psend_at(&p, base, d, 350);
	assert_int_equal(last(&p).ack, base + 900);
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), 900);
	assert_memory_equal(r, d, 900);
	/* Old data is ACKed and not delivered again; a FIN beyond a hole waits. */
	psend_at(&p, base + 100, d + 100, 100);
	assert_int_equal(last(&p).ack, base + 900);
	p.seq = base + 950;
	psend(&p, TH_ACK | TH_FIN, d + 950, 50, NULL, 0);
	assert_int_equal(last(&p).ack, base + 900);
	assert_int_equal(p.st->socks[c].conn->state, TCP_ESTABLISHED);
	psend_at(&p, base + 900, d + 900, 50);
	assert_int_equal(last(&p).ack, base + 1001); /* data and FIN */
	assert_int_equal(p.st->socks[c].conn->state, TCP_CLOSE_WAIT);
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), 100);
	assert_memory_equal(r, d + 900, 100);
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), 0);
	wire_free(p.w);
}

static void test_reassembly_bounded(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);
	uint8_t d[4000], r[4000];
	for (int i = 0; i < 4000; i++)
		d[i] = (uint8_t)(i ^ (i >> 8));
	uint32_t base = p.seq;

	/* TCP_REASS_MAX + 2 disjoint islands: the last two cannot be kept. */
	for (int i = 0; i < TCP_REASS_MAX + 2; i++)
		psend_at(&p, base + 200 * (uint32_t)i + 100, d + 200 * i + 100, 100);
	assert_int_equal(p.st->socks[c].conn->reass.n, TCP_REASS_MAX);
	assert_int_equal(p.st->cnt.tcp_drop_nomem, 2);
	/* The sender fills every hole and resends what was dropped. */
	for (int i = 0; i < TCP_REASS_MAX + 2; i++)
		psend_at(&p, base + 200 * (uint32_t)i, d + 200 * i, 100);
	assert_int_equal(last(&p).ack, base + 200 * TCP_REASS_MAX + 100);
	psend_at(&p, base + 200 * TCP_REASS_MAX + 100, d + 200 * TCP_REASS_MAX + 100, 100);
	psend_at(&p, base + 200 * (TCP_REASS_MAX + 1), d + 200 * (TCP_REASS_MAX + 1), 200);
	assert_int_equal(last(&p).ack, base + 200 * (TCP_REASS_MAX + 2));
	long n = net_sock_recv(p.st, c, r, sizeof(r), 0);
	assert_int_equal(n, 200 * (TCP_REASS_MAX + 2));
	assert_memory_equal(r, d, (size_t)n);
	wire_free(p.w);
}

static void test_rst_and_syn_rules(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);
	struct tcp_conn *t = p.st->socks[c].conn;
	uint32_t good = p.seq;

	/* RST in the window but not at rcv_nxt: challenge ACK, nothing else. */
	p.seq = good + 100;
	psend(&p, TH_RST, NULL, 0, NULL, 0);
	assert_int_equal(p.e->ncap, 1);
	assert_int_equal(last(&p).flags, TH_ACK);
	assert_int_equal(last(&p).ack, good);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* RST outside the window: ignored silently. */
	p.seq = good + 1000000;
	psend(&p, TH_RST, NULL, 0, NULL, 0);
	assert_int_equal(p.e->ncap, 1);
	/* SYN on an established connection: challenge ACK. */
	p.seq = good;
	psend(&p, TH_SYN, NULL, 0, NULL, 0);
	assert_int_equal(p.e->ncap, 2);
	assert_int_equal(last(&p).flags, TH_ACK);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* A bad checksum and a bad data offset are dropped and counted. */
	uint8_t f[100];
	size_t n =
	    frame_tcp(f, IP_B, IP_A, RPORT, LPORT, good, p.ack, TH_RST, 100, NULL, 0, NULL, 0);
	f[n - 3] ^= 1;
	net_input(p.st, f, n);
	assert_int_equal(p.st->cnt.tcp_drop_csum, 1);
	n = frame_tcp(f, IP_B, IP_A, RPORT, LPORT, good, p.ack, TH_RST, 100, NULL, 0, NULL, 0);
	f[ETH_HLEN + IP_HLEN + 12] = 0xf0; /* 60-byte header in a 20-byte segment */
	net_input(p.st, f, n);
	assert_int_equal(p.st->cnt.tcp_drop_hdr, 1);
	assert_int_equal(t->state, TCP_ESTABLISHED);
	/* The exact RST ends it: the socket sees ECONNRESET, the block is held. */
	p.seq = good;
	psend(&p, TH_RST, NULL, 0, NULL, 0);
	char r[10];
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), -ECONNRESET);
	assert_int_equal(net_sock_recv(p.st, c, r, sizeof(r), 0), 0);
	assert_int_equal(p.st->conns_in_use, 2);
	net_sock_close(p.st, c);
	assert_int_equal(p.st->conns_in_use, 1);
	/* No connection: RST. An ACK gets seq = its ack; a SYN gets ack = seq + 1. */
	p.e->ncap = 0;
	p.port = 6000;
	p.seq = 500;
	p.ack = 777;
	psend(&p, TH_ACK, "zz", 2, NULL, 0);
	assert_int_equal(last(&p).flags, TH_RST);
	assert_int_equal(last(&p).seq, 777);
	p.seq = 900;
	uint8_t g[100];
	net_input(p.st, g,
		  frame_tcp(g, IP_B, IP_A, 6000, 81, 900, 0, TH_SYN, 1000, NULL, 0, NULL, 0));
	assert_int_equal(last(&p).flags, TH_RST | TH_ACK);
	assert_int_equal(last(&p).ack, 901);
	assert_int_equal(p.st->cnt.tcp_drop_noconn, 1); /* the first hit the listener */
	/* Never a RST for a RST. */
	unsigned before = p.e->ncap;
	net_input(p.st, g, frame_tcp(g, IP_B, IP_A, 6000, 81, 900, 0, TH_RST, 0, NULL, 0, NULL, 0));
	assert_int_equal(p.e->ncap, before);
	wire_free(p.w);
}

static void test_syn_backlog(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	listen_sock(p.st, 2);

	for (int i = 0; i < 5; i++) {
		p.port = (uint16_t)(7000 + i);
		p.seq = 100;
		psend(&p, TH_SYN, NULL, 0, SYN_OPT, sizeof(SYN_OPT));
	}
	assert_int_equal(p.e->ncap, 2);
	assert_int_equal(p.st->cnt.tcp_drop_backlog, 3);
	assert_int_equal(p.st->cnt.tcp_state[TCP_SYN_RCVD], 2);
	/* Half-open connections give up after their SYN-ACK retries. */
	advance(&p, 300000 * TCP_MS);
	assert_int_equal(p.st->cnt.tcp_state[TCP_SYN_RCVD], 0);
	assert_int_equal(p.st->conns_in_use, 1);
	assert_int_equal(p.st->cnt.tcp_retrans, 2 * TCP_MAX_SYN_REXMT);
	/* The pool is bounded too: more SYNs than blocks are dropped. */
	struct net_config cfg;
	net_test_config(&cfg, 0);
	cfg.tcp_max_conns = 3;
	struct peer q;
	peer_init(&q, &cfg);
	listen_sock(q.st, 100);
	for (int i = 0; i < 5; i++) {
		q.port = (uint16_t)(7000 + i);
		q.seq = 100;
		psend(&q, TH_SYN, NULL, 0, NULL, 0);
	}
	assert_int_equal(q.st->conns_in_use, 3);
	assert_int_equal(q.st->cnt.tcp_drop_nomem, 3);
	wire_free(q.w);
	wire_free(p.w);
}

/* Active open from the stack, the peer answering after `rtt`. */
static int active_open(struct peer *p, uint64_t rtt)
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
static void pack(struct peer *p, int c, uint32_t ack, uint16_t wnd)
{
	uint8_t f[100];
	struct tcp_conn *t = p->st->socks[c].conn;
	net_input(
	    p->st, f,
	    frame_tcp(f, IP_B, IP_A, RPORT, t->lport, p->seq, ack, TH_ACK, wnd, NULL, 0, NULL, 0));
}

static void test_rto_backoff(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int c = active_open(&p, 100 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;

	/* RFC 6298: first sample R=100ms: SRTT=R, RTTVAR=R/2, RTO=SRTT+4*RTTVAR. */
	assert_int_equal(t->srtt, 100 * TCP_MS);
	assert_int_equal(t->rttvar, 50 * TCP_MS);
	assert_int_equal(t->rto, 300 * TCP_MS);
	assert_int_equal(net_sock_send(p.st, c, "hello", 5, 0), 5);
	assert_int_equal(p.e->ncap, 1);
	uint32_t seq = last(&p).seq;
	/* Unanswered: resent after 300, 600, 1200 ms... */
	uint64_t gap = 300 * TCP_MS;
	for (int i = 0; i < 4; i++) {
		advance(&p, gap - 1);
		assert_int_equal(p.e->ncap, (unsigned)(1 + i));
		advance(&p, 1);
		assert_int_equal(p.e->ncap, (unsigned)(2 + i));
		assert_int_equal(last(&p).seq, seq);
		assert_int_equal(last(&p).len, 5);
		gap *= 2;
	}
	assert_int_equal(p.st->cnt.tcp_rto, 4);
	/* An ACK of the retransmission takes no RTT sample (Karn) and the
	 * timer stops. */
	uint64_t srtt = t->srtt;
	pack(&p, c, seq + 5, 65535);
	assert_int_equal(t->srtt, srtt);
	assert_true(t->rto < 4800 * TCP_MS);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	/* Unanswered for good: TCP_MAX_REXMT retries, then RST and ETIMEDOUT. */
	p.e->ncap = 0;
	assert_int_equal(net_sock_send(p.st, c, "again", 5, 0), 5);
	advance(&p, 3600000 * TCP_MS);
	assert_int_equal(p.e->ncap, 1 + TCP_MAX_REXMT + 1);
	assert_true(last(&p).flags & TH_RST);
	assert_int_equal(net_sock_error(p.st, c), ETIMEDOUT);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	net_sock_close(p.st, c);
	assert_int_equal(p.st->conns_in_use, 0);
	wire_free(p.w);
}

static void test_rtt_estimator(void **state)
{
	(void)state;
	struct tcp_conn c;
	memset(&c, 0, sizeof(c));
	tcp_rtt_sample(&c, 40 * TCP_MS);
	assert_int_equal(c.srtt, 40 * TCP_MS);
	assert_int_equal(c.rttvar, 20 * TCP_MS);
	assert_int_equal(c.rto, TCP_RTO_MIN); /* 120 ms clamped up */
	tcp_rtt_sample(&c, 120 * TCP_MS);
	/* RTTVAR = 3/4*20 + 1/4*|40-120| = 35; SRTT = 7/8*40 + 1/8*120 = 50 */
	assert_int_equal(c.rttvar, 35 * TCP_MS);
	assert_int_equal(c.srtt, 50 * TCP_MS);
	assert_int_equal(c.rto, 190 * TCP_MS < TCP_RTO_MIN ? TCP_RTO_MIN : 190 * TCP_MS);
	tcp_rtt_sample(&c, 2000 * TCP_MS);
	assert_int_equal(c.rto, c.srtt + 4 * c.rttvar);
	tcp_rtt_sample(&c, 100000 * TCP_MS);
	tcp_rtt_sample(&c, 100000 * TCP_MS);
	assert_int_equal(c.rto, TCP_RTO_MAX);
}

static void test_fast_retransmit(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int c = active_open(&p, 10 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;
	static uint8_t d[5 * 1460];
	memset(d, 'q', sizeof(d));

	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	assert_int_equal(p.e->ncap, 5); /* initial window of 10 segments */
	uint32_t first = t->snd_una;
	/* The second segment is lost: the peer ACKs the first, then
	 * duplicates for the third, fourth and fifth. */
	pack(&p, c, first + 1460, 65535);
	assert_int_equal(p.e->ncap, 5);
	pack(&p, c, first + 1460, 65535);
	pack(&p, c, first + 1460, 65535);
	assert_int_equal(p.e->ncap, 5);
	pack(&p, c, first + 1460, 65535);
	assert_int_equal(p.e->ncap, 6);
	assert_int_equal(last(&p).seq, first + 1460);
	assert_int_equal(last(&p).len, 1460);
	assert_int_equal(p.st->cnt.tcp_fast_retrans, 1);
	assert_int_equal(p.st->cnt.tcp_rto, 0);
	assert_true(t->in_recovery);
	/* A partial ACK (the third was lost too) resends it at once (NewReno). */
	pack(&p, c, first + 2 * 1460, 65535);
	assert_int_equal(last(&p).seq, first + 2 * 1460);
	pack(&p, c, first + 5 * 1460, 65535);
	assert_false(t->in_recovery);
	assert_int_equal(t->snd_una, t->snd_max);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	wire_free(p.w);
}

static void test_time_wait_reopen(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);

	/* The server closes first: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT. */
	net_sock_close(p.st, c);
	struct tcp_seg s = last(&p);
	assert_int_equal(s.flags & TH_FIN, TH_FIN);
	p.ack = s.seq + 1;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	assert_int_equal(p.st->cnt.tcp_state[TCP_FIN_WAIT_2], 1);
	psend(&p, TH_ACK | TH_FIN, NULL, 0, NULL, 0);
	assert_int_equal(p.st->cnt.tcp_state[TCP_TIME_WAIT], 1);
	assert_int_equal(last(&p).ack, p.seq);
	/* A retransmitted FIN is ACKed again. */
	unsigned n = p.e->ncap;
	p.seq--;
	psend(&p, TH_ACK | TH_FIN, NULL, 0, NULL, 0);
	assert_int_equal(p.e->ncap, n + 1);
	/* The client reuses its port with a higher sequence: reopened. */
	p.seq += 100000;
	psend(&p, TH_SYN, NULL, 0, SYN_OPT, sizeof(SYN_OPT));
	assert_int_equal(last(&p).flags, TH_SYN | TH_ACK);
	assert_int_equal(p.st->cnt.tcp_timewait_recycled, 1);
	assert_int_equal(p.st->cnt.tcp_state[TCP_TIME_WAIT], 0);
	assert_int_equal(p.st->cnt.tcp_state[TCP_SYN_RCVD], 1);
	wire_free(p.w);
}

static void test_time_wait_bounded(void **state)
{
	(void)state;
	struct net_config cfg;
	net_test_config(&cfg, 0);
	cfg.tcp_max_conns = 4;
	struct peer p;
	peer_init(&p, &cfg);
	int ls = listen_sock(p.st, 8);

	/* More server-closed connections than blocks: TIME_WAIT is recycled. */
	for (int i = 0; i < 10; i++) {
		p.port = (uint16_t)(9000 + i);
		int c = passive_open(&p, ls);
		net_sock_close(p.st, c);
		p.ack = last(&p).seq + 1;
		psend(&p, TH_ACK | TH_FIN, NULL, 0, NULL, 0);
		assert_int_equal(p.st->socks[ls].conn->state, TCP_LISTEN);
	}
	assert_int_equal(p.st->cnt.tcp_state[TCP_TIME_WAIT], 3);
	assert_int_equal(p.st->cnt.tcp_timewait_recycled, 7);
	advance(&p, cfg.time_wait_ns ? cfg.time_wait_ns : 1000 * TCP_MS);
	assert_int_equal(p.st->conns_in_use, 1);
	wire_free(p.w);
}

static void test_keepalive(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);

	/* Off by default: an idle connection has no timer at all. */
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	assert_int_equal(net_sock_set_keepalive(p.st, c, 1), 0);
	assert_int_equal(net_next_deadline(p.st) - p.w->now, TCP_KEEP_IDLE);
	advance(&p, TCP_KEEP_IDLE);
	assert_int_equal(p.e->ncap, 1);
	struct tcp_seg s = last(&p);
	assert_int_equal(s.seq, p.ack - 1); /* one byte left of snd_una */
	assert_int_equal(p.st->cnt.tcp_keepalive_probes, 1);
	/* Answered: quiet again until the next idle period. */
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	advance(&p, TCP_KEEP_IDLE - TCP_MS);
	assert_int_equal(p.e->ncap, 1);
	/* Unanswered: TCP_KEEP_COUNT probes, then RST and ETIMEDOUT. */
	advance(&p, TCP_MS + TCP_KEEP_COUNT * TCP_KEEP_INTVL);
	assert_int_equal(p.st->cnt.tcp_keepalive_probes, 1 + TCP_KEEP_COUNT);
	assert_true(last(&p).flags & TH_RST);
	assert_int_equal(net_sock_error(p.st, c), ETIMEDOUT);
	wire_free(p.w);
}

/* Regression (fuzz_net): an orphan facing a zero window must not probe
 * forever. */
static void test_orphan_zero_window(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);
	uint8_t d[3000];
	memset(d, 'z', sizeof(d));

	/* The peer closes its window, the server writes and closes. */
	p.wnd = 0;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	assert_int_equal(p.e->ncap, 0); /* nothing fits */
	/* Held by its socket, it probes on (with backoff) for an hour... */
	advance(&p, 3600000 * TCP_MS);
	uint64_t probes = p.st->cnt.tcp_window_probes;
	assert_true(probes > TCP_MAX_REXMT);
	assert_int_equal(p.st->conns_in_use, 2);
	/* ...but once closed (FIN_WAIT_1, data queued) it gives up. */
	net_sock_close(p.st, c);
	assert_int_equal(p.st->cnt.tcp_state[TCP_FIN_WAIT_1], 1);
	advance(&p, 3600000 * TCP_MS);
	assert_int_equal(p.st->conns_in_use, 1);
	assert_true(last(&p).flags & TH_RST);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	wire_free(p.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_passive_open_options_delack),
	    cmocka_unit_test(test_reassembly),
	    cmocka_unit_test(test_reassembly_bounded),
	    cmocka_unit_test(test_rst_and_syn_rules),
	    cmocka_unit_test(test_syn_backlog),
	    cmocka_unit_test(test_rto_backoff),
	    cmocka_unit_test(test_rtt_estimator),
	    cmocka_unit_test(test_fast_retransmit),
	    cmocka_unit_test(test_time_wait_reopen),
	    cmocka_unit_test(test_time_wait_bounded),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_orphan_zero_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

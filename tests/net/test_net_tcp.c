/*
 * The TCP state machine of the guest-libos stack against hand-built
 * segments from a scripted peer (peer.h), with the stack's output captured:
 * passive open and options, delayed ACKs, reassembly, RST and SYN rules
 * (RFC 793, RFC 5961), the SYN backlog and the pool bound, TIME_WAIT reopen
 * and recycling.
 */
#include "peer.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

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

/* net_tcp_acks_awaited: an ACK alone matters in a handshake, in a close of
 * ours, with bytes not yet sent or a send buffer over half full; not for an
 * answer wholly sent and waiting only for its ACK (the guest then idles with
 * DENALI_WAKE_ACKS_LAZY and a pure ACK does not wake it). */
static void test_acks_awaited(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);

	assert_false(net_tcp_acks_awaited(p.st)); /* a listener only */
	p.seq = 1000;
	psend(&p, TH_SYN, NULL, 0, SYN_OPT, sizeof(SYN_OPT));
	assert_true(net_tcp_acks_awaited(p.st)); /* SYN_RCVD: the ACK makes accept() ready */
	p.ack = last(&p).seq + 1;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	int c = net_sock_accept(p.st, ls, NULL);
	assert_true(c >= 0);
	assert_false(net_tcp_acks_awaited(p.st));
	struct tcp_conn *t = p.st->socks[c].conn;

	/* An answer wholly sent: its ACK frees buffer only. */
	static char d[64 << 10];
	memset(d, 'x', sizeof(d));
	assert_int_equal(net_sock_send(p.st, c, d, 2258, 0), 2258);
	assert_int_equal(t->snd_max - t->snd_una, 2258);
	assert_false(net_tcp_acks_awaited(p.st));
	pack(&p, c, t->snd_max, 65535);
	assert_int_equal(t->snd.len, 0);

	/* The peer's window closes: bytes wait unsent, the ACK that opens it matters. */
	pack(&p, c, t->snd_max, 0);
	assert_int_equal(net_sock_send(p.st, c, d, 100, 0), 100);
	assert_int_equal(t->snd_max, t->snd_una);
	assert_true(net_tcp_acks_awaited(p.st));
	pack(&p, c, t->snd_una, 65535);
	advance(&p, t->rto); /* the window probe timer sends what waited, or the ACK did */
	assert_int_equal(t->snd_max - t->snd_una, 100);
	assert_false(net_tcp_acks_awaited(p.st));
	pack(&p, c, t->snd_max, 65535);

	/* Over half the send buffer in flight: a writer may wait for room. */
	uint32_t big = t->snd.size / 2 + 1;
	assert_int_equal(net_sock_send(p.st, c, d, big, 0), (long)big);
	assert_true(net_tcp_acks_awaited(p.st));
	for (int i = 0; i < 64 && t->snd.len > 0; i++)
		pack(&p, c, t->snd_max, 65535); /* each ACK lets the next segments go */
	assert_int_equal(t->snd.len, 0);
	assert_false(net_tcp_acks_awaited(p.st));

	/* Our close: FIN_WAIT_1 waits for its ACK, FIN_WAIT_2 for a FIN. */
	net_sock_close(p.st, c);
	assert_int_equal(t->state, TCP_FIN_WAIT_1);
	assert_true(net_tcp_acks_awaited(p.st));
	p.ack = t->snd_max;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	assert_int_equal(t->state, TCP_FIN_WAIT_2);
	assert_false(net_tcp_acks_awaited(p.st));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_passive_open_options_delack),
	    cmocka_unit_test(test_reassembly),
	    cmocka_unit_test(test_reassembly_bounded),
	    cmocka_unit_test(test_rst_and_syn_rules),
	    cmocka_unit_test(test_syn_backlog),
	    cmocka_unit_test(test_time_wait_reopen),
	    cmocka_unit_test(test_time_wait_bounded),
	    cmocka_unit_test(test_acks_awaited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

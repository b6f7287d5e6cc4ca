/*
 * TCP timers and loss recovery of the guest-libos stack against hand-built
 * segments from a scripted peer (peer.h), with the stack's output captured:
 * the timers: RTO from RTT samples (RFC 6298) with exponential backoff and
 * the abort, fast retransmit and NewReno partial ACKs, keep-alive, and the
 * orphan facing a zero window (a fuzz_net regression), and the ARP
 * re-probe after repeated timeouts (a peer back with a new MAC), limited
 * transmit, early retransmit and duplicates with a grown window.
 */
#include "peer.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

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

/* An ARP reply from IP_B with MAC `mac` to the stack. */
static void arp_reply_from(struct peer *p, const uint8_t *mac)
{
	uint8_t f[64];
	memset(f, 0, sizeof(f));
	memcpy(f, MAC_A, 6);
	memcpy(f + 6, mac, 6);
	wr16(f + 12, ETH_TYPE_ARP);
	uint8_t *a = f + ETH_HLEN;
	wr16(a, 1);
	wr16(a + 2, ETH_TYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, 2);
	memcpy(a + 8, mac, 6);
	wr32(a + 14, IP_B);
	memcpy(a + 18, MAC_A, 6);
	wr32(a + 24, IP_A);
	net_input(p->st, f, 60);
}

/* The peer's interface is re-created with a new MAC while data is in
 * flight (issue 11 item 4): the first retransmission still goes to the old
 * MAC, the second timeout in a row asks for the address again and the
 * retransmission goes to the new MAC; an ACK ends it. */
static void test_rto_reprobes_arp(void **state)
{
	(void)state;
	static const uint8_t MAC_C[6] = {0x02, 0, 0, 0, 0, 0x0c};
	struct peer p;
	peer_init(&p, NULL);
	int c = active_open(&p, 10 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;

	assert_int_equal(net_sock_send(p.st, c, "hello", 5, 0), 5);
	uint32_t seq = last(&p).seq;
	p.e->ncap = 0;
	/* First timeout: resent to the cached MAC, no ARP. */
	p.w->now = t->t_rexmt;
	net_timers(p.st);
	assert_int_equal(p.e->ncap, 1);
	assert_memory_equal(p.e->cap[0], MAC_B, 6);
	assert_int_equal(last(&p).seq, seq);
	assert_int_equal(p.st->cnt.arp_reprobe, 0);
	/* Second: the entry is dropped and asked for (broadcast); the
	 * retransmission waits for the answer. */
	uint64_t arp_out = p.st->cnt.arp_out;
	p.w->now = t->t_rexmt;
	net_timers(p.st);
	assert_int_equal(p.st->cnt.arp_reprobe, 1);
	assert_int_equal(p.st->cnt.arp_out, arp_out + 1);
	assert_int_equal(p.e->ncap, 2);
	assert_int_equal(rd16(p.e->cap[1] + 12), ETH_TYPE_ARP);
	assert_memory_equal(p.e->cap[1], "\xff\xff\xff\xff\xff\xff", 6);
	assert_int_equal(rd32(p.e->cap[1] + ETH_HLEN + 24), IP_B);
	/* The new interface answers: the held retransmission goes to it. */
	arp_reply_from(&p, MAC_C);
	assert_int_equal(p.e->ncap, 3);
	assert_memory_equal(p.e->cap[2], MAC_C, 6);
	assert_int_equal(last(&p).seq, seq);
	assert_int_equal(last(&p).len, 5);
	pack(&p, c, seq + 5, 65535);
	assert_int_equal(t->nrexmt, 0);
	assert_int_equal(net_next_deadline(p.st), UINT64_MAX);
	/* Later traffic uses the new MAC without asking again. */
	assert_int_equal(net_sock_send(p.st, c, "again", 5, 0), 5);
	assert_memory_equal(p.e->cap[p.e->ncap - 1], MAC_C, 6);
	assert_int_equal(p.st->cnt.arp_out, arp_out + 1);
	wire_free(p.w);
}

/* Regression (fuzz_net): the zero-window probe byte is out when the peer
 * opens its window to one byte without acknowledging it; the byte must stay
 * under a retransmission timer (it had none: the connection stalled). */
static void test_probe_byte_keeps_timer(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int ls = listen_sock(p.st, 4);
	int c = passive_open(&p, ls);
	struct tcp_conn *t = p.st->socks[c].conn;
	uint8_t d[3000];
	memset(d, 'z', sizeof(d));

	p.wnd = 0;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	assert_true(t->persist);
	advance(&p, t->t_rexmt - p.w->now);
	assert_int_equal(p.st->cnt.tcp_window_probes, 1);
	uint32_t una = t->snd_una;
	assert_int_equal(t->snd_max, una + 1); /* the probe byte */
	/* A window of one (4 bytes at the peer's scale), the probe not
	 * acknowledged: too small for a segment while the byte is out. */
	p.wnd = 1;
	psend(&p, TH_ACK, NULL, 0, NULL, 0);
	assert_false(t->persist);
	assert_true(t->t_rexmt != 0);
	unsigned before = p.e->ncap;
	advance(&p, t->t_rexmt - p.w->now);
	assert_true(p.e->ncap > before);
	assert_int_equal(last(&p).seq, una);
	/* Acknowledged with the window open: the rest goes out. */
	p.wnd = 65535;
	pack(&p, c, una + 1, 65535);
	assert_int_equal(t->snd_una, una + 1);
	assert_true(t->t_rexmt != 0);
	pack(&p, c, t->snd_nxt, 65535);
	assert_true(t->snd_nxt - t->snd_una >= 1000);
	wire_free(p.w);
}

/* Limited transmit (RFC 3042): the first two duplicates each send one new
 * segment; the third retransmits. */
static void test_limited_transmit(void **state)
{
	(void)state;
	struct peer p;
	struct net_config cfg;
	net_test_config(&cfg, 0);
	cfg.tcp_sndbuf = 64u << 10;
	peer_init(&p, &cfg);
	int c = active_open(&p, 10 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;
	static uint8_t d[20 * 1460];
	memset(d, 'l', sizeof(d));

	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	assert_int_equal(p.e->ncap, 10); /* the initial window */
	uint32_t first = t->snd_una;
	pack(&p, c, first, 65535);
	assert_int_equal(p.e->ncap, 11);
	assert_int_equal(last(&p).seq, first + 10 * 1460);
	pack(&p, c, first, 65535);
	assert_int_equal(p.e->ncap, 12);
	assert_int_equal(last(&p).seq, first + 11 * 1460);
	assert_int_equal(p.st->cnt.tcp_retrans, 0);
	pack(&p, c, first, 65535);
	assert_int_equal(last(&p).seq, first);
	assert_int_equal(p.st->cnt.tcp_fast_retrans, 1);
	assert_true(t->in_recovery);
	wire_free(p.w);
}

/* Early retransmit (RFC 5827): three segments out and nothing more to
 * send can make only two duplicates; two are enough. */
static void test_early_retransmit(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int c = active_open(&p, 10 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;
	static uint8_t d[3 * 1460];
	memset(d, 'e', sizeof(d));

	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	assert_int_equal(p.e->ncap, 3);
	uint32_t first = t->snd_una;
	pack(&p, c, first, 65535);
	assert_int_equal(p.e->ncap, 3); /* nothing new to send */
	assert_int_equal(p.st->cnt.tcp_fast_retrans, 0);
	pack(&p, c, first, 65535);
	assert_int_equal(p.e->ncap, 4);
	assert_int_equal(last(&p).seq, first);
	assert_int_equal(p.st->cnt.tcp_fast_retrans, 1);
	assert_int_equal(p.st->cnt.tcp_rto, 0);
	wire_free(p.w);
}

/* A duplicate whose window grew counts (a receiver growing its buffer as
 * segments beyond the hole arrive); one whose window shrank does not. */
static void test_dupack_window_growth(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p, NULL);
	int c = active_open(&p, 10 * TCP_MS);
	struct tcp_conn *t = p.st->socks[c].conn;
	static uint8_t d[10 * 1460];
	memset(d, 'g', sizeof(d));

	assert_int_equal(net_sock_send(p.st, c, d, sizeof(d), 0), sizeof(d));
	uint32_t first = t->snd_una;
	pack(&p, c, first, 30000);
	assert_int_equal(t->dupacks, 0); /* the window shrank: an update */
	pack(&p, c, first, 40000);
	pack(&p, c, first, 50000);
	assert_int_equal(t->dupacks, 2);
	pack(&p, c, first, 60000);
	assert_int_equal(p.st->cnt.tcp_fast_retrans, 1);
	assert_int_equal(last(&p).seq, first);
	wire_free(p.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rto_backoff),
	    cmocka_unit_test(test_rtt_estimator),
	    cmocka_unit_test(test_fast_retransmit),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_orphan_zero_window),
	    cmocka_unit_test(test_rto_reprobes_arp),
	    cmocka_unit_test(test_probe_byte_keeps_timer),
	    cmocka_unit_test(test_limited_transmit),
	    cmocka_unit_test(test_early_retransmit),
	    cmocka_unit_test(test_dupack_window_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

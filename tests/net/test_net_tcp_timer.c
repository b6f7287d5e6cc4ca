/*
 * TCP timers and loss recovery of the guest-libos stack against hand-built
 * segments from a scripted peer (peer.h), with the stack's output captured:
 * the timers: RTO from RTT samples (RFC 6298) with exponential backoff and
 * the abort, fast retransmit and NewReno partial ACKs, keep-alive, and the
 * orphan facing a zero window (a fuzz_net regression).
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rto_backoff),	       cmocka_unit_test(test_rtt_estimator),
	    cmocka_unit_test(test_fast_retransmit),    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_orphan_zero_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

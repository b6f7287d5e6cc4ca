/*
 * TCP between two stack instances through the in-memory wire: transfers
 * over a lossy, reordering, duplicating wire, flow control at the window
 * edges, sequence wrap-around, the close sequences and no leaked
 * connection after many of them.
 */
#include "harness.h"
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define PORT 8080

static struct net_sockaddr_in addr_of(uint32_t ip, uint16_t port)
{
	struct net_sockaddr_in a = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(port), .sin_addr = net_ntohl(ip)};
	return a;
}

static int listen_on(struct net_stack *st, uint16_t port, int backlog)
{
	int s = net_sock_socket(st, NET_AF_INET, NET_SOCK_STREAM, 0);
	struct net_sockaddr_in a = addr_of(0, port);
	assert_true(s >= 0);
	assert_int_equal(net_sock_bind(st, s, &a), 0);
	assert_int_equal(net_sock_listen(st, s, backlog), 0);
	assert_int_equal(net_sock_setflags(st, s, NET_O_NONBLOCK), 0);
	return s;
}

/* A connected pair: client socket on A (blocking connect), server on B. */
static void pair(struct wire *w, int ls, int *cs, int *ss)
{
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	struct net_sockaddr_in to = addr_of(IP_B, PORT);

	*cs = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	assert_true(*cs >= 0);
	assert_int_equal(net_sock_connect(a, *cs, &to), 0);
	/* The third ACK may still be on the wire. */
	for (int i = 0; i < 1000 && (*ss = net_sock_accept(b, ls, NULL)) == -EAGAIN; i++)
		wire_step(w, UINT64_MAX);
	assert_true(*ss >= 0);
}

static void test_handshake_echo_close(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = listen_on(b, PORT, 4), cs, ss;
	char buf[100];

	pair(w, ls, &cs, &ss);
	assert_int_equal(a->cnt.tcp_state[TCP_ESTABLISHED], 1);
	assert_int_equal(b->cnt.tcp_state[TCP_ESTABLISHED], 1);
	struct net_sockaddr_in peer;
	assert_int_equal(net_sock_name(b, ss, &peer, 1), 0);
	assert_int_equal(net_ntohl(peer.sin_addr), IP_A);
	assert_int_equal(net_sock_send(a, cs, "ping", 4, 0), 4);
	assert_int_equal(net_sock_recv(b, ss, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(net_sock_send(b, ss, "pong!", 5, 0), 5);
	assert_int_equal(net_sock_recv(a, cs, buf, sizeof(buf), 0), 5);
	/* An idle connection arms no timer at all once the ACKs are out. */
	wire_run(w, 100 * TCP_MS);
	assert_int_equal(net_next_deadline(a), UINT64_MAX);
	assert_int_equal(net_next_deadline(b), UINT64_MAX);
	/* Client closes first: FIN_WAIT_2 / CLOSE_WAIT, then EOF on B. */
	assert_int_equal(net_sock_close(a, cs), 0);
	wire_run(w, 10 * TCP_MS);
	assert_int_equal(a->cnt.tcp_state[TCP_FIN_WAIT_2], 1);
	assert_int_equal(b->cnt.tcp_state[TCP_CLOSE_WAIT], 1);
	assert_int_equal(net_sock_recv(b, ss, buf, sizeof(buf), 0), 0);
	assert_int_equal(net_sock_close(b, ss), 0);
	wire_run(w, 10 * TCP_MS);
	assert_int_equal(a->cnt.tcp_state[TCP_TIME_WAIT], 1);
	assert_int_equal(b->conns_in_use, 1); /* the listener */
	wire_run(w, 1100 * TCP_MS);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(net_next_deadline(a), UINT64_MAX);
	net_sock_close(b, ls);
	assert_int_equal(b->conns_in_use, 0);
	wire_free(w);
}

static uint8_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

/* Move `total` bytes from (sa, cs) to (sb, ss) with non-blocking calls,
 * checking every byte; returns the virtual ns it took. */
static uint64_t transfer(struct wire *w, struct net_stack *sa, int cs, struct net_stack *sb, int ss,
			 size_t total)
{
	static uint8_t buf[65536];
	size_t sent = 0, got = 0;
	uint64_t t0 = w->now;

	assert_int_equal(net_sock_setflags(sa, cs, NET_O_NONBLOCK), 0);
	assert_int_equal(net_sock_setflags(sb, ss, NET_O_NONBLOCK), 0);
	while (got < total) {
		if (sent < total) {
			size_t n = total - sent < 7000 ? total - sent : 7000;
			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(sent + i);
			long r = net_sock_send(sa, cs, buf, n, 0);
			assert_true(r > 0 || r == -EAGAIN);
			if (r > 0)
				sent += (size_t)r;
		}
		long r = net_sock_recv(sb, ss, buf, sizeof(buf), 0);
		assert_true(r > 0 || r == -EAGAIN);
		for (long i = 0; i < r; i++)
			if (buf[i] != pattern(got + (size_t)i))
				fail_msg("byte %zu differs", got + (size_t)i);
		if (r > 0)
			got += (size_t)r;
		if (r == -EAGAIN && !wire_step(w, UINT64_MAX))
			fail_msg("transfer stalled at %zu of %zu bytes", got, total);
		if (w->now - t0 > 600ull * 1000 * TCP_MS)
			fail_msg("transfer too slow: %zu of %zu bytes", got, total);
	}
	return w->now - t0;
}

/* Both ends closed and every block back in the pool once timers ran. */
static void close_and_drain(struct wire *w, int cs, int ss, int ls)
{
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;

	assert_int_equal(net_sock_shutdown(a, cs, NET_SHUT_WR), 0);
	char c;
	long r;
	for (int i = 0; i < 100000 && (r = net_sock_recv(b, ss, &c, 1, 0)) == -EAGAIN; i++)
		wire_step(w, UINT64_MAX);
	assert_int_equal(r, 0);
	assert_int_equal(net_sock_close(b, ss), 0);
	assert_int_equal(net_sock_close(a, cs), 0);
	if (ls >= 0)
		assert_int_equal(net_sock_close(b, ls), 0);
	wire_run(w, 120ull * 1000 * TCP_MS);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(b->conns_in_use, 0);
	for (int i = 0; i < NET_TCP_NSTATES; i++) {
		assert_int_equal(a->cnt.tcp_state[i], 0);
		assert_int_equal(b->cnt.tcp_state[i], 0);
	}
	assert_int_equal(net_next_deadline(a), UINT64_MAX);
	assert_int_equal(net_next_deadline(b), UINT64_MAX);
}

/* The one established connection of a stack other than a listener. */
static struct tcp_conn *established(struct net_stack *st)
{
	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->state == TCP_ESTABLISHED)
			return c;
	fail_msg("no established connection");
	return NULL;
}

/* Request and answer, as httpd's keep-alive connections do: once everything is
 * read and acknowledged, both rings start again at offset 0, so a connection
 * keeps using the first pages of its buffers instead of walking all of them
 * (each page it writes is resident memory of the VM). */
static void test_rings_rewind_when_empty(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = listen_on(b, PORT, 4), cs, ss;
	static uint8_t answer[2258], got[2258];
	char req[120];

	pair(w, ls, &cs, &ss);
	struct tcp_conn *ca = established(a), *cb = established(b);
	for (size_t i = 0; i < sizeof(answer); i++)
		answer[i] = pattern(i);
	memset(req, 'r', sizeof(req));
	for (int round = 0; round < 40; round++) {
		long n;
		assert_int_equal(net_sock_send(a, cs, req, sizeof(req), 0), (long)sizeof(req));
		assert_int_equal(net_sock_recv(b, ss, got, sizeof(got), 0), (long)sizeof(req));
		assert_int_equal(cb->rcv.head, 0);
		assert_int_equal(net_sock_send(b, ss, answer, sizeof(answer), 0),
				 (long)sizeof(answer));
		size_t have = 0;
		while (have < sizeof(answer)) {
			n = net_sock_recv(a, cs, got + have, sizeof(got) - have, 0);
			assert_true(n > 0);
			have += (size_t)n;
		}
		assert_memory_equal(got, answer, sizeof(answer));
		wire_run(w, 300 * TCP_MS); /* the delayed ACKs */
		assert_int_equal(ca->rcv.len, 0);
		assert_int_equal(ca->rcv.head, 0);
		assert_int_equal(cb->snd.len, 0);
		assert_int_equal(cb->snd.head, 0);
		assert_int_equal(ca->snd.head, 0);
	}
	close_and_drain(w, cs, ss, ls);
	wire_free(w);
}

/* The default buffers follow the pool: 16 KiB at 128 connections and more,
 * up to 64 KiB for a few (net_default_tcp_buf); a receiver with the default
 * buffers of a small pool takes a 64 KiB window (scaled: 65536 does not fit
 * the 16-bit field), where before every default receiver stopped a sender at
 * 16 KiB in flight. */
static void test_default_buffers_follow_the_pool(void **state)
{
	(void)state;
	assert_int_equal(net_default_tcp_buf(128), 16u << 10);
	assert_int_equal(net_default_tcp_buf(1000), 16u << 10);
	assert_int_equal(net_default_tcp_buf(64), 32u << 10);
	assert_int_equal(net_default_tcp_buf(32), 64u << 10);
	assert_int_equal(net_default_tcp_buf(4), 64u << 10);
	assert_int_equal(net_default_tcp_buf(0), 64u << 10);

	struct net_config ca, cb;
	net_test_config(&ca, 0);
	net_test_config(&cb, 1);
	ca.tcp_sndbuf = ca.tcp_rcvbuf = cb.tcp_sndbuf = cb.tcp_rcvbuf = 0;
	ca.tcp_max_conns = cb.tcp_max_conns = 4;
	struct wire *w = wire_new(&ca, &cb);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	assert_int_equal(a->cfg.tcp_sndbuf, 64u << 10);
	assert_int_equal(b->cfg.tcp_rcvbuf, 64u << 10);
	int ls = listen_on(b, PORT, 1), cs, ss;
	pair(w, ls, &cs, &ss);
	struct tcp_conn *rc = b->socks[ss].conn, *sc = a->socks[cs].conn;
	assert_int_equal(rc->rcv.size, 64u << 10);
	assert_int_equal(rc->rcv_ws, 1);
	assert_int_equal(sc->snd_ws, 1);
	/* Nobody reads on B: A may put a whole 64 KiB window on the wire. */
	static uint8_t data[96u << 10];
	memset(data, 'd', sizeof(data));
	assert_int_equal(net_sock_setflags(a, cs, NET_O_NONBLOCK), 0);
	assert_true(net_sock_send(a, cs, data, sizeof(data), 0) > (long)(16u << 10));
	wire_run(w, 200 * TCP_MS);
	assert_int_equal(rc->rcv.len, 64u << 10);
	assert_int_equal(sc->snd_wnd, 0);
	wire_free(w);

	/* A pool of 128: 16 KiB, as before. */
	ca.tcp_max_conns = cb.tcp_max_conns = 128;
	w = wire_new(&ca, &cb);
	assert_int_equal(w->end[1].st->cfg.tcp_rcvbuf, 16u << 10);
	wire_free(w);
}

static void lossy(struct wire *w)
{
	w->loss = 20;	  /* 2% */
	w->dup = 10;	  /* 1% */
	w->reorder = 100; /* 10% delayed by up to 4 ms */
	w->jitter_ns = 4 * TCP_MS;
}

static void bulk(size_t total, uint32_t buf, uint32_t bias)
{
	struct net_config ca, cb;
	net_test_config(&ca, 0);
	net_test_config(&cb, 1);
	ca.tcp_sndbuf = cb.tcp_sndbuf = buf;
	ca.tcp_rcvbuf = cb.tcp_rcvbuf = buf;
	struct wire *w = wire_new(&ca, &cb);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	a->isn_bias = b->isn_bias = bias;
	int ls = listen_on(b, PORT, 4), cs, ss;
	pair(w, ls, &cs, &ss);
	lossy(w);
	uint64_t ns = transfer(w, a, cs, b, ss, total);
	print_message("  %zu bytes, buffers %u: %.1f virtual ms, %llu frames lost, retrans %llu "
		      "(fast %llu, rto %llu), ooo %llu\n",
		      total, buf, (double)ns / 1e6, (unsigned long long)w->dropped,
		      (unsigned long long)a->cnt.tcp_retrans,
		      (unsigned long long)a->cnt.tcp_fast_retrans,
		      (unsigned long long)a->cnt.tcp_rto, (unsigned long long)b->cnt.tcp_ooo);
	assert_true(w->dropped > 0);
	assert_true(a->cnt.tcp_retrans > 0);
	assert_true(b->cnt.tcp_ooo > 0);
	assert_int_equal(a->cnt.tcp_rst_out + b->cnt.tcp_rst_out, 0);
	close_and_drain(w, cs, ss, ls);
	wire_free(w);
}

static void test_bulk_1mib_lossy(void **state)
{
	(void)state;
	bulk(1u << 20, 0, 0);
}

static void test_bulk_1mib_lossy_wscale(void **state)
{
	(void)state;
	/* 256 KiB buffers: window scale 3 on both sides. */
	bulk(1u << 20, 256u << 10, 0);
}

static void test_bulk_seq_wrap(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	/* Put both initial sequence numbers 100 KB before the wrap. */
	a->isn_bias = -(tcp_isn(a, IP_A, 0, IP_B, 0) + 100000u);
	b->isn_bias = 0;
	int ls = listen_on(b, PORT, 4), cs, ss;
	struct net_sockaddr_in me = addr_of(0, 40000);
	cs = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	assert_int_equal(net_sock_bind(a, cs, &me), 0);
	a->isn_bias = 0;
	a->isn_bias = -(tcp_isn(a, IP_A, 40000, IP_B, PORT) + 100000u);
	b->isn_bias = -(tcp_isn(b, IP_B, PORT, IP_A, 40000) + 100000u);
	struct net_sockaddr_in to = addr_of(IP_B, PORT);
	assert_int_equal(net_sock_connect(a, cs, &to), 0);
	while ((ss = net_sock_accept(b, ls, NULL)) == -EAGAIN)
		assert_true(wire_step(w, UINT64_MAX));
	struct tcp_conn *ca = a->socks[cs].conn, *cb = b->socks[ss].conn;
	assert_true(ca->iss > 0xfff00000u);
	assert_true(cb->iss > 0xfff00000u);
	lossy(w);
	transfer(w, a, cs, b, ss, 300000);
	transfer(w, b, ss, a, cs, 300000);
	assert_true(ca->snd_una < 0x10000000u); /* wrapped */
	assert_true(cb->snd_una < 0x10000000u);
	close_and_drain(w, cs, ss, ls);
	wire_free(w);
}

static void test_window_edges(void **state)
{
	(void)state;
	struct net_config cb;
	net_test_config(&cb, 1);
	cb.tcp_rcvbuf = 4096;
	struct wire *w = wire_new(NULL, &cb);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = listen_on(b, PORT, 4), cs, ss;
	pair(w, ls, &cs, &ss);
	net_sock_setflags(a, cs, NET_O_NONBLOCK);
	static uint8_t buf[16000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(net_sock_send(a, cs, buf, sizeof(buf), 0), sizeof(buf));
	/* B reads nothing for 20 s: its window closes, A probes. */
	wire_run(w, 20000 * TCP_MS);
	struct tcp_conn *cb_ = b->socks[ss].conn, *ca = a->socks[cs].conn;
	assert_int_equal(cb_->rcv.len, 4096);
	assert_int_equal(tcp_rcv_window(cb_), 0);
	assert_int_equal(ca->snd_wnd, 0);
	assert_true(a->cnt.tcp_window_probes >= 3);
	assert_true(a->cnt.tcp_window_probes < 20); /* backed off */
	assert_true(b->cnt.tcp_drop_window <= a->cnt.tcp_window_probes);
	assert_int_equal(ca->nrexmt, 0); /* probes are not retransmissions */
	assert_int_equal(a->conns_in_use, 1);
	/* Reading reopens the window; the rest follows. */
	size_t got = 0;
	uint8_t r[1000];
	net_sock_setflags(b, ss, NET_O_NONBLOCK);
	while (got < sizeof(buf)) {
		long n = net_sock_recv(b, ss, r, 700, 0);
		if (n == -EAGAIN) {
			assert_true(wire_step(w, UINT64_MAX));
			continue;
		}
		assert_true(n > 0);
		assert_memory_equal(r, buf + got, (size_t)n);
		got += (size_t)n;
	}
	assert_int_equal(b->cnt.tcp_drop_window, b->cnt.tcp_drop_window);
	close_and_drain(w, cs, ss, ls);
	wire_free(w);
}

static void test_refused_and_timeout(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	struct net_sockaddr_in to = addr_of(IP_B, 9);

	int s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	assert_int_equal(net_sock_connect(a, s, &to), -ECONNREFUSED);
	assert_int_equal(b->cnt.tcp_drop_noconn, 1);
	assert_int_equal(a->conns_in_use, 1); /* held by the socket */
	assert_int_equal(net_sock_close(a, s), 0);
	assert_int_equal(a->conns_in_use, 0);
	/* Nothing answers: SYN retries back off, then ETIMEDOUT. */
	w->loss = 1000;
	s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	uint64_t t0 = w->now;
	assert_int_equal(net_sock_connect(a, s, &to), -ETIMEDOUT);
	/* 1+2+4+8+16+32 s of backoff, then the 64 s step capped at TCP_RTO_MAX */
	assert_int_equal(w->now - t0, 123000 * TCP_MS);
	assert_int_equal(a->cnt.tcp_retrans, TCP_MAX_SYN_REXMT);
	assert_int_equal(net_sock_close(a, s), 0);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(net_next_deadline(a) > w->now + 1000 * TCP_MS, 1);
	wire_free(w);
}

static void test_simultaneous_close_and_abort(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = listen_on(b, PORT, 4), cs, ss;
	char buf[16];

	pair(w, ls, &cs, &ss);
	assert_int_equal(net_sock_shutdown(a, cs, NET_SHUT_WR), 0);
	assert_int_equal(net_sock_shutdown(b, ss, NET_SHUT_WR), 0);
	wire_run(w, 50 * TCP_MS);
	/* Both FINs crossed: both in TIME_WAIT (via CLOSING), reads give EOF. */
	assert_int_equal(a->cnt.tcp_state[TCP_TIME_WAIT], 1);
	assert_int_equal(b->cnt.tcp_state[TCP_TIME_WAIT], 1);
	assert_int_equal(net_sock_recv(a, cs, buf, sizeof(buf), 0), 0);
	assert_int_equal(net_sock_send(a, cs, "x", 1, 0), -EPIPE);
	net_sock_close(a, cs);
	net_sock_close(b, ss);
	wire_run(w, 2000 * TCP_MS);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(b->conns_in_use, 1);

	/* Closing with unread data resets the peer (RFC 2525). */
	pair(w, ls, &cs, &ss);
	assert_int_equal(net_sock_send(a, cs, "unread", 6, 0), 6);
	wire_run(w, 50 * TCP_MS);
	assert_int_equal(net_sock_close(b, ss), 0);
	wire_run(w, 50 * TCP_MS);
	assert_int_equal(net_sock_recv(a, cs, buf, sizeof(buf), 0), -ECONNRESET);
	assert_int_equal(a->cnt.tcp_rst_in, 1);
	struct net_pollfd p = {.fd = cs, .events = NET_POLLIN};
	assert_int_equal(net_sock_poll(a, &p, 1, 0), 1);
	assert_true(p.revents & NET_POLLHUP);
	net_sock_close(a, cs);
	net_sock_close(b, ls);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(b->conns_in_use, 0);
	wire_free(w);
}

#define NCLI	 40
#define ROUNDS	 25
#define REQ_LEN	 200
#define RESP_LEN 3000

struct cli {
	int s, phase; /* 0 connecting, 1 sending, 2 reading, 3 done */
	size_t n;
	int id;
};

struct srv {
	int s, phase; /* 0 reading request, 1 sending, 2 waiting for EOF, 3 done */
	size_t n;
	int id;
};

static uint8_t req_byte(int id, size_t i)
{
	return (uint8_t)(id * 31 + (int)i);
}

static uint8_t resp_byte(int id, size_t i)
{
	return (uint8_t)(id * 17 + (int)(i >> 1));
}

/* NCLI concurrent clients on A against a poll-driven server on B, ROUNDS
 * times; odd ids have the server close first, even ids the client. */
static void test_many_connections_no_leak(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = listen_on(b, PORT, 64);
	struct net_sockaddr_in to = addr_of(IP_B, PORT);
	uint8_t buf[4096];
	int done_total = 0;

	lossy(w);
	for (int round = 0; round < ROUNDS; round++) {
		struct cli c[NCLI];
		struct srv v[NCLI];
		int nsrv = 0, done = 0;
		for (int i = 0; i < NCLI; i++) {
			c[i].s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
			assert_true(c[i].s >= 0);
			net_sock_setflags(a, c[i].s, NET_O_NONBLOCK);
			assert_int_equal(net_sock_connect(a, c[i].s, &to), -EINPROGRESS);
			c[i].phase = 0;
			c[i].n = 0;
			c[i].id = round * NCLI + i;
		}
		uint64_t t0 = w->now;
		while (done < 2 * NCLI) {
			assert_true(w->now - t0 < 300000 * TCP_MS);
			struct net_pollfd pf[NCLI];
			for (int i = 0; i < NCLI; i++) {
				pf[i].fd = c[i].phase == 3 ? -1 : c[i].s;
				pf[i].events = c[i].phase <= 1 ? NET_POLLOUT : NET_POLLIN;
			}
			net_sock_poll(a, pf, NCLI, 0);
			for (int i = 0; i < NCLI; i++) {
				struct cli *k = &c[i];
				if (!pf[i].revents)
					continue;
				assert_false(pf[i].revents & NET_POLLERR);
				if (k->phase == 0) {
					assert_int_equal(net_sock_error(a, k->s), 0);
					k->phase = 1;
				}
				if (k->phase == 1) {
					uint8_t r[REQ_LEN];
					for (size_t j = 0; j < REQ_LEN; j++)
						r[j] = req_byte(k->id, j);
					assert_int_equal(net_sock_send(a, k->s, r, REQ_LEN, 0),
							 REQ_LEN);
					k->phase = 2;
					continue;
				}
				long n = net_sock_recv(a, k->s, buf, sizeof(buf), 0);
				if (n == -EAGAIN)
					continue;
				assert_true(n >= 0);
				for (long j = 0; j < n; j++)
					assert_int_equal(buf[j],
							 resp_byte(k->id, k->n + (size_t)j));
				k->n += (size_t)n;
				if (n == 0 || (k->id % 2 == 0 && k->n == RESP_LEN)) {
					assert_int_equal(k->n, RESP_LEN);
					assert_int_equal(net_sock_close(a, k->s), 0);
					k->phase = 3;
					done++;
				}
			}
			int ns;
			while ((ns = net_sock_accept(b, ls, NULL)) >= 0) {
				assert_true(nsrv < NCLI);
				net_sock_setflags(b, ns, NET_O_NONBLOCK);
				v[nsrv].s = ns;
				v[nsrv].phase = 0;
				v[nsrv].n = 0;
				v[nsrv].id = -1;
				nsrv++;
			}
			assert_int_equal(ns, -EAGAIN);
			struct net_pollfd ps[NCLI];
			for (int i = 0; i < nsrv; i++) {
				ps[i].fd = v[i].phase == 3 ? -1 : v[i].s;
				ps[i].events = v[i].phase == 1 ? NET_POLLOUT : NET_POLLIN;
			}
			net_sock_poll(b, ps, (unsigned)nsrv, 0);
			for (int i = 0; i < nsrv; i++) {
				struct srv *k = &v[i];
				if (!ps[i].revents)
					continue;
				if (k->phase == 0) {
					long n = net_sock_recv(b, k->s, buf, REQ_LEN - k->n, 0);
					if (n == -EAGAIN)
						continue;
					assert_true(n > 0);
					memcpy(buf + 2048 + k->n, buf, (size_t)n);
					k->n += (size_t)n;
					if (k->n < REQ_LEN)
						continue;
					/* Recover the id from the request bytes. */
					for (int id = round * NCLI; id < (round + 1) * NCLI; id++)
						if (buf[2048] == req_byte(id, 0) &&
						    buf[2049 + 100] == req_byte(id, 101))
							k->id = id;
					assert_true(k->id >= 0);
					for (size_t j = 0; j < REQ_LEN; j++)
						assert_int_equal(buf[2048 + j], req_byte(k->id, j));
					k->phase = 1;
					k->n = 0;
				}
				if (k->phase == 1) {
					uint8_t r[RESP_LEN];
					for (size_t j = 0; j < RESP_LEN - k->n; j++)
						r[j] = resp_byte(k->id, k->n + j);
					long n = net_sock_send(b, k->s, r, RESP_LEN - k->n, 0);
					if (n == -EAGAIN)
						continue;
					assert_true(n > 0);
					k->n += (size_t)n;
					if (k->n < RESP_LEN)
						continue;
					if (k->id % 2) {
						assert_int_equal(net_sock_close(b, k->s), 0);
						k->phase = 3;
						done++;
					} else {
						k->phase = 2;
					}
					continue;
				}
				if (k->phase == 2) {
					long n = net_sock_recv(b, k->s, buf, sizeof(buf), 0);
					if (n == -EAGAIN)
						continue;
					assert_int_equal(n, 0);
					assert_int_equal(net_sock_close(b, k->s), 0);
					k->phase = 3;
					done++;
				}
			}
			wire_step(w, UINT64_MAX);
		}
		done_total += NCLI;
	}
	assert_int_equal(done_total, NCLI * ROUNDS);
	wire_run(w, 120000 * TCP_MS);
	print_message(
	    "  %d connections: A retrans %llu, B retrans %llu, B TIME_WAIT recycled %llu, "
	    "frames lost %llu\n",
	    done_total, (unsigned long long)a->cnt.tcp_retrans,
	    (unsigned long long)b->cnt.tcp_retrans,
	    (unsigned long long)b->cnt.tcp_timewait_recycled, (unsigned long long)w->dropped);
	assert_true(w->dropped > 0);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(b->conns_in_use, 1);
	for (int i = 0; i < NET_TCP_NSTATES; i++) {
		assert_int_equal(a->cnt.tcp_state[i], 0);
		assert_int_equal(b->cnt.tcp_state[i], i == TCP_LISTEN);
	}
	assert_int_equal(a->cnt.tcp_active_opens, NCLI * ROUNDS);
	assert_int_equal(b->cnt.tcp_passive_opens, NCLI * ROUNDS);
	for (uint32_t i = 0; i < a->nsocks; i++)
		assert_int_equal(a->socks[i].kind, SOCK_FREE);
	net_sock_close(b, ls);
	assert_int_equal(b->conns_in_use, 0);
	wire_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_echo_close),
	    cmocka_unit_test(test_bulk_1mib_lossy),
	    cmocka_unit_test(test_bulk_1mib_lossy_wscale),
	    cmocka_unit_test(test_bulk_seq_wrap),
	    cmocka_unit_test(test_window_edges),
	    cmocka_unit_test(test_refused_and_timeout),
	    cmocka_unit_test(test_simultaneous_close_and_abort),
	    cmocka_unit_test(test_many_connections_no_leak),
	    cmocka_unit_test(test_default_buffers_follow_the_pool),
	    cmocka_unit_test(test_rings_rewind_when_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

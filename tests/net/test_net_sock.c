/*
 * The socket layer of the guest-libos stack (what the POSIX calls of the
 * guest map onto): argument and state errors, non-blocking connect with
 * poll and SO_ERROR, names, shutdown, and 100 idle connections arming no
 * timer (an idle VM makes no exits).
 */
#include "harness.h"
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static struct net_sockaddr_in sa(uint32_t ip, uint16_t port)
{
	struct net_sockaddr_in a = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(port), .sin_addr = net_ntohl(ip)};
	return a;
}

static void test_errors(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st;
	struct net_sockaddr_in any = sa(0, 80), other = sa(0xc6120063u, 80);
	char b[4];

	assert_int_equal(net_sock_socket(a, 10, NET_SOCK_STREAM, 0), -EAFNOSUPPORT);
	assert_int_equal(net_sock_socket(a, NET_AF_INET, 3, 0), -EPROTONOSUPPORT);
	assert_int_equal(net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 17), -EPROTONOSUPPORT);
	assert_int_equal(net_sock_bind(a, 99, &any), -EBADF);
	assert_int_equal(net_sock_close(a, -1), -EBADF);
	assert_int_equal(net_sock_recv(a, 5, b, 4, 0), -EBADF);
	int s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	assert_int_equal(net_sock_bind(a, s, &other), -EADDRNOTAVAIL);
	struct net_sockaddr_in bad = any;
	bad.sin_family = 10;
	assert_int_equal(net_sock_bind(a, s, &bad), -EAFNOSUPPORT);
	assert_int_equal(net_sock_send(a, s, "x", 1, 0), -ENOTCONN);
	assert_int_equal(net_sock_recv(a, s, b, 4, 0), -ENOTCONN);
	assert_int_equal(net_sock_shutdown(a, s, NET_SHUT_WR), -ENOTCONN);
	assert_int_equal(net_sock_accept(a, s, NULL), -EINVAL);
	assert_int_equal(net_sock_bind(a, s, &any), 0);
	assert_int_equal(net_sock_bind(a, s, &any), -EINVAL);
	int t = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
	assert_int_equal(net_sock_bind(a, t, &any), -EADDRINUSE);
	assert_int_equal(net_sock_listen(a, s, 8), 0);
	assert_int_equal(net_sock_listen(a, s, 16), 0); /* adjusts the backlog */
	assert_int_equal(net_sock_listen(a, t, 8), 0);	/* bound to an ephemeral port */
	struct net_sockaddr_in n;
	assert_int_equal(net_sock_name(a, t, &n, 0), 0);
	assert_true(net_ntohs(n.sin_port) >= 49152);
	assert_int_equal(net_sock_name(a, t, &n, 1), -ENOTCONN);
	struct net_sockaddr_in to = sa(IP_B, 9);
	assert_int_equal(net_sock_connect(a, s, &to), -EINVAL);
	assert_int_equal(net_sock_getflags(a, s) & NET_O_NONBLOCK, 0);
	assert_int_equal(net_sock_setflags(a, s, NET_O_NONBLOCK), 0);
	assert_int_equal(net_sock_getflags(a, s) & NET_O_NONBLOCK, NET_O_NONBLOCK);
	assert_int_equal(net_sock_accept(a, s, NULL), -EAGAIN);
	/* Sockets are bounded; every one can be closed again. */
	int k, opened = 2;
	while ((k = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0)) >= 0)
		opened++;
	assert_int_equal(k, -EMFILE);
	assert_int_equal((uint32_t)opened, a->nsocks);
	for (int i = 0; i < opened; i++)
		assert_int_equal(net_sock_close(a, i), 0);
	assert_int_equal(a->conns_in_use, 0);
	/* UDP sockets are bounded by their endpoints. */
	for (k = 0; k < NET_UDP_PCBS; k++)
		assert_true(net_sock_socket(a, NET_AF_INET, NET_SOCK_DGRAM, 0) >= 0);
	assert_int_equal(net_sock_socket(a, NET_AF_INET, NET_SOCK_DGRAM, 0), -ENOBUFS);
	wire_free(w);
}

static void test_nonblocking_connect_poll(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;

	/* Refused: POLLOUT|POLLERR, then SO_ERROR says why, once. */
	int s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM | NET_O_NONBLOCK, 0);
	struct net_sockaddr_in to = sa(IP_B, 9);
	assert_int_equal(net_sock_connect(a, s, &to), -EINPROGRESS);
	assert_int_equal(net_sock_connect(a, s, &to), -EALREADY);
	struct net_pollfd p = {.fd = s, .events = NET_POLLOUT};
	assert_int_equal(net_sock_poll(a, &p, 1, 0), 0);
	assert_int_equal(net_sock_poll(a, &p, 1, 1000), 1);
	assert_true(p.revents & NET_POLLERR);
	assert_int_equal(net_sock_error(a, s), ECONNREFUSED);
	assert_int_equal(net_sock_error(a, s), 0);
	net_sock_close(a, s);

	/* Accepted: POLLOUT alone; poll on the listener sees POLLIN. */
	int ls = net_sock_socket(b, NET_AF_INET, NET_SOCK_STREAM | NET_O_NONBLOCK, 0);
	struct net_sockaddr_in any = sa(0, 9);
	assert_int_equal(net_sock_bind(b, ls, &any), 0);
	assert_int_equal(net_sock_listen(b, ls, 4), 0);
	s = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM | NET_O_NONBLOCK, 0);
	assert_int_equal(net_sock_connect(a, s, &to), -EINPROGRESS);
	assert_int_equal(net_sock_poll(a, &p, 1, 1000), 1);
	assert_int_equal(p.revents, NET_POLLOUT);
	assert_int_equal(net_sock_error(a, s), 0);
	assert_int_equal(net_sock_connect(a, s, &to), -EISCONN);
	struct net_pollfd q = {.fd = ls, .events = NET_POLLIN};
	assert_int_equal(net_sock_poll(b, &q, 1, 1000), 1);
	struct net_sockaddr_in peer;
	int c = net_sock_accept(b, ls, &peer);
	assert_true(c >= 0);
	assert_int_equal(net_ntohl(peer.sin_addr), IP_A);
	struct net_sockaddr_in mine;
	net_sock_name(a, s, &mine, 0);
	assert_int_equal(peer.sin_port, mine.sin_port);
	/* Nothing to read: poll times out on the virtual clock. */
	struct net_pollfd r = {.fd = c, .events = NET_POLLIN};
	uint64_t t0 = w->now;
	assert_int_equal(net_sock_poll(b, &r, 1, 250), 0);
	assert_true(w->now - t0 >= 250 * TCP_MS);
	/* shutdown(WR) on A: B reads EOF, B can still send to A. */
	assert_int_equal(net_sock_shutdown(a, s, NET_SHUT_WR), 0);
	assert_int_equal(net_sock_poll(b, &r, 1, 1000), 1);
	char buf[8];
	assert_int_equal(net_sock_recv(b, c, buf, sizeof(buf), 0), 0);
	assert_int_equal(net_sock_send(b, c, "late", 4, 0), 4);
	struct net_pollfd ra = {.fd = s, .events = NET_POLLIN};
	assert_int_equal(net_sock_poll(a, &ra, 1, 1000), 1);
	assert_int_equal(net_sock_recv(a, s, buf, sizeof(buf), 0), 4);
	assert_int_equal(net_sock_send(a, s, "x", 1, 0), -EPIPE);
	/* An unknown socket in poll: POLLNVAL; a negative fd is ignored. */
	struct net_pollfd bad[2] = {{.fd = 77, .events = NET_POLLIN}, {.fd = -1}};
	assert_int_equal(net_sock_poll(a, bad, 2, 0), 1);
	assert_int_equal(bad[0].revents, NET_POLLNVAL);
	assert_int_equal(bad[1].revents, 0);
	wire_free(w);
}

static void test_idle_connections_arm_nothing(void **state)
{
	(void)state;
	struct net_config cb;
	net_test_config(&cb, 1);
	cb.tcp_max_conns = 128;
	cb.sockets = 128;
	struct net_config ca = cb;
	net_test_config(&ca, 0);
	ca.tcp_max_conns = 128;
	ca.sockets = 128;
	struct wire *w = wire_new(&ca, &cb);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = net_sock_socket(b, NET_AF_INET, NET_SOCK_STREAM | NET_O_NONBLOCK, 0);
	struct net_sockaddr_in any = sa(0, 80), to = sa(IP_B, 80);
	net_sock_bind(b, ls, &any);
	net_sock_listen(b, ls, 128);
	int cs[100];
	for (int i = 0; i < 100; i++) {
		cs[i] = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
		assert_int_equal(net_sock_connect(a, cs[i], &to), 0);
		assert_int_equal(net_sock_send(a, cs[i], "GET", 3, 0), 3);
	}
	wire_run(w, 100 * TCP_MS);
	int n = 0, c;
	while ((c = net_sock_accept(b, ls, NULL)) >= 0) {
		char buf[4];
		assert_int_equal(net_sock_recv(b, c, buf, 4, 0), 3);
		assert_int_equal(net_sock_send(b, c, "OK", 2, 0), 2);
		n++;
	}
	assert_int_equal(n, 100);
	wire_run(w, 1000 * TCP_MS);
	/* 100 established, idle keep-alive connections: no timer on either
	 * side, so a guest idles with no deadline and makes no exit. */
	assert_int_equal(a->cnt.tcp_state[TCP_ESTABLISHED], 100);
	assert_int_equal(b->cnt.tcp_state[TCP_ESTABLISHED], 100);
	assert_int_equal(net_next_deadline(a), UINT64_MAX);
	assert_int_equal(net_next_deadline(b), UINT64_MAX);
	uint64_t out = a->cnt.eth_out + b->cnt.eth_out;
	wire_run(w, 3600000 * TCP_MS);
	assert_int_equal(a->cnt.eth_out + b->cnt.eth_out, out);
	wire_free(w);
}

/* A client that stops running its stack for a while (a guest in msleep)
 * with delayed ACKs pending: the server retransmits, the client catches up,
 * everything closes and nothing is left on either side. */
static void test_sleeping_client(void **state)
{
	(void)state;
	struct wire *w = wire_new(NULL, NULL);
	struct net_stack *a = w->end[0].st, *b = w->end[1].st;
	int ls = net_sock_socket(b, NET_AF_INET, NET_SOCK_STREAM | NET_O_NONBLOCK, 0);
	struct net_sockaddr_in any = sa(0, 7), to = sa(IP_B, 7);
	net_sock_bind(b, ls, &any);
	net_sock_listen(b, ls, 64);
	int cs[40], ss[40], ns = 0;
	char c = 'h';
	for (int i = 0; i < 40; i++) {
		cs[i] = net_sock_socket(a, NET_AF_INET, NET_SOCK_STREAM, 0);
		assert_int_equal(net_sock_connect(a, cs[i], &to), 0);
		assert_int_equal(net_sock_send(a, cs[i], &c, 1, 0), 1);
		int k;
		while ((k = net_sock_accept(b, ls, NULL)) == -EAGAIN)
			assert_true(wire_step(w, UINT64_MAX));
		ss[ns++] = k;
		char r;
		while (net_sock_recv(b, k, &r, 1, NET_MSG_DONTWAIT) == -EAGAIN)
			assert_true(wire_step(w, UINT64_MAX));
		assert_int_equal(net_sock_send(b, k, &r, 1, 0), 1);
		assert_int_equal(net_sock_recv(a, cs[i], &r, 1, 0), 1);
	}
	/* A sleeps for 2 s: frames for it wait, its timers do not run. */
	w->end[0].asleep = true;
	wire_run(w, 2000 * TCP_MS);
	assert_true(b->cnt.tcp_rto > 0);
	w->end[0].asleep = false;
	for (int i = 0; i < 40; i++)
		assert_int_equal(net_sock_close(a, cs[i]), 0);
	for (int i = 0; i < ns; i++) {
		char r;
		long n;
		while ((n = net_sock_recv(b, ss[i], &r, 1, NET_MSG_DONTWAIT)) == -EAGAIN)
			assert_true(wire_step(w, UINT64_MAX));
		assert_int_equal(n, 0);
		assert_int_equal(net_sock_close(b, ss[i]), 0);
	}
	wire_run(w, 120000 * TCP_MS);
	assert_int_equal(a->conns_in_use, 0);
	assert_int_equal(b->conns_in_use, 1);
	wire_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_nonblocking_connect_poll),
	    cmocka_unit_test(test_idle_connections_arm_nothing),
	    cmocka_unit_test(test_sleeping_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

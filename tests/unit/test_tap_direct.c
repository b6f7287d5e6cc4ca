/*
 * The direct writer of a worker ring (devices/tap.c) on a real tap, in a
 * network namespace of this test's own (unshare(): no address, gone with
 * the process). A drain's frames for the uplink are written through the
 * worker ring and reach the tap. When the worker ring's submission fails
 * (-EBUSY, every time), none of the writes is left in the ring for a later
 * submission: each is withdrawn (it completes with -EBADF, writing
 * nothing) and its frame goes through the uplink thread instead, in order,
 * counted (tx_submit_errors, tx_requeued). A submission that fails once,
 * or stops short at another device's request the kernel refuses, is tried
 * again and the frames go direct. Needs root and /dev/net/tun (else SKIP).
 */
#include "devices/device.h"
#include "devices/netsw.h"
#include "devices/tap.h"
#include "sched/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define TAPNAME	 "dtdirect0"
#define ETH_TEST 0x88b5
#define FLEN	 64

static struct netsw *sw;
static struct netsw_port *port;
static struct tap_uplink *up;
static struct io_uring ring;
static int psock = -1;
static uint32_t seq_sent, seq_seen;
static int others, other_res; /* completions of requests not the writer's */

static void wake(void *arg, uint64_t ev)
{
	(void)arg;
	(void)ev;
}

static int busy_always(struct io_uring *r)
{
	(void)r;
	return -EBUSY;
}

static int busy_calls;

static int busy_once(struct io_uring *r)
{
	if (busy_calls++ == 0)
		return -EBUSY;
	return io_uring_submit(r);
}

static struct tap_stats stats(void)
{
	struct tap_stats s;

	tap_uplink_stats(up, &s);
	return s;
}

/* The uplink thread counts a write at its completion, a moment after the
 * frame is on the tap: waits (at most 2 s) for tx_frames to reach n. */
static uint64_t tx_frames_reaching(uint64_t n)
{
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < 2000 && stats().tx_frames < n; i++)
		nanosleep(&ms, NULL);
	return stats().tx_frames;
}

/* One drain of port: n frames to an address nobody has (the uplink). */
static void drain(unsigned n)
{
	static const uint8_t nowhere[6] = {2, 0xde, 0xad, 0xbe, 0xef, 1};
	uint8_t fr[FLEN];

	netsw_tx_ring_begin(sw, port, &ring, NULL, NULL);
	for (unsigned i = 0; i < n; i++) {
		memset(fr, 0, sizeof(fr));
		memcpy(fr, nowhere, 6);
		memcpy(fr + 6, port->mac, 6);
		fr[12] = ETH_TEST >> 8;
		fr[13] = ETH_TEST & 0xff;
		memcpy(fr + 14, &seq_sent, 4);
		seq_sent++;
		netsw_send(sw, port, fr, sizeof(fr));
	}
	netsw_tx_ring_end();
}

/* The worker's part: reaps n completions of the ring (dev_io ones handed
 * to their owner, as the worker does); returns how many had res. */
static int reap(unsigned n, int res)
{
	int with = 0;

	while (n) {
		struct io_uring_cqe *cqe;
		uint64_t ud;

		io_uring_submit(&ring);
		assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
		ud = io_uring_cqe_get_data64(cqe);
		if (DEV_UD_OP(ud) == DEV_UD_DEVIO) {
			struct dev_io *io = (struct dev_io *)(uintptr_t)DEV_UD_OBJ(ud);

			with += cqe->res == res;
			io->done(io, cqe->res);
			n--;
		} else {
			others++;
			other_res = cqe->res;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	return with;
}

/* Waits (at most 2 s per frame) for the next n test frames on the tap,
 * checking that they come in the order they were sent. */
static void expect_on_tap(unsigned n)
{
	uint8_t buf[2048];

	while (n) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t got = recvfrom(psock, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		uint32_t seq;

		assert_true(got >= 0); /* else: timed out, a frame is missing */
		if (from.sll_pkttype == PACKET_OUTGOING || got < 18 || buf[12] != ETH_TEST >> 8 ||
		    buf[13] != (ETH_TEST & 0xff))
			continue;
		memcpy(&seq, buf + 14, 4);
		assert_int_equal(seq, seq_seen);
		assert_int_equal(got, FLEN);
		seq_seen++;
		n--;
	}
}

static void link_up(const char *name)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int setup(void **state)
{
	static const uint8_t mac[6] = {2, 0xde, 0, 0, 0, 1};
	struct timeval tv = {2, 0};
	struct sockaddr_ll sll;
	char err[200] = "";
	int rc;

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		fprintf(stderr, "SKIP: needs root and /dev/net/tun for a tap of its own\n");
		exit(77);
	}
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "SKIP: no network namespace of its own (%s)\n", strerror(errno));
		exit(77);
	}
	rc = worker_ring_init(&ring);
	if (rc == -ENOSYS || rc == -EPERM) {
		fprintf(stderr, "SKIP: io_uring unavailable here (%s)\n", strerror(-rc));
		exit(77);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(netsw_create(16, &sw), 0);
	assert_int_equal(netsw_port_add(sw, mac, NETSW_NET_UPLINK, &port), 0);
	netsw_port_attach(port, wake, NULL);
	rc = tap_uplink_open(sw, TAPNAME, 0, &up, err, sizeof(err));
	if (rc)
		fprintf(stderr, "tap_uplink_open: %s\n", err);
	assert_int_equal(rc, 0);
	link_up(TAPNAME);
	psock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(psock >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(TAPNAME);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(psock, (struct sockaddr *)&sll, sizeof(sll)), 0);
	assert_int_equal(setsockopt(psock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tap_test_set_submit(NULL);
	close(psock);
	tap_uplink_close(up); /* the "worker" has stopped: nothing left to reap */
	io_uring_queue_exit(&ring);
	netsw_destroy(sw);
	return 0;
}

static void test_direct_writes(void **state)
{
	struct tap_stats s0 = stats(), s;

	(void)state;
	drain(10);
	assert_int_equal(reap(10, FLEN), 10);
	expect_on_tap(10);
	s = stats();
	assert_int_equal(s.tx_direct - s0.tx_direct, 10);
	assert_int_equal(s.tx_requeued, 0);
	assert_int_equal(s.tx_submit_errors, 0);
}

static void test_submit_failing_requeues(void **state)
{
	struct tap_stats s0 = stats(), s;

	(void)state;
	tap_test_set_submit(busy_always);
	drain(10);
	tap_test_set_submit(NULL);
	/* Sent by the uplink thread, in order... */
	expect_on_tap(10);
	assert_int_equal(tx_frames_reaching(s0.tx_frames + 10), s0.tx_frames + 10);
	s = stats();
	assert_int_equal(s.tx_requeued - s0.tx_requeued, 10);
	assert_int_equal(s.tx_submit_errors - s0.tx_submit_errors, 3); /* three tries */
	assert_int_equal(s.tx_direct, s0.tx_direct);
	assert_int_equal(s.tx_frames - s0.tx_frames, 10);
	/* ...and the withdrawn writes, submitted by the worker's next
	 * submission, write nothing and are not errors. */
	assert_int_equal(reap(10, -EBADF), 10);
	s = stats();
	assert_int_equal(s.tx_errors, s0.tx_errors);
	assert_int_equal(s.tx_frames - s0.tx_frames, 10);
	/* Their buffers are back: 100 more go direct (the writer has 64). */
	for (int i = 0; i < 5; i++) {
		drain(20);
		assert_int_equal(reap(20, FLEN), 20);
	}
	expect_on_tap(100);
	s = stats();
	assert_int_equal(s.tx_direct - s0.tx_direct, 100);
}

static void test_submit_failing_once_retried(void **state)
{
	struct tap_stats s0 = stats(), s;

	(void)state;
	busy_calls = 0;
	tap_test_set_submit(busy_once);
	drain(5);
	tap_test_set_submit(NULL);
	assert_int_equal(reap(5, FLEN), 5);
	expect_on_tap(5);
	s = stats();
	assert_int_equal(s.tx_submit_errors - s0.tx_submit_errors, 1);
	assert_int_equal(s.tx_requeued, s0.tx_requeued);
	assert_int_equal(s.tx_direct - s0.tx_direct, 5);
}

static void test_submission_stopped_short_retried(void **state)
{
	struct tap_stats s0 = stats(), s;
	struct io_uring_sqe *sqe;

	(void)state;
	/* Another device's request ahead of the writes, one the kernel
	 * refuses (the worker ring allows no NOP): the submission stops there. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 0);
	others = 0;
	drain(5);
	assert_int_equal(reap(5, FLEN), 5);
	expect_on_tap(5);
	assert_int_equal(others, 1);
	assert_int_equal(other_res, -EACCES);
	s = stats();
	assert_int_equal(s.tx_submit_errors - s0.tx_submit_errors, 1);
	assert_int_equal(s.tx_requeued, s0.tx_requeued);
	assert_int_equal(s.tx_direct - s0.tx_direct, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_direct_writes),
	    cmocka_unit_test(test_submit_failing_requeues),
	    cmocka_unit_test(test_submit_failing_once_retried),
	    cmocka_unit_test(test_submission_stopped_short_retried),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

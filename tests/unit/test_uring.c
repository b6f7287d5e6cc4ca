/*
 * A worker's io_uring is restricted to the operations its devices use
 * (src/devices/uring.c, worker_ring_init()): reads, writes and fsyncs work,
 * and an open, a socket operation, a no-op and any register operation are
 * refused with -EACCES. Without the restriction every refused request
 * below would succeed (a NOP always does; OPENAT of /dev/null does).
 */
#include "devices/uring.h"
#include "sched/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* Submits the prepared SQE and returns its completion's res. */
static int run_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static int setup_ring(void **state)
{
	struct io_uring *ring = calloc(1, sizeof(*ring));
	int rc;

	assert_non_null(ring);
	rc = worker_ring_init(ring);
	if (rc == -ENOSYS || rc == -EPERM) {
		fprintf(stderr, "SKIP: io_uring unavailable here (%s)\n", strerror(-rc));
		free(ring);
		exit(77);
	}
	assert_int_equal(rc, 0);
	*state = ring;
	return 0;
}

static int teardown_ring(void **state)
{
	io_uring_queue_exit(*state);
	free(*state);
	return 0;
}

static void test_used_ops_work(void **state)
{
	struct io_uring *ring = *state;
	char path[] = "/tmp/denali-test-uring.XXXXXX", buf[8] = {0};
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	io_uring_prep_write(io_uring_get_sqe(ring), fd, "denali", 6, 0);
	assert_int_equal(run_one(ring), 6);
	io_uring_prep_fsync(io_uring_get_sqe(ring), fd, IORING_FSYNC_DATASYNC);
	assert_int_equal(run_one(ring), 0);
	io_uring_prep_read(io_uring_get_sqe(ring), fd, buf, sizeof(buf), 0);
	assert_int_equal(run_one(ring), 6);
	assert_string_equal(buf, "denali");
	close(fd);
}

static void test_other_ops_refused(void **state)
{
	struct io_uring *ring = *state;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	io_uring_prep_nop(io_uring_get_sqe(ring));
	assert_int_equal(run_one(ring), -EACCES);
	io_uring_prep_openat(io_uring_get_sqe(ring), AT_FDCWD, "/dev/null", O_RDONLY, 0);
	assert_int_equal(run_one(ring), -EACCES);
	io_uring_prep_send(io_uring_get_sqe(ring), sv[0], "x", 1, 0);
	assert_int_equal(run_one(ring), -EACCES);
	io_uring_prep_close(io_uring_get_sqe(ring), sv[1]);
	assert_int_equal(run_one(ring), -EACCES);
	close(sv[0]);
	close(sv[1]);
}

static void test_flags_refused(void **state)
{
	struct io_uring *ring = *state;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	char b;

	/* A read is allowed, but not with a flag the worker never sets. */
	io_uring_prep_read(sqe, 0, &b, 1, 0);
	sqe->flags |= IOSQE_ASYNC;
	assert_int_equal(run_one(ring), -EACCES);
}

static void test_register_refused(void **state)
{
	struct io_uring *ring = *state;
	int fds[1] = {0};

	assert_int_equal(io_uring_register_files(ring, fds, 1), -EACCES);
	assert_int_equal(io_uring_register_eventfd(ring, 0), -EACCES);
}

static void withdraw(struct io_uring_sqe *sqe, void *arg)
{
	(*(int *)arg)++;
	sqe->fd = -1;
}

/*
 * A submission stops at a request the kernel cannot start (a refused NOP):
 * the writes behind it stay in the SQ ring, uring_sq_unsubmitted() finds
 * them, and rewritten to fd -1 they complete with -EBADF at the next
 * submission, having written nothing.
 */
static void test_unsubmitted_found_and_withdrawn(void **state)
{
	struct io_uring *ring = *state;
	struct io_uring_cqe *cqe;
	int p[2], seen = 0, ebadf = 0, eacces = 0;
	char b;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(uring_sq_unsubmitted(ring, NULL, NULL), 0);
	io_uring_prep_nop(io_uring_get_sqe(ring));
	for (int i = 0; i < 3; i++)
		io_uring_prep_write(io_uring_get_sqe(ring), p[1], "x", 1, 0);
	/* Only prepared: all four are pending. */
	assert_int_equal(uring_sq_unsubmitted(ring, NULL, NULL), 4);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(uring_sq_unsubmitted(ring, withdraw, &seen), 3);
	assert_int_equal(seen, 3);
	assert_int_equal(io_uring_submit(ring), 3);
	assert_int_equal(uring_sq_unsubmitted(ring, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
		ebadf += cqe->res == -EBADF;
		eacces += cqe->res == -EACCES;
		io_uring_cqe_seen(ring, cqe);
	}
	assert_int_equal(eacces, 1);
	assert_int_equal(ebadf, 3);
	close(p[1]);
	assert_int_equal(read(p[0], &b, 1), 0); /* nothing was written */
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_used_ops_work, setup_ring, teardown_ring),
	    cmocka_unit_test_setup_teardown(test_other_ops_refused, setup_ring, teardown_ring),
	    cmocka_unit_test_setup_teardown(test_flags_refused, setup_ring, teardown_ring),
	    cmocka_unit_test_setup_teardown(test_register_refused, setup_ring, teardown_ring),
	    cmocka_unit_test_setup_teardown(test_unsubmitted_found_and_withdrawn, setup_ring,
					    teardown_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

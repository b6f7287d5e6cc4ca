/*
 * For unit tests of devices that submit through a real io_uring: the
 * worker's ring (or a SKIP), zeroed guest memory, and the reaping of one
 * completion. Include after cmocka.h.
 */
#ifndef DENALI_TESTS_DEVIO_TEST_H
#define DENALI_TESTS_DEVIO_TEST_H

#include "devices/device.h"
#include "sched/worker.h"

#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* *ring set up as a worker's; where io_uring is unavailable the test ends
 * with SKIP (77), after removing its temp file path. */
static inline void devio_ring_or_skip(struct io_uring *ring, const char *path)
{
	int rc = worker_ring_init(ring);

	if (rc) {
		fprintf(stderr, "SKIP: io_uring unavailable here (%s)\n", strerror(-rc));
		unlink(path);
		exit(77);
	}
}

/* size bytes of zeroed, page-aligned guest memory. */
static inline uint8_t *devio_guest_mem(size_t size)
{
	uint8_t *mem = aligned_alloc(4096, size);

	assert_non_null(mem);
	memset(mem, 0, size);
	return mem;
}

/* Reaps the next completion (submitting first) and returns its dev_io with
 * the real result in *res, asserting that it is a device I/O. */
static inline struct dev_io *devio_reap(struct io_uring *ring, int *res)
{
	struct io_uring_cqe *cqe;
	uint64_t ud;

	io_uring_submit(ring);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	ud = io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	assert_int_equal(DEV_UD_OP(ud), DEV_UD_DEVIO);
	return (struct dev_io *)(uintptr_t)DEV_UD_OBJ(ud);
}

#endif

/*
 * For unit tests of devices that submit through a real io_uring: reaps the
 * next completion (submitting first) and returns its dev_io with the real
 * result in *res, asserting that it is a device I/O. Include after cmocka.h.
 */
#ifndef DENALI_TESTS_DEVIO_REAP_H
#define DENALI_TESTS_DEVIO_REAP_H

#include "devices/device.h"

#include <liburing.h>
#include <stdint.h>

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

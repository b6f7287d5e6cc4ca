/*
 * Restricted io_uring set-up (uring.h). The order is the kernel's: create
 * disabled, register restrictions (only once, only while disabled), enable.
 */
#include "uring.h"

#include <errno.h>
#include <string.h>

#define URING_RESTRICTIONS_MAX 32

int uring_init_restricted_setup(struct io_uring *ring, unsigned entries,
				const struct uring_allow *allow, int *restricted,
				int (*setup)(struct io_uring *ring, void *arg), void *arg)
{
	struct io_uring_restriction res[URING_RESTRICTIONS_MAX];
	struct io_uring_params p;
	unsigned n = 0;
	int rc;

	if (allow->nops + 1 > URING_RESTRICTIONS_MAX)
		return -E2BIG;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	rc = io_uring_queue_init_params(entries, ring, &p);
	if (rc == -EINVAL) { /* a kernel without R_DISABLED: no restrictions either */
		*restricted = 0;
		rc = io_uring_queue_init(entries, ring, 0);
		if (rc == 0 && setup && (rc = setup(ring, arg)) < 0)
			io_uring_queue_exit(ring);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (setup && (rc = setup(ring, arg)) < 0) {
		io_uring_queue_exit(ring);
		return rc;
	}
	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < allow->nops; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allow->ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = allow->sqe_flags;
	/* No IORING_RESTRICTION_REGISTER_OP entry: no register operation is
	 * allowed once the ring is enabled (no files, buffers or eventfds
	 * swapped in later). */
	/* The raw register call: Debian's liburing 2.3 declares
	 * io_uring_register_restrictions() and io_uring_enable_rings() but does
	 * not export them. */
	rc = io_uring_register(ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (rc == 0)
		rc = io_uring_register(ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (rc < 0) {
		io_uring_queue_exit(ring);
		return rc;
	}
	*restricted = 1;
	return 0;
}

int uring_init_restricted(struct io_uring *ring, unsigned entries, const struct uring_allow *allow,
			  int *restricted)
{
	return uring_init_restricted_setup(ring, entries, allow, restricted, NULL, NULL);
}

unsigned uring_sq_unsubmitted(struct io_uring *ring,
			      void (*fn)(struct io_uring_sqe *sqe, void *arg), void *arg)
{
	struct io_uring_sq *sq = &ring->sq;
	unsigned head = io_uring_smp_load_acquire(sq->khead), n = 0;

	/* From the kernel's head to liburing's tail: flushed to the kernel or
	 * only prepared, none of them consumed. The SQ array maps a slot to
	 * its SQE (liburing keeps it the identity). */
	for (unsigned i = head; i != sq->sqe_tail; i++, n++)
		if (fn)
			fn(&sq->sqes[sq->array[i & sq->ring_mask]], arg);
	return n;
}

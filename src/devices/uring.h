/*
 * io_uring rings restricted to the operations their owner submits
 * (IORING_REGISTER_RESTRICTIONS): io_uring requests are not system calls,
 * so the worker seccomp allowlist does not see them, and without this a
 * hijacked thread could open, connect or splice through its ring. A ring
 * starts disabled (IORING_SETUP_R_DISABLED), gets its allowlist of opcodes
 * and SQE flags, and no io_uring_register() operation at all afterwards,
 * then is enabled. A refused request completes with -EACCES.
 */
#ifndef DENALI_DEVICES_URING_H
#define DENALI_DEVICES_URING_H

#include <liburing.h>
#include <stdint.h>

struct uring_allow {
	const uint8_t *ops; /* IORING_OP_* */
	unsigned nops;
	uint8_t sqe_flags; /* IOSQE_* the owner may set (0: none) */
};

/*
 * io_uring_queue_init() of entries, restricted to allow. On a kernel
 * without ring restrictions (before 5.10) the ring is set up unrestricted
 * and *restricted is 0 (callers log it once); otherwise 1. 0 or -errno.
 */
int uring_init_restricted(struct io_uring *ring, unsigned entries, const struct uring_allow *allow,
			  int *restricted);
/* The same, with setup(ring, arg) called while registering is still
 * allowed, before the ring is enabled (a provided buffer ring): 0, or
 * -errno and the ring is torn down. */
int uring_init_restricted_setup(struct io_uring *ring, unsigned entries,
				const struct uring_allow *allow, int *restricted,
				int (*setup)(struct io_uring *ring, void *arg), void *arg);

/*
 * The SQEs of ring that the kernel has not taken (yet): after an
 * io_uring_submit() that failed (-EBUSY, -EAGAIN, -EINTR...) or stopped
 * short at a request it could not start, the rest stay in the SQ ring, and
 * the next submission passes them on, whenever that is. fn(sqe, arg) is
 * called on each, oldest first, and may rewrite it (an owner withdrawing
 * one makes its fd -1: it completes with -EBADF and does nothing). Their
 * count. Only on the thread that submits to ring, which has no SQPOLL.
 */
unsigned uring_sq_unsubmitted(struct io_uring *ring,
			      void (*fn)(struct io_uring_sqe *sqe, void *arg), void *arg);

#endif

/*
 * The block poller thread (blk_poll.h). devs is guarded by lock, held for a
 * whole pass; add() and remove() from a worker say so in `waiting` first and
 * the spinning thread lets them in. Lock order: p->lock, then a device's own
 * lock (blk_dev_serve, and the completions the pass reaps).
 *
 * awake: 1 while spinning, 0 asleep. The thread clears it, takes what is
 * posted once more (a guest that saw the flag just before it went), then
 * sleeps on its ring; a kick sets it back to 1 and writes the eventfd the
 * ring reads, so a kick between the clear and the sleep is not lost.
 */
#include "blk_poll.h"

#include "blk.h"
#include "uring.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define POLL_ENTRIES 128
#define UD_EVENTFD   (1ull << DEV_UD_SHIFT)

struct blk_poll {
	int id;
	uint64_t spin_ns;
	int (*confine)(void);
	pthread_t thread;
	struct io_uring ring;
	int efd;
	uint64_t efd_buf;
	pthread_mutex_t lock;
	struct device **devs;
	unsigned ndev, cap;
	int waiting;	   /* add()/remove() callers waiting for lock (atomic) */
	int awake;	   /* atomic */
	int quit;	   /* atomic */
	unsigned inflight; /* device I/O submitted on ring, not reaped (thread only) */
	uint64_t t0;
	sem_t ready;
	int start_rc;
	struct blk_poll_stats st;
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void arm_eventfd(struct blk_poll *p)
{
	struct io_uring_sqe *sqe;

	/* Device I/O prepared and not yet submitted is counted first. */
	p->inflight += io_uring_sq_ready(&p->ring);
	io_uring_submit(&p->ring);
	sqe = io_uring_get_sqe(&p->ring);
	io_uring_prep_read(sqe, p->efd, &p->efd_buf, sizeof(p->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, UD_EVENTFD);
	io_uring_submit(&p->ring);
}

/* Handles every completion there: the devices' I/O, the eventfd. How many. */
static unsigned reap(struct blk_poll *p)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&p->ring, head, cqe)
	{
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		seen++;
		if (DEV_UD_OP(ud) == DEV_UD_DEVIO) {
			struct dev_io *io = (struct dev_io *)(uintptr_t)DEV_UD_OBJ(ud);

			if (p->inflight)
				p->inflight--;
			io->done(io, cqe->res);
		} else if (ud == UD_EVENTFD) {
			arm_eventfd(p);
		}
	}
	io_uring_cq_advance(&p->ring, seen);
	return seen;
}

/* One round over the rings (lock held): requests taken plus completions. */
static unsigned pass(struct blk_poll *p, int awake)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->ndev; i++) {
		int k = blk_dev_serve(p->devs[i], &p->ring, awake);

		if (k > 0) {
			n += (unsigned)k;
			p->st.taken += (uint64_t)k;
		}
	}
	/* Device I/O only: the eventfd read is armed (and submitted) apart. */
	p->inflight += io_uring_sq_ready(&p->ring);
	if (io_uring_sq_ready(&p->ring))
		io_uring_submit(&p->ring); /* page-cache reads complete in here */
	n += reap(p);
	p->st.passes++;
	return n;
}

static void lock_pass(struct blk_poll *p)
{
	/* A worker waits to add or remove a device: let it have the lock. */
	while (__atomic_load_n(&p->waiting, __ATOMIC_ACQUIRE))
		sched_yield();
	pthread_mutex_lock(&p->lock);
}

static void sleep_once(struct blk_poll *p)
{
	unsigned n;

	__atomic_store_n(&p->awake, 0, __ATOMIC_SEQ_CST);
	lock_pass(p);
	n = pass(p, 0); /* flags off; what was posted before they went */
	pthread_mutex_unlock(&p->lock);
	if (n) {
		__atomic_store_n(&p->awake, 1, __ATOMIC_SEQ_CST);
		return;
	}
	p->st.sleeps++;
	p->st.cpu_ns = cpu_ns();
	io_uring_submit_and_wait(&p->ring, 1);
	__atomic_store_n(&p->awake, 1, __ATOMIC_SEQ_CST);
}

static void *poll_main(void *arg)
{
	struct blk_poll *p = arg;
	char name[16];
	uint64_t last;

	snprintf(name, sizeof(name), "denali-bp%d", p->id);
	prctl(PR_SET_NAME, name);
	p->start_rc = p->confine ? p->confine() : 0;
	sem_post(&p->ready);
	if (p->start_rc < 0)
		return NULL;
	arm_eventfd(p);
	io_uring_submit(&p->ring);
	last = dev_now_ns();
	while (!__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) {
		unsigned n;
		uint64_t now;

		lock_pass(p);
		n = pass(p, 1);
		pthread_mutex_unlock(&p->lock);
		now = dev_now_ns();
		if (n) {
			last = now;
		} else if (now - last >= p->spin_ns && p->inflight) {
			/* A slow disk (O_DIRECT): wait for it in the kernel, still
			 * shown as polling; the guest idles if its own spin ends first.
			 * 1 ms at most: the count misses a submit blk.c made itself
			 * on a full ring. */
			struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
			struct io_uring_cqe *cqe;

			io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1, &ts, NULL);
			last = dev_now_ns();
		} else if (now - last >= p->spin_ns) {
			sleep_once(p);
			last = dev_now_ns();
		} else if (now - last > BLK_POLL_YIELD_NS) {
			/* Nothing for a while: if the guest's vCPU thread (or anyone)
			 * waits for this CPU, it gets it. Free when nobody does. */
			sched_yield();
		} else {
			__builtin_ia32_pause();
		}
	}
	p->st.cpu_ns = cpu_ns();
	return NULL;
}

/* The thread's ring may read, write and fsync (the disks' I/O and its eventfd) and time
 * out (liburing's timed wait on a kernel without extended arguments). */
static const uint8_t poll_ring_ops[] = {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC,
					IORING_OP_TIMEOUT};

int blk_poll_start(struct blk_poll **out, int id, uint64_t spin_ns, int (*confine)(void))
{
	const struct uring_allow allow = {poll_ring_ops,
					  sizeof(poll_ring_ops) / sizeof(poll_ring_ops[0]), 0};
	struct blk_poll *p = calloc(1, sizeof(*p));
	int restricted = 0, rc;

	if (!p)
		return -ENOMEM;
	p->id = id;
	p->spin_ns = spin_ns;
	p->confine = confine;
	p->awake = 1;
	p->t0 = dev_now_ns();
	p->efd = eventfd(0, EFD_CLOEXEC);
	if (p->efd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = uring_init_restricted(&p->ring, POLL_ENTRIES, &allow, &restricted);
	if (rc < 0)
		goto err_efd;
	pthread_mutex_init(&p->lock, NULL);
	sem_init(&p->ready, 0, 0);
	rc = -pthread_create(&p->thread, NULL, poll_main, p);
	if (rc == 0) {
		while (sem_wait(&p->ready) < 0 && errno == EINTR)
			;
		rc = p->start_rc;
		if (rc < 0)
			pthread_join(p->thread, NULL);
	}
	sem_destroy(&p->ready);
	if (rc < 0)
		goto err_ring;
	*out = p;
	return 0;
err_ring:
	pthread_mutex_destroy(&p->lock);
	io_uring_queue_exit(&p->ring);
err_efd:
	close(p->efd);
err_free:
	free(p);
	return rc;
}

void blk_poll_stop(struct blk_poll *p, struct blk_poll_stats *last)
{
	uint64_t one = 1;

	if (!p)
		return;
	__atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
	if (write(p->efd, &one, sizeof(one)) < 0)
		perror("denali: blk poller: eventfd write");
	pthread_join(p->thread, NULL);
	if (last)
		blk_poll_get_stats(p, last);
	io_uring_queue_exit(&p->ring);
	close(p->efd);
	pthread_mutex_destroy(&p->lock);
	free(p->devs);
	free(p);
}

static void lock_devs(struct blk_poll *p)
{
	__atomic_fetch_add(&p->waiting, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&p->lock);
	__atomic_fetch_sub(&p->waiting, 1, __ATOMIC_ACQ_REL);
}

int blk_poll_add(struct blk_poll *p, struct device *d)
{
	int rc = 0;

	lock_devs(p);
	if (p->ndev == p->cap) {
		unsigned cap = p->cap ? 2 * p->cap : 16;
		struct device **devs = realloc(p->devs, cap * sizeof(*devs));

		if (!devs) {
			rc = -ENOMEM;
			goto out;
		}
		p->devs = devs;
		p->cap = cap;
	}
	p->devs[p->ndev++] = d;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void blk_poll_remove(struct blk_poll *p, struct device *d)
{
	lock_devs(p);
	for (unsigned i = 0; i < p->ndev; i++)
		if (p->devs[i] == d) {
			p->devs[i] = p->devs[--p->ndev];
			break;
		}
	pthread_mutex_unlock(&p->lock);
}

void blk_poll_kick(struct blk_poll *p)
{
	uint64_t one = 1;

	if (__atomic_load_n(&p->awake, __ATOMIC_SEQ_CST) ||
	    __atomic_exchange_n(&p->awake, 1, __ATOMIC_SEQ_CST))
		return;
	__atomic_fetch_add(&p->st.kicks, 1, __ATOMIC_RELAXED);
	if (write(p->efd, &one, sizeof(one)) < 0)
		return; /* the counter is full: it is being woken anyway */
}

int blk_poll_awake(const struct blk_poll *p)
{
	return __atomic_load_n(&p->awake, __ATOMIC_SEQ_CST) != 0;
}

void blk_poll_get_stats(const struct blk_poll *p, struct blk_poll_stats *out)
{
	*out = p->st;
	out->wall_ns = dev_now_ns() - p->t0;
}

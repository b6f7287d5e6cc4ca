/*
 * Tap uplink. user_data = operation << 56 | slot:
 *   READ   frames read: one multishot read (IORING_OP_READ_MULTISHOT, Linux
 *          6.7) that stays armed and fills the provided buffers of a buffer
 *          ring, one completion per frame, each buffer given back as soon as
 *          the switch has copied its frame; or, where the kernel has no
 *          multishot read, a frame read into rx buffer `slot` (TAP_READS
 *          stay posted, each posted again after its completion)
 *   WRITE  tx buffer `slot` written
 *   KICK   the eventfd the switch writes when frames wait for the uplink
 *   TICK   the half-second timeout that retries a lost tap
 *   CANCEL the cancellation of a read left on a tap the uplink leaves
 * A read also carries the generation of the fd it was posted on (bumped at
 * every attach): one that comes back from an older fd is dropped and its
 * buffer posted again on the current one.
 * Every cqe->res < 0 is handled for its operation: EAGAIN/EINTR repost,
 * anything else on a read marks the uplink down. A short write (a tap
 * takes whole frames) is counted as an error, not resubmitted as a torn
 * frame.
 *
 * A tap whose link is set down keeps its fd: writes fail with EIO (counted
 * in tx_errors, the frames are lost as on a cable pulled out) and reads
 * wait, so nothing needs re-attaching when the link comes up again. A
 * deleted tap fails reads with EBADFD (and TUNGETIFF, which the half-second
 * tick asks as well: a read does not always see it): the uplink goes down and
 * re-attaches on the tick once the name exists again
 * (tests/integration/outage.sh, hostile_tap.sh).
 *
 * Direct writes: a worker draining its VM's tx ring at an exit writes the
 * frames for the uplink through its own io_uring (netsw_up_direct), with one
 * submission per drain, instead of queueing them and waking the uplink
 * thread: the reply of a VM echoing the tap costs one thread hop fewer. Each
 * worker ring has a writer of its own here (TAP_DW_SLOTS buffers, made at its
 * first frame, freed with the uplink, after the workers), whose completions
 * the worker reaps (struct dev_io). The fd a worker writes to is read under
 * fd_lock (read side, from its first frame of a drain to the submission);
 * the uplink thread changes or closes it under the write side only, so no
 * write is ever submitted on a closed or reused descriptor; writes already
 * submitted hold the file they were issued on. A port's frames leave in
 * order: the switch writes one directly only while none of that port's
 * frames wait in the uplink queue (whose frames count as waiting until their
 * submission, push_tx()).
 *
 * A submission of the worker ring can fail (-EBUSY, -EAGAIN, -EINTR) or stop
 * short at another request it could not start: the writes it did not take
 * stay in the SQ ring, and the worker's next submission, after fd_lock is
 * released, would pass them on, on a descriptor perhaps closed and reused
 * by then. So the flush tries again (DW_SUBMIT_TRIES in all), and withdraws
 * what is still left of its writes: fd -1 (each completes with -EBADF,
 * writing nothing, and gives its buffer back then), each frame handed back
 * to the switch for the uplink queue, in order (tx_requeued), the failed
 * attempts counted (tx_submit_errors).
 */
#include "tap.h"

#include "device.h"
#include "net.h"
#include "netsw.h"
#include "uring.h"

#include <stddef.h>

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define TAP_READS    16
#define TAP_WRITES   32
#define TAP_BUF	     2048
#define TAP_TXQ	     1024
#define TAP_MS_BUFS  64 /* provided buffers of the multishot read (a power of 2) */
#define TAP_BGID     1
#define TAP_DW_MAX   64 /* worker rings with a direct writer (more: queued) */
#define TAP_DW_SLOTS 64 /* direct writes in flight per worker ring */

/* Linux 6.7; Debian's kernel headers predate it (it follows SENDMSG_ZC). */
#ifndef IORING_OP_READ_MULTISHOT
#define IORING_OP_READ_MULTISHOT (IORING_OP_SENDMSG_ZC + 1)
#endif

enum { OP_READ = 1, OP_WRITE, OP_KICK, OP_TICK, OP_QUIT, OP_CANCEL };

struct tap_dw;

/* One direct write in flight: the frame's copy (the guest may rewrite its
 * buffer once it runs again; the switch checked this copy's source). */
struct tap_dslot {
	struct dev_io io;
	struct tap_dw *w;
	uint32_t len;
	int withdrawn; /* its frame was queued instead (dw_flush) */
	uint8_t buf[TAP_BUF];
};

/* A worker ring's direct writer: touched by that worker's thread only,
 * counters read plainly by tap_uplink_stats(). */
struct tap_dw {
	struct io_uring *ring;
	pthread_t owner;
	int locked; /* holds fd_lock (read side) until flush */
	unsigned prepped;
	int nfree;
	int free[TAP_DW_SLOTS];
	uint64_t frames, bytes, errors, shorts, submits;
	uint64_t submit_errors, requeued;
	int submit_logged;
	struct tap_dslot slot[TAP_DW_SLOTS];
};

struct tap_uplink {
	struct netsw *sw;
	char name[IFNAMSIZ];
	/* tap_uplink_attach() <-> the uplink thread, under lock: the name asked
	 * for, and the outcome of each attempt (attach_seq counts them). */
	pthread_mutex_t lock;
	pthread_cond_t attached;
	char want[IFNAMSIZ];
	unsigned attach_seq;
	int attach_rc;
	char attach_err[160];
	int fd; /* -1 while down; changed under fd_lock (write side), by the uplink thread */
	pthread_rwlock_t fd_lock;
	struct tap_dw *dw[TAP_DW_MAX]; /* made under lock */
	unsigned ndw;		       /* atomic */
	int efd;
	uint64_t efd_buf;
	int quit;
	int kick_pending; /* push_tx() at the end of this batch: kicked by itself, buffers freed */
	int reads_out, writes_out;
	uint8_t rx_busy[TAP_READS]; /* a read into this buffer is posted */
	uint32_t gen;		    /* bumped at every go_up(): reads carry it */
	/* Multishot: br (TAP_MS_BUFS entries) hands msbuf to the kernel; armed
	 * while the read of the current generation is posted. */
	int mshot, mshot_armed;
	struct io_uring_buf_ring *br;
	uint8_t (*msbuf)[TAP_BUF];
	int write_free[TAP_WRITES], nfree;
	struct io_uring ring;
	struct netq txq;
	pthread_t thread;
	sem_t ready; /* the thread has dropped its capabilities (start_rc) */
	int start_rc;
	int attach_logged; /* a failed re-attach was logged (once until one works) */
	struct __kernel_timespec tick;
	uint8_t rx[TAP_READS][TAP_BUF];
	uint8_t tx[TAP_WRITES][TAP_BUF];
	uint32_t tx_len[TAP_WRITES];
	struct tap_stats st;
};

/* The uplink ring reads and writes the tap and its eventfd, ticks, and
 * cancels the reads left on a tap it leaves for another (net attach). */
static const uint8_t tap_ops[] = {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_TIMEOUT,
				  IORING_OP_ASYNC_CANCEL, IORING_OP_READ_MULTISHOT};
/* Without the multishot read (a kernel that does not know the opcode
 * refuses the restriction): the first four, no buffer selection. */
static const struct uring_allow tap_allow_mshot = {tap_ops, sizeof(tap_ops) / sizeof(tap_ops[0]),
						   IOSQE_BUFFER_SELECT};
static const struct uring_allow tap_allow = {tap_ops, sizeof(tap_ops) / sizeof(tap_ops[0]) - 1, 0};

/* Bits 24..55 of a read's user_data: the fd generation it was posted on. */
static uint64_t ud(int op, unsigned slot)
{
	return (uint64_t)op << 56 | slot;
}

static uint64_t ud_read(const struct tap_uplink *u, unsigned slot)
{
	return ud(OP_READ, slot) | (uint64_t)u->gen << 24;
}

static struct io_uring_sqe *sqe_get(struct tap_uplink *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static int tap_open_fd(const char *name, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "tap %s: /dev/net/tun: %s", name, strerror(errno));
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		snprintf(err, errlen, "tap %s: TUNSETIFF: %s", name, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

/*
 * A tap is EBUSY while another file still holds it attached. Right after a
 * daemon is restarted that is usually the previous daemon itself: a killed
 * process's io_uring is torn down by a kernel worker after the process has
 * gone, and reads still posted on the tap keep it attached until then
 * (tens of milliseconds, longer under load). So a start waits for a busy
 * tap for a bounded time, saying so once, before it gives up.
 */
#define TAP_BUSY_WAIT_MS 10000
#define TAP_BUSY_STEP_MS 50

static int tap_open_fd_waiting(const char *name, char *err, size_t errlen)
{
	struct timespec step = {0, TAP_BUSY_STEP_MS * 1000000L};
	int fd = tap_open_fd(name, err, errlen);

	for (int waited = 0; fd == -EBUSY && waited < TAP_BUSY_WAIT_MS;
	     waited += TAP_BUSY_STEP_MS) {
		if (!waited)
			fprintf(
			    stderr,
			    "denalid: %s; waiting up to %d s for its previous holder to let go\n",
			    err, TAP_BUSY_WAIT_MS / 1000);
		nanosleep(&step, NULL);
		fd = tap_open_fd(name, err, errlen);
	}
	if (fd == -EBUSY)
		snprintf(err + strlen(err), errlen - strlen(err),
			 " (still attached elsewhere after %d s)", TAP_BUSY_WAIT_MS / 1000);
	return fd;
}

/* The multishot read on the current fd, into the buffer ring. */
static void post_mshot(struct tap_uplink *u)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (!sqe)
		return;
	io_uring_prep_rw(IORING_OP_READ_MULTISHOT, sqe, u->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = TAP_BGID;
	io_uring_sqe_set_data64(sqe, ud_read(u, 0));
	u->mshot_armed = 1;
	u->reads_out = 1;
}

/* Buffer bid back to the kernel, for the next frame. */
static void mshot_give_back(struct tap_uplink *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->msbuf[bid], TAP_BUF, (unsigned short)bid,
			      io_uring_buf_ring_mask(TAP_MS_BUFS), 0);
	io_uring_buf_ring_advance(u->br, 1);
}

static void post_read(struct tap_uplink *u, unsigned slot)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, u->fd, u->rx[slot], TAP_BUF, 0);
	io_uring_sqe_set_data64(sqe, ud_read(u, slot));
	u->reads_out++;
	u->rx_busy[slot] = 1;
}

static void post_kick(struct tap_uplink *u)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof(u->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, ud(OP_KICK, 0));
}

static void post_tick(struct tap_uplink *u)
{
	struct io_uring_sqe *sqe = sqe_get(u);

	if (!sqe)
		return;
	u->tick.tv_sec = 0;
	u->tick.tv_nsec = 500000000;
	io_uring_prep_timeout(sqe, &u->tick, 0, 0);
	io_uring_sqe_set_data64(sqe, ud(OP_TICK, 0));
}

static void fd_replace(struct tap_uplink *u, int fd)
{
	pthread_rwlock_wrlock(&u->fd_lock);
	if (u->fd >= 0)
		close(u->fd);
	__atomic_store_n(&u->fd, fd, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&u->fd_lock);
}

static void go_up(struct tap_uplink *u, int fd)
{
	fd_replace(u, fd);
	u->gen++;
	if (u->mshot) {
		post_mshot(u); /* the one of an old fd, if still armed, is stale from now on */
	} else {
		/* Buffers whose read on an old fd has not come back stay out. */
		for (unsigned i = 0; i < TAP_READS; i++)
			if (!u->rx_busy[i])
				post_read(u, i);
	}
	netsw_uplink_set_up(u->sw, 1);
	__atomic_store_n(&u->st.up, 1, __ATOMIC_RELEASE);
}

static void go_down(struct tap_uplink *u, int err)
{
	if (u->fd < 0)
		return;
	fprintf(stderr, "denalid: uplink %s is down (%s); VMs keep running\n", u->name,
		strerror(err));
	netsw_uplink_set_up(u->sw, 0);
	__atomic_store_n(&u->st.up, 0, __ATOMIC_RELEASE);
	u->st.down_events++;
	/* Reads still posted fail on the dead fd and are not reposted. */
	fd_replace(u, -1);
}

/* A deleted tap is not always seen by a read: with the workers writing to it
 * directly (their writes fail, counted in tx_errors) the read can stay
 * armed on the detached file. The tick asks the file itself: TUNGETIFF on a
 * tun file whose device is gone fails with EBADFD. */
static void probe_tap(struct tap_uplink *u)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(u->fd, TUNGETIFF, &ifr) < 0 && (errno == EBADFD || errno == ENODEV))
		go_down(u, errno);
}

/* The uplink leaves its tap for another (net attach): like going down, but
 * not counted as a failure. */
static void leave_tap(struct tap_uplink *u)
{
	/* Its reads would wait for a frame on that tap, holding their buffers:
	 * cancelled, they come back (stale, by their generation) and are posted
	 * again on the new tap. The multishot read holds no buffer while it
	 * waits, but it holds the tap: cancelled too. */
	for (unsigned i = 0; i < (u->mshot ? 1u : TAP_READS); i++) {
		struct io_uring_sqe *sqe;

		if (!(u->mshot ? u->mshot_armed : u->rx_busy[i]) || !(sqe = sqe_get(u)))
			continue;
		io_uring_prep_cancel64(sqe, ud_read(u, i), 0);
		io_uring_sqe_set_data64(sqe, ud(OP_CANCEL, 0));
	}
	u->mshot_armed = 0;
	netsw_uplink_set_up(u->sw, 0);
	__atomic_store_n(&u->st.up, 0, __ATOMIC_RELEASE);
	fd_replace(u, -1);
}

static void try_reattach(struct tap_uplink *u)
{
	char path[64], err[160] = "", want[IFNAMSIZ];
	int fd, asked;

	pthread_mutex_lock(&u->lock);
	snprintf(want, sizeof(want), "%s", u->want);
	u->want[0] = 0;
	pthread_mutex_unlock(&u->lock);
	asked = want[0] != 0;
	if (asked && u->fd >= 0 && !strcmp(want, u->name)) {
		fd = 0; /* up on it already */
		goto done;
	}
	if (!asked) {
		snprintf(path, sizeof(path), "/sys/class/net/%s", u->name);
		if (access(path, F_OK) != 0)
			return; /* not there yet: only attach, never create, here */
	}
	fd = tap_open_fd(asked ? want : u->name, err, sizeof(err));
	/* Up on a tap and the new one fails: it stays where it is. Down: it
	 * waits for the tap asked for from now on. */
	if (asked && (fd >= 0 || u->fd < 0)) {
		if (u->fd >= 0) {
			fprintf(stderr, "denalid: uplink leaves %s for %s\n", u->name, want);
			leave_tap(u);
		}
		snprintf(u->name, sizeof(u->name), "%s", want);
	}
	if (fd < 0) {
		if (!u->attach_logged || asked)
			fprintf(stderr, "denalid: uplink: %s; retrying\n", err);
		u->attach_logged = 1;
		goto done;
	}
	u->attach_logged = 0;
	fprintf(stderr, "denalid: uplink %s attached again\n", u->name);
	u->st.reattaches++;
	go_up(u, fd);
	fd = 0;
done:
	if (!asked)
		return;
	pthread_mutex_lock(&u->lock);
	u->attach_rc = fd;
	snprintf(u->attach_err, sizeof(u->attach_err), "%s", err);
	u->attach_seq++;
	pthread_cond_broadcast(&u->attached);
	pthread_mutex_unlock(&u->lock);
}

/* Only if tap_uplink_attach() asked. */
static void try_reattach_asked(struct tap_uplink *u)
{
	int asked;

	pthread_mutex_lock(&u->lock);
	asked = u->want[0] != 0;
	pthread_mutex_unlock(&u->lock);
	if (asked)
		try_reattach(u);
}

/* Moves queued frames into free tx buffers: one submission for all. */
static void push_tx(struct tap_uplink *u)
{
	uint16_t tags[TAP_WRITES];
	unsigned queued = 0;

	for (;;) {
		const struct netq_cell *c;

		while (u->fd >= 0 && u->nfree > 0 && (c = netq_peek(&u->txq)) != NULL) {
			int slot = u->write_free[--u->nfree];
			struct io_uring_sqe *sqe = sqe_get(u);

			if (!sqe) {
				u->nfree++;
				break;
			}
			memcpy(u->tx[slot], c->data, c->len);
			u->tx_len[slot] = c->len;
			tags[queued] = netsw_uplink_pop_keep(u->sw, &u->txq);
			io_uring_prep_write(sqe, u->fd, u->tx[slot], c->len, 0);
			io_uring_sqe_set_data64(sqe, ud(OP_WRITE, (unsigned)slot));
			u->writes_out++;
			queued++;
		}
		if (u->fd < 0) { /* down: what is queued is dropped */
			while (netq_peek(&u->txq))
				netsw_uplink_pop(u->sw, &u->txq);
		}
		if (netq_peek(&u->txq) || !netsw_uplink_rearm(u->sw))
			break;
	}
	if (queued) {
		u->st.tx_submits++;
		io_uring_submit(&u->ring);
		/* Submitted (a tap write completes inside the submission): the
		 * ports' direct writers may go on from here. */
		for (unsigned i = 0; i < queued; i++)
			netsw_uplink_release(u->sw, tags[i]);
	}
}

/* A completion of the multishot read: a frame in a provided buffer (given
 * back at once: the switch copies what it keeps), or its end (no
 * IORING_CQE_F_MORE: an error, -ENOBUFS when every buffer was out, a
 * cancel), after which it is posted again while the tap is up. */
static void on_mshot(struct tap_uplink *u, int stale, int res, unsigned flags)
{
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = (flags >> IORING_CQE_BUFFER_SHIFT) % TAP_MS_BUFS;

		if (!stale && res > 0) {
			u->st.rx_frames++;
			u->st.rx_bytes += (uint64_t)res;
			netsw_input(u->sw, u->msbuf[bid], (uint32_t)res);
		}
		mshot_give_back(u, bid);
	}
	if (stale)
		return; /* cancelled, failed with its tap, or a last frame from it */
	if (!(flags & IORING_CQE_F_MORE)) {
		u->mshot_armed = 0;
		u->reads_out = 0;
	}
	if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ENOBUFS && res != -ECANCELED) {
		u->st.rx_errors++;
		go_down(u, -res);
	}
	if (!u->mshot_armed && u->fd >= 0 && !u->quit)
		post_mshot(u);
}

static void on_cqe(struct tap_uplink *u, uint64_t data, int res, unsigned flags)
{
	unsigned slot = (unsigned)(data & 0xffffffu);
	int stale = (uint32_t)(data >> 24) != u->gen; /* a read on a tap left behind */

	switch ((int)(data >> 56)) {
	case OP_READ:
		if (u->mshot) {
			on_mshot(u, stale, res, flags);
			break;
		}
		u->reads_out--;
		u->rx_busy[slot] = 0;
		if (stale) {
			/* Cancelled, failed with its tap, or a last frame from it: dropped. */
		} else if (res > 0) {
			u->st.rx_frames++;
			u->st.rx_bytes += (uint64_t)res;
			netsw_input(u->sw, u->rx[slot], (uint32_t)res);
		} else if (res < 0 && res != -EAGAIN && res != -EINTR) {
			u->st.rx_errors++;
			go_down(u, -res);
		}
		if (u->fd >= 0 && !u->quit)
			post_read(u, slot);
		break;
	case OP_WRITE:
		u->writes_out--;
		u->write_free[u->nfree++] = (int)slot;
		if (res < 0) {
			u->st.tx_errors++;
		} else if ((uint32_t)res < u->tx_len[slot]) {
			u->st.tx_short++;
		} else {
			u->st.tx_frames++;
			u->st.tx_bytes += (uint64_t)res;
		}
		/* Its buffer is refilled at the end of the batch, with every other
		 * one freed in it: one submission for all. (A tap write completes
		 * inside the submission, so refilling here at each completion made
		 * one system call per frame, and the batch went on, up to the
		 * size of the CQ, while the queue had frames: the wake-ups of the
		 * VMs whose frames it read meanwhile were deferred to its end.) */
		u->kick_pending = 1;
		break;
	case OP_KICK:
		if (res < 0 && res != -EAGAIN && res != -EINTR)
			fprintf(stderr, "denalid: uplink eventfd: %s\n", strerror(-res));
		if (!u->quit) {
			post_kick(u);
			try_reattach_asked(u);
			push_tx(u);
		}
		break;
	case OP_TICK:
		/* -ETIME is the timeout expiring, the normal case. */
		if (u->quit)
			break;
		if (u->fd >= 0)
			probe_tap(u);
		if (u->fd < 0)
			try_reattach(u);
		else
			try_reattach_asked(u);
		post_tick(u);
		break;
	}
}

/*
 * The thread holds no capability: the tap is opened (or created) by the
 * caller of tap_uplink_open(), and re-attaching only opens a tap that
 * exists, which the kernel allows without CAP_NET_ADMIN when the tap has no
 * owner or group (`ip tuntap add` without `user`/`group`) or they are ours
 * (tun_not_capable()); /dev/net/tun is root's and we run as root. A tap
 * owned by another user cannot be re-attached: the attempt is logged and
 * retried on the tick.
 */
static int uplink_confine(void)
{
	prctl(PR_SET_NAME, "denali-uplink");
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0 && geteuid() == 0)
		return -EPERM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Set on the uplink thread: the frames it queues for the uplink itself
 * (replies of a running VM it drains, net.c) need no eventfd. */
static __thread struct tap_uplink *uplink_self;

static void *uplink_main(void *arg)
{
	struct tap_uplink *u = arg;

	u->start_rc = uplink_confine();
	sem_post(&u->ready);
	if (u->start_rc)
		return NULL;
	uplink_self = u;
	post_kick(u);
	post_tick(u);
	io_uring_submit(&u->ring);
	while (!__atomic_load_n(&u->quit, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int rc = io_uring_submit_and_wait(&u->ring, 1);

		if (rc < 0 && rc != -EINTR && rc != -EBUSY) {
			fprintf(stderr, "denalid: uplink io_uring: %s\n", strerror(-rc));
			break;
		}
		/* The frames of one batch reach each VM with one wake-up. */
		net_defer_begin();
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			on_cqe(u, io_uring_cqe_get_data64(cqe), cqe->res, cqe->flags);
			n++;
		}
		net_defer_end();
		io_uring_cq_advance(&u->ring, n);
		/* Replies queued by this batch: written in the same submission. */
		if (u->kick_pending) {
			u->kick_pending = 0;
			push_tx(u);
		}
	}
	return NULL;
}

static void kick(void *arg)
{
	struct tap_uplink *u = arg;
	uint64_t one = 1;

	if (uplink_self == u) { /* from inside its own batch: pushed at its end */
		u->kick_pending = 1;
		return;
	}
	if (write(u->efd, &one, sizeof(one)) < 0)
		return; /* the counter is full: a kick is pending anyway */
}

/* --- direct writes from the workers (netsw_up_direct) ------------------------ */

static int direct_on = 1; /* tap_set_direct_writes() */

void tap_set_direct_writes(int on)
{
	__atomic_store_n(&direct_on, on, __ATOMIC_RELAXED);
}

static void dw_done(struct dev_io *io, int res)
{
	struct tap_dslot *s = (struct tap_dslot *)((char *)io - offsetof(struct tap_dslot, io));
	struct tap_dw *w = s->w;

	w->free[w->nfree++] = (int)(s - w->slot);
	if (s->withdrawn) { /* -EBADF, nothing written: its frame went to the queue */
		s->withdrawn = 0;
		return;
	}
	if (res < 0) {
		w->errors++;
	} else if ((uint32_t)res < s->len) {
		w->shorts++;
	} else {
		w->frames++;
		w->bytes += (uint64_t)res;
	}
}

/* The writer of ring, made at its first frame; NULL when the table is full
 * or the memory is not there (its frames are queued). */
static struct tap_dw *dw_of(struct tap_uplink *u, struct io_uring *ring)
{
	unsigned n = __atomic_load_n(&u->ndw, __ATOMIC_ACQUIRE);
	struct tap_dw *w = NULL;

	for (unsigned i = 0; i < n; i++)
		if (u->dw[i]->ring == ring)
			return pthread_equal(u->dw[i]->owner, pthread_self()) ? u->dw[i] : NULL;
	pthread_mutex_lock(&u->lock);
	n = u->ndw;
	if (n < TAP_DW_MAX && (w = calloc(1, sizeof(*w))) != NULL) {
		w->ring = ring;
		w->owner = pthread_self();
		for (int i = 0; i < TAP_DW_SLOTS; i++) {
			w->slot[i].io.done = dw_done;
			w->slot[i].w = w;
			w->free[w->nfree++] = i;
		}
		u->dw[n] = w;
		__atomic_store_n(&u->ndw, n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&u->lock);
	return w;
}

static int dw_take(void *arg, struct io_uring *ring, const uint8_t *frame, uint32_t len)
{
	struct tap_uplink *u = arg;
	struct tap_dw *w = dw_of(u, ring);
	struct io_uring_sqe *sqe;
	struct tap_dslot *s;
	int fd;

	if (!w || !w->nfree || len > TAP_BUF)
		return 0;
	if (!w->locked) {
		pthread_rwlock_rdlock(&u->fd_lock);
		w->locked = 1;
	}
	fd = __atomic_load_n(&u->fd, __ATOMIC_ACQUIRE);
	if (fd < 0)
		return -1;
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return 0;
	s = &w->slot[w->free[--w->nfree]];
	memcpy(s->buf, frame, len);
	s->len = len;
	io_uring_prep_write(sqe, fd, s->buf, len, 0);
	io_uring_sqe_set_data64(sqe, dev_io_data(&s->io));
	w->prepped++;
	return 1;
}

#define DW_SUBMIT_TRIES 3

static int (*dw_submit)(struct io_uring *ring) = io_uring_submit;

void tap_test_set_submit(int (*submit)(struct io_uring *ring))
{
	dw_submit = submit ? submit : io_uring_submit;
}

/* The writes of w still in the SQ ring after a submission (dw_flush). */
struct dw_left {
	struct tap_dw *w;
	netsw_requeue_fn *requeue;
	void *ctx;
	unsigned n;
};

static struct tap_dslot *dw_slot_of(struct tap_dw *w, uint64_t data)
{
	uintptr_t p = (uintptr_t)DEV_UD_OBJ(data);

	if (DEV_UD_OP(data) != DEV_UD_DEVIO || p < (uintptr_t)&w->slot[0] ||
	    p >= (uintptr_t)&w->slot[TAP_DW_SLOTS])
		return NULL;
	return (struct tap_dslot *)(p - offsetof(struct tap_dslot, io));
}

static void dw_count_left(struct io_uring_sqe *sqe, void *arg)
{
	struct dw_left *l = arg;

	if (dw_slot_of(l->w, sqe->user_data))
		l->n++;
}

static void dw_withdraw(struct io_uring_sqe *sqe, void *arg)
{
	struct dw_left *l = arg;
	struct tap_dslot *s = dw_slot_of(l->w, sqe->user_data);

	if (!s)
		return; /* another device's: the worker submits it later */
	sqe->fd = -1;
	s->withdrawn = 1;
	l->w->requeued++;
	l->requeue(l->ctx, s->buf, s->len);
}

static void dw_flush(void *arg, struct io_uring *ring, netsw_requeue_fn *requeue, void *ctx)
{
	struct tap_uplink *u = arg;
	struct tap_dw *w = dw_of(u, ring);

	if (!w)
		return;
	if (w->prepped) {
		struct dw_left l = {w, requeue, ctx, 0};
		int rc = 0;

		/* Under fd_lock: the fd of these writes is the one they go to,
		 * and none of them may stay behind for a later submission. */
		for (int t = 0; t < DW_SUBMIT_TRIES; t++) {
			rc = dw_submit(ring);
			l.n = 0;
			uring_sq_unsubmitted(ring, dw_count_left, &l);
			if (!l.n)
				break;
			w->submit_errors++;
		}
		if (l.n) {
			if (!w->submit_logged)
				fprintf(
				    stderr,
				    "denalid: uplink %s: a worker ring left %u writes unsubmitted "
				    "(%s); queued for the uplink thread instead\n",
				    u->name, l.n, rc < 0 ? strerror(-rc) : "stopped short");
			w->submit_logged = 1;
			uring_sq_unsubmitted(ring, dw_withdraw, &l);
		}
		w->submits++;
		w->prepped = 0;
	}
	if (w->locked) {
		w->locked = 0;
		pthread_rwlock_unlock(&u->fd_lock);
	}
}

static const struct netsw_up_direct tap_direct = {dw_take, dw_flush};

/* Registers the buffer ring of the multishot read (before the ring is
 * enabled: no register operation is allowed after). */
static int mshot_setup(struct io_uring *ring, void *arg)
{
	struct tap_uplink *u = arg;
	struct io_uring_buf_reg reg;
	int rc;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = TAP_MS_BUFS;
	reg.bgid = TAP_BGID;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(u->br);
	for (unsigned i = 0; i < TAP_MS_BUFS; i++)
		io_uring_buf_ring_add(u->br, u->msbuf[i], TAP_BUF, (unsigned short)i,
				      io_uring_buf_ring_mask(TAP_MS_BUFS), (int)i);
	io_uring_buf_ring_advance(u->br, TAP_MS_BUFS);
	return 0;
}

static int multishot_on = 1; /* tap_set_multishot() */

void tap_set_multishot(int on)
{
	__atomic_store_n(&multishot_on, on, __ATOMIC_RELAXED);
}

/* The uplink's ring: with the multishot read if this kernel has it (and
 * the buffer ring), else with one read per buffer. */
static int uplink_ring_init(struct tap_uplink *u)
{
	int restricted, rc;

	if (!__atomic_load_n(&multishot_on, __ATOMIC_RELAXED))
		return uring_init_restricted(&u->ring, 128, &tap_allow, &restricted);
	u->br = aligned_alloc(4096, TAP_MS_BUFS * sizeof(struct io_uring_buf));
	u->msbuf = malloc(TAP_MS_BUFS * sizeof(*u->msbuf));
	if (u->br && u->msbuf) {
		rc = uring_init_restricted_setup(&u->ring, 128, &tap_allow_mshot, &restricted,
						 mshot_setup, u);
		if (rc == 0) {
			u->mshot = u->st.multishot = 1;
			return 0;
		}
	}
	free(u->br);
	free(u->msbuf);
	u->br = NULL;
	u->msbuf = NULL;
	return uring_init_restricted(&u->ring, 128, &tap_allow, &restricted);
}

int tap_uplink_open(struct netsw *sw, const char *name, int wait_busy, struct tap_uplink **out,
		    char *err, size_t errlen)
{
	struct tap_uplink *u;
	int rc, fd;

	if (!name[0] || strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap name '%s' is not 1..%d characters", name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->sw = sw;
	u->fd = -1;
	pthread_rwlock_init(&u->fd_lock, NULL);
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->attached, NULL);
	snprintf(u->name, sizeof(u->name), "%s", name);
	for (int i = 0; i < TAP_WRITES; i++)
		u->write_free[u->nfree++] = i;
	rc = netq_init(&u->txq, TAP_TXQ);
	if (rc)
		goto fail_free;
	u->efd = eventfd(0, EFD_CLOEXEC);
	if (u->efd < 0) {
		rc = -errno;
		goto fail_q;
	}
	rc = uplink_ring_init(u);
	if (rc)
		goto fail_efd;
	fd = wait_busy ? tap_open_fd_waiting(name, err, errlen) : tap_open_fd(name, err, errlen);
	if (fd < 0) {
		rc = fd;
		goto fail_ring;
	}
	go_up(u, fd);
	netsw_set_uplink(sw, &u->txq, kick, u);
	if (__atomic_load_n(&direct_on, __ATOMIC_RELAXED))
		netsw_set_uplink_direct(sw, &tap_direct, u);
	sem_init(&u->ready, 0, 0);
	rc = -pthread_create(&u->thread, NULL, uplink_main, u);
	if (rc == 0) {
		/* Counted by privs_threads_with_caps() as soon as we return. */
		while (sem_wait(&u->ready) < 0 && errno == EINTR)
			;
		rc = u->start_rc;
		if (rc)
			pthread_join(u->thread, NULL);
	}
	sem_destroy(&u->ready);
	if (rc) {
		snprintf(err, errlen, "uplink thread: %s", strerror(-rc));
		netsw_set_uplink_direct(sw, NULL, NULL);
		netsw_set_uplink(sw, NULL, NULL, NULL);
		close(u->fd);
		goto fail_ring;
	}
	*out = u;
	return 0;
fail_ring:
	io_uring_queue_exit(&u->ring);
	free(u->br);
	free(u->msbuf);
fail_efd:
	close(u->efd);
fail_q:
	netq_free(&u->txq);
fail_free:
	if (rc != -EINVAL && !err[0])
		snprintf(err, errlen, "uplink %s: %s", name, strerror(-rc));
	pthread_cond_destroy(&u->attached);
	pthread_mutex_destroy(&u->lock);
	pthread_rwlock_destroy(&u->fd_lock);
	free(u);
	return rc;
}

int tap_uplink_attach(struct tap_uplink *u, const char *name, char *err, size_t errlen)
{
	const char *n = name ? name : u->name;
	struct timespec until;
	unsigned seq;
	int rc = 0;

	if (!n[0] || strlen(n) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap name '%s' is not 1..%d characters", n, IFNAMSIZ - 1);
		return -EINVAL;
	}
	/* The uplink thread owns the fd: it takes the name at its next wake-up
	 * (the kick below) and says how it went. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&u->lock);
	snprintf(u->want, sizeof(u->want), "%s", n);
	seq = u->attach_seq;
	kick(u);
	while (u->attach_seq == seq && rc == 0)
		rc = pthread_cond_timedwait(&u->attached, &u->lock, &until);
	if (u->attach_seq != seq) {
		rc = u->attach_rc;
		if (rc)
			snprintf(err, errlen, "%s", u->attach_err);
	} else {
		rc = -ETIMEDOUT;
		snprintf(err, errlen, "uplink: no answer from the uplink thread");
	}
	pthread_mutex_unlock(&u->lock);
	return rc;
}

void tap_uplink_stats(const struct tap_uplink *u, struct tap_stats *out)
{
	unsigned n = __atomic_load_n(&u->ndw, __ATOMIC_ACQUIRE);

	*out = u->st;
	for (unsigned i = 0; i < n; i++) {
		const struct tap_dw *w = u->dw[i];

		out->tx_frames += w->frames;
		out->tx_direct += w->frames;
		out->tx_bytes += w->bytes;
		out->tx_errors += w->errors;
		out->tx_short += w->shorts;
		out->tx_submits += w->submits;
		out->tx_submit_errors += w->submit_errors;
		out->tx_requeued += w->requeued;
	}
}

const char *tap_uplink_name(const struct tap_uplink *u)
{
	return u->name;
}

void tap_uplink_close(struct tap_uplink *u)
{
	if (!u)
		return;
	netsw_uplink_set_up(u->sw, 0);
	__atomic_store_n(&u->quit, 1, __ATOMIC_RELEASE);
	kick(u);
	pthread_join(u->thread, NULL);
	netsw_set_uplink_direct(u->sw, NULL, NULL);
	netsw_set_uplink(u->sw, NULL, NULL, NULL);
	/* The workers have stopped: no direct write is left to reap. */
	for (unsigned i = 0; i < u->ndw; i++)
		free(u->dw[i]);
	io_uring_queue_exit(&u->ring);
	free(u->br); /* the kernel lets go of it with the ring */
	free(u->msbuf);
	if (u->fd >= 0)
		close(u->fd);
	close(u->efd);
	netq_free(&u->txq);
	pthread_cond_destroy(&u->attached);
	pthread_mutex_destroy(&u->lock);
	pthread_rwlock_destroy(&u->fd_lock);
	free(u);
}

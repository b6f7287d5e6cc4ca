/*
 * Block device. A request: the descriptor covers a struct denali_blk_req and
 * its data; both are checked inside guest memory (a header that runs past
 * the end of memory is a fault that kills the VM). The request itself is
 * checked against the disk (sector + nsectors, overflow-safe), and a bad
 * one gets DENALI_BLK_S_IOERR. Reads and writes go straight between the
 * file and guest memory through io_uring; a short transfer is resubmitted
 * for the rest; flush is an fdatasync. One exception, measured faster
 * (bench/blk/README): the block poller answers a read of at most 64 KiB
 * that is in the page cache itself, with preadv2(RWF_NOWAIT) (read_now(),
 * counted in blk_read_now); anything else, and the rest of a read that is
 * only partly cached, goes through the io_uring as above. Guest memory
 * stays mapped while requests are in flight: quiesce() waits for them
 * before it can go.
 *
 * A direct disk (BLK_F_DIRECT) has a second descriptor of the same file
 * opened O_DIRECT: a read or write whose guest buffer, offset and length
 * are aligned as the file system asks (statx STATX_DIOALIGN, else 4 KiB)
 * goes through it, bypassing the page cache; any other request (and the
 * rest of a short transfer) goes through the buffered one, so a guest that
 * does not align still works. Both see the same file.
 *
 * A swapped-out VM holds no descriptor of its disk: park() closes them
 * (no request is in flight then: a VM with one is not swapped out) and
 * reopen() opens the path again before the swap-in, off the workers (their
 * seccomp filter refuses every open). The file must be the one first
 * opened (same device, inode and birth time): a file put at its path
 * meanwhile, or one that shrank below the disk's size, is refused, the
 * swap-in fails and the VM is killed with that reason.
 */
#include "blk.h"

#include "../vmm/gpa.h"
#include "blk_poll.h"
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/stat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define BLK_RETRIES 8 /* -EAGAIN/-EINTR in a row before a request fails */
/* The poller reads this much at most itself, under the device lock (a copy
 * of ~10 us); longer reads go through its io_uring, with the lock free. */
#define BLK_READ_NOW_MAX (64u << 10)

struct blk_dev;

struct blk_req {
	struct dev_io io; /* first */
	struct blk_dev *b;
	struct io_uring *ring; /* submitted to: the worker's, or its poller's */
	uint8_t *data;	       /* host view of the guest buffer */
	uint64_t off;	       /* file offset */
	uint32_t len, done;
	uint32_t op;
	uint16_t id;	 /* the guest's descriptor id */
	uint8_t retries; /* -EAGAIN/-EINTR answers so far */
	uint8_t polled;	 /* taken by the poller, completed on its thread */
	int busy;
};

struct blk_stats {
	uint64_t reads, writes, flushes;
	uint64_t read_bytes, write_bytes;
	uint64_t err_range, err_rdonly, err_bad, err_io;
	uint64_t resubmits; /* short transfers continued, EAGAIN/EINTR retried */
	uint64_t inflight_peak;
	uint64_t direct, buffered; /* of a direct disk: submissions each way */
	uint64_t inline_done;	   /* requests complete when their submit returned */
	uint64_t polled;	   /* requests taken by the poller while the guest ran */
	uint64_t read_now;	   /* of those, reads it answered itself (page-cache hits) */
};

/*
 * lock guards the rings, the requests and the counters: the worker takes
 * requests at entries and exits, the poller (if any) while the guest runs,
 * between fill() and drain() (live). Nothing is called with it held that
 * takes another lock, except the poller's own, which is always taken first.
 */
struct blk_dev {
	struct device dev;
	int fd, ro; /* fd -1 while parked (swapped out) */
	int direct;
	char *path; /* for reopen(); NULL: never parked (no path to open again) */
	uint64_t st_dev, st_ino, btime_ns; /* what the path must name at reopen() */
	int parked;
	int reopen_err;	    /* of the last reopen(), what unpark() answers */
	int dfd;	    /* O_DIRECT descriptor of a direct disk, or -1 */
	uint32_t dio_align; /* of memory, offset and length, for dfd */
	uint64_t sectors;
	struct dev_host host;
	int attached;
	pthread_mutex_t lock;
	pthread_cond_t polled_done; /* inflight_polled fell to 0 */
	struct blk_poll *poll;	    /* the worker's poller, or NULL */
	int watched;		    /* added to it */
	int live;		    /* atomic: the guest runs, the poller may take */
	uint32_t flags_shown;	    /* the ring's mon_flags as last written */
	int faulted;		    /* found by the poller; why holds the reason */
	char why[DEV_WHY_MAX];
	uint8_t *mem; /* of the VM, for completions (memory does not move) */
	uint64_t mem_size;
	uint32_t cons, used_prod;
	unsigned inflight, inflight_polled;
	struct blk_req req[BLK_INFLIGHT_MAX];
	struct blk_stats st;
};

static struct denali_ring *ring_of(uint8_t *mem)
{
	return (struct denali_ring *)(mem + DENALI_BLK_RING_GPA);
}

/* Writes one completion (lock held; the guest may be running). */
static void complete(struct blk_dev *b, uint16_t id, uint32_t status)
{
	struct denali_ring *r = ring_of(b->mem);
	uint32_t slot = b->used_prod % DENALI_RING_SIZE;

	r->used[slot].id = id;
	r->used[slot].len = status;
	b->used_prod++;
	ring_write_index(&r->used_prod, b->used_prod);
}

/* Tells the guest that completions are there (lock held): a running one
 * sees the event bit in its shared page with no exit; otherwise 1, and the
 * caller wakes it through its worker once the lock is dropped. */
static int notify_locked(struct blk_dev *b)
{
	if (__atomic_load_n(&b->live, __ATOMIC_ACQUIRE) && b->mem) {
		__atomic_fetch_or((uint64_t *)(b->mem + DENALI_SHARED_GPA), DENALI_EV_BLK,
				  __ATOMIC_RELEASE);
		return 0;
	}
	return 1;
}

/* The descriptor for the rest of q: the direct one if it may take it. */
static int fd_for(struct blk_req *q)
{
	struct blk_dev *b = q->b;
	uint64_t a = b->dio_align - 1;

	if (b->dfd < 0 || q->op == DENALI_BLK_FLUSH)
		return b->fd;
	if (((uintptr_t)(q->data + q->done) & a) || ((q->off + q->done) & a) ||
	    ((q->len - q->done) & a)) {
		b->st.buffered++;
		return b->fd;
	}
	b->st.direct++;
	return b->dfd;
}

static int submit(struct blk_req *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(q->ring);
	int fd;

	if (!sqe) {
		io_uring_submit(q->ring);
		sqe = io_uring_get_sqe(q->ring);
		if (!sqe)
			return -EBUSY;
	}
	fd = fd_for(q);
	switch (q->op) {
	case DENALI_BLK_READ:
		io_uring_prep_read(sqe, fd, q->data + q->done, q->len - q->done, q->off + q->done);
		break;
	case DENALI_BLK_WRITE:
		io_uring_prep_write(sqe, fd, q->data + q->done, q->len - q->done, q->off + q->done);
		break;
	default:
		io_uring_prep_fsync(sqe, q->b->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data64(sqe, dev_io_data(&q->io));
	return 0;
}

/* Lock held. 1 when the caller must wake the VM (notify_locked). */
static int finish_req(struct blk_req *q, uint32_t status)
{
	struct blk_dev *b = q->b;

	q->busy = 0;
	b->inflight--;
	if (q->polled && --b->inflight_polled == 0)
		pthread_cond_broadcast(&b->polled_done);
	complete(b, q->id, status);
	return notify_locked(b);
}

/* On the thread that owns q->ring: the worker, or the poller. */
static void on_done(struct dev_io *io, int res)
{
	struct blk_req *q = (struct blk_req *)io;
	struct blk_dev *b = q->b;
	int wake = 0;

	pthread_mutex_lock(&b->lock);
	if ((res == -EAGAIN || res == -EINTR) && q->retries < BLK_RETRIES) {
		q->retries++; /* nothing was done: the same request again */
		b->st.resubmits++;
		if (submit(q) == 0)
			goto out;
	}
	if (res < 0 || (res == 0 && q->op != DENALI_BLK_FLUSH)) {
		b->st.err_io++; /* EIO, ENOSPC, or the file shrank under us */
		wake = finish_req(q, DENALI_BLK_S_IOERR);
		goto out;
	}
	if (q->op != DENALI_BLK_FLUSH) {
		q->done += (uint32_t)res;
		if (q->done < q->len) { /* short: the rest, from where it stopped */
			b->st.resubmits++;
			if (submit(q) == 0)
				goto out;
			b->st.err_io++;
			wake = finish_req(q, DENALI_BLK_S_IOERR);
			goto out;
		}
	}
	wake = finish_req(q, DENALI_BLK_S_OK);
out:
	pthread_mutex_unlock(&b->lock);
	if (wake)
		b->host.wake(b->host.wake_arg, DENALI_EV_BLK);
}

/* Checks one request against the disk; DENALI_BLK_S_OK or the status. */
static uint32_t check(struct blk_dev *b, const struct denali_blk_req *h, uint64_t data_len)
{
	uint64_t end;

	if (h->op == DENALI_BLK_FLUSH && b->ro) {
		b->st.err_rdonly++; /* abi.h: a write or flush to a read-only disk */
		return DENALI_BLK_S_RDONLY;
	}
	if (h->op == DENALI_BLK_FLUSH)
		return DENALI_BLK_S_OK;
	if (h->op != DENALI_BLK_READ && h->op != DENALI_BLK_WRITE) {
		b->st.err_bad++;
		return DENALI_BLK_S_UNSUPP;
	}
	if ((uint64_t)h->nsectors * DENALI_BLK_SECTOR != data_len) {
		b->st.err_bad++;
		return DENALI_BLK_S_IOERR;
	}
	if (__builtin_add_overflow(h->sector, (uint64_t)h->nsectors, &end) || end > b->sectors) {
		b->st.err_range++;
		return DENALI_BLK_S_IOERR;
	}
	if (h->op == DENALI_BLK_WRITE && b->ro) {
		b->st.err_rdonly++;
		return DENALI_BLK_S_RDONLY;
	}
	return DENALI_BLK_S_OK;
}

/*
 * The poller's read of a page-cache hit, done at once on its thread: one
 * preadv2(RWF_NOWAIT) instead of an io_uring submit and reap. RWF_NOWAIT
 * never waits for the disk: what is not cached (or only partly) goes through
 * io_uring for the rest, as any request. 1 if q is all read.
 */
static int read_now(struct blk_req *q)
{
	struct iovec iov = {q->data, q->len};
	ssize_t n;

	if (q->op != DENALI_BLK_READ || q->b->dfd >= 0 || q->len > BLK_READ_NOW_MAX)
		return 0;
	n = preadv2(q->b->fd, &iov, 1, (off_t)q->off, RWF_NOWAIT);
	if (n > 0 && (uint64_t)n <= q->len)
		q->done = (uint32_t)n;
	return q->done == q->len;
}

/*
 * Takes up to max requests from the ring while the in-flight cap allows,
 * preparing them on ring (not submitted). The one place that reads what the guest
 * posted: each index, descriptor and header is copied into host memory once,
 * then checked, then used, so a guest changing them meanwhile (it may be
 * running: the poller) changes nothing. Lock held. Requests queued (>= 0),
 * or -EFAULT with why.
 */
static int take(struct blk_dev *b, const struct dev_guest *g, struct io_uring *ring, int polled,
		unsigned max, char *why, size_t whylen)
{
	struct denali_ring *r = ring_of(g->mem);
	uint32_t prod = ring_read_index(&r->avail_prod);
	int pending = ring_pending(prod, b->cons), queued = 0;

	if (pending == 0)
		return 0;
	if (pending < 0)
		return dev_fault(
		    why, whylen,
		    "blk ring: producer index %u is out of range (consumer %u, size %u)", prod,
		    b->cons, DENALI_RING_SIZE);
	b->mem = g->mem;
	b->mem_size = g->mem_size;
	for (unsigned n = 0; b->cons != prod && b->inflight < BLK_INFLIGHT_MAX && n < max; n++) {
		uint32_t slot = b->cons % DENALI_RING_SIZE, status;
		struct denali_blk_req h;
		struct denali_desc d;
		struct blk_req *q;
		const void *hp;
		uint8_t *data;

		memcpy(&d, &r->desc[slot], sizeof(d));
		hp = d.len >= sizeof(h)
			 ? gpa_to_hva(g->mem, g->mem_size, d.addr, sizeof(h), GPA_READ)
			 : NULL;
		if (!hp)
			return dev_fault(
			    why, whylen,
			    "blk ring: descriptor %u request header [0x%lx, +%zu) is outside "
			    "guest memory or longer than the descriptor (%u bytes)",
			    slot, d.addr, sizeof(h), d.len);
		memcpy(&h, hp, sizeof(h));
		/* A read writes guest memory; anything else only reads it. */
		data = gpa_to_hva(g->mem, g->mem_size, d.addr + sizeof(h), d.len - sizeof(h),
				  h.op == DENALI_BLK_READ ? GPA_WRITE : GPA_READ);
		if (!data)
			return dev_fault(
			    why, whylen,
			    "blk ring: descriptor %u [0x%lx, +%u) is outside guest memory", slot,
			    d.addr, d.len);
		b->cons++;
		status = check(b, &h, d.len - sizeof(h));
		if (status != DENALI_BLK_S_OK || (h.op != DENALI_BLK_FLUSH && h.nsectors == 0)) {
			complete(b, d.id, status); /* answered without I/O */
			continue;
		}
		if (!ring) {
			complete(b, d.id, DENALI_BLK_S_IOERR);
			continue;
		}
		for (q = b->req; q->busy; q++)
			;
		*q = (struct blk_req){.io = {on_done},
				      .b = b,
				      .ring = ring,
				      .data = data,
				      .off = h.sector * DENALI_BLK_SECTOR,
				      .len = (uint32_t)(d.len - sizeof(h)),
				      .op = h.op,
				      .id = d.id,
				      .polled = (uint8_t)polled,
				      .busy = 1};
		if (h.op == DENALI_BLK_READ) {
			b->st.reads++;
			b->st.read_bytes += q->len;
		} else if (h.op == DENALI_BLK_WRITE) {
			b->st.writes++;
			b->st.write_bytes += q->len;
		} else {
			b->st.flushes++;
		}
		if (polled && read_now(q)) {
			q->busy = 0;
			b->st.read_now++;
			complete(b, d.id, DENALI_BLK_S_OK);
			continue;
		}
		if (submit(q)) {
			q->busy = 0;
			b->cons--; /* the ring is full: retry at the next exit */
			break;
		}
		b->inflight++;
		if (polled)
			b->inflight_polled++;
		queued++;
		if (b->inflight > b->st.inflight_peak)
			b->st.inflight_peak = b->inflight;
	}
	ring_write_index(&r->avail_cons, b->cons);
	return queued;
}

/* The ring's hint for the guest (lock held, guest memory there). */
static void show_flags(struct blk_dev *b, uint8_t *mem, uint32_t flags)
{
	if (flags != b->flags_shown) {
		__atomic_store_n(&ring_of(mem)->mon_flags, flags, __ATOMIC_RELEASE);
		b->flags_shown = flags;
	}
}

/* Requests queued on the worker's ring go now; page-cache hits complete
 * inside the submit and are answered before the next entry. */
static void submit_worker(struct blk_dev *b, unsigned before)
{
	unsigned after;

	io_uring_submit(b->host.ring);
	if (b->host.poll)
		b->host.poll(b->host.reap_arg);
	pthread_mutex_lock(&b->lock);
	after = b->inflight - b->inflight_polled;
	pthread_mutex_unlock(&b->lock);
	if (after < before)
		b->st.inline_done += before - after;
}

static int op_fill(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		   size_t whylen)
{
	struct blk_dev *b = (struct blk_dev *)d;
	uint32_t before;
	unsigned own;
	int rc;

	if (b->poll && !b->watched && g->mem)
		b->watched = blk_poll_add(b->poll, d) == 0;
	pthread_mutex_lock(&b->lock);
	before = b->used_prod;
	rc = b->faulted ? dev_fault(why, whylen, "%s", b->why)
			: take(b, g, b->host.ring, 0, ~0u, why, whylen);
	if (rc >= 0 && b->watched) {
		b->mem = g->mem;
		b->mem_size = g->mem_size;
		/* Written at every entry: memory restored from elsewhere may say otherwise. */
		b->flags_shown = blk_poll_awake(b->poll) ? DENALI_RING_F_POLLED : 0;
		__atomic_store_n(&ring_of(g->mem)->mon_flags, b->flags_shown, __ATOMIC_RELEASE);
		__atomic_store_n(&b->live, 1, __ATOMIC_RELEASE);
	}
	/* Completions written meanwhile (statuses answered without I/O) are seen
	 * on this entry. */
	if (b->used_prod != before)
		*events |= DENALI_EV_BLK;
	own = b->inflight - b->inflight_polled;
	pthread_mutex_unlock(&b->lock);
	if (rc > 0)
		submit_worker(b, own);
	return rc < 0 ? rc : 0;
}

static int op_drain(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen)
{
	struct blk_dev *b = (struct blk_dev *)d;
	uint32_t before, cons;
	unsigned own;
	int rc;

	pthread_mutex_lock(&b->lock);
	__atomic_store_n(&b->live, 0, __ATOMIC_RELEASE);
	before = b->used_prod;
	cons = b->cons;
	rc = b->faulted ? dev_fault(why, whylen, "%s", b->why)
			: take(b, g, b->host.ring, 0, ~0u, why, whylen);
	if (b->used_prod != before)
		*events |= DENALI_EV_BLK;
	own = b->inflight - b->inflight_polled;
	cons = b->cons - cons;
	pthread_mutex_unlock(&b->lock);
	if (rc > 0)
		submit_worker(b, own);
	/* The guest does block I/O through exits: the poller, if it sleeps,
	 * serves the next requests with none. Requests answered with a status
	 * alone count too: a guest whose every request fails would otherwise
	 * keep exiting for each of them. */
	if (rc >= 0 && cons && b->watched)
		blk_poll_kick(b->poll);
	return rc < 0 ? rc : 0;
}

int blk_dev_serve(struct device *d, struct io_uring *ring, int awake)
{
	struct blk_dev *b = (struct blk_dev *)d;
	char why[DEV_WHY_MAX];
	int n = 0;

	if (!__atomic_load_n(&b->live, __ATOMIC_ACQUIRE))
		return 0; /* not running: its next entry shows the flag */
	/* Spinning, a busy lock (the worker at an entry or exit) is tried again
	 * next round; going to sleep, the flag must come off now, or a running
	 * guest would spin for a poller that is not there. */
	if (awake ? pthread_mutex_trylock(&b->lock) : pthread_mutex_lock(&b->lock))
		return 0;
	if (b->live && !b->faulted) {
		uint32_t cons = b->cons, used = b->used_prod;

		show_flags(b, b->mem, awake ? DENALI_RING_F_POLLED : 0);
		n = take(b, &(struct dev_guest){b->mem, b->mem_size, NULL}, ring, 1,
			 BLK_POLL_TAKE_MAX, why, sizeof(why));
		if (n < 0) {
			snprintf(b->why, sizeof(b->why), "%s", why);
			b->faulted = 1; /* the rings are left alone from now on */
		} else {
			/* Answered with a status or queued: both are requests taken. */
			n = (int)(b->cons - cons);
			b->st.polled += (uint64_t)n;
			if (b->used_prod != used)
				notify_locked(b); /* live: the event bit, no wake-up */
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (n < 0) {
		/* With an event: its worker interrupts the guest, the exit kills it. */
		b->host.wake(b->host.wake_arg, DENALI_EV_BLK);
		return 0;
	}
	return n;
}

static int op_attach(struct device *d, const struct dev_host *h)
{
	struct blk_dev *b = (struct blk_dev *)d;

	if (b->watched)
		blk_poll_remove(b->poll, d);
	b->watched = 0;
	b->host = *h;
	/* Not a direct disk: its reads take 40-300 us, so the guest's spin often
	 * ends first, and a request the poller took then completes on the poller's
	 * thread, which wakes the worker, which wakes the VM: two thread wake-ups
	 * instead of one. Quiet, the poller took direct QD1 from 0.58x to 0.97x of
	 * the host; at load 5-7 it fell from 0.51x to 0.18x. Exits it is. */
	b->poll = b->dfd < 0 ? h->blk_poll : NULL;
	b->attached = 1;
	return 0;
}

/* The poller takes nothing more (its completions still come). */
static void unwatch(struct blk_dev *b)
{
	pthread_mutex_lock(&b->lock);
	__atomic_store_n(&b->live, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&b->lock);
	if (b->watched)
		blk_poll_remove(b->poll, &b->dev);
	b->watched = 0;
}

static void op_quiesce(struct device *d)
{
	struct blk_dev *b = (struct blk_dev *)d;
	unsigned own, polled;

	unwatch(b);
	for (;;) {
		pthread_mutex_lock(&b->lock);
		own = b->inflight - b->inflight_polled;
		polled = b->inflight_polled;
		if (!own && polled) /* the poller finishes them */
			while (b->inflight_polled)
				pthread_cond_wait(&b->polled_done, &b->lock);
		pthread_mutex_unlock(&b->lock);
		if (!own || !b->host.reap || b->host.reap(b->host.reap_arg) < 0)
			break;
	}
}

static void op_detach(struct device *d)
{
	unwatch((struct blk_dev *)d);
}

static unsigned op_counters(const struct device *d, struct dev_counter *out, unsigned max)
{
	const struct blk_dev *b = (const struct blk_dev *)d;
	const struct dev_counter all[] = {
	    {"blk_reads", b->st.reads},
	    {"blk_writes", b->st.writes},
	    {"blk_flushes", b->st.flushes},
	    {"blk_read_bytes", b->st.read_bytes},
	    {"blk_write_bytes", b->st.write_bytes},
	    {"blk_err_io", b->st.err_io},
	    {"blk_err_range", b->st.err_range},
	    {"blk_err_rdonly", b->st.err_rdonly},
	    {"blk_err_bad", b->st.err_bad},
	    {"blk_resubmits", b->st.resubmits},
	    {"blk_inflight_peak", b->st.inflight_peak},
	    {"blk_direct", b->st.direct},
	    {"blk_buffered", b->st.buffered},
	    {"blk_inline_done", b->st.inline_done},
	    {"blk_polled", b->st.polled},
	    {"blk_read_now", b->st.read_now},
	};
	return dev_counters_copy(all, sizeof(all) / sizeof(all[0]), out, max);
}

static size_t op_save(const struct device *d, void *buf, size_t cap)
{
	const struct blk_dev *b = (const struct blk_dev *)d;
	uint32_t v[2] = {b->cons, b->used_prod};

	return b->inflight ? 0 : dev_save_u32(v, 2, buf, cap);
}

static int op_restore(struct device *d, const void *buf, size_t len)
{
	struct blk_dev *b = (struct blk_dev *)d;
	uint32_t v[2];

	if (dev_restore_u32(v, 2, buf, len))
		return -EINVAL;
	b->cons = v[0];
	b->used_prod = v[1];
	return 0;
}

static void op_free(struct device *d)
{
	struct blk_dev *b = (struct blk_dev *)d;

	op_quiesce(d);
	if (b->fd >= 0)
		close(b->fd);
	if (b->dfd >= 0)
		close(b->dfd);
	pthread_cond_destroy(&b->polled_done);
	pthread_mutex_destroy(&b->lock);
	free(b->path);
	free(b);
}

static int open_direct(int fd, int ro, uint32_t *align);

/* The identity a disk's path must keep: device, inode, birth time (0 where the file
 * system keeps none). 0 or -errno. */
static int file_id(int fd, uint64_t *dev, uint64_t *ino, uint64_t *btime_ns)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
		return -errno;
	*dev = ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor;
	*ino = sx.stx_ino;
	*btime_ns = (sx.stx_mask & STATX_BTIME)
			? (uint64_t)sx.stx_btime.tv_sec * 1000000000ull + sx.stx_btime.tv_nsec
			: 0;
	return 0;
}

/* Swapped out (on the worker): no request is in flight, the descriptors go. */
static void op_park(struct device *d)
{
	struct blk_dev *b = (struct blk_dev *)d;

	if (!b->path || b->parked)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->inflight) { /* cannot be (swap-out refuses it): keep the files */
		pthread_mutex_unlock(&b->lock);
		return;
	}
	close(b->fd);
	if (b->dfd >= 0)
		close(b->dfd);
	b->fd = b->dfd = -1;
	b->parked = 1;
	b->reopen_err = -EBADF; /* until reopen() */
	pthread_mutex_unlock(&b->lock);
}

/* Off the workers, before the swap-in: the same file again, or an error for unpark(). */
static int op_reopen(struct device *d)
{
	struct blk_dev *b = (struct blk_dev *)d;
	uint64_t dev, ino, bt;
	uint32_t align = 0;
	struct stat st;
	char err[64];
	int fd, dfd = -1, rc;

	if (!b->parked || b->fd >= 0)
		return 0;
	fd = blk_dev_open(b->path, b->ro, err, sizeof(err));
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = file_id(fd, &dev, &ino, &bt);
	if (!rc && (dev != b->st_dev || ino != b->st_ino || bt != b->btime_ns))
		rc = -ESTALE; /* another file at the path */
	if (!rc && (fstat(fd, &st) < 0 || (uint64_t)st.st_size / DENALI_BLK_SECTOR < b->sectors))
		rc = -ESTALE; /* shrank: requests checked against the old size would fail */
	if (!rc && b->direct) {
		dfd = open_direct(fd, b->ro, &align);
		if (dfd < 0)
			rc = dfd;
		else if (align != b->dio_align)
			rc = -ESTALE;
	}
	if (rc) {
		close(fd);
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	pthread_mutex_lock(&b->lock);
	b->fd = fd;
	b->dfd = dfd;
	pthread_mutex_unlock(&b->lock);
out:
	b->reopen_err = rc;
	return rc;
}

/* On the worker, before it runs again: its files are back, or the swap-in fails. */
static int op_unpark(struct device *d)
{
	struct blk_dev *b = (struct blk_dev *)d;

	if (!b->parked)
		return 0;
	if (b->fd < 0)
		return b->reopen_err ? b->reopen_err : -EBADF;
	b->parked = 0;
	return 0;
}

static const struct device_ops blk_ops = {
    .kind = "blk",
    .ring_mask = DENALI_RING_BLK,
    .attach = op_attach,
    .fill = op_fill,
    .drain = op_drain,
    .quiesce = op_quiesce,
    .park = op_park,
    .reopen = op_reopen,
    .unpark = op_unpark,
    .detach = op_detach,
    .save = op_save,
    .restore = op_restore,
    .counters = op_counters,
    .free = op_free,
};

int blk_dev_open(const char *path, int ro, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO opened read-only would wait for a writer (and hold the control
	 * loop); it is refused by blk_dev_create_fd. io_uring gives -EAGAIN on O_NONBLOCK
	 * files, so the flag is taken off again. */
	int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
		return r;
	}
	if ((r = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, r & ~O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "disk %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

int blk_dev_create(const char *path, int flags, struct device **out, char *err, size_t errlen)
{
	int fd = blk_dev_open(path, flags & BLK_F_RO, err, errlen);

	return fd < 0 ? fd : blk_dev_create_fd(fd, path, flags, out, err, errlen);
}

/* The O_DIRECT twin of fd (the same open file's inode, through /proc, so no
 * other file can be swapped in) and its alignment: an fd, or -errno. */
static int open_direct(int fd, int ro, uint32_t *align)
{
	char self[64];
	struct statx sx;
	int dfd;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	dfd = open(self, (ro ? O_RDONLY : O_RDWR) | O_DIRECT | O_NOCTTY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	*align = 4096; /* what the kernel does not say */
	if (statx(dfd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		uint32_t m = sx.stx_dio_mem_align, o = sx.stx_dio_offset_align, x = m > o ? m : o;

		if (!m || !o || (x & (x - 1)) || x > 4096) {
			close(dfd); /* no direct I/O on this file, or an alignment we do not use */
			return -EINVAL;
		}
		*align = x < DENALI_BLK_SECTOR ? DENALI_BLK_SECTOR : x;
	}
	return dfd;
}

int blk_dev_create_fd(int fd, const char *path, int flags, struct device **out, char *err,
		      size_t errlen)
{
	int ro = flags & BLK_F_RO, dfd = -1;
	uint32_t align = 0;
	struct blk_dev *b;
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < DENALI_BLK_SECTOR) {
		snprintf(err, errlen, "disk %s: not a regular file of at least one sector", path);
		close(fd);
		return -EINVAL;
	}
	if ((flags & BLK_F_DIRECT) && (dfd = open_direct(fd, ro, &align)) < 0) {
		snprintf(err, errlen, "disk %s: no direct I/O: %s", path, strerror(-dfd));
		close(fd);
		return dfd;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(fd);
		if (dfd >= 0)
			close(dfd);
		return -ENOMEM;
	}
	b->dev.ops = &blk_ops;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->polled_done, NULL);
	b->fd = fd;
	b->dfd = dfd;
	b->dio_align = align;
	b->ro = ro;
	b->direct = dfd >= 0;
	b->sectors = (uint64_t)st.st_size / DENALI_BLK_SECTOR;
	/* Without its path or identity it keeps its files while swapped (a disk that
	 * cannot be opened again must not be let go of). */
	if (path && file_id(fd, &b->st_dev, &b->st_ino, &b->btime_ns) == 0)
		b->path = strdup(path);
	*out = &b->dev;
	return 0;
}

uint64_t blk_dev_sectors(const struct device *d)
{
	return ((const struct blk_dev *)d)->sectors;
}

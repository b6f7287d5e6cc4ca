/*
 * Block device over the blk ring. Each of DN_BLK_QUEUE request slots owns a
 * buffer (header + up to DN_BLK_ASYNC_MAX sectors), allocated on first use
 * so that guests without a disk pay nothing. A request is posted with its
 * slot number as the descriptor id; the completion's used.len is the
 * status. Waiting is dn_idle(): the request is picked up at that exit, the
 * VM sleeps while the host does the I/O, and DENALI_EV_BLK wakes it. While
 * the monitor says a host thread polls the ring (DENALI_RING_F_POLLED), a
 * waiter first spins on the used ring a while (4x its recent waits, 20-200 us):
 * the request is taken and answered while the guest runs, with no exit at
 * all. A request the poller has not taken within TAKE_NS ends the spin: the
 * poller is off its CPU (a loaded host), and the idle's exit takes it.
 *
 * Zero-copy requests (dn_blk_submit_zc) post the caller's own buffer from
 * dn_blk_alloc(): its data is page-aligned (what an O_DIRECT disk needs) and
 * the request header lives in the 16 bytes before it, so the host reads and
 * writes straight into the caller's memory and nothing is copied here.
 */
#include "libos_private.h"
#include "ring.h"
#include <denali/blkdev.h>
#include <denali/libos.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BYTES (sizeof(struct denali_blk_req) + DN_BLK_ASYNC_MAX * DENALI_BLK_SECTOR)
/* The spin is 4x the recent polled wait (an EWMA), within these: long enough
 * for a 4 KiB O_DIRECT read here (40-100 us), short for page-cache hits (1-3 us)
 * so that a poller kept off its CPU (a loaded host) costs little spin. */
#define SPIN_MIN_NS 20000ull
#define SPIN_MAX_NS 200000ull
/* A running poller takes a request within a few us (one pass over its rings). */
#define TAKE_NS 10000ull

struct slot {
	uint8_t *buf; /* header, then data */
	void *user;   /* read destination */
	uint32_t op, nsectors;
	int busy, done, res, zc;
};

static struct slot slots[DN_BLK_QUEUE];
static uint64_t spin_avg; /* ns: EWMA (1/8) of polled waits, 0 = none yet */
static struct dn_blk_wait_stats wst;
static struct ring_side ring;
static unsigned in_flight;

uint64_t dn_blk_sectors(void)
{
	return VREGS->blk_sectors;
}

int dn_blk_readonly(void)
{
	return (VREGS->blk_flags & DENALI_BLK_F_RDONLY) != 0;
}

static int status_to_errno(uint32_t st)
{
	switch (st) {
	case DENALI_BLK_S_OK:
		return 0;
	case DENALI_BLK_S_RDONLY:
		return -RING_EROFS;
	case DENALI_BLK_S_UNSUPP:
		return -RING_EINVAL;
	default:
		return -RING_EIO;
	}
}

/* Moves every completion the monitor posted into its slot. */
static void reap(void)
{
	struct denali_used u;

	while (ring_take_used(&ring, &u)) {
		struct slot *s;

		if (u.id >= DN_BLK_QUEUE || !slots[u.id].busy || slots[u.id].done)
			dn_panic("blkdev: completion for a request not in flight");
		s = &slots[u.id];
		s->res = status_to_errno(u.len);
		if (s->res == 0 && s->op == DENALI_BLK_READ && !s->zc)
			memcpy(s->user, s->buf + sizeof(struct denali_blk_req),
			       (size_t)s->nsectors * DENALI_BLK_SECTOR);
		s->done = 1;
	}
}

/* Spins while the ring is polled until the monitor posts a completion (1) or
 * its bound passes or the poller stops (0: idle for it). A poller that takes
 * nothing posted for TAKE_NS is not on a CPU (a loaded host: it waits for one,
 * for milliseconds): idling now has the request taken at that exit. */
static int spin_used(void)
{
	uint64_t bound = spin_avg ? 4 * spin_avg : SPIN_MAX_NS, t0 = 0, t_cons = 0;
	uint32_t cons = 0;

	bound = bound < SPIN_MIN_NS ? SPIN_MIN_NS : bound > SPIN_MAX_NS ? SPIN_MAX_NS : bound;
	while (__atomic_load_n(&ring.r->mon_flags, __ATOMIC_ACQUIRE) & DENALI_RING_F_POLLED) {
		uint64_t now = dn_now_ns();
		uint32_t c = __atomic_load_n(&ring.r->avail_cons, __ATOMIC_ACQUIRE);

		if (!t0)
			t0 = t_cons = now, cons = c;
		if (ring.used_cons != __atomic_load_n(&ring.r->used_prod, __ATOMIC_ACQUIRE)) {
			spin_avg = spin_avg ? (7 * spin_avg + (now - t0)) / 8 : now - t0;
			wst.spin_hits++;
			return 1;
		}
		if (c != cons) {
			cons = c;
			t_cons = now;
		} else if (c != ring.prod && now - t_cons >= TAKE_NS) {
			wst.take_misses++;
			return 0;
		}
		if (now - t0 >= bound) {
			spin_avg += spin_avg / 8 + 1; /* slower than we thought: grow */
			wst.spin_timeouts++;
			return 0;
		}
		__builtin_ia32_pause();
	}
	return 0;
}

/* Waits for news of the ring: spins if polled, else idles; other events
 * are added to *other. */
static void wait_used(uint64_t *other)
{
	if (!spin_used()) {
		wst.idles++;
		*other |= dn_idle(DENALI_NO_DEADLINE) & ~DENALI_EV_BLK;
	}
}

void dn_blk_get_wait_stats(struct dn_blk_wait_stats *out)
{
	*out = wst;
}

int dn_blk_submit(uint32_t op, uint64_t sector, void *buf, uint32_t nsectors)
{
	struct denali_blk_req req = {.op = op, .nsectors = nsectors, .sector = sector};
	size_t data = (size_t)nsectors * DENALI_BLK_SECTOR;
	unsigned id;

	if (dn_blk_sectors() == 0 || nsectors > DN_BLK_ASYNC_MAX || op > DENALI_BLK_FLUSH ||
	    (op != DENALI_BLK_FLUSH && (nsectors == 0 || !buf)))
		return -RING_EINVAL;
	if (op == DENALI_BLK_FLUSH)
		data = 0, req.nsectors = 0, req.sector = 0;
	ring_start(&ring, DENALI_BLK_RING_GPA);
	if (in_flight == DN_BLK_QUEUE || ring_space(&ring) == 0)
		return -RING_EAGAIN;
	for (id = 0; id < DN_BLK_QUEUE && slots[id].busy; id++)
		;
	if (!slots[id].buf && !(slots[id].buf = malloc(SLOT_BYTES)))
		return -RING_EAGAIN;
	memcpy(slots[id].buf, &req, sizeof(req));
	if (op == DENALI_BLK_WRITE)
		memcpy(slots[id].buf + sizeof(req), buf, data);
	slots[id] = (struct slot){
	    .buf = slots[id].buf, .user = buf, .op = op, .nsectors = req.nsectors, .busy = 1};
	in_flight++;
	ring_post(&ring, (uintptr_t)slots[id].buf, (uint32_t)(sizeof(req) + data), (uint16_t)id);
	return (int)id;
}

void *dn_blk_alloc(uint32_t nsectors)
{
	size_t data = (size_t)nsectors * DENALI_BLK_SECTOR;
	uint8_t *raw;
	uintptr_t p;

	if (nsectors == 0 || nsectors > DN_BLK_ZC_MAX)
		return NULL;
	/* One page in front: the header sits in its last 16 bytes, the pointer kept
	 * for dn_blk_free just before it. */
	raw = malloc(data + 2 * 4096u);
	if (!raw)
		return NULL;
	p = ((uintptr_t)raw + 2 * 4096u - 1) & ~(uintptr_t)4095;
	((uint8_t **)(p - sizeof(struct denali_blk_req)))[-1] = raw;
	return (void *)p;
}

void dn_blk_free(void *data)
{
	if (data)
		free(((uint8_t **)((uintptr_t)data - sizeof(struct denali_blk_req)))[-1]);
}

int dn_blk_submit_zc(uint32_t op, uint64_t sector, void *data, uint32_t nsectors)
{
	struct denali_blk_req *h = (struct denali_blk_req *)((uintptr_t)data - sizeof(*h));
	unsigned id;

	if (dn_blk_sectors() == 0 || nsectors == 0 || nsectors > DN_BLK_ZC_MAX || !data ||
	    (op != DENALI_BLK_READ && op != DENALI_BLK_WRITE))
		return -RING_EINVAL;
	ring_start(&ring, DENALI_BLK_RING_GPA);
	if (in_flight == DN_BLK_QUEUE || ring_space(&ring) == 0)
		return -RING_EAGAIN;
	for (id = 0; id < DN_BLK_QUEUE && slots[id].busy; id++)
		;
	h->op = op;
	h->nsectors = nsectors;
	h->sector = sector;
	slots[id] = (struct slot){
	    .buf = slots[id].buf, .user = data, .op = op, .nsectors = nsectors, .busy = 1, .zc = 1};
	in_flight++;
	ring_post(&ring, (uintptr_t)h,
		  (uint32_t)(sizeof(*h) + (size_t)nsectors * DENALI_BLK_SECTOR), (uint16_t)id);
	return (int)id;
}

int dn_blk_wait(int *res)
{
	uint64_t other = 0;
	int tag;

	if (in_flight == 0)
		return -RING_EAGAIN;
	while ((tag = dn_blk_complete(res)) < 0)
		wait_used(&other);
	if (other)
		dn_events_defer(other);
	return tag;
}

int dn_blk_complete(int *res)
{
	reap();
	for (unsigned id = 0; id < DN_BLK_QUEUE; id++) {
		if (slots[id].busy && slots[id].done) {
			*res = slots[id].res;
			slots[id].busy = 0;
			slots[id].done = 0;
			in_flight--;
			return (int)id;
		}
	}
	return -RING_EAGAIN;
}

/* Submits one request and idles until it completes; other events that
 * arrive meanwhile are handed back for whoever waits for them. */
static int one(uint32_t op, uint64_t sector, void *buf, uint32_t n)
{
	uint64_t other = 0;
	int tag, res;

	while ((tag = dn_blk_submit(op, sector, buf, n)) == -RING_EAGAIN)
		other |= dn_idle(DENALI_NO_DEADLINE) & ~DENALI_EV_BLK;
	if (tag < 0)
		return tag;
	for (;;) {
		reap();
		if (slots[tag].done)
			break;
		wait_used(&other);
	}
	/* Take exactly ours; other finished requests stay for their owners. */
	res = slots[tag].res;
	slots[tag].busy = 0;
	slots[tag].done = 0;
	in_flight--;
	if (other)
		dn_events_defer(other);
	return res;
}

static int chunked(uint32_t op, uint64_t sector, uint8_t *buf, uint32_t nsectors)
{
	if (dn_blk_sectors() == 0)
		return -RING_EINVAL;
	while (nsectors > 0) {
		uint32_t n = nsectors < DN_BLK_ASYNC_MAX ? nsectors : DN_BLK_ASYNC_MAX;
		int rc = one(op, sector, buf, n);

		if (rc)
			return rc;
		sector += n;
		buf += (size_t)n * DENALI_BLK_SECTOR;
		nsectors -= n;
	}
	return 0;
}

int dn_blk_read(uint64_t sector, void *buf, uint32_t nsectors)
{
	return chunked(DENALI_BLK_READ, sector, buf, nsectors);
}

int dn_blk_write(uint64_t sector, const void *buf, uint32_t nsectors)
{
	if (dn_blk_readonly())
		return -RING_EROFS;
	return chunked(DENALI_BLK_WRITE, sector, (uint8_t *)(uintptr_t)buf, nsectors);
}

int dn_blk_flush(void)
{
	if (dn_blk_sectors() == 0)
		return -RING_EINVAL;
	return one(DENALI_BLK_FLUSH, 0, NULL, 0);
}

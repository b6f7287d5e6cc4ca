/*
 * The block poller of a worker: one host thread (denali-bpN) that watches the
 * blk rings of the worker's running VMs and takes their requests while they
 * run, so that a request costs no VM exit. On this platform an exit costs
 * 20-100 us and a page-cache read 1 us: at queue depth 1 the exit was the
 * whole cost of a request.
 *
 * It is bounded: it spins only while a ring it watches had a request or a
 * completion in the last spin_ns, then sleeps in its own io_uring until a
 * completion or a kick (the worker found requests at an exit, so the guest
 * is doing I/O again). While it sleeps the guests see no DENALI_RING_F_POLLED
 * and go through exits as before: an idle disk costs nothing.
 *
 * A read whose data is all in the page cache it answers itself (preadv2 with
 * RWF_NOWAIT: never waits for a disk); the rest go through its own io_uring
 * (restricted to read, write and fsync). Every guest-supplied value is
 * checked by the same code as on an exit (blk.c take()), once, in host
 * memory. A fault it finds is kept by the device and the VM is
 * interrupted; its next exit kills it.
 */
#ifndef DENALI_DEVICES_BLK_POLL_H
#define DENALI_DEVICES_BLK_POLL_H

#include <stdint.h>

struct blk_poll;
struct device;

/* Spinning after the last request or completion. 50 us lost the race to a
 * descheduled guest often under load (a sleep, then an exit, then a kick per
 * few hundred requests); 200 us kept QD1 near its unloaded rate. */
#define BLK_POLL_SPIN_NS 200000u
/* Requests taken from one ring per round. A page-cache read completes inside
 * its submit, so a batch of k shows the guest nothing (no completion, no
 * consumer index moving) for k reads: at queue depth 32 that outlasted the
 * guest's TAKE_NS and it left through an idle exit once per batch. One per
 * round keeps both moving for the guest after every read. */
#define BLK_POLL_TAKE_MAX 1u
/* Spinning with nothing seen for this long yields the CPU at every round. */
#define BLK_POLL_YIELD_NS 5000u

struct blk_poll_stats {
	uint64_t passes;  /* rounds over the rings */
	uint64_t taken;	  /* requests taken while their guest ran */
	uint64_t sleeps;  /* times it went to sleep */
	uint64_t kicks;	  /* wake-ups asked by a worker */
	uint64_t cpu_ns;  /* CPU time of the thread (updated when it sleeps or stops) */
	uint64_t wall_ns; /* since it started */
};

/*
 * Starts a poller thread for worker id. Its io_uring is set up first, then the
 * thread names itself, calls confine() (NULL: none; the worker passes its
 * helper confinement) and spins at most spin_ns after activity. 0 or -errno.
 */
int blk_poll_start(struct blk_poll **out, int id, uint64_t spin_ns, int (*confine)(void));

/* Stops and frees it (NULL: nothing), its last counters in *last (if not
 * NULL). Every device was removed first (their I/O finished). */
void blk_poll_stop(struct blk_poll *p, struct blk_poll_stats *last);

/* Watches d (a blk device) from now on / no more. After remove() returns the
 * poller takes nothing more from d; completions of what it took still come.
 * add: 0 or -ENOMEM. Any thread but the poller's. */
int blk_poll_add(struct blk_poll *p, struct device *d);
void blk_poll_remove(struct blk_poll *p, struct device *d);

/* The guest is doing block I/O: wakes the poller if it sleeps. Cheap when
 * it is awake (one load). Any thread. */
void blk_poll_kick(struct blk_poll *p);

/* 1 while the poller spins (what DENALI_RING_F_POLLED says), else 0. */
int blk_poll_awake(const struct blk_poll *p);

/* A copy of its counters (plain loads, any thread). */
void blk_poll_get_stats(const struct blk_poll *p, struct blk_poll_stats *out);

#endif

/*
 * The gatekeeper: which VMs are in memory. Pure policy, free of threads,
 * KVM and I/O so that it can be tested alone; the daemon carries out the
 * actions it hands out and reports back.
 *
 * States: registered (defined, never run) -> resident (memory in RAM,
 * maybe bound to a shell) -> swapped (memory in its swap slot, no KVM
 * objects, no fds, no mapping) and back. A VM that needs to be in memory
 * (first start, or an event for a swapped VM: a frame, its idle deadline,
 * an operator command) joins the admission queue; it is admitted, in
 * arrival order, once its charge fits the resident-memory budget and the
 * live-VM cap. To make it fit, idle resident VMs are evicted oldest idle
 * first; a running VM is never chosen (one parked with block I/O in flight
 * may be: its worker lets the I/O land before it writes the slot).
 *
 * Invariant: the sum of the charges of VMs admitted and not yet swapped out
 * never exceeds the budget through admission (a resident VM's measured
 * growth may exceed it; then idle VMs are evicted until it holds again).
 */
#ifndef DENALI_SCHED_GATEKEEPER_H
#define DENALI_SCHED_GATEKEEPER_H

#include "sched.h"

#include <stddef.h>
#include <stdint.h>

enum gk_state {
	GK_REGISTERED,	 /* defined, not started */
	GK_WAITING,	 /* in the admission queue */
	GK_ADMITTING,	 /* admitted: being booted or swapped in */
	GK_RESIDENT,	 /* in memory */
	GK_SWAPPING_OUT, /* chosen for eviction, being written */
	GK_SWAPPED,	 /* in its slot */
	GK_GONE,	 /* removed */
};

struct gk_vm {
	struct gk_vm *prev, *next; /* idle LRU or admission queue */
	struct sched_entity se;	   /* deadline of a swapped VM */
	enum gk_state state;
	uint8_t running;	/* in a vCPU run: never evicted */
	uint8_t idle;		/* parked in idle() */
	uint8_t has_image;	/* has been resident once (admission = swap-in) */
	uint8_t want_in;	/* an event came while swapping out */
	uint8_t evict_failed;	/* skipped as a victim until it runs again */
	uint8_t by_deadline;	/* asked in by its own deadline, no event yet */
	uint32_t frames_queued; /* held for it while not resident */
	uint64_t charge;	/* bytes counted against the budget */
	uint64_t idle_since;	/* clock when it last went idle */
	void *owner;
};

struct gk_config {
	uint64_t mem_budget; /* bytes; 0 = unlimited */
	unsigned live_max;   /* VMs in memory at once (shells); 0 = unlimited */
	unsigned frame_queue_max;
};

struct gk_counters {
	uint64_t admissions;	    /* boots and swap-ins started */
	uint64_t swap_ins;	    /* admissions of a swapped VM */
	uint64_t swap_ins_deadline; /* of which asked for by its idle deadline alone */
	uint64_t evictions;	    /* swap-outs completed */
	uint64_t eviction_failures;
	uint64_t swap_in_failures;
	uint64_t frames_queued, frames_dropped;
	uint64_t refused; /* a charge larger than the budget */
};

struct gk {
	struct gk_config cfg;
	uint64_t resident;  /* sum of charges of admitted, not swapped VMs */
	uint64_t releasing; /* part of it being swapped out now */
	uint64_t peak_resident;
	unsigned live; /* VMs admitted, resident or swapping out */
	unsigned live_releasing;
	unsigned registered, swapped, waiting;
	struct gk_vm idle;     /* LRU sentinel: oldest idle after it */
	struct gk_vm queue;    /* admission queue sentinel: FIFO */
	struct sched sleepers; /* swapped VMs with a deadline */
	struct gk_counters ctr;
};

enum gk_action_kind {
	GK_ACT_NONE,
	GK_ACT_EVICT, /* swap vm out, then gk_evicted() */
	GK_ACT_ADMIT, /* boot (!has_image) or swap in vm, then gk_admitted() */
};

struct gk_action {
	enum gk_action_kind kind;
	struct gk_vm *vm;
};

int gk_init(struct gk *g, const struct gk_config *cfg);
void gk_fini(struct gk *g);

/* A new VM, registered: it costs nothing until started. */
void gk_register(struct gk *g, struct gk_vm *v, void *owner);

/* A VM that is in its slot already (a fleet restored after a restart):
 * registered straight as SWAPPED, with the charge it will cost resident. */
void gk_adopt_swapped(struct gk *g, struct gk_vm *v, void *owner, uint64_t charge);

/*
 * Asks for a VM to be in memory: a start (registered), or an event for a
 * swapped one (an operator command, its deadline). charge is what it will
 * cost resident (for a swapped VM: its saved pages). 0 if it is queued or
 * in memory already, -E2BIG (counted) if the charge alone exceeds the
 * budget, -EINVAL if the VM is gone.
 */
int gk_request(struct gk *g, struct gk_vm *v, uint64_t charge);

/*
 * A frame arrived for v. 1: v is resident, deliver it; 0: v is not, hold
 * it (and v is queued for admission); -ENOBUFS: its queue is full, drop it
 * (counted).
 */
int gk_frame(struct gk *g, struct gk_vm *v);

/* The frames held for v were handed to it (after it was admitted). */
void gk_frames_delivered(struct gk *g, struct gk_vm *v);

/* A resident VM is woken (runnable: the worker's run hook) / went idle at
 * now (parked). Block I/O needs no call here: the VM's own worker lets its
 * requests in flight land (vm_quiesce_devices) before it writes the slot. */
void gk_run(struct gk *g, struct gk_vm *v);
void gk_idle(struct gk *g, struct gk_vm *v, uint64_t now);

/* A resident VM's measured size (the peak counts it unless the VM is
 * SWAPPING_OUT already). */
void gk_charge(struct gk *g, struct gk_vm *v, uint64_t bytes);

/*
 * The next thing to do, or GK_ACT_NONE: admit the head of the queue if it
 * fits; otherwise evict the oldest idle VM while the budget or the cap
 * needs room. Call until NONE after every change.
 */
struct gk_action gk_next(struct gk *g);

/* Reports an eviction: rc == 0 -> swapped (its charge released); -EBUSY ->
 * it was woken meanwhile: resident, not idle, not counted; another error ->
 * it stays resident, counted, skipped as a victim until it runs again. */
void gk_evicted(struct gk *g, struct gk_vm *v, int rc);

/* Reports an admission: rc == 0 -> resident (idle until gk_run()); else the
 * VM is gone (a slot that failed its checksum kills the VM), counted. */
void gk_admitted(struct gk *g, struct gk_vm *v, int rc);

/*
 * The operator asks for v to be swapped out now: 0 and v is SWAPPING_OUT
 * (carry it out, then gk_evicted()), -EBUSY if it is running or has I/O in
 * flight, -EALREADY if it is not resident.
 */
int gk_swap_out(struct gk *g, struct gk_vm *v);

/* A swapped VM's idle deadline (SCHED_NO_DEADLINE = none): when it passes,
 * gk_expire() queues it. */
int gk_set_deadline(struct gk *g, struct gk_vm *v, uint64_t deadline);
size_t gk_expire(struct gk *g, uint64_t now);
uint64_t gk_next_deadline(const struct gk *g);

/* Takes v out of every list and releases its charge (it exited, was
 * killed or deleted). */
void gk_remove(struct gk *g, struct gk_vm *v);

const char *gk_state_name(enum gk_state s);

#endif

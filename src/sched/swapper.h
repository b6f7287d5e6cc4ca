/*
 * The swapper drives the gatekeeper (gatekeeper.h) with real VMs: it owns
 * the swap files, one gatekeeper behind one mutex, and a thread that wakes
 * swapped VMs at their idle deadlines. Evictions and swap-ins are carried
 * out on the worker that owns the VM (WCMD_SWAP_OUT / WCMD_SWAP_IN through
 * the worker's swap hook), never under the swapper's lock, and each one's
 * completion drives the next decision.
 *
 * A VM gets its swap slot when it starts (no free slot: the start is
 * refused), so that eviction never fails for lack of space.
 *
 * With a swap log, swap-outs are group-committed (swap_commit.h): the VM's
 * memory is released once its slot is written, and its record is logged by
 * the committer after the slot's data sync. A VM read back in while the log
 * says it is in its slot is held (in memory, not run) until its RESIDENT
 * record is durable; if its SWAPPED record was not committed yet, that is
 * taken back instead and it runs at once.
 */
#ifndef DENALI_SCHED_SWAPPER_H
#define DENALI_SCHED_SWAPPER_H

#include "gatekeeper.h"
#include "swap.h"
#include "swap_commit.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct task;
struct worker;

struct swapper_config {
	struct swap_config swap;
	struct gk_config gk;
	int evict_every_idle; /* swap a VM out at every idle (tests, density) */
	/* Charge of a VM before its first idle (when its size is measured):
	 * a booting VM grows, and the budget must hold it. Default 1 MiB. */
	uint64_t boot_charge;
	/* Creates the deadline thread (NULL: pthread_create); the daemon passes
	 * one that drops every capability in the new thread first. */
	int (*thread_create)(pthread_t *t, void *(*fn)(void *), void *arg);
	/* The swap log (swap_log.h) at this path: every swap-out, swap-in and
	 * end recorded durably, so that a restarted daemon resumes the VMs that
	 * were in their slots. NULL = none. */
	const char *log_path;
	/* Ablation (the old path): every slot write synced and every record
	 * appended and synced on its own, on the worker. Default: group commit
	 * (swap_commit.h): a slot write is not synced; a committer thread syncs
	 * each swap file once per batch, then logs the batch with one sync. */
	int commit_each;
};

struct swapper_stats {
	uint64_t mem_budget, resident, peak_resident;
	unsigned live_max, live, swapped, waiting;
	uint64_t overruns;	    /* a VM outgrew its charge between two idles */
	uint64_t overrun_evictions; /* of which swapped out at once (past the budget) */
	struct gk_counters gk;
	struct swap_counters swap;
	/* over the latest SWAPPER_SAMPLES of each, in ns */
	uint64_t swap_in_p50, swap_in_p99, swap_out_p50, swap_out_p99;
	uint64_t samples_in, samples_out;
	/* frames that arrived for VMs while they were out (held by their parked
	 * port, at most NETSW_HOLD_MAX), and those dropped beyond it; counted
	 * when the VM comes back or ends */
	uint64_t frames_queued, frames_dropped;
	uint64_t log_errors;		 /* records the log could not take */
	struct swap_commit_stats commit; /* zero without group commit */
	/* gatekeeper rounds (pump), the actions they handed out, the deadline thread's rounds */
	uint64_t pumps, pump_actions, deadline_rounds;
};

/* One VM as the operator sees it. */
struct swapper_vm_info {
	const char *residency; /* resident, swapped, waiting, swapping-in, swapping-out, gone */
	uint64_t charge;       /* bytes counted against the budget (0 when swapped) */
	uint64_t swap_ins, swap_outs;
	uint64_t slot;
	int swapped; /* its memory is in its slot now (swapped, or waiting to come in) */
};

struct swapper;

int swapper_open(const struct swapper_config *cfg, struct swapper **out, char *err, size_t errlen);

/* Call after every worker and VM is gone. */
void swapper_close(struct swapper *s);

/* Installs the swap hook on a worker (before it gets tasks). */
void swapper_attach(struct swapper *s, struct worker *w);

/*
 * Starts t (its VM created, not yet added to a worker) on worker w under
 * the gatekeeper: takes a slot, and adds it to w once admitted (maybe at
 * once, maybe after evictions). 0, or -ENOSPC (no free slot), -E2BIG (more
 * than the budget) with a reason.
 */
int swapper_start(struct swapper *s, struct task *t, struct worker *w, char *err, size_t errlen);

/* From a worker's idle hook: same return convention as worker_idle_fn. */
int swapper_idle(struct swapper *s, struct task *t);

/*
 * Operator commands. swap out: 0 once t is swapped out and (with a log) its
 * record is durable (waits up to timeout_ms), -EBUSY (running, I/O in
 * flight), -EALREADY (not resident),
 * -ETIMEDOUT, or the write's error. swap in: 0 once resident.
 */
int swapper_swap_out(struct swapper *s, struct task *t, unsigned timeout_ms, char *err,
		     size_t errlen);
int swapper_swap_in(struct swapper *s, struct task *t, unsigned timeout_ms, char *err,
		    size_t errlen);

/* From the done callback: t exited or was killed; frees its slot. */
void swapper_done(struct swapper *s, struct task *t);

/* Asks for t to come in (as swapper_swap_in) without waiting: 0, -EALREADY (resident),
 * -ESRCH (ended). A swapper_swap_in() that follows waits for it. */
int swapper_swap_in_begin(struct swapper *s, struct task *t);

/*
 * A VM restored after a restart, created afresh with its old id and devices,
 * whose image is in slot rec->slot (the swap log says so): its memory is
 * released, it takes that (reserved) slot, joins worker w as swapped, and comes back on
 * its first event, its saved idle deadline included (read from the slot's
 * metadata, which must belong to it). 0, or -errno with err (the slot is
 * taken or fails its checks: boot the VM afresh instead).
 */
int swapper_adopt(struct swapper *s, struct task *t, struct worker *w,
		  const struct swap_record *rec, char *err, size_t errlen);

/* Restoring: the slots the swap log names are reserved before any VM starts
 * (swapper_adopt() takes a reserved one; on failure it gives it back), so
 * that no new VM takes one. -EBUSY, -ERANGE. */
int swapper_reserve(struct swapper *s, uint64_t slot);
void swapper_release(struct swapper *s, uint64_t slot);

/*
 * Shutdown: from now on no swapped VM is brought back (deadlines, frames)
 * and a VM that ends keeps its slot and its swap-log record; then
 * swapper_swap_out_begin() for every VM and swapper_settle() to wait for the
 * writes. A VM still resident afterwards boots afresh at the next start.
 */
void swapper_shutdown_begin(struct swapper *s);
/* 0 once the swap-out is under way (or the VM is out), -EBUSY, -ESRCH. */
int swapper_swap_out_begin(struct swapper *s, struct task *t);
/* Waits (at most timeout_ms) until no swap-out is under way. */
void swapper_settle(struct swapper *s, unsigned timeout_ms);

/* Writes a swapped-out VM, read from its slot, to path as an export file
 * (export.h); any thread, the VM stays as it is. -EAGAIN if it is not
 * swapped out, -EBADMSG if its slot changed meanwhile; err says why. */
int swapper_export(struct swapper *s, struct task *t, const char *path, char *err, size_t errlen);

/* "resident", "swapped", ... and the bytes charged for it. */
const char *swapper_vm_state(struct swapper *s, const struct task *t, uint64_t *charge);

/* The same and the VM's swap counters; any thread. */
void swapper_vm_info(struct swapper *s, const struct task *t, struct swapper_vm_info *out);

void swapper_get_stats(struct swapper *s, struct swapper_stats *out);

#endif

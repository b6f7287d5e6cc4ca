/*
 * Group commit of swap-outs (issue 10): a swap-out writes its slot without a
 * sync and hands its swap-log record here; a committer thread takes every
 * record queued so far as one batch, data-syncs each swap file the batch
 * wrote to once (swap_sync_files: all files at once through io_uring), then
 * appends the whole batch to the swap log in one write and one sync. The
 * crash rule holds per record: a SWAPPED record is written only after its
 * slot's data is durable (a batch whose data sync failed logs none of its
 * SWAPPED records: those VMs boot afresh after a crash, they never resume
 * from a slot that may be torn). Records reach the log in the order they
 * were queued.
 *
 * A queued record that the committer has not taken yet can be cancelled (a
 * VM swapped back in before its swap-out was recorded: the log never says
 * it was out, so nothing has to be written before it runs again).
 */
#ifndef DENALI_SCHED_SWAP_COMMIT_H
#define DENALI_SCHED_SWAP_COMMIT_H

#include "swap.h"
#include "swap_log.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct swap_commit_config {
	struct swap *sw;
	struct swap_log *log;
	/* NULL: pthread_create (the daemon passes one that drops capabilities) */
	int (*thread_create)(pthread_t *t, void *(*fn)(void *), void *arg);
	/* Called on the committer thread after each batch, with no lock of the
	 * committer held: every record up to seq is processed (durable, or
	 * given up on and counted). */
	void (*committed)(void *arg, uint64_t seq);
	void *arg;
	unsigned batch_max; /* records per batch; 0 = SWAP_LOG_BATCH_MAX */
};

struct swap_commit_stats {
	uint64_t queued;	/* records handed in */
	uint64_t cancelled;	/* taken back before they were committed */
	uint64_t batches;	/* log appends (one sync each) */
	uint64_t records;	/* records in them */
	uint64_t data_syncs;	/* swap-file data syncs */
	uint64_t largest_batch; /* records */
	uint64_t sync_errors;	/* batches whose data sync failed */
	uint64_t dropped;	/* SWAPPED records not logged because of it */
	uint64_t log_errors;	/* batches the log refused */
};

struct swap_commit;

int swap_commit_open(const struct swap_commit_config *cfg, struct swap_commit **out, char *err,
		     size_t errlen);

/* Commits everything queued, then stops the thread. */
void swap_commit_close(struct swap_commit *c);

/*
 * Queues a record: SWAPPED (rec: its slot is written, not yet synced),
 * RESIDENT or GONE. free_slot != SWAP_NO_SLOT: the slot is given back to
 * the swap (swap_slot_free) once the record is processed (a GONE VM's slot
 * is not reused before the log says it is gone). Returns its sequence
 * number (> 0), or 0 when out of memory (nothing queued).
 */
uint64_t swap_commit_enqueue(struct swap_commit *c, enum swap_log_kind kind, uint64_t vm_id,
			     const struct swap_record *rec, uint64_t free_slot);

/* Takes back record seq: 0 if it was still queued (it will never be
 * written), -EALREADY if the committer has it (or is done with it). */
int swap_commit_cancel(struct swap_commit *c, uint64_t seq);

/* The highest sequence number processed. */
uint64_t swap_commit_done(struct swap_commit *c);

/* Waits (at most timeout_ms) until record seq is processed: 0 or -ETIMEDOUT. */
int swap_commit_wait(struct swap_commit *c, uint64_t seq, unsigned timeout_ms);

/* Waits (at most timeout_ms) until nothing is queued or being committed. */
void swap_commit_flush(struct swap_commit *c, unsigned timeout_ms);

void swap_commit_get_stats(struct swap_commit *c, struct swap_commit_stats *out);

/*
 * Test hook, a crash between the data and the record: the committer syncs
 * the data of the next batch, then stops as a killed daemon would (that
 * batch and everything after it are never written to the log; waiters are
 * told the records are processed).
 */
void swap_commit_crash_after_data(struct swap_commit *c);

#endif

/*
 * The swap log: which VMs are in their swap slots, durable, so that a
 * daemon killed at any moment (kill -9) restarts with every VM that was
 * swapped out resumed from its slot and every other booted afresh.
 *
 * An append-only file of 64-byte entries, each with its own CRC-32C:
 * SWAPPED (vm id, slot record) once the slot's data is durable, RESIDENT
 * before a swapped-in VM runs again (its slot is stale from then on), GONE
 * when the VM is deleted. Appends go through io_uring (a write linked to a
 * data sync): workers may call them, under their seccomp allowlist. The
 * last entry of each VM wins at replay. A torn last entry (a crash in the
 * middle of an append) is ignored; a bad entry anywhere else makes the
 * whole log untrustworthy (-EBADMSG), and the caller boots every VM afresh.
 */
#ifndef DENALI_SCHED_SWAP_LOG_H
#define DENALI_SCHED_SWAP_LOG_H

#include "swap.h"

#include <stddef.h>
#include <stdint.h>

enum swap_log_kind { SWAP_LOG_SWAPPED = 1, SWAP_LOG_RESIDENT = 2, SWAP_LOG_GONE = 3 };

struct swap_log;

/* Opens (creating) the log at path for appending. 0 or -errno with err. */
int swap_log_open(const char *path, struct swap_log **out, char *err, size_t errlen);
void swap_log_close(struct swap_log *l);

/* Appends one entry and waits until it is durable. rec only for SWAPPED.
 * Thread-safe. 0 or -errno. */
int swap_log_append(struct swap_log *l, enum swap_log_kind kind, uint64_t vm_id,
		    const struct swap_record *rec);

/* One entry of a batch (rec only read for SWAPPED). */
struct swap_log_item {
	enum swap_log_kind kind;
	uint64_t vm_id;
	struct swap_record rec;
};

#define SWAP_LOG_BATCH_MAX 4096u /* entries in one append (256 KiB) */

/* Appends n entries, in order, with one write and one data sync (group
 * commit): 0 once all are durable, -errno otherwise (then none counts as
 * appended; whole entries of a failed write may remain, each of them true,
 * and are overwritten by the next append). -E2BIG above SWAP_LOG_BATCH_MAX. */
int swap_log_append_batch(struct swap_log *l, const struct swap_log_item *items, size_t n);

/* Durable appends so far, and the entries they held. */
void swap_log_get_counters(struct swap_log *l, uint64_t *appends, uint64_t *entries);

/* Calls fn once per VM the log names (in id order) with its last entry:
 * rec non-NULL if it is in its slot, NULL if it must boot afresh (RESIDENT).
 * GONE VMs are not reported. Returns the number of entries read, or
 * -EBADMSG (a bad entry before the last one: nothing is reported) or
 * -errno, with err. A missing file is an empty log. */
typedef void (*swap_log_fn)(uint64_t vm_id, const struct swap_record *rec, void *arg);
long swap_log_replay(const char *path, swap_log_fn fn, void *arg, char *err, size_t errlen);

#endif

/*
 * The switch's uplink: a tap device read and written through its own
 * io_uring on a thread of its own (it never runs guests), several frames per
 * submission. If the tap goes away (deleted, EBADFD/EIO on read), the uplink
 * is marked down and counted, VM <-> VM traffic goes on, and the tap is
 * re-attached when an interface of that name exists again (checked twice a
 * second) or when tap_uplink_attach() names one.
 */
#ifndef DENALI_DEVICES_TAP_H
#define DENALI_DEVICES_TAP_H

#include <stddef.h>
#include <stdint.h>

struct netsw;
struct tap_uplink;

struct tap_stats {
	uint64_t rx_frames, rx_bytes; /* read from the tap */
	uint64_t tx_frames, tx_bytes; /* written to the tap */
	uint64_t tx_direct;	      /* of tx_frames, written by workers (tap.c) */
	uint64_t tx_submits;	      /* io_uring_submit calls carrying writes */
	uint64_t tx_submit_errors;    /* worker submissions that left direct writes behind */
	uint64_t tx_requeued;	      /* direct writes withdrawn then, their frames queued */
	uint64_t rx_errors, tx_errors, tx_short;
	uint64_t down_events, reattaches;
	int up;
	int multishot; /* reads: one multishot read (1), or one read per buffer */
};

/* Process-wide, before tap_uplink_open(): 0 makes uplinks post one read
 * per buffer even where the kernel has the multishot read (an ablation;
 * the default is 1, the multishot read where the kernel has it). */
void tap_set_multishot(int on);
/* Process-wide, before tap_uplink_open(): 0 makes every frame for the
 * uplink go through the uplink thread's queue, as before direct writes
 * (an ablation; the default is 1: a worker writes its VM's frames itself). */
void tap_set_direct_writes(int on);

/* Tests only: the submission the direct writers use (NULL: io_uring_submit),
 * to make it fail. */
struct io_uring;
void tap_test_set_submit(int (*submit)(struct io_uring *ring));

/* Opens (or creates, with CAP_NET_ADMIN) the tap NAME on the calling
 * thread, starts the uplink thread, which drops every capability before
 * this returns (re-attaching needs none, tap.c), and plugs it into sw.
 * wait_busy: a tap still attached elsewhere (EBUSY, as a restarted
 * daemon's tap is for a moment) is waited for, up to 10 s, instead of
 * failing at once; only a caller that may block says so.
 * 0 or -errno with err set. */
int tap_uplink_open(struct netsw *sw, const char *name, int wait_busy, struct tap_uplink **out,
		    char *err, size_t errlen);

/* Attaches the uplink to the existing tap NAME now (or again to its own if
 * NULL), leaving the one it has if it is another; returns once the uplink
 * thread has tried (at most 3 s): 0 (up on NAME), or -errno with err set.
 * Any thread but the uplink's. */
int tap_uplink_attach(struct tap_uplink *u, const char *name, char *err, size_t errlen);

/* Counters (plain loads). */
void tap_uplink_stats(const struct tap_uplink *u, struct tap_stats *out);
const char *tap_uplink_name(const struct tap_uplink *u);

void tap_uplink_close(struct tap_uplink *u);

#endif

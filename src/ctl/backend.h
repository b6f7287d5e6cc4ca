/* The control plane's only view of the daemon: a table of operations that the
 * daemon implements on its fast path and the control thread calls. */
#ifndef DENALI_CTL_BACKEND_H
#define DENALI_CTL_BACKEND_H

#include "owner.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What `start` needs to know about one VM. argv holds the guest's arguments
 * (not the image), argc of them, followed by a NULL. */
struct vm_spec {
	char name[64];
	uint64_t id; /* unique for the life of the state directory; 0 = the backend picks */
	char image[4096];
	uint64_t mem_bytes;
	int argc;
	char **argv;
	void *batch; /* from batch_open, or NULL */
	/* devices (issue 9) */
	int net;	 /* a NIC on the daemon's switch */
	char disk[4096]; /* raw disk image path, "" = none */
	int disk_ro;
	int disk_direct; /* O_DIRECT for aligned requests */
	/* who asked: the image and disk are opened only if this user may (owner.h) */
	struct ctl_owner owner;
};

struct ctl_backend {
	void *ctx;
	/* Each returns 0 or -errno and fills err with a one-line human message on failure. */
	int (*start)(void *ctx, const struct vm_spec *spec, char *err, size_t errlen);
	int (*stop)(void *ctx, const char *name, char *err, size_t errlen);
	/* New reference: array of objects {name, state, reason (string or null), worker, cpu_ms,
	 * exits, resident_kib, uptime_s}. */
	json_t *(*list)(void *ctx);
	/* Optional: the same list in steps, so that the serving loop never builds all of it at
	 * once (100,000 VMs took it 3 s). list_begin: a cursor over the VMs registered now, in
	 * list order, or NULL (out of memory). list_next: appends the entries of the cursor's
	 * next VMs, at most max of them, to arr (VMs stopped since are left out); returns 1
	 * once the cursor is at its end, 0 while more are left. list_end frees the cursor. */
	void *(*list_begin)(void *ctx);
	int (*list_next)(void *ctx, void *cursor, json_t *arr, size_t max);
	void (*list_end)(void *ctx, void *cursor);
	/* New reference: object {vms_by_state: {...}, exits_per_s, hypercalls: {idle, exit, kick,
	 * panic}, workers: [{id, utilisation}]}. */
	json_t *(*stats)(void *ctx);
	/* Copy console output of NAME from absolute byte offset; returns bytes copied (0 = nothing
	 * new), -ENOENT if no such VM; *next = offset after the copied bytes (if output older than
	 * the in-memory buffer was dropped, it skips forward). */
	ssize_t (*console_read)(void *ctx, const char *name, uint64_t offset, char *buf, size_t len,
				uint64_t *next);
	/* Names of all VMs, for stop --all: new reference, array of strings. */
	json_t *(*names)(void *ctx);
	/* Optional. Before the first of count VMs like spec starts: checks and takes room for all
	 * of them and reads the image once; start() then gets *batch in spec->batch. batch_close
	 * gives back what the batch did not use. 0 or -errno with err filled. */
	int (*batch_open)(void *ctx, const struct vm_spec *spec, unsigned count, void **batch,
			  char *err, size_t errlen);
	void (*batch_close)(void *ctx, void *batch);
	/* Optional. Asks NAME to stop without waiting; a stop() that follows waits for it. */
	void (*stop_begin)(void *ctx, const char *name);
	/* Optional. Like stop(), but -EINPROGRESS instead of waiting for a VM still stopping. */
	int (*stop_try)(void *ctx, const char *name, char *err, size_t errlen);
	/* Optional. One VM's counters (new reference), NULL if there is no such VM. */
	json_t *(*vm_stats)(void *ctx, const char *name);
	/* Optional. Life-cycle events numbered above since, oldest first, at most max: array of
	 * {seq, time_ms, vm, id, event (start, exit, kill, stop), code, reason}. */
	json_t *(*events)(void *ctx, uint64_t since, size_t max);
	/* Optional. 1 if NAME has exited or been killed, 0 if it runs, -ENOENT. */
	int (*vm_ended)(void *ctx, const char *name);
	/* Optional. The metrics view's per-VM rows (new reference): {"vms": [at most max of
	 * {name, id, state, worker, counters, console_bytes, console_dropped, mem_bytes}, the VMs
	 * that used the most CPU first], "registered": every VM}. Called from the metrics thread
	 * too, so it must be thread-safe (as list and stats are). */
	json_t *(*metrics_vms)(void *ctx, unsigned max);
	/* Optional (denalid serve --swap). Swaps NAME out (in = 0) or in (in = 1) and returns
	 * once it is done: 0, or -errno with err (-EBUSY: running or I/O in flight, -EALREADY:
	 * already there, -EINVAL: no swap on this daemon). */
	int (*swap)(void *ctx, const char *name, int in, char *err, size_t errlen);
	/* Optional. Asks for NAME to be swapped in without waiting; a swap() in of it that
	 * follows waits (a `swap in` of many VMs asks for all first: they are read back side by
	 * side, on every worker). 0 or -errno, as swap(). */
	int (*swap_in_begin)(void *ctx, const char *name);
	/* Optional. At shutdown, instead of stopping the VMs: keeps the fleet for the next start
	 * (denalid serve --swap swaps every VM out; they resume from their slots). 0 if done
	 * (backend_close then ends what is left), -errno to stop them as usual. */
	int (*suspend)(void *ctx);
	/* Optional. Writes NAME (swapped out first) as one export file STATE/exports/FILE / starts
	 * the VM in STATE/exports/FILE (named NAME, or as the file says when NAME is ""): 0 or
	 * -errno with err. FILE is a plain file name. */
	int (*export_vm)(void *ctx, const char *name, const char *file, char *err, size_t errlen);
	int (*import_vm)(void *ctx, const char *file, const char *name, char *err, size_t errlen);
	/* Optional (denalid serve --net). Attaches the switch's uplink to the existing tap TAP
	 * (instead of the one it has, or as its first), no VM restarted, and returns once the
	 * uplink is up on it: 0, or -errno with err (-EINVAL: no switch here). */
	int (*net_attach)(void *ctx, const char *tap, char *err, size_t errlen);
};

#endif

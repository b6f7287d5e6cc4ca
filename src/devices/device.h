/*
 * The device interface: one ops table per device kind, an array of devices
 * per VM that vm_run() walks. A device sees only its VM's memory (struct
 * dev_guest) and never calls into the VM layer: a guest fault comes back as
 * -EFAULT with the reason in `why`, and the VM layer kills with it. Events a
 * device raises come back as DENALI_EV_* bits in *events, or, from other
 * threads, through the wake hook the scheduler installs at attach. One
 * exception: a device that serves its rings from another thread while the
 * guest runs (net, between fill() and the next drain()) ORs the bits into
 * the shared page itself, the guest being there to see them.
 */
#ifndef DENALI_DEVICES_DEVICE_H
#define DENALI_DEVICES_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct io_uring;
struct device;
struct blk_poll;

/* What a device may touch of its VM: the guest memory, checked through
 * gpa_to_hva() with the access it makes (GPA_READ for what the guest sends,
 * GPA_WRITE for what the device stores). mem is NULL while suspended. */
struct dev_guest {
	uint8_t *mem;
	uint64_t mem_size;
	const char *name; /* for messages */
};

/*
 * One host I/O a device submitted to its worker's io_uring: the SQE's
 * user_data is dev_io_data(io), and the worker calls io->done(io, cqe->res)
 * on its own thread when it reaps the completion. The object embeds it.
 */
struct dev_io {
	void (*done)(struct dev_io *io, int res);
};

/* user_data = operation in the top 8 bits, object address below. */
#define DEV_UD_SHIFT   56
#define DEV_UD_DEVIO   2ull /* a struct dev_io */
#define DEV_UD_OBJ(ud) ((ud) & ((1ull << DEV_UD_SHIFT) - 1))
#define DEV_UD_OP(ud)  ((ud) >> DEV_UD_SHIFT)

static inline uint64_t dev_io_data(struct dev_io *io)
{
	return (DEV_UD_DEVIO << DEV_UD_SHIFT) | (uint64_t)(uintptr_t)io;
}

/*
 * Where a device runs: the owning worker's io_uring (NULL when the VM has
 * none, e.g. in unit tests) and the hook that wakes the VM from any thread.
 * wake() is cheap and coalesced by the caller: it posts events and, if the
 * VM is parked, makes its worker run it.
 */
struct dev_host {
	struct io_uring *ring;
	void (*wake)(void *arg, uint64_t events);
	void *wake_arg;
	/* Reaps and dispatches completions of the owning worker's ring until
	 * at least one arrives (for a device that must quiesce). 0 or -errno. */
	int (*reap)(void *arg);
	void *reap_arg;
	/* Handles the completions already there, without waiting (reap_arg):
	 * a request the kernel finished inside the submit (page cache) is
	 * answered on this same exit, with no trip through the scheduler. */
	void (*poll)(void *arg);
	/* The worker's block poller (blk_poll.h), or NULL: none, or switched off. */
	struct blk_poll *blk_poll;
};

/* One named counter, for stats. */
struct dev_counter {
	const char *name;
	uint64_t value;
};

#define DEV_COUNTERS_MAX 24
#define DEV_WHY_MAX	 256

struct device_ops {
	const char *kind;   /* "console", "net", "blk" */
	uint32_t ring_mask; /* DENALI_RING_* served, for KICK */
	/* The VM is now owned by the worker described by h (NULL ops allowed). */
	int (*attach)(struct device *d, const struct dev_host *h);
	/* Before every entry: fill receive rings. 0, or -EFAULT with why. */
	int (*fill)(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen);
	/* At every exit, fatal ones included: consume transmit rings. */
	int (*drain)(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		     size_t whylen);
	/* KICK for one of ring_mask: push out what drain queued, now. */
	int (*kick)(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen);
	/* Before the VM's memory goes away (suspend, swap-out, stop): finish
	 * in-flight host I/O; afterwards the device touches no guest memory
	 * until the next fill or drain. Receiving may go on (queued, woken). */
	void (*quiesce)(struct device *d);
	/* The VM is swapped out (its state is in its slot): release what the
	 * device holds for it that can be made again (a NIC's receive queue);
	 * frames still arrive, bounded, and still wake it. unpark: before it
	 * runs again; 0 or -errno (the swap-in fails, the VM is killed). */
	void (*park)(struct device *d);
	int (*unpark)(struct device *d);
	/* Swapped out, before the swap-in is handed to the worker: takes back
	 * what park() let go of that only a thread allowed to open files can
	 * (a disk's file: a worker's seccomp filter refuses open). Not on a
	 * worker. 0 or -errno; unpark() then answers that error. */
	int (*reopen)(struct device *d);
	/* The VM leaves its worker for good: no wake-up after this returns. */
	void (*detach)(struct device *d);
	/* Device state for a snapshot: bytes written into buf (at most cap). */
	size_t (*save)(const struct device *d, void *buf, size_t cap);
	/* Restores what save() wrote; every field is checked. 0 or -EINVAL. */
	int (*restore)(struct device *d, const void *buf, size_t len);
	/* Fills up to max counters; returns how many. Any thread (plain loads). */
	unsigned (*counters)(const struct device *d, struct dev_counter *out, unsigned max);
	void (*free)(struct device *d);
};

/* Embedded first in every device's own struct. */
struct device {
	const struct device_ops *ops;
};

/* Formats the reason for a guest fault into why; returns -EFAULT. */
int dev_fault(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies up to max of the n counters in all to out; returns how many. */
unsigned dev_counters_copy(const struct dev_counter *all, unsigned n, struct dev_counter *out,
			   unsigned max);

/* Device state made of n 32-bit ring positions: save() writes them (0 when
 * cap is too small), restore() takes exactly that many (-EINVAL otherwise). */
size_t dev_save_u32(const uint32_t *v, unsigned n, void *buf, size_t cap);
int dev_restore_u32(uint32_t *v, unsigned n, const void *buf, size_t len);

/* CLOCK_MONOTONIC in ns, for the devices' rate limits and spin windows. */
static inline uint64_t dev_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif

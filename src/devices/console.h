/*
 * Console device: drains the guest's console ring into a bounded in-memory
 * buffer (for `denalictl console`) and an output sink, with a per-VM rate
 * limit so that a flooding guest costs bounded memory and log space.
 */
#ifndef DENALI_DEVICES_CONSOLE_H
#define DENALI_DEVICES_CONSOLE_H

#include "device.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_BUF_SIZE (64u << 10)  /* kept in memory per VM */
#define CONSOLE_BURST	 (1u << 20)   /* bytes a VM may write at once */
#define CONSOLE_RATE	 (256u << 10) /* bytes per second sustained */

/* Called on the worker thread with every accepted chunk of output. */
typedef void (*console_sink_fn)(const char *buf, size_t len, void *arg);

struct console_dev {
	struct device dev;  /* first: the device array holds &dev */
	uint32_t cons;	    /* monitor's consumer counter */
	uint64_t written;   /* bytes accepted, ever */
	uint64_t dropped;   /* bytes dropped by the rate limit */
	uint64_t tokens;    /* rate-limit bucket, bytes */
	uint64_t refill_ns; /* last refill */
	int dropping;	    /* inside a drop episode */
	char *buf;	    /* CONSOLE_BUF_SIZE ring of the latest output, lazily */
	char *tail;	    /* while buf is released (swapped out): the latest tail_len bytes */
	uint32_t tail_len;
	pthread_mutex_t lock; /* buf and written, for readers on other threads */
	console_sink_fn sink;
	void *sink_arg;
};

void console_init(struct console_dev *c, console_sink_fn sink, void *arg);
void console_free(struct console_dev *c);

/*
 * Consumes every ready descriptor of the VM's console ring (the drain op of
 * the console device). Returns 0, or -EFAULT with the reason in why (a bad
 * index or descriptor: the caller kills the VM).
 */
int console_drain(struct console_dev *c, const struct dev_guest *g, char *why, size_t whylen);

/*
 * Releases the ring (a VM being swapped out) and keeps only the latest
 * min(keep, what the ring holds) bytes, in a buffer of just that size, for
 * readers (the console log, `denalictl console`) until the ring comes back.
 * Output is never lost to readers that keep up: it is the ring's tail.
 */
void console_shrink(struct console_dev *c, size_t keep);

/*
 * Copies buffered output from absolute offset off. Returns bytes copied and
 * sets *next; output older than the buffer is skipped.
 */
size_t console_read(struct console_dev *c, uint64_t off, char *out, size_t len, uint64_t *next);

#endif

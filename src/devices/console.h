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

#define CONSOLE_LOG_CHUNK CONSOLE_BUF_SIZE /* at most bytes per console.log write */

/* What the worker asks of the opener (console_log_want()). */
enum { CONSOLE_LOG_IDLE, CONSOLE_LOG_OPEN, CONSOLE_LOG_ROTATE };

/*
 * The console's log file, written by the owning worker through its io_uring
 * (console_file.c): accepted output goes from the in-memory ring to the file
 * in writes of what is new (up to the whole ring), one in flight, its
 * completion reaped at the next exit. The worker cannot open files
 * (seccomp): it asks (want), another thread opens or rotates the file and
 * hands the descriptor over (fd_in); the worker closes it once nothing is
 * left to write, so a quiet VM holds no descriptor. Every byte accepted that
 * does not reach the file is counted in lost. pos, the counters and the
 * descriptor are the worker's while the VM is attached, the control
 * thread's after it ended (console_log_take_rest()).
 */
struct console_log {
	uint64_t max;  /* rotate at this size; 0 = no log file */
	uint64_t pos;  /* console offset of the next byte to log */
	uint64_t size; /* of the file being written */
	uint64_t bytes, lost, errors;
	int fd;		  /* the worker's, -1 = none */
	int fd_in;	  /* handed over: fd + 1, 0 = none (atomic) */
	uint64_t size_in; /* the handed file's size, set before fd_in */
	int want;	  /* CONSOLE_LOG_* (atomic) */
	int busy, quiescing;
	unsigned retries;  /* -EAGAIN/-EINTR answers to this write so far */
	uint32_t len, off; /* the write in flight: buf[off, len) still to go */
	char *buf;	   /* CONSOLE_LOG_CHUNK, lazily */
	struct dev_io io;
	struct io_uring *ring; /* the owning worker's, NULL while detached */
	int (*reap)(void *arg);
	void (*poll)(void *arg);
	void *reap_arg;
	void (*notify)(void *arg); /* tells the opener that want was set (any thread) */
	void *notify_arg;
};

struct console_dev {
	struct device dev;  /* first: the device array holds &dev */
	uint32_t cons;	    /* monitor's consumer counter */
	uint64_t written;   /* bytes accepted, ever */
	uint64_t dropped;   /* bytes dropped by the rate limit */
	uint64_t tokens;    /* rate-limit bucket, bytes */
	uint64_t refill_ns; /* last refill */
	int dropping;	    /* inside a drop episode */
	uint64_t kept_from; /* oldest offset buf holds (after a swap: the tail's start) */
	char *buf;	    /* CONSOLE_BUF_SIZE ring of the latest output, lazily */
	char *tail;	    /* while buf is released (swapped out): the latest tail_len bytes */
	uint32_t tail_len;
	pthread_mutex_t lock; /* buf and written, for readers on other threads */
	console_sink_fn sink;
	void *sink_arg;
	struct console_log log;
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

/* The log file (console_file.c). */

/* Logs from now on, rotating at max bytes (0: no log); notify(arg) is called on the worker
 * when it sets want (it must not block). Before the VM runs. */
void console_log_enable(struct console_dev *c, uint64_t max, void (*notify)(void *), void *arg);

/* Worker: starts the next write if one can go (called at every drain and completion). */
void console_log_kick(struct console_dev *c);

/* Worker: the VM leaves its worker or its memory goes: waits for the write in flight and
 * closes the descriptors (what is left is written later, from pos). */
void console_log_quiesce(struct console_dev *c);

/* Any thread: what the worker asks for (CONSOLE_LOG_*). */
int console_log_want(const struct console_dev *c);

/* Any thread: hands over fd (the log file, size bytes long) after a want; the worker takes
 * it at its next kick. An fd not taken is closed by the next hand-over or the free. */
void console_log_hand(struct console_dev *c, int fd, uint64_t size);

/* The opener could not open the file: the bytes waiting for it are lost, counted. */
void console_log_fail(struct console_dev *c);

/* After the VM ended (no worker touches it any more) the control thread writes the rest
 * itself from log.pos, and moves pos, bytes, lost and size on (cmd/console_log.c). */

#endif

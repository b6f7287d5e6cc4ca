/*
 * The console's log file through the owning worker's io_uring (console.h,
 * struct console_log). The worker never blocks on the file: one write at a
 * time is in flight, from a staging buffer (the ring may move on under it);
 * a completion starts the next. Output that leaves the in-memory ring
 * before it was written, and every byte of a failed write (ENOSPC, EIO),
 * is counted as lost; the VM does not notice.
 */
#include "console.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_RETRIES 8 /* -EAGAIN/-EINTR in a row before a write is given up */

static void lose(struct console_log *l, uint64_t n)
{
	__atomic_fetch_add(&l->lost, n, __ATOMIC_RELAXED);
}

void console_log_enable(struct console_dev *c, uint64_t max, void (*notify)(void *), void *arg)
{
	c->log.max = max;
	c->log.pos = c->written;
	c->log.notify = notify;
	c->log.notify_arg = arg;
}

static void ask(struct console_log *l, int want)
{
	if (__atomic_exchange_n(&l->want, want, __ATOMIC_ACQ_REL) != want && l->notify)
		l->notify(l->notify_arg);
}

int console_log_want(const struct console_dev *c)
{
	return __atomic_load_n(&c->log.want, __ATOMIC_ACQUIRE);
}

void console_log_hand(struct console_dev *c, int fd, uint64_t size)
{
	int old;

	c->log.size_in = size;
	old = __atomic_exchange_n(&c->log.fd_in, fd + 1, __ATOMIC_ACQ_REL);
	if (old)
		close(old - 1); /* not taken: the VM ended or was swapped out meanwhile */
	__atomic_store_n(&c->log.want, CONSOLE_LOG_IDLE, __ATOMIC_RELEASE);
}

void console_log_fail(struct console_dev *c)
{
	__atomic_fetch_add(&c->log.errors, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->log.want, CONSOLE_LOG_IDLE, __ATOMIC_RELEASE);
}

/* The descriptor and the staging buffer go: a quiet VM keeps neither. */
static void close_fd(struct console_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->buf);
	l->buf = NULL;
}

static void on_write(struct dev_io *io, int res);

static int submit(struct console_log *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(l->ring);

	if (!sqe) {
		io_uring_submit(l->ring);
		if (!(sqe = io_uring_get_sqe(l->ring)))
			return -EBUSY;
	}
	/* Offset -1: at the file position, which O_APPEND keeps at the end. */
	io_uring_prep_write(sqe, l->fd, l->buf + l->off, l->len - l->off, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, dev_io_data(&l->io));
	io_uring_submit(l->ring);
	l->busy = 1;
	return 0;
}

void console_log_kick(struct console_dev *c)
{
	struct console_log *l = &c->log;
	uint64_t oldest, n;
	int in;

	if (!l->max || l->busy || l->quiescing || !l->ring || !c->buf)
		return;
	if (l->fd < 0 && (in = __atomic_exchange_n(&l->fd_in, 0, __ATOMIC_ACQ_REL))) {
		l->fd = in - 1;
		l->size = l->size_in;
	}
	oldest = c->written > CONSOLE_BUF_SIZE ? c->written - CONSOLE_BUF_SIZE : 0;
	if (oldest < c->kept_from)
		oldest = c->kept_from;
	if (l->pos < oldest) { /* overwritten before it could be written */
		lose(l, oldest - l->pos);
		l->pos = oldest;
	}
	if (l->pos == c->written) {
		close_fd(l); /* nothing to write: a quiet VM holds no descriptor */
		return;
	}
	if (l->fd < 0) {
		if (!console_log_want(c))
			ask(l, CONSOLE_LOG_OPEN);
		return;
	}
	if (l->size >= l->max) {
		close_fd(l);
		ask(l, CONSOLE_LOG_ROTATE);
		return;
	}
	if (!l->buf && !(l->buf = malloc(CONSOLE_LOG_CHUNK)))
		return; /* tried again at the next exit */
	n = c->written - l->pos;
	if (n > CONSOLE_LOG_CHUNK)
		n = CONSOLE_LOG_CHUNK;
	if (n > l->max - l->size)
		n = l->max - l->size;
	for (uint64_t i = 0; i < n;) { /* the ring wraps at most once in a chunk */
		size_t at = (size_t)((l->pos + i) % CONSOLE_BUF_SIZE);
		size_t k = CONSOLE_BUF_SIZE - at < n - i ? CONSOLE_BUF_SIZE - at : (size_t)(n - i);

		memcpy(l->buf + i, c->buf + at, k);
		i += k;
	}
	l->len = (uint32_t)n;
	l->off = 0;
	l->io.done = on_write;
	if (submit(l) == 0)
		l->pos += n;
}

static void on_write(struct dev_io *io, int res)
{
	struct console_log *l =
	    (struct console_log *)((char *)io - offsetof(struct console_log, io));
	struct console_dev *c =
	    (struct console_dev *)((char *)l - offsetof(struct console_dev, log));
	l->busy = 0;
	if ((res == -EAGAIN || res == -EINTR) && l->retries++ < LOG_RETRIES && submit(l) == 0)
		return;
	l->retries = 0;
	if (res <= 0) { /* ENOSPC, EIO, EFBIG: this chunk is lost, the next may fit */
		__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
		lose(l, l->len - l->off);
	} else {
		__atomic_fetch_add(&l->bytes, (uint64_t)res, __ATOMIC_RELAXED);
		l->size += (uint64_t)res;
		l->off += (uint32_t)res;
		if (l->off < l->len && submit(l) == 0)
			return; /* short: the rest */
		if (l->off < l->len)
			lose(l, l->len - l->off);
	}
	console_log_kick(c);
}

void console_log_quiesce(struct console_dev *c)
{
	struct console_log *l = &c->log;
	int in;

	l->quiescing = 1;
	while (l->busy && l->reap)
		if (l->reap(l->reap_arg) < 0)
			break;
	l->quiescing = 0;
	if (l->busy)
		return; /* cannot wait here (no ring): the completion still owns it */
	close_fd(l);
	__atomic_store_n(&l->want, CONSOLE_LOG_IDLE, __ATOMIC_RELEASE); /* asked again later */
	if ((in = __atomic_exchange_n(&l->fd_in, 0, __ATOMIC_ACQ_REL)))
		close(in - 1);
}

/*
 * Console ring: the guest posts output buffers as descriptors; the monitor
 * copies them out at every exit. Every index and descriptor is checked; a
 * bad one is reported to the VM layer, which kills the VM.
 */
#include "console.h"

#include "../vmm/gpa.h"
#include "ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char drop_note[] = "\n[denali: console output dropped: rate limit]\n";

static int op_drain(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen)
{
	struct console_dev *c = (struct console_dev *)d;
	int rc = console_drain(c, g, why, whylen);

	(void)events;
	/* The last write's completion first (it starts the next), then what is new. */
	if (c->log.busy && c->log.poll)
		c->log.poll(c->log.reap_arg);
	if (c->log.pos != c->written)
		console_log_kick(c);
	return rc;
}

static int op_attach(struct device *d, const struct dev_host *h)
{
	struct console_dev *c = (struct console_dev *)d;

	c->log.ring = h->ring;
	c->log.reap = h->reap;
	c->log.poll = h->poll;
	c->log.reap_arg = h->reap_arg;
	return 0;
}

static void op_quiesce(struct device *d)
{
	console_log_quiesce((struct console_dev *)d);
}

static void op_detach(struct device *d)
{
	struct console_dev *c = (struct console_dev *)d;

	console_log_quiesce(c);
	if (!c->log.busy) {
		c->log.ring = NULL;
		c->log.reap = NULL;
		c->log.poll = NULL;
	}
}

static unsigned op_counters(const struct device *d, struct dev_counter *out, unsigned max)
{
	const struct console_dev *c = (const struct console_dev *)d;
	unsigned n = 0;

	if (n < max)
		out[n++] = (struct dev_counter){"console_bytes", c->written};
	if (n < max)
		out[n++] = (struct dev_counter){"console_dropped_bytes", c->dropped};
	if (n < max)
		out[n++] = (struct dev_counter){"console_log_bytes",
						__atomic_load_n(&c->log.bytes, __ATOMIC_RELAXED)};
	if (n < max)
		out[n++] = (struct dev_counter){"console_log_lost_bytes",
						__atomic_load_n(&c->log.lost, __ATOMIC_RELAXED)};
	if (n < max)
		out[n++] = (struct dev_counter){"console_log_errors",
						__atomic_load_n(&c->log.errors, __ATOMIC_RELAXED)};
	return n;
}

static size_t op_save(const struct device *d, void *buf, size_t cap)
{
	const struct console_dev *c = (const struct console_dev *)d;

	if (cap < sizeof(c->cons))
		return 0;
	memcpy(buf, &c->cons, sizeof(c->cons));
	return sizeof(c->cons);
}

static int op_restore(struct device *d, const void *buf, size_t len)
{
	struct console_dev *c = (struct console_dev *)d;

	if (len != sizeof(c->cons))
		return -EINVAL;
	memcpy(&c->cons, buf, sizeof(c->cons));
	return 0;
}

static const struct device_ops console_ops = {
    .kind = "console",
    .ring_mask = DENALI_RING_CONSOLE,
    .attach = op_attach,
    .drain = op_drain,
    .quiesce = op_quiesce,
    .detach = op_detach,
    .save = op_save,
    .restore = op_restore,
    .counters = op_counters,
};

void console_init(struct console_dev *c, console_sink_fn sink, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->dev.ops = &console_ops;
	c->tokens = CONSOLE_BURST;
	c->refill_ns = dev_now_ns();
	c->sink = sink;
	c->sink_arg = arg;
	c->log.fd = -1;
	pthread_mutex_init(&c->lock, NULL);
}

void console_free(struct console_dev *c)
{
	int in = __atomic_exchange_n(&c->log.fd_in, 0, __ATOMIC_ACQ_REL);

	if (in)
		close(in - 1);
	if (c->log.fd >= 0)
		close(c->log.fd);
	c->log.fd = -1;
	free(c->log.buf);
	c->log.buf = NULL;
	free(c->buf);
	c->buf = NULL;
	free(c->tail);
	c->tail = NULL;
	c->tail_len = 0;
	pthread_mutex_destroy(&c->lock);
}

/* A ring again after console_shrink(): the kept tail goes back in first. Lock held. */
static void ring_back(struct console_dev *c)
{
	c->buf = malloc(CONSOLE_BUF_SIZE);
	/* The rest of the new ring holds nothing of this VM's: not to be read. */
	c->kept_from = c->written - (c->tail ? c->tail_len : 0);
	if (c->buf && c->tail)
		for (uint32_t i = 0; i < c->tail_len; i++)
			c->buf[(c->written - c->tail_len + i) % CONSOLE_BUF_SIZE] = c->tail[i];
	free(c->tail);
	c->tail = NULL;
	c->tail_len = 0;
}

void console_shrink(struct console_dev *c, size_t keep)
{
	pthread_mutex_lock(&c->lock);
	if (c->buf) {
		uint64_t have = c->written < CONSOLE_BUF_SIZE ? c->written : CONSOLE_BUF_SIZE;
		uint32_t n = (uint32_t)(have < keep ? have : keep);

		free(c->tail);
		c->tail = n ? malloc(n) : NULL;
		c->tail_len = c->tail ? n : 0;
		for (uint32_t i = 0; i < c->tail_len; i++)
			c->tail[i] = c->buf[(c->written - n + i) % CONSOLE_BUF_SIZE];
		free(c->buf);
		c->buf = NULL;
	}
	pthread_mutex_unlock(&c->lock);
}

static void keep(struct console_dev *c, const char *p, size_t n)
{
	pthread_mutex_lock(&c->lock);
	if (!c->buf)
		ring_back(c);
	if (c->buf) {
		for (size_t i = 0; i < n;) {
			size_t at = (c->written + i) % CONSOLE_BUF_SIZE;
			size_t chunk =
			    CONSOLE_BUF_SIZE - at < n - i ? CONSOLE_BUF_SIZE - at : n - i;

			memcpy(c->buf + at, p + i, chunk);
			i += chunk;
		}
	}
	c->written += n;
	pthread_mutex_unlock(&c->lock);
	if (c->sink)
		c->sink(p, n, c->sink_arg);
}

static void refill(struct console_dev *c)
{
	uint64_t now = dev_now_ns(), add;

	add = (now - c->refill_ns) * CONSOLE_RATE / 1000000000ull;
	if (add) {
		c->tokens = c->tokens + add > CONSOLE_BURST ? CONSOLE_BURST : c->tokens + add;
		c->refill_ns = now;
	}
}

static void emit(struct console_dev *c, const char *p, size_t n)
{
	if (c->tokens < n)
		refill(c);
	if (c->tokens < n) {
		if (!c->dropping)
			keep(c, drop_note, sizeof(drop_note) - 1);
		c->dropping = 1;
		c->dropped += n;
		return;
	}
	c->tokens -= n;
	c->dropping = 0;
	keep(c, p, n);
}

int console_drain(struct console_dev *c, const struct dev_guest *g, char *why, size_t whylen)
{
	struct denali_ring *r = (struct denali_ring *)(g->mem + DENALI_CONSOLE_RING_GPA);
	uint32_t prod = ring_read_index(&r->avail_prod);
	int n = ring_pending(prod, c->cons);

	if (n == 0)
		return 0;
	if (n < 0) {
		snprintf(why, whylen,
			 "console ring: producer index %u is out of range (consumer %u, size %u)",
			 prod, c->cons, DENALI_RING_SIZE);
		return -EFAULT;
	}
	for (; c->cons != prod; c->cons++) {
		struct denali_desc d;
		const char *p;

		memcpy(&d, &r->desc[c->cons % DENALI_RING_SIZE], sizeof(d));
		if (d.len > DENALI_CONSOLE_DESC_MAX) {
			snprintf(why, whylen, "console ring: descriptor %u length %u exceeds %u",
				 c->cons % DENALI_RING_SIZE, d.len, DENALI_CONSOLE_DESC_MAX);
			return -EFAULT;
		}
		p = gpa_to_hva(g->mem, g->mem_size, d.addr, d.len, GPA_READ);
		if (!p) {
			snprintf(why, whylen,
				 "console ring: descriptor %u [0x%lx, +%u) is outside guest memory "
				 "or on a monitor page",
				 c->cons % DENALI_RING_SIZE, d.addr, d.len);
			return -EFAULT;
		}
		emit(c, p, d.len);
	}
	ring_write_index(&r->avail_cons, c->cons);
	return 0;
}

static size_t read_locked(const struct console_dev *c, uint64_t off, char *out, size_t len,
			  uint64_t *next);

size_t console_read(struct console_dev *c, uint64_t off, char *out, size_t len, uint64_t *next)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = read_locked(c, off, out, len, next);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static size_t read_locked(const struct console_dev *c, uint64_t off, char *out, size_t len,
			  uint64_t *next)
{
	uint64_t oldest = c->written > CONSOLE_BUF_SIZE ? c->written - CONSOLE_BUF_SIZE : 0;
	size_t n = 0;

	if (c->buf && oldest < c->kept_from)
		oldest = c->kept_from;
	if (!c->buf && c->tail)
		oldest = c->written - c->tail_len;
	if (off < oldest)
		off = oldest;
	if (!c->buf && c->tail && off < c->written) {
		while (n < len && off + n < c->written) {
			out[n] = c->tail[off + n - oldest];
			n++;
		}
		*next = off + n;
		return n;
	}
	if (!c->buf || off >= c->written) {
		*next = off > c->written ? c->written : off;
		return 0;
	}
	while (n < len && off + n < c->written) {
		out[n] = c->buf[(off + n) % CONSOLE_BUF_SIZE];
		n++;
	}
	*next = off + n;
	return n;
}

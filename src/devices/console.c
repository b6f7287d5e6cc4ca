/*
 * Console ring: the guest posts output buffers as descriptors; the monitor
 * copies them out at every exit. Every index and descriptor is checked; a
 * bad one kills the VM.
 */
#include "console.h"

#include "../vmm/gpa.h"
#include "../vmm/vm.h"
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char drop_note[] = "\n[denali: console output dropped: rate limit]\n";

void console_init(struct console_dev *c, console_sink_fn sink, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->tokens = CONSOLE_BURST;
	c->refill_ns = vm_now_ns();
	c->sink = sink;
	c->sink_arg = arg;
	pthread_mutex_init(&c->lock, NULL);
}

void console_free(struct console_dev *c)
{
	free(c->buf);
	c->buf = NULL;
	pthread_mutex_destroy(&c->lock);
}

static void keep(struct vm *vm, struct console_dev *c, const char *p, size_t n)
{
	pthread_mutex_lock(&c->lock);
	if (!c->buf)
		c->buf = malloc(CONSOLE_BUF_SIZE);
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
		c->sink(vm, p, n, c->sink_arg);
}

static void refill(struct console_dev *c)
{
	uint64_t now = vm_now_ns(), add;

	add = (now - c->refill_ns) * CONSOLE_RATE / 1000000000ull;
	if (add) {
		c->tokens = c->tokens + add > CONSOLE_BURST ? CONSOLE_BURST : c->tokens + add;
		c->refill_ns = now;
	}
}

static void emit(struct vm *vm, struct console_dev *c, const char *p, size_t n)
{
	if (c->tokens < n)
		refill(c);
	if (c->tokens < n) {
		if (!c->dropping)
			keep(vm, c, drop_note, sizeof(drop_note) - 1);
		c->dropping = 1;
		c->dropped += n;
		return;
	}
	c->tokens -= n;
	c->dropping = 0;
	keep(vm, c, p, n);
}

int console_drain(struct vm *vm)
{
	struct console_dev *c = &vm->console;
	struct denali_ring *r = (struct denali_ring *)(vm->mem + DENALI_CONSOLE_RING_GPA);
	uint32_t prod = ring_read_index(&r->avail_prod);
	int n = ring_pending(prod, c->cons);

	if (n == 0)
		return 0;
	if (n < 0) {
		vm_kill(vm,
			"console ring: producer index %u is out of range (consumer %u, size %u)",
			prod, c->cons, DENALI_RING_SIZE);
		return -EFAULT;
	}
	for (; c->cons != prod; c->cons++) {
		struct denali_desc d;
		const char *p;

		memcpy(&d, &r->desc[c->cons % DENALI_RING_SIZE], sizeof(d));
		if (d.len > DENALI_CONSOLE_DESC_MAX) {
			vm_kill(vm, "console ring: descriptor %u length %u exceeds %u",
				c->cons % DENALI_RING_SIZE, d.len, DENALI_CONSOLE_DESC_MAX);
			return -EFAULT;
		}
		p = gpa_to_hva(vm->mem, vm->mem_size, d.addr, d.len);
		if (!p) {
			vm_kill(vm,
				"console ring: descriptor %u [0x%lx, +%u) is outside guest memory",
				c->cons % DENALI_RING_SIZE, d.addr, d.len);
			return -EFAULT;
		}
		emit(vm, c, p, d.len);
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

	if (off < oldest)
		off = oldest;
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

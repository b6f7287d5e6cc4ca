/*
 * Console through its descriptor ring (DENALI_CONSOLE_RING_GPA).
 *
 * CONSOLE_BUFS static 4 KiB buffers, fewer than the ring's slots: a VM
 * printing line after line touches each buffer's page in turn, so more
 * buffers would be more resident pages, not more speed. The buffer of
 * producer index i is i % CONSOLE_BUFS, and at most CONSOLE_BUFS slots are
 * in flight, so a buffer is never posted twice at once. Bytes are written
 * straight into the buffer at our producer index; the slot is posted (desc
 * filled, avail_prod advanced with release ordering) at a newline, when the
 * buffer is full, or on flush. The monitor drains the ring at every exit, so
 * no kick is needed except when all CONSOLE_BUFS buffers are posted and not
 * yet consumed. A buffer is reused only after avail_cons has passed it,
 * i.e. after the monitor copied it out.
 */
#include "libos_private.h"
#include "ring.h"
#include <denali/libos.h>
#include <stdbool.h>
#include <string.h>

#define CONSOLE_BUFS 64u
_Static_assert(CONSOLE_BUFS <= DENALI_RING_SIZE, "console buffers fit the ring");

static char slot_buf[CONSOLE_BUFS][DENALI_CONSOLE_DESC_MAX] __attribute__((aligned(4096)));

static struct ring_side ring;
static uint32_t cur_len; /* bytes in slot_buf[next slot] */
static bool cur_open;	 /* slot at prod is free and being filled */

/* Wait until the slot at prod is free: kick, then idle briefly if the
 * monitor still has not consumed (it may be rate-limiting us). */
static void slot_open(void)
{
	ring_start(&ring, DENALI_CONSOLE_RING_GPA);
	while (ring_in_flight(&ring) >= CONSOLE_BUFS) {
		dn_kick(DENALI_RING_CONSOLE);
		if (ring_in_flight(&ring) < CONSOLE_BUFS)
			break;
		dn_idle(dn_now_ns() + 1000000);
	}
	cur_len = 0;
	cur_open = true;
}

static void slot_post(void)
{
	uint32_t buf = ring.prod % CONSOLE_BUFS;

	ring_post(&ring, (uintptr_t)slot_buf[buf], cur_len, (uint16_t)buf);
	cur_open = false;
	cur_len = 0;
}

size_t dn_console_write(const void *buf, size_t len)
{
	const char *p = buf;
	size_t left = len;

	while (left > 0) {
		if (!cur_open)
			slot_open();
		char *dst = slot_buf[ring.prod % CONSOLE_BUFS] + cur_len;
		size_t room = DENALI_CONSOLE_DESC_MAX - cur_len;
		size_t n = left < room ? left : room;
		const char *nl = memchr(p, '\n', n);

		if (nl != NULL)
			n = (size_t)(nl - p) + 1;
		memcpy(dst, p, n);
		cur_len += (uint32_t)n;
		p += n;
		left -= n;
		if (nl != NULL || cur_len == DENALI_CONSOLE_DESC_MAX)
			slot_post();
	}
	return len;
}

void dn_console_flush(void)
{
	if (cur_open && cur_len > 0)
		slot_post();
}

void dn_console_sync(void)
{
	dn_console_flush();
	dn_kick(DENALI_RING_CONSOLE);
}

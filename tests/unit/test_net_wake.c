/*
 * The net device's wake-ups (devices/net.c): frames that reach a port while
 * its VM is in the guest (after the fill before an entry) must not wake it
 * (a wake of the running VM pulls it out of KVM_RUN with a signal: one extra
 * exit per entry at saturation); they are filled into its ring at once by
 * the sending thread (the rings are served live), with DENALI_EV_NET_RX in
 * the shared page, and its exit has nothing left to deliver. After an exit's
 * fill, the first frame wakes it again (a VM that goes to sleep at that exit
 * is never left with frames unseen). The device is driven directly over a
 * fake guest memory.
 */
#include "devices/net.h"
#include "devices/netsw.h"

#include <denali/abi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define MEM	 (2u << 20)
#define BUF_BASE 0x100000u

static const uint8_t MAC_VM[6] = {2, 0xde, 0, 0, 0, 1}, MAC_PEER[6] = {2, 0xde, 0, 0, 0, 2};

struct rig {
	struct netsw *sw;
	struct netsw_port *peer;
	struct device *dev;
	uint8_t *mem;
	struct dev_guest g;
	uint32_t posted;
	unsigned wakes;
};

static void on_wake(void *arg, uint64_t ev)
{
	(void)ev;
	((struct rig *)arg)->wakes++;
}

static struct denali_ring *rx_ring(struct rig *r)
{
	return (struct denali_ring *)(r->mem + DENALI_NET_RX_RING_GPA);
}

/* The guest posts every free rx buffer. */
static void post_all(struct rig *r)
{
	struct denali_ring *ring = rx_ring(r);

	while (r->posted - ring->used_prod < DENALI_RING_SIZE) {
		uint32_t slot = r->posted % DENALI_RING_SIZE;

		ring->desc[slot].addr = BUF_BASE + slot * 2048u;
		ring->desc[slot].len = DENALI_NET_FRAME_MAX;
		ring->desc[slot].id = (uint16_t)slot;
		r->posted++;
	}
	ring->avail_prod = r->posted;
}

/* A frame from the peer port to the VM. */
static void send_to_vm(struct rig *r)
{
	uint8_t f[60];

	memset(f, 0, sizeof(f));
	memcpy(f, MAC_VM, 6);
	memcpy(f + 6, MAC_PEER, 6);
	f[12] = 0x08;
	netsw_send(r->sw, r->peer, f, sizeof(f));
}

/* Takes the event bits a live fill left in the shared page. */
static uint64_t shared_events(struct rig *r)
{
	return __atomic_exchange_n(&((struct denali_shared *)(r->mem + DENALI_SHARED_GPA))->events,
				   0, __ATOMIC_ACQ_REL);
}

static uint64_t entry(struct rig *r)
{
	char why[256];
	uint64_t ev = 0;

	post_all(r);
	assert_int_equal(r->dev->ops->fill(r->dev, &r->g, &ev, why, sizeof(why)), 0);
	return ev;
}

static uint64_t exit_(struct rig *r)
{
	char why[256];
	uint64_t ev = 0;

	assert_int_equal(r->dev->ops->drain(r->dev, &r->g, &ev, why, sizeof(why)), 0);
	return ev;
}

static int setup(void **state)
{
	static struct rig r;
	struct dev_host host;

	memset(&r, 0, sizeof(r));
	r.mem = calloc(1, MEM);
	assert_non_null(r.mem);
	r.g = (struct dev_guest){r.mem, MEM, "test"};
	assert_int_equal(netsw_create(4, &r.sw), 0);
	assert_int_equal(net_dev_create(r.sw, MAC_VM, 0, &r.dev), 0);
	assert_int_equal(netsw_port_add(r.sw, MAC_PEER, 0, &r.peer), 0);
	memset(&host, 0, sizeof(host));
	host.wake = on_wake;
	host.wake_arg = &r;
	assert_int_equal(r.dev->ops->attach(r.dev, &host), 0);
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	r->dev->ops->free(r->dev);
	netsw_destroy(r->sw);
	free(r->mem);
	return 0;
}

static void test_no_wake_while_in_guest(void **state)
{
	struct rig *r = *state;

	/* Asleep: the first frame wakes, once per burst. */
	send_to_vm(r);
	send_to_vm(r);
	assert_int_equal(r->wakes, 1);
	assert_true(entry(r) & DENALI_EV_NET_RX);
	assert_int_equal(rx_ring(r)->used_prod, 2);
	/* In the guest now: no wake (the old device woke here); the frames are
	 * in its ring at once, with the event in the shared page. */
	shared_events(r);
	send_to_vm(r);
	send_to_vm(r);
	send_to_vm(r);
	assert_int_equal(r->wakes, 1);
	assert_int_equal(rx_ring(r)->used_prod, 5);
	assert_true(shared_events(r) & DENALI_EV_NET_RX);
	/* The exit has nothing left to deliver. */
	assert_int_equal(exit_(r), 0);
	assert_int_equal(rx_ring(r)->used_prod, 5);
	assert_int_equal(r->wakes, 1);
	/* That exit found the queue empty and re-armed: a VM that sleeps now
	 * is woken by the next frame. */
	send_to_vm(r);
	assert_int_equal(r->wakes, 2);
	/* Entering with the frame; one more while in the guest: no wake. */
	assert_true(entry(r) & DENALI_EV_NET_RX);
	send_to_vm(r);
	assert_int_equal(r->wakes, 2);
	assert_int_equal(rx_ring(r)->used_prod, 7);
	/* Exits with nothing queued re-arm: the next frame wakes. */
	assert_int_equal(exit_(r), 0);
	assert_int_equal(exit_(r), 0);
	send_to_vm(r);
	assert_int_equal(r->wakes, 3);
}

/* An entry with nothing queued: a frame while in the guest is filled at once,
 * no wake; after the exit, the next frame wakes. */
static void test_empty_entry(void **state)
{
	struct rig *r = *state;

	assert_true(entry(r) & DENALI_EV_NET_RX); /* the frame left by the last test */
	assert_int_equal(exit_(r), 0);
	unsigned w = r->wakes;
	assert_int_equal(entry(r), 0);
	uint32_t used = rx_ring(r)->used_prod;
	send_to_vm(r);
	assert_int_equal(r->wakes, w);
	assert_int_equal(rx_ring(r)->used_prod, used + 1);
	assert_int_equal(exit_(r), 0);
	send_to_vm(r);
	assert_int_equal(r->wakes, w + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_wake_while_in_guest),
	    cmocka_unit_test(test_empty_entry),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * A swapped-out VM's switch port (netsw_port_park/unpark, issue 10): parked,
 * its ~390 KB receive queue is freed; frames for it are held in order, at
 * most NETSW_HOLD_MAX, the rest dropped and counted; each held burst still
 * wakes its VM; frames queued before the park come first; unparked, the
 * queue holds them all in arrival order; a port removed while parked is
 * reusable.
 */
#include "devices/netsw.h"

#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const uint8_t MAC_A[6] = {2, 0xde, 0, 0, 0, 1}, MAC_B[6] = {2, 0xde, 0, 0, 0, 2};
static unsigned wakes;

static void wake(void *arg, uint64_t ev)
{
	(void)arg;
	(void)ev;
	wakes++;
}

/* A unicast frame a -> b carrying n in its payload. */
static void send_n(struct netsw *sw, struct netsw_port *a, unsigned n)
{
	uint8_t f[64] = {0};

	memcpy(f, MAC_B, 6);
	memcpy(f + 6, MAC_A, 6);
	f[12] = 0x08; /* IPv4 */
	memcpy(f + 20, &n, sizeof(n));
	netsw_send(sw, a, f, sizeof(f));
}

static unsigned payload(const struct netq_cell *c)
{
	unsigned n;

	memcpy(&n, c->data + 20, sizeof(n));
	return n;
}

static void test_park_hold_unpark(void **state)
{
	struct netsw *sw;
	struct netsw_port *a, *b;
	const struct netq_cell *c;
	unsigned n = 0;

	(void)state;
	assert_int_equal(netsw_create(8, &sw), 0);
	assert_int_equal(netsw_port_add(sw, MAC_A, 0, &a), 0);
	assert_int_equal(netsw_port_add(sw, MAC_B, 0, &b), 0);
	netsw_port_attach(a, wake, NULL);
	netsw_port_attach(b, wake, NULL);
	/* Two frames queued, not delivered, when b's VM is swapped out. */
	send_n(sw, a, 0);
	send_n(sw, a, 1);
	netsw_port_park(b);
	assert_null(b->rxq.cells); /* the queue's memory is gone */
	assert_int_equal(b->nheld, 2);
	/* While out: held up to the bound, then dropped and counted; it is woken. */
	b->armed = 0;
	wakes = 0;
	for (unsigned i = 2; i < NETSW_HOLD_MAX + 10; i++)
		send_n(sw, a, i);
	assert_int_equal(b->nheld, NETSW_HOLD_MAX);
	assert_int_equal(b->st.held, NETSW_HOLD_MAX - 2);
	assert_int_equal(b->st.drop_rx_full, 10);
	assert_int_equal(wakes, 1); /* once per burst: armed until it looks */
	netsw_port_park(b);	    /* twice is once */
	assert_int_equal(b->nheld, NETSW_HOLD_MAX);
	/* Back: a queue again, every held frame in it, in arrival order. */
	assert_int_equal(netsw_port_unpark(b), 0);
	assert_non_null(b->rxq.cells);
	assert_int_equal(b->nheld, 0);
	send_n(sw, a, 1000); /* after the held ones */
	while ((c = netq_peek(&b->rxq)) != NULL) {
		if (n < NETSW_HOLD_MAX)
			assert_int_equal(payload(c), n);
		else
			assert_int_equal(payload(c), 1000);
		netq_pop(&b->rxq);
		n++;
	}
	assert_int_equal(n, NETSW_HOLD_MAX + 1);
	assert_int_equal(netsw_port_unpark(b), 0); /* not parked: nothing to do */
	netsw_destroy(sw);
}

static void test_removed_while_parked(void **state)
{
	struct netsw *sw;
	struct netsw_port *a, *b, *b2;

	(void)state;
	assert_int_equal(netsw_create(8, &sw), 0);
	assert_int_equal(netsw_port_add(sw, MAC_A, 0, &a), 0);
	assert_int_equal(netsw_port_add(sw, MAC_B, 0, &b), 0);
	netsw_port_attach(a, wake, NULL);
	netsw_port_attach(b, wake, NULL);
	netsw_port_park(b);
	send_n(sw, a, 7);
	assert_int_equal(b->nheld, 1);
	/* Stopped while swapped out: the port goes, and its slot is reused. */
	netsw_port_remove(sw, b);
	assert_int_equal(netsw_port_add(sw, MAC_B, 0, &b2), 0);
	assert_ptr_equal(b2, b);
	assert_int_equal(b2->parked, 0);
	assert_int_equal(b2->nheld, 0);
	assert_non_null(b2->rxq.cells);
	assert_null(netq_peek(&b2->rxq)); /* nothing of the old tenant */
	netsw_port_attach(b2, wake, NULL);
	send_n(sw, a, 8);
	assert_non_null(netq_peek(&b2->rxq));
	netsw_destroy(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_park_hold_unpark),
	    cmocka_unit_test(test_removed_while_parked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

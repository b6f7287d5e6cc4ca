/*
 * The switch's isolation between senders: a port flooding the uplink holds
 * at most NETSW_UP_PORT_BUDGET frames of its queue (the excess counted as
 * drop_up_budget) and its neighbour's frames still go out; the budget comes
 * back as the uplink takes frames; broadcasts beyond the storm-control burst
 * are dropped (drop_storm) before they reach anyone.
 */
#include "devices/netsw.h"

#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define UPQ 1024u

struct fixture {
	struct netsw *sw;
	struct netq up;
	struct netsw_port *a, *b;
	int kicks, wakes;
};

static void kick(void *arg)
{
	((struct fixture *)arg)->kicks++;
}

static void wake(void *arg, uint64_t ev)
{
	(void)ev;
	((struct fixture *)arg)->wakes++;
}

static int setup(void **state)
{
	static struct fixture f;
	static const uint8_t ma[6] = {2, 0xde, 0, 0, 0, 1}, mb[6] = {2, 0xde, 0, 0, 0, 2};

	memset(&f, 0, sizeof(f));
	if (netsw_create(16, &f.sw) || netq_init(&f.up, UPQ) ||
	    netsw_port_add(f.sw, ma, NETSW_NET_UPLINK, &f.a) ||
	    netsw_port_add(f.sw, mb, NETSW_NET_UPLINK, &f.b))
		return -1;
	netsw_port_attach(f.a, wake, &f);
	netsw_port_attach(f.b, wake, &f);
	netsw_set_uplink(f.sw, &f.up, kick, &f);
	netsw_uplink_set_up(f.sw, 1);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	netsw_set_uplink(f->sw, NULL, NULL, NULL);
	netsw_destroy(f->sw);
	netq_free(&f->up);
	return 0;
}

/* A frame from p's MAC to dst (6 bytes), 60 bytes long. */
static void frame_of(const struct netsw_port *p, const uint8_t *dst, uint8_t f[60])
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, p->mac, 6);
	f[12] = 0x08;
}

static unsigned queued(struct netq *q, uint16_t tag)
{
	unsigned n = 0;

	for (uint32_t i = q->deq; i != q->enq; i++)
		n += q->cells[i & q->mask].tag == tag;
	return n;
}

static void test_uplink_budget(void **state)
{
	struct fixture *f = *state;
	static const uint8_t nowhere[6] = {2, 0xde, 0xad, 0xbe, 0xef, 1};
	uint8_t fa[60], fb[60];

	frame_of(f->a, nowhere, fa);
	frame_of(f->b, nowhere, fb);
	for (unsigned i = 0; i < 4 * NETSW_UP_PORT_BUDGET; i++)
		netsw_send(f->sw, f->a, fa, sizeof(fa));
	assert_int_equal(f->a->st.drop_up_budget, 3 * NETSW_UP_PORT_BUDGET);
	assert_int_equal(queued(&f->up, f->a->tag), NETSW_UP_PORT_BUDGET);
	/* The neighbour is not crowded out. */
	for (unsigned i = 0; i < 10; i++)
		netsw_send(f->sw, f->b, fb, sizeof(fb));
	assert_int_equal(f->b->st.drop_up_budget, 0);
	assert_int_equal(queued(&f->up, f->b->tag), 10);
	assert_int_equal(netsw_stats(f->sw)->up_drop_full, 0);
	/* The uplink takes frames: their budget comes back. */
	for (unsigned i = 0; i < NETSW_UP_PORT_BUDGET + 10; i++)
		netsw_uplink_pop(f->sw, &f->up);
	assert_null(netq_peek(&f->up));
	assert_int_equal(f->a->up_held, 0);
	assert_int_equal(f->b->up_held, 0);
	netsw_send(f->sw, f->a, fa, sizeof(fa));
	assert_int_equal(f->a->st.drop_up_budget, 3 * NETSW_UP_PORT_BUDGET);
	assert_int_equal(queued(&f->up, f->a->tag), 1);
}

static void test_storm_control(void **state)
{
	struct fixture *f = *state;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t fa[60];
	unsigned n = 100000; /* far more than the rate lets through in the loop's time */

	frame_of(f->a, bcast, fa);
	for (unsigned i = 0; i < n; i++)
		netsw_send(f->sw, f->a, fa, sizeof(fa));
	/* The burst passes whole, the flood does not. */
	assert_true(f->a->st.tx_frames >= NETSW_BCAST_BURST);
	assert_true(f->a->st.drop_storm > n / 2);
	/* Only what passed reached the neighbour. */
	assert_int_equal(f->a->st.tx_frames + f->a->st.drop_storm, n);
	unsigned got = 0;
	while (netq_peek(&f->b->rxq)) {
		netq_pop(&f->b->rxq);
		got++;
	}
	assert_int_equal(got, f->a->st.tx_frames < NETSW_RXQ_CELLS ? f->a->st.tx_frames
								   : NETSW_RXQ_CELLS);
	/* Unicast is not limited by it. */
	uint8_t fb[60];
	frame_of(f->a, f->b->mac, fb);
	netsw_send(f->sw, f->a, fb, sizeof(fb));
	assert_non_null(netq_peek(&f->b->rxq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_uplink_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_storm_control, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

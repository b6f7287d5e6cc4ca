/*
 * Direct writes to the uplink (netsw_up_direct, tap.c): inside a tx drain
 * of a port on a thread with a ring, its frames for the uplink go to the
 * direct writer, flushed once at the end; not while frames of that port
 * wait in the uplink queue (they would be overtaken), not for another port,
 * not outside a drain; a writer out of room gets what it took flushed
 * before the frame is queued; a writer that finds the uplink down gets the
 * frame dropped and counted; frames a writer could not submit and hands
 * back are queued in their order, ahead of the port's next ones; a writer
 * out of room mid-drain, once the worker's completions are reaped, goes on
 * writing the drain directly (a flood is written by its own worker, not
 * handed to the uplink thread), and one that still has none queues.
 */
#include "devices/netsw.h"

#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define UPQ 64u

struct fixture {
	struct netsw *sw;
	struct netq up;
	struct netsw_port *a, *b;
	int room; /* frames take() accepts before it says "no room" */
	int down; /* take() finds the uplink down */
	int taken, flushes;
	int queued_at_flush; /* uplink queue length at the last flush */
	int fail;	     /* flush() hands back every frame taken since the last one */
	uint8_t held[8][60]; /* those frames (copies, as tap.c keeps) */
	int nheld;
	int reaps, room_per_reap; /* reap(): what the worker's completions give back */
	uint8_t seq_taken[32];	  /* byte 20 of every frame taken, in order */
};

static struct fixture fx;
static struct io_uring *const ring = (struct io_uring *)&fx; /* never dereferenced */

static void kick(void *arg)
{
	(void)arg;
}

static void wake(void *arg, uint64_t ev)
{
	(void)arg;
	(void)ev;
}

static unsigned qlen(struct netq *q)
{
	return q->enq - q->deq;
}

static int take(void *arg, struct io_uring *r, const uint8_t *frame, uint32_t len)
{
	struct fixture *f = arg;

	assert_ptr_equal(r, ring);
	if (f->down)
		return -1;
	if (f->room == 0)
		return 0;
	f->room--;
	if (f->taken < 32)
		f->seq_taken[f->taken] = frame[20];
	f->taken++;
	assert_true(f->nheld < 8 && len == 60);
	memcpy(f->held[f->nheld++], frame, len);
	return 1;
}

static void flush(void *arg, struct io_uring *r, netsw_requeue_fn *requeue, void *ctx)
{
	struct fixture *f = arg;

	assert_ptr_equal(r, ring);
	f->flushes++;
	f->queued_at_flush = (int)qlen(&f->up);
	if (f->fail)
		for (int i = 0; i < f->nheld; i++)
			requeue(ctx, f->held[i], 60);
	f->nheld = 0;
}

static const struct netsw_up_direct direct = {take, flush};

/* The worker's poll: the writes flushed have completed, their room is back. */
static void reap(void *arg)
{
	struct fixture *f = arg;

	f->reaps++;
	f->room += f->room_per_reap;
}

static int setup(void **state)
{
	static const uint8_t ma[6] = {2, 0xde, 0, 0, 0, 1}, mb[6] = {2, 0xde, 0, 0, 0, 2};

	memset(&fx, 0, sizeof(fx));
	if (netsw_create(16, &fx.sw) || netq_init(&fx.up, UPQ) ||
	    netsw_port_add(fx.sw, ma, NETSW_NET_UPLINK, &fx.a) ||
	    netsw_port_add(fx.sw, mb, NETSW_NET_UPLINK, &fx.b))
		return -1;
	netsw_port_attach(fx.a, wake, &fx);
	netsw_port_attach(fx.b, wake, &fx);
	netsw_set_uplink(fx.sw, &fx.up, kick, &fx);
	netsw_set_uplink_direct(fx.sw, &direct, &fx);
	netsw_uplink_set_up(fx.sw, 1);
	fx.room = 1000;
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	netsw_set_uplink_direct(f->sw, NULL, NULL);
	netsw_set_uplink(f->sw, NULL, NULL, NULL);
	netsw_destroy(f->sw);
	netq_free(&f->up);
	return 0;
}

/* A frame from p's MAC to an address nobody has (so: the uplink), carrying
 * seq at byte 20. */
static void send_up_seq(struct fixture *f, struct netsw_port *p, uint8_t seq)
{
	static const uint8_t nowhere[6] = {2, 0xde, 0xad, 0xbe, 0xef, 1};
	uint8_t fr[60];

	memset(fr, 0, sizeof(fr));
	memcpy(fr, nowhere, 6);
	memcpy(fr + 6, p->mac, 6);
	fr[12] = 0x08;
	fr[20] = seq;
	netsw_send(f->sw, p, fr, sizeof(fr));
}

static void send_up(struct fixture *f, struct netsw_port *p)
{
	send_up_seq(f, p, 0);
}

static void test_drain_writes_direct(void **state)
{
	struct fixture *f = *state;

	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	for (int i = 0; i < 5; i++)
		send_up(f, f->a);
	assert_int_equal(f->flushes, 0); /* one submission, at the end */
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 5);
	assert_int_equal(f->flushes, 1);
	assert_int_equal(qlen(&f->up), 0);
	assert_int_equal(netsw_stats(f->sw)->up_tx_frames, 5);
	assert_int_equal(netsw_stats(f->sw)->up_tx_bytes, 5 * 60);
	/* Outside a drain, or with no ring: queued as before. */
	send_up(f, f->a);
	netsw_tx_ring_begin(f->sw, f->a, NULL, NULL, NULL);
	send_up(f, f->a);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 5);
	assert_int_equal(qlen(&f->up), 2);
	assert_int_equal(f->flushes, 1);
}

static void test_order_kept(void **state)
{
	struct fixture *f = *state;

	/* A frame of a waits in the queue: a's next one queues behind it.
	 * Another port than the one drained is never written directly. */
	send_up(f, f->a);
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up(f, f->a);
	send_up(f, f->b);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 0);
	assert_int_equal(qlen(&f->up), 3);
	/* Taken by the uplink but not yet submitted (kept): a's still hold
	 * it back; b, with nothing left in the queue, goes direct. */
	uint16_t t1 = netsw_uplink_pop_keep(f->sw, &f->up);
	uint16_t t2 = netsw_uplink_pop_keep(f->sw, &f->up);
	assert_int_equal(t1, f->a->tag);
	assert_int_equal(t2, f->a->tag);
	netsw_uplink_pop(f->sw, &f->up); /* b's */
	netsw_tx_ring_begin(f->sw, f->b, ring, NULL, NULL);
	send_up(f, f->b);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 1);
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up(f, f->a);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 1);
	assert_int_equal(qlen(&f->up), 1);
	/* Submitted: released, and a goes direct again. */
	netsw_uplink_pop(f->sw, &f->up);
	netsw_uplink_release(f->sw, t1);
	netsw_uplink_release(f->sw, t2);
	assert_int_equal(f->a->up_held, 0);
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up(f, f->a);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 2);
}

static void test_no_room_flushes_first(void **state)
{
	struct fixture *f = *state;

	f->room = 3;
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	for (int i = 0; i < 6; i++)
		send_up(f, f->a);
	/* The three taken were flushed before the fourth was queued. */
	assert_int_equal(f->flushes, 1);
	assert_int_equal(f->queued_at_flush, 0);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 3);
	assert_int_equal(qlen(&f->up), 3);
	assert_int_equal(f->flushes, 1); /* nothing tried since */
	assert_int_equal(netsw_stats(f->sw)->up_tx_frames, 3);
}

static void test_down_drops(void **state)
{
	struct fixture *f = *state;

	f->down = 1;
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up(f, f->a);
	send_up(f, f->a);
	netsw_tx_ring_end();
	assert_int_equal(netsw_stats(f->sw)->up_drop_down, 2);
	assert_int_equal(qlen(&f->up), 0);
	/* flushed all the same: the writer lets go of what it holds */
	assert_int_equal(f->flushes, 1);
	assert_int_equal(netsw_stats(f->sw)->up_tx_frames, 0);
}

static void test_unsubmitted_requeued_in_order(void **state)
{
	struct fixture *f = *state;

	/* The writer takes 0..2 and cannot submit them: they are queued, in
	 * order, not counted as sent; 3, the same drain, and 4, the next
	 * drain, queue behind them (the port's frames wait in the queue). */
	f->fail = 1;
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	for (uint8_t i = 0; i < 3; i++)
		send_up_seq(f, f->a, i);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 3);
	assert_int_equal(qlen(&f->up), 3);
	assert_int_equal(f->a->up_held, 3);
	assert_int_equal(netsw_stats(f->sw)->up_tx_frames, 0);
	f->fail = 0;
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up_seq(f, f->a, 3);
	netsw_tx_ring_end();
	send_up_seq(f, f->a, 4);
	assert_int_equal(f->taken, 3);
	assert_int_equal(qlen(&f->up), 5);
	for (uint8_t i = 0; i < 5; i++) {
		const struct netq_cell *c = netq_peek(&f->up);

		assert_non_null(c);
		assert_int_equal(c->data[20], i);
		assert_int_equal(c->len, 60);
		netsw_uplink_pop(f->sw, &f->up);
	}
	assert_int_equal(f->a->up_held, 0);
	/* Sent by the uplink thread (counted there); direct again afterwards. */
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up_seq(f, f->a, 5);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 4);
	assert_int_equal(qlen(&f->up), 0);
}

static void test_out_of_room_reaps_and_goes_on(void **state)
{
	struct fixture *f = *state;

	/* Room for 3 at a time, as a writer whose slots come back when the
	 * worker reaps: a drain of 10 goes direct whole, in order. */
	f->room = 3;
	f->room_per_reap = 3;
	netsw_tx_ring_begin(f->sw, f->a, ring, reap, f);
	for (uint8_t i = 0; i < 10; i++)
		send_up_seq(f, f->a, i);
	assert_int_equal(f->queued_at_flush, 0);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 10);
	for (uint8_t i = 0; i < 10; i++)
		assert_int_equal(f->seq_taken[i], i);
	assert_int_equal(f->reaps, 3);
	assert_int_equal(f->a->st.up_direct_reaps, 3);
	assert_int_equal(f->flushes, 4); /* before each reap, and at the end */
	assert_int_equal(qlen(&f->up), 0);
	assert_int_equal(f->a->up_held, 0);
	assert_int_equal(netsw_stats(f->sw)->up_tx_frames, 10);
	assert_int_equal(f->a->st.drop_up_budget, 0);
}

static void test_reap_without_room_queues(void **state)
{
	struct fixture *f = *state;

	/* The reap gives nothing back (a write still in flight): the rest of
	 * the drain is queued behind what went direct, reaped only once. */
	f->room = 2;
	f->room_per_reap = 0;
	netsw_tx_ring_begin(f->sw, f->a, ring, reap, f);
	for (uint8_t i = 0; i < 5; i++)
		send_up_seq(f, f->a, i);
	netsw_tx_ring_end();
	assert_int_equal(f->taken, 2);
	assert_int_equal(f->reaps, 1);
	assert_int_equal(f->a->up_held, 3);
	for (uint8_t i = 2; i < 5; i++) {
		const struct netq_cell *c = netq_peek(&f->up);

		assert_non_null(c);
		assert_int_equal(c->data[20], i);
		netsw_uplink_pop(f->sw, &f->up);
	}
	/* Without a reap (a drain on no worker of its own): queued at once. */
	f->room = 0;
	f->room_per_reap = 3;
	netsw_tx_ring_begin(f->sw, f->a, ring, NULL, NULL);
	send_up(f, f->a);
	netsw_tx_ring_end();
	assert_int_equal(f->reaps, 1);
	assert_int_equal(qlen(&f->up), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_drain_writes_direct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_room_flushes_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_down_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsubmitted_requeued_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_room_reaps_and_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reap_without_room_queues, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

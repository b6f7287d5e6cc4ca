/*
 * Gatekeeper policy: admission under a budget and a live cap, eviction of
 * the oldest idle VM, never a running or busy one, bounded frame queues,
 * deadlines of swapped VMs, failures of either direction.
 */
#include "sched/gatekeeper.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define NVM 1000
#define KB  1024u

static struct gk g;
static struct gk_vm vms[NVM];
static unsigned progress[NVM];
static uint64_t clock_ns;

static int setup_budget(uint64_t budget, unsigned live_max)
{
	struct gk_config cfg = {budget, live_max, 8};

	memset(progress, 0, sizeof(progress));
	clock_ns = 1;
	if (gk_init(&g, &cfg))
		return -1;
	for (size_t i = 0; i < NVM; i++)
		gk_register(&g, &vms[i], (void *)(uintptr_t)i);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gk_fini(&g);
	return 0;
}

static size_t idx(const struct gk_vm *v)
{
	return (size_t)(v - vms);
}

/* The oldest idle evictable VM, found the slow way. */
static struct gk_vm *oldest_idle(void)
{
	struct gk_vm *best = NULL;

	for (size_t i = 0; i < NVM; i++) {
		struct gk_vm *v = &vms[i];

		if (v->state == GK_RESIDENT && v->idle && !v->running && !v->evict_failed &&
		    (!best || v->idle_since < best->idle_since))
			best = v;
	}
	return best;
}

static void check_budget(void)
{
	uint64_t sum = 0;
	unsigned live = 0;

	for (size_t i = 0; i < NVM; i++) {
		enum gk_state s = vms[i].state;

		if (s == GK_ADMITTING || s == GK_RESIDENT || s == GK_SWAPPING_OUT) {
			sum += vms[i].charge;
			live++;
		}
	}
	assert_int_equal(sum, g.resident);
	assert_int_equal(live, g.live);
	if (g.cfg.mem_budget)
		assert_true(g.resident <= g.cfg.mem_budget);
	if (g.cfg.live_max)
		assert_true(g.live <= g.cfg.live_max);
}

/* Carries out every action at once: evictions succeed, admitted VMs run a
 * little and go idle. Checks the victim is the oldest idle each time. */
static void pump(void)
{
	struct gk_action a;

	while ((a = gk_next(&g)).kind != GK_ACT_NONE) {
		if (a.kind == GK_ACT_EVICT) {
			assert_int_equal(a.vm->state, GK_SWAPPING_OUT);
			assert_false(a.vm->running);
			gk_evicted(&g, a.vm, 0);
		} else {
			gk_admitted(&g, a.vm, 0);
			gk_run(&g, a.vm);
			progress[idx(a.vm)]++;
			gk_idle(&g, a.vm, ++clock_ns);
		}
		check_budget();
	}
}

static void test_thousand_wake_in_turn(void **state)
{
	const unsigned rounds = 5;

	(void)state;
	assert_int_equal(setup_budget(100 * 64 * KB, 0), 0);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < NVM; i++) {
			struct gk_vm *want = oldest_idle();
			uint64_t before = g.ctr.evictions;

			assert_int_equal(gk_request(&g, &vms[i], 64 * KB), 0);
			/* The first action frees the oldest idle VM, if room is needed. */
			{
				struct gk_action a = gk_next(&g);

				if (a.kind == GK_ACT_EVICT) {
					assert_ptr_equal(a.vm, want);
					gk_evicted(&g, a.vm, 0);
				} else if (a.kind == GK_ACT_ADMIT) {
					gk_admitted(&g, a.vm, 0);
					gk_run(&g, a.vm);
					progress[idx(a.vm)]++;
					gk_idle(&g, a.vm, ++clock_ns);
				}
			}
			pump();
			assert_int_equal(progress[i], r + 1);
			if (r > 0)
				assert_int_equal(g.ctr.evictions, before + 1);
		}
	}
	for (size_t i = 0; i < NVM; i++)
		assert_int_equal(progress[i], rounds);
	assert_true(g.peak_resident <= 100 * 64 * KB);
	assert_int_equal(g.ctr.swap_ins, (rounds - 1) * NVM);
	assert_int_equal(g.live, 100);
	assert_int_equal(g.swapped, NVM - 100);
}

/* Swap-outs that complete later, in random order, with several admissions
 * waiting: the budget holds at every step and everybody gets in. */
static void test_async_completions(void **state)
{
	struct gk_vm *inflight[NVM];
	size_t ninflight = 0;
	uint64_t rng = 88172645463325252ull;

	(void)state;
	assert_int_equal(setup_budget(100 * 64 * KB, 0), 0);
	for (unsigned step = 0; step < 20000; step++) {
		struct gk_action a;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		gk_request(&g, &vms[rng % NVM], 32 * KB + (rng >> 40) % 64 * KB);
		while ((a = gk_next(&g)).kind != GK_ACT_NONE) {
			if (a.kind == GK_ACT_EVICT) {
				inflight[ninflight++] = a.vm;
			} else {
				gk_admitted(&g, a.vm, 0);
				gk_run(&g, a.vm);
				progress[idx(a.vm)]++;
				gk_idle(&g, a.vm, ++clock_ns);
			}
			check_budget();
		}
		/* Finish a random half of the swap-outs in flight. */
		for (size_t k = 0; k < ninflight;) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			if (rng & 1) {
				gk_evicted(&g, inflight[k], 0);
				inflight[k] = inflight[--ninflight];
				check_budget();
			} else {
				k++;
			}
		}
	}
	while (ninflight) {
		gk_evicted(&g, inflight[--ninflight], 0);
		pump();
	}
	pump();
	assert_int_equal(g.waiting, 0);
	for (size_t i = 0; i < NVM; i++)
		if (vms[i].state != GK_REGISTERED)
			assert_true(progress[i] > 0);
}

static void test_never_evict_busy(void **state)
{
	struct gk_action a;

	(void)state;
	assert_int_equal(setup_budget(3 * 64 * KB, 0), 0);
	for (size_t i = 0; i < 3; i++) {
		gk_request(&g, &vms[i], 64 * KB);
		a = gk_next(&g);
		assert_int_equal(a.kind, GK_ACT_ADMIT);
		gk_admitted(&g, a.vm, 0);
		gk_run(&g, a.vm);
	}
	/* 1 idled and was woken again (the worker's run hook): all three run,
	 * nobody can go. */
	gk_idle(&g, &vms[1], ++clock_ns);
	gk_run(&g, &vms[1]);
	gk_request(&g, &vms[3], 64 * KB);
	assert_int_equal(gk_next(&g).kind, GK_ACT_NONE);
	assert_int_equal(vms[3].state, GK_WAITING);
	assert_int_equal(gk_swap_out(&g, &vms[0]), -EBUSY);
	assert_int_equal(gk_swap_out(&g, &vms[1]), -EBUSY);
	/* 1 parks: evictable, goes, and 3 gets in. */
	gk_idle(&g, &vms[1], ++clock_ns);
	a = gk_next(&g);
	assert_int_equal(a.kind, GK_ACT_EVICT);
	assert_ptr_equal(a.vm, &vms[1]);
	assert_int_equal(gk_next(&g).kind, GK_ACT_NONE); /* room is on its way */
	gk_evicted(&g, &vms[1], 0);
	a = gk_next(&g);
	assert_int_equal(a.kind, GK_ACT_ADMIT);
	assert_ptr_equal(a.vm, &vms[3]);
	check_budget();
}

static void test_live_cap(void **state)
{
	(void)state;
	assert_int_equal(setup_budget(0, 10), 0);
	for (unsigned r = 0; r < 3; r++)
		for (size_t i = 0; i < 50; i++) {
			gk_request(&g, &vms[i], 1 << 20);
			pump();
			assert_int_equal(progress[i], r + 1);
		}
	assert_int_equal(g.live, 10);
	assert_int_equal(g.swapped, 40);
}

static void test_frames(void **state)
{
	(void)state;
	assert_int_equal(setup_budget(1 * 64 * KB, 0), 0);
	gk_request(&g, &vms[0], 64 * KB);
	pump();
	assert_int_equal(gk_frame(&g, &vms[0]), 1);	   /* resident: deliver */
	assert_int_equal(gk_frame(&g, &vms[5]), -ENOBUFS); /* never started */
	/* 1 comes in and pushes 0 out. */
	gk_request(&g, &vms[1], 64 * KB);
	pump();
	assert_int_equal(vms[0].state, GK_SWAPPED);
	/* Frames for 0 are held up to the bound and queue it for admission. */
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(gk_frame(&g, &vms[0]), 0);
	assert_int_equal(vms[0].state, GK_WAITING);
	assert_int_equal(gk_frame(&g, &vms[0]), -ENOBUFS);
	assert_int_equal(g.ctr.frames_queued, 8);
	assert_int_equal(g.ctr.frames_dropped, 2);
	pump();
	assert_int_equal(vms[0].state, GK_RESIDENT);
	assert_int_equal(vms[0].frames_queued, 8);
	gk_frames_delivered(&g, &vms[0]);
	assert_int_equal(vms[0].frames_queued, 0);
	/* A frame while it is being swapped out is held, and brings it back. */
	assert_int_equal(gk_swap_out(&g, &vms[0]), 0);
	assert_int_equal(gk_frame(&g, &vms[0]), 0);
	gk_evicted(&g, &vms[0], 0);
	assert_int_equal(vms[0].state, GK_WAITING);
}

static void test_eviction_failure(void **state)
{
	struct gk_action a;

	(void)state;
	assert_int_equal(setup_budget(2 * 64 * KB, 0), 0);
	for (size_t i = 0; i < 2; i++) {
		gk_request(&g, &vms[i], 64 * KB);
		pump();
	}
	gk_request(&g, &vms[2], 64 * KB);
	a = gk_next(&g);
	assert_ptr_equal(a.vm, &vms[0]);
	gk_evicted(&g, &vms[0], -EIO); /* stays resident, counted */
	assert_int_equal(vms[0].state, GK_RESIDENT);
	assert_int_equal(g.ctr.eviction_failures, 1);
	check_budget();
	a = gk_next(&g); /* the next victim, not the same one again */
	assert_ptr_equal(a.vm, &vms[1]);
	gk_evicted(&g, &vms[1], -EIO);
	assert_int_equal(gk_next(&g).kind, GK_ACT_NONE); /* 2 waits; no loop */
	assert_int_equal(vms[2].state, GK_WAITING);
	/* Once 0 has run again it is a candidate again. */
	gk_run(&g, &vms[0]);
	gk_idle(&g, &vms[0], ++clock_ns);
	a = gk_next(&g);
	assert_ptr_equal(a.vm, &vms[0]);
	gk_evicted(&g, &vms[0], 0);
	a = gk_next(&g);
	assert_int_equal(a.kind, GK_ACT_ADMIT);
	assert_ptr_equal(a.vm, &vms[2]);
	/* A swap-in that fails (a slot failing its checksum) ends that VM. */
	gk_admitted(&g, a.vm, -EBADMSG);
	assert_int_equal(vms[2].state, GK_GONE);
	check_budget();
	gk_request(&g, &vms[0], 64 * KB);
	a = gk_next(&g);
	assert_int_equal(a.kind, GK_ACT_ADMIT);
	gk_admitted(&g, a.vm, -EBADMSG);
	assert_int_equal(g.ctr.swap_in_failures, 1);
	assert_int_equal(gk_request(&g, &vms[0], 64 * KB), -EINVAL);
}

static void test_refused_and_operator(void **state)
{
	(void)state;
	assert_int_equal(setup_budget(64 * KB, 0), 0);
	assert_int_equal(gk_request(&g, &vms[0], 65 * KB), -E2BIG);
	assert_int_equal(g.ctr.refused, 1);
	assert_int_equal(vms[0].state, GK_REGISTERED);
	assert_int_equal(gk_swap_out(&g, &vms[0]), -EALREADY);
	gk_request(&g, &vms[0], 64 * KB);
	pump();
	assert_int_equal(gk_swap_out(&g, &vms[0]), 0);
	assert_int_equal(gk_swap_out(&g, &vms[0]), -EALREADY);
	gk_evicted(&g, &vms[0], 0);
	assert_int_equal(vms[0].state, GK_SWAPPED);
	assert_int_equal(g.resident, 0);
	gk_request(&g, &vms[0], 64 * KB); /* operator: swap in */
	pump();
	assert_int_equal(vms[0].state, GK_RESIDENT);
	gk_remove(&g, &vms[0]);
	assert_int_equal(g.resident, 0);
	assert_int_equal(g.live, 0);
}

static void test_deadlines(void **state)
{
	(void)state;
	assert_int_equal(setup_budget(4 * 64 * KB, 0), 0);
	for (size_t i = 0; i < 3; i++) {
		gk_request(&g, &vms[i], 64 * KB);
		pump();
		assert_int_equal(gk_swap_out(&g, &vms[i]), 0);
		gk_evicted(&g, &vms[i], 0);
	}
	assert_int_equal(gk_set_deadline(&g, &vms[0], 300), 0);
	assert_int_equal(gk_set_deadline(&g, &vms[1], 100), 0);
	assert_int_equal(gk_set_deadline(&g, &vms[2], 200), 0);
	assert_int_equal(gk_next_deadline(&g), 100);
	assert_int_equal(gk_expire(&g, 99), 0);
	assert_int_equal(gk_expire(&g, 200), 2);
	assert_int_equal(vms[1].state, GK_WAITING);
	assert_int_equal(vms[2].state, GK_WAITING);
	assert_int_equal(vms[0].state, GK_SWAPPED);
	assert_int_equal(gk_next_deadline(&g), 300);
	/* An event before the deadline takes it off the heap. */
	gk_request(&g, &vms[0], 64 * KB);
	assert_int_equal(gk_next_deadline(&g), SCHED_NO_DEADLINE);
	assert_int_equal(gk_expire(&g, 1000), 0);
	/* An event for vms[2] while it waits: not a swap-in by deadline alone. */
	gk_request(&g, &vms[2], 64 * KB);
	pump();
	assert_int_equal(g.live, 3);
	assert_int_equal(g.ctr.swap_ins, 3);
	assert_int_equal(g.ctr.swap_ins_deadline, 1); /* vms[1] */
}

/* A resident VM that grows past the budget makes the oldest idle go. */
static void test_growth(void **state)
{
	struct gk_action a;

	(void)state;
	assert_int_equal(setup_budget(4 * 64 * KB, 0), 0);
	for (size_t i = 0; i < 4; i++) {
		gk_request(&g, &vms[i], 64 * KB);
		pump();
	}
	gk_run(&g, &vms[3]);
	gk_charge(&g, &vms[3], 128 * KB);
	a = gk_next(&g);
	assert_int_equal(a.kind, GK_ACT_EVICT);
	assert_ptr_equal(a.vm, &vms[0]);
	assert_int_equal(gk_next(&g).kind, GK_ACT_NONE);
	gk_evicted(&g, a.vm, 0);
	assert_int_equal(g.resident, 4 * 64 * KB);
}

/* Many wait behind a full live cap: evictions for several of them are started side by side
 * (as many as wait, at most 64), not one at a time; FIFO admission and the cap hold. */
static void test_release_ahead(void **state)
{
	struct gk_action a;
	struct gk_vm *out[NVM];
	size_t nout = 0;

	(void)state;
	assert_int_equal(setup_budget(0, 100), 0);
	for (size_t i = 0; i < 100; i++) {
		gk_request(&g, &vms[i], 64 * KB);
		pump();
	}
	for (size_t i = 100; i < 110; i++)
		gk_request(&g, &vms[i], 64 * KB);
	while ((a = gk_next(&g)).kind == GK_ACT_EVICT)
		out[nout++] = a.vm;
	assert_int_equal(a.kind, GK_ACT_NONE);
	assert_int_equal(nout, 10); /* one per waiting VM */
	for (size_t k = 0; k < nout; k++)
		assert_ptr_equal(out[k], &vms[k]); /* oldest idle first */
	check_budget();
	for (size_t k = 0; k < nout; k++)
		gk_evicted(&g, out[k], 0);
	for (size_t i = 100; i < 110; i++) {
		a = gk_next(&g);
		assert_int_equal(a.kind, GK_ACT_ADMIT);
		assert_ptr_equal(a.vm, &vms[i]);
		gk_admitted(&g, a.vm, 0);
	}
	assert_int_equal(gk_next(&g).kind, GK_ACT_NONE);
	check_budget();
	/* 500 wait: at most 64 evictions at once. */
	for (size_t i = 100; i < 110; i++)
		gk_idle(&g, &vms[i], ++clock_ns);
	for (size_t i = 200; i < 700; i++)
		gk_request(&g, &vms[i], 64 * KB);
	nout = 0;
	while ((a = gk_next(&g)).kind == GK_ACT_EVICT)
		out[nout++] = a.vm;
	assert_int_equal(a.kind, GK_ACT_NONE);
	assert_int_equal(nout, 64);
	check_budget();
	for (size_t k = 0; k < nout; k++)
		gk_evicted(&g, out[k], 0);
	pump(); /* the rest, in turn */
	for (size_t i = 200; i < 700; i++)
		assert_int_equal(progress[i], 1);
	assert_int_equal(g.waiting, 0);
	check_budget();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_thousand_wake_in_turn, teardown),
	    cmocka_unit_test_teardown(test_async_completions, teardown),
	    cmocka_unit_test_teardown(test_never_evict_busy, teardown),
	    cmocka_unit_test_teardown(test_live_cap, teardown),
	    cmocka_unit_test_teardown(test_frames, teardown),
	    cmocka_unit_test_teardown(test_eviction_failure, teardown),
	    cmocka_unit_test_teardown(test_refused_and_operator, teardown),
	    cmocka_unit_test_teardown(test_deadlines, teardown),
	    cmocka_unit_test_teardown(test_growth, teardown),
	    cmocka_unit_test_teardown(test_release_ahead, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

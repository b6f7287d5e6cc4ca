/* test_account.c - what denali-load's figures count (bench/load/account.h): requests by their
 * intended send time, the warm-up never, and sustained never above offered. Each case replays
 * a schedule of sends and responses through the accounting as the engine does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "account.h"

#define MS 1000000ULL
#define S  1000000000ULL

static struct run_result res;
static uint64_t hits[4];

/* A 1 s warm-up then a 2 s window. */
static struct account acct(void)
{
	memset(&res, 0, sizeof(res));
	memset(hits, 0, sizeof(hits));
	hist_reset(&res.lat);
	res.hits = hits;
	res.ntargets = 4;
	res.duration_s = 2.0;
	return (struct account){.res = &res, .w0 = 1 * S, .w1 = 3 * S, .open = 1};
}

/* The warm-up's backlog, answered at the start of the window, is not measured: before the
 * fix it counted as in-window responses and "sustained" exceeded "offered". */
static void test_warmup_backlog_not_counted(void **state)
{
	struct account a = acct();

	(void)state;
	/* 1,000 req/s offered throughout; the server answers nothing during the warm-up and
	 * everything queued at 1.0 s, then keeps up (1 ms each). */
	for (uint64_t t = 0; t < 3 * S; t += MS) {
		account_sent(&a, t, (uint32_t)(t / MS % 4));
		account_done(&a, t, t, t < 1 * S ? 1 * S : t + MS, 200);
	}
	account_finish(&a);
	assert_int_equal(res.scheduled, 2000);
	assert_int_equal(res.completed, 2000);
	assert_true(res.done_in_window > res.scheduled); /* what counting by arrival saw */
	assert_true(res.offered == 1000.0);
	assert_true(res.throughput <= res.offered);
	assert_true(res.throughput > 999.0);
	assert_int_equal(res.lat.count, 2000); /* only measured requests have latencies */
}

/* A response after the window to a request due inside it counts; one inside the window to a
 * request due after it (none should exist) or before it does not. */
static void test_counted_by_intended_time(void **state)
{
	struct account a = acct();

	(void)state;
	account_sent(&a, 999 * MS, 0);	/* warm-up */
	account_sent(&a, 1 * S, 1);	/* the first measured */
	account_sent(&a, 3 * S - 1, 2); /* the last measured */
	account_sent(&a, 3 * S, 3);	/* after */
	account_done(&a, 999 * MS, 999 * MS, 2 * S, 200);
	account_done(&a, 1 * S, 1 * S, 2 * S, 200);
	account_done(&a, 3 * S - 1, 3 * S - 1, 3 * S + 50 * MS, 503);
	account_failed(&a, 3 * S, 3 * S + 10 * MS, F_TIMEOUT);
	account_finish(&a);
	assert_int_equal(res.scheduled, 2);
	assert_int_equal(res.completed, 2);
	assert_int_equal(res.ok, 1);
	assert_int_equal(res.http_errors, 1);
	assert_int_equal(res.timeouts, 0);
	assert_int_equal(res.warmup_failures, 1);
	assert_int_equal(hits[0], 0);
	assert_int_equal(hits[1], 1);
	assert_int_equal(hits[2], 1);
	assert_int_equal(hits[3], 0);
	/* targets_used counts only targets of measured requests (0 and 3 had warm-up/tail) */
	assert_int_equal(res.targets_used, 2);
}

/* Past the peak: 2,000 req/s offered, the server does 1,000 req/s. The window's requests
 * finish 2 s after it; sustained is what the server did, not what was offered. */
static void test_past_the_peak(void **state)
{
	struct account a = acct();
	uint64_t served = 0;

	(void)state;
	for (uint64_t t = 0; t < 3 * S; t += MS / 2) {
		account_sent(&a, t, 0);
		/* one response per ms, in order, from t = 0 */
		account_done(&a, t, t, ++served * MS, 200);
	}
	account_finish(&a);
	assert_int_equal(res.scheduled, 4000);
	assert_true(res.offered == 2000.0);
	assert_true(res.throughput > 990.0 && res.throughput < 1010.0);
	assert_true(res.throughput_span_s > 3.9);
}

/* Timeouts in the window count as failures and, in open loop, enter the latencies at their
 * age; a dropped request is a failure without a latency. */
static void test_failures(void **state)
{
	struct account a = acct();

	(void)state;
	account_sent(&a, 2 * S, 0);
	account_failed(&a, 2 * S, 4 * S, F_TIMEOUT);
	account_sent(&a, 2 * S, 0);
	account_failed(&a, 2 * S, 2 * S, F_DROPPED);
	account_sent(&a, 2 * S, 1);
	account_failed(&a, 2 * S, 2 * S, F_REFUSED);
	account_finish(&a);
	assert_int_equal(res.timeouts, 1);
	assert_int_equal(res.dropped, 1);
	assert_int_equal(res.refused, 1);
	assert_int_equal(res.lat.count, 1);
	assert_int_equal(res.completed, 0);
	assert_true(res.throughput == 0.0);
	assert_true(res.offered == 1.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_warmup_backlog_not_counted),
	    cmocka_unit_test(test_counted_by_intended_time),
	    cmocka_unit_test(test_past_the_peak),
	    cmocka_unit_test(test_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

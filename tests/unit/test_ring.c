/*
 * ring_pending: entries ready between a guest-written producer index and the
 * monitor's consumer counter, both free-running uint32_t; -1 when the
 * producer claims more than a ring or lies behind the consumer.
 */
#include "devices/ring.h"

#include <denali/abi.h>
#include <stdint.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(0, 0), 0);
	assert_int_equal(ring_pending(1000, 1000), 0);
	assert_int_equal(ring_pending(UINT32_MAX, UINT32_MAX), 0);
}

static void test_one(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(1, 0), 1);
	assert_int_equal(ring_pending(1001, 1000), 1);
}

static void test_full(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(DENALI_RING_SIZE, 0), (int)DENALI_RING_SIZE);
	assert_int_equal(ring_pending(500 + DENALI_RING_SIZE, 500), (int)DENALI_RING_SIZE);
}

static void test_over_full(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(DENALI_RING_SIZE + 1, 0), -1);
	assert_int_equal(ring_pending(500 + DENALI_RING_SIZE + 1, 500), -1);
	assert_int_equal(ring_pending(0x80000000u, 0), -1);
}

static void test_producer_behind(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(9, 10), -1);
	assert_int_equal(ring_pending(0, 1), -1);
	assert_int_equal(ring_pending(0, DENALI_RING_SIZE), -1);
	assert_int_equal(ring_pending(UINT32_MAX, 0), -1); /* behind by one across the wrap */
}

static void test_wrap_around(void **state)
{
	(void)state;
	assert_int_equal(ring_pending(3, UINT32_MAX - 2), 6);
	assert_int_equal(ring_pending(0, UINT32_MAX), 1);
	assert_int_equal(ring_pending(DENALI_RING_SIZE - 1, UINT32_MAX), (int)DENALI_RING_SIZE);
	assert_int_equal(ring_pending(DENALI_RING_SIZE, UINT32_MAX), -1);
	assert_int_equal(ring_pending(UINT32_MAX - 2, 3), -1); /* the same pair reversed */
}

static void test_every_distance(void **state)
{
	(void)state;
	/* The answer depends only on prod - cons, wherever the pair sits. */
	static const uint32_t bases[] = {0, 1, 12345, 0x7fffffe0u, UINT32_MAX - 40, UINT32_MAX};

	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		for (uint32_t d = 0; d <= 2 * DENALI_RING_SIZE; d++) {
			int want = d <= DENALI_RING_SIZE ? (int)d : -1;

			assert_int_equal(ring_pending(bases[b] + d, bases[b]), want);
			if (d)
				assert_int_equal(ring_pending(bases[b] - d, bases[b]), -1);
		}
}

static void test_read_write_index(void **state)
{
	uint32_t idx = 0;

	(void)state;
	ring_write_index(&idx, 0xdeadbeefu);
	assert_int_equal(idx, 0xdeadbeefu);
	assert_int_equal(ring_read_index(&idx), 0xdeadbeefu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_one),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_over_full),
	    cmocka_unit_test(test_producer_behind),
	    cmocka_unit_test(test_wrap_around),
	    cmocka_unit_test(test_every_distance),
	    cmocka_unit_test(test_read_write_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

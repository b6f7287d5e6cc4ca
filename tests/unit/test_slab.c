/*
 * slab: records packed densely in chunks of their own, zeroed when handed
 * out, reused after they are freed, never overlapping.
 */
#include "vmm/slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define OBJ 1000 /* rounded to 1008 */
#define N   3000 /* more than one chunk */

static struct slab s = SLAB_INIT(OBJ);

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

static void test_dense_zeroed_reused(void **state)
{
	static uint8_t *p[N];
	uint8_t *q;

	(void)state;
	assert_int_equal(s.size, 1008);
	for (int i = 0; i < N; i++) {
		p[i] = slab_zalloc(&s);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		for (unsigned k = 0; k < s.size; k++)
			assert_int_equal(p[i][k], 0);
		memset(p[i], 0xa5, s.size);
	}
	assert_int_equal(s.used, N);
	/* (N * 1008 + the tail each chunk leaves) in whole chunks: 3 MiB, not more */
	assert_int_equal(s.bytes, 3ull * SLAB_CHUNK);
	qsort(p, N, sizeof(p[0]), cmp_ptr);
	for (int i = 1; i < N; i++)
		assert_true(p[i - 1] + s.size <= p[i]); /* disjoint */
	slab_free(&s, p[17]);
	slab_free(&s, NULL);
	assert_int_equal(s.used, N - 1);
	q = slab_zalloc(&s);
	assert_ptr_equal(q, p[17]); /* the freed one first */
	for (unsigned k = 0; k < s.size; k++)
		assert_int_equal(q[k], 0); /* zeroed again */
	for (int i = 0; i < N; i++)
		slab_free(&s, p[i]);
	assert_int_equal(s.used, 0);
	for (int i = 0; i < N; i++)
		p[i] = slab_zalloc(&s);
	assert_int_equal(s.bytes, 3ull * SLAB_CHUNK); /* all reused, no new chunk */
	for (int i = 0; i < N; i++)
		slab_free(&s, p[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dense_zeroed_reused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

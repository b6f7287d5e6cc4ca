/*
 * gpa_to_hva: the one translation of guest addresses. Every byte of the
 * range must lie in [4096, mem_size) and gpa + len must not wrap.
 */
#include "vmm/gpa.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define MEM_SIZE (2ull << 20)

/* A real buffer of MEM_SIZE bytes, so that every pointer compared is valid. */
static uint8_t *mem;

static int setup(void **state)
{
	(void)state;
	mem = malloc(MEM_SIZE);
	return mem ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

static void test_inside(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x100000, 16), mem + 0x100000);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x5000, 4096), mem + 0x5000);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, MEM_SIZE - 4096), mem + 4096);
}

static void test_exactly_at_end(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 8, 8), mem + MEM_SIZE - 8);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 1, 1), mem + MEM_SIZE - 1);
}

static void test_one_past_end(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 8, 9));
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE, 1));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4096, MEM_SIZE - 4096 + 1));
}

static void test_page_zero(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0, 1));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0, 0));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 1));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 0));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 2)); /* straddles into page 1 */
	assert_null(gpa_to_hva(mem, MEM_SIZE, 8, 8192));
}

static void test_page_one_start(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, 1), mem + 4096);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, 0), mem + 4096);
}

static void test_len_zero(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE, 0), mem + MEM_SIZE);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x100000, 0), mem + 0x100000);
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE + 1, 0));
}

static void test_overflow(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX, 1));
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX, 0));
	/* gpa + len wraps to a small value that would pass an unchecked end test */
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x100000, UINT64_MAX - 0x100000 + 0x2000));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x100000, UINT64_MAX));
	assert_null(gpa_to_hva(mem, UINT64_MAX, 0x100000, UINT64_MAX - 0x100000 + 1));
	/* the largest non-wrapping range is still checked against memory */
	assert_ptr_equal(gpa_to_hva(mem, UINT64_MAX, 4096, UINT64_MAX - 4096), mem + 4096);
}

static void test_huge_len(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4096, 1ull << 40));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4096, MEM_SIZE));
}

static void test_beyond_memory(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE + 4096, 8));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 1ull << 40, 1));
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX - 8, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inside),	   cmocka_unit_test(test_exactly_at_end),
	    cmocka_unit_test(test_one_past_end),   cmocka_unit_test(test_page_zero),
	    cmocka_unit_test(test_page_one_start), cmocka_unit_test(test_len_zero),
	    cmocka_unit_test(test_overflow),	   cmocka_unit_test(test_huge_len),
	    cmocka_unit_test(test_beyond_memory),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

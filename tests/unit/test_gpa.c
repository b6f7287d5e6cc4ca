/*
 * gpa_to_hva: the one translation of guest addresses. Every byte of the
 * range must lie in memory, gpa + len must not wrap, and the range must lie
 * in one area the guest may access that way: never page 0 or the
 * monitor-private pages, the vregs page only for reading.
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
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x100000, 16, GPA_READ), mem + 0x100000);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x5000, 4096, GPA_READ), mem + 0x5000);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x100000, MEM_SIZE - 0x100000, GPA_READ),
			 mem + 0x100000);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, 0x6000, GPA_READ), mem + 4096);
}

static void test_exactly_at_end(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 8, 8, GPA_READ), mem + MEM_SIZE - 8);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 1, 1, GPA_READ), mem + MEM_SIZE - 1);
}

static void test_one_past_end(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 8, 9, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE, 1, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x100000, MEM_SIZE - 0x100000 + 1, GPA_READ));
}

static void test_page_zero(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0, 1, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0, 0, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 1, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 0, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4095, 2, GPA_READ)); /* straddles into page 1 */
	assert_null(gpa_to_hva(mem, MEM_SIZE, 8, 8192, GPA_READ));
}

static void test_page_one_start(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, 1, GPA_READ), mem + 4096);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 4096, 0, GPA_READ), mem + 4096);
}

static void test_len_zero(void **state)
{
	(void)state;
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE, 0, GPA_READ), mem + MEM_SIZE);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, 0x100000, 0, GPA_READ), mem + 0x100000);
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE + 1, 0, GPA_READ));
}

static void test_overflow(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX, 1, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX, 0, GPA_READ));
	/* gpa + len wraps to a small value that would pass an unchecked end test */
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x100000, UINT64_MAX - 0x100000 + 0x2000, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x100000, UINT64_MAX, GPA_READ));
	assert_null(gpa_to_hva(mem, UINT64_MAX, 0x100000, UINT64_MAX - 0x100000 + 1, GPA_READ));
	/* the largest non-wrapping range is still checked against memory */
	assert_ptr_equal(gpa_to_hva(mem, UINT64_MAX, 0x100000, UINT64_MAX - 0x100000, GPA_READ),
			 mem + 0x100000);
}

static void test_huge_len(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4096, 1ull << 40, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 4096, MEM_SIZE, GPA_READ));
}

static void test_beyond_memory(void **state)
{
	(void)state;
	assert_null(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE + 4096, 8, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 1ull << 40, 1, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, UINT64_MAX - 8, 8, GPA_READ));
}

/* Issue 7, hole 2: the monitor never writes its own pages for the guest and
 * never touches the private ones. */
static void test_layout(void **state)
{
	const uint64_t vr = DENALI_VREGS_GPA, priv = DENALI_PRIVATE_GPA;

	(void)state;
	/* vregs: readable, never writable, not even one byte of it */
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, vr, 4096, GPA_READ), mem + vr);
	assert_null(gpa_to_hva(mem, MEM_SIZE, vr, 16, GPA_WRITE));
	assert_null(gpa_to_hva(mem, MEM_SIZE, vr + 0x30, 8, GPA_WRITE)); /* tsc_mult */
	assert_null(gpa_to_hva(mem, MEM_SIZE, DENALI_SHARED_GPA - 8, 16, GPA_WRITE));
	/* shared and ring pages: both ways, up to the private pages */
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, DENALI_SHARED_GPA, 16, GPA_WRITE),
			 mem + DENALI_SHARED_GPA);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, priv - 16, 16, GPA_WRITE), mem + priv - 16);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, priv, 0, GPA_WRITE), mem + priv);
	/* private pages: never, whichever way, and no range may straddle them */
	for (uint64_t g = priv; g < DENALI_RESERVED_END; g += 0x800) {
		assert_null(gpa_to_hva(mem, MEM_SIZE, g, 16, GPA_READ));
		assert_null(gpa_to_hva(mem, MEM_SIZE, g, 16, GPA_WRITE));
	}
	assert_null(gpa_to_hva(mem, MEM_SIZE, priv - 8, 16, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, DENALI_RESERVED_END - 8, 16, GPA_WRITE));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0x6000, 0x100000, GPA_READ));
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0xb000, 64, GPA_READ)); /* page tables */
	/* above the reserved area: both ways */
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, DENALI_RESERVED_END, 16, GPA_WRITE),
			 mem + DENALI_RESERVED_END);
	assert_ptr_equal(gpa_to_hva(mem, MEM_SIZE, MEM_SIZE - 16, 16, GPA_WRITE),
			 mem + MEM_SIZE - 16);
	/* page 0 never */
	assert_null(gpa_to_hva(mem, MEM_SIZE, 0, 16, GPA_WRITE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inside),	   cmocka_unit_test(test_exactly_at_end),
	    cmocka_unit_test(test_one_past_end),   cmocka_unit_test(test_page_zero),
	    cmocka_unit_test(test_page_one_start), cmocka_unit_test(test_len_zero),
	    cmocka_unit_test(test_overflow),	   cmocka_unit_test(test_huge_len),
	    cmocka_unit_test(test_beyond_memory),  cmocka_unit_test(test_layout),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

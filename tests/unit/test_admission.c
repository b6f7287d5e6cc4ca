/* Admission (src/cmd/admission.c): the live-shell cap counts the shells of ended VMs that the
 * reclaimer has not destroyed yet, since they still hold their descriptors. */
#include "admission.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void init(struct admission *a, unsigned max_live)
{
	struct serve_config cfg = {.max_live = max_live, .max_mem = 1ull << 40};

	admission_init(a, &cfg, 0);
	assert_true(a->max_live == max_live); /* RLIMIT_NOFILE here allows at least this */
}

static void test_live_cap(void **state)
{
	struct admission a;
	char err[256];

	(void)state;
	init(&a, 10);
	assert_int_equal(admission_take(&a, 10, 2 << 20, err, sizeof(err)), 0);
	assert_int_equal(admission_take(&a, 1, 2 << 20, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "limit of 10"));
}

static void test_reclaiming_shells_count(void **state)
{
	struct admission a;
	char err[256];

	(void)state;
	init(&a, 10);
	assert_int_equal(admission_take(&a, 10, 2 << 20, err, sizeof(err)), 0);
	for (int i = 0; i < 10; i++) {
		admission_vm_ended(&a, 2 << 20);
		admission_vm_removed(&a);
	}
	/* All ten ended; four of their shells are still being destroyed. */
	a.reclaiming = 4;
	assert_int_equal(admission_take(&a, 7, 2 << 20, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "still being destroyed"));
	assert_int_equal(a.live, 0); /* a refusal takes nothing */
	assert_int_equal(admission_take(&a, 6, 2 << 20, err, sizeof(err)), 0);
	a.reclaiming = 0;
	assert_int_equal(admission_take(&a, 4, 2 << 20, err, sizeof(err)), 0);
	assert_int_equal(a.live, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_live_cap),
	    cmocka_unit_test(test_reclaiming_shells_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

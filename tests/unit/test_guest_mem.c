/*
 * guest_mem: a page of guest memory that is read before it is written must
 * not be the shared zero page (its first write would be a copy-on-write
 * break, an MMU-notifier invalidation heard by every live VM), and a released
 * region must give its pages back and read as zero when it is reused.
 */
#include "vmm/guest_mem.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define SIZE	   (2ull << 20)
#define PAGE	   4096ull
#define PM_PRESENT (1ull << 63)
#define PM_PFN	   ((1ull << 55) - 1)

/* The pagemap entry of the page at p (PFNs are visible with CAP_SYS_ADMIN). */
static uint64_t pagemap(const volatile uint8_t *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / PAGE * 8)), sizeof(e));
	close(fd);
	return e;
}

/* The zero page's PFN, from a read of private anonymous memory; 0 when
 * PFNs are hidden (not root). */
static uint64_t zero_pfn(void)
{
	volatile uint8_t *z =
	    mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e;

	assert_true(z != MAP_FAILED);
	assert_int_equal(z[0], 0);
	e = pagemap(z);
	munmap((void *)z, PAGE);
	return e & PM_PFN;
}

static unsigned resident(const uint8_t *mem, uint64_t size)
{
	unsigned char v[SIZE / PAGE];
	unsigned n = 0;

	assert_int_equal(mincore((void *)mem, size, v), 0);
	for (uint64_t i = 0; i < size / PAGE; i++)
		n += v[i] & 1;
	return n;
}

static void test_read_is_not_the_zero_page(void **state)
{
	uint64_t zpfn = zero_pfn();
	volatile uint8_t *p;
	uint8_t *mem;
	uint64_t e;

	(void)state;
	if (!zpfn)
		skip(); /* PFNs hidden: cannot tell the zero page from another */
	guest_mem_set_shared(1);
	assert_int_equal(guest_mem_alloc(SIZE, &mem), 0);
	p = mem + 5 * PAGE;
	assert_int_equal(p[0], 0); /* a read first, as KVM's read fault or a device does */
	e = pagemap(p);
	assert_true(e & PM_PRESENT);
	assert_true((e & PM_PFN) != zpfn);
	p[0] = 1; /* the write finds the same page: no copy */
	assert_int_equal(pagemap(p) & PM_PFN, e & PM_PFN);
	guest_mem_free(mem, SIZE);
	guest_mem_drain();
}

static void free_releases_and_zeroes(int shared)
{
	uint8_t *mem, *again;

	guest_mem_set_shared(shared);
	assert_int_equal(guest_mem_is_shared(), shared);
	assert_int_equal(guest_mem_alloc(SIZE, &mem), 0);
	assert_int_equal(resident(mem, SIZE), 0);
	memset(mem, 0xa5, 64 * PAGE);
	assert_int_equal(resident(mem, SIZE), 64);
	guest_mem_free(mem, SIZE);
	/* Kept for reuse at the same address, its pages given back. */
	assert_int_equal(guest_mem_alloc(SIZE, &again), 0);
	assert_ptr_equal(again, mem);
	assert_int_equal(resident(again, SIZE), 0);
	for (uint64_t i = 0; i < 64 * PAGE; i++)
		if (again[i])
			fail_msg("byte %lu of a reused region is %#x, not 0", (unsigned long)i,
				 again[i]);
	guest_mem_free(again, SIZE);
	guest_mem_drain();
}

static void test_free_releases_and_zeroes(void **state)
{
	(void)state;
	free_releases_and_zeroes(1);
	free_releases_and_zeroes(0); /* private, the backing with host swap on */
}

/* meminfo text in a temporary file; what guest_mem_shared_for decides of it. */
static int decide(const char *text)
{
	char path[] = "/tmp/denali-meminfo.XXXXXX";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	if (text)
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (!text)
		unlink(path);
	r = guest_mem_shared_for(path);
	if (text)
		unlink(path);
	return r;
}

/* Shared memory only without host swap: a host-swapped shmem page is not in
 * pagemap, and a swap-out would lose it. */
static void test_backing_follows_host_swap(void **state)
{
	(void)state;
	assert_int_equal(decide("MemTotal: 24000000 kB\nSwapTotal:        0 kB\n"), 1);
	assert_int_equal(decide("MemTotal: 24000000 kB\nSwapTotal:  8388604 kB\n"), 0);
	assert_int_equal(decide("MemTotal: 24000000 kB\n"), 0); /* no line: private */
	assert_int_equal(decide(NULL), 0);			/* unreadable: private */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_is_not_the_zero_page),
	    cmocka_unit_test(test_free_releases_and_zeroes),
	    cmocka_unit_test(test_backing_follows_host_swap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

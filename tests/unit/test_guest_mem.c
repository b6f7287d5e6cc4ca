/*
 * guest_mem: a page of guest memory that is read before it is written must
 * not be the shared zero page (its first write would be a copy-on-write
 * break, an MMU-notifier invalidation heard by every live VM), and a released
 * region must give its pages back and read as zero when it is reused (shared
 * regions are carved out of one arena mapping: over all of the region, and
 * none of its neighbours' data is touched).
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

/* Lines of /proc/self/maps: mappings of this process. */
static unsigned maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned n = 0;
	int c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void expect_bytes(const uint8_t *p, uint64_t n, uint8_t v, const char *what)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != v)
			fail_msg("%s: byte %lu is %#x, not %#x", what, (unsigned long)i, p[i], v);
}

#define REGIONS 8

/* Shared regions come out of one arena mapping: starts map nothing. A released
 * region is zeroed over all of it, its neighbours keep their data, and the
 * next tenant gets it back at the same address reading as zero. */
static void test_arena(void **state)
{
	uint8_t *r[REGIONS], *again, *big, *odd;
	unsigned before;

	(void)state;
	guest_mem_set_shared(1);
	assert_int_equal(guest_mem_alloc(SIZE, &r[0]), 0); /* the arena's first chunk */
	before = maps();
	for (int i = 1; i < REGIONS; i++)
		assert_int_equal(guest_mem_alloc(SIZE, &r[i]), 0);
	assert_int_equal(maps(), before); /* no mapping per region */
	for (int i = 0; i < REGIONS; i++) {
		for (int j = 0; j < i; j++)
			assert_true(r[i] + SIZE <= r[j] || r[j] + SIZE <= r[i]); /* disjoint */
		memset(r[i], 0x10 + i, SIZE);
	}
	guest_mem_free(r[3], SIZE);
	assert_int_equal(guest_mem_alloc(SIZE, &again), 0);
	assert_ptr_equal(again, r[3]); /* the last released comes back first */
	assert_int_equal(resident(again, SIZE), 0);
	expect_bytes(again, SIZE, 0, "a reused arena region");
	for (int i = 0; i < REGIONS; i++)
		if (i != 3)
			expect_bytes(r[i], SIZE, (uint8_t)(0x10 + i),
				     "a neighbour of the released region");
	/* A size between classes: zeroed over all of it. */
	assert_int_equal(guest_mem_alloc(6ull << 20, &odd), 0);
	memset(odd, 0x5a, 6ull << 20);
	guest_mem_free(odd, 6ull << 20);
	assert_int_equal(guest_mem_alloc(6ull << 20, &again), 0);
	assert_ptr_equal(again, odd);
	expect_bytes(again, 6ull << 20, 0, "a reused 6 MiB region");
	guest_mem_free(again, 6ull << 20);
	/* Too big for the arena: a mapping of its own, shared all the same. */
	assert_int_equal(guest_mem_alloc(128ull << 20, &big), 0);
	big[0] = 1;
	big[(128ull << 20) - 1] = 2;
	guest_mem_free(big, 128ull << 20);
	/* Drain keeps what is in use: r[5] is still a VM's memory. */
	for (int i = 0; i < REGIONS; i++)
		if (i != 5)
			guest_mem_free(r[i], SIZE);
	guest_mem_drain();
	expect_bytes(r[5], SIZE, 0x15, "a region in use across a drain");
	r[5][0] = 0; /* still mapped, writable */
	guest_mem_free(r[5], SIZE);
	guest_mem_drain();
}

#define LATER 72 /* 7 + 65: one more than guest_mem_free_later() defers */

/* Deferred releases: a deferred region keeps its data and goes to no one until
 * the flush, which frees neighbours with one madvise (a gap: a second one),
 * zeroes all of them over their whole stride and leaves the rest alone; the
 * 64th deferred region flushes them itself. */
static void test_free_later(void **state)
{
	uint8_t *r[LATER], *again;
	unsigned flushed = 0;

	(void)state;
	guest_mem_set_shared(1);
	for (int i = 0; i < LATER; i++) {
		assert_int_equal(guest_mem_alloc(SIZE, &r[i]), 0);
		memset(r[i], 0x20 + i % 64, 4 * PAGE);
	}
	for (int i = 1; i < LATER; i++)
		if (r[i] != r[i - 1] + SIZE)
			skip(); /* not carved in order: the batching cannot be seen */
	assert_int_equal(guest_mem_later_age_ns(), 0);
	/* 0..3 and 5..6: two runs, 4 in between still in use. */
	for (int i = 0; i < 7; i++)
		if (i != 4)
			guest_mem_free_later(r[i], SIZE);
	assert_true(guest_mem_later_age_ns() > 0);
	assert_int_equal(guest_mem_alloc(SIZE, &again), 0);
	for (int i = 0; i < 7; i++)
		assert_ptr_not_equal(again, r[i]); /* not handed out before the flush */
	guest_mem_free(again, SIZE);
	expect_bytes(r[5], 4 * PAGE, 0x25, "a deferred region before the flush");
	assert_int_equal(guest_mem_flush(), 2);
	assert_int_equal(guest_mem_later_age_ns(), 0);
	assert_int_equal(guest_mem_flush(), 0);
	for (int i = 0; i < 7; i++) {
		if (i == 4)
			continue;
		assert_int_equal(resident(r[i], SIZE), 0);
		expect_bytes(r[i], SIZE, 0, "a flushed region");
	}
	expect_bytes(r[4], 4 * PAGE, 0x24, "a region in use between two flushed runs");
	/* The rest, deferred one by one: the 64th flushes all of them. */
	for (int i = 7; i < LATER; i++) {
		guest_mem_free_later(r[i], SIZE);
		flushed += guest_mem_later_age_ns() == 0;
	}
	assert_int_equal(flushed, 1);
	assert_int_equal(resident(r[7], SIZE), 0);
	assert_int_equal(resident(r[LATER - 2], SIZE), 0); /* the 64th */
	assert_int_equal(resident(r[LATER - 1], SIZE), 4); /* after it: waits */
	guest_mem_free_later(r[4], SIZE);
	guest_mem_drain(); /* frees what waits first (then unmaps the empty chunk) */
	assert_int_equal(guest_mem_later_age_ns(), 0);
	assert_int_equal(guest_mem_flush(), 0);
}

/* The process's page-table kB (VmPTE). */
static long vm_pte_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#define TRIM_REGIONS 80

/* guest_mem_trim gives back the page tables of free regions only: regions in use keep
 * their data, trimmed ones come back zeroed, and a second trim finds nothing new. */
static void test_trim(void **state)
{
	static uint8_t *r[TRIM_REGIONS];
	uint8_t *again;
	long pte0, pte1;
	size_t n;

	(void)state;
	guest_mem_set_shared(1);
	guest_mem_drain();
	for (int i = 0; i < TRIM_REGIONS; i++) {
		assert_int_equal(guest_mem_alloc(SIZE, &r[i]), 0);
		memset(r[i], 0x30 + i % 64, SIZE);
	}
	/* The first 64 released wait in the recent list (not trimmed: kept for a shell's
	 * memory slot), the next ones are free in their chunk. */
	for (int i = 0; i < TRIM_REGIONS - 4; i++)
		guest_mem_free(r[i], SIZE);
	pte0 = vm_pte_kib();
	n = guest_mem_trim();
	pte1 = vm_pte_kib();
	assert_true(n >= TRIM_REGIONS - 4 - 64);
	assert_true(pte1 <= pte0);
	printf("trim: %zu regions, VmPTE %ld -> %ld kB\n", n, pte0, pte1);
	assert_int_equal(guest_mem_trim(), 0); /* nothing was handed out since */
	for (int i = TRIM_REGIONS - 4; i < TRIM_REGIONS; i++)
		expect_bytes(r[i], SIZE, (uint8_t)(0x30 + i % 64), "a region in use across a trim");
	for (int i = 0; i < TRIM_REGIONS - 4; i++) {
		assert_int_equal(guest_mem_alloc(SIZE, &again), 0);
		expect_bytes(again, SIZE, 0, "a region handed out after a trim");
		r[i] = again;
	}
	for (int i = 0; i < TRIM_REGIONS; i++)
		guest_mem_free(r[i], SIZE);
	guest_mem_drain();
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
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_free_later),
	    cmocka_unit_test(test_trim),
	    cmocka_unit_test(test_backing_follows_host_swap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

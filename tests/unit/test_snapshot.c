/*
 * snapshot_load with crafted files (issue 7, hole 7): the vCPU state, the
 * page numbers and sizes are checked, and the monitor's own pages (page
 * tables, GDT, TSS, the vregs header) are rebuilt, never taken from the
 * file. No KVM needed: loading builds memory and state, binding comes later.
 */
#include "vmm/guest_mem.h"
#include "vmm/snapshot.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define MEM (4ull << 20)

struct page {
	uint64_t pn;
	uint8_t fill;
};

static struct vcpu_state st;
static struct snap_header hdr;
static char err[256];

static int setup(void **state)
{
	(void)state;
	vcpu_state_init(&st, 0x100000, MEM);
	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, SNAP_MAGIC, 8);
	hdr.version = SNAP_VERSION;
	hdr.state_size = sizeof(st);
	hdr.mem_size = MEM;
	hdr.id = 42;
	strcpy(hdr.name, "crafted");
	hdr.status = VM_RUNNABLE;
	hdr.deadline_ns = DENALI_NO_DEADLINE;
	return 0;
}

/* Writes hdr, st and the pages (truncated to `cut` bytes of the last one if
 * cut) into a memfd and loads it. */
static int load(const struct page *pages, unsigned n, size_t cut, struct vm **out)
{
	uint8_t data[4096];
	int fd = memfd_create("snap", 0), rc;

	assert_true(fd >= 0);
	hdr.npages = n;
	assert_int_equal(write(fd, &hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(write(fd, &st, sizeof(st)), (ssize_t)sizeof(st));
	for (unsigned i = 0; i < n; i++) {
		size_t len = cut && i == n - 1 ? cut : sizeof(data);

		memset(data, pages[i].fill, sizeof(data));
		assert_int_equal(write(fd, &pages[i].pn, 8), 8);
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	*out = NULL;
	err[0] = 0;
	rc = snapshot_load(fd, NULL, out, err, sizeof(err));
	close(fd);
	return rc;
}

static void test_valid_loads_and_rebuilds(void **state)
{
	/* A vregs page claiming another id; data at 1 MiB and at the top. */
	const struct page pages[] = {{1, 0x77}, {0x100, 0xab}, {MEM / 4096 - 1, 0xcd}};
	struct vm *vm;

	(void)state;
	assert_int_equal(load(pages, 3, 0, &vm), 0);
	assert_non_null(vm);
	assert_int_equal(vm->mem[0x100000], 0xab);
	assert_int_equal(vm->mem[MEM - 1], 0xcd);
	/* monitor-owned, rebuilt: tables map memory as vm_create would */
	assert_int_equal(x86_walk(vm->mem, 0x100000) & (X86_PTE_P | X86_PTE_U | X86_PTE_W),
			 X86_PTE_P | X86_PTE_U | X86_PTE_W);
	assert_int_equal(x86_walk(vm->mem, X86_PML4_GPA) & X86_PTE_U, 0);
	assert_int_equal(vm->vregs->magic, DENALI_VREGS_MAGIC);
	assert_int_equal(vm->vregs->vm_id, 42);
	assert_int_equal(vm->vregs->mem_size, MEM);
	assert_int_equal(vm->id, 42);
	vm_destroy(vm);
}

/* A snapshot of private guest memory (the host has swap) looks at every page:
 * mincore() calls a host-swapped page absent, and skipping it would lose it.
 * Shared memory (no host swap) looks at the resident pages only. */
static void test_pages_scanned(void **state)
{
	unsigned char vec[MEM / 4096];
	uint8_t *mem;

	(void)state;
	for (int shared = 0; shared < 2; shared++) {
		guest_mem_set_shared(shared);
		assert_int_equal(guest_mem_alloc(MEM, &mem), 0);
		mem[0x100000] = 1;
		memset(vec, 0xee, sizeof(vec));
		snapshot_pages_to_scan(mem, MEM, vec);
		assert_true(vec[0x100] & 1);
		if (shared)
			assert_false(vec[0x200] & 1); /* never touched: not resident */
		else
			for (unsigned i = 0; i < sizeof(vec); i++)
				assert_true(vec[i] & 1);
		guest_mem_free(mem, MEM);
	}
	guest_mem_drain();
}

static void refused(const struct page *pages, unsigned n, size_t cut, const char *why)
{
	struct vm *vm;

	assert_int_equal(load(pages, n, cut, &vm), -EINVAL);
	assert_null(vm);
	if (why && !strstr(err, why))
		fail_msg("reason '%s' does not mention '%s'", err, why);
}

static void test_cs_dpl0_refused(void **state)
{
	const struct page pages[] = {{0x100, 1}};

	(void)state;
	st.sregs.cs.dpl = 0; /* ran privileged instructions at CPL0 before */
	refused(pages, 1, 0, "cs");
}

static void test_msr_count_refused(void **state)
{
	const struct page pages[] = {{0x100, 1}};

	(void)state;
	st.msrs.hdr.nmsrs = 0xffffffffu; /* passed for success before */
	refused(pages, 1, 0, "MSR count");
}

static void test_iopl_refused(void **state)
{
	(void)state;
	st.regs.rflags = 0x3202;
	refused(NULL, 0, 0, "rflags");
}

static void test_page_numbers_refused(void **state)
{
	const struct page beyond[] = {{MEM / 4096, 1}};
	const struct page zero[] = {{0, 1}};
	const struct page dup[] = {{0x100, 1}, {0x100, 2}};
	const struct page order[] = {{0x101, 1}, {0x100, 2}};
	const struct page pml4[] = {{X86_PML4_GPA / 4096, 0xff}}; /* user-writable tables */
	const struct page gdt[] = {{X86_GDT_GPA / 4096, 0xff}};
	const struct page tss[] = {{X86_TSS_GPA / 4096 + 1, 0xff}}; /* an I/O bitmap page */
	const struct page huge[] = {{1ull << 60, 1}};

	(void)state;
	refused(beyond, 1, 0, "page number");
	refused(zero, 1, 0, "page number");
	refused(dup, 2, 0, "page number");
	refused(order, 2, 0, "page number");
	refused(pml4, 1, 0, "monitor-private");
	refused(gdt, 1, 0, "monitor-private");
	refused(tss, 1, 0, "monitor-private");
	refused(huge, 1, 0, "page number");
}

static void test_sizes_refused(void **state)
{
	const struct page pages[] = {{0x100, 1}};
	struct vm *vm;

	(void)state;
	/* a page cut short */
	assert_int_equal(load(pages, 1, 100, &vm), -ENODATA);
	assert_null(vm);
	/* more pages than memory has */
	setup(NULL);
	hdr.mem_size = MEM;
	{
		int fd = memfd_create("snap", 0);

		hdr.npages = MEM / 4096 + 1;
		assert_int_equal(write(fd, &hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(snapshot_load(fd, NULL, &vm, err, sizeof(err)), -EINVAL);
		close(fd);
	}
	/* a state size of another build, a memory size off the rule */
	setup(NULL);
	hdr.state_size = sizeof(st) - 8;
	refused(pages, 1, 0, "state size");
	setup(NULL);
	hdr.mem_size = MEM + 4096;
	refused(pages, 1, 0, "memory size");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_valid_loads_and_rebuilds, setup),
	    cmocka_unit_test(test_pages_scanned),
	    cmocka_unit_test_setup(test_cs_dpl0_refused, setup),
	    cmocka_unit_test_setup(test_msr_count_refused, setup),
	    cmocka_unit_test_setup(test_iopl_refused, setup),
	    cmocka_unit_test_setup(test_page_numbers_refused, setup),
	    cmocka_unit_test_setup(test_sizes_refused, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * x86 entry state: the page tables built by x86_build_tables, checked with
 * x86_walk the way ring 3 sees them, and the register images for entry.
 */
#include "vmm/x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define MIB (1ull << 20)
#define GIB (1ull << 30)

#define USER_RW	 (X86_PTE_P | X86_PTE_W | X86_PTE_U)
#define ACCESS	 (X86_PTE_P | X86_PTE_W | X86_PTE_U | X86_PTE_NX)
#define CR0_PE	 (1ull << 0)
#define CR0_PG	 (1ull << 31)
#define CR4_PAE	 (1ull << 5)
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* Zero-filled guest memory; NORESERVE so that 4 GiB costs only the pages
 * the tables touch. */
static uint8_t *mem_alloc(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		fail_msg("mmap of %llu bytes failed", (unsigned long long)size);
	return p;
}

static void expect_flags(const uint8_t *mem, uint64_t va, uint64_t want)
{
	uint64_t got = x86_walk(mem, va) & ACCESS;

	if (got != want)
		fail_msg("va 0x%llx: flags 0x%llx, expected 0x%llx", (unsigned long long)va,
			 (unsigned long long)got, (unsigned long long)want);
}

/* Checks the whole layout promised by x86_build_tables for mem_size. */
static void check_layout(uint64_t mem_size)
{
	uint8_t *mem = mem_alloc(mem_size);
	uint64_t va;

	assert_int_equal(x86_build_tables(mem, mem_size), 0);
	expect_flags(mem, 0, 0); /* null guard */
	expect_flags(mem, 0xfff, 0);
	for (va = DENALI_VREGS_GPA; va < DENALI_VREGS_GPA + 4096; va += 0x800)
		expect_flags(mem, va, X86_PTE_P | X86_PTE_U | X86_PTE_NX); /* read-only */
	for (va = DENALI_SHARED_GPA; va < DENALI_PRIVATE_GPA; va += 0x400)
		expect_flags(mem, va, USER_RW | X86_PTE_NX);
	expect_flags(mem, DENALI_CONSOLE_RING_GPA, USER_RW | X86_PTE_NX);
	expect_flags(mem, DENALI_BLK_RING_GPA + 0xfff, USER_RW | X86_PTE_NX);
	for (va = DENALI_PRIVATE_GPA; va < X86_PRIVATE_END; va += 0x400) {
		uint64_t f = x86_walk(mem, va);

		if (!(f & X86_PTE_P) || (f & X86_PTE_U))
			fail_msg("private va 0x%llx: flags 0x%llx, want present, supervisor",
				 (unsigned long long)va, (unsigned long long)f);
	}
	for (va = X86_PRIVATE_END; va < DENALI_RESERVED_END; va += 0x1000)
		expect_flags(mem, va, 0);
	expect_flags(mem, DENALI_RESERVED_END - 1, 0);
	expect_flags(mem, DENALI_RESERVED_END, USER_RW); /* executable: no NX */
	expect_flags(mem, 2 * MIB - 1, USER_RW);
	expect_flags(mem, mem_size - 1, USER_RW);
	expect_flags(mem, mem_size / 2, USER_RW);
	expect_flags(mem, mem_size, 0);
	expect_flags(mem, mem_size + 2 * MIB, 0);
	expect_flags(mem, 4 * GIB, 0);	  /* beyond what one PDPT page maps here */
	expect_flags(mem, 512 * GIB, 0);  /* second PML4 slot */
	expect_flags(mem, 1ull << 47, 0); /* non-canonical */
	munmap(mem, mem_size);
}

static void test_layout_2m(void **state)
{
	(void)state;
	check_layout(2 * MIB);
}

static void test_layout_16m(void **state)
{
	(void)state;
	check_layout(16 * MIB);
}

static void test_layout_1g_2m(void **state)
{
	(void)state;
	check_layout(GIB + 2 * MIB);
}

static void test_layout_4g(void **state)
{
	(void)state;
	check_layout(4 * GIB);
}

static void test_every_page_up_to_16m(void **state)
{
	uint64_t size = 16 * MIB, va;
	uint8_t *mem = mem_alloc(size);

	(void)state;
	assert_int_equal(x86_build_tables(mem, size), 0);
	for (va = DENALI_RESERVED_END; va < size; va += 4096)
		expect_flags(mem, va, USER_RW);
	munmap(mem, size);
}

static void test_bad_sizes(void **state)
{
	static const uint64_t sizes[] = {0,	 MIB, 3 * MIB, 2 * MIB + 4096, 4 * GIB + 2 * MIB,
					 8 * GIB};
	uint8_t *mem = mem_alloc(2 * MIB);
	static const uint8_t zero[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_int_equal(x86_build_tables(mem, sizes[i]), -EINVAL);
	/* refused without writing anything */
	for (uint64_t off = 0; off < 2 * MIB; off += 4096)
		assert_memory_equal(mem + off, zero, sizeof(zero));
	munmap(mem, 2 * MIB);
}

static void test_gdt_tss(void **state)
{
	uint8_t *mem = mem_alloc(2 * MIB);
	uint64_t code, data, tss;
	uint16_t iomap;

	(void)state;
	assert_int_equal(x86_build_tables(mem, 2 * MIB), 0);
	memcpy(&code, mem + X86_GDT_GPA + (X86_SEL_USER_CODE & ~7u), 8);
	memcpy(&data, mem + X86_GDT_GPA + (X86_SEL_USER_DATA & ~7u), 8);
	memcpy(&tss, mem + X86_GDT_GPA + X86_SEL_TSS, 8);
	assert_int_equal((code >> 45) & 3, 3); /* DPL 3 */
	assert_int_equal((code >> 47) & 1, 1); /* present */
	assert_int_equal((code >> 53) & 1, 1); /* L: 64-bit */
	assert_int_equal((code >> 43) & 1, 1); /* code */
	assert_int_equal((data >> 45) & 3, 3);
	assert_int_equal((data >> 43) & 1, 0);	/* data */
	assert_int_equal((tss >> 40) & 0xf, 9); /* available 64-bit TSS */
	assert_int_equal((tss >> 16) & 0xffffff, X86_TSS_GPA);
	assert_int_equal((tss & 0xffff) | (((tss >> 48) & 0xf) << 16), X86_TSS_LIMIT);
	memcpy(&iomap, mem + X86_TSS_GPA + 0x66, sizeof(iomap));
	assert_int_equal(iomap, 0x68);
	/* the bitmap ends at the limit, all zero: every port exits to the monitor */
	for (uint32_t i = X86_TSS_GPA + 0x68; i <= X86_TSS_GPA + X86_TSS_LIMIT; i++)
		assert_int_equal(mem[i], 0);
	munmap(mem, 2 * MIB);
}

static void test_entry_sregs(void **state)
{
	struct kvm_sregs s;

	(void)state;
	memset(&s, 0xa5, sizeof(s));
	x86_entry_sregs(&s);
	assert_int_equal(s.cs.selector, X86_SEL_USER_CODE);
	assert_int_equal(s.cs.selector & 3, 3);
	assert_int_equal(s.cs.dpl, 3);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0); /* L=1 requires D=0 */
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.s, 1);
	assert_true(s.cs.type & 8); /* code */
	assert_int_equal(s.ss.selector, X86_SEL_USER_DATA);
	assert_int_equal(s.ss.dpl, 3);
	assert_int_equal(s.ds.selector, DENALI_ENTRY_DS);
	assert_int_equal(s.ds.unusable, 1);
	assert_int_equal(s.fs.base, 0);
	assert_int_equal(s.gs.base, 0);
	assert_int_equal(X86_SEL_USER_CODE, 0x33);
	assert_int_equal(X86_SEL_USER_DATA, 0x2b);
	assert_false(s.ss.type & 8); /* data */
	assert_true(s.ss.type & 2);  /* writable */
	assert_int_equal(s.tr.selector, X86_SEL_TSS);
	assert_int_equal(s.tr.base, X86_TSS_GPA);
	assert_int_equal(s.tr.limit, X86_TSS_LIMIT);
	assert_int_equal(s.gdt.base, X86_GDT_GPA);
	assert_true(s.gdt.limit >= X86_SEL_TSS + 15); /* 16-byte TSS descriptor fits */
	assert_int_equal(s.idt.limit, 0);
	assert_int_equal(s.cr0 & (CR0_PG | CR0_PE), CR0_PG | CR0_PE);
	assert_true(s.cr4 & CR4_PAE);
	assert_int_equal(s.efer & (EFER_LMA | EFER_LME), EFER_LMA | EFER_LME);
	assert_true(s.efer & EFER_NXE); /* NX bits in the tables are honoured */
	assert_int_equal(s.efer & EFER_SCE, 0);
	assert_int_equal(s.cr2, X86_CR2_SENTINEL);
	assert_int_equal(s.cr3, X86_PML4_GPA);
	for (size_t i = 0; i < sizeof(s.interrupt_bitmap) / sizeof(s.interrupt_bitmap[0]); i++)
		assert_int_equal(s.interrupt_bitmap[i], 0); /* fully initialised */
}

static void test_entry_regs(void **state)
{
	struct kvm_regs r;

	(void)state;
	memset(&r, 0xa5, sizeof(r));
	x86_entry_regs(&r, 0x100040, 16 * MIB);
	assert_int_equal(r.rip, 0x100040);
	assert_int_equal(r.rsp, 16 * MIB);
	assert_int_equal(r.rflags, X86_RFLAGS_ENTRY);
	assert_int_equal(r.rflags, 0x202);
	assert_int_equal((r.rflags >> 12) & 3, 0);	 /* IOPL 0: I/O by the TSS bitmap */
	assert_int_equal(r.rflags & (1u << 9), 1u << 9); /* IF 1, nothing is injected */
	assert_int_equal(r.rflags & 2, 2);		 /* reserved bit 1 */
	assert_int_equal(r.rax, 0);
	assert_int_equal(r.rbp, 0);
	assert_int_equal(r.r15, 0);
}

static void test_init_xsave(void **state)
{
	struct kvm_xsave x;
	uint16_t fcw;
	uint32_t mxcsr;
	uint64_t xstate_bv;

	(void)state;
	memset(&x, 0xa5, sizeof(x));
	x86_init_xsave(&x);
	memcpy(&fcw, (uint8_t *)x.region + 0, sizeof(fcw));
	memcpy(&mxcsr, (uint8_t *)x.region + 24, sizeof(mxcsr));
	memcpy(&xstate_bv, (uint8_t *)x.region + 512, sizeof(xstate_bv));
	assert_int_equal(fcw, 0x37f);
	assert_int_equal(mxcsr, 0x1f80);
	assert_int_equal(xstate_bv, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_2m),
	    cmocka_unit_test(test_layout_16m),
	    cmocka_unit_test(test_layout_1g_2m),
	    cmocka_unit_test(test_layout_4g),
	    cmocka_unit_test(test_every_page_up_to_16m),
	    cmocka_unit_test(test_bad_sizes),
	    cmocka_unit_test(test_gdt_tss),
	    cmocka_unit_test(test_entry_sregs),
	    cmocka_unit_test(test_entry_regs),
	    cmocka_unit_test(test_init_xsave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

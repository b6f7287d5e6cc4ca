/*
 * vcpu_state_check (issue 7, hole 7): a vCPU state from outside the process
 * passes only as the monitor itself would set it, or as a ring-3 guest can
 * change it from there.
 */
#include "vmm/vcpu_state.h"
#include "vmm/x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

#define MEM (16ull << 20)

static struct vcpu_state st;
static char err[256];

static int check(void)
{
	err[0] = 0;
	return vcpu_state_check(&st, MEM, err, sizeof(err));
}

static int setup(void **state)
{
	(void)state;
	vcpu_state_init(&st, 0x100000, MEM);
	return 0;
}

/* The monitor's own entry state, and the same as KVM_GET_SREGS reports it
 * after a run on this host (accessed bits, busy TSS, unusable nulls). */
static void test_monitor_state_passes(void **state)
{
	(void)state;
	assert_int_equal(check(), 0);
	st.sregs.cs.type = 11;
	st.sregs.ss.type = 3;
	st.sregs.tr.type = 11;
	st.regs.rflags = 0x246; /* ZF PF set by guest code */
	st.regs.rip = 0x100283;
	st.sregs.cr2 = 0x1008; /* a page-fault address: any */
	assert_int_equal(check(), 0);
}

/* What ring 3 can do to itself: load the user data or code selector (any
 * RPL) or a null one into ds/es/fs/gs; set the popf-changeable flags. */
static void test_guest_reachable_passes(void **state)
{
	struct kvm_segment data = st.sregs.ss, code = st.sregs.cs;

	(void)state;
	st.sregs.ds = data;
	st.sregs.es = data;
	st.sregs.es.selector = 0x28; /* RPL 0 at CPL 3: allowed for data */
	st.sregs.fs = code;
	st.regs.rflags = 0x202 | 0x254dd5;
	assert_int_equal(check(), 0);
}

static void test_cs_dpl0_refused(void **state)
{
	(void)state;
	st.sregs.cs.dpl = 0;
	assert_int_equal(check(), -EINVAL);
	assert_non_null(strstr(err, "cs"));
}

static void test_cs_kernel_selector_refused(void **state)
{
	(void)state;
	st.sregs.cs.selector = 0x10;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.cs.selector = 0x30; /* RPL 0 */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.cs.l = 0; /* compatibility mode */
	assert_int_equal(check(), -EINVAL);
}

static void test_ss_refused(void **state)
{
	(void)state;
	st.sregs.ss.dpl = 0;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.ss.selector = 0x18;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.ss.base = 0x1000;
	assert_int_equal(check(), -EINVAL);
}

static void test_data_segments_refused(void **state)
{
	(void)state;
	st.sregs.fs.base = 0x400000; /* a base ring 3 cannot set */
	assert_int_equal(check(), -EINVAL);
	assert_non_null(strstr(err, "fs"));
	setup(NULL);
	st.sregs.ds = st.sregs.ss;
	st.sregs.ds.selector = 0x18; /* kernel data */
	st.sregs.ds.dpl = 0;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.gs = st.sregs.ss;
	st.sregs.gs.selector = 0x2f; /* LDT */
	assert_int_equal(check(), -EINVAL);
}

static void test_rflags_refused(void **state)
{
	const uint64_t bad[] = {
	    0x3202,   /* IOPL 3 */
	    0x1202,   /* IOPL 1 */
	    0x002,    /* IF clear */
	    0x200,    /* reserved bit 1 clear */
	    0x20202,  /* VM */
	    0x80202,  /* VIF */
	    0x100202, /* VIP */
	    0x20a,    /* reserved bit 3 */
	    0x1000000202ull,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st.regs.rflags = bad[i];
		assert_int_equal(check(), -EINVAL);
		assert_non_null(strstr(err, "rflags"));
	}
}

static void test_rip_outside_refused(void **state)
{
	(void)state;
	st.regs.rip = MEM;
	assert_int_equal(check(), -EINVAL);
	st.regs.rip = 0xffffffff81000000ull;
	assert_int_equal(check(), -EINVAL);
}

static void test_system_registers_refused(void **state)
{
	(void)state;
	st.sregs.cr0 &= ~(1ull << 16); /* WP off */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.cr3 = 0x200000; /* page tables of the guest's choosing */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.cr4 |= 1ull << 2; /* TSD */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.efer |= 1; /* SCE: syscall */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.cr8 = 1;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.idt.limit = 0xfff; /* an IDT */
	st.sregs.idt.base = 0x200000;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.gdt.base = 0x200000; /* a GDT in guest memory */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.tr.base = 0x200000; /* a TSS (I/O bitmap) of its own */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.ldt.unusable = 0;
	st.sregs.ldt.base = 0x200000;
	st.sregs.ldt.limit = 0xff;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.apic_base = 0xfee00000;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.sregs.interrupt_bitmap[0] = 1ull << 32;
	assert_int_equal(check(), -EINVAL);
}

static void test_msrs_refused(void **state)
{
	(void)state;
	st.msrs.hdr.nmsrs = 0xffffffffu; /* reads as -1, like a failed ioctl */
	assert_int_equal(check(), -EINVAL);
	assert_non_null(strstr(err, "MSR count"));
	setup(NULL);
	st.msrs.hdr.nmsrs = 0;
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.msrs.entries[2].index = 0xc0000080; /* EFER through the MSR list */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.msrs.entries[3].data = 0x400000; /* LSTAR: a syscall target */
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	st.msrs.entries[0].data = 0xffff800000000000ull; /* KERNEL_GS_BASE */
	assert_int_equal(check(), -EINVAL);
}

static void test_xsave_refused(void **state)
{
	uint32_t mxcsr = 0x10000;
	uint64_t xcomp = 1ull << 63;

	(void)state;
	memcpy((uint8_t *)st.xsave.region + 24, &mxcsr, sizeof(mxcsr));
	assert_int_equal(check(), -EINVAL);
	setup(NULL);
	memcpy((uint8_t *)st.xsave.region + 520, &xcomp, sizeof(xcomp));
	assert_int_equal(check(), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_monitor_state_passes, setup),
	    cmocka_unit_test_setup(test_guest_reachable_passes, setup),
	    cmocka_unit_test_setup(test_cs_dpl0_refused, setup),
	    cmocka_unit_test_setup(test_cs_kernel_selector_refused, setup),
	    cmocka_unit_test_setup(test_ss_refused, setup),
	    cmocka_unit_test_setup(test_data_segments_refused, setup),
	    cmocka_unit_test_setup(test_rflags_refused, setup),
	    cmocka_unit_test_setup(test_rip_outside_refused, setup),
	    cmocka_unit_test_setup(test_system_registers_refused, setup),
	    cmocka_unit_test_setup(test_msrs_refused, setup),
	    cmocka_unit_test_setup(test_xsave_refused, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

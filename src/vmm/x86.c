/*
 * Page tables and descriptor tables for ring-3 guests.
 *
 * Layout: PML4 -> one PDPT -> one PD per GiB. The first 2 MiB go through a
 * 4 KiB page table so that page 0, the read-only vregs page and the
 * monitor-private pages can differ; the rest is mapped with 2 MiB pages.
 * Only non-zero bytes are written: guest memory starts zero-filled and every
 * page the monitor touches is a page the VM pays for.
 *
 * ELF segment permissions are deliberately not applied: everything from
 * DENALI_RESERVED_END up is user, writable and executable, so a guest can
 * write its own text and run its data. That only ever reaches the guest's own
 * memory, which it may write anyway; what isolates it from the monitor and its
 * neighbours is the rest of this table (page 0 and the reserved pages absent,
 * vregs read-only and NX, GDT/TSS/tables supervisor-only) and the ring-3 entry.
 * W^X inside the guest would be defence in depth for the guest's own bugs; it
 * needs 4 KiB pages over the image (more table pages than the private area
 * holds for images past the first 2 MiB) and the flags carried in snapshots,
 * swap slots and exports, which rebuild these tables on load.
 */
#include "x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <string.h>

#define GIB  (1ull << 30)
#define MIB2 (2ull << 20)

static void put64(uint8_t *mem, uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, sizeof(v));
}

static uint64_t get64(const uint8_t *mem, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, mem + gpa, sizeof(v));
	return v;
}

static void build_gdt(uint8_t *mem)
{
	uint64_t tss_lo;

	put64(mem, X86_GDT_GPA + 0x10, 0x00af9a000000ffffull); /* kernel code, unused */
	put64(mem, X86_GDT_GPA + 0x18, 0x00cf92000000ffffull); /* kernel data, unused */
	put64(mem, X86_GDT_GPA + (X86_SEL_USER_DATA & ~7u), 0x00cff2000000ffffull); /* DPL3 */
	put64(mem, X86_GDT_GPA + (X86_SEL_USER_CODE & ~7u), 0x00affa000000ffffull); /* L=1 */
	tss_lo = (X86_TSS_LIMIT & 0xffffull) | ((uint64_t)(X86_TSS_GPA & 0xffffff) << 16) |
		 (0x89ull << 40) | ((uint64_t)((X86_TSS_LIMIT >> 16) & 0xf) << 48) |
		 ((uint64_t)((X86_TSS_GPA >> 24) & 0xff) << 56);
	put64(mem, X86_GDT_GPA + X86_SEL_TSS, tss_lo); /* high half (base 63:32) is 0 */
}

static void build_tss(uint8_t *mem)
{
	/* I/O bitmap right after the TSS, all zero: it permits every port.
	 * kvm_pvm consults it at any IOPL (without it every `out` faults);
	 * a permitted `out` exits to the monitor, which kills the VM on ports
	 * that are not hypercalls and so can name the port in its reason. */
	uint16_t iomap = 0x68;

	memcpy(mem + X86_TSS_GPA + 0x66, &iomap, sizeof(iomap));
}

static uint64_t low_page_flags(uint64_t gpa)
{
	const uint64_t rw = X86_PTE_P | X86_PTE_W | X86_PTE_U;

	if (gpa == 0)
		return 0; /* null guard */
	if (gpa == DENALI_VREGS_GPA)
		return X86_PTE_P | X86_PTE_U | X86_PTE_NX; /* monitor-owned */
	if (gpa < DENALI_PRIVATE_GPA)
		return rw | X86_PTE_NX; /* shared page and rings */
	if (gpa < X86_PRIVATE_END)
		return X86_PTE_P | X86_PTE_W | X86_PTE_NX; /* GDT, TSS: supervisor */
	if (gpa < DENALI_RESERVED_END)
		return 0; /* unused reserved: guard */
	return rw;
}

int x86_build_tables(uint8_t *mem, uint64_t mem_size)
{
	const uint64_t table = X86_PTE_P | X86_PTE_W | X86_PTE_U;
	uint64_t gpa, ngib;

	if (!denali_mem_size_ok(mem_size))
		return -EINVAL;
	build_gdt(mem);
	build_tss(mem);
	ngib = (mem_size + GIB - 1) / GIB;
	put64(mem, X86_PML4_GPA, X86_PDPT_GPA | table);
	for (uint64_t i = 0; i < ngib; i++)
		put64(mem, X86_PDPT_GPA + 8 * i, (X86_PD_GPA + 4096 * i) | table);
	put64(mem, X86_PD_GPA, X86_PT0_GPA | table);
	for (gpa = 0; gpa < MIB2; gpa += 4096) {
		uint64_t f = low_page_flags(gpa);

		if (f)
			put64(mem, X86_PT0_GPA + 8 * (gpa >> 12), gpa | f);
	}
	for (gpa = MIB2; gpa < mem_size; gpa += MIB2)
		put64(mem, X86_PD_GPA + 8 * (gpa >> 21), gpa | table | X86_PTE_PS);
	return 0;
}

void x86_entry_sregs(struct kvm_sregs *s)
{
	struct kvm_segment code = {
	    .limit = 0xffffffff,
	    .selector = X86_SEL_USER_CODE,
	    .type = 11,
	    .present = 1,
	    .dpl = 3,
	    .s = 1,
	    .l = 1,
	    .g = 1,
	};
	struct kvm_segment data = {
	    .limit = 0xffffffff,
	    .selector = X86_SEL_USER_DATA,
	    .type = 3,
	    .present = 1,
	    .dpl = 3,
	    .db = 1,
	    .s = 1,
	    .g = 1,
	};

	memset(s, 0, sizeof(*s));
	s->cs = code;
	s->ss = data;
	/* Null selectors, as after a 64-bit exec: unusable, base 0. */
	s->ds = s->es = s->fs = s->gs = (struct kvm_segment){.unusable = 1};
	s->tr = (struct kvm_segment){
	    .base = X86_TSS_GPA,
	    .limit = X86_TSS_LIMIT,
	    .selector = X86_SEL_TSS,
	    .type = 11,
	    .present = 1,
	};
	s->ldt = (struct kvm_segment){.type = 2, .present = 1, .unusable = 1};
	s->gdt.base = X86_GDT_GPA;
	s->gdt.limit = X86_GDT_LIMIT;
	s->idt.base = 0;
	s->idt.limit = 0; /* no IDT: any exception is a triple fault */
	s->cr0 = X86_CR0_ENTRY;
	s->cr2 = X86_CR2_SENTINEL;
	s->cr3 = X86_PML4_GPA;
	s->cr4 = X86_CR4_ENTRY;
	s->efer = X86_EFER_ENTRY;
	s->apic_base = X86_APIC_BASE_ENTRY;
}

void x86_entry_regs(struct kvm_regs *r, uint64_t entry, uint64_t mem_size)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rsp = mem_size;
	r->rflags = X86_RFLAGS_ENTRY;
}

void x86_init_xsave(struct kvm_xsave *x)
{
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;

	/* Legacy area with the reset control words; XSTATE_BV (offset 512) = 0
	 * puts every component, AVX included, in its init state. */
	memset(x, 0, sizeof(*x));
	memcpy((uint8_t *)x->region + 0, &fcw, sizeof(fcw));
	memcpy((uint8_t *)x->region + 24, &mxcsr, sizeof(mxcsr));
}

uint64_t x86_walk(const uint8_t *mem, uint64_t va)
{
	uint64_t e, w = X86_PTE_W, u = X86_PTE_U, nx = 0;
	uint64_t table = get64(mem, X86_PML4_GPA + 8 * ((va >> 39) & 511));
	int shifts[] = {30, 21, 12};

	if (va >> 47)
		return 0;
	e = table;
	for (int level = 0;; level++) {
		if (!(e & X86_PTE_P))
			return 0;
		w &= e;
		u &= e;
		nx |= e & X86_PTE_NX;
		if (level == 3 || (level > 0 && (e & X86_PTE_PS)))
			break;
		e = get64(mem, (e & 0x000ffffffffff000ull) + 8 * ((va >> shifts[level]) & 511));
	}
	return X86_PTE_P | w | u | nx;
}

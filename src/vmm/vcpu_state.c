#include "vcpu_state.h"

#include "x86.h"

#include <errno.h>

#include <stdio.h>
#include <string.h>

static const uint32_t msr_list[VCPU_STATE_NMSRS] = {
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX (rdtscp, rdpid) */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
};

void vcpu_state_msr_list(struct vcpu_state *st)
{
	st->msrs.hdr.nmsrs = VCPU_STATE_NMSRS;
	st->msrs.hdr.pad = 0;
	for (unsigned i = 0; i < VCPU_STATE_NMSRS; i++) {
		st->msrs.entries[i].index = msr_list[i];
		st->msrs.entries[i].reserved = 0;
	}
}

void vcpu_state_init(struct vcpu_state *st, uint64_t entry, uint64_t mem_size)
{
	memset(st, 0, sizeof(*st));
	x86_entry_regs(&st->regs, entry, mem_size);
	x86_entry_sregs(&st->sregs);
	x86_init_xsave(&st->xsave);
	vcpu_state_msr_list(st);
}

/* Flags popf changes at CPL 3 (IOPL 0): CF PF AF ZF SF TF DF OF NT RF AC ID. */
#define RFLAGS_USER 0x254dd5ull
#define RFLAGS_MUST 0x202ull /* IF and the reserved bit 1 */

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -EINVAL;                                                                    \
	} while (0)

/* The flat ring-3 code or data descriptor for selector sel, as loaded. */
static int user_seg_ok(const struct kvm_segment *s, int code)
{
	if (s->base || s->limit != 0xffffffff || !s->present || s->dpl != 3 || !s->s || !s->g ||
	    s->unusable || s->avl)
		return 0;
	if (code)
		return (s->type & ~1u) == 10 && s->l && !s->db;
	return (s->type & ~1u) == 2 && !s->l && s->db;
}

/* ds, es, fs, gs: null (as the monitor loads them) or a ring-3 descriptor
 * the guest loaded itself (any RPL), never with a base of its own. */
static int data_seg_ok(const struct kvm_segment *s)
{
	unsigned idx = s->selector >> 3;

	if (s->base)
		return 0;
	if (s->unusable || idx == 0)
		return s->unusable && idx == 0 && !(s->selector & 4);
	if (s->selector & 4)
		return 0; /* LDT: there is none */
	if (idx == (X86_SEL_USER_DATA >> 3))
		return user_seg_ok(s, 0);
	if (idx == (X86_SEL_USER_CODE >> 3))
		return user_seg_ok(s, 1);
	return 0;
}

static int xsave_ok(const struct kvm_xsave *x)
{
	uint32_t mxcsr;
	uint64_t hdr[8];

	memcpy(&mxcsr, (const uint8_t *)x->region + 24, sizeof(mxcsr));
	memcpy(hdr, (const uint8_t *)x->region + 512, sizeof(hdr));
	if (mxcsr & 0xffff0000u)
		return 0;
	/* XSTATE_BV known components only; XCOMP_BV 0 (standard form); the
	 * rest of the header reserved, zero. */
	if (hdr[0] & ~0x2e7ull || hdr[1])
		return 0;
	for (int i = 2; i < 8; i++)
		if (hdr[i])
			return 0;
	return 1;
}

int vcpu_state_check(const struct vcpu_state *st, uint64_t mem_size, char *err, size_t errlen)
{
	const struct kvm_sregs *s = &st->sregs;
	const struct kvm_regs *r = &st->regs;
	static const char *const dname[4] = {"ds", "es", "fs", "gs"};
	const struct kvm_segment *d[4] = {&s->ds, &s->es, &s->fs, &s->gs};

	if ((r->rflags & RFLAGS_MUST) != RFLAGS_MUST || (r->rflags & ~(RFLAGS_USER | RFLAGS_MUST)))
		BAD("rflags 0x%llx: IF must be set, IOPL 0, no VM/VIF/VIP or reserved bits",
		    r->rflags);
	if (r->rip >= mem_size)
		BAD("rip 0x%llx is outside guest memory", r->rip);
	if (s->cs.selector != X86_SEL_USER_CODE || !user_seg_ok(&s->cs, 1))
		BAD("cs (selector 0x%x, DPL %u, type %u, base 0x%llx) is not the ring-3 code "
		    "segment",
		    s->cs.selector, s->cs.dpl, s->cs.type, s->cs.base);
	if (s->ss.selector != X86_SEL_USER_DATA || !user_seg_ok(&s->ss, 0))
		BAD("ss (selector 0x%x, DPL %u, type %u, base 0x%llx) is not the ring-3 data "
		    "segment",
		    s->ss.selector, s->ss.dpl, s->ss.type, s->ss.base);
	for (int i = 0; i < 4; i++)
		if (!data_seg_ok(d[i]))
			BAD("%s (selector 0x%x, DPL %u, base 0x%llx) is neither null nor a ring-3 "
			    "segment",
			    dname[i], d[i]->selector, d[i]->dpl, d[i]->base);
	if (s->tr.selector != X86_SEL_TSS || s->tr.base != X86_TSS_GPA ||
	    s->tr.limit != X86_TSS_LIMIT || (s->tr.type != 11 && s->tr.type != 9) ||
	    !s->tr.present || s->tr.s || s->tr.unusable)
		BAD("tr (selector 0x%x, base 0x%llx, limit 0x%x) is not the monitor's TSS",
		    s->tr.selector, s->tr.base, s->tr.limit);
	if (!s->ldt.unusable && (s->ldt.selector || s->ldt.base || s->ldt.limit))
		BAD("ldt (selector 0x%x, base 0x%llx) is set: there is no LDT", s->ldt.selector,
		    s->ldt.base);
	if (s->gdt.base != X86_GDT_GPA || s->gdt.limit != X86_GDT_LIMIT || s->idt.base ||
	    s->idt.limit)
		BAD("gdt 0x%llx/0x%x or idt 0x%llx/0x%x differ from the monitor's", s->gdt.base,
		    s->gdt.limit, s->idt.base, s->idt.limit);
	if (s->cr0 != X86_CR0_ENTRY || s->cr3 != X86_PML4_GPA || s->cr4 != X86_CR4_ENTRY ||
	    s->cr8 || s->efer != X86_EFER_ENTRY || s->apic_base != X86_APIC_BASE_ENTRY)
		BAD("control registers (cr0 0x%llx cr3 0x%llx cr4 0x%llx cr8 0x%llx efer 0x%llx "
		    "apic 0x%llx) differ from the monitor's",
		    s->cr0, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base);
	for (size_t i = 0; i < sizeof(s->interrupt_bitmap) / sizeof(s->interrupt_bitmap[0]); i++)
		if (s->interrupt_bitmap[i])
			BAD("an interrupt is pending: nothing is ever injected");
	if (st->msrs.hdr.nmsrs != VCPU_STATE_NMSRS || st->msrs.hdr.pad)
		BAD("MSR count %u, expected %u", st->msrs.hdr.nmsrs, VCPU_STATE_NMSRS);
	for (unsigned i = 0; i < VCPU_STATE_NMSRS; i++) {
		const struct kvm_msr_entry *e = &st->msrs.entries[i];

		if (e->index != msr_list[i] || e->reserved || e->data)
			BAD("MSR %u (0x%x = 0x%llx) is not the monitor's (0x%x = 0)", i, e->index,
			    e->data, msr_list[i]);
	}
	if (!xsave_ok(&st->xsave))
		BAD("XSAVE area: invalid MXCSR or header");
	return 0;
}

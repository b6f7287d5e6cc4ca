/*
 * x86-64 entry state for a ring-3 guest: the monitor-private descriptor
 * tables and page tables inside guest memory, and the register values that
 * start the guest at its entry point. Pure functions, no ioctls.
 */
#ifndef DENALI_VMM_X86_H
#define DENALI_VMM_X86_H

#include <denali/abi.h>
#include <linux/kvm.h>
#include <stdint.h>

/* Monitor-private pages (below DENALI_RESERVED_END, not user-accessible). */
#define X86_GDT_GPA	0x7000u
#define X86_TSS_GPA	0x8000u /* 0x68 bytes + 8 KiB I/O bitmap + terminator */
#define X86_TSS_LIMIT	(0x68u + 8192u)
#define X86_PML4_GPA	0xb000u
#define X86_PDPT_GPA	0xc000u
#define X86_PT0_GPA	0xd000u /* the first 2 MiB, in 4 KiB pages */
#define X86_PD_GPA	0xe000u /* one page directory per GiB, up to 4 */
#define X86_PRIVATE_END 0x12000u
/* Linux's GDT layout (abi.h, DENALI_ENTRY_*): kernel code 0x10, kernel data
 * 0x18 (both unused), user data 0x28|3, user code 0x30|3, TSS 0x40. */
#define X86_SEL_USER_CODE DENALI_ENTRY_CS
#define X86_SEL_USER_DATA DENALI_ENTRY_SS
#define X86_SEL_TSS	  0x40u
#define X86_GDT_LIMIT	  (X86_SEL_TSS + 15u)
/* CR2 value loaded at entry: a #PF replaces it, so a shutdown that leaves it
 * untouched was not a page fault. Non-canonical, so no real fault address. */
#define X86_CR2_SENTINEL    0xdead0000dead0000ull
#define X86_CR0_ENTRY	    0x80050033ull /* PG AM WP NE ET MP PE */
#define X86_CR4_ENTRY	    0x40620ull	  /* OSXSAVE OSXMMEXCPT OSFXSR PAE */
#define X86_EFER_ENTRY	    0xd00ull	  /* NXE LMA LME; no SCE: syscall is #UD */
#define X86_APIC_BASE_ENTRY 0xfee00900ull
#define X86_RFLAGS_ENTRY    ((uint64_t)DENALI_ENTRY_RFLAGS) /* IOPL=0, IF=1, bit 1 */

/*
 * Writes the GDT, TSS and identity page tables for mem_size bytes into the
 * zero-filled guest memory mem. mem_size must be a multiple of 2 MiB between
 * DENALI_MEM_MIN and DENALI_MEM_MAX. Page 0 and the monitor-private pages are
 * left unmapped to ring 3; the vregs page is read-only; the shared and ring
 * pages are read-write; everything from DENALI_RESERVED_END up is read-write.
 * Returns 0 or -EINVAL for a bad size.
 */
int x86_build_tables(uint8_t *mem, uint64_t mem_size);

/* Special registers for a ring-3 long-mode guest using x86_build_tables(). */
void x86_entry_sregs(struct kvm_sregs *s);

/* General registers: rip = entry, rsp = top of memory, all else 0. */
void x86_entry_regs(struct kvm_regs *r, uint64_t entry, uint64_t mem_size);

/* XSAVE area in the architectural init state (x87, SSE, AVX all reset). */
void x86_init_xsave(struct kvm_xsave *x);

/* Page-table entry bits, exposed for tests. */
#define X86_PTE_P  (1ull << 0)
#define X86_PTE_W  (1ull << 1)
#define X86_PTE_U  (1ull << 2)
#define X86_PTE_PS (1ull << 7)
#define X86_PTE_NX (1ull << 63)

/*
 * Walks the page tables in mem the way the CPU would for a ring-3 access and
 * returns the leaf entry's flags (P/W/U/NX, combined over levels: W and U
 * only if set at every level) or 0 when not present. For tests.
 */
uint64_t x86_walk(const uint8_t *mem, uint64_t va);

#endif

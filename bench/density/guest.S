/*
 * The bench-density guest: a sleeper or a spinner in a few instructions of
 * ring-3 code, no libos, so that what is measured is the monitor and KVM.
 *
 * The host chooses the behaviour through rsi at entry (all other GPRs are
 * 0, rsp = top of memory):
 *   rsi = 0  sleeper: forever { take the shared page's events with an atomic
 *            exchange; IDLE with no deadline }. One exit per wake-up; the
 *            idle block sits on the stack (one stack page touched).
 *   rsi = 1  spinner: forever { read the TSC; if less than GAP_TICKS
 *            passed since the last read, add the difference to its running
 *            time, else count a gap (it was not running: another VM, the
 *            monitor, KVM or the host had the CPU) }. Never exits on its
 *            own. Its counters sit at the top of memory, where the host
 *            reads them:
 *              mem_size - 32  iterations
 *              mem_size - 24  TSC ticks it ran (sum of the small steps)
 *              mem_size - 16  gaps
 *
 * Named _start so that guest.ld's EXTERN(_start) resolves here and no part
 * of guest-libos is linked in.
 */
#define HC_IDLE		0x501	/* DENALI_HC_IDLE */
#define SHARED_GPA	0x2000	/* DENALI_SHARED_GPA: struct denali_shared */
#define GAP_TICKS	2000	/* ~1 us at 2 GHz; a loop iteration is ~10 ns */

	.section .text.entry, "ax"
	.globl	_start
	.type	_start, @function
_start:
	testq	%rsi, %rsi
	jnz	.Lspin
	subq	$16, %rsp
	movq	%rsp, %rbx
1:	xorl	%eax, %eax
	xchgq	%rax, SHARED_GPA	/* take (and clear) pending events */
	movq	$-1, (%rbx)		/* deadline_ns = DENALI_NO_DEADLINE */
	movq	$0, 8(%rbx)		/* events (OUT) */
	movl	%ebx, %eax		/* below 4 GiB: memory is 16 MiB */
	movl	$HC_IDLE, %edx
	outl	%eax, %dx
	jmp	1b

.Lspin:
	leaq	-32(%rsp), %rbx
	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %rsi		/* the previous TSC read */
2:	rdtsc
	shlq	$32, %rdx
	orq	%rdx, %rax
	movq	%rax, %rcx
	subq	%rsi, %rcx		/* ticks since the previous read */
	movq	%rax, %rsi
	incq	(%rbx)
	cmpq	$GAP_TICKS, %rcx
	ja	3f
	addq	%rcx, 8(%rbx)
	jmp	2b
3:	incq	16(%rbx)
	jmp	2b
	.size	_start, . - _start

/*
 * guest.ld always emits the rodata and data segments, and the monitor
 * rejects an empty one (it would sit at address 0): give each a few bytes.
 * The guest never reads them; .bss costs no page until written.
 */
	.section .rodata
	.asciz	"denali bench-density"

	.section .bss
	.zero	16

	.section .note.GNU-stack, "", @progbits

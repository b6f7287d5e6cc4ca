/*
 * entrystate's own entry point: before any code can change them it stores
 * the general registers, rflags, the segment selectors, xmm0..15, MXCSR and
 * the x87 control and status words the monitor handed over, and counts its
 * entries; then it continues into the normal libos start-up (_start).
 *
 * es_regs layout (8 bytes each): rax rbx rcx rdx rsi rdi rbp rsp r8..r15,
 * then rflags, cs, ss, ds, es, fs, gs.
 */
	.section .bss
	.balign 64
	.globl	es_regs
es_regs:
	.zero	8 * 23
	.globl	es_xmm
	.balign 16
es_xmm:
	.zero	16 * 16
	.globl	es_mxcsr
es_mxcsr:
	.zero	4
	.globl	es_fcw
es_fcw:
	.zero	2
	.globl	es_fsw
es_fsw:
	.zero	2
	.globl	es_entries
es_entries:
	.zero	4

	.text
	.globl	entrystate_start
	.type	entrystate_start, @function
entrystate_start:
	movq	%rax, es_regs + 0(%rip)
	movq	%rbx, es_regs + 8(%rip)
	movq	%rcx, es_regs + 16(%rip)
	movq	%rdx, es_regs + 24(%rip)
	movq	%rsi, es_regs + 32(%rip)
	movq	%rdi, es_regs + 40(%rip)
	movq	%rbp, es_regs + 48(%rip)
	movq	%rsp, es_regs + 56(%rip)
	movq	%r8, es_regs + 64(%rip)
	movq	%r9, es_regs + 72(%rip)
	movq	%r10, es_regs + 80(%rip)
	movq	%r11, es_regs + 88(%rip)
	movq	%r12, es_regs + 96(%rip)
	movq	%r13, es_regs + 104(%rip)
	movq	%r14, es_regs + 112(%rip)
	movq	%r15, es_regs + 120(%rip)
	pushfq
	popq	es_regs + 128(%rip)
	xorl	%eax, %eax
	movw	%cs, %ax
	movq	%rax, es_regs + 136(%rip)
	movw	%ss, %ax
	movq	%rax, es_regs + 144(%rip)
	movw	%ds, %ax
	movq	%rax, es_regs + 152(%rip)
	movw	%es, %ax
	movq	%rax, es_regs + 160(%rip)
	movw	%fs, %ax
	movq	%rax, es_regs + 168(%rip)
	movw	%gs, %ax
	movq	%rax, es_regs + 176(%rip)
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	%xmm\n, es_xmm + 16 * \n(%rip)
	.endr
	stmxcsr	es_mxcsr(%rip)
	fnstcw	es_fcw(%rip)
	fnstsw	es_fsw(%rip)
	incl	es_entries(%rip)
	xorl	%eax, %eax
	movq	es_regs + 56(%rip), %rsp
	jmp	_start
	.size	entrystate_start, . - entrystate_start

	.section .note.GNU-stack, "", @progbits

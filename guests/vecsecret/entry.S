/*
 * vecsecret's own entry point. Before any code can touch a vector register
 * it stores what the monitor handed over: xmm0..15, MXCSR, and when usable
 * ymm0..15 (AVX) and zmm0..31 plus k0..7 (AVX-512); then it continues into
 * the normal libos start-up (_start in crt0.S).
 *
 * Saved layout (vs_saved, in .bss so it costs nothing until written):
 *   [0, 256)     xmm0..15       16 B each
 *   [256, 768)   ymm0..15       32 B each   if vs_have & VS_AVX
 *   [768, 2816)  zmm0..31       64 B each   if vs_have & VS_AVX512
 *   [2816, 2880) k0..7          8 B each    if vs_have & VS_AVX512 (2 B each
 *                                           unless vs_have & VS_AVX512BW)
 */
#define VS_SSE	    1
#define VS_AVX	    2
#define VS_AVX512   4
#define VS_AVX512BW 8

#define XMM_OFF 0
#define YMM_OFF 256
#define ZMM_OFF 768
#define K_OFF	2816

	.section .bss
	.balign 64
	.globl	vs_saved
vs_saved:
	.zero	2880
	.globl	vs_mxcsr
vs_mxcsr:
	.zero	4
	.globl	vs_have
vs_have:
	.zero	4

	.section .rodata
	.balign 64
vs_secret:
	.rept	8
	.quad	0x5ec2e75ec2e75ec2
	.endr
vs_secret_mxcsr:
	.long	0xff80		/* all exceptions masked, RC = toward zero, FZ */

	.text
	.globl	vecsecret_start
	.type	vecsecret_start, @function
vecsecret_start:
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	%xmm\n, vs_saved + XMM_OFF + 16 * \n(%rip)
	.endr
	stmxcsr	vs_mxcsr(%rip)
	movl	$VS_SSE, vs_have(%rip)

	/*
	 * AVX needs CPUID.1:ECX.AVX[28] and OSXSAVE[27], then XCR0 bits 1-2.
	 * A monitor that exposes no CPUID leaves at all (max leaf 0: the
	 * current denalid) still runs ring 3 with XSAVE enabled on this
	 * platform, so xgetbv is asked directly; were that ever wrong, xgetbv
	 * would #UD and the VM would die loudly, never report "clean".
	 */
	xorl	%eax, %eax
	xorl	%ecx, %ecx
	cpuid
	movl	%eax, %r8d		/* max basic leaf */
	testl	%eax, %eax
	jz	.Lxcr0
	movl	$1, %eax
	xorl	%ecx, %ecx
	cpuid
	andl	$((1 << 27) | (1 << 28)), %ecx
	cmpl	$((1 << 27) | (1 << 28)), %ecx
	jne	.Ldone
.Lxcr0:
	xorl	%ecx, %ecx
	xgetbv
	movl	%eax, %edi
	andl	$6, %eax
	cmpl	$6, %eax
	jne	.Ldone
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	%ymm\n, vs_saved + YMM_OFF + 32 * \n(%rip)
	.endr
	orl	$VS_AVX, vs_have(%rip)

	/* AVX-512: the OS enabled opmask, ZMM_Hi256 and Hi16_ZMM (XCR0 bits
	 * 5-7), which it only does on a CPU with AVX512F. */
	andl	$0xe0, %edi
	cmpl	$0xe0, %edi
	jne	.Ldone
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 %zmm\n, vs_saved + ZMM_OFF + 64 * \n(%rip)
	.endr
	orl	$VS_AVX512, vs_have(%rip)
	/* 64-bit opmask registers need AVX512BW (CPUID.(7,0):EBX[30]); without
	 * CPUID assume it (every AVX-512 CPU but Xeon Phi has it). */
	cmpl	$7, %r8d
	jb	.Lkq
	movl	$7, %eax
	xorl	%ecx, %ecx
	cpuid
	btl	$30, %ebx
	jnc	.Lkw
.Lkq:
	.irp	n, 0,1,2,3,4,5,6,7
	kmovq	%k\n, vs_saved + K_OFF + 8 * \n(%rip)
	.endr
	orl	$VS_AVX512BW, vs_have(%rip)
	jmp	.Ldone
.Lkw:
	.irp	n, 0,1,2,3,4,5,6,7
	kmovw	%k\n, vs_saved + K_OFF + 8 * \n(%rip)
	.endr
.Ldone:
	xorl	%eax, %eax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%edi, %edi
	xorl	%r8d, %r8d
	jmp	_start
	.size	vecsecret_start, . - vecsecret_start

/*
 * void vs_write_secret_and_exit(void): fill every vector register we could
 * save (and MXCSR) with the secret, then EXIT(0) by a raw hypercall without
 * touching them again. Never returns.
 */
	.globl	vs_write_secret_and_exit
	.type	vs_write_secret_and_exit, @function
vs_write_secret_and_exit:
	leaq	vs_secret(%rip), %rax
	movl	vs_have(%rip), %esi
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	movdqu	(%rax), %xmm\n
	.endr
	testl	$VS_AVX, %esi
	jz	1f
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	(%rax), %ymm\n
	.endr
	testl	$VS_AVX512, %esi
	jz	1f
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 (%rax), %zmm\n
	.endr
	testl	$VS_AVX512BW, %esi
	jz	2f
	.irp	n, 0,1,2,3,4,5,6,7
	kmovq	(%rax), %k\n
	.endr
	jmp	1f
2:
	.irp	n, 0,1,2,3,4,5,6,7
	kmovw	(%rax), %k\n
	.endr
1:
	ldmxcsr	vs_secret_mxcsr(%rip)
	xorl	%eax, %eax		/* EXIT(0) */
	movl	$0x500, %edx		/* DENALI_HC_EXIT */
	outl	%eax, %dx
	ud2
	.size	vs_write_secret_and_exit, . - vs_write_secret_and_exit

	.section .note.GNU-stack, "", @progbits

/*
 * The bench-boot guest: a few instructions of ring-3 code, no libos, so that
 * what is timed is the monitor and KVM, not guest start-up.
 *
 * The monitor (or the raw-KVM loop) chooses the behaviour through registers
 * it loads at entry (all other GPRs are 0, rsp = top of memory):
 *   rdi  number of KICK hypercalls to make first (0: none);
 *   rsi  0: then EXIT(0);
 *        1: then write an idle block on the stack (touching the stack page)
 *           and IDLE with no deadline; EXIT(0) if ever woken.
 * With rdi = rsi = 0 the first hypercall is EXIT(0), five instructions in.
 *
 * Named _start so that guest.ld's EXTERN(_start) resolves here and no part
 * of guest-libos is linked in.
 */
#define HC_EXIT	0x500	/* DENALI_HC_EXIT */
#define HC_IDLE	0x501	/* DENALI_HC_IDLE */
#define HC_KICK	0x502	/* DENALI_HC_KICK */

	.section .text.entry, "ax"
	.globl	_start
	.type	_start, @function
_start:
	testq	%rdi, %rdi
	jnz	.Lkick
.Llast:
	testq	%rsi, %rsi
	jnz	.Lidle
	xorl	%eax, %eax
	movl	$HC_EXIT, %edx
	outl	%eax, %dx
	ud2

.Lkick:
	xorl	%eax, %eax		/* KICK mask 0: flush nothing */
	movl	$HC_KICK, %edx
1:	outl	%eax, %dx
	decq	%rdi
	jnz	1b
	jmp	.Llast

.Lidle:
	subq	$16, %rsp
	movq	$-1, (%rsp)		/* deadline_ns = DENALI_NO_DEADLINE */
	movq	$0, 8(%rsp)		/* events (OUT) */
	movl	%esp, %eax		/* below 4 GiB: memory is 16 MiB */
	movl	$HC_IDLE, %edx
	outl	%eax, %dx
	xorl	%eax, %eax
	movl	$HC_EXIT, %edx
	outl	%eax, %dx
	ud2
	.size	_start, . - _start

/*
 * guest.ld always emits the rodata and data segments, and the monitor
 * rejects an empty one (it would sit at address 0): give each a few bytes.
 * The guest never reads them; .bss costs no page until written.
 */
	.section .rodata
	.asciz	"denali bench-boot"

	.section .bss
	.zero	16

	.section .note.GNU-stack, "", @progbits

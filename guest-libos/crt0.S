/*
 * crt0: the entry point of every denali guest image.
 *
 * Entry contract (guaranteed by the monitor, see README.md):
 *   - 64-bit long mode, ring 3 (cs 0x33, ss 0x2b), IOPL=0, no interrupts
 *     (IF=1 but nothing is ever injected), no IDT;
 *   - rip = e_entry (_start), rsp = mem_size (16-byte aligned), every other
 *     general-purpose register 0, rflags = 0x202, x87/SSE in init state;
 *   - every byte of guest memory not loaded from the image is zero.
 *
 * Because of the last point crt0 does NOT clear .bss: the monitor backs
 * guest memory with fresh anonymous pages, and touching each page only to
 * write zeros over zeros would cost 9-13 us per 4 KiB page here. Code that
 * re-enters _start in a reused memory image would break this contract; the
 * monitor never does that (a new VM always gets fresh memory).
 */
	.section .text.entry, "ax", @progbits
	.globl	_start
	.type	_start, @function
_start:
	xorl	%ebp, %ebp		/* end of the frame-pointer chain */
	andq	$-16, %rsp		/* already aligned; be defensive */
	call	__dn_start		/* argv, main(), exit(): never returns */
	ud2
	.size	_start, . - _start

	.section .note.GNU-stack, "", @progbits

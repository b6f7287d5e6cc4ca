/*
 * hostile insn MODE: one instruction that ring 3 may not execute, or an
 * access to a monitor-private page, each of which must end this VM (a triple
 * fault: there is no IDT) and nothing else.
 *   syscall sysenter int3 int80 icebp cli sti rdmsr wrmsr movcr3 lgdt
 *   invlpg wbinvd xsetbv rdpmc swapgs iretq ltr  privileged or trapping
 *   movss       load ss with the kernel data selector (0x18)
 *   lret0       far return to the kernel code selector (0x10)
 *   tf          set the trap flag with popf (a #DB after the next insn)
 *   ptwrite     write the page tables (0xb000) directly
 *   gdtread     read the GDT (0x7000)
 *   tssread     read the TSS (0x8000)
 *   lowpage     read the reserved, unmapped page 0x12000
 *   noncanon    read a non-canonical address
 */
#include "hostile.h"

#include <string.h>

static volatile uint64_t sink;

static void movss(void)
{
	__asm__ volatile("mov %0, %%ss" : : "r"((uint16_t)0x18) : "memory");
}

static void lret0(void)
{
	/* push the kernel code selector and a target, then a 64-bit far return */
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "pushq $0x10\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t" ::
			     : "rax", "memory");
}

static void tf(void)
{
	__asm__ volatile("pushfq\n\t"
			 "orq $0x100, (%%rsp)\n\t"
			 "popfq\n\t"
			 "nop\n\t"
			 "nop\n\t"
			 "pushfq\n\t"
			 "andq $~0x100, (%%rsp)\n\t"
			 "popfq" ::
			     : "memory", "cc");
}

static void iretq(void)
{
	/* An iretq frame back to ring 0 (cs 0x10): refused by the CPU. */
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rsp, %%rcx\n\t"
			 "pushq $0x18\n\t"
			 "pushq %%rcx\n\t"
			 "pushfq\n\t"
			 "pushq $0x10\n\t"
			 "pushq %%rax\n\t"
			 "iretq\n"
			 "1:\n\t" ::
			     : "rax", "rcx", "memory");
}

static void run(const char *m)
{
	if (!strcmp(m, "syscall"))
		__asm__ volatile("syscall" ::: "rcx", "r11", "memory");
	else if (!strcmp(m, "sysenter"))
		__asm__ volatile("sysenter" ::: "memory");
	else if (!strcmp(m, "int3"))
		__asm__ volatile("int3" ::: "memory");
	else if (!strcmp(m, "int80"))
		__asm__ volatile("int $0x80" ::: "memory");
	else if (!strcmp(m, "icebp"))
		__asm__ volatile(".byte 0xf1" ::: "memory");
	else if (!strcmp(m, "cli"))
		__asm__ volatile("cli" ::: "memory");
	else if (!strcmp(m, "sti"))
		__asm__ volatile("sti" ::: "memory");
	else if (!strcmp(m, "rdmsr"))
		__asm__ volatile("rdmsr" : : "c"(0xc0000082u) : "rax", "rdx", "memory");
	else if (!strcmp(m, "wrmsr"))
		__asm__ volatile("wrmsr" : : "c"(0xc0000082u), "a"(0), "d"(0) : "memory");
	else if (!strcmp(m, "movcr3"))
		__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)0x200000) : "memory");
	else if (!strcmp(m, "lgdt")) {
		struct __attribute__((packed)) {
			uint16_t limit;
			uint64_t base;
		} d = {0xfff, 0x200000};
		__asm__ volatile("lgdt %0" : : "m"(d) : "memory");
	} else if (!strcmp(m, "invlpg"))
		__asm__ volatile("invlpg (%0)" : : "r"((uint64_t)0x200000) : "memory");
	else if (!strcmp(m, "wbinvd"))
		__asm__ volatile("wbinvd" ::: "memory");
	else if (!strcmp(m, "xsetbv"))
		__asm__ volatile("xsetbv" : : "c"(0), "a"(7), "d"(0) : "memory");
	else if (!strcmp(m, "rdpmc"))
		__asm__ volatile("rdpmc" : : "c"(0) : "rax", "rdx", "memory");
	else if (!strcmp(m, "swapgs"))
		__asm__ volatile("swapgs" ::: "memory");
	else if (!strcmp(m, "iretq"))
		iretq();
	else if (!strcmp(m, "ltr"))
		__asm__ volatile("ltr %0" : : "r"((uint16_t)0x40) : "memory");
	else if (!strcmp(m, "movss"))
		movss();
	else if (!strcmp(m, "lret0"))
		lret0();
	else if (!strcmp(m, "tf"))
		tf();
	else if (!strcmp(m, "ptwrite"))
		*(volatile uint64_t *)(uintptr_t)0xb000 = 0x200087;
	else if (!strcmp(m, "gdtread"))
		sink = *(volatile uint64_t *)(uintptr_t)0x7000;
	else if (!strcmp(m, "tssread"))
		sink = *(volatile uint64_t *)(uintptr_t)0x8000;
	else if (!strcmp(m, "lowpage"))
		sink = *(volatile uint64_t *)(uintptr_t)0x12000;
	else if (!strcmp(m, "noncanon"))
		sink = *(volatile uint64_t *)(uintptr_t)0x0000800000000000ull;
	else {
		printf("hostile insn: unknown mode %s\n", m);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "syscall";

	printf("hostile insn: about to run %s\n", m);
	dn_console_sync();
	run(m);
	hostile_survived("insn");
}

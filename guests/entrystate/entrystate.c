/*
 * entrystate: checks the state the monitor hands a new VM, against the entry
 * contract of abi.h, so that a shell reused after any kind of death (exit,
 * kill in `in`, in MMIO, a fault, a stop) is shown to start the next tenant
 * exactly as a fresh one: general registers 0 but rsp = mem_size, rflags
 * DENALI_ENTRY_RFLAGS, the DENALI_ENTRY_* selectors, x87/SSE in the init state,
 * entered once, and every page it did not load zero (shared page and rings
 * included, checked before the first output). Prints "entry: clean" and
 * exits 0, or "entry: BAD ..." for the first difference and exits 1.
 * With argument "show" it prints what it found and exits 0.
 */
#include <denali/abi.h>
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STACK_SPARE (256u << 10)

extern uint64_t es_regs[23];
extern uint8_t es_xmm[256];
extern uint32_t es_mxcsr;
extern uint16_t es_fcw, es_fsw;
extern uint32_t es_entries;
extern char _end[];

static const char *const names[23] = {
    "rax", "rbx", "rcx", "rdx", "rsi",	  "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
    "r12", "r13", "r14", "r15", "rflags", "cs",	 "ss",	"ds",  "es", "fs", "gs",
};

static char bad[160];

static int zero_range(uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t p = lo; p < hi; p += 8) {
		uint64_t v = *(volatile uint64_t *)p;

		if (v) {
			snprintf(bad, sizeof(bad), "memory at 0x%lx = 0x%lx", (unsigned long)p,
				 (unsigned long)v);
			return 0;
		}
	}
	return 1;
}

static int check_regs(void)
{
	uint64_t want[23] = {0};

	want[7] = dn_mem_size();
	want[16] = DENALI_ENTRY_RFLAGS;
	want[17] = DENALI_ENTRY_CS;
	want[18] = DENALI_ENTRY_SS;
	want[19] = want[20] = want[21] = want[22] = DENALI_ENTRY_DS;
	for (int i = 0; i < 23; i++) {
		if (es_regs[i] != want[i]) {
			snprintf(bad, sizeof(bad), "%s = 0x%lx, expected 0x%lx", names[i],
				 (unsigned long)es_regs[i], (unsigned long)want[i]);
			return 0;
		}
	}
	for (int i = 0; i < 256; i++) {
		if (es_xmm[i]) {
			snprintf(bad, sizeof(bad), "xmm%d is not zero", i / 16);
			return 0;
		}
	}
	if (es_mxcsr != 0x1f80 || es_fcw != 0x37f || es_fsw != 0) {
		snprintf(bad, sizeof(bad), "mxcsr 0x%x fcw 0x%x fsw 0x%x, expected 0x1f80 0x37f 0",
			 es_mxcsr, es_fcw, es_fsw);
		return 0;
	}
	if (es_entries != 1) {
		snprintf(bad, sizeof(bad), "entered %u times", es_entries);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	uintptr_t lo = ((uintptr_t)_end + 4095) & ~(uintptr_t)4095;
	/* Before any output: the rings and the shared page are as the monitor
	 * made them (the event word may hold a timer bit only after an idle). */
	int ok = zero_range(DENALI_SHARED_GPA, DENALI_BLK_RING_GPA + DENALI_PAGE_SIZE) &&
		 check_regs() && zero_range(lo, (uintptr_t)dn_mem_size() - STACK_SPARE);

	if (argc > 1 && !strcmp(argv[1], "show")) {
		for (int i = 0; i < 23; i++)
			printf("entry: %s = 0x%lx\n", names[i], (unsigned long)es_regs[i]);
		printf("entry: mxcsr 0x%x fcw 0x%x fsw 0x%x entries %u\n", es_mxcsr, es_fcw, es_fsw,
		       es_entries);
	}
	if (!ok) {
		printf("entry: BAD %s\n", bad);
		return 1;
	}
	printf("entry: clean (vm %lu)\n", (unsigned long)dn_vregs()->vm_id);
	return 0;
}

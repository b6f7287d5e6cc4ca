/*
 * Why did the guest triple-fault? With no IDT every exception ends in
 * KVM_EXIT_SHUTDOWN, so the reason is reconstructed from the vCPU state:
 * a page fault leaves its address in CR2 (loaded with a sentinel at entry),
 * anything else is named from the instruction bytes at RIP.
 */
#include "exit.h"

#include "gpa.h"
#include "shell.h"
#include "x86.h"

#include <string.h>
#include <sys/ioctl.h>

/*
 * Names a page fault at addr. No IDT means no error code, but every page
 * the guest can see is readable, so a fault on a mapped page was a write or
 * an instruction fetch, and a fetch faults at rip itself (or at a page
 * boundary inside the instruction).
 */
static const char *fault_area(const struct vm *vm, uint64_t addr, uint64_t rip)
{
	int fetch = addr >= rip && addr - rip < 16;

	if (addr < DENALI_PAGE_SIZE)
		return "null-page access";
	if (addr >= DENALI_VREGS_GPA && addr < DENALI_VREGS_GPA + DENALI_PAGE_SIZE)
		return fetch ? "instruction fetch from monitor-owned virtual registers (not "
			       "executable)"
			     : "write to monitor-owned virtual registers";
	if (addr >= DENALI_PRIVATE_GPA && addr < DENALI_RESERVED_END)
		return "access to monitor-reserved page";
	if (addr >= vm->mem_size)
		return "access outside guest memory";
	if (addr < DENALI_PRIVATE_GPA)
		return fetch ? "instruction fetch from a shared or ring page (not executable)"
			     : "page fault";
	return fetch ? "instruction fetch from non-executable memory" : "write to read-only memory";
}

static const char *insn_name(const uint8_t *p)
{
	size_t i = 0;

	/* Skip legacy and REX prefixes. */
	while (i < 4 && (p[i] == 0x66 || p[i] == 0x67 || p[i] == 0xf2 || p[i] == 0xf3 ||
			 (p[i] >= 0x40 && p[i] <= 0x4f)))
		i++;
	switch (p[i]) {
	case 0xf4:
		return "privileged instruction (hlt)";
	case 0xfa:
	case 0xfb:
		return "privileged instruction (cli/sti)";
	case 0xcc:
	case 0xcd:
		return "software interrupt (int)";
	case 0xf1:
		/* Some kernels (kvm_pvm on 6.18) report icebp with rip still on it. */
		return "debug trap (icebp)";
	case 0xca:
	case 0xcb:
		return "far return to a more privileged or bad selector";
	case 0xcf:
		return "iret to a more privileged or bad selector";
	case 0x8e:
		return "load of a kernel or bad segment selector";
	case 0x0f:
		switch (p[i + 1]) {
		case 0x0b:
			return "invalid opcode (ud2)";
		case 0x05:
		case 0x34:
			return "system call instruction";
		case 0x01:
			return "privileged instruction (descriptor table / system)";
		case 0x00:
			return "privileged instruction (ldt/tr)";
		case 0x20:
		case 0x22:
			return "privileged instruction (mov to/from control register)";
		case 0x21:
		case 0x23:
			return "privileged instruction (mov debug register)";
		case 0x30:
		case 0x32:
			return "privileged instruction (wrmsr/rdmsr)";
		case 0x06:
		case 0x08:
		case 0x09:
			return "privileged instruction (clts/invd/wbinvd)";
		case 0x33:
			return "privileged instruction (rdpmc)";
		}
		break;
	}
	return NULL;
}

enum vm_stop exit_diagnose_shutdown(struct vm *vm)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	const uint8_t *code;
	const char *what;

	if (ioctl(vm->shell->vcpu_fd, KVM_GET_SREGS, &s) < 0 ||
	    ioctl(vm->shell->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return vm_kill(vm, "triple fault (vCPU state unreadable)");
	/* A syscall that the CPU took (kvm_pvm does, EFER.SCE or not) enters the
	 * guest's supervisor mode at LSTAR, which is 0: the fetch at 0 faults,
	 * and rcx holds the address after the instruction. */
	if (s.cr2 == 0 && r.rip == 0 && r.rcx >= 2) {
		code = gpa_to_hva(vm->mem, vm->mem_size, r.rcx - 2, 2, GPA_READ);
		if (code && code[0] == 0x0f && code[1] == 0x05)
			return vm_kill(vm, "triple fault: system call instruction at rip 0x%llx",
				       r.rcx - 2);
	}
	if (s.cr2 != X86_CR2_SENTINEL)
		return vm_kill(vm, "triple fault: %s at 0x%llx (rip 0x%llx)",
			       fault_area(vm, s.cr2, r.rip), s.cr2, r.rip);
	code = gpa_to_hva(vm->mem, vm->mem_size, r.rip, 16, GPA_READ);
	what = code ? insn_name(code) : NULL;
	/* Traps (int3, icebp) leave rip after the instruction. */
	if (!what && r.rip >= 1 &&
	    (code = gpa_to_hva(vm->mem, vm->mem_size, r.rip - 1, 1, GPA_READ)) != NULL &&
	    (code[0] == 0xcc || code[0] == 0xf1))
		return vm_kill(vm, "triple fault: %s at rip 0x%llx",
			       code[0] == 0xcc ? "breakpoint (int3)" : "debug trap (icebp)",
			       r.rip - 1);
	if (what)
		return vm_kill(vm, "triple fault: %s at rip 0x%llx", what, r.rip);
	return vm_kill(vm, "triple fault: exception at rip 0x%llx (rsp 0x%llx)", r.rip, r.rsp);
}

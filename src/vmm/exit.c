/*
 * The vCPU loop: KVM_RUN, then one handler per exit reason. Anything a guest
 * can cause ends in vm_kill() for that VM only; nothing here exits the
 * process.
 */
#include "exit.h"

#include "gpa.h"
#include "shell.h"
#include "x86.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <x86intrin.h>

typedef int (*exit_fn)(struct vm *vm, struct kvm_run *run);

static int exit_io(struct vm *vm, struct kvm_run *run)
{
	uint16_t port = run->io.port;
	uint32_t arg;

	if (port < DENALI_HC_BASE || port >= DENALI_HC_BASE + DENALI_HC_COUNT)
		return vm_kill(vm, "%s to unknown port 0x%x",
			       run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", port);
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1)
		return vm_kill(vm, "hypercall port 0x%x: bad access (dir %u size %u count %u)",
			       port, run->io.direction, run->io.size, run->io.count);
	memcpy(&arg, (uint8_t *)run + run->io.data_offset, sizeof(arg));
	/* A hypercall is `out %eax`. String I/O (outs, rep outs) takes its data
	 * from memory, and kvm_pvm splits rep outs into count-1 exits: where KVM
	 * reports the registers at the exit (shell.c asks for them), data that
	 * is not eax gives string I/O away (were the memory word equal to eax,
	 * the call means what `out %eax` would). */
	if ((run->kvm_valid_regs & KVM_SYNC_X86_REGS) && arg != (uint32_t)run->s.regs.regs.rax)
		return vm_kill(vm, "hypercall port 0x%x: string I/O (data 0x%x is not eax 0x%x)",
			       port, arg, (uint32_t)run->s.regs.regs.rax);
	vm->ctr.hypercalls[port - DENALI_HC_BASE]++;
	return hypercall_table[port - DENALI_HC_BASE](vm, arg);
}

static int exit_mmio(struct vm *vm, struct kvm_run *run)
{
	return vm_kill(vm, "MMIO %s at 0x%llx: no device there",
		       run->mmio.is_write ? "write" : "read", run->mmio.phys_addr);
}

static int exit_hlt(struct vm *vm, struct kvm_run *run)
{
	(void)run;
	return vm_kill(vm, "privileged instruction (hlt)");
}

static int exit_shutdown(struct vm *vm, struct kvm_run *run)
{
	(void)run;
	return exit_diagnose_shutdown(vm);
}

static int exit_fail_entry(struct vm *vm, struct kvm_run *run)
{
	return vm_kill(vm, "KVM entry failed (hardware reason 0x%llx)",
		       run->fail_entry.hardware_entry_failure_reason);
}

static int exit_internal(struct vm *vm, struct kvm_run *run)
{
	return vm_kill(vm, "KVM internal error (suberror %u)", run->internal.suberror);
}

static int exit_intr(struct vm *vm, struct kvm_run *run)
{
	(void)vm;
	(void)run;
	return VM_STOP_PREEMPT;
}

static const exit_fn exit_table[] = {
    [KVM_EXIT_IO] = exit_io,
    [KVM_EXIT_MMIO] = exit_mmio,
    [KVM_EXIT_HLT] = exit_hlt,
    [KVM_EXIT_SHUTDOWN] = exit_shutdown,
    [KVM_EXIT_FAIL_ENTRY] = exit_fail_entry,
    [KVM_EXIT_INTERNAL_ERROR] = exit_internal,
    [KVM_EXIT_INTR] = exit_intr,
};

/* KVM's exit reason -> the counter it goes in; everything else is VM_EXIT_OTHER. */
static const uint8_t exit_kind_of[] = {
    [KVM_EXIT_IO] = VM_EXIT_IO + 1,
    [KVM_EXIT_MMIO] = VM_EXIT_MMIO + 1,
    [KVM_EXIT_HLT] = VM_EXIT_HLT + 1,
    [KVM_EXIT_SHUTDOWN] = VM_EXIT_SHUTDOWN + 1,
    [KVM_EXIT_FAIL_ENTRY] = VM_EXIT_FAIL_ENTRY + 1,
    [KVM_EXIT_INTERNAL_ERROR] = VM_EXIT_INTERNAL + 1,
    [KVM_EXIT_INTR] = VM_EXIT_INTR + 1,
};

static const char *const exit_kind_names[VM_EXIT_KINDS] = {
    "io", "mmio", "hlt", "shutdown", "fail_entry", "internal", "intr", "other",
};

const char *vm_exit_kind_name(enum vm_exit_kind k)
{
	return (unsigned)k < VM_EXIT_KINDS ? exit_kind_names[k] : "?";
}

static inline void count_exit(struct vm *vm, uint32_t reason)
{
	unsigned k = reason < sizeof(exit_kind_of) ? exit_kind_of[reason] : 0;

	vm->ctr.exit_kinds[k ? k - 1 : VM_EXIT_OTHER]++;
}

static void refresh_clock(struct vm *vm)
{
	struct denali_vregs *vr = vm->vregs;
	uint64_t tsc = __rdtsc(), ns = vm_now_ns();

	vr->time_tsc = tsc + (uint64_t)vm->shell->tsc_offset;
	vr->time_ns = ns;
}

/* The device hooks vm_run() walks: fill before entry, drain at every exit. */
enum dev_phase { DEV_FILL, DEV_DRAIN };

/*
 * Runs one hook of every device and delivers the events they raised (fill
 * counts them as the events of this entry). A device fault kills the VM.
 */
static int walk_devices(struct vm *vm, const struct dev_guest *g, enum dev_phase phase)
{
	char why[DEV_WHY_MAX];
	uint64_t ev = 0;

	for (unsigned i = 0; i < vm->ndev; i++) {
		const struct device_ops *ops = vm->dev[i]->ops;
		int (*hook)(struct device *, const struct dev_guest *, uint64_t *, char *, size_t) =
		    phase == DEV_FILL ? ops->fill : ops->drain;

		if (hook && hook(vm->dev[i], g, &ev, why, sizeof(why)))
			return vm_kill(vm, "%s", why);
	}
	if (phase == DEV_FILL && ev) {
		vm->ctr.event_entries++;
		vm->ctr.events += (uint64_t)__builtin_popcountll(ev);
	}
	if (phase == DEV_FILL || ev)
		vm_deliver_events(vm, ev);
	return 0;
}

enum vm_stop vm_run(struct vm *vm)
{
	struct dev_guest g = {vm->mem, vm->mem_size, vm->name};
	struct kvm_run *run = vm->shell->run;
	uint64_t t0, t1;
	int rc;

	vm->status = VM_RUNNING;
	vm->yield = 0;
	for (;;) {
		if (walk_devices(vm, &g, DEV_FILL))
			return VM_STOP_KILLED;
		refresh_clock(vm);
		t0 = __rdtsc();
		rc = shell_run(vm->shell);
		t1 = __rdtsc();
		vm->ev_delivered = 0;
		vm->ctr.runs++;
		/* The host's own rate, never the guest-visible copy in the vregs. */
		vm->ctr.cpu_ns += (uint64_t)(((unsigned __int128)(t1 - t0) * vm->tsc_mult) >> 32);
		if (rc < 0) {
			if (rc == -EINTR || rc == -EAGAIN) {
				/* Cut short by a signal, maybe after running: its rings
				 * are drained as at any exit (and a device serving them
				 * while it ran stops). */
				if (walk_devices(vm, &g, DEV_DRAIN))
					return VM_STOP_KILLED;
				run->immediate_exit = 0;
				vm->status = VM_RUNNABLE;
				return VM_STOP_PREEMPT;
			}
			return vm_kill(vm, "KVM_RUN: %s", strerror(-rc));
		}
		vm->ctr.exits++;
		count_exit(vm, run->exit_reason);
		if (walk_devices(vm, &g, DEV_DRAIN))
			return VM_STOP_KILLED;
		if (run->exit_reason >= sizeof(exit_table) / sizeof(exit_table[0]) ||
		    !exit_table[run->exit_reason])
			return vm_kill(vm, "unexpected exit reason %u", run->exit_reason);
		rc = exit_table[run->exit_reason](vm, run);
		if (rc == EXIT_CONTINUE && vm->yield)
			rc = VM_STOP_PREEMPT;
		if (rc == EXIT_CONTINUE)
			continue;
		if (rc == VM_STOP_PREEMPT)
			vm->status = VM_RUNNABLE;
		return (enum vm_stop)rc;
	}
}

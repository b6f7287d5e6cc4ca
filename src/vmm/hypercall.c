/*
 * Hypercall handlers. The argument is a scalar or the guest-physical address
 * of an argument block; blocks are copied into host memory once, then used.
 */
#include "exit.h"
#include "gpa.h"

#include <ctype.h>
#include <string.h>

static int hc_exit(struct vm *vm, uint32_t code)
{
	vm->exit_code = (int32_t)code;
	vm->status = VM_EXITED;
	return VM_STOP_EXIT;
}

static int hc_idle(struct vm *vm, uint32_t gpa)
{
	struct denali_hc_idle *blk, in;
	uint64_t now, ev;

	/* GPA_WRITE: vm_wake() writes the OUT field, maybe much later. */
	blk = gpa_to_hva(vm->mem, vm->mem_size, gpa, sizeof(*blk), GPA_WRITE);
	if (!blk)
		return vm_kill(vm,
			       "idle: argument block at 0x%x is outside guest memory (0x%lx bytes) "
			       "or on a monitor page",
			       gpa, vm->mem_size);
	memcpy(&in, blk, sizeof(in));
	vm->idle_gpa = gpa;
	ev = __atomic_load_n(&vm->shared->events, __ATOMIC_ACQUIRE) |
	     __atomic_load_n(&vm->pending, __ATOMIC_ACQUIRE);
	now = vm_now_ns();
	if (ev || in.deadline_ns <= now) {
		/* Nothing to wait for: answer at once, no trip through the scheduler. */
		vm->ctr.idle_fast++;
		vm_wake(vm, in.deadline_ns <= now ? DENALI_EV_TIMER : 0);
		return EXIT_CONTINUE;
	}
	vm->deadline_ns = in.deadline_ns;
	vm->status = VM_IDLE;
	return VM_STOP_IDLE;
}

static int hc_kick(struct vm *vm, uint32_t mask)
{
	/* Every ring was drained on this exit already; devices that batch
	 * host I/O (net uplink) push it out now. */
	return vm_kick_devices(vm, mask);
}

static int hc_panic(struct vm *vm, uint32_t gpa)
{
	struct denali_hc_panic *blk, in;
	const char *msg;
	char shown[257];
	size_t n;

	blk = gpa_to_hva(vm->mem, vm->mem_size, gpa, sizeof(*blk), GPA_READ);
	if (!blk)
		return vm_kill(
		    vm,
		    "panic: argument block at 0x%x is outside guest memory or on a monitor page",
		    gpa);
	memcpy(&in, blk, sizeof(in));
	msg = gpa_to_hva(vm->mem, vm->mem_size, in.msg_gpa, in.len, GPA_READ);
	if (!msg)
		return vm_kill(
		    vm,
		    "panic: message [0x%lx, +0x%lx) is outside guest memory or on a monitor page",
		    in.msg_gpa, in.len);
	n = in.len < sizeof(shown) - 1 ? in.len : sizeof(shown) - 1;
	for (size_t i = 0; i < n; i++)
		shown[i] = isprint((unsigned char)msg[i]) ? msg[i] : '?';
	shown[n] = 0;
	return vm_kill(vm, "panic: %s", shown);
}

const hypercall_fn hypercall_table[DENALI_HC_COUNT] = {
    [DENALI_HC_EXIT - DENALI_HC_BASE] = hc_exit,
    [DENALI_HC_IDLE - DENALI_HC_BASE] = hc_idle,
    [DENALI_HC_KICK - DENALI_HC_BASE] = hc_kick,
    [DENALI_HC_PANIC - DENALI_HC_BASE] = hc_panic,
};

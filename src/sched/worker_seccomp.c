/*
 * The worker allowlist, one table. Found with `strace -ff` on `denalid serve`
 * running 400 VMs of every guest kind (sleepers, spinners, console writers,
 * exits, every hostile guest), start and stop --all, then widened only for
 * the error and exit paths of the same code (log lines, thread exit).
 *
 * Adding a call: add a row with the reason; a row may narrow an argument
 * (ioctl only of KVM's type, no executable mappings). io_uring operations
 * are not system calls: a device that submits a new opcode needs no row
 * here (only io_uring_enter), but must not make the call itself on a worker.
 *
 * Why kill the process and not return EPERM: no guest action makes a worker
 * call anything outside this list, so a refused call is a monitor bug or a
 * hijacked worker. EPERM would let a hijacked worker keep probing and let a
 * bug go on as silently wrong behaviour (a VM half set up, a log line lost).
 * Killing only the thread would leave its VMs and the locks it holds behind
 * with the daemon still answering. KILL_PROCESS ends the daemon at once with
 * SIGSYS (systemd restarts it and the definitions restore every VM); the
 * kernel's audit record (type=1326, `journalctl -k`) names the call.
 */
#include "worker_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

enum arg_rule {
	ARG_ANY,	  /* any arguments */
	ARG_IOCTL_KVM,	  /* arg1 (request) of ioctl type KVMIO */
	ARG_IOCTL_TCGETS, /* arg1 == TCGETS: isatty() */
	ARG_EMPTY_PATH,	  /* newfstatat with AT_EMPTY_PATH: fstat() */
	ARG_NO_EXEC,	  /* arg2 (prot) without PROT_EXEC */
	ARG_KICK_SELF,	  /* tgkill(our pid, any thread, the kick signal) */
	ARG_RWF_NOWAIT,	  /* preadv2 with RWF_NOWAIT in its flags (arg5): never waits */
	DENY_EACCES,	  /* not allowed, but answered EACCES instead of killing */
};

struct row {
	int nr;
	const char *name;
	enum arg_rule rule;
	const char *why;
};

#define ROW(call, rule, why)                                                                       \
	{                                                                                          \
		SCMP_SYS(call), #call, rule, why                                                   \
	}

static const struct row table[] = {
    ROW(ioctl, ARG_IOCTL_KVM, "KVM_RUN, vCPU state and memory slots; new shells"),
    ROW(ioctl, ARG_IOCTL_TCGETS, "stdio asks whether stdout is a terminal (denalid run)"),
    ROW(newfstatat, ARG_EMPTY_PATH, "stdio sizes its buffer: the console sink of denalid run"),
    ROW(fstat, ARG_ANY, "the same, spelled as the older call"),
    ROW(io_uring_enter, ARG_ANY, "sleep until an event or deadline; device I/O"),
    ROW(timer_settime, ARG_ANY, "arm and disarm the preemption timer"),
    ROW(timer_delete, ARG_ANY, "the worker's timer, at its end"),
    ROW(rt_sigreturn, ARG_ANY, "return from the preemption signal handler"),
    ROW(rt_sigprocmask, ARG_ANY, "glibc masks signals around thread exit"),
    ROW(restart_syscall, ARG_ANY, "the kernel restarts an interrupted wait"),
    ROW(tgkill, ARG_KICK_SELF, "kick another worker out of its guest"),
    ROW(futex, ARG_ANY, "mutexes and condition variables shared with the control thread"),
    ROW(mmap, ARG_NO_EXEC, "kvm_run of a new shell; malloc arenas; never executable"),
    ROW(mprotect, ARG_NO_EXEC, "malloc grows its arena; never executable"),
    ROW(munmap, ARG_ANY, "a shell's kvm_run, guest memory and malloc arenas"),
    ROW(madvise, ARG_ANY, "guest memory released or zeroed; the stack at thread exit"),
    ROW(mincore, ARG_ANY, "a snapshot saves only the guest pages that are resident"),
    ROW(brk, ARG_ANY, "malloc falls back to the main heap"),
    ROW(close, ARG_ANY, "a destroyed shell's VM and vCPU descriptors"),
    ROW(write, ARG_ANY, "log lines, console to stdout; eventfd wake-ups; snapshots"),
    ROW(read, ARG_ANY, "a snapshot read back (run --suspend-after; files opened elsewhere)"),
    ROW(pread64, ARG_ANY, "swap: resident pages from /proc/self/pagemap (opened elsewhere)"),
    ROW(preadv2, ARG_RWF_NOWAIT,
	"the block poller reads page-cache hits itself; RWF_NOWAIT: never waits for a disk"),
    ROW(lseek, ARG_ANY, "a snapshot file rewound before it is read back"),
    ROW(clock_gettime, ARG_ANY, "vm_now_ns() when the vDSO falls back to the call"),
    ROW(gettid, ARG_ANY, "log lines name the thread"),
    ROW(sched_yield, ARG_ANY, "a stopped VM's NIC waits out senders still delivering to it"),
    ROW(getpid, ARG_ANY, "log lines name the process"),
    ROW(exit, ARG_ANY, "the worker thread ends"),
    ROW(exit_group, ARG_ANY, "ending the process is never a privilege"),
    /* The one refusal that does not kill: glibc's malloc opens
     * /proc/sys/vm/overcommit_memory the first time it shrinks a thread's
     * arena (seen at worker exit) and falls back to madvise when it cannot. */
    ROW(openat, DENY_EACCES, "malloc's overcommit probe; no worker opens a file"),
};

unsigned worker_seccomp_count(void)
{
	return sizeof(table) / sizeof(table[0]);
}

const char *worker_seccomp_name(unsigned i)
{
	return i < worker_seccomp_count() ? table[i].name : NULL;
}

static int add_rule(scmp_filter_ctx ctx, const struct row *a, int kick_sig)
{
	switch (a->rule) {
	case ARG_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 0);
	case DENY_EACCES:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), a->nr, 0);
	case ARG_IOCTL_KVM:
		/* The request's type byte: _IOC_TYPE() is bits 8..15. */
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, (uint64_t)KVMIO << 8));
	case ARG_IOCTL_TCGETS:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A1(SCMP_CMP_EQ, (uint64_t)TCGETS));
	case ARG_EMPTY_PATH:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	case ARG_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ARG_RWF_NOWAIT:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 1,
					SCMP_A5(SCMP_CMP_MASKED_EQ, RWF_NOWAIT, RWF_NOWAIT));
	case ARG_KICK_SELF:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 2,
					SCMP_A0(SCMP_CMP_EQ, (uint64_t)getpid()),
					SCMP_A2(SCMP_CMP_EQ, (uint64_t)kick_sig));
	}
	return -EINVAL;
}

int worker_seccomp_install(int kick_sig)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = 0;

	if (!ctx)
		return -ENOMEM;
	for (unsigned i = 0; i < worker_seccomp_count(); i++) {
		rc = add_rule(ctx, &table[i], kick_sig);
		if (rc < 0) {
			fprintf(stderr, "denali: worker seccomp: rule for %s: %s\n", table[i].name,
				strerror(-rc));
			goto out;
		}
	}
	/* Only this thread: the control thread and the log thread do other work. */
	rc = seccomp_load(ctx);
	if (rc < 0)
		fprintf(stderr, "denali: worker seccomp: loading the filter: %s\n", strerror(-rc));
out:
	seccomp_release(ctx);
	return rc;
}

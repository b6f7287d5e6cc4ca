/*
 * KVM shells (the pool is in shell_pool.c). __ioctl-style raw calls return -errno; every
 * message names the failing ioctl.
 */
#include "shell.h"

#include "vcpu_state.h"
#include "x86.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

static int kvm_fd = -1;
static size_t run_size;
static int sync_regs; /* KVM_CAP_SYNC_REGS covers regs, sregs and events */
static uint64_t tsc_hz;

#define CPUID_MAX_ENTRIES 128
static struct {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
} cpuid;

/* A worker's preemption signal may land in any of these: retry. */
static int rioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int rc = rioctl(fd, req, arg);

	if (rc < 0) {
		static int told_emfile;

		rc = -errno;
		/* At the open-file wall every start fails the same way: say it
		 * once; each refusal still reaches its caller. */
		if (rc != -EMFILE || !__atomic_exchange_n(&told_emfile, 1, __ATOMIC_RELAXED))
			fprintf(stderr, "denali: %s: %s\n", name, strerror(errno));
	}
	return rc;
}

int kvm_open(void)
{
	int fd, v, need[] = {KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_XSAVE, KVM_CAP_USER_MEMORY};
	const char *need_name[] = {"KVM_CAP_IMMEDIATE_EXIT", "KVM_CAP_XSAVE",
				   "KVM_CAP_USER_MEMORY"};

	if (kvm_fd >= 0)
		return 0;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		fprintf(stderr, "denali: cannot open /dev/kvm: %s%s\n", strerror(e),
			e == ENOENT ? " (KVM is not available on this host)" : "");
		return -e;
	}
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		fprintf(stderr, "denali: /dev/kvm API version %d, need %d\n", v, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, need[i]) <= 0) {
			fprintf(stderr, "denali: KVM lacks %s\n", need_name[i]);
			close(fd);
			return -ENOTSUP;
		}
	}
	v = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (v < (int)sizeof(struct kvm_run)) {
		fprintf(stderr, "denali: KVM_GET_VCPU_MMAP_SIZE: %d\n", v);
		close(fd);
		return -ENOTSUP;
	}
	run_size = (size_t)v;
	v = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	sync_regs = v > 0 && ((unsigned)v &
			      (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)) ==
				 (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS);
	/* Guests see the host's CPUID as KVM can virtualise it, so the libOS
	 * can find SSE/AVX the usual way (without it CPUID reads all zero). */
	cpuid.hdr.nent = CPUID_MAX_ENTRIES;
	if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) {
		fprintf(stderr, "denali: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		close(fd);
		return -ENOTSUP;
	}
	kvm_fd = fd;
	/* The TSC rate guests are told comes from a vCPU: make one now (it
	 * stays pooled) so the rate is known before the first VM is built. */
	{
		struct shell *sh;
		int rc = shell_create(&sh);

		if (rc)
			return rc;
		shell_put(sh);
	}
	return 0;
}

uint64_t kvm_tsc_hz(void)
{
	return tsc_hz;
}

/* Makes the guest TSC read the host TSC, or records the offset KVM chose. */
static void setup_tsc(struct shell *sh)
{
	uint64_t zero = 0;
	struct kvm_device_attr attr = {
	    .group = KVM_VCPU_TSC_CTRL,
	    .attr = KVM_VCPU_TSC_OFFSET,
	    .addr = (uint64_t)(uintptr_t)&zero,
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {.hdr.nmsrs = 1, .e.index = 0x10 /* IA32_TSC */};
	uint64_t before, after;
	int khz;

	if (!tsc_hz) {
		khz = rioctl(sh->vcpu_fd, KVM_GET_TSC_KHZ, 0);
		tsc_hz = khz > 0 ? (uint64_t)khz * 1000 : 1000000000ull;
	}
	if (rioctl(sh->vcpu_fd, KVM_SET_DEVICE_ATTR, &attr) == 0) {
		sh->tsc_offset = 0;
		return;
	}
	before = __rdtsc();
	if (rioctl(sh->vcpu_fd, KVM_GET_MSRS, &m) != 1) {
		sh->tsc_offset = 0;
		return;
	}
	after = __rdtsc();
	sh->tsc_offset = (int64_t)(m.e.data - (before + (after - before) / 2));
}

/*
 * Enables every vector state the CPU offers in XCR0 (CPUID 0xD.0), so that
 * SSE/AVX code in the guest works on VT-x hosts. kvm_pvm refuses
 * KVM_SET_XCRS; there the guest runs with the host's XCR0, which already
 * has them, so the refusal is harmless and not reported; after the first
 * refusal no vCPU asks again (one ioctl less per new shell).
 */
static void set_xcr0(struct shell *sh)
{
	static int refused; /* once refused, by every vCPU of this KVM: not asked again */
	struct kvm_xcrs x = {.nr_xcrs = 1};

	if (__atomic_load_n(&refused, __ATOMIC_RELAXED))
		return;

	for (uint32_t i = 0; i < cpuid.hdr.nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid.e[i];

		if (e->function == 0xd && e->index == 0)
			x.xcrs[0].value = ((uint64_t)e->edx << 32 | e->eax) & 0x2e7;
	}
	if (!x.xcrs[0].value)
		return;
	x.xcrs[0].value |= 1; /* x87 is mandatory */
	if (rioctl(sh->vcpu_fd, KVM_SET_XCRS, &x) < 0 && errno != ENOMEM)
		__atomic_store_n(&refused, 1, __ATOMIC_RELAXED);
}

int shell_create(struct shell **out)
{
	struct shell *sh;
	int rc;

	if (kvm_fd < 0 && (rc = kvm_open()) < 0)
		return rc;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	sh->vm_fd = sh->vcpu_fd = -1;
	rc = xioctl(kvm_fd, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	if (rc < 0)
		goto err;
	sh->vm_fd = rc;
	rc = xioctl(sh->vm_fd, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	if (rc < 0)
		goto err;
	sh->vcpu_fd = rc;
	sh->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, sh->vcpu_fd, 0);
	if (sh->run == MAP_FAILED) {
		rc = -errno;
		sh->run = NULL;
		fprintf(stderr, "denali: mmap kvm_run: %s\n", strerror(-rc));
		goto err;
	}
	/* The registers ride back with every exit: exit_io() checks that a
	 * hypercall's data is eax (no string I/O). */
	if (sync_regs)
		sh->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	rc = xioctl(sh->vcpu_fd, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");
	if (rc < 0)
		goto err;
	set_xcr0(sh);
	setup_tsc(sh);
	*out = sh;
	return 0;
err:
	shell_destroy(sh);
	return rc;
}

void shell_destroy(struct shell *sh)
{
	if (!sh)
		return;
	if (sh->run)
		munmap(sh->run, run_size);
	if (sh->vcpu_fd >= 0)
		close(sh->vcpu_fd);
	if (sh->vm_fd >= 0)
		close(sh->vm_fd);
	free(sh);
}

static int set_slot(struct shell *sh, uint8_t *mem, uint64_t size)
{
	struct kvm_userspace_memory_region r = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)mem,
	};

	return xioctl(sh->vm_fd, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
}

/* Drops the memory slot. */
static int shell_unbind(struct shell *sh)
{
	int rc;

	if (!sh->mem)
		return 0;
	rc = set_slot(sh, NULL, 0);
	if (rc == 0) {
		sh->mem = NULL;
		sh->mem_size = 0;
	}
	return rc;
}

/*
 * Registers, special registers and a clean exception state. With
 * KVM_CAP_SYNC_REGS they ride along with the next KVM_RUN through kvm_run
 * (three ioctls fewer on every bind); a state KVM rejects then fails that
 * KVM_RUN, which kills the VM with the reason.
 */
static int load_state(struct shell *sh, const struct vcpu_state *st)
{
	struct kvm_vcpu_events ev;
	int rc;

	if (sync_regs) {
		sh->run->s.regs.regs = st->regs;
		sh->run->s.regs.sregs = st->sregs;
		memset(&sh->run->s.regs.events, 0, sizeof(sh->run->s.regs.events));
		sh->run->kvm_dirty_regs =
		    KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
		return 0;
	}
	/* Order matters: exception state first, then the registers it refers to. */
	memset(&ev, 0, sizeof(ev));
	rc = xioctl(sh->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
	if (rc)
		return rc;
	rc = xioctl(sh->vcpu_fd, KVM_SET_SREGS, (void *)&st->sregs, "KVM_SET_SREGS");
	if (rc)
		return rc;
	return xioctl(sh->vcpu_fd, KVM_SET_REGS, (void *)&st->regs, "KVM_SET_REGS");
}

int shell_reset_mmu(struct shell *sh)
{
	uint8_t *mem = sh->mem;
	uint64_t size = sh->mem_size;
	int rc;

	if (mem) {
		rc = shell_unbind(sh);
		if (rc)
			return rc;
		rc = set_slot(sh, mem, size);
		if (rc)
			return rc;
		sh->mem = mem;
		sh->mem_size = size;
	}
	sh->mmu_dirty = 0;
	return 0;
}

int shell_run(struct shell *sh)
{
	sh->mmu_dirty = 1;
	if (ioctl(sh->vcpu_fd, KVM_RUN, 0) == 0) {
		sh->exit_pending = 1;
		return 0;
	}
	/* EINTR comes after KVM has completed the previous exit (or from the
	 * guest at an instruction boundary); any other error may come before,
	 * with the completion still pending. */
	if (errno == EINTR)
		sh->exit_pending = 0;
	return -errno;
}

/* Immediate-exit entries before giving up: string I/O may need a few. */
#define COMPLETE_TRIES 4

int shell_complete(struct shell *sh)
{
	for (int i = 0; i < COMPLETE_TRIES && sh->exit_pending; i++) {
		int rc;

		/* Nothing of the next tenant may ride along with this entry. */
		sh->run->kvm_dirty_regs = 0;
		sh->run->immediate_exit = 1;
		rc = ioctl(sh->vcpu_fd, KVM_RUN, 0);
		sh->run->immediate_exit = 0;
		if (rc < 0 && errno == EINTR)
			sh->exit_pending = 0;
		else if (rc < 0)
			break;
	}
	return sh->exit_pending ? -EIO : 0;
}

int shell_bind(struct shell *sh, uint8_t *mem, uint64_t size, const struct vcpu_state *st)
{
	int rc;

	/* Before anything of the new tenant is loaded: with sync regs, KVM
	 * would load the new registers first and then complete the old
	 * instruction against them. */
	if (sh->exit_pending && shell_complete(sh)) {
		fprintf(stderr, "denali: KVM_RUN to complete the previous tenant's exit: still "
				"pending\n");
		return -EIO;
	}
	if (sh->mmu_dirty && sh->tenant != st && sh->mem == mem) {
		/* A new tenant where another ran (pooled dirty, or rebound directly). */
		rc = shell_reset_mmu(sh);
		if (rc)
			return rc;
	}
	if (sh->mem != mem || sh->mem_size != size) {
		rc = shell_unbind(sh);
		if (rc)
			return rc;
		rc = set_slot(sh, mem, size);
		if (rc)
			return rc;
		sh->mem = mem;
		sh->mem_size = size;
	}
	rc = load_state(sh, st);
	if (rc)
		return rc;
	/* XSAVE always: vector registers are the state a previous tenant most
	 * plausibly leaks (DESIGN.md, measured). */
	rc = xioctl(sh->vcpu_fd, KVM_SET_XSAVE, (void *)&st->xsave, "KVM_SET_XSAVE");
	if (rc)
		return rc;
	if (!sh->msrs_valid || memcmp(sh->msrs, st->msrs.entries, sizeof(sh->msrs))) {
		/* KVM_SET_MSRS returns how many it set, or -1: a count that is not
		 * ours (0xffffffff reads as -1) must never pass for success. */
		if (st->msrs.hdr.nmsrs != VCPU_STATE_NMSRS) {
			fprintf(stderr, "denali: KVM_SET_MSRS: %u MSRs, expected %u\n",
				st->msrs.hdr.nmsrs, VCPU_STATE_NMSRS);
			return -EINVAL;
		}
		rc = rioctl(sh->vcpu_fd, KVM_SET_MSRS, (void *)&st->msrs);
		if (rc < 0 || (unsigned)rc != st->msrs.hdr.nmsrs) {
			fprintf(stderr, "denali: KVM_SET_MSRS: set %d of %u\n", rc,
				st->msrs.hdr.nmsrs);
			sh->msrs_valid = 0;
			return -EIO;
		}
		memcpy(sh->msrs, st->msrs.entries, sizeof(sh->msrs));
		sh->msrs_valid = 1;
	}
	sh->run->immediate_exit = 0;
	sh->tenant = st;
	sh->uses++;
	return 0;
}

int shell_save(struct shell *sh, struct vcpu_state *st)
{
	int rc;

	/* Let KVM finish the exit in progress (the hypercall's `out`) so that
	 * RIP and friends are architecturally consistent, as the KVM API asks
	 * before state is saved: an entry with immediate_exit returns EINTR
	 * without running guest code. */
	sh->exit_pending = 1;
	rc = shell_complete(sh);
	if (rc) {
		fprintf(stderr, "denali: KVM_RUN to complete the exit: still pending\n");
		return rc;
	}

	rc = xioctl(sh->vcpu_fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	if (rc)
		return rc;
	rc = xioctl(sh->vcpu_fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	if (rc)
		return rc;
	rc = xioctl(sh->vcpu_fd, KVM_GET_XSAVE, &st->xsave, "KVM_GET_XSAVE");
	if (rc)
		return rc;
	vcpu_state_msr_list(st);
	rc = rioctl(sh->vcpu_fd, KVM_GET_MSRS, &st->msrs);
	if (rc < 0 || (unsigned)rc != st->msrs.hdr.nmsrs) {
		fprintf(stderr, "denali: KVM_GET_MSRS: got %d of %u\n", rc, st->msrs.hdr.nmsrs);
		return -EIO;
	}
	return 0;
}

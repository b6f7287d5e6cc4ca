/*
 * A shell is the KVM side of a running VM: a KVM VM fd, one vCPU fd, its
 * kvm_run mapping and one memory slot. VMs are state; a VM runs when bound to
 * a shell. Shells are expensive to create and destroy, cheap to rebind, so
 * they are pooled.
 */
#ifndef DENALI_VMM_SHELL_H
#define DENALI_VMM_SHELL_H

#include <linux/kvm.h>
#include <stdint.h>

struct vcpu_state;

struct shell {
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	uint8_t *mem; /* what slot 0 maps now, or NULL */
	uint64_t mem_size;
	int64_t tsc_offset; /* guest TSC - host TSC */
	uint64_t uses;	    /* times bound, for tests and stats */
	/* MSR values last loaded; ring 3 cannot change them, so a bind with the
	 * same values skips KVM_SET_MSRS. */
	struct kvm_msr_entry msrs[4];
	int msrs_valid;
	/* The last KVM_RUN returned an exit: KVM may hold that instruction half
	 * done (an `in`, MMIO, string I/O) and would finish it against whatever
	 * state the next KVM_RUN starts from. Cleared by shell_complete(). */
	int exit_pending;
	/* A tenant has run since the slot was last (re)created, so KVM's MMU
	 * may hold its translations: dropped before another tenant runs here,
	 * by shell_bind() or ahead of time by the reclaimer (hole 3). */
	int mmu_dirty;
	const struct vcpu_state *tenant; /* state last bound, for shell_bind */
	struct shell *next;		 /* pool link */
};

/* Opens /dev/kvm once per process. 0 or -errno (with a message on stderr). */
int kvm_open(void);

/* Guest TSC frequency in Hz as KVM reports it (host rate). */
uint64_t kvm_tsc_hz(void);

/* Creates a shell with no memory bound. 0 or -errno. */
int shell_create(struct shell **out);

/* Closes the fds and unmaps kvm_run. */
void shell_destroy(struct shell *sh);

/*
 * Points slot 0 at mem[0, size) (replacing what it mapped) and loads the
 * complete vCPU state st: registers, special registers, XSAVE area, MSRs and
 * exception state, so that nothing of a previous tenant survives.
 * 0 or -errno.
 */
int shell_bind(struct shell *sh, uint8_t *mem, uint64_t size, const struct vcpu_state *st);

/*
 * One KVM_RUN of the bound state. 0 (an exit to handle, in sh->run) or
 * -errno (-EINTR: preempted, at an instruction boundary).
 */
int shell_run(struct shell *sh);

/*
 * Drops every translation KVM's MMU holds for this shell (a memory-slot
 * delete and re-add at the same place: KVM zaps all shadow pages of a
 * deleted slot, the one MMU reset every x86 KVM honours). A shell bound to
 * recycled memory at the same address would otherwise keep the previous
 * tenant's translations, since no slot update happens. shell_bind() calls it
 * when a different tenant comes to a dirty shell at the same memory; the
 * reclaimer (shell_pool.c) ahead of time for a few pooled shells. 0 or -errno
 * (the shell is then left without a slot).
 */
int shell_reset_mmu(struct shell *sh);

/*
 * Finishes the exit KVM still has in progress, if any, with immediate_exit
 * entries that run no guest code, so that the vCPU is at an instruction
 * boundary of its current tenant. shell_bind() and shell_put() call it: no
 * tenant ever completes another's instruction. 0 or -EIO when KVM keeps
 * asking for user-space completion (the shell must then be destroyed).
 */
int shell_complete(struct shell *sh);

/* Reads the complete vCPU state (for suspend). 0 or -errno. */
int shell_save(struct shell *sh, struct vcpu_state *st);

/*
 * A LIFO pool of idle shells. shell_get() reuses one or creates one;
 * shell_get_for() prefers a shell whose slot already maps mem (see
 * guest_mem.h: regions are reused at the same address), which then binds
 * without a memory-slot update. shell_put() keeps the shell for reuse with
 * its slot as it is (a shell holds no guest state while pooled: the next
 * bind replaces registers, vector state and the slot if it differs), or
 * destroys it when the pool is full or its last exit cannot be completed
 * (shell_complete()). A shell in which a tenant ran is pooled dirty
 * (mmu_dirty) and tenant-less: shell_bind() drops the old translations
 * (shell_reset_mmu()) before any new tenant whose memory is where the slot
 * points, and any other memory replaces the slot, which drops them too. With
 * the reclaimer running (shell_reclaimer_start()), a few pooled shells are
 * reset ahead of time, off the workers, and shells the pool has no room for
 * are destroyed there. Thread-safe. (shell_pool.c)
 */
int shell_get(struct shell **out);
int shell_get_for(const uint8_t *mem, uint64_t size, struct shell **out);
void shell_put(struct shell *sh);
/* Creates n shells ahead of time. */
int shell_pool_fill(unsigned n);
/* Destroys every pooled shell. */
void shell_pool_drain(void);
unsigned shell_pool_size(void);
void shell_pool_set_max(unsigned max);
/*
 * Gives back the pooled shells nobody needed since the last call: of the fewest the pool held
 * meanwhile, all but keep (the oldest first), destroyed by the reclaimer if it runs (else
 * here). Called now and then (denalid: every 10 s), it shrinks a pool that a burst of
 * evictions or stops filled, and leaves alone the shells that are being taken. Returns how
 * many it gave back.
 */
unsigned shell_pool_trim(unsigned keep);

/*
 * Starts the reclaimer: a few threads (RECLAIM_THREADS, side by side because a
 * teardown mostly waits) that keep a few pooled shells reset and destroy the
 * ones the pool cannot keep, so that a worker seldom waits for a memory-slot
 * update's SRCU grace periods and never for a VM teardown.
 * confine, if not NULL, runs first on each new thread (drop capabilities,
 * install a seccomp allowlist) and this returns only after it did; its
 * non-zero return fails the start. Without a reclaimer shell_put() does the
 * work itself. 0 or -errno.
 */
int shell_reclaimer_start(int (*confine)(void));
/* Waits until every shell handed over for destruction is destroyed and the
 * reclaimer holds none. */
void shell_reclaimer_wait(void);
/* Shells the reclaimer still has to destroy or reset (0: it is idle). */
unsigned shell_reclaimer_pending(void);
/* Finishes the queue and ends the threads; shell_put() works alone again. */
void shell_reclaimer_stop(void);

/*
 * Starts the filler: one thread that keeps `target` shells made ahead of time (never used,
 * no memory bound), so that shell_get()/shell_get_for() on a worker seldom creates one; they
 * are taken only when no pooled shell is there. confine as for the reclaimer. Called again,
 * sets the target (0: none kept; the ones made stay until taken or shell_filler_stop()).
 * Shells made ahead hold 2 descriptors each and are not bounded by shell_pool_set_max().
 * 0 or -errno.
 */
#define SHELL_FILL_DEFAULT 16 /* what denalid and the benchmarks keep made ahead */
int shell_filler_start(unsigned target, int (*confine)(void));
/* Ends the filler and destroys the shells it made that nobody took. */
void shell_filler_stop(void);
/* Shells made ahead of time and not taken yet. */
unsigned shell_filler_count(void);
/* Shells the filler made, and how many of them were taken, since the process began. */
void shell_filler_totals(uint64_t *made, uint64_t *taken);

#endif

/*
 * A VM is state: its memory, its vCPU state, its devices and counters. It
 * runs when bound to a shell (see shell.h).
 */
#ifndef DENALI_VMM_VM_H
#define DENALI_VMM_VM_H

#include "../devices/console.h"
#include "../devices/device.h"
#include "../sched/lateness.h"
#include "vcpu_state.h"

#include <denali/abi.h>
#include <stdint.h>

struct shell;

enum vm_status {
	VM_RUNNABLE, /* waiting for a CPU */
	VM_RUNNING,
	VM_IDLE, /* in idle(), until an event or its deadline */
	VM_EXITED,
	VM_KILLED,
};

/* Why vm_run() returned. */
enum vm_stop {
	VM_STOP_IDLE,	 /* idle() with no event pending: see vm->deadline_ns */
	VM_STOP_PREEMPT, /* quantum over, still runnable */
	VM_STOP_EXIT,	 /* exit(code) */
	VM_STOP_KILLED,	 /* killed; vm->reason says why */
};

/* Why KVM_RUN came back (each counted in vm_counters.exits too); VM_EXIT_OTHER is any
 * reason exit.c has no handler for (the VM is killed for it). */
enum vm_exit_kind {
	VM_EXIT_IO,	    /* port I/O: hypercalls, or a kill for a bad port */
	VM_EXIT_MMIO,	    /* always a kill: no MMIO devices */
	VM_EXIT_HLT,	    /* a kill: privileged */
	VM_EXIT_SHUTDOWN,   /* triple fault: a kill with a diagnosis */
	VM_EXIT_FAIL_ENTRY, /* KVM could not enter: a kill */
	VM_EXIT_INTERNAL,   /* KVM internal error: a kill */
	VM_EXIT_INTR,	    /* a signal (preemption, a command) cut the run short */
	VM_EXIT_OTHER,
	VM_EXIT_KINDS,
};

struct vm_counters {
	uint64_t exits;
	uint64_t exit_kinds[VM_EXIT_KINDS]; /* exits by reason */
	uint64_t hypercalls[DENALI_HC_COUNT];
	uint64_t runs; /* KVM_RUN calls */
	uint64_t cpu_ns;
	uint64_t wakeups;
	uint64_t event_entries; /* entries that delivered device events */
	uint64_t events;	/* device event bits delivered, summed */
	uint64_t idle_fast;   /* idle() answered at once (an event pending or its deadline past) */
	struct lateness late; /* deadline wake-ups: how late the VM ran again */
};

struct vm_config {
	const char *name;
	const char *image; /* path, for messages */
	const uint8_t *elf;
	size_t elf_size;
	uint64_t mem_size;
	uint64_t id;
	int argc;
	char *const *argv; /* argv[0] is the image name the guest sees */
};

/* Devices per VM: console always, then net and blk when configured. */
#define VM_DEV_MAX 4

struct vm {
	char name[64];
	uint64_t id;
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t tsc_mult;	      /* host copy of vregs->tsc_mult: the guest can't change it */
	struct denali_vregs *vregs;   /* host view of the vregs page */
	struct denali_shared *shared; /* host view of the shared page */
	struct vcpu_state *state;     /* loaded at the next bind when need_load */
	int need_load;
	struct shell *shell; /* bound shell or NULL */
	enum vm_status status;
	int exit_code;
	char reason[256];
	uint64_t deadline_ns;	    /* idle() deadline, DENALI_NO_DEADLINE = none */
	uint64_t idle_gpa;	    /* argument block of the pending idle() */
	uint64_t late_from;	    /* woken by its deadline, this one: lateness counts from here
				       when it next runs (0 = not a deadline wake-up) */
	uint64_t pending;	    /* events posted while not running (atomic) */
	int ev_delivered;	    /* unbatched delivery: this entry has its event */
	int yield;		    /* another VM of its worker was woken by this exit: vm_run()
				       returns VM_STOP_PREEMPT after it (the worker's thread) */
	struct console_dev console; /* also dev[0] */
	struct device *dev[VM_DEV_MAX];
	unsigned ndev;
	struct vm_counters ctr;
	uint64_t created_ns;
	void *owner; /* the scheduler's per-VM data */
};

/*
 * Creates a VM: maps zero-filled memory, builds the page tables, loads the
 * ELF image and fills the virtual-registers page. On failure returns -errno
 * with a one-line reason in err (-ENOEXEC for a bad image, -EINVAL for a bad
 * size or arguments).
 */
int vm_create(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);

/* A VM whose memory, vCPU and device state are in a swap slot (a restart restores it there):
 * its name, id, memory size and devices (added after this, as for vm_create), no guest
 * memory, no vCPU state and no image (cfg->elf and argv are not used); vm_swap_in() brings
 * the rest. vm_set_net() and vm_set_blk() leave the guest's registers alone for it (they are
 * in the slot). */
int vm_create_swapped(const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);

/* A zeroed struct vm from the VMs' slab (slab.h), and back: for code that builds a VM
 * itself (vm_import); vm_destroy() frees with vm_free(). */
struct vm *vm_alloc(void);
void vm_free(struct vm *vm);

/* Releases memory and state; the VM must not be bound. */
void vm_destroy(struct vm *vm);

/* Binds the VM to sh (loading its saved state if needed) / releases it. */
int vm_bind(struct vm *vm, struct shell *sh);
void vm_unbind(struct vm *vm);

/*
 * Runs the bound VM until it idles, is preempted, exits or is killed. Drains
 * its console at every exit and refreshes its clock before every entry.
 */
enum vm_stop vm_run(struct vm *vm);

/*
 * Adds a device (the VM owns it from now on: vm_destroy() frees it through
 * its ops). Before the VM first runs. 0 or -ENOSPC.
 */
int vm_add_device(struct vm *vm, struct device *d);

/* Publishes the NIC (MAC, IPv4 in network byte order) / the disk in the
 * vregs; the devices themselves are added with vm_add_device(). */
void vm_set_net(struct vm *vm, const uint8_t mac[6], uint32_t addr, uint32_t mask, uint32_t gw);
void vm_set_blk(struct vm *vm, uint64_t sectors, uint32_t flags);

/* Sets up the console as device 0 (vm_create and snapshot_load do it). */
void vm_init_devices(struct vm *vm);

/* Returns the VM's device of this kind ("net", "blk"), or NULL. */
struct device *vm_device(struct vm *vm, const char *kind);

/* Tells every device which worker owns the VM now. 0 or the first -errno. */
int vm_attach_devices(struct vm *vm, const struct dev_host *h);

/* Lets every device finish its in-flight host I/O (before suspend/stop). */
void vm_quiesce_devices(struct vm *vm);

/* The VM leaves its worker for good: no device wakes it after this. */
void vm_detach_devices(struct vm *vm);

/* Swap-out / before a swapped-in VM runs: each device's park() / unpark()
 * (device.h). unpark: 0 or the first error. */
void vm_park_devices(struct vm *vm);
int vm_unpark_devices(struct vm *vm);

/* Whether a device of vm has a reopen() (device.h); each one's reopen(), off the
 * workers, before its swap-in: 0 or the first error (unpark() answers it too). */
int vm_devices_reopen_wanted(const struct vm *vm);
int vm_reopen_devices(struct vm *vm);

/* KICK: every device serving a ring in mask pushes out now. Returns
 * EXIT_CONTINUE-compatible -1, or VM_STOP_KILLED after a device fault. */
int vm_kick_devices(struct vm *vm, uint32_t mask);

/* Marks the VM killed with a formatted reason; returns VM_STOP_KILLED. */
enum vm_stop vm_kill(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Posts events from any thread; the scheduler decides when the VM sees them. */
void vm_post_events(struct vm *vm, uint64_t events);

/* Moves events posted from other threads, plus events, into the guest's
 * shared event word; returns the word as it is now. Worker thread only. */
uint64_t vm_deliver_events(struct vm *vm, uint64_t events);

/* --events-unbatched: every VM of the process is delivered at most one
 * event bit per entry instead of the whole pending set (an ablation). */
void vm_set_events_unbatched(int on);

/* Completes a pending idle(): ORs pending events into the shared page and
 * writes the OUT field of the idle block. */
void vm_wake(struct vm *vm, uint64_t events);

/* Sets the host's TSC rate in vm->tsc_mult (what CPU accounting uses) and
 * in the guest's vregs (after creation and after a snapshot load). */
void vm_set_clock_rate(struct vm *vm);

/* Monotonic clock in ns (the clock guests see). */
uint64_t vm_now_ns(void);

const char *vm_status_name(enum vm_status s);

/* "io", "mmio", "hlt", "shutdown", "fail_entry", "internal", "intr", "other". */
const char *vm_exit_kind_name(enum vm_exit_kind k);

#endif

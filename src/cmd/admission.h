/*
 * Admission for `denalid serve`: how many VMs may be registered, live (holding a shell and
 * its file descriptors) and how much memory they may hold, and the bookkeeping of what is
 * taken. Kept apart from the registry (fleet.c) so that a gatekeeper with a memory budget and
 * swap can replace it. Not thread-safe: the registry calls it under its lock.
 *
 * Memory: without swap every byte of guest memory can become resident, so a VM is charged its
 * whole guest memory size plus the kernel memory of its shell (ADMISSION_KERNEL_BYTES), from
 * its start until it exits (an exited VM gives its memory back at once). The budget is
 * --max-mem, or MemAvailable at start-up less a reserve for the host
 * (max(MemAvailable/16, ADMISSION_HOST_RESERVE)).
 *
 * Descriptors: a live VM holds ADMISSION_FDS_PER_SHELL; the daemon keeps
 * ADMISSION_FDS_RESERVED for itself (logs, state files, rings, images) and one per control
 * connection it accepts (CTL_CLIENTS_MAX), so idle clients never eat into the VMs' share.
 */
#ifndef DENALI_CMD_ADMISSION_H
#define DENALI_CMD_ADMISSION_H

#include "ctl/serve.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ADMISSION_FDS_PER_SHELL 2
#define ADMISSION_FDS_RESERVED	256
#define ADMISSION_KERNEL_BYTES	(768ull << 10) /* a shell's kernel memory, measured */
#define ADMISSION_HOST_RESERVE	(512ull << 20)

struct admission {
	unsigned max_vms, max_live;
	uint64_t mem_budget;	  /* bytes */
	const char *budget_from;  /* "--max-mem" or "MemAvailable" */
	unsigned vms, live;	  /* taken */
	unsigned reclaiming;	  /* shells of ended VMs not destroyed yet: they hold descriptors */
	uint64_t mem_used;	  /* bytes charged to live VMs */
	unsigned fds_for_clients; /* descriptors kept for control connections */
	int swap;		  /* the gatekeeper decides live and memory: count VMs only */
};

/* Computes the limits from cfg, RLIMIT_NOFILE (raised to its hard limit) and /proc/meminfo. */
void admission_init(struct admission *a, const struct serve_config *cfg, unsigned fds_for_clients);

/* With --swap the gatekeeper (sched/swapper.h) keeps the live-shell cap and the memory budget;
 * admission only counts registered VMs, at most max_vms (the swap slots). */
void admission_set_swap(struct admission *a, unsigned max_vms);

/* Memory one VM with mem_size bytes of guest memory is charged. */
uint64_t admission_vm_cost(uint64_t mem_size);

/* Takes room for count more VMs of mem_size bytes each, all or nothing: 0, or -ENOSPC with a
 * message naming the limit that is in the way. */
int admission_take(struct admission *a, unsigned count, uint64_t mem_size, char *err,
		   size_t errlen);

/* One VM taken with admission_take stopped running (exited, was killed or never started): its
 * shell and memory are back. */
void admission_vm_ended(struct admission *a, uint64_t mem_size);

/* One VM is forgotten (its registration is back); call after admission_vm_ended. */
void admission_vm_removed(struct admission *a);

/* New reference: {max_vms, max_live, mem_budget, mem_budget_from, mem_used, vms, live}. */
json_t *admission_json(const struct admission *a);

#endif

#include "admission.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

static uint64_t mem_available(void)
{
	unsigned long long kib = 0;
	char line[256];
	FILE *m = fopen("/proc/meminfo", "r");

	if (!m)
		return 0;
	while (fgets(line, sizeof(line), m))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(m);
	return (uint64_t)kib << 10;
}

void admission_init(struct admission *a, const struct serve_config *cfg, unsigned fds_for_clients)
{
	struct rlimit rl;
	unsigned fd_cap = 1000;
	uint64_t reserved = ADMISSION_FDS_RESERVED + (uint64_t)fds_for_clients;

	*a = (struct admission){.fds_for_clients = fds_for_clients};
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max; /* ours to raise up to the hard limit */
		setrlimit(RLIMIT_NOFILE, &rl);
		fd_cap = rl.rlim_cur > reserved
			     ? (unsigned)((rl.rlim_cur - reserved) / ADMISSION_FDS_PER_SHELL)
			     : 0;
	}
	a->max_live = fd_cap;
	if (cfg->max_live && cfg->max_live < a->max_live)
		a->max_live = cfg->max_live;
	/* No swapping yet: every registered VM may need to be live. */
	a->max_vms = cfg->max_vms ? cfg->max_vms : a->max_live;
	if (cfg->max_mem) {
		a->mem_budget = cfg->max_mem;
		a->budget_from = "--max-mem";
	} else {
		uint64_t avail = mem_available(), keep = avail / 16;

		if (keep < ADMISSION_HOST_RESERVE)
			keep = ADMISSION_HOST_RESERVE;
		a->mem_budget = avail > keep ? avail - keep : 0;
		a->budget_from = "MemAvailable";
	}
}

void admission_set_swap(struct admission *a, unsigned max_vms)
{
	a->swap = 1;
	a->max_vms = max_vms;
}

uint64_t admission_vm_cost(uint64_t mem_size)
{
	return mem_size + ADMISSION_KERNEL_BYTES;
}

int admission_take(struct admission *a, unsigned count, uint64_t mem_size, char *err, size_t errlen)
{
	uint64_t need = admission_vm_cost(mem_size) * count;

	if ((uint64_t)a->vms + count > a->max_vms) {
		snprintf(err, errlen,
			 "capacity: %u VMs registered, %u more would pass the limit of %u", a->vms,
			 count, a->max_vms);
		return -ENOSPC;
	}
	if (a->swap) {
		a->vms += count;
		return 0;
	}
	if ((uint64_t)a->live + count > a->max_live) {
		snprintf(
		    err, errlen,
		    "capacity: %u VMs live, %u more would pass the limit of %u (open files: %d "
		    "per VM shell, %u kept for the daemon and its clients)",
		    a->live, count, a->max_live, ADMISSION_FDS_PER_SHELL,
		    ADMISSION_FDS_RESERVED + a->fds_for_clients);
		return -ENOSPC;
	}
	if ((uint64_t)a->live + a->reclaiming + count > a->max_live) {
		snprintf(err, errlen,
			 "busy: %u VMs live and the shells of %u that ended still being destroyed; "
			 "%u more would pass the limit of %u live shells: retry in a moment",
			 a->live, a->reclaiming, count, a->max_live);
		return -EBUSY;
	}
	if (need / count != admission_vm_cost(mem_size) || a->mem_used + need > a->mem_budget ||
	    a->mem_used + need < a->mem_used) {
		snprintf(err, errlen,
			 "capacity: memory: %u VM(s) of %llu MiB need %llu MiB (guest memory plus "
			 "%llu KiB each for the kernel), %llu MiB of the budget of %llu MiB (%s) "
			 "are free",
			 count, (unsigned long long)(mem_size >> 20),
			 (unsigned long long)(need >> 20),
			 (unsigned long long)(ADMISSION_KERNEL_BYTES >> 10),
			 (unsigned long long)((a->mem_budget - a->mem_used) >> 20),
			 (unsigned long long)(a->mem_budget >> 20), a->budget_from);
		return -ENOSPC;
	}
	a->vms += count;
	a->live += count;
	a->mem_used += need;
	return 0;
}

void admission_vm_ended(struct admission *a, uint64_t mem_size)
{
	uint64_t cost = admission_vm_cost(mem_size);

	if (a->swap)
		return;
	if (a->live)
		a->live--;
	a->mem_used = a->mem_used > cost ? a->mem_used - cost : 0;
}

void admission_vm_removed(struct admission *a)
{
	if (a->vms)
		a->vms--;
}

json_t *admission_json(const struct admission *a)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I}", "max_vms", (json_int_t)a->max_vms,
			 "max_live", (json_int_t)a->max_live, "mem_budget",
			 (json_int_t)a->mem_budget, "mem_budget_from", a->budget_from, "mem_used",
			 (json_int_t)a->mem_used, "vms", (json_int_t)a->vms, "live",
			 (json_int_t)a->live);
}

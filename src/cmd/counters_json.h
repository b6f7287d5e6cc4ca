/*
 * A VM's (or the fleet's) counters as JSON, shared by list, stats and the
 * metrics view: exits by reason and wake-up lateness included.
 */
#ifndef DENALI_CMD_COUNTERS_JSON_H
#define DENALI_CMD_COUNTERS_JSON_H

#include "vmm/vm.h"

#include <jansson.h>

/* to += c, every counter (the registry folds in the VMs that are gone). */
void counters_add(struct vm_counters *to, const struct vm_counters *c);

/* {exits, exits_by_reason, hypercalls {exit, idle, kick, panic}, runs, cpu_ns, wakeups,
 * wakeup_lateness}. */
json_t *counters_json(const struct vm_counters *c);

/* {io, mmio, hlt, shutdown, fail_entry, internal, intr, other}. */
json_t *exit_kinds_json(const uint64_t k[VM_EXIT_KINDS]);

/* {count, sum_us, p50_us, p99_us} and, with buckets, "buckets": [[le_us, count], ...]
 * cumulative, the last with le_us -1 (+Inf). A quantile is the upper bound of the bucket
 * holding it, 0 without samples, -1 past the last finite bound. */
json_t *lateness_json(const struct lateness *l, int buckets);

#endif

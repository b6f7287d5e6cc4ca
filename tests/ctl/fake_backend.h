/* A backend that runs no VMs: it keeps a table of names, records every call, and holds a
 * console buffer per VM that tests can append to. Thread-safe. */
#ifndef DENALI_TESTS_FAKE_BACKEND_H
#define DENALI_TESTS_FAKE_BACKEND_H

#include "backend.h"

#include <stdbool.h>

struct fake_stats {
	unsigned starts, start_failures, stops, lists, stats, console_reads, names;
	unsigned list_steps, list_entries; /* list_next calls, entries they made */
};

/* Set before fake_backend_init(): the fake lists in steps too (list_begin, list_next,
 * list_end), as denalid's fleet does. */
extern bool fake_backend_stepped;

/* Fills be with the fake's operations on a fresh fake. Images whose path contains "fail"
 * are refused (-EIO); one whose path contains "slow" takes 100 ms to start; a VM whose image
 * contains "killed" lists as killed ("triple fault"). swap takes 500 ms per VM and succeeds. A
 * started VM's console holds "booted NAME\n" followed by one line per argument. */
void fake_backend_init(struct ctl_backend *be);
void fake_backend_fini(struct ctl_backend *be);

void fake_backend_counts(struct ctl_backend *be, struct fake_stats *out);
/* Appends to NAME's console; false if there is no such VM. */
bool fake_backend_console_append(struct ctl_backend *be, const char *name, const char *data);
/* Number of VMs running in the fake. */
unsigned fake_backend_nvms(struct ctl_backend *be);
/* 1 if NAME runs with this memory size and first argument (arg0 may be NULL: no args). */
int fake_backend_has(struct ctl_backend *be, const char *name, uint64_t mem, const char *arg0);

#endif

/* denalid run's shared state: the VMs it boots, its options, and the pieces in run_*.c. */
#ifndef DENALI_CMD_RUN_IMPL_H
#define DENALI_CMD_RUN_IMPL_H

#include "denalid.h"
#include "vmdev.h"

#include "../devices/netsw.h"
#include "../devices/tap.h"
#include "../sched/swapper.h"
#include "../sched/worker.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define RUN_KILLED_STATUS 125
#define RUN_MAX_COUNT	  100000
#define RUN_MAX_EXTRA	  16
#define RUN_MAX_WITH_ARGS 32

struct run_vm {
	struct task task;
	unsigned idles;
	char line[256]; /* partial output line, when prefixing */
	size_t line_len;
	int index;
	int snap_fd; /* --suspend-after: made before the workers start (they may not open files) */
};

struct run_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;
	int prefix;
	int tty; /* stdout is a terminal (looked at on the main thread: workers may not) */
	int summary;
	unsigned suspend_after;
	const char *snapshot_dir;
	struct swapper *swapper; /* --swap */
	/* devices */
	int net;
	struct net_prefix pfx;
	unsigned networks;
	const char *disk;
	int disk_ro, disk_direct;
	struct netsw *sw;
	const char *tap;
	struct tap_uplink *up;
};

extern struct run_ctx run_ctx;

/* run_output.c: the help text; the console sink (whole lines, prefixed with the VM name when
 * several run); what is printed when a VM ends; the --swap and --summary figures. */
void run_usage(FILE *f);
void run_sink(const char *buf, size_t len, void *arg);
void run_on_done(struct task *t, void *arg);
void run_print_swap(void);
void run_print_summary(struct run_vm *vms, unsigned n, struct worker *w, unsigned nw,
		       uint64_t wall_ns);

/* run_suspend.c: --suspend-after (a snapshot file per VM, made on the main thread) and
 * --swap's idle hook. */
int run_open_snapshot(struct run_vm *rv);
int run_suspend_resume(struct task *t, void *arg);
int run_swap_idle(struct task *t, void *arg);

#endif

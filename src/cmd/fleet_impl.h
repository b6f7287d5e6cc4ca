/*
 * Inside the daemon's registry: the types fleet.c (life cycle) and
 * fleet_json.c (list, stats and counters as JSON) share. Not for other files.
 */
#ifndef DENALI_CMD_FLEET_IMPL_H
#define DENALI_CMD_FLEET_IMPL_H

#include "admission.h"
#include "events.h"
#include "fleet_reap.h"
#include "vmdev.h"

#include "sched/worker.h"
#include "vmm/vm.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define SHELL_POOL_MAX 32

struct fleet_vm {
	struct task task;	      /* first: workers hand back struct task * */
	int done;		      /* set on the worker thread when it exited/was killed */
	int stopping;		      /* WCMD_STOP sent */
	unsigned pins;		      /* operator commands using the task without f->lock */
	int64_t started_ms, ended_ms; /* CLOCK_REALTIME; ended_ms 0 while it runs */
	struct fleet_vm *next;
	struct fleet_vm **pprev;   /* what points at it in the list (fleet_index.c) */
	struct fleet_vm *hnext;	   /* its bucket's chain in the name index */
	struct fleet *fleet;	   /* its registry (the console log's notify hook) */
	struct fleet_vm *log_next; /* on fleet.log_head, while log_queued */
	int log_queued;		   /* on the log thread's queue (atomic): a stop waits it out */
	char ipv4[16];		   /* dotted quad, "" = no address */
};

/* Totals that only go up: what the VMs that are gone did, folded in when they go. */
struct fleet_totals {
	struct vm_counters ctr;
	uint64_t console_bytes, console_dropped, console_log_lost;
	uint64_t started, exited, killed, removed;
};

/* Rates over fixed windows, computed by the log thread, never reset by a reader. */
#define RATE_WINDOW_NS 10000000000ull
struct fleet_rates {
	uint64_t t0, exits0; /* the window being measured began here (busy: last_busy) */
	double exits_per_s, *utilisation; /* over the last whole window */
	uint64_t window_end;
};

struct fleet {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	struct fleet_vm *vms;
	unsigned nvms;
	struct admission adm;
	uint64_t image_bytes; /* images held by open batches, at most FLEET_IMAGE_BYTES_MAX */
	struct worker *workers;
	unsigned nworkers, next_worker;
	struct fleet_reaper reap; /* frees the guest memory of VMs that ended */
	uint64_t next_id;
	uint64_t *last_busy; /* rates.busy0 */
	struct fleet_totals gone;
	struct fleet_rates rates;
	struct event_log ev;
	char *state_dir;
	uint64_t log_max; /* console.log rotates at this size */
	pthread_t logger;
	pthread_cond_t logger_cond;
	struct fleet_vm *log_head; /* lock-free stack of VMs for the log thread (fleet_log_queue) */
	int logger_quit, logger_running;
	/* devices (issue 9): the switch, its prefix and uplink */
	struct netsw *sw;
	struct net_prefix pfx;
	struct tap_uplink *up;
	struct swapper *swapper; /* --swap (fleet_swap.c); NULL = none */
	uint64_t swap_slot_bytes;
	unsigned swap_files;
	struct fleet_restore *restore; /* the swap log replayed at start, by id */
	size_t nrestore;
	/* the name index over vms (fleet_index.c) */
	struct fleet_vm **index;
	size_t index_cap, index_n, linked;
};

/* The console_log_enable() hook, arg a struct fleet_vm: queues it for the log thread and
 * wakes that (any thread, no lock). */
void fleet_log_notify(void *arg);

/* Puts v on the log thread's queue (once: a VM already queued is not queued again) and
 * wakes it. Any thread, with or without f->lock. */
void fleet_log_queue(struct fleet *f, struct fleet_vm *v);

/* A zeroed registry entry / back (fleet.c: a slab of them, vmm/slab.h). */
struct fleet_vm *fleet_vm_alloc(void);
void fleet_vm_free(struct fleet_vm *v);

/* Free heap and the guest arena's idle page tables given back, at most every 10 s
 * (fleet_trim.c). The log thread, without f->lock. */
void fleet_trim_tick(struct fleet *f);

/* The log thread (fleet_log.c), started by fleet_open with the fleet. */
void *fleet_logger_main(void *arg);

/* Under f->lock: the list of VMs and its name index (fleet_index.c). Link puts v at the
 * head of f->vms; its name must not change while it is linked. */
struct fleet_vm *fleet_find(struct fleet *f, const char *name);
void fleet_link(struct fleet *f, struct fleet_vm *v);
void fleet_unlink(struct fleet *f, struct fleet_vm *v);
void fleet_index_free(struct fleet *f);
int64_t fleet_real_ms(void);

/* The log thread's tick: closes a rate window every RATE_WINDOW_NS. Under f->lock. */
void fleet_rates_tick(struct fleet *f);

/* The backend's list, stats and per-VM stats (struct ctl_backend). */
json_t *fleet_json_list(void *ctx);
void *fleet_json_list_begin(void *ctx);
int fleet_json_list_next(void *ctx, void *cursor, json_t *arr, size_t max);
void fleet_json_list_end(void *ctx, void *cursor);
json_t *fleet_json_stats(void *ctx);
json_t *fleet_json_vm_stats(void *ctx, const char *name);
json_t *fleet_json_metrics_vms(void *ctx, unsigned max);

#endif

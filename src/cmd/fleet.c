/*
 * VM registry for `denalid serve`. The control thread calls these; the fast
 * path is reached only through worker_send(), and counters are read from the
 * VMs as the workers publish them (plain loads of monotonic counters).
 *
 * Admission (what a VM may take: registrations, shells, memory) is the
 * business of admission.c; this file only calls it under its lock.
 */
#include "fleet.h"

#include "admission.h"
#include "console_log.h"
#include "vmdev.h"

#include "ctl/log.h"
#include "ctl/server.h"
#include "devices/netsw.h"
#include "devices/tap.h"
#include "events.h"
#include "image.h"
#include "privs.h"
#include "sched/worker.h"
#include "vmm/guest_mem.h"
#include "vmm/shell.h"
#include "vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define SHELL_POOL_MAX 32

struct fleet_vm {
	struct task task;	      /* first: workers hand back struct task * */
	int done;		      /* set on the worker thread when it exited/was killed */
	int stopping;		      /* WCMD_STOP sent */
	uint64_t logged;	      /* console bytes written to console.log */
	int64_t started_ms, ended_ms; /* CLOCK_REALTIME; ended_ms 0 while it runs */
	struct fleet_vm *next;
	char ipv4[16]; /* dotted quad, "" = no address */
};

/* Totals that only go up: what the VMs that are gone did, folded in when they go. */
struct fleet_totals {
	struct vm_counters ctr;
	uint64_t console_bytes, console_dropped;
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
	struct worker *workers;
	unsigned nworkers, next_worker;
	uint64_t next_id;
	uint64_t *last_busy; /* rates.busy0 */
	struct fleet_totals gone;
	struct fleet_rates rates;
	struct event_log ev;
	char *state_dir;
	uint64_t log_max; /* console.log rotates at this size */
	pthread_t logger;
	pthread_cond_t logger_cond;
	int logger_quit, logger_running;
	/* devices (issue 9): the switch, its prefix and uplink */
	struct netsw *sw;
	struct net_prefix pfx;
	struct tap_uplink *up;
};

/* The VM's NIC and disk, as its definition asks. */
static int add_devices(struct fleet *f, struct vm *vm, const struct vm_spec *spec, char *err,
		       size_t errlen)
{
	int rc;

	if (spec->net) {
		if (!f->sw) {
			snprintf(
			    err, errlen,
			    "this daemon has no network: start denalid serve with --net PREFIX");
			return -EINVAL;
		}
		rc = vmdev_add_net(vm, f->sw, &f->pfx, 0, err, errlen);
		if (rc)
			return rc;
	}
	if (spec->disk[0])
		return vmdev_add_disk(vm, spec->disk, spec->disk_ro, err, errlen);
	return 0;
}

/* The switch and its uplink. */
static json_t *net_json(struct fleet *f)
{
	const struct netsw_stats *s = netsw_stats(f->sw);
	json_t *o = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "up_tx_frames", (json_int_t)s->up_tx_frames,
	    "up_tx_bytes", (json_int_t)s->up_tx_bytes, "up_rx_frames", (json_int_t)s->up_rx_frames,
	    "up_rx_bytes", (json_int_t)s->up_rx_bytes, "up_drop_down", (json_int_t)s->up_drop_down,
	    "up_drop_full", (json_int_t)s->up_drop_full, "up_drop_spoof",
	    (json_int_t)s->up_drop_spoof, "up_drop_unknown", (json_int_t)s->up_drop_unknown);

	if (f->up) {
		struct tap_stats t;

		tap_uplink_stats(f->up, &t);
		json_object_set_new(
		    o, "uplink",
		    json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "tap",
			      tap_uplink_name(f->up), "up", t.up, "rx_frames",
			      (json_int_t)t.rx_frames, "tx_frames", (json_int_t)t.tx_frames,
			      "tx_submits", (json_int_t)t.tx_submits, "rx_errors",
			      (json_int_t)t.rx_errors, "down_events", (json_int_t)t.down_events,
			      "reattaches", (json_int_t)t.reattaches));
	}
	return o;
}

/* {counters...} of the VM's devices, or null. */
static json_t *devices_json(struct vm *vm)
{
	struct dev_counter c[DEV_COUNTERS_MAX];
	json_t *o;

	if (vm->ndev < 2)
		return json_null();
	o = json_object();
	for (unsigned i = 1; i < vm->ndev; i++) {
		unsigned n = vm->dev[i]->ops->counters
				 ? vm->dev[i]->ops->counters(vm->dev[i], c, DEV_COUNTERS_MAX)
				 : 0;

		for (unsigned k = 0; k < n; k++)
			json_object_set_new(o, c[k].name, json_integer((json_int_t)c[k].value));
	}
	json_object_set_new(o, "runs", json_integer((json_int_t)vm->ctr.runs));
	json_object_set_new(o, "exits", json_integer((json_int_t)vm->ctr.exits));
	json_object_set_new(o, "event_entries", json_integer((json_int_t)vm->ctr.event_entries));
	json_object_set_new(o, "events", json_integer((json_int_t)vm->ctr.events));
	return o;
}

static struct fleet_vm *find(struct fleet *f, const char *name)
{
	for (struct fleet_vm *v = f->vms; v; v = v->next)
		if (!strcmp(v->task.vm->name, name))
			return v;
	return NULL;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_counters(struct vm_counters *to, const struct vm_counters *c)
{
	to->exits += c->exits;
	for (unsigned i = 0; i < DENALI_HC_COUNT; i++)
		to->hypercalls[i] += c->hypercalls[i];
	to->runs += c->runs;
	to->cpu_ns += c->cpu_ns;
	to->wakeups += c->wakeups;
}

/* A VM leaves the registry: what it did stays in the totals. */
static void fold(struct fleet_totals *t, const struct vm *vm)
{
	add_counters(&t->ctr, &vm->ctr);
	t->console_bytes += vm->console.written;
	t->console_dropped += vm->console.dropped;
	t->removed++;
}

static void on_done(struct task *t, void *arg)
{
	struct fleet *f = arg;
	struct fleet_vm *v = (struct fleet_vm *)t;

	struct vm *vm = t->vm;
	uint8_t *mem;

	/* An ended VM keeps its name, counters and console; its guest memory goes back now. */
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&f->lock);
	v->done = 1;
	v->ended_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (vm->status == VM_EXITED) {
		event_log_add(&f->ev, "exit", vm->name, vm->id, vm->exit_code, NULL);
		f->gone.exited++;
	} else {
		event_log_add(&f->ev, "kill", vm->name, vm->id, 0, vm->reason);
		f->gone.killed++;
	}
	pthread_cond_signal(&f->logger_cond); /* the log thread writes the line */
	mem = vm->mem;
	vm->mem = NULL;
	vm->vregs = NULL;
	vm->shared = NULL;
	admission_vm_ended(&f->adm, vm->mem_size);
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
	guest_mem_free(mem, vm->mem_size);
}

/* A command has been handled: a stop waiting for its task to be free may go on. */
static void on_cmd(void *arg)
{
	struct fleet *f = arg;

	pthread_mutex_lock(&f->lock);
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
}

/* A start request's image, read once, and the room admission gave it. */
struct fleet_batch {
	uint8_t *elf;
	size_t size;
	uint64_t mem_size;
	unsigned reserved; /* taken from admission, not yet used by a VM */
};

static uint64_t spec_mem(const struct vm_spec *spec)
{
	return spec->mem_bytes ? spec->mem_bytes : DENALI_MEM_DEFAULT;
}

static int fleet_batch_open(void *ctx, const struct vm_spec *spec, unsigned count, void **out,
			    char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_batch *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	b->mem_size = spec_mem(spec);
	rc = image_read(spec->image, &b->elf, &b->size, err, errlen);
	if (rc) {
		free(b);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	rc = admission_take(&f->adm, count, b->mem_size, err, errlen);
	pthread_mutex_unlock(&f->lock);
	if (rc) {
		free(b->elf);
		free(b);
		return rc;
	}
	b->reserved = count;
	*out = b;
	return 0;
}

static void fleet_batch_close(void *ctx, void *batch)
{
	struct fleet *f = ctx;
	struct fleet_batch *b = batch;

	pthread_mutex_lock(&f->lock);
	for (; b->reserved; b->reserved--) {
		admission_vm_ended(&f->adm, b->mem_size);
		admission_vm_removed(&f->adm);
	}
	pthread_mutex_unlock(&f->lock);
	free(b->elf);
	free(b);
}

static int fleet_start(void *ctx, const struct vm_spec *spec, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	struct fleet_batch *b = spec->batch;
	uint64_t mem_size = spec_mem(spec);
	uint8_t *elf = NULL;
	size_t size;
	char **argv;
	int rc;

	if (b && (b->mem_size != mem_size || !b->reserved))
		b = NULL; /* not what the batch was opened for: on its own */
	if (b) {
		size = b->size;
	} else {
		rc = image_read(spec->image, &elf, &size, err, errlen);
		if (rc)
			return rc;
	}
	argv = calloc((size_t)spec->argc + 2, sizeof(*argv));
	v = calloc(1, sizeof(*v));
	if (!argv || !v) {
		free(argv);
		free(v);
		free(elf);
		return -ENOMEM;
	}
	argv[0] = strrchr(spec->image, '/') ? strrchr(spec->image, '/') + 1 : (char *)spec->image;
	for (int i = 0; i < spec->argc; i++)
		argv[i + 1] = spec->argv[i];
	pthread_mutex_lock(&f->lock);
	if (find(f, spec->name)) {
		snprintf(err, errlen, "a VM named %s exists already", spec->name);
		rc = -EEXIST;
	} else if (b) {
		b->reserved--; /* the room was taken for the whole request */
		rc = 0;
	} else {
		rc = admission_take(&f->adm, 1, mem_size, err, errlen); /* err says which limit */
	}
	if (rc == 0) {
		struct vm_config cfg = {
		    .name = spec->name,
		    .image = spec->image,
		    .elf = b ? b->elf : elf,
		    .elf_size = size,
		    .mem_size = mem_size,
		    .id = spec->id ? spec->id : ++f->next_id,
		    .argc = spec->argc + 1,
		    .argv = argv,
		};

		rc = vm_create(&cfg, &v->task.vm, err, errlen);
		if (!rc && (rc = add_devices(f, v->task.vm, spec, err, errlen)) != 0) {
			vm_destroy(v->task.vm);
			v->task.vm = NULL;
		}
		if (!rc && v->task.vm->vregs->ipv4_addr)
			inet_ntop(AF_INET, &v->task.vm->vregs->ipv4_addr, v->ipv4, sizeof(v->ipv4));
		if (!rc && f->state_dir)
			console_log_begin(f->state_dir, spec->name); /* a new log per VM life */
		if (!rc) {
			sched_entity_init(&v->task.se, &v->task);
			/* Known before the worker sees it, so a stop can follow at once. */
			v->task.w = &f->workers[f->next_worker++ % f->nworkers];
			v->next = f->vms;
			f->vms = v;
			f->nvms++;
			v->started_ms = real_ms();
			f->gone.started++;
			event_log_add(&f->ev, "start", spec->name, v->task.vm->id, 0, NULL);
			rc = worker_send(v->task.w, WCMD_ADD, &v->task);
			v = NULL;
		} else {
			admission_vm_ended(&f->adm, mem_size);
			admission_vm_removed(&f->adm);
		}
	}
	pthread_mutex_unlock(&f->lock);
	free(v);
	free(argv);
	free(elf);
	return rc;
}

static int stop_vm(struct fleet *f, const char *name, bool wait, char *err, size_t errlen);

static int fleet_stop(void *ctx, const char *name, char *err, size_t errlen)
{
	return stop_vm(ctx, name, true, err, errlen);
}

static int fleet_stop_try(void *ctx, const char *name, char *err, size_t errlen)
{
	return stop_vm(ctx, name, false, err, errlen);
}

static void fleet_stop_begin(void *ctx, const char *name)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;

	pthread_mutex_lock(&f->lock);
	v = find(f, name);
	if (v && !v->done && !v->stopping) {
		v->stopping = 1;
		worker_send(v->task.w, WCMD_STOP, &v->task);
	}
	pthread_mutex_unlock(&f->lock);
}

static int stop_vm(struct fleet *f, const char *name, bool wait, char *err, size_t errlen)
{
	struct fleet_vm *v, **pp;

	pthread_mutex_lock(&f->lock);
	v = find(f, name);
	if (!v) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "no VM named %s", name);
		return -ENOENT;
	}
	if (!v->done && !v->stopping) {
		v->stopping = 1;
		worker_send(v->task.w, WCMD_STOP, &v->task);
	}
	if ((!v->done || __atomic_load_n(&v->task.cmds, __ATOMIC_ACQUIRE)) && !wait) {
		pthread_mutex_unlock(&f->lock);
		return -EINPROGRESS;
	}
	/* Done is not enough: a stop sent as the VM exited by itself is still
	 * in the worker's inbox, and the worker reads the task to drop it. */
	while (!v->done || __atomic_load_n(&v->task.cmds, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&f->done_cond, &f->lock);
	for (pp = &f->vms; *pp != v; pp = &(*pp)->next)
		;
	*pp = v->next;
	f->nvms--;
	admission_vm_removed(&f->adm);
	fold(&f->gone, v->task.vm);
	event_log_add(&f->ev, "stop", v->task.vm->name, v->task.vm->id, 0,
		      "removed by the operator");
	console_log_flush(f->state_dir, v->task.vm, &v->logged, f->log_max);
	pthread_mutex_unlock(&f->lock);
	vm_destroy(v->task.vm);
	free(v);
	return 0;
}

/* Guest pages backed by host memory: what the VM costs, from mincore(),
 * one call per VM. Only `list` calls it, never the fast path. */
static uint64_t resident_kib(struct vm *vm, unsigned char **vec, size_t *cap)
{
	size_t pages = vm->mem_size / 4096;
	uint64_t n = 0;

	if (*cap < pages) {
		unsigned char *v = realloc(*vec, pages);

		if (!v)
			return 0;
		*vec = v;
		*cap = pages;
	}
	if (mincore(vm->mem, vm->mem_size, *vec) < 0)
		return 0;
	for (size_t i = 0; i < pages; i++)
		n += (*vec)[i] & 1;
	return n * 4;
}

static int cmp_vm_name(const void *a, const void *b)
{
	return strcmp((*(struct fleet_vm *const *)a)->task.vm->name,
		      (*(struct fleet_vm *const *)b)->task.vm->name);
}

static json_t *fleet_list(void *ctx)
{
	struct fleet *f = ctx;
	json_t *arr = json_array();
	int64_t now = real_ms();
	unsigned char *vec = NULL;
	struct fleet_vm **sorted;
	size_t cap = 0, n = 0;

	pthread_mutex_lock(&f->lock);
	sorted = calloc(f->nvms ? f->nvms : 1, sizeof(*sorted));
	for (struct fleet_vm *v = f->vms; v && sorted; v = v->next)
		sorted[n++] = v;
	if (n)
		qsort(sorted, n, sizeof(*sorted), cmp_vm_name);
	for (size_t i = 0; i < n; i++) {
		struct fleet_vm *v = sorted[i];
		struct vm *vm = v->task.vm;
		enum vm_status st = __atomic_load_n(&vm->status, __ATOMIC_ACQUIRE);
		int64_t end = v->ended_ms ? v->ended_ms : now;

		json_t *o;

		o = json_pack(
		    "{s:s, s:I, s:s, s:o, s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "name",
		    vm->name, "id", (json_int_t)vm->id, "state", vm_status_name(st), "reason",
		    st == VM_KILLED ? json_string(vm->reason) : json_null(), "exit_code",
		    st == VM_EXITED ? json_integer(vm->exit_code) : json_null(), "worker",
		    v->task.w ? v->task.w->id : -1, "cpu_ms",
		    (json_int_t)(vm->ctr.cpu_ns / 1000000), "exits", (json_int_t)vm->ctr.exits,
		    "resident_kib", (json_int_t)(vm->mem ? resident_kib(vm, &vec, &cap) : 0),
		    "uptime_s", (json_int_t)((end - v->started_ms) / 1000), "started_ms",
		    (json_int_t)v->started_ms, "ended_ms",
		    v->ended_ms ? json_integer((json_int_t)v->ended_ms) : json_null());
		json_object_set_new(o, "ipv4", v->ipv4[0] ? json_string(v->ipv4) : json_null());
		json_object_set_new(o, "devices", devices_json(vm));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&f->lock);
	free(sorted);
	free(vec);
	return arr;
}

static json_t *counters_json(const struct vm_counters *c)
{
	return json_pack("{s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I}", "exits",
			 (json_int_t)c->exits, "hypercalls", "exit", (json_int_t)c->hypercalls[0],
			 "idle", (json_int_t)c->hypercalls[1], "kick", (json_int_t)c->hypercalls[2],
			 "panic", (json_int_t)c->hypercalls[3], "runs", (json_int_t)c->runs,
			 "cpu_ns", (json_int_t)c->cpu_ns, "wakeups", (json_int_t)c->wakeups);
}

/* The log thread's tick: closes a rate window every RATE_WINDOW_NS. Under f->lock. */
static void rates_tick(struct fleet *f)
{
	uint64_t now = vm_now_ns(), exits = f->gone.ctr.exits, dt;

	for (struct fleet_vm *v = f->vms; v; v = v->next)
		exits += v->task.vm->ctr.exits;
	if (!f->rates.t0) {
		f->rates.t0 = now;
		f->rates.exits0 = exits;
	}
	dt = now - f->rates.t0;
	if (dt < RATE_WINDOW_NS)
		return;
	f->rates.exits_per_s = (double)(exits - f->rates.exits0) * 1e9 / (double)dt;
	for (unsigned i = 0; i < f->nworkers; i++) {
		uint64_t busy = __atomic_load_n(&f->workers[i].stats.busy_ns, __ATOMIC_RELAXED);

		f->rates.utilisation[i] = (double)(busy - f->last_busy[i]) / (double)dt;
		f->last_busy[i] = busy;
	}
	f->rates.t0 = now;
	f->rates.exits0 = exits;
	f->rates.window_end = now;
}

static json_t *fleet_stats(void *ctx)
{
	struct fleet *f = ctx;
	uint64_t by[VM_KILLED + 1] = {0};
	struct fleet_totals t;
	json_t *states = json_object(), *workers = json_array(), *out;

	pthread_mutex_lock(&f->lock);
	t = f->gone;
	for (struct fleet_vm *v = f->vms; v; v = v->next) {
		struct vm *vm = v->task.vm;

		by[__atomic_load_n(&vm->status, __ATOMIC_ACQUIRE)]++;
		add_counters(&t.ctr, &vm->ctr);
		t.console_bytes += vm->console.written;
		t.console_dropped += vm->console.dropped;
	}
	for (unsigned i = 0; i < f->nworkers; i++)
		json_array_append_new(
		    workers, json_pack("{s:i, s:f, s:I, s:I, s:I, s:I}", "id", (int)i,
				       "utilisation", f->rates.utilisation[i], "busy_ns",
				       (json_int_t)__atomic_load_n(&f->workers[i].stats.busy_ns,
								   __ATOMIC_RELAXED),
				       "runs", (json_int_t)f->workers[i].stats.runs, "preemptions",
				       (json_int_t)f->workers[i].stats.preemptions, "live",
				       (json_int_t)f->workers[i].stats.live));
	for (int s = 0; s <= VM_KILLED; s++)
		json_object_set_new(states, vm_status_name(s), json_integer((json_int_t)by[s]));
	out = json_pack(
	    "{s:o, s:f, s:I, s:{s:I, s:I, s:I, s:I}, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
	    "vms_by_state", states, "exits_per_s", f->rates.exits_per_s, "rate_window_s",
	    (json_int_t)(RATE_WINDOW_NS / 1000000000ull), "hypercalls", "exit",
	    (json_int_t)t.ctr.hypercalls[0], "idle", (json_int_t)t.ctr.hypercalls[1], "kick",
	    (json_int_t)t.ctr.hypercalls[2], "panic", (json_int_t)t.ctr.hypercalls[3], "workers",
	    workers, "registered", (json_int_t)f->nvms, "max_vms", (json_int_t)f->adm.max_vms,
	    "max_live", (json_int_t)f->adm.max_live, "shells_pooled", (json_int_t)shell_pool_size(),
	    "admission", admission_json(&f->adm), "totals",
	    json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "counters", counters_json(&t.ctr),
		      "console_bytes", (json_int_t)t.console_bytes, "console_dropped",
		      (json_int_t)t.console_dropped, "vms_started", (json_int_t)t.started,
		      "vms_exited", (json_int_t)t.exited, "vms_killed", (json_int_t)t.killed,
		      "vms_removed", (json_int_t)t.removed),
	    "exits_total", json_integer((json_int_t)t.ctr.exits));
	if (f->sw)
		json_object_set_new(out, "net", net_json(f));
	pthread_mutex_unlock(&f->lock);
	return out;
}

static json_t *fleet_vm_stats(void *ctx, const char *name)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	json_t *out = NULL;

	pthread_mutex_lock(&f->lock);
	v = find(f, name);
	if (v) {
		struct vm *vm = v->task.vm;
		enum vm_status st = __atomic_load_n(&vm->status, __ATOMIC_ACQUIRE);

		out = json_pack(
		    "{s:s, s:I, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "name", vm->name,
		    "id", (json_int_t)vm->id, "state", vm_status_name(st), "exit_code",
		    st == VM_EXITED ? json_integer(vm->exit_code) : json_null(), "reason",
		    st == VM_KILLED ? json_string(vm->reason) : json_null(), "counters",
		    counters_json(&vm->ctr), "console_bytes", (json_int_t)vm->console.written,
		    "console_dropped", (json_int_t)vm->console.dropped, "mem_bytes",
		    (json_int_t)vm->mem_size, "started_ms", (json_int_t)v->started_ms, "ended_ms",
		    v->ended_ms ? json_integer((json_int_t)v->ended_ms) : json_null());
	}
	pthread_mutex_unlock(&f->lock);
	return out;
}

static json_t *fleet_events(void *ctx, uint64_t since, size_t max)
{
	struct fleet *f = ctx;
	json_t *out;

	pthread_mutex_lock(&f->lock);
	out = event_log_since(&f->ev, since, max);
	pthread_mutex_unlock(&f->lock);
	return out;
}

static int fleet_vm_ended(void *ctx, const char *name)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	int r;

	pthread_mutex_lock(&f->lock);
	v = find(f, name);
	r = !v ? -ENOENT : v->done;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static ssize_t fleet_console(void *ctx, const char *name, uint64_t off, char *buf, size_t len,
			     uint64_t *next)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	ssize_t n;

	pthread_mutex_lock(&f->lock);
	v = find(f, name);
	n = v ? (ssize_t)console_read(&v->task.vm->console, off, buf, len, next) : -ENOENT;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static json_t *fleet_names(void *ctx)
{
	struct fleet *f = ctx;
	json_t *arr = json_array();

	pthread_mutex_lock(&f->lock);
	for (struct fleet_vm *v = f->vms; v; v = v->next)
		json_array_append_new(arr, json_string(v->task.vm->name));
	pthread_mutex_unlock(&f->lock);
	return arr;
}

/*
 * The log thread appends console output to STATE/vms/NAME/console.log twice
 * a second; the VMs never wait for it. It needs no capabilities: it is made
 * by privs_thread_create(), which drops them before it runs.
 */
static void *logger_main(void *arg)
{
	struct fleet *f = arg;
	struct timespec ts;

	pthread_mutex_lock(&f->lock);
	while (!f->logger_quit) {
		while (f->ev.logged_seq + 1 < f->ev.next_seq) {
			const struct vm_event *e = event_log_get(&f->ev, ++f->ev.logged_seq);
			char line[400];

			if (!e)
				continue; /* fell out of the ring before it was logged */
			event_format(e, line, sizeof(line));
			log_info("%s", line);
		}
		rates_tick(f);
		for (struct fleet_vm *v = f->vms; v; v = v->next)
			if (console_log_flush(f->state_dir, v->task.vm, &v->logged, f->log_max) < 0)
				v->logged = v->task.vm->console.written; /* give up, quietly */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->logger_cond, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fleet_open(const struct serve_config *cfg, struct ctl_backend *out)
{
	struct fleet *f;
	unsigned n = cfg->workers;
	int rc;

	rc = kvm_open();
	if (rc)
		return rc;
	rc = worker_signals_init();
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->done_cond, NULL);
	admission_init(&f->adm, cfg, CTL_CLIENTS_MAX);
	shell_pool_set_max(SHELL_POOL_MAX);
	if (!n) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c > 0 ? (unsigned)c : 1;
	}
	f->workers = calloc(n, sizeof(*f->workers));
	f->last_busy = calloc(n, sizeof(*f->last_busy));
	f->rates.utilisation = calloc(n, sizeof(*f->rates.utilisation));
	if (!f->workers || !f->last_busy || !f->rates.utilisation || event_log_init(&f->ev) < 0) {
		free(f->rates.utilisation);
		event_log_free(&f->ev);
		free(f->workers);
		free(f->last_busy);
		free(f);
		return -ENOMEM;
	}
	for (f->nworkers = 0; f->nworkers < n; f->nworkers++) {
		rc = worker_start(&f->workers[f->nworkers], (int)f->nworkers,
				  (uint64_t)(cfg->quantum_ms ? cfg->quantum_ms : 5) * 1000000ull,
				  on_done, f);
		if (rc == 0)
			worker_set_cmd_hook(&f->workers[f->nworkers], on_cmd, f);
		if (rc) {
			fprintf(stderr, "denalid: worker %u: %s\n", f->nworkers, strerror(-rc));
			out->ctx = f;
			fleet_close(out);
			return rc;
		}
	}
	if (cfg->net) {
		char err[256] = "";

		if (net_prefix_parse(cfg->net, &f->pfx)) {
			fprintf(stderr, "denalid: bad --net prefix '%s' (e.g. 198.18.0.0/16)\n",
				cfg->net);
			rc = -EINVAL;
		} else if ((rc = netsw_create(65535, &f->sw)) != 0) {
			fprintf(stderr, "denalid: switch: %s\n", strerror(-rc));
		} else if (cfg->tap &&
			   (rc = tap_uplink_open(f->sw, cfg->tap, &f->up, err, sizeof(err))) != 0) {
			fprintf(stderr, "denalid: %s\n", err);
		}
		if (rc) {
			out->ctx = f;
			fleet_close(out);
			return rc;
		}
	}
	f->state_dir = strdup(cfg->state_dir ? cfg->state_dir : ".");
	f->log_max = cfg->console_log_max ? cfg->console_log_max : CONSOLE_LOG_MAX;
	pthread_cond_init(&f->logger_cond, NULL);
	if (f->state_dir && privs_thread_create(&f->logger, logger_main, f) == 0)
		f->logger_running = 1;
	fprintf(stderr,
		"denalid: %u workers; limits: %u live VMs, %u registered, %llu MiB of guest "
		"memory (%s)\n",
		f->nworkers, f->adm.max_live, f->adm.max_vms,
		(unsigned long long)(f->adm.mem_budget >> 20), f->adm.budget_from);
	*out = (struct ctl_backend){
	    .ctx = f,
	    .start = fleet_start,
	    .stop = fleet_stop,
	    .list = fleet_list,
	    .stats = fleet_stats,
	    .console_read = fleet_console,
	    .names = fleet_names,
	    .batch_open = fleet_batch_open,
	    .batch_close = fleet_batch_close,
	    .stop_begin = fleet_stop_begin,
	    .stop_try = fleet_stop_try,
	    .vm_stats = fleet_vm_stats,
	    .events = fleet_events,
	    .vm_ended = fleet_vm_ended,
	};
	return 0;
}

void fleet_close(struct ctl_backend *be)
{
	struct fleet *f = be->ctx;
	char err[128];

	if (!f)
		return;
	while (f->vms)
		fleet_stop(f, f->vms->task.vm->name, err, sizeof(err));
	if (f->logger_running) {
		pthread_mutex_lock(&f->lock);
		f->logger_quit = 1;
		pthread_cond_signal(&f->logger_cond);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->logger, NULL);
	}
	pthread_cond_destroy(&f->logger_cond);
	free(f->state_dir);
	for (unsigned i = 0; i < f->nworkers; i++)
		worker_stop(&f->workers[i]);
	tap_uplink_close(f->up);
	netsw_destroy(f->sw);
	shell_pool_drain();
	free(f->workers);
	free(f->last_busy);
	free(f->rates.utilisation);
	event_log_free(&f->ev);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->done_cond);
	free(f);
	be->ctx = NULL;
}

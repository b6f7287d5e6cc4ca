/*
 * The registry as JSON for `denalictl list` and `stats`: per-VM rows, fleet
 * totals that only go up, rates over fixed windows, device counters.
 */
#include "fleet_impl.h"
#include "fleet_swap.h"

#include "counters_json.h"

#include "ctl/log.h"
#include "devices/netsw.h"
#include "devices/tap.h"
#include "vmm/shell.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The switch and its uplink. */
static json_t *net_json(struct fleet *f)
{
	const struct netsw_stats *s = netsw_stats(f->sw);
	json_t *o = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "up_tx_frames",
	    (json_int_t)s->up_tx_frames, "up_tx_bytes", (json_int_t)s->up_tx_bytes, "up_rx_frames",
	    (json_int_t)s->up_rx_frames, "up_rx_bytes", (json_int_t)s->up_rx_bytes, "up_drop_down",
	    (json_int_t)s->up_drop_down, "up_drop_full", (json_int_t)s->up_drop_full,
	    "up_drop_spoof", (json_int_t)s->up_drop_spoof, "up_drop_unknown",
	    (json_int_t)s->up_drop_unknown, "arp_steered", (json_int_t)s->arp_steered);

	struct tap_uplink *up = __atomic_load_n(&f->up, __ATOMIC_ACQUIRE); /* fleet_net.c */

	if (up) {
		struct tap_stats t;

		tap_uplink_stats(up, &t);
		json_object_set_new(
		    o, "uplink",
		    json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tap",
			      tap_uplink_name(up), "up", t.up, "rx_frames", (json_int_t)t.rx_frames,
			      "tx_frames", (json_int_t)t.tx_frames, "tx_direct",
			      (json_int_t)t.tx_direct, "tx_submits", (json_int_t)t.tx_submits,
			      "tx_submit_errors", (json_int_t)t.tx_submit_errors, "tx_requeued",
			      (json_int_t)t.tx_requeued, "rx_errors", (json_int_t)t.rx_errors,
			      "down_events", (json_int_t)t.down_events, "reattaches",
			      (json_int_t)t.reattaches));
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

/* Guest pages backed by host memory: what the VM costs, from mincore(),
 * one call per VM. Only `list` calls it, never the fast path. */
static uint64_t resident_kib(struct vm *vm, unsigned char **vec, size_t *cap)
{
	size_t pages = vm->mem_size / 4096;
	/* A worker may swap it out meanwhile: then mincore() fails on the range. */
	uint8_t *mem = __atomic_load_n(&vm->mem, __ATOMIC_ACQUIRE);
	uint64_t n = 0;

	if (*cap < pages) {
		unsigned char *v = realloc(*vec, pages);

		if (!v)
			return 0;
		*vec = v;
		*cap = pages;
	}
	if (!mem || mincore(mem, vm->mem_size, *vec) < 0)
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

/* One VM's list entry. Under f->lock; vec and cap: mincore()'s buffer, reused. */
static json_t *list_entry(struct fleet *f, struct fleet_vm *v, int64_t now, unsigned char **vec,
			  size_t *cap)
{
	struct vm *vm = v->task.vm;
	enum vm_status st = __atomic_load_n(&vm->status, __ATOMIC_ACQUIRE);
	int64_t end = v->ended_ms ? v->ended_ms : now;
	json_t *o;
	int out;

	o = json_pack(
	    "{s:s, s:I, s:s, s:o, s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "name", vm->name, "id",
	    (json_int_t)vm->id, "state", vm_status_name(st), "reason",
	    st == VM_KILLED ? json_string(vm->reason) : json_null(), "exit_code",
	    st == VM_EXITED ? json_integer(vm->exit_code) : json_null(), "worker",
	    v->task.w ? v->task.w->id : -1, "cpu_ms", (json_int_t)(vm->ctr.cpu_ns / 1000000),
	    "exits", (json_int_t)vm->ctr.exits, "resident_kib", (json_int_t)0, "uptime_s",
	    (json_int_t)((end - v->started_ms) / 1000), "started_ms", (json_int_t)v->started_ms,
	    "ended_ms", v->ended_ms ? json_integer((json_int_t)v->ended_ms) : json_null());
	out = fleet_swap_vm_json(f, v, o);
	json_object_set_new(o, "resident_kib",
			    json_integer((json_int_t)(out ? 0 : resident_kib(vm, vec, cap))));
	json_object_set_new(o, "ipv4", v->ipv4[0] ? json_string(v->ipv4) : json_null());
	json_object_set_new(o, "devices", devices_json(vm));
	json_object_set_new(o, "exits_by_reason", exit_kinds_json(vm->ctr.exit_kinds));
	json_object_set_new(o, "wakeup_lateness", lateness_json(&vm->ctr.late, 0));
	return o;
}

json_t *fleet_json_list(void *ctx)
{
	struct fleet *f = ctx;
	json_t *arr = json_array();
	int64_t now = fleet_real_ms();
	unsigned char *vec = NULL;
	struct fleet_vm **sorted;
	size_t cap = 0, n = 0;

	pthread_mutex_lock(&f->lock);
	sorted = calloc(f->nvms ? f->nvms : 1, sizeof(*sorted));
	for (struct fleet_vm *v = f->vms; v && sorted; v = v->next)
		sorted[n++] = v;
	if (n)
		qsort(sorted, n, sizeof(*sorted), cmp_vm_name);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, list_entry(f, sorted[i], now, &vec, &cap));
	pthread_mutex_unlock(&f->lock);
	free(sorted);
	free(vec);
	return arr;
}

/* The list in steps: the names of the VMs registered when it began, sorted; each step looks
 * them up again (a VM stopped since is left out) and holds f->lock for its own entries only. */
struct list_cursor {
	char **names; /* into text */
	char *text;   /* the names, each with its NUL */
	size_t n, next;
	unsigned char *vec; /* mincore()'s buffer */
	size_t cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void *fleet_json_list_begin(void *ctx)
{
	struct fleet *f = ctx;
	struct list_cursor *c = calloc(1, sizeof(*c));
	size_t bytes = 0, off = 0;

	if (!c)
		return NULL;
	pthread_mutex_lock(&f->lock);
	for (struct fleet_vm *v = f->vms; v; v = v->next)
		bytes += strlen(v->task.vm->name) + 1;
	c->names = malloc((f->nvms ? f->nvms : 1) * sizeof(*c->names));
	c->text = malloc(bytes ? bytes : 1);
	for (struct fleet_vm *v = f->vms; v && c->names && c->text && c->n < f->nvms; v = v->next) {
		size_t len = strlen(v->task.vm->name) + 1;

		memcpy(c->text + off, v->task.vm->name, len);
		c->names[c->n++] = c->text + off;
		off += len;
	}
	pthread_mutex_unlock(&f->lock);
	if (!c->names || !c->text) {
		fleet_json_list_end(f, c);
		return NULL;
	}
	/* off the lock: nothing but the copy is sorted */
	qsort(c->names, c->n, sizeof(*c->names), cmp_str);
	return c;
}

int fleet_json_list_next(void *ctx, void *cursor, json_t *arr, size_t max)
{
	struct fleet *f = ctx;
	struct list_cursor *c = cursor;
	int64_t now = fleet_real_ms();

	pthread_mutex_lock(&f->lock);
	for (size_t k = 0; k < max && c->next < c->n; k++) {
		struct fleet_vm *v = fleet_find(f, c->names[c->next++]);

		if (v)
			json_array_append_new(arr, list_entry(f, v, now, &c->vec, &c->cap));
	}
	pthread_mutex_unlock(&f->lock);
	return c->next == c->n;
}

void fleet_json_list_end(void *ctx, void *cursor)
{
	struct list_cursor *c = cursor;

	(void)ctx;
	if (!c)
		return;
	free(c->names);
	free(c->text);
	free(c->vec);
	free(c);
}

void fleet_rates_tick(struct fleet *f)
{
	uint64_t now = vm_now_ns(), exits = 0, dt;

	if (f->rates.t0 && now - f->rates.t0 < RATE_WINDOW_NS)
		return;
	/* Every exit is counted by the worker that ran it: no walk of the VMs (100,000
	 * of them are a long walk, every window). */
	for (unsigned i = 0; i < f->nworkers; i++)
		exits += __atomic_load_n(&f->workers[i].stats.exits, __ATOMIC_RELAXED);
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

json_t *fleet_json_stats(void *ctx)
{
	struct fleet *f = ctx;
	uint64_t by[VM_KILLED + 1] = {0};
	struct fleet_totals t;
	struct lateness late = {0};
	json_t *states = json_object(), *workers = json_array(), *out;

	pthread_mutex_lock(&f->lock);
	t = f->gone;
	for (struct fleet_vm *v = f->vms; v; v = v->next) {
		struct vm *vm = v->task.vm;

		by[__atomic_load_n(&vm->status, __ATOMIC_ACQUIRE)]++;
		counters_add(&t.ctr, &vm->ctr);
		t.console_bytes += vm->console.written;
		t.console_dropped += vm->console.dropped;
		t.console_log_lost += __atomic_load_n(&vm->console.log.lost, __ATOMIC_RELAXED);
	}
	for (unsigned i = 0; i < f->nworkers; i++) {
		struct lateness wl = {0};

		lateness_merge(&wl, &f->workers[i].stats.late);
		lateness_merge(&late, &wl);
		json_array_append_new(
		    workers, json_pack("{s:i, s:f, s:I, s:I, s:I, s:I, s:o}", "id", (int)i,
				       "utilisation", f->rates.utilisation[i], "busy_ns",
				       (json_int_t)__atomic_load_n(&f->workers[i].stats.busy_ns,
								   __ATOMIC_RELAXED),
				       "runs", (json_int_t)f->workers[i].stats.runs, "preemptions",
				       (json_int_t)f->workers[i].stats.preemptions, "live",
				       (json_int_t)f->workers[i].stats.live, "wakeup_lateness",
				       lateness_json(&wl, 1)));
	}
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
	    json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "counters", counters_json(&t.ctr),
		      "console_bytes", (json_int_t)t.console_bytes, "console_dropped",
		      (json_int_t)t.console_dropped, "console_log_lost",
		      (json_int_t)t.console_log_lost, "vms_started", (json_int_t)t.started,
		      "vms_exited", (json_int_t)t.exited, "vms_killed", (json_int_t)t.killed,
		      "vms_removed", (json_int_t)t.removed),
	    "exits_total", json_integer((json_int_t)t.ctr.exits));
	json_object_set_new(out, "exits_by_reason", exit_kinds_json(t.ctr.exit_kinds));
	json_object_set_new(out, "wakeup_lateness", lateness_json(&late, 1));
	/* shells the reclaimer still has to destroy or reset: 0 once the daemon is at rest */
	json_object_set_new(out, "shells_reclaiming",
			    json_integer((json_int_t)shell_reclaimer_pending()));
	/* guest memory of VMs that ended, not yet given back: 0 once the daemon is at rest */
	json_object_set_new(out, "guest_mem_reaping",
			    json_integer((json_int_t)fleet_reaper_pending(&f->reap)));
	if (f->sw)
		json_object_set_new(out, "net", net_json(f));
	if (f->swapper)
		json_object_set_new(out, "swap", fleet_swap_stats_json(f));
	pthread_mutex_unlock(&f->lock);
	return out;
}

json_t *fleet_json_vm_stats(void *ctx, const char *name)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	json_t *out = NULL;

	pthread_mutex_lock(&f->lock);
	v = fleet_find(f, name);
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
		json_object_set_new(out, "console_log_bytes",
				    json_integer((json_int_t)__atomic_load_n(&vm->console.log.bytes,
									     __ATOMIC_RELAXED)));
		json_object_set_new(out, "console_log_lost",
				    json_integer((json_int_t)__atomic_load_n(&vm->console.log.lost,
									     __ATOMIC_RELAXED)));
	}
	pthread_mutex_unlock(&f->lock);
	return out;
}

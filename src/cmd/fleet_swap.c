/*
 * `denalid serve --swap`: the registry's VMs under the gatekeeper.
 *
 * Locks: f->lock is taken before the swapper's own lock, never after (the
 * worker's done callback releases the swapper's before it takes f->lock).
 * An operator command waits for the swap without f->lock; it pins the VM
 * (fleet_vm.pins) so that a stop cannot free the task under it.
 */
#include "fleet_swap.h"

#include "fleet_impl.h"

#include "console_log.h"

#include "ctl/log.h"
#include "ctl/privs.h"
#include "ctl/proto.h"
#include "sched/export.h"
#include "sched/swap_log.h"
#include "sched/swapper.h"
#include "vmm/shell.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_ROUNDS	   100 /* of swap-outs at SIGTERM, until none is left in memory */
#define SHUTDOWN_SETTLE_MS 10000u

/* One VM the swap log names: in its slot (swapped), or to boot afresh. */
struct fleet_restore {
	uint64_t id;
	int swapped;
	int used;
	struct swap_record rec;
};

static void on_replay(uint64_t vm_id, const struct swap_record *rec, void *arg)
{
	struct fleet *f = arg;
	struct fleet_restore *r = realloc(f->restore, (f->nrestore + 1) * sizeof(*r));

	if (!r)
		return; /* it boots afresh */
	f->restore = r;
	r[f->nrestore++] =
	    (struct fleet_restore){vm_id, rec != NULL, 0, rec ? *rec : (struct swap_record){0}};
}

static struct fleet_restore *restore_find(struct fleet *f, uint64_t id)
{
	size_t lo = 0, hi = f->nrestore;

	while (lo < hi) { /* replayed in id order */
		size_t mid = (lo + hi) / 2;

		if (f->restore[mid].id == id)
			return &f->restore[mid];
		if (f->restore[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The swap log of the previous daemon: which VMs are in their slots. Their slots are
 * reserved before any VM starts. */
static void restore_load(struct fleet *f, const char *path)
{
	char err[256] = "";
	long n = swap_log_replay(path, on_replay, f, err, sizeof(err));
	size_t kept = 0;

	if (n < 0) {
		log_err("swap log %s: %s: every VM boots afresh", path, err);
		free(f->restore);
		f->restore = NULL;
		f->nrestore = 0;
		return;
	}
	for (size_t i = 0; i < f->nrestore; i++) {
		struct fleet_restore *r = &f->restore[i];

		if (r->swapped && swapper_reserve(f->swapper, r->rec.slot) < 0) {
			log_err("swap log: vm id %lu: slot %lu is not usable: it boots afresh",
				(unsigned long)r->id, (unsigned long)r->rec.slot);
			r->swapped = 0;
		}
		kept += (size_t)r->swapped;
	}
	if (n > 0)
		log_info("swap log %s: %zu VM(s) in their swap slots, %zu to boot afresh", path,
			 kept, f->nrestore - kept);
}

#define SWAP_CMD_TIMEOUT_MS 10000u
/* Defaults: 256 slots of 4 MiB (1 GiB preallocated). A VM whose resident pages do not fit
 * its slot is not evicted (counted as an eviction failure): it stays resident. */
#define SWAP_SLOTS_DEFAULT 256u
#define SWAP_SLOT_DEFAULT  (4ull << 20)

static int on_idle(struct task *t, void *arg)
{
	return swapper_idle(arg, t);
}

int fleet_swap_open(struct fleet *f, const struct serve_config *cfg)
{
	const struct serve_swap_config *c = &cfg->swap;
	struct swapper_config sc = {.swap = {.dir = c->dir,
					     .nfiles = c->files ? c->files : 1,
					     .durable = 1,
					     .no_prefault = c->no_prefault,
					     .read_unit = c->unit},
				    .thread_create = privs_thread_create,
				    .commit_each = c->commit_each};
	char err[256] = "", log_path[4200];
	uint64_t slots;
	int rc;

	if (!c->dir)
		return 0;
	snprintf(log_path, sizeof(log_path), "%s/swap.log", c->dir);
	sc.log_path = log_path;
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		fprintf(stderr, "denalid: --swap %s: cannot create it: %s\n", c->dir,
			strerror(errno));
		return rc;
	}
	sc.swap.slot_size = c->slot ? c->slot : SWAP_SLOT_DEFAULT;
	sc.swap.size = c->size
			   ? c->size
			   : sc.swap.slot_size * (cfg->max_vms ? cfg->max_vms : SWAP_SLOTS_DEFAULT);
	sc.gk.mem_budget = c->mem_budget;
	/* A resident VM holds a shell and its descriptors: never more than the fd limit allows. */
	sc.gk.live_max = f->adm.max_live;
	if (c->live_max && c->live_max < sc.gk.live_max)
		sc.gk.live_max = c->live_max;
	/*
	 * The pool keeps the shell of every evicted VM for a VM admitted in its place. Past the
	 * cap each start evicts an idle VM, and evictions come ahead of the first runs (up to
	 * 64 at once, a whole `start --count` soon after): a pool of SHELL_POOL_MAX overflowed,
	 * the reclaimer destroyed the extra shells (the munmap of each kvm_run walks the MMU
	 * notifier of every live VM) and the filler made new ones (KVM_CREATE_VM walks every
	 * mapping of the process): ~600-1,000 of each per 1,000 starts at 9,000 live. A shell is
	 * made only when pool and filler are empty, so all of them are bound then: shells stay
	 * within live_max (plus the filler's), pooled or not. fleet_trim() gives the ones nobody
	 * waits for back.
	 */
	shell_pool_set_max(sc.gk.live_max > SHELL_POOL_MAX ? sc.gk.live_max : SHELL_POOL_MAX);
	sc.boot_charge = c->boot_charge;
	rc = swapper_open(&sc, &f->swapper, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "denalid: --swap %s: %s\n", c->dir, err[0] ? err : strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < f->nworkers; i++) {
		swapper_attach(f->swapper, &f->workers[i]);
		worker_set_idle_hook(&f->workers[i], on_idle, f->swapper);
	}
	restore_load(f, log_path);
	slots = sc.swap.size / sc.swap.slot_size;
	f->swap_slot_bytes = sc.swap.slot_size;
	f->swap_files = sc.swap.nfiles;
	admission_set_swap(&f->adm, cfg->max_vms && cfg->max_vms < slots ? cfg->max_vms
				    : slots > UINT_MAX			 ? UINT_MAX
									 : (unsigned)slots);
	fprintf(stderr,
		"denalid: swap in %s: %llu slots of %llu KiB in %u file(s); budget %llu MiB, at "
		"most %u VMs in memory\n",
		c->dir, (unsigned long long)slots, (unsigned long long)(sc.swap.slot_size >> 10),
		sc.swap.nfiles, (unsigned long long)(c->mem_budget >> 20), sc.gk.live_max);
	return 0;
}

void fleet_swap_close(struct fleet *f)
{
	swapper_close(f->swapper);
	f->swapper = NULL;
	free(f->restore);
	f->restore = NULL;
	f->nrestore = 0;
}

int fleet_swap_in_slot(struct fleet *f, uint64_t id)
{
	struct fleet_restore *r = f->swapper ? restore_find(f, id) : NULL;

	return r && !r->used && r->swapped;
}

int fleet_swap_add(struct fleet *f, struct fleet_vm *v, char *err, size_t errlen)
{
	struct vm *vm = v->task.vm;
	struct fleet_restore *r;

	if (!f->swapper)
		return worker_send(v->task.w, WCMD_ADD, &v->task);
	r = restore_find(f, vm->id);
	if (r && !r->used) {
		char why[256] = "";

		r->used = 1;
		if (r->swapped) {
			if (swapper_adopt(f->swapper, &v->task, v->task.w, &r->rec, why,
					  sizeof(why)) == 0) {
				log_info("vm %s (id %lu): resumed from its swap slot %lu", vm->name,
					 (unsigned long)vm->id, (unsigned long)r->rec.slot);
				return 0;
			}
			if (!vm->mem) {
				snprintf(err, errlen, "resuming from its swap slot: %s", why);
				return -ENOMEM;
			}
			log_warn("vm %s (id %lu): its swap slot %lu cannot be used (%s): it boots "
				 "afresh",
				 vm->name, (unsigned long)vm->id, (unsigned long)r->rec.slot, why);
		} else {
			log_info("vm %s (id %lu): was in memory when the previous daemon ended: it "
				 "boots afresh",
				 vm->name, (unsigned long)vm->id);
		}
	}
	return swapper_start(f->swapper, &v->task, v->task.w, err, errlen);
}

/* 1 if v is in its slot now (or waiting to come in: its slot is what the next start reads).
 * f->lock held. */
static int in_slot(struct fleet *f, struct fleet_vm *v, const char **residency)
{
	struct swapper_vm_info in;

	swapper_vm_info(f->swapper, &v->task, &in);
	*residency = in.residency;
	return !strcmp(in.residency, "swapped") || !strcmp(in.residency, "waiting");
}

int fleet_swap_suspend(void *ctx)
{
	struct fleet *f = ctx;
	unsigned out = 0, left = 0, n = 0;
	const char *res;

	if (!f->swapper)
		return -ENOTSUP;
	swapper_shutdown_begin(f->swapper);
	/* Until none is left in memory: a swap-out begun here is refused on the worker when the
	 * VM is running by then (its deadline came), and that is only seen once it settled. */
	for (int round = 0; round < SHUTDOWN_ROUNDS; round++) {
		unsigned live = 0;

		pthread_mutex_lock(&f->lock);
		for (struct fleet_vm *v = f->vms; v; v = v->next) {
			if (v->done || in_slot(f, v, &res))
				continue;
			live++;
			swapper_swap_out_begin(f->swapper, &v->task);
		}
		pthread_mutex_unlock(&f->lock);
		if (!live)
			break;
		swapper_settle(f->swapper, SHUTDOWN_SETTLE_MS);
		if (round)
			nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	swapper_settle(f->swapper, SHUTDOWN_SETTLE_MS); /* every record durable */
	pthread_mutex_lock(&f->lock);
	for (struct fleet_vm *v = f->vms; v; v = v->next) {
		if (v->done)
			continue;
		n++;
		if (in_slot(f, v, &res))
			out++;
		else if (left++ < 20)
			log_warn("vm %s: still %s at shutdown: it boots afresh at the next start",
				 v->task.vm->name, res);
	}
	pthread_mutex_unlock(&f->lock);
	log_info("shutdown: %u of %u VM(s) kept in their swap slots for the next start, %u boot "
		 "afresh",
		 out, n, left);
	return 0;
}

void fleet_swap_done(struct fleet *f, struct task *t)
{
	if (f->swapper)
		swapper_done(f->swapper, t);
}

int fleet_swap_vm_json(struct fleet *f, struct fleet_vm *v, json_t *row)
{
	struct swapper_vm_info in;

	if (!f->swapper)
		return 0;
	swapper_vm_info(f->swapper, &v->task, &in);
	json_object_set_new(row, "residency", v->done ? json_null() : json_string(in.residency));
	json_object_set_new(row, "swap_ins", json_integer((json_int_t)in.swap_ins));
	json_object_set_new(row, "swap_outs", json_integer((json_int_t)in.swap_outs));
	json_object_set_new(row, "swap_slot",
			    in.slot == SWAP_NO_SLOT ? json_null()
						    : json_integer((json_int_t)in.slot));
	return in.swapped;
}

json_t *fleet_swap_stats_json(struct fleet *f)
{
	struct swapper_stats st;
	json_t *o;

	if (!f->swapper)
		return NULL;
	swapper_get_stats(f->swapper, &st);
	o = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "vms_resident", (json_int_t)st.live, "vms_swapped", (json_int_t)st.swapped,
	    "vms_waiting", (json_int_t)st.waiting, "swap_ins", (json_int_t)st.gk.swap_ins,
	    "swap_ins_deadline", (json_int_t)st.gk.swap_ins_deadline, "swap_outs",
	    (json_int_t)st.gk.evictions, "resident_bytes", (json_int_t)st.resident,
	    "peak_resident_bytes", (json_int_t)st.peak_resident, "mem_budget",
	    (json_int_t)st.mem_budget, "live_max", (json_int_t)st.live_max, "swap_in_p50_us",
	    (json_int_t)(st.swap_in_p50 / 1000), "swap_in_p99_us",
	    (json_int_t)(st.swap_in_p99 / 1000), "frames_queued", (json_int_t)st.frames_queued,
	    "frames_dropped", (json_int_t)st.frames_dropped, "swap_out_p50_us",
	    (json_int_t)(st.swap_out_p50 / 1000), "swap_out_p99_us",
	    (json_int_t)(st.swap_out_p99 / 1000), "eviction_failures",
	    (json_int_t)st.gk.eviction_failures, "swap_in_failures",
	    (json_int_t)st.gk.swap_in_failures, "checksum_failures",
	    (json_int_t)st.swap.checksum_failures, "overruns", (json_int_t)st.overruns,
	    "overrun_evictions", (json_int_t)st.overrun_evictions, "slots_total",
	    (json_int_t)st.swap.slots_total, "slots_used", (json_int_t)st.swap.slots_used,
	    "slot_bytes", (json_int_t)f->swap_slot_bytes, "swap_files", (json_int_t)f->swap_files,
	    "commit_batches", (json_int_t)st.commit.batches, "commit_records",
	    (json_int_t)st.commit.records, "commit_largest_batch",
	    (json_int_t)st.commit.largest_batch, "commit_cancelled",
	    (json_int_t)st.commit.cancelled, "commit_dropped", (json_int_t)st.commit.dropped,
	    "swap_log_errors", (json_int_t)st.log_errors);

	if (o) {
		json_object_set_new(o, "io_lock_waits",
				    json_integer((json_int_t)st.swap.lock_waits));
		json_object_set_new(o, "io_lock_wait_us",
				    json_integer((json_int_t)(st.swap.lock_wait_ns / 1000)));
		json_object_set_new(o, "io_lock_held_us",
				    json_integer((json_int_t)(st.swap.lock_held_ns / 1000)));
		json_object_set_new(o, "pumps", json_integer((json_int_t)st.pumps));
		json_object_set_new(o, "pump_actions", json_integer((json_int_t)st.pump_actions));
		json_object_set_new(o, "deadline_rounds",
				    json_integer((json_int_t)st.deadline_rounds));
	}
	return o;
}

int fleet_swap_cmd(void *ctx, const char *name, int in, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	int rc;

	pthread_mutex_lock(&f->lock);
	v = fleet_find(f, name);
	if (!v) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "no VM named %s", name);
		return -ENOENT;
	}
	if (!f->swapper) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen,
			 "this daemon has no swap: start denalid serve with --swap DIR");
		return -EINVAL;
	}
	if (v->done || v->stopping) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "vm %s has ended", name);
		return -ESRCH;
	}
	v->pins++;
	pthread_mutex_unlock(&f->lock);
	rc = in ? swapper_swap_in(f->swapper, &v->task, SWAP_CMD_TIMEOUT_MS, err, errlen)
		: swapper_swap_out(f->swapper, &v->task, SWAP_CMD_TIMEOUT_MS, err, errlen);
	if (rc == -EALREADY)
		rc = 0; /* out (in) already: what was asked for holds */
	pthread_mutex_lock(&f->lock);
	v->pins--;
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int fleet_swap_in_begin(void *ctx, const char *name)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	int rc;

	pthread_mutex_lock(&f->lock); /* held: a stop cannot free the task meanwhile */
	v = fleet_find(f, name);
	rc = !v ? -ENOENT : !f->swapper ? -EINVAL : v->done || v->stopping ? -ESRCH : 0;
	if (!rc)
		rc = swapper_swap_in_begin(f->swapper, &v->task);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* STATE/exports/FILE (made on first use). */
static int export_path(struct fleet *f, const char *file, char *path, size_t len)
{
	snprintf(path, len, "%s/exports", f->state_dir ? f->state_dir : ".");
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, len, "%s/exports/%s", f->state_dir ? f->state_dir : ".", file);
	return 0;
}

int fleet_swap_export(void *ctx, const char *name, const char *file, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_vm *v;
	char path[4200];
	int rc;

	if (!f->swapper) {
		snprintf(err, errlen, "export needs swap: start denalid serve with --swap DIR");
		return -EINVAL;
	}
	rc = export_path(f, file, path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "%s/exports: %s", f->state_dir, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	v = fleet_find(f, name);
	if (!v || v->done || v->stopping) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, v ? "vm %s has ended" : "no VM named %s", name);
		return v ? -ESRCH : -ENOENT;
	}
	v->pins++;
	pthread_mutex_unlock(&f->lock);
	/* Out first (a no-op if it is); an event may bring it back before its slot is read:
	 * then once more. */
	for (int tries = 0; tries < 3; tries++) {
		rc = swapper_swap_out(f->swapper, &v->task, SWAP_CMD_TIMEOUT_MS, err, errlen);
		if (rc && rc != -EALREADY)
			break;
		rc = swapper_export(f->swapper, &v->task, path, err, errlen);
		if (rc != -EAGAIN && rc != -EBADMSG)
			break;
	}
	pthread_mutex_lock(&f->lock);
	v->pins--;
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
	if (!rc)
		log_info("vm %s: exported to %s", name, path);
	return rc;
}

int fleet_swap_import(void *ctx, const char *file, const char *name, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct fleet_vm *v = fleet_vm_alloc();
	struct vm *vm = NULL;
	char path[4200];
	int rc;

	if (!v)
		return -ENOMEM;
	rc = export_path(f, file, path, sizeof(path));
	if (rc) {
		snprintf(err, errlen, "%s/exports: %s", f->state_dir, strerror(-rc));
		fleet_vm_free(v);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	/* A new id on this daemon (its MAC and address follow from it). */
	rc = vm_import(path, ++f->next_id, &vm, err, errlen);
	if (!rc && name[0])
		snprintf(vm->name, sizeof(vm->name), "%s", name);
	if (!rc && (!ctl_name_valid(vm->name) || fleet_find(f, vm->name))) {
		snprintf(err, errlen, "import: a VM named %s exists already (or the name is bad)",
			 vm->name);
		rc = -EEXIST;
	}
	if (!rc)
		rc = admission_take(&f->adm, 1, vm->mem_size, err, errlen);
	if (rc) {
		pthread_mutex_unlock(&f->lock);
		if (vm)
			vm_destroy(vm);
		fleet_vm_free(v);
		return rc;
	}
	v->task.vm = vm;
	sched_entity_init(&v->task.se, &v->task);
	v->task.w = &f->workers[f->next_worker++ % f->nworkers];
	if (f->state_dir) {
		console_log_begin(f->state_dir, vm->name);
		v->fleet = f;
		console_log_enable(&vm->console, f->log_max, fleet_log_notify, v);
	}
	rc = fleet_swap_add(f, v, err, errlen);
	if (rc) {
		admission_vm_ended(&f->adm, vm->mem_size);
		admission_vm_removed(&f->adm);
		pthread_mutex_unlock(&f->lock);
		vm_destroy(vm);
		fleet_vm_free(v);
		return rc;
	}
	fleet_link(f, v);
	f->nvms++;
	v->started_ms = fleet_real_ms();
	f->gone.started++;
	event_log_add(&f->ev, "start", vm->name, vm->id, 0, "imported");
	pthread_mutex_unlock(&f->lock);
	log_info("vm %s (id %lu): imported from %s", vm->name, (unsigned long)vm->id, path);
	return 0;
}

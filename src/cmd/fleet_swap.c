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

#include "ctl/privs.h"
#include "sched/swapper.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
				    .thread_create = privs_thread_create};
	char err[256] = "";
	uint64_t slots;
	int rc;

	if (!c->dir)
		return 0;
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
}

int fleet_swap_add(struct fleet *f, struct fleet_vm *v, char *err, size_t errlen)
{
	if (!f->swapper)
		return worker_send(v->task.w, WCMD_ADD, &v->task);
	return swapper_start(f->swapper, &v->task, v->task.w, err, errlen);
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

	if (!f->swapper)
		return NULL;
	swapper_get_stats(f->swapper, &st);
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "vms_resident", (json_int_t)st.live, "vms_swapped", (json_int_t)st.swapped,
	    "vms_waiting", (json_int_t)st.waiting, "swap_ins", (json_int_t)st.gk.swap_ins,
	    "swap_outs", (json_int_t)st.gk.evictions, "resident_bytes", (json_int_t)st.resident,
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
	    "slot_bytes", (json_int_t)f->swap_slot_bytes, "swap_files", (json_int_t)f->swap_files);
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

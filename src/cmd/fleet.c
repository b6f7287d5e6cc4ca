/*
 * VM registry for `denalid serve`. The control thread calls these; the fast
 * path is reached only through worker_send(), and counters are read from the
 * VMs as the workers publish them (plain loads of monotonic counters).
 *
 * Admission (what a VM may take: registrations, shells, memory) is the
 * business of admission.c; this file only calls it under its lock.
 */
#include "fleet.h"
#include "fleet_impl.h"

#include "counters_json.h"

#include "admission.h"
#include "console_log.h"
#include "vmdev.h"

#include "ctl/log.h"
#include "ctl/server.h"
#include "devices/blk.h"
#include "devices/netsw.h"
#include "devices/tap.h"
#include "events.h"
#include "fleet_net.h"
#include "fleet_reap.h"
#include "fleet_swap.h"
#include "image.h"
#include "privs.h"
#include "sched/worker.h"
#include "vmm/guest_mem.h"
#include "vmm/shell.h"
#include "vmm/slab.h"
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
		return vmdev_add_disk(vm, spec->disk,
				      (spec->disk_ro ? BLK_F_RO : 0) |
					  (spec->disk_direct ? BLK_F_DIRECT : 0),
				      &spec->owner, err, errlen);
	return 0;
}

/* Registry entries stay as long as their VM: packed apart from the heap (vmm/slab.h). */
static struct slab fleet_vm_slab = SLAB_INIT(sizeof(struct fleet_vm));

struct fleet_vm *fleet_vm_alloc(void)
{
	return slab_zalloc(&fleet_vm_slab);
}

void fleet_vm_free(struct fleet_vm *v)
{
	slab_free(&fleet_vm_slab, v);
}

int64_t fleet_real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A VM leaves the registry: what it did stays in the totals. */
static void fold(struct fleet_totals *t, const struct vm *vm)
{
	counters_add(&t->ctr, &vm->ctr);
	t->console_bytes += vm->console.written;
	t->console_dropped += vm->console.dropped;
	t->console_log_lost += vm->console.log.lost;
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

	fleet_swap_done(f, t); /* first: nothing may choose it for a swap after this */
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
	if (f->state_dir && console_log_pending(vm))
		fleet_log_queue(f, v); /* and the rest of its console */
	mem = vm->mem;
	vm->mem = NULL;
	vm->vregs = NULL;
	vm->shared = NULL;
	admission_vm_ended(&f->adm, vm->mem_size);
	pthread_cond_broadcast(&f->done_cond);
	pthread_mutex_unlock(&f->lock);
	fleet_reaper_put(&f->reap, mem, vm->mem_size); /* freed off this worker */
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
/* Every open batch holds its image (up to IMAGE_MAX_SIZE) until its job ends, and jobs run
 * side by side: without a bound, a thousand clients each starting one VM from a 64 MiB image
 * would make the daemon hold 64 GiB. Past this much, a start is refused until others end. */
#define FLEET_IMAGE_BYTES_MAX (256ull << 20)

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
	rc = image_read(spec->image, &spec->owner, &b->elf, &b->size, err, errlen);
	if (rc) {
		free(b);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	if (f->image_bytes + b->size > FLEET_IMAGE_BYTES_MAX) {
		snprintf(err, errlen,
			 "busy: start requests in progress hold %llu MiB of images, and this one "
			 "(%zu KiB) would pass the %llu MiB bound; retry once they finish",
			 (unsigned long long)(f->image_bytes >> 20), b->size >> 10,
			 FLEET_IMAGE_BYTES_MAX >> 20);
		rc = -EBUSY;
	} else {
		f->adm.reclaiming = shell_reclaimer_pending();
		rc = admission_take(&f->adm, count, b->mem_size, err, errlen);
	}
	if (!rc)
		f->image_bytes += b->size;
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
	f->image_bytes -= b->size;
	pthread_mutex_unlock(&f->lock);
	free(b->elf);
	free(b);
}

/* v (its VM made and handed to its worker) joins the registry. f->lock held. */
static void registered(struct fleet *f, struct fleet_vm *v)
{
	fleet_link(f, v);
	f->nvms++;
	v->started_ms = fleet_real_ms();
	f->gone.started++;
	event_log_add(&f->ev, "start", v->task.vm->name, v->task.vm->id, 0, NULL);
}

/*
 * A restart: a VM the previous daemon left in its swap slot is made there, without its image
 * (not read), guest memory or vCPU state (vm_create_swapped) and adopted as swapped; its
 * console log goes on (the same life). -EAGAIN: it is not in a slot, or its slot cannot be
 * used (logged): the caller boots it afresh.
 */
static int start_in_slot(struct fleet *f, const struct vm_spec *spec, char *err, size_t errlen)
{
	struct vm_config cfg = {
	    .name = spec->name, .image = spec->image, .mem_size = spec_mem(spec), .id = spec->id};
	struct fleet_vm *v;
	char why[256] = "";
	int rc;

	pthread_mutex_lock(&f->lock);
	if (!fleet_swap_in_slot(f, spec->id)) {
		pthread_mutex_unlock(&f->lock);
		return -EAGAIN;
	}
	if (fleet_find(f, spec->name)) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "a VM named %s exists already", spec->name);
		return -EEXIST;
	}
	v = fleet_vm_alloc();
	rc = v ? admission_take(&f->adm, 1, cfg.mem_size, err, errlen) : -ENOMEM;
	if (rc) {
		pthread_mutex_unlock(&f->lock);
		fleet_vm_free(v);
		return rc;
	}
	rc = vm_create_swapped(&cfg, &v->task.vm, err, errlen);
	if (!rc && (rc = add_devices(f, v->task.vm, spec, err, errlen)) != 0) {
		vm_destroy(v->task.vm);
		v->task.vm = NULL;
	}
	if (!rc) {
		struct device *net = vm_device(v->task.vm, "net");
		uint32_t a = net && f->sw ? net_prefix_host(&f->pfx, spec->id) : 0;

		if (a) {
			a = htonl(a);
			inet_ntop(AF_INET, &a, v->ipv4, sizeof(v->ipv4));
		}
		v->fleet = f; /* the notify hook's way back to its registry */
		if (f->state_dir)
			console_log_enable(&v->task.vm->console, f->log_max, fleet_log_notify, v);
		sched_entity_init(&v->task.se, &v->task);
		v->task.w = &f->workers[f->next_worker++ % f->nworkers];
		rc = fleet_swap_add(f, v, why, sizeof(why));
		if (rc) {
			log_warn("vm %s (id %lu): %s: it boots afresh", spec->name,
				 (unsigned long)spec->id, why);
			vm_destroy(v->task.vm);
			v->task.vm = NULL;
			rc = -EAGAIN;
		}
	}
	if (!rc) {
		registered(f, v);
		v = NULL;
	} else {
		admission_vm_ended(&f->adm, cfg.mem_size);
		admission_vm_removed(&f->adm);
	}
	pthread_mutex_unlock(&f->lock);
	fleet_vm_free(v);
	return rc;
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

	if (f->swapper && spec->id) {
		rc = start_in_slot(f, spec, err, errlen);
		if (rc != -EAGAIN)
			return rc;
		err[0] = '\0';
	}
	if (b && (b->mem_size != mem_size || !b->reserved))
		b = NULL; /* not what the batch was opened for: on its own */
	if (b) {
		size = b->size;
	} else {
		rc = image_read(spec->image, &spec->owner, &elf, &size, err, errlen);
		if (rc)
			return rc;
	}
	argv = calloc((size_t)spec->argc + 2, sizeof(*argv));
	v = fleet_vm_alloc();
	if (!argv || !v) {
		free(argv);
		fleet_vm_free(v);
		free(elf);
		return -ENOMEM;
	}
	argv[0] = strrchr(spec->image, '/') ? strrchr(spec->image, '/') + 1 : (char *)spec->image;
	for (int i = 0; i < spec->argc; i++)
		argv[i + 1] = spec->argv[i];
	pthread_mutex_lock(&f->lock);
	if (fleet_find(f, spec->name)) {
		snprintf(err, errlen, "a VM named %s exists already", spec->name);
		rc = -EEXIST;
	} else if (b) {
		b->reserved--; /* the room was taken for the whole request */
		rc = 0;
	} else {
		f->adm.reclaiming = shell_reclaimer_pending();
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
		if (!rc && f->state_dir) {
			console_log_begin(f->state_dir, spec->name); /* a new log per VM life */
			v->fleet = f;
			console_log_enable(&v->task.vm->console, f->log_max, fleet_log_notify, v);
		}
		if (!rc) {
			sched_entity_init(&v->task.se, &v->task);
			/* Known before the worker sees it, so a stop can follow at once. */
			v->task.w = &f->workers[f->next_worker++ % f->nworkers];
			rc = fleet_swap_add(f, v, err, errlen);
			if (rc) {
				vm_destroy(v->task.vm);
				v->task.vm = NULL;
			}
		}
		if (!rc) {
			registered(f, v);
			v = NULL;
		} else {
			admission_vm_ended(&f->adm, mem_size);
			admission_vm_removed(&f->adm);
		}
	}
	pthread_mutex_unlock(&f->lock);
	fleet_vm_free(v);
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
	v = fleet_find(f, name);
	if (v && !v->done && !v->stopping) {
		v->stopping = 1;
		worker_send(v->task.w, WCMD_STOP, &v->task);
	}
	pthread_mutex_unlock(&f->lock);
}

static int stop_vm(struct fleet *f, const char *name, bool wait, char *err, size_t errlen)
{
	struct fleet_vm *v;

	pthread_mutex_lock(&f->lock);
	v = fleet_find(f, name);
	if (!v) {
		pthread_mutex_unlock(&f->lock);
		snprintf(err, errlen, "no VM named %s", name);
		return -ENOENT;
	}
	if (!v->done && !v->stopping) {
		v->stopping = 1;
		worker_send(v->task.w, WCMD_STOP, &v->task);
	}
	if ((!v->done || v->pins || __atomic_load_n(&v->task.cmds, __ATOMIC_ACQUIRE) ||
	     __atomic_load_n(&v->log_queued, __ATOMIC_ACQUIRE)) &&
	    !wait) {
		pthread_mutex_unlock(&f->lock);
		return -EINPROGRESS;
	}
	/* Done is not enough: a stop sent as the VM exited by itself is still
	 * in the worker's inbox, and the worker reads the task to drop it. */
	while (!v->done || v->pins || __atomic_load_n(&v->task.cmds, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&v->log_queued, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&f->done_cond, &f->lock);
	fleet_unlink(f, v);
	f->nvms--;
	admission_vm_removed(&f->adm);
	fold(&f->gone, v->task.vm);
	event_log_add(&f->ev, "stop", v->task.vm->name, v->task.vm->id, 0,
		      "removed by the operator");
	pthread_mutex_unlock(&f->lock);
	/* Out of the registry and ended: ours alone, written without the lock. */
	if (f->state_dir) {
		uint64_t lost = v->task.vm->console.log.lost;

		console_log_flush(f->state_dir, v->task.vm, f->log_max);
		pthread_mutex_lock(&f->lock); /* what the last flush lost, into the totals */
		f->gone.console_log_lost += v->task.vm->console.log.lost - lost;
		pthread_mutex_unlock(&f->lock);
	}
	vm_destroy(v->task.vm);
	fleet_vm_free(v);
	return 0;
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
	v = fleet_find(f, name);
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
	v = fleet_find(f, name);
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
	vm_set_events_unbatched(cfg->events_unbatched);
	worker_set_blk_poll(!cfg->no_blk_poll);
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
	/* Shells are reset or destroyed off the workers (shell_pool.c), and the memory of the
	 * VMs that end is freed off them too (fleet_reap.c). */
	rc = shell_reclaimer_start(worker_helper_confine);
	/* New shells are made ahead of time off the workers too (shell_pool.c): a start then
	 * finds its KVM VM made. Their 2 fds each come out of ADMISSION_FDS_RESERVED, like the
	 * pooled shells'. */
	if (rc == 0)
		rc = shell_filler_start(SHELL_FILL_DEFAULT, worker_helper_confine);
	if (rc == 0)
		rc = fleet_reaper_start(&f->reap);
	if (rc) {
		out->ctx = f;
		fleet_close(out);
		return rc;
	}
	if (cfg->net) {
		char err[256] = "";

		if (net_prefix_parse(cfg->net, &f->pfx)) {
			fprintf(stderr, "denalid: bad --net prefix '%s' (e.g. 198.18.0.0/16)\n",
				cfg->net);
			rc = -EINVAL;
		} else if ((rc = netsw_create(65535, &f->sw)) != 0) {
			fprintf(stderr, "denalid: switch: %s\n", strerror(-rc));
		} else if (cfg->tap && (rc = tap_uplink_open(f->sw, cfg->tap, 1, &f->up, err,
							     sizeof(err))) != 0) {
			fprintf(stderr, "denalid: %s\n", err);
		}
		if (rc) {
			out->ctx = f;
			fleet_close(out);
			return rc;
		}
	}
	rc = fleet_swap_open(f, cfg);
	if (rc) {
		out->ctx = f;
		fleet_close(out);
		return rc;
	}
	f->state_dir = strdup(cfg->state_dir ? cfg->state_dir : ".");
	f->log_max = cfg->console_log_max ? cfg->console_log_max : CONSOLE_LOG_MAX;
	pthread_cond_init(&f->logger_cond, NULL);
	if (f->state_dir && privs_thread_create(&f->logger, fleet_logger_main, f) == 0)
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
	    .list = fleet_json_list,
	    .list_begin = fleet_json_list_begin,
	    .list_next = fleet_json_list_next,
	    .list_end = fleet_json_list_end,
	    .stats = fleet_json_stats,
	    .console_read = fleet_console,
	    .names = fleet_names,
	    .batch_open = fleet_batch_open,
	    .batch_close = fleet_batch_close,
	    .stop_begin = fleet_stop_begin,
	    .stop_try = fleet_stop_try,
	    .vm_stats = fleet_json_vm_stats,
	    .events = fleet_events,
	    .vm_ended = fleet_vm_ended,
	    .metrics_vms = fleet_json_metrics_vms,
	    .swap = fleet_swap_cmd,
	    .swap_in_begin = fleet_swap_in_begin,
	    .suspend = fleet_swap_suspend,
	    .export_vm = fleet_swap_export,
	    .import_vm = fleet_swap_import,
	    .net_attach = f->sw ? fleet_net_attach : NULL,
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
	fleet_reaper_stop(&f->reap); /* no worker hands it memory any more */
	fleet_swap_close(f);
	tap_uplink_close(f->up);
	netsw_destroy(f->sw);
	shell_filler_stop();
	shell_reclaimer_stop();
	shell_pool_drain();
	free(f->workers);
	free(f->last_busy);
	free(f->rates.utilisation);
	event_log_free(&f->ev);
	fleet_index_free(f);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->done_cond);
	free(f);
	be->ctx = NULL;
}

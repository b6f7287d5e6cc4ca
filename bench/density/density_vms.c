/* bench/density: the VMs handed to workers, their callbacks and the probes (density.h). */
#include "density.h"

/* ---- VMs handed to workers ---------------------------------------------- */

struct tracker pop = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
struct tracker spin = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
struct wake_lateness late;

void on_done(struct task *t, void *arg)
{
	struct tracker *tr = arg;
	struct dvm *v = (struct dvm *)t;

	pthread_mutex_lock(&tr->lock);
	v->done = 1;
	if (t->vm->status == VM_KILLED && !v->stopping) {
		if (!tr->killed++)
			snprintf(tr->reason, sizeof(tr->reason), "vm %.40s: %.200s", t->vm->name,
				 t->vm->reason);
	}
	tr->done++;
	pthread_cond_broadcast(&tr->cond);
	pthread_mutex_unlock(&tr->lock);
}

/* Runs on the worker thread each time a sleeper idles: its first idle means
 * it has started; later ones end a wake-up. */
int on_idle(struct task *t, void *arg)
{
	struct dvm *v = (struct dvm *)t;
	uint64_t now = vm_now_ns(), posted;

	(void)arg;
	if (!v->started) {
		v->started = 1;
		pthread_mutex_lock(&pop.lock);
		pop.started++;
		pop.last_start_ns = now;
		pthread_cond_broadcast(&pop.cond);
		pthread_mutex_unlock(&pop.lock);
		return 0;
	}
	posted = __atomic_exchange_n(&v->wake_ns, 0, __ATOMIC_ACQ_REL);
	if (posted) {
		unsigned i = __atomic_fetch_add(&late.n, 1, __ATOMIC_RELAXED);

		if (i < late.cap)
			late.us[i] = (double)(now - posted) / 1000.0;
	}
	return 0;
}

struct dvm *dvm_create(const struct bench_image *img, unsigned id, int spinner, char *err,
		       size_t errlen)
{
	char name[32];
	struct vm_config cfg = {
	    .name = name,
	    .image = "bench-density",
	    .elf = img->elf,
	    .elf_size = img->size,
	    .mem_size = MEM_SIZE,
	    .id = id,
	};
	struct dvm *v = calloc(1, sizeof(*v));

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(name, sizeof(name), "%s-%u", spinner ? "spin" : "sleep", id);
	if (vm_create(&cfg, &v->task.vm, err, errlen)) {
		free(v);
		return NULL;
	}
	v->task.vm->state->regs.rsi = (uint64_t)spinner; /* loaded at its first bind */
	sched_entity_init(&v->task.se, &v->task);
	return v;
}

void dvm_destroy(struct dvm *v)
{
	vm_destroy(v->task.vm);
	free(v);
}

void spin_read(const uint8_t *mem, uint64_t mem_size, uint64_t *acc)
{
	const volatile uint64_t *c = (const volatile uint64_t *)(mem + mem_size - 32);

	for (int i = 0; i < SPIN_N; i++)
		acc[i] += c[i];
}

#define PROBES 7

void probe_costs(const struct bench_image *img, unsigned vms, struct probe *p)
{
	double vc[PROBES], sc[PROBES], sd[PROBES];
	char err[256];

	p->vms = vms;
	for (int i = 0; i < PROBES; i++) {
		struct shell *sh;
		struct dvm *v;
		uint64_t t0 = vm_now_ns();

		v = dvm_create(img, 800000 + (unsigned)i, 0, err, sizeof(err));
		if (!v)
			bench_fail("vm_create (probe): %s", err);
		vc[i] = (double)(vm_now_ns() - t0) / 1000.0;
		dvm_destroy(v);
		t0 = vm_now_ns();
		if (shell_create(&sh)) {
			sc[i] = sd[i] = -1;
			continue;
		}
		sc[i] = (double)(vm_now_ns() - t0) / 1000.0;
		t0 = vm_now_ns();
		shell_destroy(sh);
		sd[i] = (double)(vm_now_ns() - t0) / 1000.0;
	}
	p->vm_create_us = bench_pct(vc, PROBES, 50);
	p->shell_create_us = bench_pct(sc, PROBES, 50);
	p->shell_destroy_us = bench_pct(sd, PROBES, 50);
	p->munmap_us = munmap_probe();
	printf("probe with %5u VMs live: vm_create %.1f us, shell_create %.1f us, shell_destroy "
	       "%.1f us, munmap of one page %.1f us\n",
	       vms, p->vm_create_us, p->shell_create_us, p->shell_destroy_us, p->munmap_us);
}

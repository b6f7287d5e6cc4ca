/*
 * Swapper: the gatekeeper's decisions carried out on the workers.
 *
 * Locking: s->lock guards the gatekeeper and every swap_vm's state. It is
 * never held across slot I/O; it is taken before a worker's inbox lock
 * (worker_send), never after. A VM's memory is touched only on its worker.
 */
#include "swapper.h"

#include "export.h"
#include "swap_commit.h"
#include "swap_log.h"
#include "vm_swap.h"
#include "worker.h"

#include "../devices/net.h"
#include "../vmm/guest_mem.h"
#include "../vmm/shell.h"
#include "../vmm/slab.h"
#include "../vmm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWAPPER_SAMPLES	 1024
#define BUSY_RETRY_MS	 2000ull      /* an operator's swap-out of a VM that is running */
#define GROWTH_ALLOWANCE (128u << 10) /* at least; or a quarter of its size */
/* The longest the memory of a swapped-out VM waits to be freed with its
 * neighbours' (guest_mem_free_later()); the deadline thread frees it then. */
#define RELEASE_LATER_NS (50ull * 1000000)

/* What the swapper keeps per VM (vm->owner). */
struct swap_vm {
	struct gk_vm gk;
	struct swap_record rec;
	uint64_t slot;
	struct task *task;
	struct worker *w; /* where it runs */
	int last_rc;	  /* of the latest swap-out, for the operator */
	int measured;	  /* its charge is a measurement, not the boot guess */
	uint64_t swap_ins, swap_outs;
	/* its port's totals when it went out: frames queued and dropped meanwhile */
	uint32_t rxq0;
	uint64_t drop0;
	/* The swap log (group commit): its latest record queued (0: none), and
	 * whether the log says (or will say, once that is committed) that it is
	 * in its slot. A VM read back in while it does is held (not run) until
	 * its RESIDENT record is durable. All under s->lock. */
	uint64_t log_seq;
	uint8_t log_swapped;
	uint8_t logged; /* the log names it (a GONE record is due when it ends) */
	uint8_t held, held_ready;
	uint64_t in_t0; /* when its swap-in began */
	struct swap_vm *held_next;
	/* A VM whose devices reopen files before a swap-in (a disk): queued for the
	 * deadline thread (opening 1), being reopened there (2); gone: it ended
	 * meanwhile, nothing is sent. All under s->lock. */
	struct swap_vm *open_next;
	uint8_t opening, open_gone;
};

/* Kept as long as the VM, swapped or not: packed apart from the heap (slab.h). */
static struct slab sv_slab = SLAB_INIT(sizeof(struct swap_vm));

struct lat {
	uint64_t v[SWAPPER_SAMPLES];
	uint64_t n;
};

struct swapper {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* deadline thread */
	pthread_cond_t changed; /* a swap completed (operator waits) */
	struct gk gk;
	struct swap *sw;
	int every_idle;
	uint64_t boot_charge;
	uint64_t overruns;	    /* VMs that outgrew their charge between idles */
	uint64_t overrun_evictions; /* of which swapped out at once to keep the budget */
	pthread_t thread;
	int quit;
	struct swap_vm *open_head, **open_tail; /* swap-ins waiting for their files (pump) */
	struct lat lat_in, lat_out;
	uint64_t frames_queued, frames_dropped; /* for VMs while they were out */
	struct swap_log *log;			/* NULL = none */
	struct swap_commit *commit;		/* group commit; NULL: each record on its own */
	struct swap_vm *held;			/* read back in, waiting for their records */
	uint64_t log_errors;
	uint64_t cancelled_records; /* swap-outs never logged: back in before their commit */
	int closing;		    /* shutdown: nothing comes back in, ends keep their records */
	/* pump() calls, the actions they handed out, and the deadline thread's rounds (every
	 * pump() signals it: the nearest deadline may have moved) */
	uint64_t pumps, pump_actions, deadline_rounds;
};

static void log_append(struct swapper *s, enum swap_log_kind kind, const struct vm *vm,
		       const struct swap_record *rec)
{
	int rc;

	if (!s->log)
		return;
	rc = swap_log_append(s->log, kind, vm->id, rec);
	if (rc) {
		__atomic_fetch_add(&s->log_errors, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "denali: vm %s: swap log: %s (a restart boots it afresh)\n",
			vm->name, strerror(-rc));
	}
}

static struct swap_vm *sv_of(const struct task *t)
{
	return t->vm->owner;
}

static void lat_add(struct lat *l, uint64_t ns)
{
	l->v[l->n++ % SWAPPER_SAMPLES] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void lat_pct(const struct lat *l, uint64_t *p50, uint64_t *p99)
{
	uint64_t tmp[SWAPPER_SAMPLES];
	size_t n = l->n < SWAPPER_SAMPLES ? (size_t)l->n : SWAPPER_SAMPLES;

	*p50 = *p99 = 0;
	if (!n)
		return;
	memcpy(tmp, l->v, n * sizeof(tmp[0]));
	qsort(tmp, n, sizeof(tmp[0]), cmp_u64);
	*p50 = tmp[n / 2];
	*p99 = tmp[n * 99 / 100];
}

/* The VM's port totals now (0 without a NIC). */
static void rx_totals(struct vm *vm, uint32_t *queued, uint64_t *dropped)
{
	struct device *d = vm_device(vm, "net");

	*queued = 0;
	*dropped = 0;
	if (d)
		net_dev_rx_totals(d, queued, dropped);
}

/* The VM is back (or gone): what arrived for it while it was out. s->lock held. */
static void count_frames(struct swapper *s, struct swap_vm *sv)
{
	uint32_t q;
	uint64_t d;

	rx_totals(sv->task->vm, &q, &d);
	s->frames_queued += (uint32_t)(q - sv->rxq0);
	s->frames_dropped += d - sv->drop0;
}

/* Carries out the gatekeeper's actions; s->lock held. */
static void pump(struct swapper *s)
{
	struct gk_action a;

	s->pumps++;
	while ((a = gk_next(&s->gk)).kind != GK_ACT_NONE) {
		struct swap_vm *sv = a.vm->owner;

		s->pump_actions++;

		if (a.kind == GK_ACT_EVICT) {
			if (worker_send(sv->w, WCMD_SWAP_OUT, sv->task))
				gk_evicted(&s->gk, a.vm, -ENOMEM);
		} else if (!a.vm->has_image) {
			/* First admission: a boot, the VM is created already. */
			gk_admitted(&s->gk, a.vm, 0);
			if (worker_send(sv->w, WCMD_ADD, sv->task)) {
				vm_kill(sv->task->vm, "cannot add to a worker");
				gk_remove(&s->gk, a.vm);
			}
		} else if (vm_devices_reopen_wanted(sv->task->vm)) {
			/* Its disk was closed at swap-out: the deadline thread opens it
			 * again (a worker may not) and then sends the swap-in. */
			sv->opening = 1;
			sv->open_next = NULL;
			*s->open_tail = sv;
			s->open_tail = &sv->open_next;
		} else if (worker_send(sv->w, WCMD_SWAP_IN, sv->task)) {
			gk_admitted(&s->gk, a.vm, -ENOMEM);
		}
	}
	pthread_cond_broadcast(&s->changed);
	pthread_cond_signal(&s->cond); /* the nearest deadline may have moved */
}

/* Group commit, s->lock held: sv is written to its slot (not yet synced);
 * its SWAPPED record goes to the committer, which syncs the slot's file and
 * then logs it. Until then a crash boots it afresh. */
static void queue_swapped(struct swapper *s, struct swap_vm *sv)
{
	uint64_t seq = swap_commit_enqueue(s->commit, SWAP_LOG_SWAPPED, sv->task->vm->id, &sv->rec,
					   SWAP_NO_SLOT);

	if (!seq) { /* out of memory: not recorded, a restart boots it afresh */
		__atomic_fetch_add(&s->log_errors, 1, __ATOMIC_RELAXED);
		return;
	}
	sv->log_seq = seq;
	sv->log_swapped = 1;
	sv->logged = 1;
}

/*
 * Group commit, s->lock held: sv is read back in; the log must not say it is
 * in its slot once it runs (its slot is stale from then on). 0: it may run
 * now (the log never said so, or its SWAPPED record was still queued and is
 * taken back); 1: its RESIDENT record is queued and it is held until that is
 * durable (on_committed() releases it).
 */
static int hold_for_record(struct swapper *s, struct swap_vm *sv)
{
	uint64_t seq;

	if (!sv->log_swapped)
		return 0;
	if (sv->log_seq && swap_commit_cancel(s->commit, sv->log_seq) == 0) {
		sv->log_swapped = 0;
		s->cancelled_records++;
		return 0;
	}
	seq =
	    swap_commit_enqueue(s->commit, SWAP_LOG_RESIDENT, sv->task->vm->id, NULL, SWAP_NO_SLOT);
	sv->log_swapped = 0;
	if (!seq) { /* out of memory: recorded here, synchronously */
		log_append(s, SWAP_LOG_RESIDENT, sv->task->vm, NULL);
		return 0;
	}
	sv->log_seq = seq;
	sv->held = 1;
	sv->held_ready = 0;
	sv->held_next = s->held;
	s->held = sv;
	return 1;
}

/* The committer processed every record up to seq: the VMs held for theirs
 * are handed back to their workers (a second WCMD_SWAP_IN). */
static void on_committed(void *arg, uint64_t seq)
{
	struct swapper *s = arg;

	pthread_mutex_lock(&s->lock);
	for (struct swap_vm **pp = &s->held; *pp;) {
		struct swap_vm *sv = *pp;

		if (sv->log_seq <= seq && worker_send(sv->w, WCMD_SWAP_IN, sv->task) == 0) {
			sv->held_ready = 1;
			*pp = sv->held_next;
			sv->held_next = NULL;
			continue;
		}
		pp = &sv->held_next; /* not yet (or out of memory: the next batch retries) */
	}
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void held_unlink(struct swapper *s, struct swap_vm *sv)
{
	for (struct swap_vm **pp = &s->held; *pp; pp = &(*pp)->held_next) {
		if (*pp == sv) {
			*pp = sv->held_next;
			break;
		}
	}
	sv->held_next = NULL;
}

/* A swap-in is over (rc: its result); s->lock held. */
static void swapped_in(struct swapper *s, struct task *t, struct swap_vm *sv, int rc, uint64_t t0)
{
	gk_admitted(&s->gk, &sv->gk, rc);
	count_frames(s, sv);
	if (!rc) {
		sv->swap_ins++;
		lat_add(&s->lat_in, vm_now_ns() - t0);
		/* Back parked (an operator's swap-in, no event yet): evictable
		 * again, or it would hold its share of the budget for good. */
		if (t->vm->status == VM_IDLE && !t->woken)
			gk_idle(&s->gk, &sv->gk, vm_now_ns());
	}
	pump(s);
}

/* Swaps t out on its worker (VM stopped). 0 or -errno; s->lock not held. */
static int do_swap_out(struct swapper *s, struct task *t)
{
	struct swap_vm *sv = sv_of(t);
	struct vm *vm = t->vm;
	struct shell *sh = vm->shell;
	uint64_t t0 = vm_now_ns();
	char err[256];
	int rc = vm_swap_out(vm, s->sw, sv->slot, &sv->rec, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "denali: %s (stays resident)\n", err);
	} else {
		if (sh)
			shell_put(sh);
		__atomic_store_n(&t->swapped, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&t->swap_gen, 1, __ATOMIC_RELEASE);
		/* The slot is durable: from now on a restart resumes it from there. */
		if (!s->commit)
			log_append(s, SWAP_LOG_SWAPPED, vm, &sv->rec);
	}
	pthread_mutex_lock(&s->lock);
	if (!rc && s->commit)
		queue_swapped(s, sv);
	sv->last_rc = rc;
	gk_evicted(&s->gk, &sv->gk, rc);
	if (!rc) {
		sv->swap_outs++;
		rx_totals(vm, &sv->rxq0, &sv->drop0);
		lat_add(&s->lat_out, vm_now_ns() - t0);
		if (sv->gk.want_in == 0 && sv->gk.state == GK_SWAPPED)
			gk_set_deadline(&s->gk, &sv->gk, vm->deadline_ns);
	}
	pump(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int swap_hook(struct worker *w, struct task *t, enum worker_cmd_op op, void *arg)
{
	struct swapper *s = arg;
	struct swap_vm *sv = sv_of(t);
	char err[256];
	uint64_t t0;
	int rc;

	/* A command sent before the VM ended (this worker ran its done
	 * callback since): nothing left to do. The owner is only cleared on
	 * this thread. */
	if (!sv)
		return 0;
	switch (op) {
	case WCMD_SWAP_OUT:
		/* Woken (or running) since it was chosen: not now. */
		if (t->se.where != SE_SLEEP || t->vm->status != VM_IDLE) {
			pthread_mutex_lock(&s->lock);
			sv->last_rc = -EBUSY;
			gk_evicted(&s->gk, &sv->gk, -EBUSY);
			pump(s);
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
		rc = do_swap_out(s, t);
		if (rc)
			return 0;
		worker_unpark(w, t);
		return 1;
	case WCMD_SWAP_IN:
		pthread_mutex_lock(&s->lock);
		if (sv->held) { /* in memory, waiting for its record */
			rc = sv->held_ready ? 0 : 1;
			if (!rc) {
				sv->held = sv->held_ready = 0;
				swapped_in(s, t, sv, 0, sv->in_t0);
			}
			pthread_mutex_unlock(&s->lock);
			return rc;
		}
		pthread_mutex_unlock(&s->lock);
		t0 = vm_now_ns();
		rc = vm_swap_in(t->vm, s->sw, &sv->rec, err, sizeof(err));
		if (rc)
			vm_kill(t->vm, "%s", err); /* a bad slot never runs */
		else if (!s->commit) /* durable before it runs: its slot is stale from here on */
			log_append(s, SWAP_LOG_RESIDENT, t->vm, NULL);
		pthread_mutex_lock(&s->lock);
		if (!rc && s->commit && hold_for_record(s, sv)) {
			sv->in_t0 = t0;
			pthread_mutex_unlock(&s->lock);
			return 1; /* held: the worker keeps it out until then */
		}
		swapped_in(s, t, sv, rc, t0);
		pthread_mutex_unlock(&s->lock);
		return rc;
	case WCMD_WAKE:
		pthread_mutex_lock(&s->lock);
		if (!s->closing)
			gk_request(&s->gk, &sv->gk, sv->gk.charge);
		pump(s);
		pthread_mutex_unlock(&s->lock);
		return 0;
	case WCMD_STOP:
		pthread_mutex_lock(&s->lock);
		gk_remove(&s->gk, &sv->gk);
		pump(s);
		pthread_mutex_unlock(&s->lock);
		return 0;
	default:
		return 0;
	}
}

int swapper_idle(struct swapper *s, struct task *t)
{
	struct swap_vm *sv = sv_of(t);

	pthread_mutex_lock(&s->lock);
	if (s->gk.cfg.mem_budget) {
		/* The charge covers what it has now plus an allowance to grow by
		 * until its next idle; only a VM that outgrew it is re-charged
		 * (and may push the total over the budget until an eviction). */
		uint64_t now_bytes = swap_resident_bytes(s->sw, t->vm->mem, t->vm->mem_size);

		if (!sv->measured || now_bytes > sv->gk.charge) {
			uint64_t charge =
			    now_bytes +
			    (now_bytes / 4 > GROWTH_ALLOWANCE ? now_bytes / 4 : GROWTH_ALLOWANCE);

			s->overruns += sv->measured;
			sv->measured = 1; /* the boot charge was a guess */
			if (s->gk.resident - sv->gk.charge + charge > s->gk.cfg.mem_budget) {
				/* It grew past what the budget holds: out at once,
				 * from here, rather than over the budget until others
				 * are evicted. */
				gk_idle(&s->gk, &sv->gk, vm_now_ns());
				if (gk_swap_out(&s->gk, &sv->gk) == 0) {
					gk_charge(&s->gk, &sv->gk, charge);
					s->overrun_evictions++;
					pthread_mutex_unlock(&s->lock);
					return do_swap_out(s, t) == 0 ? 1 : 0;
				}
			}
			gk_charge(&s->gk, &sv->gk, charge);
		}
	}
	gk_idle(&s->gk, &sv->gk, vm_now_ns());
	if (s->every_idle && gk_swap_out(&s->gk, &sv->gk) == 0) {
		pthread_mutex_unlock(&s->lock);
		/* Not parked yet: swapped straight from here. */
		return do_swap_out(s, t) == 0 ? 1 : 0;
	}
	pump(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The deadline thread, s->lock held (let go meanwhile): the queued swap-ins get
 * their devices' files again and are handed to their workers. A file that
 * cannot be had makes the swap-in fail there (unpark), which kills the VM. */
static void reopen_queued(struct swapper *s)
{
	struct swap_vm *sv;

	while ((sv = s->open_head)) {
		s->open_head = sv->open_next;
		if (!s->open_head)
			s->open_tail = &s->open_head;
		sv->open_next = NULL;
		sv->opening = 2;
		pthread_mutex_unlock(&s->lock);
		/* An error: the worker's unpark() answers it and the swap-in fails there. */
		(void)vm_reopen_devices(sv->task->vm);
		pthread_mutex_lock(&s->lock);
		sv->opening = 0;
		if (sv->open_gone) { /* swapper_done waits for this: it frees sv */
			pthread_cond_broadcast(&s->changed);
			continue;
		}
		if (worker_send(sv->w, WCMD_SWAP_IN, sv->task))
			gk_admitted(&s->gk, &sv->gk, -ENOMEM);
	}
}

static void *deadline_main(void *arg)
{
	struct swapper *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->quit) {
		uint64_t next, age;

		s->deadline_rounds++;
		if (!s->closing)
			gk_expire(&s->gk, vm_now_ns());
		pump(s);
		if (s->open_head) {
			reopen_queued(s);
			continue;
		}
		next = gk_next_deadline(&s->gk);
		age = guest_mem_later_age_ns();
		if (age >= RELEASE_LATER_NS) {
			pthread_mutex_unlock(
			    &s->lock); /* madvise: milliseconds at thousands live */
			guest_mem_flush();
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (age && vm_now_ns() + RELEASE_LATER_NS - age < next)
			next = vm_now_ns() + RELEASE_LATER_NS - age;
		if (next == SCHED_NO_DEADLINE) {
			pthread_cond_wait(&s->cond, &s->lock);
		} else {
			struct timespec ts = {(time_t)(next / 1000000000ull),
					      (long)(next % 1000000000ull)};

			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int swapper_open(const struct swapper_config *cfg, struct swapper **out, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct swapper *s = calloc(1, sizeof(*s));
	int rc;

	struct swap_config swc = cfg->swap;

	if (!s)
		return -ENOMEM;
	/* Group commit: the committer syncs the files, a slot write does not. */
	if (cfg->log_path && !cfg->commit_each)
		swc.durable = 0;
	rc = swap_open(&swc, &s->sw, err, errlen);
	if (rc)
		goto out_free;
	if (cfg->log_path) {
		rc = swap_log_open(cfg->log_path, &s->log, err, errlen);
		if (rc)
			goto out_swap;
	}
	if (s->log && !cfg->commit_each) {
		struct swap_commit_config cc = {.sw = s->sw,
						.log = s->log,
						.thread_create = cfg->thread_create,
						.committed = on_committed,
						.arg = s};

		rc = swap_commit_open(&cc, &s->commit, err, errlen);
		if (rc)
			goto out_swap;
	}
	rc = gk_init(&s->gk, &cfg->gk);
	if (rc)
		goto out_swap;
	s->every_idle = cfg->evict_every_idle;
	s->open_tail = &s->open_head;
	s->boot_charge = cfg->boot_charge ? cfg->boot_charge : 1u << 20;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* vm_now_ns() deadlines */
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	rc = cfg->thread_create ? cfg->thread_create(&s->thread, deadline_main, s)
				: -pthread_create(&s->thread, NULL, deadline_main, s);
	if (rc) {
		snprintf(err, errlen, "swapper: thread: %s", strerror(-rc));
		gk_fini(&s->gk);
		goto out_swap;
	}
	*out = s;
	return 0;
out_swap:
	swap_commit_close(s->commit);
	swap_log_close(s->log);
	swap_close(s->sw);
out_free:
	free(s);
	return rc;
}

void swapper_close(struct swapper *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->quit = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	guest_mem_flush();
	swap_commit_close(s->commit); /* what is queued is committed first */
	gk_fini(&s->gk);
	swap_log_close(s->log);
	swap_close(s->sw);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->changed);
	free(s);
}

/* A parked VM woke: off the idle list until it idles again (never a victim
 * while it runs). */
static void on_run(struct task *t, void *arg)
{
	struct swapper *s = arg;
	struct swap_vm *sv = sv_of(t);

	if (!sv)
		return;
	pthread_mutex_lock(&s->lock);
	gk_run(&s->gk, &sv->gk);
	pthread_mutex_unlock(&s->lock);
}

void swapper_attach(struct swapper *s, struct worker *w)
{
	worker_set_swap_hook(w, swap_hook, s);
	worker_set_run_hook(w, on_run, s);
}

int swapper_start(struct swapper *s, struct task *t, struct worker *w, char *err, size_t errlen)
{
	struct swap_vm *sv = slab_zalloc(&sv_slab);
	int rc;

	if (!sv)
		return -ENOMEM;
	rc = swap_slot_alloc(s->sw, &sv->slot);
	if (rc) {
		snprintf(err, errlen, "no free swap slot (all %lu are taken)",
			 (unsigned long)swap_slots(s->sw));
		slab_free(&sv_slab, sv);
		return rc;
	}
	sv->task = t;
	sv->w = w;
	t->vm->owner = sv;
	pthread_mutex_lock(&s->lock);
	gk_register(&s->gk, &sv->gk, sv);
	uint64_t charge = swap_resident_bytes(s->sw, t->vm->mem, t->vm->mem_size);

	rc = gk_request(&s->gk, &sv->gk, charge > s->boot_charge ? charge : s->boot_charge);
	if (rc) {
		snprintf(err, errlen, "its image alone exceeds the memory budget of %lu bytes",
			 (unsigned long)s->gk.cfg.mem_budget);
		gk_remove(&s->gk, &sv->gk);
		pthread_mutex_unlock(&s->lock);
		t->vm->owner = NULL;
		swap_slot_free(s->sw, sv->slot);
		slab_free(&sv_slab, sv);
		return rc;
	}
	pump(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Waits, s->lock held, for t's VM to reach want. The VM may end meanwhile:
 * swapper_done() frees its swap_vm, so it is looked up again after every
 * wake-up and never kept across one (the caller keeps t itself alive).
 */
static int wait_state(struct swapper *s, struct task *t, enum gk_state want, unsigned timeout_ms)
{
	struct timespec ts;
	uint64_t until = vm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct swap_vm *sv;

	ts.tv_sec = (time_t)(until / 1000000000ull);
	ts.tv_nsec = (long)(until % 1000000000ull);
	while ((sv = sv_of(t)) != NULL && sv->gk.state != want && sv->gk.state != GK_GONE) {
		if (sv->gk.state == GK_RESIDENT && want == GK_SWAPPED && sv->last_rc)
			return sv->last_rc; /* the write failed: it stays resident */
		if (pthread_cond_timedwait(&s->changed, &s->lock, &ts) == ETIMEDOUT)
			return -ETIMEDOUT;
	}
	return sv && sv->gk.state == want ? 0 : -ESRCH;
}

int swapper_swap_out(struct swapper *s, struct task *t, unsigned timeout_ms, char *err,
		     size_t errlen)
{
	struct swap_vm *sv;
	int rc;

	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	if (!sv) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, errlen, "vm %s has ended", t->vm->name);
		return -ESRCH;
	}
	/* A VM that is running now idles soon (an idle one is parked): tried
	 * again for up to BUSY_RETRY_MS; one being swapped in is waited for. */
	for (uint64_t until = vm_now_ns() + BUSY_RETRY_MS * 1000000ull;;) {
		sv = sv_of(t);
		if (!sv) {
			rc = -ESRCH;
			break;
		}
		if (sv->gk.state == GK_ADMITTING) {
			rc = wait_state(s, t, GK_RESIDENT, timeout_ms);
		} else if (sv->gk.state == GK_SWAPPING_OUT) {
			rc = wait_state(s, t, GK_SWAPPED, timeout_ms);
		} else {
			rc = gk_swap_out(&s->gk, &sv->gk);
			if (rc == 0) {
				sv->last_rc = 0;
				if (worker_send(sv->w, WCMD_SWAP_OUT, t))
					gk_evicted(&s->gk, &sv->gk, rc = -ENOMEM);
				else
					rc = wait_state(s, t, GK_SWAPPED, timeout_ms);
			}
		}
		if (rc == 0 && sv_of(t) && sv_of(t)->gk.state == GK_SWAPPED)
			break;
		if (rc == 0)
			continue; /* in memory now: out it goes */
		if (rc != -EBUSY || vm_now_ns() >= until)
			break;
		pthread_mutex_unlock(&s->lock);
		nanosleep(&(struct timespec){0, 10000000}, NULL);
		pthread_mutex_lock(&s->lock);
	}
	/* Out once its record is durable too (a kill -9 from here on resumes it
	 * from its slot). */
	if (rc == 0 && s->commit && (sv = sv_of(t)) != NULL && sv->log_swapped) {
		uint64_t seq = sv->log_seq;

		pthread_mutex_unlock(&s->lock);
		rc = swap_commit_wait(s->commit, seq, timeout_ms);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == -ESRCH)
		snprintf(err, errlen, "vm %s has ended", t->vm->name);
	else if (rc == -EBUSY)
		snprintf(err, errlen, "vm %s is running or has I/O in flight", t->vm->name);
	else if (rc == -EALREADY)
		snprintf(err, errlen, "vm %s is not resident", t->vm->name);
	else if (rc)
		snprintf(err, errlen, "vm %s: swap-out: %s", t->vm->name, strerror(-rc));
	return rc;
}

int swapper_swap_in(struct swapper *s, struct task *t, unsigned timeout_ms, char *err,
		    size_t errlen)
{
	struct swap_vm *sv;
	int rc;

	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	if (!sv) {
		rc = -ESRCH;
	} else if (sv->gk.state == GK_RESIDENT) {
		rc = -EALREADY;
	} else {
		gk_set_deadline(&s->gk, &sv->gk, SCHED_NO_DEADLINE);
		rc = gk_request(&s->gk, &sv->gk, sv->gk.charge);
		pump(s);
		if (!rc)
			rc = wait_state(s, t, GK_RESIDENT, timeout_ms);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == -ESRCH)
		snprintf(err, errlen, "vm %s has ended", t->vm->name);
	else if (rc == -EALREADY)
		snprintf(err, errlen, "vm %s is resident already", t->vm->name);
	else if (rc)
		snprintf(err, errlen, "vm %s: swap-in: %s", t->vm->name, strerror(-rc));
	return rc;
}

int swapper_swap_in_begin(struct swapper *s, struct task *t)
{
	struct swap_vm *sv;
	int rc;

	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	if (!sv) {
		rc = -ESRCH;
	} else if (sv->gk.state == GK_RESIDENT) {
		rc = -EALREADY;
	} else {
		gk_set_deadline(&s->gk, &sv->gk, SCHED_NO_DEADLINE);
		rc = gk_request(&s->gk, &sv->gk, sv->gk.charge);
		pump(s);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void swapper_done(struct swapper *s, struct task *t)
{
	struct swap_vm *sv = sv_of(t);

	if (!sv)
		return;
	int slot_later = 0;

	/* Ended for good (exit, kill, stop): a restart must not resume it. At
	 * shutdown the records stay: the swapped VMs resume, the rest reboot. */
	if (!__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) && !s->commit)
		log_append(s, SWAP_LOG_GONE, t->vm, NULL);
	pthread_mutex_lock(&s->lock);
	if (sv->opening == 1) { /* queued for its files: taken off */
		struct swap_vm **pp = &s->open_head;

		while (*pp != sv)
			pp = &(*pp)->open_next;
		*pp = sv->open_next;
		if (!*pp)
			s->open_tail = pp;
		sv->opening = 0;
	}
	sv->open_gone = 1;
	while (sv->opening == 2) /* the deadline thread is opening them: its VM stays */
		pthread_cond_wait(&s->changed, &s->lock);
	/* Group commit: a VM the log names gets its GONE record queued, and its
	 * slot is reused only once that is committed. */
	if (!s->closing && s->commit && sv->logged)
		slot_later =
		    swap_commit_enqueue(s->commit, SWAP_LOG_GONE, t->vm->id, NULL, sv->slot) != 0;
	if (sv->held)
		held_unlink(s, sv);
	if (sv->gk.state == GK_SWAPPED || sv->gk.state == GK_WAITING ||
	    sv->gk.state == GK_ADMITTING)
		count_frames(s, sv);
	gk_remove(&s->gk, &sv->gk);
	pump(s);
	t->vm->owner = NULL;		     /* under the lock: readers on other threads take it */
	pthread_cond_broadcast(&s->changed); /* an operator waiting on it sees it gone */
	pthread_mutex_unlock(&s->lock);
	if (!slot_later)
		swap_slot_free(s->sw, sv->slot);
	slab_free(&sv_slab, sv);
}

/* The operator's names: an admission of a VM with an image is a swap-in;
 * a first one is a boot (resident from then on). */
static const char *residency(const struct gk_vm *v)
{
	switch (v->state) {
	case GK_ADMITTING:
		return v->has_image ? "swapping-in" : "resident";
	case GK_REGISTERED:
		return "waiting";
	default:
		return gk_state_name(v->state);
	}
}

const char *swapper_vm_state(struct swapper *s, const struct task *t, uint64_t *charge)
{
	struct swapper_vm_info info;

	swapper_vm_info(s, t, &info);
	*charge = info.charge;
	return info.residency;
}

void swapper_vm_info(struct swapper *s, const struct task *t, struct swapper_vm_info *out)
{
	struct swap_vm *sv;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	if (!sv) {
		pthread_mutex_unlock(&s->lock);
		out->residency = "gone";
		out->slot = SWAP_NO_SLOT;
		return;
	}
	out->residency = residency(&sv->gk);
	out->charge = sv->gk.state == GK_SWAPPED ? 0 : sv->gk.charge;
	out->swap_ins = sv->swap_ins;
	out->swap_outs = sv->swap_outs;
	out->slot = sv->slot;
	out->swapped = sv->gk.state == GK_SWAPPED || sv->gk.state == GK_WAITING;
	pthread_mutex_unlock(&s->lock);
}

void swapper_get_stats(struct swapper *s, struct swapper_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	out->mem_budget = s->gk.cfg.mem_budget;
	out->live_max = s->gk.cfg.live_max;
	out->resident = s->gk.resident;
	out->peak_resident = s->gk.peak_resident;
	out->live = s->gk.live;
	out->swapped = s->gk.swapped;
	out->waiting = s->gk.waiting;
	out->gk = s->gk.ctr;
	out->overruns = s->overruns;
	out->overrun_evictions = s->overrun_evictions;
	lat_pct(&s->lat_in, &out->swap_in_p50, &out->swap_in_p99);
	lat_pct(&s->lat_out, &out->swap_out_p50, &out->swap_out_p99);
	out->samples_in = s->lat_in.n;
	out->samples_out = s->lat_out.n;
	out->frames_queued = s->frames_queued;
	out->frames_dropped = s->frames_dropped;
	out->log_errors = __atomic_load_n(&s->log_errors, __ATOMIC_RELAXED);
	out->pumps = s->pumps;
	out->pump_actions = s->pump_actions;
	out->deadline_rounds = s->deadline_rounds;
	pthread_mutex_unlock(&s->lock);
	swap_get_counters(s->sw, &out->swap);
	if (s->commit)
		swap_commit_get_stats(s->commit, &out->commit);
}

void swapper_shutdown_begin(struct swapper *s)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
}

int swapper_swap_out_begin(struct swapper *s, struct task *t)
{
	struct swap_vm *sv;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	if (!sv) {
		rc = -ESRCH;
	} else if (sv->gk.state == GK_RESIDENT) {
		rc = gk_swap_out(&s->gk, &sv->gk);
		if (!rc) {
			sv->last_rc = 0;
			if (worker_send(sv->w, WCMD_SWAP_OUT, t))
				gk_evicted(&s->gk, &sv->gk, rc = -ENOMEM);
		}
	} else if (sv->gk.state == GK_ADMITTING) {
		rc = -EBUSY; /* being read in: try again once it is */
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void swapper_settle(struct swapper *s, unsigned timeout_ms)
{
	struct timespec ts;
	uint64_t until = vm_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	ts.tv_sec = (time_t)(until / 1000000000ull);
	ts.tv_nsec = (long)(until % 1000000000ull);
	pthread_mutex_lock(&s->lock);
	while (s->gk.live_releasing &&
	       pthread_cond_timedwait(&s->changed, &s->lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
	if (s->commit) { /* and every record of them durable */
		uint64_t now = vm_now_ns();

		swap_commit_flush(s->commit,
				  now < until ? (unsigned)((until - now) / 1000000ull) : 0);
	}
}

int swapper_adopt(struct swapper *s, struct task *t, struct worker *w,
		  const struct swap_record *rec, char *err, size_t errlen)
{
	struct swap_vm *sv = slab_zalloc(&sv_slab);
	uint64_t deadline = 0, bytes;
	int rc;

	if (!sv)
		return -ENOMEM;
	rc = vm_swap_peek(t->vm, s->sw, rec, &deadline, err, errlen);
	if (rc) {
		swap_slot_free(s->sw, rec->slot);
		slab_free(&sv_slab, sv);
		return rc;
	}
	vm_swap_release(t->vm);
	sv->slot = rec->slot;
	sv->rec = *rec;
	sv->task = t;
	sv->w = w;
	sv->measured = 1;
	sv->log_swapped = 1; /* what the log of the previous daemon says */
	sv->logged = 1;
	t->vm->owner = sv;
	t->swapped = 1; /* the worker adds it as swapped out */
	__atomic_fetch_add(&t->swap_gen, 1, __ATOMIC_RELEASE);
	bytes = (uint64_t)rec->npages * SWAP_PAGE;
	pthread_mutex_lock(&s->lock);
	gk_adopt_swapped(&s->gk, &sv->gk, sv,
			 bytes + (bytes / 4 > GROWTH_ALLOWANCE ? bytes / 4 : GROWTH_ALLOWANCE));
	rx_totals(t->vm, &sv->rxq0, &sv->drop0);
	if (worker_send(w, WCMD_ADD, t)) {
		gk_remove(&s->gk, &sv->gk);
		pthread_mutex_unlock(&s->lock);
		t->vm->owner = NULL;
		t->swapped = 0;
		swap_slot_free(s->sw, rec->slot);
		slab_free(&sv_slab, sv);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Its saved deadline (the monotonic clock goes on across a daemon
	 * restart); a VM saved runnable comes back at once. */
	if (deadline == 0 || deadline <= vm_now_ns())
		gk_request(&s->gk, &sv->gk, sv->gk.charge);
	else if (deadline != DENALI_NO_DEADLINE)
		gk_set_deadline(&s->gk, &sv->gk, deadline);
	pump(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int swapper_reserve(struct swapper *s, uint64_t slot)
{
	return swap_slot_reserve(s->sw, slot);
}

void swapper_release(struct swapper *s, uint64_t slot)
{
	swap_slot_free(s->sw, slot);
}

int swapper_export(struct swapper *s, struct task *t, const char *path, char *err, size_t errlen)
{
	struct vm *vm = t->vm;
	struct swap_record rec;
	struct swap_image img;
	struct swap_vm *sv;
	struct vcpu_state *st = NULL;
	uint8_t *mem = NULL, *blob = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	sv = sv_of(t);
	rc = !sv ? -ESRCH : sv->gk.state == GK_SWAPPED || sv->gk.state == GK_WAITING ? 0 : -EAGAIN;
	if (!rc)
		rec = sv->rec;
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		snprintf(err, errlen, "vm %s: export: %s", vm->name,
			 rc == -ESRCH ? "it has ended" : "it is not swapped out");
		return rc;
	}
	/* Its slot, read into scratch memory here: the VM itself is not touched
	 * (a swap-out that rewrites the slot meanwhile fails the read's checks). */
	rc = guest_mem_alloc(vm->mem_size, &mem);
	st = malloc(sizeof(*st));
	blob = malloc(rec.dev_len ? rec.dev_len : 1);
	if (rc || !st || !blob) {
		snprintf(err, errlen, "vm %s: export: out of memory", vm->name);
		rc = -ENOMEM;
		goto out;
	}
	img = (struct swap_image){vm->id, mem, vm->mem_size, st, rec.state_len, blob, rec.dev_len};
	rc = rec.state_len == sizeof(*st) ? swap_read(s->sw, &rec, &img, err, errlen) : -EINVAL;
	if (!rc)
		rc = export_write(path, vm->name, vm->id, mem, vm->mem_size, st, blob, img.dev_len,
				  err, errlen);
out:
	guest_mem_free(mem, vm->mem_size);
	free(st);
	free(blob);
	return rc;
}

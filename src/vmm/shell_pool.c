/*
 * The pool of idle shells, and the reclaimer thread that takes the slow parts
 * of shell reuse off the workers.
 *
 * Dropping a tenant's MMU translations (shell_reset_mmu(), a memory-slot
 * delete and re-add) waits for two SRCU grace periods of that VM, 0.1-1 ms
 * each here and more under load, and destroying a shell tears a KVM VM down.
 * Done in shell_put() on a worker (2a6370f) that was time every other VM of
 * the worker waited for: the demo fleet's wake-up lateness grew 4-8x. Now:
 *
 * - shell_put() finishes the pending exit on the caller's thread (cheap, and
 *   it must happen while the tenant's memory is still mapped) and pools the
 *   shell as it is, marked dirty (mmu_dirty) if a tenant ran in it. A dirty
 *   shell is never run by anyone else before its reset: shell_bind() resets
 *   it for any new tenant whose memory is where the slot points (any other
 *   memory replaces the slot, which drops the translations anyway). So a
 *   shell nobody reuses is never reset at all.
 * - The reclaimer, when running, destroys the shells the pool has no room
 *   for and keeps up to RECLAIM_CLEAN pooled shells reset ahead of time, so
 *   that a reused shell usually binds with no slot update on the worker.
 */
#include "shell.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define POOL_SCAN 64 /* how far shell_get_for() looks for its slot's owner */
/* Shells waiting to be destroyed; beyond, shell_put() destroys on its caller's thread. A
 * `stop --all` hands the reclaimer a shell per VM: at 64, a worker stopping 1,000 VMs destroyed
 * most of them itself (a KVM VM's teardown, ~0.5 ms here) while the stop waited for it. Queued
 * shells still hold their descriptors: serve's admission counts them (shell_reclaimer_pending()).
 */
#define RECLAIM_QUEUE_MAX 1024
#define RECLAIM_CLEAN	  8 /* pooled shells the reclaimer keeps reset ahead of time */
/* Threads of the reclaimer. A shell's destruction mostly waits: for an SRCU grace period
 * (mmu_notifier_unregister) and for KVM's NX-recovery task to end (vhost_task_stop), 2-3 ms
 * in all here against ~0.3 ms of CPU; one thread took 2.6-6 s to destroy the 1,000 shells of
 * a `stop --all`. Side by side their waits overlap (grace periods are shared). */
#define RECLAIM_THREADS 8

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* work for the reclaimer; the reclaimer idle again */
	struct shell *head;  /* idle shells, reset or not (mmu_dirty) */
	unsigned count, max;
	unsigned low;	     /* the least count since the last shell_pool_trim() */
	unsigned clean;	     /* pooled shells with mmu_dirty == 0 */
	struct shell *queue; /* to be destroyed by the reclaimer */
	unsigned queued;
	int busy; /* shells the reclaimer threads hold outside the lock */
	int running, quit;
	pthread_t threads[RECLAIM_THREADS];
	unsigned nthreads;
	int (*confine)(void);
	int start_rc;
	sem_t started;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .max = 16384};

/*
 * Shells made ahead of time, never used: the filler thread keeps `target` of them, so that a
 * start finds its KVM VM, vCPU, kvm_run mapping and CPUID made (KVM_CREATE_VM, its debugfs
 * files and MMU notifier, KVM_CREATE_VCPU, KVM_SET_CPUID2: ~60% of a start's CPU here) and
 * does not make them on its worker. Kept apart from the pool of used shells (pool.max does not
 * bound them), each holds 2 descriptors. When a create fails (the open-file wall), the filler
 * waits FILL_BACKOFF_MS or until the next shell is taken before it tries again.
 */
#define FILL_BACKOFF_MS 50

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a shell taken, or quit */
	struct shell *head;
	unsigned count, target;
	int running, quit;
	pthread_t thread;
	int (*confine)(void);
	int start_rc;
	sem_t started;
	uint64_t made, taken; /* totals, for tests */
} fresh = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* A shell made ahead of time, or NULL. */
static struct shell *fresh_take(void)
{
	struct shell *sh;

	pthread_mutex_lock(&fresh.lock);
	sh = fresh.head;
	if (sh) {
		fresh.head = sh->next;
		fresh.count--;
		fresh.taken++;
		sh->next = NULL;
	}
	if (fresh.running && fresh.count < fresh.target)
		pthread_cond_signal(&fresh.cond);
	pthread_mutex_unlock(&fresh.lock);
	return sh;
}

/* Takes the shell at *pp out of the pool. Lock held. */
static struct shell *pool_unlink_locked(struct shell **pp)
{
	struct shell *sh = *pp;

	*pp = sh->next;
	sh->next = NULL;
	pool.count--;
	pool.clean -= !sh->mmu_dirty;
	if (pool.count < pool.low)
		pool.low = pool.count;
	return sh;
}

int shell_get_for(const uint8_t *mem, uint64_t size, struct shell **out)
{
	struct shell **pp, *sh = NULL;
	unsigned n = 0;

	pthread_mutex_lock(&pool.lock);
	for (pp = &pool.head; mem && *pp && n < POOL_SCAN; pp = &(*pp)->next, n++) {
		if ((*pp)->mem == mem && (*pp)->mem_size == size)
			break;
	}
	if (!mem || !*pp || n == POOL_SCAN)
		pp = &pool.head;
	if (*pp)
		sh = pool_unlink_locked(pp);
	if (pool.running && pool.clean < RECLAIM_CLEAN && pool.count > pool.clean)
		pthread_cond_broadcast(&pool.cond); /* time to reset another one */
	pthread_mutex_unlock(&pool.lock);
	if (!sh)
		sh = fresh_take();
	if (!sh)
		return shell_create(out);
	sh->next = NULL;
	*out = sh;
	return 0;
}

int shell_get(struct shell **out)
{
	return shell_get_for(NULL, 0, out);
}

/* Pools an idle shell; returns it if the pool is full (NULL if pooled). Lock held. */
static struct shell *pool_add_locked(struct shell *sh)
{
	if (pool.count >= pool.max)
		return sh;
	sh->next = pool.head;
	pool.head = sh;
	pool.count++;
	pool.clean += !sh->mmu_dirty;
	if (pool.running && sh->mmu_dirty && pool.clean < RECLAIM_CLEAN)
		pthread_cond_broadcast(&pool.cond);
	return NULL;
}

void shell_put(struct shell *sh)
{
	/* A shell leaves its caller with no half-done instruction (issue 7, hole 1): on the
	 * caller's thread, while the tenant's memory is still mapped. */
	if (sh->exit_pending && shell_complete(sh)) {
		shell_destroy(sh);
		return;
	}
	sh->tenant = NULL; /* any next tenant is a new one: shell_bind() resets if dirty */
	pthread_mutex_lock(&pool.lock);
	sh = pool_add_locked(sh);
	if (sh && pool.running && !pool.quit && pool.queued < RECLAIM_QUEUE_MAX) {
		sh->next = pool.queue;
		pool.queue = sh;
		pool.queued++;
		pthread_cond_broadcast(&pool.cond);
		sh = NULL;
	}
	pthread_mutex_unlock(&pool.lock);
	if (sh)
		shell_destroy(sh);
}

/* A dirty pooled shell taken out for a reset, or NULL. Lock held. */
static struct shell *take_dirty_locked(void)
{
	for (struct shell **pp = &pool.head; *pp; pp = &(*pp)->next)
		if ((*pp)->mmu_dirty)
			return pool_unlink_locked(pp);
	return NULL;
}

static void *reclaimer_main(void *arg)
{
	sigset_t all;

	(void)arg;
	/* No process signal lands here. (It keeps the workers' priority: at a lower one,
	 * destruction fell behind on a loaded host and shells held their descriptors.) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_NAME, "denali-reclaim");
	pool.start_rc = pool.confine ? pool.confine() : 0;
	sem_post(&pool.started);
	if (pool.start_rc)
		return NULL;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct shell *sh = pool.queue;
		int destroy = sh != NULL;

		if (sh) {
			pool.queue = sh->next;
			pool.queued--;
		} else if (!pool.quit && pool.clean < RECLAIM_CLEAN) {
			sh = take_dirty_locked();
		}
		if (!sh) {
			if (pool.quit)
				break;
			pthread_cond_wait(&pool.cond, &pool.lock);
			continue;
		}
		pool.busy++;
		pthread_mutex_unlock(&pool.lock);
		if (!destroy && shell_reset_mmu(sh))
			destroy = 1; /* no slot any more: not fit for the pool */
		if (destroy)
			shell_destroy(sh);
		pthread_mutex_lock(&pool.lock);
		if (!destroy && (sh = pool_add_locked(sh)) != NULL) {
			pthread_mutex_unlock(&pool.lock);
			shell_destroy(sh); /* the pool filled up meanwhile */
			pthread_mutex_lock(&pool.lock);
		}
		pool.busy--;
		pthread_cond_broadcast(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

int shell_reclaimer_start(int (*confine)(void))
{
	int rc = 0;

	if (pool.running)
		return 0;
	pool.confine = confine;
	pool.quit = 0;
	sem_init(&pool.started, 0, 0);
	for (pool.nthreads = 0; pool.nthreads < RECLAIM_THREADS; pool.nthreads++) {
		rc = -pthread_create(&pool.threads[pool.nthreads], NULL, reclaimer_main, NULL);
		if (rc)
			break;
		/* Confined (no capabilities) before the caller goes on. */
		while (sem_wait(&pool.started) < 0 && errno == EINTR)
			;
		rc = pool.start_rc;
		if (rc) {
			pthread_join(pool.threads[pool.nthreads], NULL);
			break;
		}
	}
	sem_destroy(&pool.started);
	if (rc) {
		pthread_mutex_lock(&pool.lock);
		pool.quit = 1;
		pthread_cond_broadcast(&pool.cond);
		pthread_mutex_unlock(&pool.lock);
		while (pool.nthreads)
			pthread_join(pool.threads[--pool.nthreads], NULL);
		fprintf(stderr, "denali: shell reclaimer: %s\n", strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&pool.lock);
	pool.running = 1;
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

void shell_reclaimer_stop(void)
{
	pthread_mutex_lock(&pool.lock);
	if (!pool.running) {
		pthread_mutex_unlock(&pool.lock);
		return;
	}
	pool.quit = 1;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	while (pool.nthreads) /* they empty the queue first */
		pthread_join(pool.threads[--pool.nthreads], NULL);
	pthread_mutex_lock(&pool.lock);
	pool.running = 0;
	pthread_mutex_unlock(&pool.lock);
}

void shell_reclaimer_wait(void)
{
	pthread_mutex_lock(&pool.lock);
	while (pool.queue || pool.busy)
		pthread_cond_wait(&pool.cond, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
}

static void *filler_main(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	prctl(PR_SET_NAME, "denali-fill");
	fresh.start_rc = fresh.confine ? fresh.confine() : 0;
	sem_post(&fresh.started);
	if (fresh.start_rc)
		return NULL;
	pthread_mutex_lock(&fresh.lock);
	while (!fresh.quit) {
		struct shell *sh;
		int rc;

		if (fresh.count >= fresh.target) {
			pthread_cond_wait(&fresh.cond, &fresh.lock);
			continue;
		}
		pthread_mutex_unlock(&fresh.lock);
		rc = shell_create(&sh);
		pthread_mutex_lock(&fresh.lock);
		if (rc == 0) {
			sh->next = fresh.head;
			fresh.head = sh;
			fresh.count++;
			fresh.made++;
		} else if (!fresh.quit) {
			struct timespec until;
			uint64_t taken = fresh.taken;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += FILL_BACKOFF_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!fresh.quit && fresh.taken == taken &&
			       pthread_cond_timedwait(&fresh.cond, &fresh.lock, &until) == 0)
				;
		}
	}
	pthread_mutex_unlock(&fresh.lock);
	return NULL;
}

int shell_filler_start(unsigned target, int (*confine)(void))
{
	int rc;

	pthread_mutex_lock(&fresh.lock);
	fresh.target = target;
	if (fresh.running) {
		pthread_cond_signal(&fresh.cond);
		pthread_mutex_unlock(&fresh.lock);
		return 0;
	}
	fresh.quit = 0;
	pthread_mutex_unlock(&fresh.lock);
	if (!target)
		return 0;
	fresh.confine = confine;
	sem_init(&fresh.started, 0, 0);
	rc = -pthread_create(&fresh.thread, NULL, filler_main, NULL);
	if (rc == 0) {
		while (sem_wait(&fresh.started) < 0 && errno == EINTR)
			;
		rc = fresh.start_rc;
		if (rc)
			pthread_join(fresh.thread, NULL);
	}
	sem_destroy(&fresh.started);
	if (rc) {
		fprintf(stderr, "denali: shell filler: %s\n", strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&fresh.lock);
	fresh.running = 1;
	pthread_mutex_unlock(&fresh.lock);
	return 0;
}

void shell_filler_stop(void)
{
	struct shell *sh;

	pthread_mutex_lock(&fresh.lock);
	if (fresh.running) {
		fresh.quit = 1;
		pthread_cond_broadcast(&fresh.cond);
		pthread_mutex_unlock(&fresh.lock);
		pthread_join(fresh.thread, NULL);
		pthread_mutex_lock(&fresh.lock);
		fresh.running = 0;
	}
	sh = fresh.head;
	fresh.head = NULL;
	fresh.count = 0;
	pthread_mutex_unlock(&fresh.lock);
	while (sh) {
		struct shell *next = sh->next;

		shell_destroy(sh);
		sh = next;
	}
}

unsigned shell_filler_count(void)
{
	unsigned n;

	pthread_mutex_lock(&fresh.lock);
	n = fresh.count;
	pthread_mutex_unlock(&fresh.lock);
	return n;
}

void shell_filler_totals(uint64_t *made, uint64_t *taken)
{
	pthread_mutex_lock(&fresh.lock);
	*made = fresh.made;
	*taken = fresh.taken;
	pthread_mutex_unlock(&fresh.lock);
}

int shell_pool_fill(unsigned n)
{
	while (shell_pool_size() < n) {
		struct shell *sh;
		int rc = shell_create(&sh);

		if (rc)
			return rc;
		shell_put(sh);
	}
	return 0;
}

unsigned shell_pool_trim(unsigned keep)
{
	struct shell *gone = NULL, **pp;
	unsigned idle, extra, n = 0, i = 0;

	pthread_mutex_lock(&pool.lock);
	idle = pool.low < pool.count ? pool.low : pool.count;
	if (idle > keep) {
		extra = idle - keep < RECLAIM_QUEUE_MAX ? idle - keep : RECLAIM_QUEUE_MAX;
		/* The oldest ones: the list is LIFO, its tail was pooled first. */
		for (pp = &pool.head; *pp && i < pool.count - extra; pp = &(*pp)->next)
			i++;
		gone = *pp;
		*pp = NULL;
		for (struct shell *sh = gone; sh; sh = sh->next) {
			pool.clean -= !sh->mmu_dirty;
			n++;
		}
		pool.count -= n;
		if (pool.running && !pool.quit) { /* destroyed off the caller's thread */
			struct shell *last = gone;

			while (last && last->next)
				last = last->next;
			if (last) {
				last->next = pool.queue;
				pool.queue = gone;
				pool.queued += n;
				gone = NULL;
				pthread_cond_broadcast(&pool.cond);
			}
		}
	}
	pool.low = pool.count;
	pthread_mutex_unlock(&pool.lock);
	while (gone) {
		struct shell *next = gone->next;

		shell_destroy(gone);
		gone = next;
	}
	return n;
}

void shell_pool_drain(void)
{
	struct shell *sh;

	shell_reclaimer_wait();
	pthread_mutex_lock(&pool.lock);
	sh = pool.head;
	pool.head = NULL;
	pool.count = pool.clean = pool.low = 0;
	pthread_mutex_unlock(&pool.lock);
	while (sh) {
		struct shell *next = sh->next;

		shell_destroy(sh);
		sh = next;
	}
}

unsigned shell_reclaimer_pending(void)
{
	unsigned n;

	pthread_mutex_lock(&pool.lock);
	n = pool.queued + (unsigned)pool.busy;
	if (pool.running && pool.clean < RECLAIM_CLEAN && pool.count > pool.clean)
		n++; /* a reset it is about to start */
	pthread_mutex_unlock(&pool.lock);
	return n;
}

unsigned shell_pool_size(void)
{
	unsigned n;

	pthread_mutex_lock(&pool.lock);
	n = pool.count;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

void shell_pool_set_max(unsigned max)
{
	pthread_mutex_lock(&pool.lock);
	pool.max = max;
	pthread_mutex_unlock(&pool.lock);
}

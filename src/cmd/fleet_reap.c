/*
 * The guest memory of VMs that ended, given back off the workers.
 *
 * Every madvise(DONTNEED) or munmap of guest memory walks the MMU notifier
 * of every KVM VM of the process (~0.3 us each here): freeing the memory of
 * a VM costs in proportion to the shells alive at that moment. A worker that
 * freed it itself (on_done) spent two such walks per VM of a `stop --all`,
 * while the shells of the VMs stopped before it still waited for their
 * destruction, and the stop job waited for the worker. So on_done hands the
 * memory here and returns; this thread frees it once the shell reclaimer
 * has destroyed the shells queued ahead (so the walks are short), or after
 * REAP_WAIT_MS at the latest, so memory is never held for long.
 *
 * Admission is not told: it gave the memory back when the VM ended (the
 * pages are the same whether a worker or this thread unmaps them a few
 * milliseconds later); `stats` shows what is still waiting (guest_mem_reaping).
 */
#include "fleet_reap.h"

#include "privs.h"
#include "vmm/guest_mem.h"
#include "vmm/shell.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define REAP_WAIT_MS 1000 /* the longest a freed VM's memory waits for the shells ahead */
#define REAP_POLL_MS 2	  /* how often it looks whether the reclaimer is done meanwhile */

struct reap_item {
	uint8_t *mem;
	uint64_t size;
	struct reap_item *next;
};

static void deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees the list; returns how many it held. */
static uint64_t free_list(struct reap_item *it)
{
	uint64_t n = 0;

	while (it) {
		struct reap_item *next = it->next;

		guest_mem_free(it->mem, it->size);
		free(it);
		it = next;
		n++;
	}
	return n;
}

static void *reaper_main(void *arg)
{
	struct fleet_reaper *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct reap_item *list;
		uint64_t n;
		int64_t until;

		while (!r->head && !r->quit)
			pthread_cond_wait(&r->cond, &r->lock);
		if (!r->head)
			break; /* quit, nothing left */
		/* The shells queued for destruction go first, for at most REAP_WAIT_MS. */
		until = mono_ms() + REAP_WAIT_MS;
		while (!r->quit && shell_reclaimer_pending() && mono_ms() < until) {
			struct timespec ts;

			deadline_in(&ts, REAP_POLL_MS);
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		}
		list = r->head;
		r->head = NULL;
		pthread_mutex_unlock(&r->lock);
		n = free_list(list);
		pthread_mutex_lock(&r->lock);
		r->freed += n;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int fleet_reaper_start(struct fleet_reaper *r)
{
	int rc;

	*r = (struct fleet_reaper){0};
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	rc = privs_thread_create(&r->thread, reaper_main, r);
	if (rc) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		return rc;
	}
	r->running = 1;
	return 0;
}

void fleet_reaper_put(struct fleet_reaper *r, uint8_t *mem, uint64_t size)
{
	struct reap_item *it;

	if (!mem)
		return;
	it = r->running ? malloc(sizeof(*it)) : NULL;
	if (!it) {
		guest_mem_free(mem, size); /* no thread, or no memory for the note: at once */
		return;
	}
	it->mem = mem;
	it->size = size;
	pthread_mutex_lock(&r->lock);
	it->next = r->head;
	r->head = it;
	r->queued++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

unsigned fleet_reaper_pending(struct fleet_reaper *r)
{
	unsigned n;

	if (!r->running)
		return 0;
	pthread_mutex_lock(&r->lock);
	n = (unsigned)(r->queued - r->freed);
	pthread_mutex_unlock(&r->lock);
	return n;
}

void fleet_reaper_stop(struct fleet_reaper *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->quit = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL); /* it frees what is left first */
	r->running = 0;
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
}

/*
 * Run queue and deadline heap. O(1) enqueue/pick, O(log n) sleep/wake.
 */
#include "sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sched_init(struct sched *s)
{
	s->head.next = s->head.prev = &s->head;
	s->boost_tail = &s->head;
	s->picks = 0;
	s->runnable = s->sleeping = 0;
	s->heap = NULL;
	s->heap_len = s->heap_cap = 0;
	return 0;
}

void sched_fini(struct sched *s)
{
	free(s->heap);
	s->heap = NULL;
}

void sched_entity_init(struct sched_entity *e, void *owner)
{
	e->next = e->prev = NULL;
	e->deadline = SCHED_NO_DEADLINE;
	e->heap_idx = SIZE_MAX;
	e->where = SE_NONE;
	e->boosted = 0;
	e->slept_at = UINT64_MAX;
	e->slice_left = 0;
	e->owner = owner;
}

static int earlier(const struct sched_entity *a, const struct sched_entity *b)
{
	return a->deadline < b->deadline;
}

static void heap_set(struct sched *s, size_t i, struct sched_entity *e)
{
	s->heap[i] = e;
	e->heap_idx = i;
}

static void sift_up(struct sched *s, size_t i)
{
	struct sched_entity *e = s->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!earlier(e, s->heap[parent]))
			break;
		heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	heap_set(s, i, e);
}

static void sift_down(struct sched *s, size_t i)
{
	struct sched_entity *e = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->heap_len)
			break;
		if (c + 1 < s->heap_len && earlier(s->heap[c + 1], s->heap[c]))
			c++;
		if (!earlier(s->heap[c], e))
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, e);
}

static void heap_remove(struct sched *s, struct sched_entity *e)
{
	size_t i = e->heap_idx;
	struct sched_entity *last;

	if (i == SIZE_MAX)
		return;
	last = s->heap[--s->heap_len];
	e->heap_idx = SIZE_MAX;
	if (last == e)
		return;
	heap_set(s, i, last);
	sift_down(s, i);
	sift_up(s, last->heap_idx);
}

void sched_enqueue(struct sched *s, struct sched_entity *e, int boost)
{
	struct sched_entity *at;

	e->boosted = boost && e->slept_at != s->picks;
	at = e->boosted ? s->boost_tail : s->head.prev;
	if (e->boosted)
		s->boost_tail = e;
	e->prev = at;
	e->next = at->next;
	at->next->prev = e;
	at->next = e;
	e->where = SE_RUNQ;
	s->runnable++;
}

void sched_enqueue_front(struct sched *s, struct sched_entity *e)
{
	struct sched_entity *at = s->boost_tail;

	e->boosted = 0;
	e->prev = at;
	e->next = at->next;
	at->next->prev = e;
	at->next = e;
	e->where = SE_RUNQ;
	s->runnable++;
}

uint64_t sched_slice(const struct sched_entity *e, uint64_t quantum)
{
	return e->slice_left ? e->slice_left : quantum;
}

void sched_requeue_preempted(struct sched *s, struct sched_entity *e, uint64_t ran_ns,
			     uint64_t quantum)
{
	uint64_t slice = sched_slice(e, quantum);

	if (ran_ns < slice && slice - ran_ns >= quantum / 10) {
		e->slice_left = slice - ran_ns;
		sched_enqueue_front(s, e);
	} else {
		e->slice_left = 0;
		sched_enqueue(s, e, 0);
	}
}

struct sched_entity *sched_pick(struct sched *s)
{
	struct sched_entity *e = s->head.next;

	if (e == &s->head)
		return NULL;
	s->picks++;
	sched_remove(s, e);
	return e;
}

int sched_sleep(struct sched *s, struct sched_entity *e, uint64_t deadline)
{
	if (deadline != SCHED_NO_DEADLINE && s->heap_len == s->heap_cap) {
		size_t cap = s->heap_cap ? 2 * s->heap_cap : 64;
		/* Not realloc: a large block is an mmap that glibc grows with
		 * mremap(), which the worker's seccomp filter does not allow (the
		 * gatekeeper's heap of swapped sleepers grows on workers). */
		struct sched_entity **h = malloc(cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		if (s->heap_len)
			memcpy(h, s->heap, s->heap_len * sizeof(*h));
		free(s->heap);
		s->heap = h;
		s->heap_cap = cap;
	}
	e->deadline = deadline;
	e->slept_at = s->picks;
	e->slice_left = 0; /* it gave up the CPU: a whole quantum at its next turn */
	e->where = SE_SLEEP;
	s->sleeping++;
	if (deadline != SCHED_NO_DEADLINE) {
		s->heap_len++;
		heap_set(s, s->heap_len - 1, e);
		sift_up(s, s->heap_len - 1);
	}
	return 0;
}

void sched_remove(struct sched *s, struct sched_entity *e)
{
	if (e->where == SE_RUNQ) {
		if (e == s->boost_tail)
			s->boost_tail = e->prev; /* &head or another boosted one */
		e->boosted = 0;
		e->prev->next = e->next;
		e->next->prev = e->prev;
		e->next = e->prev = NULL;
		s->runnable--;
	} else if (e->where == SE_SLEEP) {
		heap_remove(s, e);
		s->sleeping--;
	}
	e->where = SE_NONE;
}

int sched_wake(struct sched *s, struct sched_entity *e)
{
	if (e->where != SE_SLEEP)
		return 0;
	sched_remove(s, e);
	sched_enqueue(s, e, 1);
	return 1;
}

size_t sched_expire(struct sched *s, uint64_t now, void (*cb)(struct sched_entity *, void *),
		    void *arg)
{
	size_t n = 0;

	while (s->heap_len && s->heap[0]->deadline <= now) {
		struct sched_entity *e = s->heap[0];

		sched_wake(s, e);
		if (cb)
			cb(e, arg);
		n++;
	}
	return n;
}

uint64_t sched_next_deadline(const struct sched *s)
{
	return s->heap_len ? s->heap[0]->deadline : SCHED_NO_DEADLINE;
}

/*
 * Scheduling logic of one worker, free of threads and KVM so that it can be
 * tested alone: a round-robin run queue, Denali's wake-up boost, and a
 * min-heap of idle deadlines.
 */
#ifndef DENALI_SCHED_SCHED_H
#define DENALI_SCHED_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define SCHED_NO_DEADLINE UINT64_MAX

enum sched_where { SE_NONE, SE_RUNQ, SE_SLEEP };

struct sched_entity {
	struct sched_entity *next, *prev; /* run queue links */
	uint64_t deadline;		  /* while sleeping */
	size_t heap_idx;		  /* index in the deadline heap, or SIZE_MAX */
	enum sched_where where;
	int boosted;	     /* queued in the boost segment at the head */
	uint64_t slept_at;   /* sched->picks when it last went to sleep */
	uint64_t slice_left; /* unspent part of its quantum after an early cut; 0 = fresh */
	void *owner;
};

struct sched {
	struct sched_entity head;	 /* run queue sentinel */
	struct sched_entity *boost_tail; /* last boosted entity, or &head */
	uint64_t picks;			 /* sched_pick() calls that found one */
	size_t runnable;
	size_t sleeping;	    /* with or without a deadline */
	struct sched_entity **heap; /* sleepers that have a deadline */
	size_t heap_len, heap_cap;
};

int sched_init(struct sched *s);
void sched_fini(struct sched *s);
void sched_entity_init(struct sched_entity *e, void *owner);

/*
 * Appends e to the run queue. With boost (Denali's wake-up boost) e joins
 * the boost segment at the head, behind earlier boosted entities, so a batch
 * of wake-ups runs in the order it woke. The boost is earned by sleeping: an
 * entity woken before anyone else was picked since it went to sleep is
 * appended instead, so a VM that idles and is woken at once takes its turn
 * like a spinner, and one that sleeps across a pick gets at most every
 * other pick. Nobody starves.
 */
void sched_enqueue(struct sched *s, struct sched_entity *e, int boost);

/* Puts e first among the entities that are not boosted: for a VM cut short
 * before its quantum was up (to let a woken VM run), it keeps its turn. */
void sched_enqueue_front(struct sched *s, struct sched_entity *e);

/* The time e may run at its next dispatch: what is left of a quantum cut short, or a whole
 * quantum. */
uint64_t sched_slice(const struct sched_entity *e, uint64_t quantum);

/*
 * Requeues e after it was preempted having run ran_ns of the slice sched_slice() gave it.
 * If at least a tenth of a quantum is left it keeps its turn (sched_enqueue_front) with only
 * that remainder, never a fresh quantum: a neighbour that wakes more often than once a quantum
 * cannot keep one spinner on the CPU forever. Otherwise it goes to the tail with a fresh
 * quantum for its next turn.
 */
void sched_requeue_preempted(struct sched *s, struct sched_entity *e, uint64_t ran_ns,
			     uint64_t quantum);

/* Removes and returns the first runnable entity, or NULL. */
struct sched_entity *sched_pick(struct sched *s);

/* Parks e until sched_wake() or its deadline (SCHED_NO_DEADLINE = none). */
int sched_sleep(struct sched *s, struct sched_entity *e, uint64_t deadline);

/* Moves a sleeping e to the head of the run queue (boosted). No-op if e is
 * already runnable. Returns 1 if it was sleeping. */
int sched_wake(struct sched *s, struct sched_entity *e);

/* Takes e out of whatever queue it is in. */
void sched_remove(struct sched *s, struct sched_entity *e);

/* Wakes every sleeper whose deadline is <= now, in deadline order; calls
 * cb for each (may be NULL). Returns how many woke. */
size_t sched_expire(struct sched *s, uint64_t now, void (*cb)(struct sched_entity *, void *),
		    void *arg);

/* The nearest deadline, or SCHED_NO_DEADLINE. */
uint64_t sched_next_deadline(const struct sched *s);

#endif

/*
 * A worker is one host thread with its own io_uring that runs the VMs
 * assigned to it, round-robin, with idle VMs parked until an event or their
 * deadline. Other threads talk to a worker only through worker_send().
 */
#ifndef DENALI_SCHED_WORKER_H
#define DENALI_SCHED_WORKER_H

#include "../devices/blk_poll.h"
#include "lateness.h"
#include "sched.h"

#include <liburing.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

struct vm;
struct worker;

/* A VM as a worker sees it. */
struct task {
	struct vm *vm;
	struct sched_entity se;
	struct worker *w;
	int swapped;		/* out in its swap slot (written on the worker thread) */
	uint32_t swap_gen;	/* swap-outs so far (atomic: the registry's log thread reads it) */
	struct task *wake_next; /* on w->wake_head, while wake_queued */
	int wake_queued;	/* coalesces wake-ups: one entry per VM */
	unsigned cmds;		/* worker_send() commands for it not yet handled */
	int woken;		/* an event came while it was swapped out (worker thread) */
	int added;		/* WCMD_ADD handled: counted in the worker's live tasks */
};

/* WCMD_SWAP_OUT / WCMD_SWAP_IN are carried out by the swap hook. WCMD_CONSOLE_LOG: the
 * console's log file was handed over; the worker writes what waits for it, without running
 * the VM (an idle VM may not exit for a long time). */
enum worker_cmd_op {
	WCMD_ADD,
	WCMD_STOP,
	WCMD_WAKE,
	WCMD_SWAP_OUT,
	WCMD_SWAP_IN,
	WCMD_CONSOLE_LOG
};

struct worker_cmd {
	enum worker_cmd_op op;
	struct task *task;
	struct worker_cmd *next;
};

struct worker_stats {
	uint64_t busy_ns; /* inside KVM_RUN and exit handling */
	uint64_t runs;	  /* dispatches */
	uint64_t exits;	  /* VM exits in them (struct vm_counters.exits), every VM's ever */
	uint64_t preemptions;
	uint64_t live;	      /* tasks owned */
	uint64_t swapped;     /* of which swapped out */
	uint64_t wakes;	      /* device wake-ups taken (coalesced per VM) */
	uint64_t completions; /* io_uring completions reaped */
	uint64_t cqe_errors;  /* completions of our own operations with res < 0 */
	struct lateness late; /* deadline wake-ups of this worker's VMs: how late they ran */
	struct blk_poll_stats blk_poll; /* of its block poller, once stopped */
};

/* Called on the worker thread when a task's VM has exited or been killed
 * and released its shell. */
typedef void (*worker_done_fn)(struct task *t, void *arg);

/* Called on the worker thread when a VM has just gone idle, before it is
 * parked; a negative return kills the VM (reason set by the hook), a
 * positive one means the hook took it out of the worker (swapped it out:
 * t->swapped is set), 0 parks it. */
typedef int (*worker_idle_fn)(struct task *t, void *arg);

/* Called on the worker thread when a parked VM is woken (runnable again):
 * the gatekeeper's gk_run(), so that a VM that runs is never chosen. */
typedef void (*worker_run_fn)(struct task *t, void *arg);

/*
 * The swap hook, on the worker thread, for a command about task t:
 *  WCMD_SWAP_OUT: swap t out if it is parked (sched entity asleep): return 1
 *    and set t->swapped once it is out, 0 if it was not (busy, or failed);
 *  WCMD_SWAP_IN: bring t back: 0 and it is runnable or parked again by the
 *    worker, negative after vm_kill() (it finishes), or positive: its memory
 *    is back but it must not run yet (t stays swapped for the worker; the
 *    hook sends WCMD_SWAP_IN again when it may, and returns 0 then);
 *  WCMD_WAKE / WCMD_STOP for a swapped t: an event for it (queue it for
 *    admission) / it is being stopped (release its slot); return ignored.
 */
typedef int (*worker_swap_fn)(struct worker *w, struct task *t, enum worker_cmd_op op, void *arg);

/* Called on the worker thread after a command has been handled and its
 * task's cmds count dropped, with no task: the worker does not touch the
 * task after that drop, so whoever frees tasks waits for cmds == 0 (a
 * finished VM can still have a command queued: a stop that crossed its
 * exit) and is told here to look again. */
typedef void (*worker_cmd_fn)(void *arg);

struct worker {
	int id;
	worker_idle_fn idle_hook;
	void *idle_arg;
	worker_run_fn run_hook;
	void *run_arg;
	worker_swap_fn swap_hook;
	void *swap_arg;
	worker_cmd_fn cmd_hook;
	void *cmd_arg;
	pthread_t thread;
	pid_t tid;
	struct io_uring ring;
	int efd;
	uint64_t efd_buf;
	struct task *wake_head; /* lock-free stack of tasks to wake (worker_wake) */
	int wake_signalled;	/* efd written since the stack was last taken */
	struct sched sched;
	timer_t timer;
	int timer_armed;
	int in_guest;	  /* a VM of this worker is in vm_run(): commands must kick it */
	struct task *cur; /* the task in vm_run() (written by the worker, atomic) */
	uint64_t quantum_ns;
	pthread_mutex_t lock;
	struct worker_cmd *inbox;
	int quit;
	worker_done_fn done;
	void *done_arg;
	struct worker_stats stats;
	struct blk_poll *blk_poll; /* its block poller (devices/blk_poll.h), or NULL */
	sem_t ready;		   /* posted by the thread once confined (worker_start waits) */
	int start_rc;		   /* the outcome of that set-up */
};

/* Starts a worker thread and returns once it has dropped its capabilities
 * and installed its seccomp allowlist (worker_seccomp.h), so no worker ever
 * runs a guest, or is seen, with either missing. quantum_ns >= 1 ms.
 * 0 or -errno. */
int worker_start(struct worker *w, int id, uint64_t quantum_ns, worker_done_fn done, void *arg);

/* Whether workers started from now on get a block poller (default: yes). A
 * poller spins only while its VMs do block I/O (blk_poll.h). */
void worker_set_blk_poll(int on);

/* Sets up a worker's io_uring, restricted to the opcodes its devices use
 * (uring.h); worker_start() uses it, tests check its allowlist. 0 or -errno. */
int worker_ring_init(struct io_uring *ring);

/* Sets the idle hook; call before the first task is sent. */
void worker_set_idle_hook(struct worker *w, worker_idle_fn fn, void *arg);
void worker_set_run_hook(struct worker *w, worker_run_fn fn, void *arg);

/* Sets the swap hook; call before the first task is sent. */
void worker_set_swap_hook(struct worker *w, worker_swap_fn fn, void *arg);

/* Sets the command hook; call before the first task is sent. */
void worker_set_cmd_hook(struct worker *w, worker_cmd_fn fn, void *arg);

/* Takes a parked task off this worker's queues (from the swap hook, worker
 * thread only). */
void worker_unpark(struct worker *w, struct task *t);

/* Queues a command for the worker and wakes it; t->cmds counts it until the
 * worker is done with t (see worker_cmd_fn). Any thread. 0 or -errno. */
int worker_send(struct worker *w, enum worker_cmd_op op, struct task *t);

/*
 * Wakes the task's VM from any thread with events (devices: a frame queued,
 * a block request done), with no allocation, lock or signal per call: the
 * events are posted, the task is pushed once on its worker's wake stack,
 * and a worker that is not this thread is woken through its eventfd, once
 * until it next looks.
 */
void worker_wake(struct task *t, uint64_t events);

/* Asks the worker to finish once it owns no task, and joins it. */
void worker_stop(struct worker *w);

/* Confines the calling helper thread as a worker is confined: no capabilities, the worker
 * seccomp allowlist. For threads that work on shells beside the workers (the shell
 * reclaimer: shell_reclaimer_start(worker_helper_confine)). 0 or -errno. */
int worker_helper_confine(void);

/* Installs the preemption signal handler; once per process. */
int worker_signals_init(void);

#endif

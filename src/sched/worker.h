/*
 * A worker is one host thread with its own io_uring that runs the VMs
 * assigned to it, round-robin, with idle VMs parked until an event or their
 * deadline. Other threads talk to a worker only through worker_send().
 */
#ifndef DENALI_SCHED_WORKER_H
#define DENALI_SCHED_WORKER_H

#include "sched.h"

#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

struct vm;
struct worker;

/* A VM as a worker sees it. */
struct task {
	struct vm *vm;
	struct sched_entity se;
	struct worker *w;
};

enum worker_cmd_op { WCMD_ADD, WCMD_STOP, WCMD_WAKE };

struct worker_cmd {
	enum worker_cmd_op op;
	struct task *task;
	struct worker_cmd *next;
};

struct worker_stats {
	uint64_t busy_ns; /* inside KVM_RUN and exit handling */
	uint64_t runs;	  /* dispatches */
	uint64_t preemptions;
	uint64_t live; /* tasks owned */
};

/* Called on the worker thread when a task's VM has exited or been killed
 * and released its shell. */
typedef void (*worker_done_fn)(struct task *t, void *arg);

/* Called on the worker thread when a VM has just gone idle, before it is
 * parked; a non-zero return kills the VM (reason set by the hook). */
typedef int (*worker_idle_fn)(struct task *t, void *arg);

struct worker {
	int id;
	worker_idle_fn idle_hook;
	void *idle_arg;
	pthread_t thread;
	pid_t tid;
	struct io_uring ring;
	int efd;
	uint64_t efd_buf;
	struct sched sched;
	timer_t timer;
	int timer_armed;
	int in_guest; /* a VM of this worker is in vm_run(): commands must kick it */
	uint64_t quantum_ns;
	pthread_mutex_t lock;
	struct worker_cmd *inbox;
	int quit;
	worker_done_fn done;
	void *done_arg;
	struct worker_stats stats;
};

/* Starts a worker thread. quantum_ns >= 1 ms. 0 or -errno. */
int worker_start(struct worker *w, int id, uint64_t quantum_ns, worker_done_fn done, void *arg);

/* Sets the idle hook; call before the first task is sent. */
void worker_set_idle_hook(struct worker *w, worker_idle_fn fn, void *arg);

/* Queues a command for the worker and wakes it. Any thread. 0 or -errno. */
int worker_send(struct worker *w, enum worker_cmd_op op, struct task *t);

/* Asks the worker to finish once it owns no task, and joins it. */
void worker_stop(struct worker *w);

/* Installs the preemption signal handler; once per process. */
int worker_signals_init(void);

#endif

/*
 * Commands to a worker (src/sched/worker.c) and the lifetime of their task:
 * a task may still have a command queued after its VM has finished (a stop
 * sent as the VM exited by itself), and the worker reads the task to drop
 * it. t->cmds counts such commands until the worker is done with the task,
 * and the command hook says when to look again; whoever frees tasks (the
 * serve fleet) waits for cmds == 0. Freeing at "done" alone was a
 * use-after-free in `denalid serve` under load. No /dev/kvm needed: the
 * tasks' VMs are already exited, as they are in that race.
 */
#include "sched/worker.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

struct hook_state {
	sem_t called; /* posted by the hook, on the worker thread */
	sem_t go;     /* the hook waits on it: the test holds the worker here */
	unsigned calls;
};

static void on_cmd(void *arg)
{
	struct hook_state *h = arg;

	__atomic_fetch_add(&h->calls, 1, __ATOMIC_SEQ_CST);
	sem_post(&h->called);
	while (sem_wait(&h->go) < 0)
		;
}

static void on_done(struct task *t, void *arg)
{
	(void)t;
	(void)arg;
	fail_msg("no task of this test finishes on the worker: they are exited already");
}

static struct task *exited_task(void)
{
	struct task *t = calloc(1, sizeof(*t));
	struct vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(t);
	assert_non_null(vm);
	vm->status = VM_EXITED;
	t->vm = vm;
	return t;
}

static void free_task(struct task *t)
{
	free(t->vm);
	free(t);
}

static void test_cmds_count_queued_commands(void **state)
{
	struct hook_state h = {.calls = 0};
	struct worker w;
	struct task *a = exited_task(), *b = exited_task();

	(void)state;
	assert_int_equal(worker_signals_init(), 0);
	sem_init(&h.called, 0, 0);
	sem_init(&h.go, 0, 0);
	assert_int_equal(worker_start(&w, 0, 1000000, on_done, NULL), 0);
	worker_set_cmd_hook(&w, on_cmd, &h);
	a->w = b->w = &w;

	/* Both queued before the worker can look (it is parked in the hook
	 * after the first, or has not drained yet). */
	assert_int_equal(worker_send(&w, WCMD_STOP, a), 0);
	while (sem_wait(&h.called) < 0)
		;
	/* The worker is held in the hook after a's command: a is free, b is not. */
	assert_int_equal(__atomic_load_n(&a->cmds, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(worker_send(&w, WCMD_STOP, b), 0);
	assert_int_equal(__atomic_load_n(&b->cmds, __ATOMIC_SEQ_CST), 1);
	free_task(a); /* the worker must never touch a again */
	sem_post(&h.go);
	while (sem_wait(&h.called) < 0)
		;
	assert_int_equal(__atomic_load_n(&b->cmds, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(__atomic_load_n(&h.calls, __ATOMIC_SEQ_CST), 2);
	free_task(b);
	sem_post(&h.go);
	worker_stop(&w);
	sem_destroy(&h.called);
	sem_destroy(&h.go);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmds_count_queued_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

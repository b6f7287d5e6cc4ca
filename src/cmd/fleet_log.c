/*
 * The daemon's log thread (fleet_logger_main) and its wake-up hook: event
 * lines to the daemon's log, console.log files opened for workers and
 * written for VMs that ended (console_log.h).
 */
#include "fleet_impl.h"

#include "console_log.h"
#include "events.h"

#include "ctl/log.h"
#include "sched/worker.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <time.h>

/* The log thread works only on the VMs queued here, never by walking the registry: with
 * 100,000 registered that walk, twice a second, was most of an idle daemon's CPU (issue 10). */
void fleet_log_queue(struct fleet *f, struct fleet_vm *v)
{
	struct fleet_vm *old;

	/* No log thread (it could not start): nothing would ever take it off. */
	if (!f->logger_running || __atomic_exchange_n(&v->log_queued, 1, __ATOMIC_SEQ_CST))
		return; /* queued already: the log thread looks at it once for both */
	old = __atomic_load_n(&f->log_head, __ATOMIC_RELAXED);
	do
		v->log_next = old;
	while (!__atomic_compare_exchange_n(&f->log_head, &old, v, 1, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
	pthread_cond_signal(&f->logger_cond);
}

/* A worker asks for a console.log (console_log_enable): the log thread opens it now rather
 * than at its next turn. Without f->lock (workers never wait for the log thread); a signal
 * that comes while the log thread is not waiting is lost, and its next turn (at most half a
 * second later) finds the VM on the queue. */
void fleet_log_notify(void *arg)
{
	struct fleet_vm *v = arg;

	fleet_log_queue(v->fleet, v);
}

#define LOG_BATCH 256 /* VMs served per turn of the log thread */
#define LOG_LINES 64  /* event lines formatted per turn */

/*
 * The log thread: event lines to the daemon's log, and console.log files
 * opened for the workers that ask (they write them through their io_uring)
 * or written for VMs that ended. It takes f->lock only to look, and does
 * every file operation without it: workers take f->lock when a VM ends. The
 * VMs it works on are pinned (fleet_vm.pins), so a stop waits for it. It
 * needs no capabilities: privs_thread_create() drops them before it runs.
 */
void *fleet_logger_main(void *arg)
{
	static char lines[LOG_LINES][400];
	struct fleet_vm *batch[LOG_BATCH];
	struct fleet *f = arg;
	struct fleet_vm *rest = NULL; /* taken from the queue, not yet looked at */
	struct timespec ts;

	pthread_mutex_lock(&f->lock);
	while (!f->logger_quit) {
		unsigned nl = 0, nb = 0;
		int more, taken;

		while (nl < LOG_LINES && f->ev.logged_seq + 1 < f->ev.next_seq) {
			const struct vm_event *e = event_log_get(&f->ev, ++f->ev.logged_seq);

			if (e) /* else it fell out of the ring before it was logged */
				event_format(e, lines[nl++], sizeof(lines[0]));
		}
		fleet_rates_tick(f);
		if (!rest)
			rest = __atomic_exchange_n(&f->log_head, NULL, __ATOMIC_ACQ_REL);
		taken = rest != NULL;
		while (rest && nb < LOG_BATCH) {
			struct fleet_vm *v = rest;
			struct vm *vm = v->task.vm;
			int want;

			rest = v->log_next;
			/* Cleared before looking: a request made after this queues it again. */
			__atomic_store_n(&v->log_queued, 0, __ATOMIC_SEQ_CST);
			if (!f->state_dir || !vm)
				continue;
			want = v->done ? console_log_pending(vm)
				       : console_log_want(&vm->console) != CONSOLE_LOG_IDLE;
			if (want) {
				v->pins++;
				batch[nb++] = v;
			}
		}
		if (taken && !nb) /* a stop may wait for log_queued */
			pthread_cond_broadcast(&f->done_cond);
		more = nl == LOG_LINES || rest;
		pthread_mutex_unlock(&f->lock);
		fleet_trim_tick(f);
		for (unsigned i = 0; i < nl; i++)
			log_info("%s", lines[i]);
		/* done is set under f->lock, before the pin: read with it, it stays true. */
		for (unsigned i = 0; i < nb; i++)
			if (batch[i]->done)
				console_log_flush(f->state_dir, batch[i]->task.vm, f->log_max);
			else if (console_log_serve(f->state_dir, batch[i]->task.vm, f->log_max) ==
				 0)
				/* The worker writes at the VM's next exit, or now if it idles. */
				worker_send(batch[i]->task.w, WCMD_CONSOLE_LOG, &batch[i]->task);
		pthread_mutex_lock(&f->lock);
		for (unsigned i = 0; i < nb; i++)
			batch[i]->pins--;
		if (nb)
			pthread_cond_broadcast(&f->done_cond);
		if (more)
			continue;
		/* Twice a second, whatever the number of VMs: a turn with nothing queued costs
		 * nothing per VM (event lines are not signalled; they wait for the turn). */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (__atomic_load_n(&f->log_head, __ATOMIC_ACQUIRE))
			continue;
		pthread_cond_timedwait(&f->logger_cond, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

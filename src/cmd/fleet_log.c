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

/* A worker asks for a console.log (console_log_enable): the log thread opens it now rather
 * than at its next turn. Without f->lock (workers never wait for the log thread); a signal
 * that comes while the log thread is not waiting is lost, and the next turn serves it. */
void fleet_log_notify(void *arg)
{
	struct fleet *f = arg;

	pthread_cond_signal(&f->logger_cond);
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
	struct timespec ts;

	pthread_mutex_lock(&f->lock);
	while (!f->logger_quit) {
		unsigned nl = 0, nb = 0;
		int more;

		while (nl < LOG_LINES && f->ev.logged_seq + 1 < f->ev.next_seq) {
			const struct vm_event *e = event_log_get(&f->ev, ++f->ev.logged_seq);

			if (e) /* else it fell out of the ring before it was logged */
				event_format(e, lines[nl++], sizeof(lines[0]));
		}
		fleet_rates_tick(f);
		for (struct fleet_vm *v = f->vms; v && nb < LOG_BATCH; v = v->next) {
			struct vm *vm = v->task.vm;
			uint32_t gen = __atomic_load_n(&v->task.swap_gen, __ATOMIC_ACQUIRE);
			int out = __atomic_load_n(&v->task.swapped, __ATOMIC_ACQUIRE), want;

			/* A VM in its swap slot writes nothing: looked at once after it
			 * went out, then not again until it has been back (its struct
			 * vm is not touched: 100,000 of them are a long walk). */
			if (out && !v->done && v->logged_gen == gen + 1)
				continue;
			if (!f->state_dir || !vm)
				continue;
			want = v->done ? console_log_pending(vm)
				       : console_log_want(&vm->console) != CONSOLE_LOG_IDLE;
			v->logged_gen = out && !want ? gen + 1 : 0;
			if (want) {
				v->pins++;
				batch[nb++] = v;
			}
		}
		more = nl == LOG_LINES || nb == LOG_BATCH;
		pthread_mutex_unlock(&f->lock);
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
		/* Twice a second; a large fleet is walked less often (~20 us of the
		 * log thread per VM and second at most: 2 s at 100,000 VMs). */
		{
			uint64_t ns = 500000000ull, walk = (uint64_t)f->nvms * 20000ull;

			if (walk > ns)
				ns = walk > 5000000000ull ? 5000000000ull : walk;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (time_t)(ns / 1000000000ull);
			ts.tv_nsec += (long)(ns % 1000000000ull);
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
		}
		pthread_cond_timedwait(&f->logger_cond, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/*
 * Worker thread: dispatch loop, preemption timer, io_uring sleep.
 *
 * Preemption: a per-worker POSIX timer delivers WORKER_SIG to this thread
 * only while a VM runs and another is waiting. The handler sets
 * immediate_exit in the running VM's kvm_run, so the signal either breaks
 * KVM_RUN (EINTR) or makes the next entry return at once; it is never lost
 * and never needs unblocking around KVM_RUN.
 */
#include "worker.h"

#include "../devices/blk_poll.h"
#include "../devices/uring.h"
#include "../vmm/shell.h"
#include "../vmm/vm.h"
#include "worker_seccomp.h"

#include <cap-ng.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#define WORKER_SIG (SIGRTMIN + 1)
/* user_data: operation in the top byte (DEV_UD_*), object below. */
#define UD_EVENTFD   (1ull << DEV_UD_SHIFT)
#define RING_ENTRIES 256

static int blk_poll_on = 1; /* worker_set_blk_poll() */
static __thread struct kvm_run *volatile running;
static __thread struct worker *self; /* the worker running on this thread */

static void on_preempt(int sig)
{
	struct kvm_run *r = running;

	(void)sig;
	if (r)
		r->immediate_exit = 1;
}

int worker_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_preempt;
	sa.sa_flags = SA_RESTART; /* KVM_RUN still returns EINTR, as it must */
	sigemptyset(&sa.sa_mask);
	if (sigaction(WORKER_SIG, &sa, NULL) < 0)
		return -errno;
	return 0;
}

static void arm_eventfd(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	io_uring_prep_read(sqe, w->efd, &w->efd_buf, sizeof(w->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, UD_EVENTFD);
}

static void set_timer(struct worker *w, uint64_t ns)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(ns / 1000000000ull),
			 .tv_nsec = (long)(ns % 1000000000ull)},
	};

	timer_settime(w->timer, 0, &its, NULL);
	w->timer_armed = ns != 0;
}

/*
 * Arms the preemption timer for this dispatch: the slice the VM has left
 * (sched_slice: a whole quantum, or the rest of one cut short) while another VM
 * is waiting, and never past the nearest idle deadline, so that a sleeper is
 * not kept waiting behind a spinner. A lone VM with no deadline pending runs
 * without a timer.
 */
static void set_slice(struct worker *w, struct task *t, uint64_t now)
{
	uint64_t slice = w->sched.runnable > 0 ? sched_slice(&t->se, w->quantum_ns) : 0;
	uint64_t next = sched_next_deadline(&w->sched);

	if (next != SCHED_NO_DEADLINE) {
		/* At least a tenth of a quantum, so that a crowd of near deadlines
		 * cannot preempt a VM before it has done any work. */
		uint64_t floor = w->quantum_ns / 10;
		uint64_t until = next > now + floor ? next - now : floor;

		if (!slice || until < slice)
			slice = until;
	}
	if (slice)
		set_timer(w, slice);
}

static void take_wakes(struct worker *w);

static void finish(struct worker *w, struct task *t)
{
	struct shell *sh = t->vm->shell;

	/* In-flight host I/O lands first, and no device can wake it after. */
	vm_quiesce_devices(t->vm);
	vm_detach_devices(t->vm);
	take_wakes(w);
	vm_unbind(t->vm);
	if (sh)
		shell_put(sh);
	/* A VM stopped while it waited for admission was never added. */
	if (t->added)
		w->stats.live--;
	t->added = 0;
	w->done(t, w->done_arg);
}

/* A parked VM becomes runnable: its idle() returns with these events. */
static void wake(struct task *t, uint64_t events)
{
	struct vm *vm = t->vm;

	vm->status = VM_RUNNABLE;
	if (t->w && t->w->run_hook)
		t->w->run_hook(t, t->w->run_arg);
	/* Its deadline woke it: how late it runs is counted at its next dispatch. */
	if ((events & DENALI_EV_TIMER) && vm->deadline_ns != DENALI_NO_DEADLINE)
		vm->late_from = vm->deadline_ns;
	vm_wake(vm, events);
}

static void timer_wake(struct sched_entity *e, void *arg)
{
	(void)arg;
	wake(e->owner, DENALI_EV_TIMER);
}

/* A task back from its swap slot: runnable if its deadline passed or an
 * event is pending, parked until its deadline otherwise. */
static void readmit(struct worker *w, struct task *t)
{
	struct vm *vm = t->vm;
	uint64_t now = vm_now_ns();

	t->swapped = 0;
	w->stats.swapped--;
	/* An event that came while it was out (a frame queued on its port) is
	 * why it is back: it runs and its devices deliver. */
	if (vm->status != VM_IDLE) {
		sched_enqueue(&w->sched, &t->se, 1);
	} else if (vm->deadline_ns <= now || t->woken ||
		   __atomic_load_n(&vm->pending, __ATOMIC_ACQUIRE)) {
		wake(t, vm->deadline_ns <= now ? DENALI_EV_TIMER : 0);
		sched_enqueue(&w->sched, &t->se, 1);
	} else if (sched_sleep(&w->sched, &t->se, vm->deadline_ns)) {
		vm_kill(vm, "out of memory for the deadline heap");
		finish(w, t);
	}
	t->woken = 0;
}

static void handle_swap(struct worker *w, struct task *t, enum worker_cmd_op op)
{
	if (!w->swap_hook)
		return;
	if (op == WCMD_SWAP_OUT) {
		/* Block I/O in flight lands before the memory goes. */
		if (!t->swapped)
			vm_quiesce_devices(t->vm);
		if (!t->swapped && w->swap_hook(w, t, op, w->swap_arg) > 0)
			w->stats.swapped++;
	} else if (t->swapped) {
		int r = w->swap_hook(w, t, op, w->swap_arg);

		if (r == 0) {
			readmit(w, t);
		} else if (r < 0) {
			t->swapped = 0;
			w->stats.swapped--;
			finish(w, t);
		} /* > 0: read in, held until a later WCMD_SWAP_IN (its swap-log record) */
	}
}

/* An event for t: a parked VM runs again, a swapped-out one asks for
 * admission first. */
static void wake_task(struct worker *w, struct task *t)
{
	if (t->swapped && w->swap_hook) {
		t->woken = 1;
		w->swap_hook(w, t, WCMD_WAKE, w->swap_arg);
	} else if (sched_wake(&w->sched, &t->se))
		wake(t, 0);
}

/* Takes the wake stack: every VM on it that is parked runs again. */
static void take_wakes(struct worker *w)
{
	struct task *t;

	/* Re-armed before the stack is taken, and even when it is empty: a
	 * wake-up whose eventfd write was already reaped must not leave the
	 * flag set, or every later wake-up from another thread would be
	 * swallowed. A push after the exchange below sees 0 and writes. */
	if (__atomic_load_n(&w->wake_signalled, __ATOMIC_RELAXED))
		__atomic_store_n(&w->wake_signalled, 0, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&w->wake_head, __ATOMIC_SEQ_CST))
		return;
	t = __atomic_exchange_n(&w->wake_head, NULL, __ATOMIC_ACQ_REL);
	while (t) {
		struct task *next = t->wake_next;

		/* Cleared before acting, so a later wake queues it again. */
		__atomic_store_n(&t->wake_queued, 0, __ATOMIC_SEQ_CST);
		w->stats.wakes++;
		wake_task(w, t);
		t = next;
	}
}

void worker_wake(struct task *t, uint64_t events)
{
	struct worker *w = t->w;
	struct task *old;
	uint64_t one = 1;

	if (events)
		vm_post_events(t->vm, events);
	if (self == w && !t->swapped) { /* the owner itself: no queue, no syscall */
		w->stats.wakes++;
		if (sched_wake(&w->sched, &t->se)) {
			wake(t, 0);
			/* Woken by the exit of another VM of ours (a frame it sent):
			 * that one leaves the CPU after this exit, as a wake-up from
			 * another thread preempts it. Without this a sender whose idle()
			 * returns at once (its ring was full) kept the CPU for its whole
			 * slice and the receiver's queue overflowed meanwhile. */
			if (w->cur && w->cur != t)
				w->cur->vm->yield = 1;
		}
		return;
	}
	if (__atomic_exchange_n(&t->wake_queued, 1, __ATOMIC_SEQ_CST))
		return; /* already on the stack: coalesced */
	old = __atomic_load_n(&w->wake_head, __ATOMIC_RELAXED);
	do
		t->wake_next = old;
	while (!__atomic_compare_exchange_n(&w->wake_head, &old, t, 1, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
	/* The owner (a swapped-out VM: admission waits for the loop) or a
	 * worker already told: nothing more to do. */
	if (self == w || __atomic_exchange_n(&w->wake_signalled, 1, __ATOMIC_SEQ_CST))
		return;
	if (write(w->efd, &one, sizeof(one)) < 0)
		return; /* the counter is full: the worker is being woken anyway */
	/* The VM on the CPU leaves it now, so the one woken runs: its timer, if
	 * armed at all, may be a whole slice or a far deadline away. Not when the
	 * one woken is that VM and no event comes with it: frames for it (its
	 * net device wakes it only between an exit and its next entry, when it
	 * fills anyway) would cost it a KVM_RUN for nothing; the wake-up on the
	 * stack still runs it if it parks meanwhile. */
	if (__atomic_load_n(&w->in_guest, __ATOMIC_SEQ_CST) &&
	    (events || __atomic_load_n(&w->cur, __ATOMIC_SEQ_CST) != t))
		pthread_kill(w->thread, WORKER_SIG);
}

static void dev_wake(void *arg, uint64_t events)
{
	worker_wake(arg, events);
}

static void reap(struct worker *w);

static int dev_reap(void *arg)
{
	struct worker *w = arg;
	struct io_uring_cqe *cqe;
	int rc;

	io_uring_submit(&w->ring);
	rc = io_uring_wait_cqe(&w->ring, &cqe);
	if (rc < 0 && rc != -EINTR)
		return rc;
	reap(w);
	return 0;
}

static void dev_poll(void *arg)
{
	reap(arg);
}

static void handle_cmd(struct worker *w, struct worker_cmd *c)
{
	struct task *t = c->task;
	struct dev_host host;

	switch (c->op) {
	case WCMD_ADD:
		/* Stopped while the gatekeeper held it, and the add crossed the stop. */
		if (t->vm->status == VM_EXITED || t->vm->status == VM_KILLED)
			break;
		t->w = w;
		t->added = 1;
		w->stats.live++;
		host = (struct dev_host){.ring = &w->ring,
					 .wake = dev_wake,
					 .wake_arg = t,
					 .reap = dev_reap,
					 .reap_arg = w,
					 .poll = dev_poll,
					 .blk_poll = w->blk_poll};
		if (vm_attach_devices(t->vm, &host)) {
			vm_kill(t->vm, "devices: cannot attach to worker %d", w->id);
			t->swapped = 0;
			finish(w, t);
			break;
		}
		if (t->swapped) { /* restored in its slot: it comes in on its first event */
			w->stats.swapped++;
			break;
		}
		sched_enqueue(&w->sched, &t->se, 0);
		break;
	case WCMD_WAKE:
		wake_task(w, t);
		break;
	case WCMD_STOP:
		if (t->vm->status == VM_EXITED || t->vm->status == VM_KILLED)
			break; /* already finished */
		if (t->swapped) {
			if (w->swap_hook)
				w->swap_hook(w, t, WCMD_STOP, w->swap_arg);
			t->swapped = 0;
			w->stats.swapped--;
		}
		sched_remove(&w->sched, &t->se);
		vm_kill(t->vm, "stopped by the operator");
		finish(w, t);
		break;
	case WCMD_SWAP_OUT:
	case WCMD_SWAP_IN:
		handle_swap(w, t, c->op);
		break;
	case WCMD_CONSOLE_LOG:
		/* A finished VM's log is the control thread's; a swapped one has no ring. */
		if (t->added && !t->swapped && t->vm->status != VM_EXITED &&
		    t->vm->status != VM_KILLED)
			console_log_kick(&t->vm->console);
		break;
	}
}

static void drain_inbox(struct worker *w)
{
	struct worker_cmd *c, *rev = NULL;

	pthread_mutex_lock(&w->lock);
	c = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->lock);
	while (c) { /* the inbox is LIFO; restore arrival order */
		struct worker_cmd *next = c->next;

		c->next = rev;
		rev = c;
		c = next;
	}
	while (rev) {
		struct worker_cmd *next = rev->next;
		struct task *t = rev->task;

		handle_cmd(w, rev);
		free(rev);
		/* The last touch of t: it may be freed as soon as this lands. */
		__atomic_fetch_sub(&t->cmds, 1, __ATOMIC_ACQ_REL);
		if (w->cmd_hook)
			w->cmd_hook(w->cmd_arg);
		rev = next;
	}
}

static void wait_events(struct worker *w)
{
	uint64_t deadline = sched_next_deadline(&w->sched), now;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int rc;

	if (deadline != SCHED_NO_DEADLINE) {
		now = vm_now_ns();
		if (deadline <= now)
			return;
		ts.tv_sec = (long long)((deadline - now) / 1000000000ull);
		ts.tv_nsec = (long long)((deadline - now) % 1000000000ull);
		rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
	} else {
		rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, NULL, NULL);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR)
		fprintf(stderr, "denali: worker %d: io_uring wait: %s\n", w->id, strerror(-rc));
	reap(w);
}

/*
 * Handles every completion ready, in one batch: called between dispatches
 * as well as after a wait, so device I/O is not held up by busy VMs.
 */
static void reap(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		seen++;
		switch (DEV_UD_OP(ud)) {
		case DEV_UD_DEVIO:
			((struct dev_io *)(uintptr_t)DEV_UD_OBJ(ud))
			    ->done((struct dev_io *)(uintptr_t)DEV_UD_OBJ(ud), cqe->res);
			break;
		case UD_EVENTFD >> DEV_UD_SHIFT:
			if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -EAGAIN) {
				w->stats.cqe_errors++;
				fprintf(stderr, "denali: worker %d: eventfd read: %s\n", w->id,
					strerror(-cqe->res));
			}
			arm_eventfd(w);
			break;
		default:
			/* Timeouts and the like carry no object. */
			break;
		}
	}
	io_uring_cq_advance(&w->ring, seen);
	w->stats.completions += seen;
	/* Completion handlers resubmit short I/O and queue new requests. */
	if (io_uring_sq_ready(&w->ring))
		io_uring_submit(&w->ring);
}

static void dispatch(struct worker *w, struct task *t)
{
	struct vm *vm = t->vm;
	uint64_t t0, elapsed, exits0;
	enum vm_stop stop;

	if (!vm->shell) {
		struct shell *sh;
		int rc = shell_get_for(vm->mem, vm->mem_size, &sh);

		if (rc == 0 && (rc = vm_bind(vm, sh)) != 0)
			shell_put(sh);
		if (rc) {
			vm_kill(vm, "no VM shell: %s", strerror(-rc));
			finish(w, t);
			return;
		}
	}
	/* A preemption that landed after the VM's last exit was for that slice,
	 * not this one: without this, a sleeper woken by its deadline would be
	 * sent back to the tail by its first KVM_RUN. */
	vm->shell->run->immediate_exit = 0;
	/* `running` before the timer: a timer that fires before KVM_RUN starts (the thread
	 * descheduled in between, on a loaded host) must still find the VM to cut short, or the
	 * one-shot timer is lost and the VM keeps the CPU until it stops by itself. */
	running = vm->shell->run;
	t0 = vm_now_ns();
	if (vm->late_from) {
		uint64_t late = t0 > vm->late_from ? t0 - vm->late_from : 0;

		lateness_add(&vm->ctr.late, late);
		lateness_add(&w->stats.late, late);
		vm->late_from = 0;
	}
	set_slice(w, t, t0);
	/* Pairs with worker_send() and worker_wake(): either they see in_guest and
	 * signal us, or we see their command or wake-up here and leave the guest
	 * at once (a wake pushed after take_wakes() looked, whose waker saw us
	 * still outside, would otherwise wait for this VM's whole slice, and the
	 * wakes after it are coalesced into that one). */
	__atomic_store_n(&w->in_guest, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->inbox, __ATOMIC_SEQ_CST)) {
		vm->shell->run->immediate_exit = 1;
	} else if (__atomic_load_n(&w->wake_head, __ATOMIC_SEQ_CST)) {
		/* Taken here: most often the only one is for this very VM (a frame
		 * for it came after the loop looked), which needs no trip out and
		 * back (a KVM_RUN for nothing, a third of all runs in the tap echo). */
		size_t before = w->sched.runnable;

		take_wakes(w);
		if (w->sched.runnable > before)
			vm->shell->run->immediate_exit = 1;
	}
	__atomic_store_n(&w->cur, t, __ATOMIC_SEQ_CST);
	exits0 = vm->ctr.exits;
	stop = vm_run(vm);
	__atomic_store_n(&w->cur, NULL, __ATOMIC_SEQ_CST);
	__atomic_store_n(&w->in_guest, 0, __ATOMIC_SEQ_CST);
	running = NULL;
	if (w->timer_armed)
		set_timer(w, 0);
	elapsed = vm_now_ns() - t0;
	w->stats.busy_ns += elapsed;
	w->stats.runs++;
	/* Summed over workers, the fleet's exit rate costs nothing per registered VM. */
	__atomic_store_n(&w->stats.exits, w->stats.exits + (vm->ctr.exits - exits0),
			 __ATOMIC_RELAXED);
	switch (stop) {
	case VM_STOP_PREEMPT:
		w->stats.preemptions++;
		/* Cut short by a deadline before its quantum was up: it keeps its
		 * turn with what is left of the quantum, right behind the VM that woke. */
		sched_requeue_preempted(&w->sched, &t->se, elapsed, w->quantum_ns);
		break;
	case VM_STOP_IDLE:
		if (w->idle_hook) {
			int r = w->idle_hook(t, w->idle_arg);

			if (r < 0) {
				finish(w, t);
				break;
			}
			if (r > 0) { /* swapped out by the hook */
				w->stats.swapped++;
				break;
			}
		}
		if (sched_sleep(&w->sched, &t->se, vm->deadline_ns)) {
			vm_kill(vm, "out of memory for the deadline heap");
			finish(w, t);
		}
		break;
	case VM_STOP_EXIT:
	case VM_STOP_KILLED:
		finish(w, t);
		break;
	}
}

/*
 * The worker's own set-up, before any guest runs and before worker_start()
 * returns: no capabilities (a worker needs none, its descriptors are open
 * already; capabilities are per thread, so it drops its own), its timer, then
 * the seccomp allowlist. 0 or -errno.
 */
static int worker_confine(struct worker *w)
{
	struct sigevent sev;
	char name[16];
	int rc;

	w->tid = gettid();
	snprintf(name, sizeof(name), "denali-w%d", w->id);
	prctl(PR_SET_NAME, name); /* ps -L, /proc/PID/task/TID/comm */
	self = w;
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0 && geteuid() == 0) {
		fprintf(stderr, "denali: worker %d: cannot drop capabilities\n", w->id);
		return -EPERM;
	}
	prctl(PR_SET_TIMERSLACK, 1UL); /* idle deadlines are what we sleep for */
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = WORKER_SIG;
	sev._sigev_un._tid = w->tid;
	if (timer_create(CLOCK_MONOTONIC, &sev, &w->timer) < 0) {
		rc = -errno;
		fprintf(stderr, "denali: worker %d: timer_create: %s\n", w->id, strerror(errno));
		return rc;
	}
	rc = worker_seccomp_install(WORKER_SIG);
	if (rc < 0) {
		timer_delete(w->timer);
		return rc;
	}
	return 0;
}

int worker_helper_confine(void)
{
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0 && geteuid() == 0) {
		fprintf(stderr, "denali: helper thread: cannot drop capabilities\n");
		return -EPERM;
	}
	return worker_seccomp_install(WORKER_SIG);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->start_rc = worker_confine(w);
	sem_post(&w->ready);
	if (w->start_rc < 0)
		return NULL;
	arm_eventfd(w);
	for (;;) {
		struct sched_entity *e;

		/* Completions first: a reaped eventfd read is a wake-up whose
		 * command or wake must then be seen before the worker sleeps. */
		reap(w);
		drain_inbox(w);
		take_wakes(w);
		sched_expire(&w->sched, vm_now_ns(), timer_wake, w);
		e = sched_pick(&w->sched);
		if (e) {
			dispatch(w, e->owner);
			continue;
		}
		/* Swapped VMs hold nothing of the worker's: it may stop. */
		if (__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE) &&
		    w->stats.live == w->stats.swapped)
			break;
		wait_events(w);
	}
	timer_delete(w->timer);
	return NULL;
}

/*
 * What a worker's ring may do: read (its eventfd, block reads), write
 * (block writes, console logs), fsync (block flush) and a timeout (liburing's
 * timed wait on a kernel without extended arguments). Nothing else: no open,
 * no socket, no splice, no register operation once running.
 */
static const uint8_t worker_ring_ops[] = {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC,
					  IORING_OP_TIMEOUT};

int worker_ring_init(struct io_uring *ring)
{
	static int warned;
	const struct uring_allow allow = {worker_ring_ops,
					  sizeof(worker_ring_ops) / sizeof(worker_ring_ops[0]), 0};
	int restricted = 0, rc = uring_init_restricted(ring, RING_ENTRIES, &allow, &restricted);

	if (rc == 0 && !restricted && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		fprintf(stderr, "denali: this kernel cannot restrict io_uring opcodes; worker "
				"rings run unrestricted\n");
	return rc;
}

int worker_start(struct worker *w, int id, uint64_t quantum_ns, worker_done_fn done, void *arg)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->quantum_ns = quantum_ns < 1000000 ? 1000000 : quantum_ns;
	w->done = done;
	w->done_arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	sched_init(&w->sched);
	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	rc = worker_ring_init(&w->ring);
	if (rc < 0) {
		close(w->efd);
		return rc;
	}
	sem_init(&w->ready, 0, 0);
	rc = -pthread_create(&w->thread, NULL, worker_main, w);
	if (rc == 0) {
		/* The caller may count threads with capabilities, or hand the
		 * worker a VM, as soon as this returns: wait for its set-up. */
		while (sem_wait(&w->ready) < 0 && errno == EINTR)
			;
		rc = w->start_rc;
		if (rc < 0)
			pthread_join(w->thread, NULL);
	}
	sem_destroy(&w->ready);
	/* Before any VM is added (worker_send comes after we return). */
	if (rc == 0 && __atomic_load_n(&blk_poll_on, __ATOMIC_RELAXED)) {
		rc = blk_poll_start(&w->blk_poll, id, BLK_POLL_SPIN_NS, worker_helper_confine);
		if (rc < 0) {
			fprintf(stderr, "denali: worker %d: block poller: %s\n", id, strerror(-rc));
			w->blk_poll = NULL;
			worker_stop(w);
			return rc;
		}
	}
	if (rc) {
		io_uring_queue_exit(&w->ring);
		close(w->efd);
	}
	return rc;
}

void worker_set_blk_poll(int on)
{
	__atomic_store_n(&blk_poll_on, on, __ATOMIC_RELAXED);
}

void worker_set_run_hook(struct worker *w, worker_run_fn fn, void *arg)
{
	w->run_hook = fn;
	w->run_arg = arg;
}

void worker_set_idle_hook(struct worker *w, worker_idle_fn fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->idle_hook = fn;
	w->idle_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void worker_set_swap_hook(struct worker *w, worker_swap_fn fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->swap_hook = fn;
	w->swap_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void worker_set_cmd_hook(struct worker *w, worker_cmd_fn fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->cmd_hook = fn;
	w->cmd_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void worker_unpark(struct worker *w, struct task *t)
{
	sched_remove(&w->sched, &t->se);
}

int worker_send(struct worker *w, enum worker_cmd_op op, struct task *t)
{
	struct worker_cmd *c = malloc(sizeof(*c));
	uint64_t one = 1;

	if (!c)
		return -ENOMEM;
	c->op = op;
	c->task = t;
	__atomic_fetch_add(&t->cmds, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&w->lock);
	c->next = w->inbox;
	__atomic_store_n(&w->inbox, c, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&w->lock);
	/* A worker inside a guest sees its inbox only at the next exit, and a
	 * lone VM may never exit: interrupt it (it keeps its turn). */
	if (__atomic_load_n(&w->in_guest, __ATOMIC_SEQ_CST))
		pthread_kill(w->thread, WORKER_SIG);
	if (write(w->efd, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	__atomic_store_n(&w->quit, 1, __ATOMIC_RELEASE);
	if (write(w->efd, &one, sizeof(one)) < 0)
		perror("denali: worker_stop: eventfd write");
	pthread_join(w->thread, NULL);
	/* Its devices are gone with the worker's VMs. */
	blk_poll_stop(w->blk_poll, &w->stats.blk_poll);
	w->blk_poll = NULL;
	io_uring_queue_exit(&w->ring);
	close(w->efd);
	sched_fini(&w->sched);
	pthread_mutex_destroy(&w->lock);
}

/* bench/density: the switch between two spinners, denali against raw KVM (density.h). */
#include "density.h"

/* ---- the switch between two spinners: denali ------------------------------ */

void spin_sub(struct spin_sample *d, const struct spin_sample *a, const struct spin_sample *b)
{
	d->wall = b->wall - a->wall;
	d->cpu = b->cpu - a->cpu;
	for (int i = 0; i < SPIN_N; i++)
		d->spin[i] = b->spin[i] - a->spin[i];
	d->switches = b->switches - a->switches;
	d->in_run = b->in_run - a->in_run;
}

uint64_t thread_cpu_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void denali_sample(struct worker *w, clockid_t cid, struct dvm **v, int n, struct spin_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->wall = vm_now_ns();
	s->cpu = thread_cpu_ns(cid);
	s->switches = __atomic_load_n(&w->stats.preemptions, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		spin_read(v[i]->task.vm->mem, v[i]->task.vm->mem_size, s->spin);
		s->in_run += __atomic_load_n(&v[i]->task.vm->ctr.cpu_ns, __ATOMIC_RELAXED);
	}
}

/* n spinners on worker w for warm-up + ns; the measured window in *out. */
void denali_spin(struct worker *w, const struct bench_image *img, int n, uint64_t ns,
		 struct spin_sample *out)
{
	struct dvm *v[2];
	struct spin_sample a, b;
	clockid_t cid;
	char err[256];
	unsigned done0;

	if (pthread_getcpuclockid(w->thread, &cid))
		bench_fail("pthread_getcpuclockid failed");
	pthread_mutex_lock(&spin.lock);
	done0 = spin.done;
	pthread_mutex_unlock(&spin.lock);
	for (int i = 0; i < n; i++) {
		v[i] = dvm_create(img, 900000 + (unsigned)i, 1, err, sizeof(err));
		if (!v[i])
			bench_fail("vm_create (spinner): %s", err);
		v[i]->w = w;
		worker_send(w, WCMD_ADD, &v[i]->task);
	}
	sleep_ns(SPIN_WARM_NS);
	denali_sample(w, cid, v, n, &a);
	sleep_ns(ns);
	denali_sample(w, cid, v, n, &b);
	spin_sub(out, &a, &b);
	for (int i = 0; i < n; i++) {
		v[i]->stopping = 1;
		worker_send(w, WCMD_STOP, &v[i]->task);
	}
	pthread_mutex_lock(&spin.lock);
	while (spin.done < done0 + (unsigned)n)
		pthread_cond_wait(&spin.cond, &spin.lock);
	pthread_mutex_unlock(&spin.lock);
	for (int i = 0; i < n; i++)
		dvm_destroy(v[i]);
}

/* ---- the switch between two spinners: raw KVM ------------------------------ */

static struct kvm_run *volatile raw_running;

void raw_on_signal(int sig)
{
	struct kvm_run *r = raw_running;

	(void)sig;
	if (r)
		r->immediate_exit = 1;
}

/* /dev/kvm for raw VMs, and RAW_SIG to interrupt their KVM_RUN. */
void raw_open(void)
{
	struct sigaction sa;

	raw_kvm_open();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = raw_on_signal;
	sa.sa_flags = SA_RESTART; /* KVM_RUN still returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(RAW_SIG, &sa, NULL) < 0)
		bench_fail("sigaction: %s", strerror(errno));
}

/* A raw VM as vm_create + a shell make it, with rsi = 1 (spinner). */
void raw_create(struct raw_vm *r, const struct bench_image *img)
{
	raw_vm_mem(r, img);
	raw_vm_shell(r);
	raw_vm_slot(r, r->mem, MEM_SIZE);
	raw_vm_regs(r, 0, 1);
}

void raw_sample(struct raw_vm *v, int n, uint64_t switches, uint64_t in_run, struct spin_sample *s)
{
	s->wall = vm_now_ns();
	s->cpu = thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	s->switches = switches;
	s->in_run = in_run;
	memset(s->spin, 0, sizeof(s->spin));
	for (int i = 0; i < n; i++)
		spin_read(v[i].mem, MEM_SIZE, s->spin);
}

void arm(timer_t t, uint64_t first, uint64_t every)
{
	struct itimerspec its = {
	    .it_interval = {(time_t)(every / 1000000000ull), (long)(every % 1000000000ull)},
	    .it_value = {(time_t)(first / 1000000000ull), (long)(first % 1000000000ull)},
	};

	timer_settime(t, 0, &its, NULL);
}

/*
 * The raw baseline, on its own thread: n spinners on one thread. With a
 * tick (always with two), a periodic timer (the quantum) whose signal sets
 * immediate_exit in the running VM's kvm_run interrupts KVM_RUN and the
 * next VM runs; without, the timer fires only at the window's two ends.
 * KVM_RUN is timed like vm_run times it.
 */
void *raw_spin_main(void *arg)
{
	struct raw_spin *rs = arg;
	struct raw_vm v[2];
	struct spin_sample a = {0}, b;
	struct sigevent sev;
	uint64_t switches = 0, in_run = 0, t_end = 0;
	timer_t timer;
	int cur = 0, phase = 0;

	for (int i = 0; i < rs->n; i++)
		raw_create(&v[i], rs->img);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = RAW_SIG;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0)
		bench_fail("timer_create: %s", strerror(errno));
	uint64_t t_warm = vm_now_ns() + SPIN_WARM_NS;

	if (rs->tick)
		arm(timer, QUANTUM_NS, QUANTUM_NS);
	else
		arm(timer, SPIN_WARM_NS, 0);
	for (;;) {
		struct raw_vm *r = &v[cur];
		uint64_t t0, t1;
		int rc;

		r->run->immediate_exit = 0; /* as the worker does before a dispatch */
		raw_running = r->run;
		t0 = vm_now_ns();
		rc = ioctl(r->vcpu_fd, KVM_RUN, 0);
		t1 = vm_now_ns();
		raw_running = NULL;
		in_run += t1 - t0;
		if (rc == 0)
			bench_fail("raw spinner exited (reason %u)", r->run->exit_reason);
		if (errno != EINTR && errno != EAGAIN)
			bench_fail("raw KVM_RUN: %s", strerror(errno));
		if (rs->tick) {
			switches++;
			cur = (cur + 1) % rs->n;
		}
		if (phase == 0 && t1 >= t_warm) {
			raw_sample(v, rs->n, switches, in_run, &a);
			t_end = a.wall + rs->ns;
			if (!rs->tick)
				arm(timer, rs->ns, 0);
			phase = 1;
		} else if (phase == 1 && t1 >= t_end) {
			raw_sample(v, rs->n, switches, in_run, &b);
			break;
		}
	}
	timer_delete(timer);
	spin_sub(&rs->out, &a, &b);
	for (int i = 0; i < rs->n; i++)
		raw_vm_destroy(&v[i]);
	return NULL;
}

void raw_spin(const struct bench_image *img, int n, int tick, uint64_t ns, struct spin_sample *out)
{
	struct raw_spin rs = {.img = img, .n = n, .tick = tick, .ns = ns};
	pthread_t th;

	if (pthread_create(&th, NULL, raw_spin_main, &rs))
		bench_fail("pthread_create failed");
	pthread_join(th, NULL);
	*out = rs.out;
}

const char *const side_name[SIDE_N] = {"denali", "raw KVM", "raw, 1 VM"};

double ticks_ns(uint64_t ticks)
{
	uint64_t hz = kvm_tsc_hz();

	return hz ? (double)ticks * 1e9 / (double)hz : 0;
}

void switch_cost(const struct spin_sample *solo, const struct spin_sample *pair,
		 struct switch_cost *c)
{
	double floor = 1 - ticks_ns(solo->spin[SPIN_RUN_TICKS]) / (double)solo->wall;
	double lost = (double)pair->wall - ticks_ns(pair->spin[SPIN_RUN_TICKS]);
	double sw = pair->switches ? (double)pair->switches : 1;

	c->lost_us = (lost - floor * (double)pair->wall) / sw / 1000.0;
	c->outside_us = ((double)pair->wall - (double)pair->in_run) / sw / 1000.0;
	c->switches_per_s = (double)pair->switches * 1e9 / (double)pair->wall;
	c->floor_pct = 100 * floor;
}

void record(struct switch_result *res, int side, unsigned r, const struct spin_sample *solo,
	    const struct spin_sample *pair)
{
	struct switch_cost c;

	switch_cost(solo, pair, &c);
	printf("  %-10s %7.1f us lost per switch  %6.1f us outside KVM_RUN  %5.0f switches/s  "
	       "(lone spinner floor %.2f%%, %lu gaps seen)\n",
	       side_name[side], c.lost_us, c.outside_us, c.switches_per_s, c.floor_pct,
	       pair->spin[SPIN_GAPS]);
	res->fig[side][SW_LOST][r] = c.lost_us;
	res->fig[side][SW_OUTSIDE][r] = c.outside_us;
	res->fig[side][SW_PER_S][r] = c.switches_per_s;
	res->fig[side][SW_FLOOR][r] = c.floor_pct;
}

double sw_med(const struct switch_result *res, int side, int fig)
{
	return bench_median(res->fig[side][fig], res->rounds);
}

void bench_switch(const struct opts *o, const struct bench_image *img, struct switch_result *res)
{
	uint64_t ns = (uint64_t)(o->switch_seconds * 1e9);
	struct worker w;
	int rc;

	printf("switch: two spinners on one worker, %llu ms quantum, %u rounds of %.1f s\n",
	       QUANTUM_NS / 1000000, o->rounds, o->switch_seconds);
	rc = worker_start(&w, 99, QUANTUM_NS, on_done, &spin);
	if (rc)
		bench_fail("worker_start: %s", strerror(-rc));
	raw_open();
	for (unsigned r = 0; r < o->rounds; r++) {
		struct spin_sample solo, pair;

		printf(" round %u/%u\n", r + 1, o->rounds);
		denali_spin(&w, img, 1, ns / 2, &solo);
		denali_spin(&w, img, 2, ns, &pair);
		record(res, SIDE_DENALI, r, &solo, &pair);
		raw_spin(img, 1, 0, ns / 2, &solo);
		raw_spin(img, 2, 1, ns, &pair);
		record(res, SIDE_RAW, r, &solo, &pair);
		raw_spin(img, 1, 1, ns, &pair);
		record(res, SIDE_RAW_TICK, r, &solo, &pair);
	}
	res->rounds = o->rounds;
	worker_stop(&w);
	raw_kvm_close();
}

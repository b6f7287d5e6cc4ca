/* bench/density: the sleeper population: growth, wake-ups, idle, teardown (density.h). */
#include "density.h"

/* ---- the sleeper population ------------------------------------------------ */

/* Waits until at most `left` created VMs have neither started nor been
 * killed; returns non-zero once a VM has been killed. */
int wait_settled(struct bench *b, unsigned left)
{
	int killed;

	pthread_mutex_lock(&pop.lock);
	while (b->n - pop.started - pop.killed > left)
		pthread_cond_wait(&pop.cond, &pop.lock);
	killed = pop.killed > 0;
	pthread_mutex_unlock(&pop.lock);
	return killed;
}

/*
 * Creates sleepers and hands them to the workers round-robin until `target`
 * have started, a VM is killed (no shell: the fd wall) or vm_create fails.
 * At most INFLIGHT per worker wait to start, so that the creating thread
 * does not run far ahead of the workers.
 */
void grow(struct bench *b, unsigned target, struct phase *ph)
{
	unsigned inflight = INFLIGHT * b->nworkers;
	uint64_t t0 = vm_now_ns(), c0 = rusage_ns();

	pthread_mutex_lock(&pop.lock);
	ph->from = pop.started;
	pthread_mutex_unlock(&pop.lock);
	while (b->n < target && b->n < b->cap && !b->create_failed) {
		struct dvm *v;

		if (wait_settled(b, inflight - 1))
			break;
		v = dvm_create(b->img, b->n + 1, 0, b->create_err, sizeof(b->create_err));
		if (!v) {
			b->create_failed = 1;
			break;
		}
		v->w = &b->workers[b->n % b->nworkers];
		b->vms[b->n++] = v;
		worker_send(v->w, WCMD_ADD, &v->task);
	}
	wait_settled(b, 0);
	ph->cpu_s = (double)(rusage_ns() - c0) / 1e9;
	pthread_mutex_lock(&pop.lock);
	ph->to = pop.started;
	ph->seconds = pop.last_start_ns > t0 ? (double)(pop.last_start_ns - t0) / 1e9 : 0;
	pthread_mutex_unlock(&pop.lock);
}

void print_phase(const char *what, const struct phase *ph)
{
	unsigned n = ph->to - ph->from;

	printf("start %-4s %5u -> %5u VMs started in %6.2f s: %6.0f VMs/s, %.0f us of CPU per "
	       "start\n",
	       what, ph->from, ph->to, ph->seconds, ph->seconds > 0 ? n / ph->seconds : 0,
	       n ? ph->cpu_s * 1e6 / n : 0);
}

uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Every WAKE_PERIOD_NS: a random idle sleeper among the first `vms` gets an
 * event and a WCMD_WAKE; its next idle (on_idle) records the lateness. */
void bench_wake(struct bench *b, unsigned vms, unsigned wakes, struct wake_result *res)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull, next;
	struct timespec ts;

	late.us = calloc(wakes, sizeof(double));
	if (!late.us)
		bench_fail("out of memory");
	late.cap = wakes;
	__atomic_store_n(&late.n, 0, __ATOMIC_RELEASE);
	memset(res, 0, sizeof(*res));
	res->vms = vms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	next = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + WAKE_PERIOD_NS;
	for (unsigned i = 0; i < wakes; i++) {
		struct timespec at = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
		struct dvm *v;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		next += WAKE_PERIOD_NS;
		for (int tries = 0;; tries++) {
			v = b->vms[xorshift(&seed) % vms];
			if (v->started && !v->done &&
			    !__atomic_load_n(&v->wake_ns, __ATOMIC_ACQUIRE))
				break;
			if (tries > 100)
				bench_fail("no idle VM to wake");
		}
		__atomic_store_n(&v->wake_ns, vm_now_ns(), __ATOMIC_RELEASE);
		vm_post_events(v->task.vm, WAKE_EVENT);
		worker_send(v->w, WCMD_WAKE, &v->task);
		res->posted++;
	}
	sleep_ns(100000000ull); /* let the last wake-ups land */
	res->samples = __atomic_load_n(&late.n, __ATOMIC_ACQUIRE);
	if (res->samples > late.cap)
		res->samples = late.cap;
	for (unsigned i = 0; i < res->samples; i++)
		res->mean += late.us[i] / res->samples;
	res->p50 = bench_pct(late.us, res->samples, 50);
	res->p99 = bench_pct(late.us, res->samples, 99);
	res->max = res->samples ? late.us[res->samples - 1] : 0;
	free(late.us);
	late.us = NULL;
	late.cap = 0;
}

uint64_t rusage_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

uint64_t dispatches(const struct bench *b)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < b->nworkers; i++)
		n += __atomic_load_n(&b->workers[i].stats.runs, __ATOMIC_RELAXED);
	return n;
}

/* CPU of this process (every thread, the VMs' kernel threads included) over
 * `seconds` with every VM idle, as a share of one core. */
void bench_idle(struct bench *b, unsigned vms, unsigned seconds, struct idle_result *r)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t c0, c1, t0, t1, d0, d1;
	long long h0, h1;

	sleep_ns(500000000ull); /* let the last starts settle */
	t0 = vm_now_ns();
	c0 = rusage_ns();
	h0 = host_busy_ticks();
	d0 = dispatches(b);
	sleep_ns((uint64_t)seconds * 1000000000ull);
	t1 = vm_now_ns();
	c1 = rusage_ns();
	h1 = host_busy_ticks();
	d1 = dispatches(b);
	r->vms = vms;
	r->seconds = (double)(t1 - t0) / 1e9;
	r->cpu_pct = 100.0 * (double)(c1 - c0) / (double)(t1 - t0);
	r->host_pct = hz > 0 ? 100.0 * (double)(h1 - h0) / (double)hz / r->seconds : -1;
	r->dispatches = (double)(d1 - d0);
}

/* Stops every VM still live and waits for the workers to release them. */
double teardown(struct bench *b)
{
	uint64_t t0 = vm_now_ns();
	unsigned want = 0;

	for (unsigned i = 0; i < b->n; i++) {
		struct dvm *v = b->vms[i];
		int done;

		pthread_mutex_lock(&pop.lock);
		done = v->done;
		pthread_mutex_unlock(&pop.lock);
		if (done)
			continue;
		v->stopping = 1;
		want++;
		worker_send(v->w, WCMD_STOP, &v->task);
	}
	pthread_mutex_lock(&pop.lock);
	while (pop.done < b->n)
		pthread_cond_wait(&pop.cond, &pop.lock);
	pthread_mutex_unlock(&pop.lock);
	(void)want;
	return (double)(vm_now_ns() - t0) / 1e9;
}

/*
 * A population of n grown from nothing, then stopped and freed: the start
 * rate of an empty process, at the start of the run and again after the big
 * population has come and gone. Leaves b and the counters as it found them.
 */
void start_round(struct bench *b, unsigned n, struct phase *ph)
{
	grow(b, n, ph);
	teardown(b);
	for (unsigned i = 0; i < b->n; i++)
		dvm_destroy(b->vms[i]);
	b->n = 0;
	pthread_mutex_lock(&pop.lock);
	pop.started = pop.killed = pop.done = 0;
	pop.last_start_ns = 0;
	pthread_mutex_unlock(&pop.lock);
}

/* run.c - one run: set up the engine, drive the arrival schedule and the epoll loop. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "engine.h"
#include "target.h"

/* Streams of the seeded generator: targets and arrivals never share random numbers, so the
 * target sequence is the same whatever the arrival law. */
#define STREAM_TARGET  1
#define STREAM_ARRIVAL 2

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

uint64_t run_result_failures(const struct run_result *r)
{
	return r->http_errors + r->timeouts + r->refused + r->conn_errors + r->io_errors +
	       r->dropped;
}

void run_result_free(struct run_result *res)
{
	free(res->hits);
	res->hits = NULL;
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static void engine_free(struct engine *e)
{
	if (e->epfd >= 0)
		close(e->epfd);
	zipf_free(&e->zipf);
	free(e->tst);
	free(e->conns);
	free(e->freeslots);
	free(e->pool);
	free(e->starved);
	free(e);
}

static int engine_new(struct engine **out, const struct load_config *cfg,
		      const struct target_set *ts, struct run_result *res, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	uint32_t n = (uint32_t)ts->n;
	int rc;

	if (!e)
		return fail(err, errlen, -ENOMEM, "out of memory");
	e->epfd = -1;
	e->cfg = cfg;
	e->ts = ts;
	e->res = res;
	e->nslots = cfg->max_conns;
	e->tst = calloc(n, sizeof(*e->tst));
	e->conns = calloc(e->nslots, sizeof(*e->conns));
	e->freeslots = calloc(e->nslots, sizeof(*e->freeslots));
	e->pool = calloc(cfg->max_pending, sizeof(*e->pool));
	e->starved = calloc(n, sizeof(*e->starved));
	if (!e->tst || !e->conns || !e->freeslots || !e->pool || !e->starved) {
		rc = fail(err, errlen, -ENOMEM, "out of memory for %u connections, %u targets",
			  e->nslots, n);
		goto err_free;
	}
	rc = zipf_init(&e->zipf, n, cfg->alpha, ZIPF_AUTO);
	if (rc) {
		fail(err, errlen, rc, "zipf sampler for %u targets: %s", n, strerror(-rc));
		goto err_free;
	}
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		rc = fail(err, errlen, -errno, "epoll_create1: %s", strerror(errno));
		goto err_free;
	}
	for (uint32_t t = 0; t < n; t++) {
		e->tst[t].head = e->tst[t].tail = NONE;
		e->tst[t].idle = NONE;
	}
	/* slots are handed out lowest first */
	for (uint32_t i = 0; i < e->nslots; i++)
		e->freeslots[i] = e->nslots - 1 - i;
	e->nfree = e->nslots;
	for (uint32_t i = 0; i < cfg->max_pending; i++)
		e->pool[i].next = i + 1 < cfg->max_pending ? i + 1 : NONE;
	e->pool_free = 0;
	e->gidle_head = e->gidle_tail = NONE;
	rng_seed(&e->rtarget, cfg->seed, STREAM_TARGET);
	rng_seed(&e->rarrival, cfg->seed, STREAM_ARRIVAL);
	*out = e;
	return 0;

err_free:
	engine_free(e);
	return rc;
}

/* Nanoseconds to the next arrival. */
static double next_gap(struct engine *e, double rate)
{
	if (e->cfg->arrival == ARRIVAL_CONSTANT)
		return 1e9 / rate;
	return -log(rng_double_open0(&e->rarrival)) * 1e9 / rate;
}

static void loop(struct engine *e, double rate)
{
	const struct load_config *cfg = e->cfg;
	struct epoll_event ev[EVENTS_MAX];
	uint64_t scan_every = cfg->timeout_ns / 20;
	uint64_t next_scan, hard_end;
	double next = 0;
	int open = cfg->mode == LOAD_OPEN;

	if (scan_every < 1000000)
		scan_every = 1000000;
	if (scan_every > 50000000)
		scan_every = 50000000;
	e->now = now_ns();
	e->w0 = e->now + cfg->warmup_ns;
	e->w1 = e->w0 + cfg->duration_ns;
	e->acct = (struct account){.res = e->res, .w0 = e->w0, .w1 = e->w1, .open = open};
	hard_end = e->w1 + cfg->timeout_ns + 2 * scan_every;
	next = (double)e->now;
	next_scan = e->now + scan_every;

	for (;;) {
		uint64_t wait_ns = WAIT_MAX_NS;
		struct timespec ts;
		int n;

		if (open) {
			for (int i = 0;
			     i < BATCH_MAX && next < (double)e->w1 && next <= (double)e->now; i++) {
				engine_new_request(e, (uint64_t)next);
				next += next_gap(e, rate);
			}
		} else {
			while (e->now < e->w1 && e->outstanding < cfg->concurrency)
				engine_new_request(e, e->now);
		}
		if (e->now >= next_scan) {
			engine_scan_timeouts(e);
			next_scan = e->now + scan_every;
		}
		if (e->now >= e->w1 && (!open || next >= (double)e->w1) && e->outstanding == 0)
			break;
		if (e->now >= hard_end)
			break;

		if (open && next < (double)e->w1)
			wait_ns = next <= (double)e->now ? 0 : (uint64_t)(next - (double)e->now);
		if (!open && e->now < e->w1 && e->w1 - e->now < wait_ns)
			wait_ns = e->w1 - e->now;
		if (next_scan > e->now && next_scan - e->now < wait_ns)
			wait_ns = next_scan - e->now;
		if (wait_ns > WAIT_MAX_NS)
			wait_ns = WAIT_MAX_NS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)wait_ns;
		n = epoll_pwait2(e->epfd, ev, EVENTS_MAX, &ts, NULL);
		e->now = now_ns();
		for (int i = 0; i < n; i++)
			engine_event(e, ev[i].data.u64, ev[i].events);
	}
	engine_close_all(e);
}

int run_once(const struct load_config *cfg, const struct target_set *ts, double rate,
	     struct run_result *res, char *err, size_t errlen)
{
	struct engine *e = NULL;
	double cpu0, wall0;
	int rc;

	memset(res, 0, sizeof(*res));
	hist_reset(&res->lat);
	res->ntargets = ts->n;
	res->rate = cfg->mode == LOAD_OPEN ? rate : 0;
	res->duration_s = (double)cfg->duration_ns / 1e9;
	res->hits = calloc(ts->n, sizeof(*res->hits));
	if (!res->hits)
		return fail(err, errlen, -ENOMEM, "out of memory for %zu hit counters", ts->n);
	if (cfg->mode == LOAD_OPEN && !(rate > 0))
		return fail(err, errlen, -EINVAL, "open loop needs a rate > 0");
	rc = engine_new(&e, cfg, ts, res, err, errlen);
	if (rc)
		return rc;
	cpu0 = cpu_seconds();
	wall0 = (double)now_ns() / 1e9;
	loop(e, rate);
	res->wall_s = (double)now_ns() / 1e9 - wall0;
	res->cpu_s = cpu_seconds() - cpu0;
	account_finish(&e->acct);
	engine_free(e);
	return 0;
}

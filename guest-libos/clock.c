/*
 * Time from the vregs page without an exit:
 *   now = time_ns + ((rdtsc - time_tsc) * tsc_mult) >> 32
 * The monitor refreshes time_ns/time_tsc/tsc_mult while the vCPU is stopped,
 * which can happen between any two guest instructions (preemption), so the
 * fields are read until two reads agree.
 */
#include "libos_private.h"
#include <denali/libos.h>
#include <time.h>
#include <unistd.h>

static uint64_t last_ns;

static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

uint64_t dn_now_ns(void)
{
	const volatile struct denali_vregs *v = VREGS;
	uint64_t base_ns, base_tsc, mult, tsc;

	do {
		base_tsc = v->time_tsc;
		base_ns = v->time_ns;
		mult = v->tsc_mult;
		tsc = rdtsc_ordered();
	} while (base_tsc != v->time_tsc || base_ns != v->time_ns || mult != v->tsc_mult);

	uint64_t delta = tsc - base_tsc;
	if ((int64_t)delta < 0)
		delta = 0;
	uint64_t now = base_ns + (uint64_t)(((unsigned __int128)delta * mult) >> 32);
	if (now < last_ns)
		now = last_ns;
	last_ns = now;
	return now;
}

void dn_sleep_until(uint64_t deadline_ns)
{
	dn_console_flush();
	while (dn_now_ns() < deadline_ns)
		dn_idle(deadline_ns);
}

void dn_sleep_ns(uint64_t ns)
{
	uint64_t now = dn_now_ns();
	uint64_t deadline = now + ns;

	if (deadline < now || deadline == DENALI_NO_DEADLINE)
		deadline = DENALI_NO_DEADLINE - 1;
	dn_sleep_until(deadline);
}

void msleep(uint64_t ms)
{
	dn_sleep_ns(ms * 1000000u);
}

int usleep(unsigned long us)
{
	dn_sleep_ns((uint64_t)us * 1000u);
	return 0;
}

unsigned int sleep(unsigned int s)
{
	dn_sleep_ns((uint64_t)s * 1000000000u);
	return 0;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	if (ts == NULL)
		return -1;
	uint64_t now = dn_now_ns();
	ts->tv_sec = (time_t)(now / 1000000000u);
	ts->tv_nsec = (long)(now % 1000000000u);
	return 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (req == NULL || req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
		return -1;
	dn_sleep_ns((uint64_t)req->tv_sec * 1000000000u + (uint64_t)req->tv_nsec);
	if (rem != NULL) {
		rem->tv_sec = 0;
		rem->tv_nsec = 0;
	}
	return 0;
}

/*
 * guest-libos <time.h>. The only clock is the monitor's monotonic clock;
 * CLOCK_REALTIME reads the same clock (there is no wall time in a guest).
 */
#ifndef DENALI_LIBOS_TIME_H
#define DENALI_LIBOS_TIME_H

#include <stdint.h>

typedef int64_t time_t;
typedef int clockid_t;

struct timespec {
	time_t tv_sec;
	long tv_nsec;
};

#define CLOCK_REALTIME	0
#define CLOCK_MONOTONIC 1

/* Returns 0, or -1 when ts is NULL. */
int clock_gettime(clockid_t clk, struct timespec *ts);
/* Sleeps for *req; rem, when given, is set to zero. Returns 0, -1 on bad req. */
int nanosleep(const struct timespec *req, struct timespec *rem);

#endif /* DENALI_LIBOS_TIME_H */

/* The service manager's readiness protocol (sd_notify), spoken directly: one datagram of
 * "KEY=VALUE\n..." to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" = abstract). */
#ifndef DENALI_CTL_NOTIFY_H
#define DENALI_CTL_NOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...") to the service
 * manager. Returns 1 if sent, 0 if $NOTIFY_SOCKET is unset (not under a service manager), or
 * -errno (-EAGAIN: the manager's queue is full). Never blocks the caller, except for a state
 * that starts with READY=1 or STOPPING=1, which waits up to 1 s for room in that queue. The
 * environment is left as it is. */
int notify_send(const char *state);

/* printf-style notify_send(). */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval the service manager expects pings within, from $WATCHDOG_USEC (and
 * $WATCHDOG_PID, which must be this process if set). Returns 1 and sets *usec if the watchdog
 * is on, 0 if it is off, -EINVAL if the variables are malformed. Ping at half the interval. */
int notify_watchdog_usec(uint64_t *usec);

#endif

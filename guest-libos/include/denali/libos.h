/*
 * guest-libos: the library OS a denali guest links against.
 *
 * Guests are plain C programs with main(argc, argv); this header gives the
 * denali-specific part: hypercalls, the console ring, the clock and events.
 * The C subset lives in <stdio.h>, <stdlib.h>, <string.h>, <time.h>,
 * <unistd.h> and <assert.h> of this directory (never the host's).
 */
#ifndef DENALI_LIBOS_H
#define DENALI_LIBOS_H

#include <denali/abi.h>
#include <stddef.h>
#include <stdint.h>

/* The monitor's pages, at their fixed guest-physical (= virtual) addresses. */
static inline const volatile struct denali_vregs *dn_vregs(void)
{
	return (const volatile struct denali_vregs *)(uintptr_t)DENALI_VREGS_GPA;
}

static inline volatile struct denali_shared *dn_shared(void)
{
	return (volatile struct denali_shared *)(uintptr_t)DENALI_SHARED_GPA;
}

/* ---- hypercalls (hc.c): each is one `out`, i.e. one VM exit ---------------- */

/* End the VM with exit code `code`. Does not flush the console: use exit(). */
_Noreturn void dn_exit(int code);

/*
 * Leave the run queue until an event is pending or `deadline_ns` (monotonic,
 * dn_now_ns() clock; DENALI_NO_DEADLINE for none) has passed. Events are
 * level-triggered (IDLE returns at once while a bit is pending), so dn_idle
 * takes them from the shared page and returns them: the caller owns what
 * woke it. May return early: callers loop on their own condition.
 */
uint64_t dn_idle(uint64_t deadline_ns);

/* Ask the monitor to drain the rings in `mask` (DENALI_RING_*) now. */
void dn_kick(uint32_t mask);

/* Flush the console and end the VM; `msg` becomes part of the logged reason. */
_Noreturn void dn_panic(const char *msg);

/* Atomically take (and clear) the pending-event bits of the shared page,
 * plus any handed back with dn_events_defer(). */
uint64_t dn_events_take(void);

/* Hand back event bits taken while waiting for something else (a driver
 * waiting for its completion): the next dn_idle()/dn_events_take() returns
 * them at once. */
void dn_events_defer(uint64_t events);

/* ---- console (console.c) --------------------------------------------------- */

/*
 * Append `len` bytes to the console. Output is line-buffered: a descriptor is
 * posted at every newline and whenever a 4 KiB slot fills; the monitor picks
 * posted output up at the next exit of any kind. Kicks only when the ring is
 * full. Returns len.
 */
size_t dn_console_write(const void *buf, size_t len);

/* Post the pending partial line, if any (no exit). */
void dn_console_flush(void);

/* Post the pending partial line and kick the console: output is out on return. */
void dn_console_sync(void);

/* ---- time (clock.c) --------------------------------------------------------- */

/* Monotonic nanoseconds (host CLOCK_MONOTONIC) computed from the vregs and
 * the TSC, without an exit. Never goes backwards within one VM run. */
uint64_t dn_now_ns(void);

/* Sleep until dn_now_ns() >= deadline_ns, idling (flushes the console first). */
void dn_sleep_until(uint64_t deadline_ns);

/* Sleep at least `ns` nanoseconds / `ms` milliseconds. */
void dn_sleep_ns(uint64_t ns);
void msleep(uint64_t ms);

/* ---- memory ------------------------------------------------------------------ */

/* Guest memory size in bytes, from the vregs. */
static inline uint64_t dn_mem_size(void)
{
	return dn_vregs()->mem_size;
}

#endif /* DENALI_LIBOS_H */

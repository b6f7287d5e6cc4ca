/*
 * Hypercalls: one `outl %eax, %dx` each, dx selecting the call and eax
 * carrying a scalar or the guest-physical address of an argument block.
 * Guest memory is identity-mapped and below 4 GiB, so a pointer to an
 * argument block is its guest-physical address and fits in 32 bits.
 */
#include "libos_private.h"
#include <denali/libos.h>
#include <string.h>

static inline void hc_out(uint16_t port, uint32_t value)
{
	/* "memory": the monitor reads and writes argument blocks and rings. */
	__asm__ volatile("outl %0, %1" : : "a"(value), "d"(port) : "memory");
}

static inline uint32_t gpa_of(const volatile void *p)
{
	return (uint32_t)(uintptr_t)p;
}

_Noreturn void dn_exit(int code)
{
	for (;;)
		hc_out(DENALI_HC_EXIT, (uint32_t)code);
}

/* Events a driver took while waiting for its own and handed back. */
static uint64_t deferred;

void dn_events_defer(uint64_t events)
{
	deferred |= events;
}

uint64_t dn_idle(uint64_t deadline_ns)
{
	volatile struct denali_hc_idle arg = {.deadline_ns = deadline_ns, .events = 0};

	/* Level-triggered: pending means now, and the monitor would only
	 * answer at once; an exit costs more than this look. */
	if (deferred || SHARED->events)
		return dn_events_take();
	hc_out(DENALI_HC_IDLE, gpa_of(&arg));
	/* Events are level-triggered: idle() returns at once while any bit is
	 * set, so take them here; the caller gets what woke it. */
	return arg.events | dn_events_take();
}

void dn_kick(uint32_t mask)
{
	hc_out(DENALI_HC_KICK, mask);
}

_Noreturn void dn_panic(const char *msg)
{
	volatile struct denali_hc_panic arg;

	dn_console_flush();
	arg.msg_gpa = (uintptr_t)msg;
	arg.len = strlen(msg);
	for (;;)
		hc_out(DENALI_HC_PANIC, gpa_of(&arg));
}

uint64_t dn_events_take(void)
{
	uint64_t ev = deferred;

	deferred = 0;
	return ev | __atomic_exchange_n(&SHARED->events, 0, __ATOMIC_ACQ_REL);
}

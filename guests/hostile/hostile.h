/*
 * Shared by the hostile guests: each announces what it is about to do (and
 * makes sure the line is out, with a kick), misbehaves, and if it is still
 * running afterwards says so and exits 99.
 */
#ifndef DENALI_GUEST_HOSTILE_H
#define DENALI_GUEST_HOSTILE_H

#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>

static inline void hostile_about(const char *name, const char *what)
{
	printf("hostile %s: about to %s\n", name, what);
	dn_console_sync();
}

static inline _Noreturn void hostile_survived(const char *name)
{
	printf("hostile %s: survived\n", name);
	exit(99);
}

/* Raw hypercall, for the guests that hand the monitor bad arguments. */
static inline void hostile_out(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "d"(port) : "memory");
}

#endif /* DENALI_GUEST_HOSTILE_H */

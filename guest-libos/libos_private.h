/*
 * Private interfaces between the modules of guest-libos.
 */
#ifndef DENALI_LIBOS_PRIVATE_H
#define DENALI_LIBOS_PRIVATE_H

#include <denali/abi.h>
#include <stddef.h>
#include <stdint.h>

#define VREGS	     ((const volatile struct denali_vregs *)(uintptr_t)DENALI_VREGS_GPA)
#define SHARED	     ((volatile struct denali_shared *)(uintptr_t)DENALI_SHARED_GPA)
#define CONSOLE_RING ((volatile struct denali_ring *)(uintptr_t)DENALI_CONSOLE_RING_GPA)

/* Bytes kept free for the stack below mem_size; the heap ends there. */
#define STACK_RESERVE (256u << 10)

/* First byte after .bss (page aligned), from guest.ld. */
extern char _end[];

/* Entry from crt0.S: builds argv, runs main() and exits. */
_Noreturn void __dn_start(void);

#endif /* DENALI_LIBOS_PRIVATE_H */

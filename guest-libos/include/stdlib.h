/* guest-libos <stdlib.h>. */
#ifndef DENALI_LIBOS_STDLIB_H
#define DENALI_LIBOS_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

/*
 * Heap: from _end (end of .bss) up to mem_size minus a 256 KiB stack
 * reserve. First-fit, address-ordered free list with coalescing; 16-byte
 * aligned blocks. Pages are touched only when first handed out.
 */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

/* Flush the console and end the VM with `code`. */
_Noreturn void exit(int code);
/* End the VM through PANIC ("abort() called"). */
_Noreturn void abort(void);

int atoi(const char *s);
long atol(const char *s);
long strtol(const char *s, char **end, int base);
unsigned long strtoul(const char *s, char **end, int base);
long long strtoll(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);

#endif /* DENALI_LIBOS_STDLIB_H */

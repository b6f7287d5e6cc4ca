/*
 * Guest-physical address translation: the one place where a guest-supplied
 * address and length become a host pointer.
 */
#ifndef DENALI_VMM_GPA_H
#define DENALI_VMM_GPA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Returns a host pointer to [gpa, gpa + len) inside a guest memory of
 * mem_size bytes mapped at mem, or NULL when any byte of the range lies
 * outside it, in page 0, or when gpa + len overflows. len 0 is valid for any
 * gpa inside memory (or at its end).
 */
static inline void *gpa_to_hva(uint8_t *mem, uint64_t mem_size, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	if (gpa < 4096 || end > mem_size)
		return NULL;
	return mem + gpa;
}

#endif

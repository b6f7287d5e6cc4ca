/*
 * Guest-physical address translation: the one place where a guest-supplied
 * address and length become a host pointer. It knows the ABI's layout
 * (abi.h): the monitor touches guest memory on the guest's behalf only where
 * the guest itself could, with the same rights.
 *
 *   page 0                           never
 *   vregs page                       read only (monitor-owned)
 *   shared page, ring pages          read and write
 *   [DENALI_PRIVATE_GPA, RESERVED_END)  never: GDT, TSS, page tables, guard
 *   [DENALI_RESERVED_END, mem_size)  read and write
 */
#ifndef DENALI_VMM_GPA_H
#define DENALI_VMM_GPA_H

#include <denali/abi.h>
#include <stddef.h>
#include <stdint.h>

enum gpa_access {
	GPA_READ,  /* the monitor reads the range for the guest (descriptors, messages) */
	GPA_WRITE, /* the monitor writes into it (OUT fields, received data) */
};

/*
 * Returns a host pointer to [gpa, gpa + len) inside a guest memory of
 * mem_size bytes mapped at mem, or NULL when gpa + len overflows, when any
 * byte lies outside memory, or when the range is not wholly inside one area
 * the guest may access that way (table above). len 0 is valid at any
 * address of such an area, or at its end.
 */
static inline void *gpa_to_hva(uint8_t *mem, uint64_t mem_size, uint64_t gpa, uint64_t len,
			       enum gpa_access how)
{
	uint64_t end, shared_lo = how == GPA_WRITE ? DENALI_SHARED_GPA : DENALI_VREGS_GPA;

	if (__builtin_add_overflow(gpa, len, &end) || end > mem_size)
		return NULL;
	if (gpa >= DENALI_RESERVED_END || (gpa >= shared_lo && end <= DENALI_PRIVATE_GPA))
		return mem + gpa;
	return NULL;
}

/* The monitor-private pages (GDT, TSS, page tables, guard): never carried by
 * a snapshot, a swap-file export or an import; the loader builds them. */
static inline int gpa_page_is_private(uint64_t pn)
{
	return pn >= DENALI_PRIVATE_GPA / 4096 && pn < DENALI_RESERVED_END / 4096;
}

#endif

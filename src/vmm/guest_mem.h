/*
 * Guest memory regions. A released region is zeroed (MADV_DONTNEED) and kept
 * at its address for the next VM, so that a pooled shell whose memory slot
 * still maps that address can run the next VM without a memory-slot update
 * (two KVM_SET_USER_MEMORY_REGION calls, ~30-60 us here, per reuse).
 */
#ifndef DENALI_VMM_GUEST_MEM_H
#define DENALI_VMM_GUEST_MEM_H

#include <stdint.h>

/* Zero-filled, MAP_NORESERVE memory of size bytes. 0 or -errno. */
int guest_mem_alloc(uint64_t size, uint8_t **out);

/* Releases a region: kept for reuse (zeroed) or unmapped when the cache is
 * full. Its contents are gone either way. */
void guest_mem_free(uint8_t *mem, uint64_t size);

/* Unmaps every cached region. */
void guest_mem_drain(void);

#endif

/*
 * CRC-32C (Castagnoli), the checksum of swap slots and exported VM files.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise;
 * both give the same values.
 */
#ifndef DENALI_SCHED_CRC32C_H
#define DENALI_SCHED_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes of p. */
uint32_t crc32c(uint32_t crc, const void *p, size_t len);

/* The table-driven version, for tests that compare the two. */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t len);

#endif

/*
 * Static ELF64 x86-64 image loading into guest memory.
 */
#ifndef DENALI_VMM_ELF_H
#define DENALI_VMM_ELF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Checks the image in file[0, size) and copies its PT_LOAD segments into the
 * guest memory mem[0, mem_size), which must be zero-filled. On success stores
 * the entry point and returns 0. On a malformed image returns -ENOEXEC and
 * writes a one-line reason to err: bad magic, class, data encoding, type or
 * machine; truncated headers or segment data; sizes that overflow; segments
 * below DENALI_RESERVED_END or beyond mem_size; an entry point outside every
 * loaded segment; dynamic executables.
 */
int elf_load(const uint8_t *file, size_t size, uint8_t *mem, uint64_t mem_size, uint64_t *entry,
	     char *err, size_t errlen);

/*
 * Only the checks of elf_load, no copy: returns 0 or -ENOEXEC with err set.
 */
int elf_check(const uint8_t *file, size_t size, uint64_t mem_size, uint64_t *entry, char *err,
	      size_t errlen);

#endif

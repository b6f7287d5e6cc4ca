/*
 * Fuzz target: the guest image loader (src/vmm/elf.c) over arbitrary bytes.
 * A client of the daemon names the image, so every byte of it is hostile.
 *
 * Oracles besides ASan/UBSan:
 *   - elf_check() and elf_load() agree: same verdict, same entry point;
 *   - an accepted image has its entry inside guest memory, above the
 *     monitor's reserved low megabyte;
 *   - elf_load() never writes below DENALI_RESERVED_END (the monitor's pages)
 *     and writes nothing at all when it refuses the image.
 */
#include "fuzz.h"
#include "vmm/elf.h"

#include <denali/abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Guest memory just past the reserved megabyte: room for small segments,
 * and little to compare per run. */
#define MEM (DENALI_RESERVED_END + (256u << 10))

static uint8_t *mem, *zero;

static int all_zero(const uint8_t *p, size_t n)
{
	return memcmp(p, zero, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t e1 = 0, e2 = 0;
	char err[256];
	int c, l;

	if (!mem && (!(mem = calloc(1, MEM)) || !(zero = calloc(1, MEM))))
		abort();
	c = elf_check(data, size, MEM, &e1, err, sizeof(err));
	l = elf_load(data, size, mem, MEM, &e2, err, sizeof(err));
	if (c != l || (!c && e1 != e2)) {
		fprintf(stderr, "fuzz_elf: check %d (entry 0x%lx) but load %d (entry 0x%lx)\n", c,
			e1, l, e2);
		abort();
	}
	if (!l && (e2 < DENALI_RESERVED_END || e2 >= MEM)) {
		fprintf(stderr, "fuzz_elf: accepted entry 0x%lx outside [0x%x, 0x%x)\n", e2,
			DENALI_RESERVED_END, MEM);
		abort();
	}
	if (!all_zero(mem, DENALI_RESERVED_END)) {
		fprintf(stderr, "fuzz_elf: the loader wrote into the monitor's low megabyte\n");
		abort();
	}
	if (l && !all_zero(mem, MEM)) {
		fprintf(stderr, "fuzz_elf: a refused image left bytes in guest memory\n");
		abort();
	}
	if (!l)
		memset(mem, 0, MEM);
	return 0;
}

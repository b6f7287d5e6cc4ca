/*
 * vecsecret write|read: checks that a reused VM shell never hands the
 * previous tenant's vector state to the next one.
 *   write: load a recognisable secret into every vector register and MXCSR,
 *          then exit at once (entry.S).
 *   read:  (also the default, without an argument, so that
 *          `denalid run --with vecsecret` boots a reader) report whether the vector state found at
 * entry (saved by entry.S before anything could touch it) was the architectural init state: all
 * registers zero, MXCSR 0x1f80.
 */
#include <denali/abi.h>
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VS_AVX	    2
#define VS_AVX512   4
#define VS_AVX512BW 8

extern uint8_t vs_saved[2880];
extern uint32_t vs_mxcsr;
extern uint32_t vs_have;
_Noreturn void vs_write_secret_and_exit(void);

struct area {
	const char *name;
	uint32_t off, count, size, need;
};

static const struct area areas[] = {
    {"xmm", 0, 16, 16, 0},
    {"ymm", 256, 16, 32, VS_AVX},
    {"zmm", 768, 32, 64, VS_AVX512},
    {"k", 2816, 8, 8, VS_AVX512},
};

static int report_leak(const char *reg, unsigned idx, const uint8_t *p, uint32_t size)
{
	printf("vector state: LEAKED %s%u:", reg, idx);
	for (uint32_t i = 0; i < size && i < 16; i++)
		printf(" %02x", p[i]);
	printf("\n");
	return 1;
}

static int check(void)
{
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++) {
		const struct area *ar = &areas[a];
		if ((vs_have & ar->need) != ar->need)
			continue;
		for (uint32_t r = 0; r < ar->count; r++) {
			const uint8_t *p = vs_saved + ar->off + r * ar->size;
			for (uint32_t i = 0; i < ar->size; i++) {
				if (p[i] != 0)
					return report_leak(ar->name, r, p, ar->size);
			}
		}
	}
	if (vs_mxcsr != 0x1f80) {
		printf("vector state: LEAKED mxcsr: 0x%x\n", vs_mxcsr);
		return 1;
	}
	printf("vecsecret: checked %s\n", (vs_have & VS_AVX512) ? "xmm ymm zmm k mxcsr"
					  : (vs_have & VS_AVX)	? "xmm ymm mxcsr"
								: "xmm mxcsr");
	printf("vector state: clean\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "write") == 0) {
		printf("vecsecret: writing the secret\n");
		dn_console_flush();
		vs_write_secret_and_exit();
	}
	if (argc <= 1 || strcmp(argv[1], "read") == 0)
		return check();
	printf("usage: vecsecret write|read\n");
	return 2;
}

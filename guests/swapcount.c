/*
 * swapcount [KIB] [ROUNDS] [SLEEP_MS]: a working set of KIB KiB with a known
 * pattern and a counter, for the swap tests. Every round checks every byte
 * of the working set against what the previous round wrote (a VM swapped out
 * and in between must see its memory byte-identical), rewrites it for this
 * round, prints "round N ok", and idles (one VM exit: a chance to be swapped
 * out). Exits 3 with "MISMATCH" on the first wrong byte.
 */
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint8_t expect(size_t i, unsigned long round)
{
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + round * 0xbf58476d1ce4e5b9ull;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 64) << 10;
	unsigned long rounds = argc > 2 ? (unsigned long)atol(argv[2]) : 100;
	long sleep_ms = argc > 3 ? atol(argv[3]) : 0;
	uint8_t *buf = malloc(size);

	if (!buf || !size) {
		printf("swapcount: cannot allocate %lu bytes\n", (unsigned long)size);
		return 1;
	}
	for (size_t i = 0; i < size; i++)
		buf[i] = expect(i, 0);
	for (unsigned long r = 1; r <= rounds; r++) {
		for (size_t i = 0; i < size; i++) {
			if (buf[i] != expect(i, r - 1)) {
				printf("MISMATCH round %lu byte %lu\n", r, (unsigned long)i);
				return 3;
			}
			buf[i] = expect(i, r);
		}
		printf("round %lu ok\n", r);
		if (sleep_ms > 0)
			msleep((uint64_t)sleep_ms);
		else
			dn_idle(dn_now_ns() + 1000000); /* 1 ms: one exit, parked briefly */
	}
	printf("done %lu\n", rounds);
	return 0;
}

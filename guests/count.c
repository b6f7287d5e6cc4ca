/*
 * count [ROUNDS]: deterministic output for the suspend/resume test. Each
 * round mutates a 64 KiB heap buffer from the previous hash, hashes it with
 * FNV-1a, prints the hash and sleeps 10 ms. Nothing depends on time, so the
 * output is the same whether or not the VM was suspended and resumed.
 */
#include <denali/libos.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BUF_SIZE (64u << 10)

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20;
	uint8_t *buf = malloc(BUF_SIZE);
	uint64_t h = 0xcbf29ce484222325ull;

	if (buf == NULL) {
		printf("count: malloc failed\n");
		return 1;
	}
	for (size_t i = 0; i < BUF_SIZE; i++)
		buf[i] = (uint8_t)(i * 131u + 7u);
	for (long r = 0; r < rounds; r++) {
		uint64_t x = h;
		for (size_t i = 0; i < BUF_SIZE; i += 8) {
			/* xorshift64 seeded by the previous hash */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] ^= (uint8_t)x;
		}
		h = fnv1a(buf, BUF_SIZE, h);
		printf("round %ld hash 0x%016lx\n", r, (unsigned long)h);
		msleep(10);
	}
	free(buf);
	return 0;
}

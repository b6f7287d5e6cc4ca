/* secret: prints the per-VM secret from the vregs as hex (tests check that
 * it is there, non-zero and different in every VM). */
#include <denali/libos.h>
#include <stdio.h>

int main(void)
{
	char hex[65];
	unsigned nonzero = 0;

	for (unsigned i = 0; i < 32; i++) {
		uint8_t b = dn_vregs()->secret[i];

		hex[2 * i] = "0123456789abcdef"[b >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[b & 15];
		nonzero += b != 0;
	}
	hex[64] = 0;
	printf("secret %s nonzero %u\n", hex, nonzero);
	return 0;
}

/*
 * hostile flood: 32 MiB of console output in 4 KiB lines as fast as it can.
 * The monitor should rate-limit or drop, never die; the guest then exits 0.
 */
#include "hostile.h"
#include <string.h>

#define LINE  4096u
#define TOTAL (32u << 20)

static char line[LINE];

int main(void)
{
	hostile_about("flood", "write 32 MiB of console output in 4 KiB lines");
	for (unsigned i = 0; i < LINE - 1; i++)
		line[i] = (char)('a' + i % 26);
	line[LINE - 1] = '\n';
	for (unsigned i = 0; i < TOTAL / LINE; i++) {
		/* A line number in front keeps lines distinguishable. */
		snprintf(line, 9, "%08u", i);
		line[8] = ' ';
		dn_console_write(line, LINE);
	}
	printf("hostile flood: done\n");
	return 0;
}

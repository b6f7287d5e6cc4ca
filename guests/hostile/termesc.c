/*
 * hostile termesc: console output that would drive the operator's terminal if it reached it
 * raw: a title change (OSC 0), an OSC 52 clipboard write, clear screen (CSI 2J), an 8-bit
 * CSI (0x9b, not UTF-8) and a C1 CSI in UTF-8 (U+009B), a backspace, a carriage return, and
 * a cursor-position report request (CSI 6n) the terminal would answer into the reader's
 * input. Then ordinary UTF-8 (é, ✓), which must pass unchanged, and exit 0.
 * With "nul": a line with a NUL byte in it (JSON carries it as \u0000).
 */
#include <denali/libos.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "nul")) {
		dn_console_write("nul: a\0b\n", 9);
		printf("after the nul\n");
		return 0;
	}
	printf("termesc: \033]0;owned\007\033]52;c;b3duZWQ=\007\033[2J\233"
	       "31m\302\23331m\b\r\033[6n done é ✓\n");
	return 0;
}

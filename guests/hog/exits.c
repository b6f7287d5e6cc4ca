/*
 * hog-exits [SECONDS [kick|idle]]: makes VM exits as fast as it can,
 * alternating a KICK of no ring and a zero-timeout IDLE (both answered at
 * once by the monitor), or only one of them: every one is a trip through KVM
 * and the monitor's exit path.
 */
#include "hog.h"
#include <string.h>

int main(int argc, char **argv)
{
	struct hog h;
	uint64_t exits = 0;
	int kick = !(argc > 2 && strcmp(argv[2], "idle") == 0);
	int idle = !(argc > 2 && strcmp(argv[2], "kick") == 0);

	hog_start(&h, "hog-exits", argc, argv);
	do {
		for (int i = 0; i < 64; i++) {
			if (kick)
				dn_kick(0);
			if (idle)
				dn_idle(0);
		}
		exits += 64u * (unsigned)(kick + idle);
	} while (hog_tick(&h, exits, "exits"));
	return hog_done(&h, exits, "exits");
}

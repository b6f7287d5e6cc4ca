/*
 * hog-cpu [SECONDS]: never idles. Spins on the CPU for as long as the
 * scheduler lets it: its neighbours get their share only if preemption and
 * the quantum are fair.
 */
#include "hog.h"

int main(int argc, char **argv)
{
	struct hog h;
	volatile uint64_t sink = 0;
	uint64_t loops = 0;

	hog_start(&h, "hog-cpu", argc, argv);
	do {
		for (int i = 0; i < 100000; i++)
			sink += (uint64_t)i;
		loops++;
	} while (hog_tick(&h, loops, "loops"));
	return hog_done(&h, loops, "loops");
}

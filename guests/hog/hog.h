/*
 * Shared by the hog guests (bench/isolation, tests/integration/isolation.sh):
 * each misbehaves for SECONDS (argv[1], 0 = until stopped), printing one
 * line a second of what it did, so a run shows that the hog was hogging.
 * Hogs are within the rules (nothing here is hostile to the monitor): they
 * only use what every VM is given, as much of it as they can.
 */
#ifndef DENALI_GUEST_HOG_H
#define DENALI_GUEST_HOG_H

#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>

struct hog {
	const char *name;
	uint64_t end;	     /* 0 = never */
	uint64_t next_print; /* next once-a-second report */
	uint64_t last_count;
};

static inline void hog_start(struct hog *h, const char *name, int argc, char **argv)
{
	long s = argc > 1 ? atol(argv[1]) : 0;
	uint64_t now = dn_now_ns();

	h->name = name;
	h->end = s > 0 ? now + (uint64_t)s * 1000000000ull : 0;
	h->next_print = now + 1000000000ull;
	h->last_count = 0;
	printf("%s: started%s\n", name, s > 0 ? "" : ", until stopped");
	dn_console_sync();
}

/* Reports once a second what `count` (of `unit`) did; false when time is up. */
static inline int hog_tick(struct hog *h, uint64_t count, const char *unit)
{
	uint64_t now = dn_now_ns();

	if (now >= h->next_print) {
		printf("%s: %lu %s/s\n", h->name, (unsigned long)(count - h->last_count), unit);
		dn_console_sync(); /* a spinner never exits otherwise: the line is out now */
		h->last_count = count;
		h->next_print = now + 1000000000ull;
	}
	return h->end == 0 || now < h->end;
}

static inline int hog_done(struct hog *h, uint64_t count, const char *unit)
{
	printf("%s: done, %lu %s\n", h->name, (unsigned long)count, unit);
	return 0;
}

#endif

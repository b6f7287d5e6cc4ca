/*
 * hog-mem [SECONDS]: takes all the heap it can get and writes every page of
 * it over and over, never idling: all of its memory is dirty and hot, so a
 * memory budget under pressure must evict someone else (and must not choose
 * a victim that is busy serving).
 */
#include "hog.h"

#define PAGE 4096u

int main(int argc, char **argv)
{
	struct hog h;
	size_t size = (size_t)dn_mem_size();
	volatile uint8_t *p = NULL;
	uint64_t pages = 0;

	/* The largest block malloc gives, halving from the whole memory. */
	while (size >= PAGE && !(p = malloc(size)))
		size /= 2;
	if (!p) {
		printf("hog-mem: no memory at all\n");
		return 1;
	}
	printf("hog-mem: touching %lu KiB\n", (unsigned long)(size >> 10));
	hog_start(&h, "hog-mem", argc, argv);
	for (uint8_t round = 1;; round++) {
		for (size_t off = 0; off < size; off += PAGE) {
			p[off] = round;
			pages++;
		}
		if (!hog_tick(&h, pages, "pages"))
			break;
	}
	return hog_done(&h, pages, "pages");
}

/*
 * hog-disk [SECONDS [write]]: floods its block ring. Keeps DN_BLK_QUEUE
 * requests of 64 KiB in flight at scattered offsets over the whole disk,
 * reads by default, writes with "write" (needs a writable disk), and
 * resubmits each one as soon as it completes.
 */
#include "hog.h"

#include <denali/blkdev.h>
#include <errno.h>
#include <string.h>

#define REQ_SECTORS 128u /* 64 KiB, DN_BLK_ASYNC_MAX */

/* One buffer for every request: the data means nothing. */
static uint8_t buf[REQ_SECTORS * DENALI_BLK_SECTOR];

int main(int argc, char **argv)
{
	struct hog h;
	int writing = argc > 2 && strcmp(argv[2], "write") == 0;
	uint32_t op = writing ? DENALI_BLK_WRITE : DENALI_BLK_READ;
	uint64_t sectors = dn_blk_sectors(), done = 0, errors = 0, x = 88172645463325252ull;
	unsigned inflight = 0;

	if (sectors < REQ_SECTORS) {
		printf("hog-disk: needs a disk of at least %u sectors\n", REQ_SECTORS);
		return 2;
	}
	hog_start(&h, "hog-disk", argc, argv);
	for (;;) {
		while (inflight < DN_BLK_QUEUE) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t sector = x % (sectors - REQ_SECTORS + 1);
			int tag = dn_blk_submit(op, sector, buf, REQ_SECTORS);
			if (tag < 0)
				break;
			inflight++;
		}
		int res, tag = dn_blk_complete(&res);
		if (tag == -EAGAIN) {
			dn_idle(DENALI_NO_DEADLINE);
			continue;
		}
		if (tag < 0) {
			printf("hog-disk: complete: %d\n", tag);
			return 1;
		}
		inflight--;
		done++;
		errors += res != 0;
		if (!hog_tick(&h, done, "requests"))
			break;
	}
	while (inflight > 0) {
		int res;
		if (dn_blk_complete(&res) >= 0)
			inflight--;
		else
			dn_idle(DENALI_NO_DEADLINE);
	}
	printf("hog-disk: %lu errors\n", (unsigned long)errors);
	return hog_done(&h, done, "requests");
}

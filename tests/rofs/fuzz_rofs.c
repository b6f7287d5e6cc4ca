/*
 * Fuzz target: the rofs reader over arbitrary image bytes. Each input is
 * mounted twice: as it is (exercising the checksum and superblock checks),
 * then resealed, i.e. with its checksums recomputed, so that mutations reach
 * the entry, name and bounds checks behind them. Whatever mounts is walked:
 * every entry listed, looked up, read in pieces and verified.
 */
#include "fuzz.h"
#include "rofs_mem.h"

#include <stdlib.h>

static struct rofs fs;

static void walk(struct mem_dev *dev)
{
	static const char *probes[] = {"",	 "index.html", "docs",		"docs/site.css",
				       "a/../b", "zzzz",       "docs/img/x.bin"};
	struct rofs_stat st;
	char name[ROFS_PATH_MAX + 1];
	uint8_t buf[1100];

	if (rofs_mount(&fs, mem_dev_read, dev, mem_dev_sectors(dev)) != 0)
		return;
	for (size_t i = 0; i < sizeof(probes) / sizeof(*probes); i++)
		(void)rofs_lookup(&fs, probes[i], strlen(probes[i]), &st);
	for (uint32_t i = 0; i < rofs_count(&fs) && i < 256; i++) {
		if (rofs_entry(&fs, i, &st, name, sizeof(name)) != 0)
			continue;
		struct rofs_stat st2;
		if (rofs_lookup(&fs, name, strlen(name), &st2) != 0 || st2.index != i)
			abort(); /* mount checked the order: every entry must be found */
		if (st.type != ROFS_TYPE_FILE)
			continue;
		for (uint64_t off = 0; off < st.size && off < 8192; off += 700) {
			int64_t n = rofs_pread(&fs, &st, off, buf, sizeof(buf));
			if (n < 0)
				break;
			if ((uint64_t)n > sizeof(buf) || (uint64_t)n > st.size - off)
				abort();
		}
		(void)rofs_verify(&fs, &st);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_dev dev = {data, size, -1, 0};
	walk(&dev);

	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	rofs_reseal(copy, size);
	dev = (struct mem_dev){copy, size, -1, 0};
	walk(&dev);
	/* and once more with a device that fails part-way */
	dev = (struct mem_dev){copy, size, size % 7, 0};
	walk(&dev);
	free(copy);
	return 0;
}

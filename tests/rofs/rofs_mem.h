/*
 * Test helpers shared by the rofs tests and fuzzer: an image held in memory
 * behind the block-read callback, with an optional injected failure, and
 * resealing (recomputing the checksums) after a deliberate corruption.
 */
#ifndef DENALI_TEST_ROFS_MEM_H
#define DENALI_TEST_ROFS_MEM_H

#include <denali/rofs.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct mem_dev {
	const uint8_t *img;
	size_t len;	 /* bytes; reads past it fail like a short device */
	long fail_after; /* reads allowed before one returns -EIO; <0: never */
	long reads;
};

static inline int mem_dev_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	struct mem_dev *d = ctx;
	uint64_t off = sector * ROFS_SECTOR, len = (uint64_t)n * ROFS_SECTOR;

	if (d->fail_after >= 0 && d->reads >= d->fail_after)
		return -EIO;
	d->reads++;
	if (sector > d->len / ROFS_SECTOR || off > d->len || len > d->len - off)
		return -EIO;
	memcpy(buf, d->img + off, len);
	return 0;
}

static inline uint64_t mem_dev_sectors(const struct mem_dev *d)
{
	return d->len / ROFS_SECTOR;
}

/* Recompute meta_crc (when the geometry allows) and super_crc of a (possibly edited) image in
 * place. */
static inline void rofs_reseal(uint8_t *img, size_t len)
{
	struct rofs_super sb;

	if (len < sizeof(sb))
		return;
	memcpy(&sb, img, sizeof(sb));
	if (sb.table_sector < sb.data_sector && sb.data_sector <= len / ROFS_SECTOR)
		sb.meta_crc = rofs_crc32(0, img + sb.table_sector * ROFS_SECTOR,
					 (sb.data_sector - sb.table_sector) * ROFS_SECTOR);
	sb.super_crc = 0;
	sb.super_crc = rofs_crc32(0, &sb, sizeof(sb));
	memcpy(img, &sb, sizeof(sb));
}

#endif /* DENALI_TEST_ROFS_MEM_H */

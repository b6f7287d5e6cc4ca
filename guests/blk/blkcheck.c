/*
 * blkcheck: the block-device test guest.
 *   blkcheck rw N       write N sectors of a pattern from sector 0 (in 64 KiB
 *                       requests), flush, read them back, compare checksums
 *   blkcheck ro         a write must come back DENALI_BLK_S_RDONLY (sent
 *                       through the ring, not refused by the driver)
 *   blkcheck range      a request past the end and one whose sector + length
 *                       wraps must come back as I/O errors
 *   blkcheck fill       write until the host reports an error (a full disk):
 *                       the error must reach us as -EIO, and we keep running
 *   blkcheck zc N       like rw, with zero-copy buffers (dn_blk_alloc, 1 MiB
 *                       requests, 4 in flight): page-aligned, what a direct
 *                       disk takes without the page cache
 *   blkcheck bench ...  see bench() below
 */
#include <denali/blkdev.h>
#include <denali/libos.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 128u /* sectors per request */

static uint8_t buf[CHUNK * DENALI_BLK_SECTOR];

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n)
{
	c = ~c;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

static void pattern(uint64_t sector, uint32_t n)
{
	for (size_t i = 0; i < (size_t)n * DENALI_BLK_SECTOR; i++)
		buf[i] = (uint8_t)((sector * 7 + i * 13 + (i >> 9)) ^ 0x5a);
}

/* One request straight through the ring, waiting for its status. */
static int raw(uint32_t op, uint64_t sector, uint32_t n)
{
	int tag, res = 0;

	while ((tag = dn_blk_submit(op, sector, buf, n)) == -11)
		dn_idle(DENALI_NO_DEADLINE);
	if (tag < 0)
		return tag;
	while (dn_blk_wait(&res) != tag)
		;
	return res;
}

static int rw(uint64_t n)
{
	uint32_t crc_w = 0, crc_r = 0;
	int rc;

	if (n > dn_blk_sectors())
		n = dn_blk_sectors();
	for (uint64_t s = 0; s < n; s += CHUNK) {
		uint32_t k = n - s < CHUNK ? (uint32_t)(n - s) : CHUNK;

		pattern(s, k);
		crc_w = crc_update(crc_w, buf, (size_t)k * DENALI_BLK_SECTOR);
		rc = dn_blk_write(s, buf, k);
		if (rc) {
			printf("blkcheck: write at %lu: %d\n", (unsigned long)s, rc);
			return 1;
		}
	}
	rc = dn_blk_flush();
	if (rc) {
		printf("blkcheck: flush: %d\n", rc);
		return 1;
	}
	for (uint64_t s = 0; s < n; s += CHUNK) {
		uint32_t k = n - s < CHUNK ? (uint32_t)(n - s) : CHUNK;

		memset(buf, 0, sizeof(buf));
		rc = dn_blk_read(s, buf, k);
		if (rc) {
			printf("blkcheck: read at %lu: %d\n", (unsigned long)s, rc);
			return 1;
		}
		crc_r = crc_update(crc_r, buf, (size_t)k * DENALI_BLK_SECTOR);
	}
	printf("blkcheck: rw %lu sectors: written crc %08x read crc %08x %s\n", (unsigned long)n,
	       crc_w, crc_r, crc_w == crc_r ? "match" : "MISMATCH");
	return crc_w == crc_r ? 0 : 1;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * bench randread QD N: N random 4 KiB reads, QD in flight.
 * bench seqread QD N: N MiB read sequentially in 1 MiB requests, QD in flight.
 * Zero-copy buffers (dn_blk_alloc): the host reads straight into them.
 * Prints ops, bytes and the elapsed time measured in the guest.
 */
static int bench(const char *mode, long qd, long n)
{
	static void *bufs[DN_BLK_QUEUE];
	static int buf_of[DN_BLK_QUEUE]; /* tag -> buffer index */
	uint64_t cap = dn_blk_sectors(), t0, el, bytes = 0, sector = 0;
	long issued = 0, done = 0, total = n;
	int seq = !strcmp(mode, "seqread"), res, free_top = 0;
	int free_bufs[DN_BLK_QUEUE];
	uint32_t ns = seq ? 2048 : 8;
	struct dn_blk_wait_stats ws;

	if (qd < 1 || qd > (long)DN_BLK_QUEUE || cap < 4096)
		return 2;
	for (long i = 0; i < qd; i++) {
		if (!(bufs[i] = dn_blk_alloc(ns))) {
			printf("blkcheck: bench: no memory for %ld buffers of %u sectors\n", qd,
			       ns);
			return 2;
		}
		memset(bufs[i], 0, (size_t)ns * DENALI_BLK_SECTOR); /* touched before timing */
		free_bufs[free_top++] = (int)i;
	}
	t0 = dn_now_ns();
	while (done < total) {
		while (issued < total && free_top > 0) {
			uint64_t s = seq ? sector : (next_rand() % (cap / 8)) * 8;
			int b = free_bufs[free_top - 1];
			int tag = dn_blk_submit_zc(DENALI_BLK_READ, s, bufs[b], ns);

			if (tag < 0)
				break;
			free_top--;
			buf_of[tag] = b;
			issued++;
			sector = seq ? (sector + ns + ns <= cap ? sector + ns : 0) : sector;
		}
		int tag = dn_blk_wait(&res);

		if (tag < 0)
			continue;
		if (res) {
			printf("blkcheck: bench read error %d\n", res);
			return 1;
		}
		free_bufs[free_top++] = buf_of[tag];
		done++;
		bytes += (uint64_t)ns * DENALI_BLK_SECTOR;
	}
	el = dn_now_ns() - t0;
	dn_blk_get_wait_stats(&ws);
	printf("blkcheck: bench %s qd %ld ops %ld bytes %lu ns %lu iops %lu mbps %lu "
	       "spin_hits %lu spin_timeouts %lu take_misses %lu idles %lu\n",
	       mode, qd, done, (unsigned long)bytes, (unsigned long)el,
	       (unsigned long)((uint64_t)done * 1000000000ull / el),
	       (unsigned long)(bytes * 1000ull / el), (unsigned long)ws.spin_hits,
	       (unsigned long)ws.spin_timeouts, (unsigned long)ws.take_misses,
	       (unsigned long)ws.idles);
	return 0;
}

/* Waits for one zero-copy request to finish: its tag, its result in *res. */
static int zc_wait(int *res)
{
	int tag;

	while ((tag = dn_blk_wait(res)) < 0)
		;
	return tag;
}

#define ZC_SECTORS 2048u
#define ZC_DEPTH   4

/* Writes (op WRITE, the pattern) or reads back n sectors, ZC_DEPTH in flight; the crc of
 * the data in order. 0 or the first error. */
static int zc_pass(uint32_t op, uint64_t n, uint32_t *crc)
{
	static uint8_t *zb[ZC_DEPTH];
	uint32_t len[ZC_DEPTH];
	int tag_of[ZC_DEPTH], res, err = 0;
	uint64_t s = 0;

	for (int i = 0; i < ZC_DEPTH; i++)
		if (!zb[i] && !(zb[i] = dn_blk_alloc(ZC_SECTORS)))
			return -12;
	/* Rounds of ZC_DEPTH requests, checksummed in order once the round is in. */
	while (s < n) {
		int k = 0;

		for (; k < ZC_DEPTH && s < n; k++) {
			len[k] = n - s < ZC_SECTORS ? (uint32_t)(n - s) : ZC_SECTORS;
			if (op == DENALI_BLK_WRITE)
				for (size_t i = 0; i < (size_t)len[k] * DENALI_BLK_SECTOR; i++)
					zb[k][i] = (uint8_t)((s * 7 + i * 13 + (i >> 9)) ^ 0x5a);
			else
				memset(zb[k], 0, (size_t)len[k] * DENALI_BLK_SECTOR);
			tag_of[k] = dn_blk_submit_zc(op, s, zb[k], len[k]);
			if (tag_of[k] < 0)
				return tag_of[k];
			s += len[k];
		}
		for (int done = 0; done < k; done++) {
			zc_wait(&res);
			if (res && !err)
				err = res;
		}
		for (int j = 0; j < k; j++)
			*crc = crc_update(*crc, zb[j], (size_t)len[j] * DENALI_BLK_SECTOR);
	}
	return err;
}

static int zc(uint64_t n)
{
	uint32_t crc_w = 0, crc_r = 0;
	int rc;

	if (n > dn_blk_sectors())
		n = dn_blk_sectors();
	if ((rc = zc_pass(DENALI_BLK_WRITE, n, &crc_w)) || (rc = dn_blk_flush()) ||
	    (rc = zc_pass(DENALI_BLK_READ, n, &crc_r))) {
		printf("blkcheck: zc: %d\n", rc);
		return 1;
	}
	printf("blkcheck: zc %lu sectors: written crc %08x read crc %08x %s\n", (unsigned long)n,
	       crc_w, crc_r, crc_w == crc_r ? "match" : "MISMATCH");
	return crc_w == crc_r ? 0 : 1;
}

int main(int argc, char **argv)
{
	uint64_t cap = dn_blk_sectors();
	int rc;

	if (!cap) {
		printf("blkcheck: no disk\n");
		return 2;
	}
	printf("blkcheck: disk of %lu sectors%s\n", (unsigned long)cap,
	       dn_blk_readonly() ? ", read-only" : "");
	if (argc >= 5 && !strcmp(argv[1], "bench"))
		return bench(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "zc"))
		return zc(strtoull(argv[2], NULL, 10));
	if (argc >= 3 && !strcmp(argv[1], "rw"))
		return rw(strtoull(argv[2], NULL, 10));
	if (argc >= 2 && !strcmp(argv[1], "ro")) {
		int r = raw(DENALI_BLK_READ, 0, 1);
		int w = raw(DENALI_BLK_WRITE, 0, 1);

		printf("blkcheck: ro read %d write %d\n", r, w);
		return r == 0 && w == -30 ? 0 : 1;
	}
	if (argc >= 2 && !strcmp(argv[1], "range")) {
		int a = raw(DENALI_BLK_READ, cap, 1);
		int b = raw(DENALI_BLK_READ, cap - 1, 2);
		int c = raw(DENALI_BLK_READ, UINT64_MAX - 1, 4);
		int d = raw(DENALI_BLK_READ, cap - 1, 1);

		printf("blkcheck: range past-end %d straddle %d wrap %d last %d\n", a, b, c, d);
		return a == -5 && b == -5 && c == -5 && d == 0 ? 0 : 1;
	}
	if (argc >= 2 && !strcmp(argv[1], "fill")) {
		for (uint64_t s = 0; s < cap; s += CHUNK) {
			uint32_t k = cap - s < CHUNK ? (uint32_t)(cap - s) : CHUNK;

			pattern(s, k);
			rc = dn_blk_write(s, buf, k);
			if (rc == 0)
				rc = dn_blk_flush();
			if (rc) {
				printf("blkcheck: fill error %d at sector %lu, still running\n", rc,
				       (unsigned long)s);
				/* Still alive and the disk still reads. */
				rc = dn_blk_read(0, buf, 1);
				printf("blkcheck: read after error %d\n", rc);
				return 0;
			}
		}
		printf("blkcheck: fill: the whole disk was written, no error\n");
		return 1;
	}
	printf("blkcheck: usage: rw N | zc N | ro | range | fill | bench MODE QD N\n");
	return 2;
}

/*
 * guest-libos block driver over the blk ring of the ABI: 512-byte sectors,
 * requests carried by the ring, completions waited for with dn_idle() (the
 * VM leaves the run queue while the host does the I/O). Other events that
 * arrive while a call waits are handed back (dn_events_defer), never lost.
 */
#ifndef DENALI_BLKDEV_H
#define DENALI_BLKDEV_H

#include <stddef.h>
#include <stdint.h>

/* Capacity in 512-byte sectors; 0 = no disk. */
uint64_t dn_blk_sectors(void);

/* 1 if the disk refuses writes. */
int dn_blk_readonly(void);

/* Synchronous I/O: 0, -EIO (host error, out of range), -EINVAL (bad
 * arguments, no disk), -EROFS (write to a read-only disk). */
int dn_blk_read(uint64_t sector, void *buf, uint32_t nsectors);
int dn_blk_write(uint64_t sector, const void *buf, uint32_t nsectors);
int dn_blk_flush(void);

/*
 * Asynchronous I/O, for queue depths above one: dn_blk_submit() queues one
 * request of at most DN_BLK_ASYNC_MAX sectors (write data is copied at
 * submit) and returns a tag >= 0, or -EAGAIN when DN_BLK_QUEUE requests
 * are in flight, -EINVAL. dn_blk_complete() returns the tag of one finished
 * request with its result (0, -EIO, -EROFS) in *res, the read data copied
 * to the submit buffer, or -EAGAIN when none has finished yet (idle and
 * retry; DENALI_EV_BLK wakes).
 */
#define DN_BLK_ASYNC_MAX 128u
#define DN_BLK_QUEUE	 32u
int dn_blk_submit(uint32_t op, uint64_t sector, void *buf, uint32_t nsectors);
int dn_blk_complete(int *res);

/* Like dn_blk_complete(), but waits for a request to finish: spinning a
 * while with no exit when the monitor polls the ring, idling otherwise.
 * -EAGAIN when none is in flight. Other events that come meanwhile are
 * handed back (dn_events_defer). */
int dn_blk_wait(int *res);

/* How waits for completions went, since the start. */
struct dn_blk_wait_stats {
	uint64_t spin_hits;	/* answered while spinning: no exit */
	uint64_t spin_timeouts; /* taken, not answered within the spin bound */
	uint64_t take_misses;	/* the poller took nothing for a while: off its CPU */
	uint64_t idles;		/* waits through an exit (dn_idle) */
};
void dn_blk_get_wait_stats(struct dn_blk_wait_stats *out);

/*
 * Zero-copy asynchronous I/O: dn_blk_alloc() gives a buffer of nsectors
 * (at most DN_BLK_ZC_MAX; NULL if none), page-aligned, with room for the
 * request header in front of it; dn_blk_submit_zc() posts a READ or WRITE
 * of that buffer itself (tags and dn_blk_complete() as above). The host
 * reads into and writes from the buffer directly: it must not be touched
 * until the request completes. dn_blk_free() releases it.
 */
#define DN_BLK_ZC_MAX 8192u /* sectors: 4 MiB */
void *dn_blk_alloc(uint32_t nsectors);
void dn_blk_free(void *data);
int dn_blk_submit_zc(uint32_t op, uint64_t sector, void *data, uint32_t nsectors);

#endif /* DENALI_BLKDEV_H */

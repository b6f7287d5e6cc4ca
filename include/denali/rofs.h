/*
 * rofs: the read-only content file system reader (format in
 * <denali/rofs_format.h>, images written by denali-mkfs).
 *
 * The same sources build for the guest, where the block-read callback is
 * dn_blk_read() from <denali/blkdev.h>, and for the host, where it reads a
 * file or a buffer (unit tests, the fuzzer, denali-mkfs's own checks).
 *
 * No allocation: struct rofs holds a small sector cache inline. Every
 * lookup is bounded (path length, depth, O(log entries) probes); every
 * field read from the image is checked before it is used, so a corrupt,
 * truncated or hostile image gives errors and never an out-of-bounds
 * access. Errors are 0 or -errno:
 *   -EINVAL   the image is malformed (or an argument is)
 *   -EBADMSG  a checksum does not match
 *   -EIO      the block device failed (whatever the callback returned)
 *   -ENOENT   no such path
 *   -ENAMETOOLONG  the path is longer than ROFS_PATH_MAX or deeper than
 *             ROFS_DEPTH_MAX
 * Single-threaded: one struct rofs is used by one thread at a time.
 */
#ifndef DENALI_ROFS_H
#define DENALI_ROFS_H

#include <denali/rofs_format.h>
#include <stddef.h>
#include <stdint.h>

/* Read `nsectors` sectors from `sector` into `buf`: 0 or -errno. */
typedef int (*rofs_read_fn)(void *ctx, uint64_t sector, void *buf, uint32_t nsectors);

#define ROFS_CACHE_LINES 16u /* sectors kept; 8 KiB */
#define ROFS_IO_MAX	 16u /* sectors per callback read of file data */

struct rofs_cache_line {
	uint64_t sector;
	uint64_t used; /* LRU stamp; 0 = empty */
	uint8_t data[ROFS_SECTOR];
};

struct rofs_counters {
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t dev_reads;   /* callback invocations */
	uint64_t dev_sectors; /* sectors read through the callback */
};

struct rofs {
	rofs_read_fn read;
	void *ctx;
	uint32_t entry_count;
	uint32_t names_bytes;
	uint64_t table_sector;
	uint64_t names_sector;
	uint64_t data_sector;
	uint64_t total_sectors;
	uint64_t stamp;
	struct rofs_counters counters;
	struct rofs_cache_line cache[ROFS_CACHE_LINES];
};

/* What a lookup found. `index` is the entry number (ROFS_ROOT for the root). */
struct rofs_stat {
	uint32_t index;
	uint8_t type; /* ROFS_TYPE_FILE or ROFS_TYPE_DIR */
	uint64_t size;
	int64_t mtime;
	uint32_t crc;
	uint64_t data_sector;
};

#define ROFS_ROOT UINT32_MAX

/*
 * Check the image on a device of `dev_sectors` sectors and prepare `fs`.
 * Reads the superblock, the whole table and names (checksum, sortedness,
 * every entry's bounds): O(entries) at mount, so lookups need not re-check
 * the order. File data is not read (see rofs_verify()).
 */
int rofs_mount(struct rofs *fs, rofs_read_fn read, void *ctx, uint64_t dev_sectors);

/*
 * Find `path` (`len` bytes, no NUL needed; relative, "" is the root).
 * 0 and *st filled, or -ENOENT, -ENAMETOOLONG, -EINVAL (bad syntax), -EIO.
 */
int rofs_lookup(struct rofs *fs, const char *path, size_t len, struct rofs_stat *st);

/*
 * Read up to `len` bytes of the file `st` from byte `off` into `buf`.
 * Returns the bytes read (0 at or past the end) or -errno.
 */
int64_t rofs_pread(struct rofs *fs, const struct rofs_stat *st, uint64_t off, void *buf,
		   size_t len);

/* Read the whole file and compare with its data_crc: 0, -EBADMSG, -EIO. */
int rofs_verify(struct rofs *fs, const struct rofs_stat *st);

/*
 * Entry `index` (0 .. rofs_count()-1, in path order): its stat and its path,
 * NUL-terminated into `name` (`cap` > ROFS_PATH_MAX suffices). 0 or -errno.
 */
int rofs_entry(struct rofs *fs, uint32_t index, struct rofs_stat *st, char *name, size_t cap);

static inline uint32_t rofs_count(const struct rofs *fs)
{
	return fs->entry_count;
}

/* 0 if `path` obeys the path rules of <denali/rofs_format.h>, else -EINVAL
 * (or -ENAMETOOLONG). "" (the root) is valid. Used by denali-mkfs too. */
int rofs_path_check(const char *path, size_t len);

/* CRC-32 (IEEE), continuing from `crc` (start with 0). */
uint32_t rofs_crc32(uint32_t crc, const void *buf, size_t len);

#endif /* DENALI_ROFS_H */

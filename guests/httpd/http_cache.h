/*
 * The site's file cache: whole files of the rofs kept in memory, so that
 * answering a request for a hot file costs no block I/O (a block read is a
 * ring round trip through the monitor, an exit and a host read, where the
 * answer itself needs neither). Bounded by a byte budget and a slot count;
 * least recently used files go first. A file is cached only if it reads
 * back whole and matches its CRC from the image; otherwise every read goes
 * to the rofs as before. A budget of 0 disables the cache.
 */
#ifndef DENALI_HTTP_CACHE_H
#define DENALI_HTTP_CACHE_H

#include <denali/rofs.h>
#include <stdint.h>

#define HTTP_CACHE_SLOTS    64u
#define HTTP_CACHE_FILE_MAX (256u << 10) /* larger files are streamed from the disk */

struct http_cache_stats {
	uint64_t hits;
	uint64_t loads;	    /* misses that brought a file in */
	uint64_t evictions; /* files dropped to make room */
	uint64_t bypass;    /* reads not served from memory: too big, no memory, bad CRC */
};

struct http_cache_slot {
	struct rofs_stat st; /* the file, as the image described it */
	uint64_t used;	     /* LRU stamp; 0 = free */
	uint8_t *data;	     /* st.size bytes */
};

struct http_cache {
	uint64_t budget, bytes, stamp;
	struct http_cache_stats stats;
	struct http_cache_slot slot[HTTP_CACHE_SLOTS];
};

/* An empty cache of at most `budget` bytes (0: off). */
void http_cache_init(struct http_cache *c, uint64_t budget);

/* Frees every cached file. */
void http_cache_free(struct http_cache *c);

/*
 * Read up to `len` bytes of `st` from byte `off`, from memory when the file
 * is (or can be brought) in the cache, else through rofs_pread(). Same
 * result as rofs_pread(): bytes read (0 at or past the end) or -errno.
 */
int64_t http_cache_pread(struct http_cache *c, struct rofs *fs, const struct rofs_stat *st,
			 uint64_t off, void *buf, size_t len);

#endif /* DENALI_HTTP_CACHE_H */

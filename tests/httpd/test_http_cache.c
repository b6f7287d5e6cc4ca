/*
 * The site's file cache: a hot file is answered from memory with no device
 * read (the uncached site reads the disk for every request, which in a VM
 * is a block-ring round trip and an exit per request), byte-exact; the
 * budget and the slot count bound it, least recently used files go first;
 * a file that does not match its CRC is never cached, and a device error
 * after a file is cached does not disturb answers from memory.
 */
#include "http_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static struct harness h;
static struct http_conn conn;
static struct http_cache cache;

static int setup(void **state)
{
	(void)state;
	return harness_init(&h);
}

static int teardown(void **state)
{
	(void)state;
	http_cache_free(&cache);
	h.site.cache = NULL;
	harness_free(&h);
	return 0;
}

/* One GET through a fresh connection; its body must be `want`. */
static void get(const char *path, const void *want, size_t want_len)
{
	char req[256];
	struct sink out = {0};
	struct response r[1];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: vm\r\n\r\n", path);
	http_conn_init(&conn, &h.site, NULL, 0);
	assert_int_equal(feed_all(&conn, &out, req, strlen(req), 0, 0), strlen(req));
	assert_int_equal(split_responses(&out, NULL, 0, r, 1), 1);
	assert_int_equal(r[0].status, 200);
	assert_int_equal(r[0].body_len, want_len);
	assert_memory_equal(r[0].body, want, want_len);
	sink_free(&out);
}

static void use_cache(uint64_t budget)
{
	http_cache_free(&cache);
	http_cache_init(&cache, budget);
	h.site.cache = &cache;
}

/* The old site read the disk on every request: here only the first does. */
static void test_hot_file_no_device_reads(void **state)
{
	(void)state;
	use_cache(1u << 20);
	get("/index.html", h.index, sizeof(h.index));
	uint64_t reads = h.fs.counters.dev_reads;
	for (int i = 0; i < 100; i++)
		get("/index.html", h.index, sizeof(h.index));
	assert_int_equal(h.fs.counters.dev_reads, reads);
	assert_int_equal(cache.stats.loads, 1);
	assert_int_equal(cache.stats.hits, 100);
	/* A big file streams from memory in pieces, byte-exact. */
	get("/big.bin", h.big, H_BIG_SIZE);
	reads = h.fs.counters.dev_reads;
	get("/big.bin", h.big, H_BIG_SIZE);
	assert_int_equal(h.fs.counters.dev_reads, reads);
	assert_int_equal(cache.bytes, sizeof(h.index) + H_BIG_SIZE);
}

/* Without a cache (or a zero budget) every request reads the device. */
static void test_off_reads_every_time(void **state)
{
	(void)state;
	use_cache(0);
	get("/index.html", h.index, sizeof(h.index));
	uint64_t reads = h.fs.counters.dev_reads;
	get("/index.html", h.index, sizeof(h.index));
	assert_true(h.fs.counters.dev_reads > reads);
	assert_int_equal(cache.bytes, 0);
}

/* The budget holds: the least recently used file makes room. */
static void test_budget_and_lru(void **state)
{
	(void)state;
	use_cache(H_BIG_SIZE + 100); /* big.bin, or the small files, not both */
	get("/docs/style.css", "body { color: #333 }\n", 21);
	get("/index.html", h.index, sizeof(h.index));
	assert_int_equal(cache.stats.loads, 2);
	get("/big.bin", h.big, H_BIG_SIZE);
	assert_true(cache.bytes <= cache.budget);
	assert_int_equal(cache.stats.evictions, 2);
	get("/index.html", h.index, sizeof(h.index)); /* back in, big.bin out */
	assert_true(cache.bytes <= cache.budget);
	assert_int_equal(cache.stats.loads, 4);
	assert_int_equal(cache.stats.evictions, 3);
	/* A file over the whole budget is streamed from the disk, uncached. */
	use_cache(1000);
	get("/big.bin", h.big, H_BIG_SIZE);
	assert_int_equal(cache.bytes, 0);
	assert_true(cache.stats.bypass > 0);
}

/* A file whose bytes do not match its CRC is never cached. */
static void test_bad_crc_not_cached(void **state)
{
	(void)state;
	struct rofs_stat st;

	use_cache(1u << 20);
	assert_int_equal(rofs_lookup(&h.fs, "index.html", 10, &st), 0);
	/* Corrupt the file's first byte on the "device". */
	uint8_t *p = h.img + st.data_sector * ROFS_SECTOR;
	uint8_t save = *p;
	*p ^= 0x55;
	h.fs.cache[0].used = 0; /* drop rofs's own sector cache */
	for (unsigned i = 0; i < ROFS_CACHE_LINES; i++)
		h.fs.cache[i].used = 0;
	char buf[sizeof(h.index)];
	assert_int_equal(http_cache_pread(&cache, &h.fs, &st, 0, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(cache.bytes, 0);
	assert_int_equal(cache.stats.loads, 0);
	*p = save;
	for (unsigned i = 0; i < ROFS_CACHE_LINES; i++)
		h.fs.cache[i].used = 0;
	get("/index.html", h.index, sizeof(h.index));
	assert_int_equal(cache.stats.loads, 1);
	/* Cached: a failing device no longer matters for this file. */
	size_t len = h.img_len;
	h.img_len = 0;
	assert_int_equal(http_cache_pread(&cache, &h.fs, &st, 600, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, h.index + 600, 12);
	assert_int_equal(http_cache_pread(&cache, &h.fs, &st, 612, buf, sizeof(buf)), 0);
	h.img_len = len;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hot_file_no_device_reads),
	    cmocka_unit_test(test_off_reads_every_time),
	    cmocka_unit_test(test_budget_and_lru),
	    cmocka_unit_test(test_bad_crc_not_cached),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

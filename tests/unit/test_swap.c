/*
 * Strided swap: layout, slot allocation, checksums, a real round trip of a
 * memory region through a tmpfs, and the error paths (a full file system,
 * EIO, a slot too small) that must leave the VM's memory as it was.
 */
#include "sched/crc32c.h"
#include "sched/swap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define MEM (2u << 20)

static char dir[64];
static char err[256];
static uint8_t zeros[65536];

static void rm_dir(const char *d)
{
	char path[128];

	for (unsigned i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "%s/swap.%u", d, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/filler", d);
	unlink(path);
	rmdir(d);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/dev/shm/denali-swap-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rm_dir(dir);
	return 0;
}

static struct swap *open_swap(unsigned nfiles, uint64_t nslots, uint64_t slot_size)
{
	struct swap_config cfg = {dir, nfiles, nslots * slot_size, slot_size, 1, 0, 0};
	struct swap *sw = NULL;

	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), 0);
	return sw;
}

static uint8_t *region(void)
{
	void *p = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	madvise(p, MEM, MADV_NOHUGEPAGE); /* page-sized residency, for mincore */
	return p;
}

/* Writes a pattern into every 7th page (seeded by the page number) and an
 * explicit zero page that must not be saved; returns pages with data. */
static unsigned fill(uint8_t *mem, unsigned seed)
{
	unsigned n = 0;

	for (unsigned pg = 1; pg < MEM / 4096; pg += 7) {
		for (unsigned i = 0; i < 4096; i++)
			mem[pg * 4096u + i] = (uint8_t)(pg * 31u + i * 7u + seed);
		mem[pg * 4096u] |= 1; /* never an all-zero page */
		n++;
	}
	memset(mem + 3 * 4096, 0, 4096); /* touched, but zero */
	return n;
}

static void test_layout(void **state)
{
	const unsigned F = 3;
	const uint64_t S = 8192, N = 100;
	uint8_t seen[3][34] = {{0}};

	(void)state;
	assert_int_equal(swap_slot_file(0, F), 0);
	assert_int_equal(swap_slot_file(4, F), 1);
	assert_int_equal(swap_slot_offset(4, F, S), 1 * S);
	assert_int_equal(swap_slot_offset(99, F, S), 33 * S);
	/* Every slot has its own place; consecutive slots are in different files. */
	for (uint64_t s = 0; s < N; s++) {
		unsigned f = swap_slot_file(s, F);
		uint64_t off = swap_slot_offset(s, F, S);

		assert_int_equal(off % S, 0);
		assert_int_equal(seen[f][off / S], 0);
		seen[f][off / S] = 1;
		if (s)
			assert_int_not_equal(f, swap_slot_file(s - 1, F));
	}
	assert_int_equal(swap_meta_bytes(0, 0, 0), 4096);
	assert_int_equal(swap_meta_bytes(1024, 4096, 100), 3 * 4096);
	assert_true(swap_slot_size_for(MEM, 5000, 100) >= MEM + 5000 + 100 + 4 * MEM / 4096);
}

static void test_prealloc(void **state)
{
	struct swap *sw = open_swap(3, 10, 16384);
	char path[128];
	struct stat st;

	(void)state;
	assert_int_equal(swap_slots(sw), 10);
	/* 10 slots over 3 files: 4, 3, 3, allocated on disk. */
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/swap.%u", dir, i);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, (i == 0 ? 4 : 3) * 16384);
		assert_true(st.st_blocks * 512 >= st.st_size);
	}
	swap_close(sw);
}

static void test_alloc(void **state)
{
	struct swap *sw = open_swap(2, 130, 4096 * 2);
	struct swap_counters c;
	uint8_t got[130] = {0};
	uint64_t s;

	(void)state;
	for (unsigned i = 0; i < 130; i++) {
		assert_int_equal(swap_slot_alloc(sw, &s), 0);
		assert_true(s < 130);
		assert_int_equal(got[s], 0);
		got[s] = 1;
	}
	assert_int_equal(swap_slot_alloc(sw, &s), -ENOSPC);
	swap_get_counters(sw, &c);
	assert_int_equal(c.slots_used, 130);
	assert_int_equal(c.slots_total, 130);
	swap_slot_free(sw, 77);
	swap_slot_free(sw, 77); /* twice: no effect */
	swap_get_counters(sw, &c);
	assert_int_equal(c.slots_used, 129);
	assert_int_equal(swap_slot_alloc(sw, &s), 0);
	assert_int_equal(s, 77);
	assert_int_equal(swap_slot_reserve(sw, 5), -EBUSY);
	assert_int_equal(swap_slot_reserve(sw, 130), -ERANGE);
	swap_slot_free(sw, 5);
	assert_int_equal(swap_slot_reserve(sw, 5), 0);
	swap_close(sw);
}

static void test_crc(void **state)
{
	uint8_t buf[1000];

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xe3069283u);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131u + 7u);
	for (unsigned off = 0; off < 9; off++)
		for (unsigned len = 0; len < 40; len += 3)
			assert_int_equal(crc32c(0, buf + off, len + 900),
					 crc32c_sw(0, buf + off, len + 900));
	/* Extending in pieces equals one pass. */
	assert_int_equal(crc32c(crc32c(0, buf, 333), buf + 333, 667), crc32c(0, buf, 1000));
}

static void test_round_trip(void **state)
{
	struct swap *sw = open_swap(2, 4, swap_slot_size_for(MEM, 5000, 64));
	uint8_t *mem = region(), *ref = malloc(MEM), st[5000], dev[64], st2[5000], dev2[64];
	struct swap_image img = {42, mem, MEM, st, sizeof(st), dev, sizeof(dev)};
	struct swap_record rec;
	struct swap_counters c;
	unsigned n;

	(void)state;
	n = fill(mem, 1);
	memcpy(ref, mem, MEM);
	for (unsigned i = 0; i < sizeof(st); i++)
		st[i] = (uint8_t)(i ^ 0x5a);
	memset(dev, 0xd5, sizeof(dev));
	assert_int_equal(swap_write(sw, 3, &img, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.slot, 3);
	assert_int_equal(rec.npages, n); /* the zero page and untouched ones are not saved */
	assert_int_equal(madvise(mem, MEM, MADV_DONTNEED), 0);
	assert_int_equal(mem[4096 * 8], 0);
	img.state = st2;
	img.dev = dev2;
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), 0);
	assert_memory_equal(mem, ref, MEM);
	assert_memory_equal(st2, st, sizeof(st));
	assert_memory_equal(dev2, dev, sizeof(dev));
	assert_int_equal(img.dev_len, sizeof(dev));
	/* Many times over, with the memory changing between rounds. */
	for (unsigned r = 2; r < 40; r++) {
		n = fill(mem, r);
		memcpy(ref, mem, MEM);
		assert_int_equal(swap_write(sw, r % 4, &img, &rec, err, sizeof(err)), 0);
		assert_int_equal(madvise(mem, MEM, MADV_DONTNEED), 0);
		assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), 0);
		assert_memory_equal(mem, ref, MEM);
	}
	/* The probe sees what was written last. */
	{
		struct swap_record p;
		uint64_t id, size;

		assert_int_equal(swap_probe(sw, rec.slot, &p, &id, &size), 0);
		assert_int_equal(id, 42);
		assert_int_equal(size, MEM);
		assert_int_equal(p.generation, rec.generation);
		assert_int_equal(p.npages, rec.npages);
	}
	swap_get_counters(sw, &c);
	assert_int_equal(c.writes, 39);
	assert_int_equal(c.reads, 39);
	assert_int_equal(c.checksum_failures, 0);
	munmap(mem, MEM);
	free(ref);
	swap_close(sw);
}

/* Eviction looks only at resident pages (pagemap): it does not read, and so
 * map, the ones the VM never touched. */
static void test_untouched(void **state)
{
	struct swap *sw = open_swap(1, 1, swap_slot_size_for(MEM, 64, 0));
	uint8_t *mem = region(), st[64] = {0};
	struct swap_image img = {5, mem, MEM, st, sizeof(st), NULL, 0};
	struct swap_record rec;
	unsigned char vec[MEM / 4096];

	(void)state;
	mem[4096] = 1;
	mem[4096 * 9] = 2;
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.npages, 2);
	assert_int_equal(mincore(mem, MEM, vec), 0);
	for (unsigned i = 0; i < MEM / 4096; i++)
		assert_int_equal(vec[i] & 1, i == 1 || i == 9);
	munmap(mem, MEM);
	swap_close(sw);
}

/* A small VM's pages form a few runs: the record holds them, and metadata
 * and pages are read in one submission; every check still applies. */
static void test_runs(void **state)
{
	struct swap *sw = open_swap(1, 1, swap_slot_size_for(MEM, 64, 0));
	uint8_t *mem = region(), *ref = malloc(MEM), st[64] = {7};
	struct swap_image img = {5, mem, MEM, st, sizeof(st), NULL, 0};
	struct swap_record rec, bad_rec;
	char path[128];
	uint8_t b;
	int fd;

	(void)state;
	memset(mem + 4096 * 2, 0x11, 4096 * 3);	   /* pages 2-4 */
	memset(mem + 4096 * 40, 0x22, 4096);	   /* page 40 */
	memset(mem + 4096 * 500, 0x33, 4096 * 12); /* pages 500-511 */
	memcpy(ref, mem, MEM);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.npages, 16);
	assert_int_equal(rec.nruns, 3);
	assert_int_equal(rec.runs[2].start, 500);
	assert_int_equal(rec.runs[2].len, 12);
	assert_int_equal(madvise(mem, MEM, MADV_DONTNEED), 0);
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), 0);
	assert_memory_equal(mem, ref, MEM);
	/* A record whose runs disagree with the slot's page table. */
	bad_rec = rec;
	bad_rec.runs[1].start = 41;
	assert_int_equal(swap_read(sw, &bad_rec, &img, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "differs from the record"));
	/* A flipped data byte, read in the same submission as the metadata. */
	snprintf(path, sizeof(path), "%s/swap.0", dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)swap_meta_bytes(16, 64, 0) + 4096 * 15), 1);
	b ^= 0x80;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)swap_meta_bytes(16, 64, 0) + 4096 * 15), 1);
	close(fd);
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "page data checksum"));
	munmap(mem, MEM);
	free(ref);
	swap_close(sw);
}

/* The swap-in ablations (--swap-unit, --swap-no-prefault) read back the same bytes: a read
 * unit of one or two pages splits every run into several requests, on both read paths (runs
 * known from the record, and the page table read first); a unit that is not a multiple of
 * 4 KiB is refused. */
static void test_ablations(void **state)
{
	uint64_t slot_size = swap_slot_size_for(MEM, 64, 0);
	uint64_t units[] = {4096, 8192, 3 * 4096};
	uint8_t *mem = region(), *ref = malloc(MEM), st[64] = {3};
	struct swap_image img = {9, mem, MEM, st, sizeof(st), NULL, 0};
	struct swap_config cfg = {dir, 1, 2 * slot_size, slot_size, 1, 1, 1000};
	struct swap_record rec;
	struct swap_counters c;
	struct swap *sw = NULL;
	uint64_t before;

	(void)state;
	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "read unit"));
	for (unsigned u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		for (int runs = 0; runs < 2; runs++) {
			cfg.read_unit = units[u];
			cfg.no_prefault = (int)(u & 1);
			assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), 0);
			memset(mem, 0, MEM);
			if (runs) { /* three runs: the record knows them */
				memset(mem + 4096 * 2, 0x11, 4096 * 5);
				memset(mem + 4096 * 500, 0x33, 4096 * 12);
			} else { /* every 7th page: more runs than the record holds */
				fill(mem, 3 + u);
			}
			memcpy(ref, mem, MEM);
			assert_int_equal(swap_write(sw, 1, &img, &rec, err, sizeof(err)), 0);
			assert_int_equal(rec.nruns != 0, runs);
			assert_int_equal(madvise(mem, MEM, MADV_DONTNEED), 0);
			swap_get_counters(sw, &c);
			before = c.read_requests;
			assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), 0);
			assert_memory_equal(mem, ref, MEM);
			swap_get_counters(sw, &c);
			/* the metadata, then at most units[u] bytes of pages per request */
			assert_true(c.read_requests - before >=
				    1 + (rec.npages * 4096ull + units[u] - 1) / units[u]);
			swap_close(sw);
		}
	}
	munmap(mem, MEM);
	free(ref);
}

/* Flips one byte of slot 1 at off (from the slot's start) and expects the
 * read to fail its checksum. */
static void corrupt_and_read(uint64_t off, const char *why)
{
	uint64_t slot_size = swap_slot_size_for(MEM, 64, 16);
	struct swap *sw = open_swap(2, 2, slot_size);
	uint8_t *mem = region(), st[64] = {1}, dev[16] = {2}, b;
	struct swap_image img = {7, mem, MEM, st, sizeof(st), dev, sizeof(dev)};
	struct swap_record rec;
	struct swap_counters c;
	char path[128];
	int fd;

	fill(mem, 9);
	assert_int_equal(swap_write(sw, 1, &img, &rec, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/swap.1", dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
	memset(mem, 0, MEM);
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, why));
	swap_get_counters(sw, &c);
	assert_int_equal(c.checksum_failures, 1);
	assert_int_equal(c.reads, 0);
	munmap(mem, MEM);
	swap_close(sw);
}

static void test_corrupt_header(void **state)
{
	(void)state;
	corrupt_and_read(40, "header checksum");
}

static void test_corrupt_meta(void **state)
{
	(void)state;
	corrupt_and_read(80, "metadata checksum"); /* a page number */
}

static void test_corrupt_data(void **state)
{
	(void)state;
	corrupt_and_read(swap_meta_bytes(MEM / 4096 / 7 + 1, 64, 16) + 4096 * 5 + 17,
			 "page data checksum");
}

static void test_stale_record(void **state)
{
	struct swap *sw = open_swap(1, 2, swap_slot_size_for(MEM, 64, 16));
	uint8_t *mem = region(), st[64] = {0}, dev[16] = {0};
	struct swap_image img = {7, mem, MEM, st, sizeof(st), dev, sizeof(dev)};
	struct swap_record old, cur;

	(void)state;
	fill(mem, 1);
	assert_int_equal(swap_write(sw, 0, &img, &old, err, sizeof(err)), 0);
	assert_int_equal(swap_write(sw, 0, &img, &cur, err, sizeof(err)), 0);
	assert_true(cur.generation > old.generation);
	assert_int_equal(swap_read(sw, &old, &img, err, sizeof(err)), -EBADMSG);
	img.vm_id = 8; /* another VM's record for this slot */
	assert_int_equal(swap_read(sw, &cur, &img, err, sizeof(err)), -EBADMSG);
	img.vm_id = 7;
	assert_int_equal(swap_read(sw, &cur, &img, err, sizeof(err)), 0);
	munmap(mem, MEM);
	swap_close(sw);
}

static void test_too_big(void **state)
{
	struct swap *sw = open_swap(1, 2, 16 * 4096); /* holds 14 pages or so */
	uint8_t *mem = region(), *ref = malloc(MEM), st[64] = {0};
	struct swap_image img = {7, mem, MEM, st, sizeof(st), NULL, 0};
	struct swap_record rec;
	struct swap_counters c;

	(void)state;
	fill(mem, 3); /* 75 pages */
	memcpy(ref, mem, MEM);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), -EFBIG);
	swap_get_counters(sw, &c);
	assert_int_equal(c.too_big, 1);
	assert_int_equal(c.write_errors, 1);
	assert_memory_equal(mem, ref, MEM);
	/* A small working set fits. */
	memset(mem, 0, MEM);
	memset(mem + 4096 * 9, 0x77, 4096 * 10);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), 0);
	assert_int_equal(rec.npages, 10);
	munmap(mem, MEM);
	free(ref);
	swap_close(sw);
}

static void test_eio(void **state)
{
	struct swap *sw = open_swap(2, 2, swap_slot_size_for(MEM, 64, 0));
	uint8_t *mem = region(), *ref = malloc(MEM), st[64] = {3};
	struct swap_image img = {9, mem, MEM, st, sizeof(st), NULL, 0};
	struct swap_record rec;
	struct swap_counters c;

	(void)state;
	fill(mem, 5);
	memcpy(ref, mem, MEM);
	swap_inject_error(sw, EIO, 1);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "slot 0"));
	assert_memory_equal(mem, ref, MEM);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), 0);
	memset(mem, 0, MEM);
	swap_inject_error(sw, EIO, 1);
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), -EIO);
	memset(mem, 0, MEM);
	assert_int_equal(swap_read(sw, &rec, &img, err, sizeof(err)), 0);
	assert_memory_equal(mem, ref, MEM);
	swap_get_counters(sw, &c);
	assert_int_equal(c.write_errors, 1);
	assert_int_equal(c.read_errors, 1);
	assert_int_equal(c.writes, 1);
	assert_int_equal(c.reads, 1);
	munmap(mem, MEM);
	free(ref);
	swap_close(sw);
}

/*
 * A small tmpfs: a swap larger than it is refused at open (preallocation),
 * and a slot whose blocks were taken from under it (a hole punched, the file
 * system filled by someone else) fails its write with ENOSPC, counted, the
 * memory untouched.
 */
static void test_full_tmpfs(void **state)
{
	char mnt[64] = "/tmp/denali-swap-mnt-XXXXXX", filler[128];
	struct swap_config cfg;
	uint64_t slot_size = swap_slot_size_for(MEM, 64, 0);
	struct swap *sw = NULL;
	uint8_t *mem, *ref, st[64] = {4};
	struct swap_record rec;
	struct swap_counters c;
	int fd;

	(void)state;
	if (!mkdtemp(mnt))
		fail();
	if (mount("denali-swap-test", mnt, "tmpfs", 0, "size=8m") < 0) {
		rmdir(mnt);
		skip(); /* needs root (CAP_SYS_ADMIN) */
	}
	cfg = (struct swap_config){mnt, 2, 8 * slot_size, slot_size, 1, 0, 0};
	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "preallocating"));
	cfg.size = 2 * slot_size;
	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), 0);
	snprintf(filler, sizeof(filler), "%s/swap.0", mnt);
	fd = open(filler, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)slot_size), 0);
	close(fd);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	while (write(fd, zeros, sizeof(zeros)) > 0) /* fill it up */
		;
	mem = region();
	ref = malloc(MEM);
	fill(mem, 6);
	memcpy(ref, mem, MEM);
	assert_int_equal(swap_write(sw, 0, &(struct swap_image){1, mem, MEM, st, 64, NULL, 0}, &rec,
				    err, sizeof(err)),
			 -ENOSPC);
	assert_memory_equal(mem, ref, MEM);
	/* Slot 1 still has its blocks. */
	assert_int_equal(swap_write(sw, 1, &(struct swap_image){1, mem, MEM, st, 64, NULL, 0}, &rec,
				    err, sizeof(err)),
			 0);
	swap_get_counters(sw, &c);
	assert_int_equal(c.write_errors, 1);
	assert_int_equal(c.writes, 1);
	close(fd);
	swap_close(sw);
	munmap(mem, MEM);
	free(ref);
	umount(mnt);
	rmdir(mnt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_crc),
	    cmocka_unit_test_setup_teardown(test_prealloc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alloc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ablations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eio, setup, teardown),
	    cmocka_unit_test(test_full_tmpfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Swap log: last entry per VM wins, a torn last entry is ignored and
 * overwritten by the next append, a corrupt entry before the last refuses
 * the whole log, and a slot named by the log reads back after a "crash".
 */
#include "sched/swap.h"
#include "sched/swap_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static char dir[64], path[128], err[256];

struct seen {
	unsigned n;
	uint64_t id[16];
	int swapped[16];
	struct swap_record rec[16];
};

static void collect(uint64_t vm_id, const struct swap_record *rec, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->id[s->n] = vm_id;
	s->swapped[s->n] = rec != NULL;
	if (rec)
		s->rec[s->n] = *rec;
	s->n++;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/dev/shm/denali-swaplog-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/swap.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s/swap.0", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static struct swap_record rec_gen(uint64_t slot, uint64_t gen)
{
	return (struct swap_record){.slot = slot, .generation = gen, .npages = 3, .state_len = 9};
}

static void append(struct swap_log *l, enum swap_log_kind k, uint64_t id, uint64_t gen)
{
	struct swap_record r = rec_gen(id, gen);

	assert_int_equal(swap_log_append(l, k, id, k == SWAP_LOG_SWAPPED ? &r : NULL), 0);
}

static void fill(void)
{
	struct swap_log *l;

	assert_int_equal(swap_log_open(path, &l, err, sizeof(err)), 0);
	append(l, SWAP_LOG_SWAPPED, 1, 5);
	append(l, SWAP_LOG_SWAPPED, 2, 6);
	append(l, SWAP_LOG_RESIDENT, 1, 0);
	append(l, SWAP_LOG_SWAPPED, 3, 7);
	append(l, SWAP_LOG_GONE, 3, 0);
	append(l, SWAP_LOG_SWAPPED, 2, 9);
	swap_log_close(l);
}

static void test_last_wins(void **state)
{
	struct seen s = {0};

	(void)state;
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 0); /* missing */
	assert_int_equal(s.n, 0);
	fill();
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 6);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.id[0], 1);
	assert_false(s.swapped[0]); /* ran after its swap-in: boots afresh */
	assert_int_equal(s.id[1], 2);
	assert_true(s.swapped[1]);
	assert_int_equal(s.rec[1].generation, 9);
	assert_int_equal(s.rec[1].npages, 3);
	assert_int_equal(s.rec[1].nruns, 0);
}

static void test_torn_tail(void **state)
{
	struct seen s = {0};
	struct swap_log *l;
	uint8_t junk[64];

	(void)state;
	fill();
	/* A partial last entry: vm 2 is where its previous entry left it. */
	assert_int_equal(truncate(path, 6 * 64 - 10), 0);
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 5);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.rec[1].generation, 6);
	/* The next append overwrites the torn bytes. */
	assert_int_equal(swap_log_open(path, &l, err, sizeof(err)), 0);
	append(l, SWAP_LOG_SWAPPED, 4, 11);
	swap_log_close(l);
	memset(&s, 0, sizeof(s));
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 6);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.id[2], 4);
	/* A whole but garbage last entry: ignored, then overwritten. */
	memset(junk, 0x5a, sizeof(junk));
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		assert_int_equal(write(fd, junk, sizeof(junk)), 64);
		close(fd);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 6);
	assert_int_equal(swap_log_open(path, &l, err, sizeof(err)), 0);
	append(l, SWAP_LOG_RESIDENT, 4, 0);
	swap_log_close(l);
	memset(&s, 0, sizeof(s));
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 7);
	assert_false(s.swapped[2]);
}

static void test_corrupt_middle(void **state)
{
	struct seen s = {0};
	uint8_t b;
	int fd;

	(void)state;
	fill();
	fd = open(path, O_RDWR);
	assert_int_equal(pread(fd, &b, 1, 64 * 2 + 9), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, 64 * 2 + 9), 1);
	close(fd);
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), -EBADMSG);
	assert_int_equal(s.n, 0);
	assert_non_null(strstr(err, "entry 2 of 6 is corrupt"));
}

/* A slot recorded in the log reads back in a "restarted" process: the
 * record from the log (no runs) and the slot's own header agree. */
static void test_slot_after_crash(void **state)
{
	const uint64_t mem_size = 2u << 20;
	struct swap_config cfg = {dir, 1, 0, 0, 1, 0, 0};
	uint8_t *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0),
		st[32] = {1}, dev[8] = {2};
	struct swap_image img = {42, mem, mem_size, st, sizeof(st), dev, sizeof(dev)};
	struct swap_record rec, probed;
	struct swap_log *l;
	struct swap *sw;
	struct seen s = {0};
	uint64_t id, size;

	(void)state;
	cfg.slot_size = swap_slot_size_for(mem_size, sizeof(st), sizeof(dev));
	cfg.size = cfg.slot_size;
	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), 0);
	assert_int_equal(swap_log_open(path, &l, err, sizeof(err)), 0);
	memset(mem + 4096 * 7, 0x77, 4096 * 2);
	assert_int_equal(swap_write(sw, 0, &img, &rec, err, sizeof(err)), 0);
	assert_int_equal(swap_log_append(l, SWAP_LOG_SWAPPED, 42, &rec), 0);
	swap_log_close(l);
	swap_close(sw);
	/* kill -9 here; a new daemon: */
	assert_int_equal(swap_log_replay(path, collect, &s, err, sizeof(err)), 1);
	assert_int_equal(s.n, 1);
	assert_true(s.swapped[0]);
	assert_int_equal(swap_open(&cfg, &sw, err, sizeof(err)), 0);
	assert_int_equal(swap_slot_reserve(sw, s.rec[0].slot), 0);
	assert_int_equal(swap_probe(sw, s.rec[0].slot, &probed, &id, &size), 0);
	assert_int_equal(id, 42);
	assert_int_equal(probed.generation, s.rec[0].generation);
	assert_int_equal(madvise(mem, mem_size, MADV_DONTNEED), 0);
	assert_int_equal(swap_read(sw, &s.rec[0], &img, err, sizeof(err)), 0);
	assert_int_equal(mem[4096 * 8 + 100], 0x77);
	assert_int_equal(mem[4096 * 9], 0);
	swap_close(sw);
	munmap(mem, mem_size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_last_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slot_after_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

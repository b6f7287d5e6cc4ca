/*
 * Group commit of swap-outs (swap_commit.c): records queued while the
 * committer is busy go out as one batch (one data sync per swap file, one
 * log append); a queued record can be taken back; a crash between the data
 * sync and the record leaves those VMs out of the log (they boot afresh),
 * while the VMs committed before resume from slots that read back intact; a
 * failed data sync logs none of the batch's SWAPPED records; a GONE VM's
 * slot is reused only once its record is processed.
 *
 * Determinism: the committer is held inside its committed() callback (after
 * its first batch) on a semaphore the test releases, so what forms the next
 * batch is exactly what the test queued meanwhile; no clock is read.
 */
#include "sched/swap.h"
#include "sched/swap_commit.h"
#include "sched/swap_log.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define MEM   (256u << 10)
#define SLOT  (128u << 10)
#define NVM   40u
#define FILES 4u

static char dir[64], logpath[128], err[256];
static struct swap *sw;
static struct swap_log *lg;
static uint8_t *mem[NVM];
static struct swap_record recs[NVM];

/* committed() holds the committer until the test posts `go` (when armed). */
static sem_t entered, go;
static int hold;

static void on_committed(void *arg, uint64_t seq)
{
	(void)arg;
	(void)seq;
	if (__atomic_exchange_n(&hold, 0, __ATOMIC_SEQ_CST)) {
		sem_post(&entered);
		while (sem_wait(&go) < 0)
			;
	}
}

static int setup(void **state)
{
	struct swap_config cfg = {dir, FILES, (uint64_t)NVM * SLOT, SLOT, 0, 0, 0};

	(void)state;
	snprintf(dir, sizeof(dir), "/dev/shm/denali-commit-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/swap.log", dir);
	if (swap_open(&cfg, &sw, err, sizeof(err)) || swap_log_open(logpath, &lg, err, sizeof(err)))
		return -1;
	for (unsigned v = 0; v < NVM; v++) {
		mem[v] =
		    mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem[v] == MAP_FAILED)
			return -1;
	}
	sem_init(&entered, 0, 0);
	sem_init(&go, 0, 0);
	hold = 0;
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	swap_log_close(lg);
	swap_close(sw);
	for (unsigned i = 0; i < FILES; i++) {
		snprintf(p, sizeof(p), "%s/swap.%u", dir, i);
		unlink(p);
	}
	unlink(logpath);
	rmdir(dir);
	for (unsigned v = 0; v < NVM; v++)
		munmap(mem[v], MEM);
	sem_destroy(&entered);
	sem_destroy(&go);
	return 0;
}

static struct swap_commit *open_commit(void)
{
	struct swap_commit_config cc = {.sw = sw, .log = lg, .committed = on_committed};
	struct swap_commit *c = NULL;

	assert_int_equal(swap_commit_open(&cc, &c, err, sizeof(err)), 0);
	return c;
}

/* VM v (id 100+v) written to slot v, not synced: what a swap-out does. */
static void write_vm(unsigned v, unsigned seed)
{
	uint32_t st[4] = {v, seed, 3, 4};
	char dev[32];
	struct swap_image img = {100 + v, mem[v], MEM, st, sizeof(st), dev, sizeof(dev)};

	memset(dev, (int)seed, sizeof(dev));
	for (unsigned pg = 0; pg < MEM / 4096; pg += 5)
		memset(mem[v] + pg * 4096u, (int)(v * 13 + seed + 1), 4096);
	assert_int_equal(swap_write(sw, v, &img, &recs[v], err, sizeof(err)), 0);
}

struct seen {
	unsigned n;
	int swapped[NVM];
	int named[NVM];
	struct swap_record rec[NVM];
};

static void collect(uint64_t vm_id, const struct swap_record *rec, void *arg)
{
	struct seen *s = arg;
	unsigned v = (unsigned)(vm_id - 100);

	assert_true(v < NVM);
	s->n++;
	s->named[v] = 1;
	s->swapped[v] = rec != NULL;
	if (rec)
		s->rec[v] = *rec;
}

static void replay(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_true(swap_log_replay(logpath, collect, s, err, sizeof(err)) >= 0);
}

/* What a restarted daemon does with a record: the slot's metadata must be
 * that VM's, intact. */
static int resumable(const struct swap_record *rec, unsigned v)
{
	char dev[64];

	return swap_read_meta(sw, rec, 100 + v, MEM, dev, sizeof(dev), err, sizeof(err));
}

/* The committer busy with a first batch; everything queued meanwhile forms
 * the next one. */
static void hold_committer(struct swap_commit *c)
{
	__atomic_store_n(&hold, 1, __ATOMIC_SEQ_CST);
	write_vm(0, 1);
	assert_true(swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 100, &recs[0], SWAP_NO_SLOT) > 0);
	while (sem_wait(&entered) < 0)
		;
}

static void release_committer(void)
{
	sem_post(&go);
}

static void test_batch(void **state)
{
	struct swap_commit *c = open_commit();
	struct swap_commit_stats st;
	struct swap_counters sc;
	struct seen s;
	uint64_t last = 0, a0, e0, a1, e1;

	(void)state;
	hold_committer(c);
	swap_log_get_counters(lg, &a0, &e0);
	assert_int_equal(a0, 1); /* the first batch: VM 0 alone */
	for (unsigned v = 1; v < NVM; v++) {
		write_vm(v, 2);
		last = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 100 + v, &recs[v], SWAP_NO_SLOT);
		assert_true(last > 0);
	}
	assert_true(swap_commit_done(c) < last);
	release_committer();
	assert_int_equal(swap_commit_wait(c, last, 60000), 0);
	swap_log_get_counters(lg, &a1, &e1);
	swap_commit_get_stats(c, &st);
	swap_get_counters(sw, &sc);
	/* 39 swap-outs: one log append, one data sync per swap file. */
	assert_int_equal(a1 - a0, 1);
	assert_int_equal(e1 - e0, NVM - 1);
	assert_int_equal(st.batches, 2);
	assert_int_equal(st.largest_batch, NVM - 1);
	assert_int_equal(st.data_syncs, 1 + FILES);
	assert_int_equal(sc.syncs, 1 + FILES);
	swap_commit_close(c);
	replay(&s);
	assert_int_equal(s.n, NVM);
	for (unsigned v = 0; v < NVM; v++) {
		assert_true(s.swapped[v]);
		assert_int_equal(s.rec[v].generation, recs[v].generation);
		assert_int_equal(resumable(&s.rec[v], v), 0);
	}
}

static void test_cancel(void **state)
{
	struct swap_commit *c = open_commit();
	struct swap_commit_stats st;
	struct seen s;
	uint64_t seq1, seq2;

	(void)state;
	hold_committer(c);
	write_vm(1, 3);
	seq1 = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 101, &recs[1], SWAP_NO_SLOT);
	write_vm(2, 3);
	seq2 = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 102, &recs[2], SWAP_NO_SLOT);
	/* VM 1 is back in before its swap-out was committed: taken back. */
	assert_int_equal(swap_commit_cancel(c, seq1), 0);
	assert_int_equal(swap_commit_cancel(c, seq1), -EALREADY);
	release_committer();
	assert_int_equal(swap_commit_wait(c, seq2, 60000), 0);
	/* Committed: too late to take back. */
	assert_int_equal(swap_commit_cancel(c, seq2), -EALREADY);
	swap_commit_get_stats(c, &st);
	assert_int_equal(st.cancelled, 1);
	swap_commit_close(c);
	replay(&s);
	assert_false(s.named[1]); /* the log never said VM 1 was out */
	assert_true(s.swapped[0]);
	assert_true(s.swapped[2]);
}

static void test_crash_between_data_and_record(void **state)
{
	struct swap_commit *c = open_commit();
	struct seen s;
	uint64_t seq = 0;

	(void)state;
	/* VMs 0..9 swapped out and committed. */
	for (unsigned v = 0; v < 10; v++) {
		write_vm(v, 4);
		seq = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 100 + v, &recs[v], SWAP_NO_SLOT);
	}
	assert_int_equal(swap_commit_wait(c, seq, 60000), 0);
	/* VMs 0..4 swapped back in (RESIDENT committed: they ran since). */
	for (unsigned v = 0; v < 5; v++)
		seq = swap_commit_enqueue(c, SWAP_LOG_RESIDENT, 100 + v, NULL, SWAP_NO_SLOT);
	assert_int_equal(swap_commit_wait(c, seq, 60000), 0);
	/* The daemon dies after the next batch's data sync, before its records. */
	swap_commit_crash_after_data(c);
	for (unsigned v = 0; v < 5; v++) { /* 0..4 out again: their slots rewritten */
		write_vm(v, 5);
		seq = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 100 + v, &recs[v], SWAP_NO_SLOT);
	}
	for (unsigned v = 10; v < 20; v++) { /* new VMs out for the first time */
		write_vm(v, 5);
		seq = swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 100 + v, &recs[v], SWAP_NO_SLOT);
	}
	assert_int_equal(swap_commit_wait(c, seq, 60000), 0);
	/* And VM 9's slot is torn by a write that never completed. */
	{
		char path[160];
		int fd;

		snprintf(path, sizeof(path), "%s/swap.%u", dir, swap_slot_file(9, FILES));
		fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(
		    pwrite(fd, "torn", 4, (off_t)swap_slot_offset(9, FILES, SLOT) + 40), 4);
		close(fd);
	}
	swap_commit_close(c);
	replay(&s);
	for (unsigned v = 0; v < 5; v++) /* the log's last word: in memory -> afresh */
		assert_true(s.named[v] && !s.swapped[v]);
	for (unsigned v = 5; v < 9; v++) { /* resumed, from intact slots */
		assert_true(s.swapped[v]);
		assert_int_equal(resumable(&s.rec[v], v), 0);
	}
	/* Named swapped, but its slot fails its checks: it boots afresh, never runs it. */
	assert_true(s.swapped[9]);
	assert_int_equal(resumable(&s.rec[9], 9), -EBADMSG);
	for (unsigned v = 10; v < 20; v++) /* never recorded: they boot afresh */
		assert_false(s.named[v]);
}

static void test_sync_error(void **state)
{
	struct swap_commit *c = open_commit();
	struct swap_commit_stats st;
	struct seen s;
	uint64_t seq;

	(void)state;
	hold_committer(c);
	swap_inject_sync_error(sw, EIO, 1);
	write_vm(3, 6);
	swap_commit_enqueue(c, SWAP_LOG_SWAPPED, 103, &recs[3], SWAP_NO_SLOT);
	seq = swap_commit_enqueue(c, SWAP_LOG_RESIDENT, 104, NULL, SWAP_NO_SLOT);
	release_committer();
	assert_int_equal(swap_commit_wait(c, seq, 60000), 0);
	swap_commit_get_stats(c, &st);
	assert_int_equal(st.sync_errors, 1);
	assert_int_equal(st.dropped, 1);
	swap_commit_close(c);
	replay(&s);
	assert_true(s.swapped[0]);
	assert_false(s.named[3]); /* its data may not be durable: not recorded */
	assert_true(s.named[4] && !s.swapped[4]);
}

static void test_gone_frees_slot_after_commit(void **state)
{
	struct swap_commit *c = open_commit();
	struct swap_counters a, b;
	uint64_t slot, seq;

	(void)state;
	assert_int_equal(swap_slot_reserve(sw, 7), 0);
	hold_committer(c);
	seq = swap_commit_enqueue(c, SWAP_LOG_GONE, 107, NULL, 7);
	assert_int_equal(swap_commit_cancel(c, seq), -EALREADY); /* a GONE is never taken back */
	swap_get_counters(sw, &a);
	assert_int_equal(a.slots_used, 1);
	assert_int_equal(swap_slot_reserve(sw, 7), -EBUSY); /* not reusable yet */
	release_committer();
	assert_int_equal(swap_commit_wait(c, seq, 60000), 0);
	swap_get_counters(sw, &b);
	assert_int_equal(b.slots_used, 0);
	assert_int_equal(swap_slot_alloc(sw, &slot), 0);
	swap_commit_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_between_data_and_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_frees_slot_after_commit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The block poller (src/devices/blk_poll.c) with a real disk file and a real
 * poller thread; guest memory is a plain buffer and the test plays the
 * guest (no /dev/kvm). While the device is live (between fill and drain) a
 * request posted in the ring is answered by the poller alone, with the event
 * bit in the shared page and no wake-up; outside that window it takes
 * nothing. A bad descriptor or index it finds is kept for the next exit
 * (drain fails with the reason) and the VM is woken to get there; a guest
 * rewriting its request while the poller reads it never gets more than the
 * descriptor it posted (the bytes after it stay untouched). After quiesce
 * nothing is in flight and nothing more is taken; an idle poller sleeps and
 * shows the guest so, and an exit that finds requests wakes it (requests it
 * answers with an error alone too). A round of
 * the poller takes one request of a ring (each read is answered before the
 * next is taken); an exit takes all of them. A read of cached data the
 * poller answers itself, without queueing I/O.
 */
#include "devices/blk.h"
#include "devices/blk_poll.h"
#include "sched/worker.h"

#include <denali/abi.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "devio_test.h"

#define MEM_SIZE  (2u << 20)
#define DISK_SIZE (256u << 10)
#define REQ_GPA	  0x100000u
#define DATA_LEN  4096u
#define CANARY	  0xc5

struct fixture {
	char path[64];
	struct io_uring ring;
	struct blk_poll *poll;
	uint8_t *mem;
	struct dev_guest g;
	struct device *d;
	uint64_t woken; /* events passed to the wake hook (atomic: the poller calls it) */
	uint32_t prod;
};

static void on_wake(void *arg, uint64_t events)
{
	__atomic_fetch_or(&((struct fixture *)arg)->woken, events, __ATOMIC_SEQ_CST);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static struct denali_ring *ring(struct fixture *f)
{
	return (struct denali_ring *)(f->mem + DENALI_BLK_RING_GPA);
}

static uint64_t shared_events(struct fixture *f)
{
	return __atomic_load_n((uint64_t *)(f->mem + DENALI_SHARED_GPA), __ATOMIC_ACQUIRE);
}

static void start(struct fixture *f, uint64_t spin_ns)
{
	char err[256] = "";
	struct dev_host h;

	assert_int_equal(blk_poll_start(&f->poll, 0, spin_ns, NULL), 0);
	assert_int_equal(blk_dev_create(f->path, 0, &f->d, err, sizeof(err)), 0);
	/* No reap hook: what the worker's own ring takes, the test reaps. */
	h = (struct dev_host){
	    .ring = &f->ring, .wake = on_wake, .wake_arg = f, .blk_poll = f->poll};
	assert_int_equal(f->d->ops->attach(f->d, &h), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static uint8_t disk[DISK_SIZE];
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/denali-test-bpoll.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < DISK_SIZE; i++)
		disk[i] = pattern(i);
	assert_int_equal(pwrite(fd, disk, DISK_SIZE, 0), DISK_SIZE);
	close(fd);
	devio_ring_or_skip(&f->ring, f->path);
	f->mem = devio_guest_mem(MEM_SIZE);
	f->g = (struct dev_guest){f->mem, MEM_SIZE, "test"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->d)
		f->d->ops->free(f->d);
	blk_poll_stop(f->poll, NULL);
	io_uring_queue_exit(&f->ring);
	free(f->mem);
	unlink(f->path);
	free(f);
	return 0;
}

static void fill(struct fixture *f)
{
	uint64_t events = 0;
	char why[DEV_WHY_MAX] = "";

	assert_int_equal(f->d->ops->fill(f->d, &f->g, &events, why, sizeof(why)), 0);
}

static int drain(struct fixture *f, char *why)
{
	uint64_t events = 0;

	return f->d->ops->drain(f->d, &f->g, &events, why, DEV_WHY_MAX);
}

/* Posts a descriptor (the guest's side): the header at gpa, desc.len len. */
static void post_at(struct fixture *f, uint64_t gpa, uint32_t len, uint16_t id)
{
	struct denali_ring *r = ring(f);

	r->desc[f->prod % DENALI_RING_SIZE] =
	    (struct denali_desc){.addr = gpa, .len = len, .id = id};
	f->prod++;
	__atomic_store_n(&r->avail_prod, f->prod, __ATOMIC_RELEASE);
}

static void post_read(struct fixture *f, uint64_t sector, uint16_t id)
{
	struct denali_blk_req h = {
	    .op = DENALI_BLK_READ, .nsectors = DATA_LEN / DENALI_BLK_SECTOR, .sector = sector};

	memcpy(f->mem + REQ_GPA, &h, sizeof(h));
	memset(f->mem + REQ_GPA + sizeof(h), 0, DATA_LEN);
	post_at(f, REQ_GPA, sizeof(h) + DATA_LEN, id);
}

/* Waits (5 s at most) for used_prod to pass n. */
static int wait_used(struct fixture *f, uint32_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&ring(f)->used_prod, __ATOMIC_ACQUIRE) >= n)
			return 1;
		nap_ms(1);
	}
	return 0;
}

static int wait_woken(struct fixture *f, uint64_t ev)
{
	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&f->woken, __ATOMIC_SEQ_CST) & ev)
			return 1;
		nap_ms(1);
	}
	return 0;
}

static uint64_t counter(struct fixture *f, const char *name)
{
	struct dev_counter c[DEV_COUNTERS_MAX];
	unsigned n = f->d->ops->counters(f->d, c, DEV_COUNTERS_MAX);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

static void assert_read(struct fixture *f, uint64_t sector)
{
	const uint8_t *data = f->mem + REQ_GPA + sizeof(struct denali_blk_req);

	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data[i], pattern(sector * DENALI_BLK_SECTOR + i));
}

static void test_live_request_answered_without_exit(void **state)
{
	struct fixture *f = *state;
	char why[DEV_WHY_MAX];

	start(f, 1000000000ull); /* awake for the whole test */
	fill(f);
	assert_int_equal(ring(f)->mon_flags, DENALI_RING_F_POLLED);
	for (uint16_t k = 0; k < DENALI_RING_SIZE + 8; k++) { /* past the ring's end */
		uint64_t sector = 8u * k % (DISK_SIZE / DENALI_BLK_SECTOR);

		post_read(f, sector, k);
		assert_true(wait_used(f, k + 1u));
		assert_int_equal(ring(f)->used[k % DENALI_RING_SIZE].id, k);
		assert_int_equal(ring(f)->used[k % DENALI_RING_SIZE].len, DENALI_BLK_S_OK);
		assert_read(f, sector);
	}
	assert_int_equal(ring(f)->avail_cons, DENALI_RING_SIZE + 8);
	assert_int_equal(counter(f, "blk_polled"), DENALI_RING_SIZE + 8);
	/* The running guest sees the event bit; nobody had to wake it. */
	assert_true(shared_events(f) & DENALI_EV_BLK);
	assert_int_equal(__atomic_load_n(&f->woken, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(drain(f, why), 0);
}

static void test_nothing_taken_outside_live(void **state)
{
	struct fixture *f = *state;
	char why[DEV_WHY_MAX];
	struct dev_io *io;
	int res;

	start(f, 1000000000ull);
	fill(f);
	assert_int_equal(drain(f, why), 0); /* the guest left: not live */
	post_read(f, 16, 7);
	nap_ms(50);
	assert_int_equal(ring(f)->avail_cons, 0);
	assert_int_equal(ring(f)->used_prod, 0);
	/* The next exit takes it, on the worker's own ring. */
	assert_int_equal(drain(f, why), 0);
	assert_int_equal(ring(f)->avail_cons, 1);
	io = devio_reap(&f->ring, &res);
	io->done(io, res);
	assert_int_equal(ring(f)->used_prod, 1);
	assert_read(f, 16);
	assert_int_equal(counter(f, "blk_polled"), 0);
}

/* A fault found by the poller: kept, the VM woken, the next exit fails with the reason. */
static void check_live_fault(struct fixture *f, const char *reason)
{
	char why[DEV_WHY_MAX] = "";

	assert_true(wait_woken(f, DENALI_EV_BLK));
	assert_int_equal(drain(f, why), -EFAULT);
	assert_non_null(strstr(why, reason));
	/* And again at any later entry: the rings are left alone. */
	memset(why, 0, sizeof(why));
	assert_int_equal(f->d->ops->fill(f->d, &f->g, &(uint64_t){0}, why, sizeof(why)), -EFAULT);
	assert_non_null(strstr(why, reason));
}

static void test_live_descriptor_outside_memory(void **state)
{
	struct fixture *f = *state;

	start(f, 1000000000ull);
	fill(f);
	post_at(f, MEM_SIZE - 8, 16 + 512, 3);
	check_live_fault(f, "blk ring: descriptor 0 request header [0x1ffff8, +16) is outside");
	assert_int_equal(ring(f)->used_prod, 0);
}

static void test_live_data_outside_memory(void **state)
{
	struct fixture *f = *state;
	struct denali_blk_req h = {.op = DENALI_BLK_READ, .nsectors = 1u << 21, .sector = 0};

	start(f, 1000000000ull);
	fill(f);
	memcpy(f->mem + REQ_GPA, &h, sizeof(h));
	post_at(f, REQ_GPA, 16 + (1u << 30), 3);
	check_live_fault(f,
			 "blk ring: descriptor 0 [0x100000, +1073741840) is outside guest memory");
}

static void test_live_index_out_of_range(void **state)
{
	struct fixture *f = *state;

	start(f, 1000000000ull);
	fill(f);
	__atomic_store_n(&ring(f)->avail_prod, 1000, __ATOMIC_RELEASE);
	check_live_fault(f, "blk ring: producer index 1000 is out of range");
}

/* The guest rewrites the header of a request it posted while the poller may be
 * reading it: nsectors between 8 (right for the descriptor) and 64, the sector
 * past the end of the disk and back. Each request is answered OK or IOERR, and
 * nothing past the descriptor's bytes is ever written. */
static void test_live_header_rewritten(void **state)
{
	struct fixture *f = *state;
	volatile struct denali_blk_req *h = (volatile struct denali_blk_req *)(f->mem + REQ_GPA);
	uint8_t *after = f->mem + REQ_GPA + sizeof(*h) + DATA_LEN;
	const unsigned n = 2000;
	unsigned ok = 0, ioerr = 0;
	char why[DEV_WHY_MAX];

	start(f, 1000000000ull);
	fill(f);
	memset(after, CANARY, 8 * DATA_LEN);
	for (unsigned k = 0; k < n; k++) {
		uint32_t at = f->prod;

		h->op = DENALI_BLK_READ;
		h->nsectors = 8;
		h->sector = 0;
		post_at(f, REQ_GPA, sizeof(*h) + DATA_LEN, (uint16_t)k);
		/* No bound on the spin: on a loaded host the poller may be off its
		 * CPU for as long as the scheduler likes (a hang is the test's
		 * timeout). Every so often the CPU is offered to it, and if it
		 * went to sleep the test kicks it as an exit would. */
		for (unsigned spin = 0;
		     __atomic_load_n(&ring(f)->used_prod, __ATOMIC_ACQUIRE) == at; spin++) {
			h->nsectors = spin & 1 ? 64 : 8;
			h->sector = spin & 2 ? DISK_SIZE / DENALI_BLK_SECTOR : 0;
			if (spin % 65536 == 65535) {
				blk_poll_kick(f->poll);
				sched_yield();
			}
		}
		switch (ring(f)->used[at % DENALI_RING_SIZE].len) {
		case DENALI_BLK_S_OK:
			ok++;
			break;
		case DENALI_BLK_S_IOERR:
			ioerr++;
			break;
		default:
			fail_msg("status %u", ring(f)->used[at % DENALI_RING_SIZE].len);
		}
	}
	for (unsigned i = 0; i < 8 * DATA_LEN; i++)
		assert_int_equal(after[i], CANARY);
	assert_int_equal(ok + ioerr, n);
	assert_int_equal(counter(f, "blk_polled"), n);
	assert_int_equal(counter(f, "blk_err_range") + counter(f, "blk_err_bad"), ioerr);
	assert_int_equal(drain(f, why), 0);
}

static void test_quiesce_finishes_and_stops_taking(void **state)
{
	struct fixture *f = *state;

	start(f, 1000000000ull);
	fill(f);
	post_read(f, 24, 1);
	f->d->ops->quiesce(f->d);
	/* Taken or not when quiesce came: nothing of the poller's is in flight. */
	if (ring(f)->avail_cons == 1)
		assert_int_equal(ring(f)->used_prod, 1);
	post_read(f, 32, 2);
	nap_ms(50);
	assert_true(ring(f)->avail_cons <= 1);
}

static void test_sleeps_then_kicked(void **state)
{
	struct fixture *f = *state;
	char why[DEV_WHY_MAX];
	int slept = 0;

	start(f, 100000000ull); /* 100 ms: long enough for the steps below to stay awake */
	fill(f);
	post_read(f, 0, 1);
	assert_true(wait_used(f, 1));
	for (int i = 0; i < 5000 && !slept; i++) {
		slept = !blk_poll_awake(f->poll);
		nap_ms(1);
	}
	assert_true(slept);
	/* It tells the running guest so as it goes. */
	for (int i = 0; i < 5000 && __atomic_load_n(&ring(f)->mon_flags, __ATOMIC_ACQUIRE); i++)
		nap_ms(1);
	assert_int_equal(ring(f)->mon_flags, 0);
	assert_int_equal(drain(f, why), 0);
	fill(f);
	assert_int_equal(ring(f)->mon_flags, 0);
	/* An exit that finds a request wakes it (the request itself goes on the
	 * worker's ring); the next entry tells the guest. */
	post_read(f, 8, 2);
	assert_int_equal(drain(f, why), 0);
	assert_true(blk_poll_awake(f->poll));
	fill(f);
	assert_int_equal(ring(f)->mon_flags, DENALI_RING_F_POLLED);
	{
		int res;
		struct dev_io *io = devio_reap(&f->ring, &res);

		io->done(io, res);
	}
	post_read(f, 16, 3);
	assert_true(wait_used(f, 3));
	assert_read(f, 16);
	assert_int_equal(counter(f, "blk_polled"), 2);
}

/* Waits (5 s at most) for the poller to sleep. */
static int wait_asleep(struct fixture *f)
{
	for (int i = 0; i < 5000; i++) {
		if (!blk_poll_awake(f->poll))
			return 1;
		nap_ms(1);
	}
	return 0;
}

/* An exit whose requests are all answered with an error (no I/O queued) still
 * wakes a sleeping poller: the guest is doing block I/O. */
static void test_kicked_by_failed_requests(void **state)
{
	struct fixture *f = *state;
	struct denali_blk_req h = {.op = DENALI_BLK_READ, .nsectors = 64, .sector = 0};
	struct blk_poll_stats st;
	char why[DEV_WHY_MAX];

	start(f, 0);
	assert_true(wait_asleep(f));
	fill(f);
	memcpy(f->mem + REQ_GPA, &h, sizeof(h)); /* 64 sectors in a 4 KiB descriptor */
	post_at(f, REQ_GPA, sizeof(h) + DATA_LEN, 5);
	assert_int_equal(drain(f, why), 0);
	assert_int_equal(ring(f)->used_prod, 1);
	assert_int_equal(ring(f)->used[0].len, DENALI_BLK_S_IOERR);
	blk_poll_get_stats(f->poll, &st);
	assert_int_equal(st.kicks, 1);
}

/* Posts a read of DATA_LEN at sector into buffer i (its own header and data). */
static void post_read_in(struct fixture *f, unsigned i, uint64_t sector, uint16_t id)
{
	uint64_t gpa = REQ_GPA + (uint64_t)i * 2 * DATA_LEN;
	struct denali_blk_req h = {
	    .op = DENALI_BLK_READ, .nsectors = DATA_LEN / DENALI_BLK_SECTOR, .sector = sector};

	memcpy(f->mem + gpa, &h, sizeof(h));
	post_at(f, gpa, sizeof(h) + DATA_LEN, id);
}

/* The poller's rounds, played by the test on its own ring while the real
 * poller sleeps: three requests posted at once are taken one per round, each
 * answered before the next is taken; an exit then takes three in one go. */
static void test_round_takes_one(void **state)
{
	struct fixture *f = *state;
	char why[DEV_WHY_MAX];
	int res;

	start(f, 0); /* asleep at once, until a kick: nothing posted here kicks it */
	assert_true(wait_asleep(f));
	fill(f);
	for (unsigned i = 0; i < 3; i++)
		post_read_in(f, i, 8u * i, (uint16_t)(10 + i));
	for (uint32_t k = 1; k <= 3; k++) {
		int n = blk_dev_serve(f->d, &f->ring, 1);
		uint32_t cons = ring(f)->avail_cons;

		/* What it queued is finished before the checks (teardown waits for
		 * it); a page-cache hit it answered at once. */
		for (uint32_t j = ring(f)->used_prod; j < cons; j++) {
			struct dev_io *io = devio_reap(&f->ring, &res);

			io->done(io, res);
		}
		assert_int_equal(n, 1);
		assert_int_equal(cons, k);
		assert_int_equal(ring(f)->used_prod, k);
		assert_int_equal(ring(f)->used[k - 1].id, 10 + k - 1);
		assert_int_equal(ring(f)->used[k - 1].len, DENALI_BLK_S_OK);
	}
	assert_int_equal(blk_dev_serve(f->d, &f->ring, 1), 0);
	assert_int_equal(counter(f, "blk_polled"), 3);
	for (unsigned i = 0; i < 3; i++)
		post_read_in(f, i, 8u * (i + 3), (uint16_t)(20 + i));
	assert_int_equal(drain(f, why), 0);
	assert_int_equal(ring(f)->avail_cons, 6);
	for (unsigned i = 0; i < 3; i++) {
		struct dev_io *io = devio_reap(&f->ring, &res);

		io->done(io, res);
	}
	assert_int_equal(ring(f)->used_prod, 6);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *data =
		    f->mem + REQ_GPA + (uint64_t)i * 2 * DATA_LEN + sizeof(struct denali_blk_req);

		for (unsigned j = 0; j < DATA_LEN; j++)
			assert_int_equal(data[j], pattern(8u * (i + 3) * DENALI_BLK_SECTOR + j));
	}
}

/* A read whose data is in the page cache is answered inside the round (no
 * I/O queued); one that is not goes through the ring, with the same data. */
static void test_read_now_or_queued(void **state)
{
	struct fixture *f = *state;
	int fd, res;
	struct dev_io *io;

	start(f, 0);
	assert_true(wait_asleep(f));
	fill(f);
	post_read_in(f, 0, 8, 1);
	assert_int_equal(blk_dev_serve(f->d, &f->ring, 1), 1);
	assert_int_equal(ring(f)->used_prod, 1); /* written just now: cached */
	assert_int_equal(ring(f)->used[0].len, DENALI_BLK_S_OK);
	assert_int_equal(counter(f, "blk_read_now"), 1);
	assert_read(f, 8);
	/* Out of the page cache: the read waits for the disk, so not here. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, DISK_SIZE, POSIX_FADV_DONTNEED), 0);
	close(fd);
	post_read_in(f, 0, 16, 2);
	assert_int_equal(blk_dev_serve(f->d, &f->ring, 1), 1);
	assert_int_equal(ring(f)->avail_cons, 2);
	assert_int_equal(ring(f)->used_prod, 1);
	assert_int_equal(counter(f, "blk_read_now"), 1);
	io = devio_reap(&f->ring, &res);
	io->done(io, res);
	assert_int_equal(ring(f)->used_prod, 2);
	assert_int_equal(ring(f)->used[1].id, 2);
	assert_int_equal(ring(f)->used[1].len, DENALI_BLK_S_OK);
	assert_read(f, 16);
	assert_int_equal(counter(f, "blk_polled"), 2);
	/* Longer than the poller reads under the device lock: through the ring,
	 * though all of it is cached again. */
	{
		struct denali_blk_req h = {.op = DENALI_BLK_READ, .nsectors = 256, .sector = 0};
		const uint8_t *data = f->mem + REQ_GPA + sizeof(h);
		static uint8_t all[DISK_SIZE];

		fd = open(f->path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, all, DISK_SIZE, 0), DISK_SIZE);
		close(fd);

		memcpy(f->mem + REQ_GPA, &h, sizeof(h));
		post_at(f, REQ_GPA, sizeof(h) + (128u << 10), 3);
		assert_int_equal(blk_dev_serve(f->d, &f->ring, 1), 1);
		assert_int_equal(ring(f)->used_prod, 2);
		io = devio_reap(&f->ring, &res);
		io->done(io, res);
		assert_int_equal(ring(f)->used_prod, 3);
		assert_int_equal(ring(f)->used[2].len, DENALI_BLK_S_OK);
		assert_int_equal(data[(128u << 10) - 1], pattern((128u << 10) - 1));
		assert_int_equal(counter(f, "blk_read_now"), 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_live_request_answered_without_exit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_taken_outside_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_descriptor_outside_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_data_outside_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_index_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_header_rewritten, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quiesce_finishes_and_stops_taking, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sleeps_then_kicked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kicked_by_failed_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_takes_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_now_or_queued, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

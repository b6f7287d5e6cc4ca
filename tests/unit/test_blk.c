/*
 * The block device's completion handling (src/devices/blk.c), with the
 * kernel's answers replaced by a fake: the test submits through a real
 * (restricted, worker_ring_init) io_uring, reaps each completion itself and
 * hands the device a result of its choosing. A short read or write must be
 * resubmitted for exactly the rest (the test scribbles over the part the
 * fake says was not done, so a wrong offset or address shows); -EAGAIN and
 * -EINTR are retried; an error or an empty transfer becomes
 * DENALI_BLK_S_IOERR, counted, with the device still serving requests. No
 * /dev/kvm: guest memory is a plain buffer.
 */
#include "devices/blk.h"
#include "sched/worker.h"

#include <denali/abi.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "devio_test.h"

#define MEM_SIZE  (2u << 20)
#define DISK_SIZE (64u << 10)
#define REQ_GPA	  0x100000u
#define DATA_LEN  4096u

struct fixture {
	char path[64];
	int fd; /* the test's own view of the disk file */
	struct io_uring ring;
	uint8_t *mem;
	struct dev_guest g;
	struct device *d;
	uint64_t woken; /* events passed to the wake hook */
	uint32_t prod;
};

static void on_wake(void *arg, uint64_t events)
{
	((struct fixture *)arg)->woken |= events;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t disk[DISK_SIZE];
	char err[256] = "";
	struct dev_host h;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/denali-test-blk.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	for (unsigned i = 0; i < DISK_SIZE; i++)
		disk[i] = pattern(i);
	assert_int_equal(pwrite(f->fd, disk, DISK_SIZE, 0), DISK_SIZE);
	devio_ring_or_skip(&f->ring, f->path);
	f->mem = devio_guest_mem(MEM_SIZE);
	f->g = (struct dev_guest){f->mem, MEM_SIZE, "test"};
	assert_int_equal(blk_dev_create(f->path, 0, &f->d, err, sizeof(err)), 0);
	/* No reap or poll hook: the test delivers every completion itself. */
	h = (struct dev_host){.ring = &f->ring, .wake = on_wake, .wake_arg = f};
	assert_int_equal(f->d->ops->attach(f->d, &h), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->d->ops->free(f->d);
	io_uring_queue_exit(&f->ring);
	free(f->mem);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

static struct denali_ring *ring(struct fixture *f)
{
	return (struct denali_ring *)(f->mem + DENALI_BLK_RING_GPA);
}

/* Posts one request for sector with DATA_LEN bytes and lets the device take it. */
static void post(struct fixture *f, uint32_t op, uint64_t sector, uint16_t id)
{
	struct denali_blk_req h = {
	    .op = op, .nsectors = DATA_LEN / DENALI_BLK_SECTOR, .sector = sector};
	struct denali_ring *r = ring(f);
	uint64_t events = 0;
	char why[256] = "";

	memcpy(f->mem + REQ_GPA, &h, sizeof(h));
	r->desc[f->prod % DENALI_RING_SIZE] =
	    (struct denali_desc){.addr = REQ_GPA, .len = sizeof(h) + DATA_LEN, .id = id};
	f->prod++;
	r->avail_prod = f->prod;
	assert_int_equal(f->d->ops->drain(f->d, &f->g, &events, why, sizeof(why)), 0);
}

/* The next completion: its dev_io and real result. */
static struct dev_io *next_io(struct fixture *f, int *res)
{
	return devio_reap(&f->ring, res);
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

static void assert_used(struct fixture *f, uint32_t at, uint16_t id, uint32_t status)
{
	struct denali_ring *r = ring(f);

	assert_true(r->used_prod > at);
	assert_int_equal(r->used[at % DENALI_RING_SIZE].id, id);
	assert_int_equal(r->used[at % DENALI_RING_SIZE].len, status);
}

static uint8_t *data(struct fixture *f)
{
	return f->mem + REQ_GPA + sizeof(struct denali_blk_req);
}

static void test_short_read_resubmitted(void **state)
{
	struct fixture *f = *state;
	struct dev_io *io;
	int res;

	post(f, DENALI_BLK_READ, 3, 11);
	io = next_io(f, &res);
	assert_int_equal(res, DATA_LEN);
	/* Pretend only 1000 bytes came: the rest must be read again, into
	 * the right place from the right offset. */
	memset(data(f) + 1000, 0xee, DATA_LEN - 1000);
	io->done(io, 1000);
	assert_int_equal(ring(f)->used_prod, 0); /* not answered yet */
	io = next_io(f, &res);
	assert_int_equal(res, DATA_LEN - 1000);
	io->done(io, res);
	assert_used(f, 0, 11, DENALI_BLK_S_OK);
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data(f)[i], pattern(3 * DENALI_BLK_SECTOR + i));
	assert_int_equal(counter(f, "blk_resubmits"), 1);
	assert_int_equal(counter(f, "blk_err_io"), 0);
	assert_true(f->woken & DENALI_EV_BLK);
}

static void test_short_write_resubmitted(void **state)
{
	struct fixture *f = *state;
	uint8_t zero[DATA_LEN] = {0}, back[DATA_LEN];
	struct dev_io *io;
	int res;

	for (unsigned i = 0; i < DATA_LEN; i++)
		data(f)[i] = (uint8_t)(0xa5 ^ i);
	post(f, DENALI_BLK_WRITE, 5, 12);
	io = next_io(f, &res);
	assert_int_equal(res, DATA_LEN);
	/* Undo the part the fake says was not written. */
	assert_int_equal(pwrite(f->fd, zero, DATA_LEN - 1000, 5 * DENALI_BLK_SECTOR + 1000),
			 DATA_LEN - 1000);
	io->done(io, 1000);
	io = next_io(f, &res);
	io->done(io, res);
	assert_used(f, 0, 12, DENALI_BLK_S_OK);
	assert_int_equal(pread(f->fd, back, DATA_LEN, 5 * DENALI_BLK_SECTOR), DATA_LEN);
	assert_memory_equal(back, data(f), DATA_LEN);
	assert_int_equal(counter(f, "blk_resubmits"), 1);
}

static void test_again_retried(void **state)
{
	struct fixture *f = *state;
	struct dev_io *io;
	int res;

	post(f, DENALI_BLK_READ, 0, 13);
	io = next_io(f, &res);
	memset(data(f), 0xee, DATA_LEN);
	io->done(io, -EAGAIN);
	io = next_io(f, &res);
	io->done(io, -EINTR);
	io = next_io(f, &res);
	io->done(io, res);
	assert_used(f, 0, 13, DENALI_BLK_S_OK);
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data(f)[i], pattern(i));
	assert_int_equal(counter(f, "blk_err_io"), 0);
}

static void test_error_is_a_status(void **state)
{
	struct fixture *f = *state;
	struct dev_io *io;
	int res;

	post(f, DENALI_BLK_WRITE, 100, 14); /* really written; the fake says EIO */
	io = next_io(f, &res);
	io->done(io, -EIO);
	assert_used(f, 0, 14, DENALI_BLK_S_IOERR);
	post(f, DENALI_BLK_READ, 2, 15);
	io = next_io(f, &res);
	io->done(io, -ENOSPC);
	assert_used(f, 1, 15, DENALI_BLK_S_IOERR);
	/* An empty read (the file shrank under the device) is an error too. */
	post(f, DENALI_BLK_READ, 2, 16);
	io = next_io(f, &res);
	io->done(io, 0);
	assert_used(f, 2, 16, DENALI_BLK_S_IOERR);
	assert_int_equal(counter(f, "blk_err_io"), 3);
	/* The device goes on serving: a good request after them completes. */
	post(f, DENALI_BLK_READ, 4, 17);
	io = next_io(f, &res);
	io->done(io, res);
	assert_used(f, 3, 17, DENALI_BLK_S_OK);
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data(f)[i], pattern(4 * DENALI_BLK_SECTOR + i));
}

static void test_endless_again_fails(void **state)
{
	struct fixture *f = *state;
	struct dev_io *io;
	int res, n = 0;

	post(f, DENALI_BLK_READ, 0, 18);
	/* A request that keeps coming back -EAGAIN ends as an error, it does
	 * not loop for ever. */
	while (ring(f)->used_prod == 0) {
		assert_true(++n < 100);
		io = next_io(f, &res);
		io->done(io, -EAGAIN);
	}
	assert_used(f, 0, 18, DENALI_BLK_S_IOERR);
}

/* abi.h: a write or a flush to a read-only disk is answered DENALI_BLK_S_RDONLY, without I/O. */
static void test_readonly_refuses_write_and_flush(void **state)
{
	struct fixture *f = *state;
	struct dev_host h = {.ring = &f->ring, .wake = on_wake, .wake_arg = f};
	char err[256] = "";
	int res;

	f->d->ops->free(f->d);
	assert_int_equal(blk_dev_create(f->path, 1, &f->d, err, sizeof(err)), 0);
	assert_int_equal(f->d->ops->attach(f->d, &h), 0);
	post(f, DENALI_BLK_FLUSH, 0, 20);
	assert_used(f, 0, 20, DENALI_BLK_S_RDONLY);
	post(f, DENALI_BLK_WRITE, 1, 21);
	assert_used(f, 1, 21, DENALI_BLK_S_RDONLY);
	assert_int_equal(counter(f, "blk_err_rdonly"), 2);
	/* A read still works. */
	post(f, DENALI_BLK_READ, 3, 22);
	{
		struct dev_io *io = next_io(f, &res);

		io->done(io, res);
	}
	assert_used(f, 2, 22, DENALI_BLK_S_OK);
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data(f)[i], pattern(3 * DENALI_BLK_SECTOR + i));
}

/* Descriptors of this process naming path. */
static int fds_of(const char *path)
{
	char link[96], target[256];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		n += !strcmp(target, path);
	}
	return n;
}

/* A read of sector 3 answered at used slot at, with the disk's bytes. */
static void read_works(struct fixture *f, uint32_t at, uint16_t id)
{
	struct dev_io *io;
	int res;

	post(f, DENALI_BLK_READ, 3, id);
	io = next_io(f, &res);
	io->done(io, res);
	assert_used(f, at, id, DENALI_BLK_S_OK);
	for (unsigned i = 0; i < DATA_LEN; i++)
		assert_int_equal(data(f)[i], pattern(3 * DENALI_BLK_SECTOR + i));
}

/* Swapped out, a disk holds no descriptor; reopen() gets the same file back and
 * unpark() lets it run; without reopen() unpark() refuses. */
static void test_park_closes_reopen_restores(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(fds_of(f->path), 2); /* the test's and the device's */
	read_works(f, 0, 30);
	f->d->ops->quiesce(f->d);
	f->d->ops->park(f->d);
	assert_int_equal(fds_of(f->path), 1);
	assert_int_equal(f->d->ops->unpark(f->d), -EBADF); /* not reopened: it must not run */
	assert_int_equal(f->d->ops->reopen(f->d), 0);
	assert_int_equal(fds_of(f->path), 2);
	assert_int_equal(f->d->ops->unpark(f->d), 0);
	read_works(f, 1, 31);
	/* Twice in a row, and reopen() of a disk that is not parked is nothing. */
	assert_int_equal(f->d->ops->reopen(f->d), 0);
	assert_int_equal(fds_of(f->path), 2);
	f->d->ops->park(f->d);
	assert_int_equal(f->d->ops->reopen(f->d), 0);
	assert_int_equal(f->d->ops->unpark(f->d), 0);
	read_works(f, 2, 32);
	/* Freed while parked: nothing to close twice. */
	f->d->ops->park(f->d);
	assert_int_equal(fds_of(f->path), 1);
}

/* Hostile: what is at the path when the VM comes back is not its disk. */
static void test_reopen_refuses_another_file(void **state)
{
	struct fixture *f = *state;
	char other[80];
	int fd;

	/* Replaced by a file with the same bytes (another inode). */
	f->d->ops->park(f->d);
	snprintf(other, sizeof(other), "%s.new", f->path);
	fd = open(other, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	assert_int_equal(rename(other, f->path), 0);
	assert_int_equal(f->d->ops->reopen(f->d), -ESTALE);
	assert_int_equal(f->d->ops->unpark(f->d), -ESTALE);
	assert_int_equal(fds_of(f->path), 0);
	/* Gone. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(f->d->ops->reopen(f->d), -ENOENT);
	assert_int_equal(f->d->ops->unpark(f->d), -ENOENT);
}

/* The same file, shrunk below the disk's size while out: refused too. */
static void test_reopen_refuses_a_shrunk_file(void **state)
{
	struct fixture *f = *state;

	f->d->ops->park(f->d);
	assert_int_equal(ftruncate(f->fd, DISK_SIZE / 2), 0);
	assert_int_equal(f->d->ops->reopen(f->d), -ESTALE);
	assert_int_equal(f->d->ops->unpark(f->d), -ESTALE);
	assert_int_equal(ftruncate(f->fd, DISK_SIZE), 0); /* back: then it is its disk */
	assert_int_equal(f->d->ops->reopen(f->d), 0);
	assert_int_equal(f->d->ops->unpark(f->d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_short_read_resubmitted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_write_resubmitted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_again_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_is_a_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endless_again_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_refuses_write_and_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_park_closes_reopen_restores, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_refuses_another_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_refuses_a_shrunk_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

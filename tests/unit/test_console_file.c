/*
 * The console's log file through io_uring (src/devices/console_file.c): a
 * real (restricted, worker_ring_init) io_uring and real files; the test reaps
 * each completion itself and may hand the device a result of its choosing.
 * Output is complete in the file; the descriptor is asked for, taken, and
 * given back once nothing is left; a failed write (ENOSPC, from /dev/full)
 * and output overrun in memory before the file came are counted lost; a short
 * write is continued for exactly the rest; a full log asks for a rotation.
 * No /dev/kvm: guest memory is a plain buffer.
 */
#include "devices/console.h"
#include "sched/worker.h"

#include <denali/abi.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "devio_test.h"

#define MEM_SIZE (2u << 20)
#define OUT_GPA	 0x100000u

struct fixture {
	char path[64];
	struct io_uring ring;
	uint8_t *mem;
	struct dev_guest g;
	struct console_dev c;
	uint32_t prod;
	unsigned notified;
};

static void on_notify(void *arg)
{
	((struct fixture *)arg)->notified++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dev_host h;
	int fd;

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/denali-test-conlog.XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	devio_ring_or_skip(&f->ring, f->path);
	f->mem = devio_guest_mem(MEM_SIZE);
	f->g = (struct dev_guest){f->mem, MEM_SIZE, "test"};
	console_init(&f->c, NULL, NULL);
	console_log_enable(&f->c, 1u << 20, on_notify, f);
	/* No reap or poll hook: the test delivers every completion itself. */
	h = (struct dev_host){.ring = &f->ring};
	assert_int_equal(f->c.dev.ops->attach(&f->c.dev, &h), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	console_free(&f->c);
	io_uring_queue_exit(&f->ring);
	free(f->mem);
	unlink(f->path);
	free(f);
	return 0;
}

/* The guest writes n bytes of p (one descriptor per 4 KiB) and exits: the drain. */
static void out(struct fixture *f, const char *p, size_t n)
{
	struct denali_ring *r = (struct denali_ring *)(f->mem + DENALI_CONSOLE_RING_GPA);
	uint64_t events = 0;
	char why[256] = "";

	while (n) {
		uint32_t k = n < DENALI_CONSOLE_DESC_MAX ? (uint32_t)n : DENALI_CONSOLE_DESC_MAX;
		uint32_t at = OUT_GPA + (f->prod % DENALI_RING_SIZE) * DENALI_CONSOLE_DESC_MAX;

		memcpy(f->mem + at, p, k);
		r->desc[f->prod % DENALI_RING_SIZE] = (struct denali_desc){.addr = at, .len = k};
		f->prod++;
		r->avail_prod = f->prod;
		p += k;
		n -= k;
		if (f->prod % DENALI_RING_SIZE == 0 && n)
			assert_int_equal(
			    f->c.dev.ops->drain(&f->c.dev, &f->g, &events, why, sizeof(why)), 0);
	}
	assert_int_equal(f->c.dev.ops->drain(&f->c.dev, &f->g, &events, why, sizeof(why)), 0);
}

static void hand(struct fixture *f, const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	console_log_hand(&f->c, fd, (uint64_t)st.st_size);
}

/* The next completion: its dev_io and real result. */
static struct dev_io *next_io(struct fixture *f, int *res)
{
	return devio_reap(&f->ring, res);
}

/* Delivers every completion with its real result until no write is in flight. */
static void settle(struct fixture *f)
{
	while (f->c.log.busy) {
		int res;
		struct dev_io *io = next_io(f, &res);

		io->done(io, res);
	}
}

static size_t file_of(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

/* Complete: asked for, written, and the descriptor given back when nothing is left. */
static void test_complete(void **state)
{
	struct fixture *f = *state;
	static char a[10000], b[3000], got[20000];

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	out(f, a, sizeof(a));
	assert_int_equal(console_log_want(&f->c), CONSOLE_LOG_OPEN);
	assert_int_equal(f->notified, 1);
	assert_false(f->c.log.busy); /* no file yet: nothing submitted */
	hand(f, f->path);
	assert_int_equal(console_log_want(&f->c), CONSOLE_LOG_IDLE);
	out(f, b, sizeof(b));
	settle(f);
	assert_int_equal(file_of(f->path, got, sizeof(got)), sizeof(a) + sizeof(b));
	assert_memory_equal(got, a, sizeof(a));
	assert_memory_equal(got + sizeof(a), b, sizeof(b));
	assert_int_equal(f->c.log.bytes, sizeof(a) + sizeof(b));
	assert_int_equal(f->c.log.lost, 0);
	assert_int_equal(f->c.log.fd, -1); /* quiet: no descriptor kept */
	assert_null(f->c.log.buf);
}

/* ENOSPC: the chunk is lost and counted; the VM side goes on, the next file works. */
static void test_enospc(void **state)
{
	struct fixture *f = *state;
	static char a[5000], b[700], got[8192];
	struct dev_io *io;
	int res;

	fill(a, sizeof(a), 3);
	fill(b, sizeof(b), 4);
	out(f, a, sizeof(a));
	hand(f, "/dev/full");
	out(f, "", 0);
	assert_true(f->c.log.busy);
	io = next_io(f, &res);
	assert_int_equal(res, -ENOSPC);
	io->done(io, res);
	assert_int_equal(f->c.log.lost, sizeof(a));
	assert_int_equal(f->c.log.errors, 1);
	assert_int_equal(f->c.log.bytes, 0);
	/* Nothing left: /dev/full is given back; new output asks for a file again. */
	assert_int_equal(f->c.log.fd, -1);
	out(f, b, sizeof(b));
	assert_int_equal(console_log_want(&f->c), CONSOLE_LOG_OPEN);
	hand(f, f->path);
	out(f, "", 0);
	settle(f);
	assert_int_equal(file_of(f->path, got, sizeof(got)), sizeof(b));
	assert_memory_equal(got, b, sizeof(b));
	assert_int_equal(f->c.log.lost + f->c.log.bytes, f->c.written);
}

/* A short write goes on for exactly the rest: the file ends byte-exact. */
static void test_short(void **state)
{
	struct fixture *f = *state;
	static char a[9000], got[16384];
	struct dev_io *io;
	int res;

	fill(a, sizeof(a), 5);
	out(f, "", 0);
	hand(f, f->path);
	out(f, a, sizeof(a));
	io = next_io(f, &res);
	assert_int_equal(res, sizeof(a));
	/* The kernel wrote it all; say it wrote 1000 and take the rest back out of the file. */
	assert_int_equal(truncate(f->path, 1000), 0);
	io->done(io, 1000);
	settle(f);
	assert_int_equal(file_of(f->path, got, sizeof(got)), sizeof(a));
	assert_memory_equal(got, a, sizeof(a));
	assert_int_equal(f->c.log.bytes, sizeof(a));
	assert_int_equal(f->c.log.lost, 0);
}

/* Output overrun in memory before the file came is counted; the latest part is logged. */
static void test_overrun(void **state)
{
	struct fixture *f = *state;
	size_t n = CONSOLE_BUF_SIZE + 20000;
	char *a = malloc(n), *got = malloc(n);

	assert_non_null(a);
	assert_non_null(got);
	fill(a, n, 6);
	out(f, a, n);
	hand(f, f->path);
	out(f, "", 0);
	settle(f);
	assert_int_equal(f->c.log.lost, 20000);
	assert_int_equal(file_of(f->path, got, n), CONSOLE_BUF_SIZE);
	assert_memory_equal(got, a + 20000, CONSOLE_BUF_SIZE);
	free(a);
	free(got);
}

/* A full log asks for a rotation and writes no byte past max. */
static void test_rotate(void **state)
{
	struct fixture *f = *state;
	static char a[3000], got[4096];

	f->c.log.max = 1024;
	fill(a, sizeof(a), 7);
	out(f, "", 0);
	hand(f, f->path);
	out(f, a, sizeof(a));
	settle(f);
	assert_int_equal(file_of(f->path, got, sizeof(got)), 1024);
	assert_int_equal(console_log_want(&f->c), CONSOLE_LOG_ROTATE);
	assert_int_equal(f->c.log.fd, -1);
	assert_int_equal(truncate(f->path, 0), 0); /* what the opener's rotation gives */
	hand(f, f->path);
	out(f, "", 0);
	settle(f);
	assert_int_equal(file_of(f->path, got, sizeof(got)), 1024);
	assert_memory_equal(got, a + 1024, 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_complete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overrun, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

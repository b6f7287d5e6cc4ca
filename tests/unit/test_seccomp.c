/*
 * The worker seccomp allowlist (src/sched/worker_seccomp.c): a thread that
 * installed it can do what a worker does, and a call a worker never makes
 * kills the process with SIGSYS. Each case runs in a forked child, which
 * starts a thread, installs the filter there and makes one call.
 */
#include "sched/sched.h"
#include "sched/worker_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define KICK_SIG (SIGRTMIN + 1)

/* Exit codes of the child: 0 = the action returned, others = set-up failed. */
#define CHILD_NO_FILTER 10
#define CHILD_NO_THREAD 11
#define CHILD_BAD	12

typedef int (*action_fn)(void);

static void *filtered_thread(void *arg)
{
	action_fn act = (action_fn)(uintptr_t)arg;

	if (worker_seccomp_install(KICK_SIG) < 0)
		_exit(CHILD_NO_FILTER);
	return (void *)(intptr_t)act();
}

/* Runs act on a filtered thread of a child; returns the child's wait status. */
static int run_filtered(action_fn act, int then_unfiltered_socket)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;
		void *ret;

		if (pthread_create(&t, NULL, filtered_thread, (void *)(uintptr_t)act) != 0)
			_exit(CHILD_NO_THREAD);
		pthread_join(t, &ret);
		if ((intptr_t)ret != 0)
			_exit(CHILD_BAD);
		/* The filter is the worker's only: this thread may still do anything. */
		if (then_unfiltered_socket) {
			int fd = socket(AF_UNIX, SOCK_STREAM, 0);

			if (fd < 0)
				_exit(CHILD_BAD);
			close(fd);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_killed_by_sigsys(int status)
{
	if (WIFEXITED(status))
		fail_msg("the forbidden call was allowed: child exited %d", WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* What a worker does: all of it must be allowed. The pipe is made before. */
static int fds[2] = {-1, -1};

static int worker_calls(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	struct timespec ts;
	char c = 'x';
	void *big, *map;

	if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1)
		return 1;
	big = malloc(8u << 20); /* mmap in malloc */
	if (!big)
		return 2;
	memset(big, 1, 4096);
	free(big);
	map = mmap(NULL, 1u << 21, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return 3;
	if (madvise(map, 1u << 21, MADV_DONTNEED) < 0 || munmap(map, 1u << 21) < 0)
		return 4;
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 5;
	/* a KVM ioctl on a bad descriptor: refused by the kernel, not the filter */
	if (ioctl(-1, KVM_GET_API_VERSION, 0) != -1 || errno != EBADF)
		return 6;
	fprintf(stderr, "test_seccomp: a log line from a filtered thread\n");
	if (close(fds[0]) < 0)
		return 7;
	return 0;
}

static int call_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

/* openat is refused with EACCES (glibc's malloc probes a /proc file and
 * copes), not by killing: the file is not opened and the thread goes on. */
static int call_open(void)
{
	int fd = open("/etc/hostname", O_RDONLY);

	if (fd >= 0)
		return 1;
	return errno == EACCES ? 0 : 2;
}

static int call_execve(void)
{
	char *argv[] = {"/bin/true", NULL};

	execve("/bin/true", argv, NULL);
	return 1;
}

static int call_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED ? 0 : 1;
}

static int call_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	return mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 0 : 1;
}

static int call_ioctl_not_kvm(void)
{
	char c = 'x';

	/* TIOCSTI: a terminal ioctl (type 'T'), not KVM's */
	ioctl(0, TIOCSTI, &c);
	return 0;
}

static int call_tgkill_other_signal(void)
{
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
	return 0;
}

static int call_ptrace(void)
{
	syscall(SYS_ptrace, 0, 0, 0, 0);
	return 0;
}

/* The block poller's page-cache read: preadv2 with RWF_NOWAIT (the pipe's
 * byte, which is there: no wait) is allowed; without the flag it kills. */
static int call_preadv2_nowait(void)
{
	char c = 'x';
	struct iovec iov = {&c, 1};

	if (write(fds[1], &c, 1) != 1)
		return 1;
	return syscall(SYS_preadv2, fds[0], &iov, 1, -1L, 0L, (long)RWF_NOWAIT) == 1 ? 0 : 2;
}

static int call_preadv2_waiting(void)
{
	char c = 'x';
	struct iovec iov = {&c, 1};

	if (write(fds[1], &c, 1) != 1)
		return 1;
	syscall(SYS_preadv2, fds[0], &iov, 1, -1L, 0L, 0L);
	return 0;
}

static void test_preadv2(void **state)
{
	int status;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	status = run_filtered(call_preadv2_nowait, 0);
	if (WIFSIGNALED(status))
		fail_msg("preadv2 with RWF_NOWAIT was refused (signal %d)", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_killed_by_sigsys(run_filtered(call_preadv2_waiting, 0));
	close(fds[0]);
	close(fds[1]);
}

static void test_allowed(void **state)
{
	int status;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	status = run_filtered(worker_calls, 1);
	close(fds[0]);
	close(fds[1]);
	if (WIFSIGNALED(status))
		fail_msg("a call a worker makes was refused (signal %d)", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A worker grows the gatekeeper's heap of swapped sleepers (100,000
 * registered: 800 KB and more, an mmap in malloc): growing it must not take
 * mremap(), which the filter refuses (the 100k run died of it). */
#define SLEEPERS 200000u
static int grow_sleepers(void)
{
	struct sched s;
	struct sched_entity *e = calloc(SLEEPERS, sizeof(*e));
	unsigned i;

	if (!e || sched_init(&s))
		return 1;
	for (i = 0; i < SLEEPERS; i++) {
		sched_entity_init(&e[i], NULL);
		if (sched_sleep(&s, &e[i], 1000000000ull + i))
			return 2;
	}
	sched_fini(&s);
	free(e);
	return 0;
}

static void test_heap_growth(void **state)
{
	int status;

	(void)state;
	status = run_filtered(grow_sleepers, 0);
	if (WIFSIGNALED(status))
		fail_msg("growing a heap of sleepers on a worker was refused (signal %d)",
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_socket(void **state)
{
	(void)state;
	assert_killed_by_sigsys(run_filtered(call_socket, 0));
}

static void test_open(void **state)
{
	int status;

	(void)state;
	status = run_filtered(call_open, 0);
	if (WIFSIGNALED(status))
		fail_msg("open killed the process (signal %d); it should get EACCES",
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_BAD)
		fail_msg("open on a filtered thread did not fail with EACCES");
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_execve(void **state)
{
	(void)state;
	assert_killed_by_sigsys(run_filtered(call_execve, 0));
}

static void test_exec_mappings(void **state)
{
	(void)state;
	assert_killed_by_sigsys(run_filtered(call_mmap_exec, 0));
	assert_killed_by_sigsys(run_filtered(call_mprotect_exec, 0));
}

static void test_ioctl_not_kvm(void **state)
{
	(void)state;
	assert_killed_by_sigsys(run_filtered(call_ioctl_not_kvm, 0));
}

static void test_signals(void **state)
{
	(void)state;
	assert_killed_by_sigsys(run_filtered(call_tgkill_other_signal, 0));
	assert_killed_by_sigsys(run_filtered(call_ptrace, 0));
}

static void test_table(void **state)
{
	int ioctl_rows = 0, uring = 0;

	(void)state;
	assert_true(worker_seccomp_count() > 10);
	for (unsigned i = 0; i < worker_seccomp_count(); i++) {
		const char *n = worker_seccomp_name(i);

		assert_non_null(n);
		ioctl_rows += !strcmp(n, "ioctl");
		uring += !strcmp(n, "io_uring_enter");
		assert_int_not_equal(strcmp(n, "execve"), 0);
		assert_int_not_equal(strcmp(n, "socket"), 0);
	}
	assert_true(ioctl_rows >= 1);
	assert_int_equal(uring, 1);
	assert_null(worker_seccomp_name(worker_seccomp_count()));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),	  cmocka_unit_test(test_allowed),
	    cmocka_unit_test(test_heap_growth),	  cmocka_unit_test(test_socket),
	    cmocka_unit_test(test_open),	  cmocka_unit_test(test_execve),
	    cmocka_unit_test(test_exec_mappings), cmocka_unit_test(test_ioctl_not_kvm),
	    cmocka_unit_test(test_signals),	  cmocka_unit_test(test_preadv2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The readiness protocol against a test notify socket, path and abstract. */
#include "notify.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

static int bind_dgram(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(name);
	struct timeval tv = {.tv_sec = 10};

	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	assert_int_equal(bind(fd, (struct sockaddr *)sa, *len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void expect_msg(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
	char dir[] = "/tmp/denali-notify-XXXXXX", path[128];
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path, &sa, &len);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(notify_send("READY=1"), 1);
	expect_msg(fd, "READY=1");
	assert_int_equal(notify_sendf("STATUS=%d VMs", 3), 1);
	expect_msg(fd, "STATUS=3 VMs");
	/* The variable stays for later messages. */
	assert_string_equal(getenv("NOTIFY_SOCKET"), path);
	assert_int_equal(notify_send("STOPPING=1"), 1);
	expect_msg(fd, "STOPPING=1");
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
	char name[64];
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "@denali-notify-test-%d", (int)getpid());
	fd = bind_dgram(name, &sa, &len);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_send("READY=1"), 1);
	expect_msg(fd, "READY=1");
	assert_int_equal(notify_send("WATCHDOG=1"), 1);
	expect_msg(fd, "WATCHDOG=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

/* A manager that does not read: its queue fills, and a ping then gives -EAGAIN at once instead
 * of stopping the caller (the serving loop) for good; READY waits at most about a second.
 * Before the fix the first ping past the queue's length blocked forever (alarm: 5 s). */
static void test_full_queue_never_blocks(void **state)
{
	char name[64];
	struct sockaddr_un sa;
	socklen_t len;
	int fd, sent = 0, r = 1;

	(void)state;
	snprintf(name, sizeof(name), "@denali-notify-full-%d", (int)getpid());
	fd = bind_dgram(name, &sa, &len);
	setenv("NOTIFY_SOCKET", name, 1);
	alarm(5);
	while (sent < 100000 && (r = notify_send("WATCHDOG=1")) == 1)
		sent++;
	assert_int_equal(r, -EAGAIN);
	assert_true(sent > 0);
	assert_int_equal(notify_send("STATUS=still serving"), -EAGAIN);
	assert_int_equal(notify_send("READY=1"), -EAGAIN); /* after its wait of up to 1 s */
	alarm(0);
	/* What was queued is intact and in order. */
	expect_msg(fd, "WATCHDOG=1");
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

static void test_no_manager(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative", 1);
	assert_true(notify_send("READY=1") < 0);
	setenv("NOTIFY_SOCKET", "/nonexistent/denali/notify", 1);
	assert_true(notify_send("READY=1") < 0);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
	uint64_t us = 0;
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(notify_watchdog_usec(&us), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(notify_watchdog_usec(&us), 1);
	assert_true(us == 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(&us), 1);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(notify_watchdog_usec(&us), 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "abc", 1);
	assert_int_equal(notify_watchdog_usec(&us), -EINVAL);
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(notify_watchdog_usec(&us), -EINVAL);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_socket),
	    cmocka_unit_test(test_abstract_socket),
	    cmocka_unit_test(test_full_queue_never_blocks),
	    cmocka_unit_test(test_no_manager),
	    cmocka_unit_test(test_watchdog_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen;
	size_t n;
	int fd, r = 1;
	bool wait;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT; /* vsock addresses are not used on this platform */
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: no terminating NUL, length says where it ends */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A listener that does not read fills its queue (10 datagrams by default), and a
	 * blocking send would then stop the serving loop for good (seen: ctl_cli hung under load
	 * with WATCHDOG=1 every 100 ms). What is sent while serving (pings, STATUS) is dropped
	 * instead; READY and STOPPING, sent outside the loop, wait up to a second. */
	wait = !strncmp(state, "READY=1", 7) || !strncmp(state, "STOPPING=1", 10);
	if (wait)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){.tv_sec = 1},
			   sizeof(struct timeval));
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT),
		   (struct sockaddr *)&sa, salen) < 0)
		r = -errno;
	close(fd);
	return r;
}

int notify_sendf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return notify_send(buf);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int notify_watchdog_usec(uint64_t *usec)
{
	const char *us = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;

	if (!us)
		return 0;
	if (parse_u64(us, &v) < 0 || v == 0)
		return -EINVAL;
	if (pid) {
		if (parse_u64(pid, &p) < 0)
			return -EINVAL;
		if (p != (uint64_t)getpid())
			return 0; /* meant for another process */
	}
	*usec = v;
	return 1;
}

/* stall_server.c - a tiny HTTP/1.1 keep-alive server for the load-generator tests that stops
 * answering once, for a set time, then carries on.
 *
 * usage: stall_server PORTFILE STALL_AFTER_MS STALL_MS LIFETIME_S
 * Listens on an ephemeral 127.0.0.1 port and writes it to PORTFILE. STALL_AFTER_MS after the
 * first request it blocks its only thread for STALL_MS: every connection sees the stall, as with
 * a server that is paged out or descheduled. It exits by itself after LIFETIME_S.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 4096

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain"
			       "\r\n\r\nhello";

/* bytes of a request header seen so far, per fd: only the "\r\n\r\n" matters */
static unsigned match[MAX_FDS];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Count complete request heads in buf; keeps the partial match of "\r\n\r\n" across reads. */
static int requests_in(int fd, const char *buf, ssize_t n)
{
	static const char end[] = "\r\n\r\n";
	int count = 0;

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == end[match[fd]]) {
			if (++match[fd] == 4) {
				count++;
				match[fd] = 0;
			}
		} else {
			match[fd] = buf[i] == '\r' ? 1 : 0;
		}
	}
	return count;
}

static void serve(int ep, int fd)
{
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf));
	int count;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
		return;
	}
	count = requests_in(fd, buf, n);
	while (count-- > 0)
		if (write(fd, response, sizeof(response) - 1) < 0)
			break;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	long long stall_after, stall_ms, lifetime, first = -1, deadline;
	int ls, ep, one = 1, stalled = 0;
	struct epoll_event ev = {.events = EPOLLIN};
	FILE *pf;

	if (argc != 5) {
		fprintf(stderr,
			"usage: stall_server PORTFILE STALL_AFTER_MS STALL_MS LIFETIME_S\n");
		return 2;
	}
	stall_after = atoll(argv[2]);
	stall_ms = atoll(argv[3]);
	lifetime = atoll(argv[4]);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1024) ||
	    getsockname(ls, (struct sockaddr *)&a, &alen)) {
		perror("stall_server: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	pf = fopen(argv[1], "w");
	if (!pf) {
		perror("stall_server: port file");
		return 1;
	}
	fprintf(pf, "%u\n", ntohs(a.sin_port));
	fclose(pf);
	deadline = now_ms() + lifetime * 1000;

	while (now_ms() < deadline) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd != ls) {
				if (first < 0)
					first = now_ms();
				serve(ep, fd);
				continue;
			}
			while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				if (fd >= MAX_FDS) {
					close(fd);
					continue;
				}
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				match[fd] = 0;
				ev.data.fd = fd;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
		if (!stalled && first >= 0 && now_ms() - first >= stall_after) {
			struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000};

			stalled = 1;
			fprintf(stderr, "stall_server: stalling for %lld ms\n", stall_ms);
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

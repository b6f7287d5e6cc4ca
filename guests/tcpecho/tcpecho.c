/*
 * tcpecho: a TCP echo server guest over the guest-libos socket API.
 *
 *   tcpecho [PORT [MAX_CONNS [EXIT_AFTER]]]     defaults: 7, 64, 0
 *
 * Every byte a client sends comes back to it; a client that closes its
 * side gets the rest of its echo and then a close. Bounded: each
 * connection has one 4 KiB buffer, and reading stops while it is full
 * (a client that does not read its echo is flow-controlled, not buffered).
 * EXIT_AFTER > 0: exit once that many connections are done (for tests),
 * printing connections and bytes echoed.
 */
#include <arpa/inet.h>
#include <denali/libos.h>
#include <denali/sock.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNS_MAX 256
#define BUF	  4096

struct echo {
	int fd;
	bool eof;
	size_t len;
	char buf[BUF];
};

static struct echo *conns[CONNS_MAX];
static struct pollfd pfds[CONNS_MAX + 1];
static int nconns;
static unsigned long long echoed, accepted, done;

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void drop(int i)
{
	done++;
	close(conns[i]->fd);
	free(conns[i]);
	conns[i] = conns[--nconns];
}

/* Read and write until the socket would block; false: close it. */
static bool service(struct echo *e)
{
	for (;;) {
		bool progress = false;
		if (!e->eof && e->len < BUF) {
			long n = recv(e->fd, e->buf + e->len, BUF - e->len, 0);
			if (n > 0) {
				e->len += (size_t)n;
				progress = true;
			} else if (n == 0) {
				e->eof = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (e->len > 0) {
			long n = send(e->fd, e->buf, e->len, 0);
			if (n > 0) {
				memmove(e->buf, e->buf + n, e->len - (size_t)n);
				e->len -= (size_t)n;
				echoed += (unsigned long long)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (e->eof && e->len == 0)
			return false;
		if (!progress)
			return true;
	}
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	int max = argc > 2 ? atoi(argv[2]) : 64;
	long exit_after = argc > 3 ? atol(argv[3]) : 0;
	struct sockaddr_in a;

	if (port <= 0 || port > 65535 || max <= 0 || max > CONNS_MAX || exit_after < 0) {
		printf("usage: tcpecho [PORT [MAX_CONNS [EXIT_AFTER]]] (MAX_CONNS 1..%d)\n",
		       CONNS_MAX);
		return 2;
	}
	if (dn_net_start() < 0) {
		printf("tcpecho: no network\n");
		return 1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0 ||
	    set_nonblocking(lfd) < 0) {
		printf("tcpecho: cannot listen on port %d (errno %d)\n", port, errno);
		return 1;
	}
	printf("tcpecho: listening on port %d\n", port);
	for (;;) {
		pfds[0].fd = lfd;
		pfds[0].events = nconns < max ? POLLIN : 0;
		for (int i = 0; i < nconns; i++) {
			struct echo *e = conns[i];
			pfds[i + 1].fd = e->fd;
			pfds[i + 1].events = (short)((!e->eof && e->len < BUF ? POLLIN : 0) |
						     (e->len ? POLLOUT : 0));
			pfds[i + 1].revents = 0;
		}
		if (poll(pfds, (unsigned)nconns + 1, -1) < 0 && errno != EINTR) {
			printf("tcpecho: poll: errno %d\n", errno);
			return 1;
		}
		for (int i = nconns - 1; i >= 0; i--)
			if (pfds[i + 1].revents && !service(conns[i]))
				drop(i);
		while ((pfds[0].revents & POLLIN) && nconns < max) {
			int fd = accept(lfd, NULL, NULL);
			if (fd < 0)
				break;
			struct echo *e = malloc(sizeof(*e));
			if (!e || set_nonblocking(fd) < 0) {
				free(e);
				close(fd);
				continue;
			}
			e->fd = fd;
			e->eof = false;
			e->len = 0;
			conns[nconns++] = e;
			accepted++;
		}
		if (exit_after && done >= (unsigned long long)exit_after && nconns == 0) {
			printf("tcpecho: %llu connections, %llu bytes echoed\n", done, echoed);
			return 0;
		}
	}
}

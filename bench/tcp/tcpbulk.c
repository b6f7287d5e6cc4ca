/*
 * denali-tcpbulk: the host side of bench/tcp, and the Linux stand-in for
 * the tcpbulk guest in its baseline.
 *
 *   denali-tcpbulk recv ADDR PORT BYTES    connect, read until EOF
 *   denali-tcpbulk send ADDR PORT BYTES    connect, write BYTES, shut down
 *                                          the write side, wait for EOF
 *   denali-tcpbulk serve PORT send|recv BYTES   what the guest does: one
 *                                          connection, then exit
 *
 * Bytes are the pattern of guests/net/tcpbulk.c and are checked on receipt.
 * The clients print one line, timed from the connect to the EOF:
 *   tcpbulk: recv|send BYTES bytes in S s: M Mb/s, D differ
 * Exit 0 when BYTES went through intact, 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned char buf[1 << 16];

static unsigned char pat(unsigned long long i)
{
	return (unsigned char)((i * 131) ^ (i >> 9));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_all(int s, unsigned long long bytes)
{
	unsigned long long sent = 0;

	while (sent < bytes) {
		size_t n = bytes - sent < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(sent + i);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(s, buf + off, n - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "tcpbulk: write: %s\n", strerror(errno));
				return -1;
			}
			off += (size_t)w;
		}
		sent += n;
	}
	return 0;
}

/* Reads until EOF; the bytes read in *got, the ones off the pattern in *bad. */
static int recv_all(int s, unsigned long long *got, unsigned long long *bad)
{
	*got = *bad = 0;
	for (;;) {
		ssize_t r = read(s, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcpbulk: read: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0)
			return 0;
		for (ssize_t i = 0; i < r; i++)
			*bad += buf[i] != pat(*got + (unsigned long long)i);
		*got += (unsigned long long)r;
	}
}

static int serve(int port, int send_mode, unsigned long long bytes)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0), s, rc;
	unsigned long long got, bad;

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1) < 0) {
		fprintf(stderr, "tcpbulk: listen on %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("tcpbulk: listening on port %d\n", port);
	fflush(stdout);
	s = accept(ls, NULL, NULL);
	close(ls);
	if (s < 0) {
		fprintf(stderr, "tcpbulk: accept: %s\n", strerror(errno));
		return 1;
	}
	if (send_mode) {
		rc = send_all(s, bytes);
	} else {
		rc = recv_all(s, &got, &bad);
		if (rc == 0 && (got != bytes || bad))
			rc = -1;
	}
	close(s);
	return rc ? 1 : 0;
}

static int client(const char *addr, int port, int send_mode, unsigned long long bytes)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	unsigned long long got = 0, bad = 0;
	int s, rc;
	double t0;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "tcpbulk: '%s' is not an IPv4 address\n", addr);
		return 2;
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	t0 = now_s();
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "tcpbulk: connect %s:%d: %s\n", addr, port, strerror(errno));
		return 1;
	}
	if (send_mode) {
		rc = send_all(s, bytes);
		if (rc == 0 && shutdown(s, SHUT_WR) < 0)
			rc = -1;
		if (rc == 0)
			rc = recv_all(s, &got, &bad); /* the peer's EOF: it has it all */
		got = bytes;
	} else {
		rc = recv_all(s, &got, &bad);
	}
	double dt = now_s() - t0;
	close(s);
	printf("tcpbulk: %s %llu bytes in %.3f s: %.1f Mb/s, %llu differ\n",
	       send_mode ? "send" : "recv", got, dt, dt > 0 ? (double)got * 8 / dt / 1e6 : 0.0,
	       bad);
	return rc == 0 && got == bytes && bad == 0 ? 0 : 1;
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: denali-tcpbulk recv|send ADDR PORT BYTES\n"
		   "       denali-tcpbulk serve PORT send|recv BYTES\n"
		   "Bulk TCP for bench/tcp: the client timed from connect to EOF, or the\n"
		   "Linux stand-in for the tcpbulk guest.\n");
	return rc;
}

int main(int argc, char **argv)
{
	char *end;

	if (argc == 2 && !strcmp(argv[1], "--help"))
		return usage(stdout, 0);
	if (argc != 5)
		return usage(stderr, 2);
	unsigned long long bytes = strtoull(argv[4], &end, 10);
	if (*end || bytes == 0)
		return usage(stderr, 2);
	if (!strcmp(argv[1], "serve")) {
		int port = atoi(argv[2]);
		if (port <= 0 || port > 65535 ||
		    (strcmp(argv[3], "send") && strcmp(argv[3], "recv")))
			return usage(stderr, 2);
		return serve(port, !strcmp(argv[3], "send"), bytes);
	}
	int port = atoi(argv[3]);
	if (port <= 0 || port > 65535 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv")))
		return usage(stderr, 2);
	return client(argv[2], port, !strcmp(argv[1], "send"), bytes);
}

/*
 * tcpclient IP PORT BYTES [CONNECTIONS [udp]]: connects CONNECTIONS times
 * (default 1) to an echo server, sends BYTES of a pattern through each while
 * reading the echo back, and checks every byte. Exit 0 when all came back
 * intact and every connection block was freed. With "udp": CONNECTIONS
 * datagrams of BYTES (at most 1472) instead, each resent until its echo
 * comes back (at most 10 times). With "hold:SECS": CONNECTIONS connections
 * opened at once, one byte echoed on each, then held idle SECS seconds and
 * closed (an idle VM with open connections should make no exits).
 */
#include <arpa/inet.h>
#include <denali/libos.h>
#include <denali/sock.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t pat(size_t i)
{
	return (uint8_t)((i * 131) ^ (i >> 9));
}

static int one(const struct sockaddr_in *to, size_t bytes)
{
	static uint8_t out[4096], in[8192];
	size_t sent = 0, got = 0;

	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		printf("tcpclient: connect: errno %d\n", errno);
		return -1;
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	while (got < bytes) {
		struct pollfd p = {.fd = s, .events = POLLIN | (sent < bytes ? POLLOUT : 0)};
		if (poll(&p, 1, 30000) <= 0) {
			printf("tcpclient: stalled at %zu of %zu bytes\n", got, bytes);
			return -1;
		}
		if (sent < bytes && (p.revents & POLLOUT)) {
			size_t n = bytes - sent < sizeof(out) ? bytes - sent : sizeof(out);
			for (size_t i = 0; i < n; i++)
				out[i] = pat(sent + i);
			ssize_t w = send(s, out, n, 0);
			if (w > 0)
				sent += (size_t)w;
			else if (errno != EAGAIN)
				return -1;
		}
		ssize_t r = recv(s, in, sizeof(in), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			printf("tcpclient: recv %zd errno %d at %zu\n", r, errno, got);
			return -1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (in[i] != pat(got + (size_t)i)) {
				printf("tcpclient: byte %zu differs\n", got + (size_t)i);
				return -1;
			}
		if (r > 0)
			got += (size_t)r;
	}
	close(s);
	return 0;
}

static int udp(const struct sockaddr_in *to, size_t bytes, long count)
{
	static uint8_t out[1472], in[2048];
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || bytes > sizeof(out) ||
	    connect(s, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return -1;
	for (long i = 0; i < count; i++) {
		for (size_t j = 0; j < bytes; j++)
			out[j] = pat((size_t)i + j);
		int ok = 0;
		for (int t = 0; t < 10 && !ok; t++) {
			if (send(s, out, bytes, 0) != (ssize_t)bytes)
				return -1;
			struct pollfd p = {.fd = s, .events = POLLIN};
			while (!ok && poll(&p, 1, 200) == 1) {
				ssize_t r = recv(s, in, sizeof(in), 0);
				ok = r == (ssize_t)bytes && memcmp(in, out, bytes) == 0;
			}
		}
		if (!ok) {
			printf("tcpclient: datagram %ld never came back\n", i);
			return -1;
		}
	}
	close(s);
	printf("tcpclient: %ld datagrams of %zu bytes echoed intact\n", count, bytes);
	return 0;
}

/* Ask echod how often it has idled; -1 when it does not answer. */
static long long server_idles(const struct sockaddr_in *to)
{
	char b[64];
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	long long v = -1;

	if (s < 0 || connect(s, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return -1;
	for (int t = 0; t < 10 && v < 0; t++) {
		send(s, "idles?", 6, 0);
		struct pollfd p = {.fd = s, .events = POLLIN};
		if (poll(&p, 1, 300) == 1) {
			ssize_t r = recv(s, b, sizeof(b) - 1, 0);
			if (r > 6 && memcmp(b, "idles ", 6) == 0) {
				b[r] = 0;
				v = strtoll(b + 6, NULL, 10);
			}
		}
	}
	close(s);
	return v;
}

static void server_stats(const struct sockaddr_in *to)
{
	static char b[2048];
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	connect(u, (const struct sockaddr *)to, sizeof(*to));
	send(u, "stats?", 6, 0);
	struct pollfd p = {.fd = u, .events = POLLIN};
	if (poll(&p, 1, 500) == 1) {
		ssize_t r = recv(u, b, sizeof(b) - 1, 0);
		if (r > 0) {
			b[r] = 0;
			printf("server says:\n%s", b);
		}
	}
	close(u);
}

static int hold(const struct sockaddr_in *to, long conns, long secs)
{
	static int fds[256];
	char c = 'h';

	if (conns > 256)
		return -1;
	msleep(200); /* let the server start */
	for (long i = 0; i < conns; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (const struct sockaddr *)to, sizeof(*to)) < 0 ||
		    send(fds[i], &c, 1, 0) != 1 || recv(fds[i], &c, 1, 0) != 1) {
			printf("tcpclient: hold connection %ld: errno %d\n", i, errno);
			return -1;
		}
	}
	/* Idle through the stack's loop (not msleep, which would stop the
	 * stack: no ACK would go out); 1 s to let delayed ACKs settle first. */
	uint64_t end = dn_now_ns() + 1000000000ull;
	while (dn_now_ns() < end)
		dn_net_poll(end);
	long long before = server_idles(to);
	end = dn_now_ns() + (uint64_t)secs * 1000000000ull;
	while (dn_now_ns() < end)
		dn_net_poll(end);
	long long after = server_idles(to);
	server_stats(to);
	/* Each question wakes the server once: the rest is what idle cost. */
	printf("tcpclient: held %ld connections for %ld s; the server idled %lld times\n", conns,
	       secs, after - before);
	for (long i = 0; i < conns; i++)
		close(fds[i]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		printf("usage: tcpclient IP PORT BYTES [CONNECTIONS]\n");
		return 2;
	}
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)atoi(argv[2])),
				 .sin_addr.s_addr = inet_addr(argv[1])};
	size_t bytes = strtoul(argv[3], NULL, 10);
	long conns = argc > 4 ? atol(argv[4]) : 1;

	if (dn_net_start() < 0) {
		printf("tcpclient: no network\n");
		return 1;
	}
	dn_net_counters_at_exit(1);
	if (argc > 5 && strncmp(argv[5], "hold:", 5) == 0) {
		if (hold(&to, conns, atol(argv[5] + 5)) < 0)
			return 1;
		conns = 0;
	} else if (argc > 5 && strcmp(argv[5], "udp") == 0) {
		msleep(200); /* let the server start */
		return udp(&to, bytes, conns) == 0 ? 0 : 1;
	}
	/* The server may still be starting: retry refused connects for a while. */
	for (long i = 0; i < conns; i++) {
		int rc = -1;
		for (int t = 0; t < 50 && rc < 0; t++) {
			rc = one(&to, bytes);
			if (rc < 0 && i == 0)
				msleep(100);
			else if (rc < 0)
				return 1;
		}
		if (rc < 0)
			return 1;
	}
	uint64_t end = dn_now_ns() + 3000000000ull;
	while (dn_now_ns() < end && net_tcp_conns_in_use(dn_net_stack()) > 0)
		dn_net_poll(end);
	printf("tcpclient: %ld x %zu bytes echoed intact, %u connections left\n", conns, bytes,
	       net_tcp_conns_in_use(dn_net_stack()));
	return net_tcp_conns_in_use(dn_net_stack()) == 0 ? 0 : 1;
}

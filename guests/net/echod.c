/*
 * echod [PORT [COUNT]]: TCP and UDP echo on one port over the libos
 * sockets, one poll() loop for the listener, the UDP socket and every TCP
 * client (up to MAX_CLIENTS at once). With COUNT > 0 it exits once COUNT
 * TCP connections have come and gone and UDP datagrams were echoed (or at
 * a UDP "quit"),
 * checking that the stack freed every connection block, and prints the
 * stack's counters. A datagram "idles?" is answered with "idles N", the
 * times its event loop has idled (one VM exit each), and "stats?" with its
 * counters (the text of net_counters_print).
 * (guests/tcpecho is the plain TCP echo server.)
 */
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

#define MAX_CLIENTS 120

static struct pollfd pfd[MAX_CLIENTS + 2];
static char buf[8192];
static char stats[2048];
static size_t stats_len;

static void stats_out(const char *s, size_t n)
{
	if (stats_len + n < sizeof(stats)) {
		memcpy(stats + stats_len, s, n);
		stats_len += n;
	}
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	long want = argc > 2 ? atol(argv[2]) : 0;
	long done = 0, accepted = 0, datagrams = 0;
	int n;

	struct net_config cfg = {.tcp_max_conns = MAX_CLIENTS + 40, .sockets = MAX_CLIENTS + 8};
	int rc = dn_net_start_cfg(&cfg);
	if (rc < 0) {
		printf("echod: no network (%d)\n", rc);
		return 1;
	}
	dn_net_counters_at_exit(1);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 64) < 0) {
		printf("echod: listen on %d: errno %d\n", port, errno);
		return 1;
	}
	fcntl(ls, F_SETFL, O_NONBLOCK);
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	if (us < 0 || bind(us, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("echod: udp bind %d: errno %d\n", port, errno);
		return 1;
	}
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	getsockname(ls, (struct sockaddr *)&me, &ml);
	uint32_t ip = ntohl((uint32_t)dn_vregs()->ipv4_addr);
	printf("echod: %u.%u.%u.%u listening on tcp and udp port %d\n", ip >> 24, (ip >> 16) & 255,
	       (ip >> 8) & 255, ip & 255, ntohs(me.sin_port));
	pfd[0].fd = ls;
	pfd[0].events = POLLIN;
	pfd[1].fd = us;
	pfd[1].events = POLLIN;
	n = 2;
	int quit = 0;
	while (!quit && (want == 0 || done + datagrams < want)) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			printf("echod: poll: errno %d\n", errno);
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int c;
			while (n <= MAX_CLIENTS && (c = accept(ls, NULL, NULL)) >= 0) {
				fcntl(c, F_SETFL, O_NONBLOCK);
				pfd[n].fd = c;
				pfd[n].events = POLLIN;
				n++;
				accepted++;
			}
		}
		if (pfd[1].revents & POLLIN) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(us, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			if (r == 6 && memcmp(buf, "stats?", 6) == 0) {
				stats_len = 0;
				net_counters_print(dn_net_stack(), stats_out);
				sendto(us, stats, stats_len, 0, (struct sockaddr *)&from, fl);
			} else if (r == 6 && memcmp(buf, "idles?", 6) == 0) {
				/* Not echoed: how often this VM has idled (exited) so far. */
				int k = snprintf(buf, sizeof(buf), "idles %llu",
						 (unsigned long long)dn_net_idles());
				sendto(us, buf, (size_t)k, 0, (struct sockaddr *)&from, fl);
			} else if (r >= 0) {
				sendto(us, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
				datagrams++;
				quit = r == 4 && memcmp(buf, "quit", 4) == 0;
			}
		}
		for (int i = 2; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			ssize_t r = read(pfd[i].fd, buf, sizeof(buf));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0) {
				/* Blocking-style echo of what was read: the client reads too. */
				fcntl(pfd[i].fd, F_SETFL, 0);
				ssize_t w = write(pfd[i].fd, buf, (size_t)r);
				fcntl(pfd[i].fd, F_SETFL, O_NONBLOCK);
				if (w == r)
					continue;
			}
			close(pfd[i].fd);
			pfd[i] = pfd[--n];
			i--;
			done++;
		}
	}
	close(ls);
	close(us);
	for (int i = 2; i < n; i++)
		close(pfd[i].fd);
	/* Let the last FINs and ACKs go out and TIME_WAIT run down. */
	uint64_t end = dn_now_ns() + 3000000000ull;
	while (dn_now_ns() < end && net_tcp_conns_in_use(dn_net_stack()) > 0)
		dn_net_poll(end);
	printf("echod: %ld connections, %ld datagrams, %u left in use\n", accepted, datagrams,
	       net_tcp_conns_in_use(dn_net_stack()));
	return net_tcp_conns_in_use(dn_net_stack()) == 0 ? 0 : 1;
}

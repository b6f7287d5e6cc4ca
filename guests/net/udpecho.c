/*
 * udpecho [PORT [COUNT]]: echoes every UDP datagram to its sender; with
 * COUNT > 0 exits after that many, or at a datagram "quit", printing the
 * stack's counters.
 */
#include <denali/sock.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static char buf[2048];

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	long want = argc > 2 ? atol(argv[2]) : 0, n = 0;

	int rc = dn_net_start();
	if (rc < 0) {
		printf("udpecho: no network (%d)\n", rc);
		return 1;
	}
	dn_net_counters_at_exit(1);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("udpecho: bind %d: errno %d\n", port, errno);
		return 1;
	}
	printf("udpecho: listening on port %d\n", port);
	while (want == 0 || n < want) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (r < 0) {
			printf("udpecho: recvfrom: errno %d\n", errno);
			return 1;
		}
		if (sendto(s, buf, (size_t)r, 0, (struct sockaddr *)&from, fl) != r)
			printf("udpecho: sendto: errno %d\n", errno);
		n++;
		if (r == 4 && memcmp(buf, "quit", 4) == 0)
			break;
	}
	printf("udpecho: %ld datagrams\n", n);
	return 0;
}

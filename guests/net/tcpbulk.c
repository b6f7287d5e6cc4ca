/*
 * tcpbulk PORT send|recv BYTES [BUF_KIB]: bulk TCP for bench/tcp. Listens
 * on PORT and serves one connection: "send" writes BYTES of a pattern and
 * closes; "recv" reads until EOF, checks every byte of the pattern, then
 * closes. BUF_KIB sizes the stack's send and receive buffers (default the
 * stack's). Prints what it moved and the stack's counters at exit; exit 0
 * when BYTES went through intact.
 */
#include <denali/libos.h>
#include <denali/sock.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t buf[65536];

/* The pattern both ends agree on: byte i of the stream. */
static uint8_t pat(unsigned long long i)
{
	return (uint8_t)((i * 131) ^ (i >> 9));
}

static int do_send(int s, unsigned long long bytes)
{
	unsigned long long sent = 0;

	while (sent < bytes) {
		size_t n = bytes - sent < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);
		/* The pattern repeats every 64 KiB of offset mod 512 shifts:
		 * fill per chunk (cheap next to the stack's own work). */
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(sent + i);
		size_t off = 0;
		while (off < n) {
			ssize_t w = write(s, buf + off, n - off);
			if (w < 0) {
				printf("tcpbulk: write: errno %d after %llu bytes\n", errno,
				       sent + off);
				return -1;
			}
			off += (size_t)w;
		}
		sent += n;
	}
	printf("tcpbulk: sent %llu bytes\n", sent);
	return 0;
}

static int do_recv(int s, unsigned long long bytes)
{
	unsigned long long got = 0, bad = 0;

	for (;;) {
		ssize_t r = read(s, buf, sizeof(buf));
		if (r < 0) {
			printf("tcpbulk: read: errno %d after %llu bytes\n", errno, got);
			return -1;
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			bad += buf[i] != pat(got + (unsigned long long)i);
		got += (unsigned long long)r;
	}
	printf("tcpbulk: received %llu bytes, %llu differ\n", got, bad);
	return got == bytes && bad == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	const char *mode = argc > 2 ? argv[2] : "";
	unsigned long long bytes = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	long kib = argc > 4 ? atol(argv[4]) : 0;
	int send_mode = !strcmp(mode, "send");

	if (port <= 0 || port > 65535 || (!send_mode && strcmp(mode, "recv")) || bytes == 0 ||
	    kib < 0 || kib > 4096) {
		printf("usage: tcpbulk PORT send|recv BYTES [BUF_KIB 0..4096]\n");
		return 2;
	}
	struct net_config cfg = {.tcp_sndbuf = (uint32_t)kib << 10,
				 .tcp_rcvbuf = (uint32_t)kib << 10,
				 .tcp_max_conns = 4,
				 .sockets = 8};
	int rc = dn_net_start_cfg(&cfg);
	if (rc < 0) {
		printf("tcpbulk: no network (%d)\n", rc);
		return 1;
	}
	dn_net_counters_at_exit(1);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1) < 0) {
		printf("tcpbulk: listen on %d: errno %d\n", port, errno);
		return 1;
	}
	printf("tcpbulk: listening on port %d\n", port);
	int s = accept(ls, NULL, NULL);
	if (s < 0) {
		printf("tcpbulk: accept: errno %d\n", errno);
		return 1;
	}
	rc = send_mode ? do_send(s, bytes) : do_recv(s, bytes);
	close(s);
	close(ls);
	/* Let the stack deliver the last bytes and the FIN before the VM goes. */
	uint64_t end = dn_now_ns() + 5000000000ull;
	while (net_tcp_conns_in_use(dn_net_stack()) > 0 && dn_now_ns() < end)
		dn_net_poll(end);
	return rc < 0 ? 1 : 0;
}

/*
 * denali-http-stackbench: the httpd guest's request path built for the host,
 * to profile it with perf (a VM's ring-3 code cannot be sampled under
 * kvm_pvm: its samples land in the host's pvm_do_event_irqoff).
 *
 *   denali-http-stackbench [REQUESTS [CONNS [BYTES]]]   (200000, 10, 612)
 *
 * Two instances of the guest-libos TCP/IP stack back to back on the
 * in-memory wire of tests/net (no loss, no delay): one runs the httpd core
 * (http_conn over a rofs image in memory holding one BYTES-byte file, with
 * the file cache as in the guest), the other is a keep-alive client with
 * CONNS connections, each sending a wrk-like GET as soon as its previous
 * answer is complete. Prints the wall time per request of the whole loop
 * (both stacks and the wire), and with `perf record` the server's share
 * shows by symbol (http_*, tcp_*, net_csum_*, ...).
 */
#include "harness.h"
#include "http_conn.h"
#include "rofs_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORT	  80
#define CONNS_MAX 64

static uint8_t *img;
static size_t img_len;

static int mem_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	(void)ctx;
	uint64_t off = sector * ROFS_SECTOR, len = (uint64_t)n * ROFS_SECTOR;
	if (off > img_len || len > img_len - off)
		return -EIO;
	memcpy(buf, img + off, len);
	return 0;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct net_sockaddr_in addr_of(uint32_t ip, uint16_t port)
{
	struct net_sockaddr_in a = {
	    .sin_family = NET_AF_INET, .sin_port = net_ntohs(port), .sin_addr = net_ntohl(ip)};
	return a;
}

/* Moves bytes both ways on one server connection until it would block. */
static void serve(struct net_stack *st, int fd, struct http_conn *c, uint64_t now)
{
	for (;;) {
		int progress = 0;
		size_t cap, len;
		char *in = http_conn_rbuf(c, &cap);
		if (cap > 0) {
			long n = net_sock_recv(st, fd, in, cap, 0);
			if (n > 0) {
				http_conn_received(c, (size_t)n, now);
				progress = 1;
			}
		}
		const char *out = http_conn_obuf(c, &len);
		if (len > 0) {
			long n = net_sock_send(st, fd, out, len, 0);
			if (n > 0) {
				http_conn_sent(c, (size_t)n, now);
				progress = 1;
			}
		}
		if (!progress)
			return;
	}
}

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 200000;
	int nc = argc > 2 ? atoi(argv[2]) : 10;
	long bytes = argc > 3 ? atol(argv[3]) : 612;
	static struct http_conn conn[CONNS_MAX];
	static struct rofs fs;
	static struct http_site site;
	static struct http_cache cache;
	int cfd[CONNS_MAX], sfd[CONNS_MAX];
	long want[CONNS_MAX], got[CONNS_MAX];
	static char rbuf[65536];

	if (total <= 0 || nc <= 0 || nc > CONNS_MAX || bytes <= 0 || bytes > (1 << 20)) {
		fprintf(stderr, "usage: denali-http-stackbench [REQUESTS [CONNS 1..%d [BYTES]]]\n",
			CONNS_MAX);
		return 2;
	}
	char *body = malloc((size_t)bytes);
	for (long i = 0; i < bytes; i++)
		body[i] = (char)('a' + i % 26);
	struct rofs_build b;
	rofs_build_init(&b);
	if (rofs_build_add_mem(&b, "small.html", body, (size_t)bytes, 1000000000) ||
	    rofs_build_write_mem(&b, &img, &img_len) ||
	    rofs_mount(&fs, mem_read, NULL, img_len / ROFS_SECTOR)) {
		fprintf(stderr, "stackbench: cannot build the image\n");
		return 1;
	}
	rofs_build_free(&b);
	http_site_init(&site, &fs);
	http_cache_init(&cache, 1u << 20);
	site.cache = &cache;

	struct net_config ca, cb;
	net_test_config(&ca, 0);
	net_test_config(&cb, 1);
	ca.tcp_max_conns = cb.tcp_max_conns = 2 * CONNS_MAX + 4;
	ca.sockets = cb.sockets = CONNS_MAX + 8;
	struct wire *w = wire_new(&ca, &cb);
	struct net_stack *cl = w->end[0].st, *sv = w->end[1].st;
	w->delay_ns = 0; /* frames arrive at once: only CPU time is measured */
	int ls = net_sock_socket(sv, NET_AF_INET, NET_SOCK_STREAM, 0);
	struct net_sockaddr_in any = addr_of(0, PORT), to = addr_of(IP_B, PORT);
	if (ls < 0 || net_sock_bind(sv, ls, &any) || net_sock_listen(sv, ls, 64) ||
	    net_sock_setflags(sv, ls, NET_O_NONBLOCK)) {
		fprintf(stderr, "stackbench: no listener\n");
		return 1;
	}
	for (int i = 0; i < nc; i++) {
		cfd[i] = net_sock_socket(cl, NET_AF_INET, NET_SOCK_STREAM, 0);
		if (cfd[i] < 0 || net_sock_connect(cl, cfd[i], &to) != 0) {
			fprintf(stderr, "stackbench: connect failed\n");
			return 1;
		}
		net_sock_setflags(cl, cfd[i], NET_O_NONBLOCK);
		while ((sfd[i] = net_sock_accept(sv, ls, NULL)) == -EAGAIN)
			wire_step(w, UINT64_MAX);
		net_sock_setflags(sv, sfd[i], NET_O_NONBLOCK);
		http_conn_init(&conn[i], &site, NULL, w->now);
		want[i] = got[i] = 0;
	}
	static const char req[] = "GET /small.html HTTP/1.1\r\nHost: 198.18.80.2\r\n\r\n";
	/* One request alone first: the answer's length. */
	long answer = 0;
	net_sock_send(cl, cfd[0], req, sizeof(req) - 1, 0);
	for (int k = 0; k < 100; k++) {
		while (wire_step(w, w->now))
			;
		serve(sv, sfd[0], &conn[0], w->now);
		long n = net_sock_recv(cl, cfd[0], rbuf, sizeof(rbuf), 0);
		if (n > 0)
			answer += n;
		w->now += 1000;
	}
	if (answer <= 0) {
		fprintf(stderr, "stackbench: no answer\n");
		return 1;
	}
	long done = 0, sent = 0;
	uint64_t t0 = wall_ns();
	while (done < total) {
		for (int i = 0; i < nc; i++)
			if (want[i] == got[i] && sent < total) {
				if (net_sock_send(cl, cfd[i], req, sizeof(req) - 1, 0) ==
				    (long)sizeof(req) - 1) {
					want[i] += answer;
					sent++;
				}
			}
		while (wire_step(w, w->now))
			;
		for (int i = 0; i < nc; i++)
			serve(sv, sfd[i], &conn[i], w->now);
		while (wire_step(w, w->now))
			;
		for (int i = 0; i < nc; i++) {
			long n;
			while ((n = net_sock_recv(cl, cfd[i], rbuf, sizeof(rbuf), 0)) > 0)
				got[i] += n;
			if (got[i] > want[i]) {
				fprintf(stderr, "stackbench: more bytes than asked for\n");
				return 1;
			}
		}
		done = 0;
		for (int i = 0; i < nc; i++)
			done += got[i] / answer;
		w->now += 1000; /* 1 us of virtual time per round */
	}
	uint64_t t1 = wall_ns();
	const struct net_counters *k = net_counters(sv);
	printf("stackbench: %ld requests of %ld B (answers %ld B) over %d connections: %.0f ns per "
	       "request (both stacks and the wire), server segs in %llu out %llu\n",
	       total, bytes, answer, nc, (double)(t1 - t0) / (double)total,
	       (unsigned long long)k->tcp_seg_in, (unsigned long long)k->tcp_seg_out);
	wire_free(w);
	http_cache_free(&cache);
	free(img);
	free(body);
	return 0;
}

/*
 * httpd: the HTTP/1.1 server guest. The transport-independent core
 * (http_conn, http_site) glued to the guest-libos socket API and to the
 * rofs image on the VM's disk.
 *
 *   httpd [--poll] [--no-cache] [PORT [MAX_CONNS [REQUEST_MS [EXIT_AFTER]]]]
 *                                  defaults: 80, 128, 10000, 0
 *
 * REQUEST_MS is how long a client may take to send a request (then 408);
 * idle keep-alive connections and clients that stop reading are closed
 * after 30 s. EXIT_AFTER > 0 makes the VM exit once that many connections
 * have been served and closed (for tests), printing its counters and the
 * stack's (net ...) at exit.
 *
 * One event loop: poll() over the listener and the connections, with the
 * nearest connection deadline as its timeout, so an idle VM with open
 * keep-alive connections idles until a frame or a deadline is due. The
 * glue enforces each connection's deadline (408 for a slow request, closes
 * for idle keep-alive and for clients that do not read).
 *
 * --poll is the ablation of idle-with-timeout (Denali's measurement): the
 * loop polls with a zero timeout and, when nothing is ready, makes a
 * zero-timeout idle (one exit, back at once) instead of idling until a frame
 * or its deadline, so the VM never leaves the run queue.
 *
 * --no-cache is the ablation of the file cache (http_cache.h): every file
 * body is read from the disk for every request, as before it existed.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <denali/blkdev.h>
#include <denali/libos.h>
#include <denali/rofs.h>
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

#define CONNS_MAX 512
/* After the last reply, input is read and dropped for up to this long
 * before the close: closing with unread input makes the kernel send a
 * reset, which can destroy the reply before the client has read it. */
#define LINGER_NS 2000000000ull

struct slot {
	int fd;
	bool lingering; /* our side is shut down; reading until EOF */
	uint64_t linger_until;
	struct http_conn *c;
};

static struct rofs fs;
static struct http_site site;
static struct http_cache cache;
static struct slot slots[CONNS_MAX];
static struct pollfd pfds[CONNS_MAX + 1];
static int nslots;
static struct http_limits limits;
static unsigned long long conns_done, requests_done;
/* accept() failed for want of resources: stop polling the listener (it
 * would stay readable and spin the loop) until a connection closes. */
static bool accept_blocked;

static int blk_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	(void)ctx;
	return dn_blk_read(sector, buf, n);
}

/* Mount and verify the content disk; without one every static path is 404. */
static struct rofs *content(void)
{
	struct rofs_stat st;
	char name[ROFS_PATH_MAX + 1];
	uint64_t sectors = dn_blk_sectors();

	if (sectors == 0) {
		printf("httpd: no disk: serving dynamic pages only\n");
		return NULL;
	}
	int rc = rofs_mount(&fs, blk_read, NULL, sectors);
	if (rc < 0) {
		printf("httpd: the disk is not a valid rofs image (%d): dynamic pages only\n", rc);
		return NULL;
	}
	for (uint32_t i = 0; i < rofs_count(&fs); i++) {
		if (rofs_entry(&fs, i, &st, name, sizeof(name)) == 0 && st.type == ROFS_TYPE_FILE &&
		    (rc = rofs_verify(&fs, &st)) < 0) {
			printf("httpd: %s fails its checksum (%d): not serving the disk\n", name,
			       rc);
			return NULL;
		}
	}
	printf("httpd: rofs mounted, %u entries verified\n", rofs_count(&fs));
	return &fs;
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL, 0);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int listener(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    set_nonblocking(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void drop(int i)
{
	conns_done++;
	requests_done += slots[i].c->stats.requests;
	accept_blocked = false;
	close(slots[i].fd);
	free(slots[i].c);
	slots[i] = slots[--nslots];
}

static void accept_all(int lfd, int max, uint64_t now)
{
	while (nslots < max) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				accept_blocked = true;
			return;
		}
		struct http_conn *c = malloc(sizeof(*c));
		if (!c || set_nonblocking(fd) < 0) {
			free(c);
			close(fd);
			continue;
		}
		http_conn_init(c, &site, &limits, now);
		slots[nslots].fd = fd;
		slots[nslots].lingering = false;
		slots[nslots].c = c;
		nslots++;
	}
}

/* Read and drop input until EOF or the linger deadline; false: drop it. */
static bool linger(struct slot *s, uint64_t now)
{
	static char sink[2048];
	for (;;) {
		long n = recv(s->fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return false;
		if (n < 0)
			return now < s->linger_until;
	}
}

/* Move bytes both ways until the socket would block; false: drop it. */
static bool service(struct slot *s, uint64_t now)
{
	if (s->lingering)
		return linger(s, now);
	for (;;) {
		bool progress = false;
		size_t cap, len;
		char *in = http_conn_rbuf(s->c, &cap);
		if (cap > 0) {
			long n = recv(s->fd, in, cap, 0);
			if (n > 0) {
				http_conn_received(s->c, (size_t)n, now);
				progress = true;
			} else if (n == 0) {
				http_conn_eof(s->c, now);
			} else if (errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		const char *out = http_conn_obuf(s->c, &len);
		if (len > 0) {
			long n = send(s->fd, out, len, 0);
			if (n > 0) {
				http_conn_sent(s->c, (size_t)n, now);
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return false;
			}
		}
		if (http_conn_done(s->c)) {
			if (s->c->peer_eof)
				return false; /* nothing more can arrive */
			shutdown(s->fd, SHUT_WR);
			s->lingering = true;
			s->linger_until = now + LINGER_NS;
			return linger(s, now);
		}
		if (!progress)
			return true;
	}
}

/* The stack's pools sized for MAX_CONNS: a small server (the demo fleet runs thousands of
 * them, each in a few MiB) does not pay for the default 128 connections of 32 KiB of buffers
 * and 16 UDP receive buffers it never uses. From 128 connections up, the defaults. */
static int net_start(int max)
{
	struct net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	/* Frames waiting for one VM at an entry: about one per connection (a request, or
	 * the ACK of an answer); more wait in the switch for the next entry. */
	cfg.rx_ring_max = (uint32_t)(max < 8 ? 8 : max);
	if (max >= 128)
		return dn_net_start_cfg(&cfg);
	cfg.tcp_max_conns = (uint32_t)(2 * max + 4); /* room for TIME_WAIT and the listener */
	/* 16 KiB each way, as at 128: a few connections would get up to 64 KiB
	 * by default (net_default_tcp_buf), 4 MiB in all, too much for the small
	 * VMs this is for; an answer here is a few KiB. */
	cfg.tcp_sndbuf = cfg.tcp_rcvbuf = 16u << 10;
	cfg.sockets = (uint32_t)(max + 8);
	cfg.udp_rcvbuf = 2048; /* httpd uses no UDP */
	return dn_net_start_cfg(&cfg);
}

/* Takes a leading `flag` off the arguments; true if it was there. */
static bool take_flag(int *argc, char ***argv, const char *flag)
{
	if (*argc > 1 && strcmp((*argv)[1], flag) == 0) {
		(*argv)[1] = (*argv)[0];
		(*argv)++;
		(*argc)--;
		return true;
	}
	return false;
}

/* The file cache's share of guest memory: a sixteenth, at most 8 MiB (a
 * 4 MiB demo VM keeps 256 KiB of hot files; the rest streams from disk). */
static uint64_t cache_budget(void)
{
#ifdef HTTPD_HOST_GLUE
	uint64_t b = 64u << 20; /* the host build (tests/httpd): no vregs page */
#else
	uint64_t b = dn_mem_size() / 16;
#endif
	return b < (8u << 20) ? b : (8u << 20);
}

int main(int argc, char **argv)
{
	bool polling = false, cached = true;
	for (bool more = true; more;) {
		more = false;
		if (take_flag(&argc, &argv, "--poll"))
			more = polling = true;
		if (take_flag(&argc, &argv, "--no-cache")) {
			cached = false;
			more = true;
		}
	}
	int port = argc > 1 ? atoi(argv[1]) : 80;
	int max = argc > 2 ? atoi(argv[2]) : 128;
	long request_ms = argc > 3 ? atol(argv[3]) : 10000;
	long exit_after = argc > 4 ? atol(argv[4]) : 0;

	if (port <= 0 || port > 65535 || max <= 0 || max > CONNS_MAX || request_ms <= 0 ||
	    exit_after < 0) {
		printf("usage: httpd [--poll] [--no-cache] [PORT [MAX_CONNS [REQUEST_MS "
		       "[EXIT_AFTER]]]] (PORT "
		       "1..65535, "
		       "MAX_CONNS 1..%d)\n",
		       CONNS_MAX);
		return 2;
	}
	limits = http_limits_default;
	limits.request_ns = (uint64_t)request_ms * 1000000u;
	http_site_init(&site, content());
	if (cached && site.fs) {
		http_cache_init(&cache, cache_budget());
		site.cache = &cache;
	}
	if (net_start(max) < 0) {
		printf("httpd: no network\n");
		return 1;
	}
	if (exit_after)
		dn_net_counters_at_exit(1); /* tests read retransmissions and drops */
	int lfd = listener(port);
	if (lfd < 0) {
		printf("httpd: cannot listen on port %d (errno %d)\n", port, errno);
		return 1;
	}
	printf("httpd: listening on port %d, at most %d connections%s\n", port, max,
	       polling ? ", polling" : "");
	for (;;) {
		uint64_t now = dn_now_ns(), next = UINT64_MAX;
		pfds[0].fd = lfd;
		pfds[0].events = nslots < max && !accept_blocked ? POLLIN : 0;
		for (int i = 0; i < nslots; i++) {
			size_t cap, len;
			http_conn_rbuf(slots[i].c, &cap);
			http_conn_obuf(slots[i].c, &len);
			pfds[i + 1].fd = slots[i].fd;
			pfds[i + 1].events = (short)((cap ? POLLIN : 0) | (len ? POLLOUT : 0));
			pfds[i + 1].revents = 0;
			uint64_t d = http_conn_deadline(slots[i].c);
			if (slots[i].lingering) {
				pfds[i + 1].events = POLLIN;
				d = slots[i].linger_until;
			}
			if (d < next)
				next = d;
		}
		int timeout = -1;
		if (next != UINT64_MAX)
			timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		int n = poll(pfds, (unsigned)nslots + 1, polling ? 0 : timeout);
		if (polling && n == 0) {
			dn_idle(dn_now_ns()); /* an exit: frames out and in, no sleep */
			dn_net_poll(0);	      /* frames in, due timers; never idles */
		}
		if (n < 0 && errno != EINTR) {
			printf("httpd: poll: errno %d\n", errno);
			return 1;
		}
		now = dn_now_ns();
		/* Service from the end: drop() moves the last slot into the hole. */
		for (int i = nslots - 1; i >= 0; i--) {
			struct slot *s = &slots[i];
			if (pfds[i + 1].revents && !service(s, now)) {
				drop(i);
				continue;
			}
			if (!s->lingering)
				http_conn_timeout(s->c, now);
			if (!service(s, now))
				drop(i);
		}
		if (pfds[0].revents & POLLIN)
			accept_all(lfd, max, now);
		if (exit_after && conns_done >= (unsigned long long)exit_after && nslots == 0) {
			/* Closed is not delivered: let the stack finish sending
			 * (retransmissions, FINs) before the VM and its stack go. */
			close(lfd);
			uint64_t end = dn_now_ns() + 5000000000ull;
			while (net_tcp_conns_in_use(dn_net_stack()) > 0 && dn_now_ns() < end)
				dn_net_poll(end);
			printf("httpd: served %llu connections, %llu requests, %llu hits\n",
			       conns_done, requests_done, (unsigned long long)site.hits);
			return 0;
		}
	}
}

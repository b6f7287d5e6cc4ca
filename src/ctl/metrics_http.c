#include "metrics_http.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	int fd;
	int64_t since; /* accepted (reading) or reply begun (writing), monotonic ms */
	char *in;      /* header_max bytes */
	size_t inlen;
	char *out; /* the whole reply, NULL while reading */
	size_t outlen, outoff;
};

struct metrics_http {
	struct metrics_http_config cfg;
	const struct ctl_backend *be;
	int lfd, efd, port;
	pthread_t thread;
	int started;
	struct conn *conns;
	struct pollfd *pfd;
	char *cache;
	size_t cachelen;
	int64_t cache_ms;
	pthread_mutex_t lock; /* stats */
	struct metrics_http_stats st;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define COUNT(m, field)                                                                            \
	do {                                                                                       \
		pthread_mutex_lock(&(m)->lock);                                                    \
		(m)->st.field++;                                                                   \
		pthread_mutex_unlock(&(m)->lock);                                                  \
	} while (0)

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t n;

	if (!colon || colon == s || !colon[1])
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535 || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, n - 2);
		host[n - 2] = 0;
	} else {
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = 0;
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
	}
	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

int metrics_http_open(const char *addr, const struct ctl_backend *be,
		      const struct metrics_http_config *cfg, struct metrics_http **out, char *err,
		      size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct metrics_http *m;
	int one = 1, r;

	if (parse_addr(addr, &ss, &sl) < 0) {
		snprintf(
		    err, errlen,
		    "--metrics %s: want ADDR:PORT (127.0.0.1:9464, [::1]:9464, localhost:9464)",
		    addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	if (!m->cfg.max_conns)
		m->cfg.max_conns = 64;
	if (!m->cfg.header_max)
		m->cfg.header_max = 8192;
	if (!m->cfg.request_ms)
		m->cfg.request_ms = 5000;
	if (!m->cfg.send_ms)
		m->cfg.send_ms = 10000;
	if (!m->cfg.cache_ms)
		m->cfg.cache_ms = 1000;
	m->be = be;
	m->efd = -1;
	pthread_mutex_init(&m->lock, NULL);
	m->conns = calloc(m->cfg.max_conns, sizeof(*m->conns));
	m->pfd = calloc(m->cfg.max_conns + 2, sizeof(*m->pfd));
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!m->conns || !m->pfd || m->lfd < 0) {
		r = m->lfd < 0 ? -errno : -ENOMEM;
		snprintf(err, errlen, "--metrics %s: %s", addr, strerror(-r));
		goto fail;
	}
	for (unsigned i = 0; i < m->cfg.max_conns; i++)
		m->conns[i].fd = -1;
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(m->lfd, 128) < 0) {
		r = -errno;
		snprintf(err, errlen, "--metrics %s: %s", addr, strerror(-r));
		goto fail;
	}
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "--metrics: eventfd: %s", strerror(-r));
		goto fail;
	}
	if (getsockname(m->lfd, (struct sockaddr *)&ss, &sl) == 0)
		m->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							: ((struct sockaddr_in6 *)&ss)->sin6_port);
	*out = m;
	return 0;
fail:
	metrics_http_close(m);
	return r;
}

int metrics_http_port(const struct metrics_http *m)
{
	return m->port;
}

void metrics_http_stats(struct metrics_http *m, struct metrics_http_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	pthread_mutex_unlock(&m->lock);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct conn){.fd = -1};
}

/* The reply, whole, in c->out: from now on the connection only writes. */
static void conn_reply(struct metrics_http *m, struct conn *c, const char *status,
		       const char *ctype, const char *body, size_t blen, int head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, ctype, blen);

	free(c->in);
	c->in = NULL;
	c->out = malloc((size_t)n + (head ? 0 : blen));
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (!head)
		memcpy(c->out + n, body, blen);
	c->outlen = (size_t)n + (head ? 0 : blen);
	c->outoff = 0;
	c->since = mono_ms();
	(void)m;
}

static void conn_error(struct metrics_http *m, struct conn *c, const char *status)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	conn_reply(m, c, status, "text/plain; charset=utf-8", body, (size_t)n, 0);
}

/* The metrics text, rendered again once the cached one is cache_ms old. */
static const char *render(struct metrics_http *m, size_t *len)
{
	int64_t now = mono_ms();
	char err[128];

	if (!m->cache || now - m->cache_ms >= (int64_t)m->cfg.cache_ms) {
		struct metrics_http_stats st;
		json_t *own;
		char *t;

		metrics_http_stats(m, &st);
		own = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "accepted",
				(json_int_t)st.accepted, "served", (json_int_t)st.served, "renders",
				(json_int_t)st.renders + 1, "timed_out", (json_int_t)st.timed_out,
				"too_large", (json_int_t)st.too_large, "bad", (json_int_t)st.bad,
				"evicted", (json_int_t)st.evicted);
		t = metrics_collect(m->be, m->cfg.vms_max, own, len, err, sizeof(err));
		json_decref(own);

		if (!t) {
			log_warn("metrics over HTTP: %s", err);
			return NULL;
		}
		free(m->cache);
		m->cache = t;
		m->cachelen = *len;
		m->cache_ms = now;
		COUNT(m, renders);
	}
	*len = m->cachelen;
	return m->cache;
}

/* A whole request head is in: answer it. */
static void conn_request(struct metrics_http *m, struct conn *c)
{
	char *line = c->in, *sp1, *sp2;
	size_t len;
	const char *text;
	int head;

	line[strcspn(line, "\r\n")] = 0;
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		COUNT(m, bad);
		conn_error(m, c, "400 Bad Request");
		return;
	}
	*sp1 = *sp2 = 0;
	head = !strcmp(line, "HEAD");
	if (!head && strcmp(line, "GET") != 0) {
		COUNT(m, bad);
		conn_error(m, c, "405 Method Not Allowed");
		return;
	}
	sp1[1 + strcspn(sp1 + 1, "?")] = 0; /* a query string is ignored */
	if (strcmp(sp1 + 1, "/metrics") != 0) {
		COUNT(m, bad);
		conn_error(m, c, "404 Not Found");
		return;
	}
	text = render(m, &len);
	if (!text) {
		conn_error(m, c, "503 Service Unavailable");
		return;
	}
	COUNT(m, served);
	conn_reply(m, c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text, len, head);
}

static void conn_read(struct metrics_http *m, struct conn *c)
{
	for (;;) {
		size_t room = m->cfg.header_max - c->inlen;
		ssize_t n;

		if (!room) {
			COUNT(m, too_large);
			conn_error(m, c, "431 Request Header Fields Too Large");
			return;
		}
		n = recv(c->fd, c->in + c->inlen, room, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = 0;
		if (memmem(c->in, c->inlen, "\r\n\r\n", 4) || memmem(c->in, c->inlen, "\n\n", 2)) {
			conn_request(m, c);
			return;
		}
	}
}

static void conn_write(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	/* All sent: close (one request per connection; what the client still sends is
	 * dropped with the socket). */
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

/* A free slot, or the one whose unfinished request is oldest (closed for the new one). */
static struct conn *conn_slot(struct metrics_http *m)
{
	struct conn *oldest = NULL;

	for (unsigned i = 0; i < m->cfg.max_conns; i++) {
		struct conn *c = &m->conns[i];

		if (c->fd < 0)
			return c;
		if (!c->out && (!oldest || c->since < oldest->since))
			oldest = c;
	}
	if (oldest) {
		COUNT(m, evicted);
		conn_close(oldest);
	}
	return oldest;
}

static void do_accept(struct metrics_http *m)
{
	for (int k = 0; k < 64; k++) {
		int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		COUNT(m, accepted);
		c = conn_slot(m);
		if (!c || !(c->in = malloc(m->cfg.header_max + 1))) {
			/* Every slot is sending a reply: this one is refused. */
			close(fd);
			continue;
		}
		c->fd = fd;
		c->since = mono_ms();
		c->inlen = 0;
	}
}

static void *http_thread(void *arg)
{
	struct metrics_http *m = arg;

	for (;;) {
		int64_t now = mono_ms(), wait = 1000;
		nfds_t n = 2;

		m->pfd[0] = (struct pollfd){.fd = m->efd, .events = POLLIN};
		m->pfd[1] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
		for (unsigned i = 0; i < m->cfg.max_conns; i++) {
			struct conn *c = &m->conns[i];
			int64_t limit, left;

			if (c->fd < 0) {
				m->pfd[2 + i].fd = -1;
				continue;
			}
			limit = c->out ? m->cfg.send_ms : m->cfg.request_ms;
			left = c->since + limit - now;
			if (left <= 0) {
				COUNT(m, timed_out);
				conn_close(c);
				m->pfd[2 + i].fd = -1;
				continue;
			}
			if (left < wait)
				wait = left;
			m->pfd[2 + i] =
			    (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
		}
		n = 2 + m->cfg.max_conns;
		if (poll(m->pfd, n, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			log_err("metrics over HTTP: poll: %s; the listener stops", strerror(errno));
			break;
		}
		if (m->pfd[0].revents)
			break;
		for (unsigned i = 0; i < m->cfg.max_conns; i++) {
			struct conn *c = &m->conns[i];
			short re = m->pfd[2 + i].revents;

			if (c->fd < 0 || m->pfd[2 + i].fd != c->fd || !re)
				continue;
			if (c->out)
				conn_write(c);
			else
				conn_read(m, c);
			if (c->fd >= 0 && c->out)
				conn_write(c); /* most replies go out at once */
		}
		if (m->pfd[1].revents)
			do_accept(m);
	}
	return NULL;
}

int metrics_http_start(struct metrics_http *m)
{
	int r = pthread_create(&m->thread, NULL, http_thread, m);

	if (r)
		return -r;
	m->started = 1;
	return 0;
}

void metrics_http_close(struct metrics_http *m)
{
	if (!m)
		return;
	if (m->started) {
		uint64_t one = 1;

		if (write(m->efd, &one, sizeof(one)) < 0)
			log_warn("metrics over HTTP: cannot wake the listener: %s",
				 strerror(errno));
		pthread_join(m->thread, NULL);
	}
	for (unsigned i = 0; m->conns && i < m->cfg.max_conns; i++)
		conn_close(&m->conns[i]);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->efd >= 0)
		close(m->efd);
	free(m->conns);
	free(m->pfd);
	free(m->cache);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

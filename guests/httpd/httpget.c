/*
 * httpget: an HTTP test client guest for the httpd integration test.
 *
 *   httpget IP PORT REQUEST...
 *   httpget IP PORT -c N REQUEST     N connections open at once
 *
 * Each REQUEST is the raw bytes of one connection, with escapes (the
 * arguments cannot hold blanks): \r \n \s (space) \\ \xHH, and \p: pause
 * 2 s before sending the rest (a slow client). For each, the client
 * connects, sends the bytes, shuts its side down and reads until the
 * server closes, then prints every response:
 *   conn K resp J: status S length L crc XXXXXXXX
 *   conn K resp J body: <the first 200 bytes, if printable>
 * and "conn K: N responses, B bytes" (bodies are checksummed as they
 * arrive, so any size works). With -c, one summary line: how many
 * responses, the first one's status, length and CRC, and how many
 * differed from it. 304 responses and 1xx have no body;
 * requests are not HEAD (a HEAD reply's length would be misread). Exit:
 * 0, or 1 when a connection could not be made or the bytes are not a
 * sequence of well-formed responses.
 */
#include <arpa/inet.h>
#include <denali/libos.h>
#include <denali/rofs.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAUSE_MARK 0x100 /* \p in a request: not a byte */

static short req[8192];

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t unescape(const char *s, short *out, size_t cap)
{
	size_t n = 0;
	while (*s && n < cap) {
		char c = *s++;
		if (c == '\\' && *s == 'p') {
			s++;
			out[n++] = PAUSE_MARK;
			continue;
		}
		if (c == '\\' && *s) {
			char e = *s++;
			if (e == 'r')
				c = '\r';
			else if (e == 'n')
				c = '\n';
			else if (e == 's')
				c = ' ';
			else if (e == 'x' && hex(s[0]) >= 0 && hex(s[1]) >= 0) {
				c = (char)(hex(s[0]) << 4 | hex(s[1]));
				s += 2;
			} else
				c = e;
		}
		out[n++] = (unsigned char)c;
	}
	return n;
}

/* Content-Length of the head [p, end) or -1. */
static long content_length(const char *p, const char *end)
{
	static const char name[] = "\r\ncontent-length:";
	for (; p + sizeof(name) - 1 <= end; p++) {
		size_t i = 0;
		while (i < sizeof(name) - 1 && (p[i] | (name[i] >= 'a' ? 0x20 : 0)) == name[i])
			i++;
		if (i == sizeof(name) - 1)
			return strtol(p + i, NULL, 10);
	}
	return -1;
}

/* Responses parsed as the bytes arrive: bodies are checksummed, not kept. */
struct rparse {
	int k, j;
	bool in_body, bad, quiet;
	char head[8192];
	size_t hlen;
	long left, blen;
	int status;
	uint32_t crc;
	char show[201];
	size_t nshow;
	unsigned long total;
	/* for -c: what every response should look like */
	int first_status;
	uint32_t first_crc;
	long first_len;
	int odd;
};

static void emit(struct rparse *r)
{
	if (r->quiet) {
		if (r->k == 0 && r->j == 0) {
			r->first_status = r->status;
			r->first_crc = r->crc;
			r->first_len = r->blen;
		} else if (r->status != r->first_status || r->crc != r->first_crc ||
			   r->blen != r->first_len) {
			r->odd++;
		}
		r->j++;
		return;
	}
	printf("conn %d resp %d: status %d length %ld crc %08x\n", r->k, r->j, r->status, r->blen,
	       r->crc);
	int printable = r->nshow > 0;
	for (size_t i = 0; i < r->nshow; i++) {
		if ((unsigned char)r->show[i] < 0x20 && r->show[i] != '\n')
			printable = 0;
		if (r->show[i] == '\n')
			r->show[i] = ' ';
	}
	r->show[r->nshow] = '\0';
	if (printable)
		printf("conn %d resp %d body: %s\n", r->k, r->j, r->show);
	r->j++;
}

static void head_done(struct rparse *r)
{
	const char *end = r->head + r->hlen;
	if (r->hlen < 12 || memcmp(r->head, "HTTP/1.1 ", 9) != 0) {
		r->bad = true;
		return;
	}
	r->status = atoi(r->head + 9);
	long cl = content_length(r->head, end - 2);
	r->blen = r->status == 304 || r->status < 200 || cl < 0 ? 0 : cl;
	r->left = r->blen;
	r->crc = 0;
	r->nshow = 0;
	r->hlen = 0;
	if (r->left == 0)
		emit(r);
	else
		r->in_body = true;
}

static void feed(struct rparse *r, const char *p, size_t n)
{
	r->total += n;
	while (n > 0 && !r->bad) {
		if (!r->in_body) {
			if (r->hlen == sizeof(r->head)) {
				r->bad = true;
				return;
			}
			r->head[r->hlen++] = *p++;
			n--;
			if (r->hlen >= 4 && !memcmp(r->head + r->hlen - 4, "\r\n\r\n", 4))
				head_done(r);
			continue;
		}
		size_t m = (size_t)r->left < n ? (size_t)r->left : n;
		r->crc = rofs_crc32(r->crc, p, m);
		for (size_t i = 0; i < m && r->nshow < sizeof(r->show) - 1; i++)
			r->show[r->nshow++] = p[i];
		p += m;
		n -= m;
		r->left -= (long)m;
		if (r->left == 0) {
			r->in_body = false;
			emit(r);
		}
	}
}

static int finish(struct rparse *r)
{
	if (r->bad || r->in_body || r->hlen > 0) {
		printf("conn %d resp %d: malformed or cut short (%s)\n", r->k, r->j,
		       r->in_body ? "body" : "head");
		return -1;
	}
	if (!r->quiet)
		printf("conn %d: %d responses, %lu bytes\n", r->k, r->j, r->total);
	return 0;
}

static int connect_to(const struct sockaddr_in *a)
{
	for (int tries = 0; tries < 300; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0)
			return fd;
		close(fd); /* the server VM may not be listening yet: it verifies
			    * its whole disk first (11 MiB in httpd.sh), so allow 30 s */
		msleep(100);
	}
	return -1;
}

/* Send the request bytes, honouring pauses; then shut our side down. */
static void send_req(int fd, int k, const short *q, size_t n)
{
	for (size_t i = 0; i < n;) {
		char chunk[512];
		size_t m = 0;
		if (q[i] == PAUSE_MARK) {
			msleep(2000);
			i++;
			continue;
		}
		while (i < n && q[i] != PAUSE_MARK && m < sizeof(chunk))
			chunk[m++] = (char)q[i++];
		for (size_t off = 0; off < m;) {
			long w = send(fd, chunk + off, m - off, 0);
			if (w <= 0) {
				printf("conn %d: send: errno %d\n", k, errno);
				return;
			}
			off += (size_t)w;
		}
	}
	shutdown(fd, SHUT_WR);
}

static void receive(int fd, struct rparse *r)
{
	static char buf[16384];
	for (;;) {
		long n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		feed(r, buf, (size_t)n);
	}
	close(fd);
}

/* -c N: N connections open at once, the same request on each. */
static int concurrent(const struct sockaddr_in *a, int count, const char *arg)
{
	static int fds[256];
	static struct rparse r;
	size_t n = unescape(arg, req, sizeof(req));

	memset(&r, 0, sizeof(r));
	r.quiet = true;
	for (int k = 0; k < count; k++) {
		fds[k] = connect_to(a);
		if (fds[k] < 0) {
			printf("concurrent: connection %d failed (errno %d)\n", k, errno);
			return 1;
		}
	}
	for (int k = 0; k < count; k++)
		send_req(fds[k], k, req, n);
	int bad = 0;
	for (int k = 0; k < count; k++) {
		r.k = k;
		receive(fds[k], &r);
		if (finish(&r) < 0)
			bad = 1;
		r.hlen = 0;
		r.in_body = r.bad = false;
	}
	printf("concurrent: %d connections open at once, %d responses, first status %d length %ld "
	       "crc %08x, %d different\n",
	       count, r.j, r.first_status, r.first_len, r.first_crc, r.odd);
	return bad || r.odd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int bad = 0;

	if (argc < 4) {
		printf("usage: httpget IP PORT REQUEST...\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		printf("httpget: bad address %s\n", argv[1]);
		return 2;
	}
	if (argc == 6 && !strcmp(argv[3], "-c")) {
		int count = atoi(argv[4]);
		if (count < 1 || count > 256) {
			printf("httpget: -c takes 1..256\n");
			return 2;
		}
		return concurrent(&a, count, argv[5]);
	}
	for (int k = 0; k + 3 < argc; k++) {
		static struct rparse r;
		size_t n = unescape(argv[k + 3], req, sizeof(req));
		int fd = connect_to(&a);
		if (fd < 0) {
			printf("conn %d: cannot connect (errno %d)\n", k, errno);
			return 1;
		}
		send_req(fd, k, req, n);
		memset(&r, 0, sizeof(r));
		r.k = k;
		receive(fd, &r);
		if (finish(&r) < 0)
			bad = 1;
	}
	return bad;
}

/*
 * httpget: an HTTP test client guest for the httpd integration test.
 *
 *   httpget IP PORT REQUEST...
 *
 * Each REQUEST is the raw bytes of one connection, with escapes (the
 * arguments cannot hold blanks): \r \n \s (space) \\ \xHH, and \p: pause
 * 2 s before sending the rest (a slow client). For each, the client
 * connects, sends the bytes, shuts its side down and reads until the
 * server closes, then prints every response:
 *   conn K resp J: status S length L crc XXXXXXXX
 *   conn K resp J body: <the first 200 bytes, if printable>
 * and "conn K: N responses, B bytes". 304 responses and 1xx have no body;
 * requests are not HEAD (a HEAD reply's length would be misread). Exit:
 * 0, or 1 when a connection could not be made or the bytes are not a
 * sequence of well-formed responses.
 */
#include <arpa/inet.h>
#include <denali/libos.h>
#include <denali/rofs.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESP_MAX (2u << 20)

#define PAUSE_MARK 0x100 /* \p in a request: not a byte */

static short req[8192];
static char resp[RESP_MAX];

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

static const char *find(const char *p, const char *end, const char *needle)
{
	size_t m = strlen(needle);
	for (; p + m <= end; p++)
		if (!memcmp(p, needle, m))
			return p;
	return NULL;
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

static int report(int k, const char *p, size_t len)
{
	const char *end = p + len;
	int j = 0;

	while (p < end) {
		const char *blank = find(p, end, "\r\n\r\n");
		if (end - p < 12 || memcmp(p, "HTTP/1.1 ", 9) || !blank) {
			printf("conn %d resp %d: malformed (%ld bytes left)\n", k, j,
			       (long)(end - p));
			return -1;
		}
		int status = atoi(p + 9);
		long cl = content_length(p, blank + 2);
		const char *body = blank + 4;
		long blen = status == 304 || status < 200 || cl < 0 ? 0 : cl;
		if (blen > end - body) {
			printf("conn %d resp %d: status %d, body cut at %ld of %ld\n", k, j, status,
			       (long)(end - body), blen);
			return -1;
		}
		printf("conn %d resp %d: status %d length %ld crc %08x\n", k, j, status, blen,
		       rofs_crc32(0, body, (size_t)blen));
		long show = blen < 200 ? blen : 200;
		int printable = 1;
		for (long i = 0; i < show; i++)
			if ((unsigned char)body[i] < 0x20 && body[i] != '\n')
				printable = 0;
		if (printable && show > 0) {
			char line[256];
			size_t n = 0;
			for (long i = 0; i < show; i++)
				line[n++] = body[i] == '\n' ? ' ' : body[i];
			line[n] = '\0';
			printf("conn %d resp %d body: %s\n", k, j, line);
		}
		p = body + blen;
		j++;
	}
	printf("conn %d: %d responses, %lu bytes\n", k, j, (unsigned long)len);
	return 0;
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
	for (int k = 0; k + 3 < argc; k++) {
		size_t n = unescape(argv[k + 3], req, sizeof(req)), got = 0;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int tries = 0;
		while (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			/* the server VM may not be listening yet */
			close(fd);
			if (++tries == 50) {
				fd = -1;
				break;
			}
			msleep(100);
			fd = socket(AF_INET, SOCK_STREAM, 0);
		}
		if (fd < 0) {
			printf("conn %d: cannot connect (errno %d)\n", k, errno);
			return 1;
		}
		for (size_t i = 0; i < n;) {
			char chunk[512];
			size_t m = 0;
			if (req[i] == PAUSE_MARK) {
				msleep(2000);
				i++;
				continue;
			}
			while (i < n && req[i] != PAUSE_MARK && m < sizeof(chunk))
				chunk[m++] = (char)req[i++];
			for (size_t off = 0; off < m;) {
				long w = send(fd, chunk + off, m - off, 0);
				if (w <= 0) {
					printf("conn %d: send: errno %d\n", k, errno);
					i = n;
					break;
				}
				off += (size_t)w;
			}
		}
		shutdown(fd, SHUT_WR);
		for (;;) {
			long r = recv(fd, resp + got, sizeof(resp) - got, 0);
			if (r <= 0)
				break;
			got += (size_t)r;
			if (got == sizeof(resp))
				break;
		}
		close(fd);
		if (report(k, resp, got) < 0)
			bad = 1;
	}
	return bad;
}

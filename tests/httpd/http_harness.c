/*
 * Host harness for the HTTP core (see http_harness.h).
 */
#include "http_harness.h"

#include "rofs_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int mem_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	struct harness *h = ctx;
	uint64_t off = sector * ROFS_SECTOR, len = (uint64_t)n * ROFS_SECTOR;
	if (off > h->img_len || len > h->img_len - off)
		return -EIO;
	memcpy(buf, h->img + off, len);
	return 0;
}

int harness_init(struct harness *h)
{
	struct rofs_build b;
	static const char css[] = "body { color: #333 }\n";
	static const char docs[] = "<!doctype html><title>docs</title>\n";
	static const char txt[] = "a text file with a space in its name\n";
	int rc;

	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < sizeof(h->index); i++)
		h->index[i] = (char)('a' + i % 26);
	memcpy(h->index, "<!doctype html>", 15);
	h->index[sizeof(h->index) - 1] = '\n';
	for (size_t i = 0; i < sizeof(h->big); i++)
		h->big[i] = (uint8_t)(i * 7 + (i >> 8));
	rofs_build_init(&b);
	rc = rofs_build_add_mem(&b, "index.html", h->index, sizeof(h->index), H_MTIME);
	if (!rc)
		rc = rofs_build_add_mem(&b, "big.bin", h->big, sizeof(h->big), H_MTIME + 1);
	if (!rc)
		rc = rofs_build_add_dir(&b, "docs", H_MTIME);
	if (!rc)
		rc = rofs_build_add_mem(&b, "docs/index.html", docs, sizeof(docs) - 1, H_MTIME);
	if (!rc)
		rc = rofs_build_add_mem(&b, "docs/style.css", css, sizeof(css) - 1, H_MTIME);
	if (!rc)
		rc = rofs_build_add_mem(&b, "docs/a b.txt", txt, sizeof(txt) - 1, H_MTIME);
	if (!rc)
		rc = rofs_build_add_dir(&b, "empty", H_MTIME);
	if (!rc)
		rc = rofs_build_write_mem(&b, &h->img, &h->img_len);
	rofs_build_free(&b);
	if (!rc)
		rc = rofs_mount(&h->fs, mem_read, h, h->img_len / ROFS_SECTOR);
	if (rc)
		return rc;
	http_site_init(&h->site, &h->fs);
	return 0;
}

void harness_free(struct harness *h)
{
	free(h->img);
	h->img = NULL;
}

void sink_free(struct sink *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			abort();
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

size_t drain(struct http_conn *c, struct sink *s, size_t chunk, uint64_t now)
{
	size_t moved = 0, n;
	for (;;) {
		const char *p = http_conn_obuf(c, &n);
		if (n == 0)
			return moved;
		if (chunk && n > chunk)
			n = chunk;
		sink_put(s, p, n);
		http_conn_sent(c, n, now);
		moved += n;
	}
}

size_t feed_all(struct http_conn *c, struct sink *s, const void *data, size_t len, size_t step,
		uint64_t now)
{
	size_t done = 0;
	while (done < len && !http_conn_done(c)) {
		size_t n = step && len - done > step ? step : len - done;
		size_t got = http_conn_feed(c, (const char *)data + done, n, now);
		done += got;
		if (drain(c, s, 0, now) == 0 && got == 0)
			break; /* refused input and nothing to send: stuck */
	}
	drain(c, s, 0, now);
	return done;
}

static const char *find(const char *p, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(p + i, needle, m))
			return p + i;
	return NULL;
}

const char *field(const struct response *r, const char *name, char *buf, size_t cap)
{
	size_t m = strlen(name);
	const char *p = r->head, *end = r->head + r->head_len;
	while (p < end) {
		const char *eol = find(p, (size_t)(end - p), "\r\n");
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > m && p[m] == ':' && !strncasecmp(p, name, m)) {
			const char *v = p + m + 1;
			while (v < eol && *v == ' ')
				v++;
			size_t n = (size_t)(eol - v) < cap - 1 ? (size_t)(eol - v) : cap - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return buf;
		}
		p = eol + 2;
	}
	return NULL;
}

int split_responses(const struct sink *s, const bool *head_only, size_t nhead, struct response *out,
		    int max)
{
	const char *p = s->buf, *end = s->buf + s->len;
	int n = 0;
	char v[64];

	while (p < end) {
		if (n == max)
			return -1;
		struct response *r = &out[n];
		if (end - p < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
			return -1;
		const char *blank = find(p, (size_t)(end - p), "\r\n\r\n");
		if (!blank)
			return -1;
		r->status = atoi(p + 9);
		r->head = p;
		r->head_len = (size_t)(blank - p) + 2;
		r->body = blank + 4;
		r->body_len = 0;
		const char *cl = field(r, "Content-Length", v, sizeof(v));
		bool head = (size_t)n < nhead && head_only && head_only[n];
		if (cl && !head && r->status != 304)
			r->body_len = strtoull(cl, NULL, 10);
		if (r->body_len > (size_t)(end - r->body))
			return -1;
		p = r->body + r->body_len;
		n++;
	}
	return n;
}

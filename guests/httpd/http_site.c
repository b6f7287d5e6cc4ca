/*
 * The site: routing, static files, the dynamic pages, error replies.
 *
 * Request targets are percent-decoded once, into a bounded buffer; a path
 * that decodes to a NUL or has dot-segments is refused (400), so no target
 * can name anything outside the image. Dynamic output is HTML-escaped.
 */
#include "http_site.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void http_site_init(struct http_site *site, struct rofs *fs)
{
	memset(site, 0, sizeof(*site));
	site->fs = fs;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"woff2", "font/woff2"},
};

const char *http_content_type(const char *path, size_t len)
{
	size_t dot = len;
	for (size_t i = len; i > 0; i--) {
		if (path[i - 1] == '/')
			break;
		if (path[i - 1] == '.') {
			dot = i - 1;
			break;
		}
	}
	if (dot < len) {
		const char *e = path + dot + 1;
		size_t n = len - dot - 1;
		for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
			size_t m = strlen(types[i].ext);
			if (m != n)
				continue;
			size_t k = 0;
			while (k < n && (e[k] | 0x20) == types[i].ext[k])
				k++;
			if (k == n)
				return types[i].type;
		}
	}
	return "application/octet-stream";
}

static void reply_init(struct http_reply *r, int status)
{
	r->status = status;
	r->content_type = NULL;
	r->length = 0;
	r->has_last_modified = false;
	r->last_modified = 0;
	r->no_store = false;
	r->close = false;
	r->extra[0] = '\0';
	r->body = HTTP_BODY_NONE;
}

void http_site_error(int status, struct http_reply *r)
{
	reply_init(r, status);
	int n = snprintf(r->mem, sizeof(r->mem), "%d %s\n", status, http_status_text(status));
	r->content_type = "text/plain; charset=utf-8";
	r->length = (uint64_t)n;
	r->body = HTTP_BODY_MEM;
	if (status == 405)
		snprintf(r->extra, sizeof(r->extra), "Allow: GET, HEAD\r\n");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decode s[0, n) into out (at most cap bytes; the rest is counted
 * in *full but dropped). `plus` turns '+' into a space (query strings).
 * Returns 0, or -EINVAL for a bad escape or a decoded NUL.
 */
static int pct_decode(const char *s, size_t n, bool plus, char *out, size_t cap, size_t *len)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (n - i < 3)
				return -EINVAL;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return -EINVAL;
			i += 2;
		} else if (plus && c == '+') {
			c = ' ';
		}
		if (o < cap)
			out[o] = c;
		o++;
	}
	*len = o;
	return 0;
}

/* Append s[0, n) to the body, HTML-escaped; false when it would not fit. */
static bool put_escaped(struct http_reply *r, size_t *len, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		char one[2] = {s[i], '\0'};
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rep = (unsigned char)s[i] < 0x20 ? "?" : one;
			break;
		}
		size_t m = strlen(rep);
		if (m > sizeof(r->mem) - *len)
			return false;
		memcpy(r->mem + *len, rep, m);
		*len += m;
	}
	return true;
}

static bool put_str(struct http_reply *r, size_t *len, const char *s)
{
	size_t m = strlen(s);
	if (m > sizeof(r->mem) - *len)
		return false;
	memcpy(r->mem + *len, s, m);
	*len += m;
	return true;
}

static void dynamic(struct http_reply *r, const char *type, size_t len)
{
	r->content_type = type;
	r->length = len;
	r->body = HTTP_BODY_MEM;
	r->no_store = true;
}

/* /hello?name=NAME: a greeting with the name escaped, and the hit count. */
static void hello(struct http_site *site, const char *query, size_t qn, struct http_reply *r)
{
	char name[HTTP_NAME_MAX];
	size_t name_len = 0, len = 0;
	bool have = false;

	for (size_t i = 0; i < qn;) {
		size_t j = i;
		while (j < qn && query[j] != '&')
			j++;
		if (j - i >= 5 && !memcmp(query + i, "name=", 5) && !have) {
			size_t full;
			if (pct_decode(query + i + 5, j - i - 5, true, name, sizeof(name), &full) <
			    0) {
				http_site_error(400, r);
				return;
			}
			name_len = full < sizeof(name) ? full : sizeof(name);
			have = true;
		}
		i = j + 1;
	}
	if (!have || name_len == 0) {
		memcpy(name, "world", 5);
		name_len = 5;
	}
	char count[32];
	snprintf(count, sizeof(count), "%llu", (unsigned long long)site->hits);
	reply_init(r, 200);
	bool ok = put_str(r, &len,
			  "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
			  "<title>Hello</title></head>\n<body><p>Hello, ") &&
		  put_escaped(r, &len, name, name_len) &&
		  put_str(r, &len, "!</p>\n<p>This VM has answered ") && put_str(r, &len, count) &&
		  put_str(r, &len, " requests.</p></body></html>\n");
	if (!ok) {
		http_site_error(500, r);
		return;
	}
	dynamic(r, "text/html; charset=utf-8", len);
}

static void hits(struct http_site *site, struct http_reply *r)
{
	reply_init(r, 200);
	int n = snprintf(r->mem, sizeof(r->mem), "%llu\n", (unsigned long long)site->hits);
	dynamic(r, "text/plain; charset=utf-8", (size_t)n);
}

static void file_reply(struct http_reply *r, const struct http_request *req,
		       const struct rofs_stat *st, const char *path, size_t n)
{
	reply_init(r, 200);
	r->content_type = http_content_type(path, n);
	r->has_last_modified = true;
	r->last_modified = st->mtime;
	if (req->has_ims && st->mtime <= req->ims) {
		r->status = 304; /* no body, no Content-Length */
		r->content_type = NULL;
		return;
	}
	r->length = st->size;
	r->body = HTTP_BODY_FILE;
	r->file = *st;
}

static void static_file(struct http_site *site, const struct http_request *req, const char *raw,
			size_t rn, struct http_reply *r)
{
	char path[ROFS_PATH_MAX + 12]; /* room for "/index.html" */
	size_t n;
	struct rofs_stat st;

	if (pct_decode(raw, rn, false, path, sizeof(path), &n) < 0) {
		http_site_error(400, r);
		return;
	}
	if (n > ROFS_PATH_MAX + 1) {
		http_site_error(404, r); /* longer than any path of the image */
		return;
	}
	/* path[0] is '/' (origin-form); "/" and "/dir/" mean their index.html */
	const char *p = path + 1;
	n -= 1;
	bool dir_slash = n == 0 || p[n - 1] == '/';
	if (n > 0 && p[n - 1] == '/')
		n--;
	int rc = site->fs ? rofs_lookup(site->fs, p, n, &st) : -ENOENT;
	if (rc == -EINVAL) {
		http_site_error(400, r); /* dot-segments, empty segments */
		return;
	}
	if (rc == 0 && st.type == ROFS_TYPE_DIR) {
		if (!dir_slash) {
			http_site_error(301, r);
			snprintf(r->extra, sizeof(r->extra), "Location: %.*s/\r\n", (int)rn, raw);
			return;
		}
		memcpy(path + 1 + n, n ? "/index.html" : "index.html", n ? 11 : 10);
		n += n ? 11 : 10;
		rc = rofs_lookup(site->fs, p, n, &st);
		if (rc == 0 && st.type != ROFS_TYPE_FILE)
			rc = -ENOENT;
	} else if (rc == 0 && dir_slash) {
		rc = -ENOENT; /* "/file.html/" */
	}
	if (rc == -EIO || (rc < 0 && rc != -ENOENT && rc != -ENAMETOOLONG)) {
		http_site_error(500, r);
		return;
	}
	if (rc < 0) {
		http_site_error(404, r);
		return;
	}
	file_reply(r, req, &st, p, n);
}

void http_site_respond(struct http_site *site, const struct http_request *req, struct http_reply *r)
{
	site->hits++;
	if (req->method == HTTP_OTHER) {
		http_site_error(405, r);
		return;
	}
	const char *q = memchr(req->target, '?', req->target_len);
	size_t pn = q ? (size_t)(q - req->target) : req->target_len;
	const char *query = q ? q + 1 : "";
	size_t qn = q ? req->target_len - pn - 1 : 0;

	if (memchr(req->target, '#', req->target_len)) {
		http_site_error(400, r); /* fragments are never sent */
		return;
	}
	if (pn == 6 && !memcmp(req->target, "/hello", 6)) {
		hello(site, query, qn, r);
		return;
	}
	if (pn == 5 && !memcmp(req->target, "/hits", 5)) {
		hits(site, r);
		return;
	}
	static_file(site, req, req->target, pn, r);
}

/*
 * HTTP/1.1 request-head parser. One pass over the bytes available, line by
 * line, validating each complete line and the prefix of an incomplete one,
 * so that garbage is refused as soon as it is seen instead of once the head
 * buffer is full. Re-run from the start when more bytes arrive (a head is
 * at most HTTP_HEAD_MAX bytes, so this stays cheap and stateless).
 */
#include "http_parse.h"

#include "http_date.h"

#include <string.h>

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive equality of s[0, n) with the lower-case literal `lit`. */
static bool ieq(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	if (n != m)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

size_t http_parse_skip_empty(const char *buf, size_t len)
{
	size_t i = 0;
	while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
		i += 2;
	return i;
}

/* "HTTP/" DIGIT "." DIGIT, as far as `n` bytes go. */
static bool version_prefix_ok(const char *v, size_t n)
{
	static const char pat[] = "HTTP/9.9";
	if (n > 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (pat[i] == '9') {
			if (v[i] < '0' || v[i] > '9')
				return false;
		} else if (v[i] != pat[i]) {
			return false;
		}
	}
	return true;
}

/* Characters of a Host value or an authority: reg-name, IP literals, port
 * (RFC 3986 unreserved, pct-encoded, sub-delims, ':', '[' and ']'). */
static bool host_ok(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._~%!$&'()*+,;=:[]", c)))
			return false;
	}
	return true;
}

/*
 * Origin-form ("/path?query") as it is; absolute-form ("http://host/path",
 * which a server must accept, RFC 9112 section 3.2.2) reduced to its path,
 * "/" when it has none. Anything else (authority-form, asterisk-form) is 400.
 */
static int target_form(struct http_request *req)
{
	const char *t = req->target;
	size_t n = req->target_len, skip;

	if (t[0] == '/')
		return 0;
	if (n >= 7 && ieq(t, 7, "http://"))
		skip = 7;
	else if (n >= 8 && ieq(t, 8, "https://"))
		skip = 8;
	else
		return 400;
	size_t a = skip;
	while (a < n && t[a] != '/' && t[a] != '?')
		a++;
	if (a == skip || !host_ok(t + skip, a - skip))
		return 400;
	req->abs_authority = true;
	if (a == n || t[a] == '?') {
		static const char root[] = "/";
		/* "http://host" or "http://host?q": the path is "/" (the query,
		 * if any, is dropped with the authority: nothing here uses it) */
		req->target = root;
		req->target_len = 1;
		return 0;
	}
	req->target = t + a;
	req->target_len = n - a;
	return 0;
}

/* The request line l[0, n); `partial` if its CRLF has not arrived yet. */
static int request_line(const char *l, size_t n, bool partial, struct http_request *req)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i > HTTP_METHOD_MAX)
		return 400;
	if (i == n)
		return partial ? HTTP_PARSE_MORE : 400;
	if (i == 0 || l[i] != ' ')
		return 400;
	if (i == 3 && !memcmp(l, "GET", 3))
		req->method = HTTP_GET;
	else if (i == 4 && !memcmp(l, "HEAD", 4))
		req->method = HTTP_HEAD;
	else
		req->method = HTTP_OTHER; /* methods are case-sensitive */

	size_t t0 = ++i;
	while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
		i++;
	if (i - t0 > HTTP_TARGET_MAX)
		return 414;
	if (i == n)
		return partial ? HTTP_PARSE_MORE : 400;
	if (i == t0 || l[i] != ' ')
		return 400;
	req->target = l + t0;
	req->target_len = i - t0;

	const char *v = l + i + 1;
	size_t vn = n - i - 1;
	if (!version_prefix_ok(v, vn))
		return 400;
	if (partial)
		return HTTP_PARSE_MORE;
	if (vn != 8)
		return 400;
	if (v[5] != '1')
		return 505;
	req->minor = v[7] == '0' ? 0 : 1; /* 1.x, x > 1: answered as 1.1 */
	return target_form(req);
}

struct seen {
	bool content_length, transfer_encoding, conn_close, conn_keep_alive;
	unsigned hosts;
};

static int content_length(const char *v, size_t n, struct http_request *req)
{
	uint64_t x = 0;

	if (n == 0 || n > 19)
		return n == 0 ? 400 : 413; /* 20 digits may not fit 64 bits */
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 400; /* no sign, no spaces, no lists */
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > HTTP_BODY_MAX)
		return 413;
	req->body_len = x;
	return 0;
}

static void connection_tokens(const char *v, size_t n, struct seen *s)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t t = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (ieq(v + t, i - t, "close"))
			s->conn_close = true;
		else if (ieq(v + t, i - t, "keep-alive"))
			s->conn_keep_alive = true;
	}
}

/* One field line l[0, n) (complete, CTLs other than HT already refused). */
static int field_line(const char *l, size_t n, struct http_request *req, struct seen *s)
{
	size_t i = 0;

	if (l[0] == ' ' || l[0] == '\t')
		return 400; /* obs-fold */
	while (i < n && is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return 400; /* includes whitespace before the colon */
	const char *name = l;
	size_t name_len = i;
	const char *v = l + i + 1;
	size_t vn = n - i - 1;
	while (vn > 0 && (v[0] == ' ' || v[0] == '\t'))
		v++, vn--;
	while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
		vn--;

	if (++req->headers > HTTP_HEADERS_MAX)
		return 431;
	if (ieq(name, name_len, "content-length")) {
		if (s->content_length)
			return 400; /* even with the same value */
		s->content_length = true;
		return content_length(v, vn, req);
	}
	if (ieq(name, name_len, "transfer-encoding")) {
		if (s->transfer_encoding)
			return 400;
		s->transfer_encoding = true;
		if (!ieq(v, vn, "chunked"))
			return 501;
		req->chunked = true;
		return 0;
	}
	if (ieq(name, name_len, "host")) {
		if (++s->hosts > 1 || !host_ok(v, vn))
			return 400; /* RFC 9112 section 3.2: one, and valid */
		return 0;
	}
	if (ieq(name, name_len, "connection")) {
		connection_tokens(v, vn, s);
		return 0;
	}
	if (ieq(name, name_len, "if-modified-since") && !req->has_ims) {
		if (http_date_parse(v, vn, &req->ims) == 0)
			req->has_ims = true; /* an invalid date is ignored (RFC 9110) */
		return 0;
	}
	return 0;
}

static int head_done(struct http_request *req, const struct seen *s)
{
	if (s->content_length && s->transfer_encoding)
		return 400; /* the classic smuggling pair */
	if (s->transfer_encoding && req->minor == 0)
		return 400; /* HTTP/1.0 has no transfer codings */
	if (req->minor == 1 && s->hosts == 0)
		return 400;
	if (req->minor == 1)
		req->keep_alive = !s->conn_close;
	else
		req->keep_alive = s->conn_keep_alive && !s->conn_close;
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct seen s = {0};
	size_t lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	size_t pos = 0;
	unsigned line = 0;
	int rc;

	memset(req, 0, sizeof(*req));
	for (;;) {
		size_t i = pos;
		bool complete = false;
		while (i < lim) {
			unsigned char c = (unsigned char)buf[i];
			if (c == '\r') {
				if (i + 1 >= lim)
					break; /* its LF may still come */
				if (buf[i + 1] != '\n')
					return 400; /* bare CR */
				complete = true;
				break;
			}
			if (c == '\n')
				return 400; /* bare LF */
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return 400;
			i++;
		}
		if (!complete) {
			if (line == 0) {
				rc = request_line(buf + pos, i - pos, true, req);
				if (rc != HTTP_PARSE_MORE)
					return rc;
			}
			if (len >= HTTP_HEAD_MAX)
				return line == 0 ? 414 : 431;
			return HTTP_PARSE_MORE;
		}
		if (line == 0) {
			rc = request_line(buf + pos, i - pos, false, req);
		} else if (i == pos) {
			req->head_len = i + 2;
			return head_done(req, &s);
		} else {
			rc = field_line(buf + pos, i - pos, req, &s);
		}
		if (rc != 0)
			return rc;
		pos = i + 2;
		line++;
	}
}

/*
 * The connection state machine. pump() is the one place that makes
 * progress: it streams the current file body, drops request-body bytes,
 * and parses and answers the next request while there is room for a full
 * reply head (HTTP_OUT_RESERVE), in that order, until it must wait for
 * input, for the transport to take output, or for the deadline.
 */
#include "http_conn.h"

#include "http_date.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000ull
/* Room a reply head plus an in-memory body always fits in. */
#define HTTP_OUT_RESERVE (HTTP_EXTRA_MAX + HTTP_DYN_MAX + 512u)

_Static_assert(HTTP_OUT_RESERVE < HTTP_OUT_CAP, "a reply fits the output buffer");

const struct http_limits http_limits_default = {
    .request_ns = 10 * NS_PER_S,
    .idle_ns = 30 * NS_PER_S,
    .send_ns = 30 * NS_PER_S,
};

void http_conn_init(struct http_conn *c, struct http_site *site, const struct http_limits *limits,
		    uint64_t now)
{
	memset(c, 0, offsetof(struct http_conn, in)); /* the buffers need no clearing */
	c->site = site;
	c->limits = limits ? *limits : http_limits_default;
	c->last_progress = now;
}

static bool out_pending(const struct http_conn *c)
{
	return c->out_len > c->out_off;
}

static size_t out_room(struct http_conn *c)
{
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	return HTTP_OUT_CAP - c->out_len;
}

static void in_consume(struct http_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Appends formatted text; false (and nothing appended) if it does not fit. */
static bool put(struct http_conn *c, const char *fmt, ...)
{
	size_t room = HTTP_OUT_CAP - c->out_len;
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(c->out + c->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return false;
	c->out_len += (size_t)n;
	return true;
}

static void start_closing(struct http_conn *c)
{
	c->closing = true;
	c->in_len = 0; /* pipelined requests after this one are not answered */
	c->discard = 0;
	c->in_request = false;
}

/* Queue the reply's head (and in-memory body) and set up its file body. */
static void emit(struct http_conn *c, const struct http_reply *r, bool head_only, bool close,
		 int minor)
{
	size_t mark;
	bool ok;

	out_room(c);
	mark = c->out_len;
	ok = put(c, "HTTP/1.1 %d %s\r\nServer: denali\r\n", r->status, http_status_text(r->status));
	if (ok && r->content_type)
		ok = put(c, "Content-Type: %s\r\n", r->content_type);
	if (ok && r->status != 304)
		ok = put(c, "Content-Length: %llu\r\n", (unsigned long long)r->length);
	if (ok && r->has_last_modified) {
		char date[HTTP_DATE_LEN + 1];
		http_date_format(r->last_modified, date);
		ok = put(c, "Last-Modified: %s\r\n", date);
	}
	if (ok && r->no_store)
		ok = put(c, "Cache-Control: no-store\r\n");
	if (ok && r->extra[0])
		ok = put(c, "%s", r->extra);
	if (ok && close)
		ok = put(c, "Connection: close\r\n");
	else if (ok && minor == 0)
		ok = put(c, "Connection: keep-alive\r\n");
	if (ok)
		ok = put(c, "\r\n");
	if (ok && !head_only && r->body == HTTP_BODY_MEM) {
		if (r->length > HTTP_OUT_CAP - c->out_len) {
			ok = false;
		} else {
			memcpy(c->out + c->out_len, r->mem, r->length);
			c->out_len += r->length;
		}
	}
	if (!ok) {
		/* Cannot happen with HTTP_OUT_RESERVE free; never send half a head. */
		c->out_len = mark;
		start_closing(c);
		return;
	}
	c->stats.requests++;
	if (!head_only && r->body == HTTP_BODY_FILE && r->length > 0) {
		c->file = r->file;
		c->file_off = 0;
		c->file_end = r->length;
	}
	if (close)
		start_closing(c);
}

static void error_reply(struct http_conn *c, int status)
{
	struct http_reply r;
	http_site_error(status, &r);
	c->stats.errors++;
	emit(c, &r, false, true, 1);
}

static void answer(struct http_conn *c, const struct http_request *req)
{
	struct http_reply r;

	http_site_respond(c->site, req, &r);
	in_consume(c, req->head_len);
	bool close = !req->keep_alive || req->chunked || r.close;
	c->discard = req->chunked ? 0 : req->body_len;
	c->in_request = c->discard > 0; /* the body is part of the request */
	emit(c, &r, req->method == HTTP_HEAD, close, req->minor);
}

static void pump(struct http_conn *c, uint64_t now)
{
	struct http_request req;

	while (!c->closed) {
		if (c->file_off < c->file_end) {
			size_t room = out_room(c);
			if (room == 0)
				return; /* the transport must take output first */
			uint64_t want = c->file_end - c->file_off;
			if (want > room)
				want = room;
			int64_t n =
			    c->site->fs
				? http_cache_pread(c->site->cache, c->site->fs, &c->file,
						   c->file_off, c->out + c->out_len, (size_t)want)
				: -1;
			if (n <= 0) {
				/* The head is out: a short body and a close is all we can do. */
				c->file_end = c->file_off;
				start_closing(c);
				continue;
			}
			c->out_len += (size_t)n;
			c->file_off += (uint64_t)n;
			continue;
		}
		if (c->discard > 0) {
			size_t n = c->in_len < c->discard ? c->in_len : (size_t)c->discard;
			in_consume(c, n);
			c->discard -= n;
			if (c->discard > 0) {
				if (c->peer_eof)
					start_closing(c);
				else
					return;
			}
			c->in_request = false;
			continue;
		}
		if (c->closing) {
			if (!out_pending(c))
				c->closed = true;
			return;
		}
		in_consume(c, http_parse_skip_empty(c->in, c->in_len));
		if (c->in_len == 0) {
			c->in_request = false;
			if (c->peer_eof) {
				start_closing(c);
				continue;
			}
			return;
		}
		if (!c->in_request) {
			c->in_request = true;
			c->request_start = now;
		}
		if (out_room(c) < HTTP_OUT_RESERVE)
			return; /* answer when the client has read what is queued */
		int rc = http_parse_request(c->in, c->in_len, &req);
		if (rc == HTTP_PARSE_MORE) {
			if (c->peer_eof)
				start_closing(c); /* half a request: nothing to answer */
			else
				return;
			continue;
		}
		if (rc > 0) {
			error_reply(c, rc);
			continue;
		}
		answer(c, &req);
	}
}

char *http_conn_rbuf(struct http_conn *c, size_t *cap)
{
	/* While closing, input is still read (and dropped): closing a socket
	 * with unread input makes the kernel reset it, losing our reply. */
	if (c->closed || c->peer_eof) {
		*cap = 0;
		return c->in;
	}
	*cap = HTTP_IN_CAP - c->in_len;
	return c->in + c->in_len;
}

void http_conn_received(struct http_conn *c, size_t n, uint64_t now)
{
	if (n == 0 || c->closed || c->peer_eof)
		return;
	if (n > HTTP_IN_CAP - c->in_len)
		n = HTTP_IN_CAP - c->in_len; /* never past the buffer */
	c->stats.bytes_in += n;
	c->last_progress = now;
	if (c->closing)
		return; /* dropped */
	c->in_len += n;
	pump(c, now);
}

size_t http_conn_feed(struct http_conn *c, const void *data, size_t len, uint64_t now)
{
	size_t cap, done = 0;

	while (done < len) {
		char *p = http_conn_rbuf(c, &cap);
		if (cap == 0)
			break;
		size_t n = len - done < cap ? len - done : cap;
		memcpy(p, (const char *)data + done, n);
		http_conn_received(c, n, now);
		done += n;
	}
	return done;
}

void http_conn_eof(struct http_conn *c, uint64_t now)
{
	c->peer_eof = true;
	pump(c, now);
}

const char *http_conn_obuf(struct http_conn *c, size_t *len)
{
	*len = c->out_len - c->out_off;
	return c->out + c->out_off;
}

void http_conn_sent(struct http_conn *c, size_t n, uint64_t now)
{
	size_t pending = c->out_len - c->out_off;
	if (n > pending)
		n = pending;
	if (n == 0)
		return;
	c->out_off += n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	c->stats.bytes_out += n;
	c->last_progress = now;
	pump(c, now);
}

uint64_t http_conn_deadline(const struct http_conn *c)
{
	uint64_t base, span;

	if (c->closed)
		return UINT64_MAX;
	if (out_pending(c) || c->file_off < c->file_end) {
		base = c->last_progress;
		span = c->limits.send_ns;
	} else if (c->in_request) {
		base = c->request_start;
		span = c->limits.request_ns;
	} else {
		base = c->last_progress;
		span = c->limits.idle_ns;
	}
	return span > UINT64_MAX - base ? UINT64_MAX : base + span;
}

void http_conn_timeout(struct http_conn *c, uint64_t now)
{
	if (c->closed || now < http_conn_deadline(c))
		return;
	c->stats.timeouts++;
	if (out_pending(c) || c->file_off < c->file_end || !c->in_request || c->closing) {
		c->closed = true; /* a slow reader or an idle connection: just close */
		return;
	}
	/* A client too slow to send its request: tell it, then close. */
	error_reply(c, 408);
	pump(c, now);
}

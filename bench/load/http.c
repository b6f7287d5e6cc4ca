/* http.c - HTTP/1.1 request formatting and response parsing. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	ST_STATUS = 0,
	ST_HEADER,
	ST_BODY,
	ST_BODY_EOF,
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_END,
	ST_TRAILER,
};

int http_request_format(char *buf, size_t size, const char *host, const char *path)
{
	int n =
	    snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: denali-load\r\n\r\n",
		     path, host);

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

void http_parser_reset(struct http_parser *p)
{
	memset(p, 0, offsetof(struct http_parser, line));
	p->line[0] = '\0';
}

int http_parser_idle(const struct http_parser *p)
{
	return p->state == ST_STATUS && p->line_len == 0 && p->header_bytes == 0;
}

static int status_line(struct http_parser *p)
{
	const char *l = p->line;

	if (strncmp(l, "HTTP/1.", 7) || (l[7] != '0' && l[7] != '1') || l[8] != ' ')
		return -1;
	if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
		return -1;
	p->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	p->keep_alive = l[7] == '1';
	return 0;
}

static const char *header_value(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

static int header_line(struct http_parser *p)
{
	const char *v;

	if ((v = header_value(p->line, "content-length"))) {
		char *end;

		if (*v < '0' || *v > '9')
			return -1;
		p->remaining = strtoull(v, &end, 10);
		p->has_length = 1;
	} else if ((v = header_value(p->line, "transfer-encoding"))) {
		p->chunked = strcasestr(v, "chunked") != NULL;
	} else if ((v = header_value(p->line, "connection"))) {
		if (strcasestr(v, "close"))
			p->keep_alive = 0;
		else if (strcasestr(v, "keep-alive"))
			p->keep_alive = 1;
	}
	return 0;
}

/* End of the header block: choose how the body is delimited. */
static enum http_result headers_done(struct http_parser *p)
{
	if (p->status < 200) { /* interim response: the real one follows */
		uint8_t ka = p->keep_alive;

		http_parser_reset(p);
		p->keep_alive = ka;
		p->header_bytes = 1; /* not idle any more */
		return HTTP_MORE;
	}
	if (p->status == 204 || p->status == 304) {
		return HTTP_DONE;
	}
	if (p->chunked) {
		p->state = ST_CHUNK_SIZE;
		return HTTP_MORE;
	}
	if (p->has_length) {
		p->state = ST_BODY;
		return p->remaining ? HTTP_MORE : HTTP_DONE;
	}
	p->state = ST_BODY_EOF;
	p->keep_alive = 0;
	return HTTP_MORE;
}

/* A complete line is in p->line: act on it according to the state. */
static enum http_result line_done(struct http_parser *p)
{
	switch (p->state) {
	case ST_STATUS:
		if (status_line(p))
			return HTTP_ERROR;
		p->state = ST_HEADER;
		return HTTP_MORE;
	case ST_HEADER:
		if (p->line_len == 0)
			return headers_done(p);
		return header_line(p) ? HTTP_ERROR : HTTP_MORE;
	case ST_CHUNK_SIZE: {
		char *end;
		unsigned long long sz = strtoull(p->line, &end, 16);

		if (end == p->line)
			return HTTP_ERROR;
		p->remaining = sz;
		p->state = sz ? ST_CHUNK_DATA : ST_TRAILER;
		return HTTP_MORE;
	}
	case ST_CHUNK_END:
		if (p->line_len)
			return HTTP_ERROR;
		p->state = ST_CHUNK_SIZE;
		return HTTP_MORE;
	case ST_TRAILER:
		return p->line_len == 0 ? HTTP_DONE : HTTP_MORE;
	default:
		return HTTP_ERROR;
	}
}

enum http_result http_parse(struct http_parser *p, const char *data, size_t len, size_t *used)
{
	size_t i = 0;
	enum http_result r;

	while (i < len) {
		if (p->state == ST_BODY || p->state == ST_CHUNK_DATA) {
			size_t take = len - i;

			if (take > p->remaining)
				take = (size_t)p->remaining;
			p->remaining -= take;
			i += take;
			if (p->remaining)
				continue;
			if (p->state == ST_BODY) {
				*used = i;
				return HTTP_DONE;
			}
			p->state = ST_CHUNK_END;
			p->line_len = 0;
			continue;
		}
		if (p->state == ST_BODY_EOF) {
			i = len;
			break;
		}
		/* line-oriented states */
		char c = data[i++];

		if (++p->header_bytes > HTTP_HEADER_BYTES_MAX) {
			*used = i;
			return HTTP_ERROR;
		}
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (p->line_len < HTTP_LINE_MAX - 1)
				p->line[p->line_len++] = c;
			continue;
		}
		p->line[p->line_len] = '\0';
		r = line_done(p);
		p->line_len = 0;
		if (r != HTTP_MORE) {
			*used = i;
			return r;
		}
	}
	*used = i;
	return HTTP_MORE;
}

enum http_result http_parse_eof(struct http_parser *p)
{
	return p->state == ST_BODY_EOF ? HTTP_DONE : HTTP_ERROR;
}

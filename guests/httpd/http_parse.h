/*
 * HTTP/1.1 request-head parser (RFC 9110/9112), strict where leniency lets
 * two parsers disagree about where a request ends (request smuggling):
 * CRLF only, no obs-fold, no whitespace before a colon, exactly one
 * Content-Length of plain digits, Transfer-Encoding never together with
 * Content-Length, at most one Host. Bounded: the head is at most
 * HTTP_HEAD_MAX bytes with HTTP_HEADERS_MAX fields, a target at most
 * HTTP_TARGET_MAX bytes; no integer can overflow.
 *
 * The parser does not copy: the request's strings point into the buffer.
 */
#ifndef DENALI_HTTP_PARSE_H
#define DENALI_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX	 8192u
#define HTTP_HEADERS_MAX 32u
#define HTTP_TARGET_MAX	 2048u
#define HTTP_METHOD_MAX	 16u
#define HTTP_BODY_MAX	 65536u /* request bodies are read and discarded */

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_OTHER, /* a valid method token this server does not allow: 405 */
};

struct http_request {
	enum http_method method;
	const char *target;
	size_t target_len;
	int minor;	    /* HTTP/1.minor: 0 or 1 */
	bool keep_alive;    /* after the version default and Connection */
	bool abs_authority; /* the target was absolute-form (now its path) */
	bool chunked;	    /* Transfer-Encoding: chunked */
	uint64_t body_len;  /* Content-Length, 0 when absent */
	bool has_ims;	    /* a valid If-Modified-Since */
	int64_t ims;	    /* its time, seconds since the epoch */
	unsigned headers;   /* fields seen */
	size_t head_len;    /* bytes of the head, final CRLF CRLF included */
};

/*
 * Parse the request head at the start of buf[0, len).
 * Returns 0 (complete; *req filled, the head is req->head_len bytes),
 * HTTP_PARSE_MORE (no complete head yet and nothing wrong so far), or an
 * HTTP status for the error: 400 malformed, 413 body too large, 414 target
 * too long, 431 head too large or too many fields, 501 a transfer coding
 * other than chunked, 505 an HTTP major version other than 1.
 */
#define HTTP_PARSE_MORE (-1)
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Bytes of empty lines (CRLF) before a request, which are ignored (RFC 9112
 * section 2.2); at most `len`. */
size_t http_parse_skip_empty(const char *buf, size_t len);

#endif /* DENALI_HTTP_PARSE_H */

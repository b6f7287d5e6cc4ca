/*
 * One HTTP/1.1 connection as a transport-independent state machine: bytes
 * in, bytes out, a deadline. The glue (a socket loop on the guest, a test
 * or a fuzzer on the host) moves bytes and time; this module does the rest:
 * keep-alive, pipelining (requests are answered in order, parsed only while
 * there is room to answer them, so a pipelining client is flow-controlled),
 * request bodies read and discarded, static files streamed from the rofs
 * through a bounded output buffer, 408 for a client too slow to send its
 * request, closing after errors whose framing cannot be trusted.
 *
 * Time is monotonic nanoseconds supplied by the caller. No allocation: a
 * connection is one struct of about 25 KiB.
 */
#ifndef DENALI_HTTP_CONN_H
#define DENALI_HTTP_CONN_H

#include "http_parse.h"
#include "http_site.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_IN_CAP  HTTP_HEAD_MAX
#define HTTP_OUT_CAP 16384u

struct http_limits {
	uint64_t request_ns; /* first byte of a request to its complete head: else 408 */
	uint64_t idle_ns;    /* keep-alive connection with nothing to do: closed */
	uint64_t send_ns;    /* output pending with no progress: closed (slow reader) */
};

/* 10 s to send a request head, 30 s idle, 30 s without reading our output. */
extern const struct http_limits http_limits_default;

struct http_conn_stats {
	uint64_t requests;  /* answered, errors included */
	uint64_t errors;    /* 4xx/5xx answers from the parser or the deadline */
	uint64_t timeouts;  /* 408 answers and idle or send closes */
	uint64_t bytes_in;  /* accepted */
	uint64_t bytes_out; /* confirmed sent */
};

struct http_conn {
	struct http_site *site;
	struct http_limits limits;
	bool closing;	 /* answer what is queued, then close */
	bool closed;	 /* nothing more to send: the glue closes the transport */
	bool peer_eof;	 /* the client will send no more */
	bool in_request; /* bytes of a request have arrived (request_ns runs) */
	bool head_only;	 /* the body being streamed is for HEAD: skip it */
	uint64_t request_start;
	uint64_t last_progress; /* last input or output progress */
	uint64_t discard;	/* request body bytes still to drop */
	struct rofs_stat file;	/* the file being streamed */
	uint64_t file_off, file_end;
	struct http_conn_stats stats;
	size_t in_len;
	size_t out_off, out_len; /* unsent bytes are out[out_off, out_len) */
	char in[HTTP_IN_CAP];
	char out[HTTP_OUT_CAP];
};

/* A fresh connection at time `now`; `limits` NULL for the defaults. */
void http_conn_init(struct http_conn *c, struct http_site *site, const struct http_limits *limits,
		    uint64_t now);

/* Where the transport may put received bytes: *cap bytes at the result
 * (0 when the connection wants no input now: flow control, or closing). */
char *http_conn_rbuf(struct http_conn *c, size_t *cap);

/* `n` bytes were put at http_conn_rbuf(): process them. */
void http_conn_received(struct http_conn *c, size_t n, uint64_t now);

/* Copying form of the two above: returns how many bytes were accepted. */
size_t http_conn_feed(struct http_conn *c, const void *data, size_t len, uint64_t now);

/* The client closed its sending side: answer complete requests, then close. */
void http_conn_eof(struct http_conn *c, uint64_t now);

/* The bytes to send now (*len of them; 0: nothing to send). */
const char *http_conn_obuf(struct http_conn *c, size_t *len);

/* `n` bytes from http_conn_obuf() were sent. */
void http_conn_sent(struct http_conn *c, size_t n, uint64_t now);

/* When http_conn_timeout() must be called (monotonic ns; UINT64_MAX: never). */
uint64_t http_conn_deadline(const struct http_conn *c);

/* Time passed: at or after the deadline, answer 408 or close. */
void http_conn_timeout(struct http_conn *c, uint64_t now);

/* True when everything is sent and the transport should be closed. */
static inline bool http_conn_done(const struct http_conn *c)
{
	return c->closed;
}

#endif /* DENALI_HTTP_CONN_H */

/*
 * Host harness for the HTTP core: a site over an in-memory rofs image, and
 * a driver that feeds a connection and collects everything it sends, then
 * splits that into responses. Shared by the cmocka tests and the fuzzer.
 */
#ifndef DENALI_TEST_HTTP_HARNESS_H
#define DENALI_TEST_HTTP_HARNESS_H

#include "http_conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H_MTIME	   1000000000 /* Sun, 09 Sep 2001 01:46:40 GMT */
#define H_BIG_SIZE 100003u

struct harness {
	struct http_site site;
	struct rofs fs;
	uint8_t *img;
	size_t img_len;
	uint8_t big[H_BIG_SIZE]; /* contents of /big.bin */
	char index[612];	 /* contents of /index.html */
};

/* Build the image (index.html, big.bin, docs/, docs/index.html, ...) and
 * mount it: 0 or -errno. */
int harness_init(struct harness *h);
void harness_free(struct harness *h);

/* Growing output collected from a connection. */
struct sink {
	char *buf;
	size_t len, cap;
};

void sink_free(struct sink *s);

/* Move all pending output of `c` to `s`, at most `chunk` bytes per
 * http_conn_sent() call (0: all at once). Returns bytes moved. */
size_t drain(struct http_conn *c, struct sink *s, size_t chunk, uint64_t now);

/* Feed `len` bytes, `step` bytes at a time (0: all), draining after each
 * piece; bytes the connection refuses are retried after draining. Returns
 * bytes accepted (less than len only if the connection closed). */
size_t feed_all(struct http_conn *c, struct sink *s, const void *data, size_t len, size_t step,
		uint64_t now);

struct response {
	int status;
	const char *head; /* status line and fields, up to the blank line */
	size_t head_len;
	const char *body;
	size_t body_len;
};

/*
 * Split `s` into responses; `head_only[i]` says response i answers a HEAD
 * (no body despite Content-Length). Returns the count, or -1 if the bytes
 * are not a sequence of well-formed responses.
 */
int split_responses(const struct sink *s, const bool *head_only, size_t nhead, struct response *out,
		    int max);

/* The value of field `name` in a response head (NUL-terminated copy into
 * buf), or NULL. */
const char *field(const struct response *r, const char *name, char *buf, size_t cap);

#endif /* DENALI_TEST_HTTP_HARNESS_H */

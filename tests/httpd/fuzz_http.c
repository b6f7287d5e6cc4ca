/*
 * Fuzz target: request bytes into the HTTP core. The first input byte
 * picks how the rest is delivered; the rest is the client's byte stream.
 * Checks, beyond the sanitizers:
 *   - the parser's result is consistent (lengths inside the input);
 *   - the bytes out do not depend on how the input was split: the whole
 *     stream at once and the same stream one byte at a time give the same
 *     output (the site's hit counter reset in between);
 *   - whatever is sent starts with a status line;
 *   - timeouts and EOF end in a closed connection with nothing pending;
 *   - with mode bit 0x40 the second run answers through the site's file
 *     cache (a small budget, so files come and go): same bytes out.
 */
#include "fuzz.h"
#include "http_harness.h"

#include <stdlib.h>
#include <string.h>

static struct harness h;
static int ready;
static struct http_conn a, b;
static struct http_cache cache;

static void run(struct http_conn *c, struct sink *out, const uint8_t *data, size_t len, size_t step,
		uint8_t mode)
{
	http_conn_init(c, &h.site, NULL, 0);
	feed_all(c, out, data, len, step, 1);
	if (mode & 0x10) {
		http_conn_eof(c, 2);
		drain(c, out, 0, 2);
	}
	if (mode & 0x20) {
		uint64_t d = http_conn_deadline(c);
		http_conn_timeout(c, d);
		drain(c, out, 0, d);
		if (d != UINT64_MAX && !http_conn_done(c)) {
			/* a deadline never passes without an effect */
			if (http_conn_deadline(c) <= d)
				abort();
		}
	}
	if ((mode & 0x10) && !http_conn_done(c))
		abort(); /* after EOF everything is answered and closed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	struct sink x = {0}, y = {0};

	if (!ready) {
		if (harness_init(&h) != 0)
			abort();
		http_cache_init(&cache, 4096); /* index.html and the small files, never big.bin */
		ready = 1;
	}
	if (size == 0)
		return 0;
	uint8_t mode = data[0];
	data++, size--;

	int rc = http_parse_request((const char *)data, size, &req);
	if (rc == 0) {
		if (req.head_len > size || req.head_len > HTTP_HEAD_MAX ||
		    req.target < (const char *)data ||
		    req.target + req.target_len > (const char *)data + req.head_len ||
		    req.target_len > HTTP_TARGET_MAX || req.body_len > HTTP_BODY_MAX)
			abort();
	} else if (rc != HTTP_PARSE_MORE && (rc < 400 || rc > 505)) {
		abort();
	}

	uint64_t hits = h.site.hits;
	run(&a, &x, data, size, (mode & 0x0f) * 37, mode);
	h.site.hits = hits;
	h.site.cache = (mode & 0x40) ? &cache : NULL;
	run(&b, &y, data, size, 1, mode);
	h.site.cache = NULL;
	if (x.len != y.len || (x.len && memcmp(x.buf, y.buf, x.len) != 0))
		abort(); /* the split of the input changed the answer */
	if (x.len && (x.len < 12 || memcmp(x.buf, "HTTP/1.1 ", 9) != 0))
		abort();
	sink_free(&x);
	sink_free(&y);
	return 0;
}

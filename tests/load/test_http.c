/* test_http.c - the incremental HTTP/1.1 response parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

/* Feed text in pieces of `step` bytes; returns the final result and the bytes consumed. */
static enum http_result feed(struct http_parser *p, const char *text, size_t step, size_t *total)
{
	size_t len = strlen(text), off = 0, used;
	enum http_result r = HTTP_MORE;

	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		r = http_parse(p, text + off, n, &used);
		off += used;
		if (r != HTTP_MORE)
			break;
	}
	*total = off;
	return r;
}

static const char *resp_len = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 10\r\n"
			      "Content-Type: text/html\r\n\r\n0123456789";

static void test_content_length_any_split(void **state)
{
	struct http_parser p;
	size_t used;

	(void)state;
	for (size_t step = 1; step <= strlen(resp_len); step++) {
		http_parser_reset(&p);
		assert_true(http_parser_idle(&p));
		assert_int_equal(feed(&p, resp_len, step, &used), HTTP_DONE);
		assert_int_equal(used, strlen(resp_len));
		assert_int_equal(p.status, 200);
		assert_true(p.keep_alive);
	}
}

static void test_trailing_bytes_left(void **state)
{
	struct http_parser p;
	char two[256];
	size_t used;

	(void)state;
	snprintf(two, sizeof(two), "%s%s", resp_len, resp_len);
	http_parser_reset(&p);
	assert_int_equal(http_parse(&p, two, strlen(two), &used), HTTP_DONE);
	assert_int_equal(used, strlen(resp_len));
}

static void test_chunked(void **state)
{
	const char *r =
	    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
	struct http_parser p;
	size_t used;

	(void)state;
	for (size_t step = 1; step < 20; step++) {
		http_parser_reset(&p);
		assert_int_equal(feed(&p, r, step, &used), HTTP_DONE);
		assert_int_equal(used, strlen(r));
		assert_int_equal(p.status, 404);
	}
}

static void test_connection_close_and_http10(void **state)
{
	struct http_parser p;
	size_t used;

	(void)state;
	http_parser_reset(&p);
	assert_int_equal(
	    feed(&p, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 7, &used),
	    HTTP_DONE);
	assert_false(p.keep_alive);
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 100, &used),
			 HTTP_DONE);
	assert_false(p.keep_alive);
	http_parser_reset(&p);
	assert_int_equal(
	    feed(&p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 100,
		 &used),
	    HTTP_DONE);
	assert_true(p.keep_alive);
}

static void test_body_until_close(void **state)
{
	struct http_parser p;
	size_t used;

	(void)state;
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "HTTP/1.1 200 OK\r\n\r\nsome body", 4, &used), HTTP_MORE);
	assert_int_equal(http_parse_eof(&p), HTTP_DONE);
	assert_false(p.keep_alive);
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 4, &used),
			 HTTP_MORE);
	assert_int_equal(http_parse_eof(&p), HTTP_ERROR);
}

static void test_interim_and_no_body(void **state)
{
	struct http_parser p;
	size_t used;

	(void)state;
	http_parser_reset(&p);
	assert_int_equal(
	    feed(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 3, &used),
	    HTTP_DONE);
	assert_int_equal(p.status, 204);
}

static void test_malformed(void **state)
{
	struct http_parser p;
	size_t used;

	(void)state;
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "SSH-2.0-OpenSSH\r\n", 100, &used), HTTP_ERROR);
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "HTTP/1.1 2x0 OK\r\n", 100, &used), HTTP_ERROR);
	http_parser_reset(&p);
	assert_int_equal(feed(&p, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 100, &used),
			 HTTP_ERROR);
	http_parser_reset(&p);
	assert_int_equal(
	    feed(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, &used),
	    HTTP_ERROR);
	/* an endless header block is cut off */
	http_parser_reset(&p);
	{
		static char big[HTTP_HEADER_BYTES_MAX + 200];

		strcpy(big, "HTTP/1.1 200 OK\r\n");
		for (size_t i = strlen(big); i < sizeof(big) - 1; i++)
			big[i] = (i % 50) ? 'a' : '\n';
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(feed(&p, big, 4096, &used), HTTP_ERROR);
	}
}

static void test_request_format(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(
	    http_request_format(buf, sizeof(buf), "h", "/p"),
	    (int)strlen("GET /p HTTP/1.1\r\nHost: h\r\nUser-Agent: denali-load\r\n\r\n"));
	assert_int_equal(http_request_format(buf, 10, "h", "/p"), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_length_any_split),
	    cmocka_unit_test(test_trailing_bytes_left),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_connection_close_and_http10),
	    cmocka_unit_test(test_body_until_close),
	    cmocka_unit_test(test_interim_and_no_body),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_request_format),
	};

	return cmocka_run_group_tests_name("load_http", tests, NULL, NULL);
}

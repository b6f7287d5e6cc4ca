/*
 * The HTTP request-head parser and HTTP dates: valid heads, every prefix of
 * one (incomplete, never an error), and the malformed and smuggling-style
 * inputs that must be refused with the right status.
 */
#include "http_date.h"
#include "http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static int parse(const char *s, struct http_request *req)
{
	return http_parse_request(s, strlen(s), req);
}

static void test_simple_requests(void **state)
{
	(void)state;
	struct http_request r;
	const char *get = "GET /index.html?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\nNEXT";

	assert_int_equal(parse(get, &r), 0);
	assert_int_equal(r.method, HTTP_GET);
	assert_int_equal(r.target_len, strlen("/index.html?x=1"));
	assert_memory_equal(r.target, "/index.html?x=1", r.target_len);
	assert_int_equal(r.minor, 1);
	assert_true(r.keep_alive);
	assert_int_equal(r.head_len, strlen(get) - 4);
	assert_int_equal(r.headers, 2);
	assert_false(r.has_ims);

	assert_int_equal(parse("HEAD / HTTP/1.1\r\nhOsT: a\r\nConnection: Close\r\n\r\n", &r), 0);
	assert_int_equal(r.method, HTTP_HEAD);
	assert_false(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), 0); /* 1.0 needs no Host */
	assert_int_equal(r.minor, 0);
	assert_false(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n", &r), 0);
	assert_true(r.keep_alive);
	assert_int_equal(
	    parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,close\r\n\r\n", &r), 0);
	assert_false(r.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.minor, 1);
	assert_int_equal(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &r),
			 0);
	assert_int_equal(r.method, HTTP_OTHER);
	assert_int_equal(r.body_len, 5);
	assert_int_equal(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.method, HTTP_OTHER); /* methods are case-sensitive */
	assert_int_equal(
	    parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &r), 0);
	assert_true(r.chunked);
	/* optional whitespace around values, and an empty Host */
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:\r\nContent-Length: \t7 \r\n\r\n", &r), 0);
	assert_int_equal(r.body_len, 7);
	/* absolute-form is accepted and reduced to its path */
	assert_int_equal(
	    parse("GET HTTP://Example.org:8080/x?y=1 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", &r), 0);
	assert_true(r.abs_authority);
	assert_int_equal(r.target_len, 6);
	assert_memory_equal(r.target, "/x?y=1", 6);
	assert_int_equal(parse("GET https://a HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	assert_int_equal(r.target_len, 1);
	assert_memory_equal(r.target, "/", 1);
	assert_int_equal(http_parse_skip_empty("\r\n\r\nGET", 7), 4);
	assert_int_equal(http_parse_skip_empty("\r\n\r", 3), 2);
}

/* Every proper prefix of a valid head is "more", never an error. */
static void test_every_prefix_is_incomplete(void **state)
{
	(void)state;
	struct http_request r;
	const char *req = "GET /a/b.css HTTP/1.1\r\nHost: example\r\nIf-Modified-Since: "
			  "Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n";
	size_t n = strlen(req);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(http_parse_request(req, i, &r), HTTP_PARSE_MORE);
	assert_int_equal(http_parse_request(req, n, &r), 0);
	assert_true(r.has_ims);
	assert_int_equal(r.ims, 784111777);
}

static const struct {
	const char *in;
	int status;
} bad[] = {
    /* framing: CRLF only, one line per field */
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400},
    /* the request line */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
    {"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GETGETGETGETGETGETGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
    /* body framing: the smuggling vectors */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    /* sizes */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", 413},
};

static void test_malformed_requests(void **state)
{
	(void)state;
	struct http_request r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int rc = parse(bad[i].in, &r);
		if (rc != bad[i].status)
			fail_msg("case %zu: got %d, expected %d for %s", i, rc, bad[i].status,
				 bad[i].in);
	}
	/* NUL bytes cannot go through strlen */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	assert_int_equal(http_parse_request(nul, sizeof(nul) - 1, &r), 400);
	static const char nul2[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(http_parse_request(nul2, sizeof(nul2) - 1, &r), 400);
}

/* Garbage is refused as soon as it is seen, not once the buffer is full. */
static void test_early_refusal(void **state)
{
	(void)state;
	struct http_request r;
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	assert_int_equal(http_parse_request(tls, sizeof(tls) - 1, &r), 400);
	assert_int_equal(http_parse_request("GET /a\x01", 7, &r), 400);
	assert_int_equal(http_parse_request("GET / HTTQ", 10, &r), 400);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\nX: \x02", 20, &r), 400);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\n\n", 17, &r), 400);
}

static void test_size_limits(void **state)
{
	(void)state;
	struct http_request r;
	static char buf[HTTP_HEAD_MAX + 4096];
	size_t n;

	/* a target one byte too long: 414 before its line is even complete */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', HTTP_TARGET_MAX);
	assert_int_equal(http_parse_request(buf, n + HTTP_TARGET_MAX - 1, &r), HTTP_PARSE_MORE);
	assert_int_equal(http_parse_request(buf, n + HTTP_TARGET_MAX, &r), 414);
	/* the longest target is fine */
	n = (size_t)snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', HTTP_TARGET_MAX - 1);
	n += HTTP_TARGET_MAX - 1;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(http_parse_request(buf, n, &r), 0);
	assert_int_equal(r.target_len, HTTP_TARGET_MAX);

	/* HTTP_HEADERS_MAX fields pass, one more is 431 */
	for (unsigned extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
		for (unsigned i = 1; i < HTTP_HEADERS_MAX + extra; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%u: v\r\n", i);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
		assert_int_equal(http_parse_request(buf, n, &r), extra ? 431 : 0);
	}
	/* a head that does not end within HTTP_HEAD_MAX bytes: 431 */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(buf + n, 'v', sizeof(buf) - n);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX - 1, &r), HTTP_PARSE_MORE);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), 431);
	assert_int_equal(http_parse_request(buf, sizeof(buf), &r), 431);
	/* the largest body is accepted */
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n", &r),
			 0);
	assert_int_equal(r.body_len, HTTP_BODY_MAX);
}

static void test_dates(void **state)
{
	(void)state;
	char buf[HTTP_DATE_LEN + 1];
	int64_t t;

	http_date_format(784111777, buf);
	assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	http_date_format(0, buf);
	assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date_format(951782400, buf); /* a leap day of a century year */
	assert_string_equal(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
	http_date_format(-1, buf);
	assert_string_equal(buf, "Wed, 31 Dec 1969 23:59:59 GMT");
	http_date_format(INT64_MAX, buf);
	assert_string_equal(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
	http_date_format(INT64_MIN, buf);
	assert_string_equal(buf, "Mon, 01 Jan 0001 00:00:00 GMT");

	static const char *same[] = {"Sun, 06 Nov 1994 08:49:37 GMT",
				     "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_date_parse(same[i], strlen(same[i]), &t), 0);
		assert_int_equal(t, 784111777);
	}
	/* every day over 130 years, through format and back */
	for (int64_t x = -86400LL * 365 * 10 + 12345; x < 86400LL * 365 * 120; x += 86400 + 3607) {
		http_date_format(x, buf);
		assert_int_equal(http_date_parse(buf, HTTP_DATE_LEN, &t), 0);
		assert_int_equal(t, x);
	}
	static const char *invalid[] = {"Sun, 06 Nov 1994 08:49:37 UTC",
					"Sun, 31 Feb 1994 08:49:37 GMT",
					"Sun, 29 Feb 1900 00:00:00 GMT",
					"Sun, 06 Nov 1994 24:00:00 GMT",
					"Sun, 06 Nov 1994 08:60:00 GMT",
					"Sun, 6 Nov 1994 08:49:37 GMT",
					"Sun, 06 Nov 1994 08:49:37 GMT ",
					"Sun, 00 Nov 1994 08:49:37 GMT",
					"Xyz, 06 Nov 1994 08:49:37 GMT",
					"Sun, 06 Foo 1994 08:49:37 GMT",
					"",
					"Sun Nov 6 08:49:37 1994",
					"Sunday, 06-Nov-1994 08:49:37 GMT"};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++)
		if (http_date_parse(invalid[i], strlen(invalid[i]), &t) == 0)
			fail_msg("accepted invalid date '%s'", invalid[i]);
	assert_int_equal(http_date_parse("Thu, 29 Feb 2024 12:00:60 GMT", 29, &t), 0);
	assert_int_equal(t, 1709208059); /* a leap second counts as :59 */
	/* an invalid If-Modified-Since is ignored, not an error */
	struct http_request r;
	assert_int_equal(
	    parse("GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: yesterday\r\n\r\n", &r), 0);
	assert_false(r.has_ims);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_requests),
	    cmocka_unit_test(test_every_prefix_is_incomplete),
	    cmocka_unit_test(test_malformed_requests),
	    cmocka_unit_test(test_early_refusal),
	    cmocka_unit_test(test_size_limits),
	    cmocka_unit_test(test_dates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

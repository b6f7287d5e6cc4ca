/*
 * The HTTP connection and site over an in-memory rofs: static files with
 * their headers, conditional GET, HEAD, keep-alive and pipelining, body
 * framing (no smuggling), the dynamic pages and their escaping, the error
 * answers, deadlines (408, idle, slow reader) and flow control.
 */
#include "http_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define S 1000000000ull

static struct harness h;
static struct http_conn conn, conn2;

static int setup(void **state)
{
	(void)state;
	return harness_init(&h);
}

static int teardown(void **state)
{
	(void)state;
	harness_free(&h);
	return 0;
}

/* One request text through a fresh connection; responses split. */
static int roundtrip(const char *req, const bool *head, size_t nhead, struct sink *out,
		     struct response *r, int max)
{
	http_conn_init(&conn, &h.site, NULL, 0);
	memset(out, 0, sizeof(*out));
	assert_int_equal(feed_all(&conn, out, req, strlen(req), 0, 0), strlen(req));
	return split_responses(out, head, nhead, r, max);
}

static void test_static_file(void **state)
{
	(void)state;
	struct sink out;
	struct response r[3];
	char v[128];

	assert_int_equal(
	    roundtrip("GET /index.html HTTP/1.1\r\nHost: vm\r\n\r\n", NULL, 0, &out, r, 2), 1);
	assert_int_equal(r[0].status, 200);
	assert_string_equal(field(&r[0], "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	assert_string_equal(field(&r[0], "Content-Length", v, sizeof(v)), "612");
	assert_string_equal(field(&r[0], "Last-Modified", v, sizeof(v)),
			    "Sun, 09 Sep 2001 01:46:40 GMT");
	assert_null(field(&r[0], "Connection", v, sizeof(v)));
	assert_int_equal(r[0].body_len, sizeof(h.index));
	assert_memory_equal(r[0].body, h.index, sizeof(h.index));
	assert_false(http_conn_done(&conn)); /* keep-alive */
	sink_free(&out);

	/* "/" is index.html; "/docs/" its index.html; "/docs" is redirected */
	assert_int_equal(roundtrip("GET / HTTP/1.1\r\nHost: vm\r\n\r\n"
				   "GET /docs/ HTTP/1.1\r\nHost: vm\r\n\r\n",
				   NULL, 0, &out, r, 2),
			 2);
	assert_int_equal(r[0].status, 200);
	assert_int_equal(r[0].body_len, sizeof(h.index));
	assert_int_equal(r[1].status, 200);
	assert_true(r[1].body_len > 0 && !memcmp(r[1].body, "<!doctype html><title>docs", 26));
	sink_free(&out);
	assert_int_equal(roundtrip("GET /docs?q HTTP/1.1\r\nHost: vm\r\n\r\n", NULL, 0, &out, r, 1),
			 1);
	assert_int_equal(r[0].status, 301);
	assert_string_equal(field(&r[0], "Location", v, sizeof(v)), "/docs/");
	sink_free(&out);
	/* absolute-form targets name the same files */
	assert_int_equal(roundtrip("GET http://vm/docs/style.css HTTP/1.1\r\nHost: vm\r\n\r\n",
				   NULL, 0, &out, r, 1),
			 1);
	assert_int_equal(r[0].status, 200);
	assert_string_equal(field(&r[0], "Content-Length", v, sizeof(v)), "21");
	sink_free(&out);
	/* escapes decode; types come from the extension */
	assert_int_equal(roundtrip("GET /docs/a%20b.txt HTTP/1.1\r\nHost: vm\r\n\r\n"
				   "GET /docs/style.css HTTP/1.1\r\nHost: vm\r\n\r\n"
				   "GET /big.bin HTTP/1.1\r\nHost: vm\r\n\r\n",
				   NULL, 0, &out, r, 3),
			 3);
	assert_string_equal(field(&r[0], "Content-Type", v, sizeof(v)),
			    "text/plain; charset=utf-8");
	assert_string_equal(field(&r[1], "Content-Type", v, sizeof(v)), "text/css; charset=utf-8");
	assert_string_equal(field(&r[2], "Content-Type", v, sizeof(v)), "application/octet-stream");
	assert_int_equal(r[2].body_len, H_BIG_SIZE);
	assert_memory_equal(r[2].body, h.big, H_BIG_SIZE);
	sink_free(&out);
}

/* A large body streamed through the bounded output, read in small pieces. */
static void test_streaming_small_reads(void **state)
{
	(void)state;
	const char *req = "GET /big.bin HTTP/1.1\r\nHost: vm\r\n\r\n";
	struct sink out = {0};
	struct response r[1];

	http_conn_init(&conn, &h.site, NULL, 0);
	assert_int_equal(http_conn_feed(&conn, req, strlen(req), 0), strlen(req));
	size_t pending;
	http_conn_obuf(&conn, &pending);
	assert_true(pending > 0 && pending <= HTTP_OUT_CAP);
	while (drain(&conn, &out, 777, 1) > 0)
		;
	assert_int_equal(split_responses(&out, NULL, 0, r, 1), 1);
	assert_int_equal(r[0].body_len, H_BIG_SIZE);
	assert_memory_equal(r[0].body, h.big, H_BIG_SIZE);
	assert_int_equal(conn.stats.bytes_out, out.len);
	sink_free(&out);
}

static void test_conditional_get(void **state)
{
	(void)state;
	struct sink out;
	struct response r[4];
	char v[128];
	bool head[4] = {false, false, false, true};

	assert_int_equal(
	    roundtrip("GET /index.html HTTP/1.1\r\nHost: vm\r\n"
		      "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n\r\n"
		      "GET /index.html HTTP/1.1\r\nHost: vm\r\n"
		      "If-Modified-Since: Sun, 09 Sep 2001 01:46:39 GMT\r\n\r\n"
		      "GET /index.html HTTP/1.1\r\nHost: vm\r\nIf-Modified-Since: garbage\r\n\r\n"
		      "HEAD /index.html HTTP/1.1\r\nHost: vm\r\n"
		      "If-Modified-Since: Sunday, 09-Sep-01 01:46:41 GMT\r\n\r\n",
		      head, 4, &out, r, 4),
	    4);
	assert_int_equal(r[0].status, 304);
	assert_int_equal(r[0].body_len, 0);
	assert_null(field(&r[0], "Content-Length", v, sizeof(v)));
	assert_string_equal(field(&r[0], "Last-Modified", v, sizeof(v)),
			    "Sun, 09 Sep 2001 01:46:40 GMT");
	assert_int_equal(r[1].status, 200); /* modified since one second before */
	assert_int_equal(r[1].body_len, sizeof(h.index));
	assert_int_equal(r[2].status, 200); /* an unparsable date is ignored */
	assert_int_equal(r[3].status, 304);
	sink_free(&out);
}

static void test_head_and_pipelining(void **state)
{
	(void)state;
	const char *reqs = "HEAD /index.html HTTP/1.1\r\nHost: vm\r\n\r\n"
			   "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\n"
			   "\r\n" /* an empty line between requests is ignored */
			   "HEAD /big.bin HTTP/1.1\r\nHost: vm\r\n\r\n"
			   "GET /docs/style.css HTTP/1.1\r\nHost: vm\r\n\r\n";
	bool head[4] = {true, false, true, false};
	struct sink whole, bytewise = {0};
	struct response r[4];
	char v[64];

	assert_int_equal(roundtrip(reqs, head, 4, &whole, r, 4), 4);
	assert_int_equal(r[0].status, 200);
	assert_string_equal(field(&r[0], "Content-Length", v, sizeof(v)), "612");
	assert_string_equal(field(&r[2], "Content-Length", v, sizeof(v)), "100003");
	assert_int_equal(r[3].status, 200);
	assert_true(r[3].body_len == 21 && !memcmp(r[3].body, "body", 4));
	/* one byte at a time gives the same bytes (the hit count aside) */
	h.site.hits -= 4;
	http_conn_init(&conn, &h.site, NULL, 0);
	assert_int_equal(feed_all(&conn, &bytewise, reqs, strlen(reqs), 1, 0), strlen(reqs));
	assert_int_equal(bytewise.len, whole.len);
	assert_memory_equal(bytewise.buf, whole.buf, whole.len);
	sink_free(&whole);
	sink_free(&bytewise);
}

static void test_connection_close_and_versions(void **state)
{
	(void)state;
	struct sink out;
	struct response r[2];
	char v[64];

	/* Connection: close ends the connection; what follows is not answered */
	assert_int_equal(roundtrip("GET /hits HTTP/1.1\r\nHost: vm\r\nConnection: close\r\n\r\n"
				   "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\n",
				   NULL, 0, &out, r, 2),
			 1);
	assert_string_equal(field(&r[0], "Connection", v, sizeof(v)), "close");
	assert_true(http_conn_done(&conn));
	sink_free(&out);
	/* HTTP/1.0 closes unless it asks for keep-alive */
	assert_int_equal(roundtrip("GET /hits HTTP/1.0\r\n\r\n", NULL, 0, &out, r, 1), 1);
	assert_true(http_conn_done(&conn));
	sink_free(&out);
	assert_int_equal(
	    roundtrip("GET /hits HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL, 0, &out, r, 1),
	    1);
	assert_string_equal(field(&r[0], "Connection", v, sizeof(v)), "keep-alive");
	assert_false(http_conn_done(&conn));
	/* the client's EOF: complete requests answered, then closed */
	http_conn_eof(&conn, 0);
	assert_true(http_conn_done(&conn));
	sink_free(&out);
	http_conn_init(&conn, &h.site, NULL, 0);
	memset(&out, 0, sizeof(out));
	const char *half = "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\nGET /index.html HTTP/1.1\r\nHo";
	http_conn_feed(&conn, half, strlen(half), 0);
	http_conn_eof(&conn, 0);
	drain(&conn, &out, 0, 0);
	assert_int_equal(split_responses(&out, NULL, 0, r, 2), 1);
	assert_true(http_conn_done(&conn));
	sink_free(&out);
}

/* Bodies are framed exactly: a request hidden in a body is never answered. */
static void test_body_framing(void **state)
{
	(void)state;
	struct sink out;
	struct response r[3];
	char v[64];
	const char *hidden = "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\n";
	char req[512];

	snprintf(req, sizeof(req),
		 "POST /index.html HTTP/1.1\r\nHost: vm\r\nContent-Length: %zu\r\n\r\n%s"
		 "GET /docs/style.css HTTP/1.1\r\nHost: vm\r\n\r\n",
		 strlen(hidden), hidden);
	assert_int_equal(roundtrip(req, NULL, 0, &out, r, 3), 2);
	assert_int_equal(r[0].status, 405);
	assert_string_equal(field(&r[0], "Allow", v, sizeof(v)), "GET, HEAD");
	assert_null(field(&r[0], "Connection", v, sizeof(v)));
	assert_int_equal(r[1].status, 200);
	assert_string_equal(field(&r[1], "Content-Length", v, sizeof(v)), "21");
	sink_free(&out);
	/* a GET may carry a body too: it is skipped */
	snprintf(req, sizeof(req),
		 "GET /hits HTTP/1.1\r\nHost: vm\r\nContent-Length: %zu\r\n\r\n%s", strlen(hidden),
		 hidden);
	assert_int_equal(roundtrip(req, NULL, 0, &out, r, 3), 1);
	sink_free(&out);
	/* chunked: answered, then closed, nothing after it interpreted */
	snprintf(req, sizeof(req),
		 "POST / HTTP/1.1\r\nHost: vm\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "%zx\r\n%s\r\n0\r\n\r\n",
		 strlen(hidden), hidden);
	assert_int_equal(roundtrip(req, NULL, 0, &out, r, 3), 1);
	assert_int_equal(r[0].status, 405);
	assert_string_equal(field(&r[0], "Connection", v, sizeof(v)), "close");
	assert_true(http_conn_done(&conn));
	sink_free(&out);
	/* CL and TE together: 400 and close */
	assert_int_equal(roundtrip("POST / HTTP/1.1\r\nHost: vm\r\nContent-Length: 3\r\n"
				   "Transfer-Encoding: chunked\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
				   NULL, 0, &out, r, 3),
			 1);
	assert_int_equal(r[0].status, 400);
	assert_true(http_conn_done(&conn));
	sink_free(&out);
}

static void test_error_answers(void **state)
{
	(void)state;
	static const struct {
		const char *req;
		int status;
		bool closes;
	} cases[] = {
	    {"GET /nope HTTP/1.1\r\nHost: vm\r\n\r\n", 404, false},
	    {"GET /index.html/ HTTP/1.1\r\nHost: vm\r\n\r\n", 404, false},
	    {"GET /empty/ HTTP/1.1\r\nHost: vm\r\n\r\n", 404, false},
	    {"GET /../index.html HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET /%2e%2e/index.html HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET /docs/./style.css HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET //index.html HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET /a%00b HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET /a%zz HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"GET /a% HTTP/1.1\r\nHost: vm\r\n\r\n", 400, false},
	    {"DELETE /index.html HTTP/1.1\r\nHost: vm\r\n\r\n", 405, false},
	    {"GET / HTTP/1.1\r\n\r\n", 400, true},
	    {"GET / HTTP/1.1\nHost: vm\n\n", 400, true},
	    {"POST / HTTP/1.1\r\nHost: vm\r\nContent-Length: 70000\r\n\r\n", 413, true},
	    {"POST / HTTP/1.1\r\nHost: vm\r\nTransfer-Encoding: gzip\r\n\r\n", 501, true},
	    {"GET / HTTP/3.0\r\nHost: vm\r\n\r\n", 505, true},
	    {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, true},
	};
	struct sink out;
	struct response r[2];
	char v[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int n = roundtrip(cases[i].req, NULL, 0, &out, r, 2);
		if (n != 1 || r[0].status != cases[i].status)
			fail_msg("case %zu: %d responses, status %d, expected %d", i, n,
				 n > 0 ? r[0].status : 0, cases[i].status);
		assert_int_equal(http_conn_done(&conn), cases[i].closes);
		assert_int_equal(field(&r[0], "Connection", v, sizeof(v)) != NULL, cases[i].closes);
		char want[8];
		snprintf(want, sizeof(want), "%d ", cases[i].status);
		assert_true(r[0].body_len > 4 && !memcmp(r[0].body, want, 4));
		sink_free(&out);
	}
	/* an oversized head and an overlong target */
	static char big[HTTP_HEAD_MAX + 100];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: vm\r\nX: ");
	memset(big + n, 'x', sizeof(big) - n - 1);
	assert_int_equal(roundtrip(big, NULL, 0, &out, r, 2), 1);
	assert_int_equal(r[0].status, 431);
	sink_free(&out);
	n = snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'x', sizeof(big) - n - 1);
	assert_int_equal(roundtrip(big, NULL, 0, &out, r, 2), 1);
	assert_int_equal(r[0].status, 414);
	sink_free(&out);
}

static void test_dynamic_pages(void **state)
{
	(void)state;
	struct sink out;
	struct response r[3];
	char v[64];

	assert_int_equal(
	    roundtrip(
		"GET /hello?name=%3Cscript%3Ealert(1)%3C/script%3E&x=1 HTTP/1.1\r\nHost: vm\r\n\r\n"
		"GET /hello?a=b&name=Ada+Lovelace%20%26%20%22co%22%27 HTTP/1.1\r\nHost: vm\r\n\r\n"
		"GET /hello HTTP/1.1\r\nHost: vm\r\n\r\n",
		NULL, 0, &out, r, 3),
	    3);
	assert_int_equal(r[0].status, 200);
	assert_string_equal(field(&r[0], "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	assert_string_equal(field(&r[0], "Cache-Control", v, sizeof(v)), "no-store");
	char *b0 = strndup(r[0].body, r[0].body_len), *b1 = strndup(r[1].body, r[1].body_len),
	     *b2 = strndup(r[2].body, r[2].body_len);
	assert_non_null(strstr(b0, "Hello, &lt;script&gt;alert(1)&lt;/script&gt;!"));
	assert_null(strstr(b0, "<script"));
	assert_non_null(strstr(b1, "Hello, Ada Lovelace &amp; &quot;co&quot;&#39;!"));
	assert_non_null(strstr(b2, "Hello, world!"));
	free(b0);
	free(b1);
	free(b2);
	sink_free(&out);
	/* a long name is cut to HTTP_NAME_MAX bytes; a bad escape is 400 */
	char req[512];
	char name[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(req, sizeof(req), "GET /hello?name=%s HTTP/1.1\r\nHost: vm\r\n\r\n", name);
	assert_int_equal(roundtrip(req, NULL, 0, &out, r, 1), 1);
	char *b = strndup(r[0].body, r[0].body_len);
	name[HTTP_NAME_MAX] = '\0';
	char *at = strstr(b, name);
	assert_non_null(at);
	assert_int_equal(at[HTTP_NAME_MAX], '!');
	free(b);
	sink_free(&out);
	assert_int_equal(
	    roundtrip("GET /hello?name=%4 HTTP/1.1\r\nHost: vm\r\n\r\n", NULL, 0, &out, r, 1), 1);
	assert_int_equal(r[0].status, 400);
	sink_free(&out);
}

/* The hit counter belongs to the site (the VM): it counts across connections. */
static void test_hit_counter(void **state)
{
	(void)state;
	struct sink a = {0}, b = {0};
	struct response r[2];
	const char *req = "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\n";

	h.site.hits = 0;
	http_conn_init(&conn, &h.site, NULL, 0);
	http_conn_init(&conn2, &h.site, NULL, 0);
	feed_all(&conn, &a, req, strlen(req), 0, 0);
	feed_all(&conn2, &b, "GET /nope HTTP/1.1\r\nHost: vm\r\n\r\n", 32, 0, 0);
	feed_all(&conn2, &b, req, strlen(req), 0, 0);
	assert_int_equal(split_responses(&a, NULL, 0, r, 2), 1);
	assert_int_equal(r[0].body_len, 2);
	assert_memory_equal(r[0].body, "1\n", 2);
	assert_int_equal(split_responses(&b, NULL, 0, r, 2), 2);
	assert_int_equal(r[1].body_len, 2);
	assert_memory_equal(r[1].body, "3\n", 2);
	assert_int_equal(h.site.hits, 3);
	sink_free(&a);
	sink_free(&b);
}

static void test_deadlines(void **state)
{
	(void)state;
	struct http_limits lim = {.request_ns = 10 * S, .idle_ns = 30 * S, .send_ns = 20 * S};
	struct sink out = {0};
	struct response r[2];

	/* slow loris: a byte a second never completes a head; 408 at 10 s */
	const char *req = "GET /index.html HTTP/1.1\r\nHost: vm\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaa";
	http_conn_init(&conn, &h.site, &lim, 100 * S);
	for (uint64_t t = 0; t < 10; t++) {
		assert_int_equal(http_conn_feed(&conn, req + t, 1, 100 * S + t * S), 1);
		assert_int_equal(http_conn_deadline(&conn), 110 * S);
		http_conn_timeout(&conn, 100 * S + t * S);
		assert_int_equal(drain(&conn, &out, 0, 0), 0);
	}
	http_conn_timeout(&conn, 110 * S);
	drain(&conn, &out, 0, 110 * S);
	assert_int_equal(split_responses(&out, NULL, 0, r, 2), 1);
	assert_int_equal(r[0].status, 408);
	assert_true(http_conn_done(&conn));
	assert_int_equal(conn.stats.timeouts, 1);
	sink_free(&out);

	/* idle keep-alive: closed silently after idle_ns since the last activity */
	const char *ok = "GET /hits HTTP/1.1\r\nHost: vm\r\n\r\n";
	http_conn_init(&conn, &h.site, &lim, 0);
	feed_all(&conn, &out, ok, strlen(ok), 0, 5 * S);
	assert_int_equal(http_conn_deadline(&conn), 35 * S);
	http_conn_timeout(&conn, 34 * S);
	assert_false(http_conn_done(&conn));
	http_conn_timeout(&conn, 35 * S);
	assert_true(http_conn_done(&conn));
	size_t len;
	http_conn_obuf(&conn, &len);
	assert_int_equal(len, 0);
	sink_free(&out);

	/* a slow body is part of the request: 408 too */
	http_conn_init(&conn, &h.site, &lim, 0);
	const char *post = "POST / HTTP/1.1\r\nHost: vm\r\nContent-Length: 100\r\n\r\nabc";
	feed_all(&conn, &out, post, strlen(post), 0, 1 * S);
	assert_int_equal(http_conn_deadline(&conn), 11 * S);
	http_conn_timeout(&conn, 11 * S);
	drain(&conn, &out, 0, 11 * S);
	assert_int_equal(split_responses(&out, NULL, 0, r, 2), 2);
	assert_int_equal(r[0].status, 405);
	assert_int_equal(r[1].status, 408);
	sink_free(&out);

	/* a client that never reads: closed send_ns after the last progress */
	req = "GET /big.bin HTTP/1.1\r\nHost: vm\r\n\r\n";
	http_conn_init(&conn, &h.site, &lim, 0);
	http_conn_feed(&conn, req, strlen(req), 1 * S);
	http_conn_obuf(&conn, &len);
	http_conn_sent(&conn, 100, 3 * S);
	assert_int_equal(http_conn_deadline(&conn), 23 * S);
	http_conn_timeout(&conn, 22 * S);
	assert_false(http_conn_done(&conn));
	http_conn_timeout(&conn, 23 * S);
	assert_true(http_conn_done(&conn));
}

/* A client that pipelines more than it reads is flow-controlled. */
static void test_flow_control(void **state)
{
	(void)state;
	static char reqs[300 * 64];
	size_t n = 0;
	struct sink out = {0};
	static struct response r[300];

	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(reqs + n, sizeof(reqs) - n,
				      "GET /index.html HTTP/1.1\r\nHost: vm%03d\r\n\r\n", i);
	assert_true(n > HTTP_IN_CAP);
	http_conn_init(&conn, &h.site, NULL, 0);
	size_t accepted = http_conn_feed(&conn, reqs, n, 0);
	assert_true(accepted < n); /* the input buffer filled while output waited */
	size_t pending;
	http_conn_obuf(&conn, &pending);
	assert_true(pending <= HTTP_OUT_CAP);
	assert_true(conn.stats.requests < 300);
	assert_int_equal(feed_all(&conn, &out, reqs + accepted, n - accepted, 0, 0), n - accepted);
	assert_int_equal(split_responses(&out, NULL, 0, r, 300), 300);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(r[i].body_len, sizeof(h.index));
		assert_memory_equal(r[i].body, h.index, sizeof(h.index));
	}
	sink_free(&out);
}

/* A device error mid-body: the response is cut short and the connection closed. */
static void test_read_error_closes(void **state)
{
	(void)state;
	struct sink out = {0};
	const char *req = "GET /big.bin HTTP/1.1\r\nHost: vm\r\n\r\nGET /hits HTTP/1.1\r\n\r\n";

	http_conn_init(&conn, &h.site, NULL, 0);
	http_conn_feed(&conn, req, strlen(req), 0);
	size_t len;
	http_conn_obuf(&conn, &len);
	assert_true(len > 4096);
	http_conn_sent(&conn, 4096, 0); /* part of it */
	out.len = 4096;			/* counted, not kept */
	size_t save = h.img_len;
	h.img_len = 0; /* every read now fails */
	h.fs.cache[0].used = 0;
	while (drain(&conn, &out, 0, 0) > 0)
		;
	h.img_len = save;
	assert_true(http_conn_done(&conn));
	assert_true(out.len < H_BIG_SIZE);
	assert_true(out.len > 4096 + 8192); /* what was read before the error went out */
	sink_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static_file),
	    cmocka_unit_test(test_streaming_small_reads),
	    cmocka_unit_test(test_conditional_get),
	    cmocka_unit_test(test_head_and_pipelining),
	    cmocka_unit_test(test_connection_close_and_versions),
	    cmocka_unit_test(test_body_framing),
	    cmocka_unit_test(test_error_answers),
	    cmocka_unit_test(test_dynamic_pages),
	    cmocka_unit_test(test_hit_counter),
	    cmocka_unit_test(test_deadlines),
	    cmocka_unit_test(test_flow_control),
	    cmocka_unit_test(test_read_error_closes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* The control socket under abuse, with a fake backend: random bytes, truncated JSON, wrong
 * types, unknown ops, a 1 MiB line, thousands of rapid connections, silent and greedy
 * clients; after each it must still answer a valid request. */
#include "fake_backend.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "server.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64], sock[128];
static struct ctl_backend be;
static struct ctl_server *srv;
static struct ctl_store *store;
static pthread_t thread;

struct cli {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static void *serve(void *arg)
{
	(void)arg;
	assert_int_equal(ctl_server_run(srv), 0);
	return NULL;
}

static unsigned line_ms = 1500;

static int setup(void **state)
{
	char sdir[128];

	(void)state;
	strcpy(dir, "/tmp/denali-srv-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	fake_backend_init(&be);
	if (store_open(sdir, &store) < 0 || ctl_server_open(sock, 0660, &be, &srv) < 0)
		return -1;
	ctl_server_set_store(srv, store);
	/* A short line time-out so the trickle test is quick; every test but the slow
	 * clients' ends its lines at once. */
	ctl_server_set_timeouts(srv, 0, line_ms);
	return pthread_create(&thread, NULL, serve, NULL);
}

static int teardown(void **state)
{
	char cmd[128];
	struct stat st;

	(void)state;
	ctl_server_shutdown(srv);
	pthread_join(thread, NULL);
	/* Once the loop is over nothing accepts and the socket file is gone. */
	assert_int_equal(stat(sock, &st), -1);
	ctl_server_close(srv);
	store_close(store);
	fake_backend_fini(&be);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* For one test, a server whose line time-out no loaded host reaches (60 s): its partial
 * line must outlive every other client's requests, however slowly they are served. */
static int setup_patient(void **state)
{
	int r = teardown(state);

	line_ms = 60000;
	return r ? r : setup(state);
}

static int teardown_patient(void **state)
{
	int r = teardown(state);

	line_ms = 1500;
	return r ? r : setup(state);
}

static void cli_open(struct cli *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 20};

	strcpy(sa.sun_path, sock);
	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A hung server fails the test instead of hanging it. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void cli_sendstr(struct cli *c, const char *s);

static void cli_send(struct cli *c, const void *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(c->fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the server may hang up on a bad client: that is allowed */
		off += (size_t)w;
	}
}

static void cli_sendstr(struct cli *c, const char *s)
{
	cli_send(c, s, strlen(s));
}

/* The next reply line, parsed; NULL at end of stream. */
static json_t *cli_recv(struct cli *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			json_error_t err;
			json_t *o = json_loadb(c->buf, n, 0, &err);
			if (!o)
				fail_msg("reply is not JSON: %.*s", (int)n, c->buf);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return o;
		}
		if (c->len == sizeof(c->buf))
			fail_msg("reply line too long");
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0 && errno == EAGAIN)
			fail_msg("no reply within the timeout");
		if (r <= 0)
			return NULL;
		c->len += (size_t)r;
	}
}

static json_t *rpc(const char *line)
{
	struct cli c;
	json_t *o;

	cli_open(&c);
	cli_send(&c, line, strlen(line));
	cli_sendstr(&c, "\n");
	o = cli_recv(&c);
	close(c.fd);
	assert_non_null(o);
	return o;
}

static void expect_error(json_t *o, const char *want)
{
	json_t *e = json_object_get(o, "error");

	assert_true(json_is_false(json_object_get(o, "ok")));
	if (!json_is_string(e) || !strstr(json_string_value(e), want))
		fail_msg("error \"%s\" lacks \"%s\"", json_string_value(e), want);
	json_decref(o);
}

/* The server still works: a fresh connection gets a valid list. */
static void still_serving(void)
{
	json_t *o = rpc("{\"id\":1234,\"op\":\"list\"}");

	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1234);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_true(json_is_array(json_object_get(o, "vms")));
	json_decref(o);
}

static void test_list_and_stats(void **state)
{
	json_t *o;

	(void)state;
	still_serving();
	o = rpc("{\"id\":\"s\",\"op\":\"stats\"}");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "s");
	assert_true(json_is_object(json_object_get(o, "stats")));
	json_decref(o);
}

static void test_start_stop(void **state)
{
	json_t *o;
	char def[256];

	(void)state;
	o = rpc("{\"id\":1,\"op\":\"start\",\"name\":\"web\",\"image\":\"/img\",\"mem\":\"32M\","
		"\"count\":3,\"args\":[\"x\",\"y\"]}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_int_equal(json_array_size(json_object_get(o, "started")), 3);
	json_decref(o);
	assert_true(fake_backend_has(&be, "web-2", 32u << 20, "x"));
	assert_true(store_has(store, "web-0") && store_has(store, "web-2"));
	snprintf(def, sizeof(def), "%s/state/vms/web-1/def.json", dir);
	assert_int_equal(access(def, F_OK), 0);

	expect_error(rpc("{\"op\":\"start\",\"name\":\"web-1\",\"image\":\"/img\"}"),
		     "already defined");

	/* All or nothing: a failure part-way stops what the request started. */
	expect_error(rpc("{\"op\":\"start\",\"name\":\"web\",\"image\":\"/img\",\"count\":5}"),
		     "vm web-0");
	expect_error(rpc("{\"op\":\"start\",\"name\":\"bad\",\"image\":\"/fail\",\"count\":2}"),
		     "cannot load image");
	assert_false(store_has(store, "bad-0"));
	assert_int_equal(fake_backend_nvms(&be), 3);

	o = rpc("{\"id\":2,\"op\":\"stop\",\"names\":[\"web-0\",\"web-1\"]}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_int_equal(json_array_size(json_object_get(o, "stopped")), 2);
	json_decref(o);
	assert_false(store_has(store, "web-0"));
	expect_error(rpc("{\"op\":\"stop\",\"name\":\"web-0\"}"), "no such VM");

	o = rpc("{\"op\":\"stop\",\"all\":true}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_int_equal(json_array_size(json_object_get(o, "stopped")), 1);
	json_decref(o);
	assert_int_equal(fake_backend_nvms(&be), 0);
	assert_false(store_has(store, "web-2"));
}

static void test_garbage(void **state)
{
	static const char *const lines[] = {
	    /* truncated JSON */
	    "{",
	    "{\"op\":",
	    "{\"op\":\"list\"",
	    "{\"id\":3,\"op\":\"sta",
	    "[",
	    "\"",
	    "nul",
	    /* wrong types */
	    "[]",
	    "1",
	    "null",
	    "{\"op\":7}",
	    "{\"op\":\"start\",\"name\":[],\"image\":\"/i\"}",
	    "{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":\"many\"}",
	    "{\"op\":\"stop\",\"names\":{\"a\":1}}",
	    "{\"op\":\"console\",\"name\":\"a\",\"follow\":1}",
	    "{\"id\":[],\"op\":\"list\"}",
	    /* unknown ops */
	    "{\"op\":\"reboot\"}",
	    "{\"op\":\"list\",\"extra\":1}",
	    "{\"id\":5,\"op\":\"rm -rf\"}",
	    /* invalid UTF-8 */
	    "{\"op\":\"\xff\xfe\"}",
	};
	unsigned seed = 4242;
	struct cli c;
	json_t *o;

	(void)state;
	cli_open(&c);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		cli_send(&c, lines[i], strlen(lines[i]));
		cli_sendstr(&c, "\n");
		o = cli_recv(&c);
		assert_non_null(o);
		assert_true(json_is_false(json_object_get(o, "ok")));
		assert_true(json_is_string(json_object_get(o, "error")));
		json_decref(o);
	}
	/* The id comes back even when the request is refused. */
	cli_sendstr(&c, "{\"id\":77,\"op\":\"nope\"}\n");
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 77);
	json_decref(o);

	/* Random bytes, one line each (no newline inside), all on the same connection. */
	for (int i = 0; i < 300; i++) {
		char buf[2048];
		size_t n = 2 + (size_t)(rand_r(&seed) % (sizeof(buf) - 2));
		for (size_t k = 0; k < n; k++) {
			buf[k] = (char)rand_r(&seed);
			if (buf[k] == '\n')
				buf[k] = ' ';
		}
		buf[0] = '#';
		buf[n - 1] = '\n';
		cli_send(&c, buf, n);
		o = cli_recv(&c);
		assert_non_null(o);
		assert_true(json_is_false(json_object_get(o, "ok")));
		json_decref(o);
	}
	/* Random bytes with newlines anywhere, not waiting for replies; then hang up. */
	for (int i = 0; i < 64; i++) {
		char buf[4096];
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (char)rand_r(&seed);
		cli_send(&c, buf, sizeof(buf));
	}
	close(c.fd);
	still_serving();
}

static void test_huge_line(void **state)
{
	size_t n = 1u << 20;
	char *big = malloc(n);
	struct cli c;
	json_t *o;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, "{\"op\":\"list\",\"pad\":\"", 20);
	big[n - 2] = '"';
	big[n - 1] = '\n';
	cli_open(&c);
	cli_send(&c, big, n); /* stops early when the server hangs up */
	o = cli_recv(&c);
	assert_non_null(o);
	expect_error(o, "longer than 65536");
	assert_null(cli_recv(&c)); /* and the connection is closed */
	close(c.fd);

	/* A line just under the cap is read whole (and refused for its content). */
	memset(big, ' ', CTL_LINE_MAX);
	memcpy(big, "{\"op\":\"list\",\"x\":1}", 19);
	big[CTL_LINE_MAX] = '\n';
	cli_open(&c);
	cli_send(&c, big, CTL_LINE_MAX + 1);
	expect_error(cli_recv(&c), "unknown field");
	cli_sendstr(&c, "{\"op\":\"list\"}\n");
	o = cli_recv(&c);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	close(c.fd);
	free(big);
	still_serving();
}

static void test_rapid_connections(void **state)
{
	static struct cli many[200];
	struct cli c;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		cli_open(&c);
		if (i % 4 == 0) {
			json_t *o;
			cli_sendstr(&c, "{\"op\":\"list\"}\n");
			o = cli_recv(&c);
			assert_non_null(o);
			json_decref(o);
		} else if (i % 4 == 1) {
			cli_sendstr(&c, "{\"op\":"); /* hang up mid-request */
		} else if (i % 4 == 2) {
			cli_sendstr(&c, "{\"op\":\"stats\"}\n"); /* never reads the reply */
		}
		close(c.fd);
	}
	/* Many at once, all open together, then all gone. */
	for (int i = 0; i < 200; i++)
		cli_open(&many[i]);
	for (int i = 0; i < 200; i++)
		cli_sendstr(&many[i], "{\"op\":\"list\"}\n");
	for (int i = 0; i < 200; i++) {
		json_t *o = cli_recv(&many[i]);
		assert_non_null(o);
		json_decref(o);
		close(many[i].fd);
	}
	still_serving();
}

static void test_slow_clients(void **state)
{
	struct cli silent, partial, greedy;
	char reqs[15 * 1000];

	(void)state;
	cli_open(&silent);
	cli_open(&partial);
	cli_sendstr(&partial, "{\"op\":\"li");
	/* A client asking for much and reading nothing. */
	cli_open(&greedy);
	for (int i = 0; i < 1000; i++)
		memcpy(reqs + 15 * i, "{\"op\":\"stats\"}\n", 15);
	for (int i = 0; i < 20; i++) {
		if (send(greedy.fd, reqs, sizeof(reqs), MSG_NOSIGNAL | MSG_DONTWAIT) <= 0)
			break;
	}
	/* None of them holds up anyone else. */
	for (int i = 0; i < 20; i++)
		still_serving();
	/* The partial request still completes. */
	cli_sendstr(&partial, "st\"}\n");
	json_t *o = cli_recv(&partial);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	close(silent.fd);
	close(partial.fd);
	close(greedy.fd);
	still_serving();
}

/* Clients that pipeline requests and never read the replies: the daemon must not hold up
 * to 32 MiB of replies for each of 1,024 of them (32 GiB). It stops reading such a client
 * once its replies back up, so most of its requests wait unread in the socket; when it reads
 * at last, every reply comes, in order. */
#define GREEDY_REQS 20000

struct greedy {
	struct cli c;
	size_t sent;
};

static void *greedy_send(void *arg)
{
	struct greedy *g = arg;
	static const char req[] = "{\"op\":\"stats\"}\n";

	for (g->sent = 0; g->sent < GREEDY_REQS; g->sent++)
		if (send(g->c.fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
			break;
	return NULL;
}

static unsigned stats_calls(void)
{
	struct fake_stats st;

	fake_backend_counts(&be, &st);
	return st.stats;
}

static void test_unread_replies_pause_the_client(void **state)
{
	struct greedy g;
	pthread_t t;
	unsigned before = stats_calls(), seen = 0, stable = 0, last = 0;

	(void)state;
	cli_open(&g.c);
	assert_int_equal(pthread_create(&t, NULL, greedy_send, &g), 0);
	/* Wait until the server stops answering it (the count stays put for 2 s), at most 60 s:
	 * on a server without back-pressure it answers all of them meanwhile. */
	for (int i = 0; i < 600 && stable < 20; i++) {
		struct timespec ts = {.tv_nsec = 100000000};
		unsigned n = stats_calls() - before;

		stable = n == last ? stable + 1 : 0;
		last = n;
		if (n >= GREEDY_REQS)
			break;
		nanosleep(&ts, NULL);
	}
	if (last >= GREEDY_REQS)
		fail_msg("all %u requests of a client that reads nothing were answered and held",
			 last);
	still_serving(); /* the others are served meanwhile */
	for (json_t *o; seen < GREEDY_REQS && (o = cli_recv(&g.c)) != NULL; seen++) {
		assert_true(json_is_true(json_object_get(o, "ok")));
		json_decref(o);
	}
	pthread_join(t, NULL);
	assert_int_equal(g.sent, GREEDY_REQS);
	assert_int_equal(seen, GREEDY_REQS);
	close(g.c.fd);
}

/* Reads the one reply line on fd; returns its length, or 0 if the connection ended first. */
static size_t read_reply(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r <= 0)
			return 0;
		len += (size_t)r;
		if (memchr(buf, '\n', len))
			return len;
	}
	return 0;
}

/* Waits until the reply on fd has begun to arrive (so the daemon has queued it). */
static void reply_begun(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, MSG_PEEK), 1);
}

static void start_many(const char *prefix, int n)
{
	char line[128];
	json_t *o;

	snprintf(line, sizeof(line),
		 "{\"op\":\"start\",\"name\":\"%s\",\"image\":\"/img\",\"count\":%d}", prefix, n);
	o = rpc(line);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
}

static void stop_many(const char *prefix, int n)
{
	char line[128];

	for (int i = 0; i < n; i++) {
		json_t *o;
		snprintf(line, sizeof(line), "{\"op\":\"stop\",\"name\":\"%s-%d\"}", prefix, i);
		o = rpc(line);
		assert_true(json_is_true(json_object_get(o, "ok")));
		json_decref(o);
	}
}

/* A reply longer than the cap on unread replies (a list of 100,000 VMs is ~35 MB, the cap 32
 * MiB) comes whole when nothing was unread before it: the cap is lowered to 64 KiB here and a
 * list of 1,000 VMs (~170 KB) is asked for. */
#define BIG_VMS 1000

static void test_long_reply_comes_whole(void **state)
{
	size_t old = ctl_out_max, len, cap = 8u << 20;
	char *buf = malloc(cap), *nl = NULL;
	struct cli c;
	json_t *o;

	(void)state;
	assert_non_null(buf);
	start_many("big", BIG_VMS);
	ctl_out_max = 64u << 10;
	cli_open(&c);
	cli_sendstr(&c, "{\"id\":9,\"op\":\"list\"}\n");
	len = read_reply(c.fd, buf, cap);
	if (!len)
		fail_msg("connection closed (or timed out) before the reply's end");
	nl = memchr(buf, '\n', len);
	close(c.fd);
	ctl_out_max = old;
	assert_true(len > (64u << 10));
	o = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_true(json_array_size(json_object_get(o, "vms")) >= BIG_VMS);
	json_decref(o);
	free(buf);
	stop_many("big", BIG_VMS);
	still_serving();
}

/* The replies of all clients together are bounded: a client that asks for a long list and
 * reads none of it holds its buffer, and when another's reply would take the total past the
 * cap, the one stalled longer than the stall time is closed to make room; while it is not
 * stalled that long, the other gets a short error ("try again") instead. Lists of 4,000 VMs
 * (~500 KB in a 512 KiB buffer, more than the socket holds) under a 768 KiB total. */
#define TOTAL_VMS 4000

static void test_unread_replies_bounded_in_total(void **state)
{
	size_t old_total = ctl_out_total_max, cap = 8u << 20, len;
	unsigned old_stall = ctl_out_stall_ms;
	char *buf = malloc(cap);
	struct timespec nap = {.tv_nsec = 300000000};
	struct cli a, b;
	json_t *o;

	(void)state;
	assert_non_null(buf);
	start_many("tot", TOTAL_VMS);
	ctl_out_total_max = 3u << 18;

	/* Not stalled long enough: b is refused, a still gets its whole reply. */
	ctl_out_stall_ms = 600000;
	cli_open(&a);
	cli_sendstr(&a, "{\"id\":1,\"op\":\"list\"}\n");
	reply_begun(a.fd);
	cli_open(&b);
	cli_sendstr(&b, "{\"id\":2,\"op\":\"list\"}\n");
	o = cli_recv(&b);
	assert_non_null(o);
	assert_false(json_is_true(json_object_get(o, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "try again"));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 2);
	json_decref(o);
	len = read_reply(a.fd, buf, cap);
	assert_true(len > 400000);
	o = json_loadb(buf, len - 1, 0, NULL);
	assert_non_null(o);
	assert_true(json_array_size(json_object_get(o, "vms")) >= TOTAL_VMS);
	json_decref(o);
	/* With a's reply read, b's is served whole. */
	cli_sendstr(&b, "{\"id\":3,\"op\":\"list\"}\n");
	assert_true(read_reply(b.fd, buf, cap) > 400000);
	close(a.fd);

	/* Stalled: a is closed (its reply cut short), b is served whole. */
	ctl_out_stall_ms = 100;
	cli_open(&a);
	cli_sendstr(&a, "{\"id\":4,\"op\":\"list\"}\n");
	reply_begun(a.fd);
	nanosleep(&nap, NULL); /* past the stall time */
	cli_sendstr(&b, "{\"id\":5,\"op\":\"list\"}\n");
	len = read_reply(b.fd, buf, cap);
	assert_true(len > 400000);
	o = json_loadb(buf, len - 1, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 5);
	json_decref(o);
	assert_int_equal(read_reply(a.fd, buf, cap), 0);
	close(a.fd);
	close(b.fd);
	ctl_out_total_max = old_total;
	ctl_out_stall_ms = old_stall;
	free(buf);
	stop_many("tot", TOTAL_VMS);
	still_serving();
}

/* For one test, a server whose backend lists in steps (as denalid's fleet does). */
static int setup_stepped(void **state)
{
	int r = teardown(state);

	fake_backend_stepped = true;
	return r ? r : setup(state);
}

static int teardown_stepped(void **state)
{
	int r = teardown(state);

	fake_backend_stepped = false;
	return r ? r : setup(state);
}

/* A list from a backend that lists in steps is written a step at a time, only as fast as its
 * client reads it: a client that asks for the list of 10,000 VMs (~1.3 MB) and reads none of
 * it gets only a few steps made (the rest waits), the others are served meanwhile, a VM
 * stopped meanwhile is left out of the rest, and once read the reply is one whole line. */
#define STEP_VMS 10000

static void test_list_in_steps(void **state)
{
	size_t cap = 8u << 20, len;
	char *buf = malloc(cap);
	struct fake_stats st0, st;
	unsigned last = 0, stable = 0;
	struct cli a, b;
	json_t *o, *vms, *e;
	size_t i;
	bool lost = false;

	(void)state;
	assert_non_null(buf);
	/* start_many() would read its reply (every name) into a 64 KiB buffer */
	cli_open(&a);
	cli_sendstr(
	    &a,
	    "{\"op\":\"start\",\"name\":\"st\",\"image\":\"/img\",\"count\":10000}\n"); /* STEP_VMS
											 */
	len = read_reply(a.fd, buf, cap);
	close(a.fd);
	assert_true(len > 0);
	o = json_loadb(buf, len - 1, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	assert_int_equal(fake_backend_nvms(&be), STEP_VMS);
	fake_backend_counts(&be, &st0);
	cli_open(&a);
	cli_sendstr(&a, "{\"id\":77,\"op\":\"list\"}\n");
	reply_begun(a.fd);
	/* Wait until the steps stop (the count stays put for 1 s), at most 30 s. */
	for (int k = 0; k < 300 && stable < 10; k++) {
		struct timespec ts = {.tv_nsec = 100000000};

		fake_backend_counts(&be, &st);
		stable = st.list_steps == last ? stable + 1 : 0;
		last = st.list_steps;
		nanosleep(&ts, NULL);
	}
	fake_backend_counts(&be, &st);
	if (st.list_entries - st0.list_entries >= STEP_VMS)
		fail_msg("all %u entries were made for a client that reads none of them",
			 st.list_entries - st0.list_entries);
	assert_true(st.list_steps > st0.list_steps);
	/* The loop serves the others meanwhile, lists included. */
	cli_open(&b);
	cli_sendstr(&b, "{\"id\":76,\"op\":\"list\"}\n");
	len = read_reply(b.fd, buf, cap);
	close(b.fd);
	assert_true(len > 0);
	o = json_loadb(buf, len - 1, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_array_size(json_object_get(o, "vms")), STEP_VMS);
	json_decref(o);
	o = rpc("{\"id\":\"s\",\"op\":\"stats\"}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	/* The table's last VM is not in the steps made so far: stopped now, it is left out. */
	o = rpc("{\"op\":\"stop\",\"name\":\"st-9999\"}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	len = read_reply(a.fd, buf, cap);
	if (!len)
		fail_msg("connection closed (or timed out) before the list's end");
	assert_int_equal(buf[len - 1], '\n');
	o = json_loadb(buf, len - 1, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 77);
	assert_true(json_is_true(json_object_get(o, "ok")));
	vms = json_object_get(o, "vms");
	assert_int_equal(json_array_size(vms), STEP_VMS - 1);
	json_array_foreach(vms, i, e)
	{
		char want[32];

		snprintf(want, sizeof(want), "st-%zu", i);
		if (strcmp(json_string_value(json_object_get(e, "name")), want))
			lost = true;
	}
	assert_false(lost);
	json_decref(o);
	/* The client's next request is answered after its list. */
	cli_sendstr(&a, "{\"id\":78,\"op\":\"stats\"}\n");
	o = cli_recv(&a);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 78);
	json_decref(o);
	close(a.fd);
	free(buf);
	/* (its VMs go with the fake in teardown_stepped: 9,999 stops are 9,999 store syncs) */
}

/* Issue 7 hole 8: a client that sends a byte at a time and never a newline is told and
 * closed once the line time-out passes, however steadily it trickles. */
static void test_trickle_closed(void **state)
{
	struct cli c;
	bool told = false, closed = false;

	(void)state;
	cli_open(&c);
	cli_sendstr(&c, "{");
	for (int i = 0; i < 600 && !closed; i++) {
		struct timespec ts = {.tv_nsec = 100000000};
		ssize_t r;

		if (send(c.fd, " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE)
			closed = true;
		nanosleep(&ts, NULL);
		r = recv(c.fd, c.buf + c.len, sizeof(c.buf) - c.len - 1, MSG_DONTWAIT);
		if (r > 0) {
			c.len += (size_t)r;
			c.buf[c.len] = '\0';
			told = told || strstr(c.buf, "not finished within") != NULL;
		} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			closed = true;
		}
	}
	close(c.fd);
	if (!told || !closed)
		fail_msg("a trickling client was %stold and %sclosed within 60 s",
			 told ? "" : "not ", closed ? "" : "not ");
	still_serving();
}

static void test_pipelined(void **state)
{
	const char *two = "{\"id\":1,\"op\":\"list\"}\n\n{\"id\":2,\"op\":\"stats\"}\r\n";
	struct cli c;
	json_t *o;

	(void)state;
	cli_open(&c);
	cli_send(&c, two, strlen(two));
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
	json_decref(o);
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 2);
	json_decref(o);
	/* A last request without its newline is answered when the client shuts down writing. */
	cli_sendstr(&c, "{\"id\":3,\"op\":\"list\"}");
	shutdown(c.fd, SHUT_WR);
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 3);
	json_decref(o);
	assert_null(cli_recv(&c));
	close(c.fd);
}

/* A request sent behind a start job waits for the job's reply (PROTOCOL.md): it is a
 * finished line, not a trickle, however long the job runs past the line time-out. */
static void test_pipelined_behind_job(void **state)
{
	const char *two = "{\"id\":1,\"op\":\"start\",\"name\":\"slowjob\",\"image\":\"/slow\","
			  "\"count\":30}\n{\"id\":2,\"op\":\"list\"}\n";
	struct cli c;
	json_t *o;

	(void)state;
	cli_open(&c);
	cli_send(&c, two, strlen(two)); /* 30 starts of 100 ms: twice the 1.5 s time-out */
	o = cli_recv(&c);
	assert_non_null(o);
	if (!json_is_true(json_object_get(o, "ok")))
		fail_msg("start behind which a list waited: %s",
			 json_string_value(json_object_get(o, "error")));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
	json_decref(o);
	o = cli_recv(&c);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 2);
	assert_int_equal(json_array_size(json_object_get(o, "vms")), 30);
	json_decref(o);
	close(c.fd);
	o = rpc("{\"op\":\"stop\",\"all\":true}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
}

/* swap runs on the serving thread and may wait on each VM (the fake: 500 ms each). A client
 * naming many VMs, or pipelining many requests, must not hold the loop (and the watchdog)
 * for all of them: once a round has spent OPS_SLOW_BUDGET_MS the rest are refused with "ask
 * again", and the loop goes on answering. */
static void test_swap_holds_the_loop_boundedly(void **state)
{
	const char *reqs = "{\"id\":1,\"op\":\"swap\",\"dir\":\"out\",\"names\":[\"a\",\"b\","
			   "\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]}\n"
			   "{\"id\":2,\"op\":\"swap\",\"dir\":\"out\",\"names\":[\"k\",\"l\","
			   "\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\"]}\n";
	struct cli c;
	size_t done = 0, refused = 0;

	(void)state;
	cli_open(&c);
	cli_send(&c, reqs, strlen(reqs));
	for (int k = 0; k < 2; k++) {
		json_t *o = cli_recv(&c), *f;
		size_t i;

		assert_non_null(o);
		/* 10 swaps of 500 ms would hold the round 5 s; at most the budget's worth (and
		 * the one it ends in) go through */
		if (json_array_size(json_object_get(o, "done")) > OPS_SLOW_BUDGET_MS / 500 + 1)
			fail_msg("%zu of 10 slow swaps ran in one round of the serving loop",
				 json_array_size(json_object_get(o, "done")));
		done += json_array_size(json_object_get(o, "done"));
		json_array_foreach(json_object_get(o, "failed"), i, f)
		{
			assert_non_null(
			    strstr(json_string_value(json_object_get(f, "error")), "ask again"));
			refused++;
		}
		json_decref(o);
	}
	close(c.fd);
	assert_int_equal(done + refused, 20);
	assert_true(done >= 1);
	still_serving();
}

static void test_console(void **state)
{
	struct cli c;
	json_t *o;
	char got[256] = "";

	(void)state;
	o = rpc("{\"op\":\"start\",\"name\":\"con\",\"image\":\"/img\",\"args\":[\"hello\"]}");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	expect_error(rpc("{\"op\":\"console\",\"name\":\"nosuch\"}"), "no such VM");

	/* Without follow: the data, then the final reply with the next offset. */
	cli_open(&c);
	cli_sendstr(&c, "{\"id\":9,\"op\":\"console\",\"name\":\"con\"}\n");
	while ((o = cli_recv(&c)) && !json_object_get(o, "ok")) {
		assert_int_equal(json_integer_value(json_object_get(o, "id")), 9);
		strcat(got, json_string_value(json_object_get(o, "data")));
		json_decref(o);
	}
	assert_string_equal(got, "booted con\nhello\n");
	assert_int_equal(json_integer_value(json_object_get(o, "next")), 17);
	json_decref(o);
	close(c.fd);

	/* With follow: new output arrives as it is written; the stream ends with the VM. */
	cli_open(&c);
	cli_sendstr(
	    &c, "{\"id\":10,\"op\":\"console\",\"name\":\"con\",\"follow\":true,\"offset\":11}\n");
	o = cli_recv(&c);
	assert_string_equal(json_string_value(json_object_get(o, "data")), "hello\n");
	json_decref(o);
	assert_true(fake_backend_console_append(&be, "con", "more\n"));
	o = cli_recv(&c);
	assert_string_equal(json_string_value(json_object_get(o, "data")), "more\n");
	json_decref(o);
	/* Bytes that are not UTF-8 come through as U+FFFD; a character split across two
	 * writes comes through whole. */
	assert_true(fake_backend_console_append(&be, "con", "bad \xff byte \xc3"));
	o = cli_recv(&c);
	assert_string_equal(json_string_value(json_object_get(o, "data")),
			    "bad \xef\xbf\xbd byte ");
	json_decref(o);
	assert_true(fake_backend_console_append(&be, "con", "\xa9!"));
	o = cli_recv(&c);
	assert_string_equal(json_string_value(json_object_get(o, "data")), "\xc3\xa9!");
	json_decref(o);
	/* Other requests on the same connection are still answered. */
	cli_sendstr(&c, "{\"id\":11,\"op\":\"list\"}\n");
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 11);
	json_decref(o);

	json_decref(rpc("{\"op\":\"stop\",\"name\":\"con\"}"));
	o = cli_recv(&c);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 10);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "end")), "vm gone");
	json_decref(o);
	close(c.fd);
	still_serving();
}

static void test_too_many_clients(void **state)
{
	static struct cli c[CTL_CLIENTS_MAX + 1];
	struct rlimit rl;
	json_t *o;

	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2 * CTL_CLIENTS_MAX + 100) {
		fprintf(stderr, "SKIP: RLIMIT_NOFILE %llu is too low to open %d connections\n",
			(unsigned long long)rl.rlim_cur, CTL_CLIENTS_MAX + 1);
		skip();
	}
	/* Each connection is known to be accepted once it has had an answer. */
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		cli_open(&c[i]);
		cli_sendstr(&c[i], "{\"op\":\"list\"}\n");
		o = cli_recv(&c[i]);
		assert_non_null(o);
		json_decref(o);
	}
	cli_open(&c[CTL_CLIENTS_MAX]);
	expect_error(cli_recv(&c[CTL_CLIENTS_MAX]), "too many connections");
	assert_null(cli_recv(&c[CTL_CLIENTS_MAX]));
	for (int i = 0; i <= CTL_CLIENTS_MAX; i++)
		close(c[i].fd);
	/* The slots free up as the server sees the hang-ups; the next connection is served. */
	for (int tries = 0;; tries++) {
		struct cli t;
		cli_open(&t);
		cli_sendstr(&t, "{\"op\":\"list\"}\n");
		o = cli_recv(&t);
		close(t.fd);
		if (json_is_true(json_object_get(o, "ok"))) {
			json_decref(o);
			break;
		}
		json_decref(o);
		assert_true(tries < 1000);
		usleep(10000);
	}
	still_serving();
}

static void test_second_server_refused(void **state)
{
	struct ctl_server *other;
	struct ctl_backend be2;
	char notsock[160];
	FILE *f;

	(void)state;
	fake_backend_init(&be2);
	assert_int_equal(ctl_server_open(sock, 0660, &be2, &other), -EADDRINUSE);
	snprintf(notsock, sizeof(notsock), "%s/plain", dir);
	f = fopen(notsock, "w");
	fclose(f);
	assert_int_equal(ctl_server_open(notsock, 0660, &be2, &other), -EEXIST);
	unlink(notsock);
	fake_backend_fini(&be2);
	still_serving();
}

static void test_socket_mode(void **state)
{
	struct stat st;

	(void)state;
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socket_mode),
	    cmocka_unit_test(test_list_and_stats),
	    cmocka_unit_test(test_start_stop),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_huge_line),
	    cmocka_unit_test(test_rapid_connections),
	    cmocka_unit_test_setup_teardown(test_slow_clients, setup_patient, teardown_patient),
	    cmocka_unit_test(test_trickle_closed),
	    cmocka_unit_test(test_unread_replies_pause_the_client),
	    cmocka_unit_test(test_long_reply_comes_whole),
	    cmocka_unit_test(test_unread_replies_bounded_in_total),
	    cmocka_unit_test_setup_teardown(test_list_in_steps, setup_stepped, teardown_stepped),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_pipelined_behind_job),
	    cmocka_unit_test(test_swap_holds_the_loop_boundedly),
	    cmocka_unit_test(test_console),
	    cmocka_unit_test(test_too_many_clients),
	    cmocka_unit_test(test_second_server_refused),
	};
	struct rlimit rl;

	/* 2,000 connections would log 2,000 lines. */
	log_set_level(LOG_LVL_WARN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

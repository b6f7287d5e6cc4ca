/* The metrics view: the lateness histogram, the exposition text (checked line by line by
 * expo_check, which is itself shown to reject bad text), and the HTTP listener under
 * hostile clients (huge headers, slowloris, more connections than it keeps, a client that
 * never reads), on loopback in a network namespace of its own when the test may make one. */
#include "expo_check.h"
#include "metrics.h"
#include "metrics_http.h"
#include "sched/lateness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- the lateness histogram ---- */

static void test_lateness_buckets(void **state)
{
	struct lateness l = {0};

	(void)state;
	lateness_add(&l, 0);
	lateness_add(&l, 7999);
	assert_int_equal(l.bucket[0], 2);
	lateness_add(&l, 8000);
	lateness_add(&l, 15999);
	assert_int_equal(l.bucket[1], 2);
	lateness_add(&l, 16000);
	assert_int_equal(l.bucket[2], 1);
	lateness_add(&l, 60ull * 1000000000ull);
	assert_int_equal(l.bucket[LATE_BUCKETS - 1], 1);
	assert_int_equal(l.count, 6);
	assert_int_equal(l.sum_ns, 0 + 7999 + 8000 + 15999 + 16000 + 60ull * 1000000000ull);
}

static void test_lateness_quantiles(void **state)
{
	struct lateness l = {0}, m = {0};

	(void)state;
	assert_int_equal(lateness_quantile_us(&l, 0.5), 0);
	for (int i = 0; i < 100; i++)
		lateness_add(&l, 10000); /* 10 us: below 16 */
	assert_int_equal(lateness_quantile_us(&l, 0.5), 16);
	assert_int_equal(lateness_quantile_us(&l, 0.99), 16);
	lateness_add(&l, 10ull * 1000000000ull);
	assert_int_equal(lateness_quantile_us(&l, 0.99), 16); /* rank 100 of 101 */
	lateness_add(&l, 10ull * 1000000000ull);
	assert_true(lateness_quantile_us(&l, 0.99) == UINT64_MAX); /* rank 101 of 102 */
	for (int i = 0; i < 50; i++)
		lateness_add(&m, 100000); /* 100 us: below 128 */
	lateness_merge(&m, &l);
	assert_int_equal(m.count, 152);
	assert_int_equal(lateness_quantile_us(&m, 0.5), 16);  /* rank 76 of 152: among the 16s */
	assert_int_equal(lateness_quantile_us(&m, 0.9), 128); /* rank 137: past the 100 at 16 */
	assert_true(lateness_quantile_us(&m, 0.99) == UINT64_MAX); /* rank 151 */
}

/* ---- the exposition text ---- */

static json_t *stats_json(long long k, int swap)
{
	json_t *s = json_pack(
	    "{s:{s:I, s:I, s:I, s:I, s:I}, s:f, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
	    "s:{s:{s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}}",
	    "vms_by_state", "runnable", 1LL, "running", 2LL, "idle", 3LL, "exited", k, "killed",
	    1LL, "exits_per_s", 12.5, "rate_window_s", 10LL, "registered", 7 + k, "exits_total",
	    100 * k, "shells_pooled", 4LL, "admission", "max_vms", 1000LL, "max_live", 900LL,
	    "mem_budget", 1LL << 30, "mem_used", 1LL << 24, "exits_by_reason", "io", 90 * k, "mmio",
	    0LL, "hlt", k, "shutdown", 2 * k, "fail_entry", 0LL, "internal", 0LL, "intr", 7 * k,
	    "other", 0LL, "totals", "counters", "exits", 100 * k, "hypercalls", "exit", k, "idle",
	    80 * k, "kick", k, "panic", 0LL, "runs", 110 * k, "cpu_ns", 1500000000LL * k, "wakeups",
	    80 * k, "event_entries", 3 * k, "console_bytes", 4096 * k, "console_dropped", 0LL,
	    "vms_started", 8 + k, "vms_exited", k, "vms_killed", 1LL, "vms_removed", 0LL);
	json_t *late = json_pack("{s:I, s:I, s:I, s:I, s:[[I, I], [I, I], [I, I]]}", "count",
				 10 * k, "sum_us", 1234 * k, "p50_us", 16LL, "p99_us", 64LL,
				 "buckets", 8LL, 2 * k, 16LL, 5 * k, -1LL, 10 * k);
	json_t *workers = json_array();

	for (int i = 0; i < 2; i++)
		json_array_append_new(workers,
				      json_pack("{s:i, s:f, s:I, s:I, s:I, s:I, s:O}", "id", i,
						"utilisation", 0.25, "busy_ns", 1000000LL * k,
						"runs", 20 * k, "preemptions", k, "live", 3LL,
						"wakeup_lateness", late));
	json_object_set_new(s, "workers", workers);
	json_object_set_new(s, "wakeup_lateness", late);
	if (swap)
		json_object_set_new(
		    s, "swap",
		    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "vms_resident", 3LL, "vms_swapped", 4LL, "vms_waiting", 0LL,
			      "swap_ins", 5 * k, "swap_outs", 6 * k, "resident_bytes", 1LL << 20,
			      "peak_resident_bytes", 1LL << 21, "mem_budget", 1LL << 30, "live_max",
			      100LL, "swap_in_p50_us", 332LL, "swap_in_p99_us", 1170LL,
			      "frames_queued", k, "frames_dropped", 0LL));
	return s;
}

static json_t *vms_json(unsigned n, long long k, const char *odd_name)
{
	json_t *rows = json_array();

	for (unsigned i = 0; i < n; i++) {
		char name[64];

		snprintf(name, sizeof(name), "vm-%u", i);
		json_array_append_new(
		    rows,
		    json_pack("{s:s, s:I, s:s, s:i, s:{s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, "
			      "s:I, s:{s:I, s:I, s:I, s:I}}, s:I, s:I, s:I}",
			      "name", i == 0 && odd_name ? odd_name : name, "id", (json_int_t)i + 1,
			      "state", "idle", "worker", (int)(i % 2), "counters", "cpu_ns",
			      250000LL * k, "exits_by_reason", "io", 10 * k, "intr", k,
			      "hypercalls", "idle", 9 * k, "exit", 0LL, "runs", 11 * k, "wakeups",
			      9 * k, "exits", 11 * k, "wakeup_lateness", "count", 9 * k, "sum_us",
			      90 * k, "p50_us", 8LL, "p99_us", i == 1 ? -1LL : 16LL,
			      "console_bytes", 100 * k, "console_dropped", 0LL, "mem_bytes",
			      4LL << 20));
	}
	return json_pack("{s:o, s:I}", "vms", rows, "registered", (json_int_t)n + 5);
}

static char *render(long long k, int swap, unsigned nvms, const char *odd, size_t *len)
{
	json_t *s = stats_json(k, swap), *v = vms_json(nvms, k, odd);
	char *t = metrics_render(s, v, len);

	json_decref(s);
	json_decref(v);
	assert_non_null(t);
	return t;
}

static void test_render_valid(void **state)
{
	struct expo e;
	size_t len;
	char *t = render(2, 1, 3, "odd\"na\\me", &len);

	(void)state;
	if (expo_parse(t, len, &e) < 0)
		fail_msg("%s\n%s", e.err, t);
	assert_true(expo_value(&e, "denali_cpu_seconds_total") == 3.0);
	assert_true(expo_value(&e, "denali_exits_by_reason_total{reason=\"io\"}") == 180);
	assert_true(expo_value(&e, "denali_vms{state=\"exited\"}") == 2);
	assert_true(expo_value(&e, "denali_wakeup_lateness_seconds_count") == 20);
	assert_true(expo_value(&e, "denali_wakeup_lateness_seconds_bucket{le=\"0.000016\"}") == 10);
	assert_true(expo_value(&e, "denali_worker_wakeup_lateness_seconds_sum{worker=\"1\"}") ==
		    0.002468);
	assert_true(expo_value(&e, "denali_swap_ins_total") == 10);
	assert_true(expo_value(&e, "denali_swap_in_p99_seconds") == 0.00117);
	assert_true(expo_value(&e, "denali_metrics_vms_shown") == 3);
	assert_true(expo_value(&e, "denali_metrics_vms_omitted") == 5);
	assert_true(expo_value(&e, "denali_vm_exits_total{vm=\"vm-1\",reason=\"intr\"}") == 2);
	assert_true(expo_value(&e, "denali_vm_cpu_seconds_total{vm=\"odd\\\"na\\\\me\"}") ==
		    0.0005);
	assert_true(isinf(
	    expo_value(&e, "denali_vm_wakeup_lateness_seconds{vm=\"vm-1\",quantile=\"0.99\"}")));
	assert_true(expo_value(&e, "denali_vm_wakeup_lateness_seconds_count{vm=\"vm-2\"}") == 18);
	expo_free(&e);
	free(t);
	/* Without swap there is no swap family at all, and no per-VM family without VMs. */
	t = render(1, 0, 0, NULL, &len);
	assert_int_equal(expo_parse(t, len, &e), 0);
	assert_null(strstr(t, "denali_swap_"));
	assert_null(strstr(t, "denali_vm_cpu"));
	assert_true(expo_value(&e, "denali_metrics_vms_omitted") == 5);
	expo_free(&e);
	free(t);
}

static void test_render_monotonic(void **state)
{
	struct expo a, b;
	size_t la, lb;
	char err[512], *t1 = render(1, 1, 4, NULL, &la), *t2 = render(3, 1, 4, NULL, &lb);

	(void)state;
	assert_int_equal(expo_parse(t1, la, &a), 0);
	assert_int_equal(expo_parse(t2, lb, &b), 0);
	assert_int_equal(expo_monotonic(&a, &b, err, sizeof(err)), 0);
	/* ... and the check does catch a counter that goes down. */
	assert_int_equal(expo_monotonic(&b, &a, err, sizeof(err)), -1);
	expo_free(&a);
	expo_free(&b);
	free(t1);
	free(t2);
}

static void test_checker_rejects(void **state)
{
	static const char *const bad[] = {
	    "x_total 1\n",						/* no TYPE */
	    "# TYPE x counter\nx 1\n",					/* not *_total */
	    "# TYPE x_total counter\nx_total -1\n",			/* negative */
	    "# TYPE g gauge\ng{a=\"b} 1\n",				/* label */
	    "# TYPE g gauge\ng{a=\"\\q\"} 1\n",				/* escape */
	    "# TYPE g gauge\ng 1\ng 2\n",				/* twice */
	    "# TYPE g gauge\n# TYPE h gauge\ng 1\nh 1\ng{a=\"1\"} 1\n", /* interleaved */
	    "# TYPE g gauge\ng one\n",					/* value */
	    "# TYPE g gauge\ng 1",					/* no newline */
	    "# TYPE g gauge\n\ng 1\n",					/* empty line */
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\n"
	    "h_count 4\n", /* not cumulative */
	    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 5\n", /* +Inf */
	    "# TYPE 1g gauge\n",						 /* name */
	};
	struct expo e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = expo_parse(bad[i], strlen(bad[i]), &e);

		if (r == 0)
			fail_msg("accepted: %s", bad[i]);
		expo_free(&e);
	}
	{
		const char *ok = "# TYPE g gauge\ng{a=\"x\\\"y\"} +Inf\n";

		assert_int_equal(expo_parse(ok, strlen(ok), &e), 0);
	}
	expo_free(&e);
}

/* ---- the HTTP listener ---- */

/* A backend whose counters go up at every stats call; rows for as many VMs as asked. */
static long long backend_calls;
static pthread_mutex_t backend_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *tb_stats(void *ctx)
{
	long long k;

	(void)ctx;
	pthread_mutex_lock(&backend_lock);
	k = ++backend_calls;
	pthread_mutex_unlock(&backend_lock);
	return stats_json(k, 0);
}

static json_t *tb_vms(void *ctx, unsigned max)
{
	(void)ctx;
	return vms_json(max, backend_calls, NULL);
}

static const struct ctl_backend test_be = {.stats = tb_stats, .metrics_vms = tb_vms};

static struct metrics_http *http_up(unsigned cache_ms, unsigned vms, int *port)
{
	struct metrics_http_config c = {.max_conns = 8,
					.header_max = 1024,
					.request_ms = 300,
					.send_ms = 300,
					.cache_ms = cache_ms,
					.vms_max = vms};
	struct metrics_http *m;
	char err[256];

	assert_int_equal(metrics_http_open("127.0.0.1:0", &test_be, &c, &m, err, sizeof(err)), 0);
	*port = metrics_http_port(m);
	assert_true(*port > 0);
	assert_int_equal(metrics_http_start(m), 0);
	return m;
}

static int dial(int port, int rcvbuf)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until EOF (10 s hang guard); the bytes read, malloc'd, in *out. */
static size_t read_all(int fd, char **out)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 10000) != 1)
			fail_msg("no answer and no close within 10 s");
		if (n == cap)
			b = realloc(b, (cap *= 2) + 1);
		r = recv(fd, b + n, cap - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	b[n] = 0;
	*out = b;
	return n;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* A whole exchange: the reply, malloc'd. */
static char *exchange(int port, const char *req, size_t *len)
{
	int fd = dial(port, 0);
	char *b;

	send_str(fd, req);
	*len = read_all(fd, &b);
	close(fd);
	return b;
}

static void check_scrape(int port, struct expo *e)
{
	size_t len;
	char *r = exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &len);
	char *body = strstr(r, "\r\n\r\n");

	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(body);
	body += 4;
	if (expo_parse(body, len - (size_t)(body - r), e) < 0)
		fail_msg("scrape: %s", e->err);
	free(r);
}

static void test_http_requests(void **state)
{
	int port;
	struct metrics_http *m = http_up(1, 2, &port);
	struct expo a, b;
	char err[512], *r;
	size_t len;

	(void)state;
	check_scrape(port, &a);
	usleep(5000); /* past cache_ms: a new rendering, counters higher */
	check_scrape(port, &b);
	assert_int_equal(expo_monotonic(&a, &b, err, sizeof(err)), 0);
	assert_true(expo_value(&b, "denali_exits_total") > expo_value(&a, "denali_exits_total"));
	assert_true(expo_value(&b, "denali_metrics_http_served_total") >= 1);
	expo_free(&a);
	expo_free(&b);
	r = exchange(port, "HEAD /metrics HTTP/1.0\r\n\r\n", &len);
	assert_non_null(strstr(r, "200 OK"));
	assert_null(strstr(r, "denali_"));
	free(r);
	r = exchange(port, "GET / HTTP/1.1\r\n\r\n", &len);
	assert_non_null(strstr(r, "HTTP/1.1 404 "));
	free(r);
	r = exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &len);
	assert_non_null(strstr(r, "HTTP/1.1 405 "));
	free(r);
	r = exchange(port, "\x01\x02 garbage\r\n\r\n", &len);
	assert_non_null(strstr(r, "HTTP/1.1 400 "));
	free(r);
	r = exchange(port, "GET /metrics?x=1 HTTP/1.1\n\n", &len);
	assert_non_null(strstr(r, "200 OK"));
	free(r);
	metrics_http_close(m);
}

static void test_http_huge_header(void **state)
{
	int port, fd;
	struct metrics_http *m = http_up(1, 0, &port);
	char line[256], *r;

	(void)state;
	fd = dial(port, 0);
	send_str(fd, "GET /metrics HTTP/1.1\r\n");
	memset(line, 'a', sizeof(line) - 3);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	for (int i = 0; i < 8; i++) /* 2 KiB of header, past header_max (1 KiB) */
		if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
			break;
	read_all(fd, &r);
	assert_non_null(strstr(r, "HTTP/1.1 431 "));
	free(r);
	close(fd);
	metrics_http_close(m);
}

static void test_http_slowloris(void **state)
{
	int port, slow[4];
	struct metrics_http *m = http_up(1, 0, &port);
	struct metrics_http_stats st;
	struct expo e;
	char *r;

	(void)state;
	for (int i = 0; i < 4; i++) {
		slow[i] = dial(port, 0);
		send_str(slow[i], "GET /metr"); /* and never more */
	}
	check_scrape(port, &e); /* served meanwhile */
	expo_free(&e);
	for (int i = 0; i < 4; i++) {
		/* closed by the server past request_ms (read_all fails after 10 s otherwise) */
		read_all(slow[i], &r);
		assert_null(strstr(r, "200 OK"));
		free(r);
		close(slow[i]);
	}
	metrics_http_stats(m, &st);
	assert_true(st.timed_out >= 4);
	metrics_http_close(m);
}

static void test_http_many_connections(void **state)
{
	int port, idle[24];
	struct metrics_http *m = http_up(1, 0, &port);
	struct metrics_http_stats st;
	struct expo e;

	(void)state;
	for (int i = 0; i < 24; i++) /* three times what it keeps */
		idle[i] = dial(port, 0);
	usleep(20000);
	check_scrape(port, &e); /* gets a slot: an idle one makes room */
	expo_free(&e);
	metrics_http_stats(m, &st);
	assert_true(st.evicted >= 16);
	for (int i = 0; i < 24; i++)
		close(idle[i]);
	metrics_http_close(m);
}

static void test_http_cache(void **state)
{
	int port;
	struct metrics_http *m = http_up(600000, 0, &port);
	struct metrics_http_stats st;
	long long before;
	struct expo e;

	(void)state;
	pthread_mutex_lock(&backend_lock);
	before = backend_calls;
	pthread_mutex_unlock(&backend_lock);
	for (int i = 0; i < 5; i++) {
		check_scrape(port, &e);
		expo_free(&e);
	}
	metrics_http_stats(m, &st);
	assert_int_equal(st.renders, 1);
	assert_int_equal(st.served, 5);
	assert_int_equal(backend_calls - before, 1);
	metrics_http_close(m);
}

static void test_http_reader_that_never_reads(void **state)
{
	int port, fd;
	struct metrics_http *m = http_up(1, 10000, &port); /* ~10 MB of text */
	struct metrics_http_stats st;
	struct expo e;
	char *r;
	size_t n;

	(void)state;
	fd = dial(port, 4096);
	send_str(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	usleep(100000);
	check_scrape(port, &e); /* served while the first one is stuck */
	expo_free(&e);
	for (int i = 0; i < 200; i++) { /* hang guard: 10 s */
		metrics_http_stats(m, &st);
		if (st.timed_out)
			break;
		usleep(50000);
	}
	assert_true(st.timed_out >= 1);
	n = read_all(fd, &r); /* what was in flight, then the close: not the whole text */
	assert_true(n < 5000000);
	free(r);
	close(fd);
	metrics_http_close(m);
}

/* Loopback of a network namespace of our own, when we may make one. */
static void own_netns(void)
{
	struct ifreq ifr = {0};
	int fd;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "note: no network namespace of our own (%s); using 127.0.0.1\n",
			strerror(errno));
		return;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(ifr.ifr_name, "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		fprintf(stderr, "cannot bring up lo in the new namespace: %s\n", strerror(errno));
		exit(1);
	}
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lateness_buckets),
	    cmocka_unit_test(test_lateness_quantiles),
	    cmocka_unit_test(test_render_valid),
	    cmocka_unit_test(test_render_monotonic),
	    cmocka_unit_test(test_checker_rejects),
	    cmocka_unit_test(test_http_requests),
	    cmocka_unit_test(test_http_huge_header),
	    cmocka_unit_test(test_http_slowloris),
	    cmocka_unit_test(test_http_many_connections),
	    cmocka_unit_test(test_http_cache),
	    cmocka_unit_test(test_http_reader_that_never_reads),
	};

	own_netns();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

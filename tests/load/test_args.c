/* test_args.c - command-line parsing and target specs of denali-load. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "args.h"
#include "target.h"

static struct load_config cfg;
static char err[512];

/* Parse a NULL-terminated list of arguments after the program name. */
static int parse(const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	const char *a;

	argv[argc++] = (char *)"denali-load";
	va_start(ap, first);
	for (a = first; a && argc < 63; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return args_parse(argc, argv, &cfg, err, sizeof(err));
}

static void expect_error(int rc, const char *needle)
{
	assert_int_equal(rc, -EINVAL);
	if (!strstr(err, needle)) {
		print_error("error '%s' does not mention '%s'\n", err, needle);
		fail();
	}
}

static void test_defaults_and_full(void **state)
{
	(void)state;
	assert_int_equal(parse("-t", "127.0.0.1:80", "-r", "5000", NULL), 0);
	assert_int_equal(cfg.mode, LOAD_OPEN);
	assert_int_equal(cfg.arrival, ARRIVAL_POISSON);
	assert_true(cfg.alpha == 1.0);
	assert_int_equal(cfg.duration_ns, 10000000000ULL);
	assert_int_equal(cfg.max_conns, 1024);
	assert_string_equal(cfg.path, "/");

	assert_int_equal(parse("--prefix", "198.18.0.0/15", "--hosts", "1000", "--port", "8080",
			       "--path", "/obj.html", "--alpha", "0.8", "--seed", "77", "--rate",
			       "20k", "--arrival", "constant", "--duration", "500ms", "--warmup",
			       "0", "--timeout", "1s", "--max-conns", "10000", "--conns-per-target",
			       "2", "--max-pending", "5000", "--hits", "h", "--cdf", "c", "--tsv",
			       "t", "--label", "1000", "-q", NULL),
			 0);
	assert_string_equal(cfg.prefix, "198.18.0.0/15");
	assert_int_equal(cfg.prefix_hosts, 1000);
	assert_int_equal(cfg.port, 8080);
	assert_string_equal(cfg.path, "/obj.html");
	assert_true(cfg.alpha == 0.8);
	assert_int_equal(cfg.seed, 77);
	assert_true(cfg.rate == 20000.0);
	assert_int_equal(cfg.arrival, ARRIVAL_CONSTANT);
	assert_int_equal(cfg.duration_ns, 500000000ULL);
	assert_int_equal(cfg.warmup_ns, 0);
	assert_int_equal(cfg.timeout_ns, 1000000000ULL);
	assert_int_equal(cfg.max_conns, 10000);
	assert_int_equal(cfg.conns_per_target, 2);
	assert_int_equal(cfg.max_pending, 5000);
	assert_string_equal(cfg.label, "1000");
	assert_true(cfg.quiet);
}

static void test_closed_and_sweep(void **state)
{
	(void)state;
	assert_int_equal(parse("-t", "127.0.0.1:80", "--closed", "-c", "64", "-C", "64", NULL), 0);
	assert_int_equal(cfg.mode, LOAD_CLOSED);
	assert_int_equal(cfg.concurrency, 64);
	assert_int_equal(parse("-t", "127.0.0.1:80", "--sweep", "1k:100k", "--slo", "p99.9<2ms",
			       "--slo-errors", "0.01", NULL),
			 0);
	assert_true(cfg.sweep);
	assert_true(cfg.sweep_lo == 1000.0 && cfg.sweep_hi == 100000.0);
	assert_true(cfg.slo_pct == 99.9);
	assert_int_equal(cfg.slo_ns, 2000000);
	assert_true(cfg.slo_errors == 0.01);
}

static void test_help(void **state)
{
	(void)state;
	assert_int_equal(parse("--help", NULL), 1);
	assert_int_equal(parse("-t", "x", "-h", NULL), 1);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	expect_error(parse(NULL), "no targets");
	expect_error(parse("-t", "127.0.0.1:80", NULL), "--rate");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "0", NULL), "--rate");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "fast", NULL), "--rate");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-a", "-1", NULL), "--alpha");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-a", "1x", NULL), "--alpha");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-d", "0", NULL), "--duration");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-d", "10parsecs", NULL),
		     "--duration");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-w", "-2s", NULL), "--warmup");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "--timeout", "0", NULL),
		     "--timeout");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-C", "0", NULL), "--max-conns");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-s", "-5", NULL), "--seed");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "--arrival", "bursty", NULL),
		     "--arrival");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "-P", "noslash", NULL), "--path");
	expect_error(parse("-t", "127.0.0.1:80", "--sweep", "5k:1k", NULL), "--sweep");
	expect_error(parse("-t", "127.0.0.1:80", "--sweep", "5k", NULL), "--sweep");
	expect_error(parse("-t", "127.0.0.1:80", "--sweep", "1k:5k", "--slo", "99<1ms", NULL),
		     "--slo");
	expect_error(parse("-t", "127.0.0.1:80", "--sweep", "1k:5k", "--slo", "p99<", NULL),
		     "--slo");
	expect_error(parse("-t", "127.0.0.1:80", "--sweep", "1k:5k", "--closed", NULL), "--sweep");
	expect_error(parse("--prefix", "198.18.0.0/15", "-r", "1", NULL), "--hosts");
	expect_error(parse("-n", "10", "-r", "1", NULL), "--prefix");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "--bogus", NULL), "--bogus");
	expect_error(parse("-t", "127.0.0.1:80", "-r", NULL), "-r");
	expect_error(parse("-t", "127.0.0.1:80", "-r", "1000", "extra", NULL), "extra");
	expect_error(parse("-t", "127.0.0.1:80", "--closed", "-c", "100", "-C", "10", NULL),
		     "--concurrency");
}

static void test_parsers(void **state)
{
	uint64_t ns;
	double d;

	(void)state;
	assert_int_equal(args_parse_duration("1.5s", &ns), 0);
	assert_int_equal(ns, 1500000000ULL);
	assert_int_equal(args_parse_duration("250us", &ns), 0);
	assert_int_equal(ns, 250000);
	assert_int_equal(args_parse_duration("2m", &ns), 0);
	assert_int_equal(ns, 120000000000ULL);
	assert_int_equal(args_parse_duration("3", &ns), 0);
	assert_int_equal(ns, 3000000000ULL);
	assert_int_equal(args_parse_duration("", &ns), -EINVAL);
	assert_int_equal(args_parse_duration("1e300s", &ns), -EINVAL);
	assert_int_equal(args_parse_duration("nan", &ns), -EINVAL);
	assert_int_equal(args_parse_rate("1.5M", &d), 0);
	assert_true(d == 1500000.0);
	assert_int_equal(args_parse_rate("-3", &d), -EINVAL);
	assert_int_equal(args_parse_rate("inf", &d), -EINVAL);
	assert_int_equal(args_parse_slo("p50<1s", &d, &ns), 0);
	assert_true(d == 50.0);
	assert_int_equal(ns, 1000000000ULL);
	assert_int_equal(args_parse_slo("p101<1s", &d, &ns), -EINVAL);
	assert_int_equal(args_parse_slo("p99<0ms", &d, &ns), -EINVAL);
}

static void test_target_specs(void **state)
{
	struct target t;

	(void)state;
	assert_int_equal(target_parse(&t, "127.0.0.1:8080/obj.html", "/"), 0);
	assert_string_equal(t.name, "127.0.0.1:8080");
	assert_non_null(strstr(t.req, "GET /obj.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
	free(t.req);
	assert_int_equal(target_parse(&t, "http://198.18.0.7:80", "/x"), 0);
	assert_non_null(strstr(t.req, "GET /x HTTP/1.1\r\nHost: 198.18.0.7\r\n"));
	free(t.req);
	assert_int_equal(target_parse(&t, "[::1]:9000/a", "/"), 0);
	assert_string_equal(t.name, "[::1]:9000");
	free(t.req);
	assert_int_equal(target_parse(&t, "localhost:81", "/"), 0);
	free(t.req);
	assert_int_equal(target_parse(&t, "127.0.0.1", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "127.0.0.1:0", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "127.0.0.1:70000", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "127.0.0.1:80x", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "300.1.1.1:80", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "example.com:80", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, "[::1:80", "/"), -EINVAL);
	assert_int_equal(target_parse(&t, ":80", "/"), -EINVAL);
}

static void test_target_sets(void **state)
{
	struct target_set ts;
	char path[] = "/tmp/denali-load-targets-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# services\n127.0.0.1:8001/a\n\n  127.0.0.2:8002  # second\n", f);
	fclose(f);
	assert_int_equal(parse("-T", path, "--prefix", "198.18.0.0/15", "-n", "3", "-p", "8080",
			       "-r", "1", NULL),
			 0);
	assert_int_equal(target_set_build(&ts, &cfg, err, sizeof(err)), 0);
	assert_int_equal(ts.n, 5);
	assert_string_equal(ts.v[0].name, "127.0.0.1:8001");
	assert_string_equal(ts.v[1].name, "127.0.0.2:8002");
	assert_string_equal(ts.v[2].name, "198.18.0.1:8080");
	assert_string_equal(ts.v[4].name, "198.18.0.3:8080");
	target_set_free(&ts);

	assert_int_equal(parse("--prefix", "198.18.0.0/30", "-n", "3", "-r", "1", NULL), 0);
	assert_int_equal(target_set_build(&ts, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not fit"));
	assert_int_equal(parse("--prefix", "198.18.0.0", "-n", "3", "-r", "1", NULL), 0);
	assert_int_equal(target_set_build(&ts, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--prefix"));
	assert_int_equal(parse("-t", "nowhere", "-r", "1", NULL), 0);
	assert_int_equal(target_set_build(&ts, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nowhere"));
	unlink(path);
	assert_int_equal(parse("-T", path, "-r", "1", NULL), 0);
	assert_int_equal(target_set_build(&ts, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_full),
	    cmocka_unit_test(test_closed_and_sweep),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_target_specs),
	    cmocka_unit_test(test_target_sets),
	};

	return cmocka_run_group_tests_name("load_args", tests, NULL, NULL);
}

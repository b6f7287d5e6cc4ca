/* The request parser against every class of malformed input, and size parsing. */
#include "proto.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *line, struct ctl_request *req, char *err)
{
	return ctl_request_parse(line, strlen(line), req, err, 256);
}

/* Parses line, expecting a refusal whose message contains want. */
static void refused(const char *line, const char *want)
{
	struct ctl_request req;
	char err[256] = "";
	int r = parse(line, &req, err);

	if (r != -EINVAL || !strstr(err, want))
		fail_msg("%s: got %d \"%s\", wanted an error with \"%s\"", line, r, err, want);
	ctl_request_free(&req);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"16M", 16ull << 20},
	    {"16m", 16ull << 20},
	    {"64MiB", 64ull << 20},
	    {"64MB", 64ull << 20},
	    {"1G", 1ull << 30},
	    {"1GiB", 1ull << 30},
	    {"512K", 512ull << 10},
	    {"2T", 2ull << 40},
	    {"100B", 100},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {
	    "",	      "M",    "-1",   "+1",  " 1",   "1 ",   "1.5G", "16X",
	    "16MiBs", "16Mi", "0x10", "1e6", "16 M", "1GB1", "MiB",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(ctl_parse_size(good[i].s, &v), 0);
		assert_true(v == good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctl_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("size \"%s\" accepted", bad[i]);
	assert_int_equal(ctl_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(ctl_parse_size("17179869184G", &v), -ERANGE);
	assert_int_equal(ctl_parse_size(NULL, &v), -EINVAL);
}

static void test_names(void **state)
{
	char long63[64], long64[65];

	(void)state;
	memset(long63, 'a', 63);
	long63[63] = '\0';
	memset(long64, 'a', 64);
	long64[64] = '\0';
	assert_true(ctl_name_valid("web"));
	assert_true(ctl_name_valid("a.b_c-D9"));
	assert_true(ctl_name_valid(long63));
	assert_false(ctl_name_valid(long64));
	assert_false(ctl_name_valid(""));
	assert_false(ctl_name_valid("."));
	assert_false(ctl_name_valid(".."));
	assert_false(ctl_name_valid("a/b"));
	assert_false(ctl_name_valid("a b"));
	assert_false(ctl_name_valid("caf\xc3\xa9"));
	assert_false(ctl_name_valid("a\n"));
}

static void test_valid_requests(void **state)
{
	struct ctl_request req;
	char err[256];

	(void)state;
	assert_int_equal(
	    parse("{\"id\": 7, \"op\": \"start\", \"name\": \"web\", \"image\": "
		  "\"/img\", \"mem\": \"64MiB\", \"count\": 3, \"args\": [\"a\",\"b\"]}",
		  &req, err),
	    0);
	assert_int_equal(req.op, CTL_OP_START);
	assert_int_equal(json_integer_value(req.id), 7);
	assert_string_equal(req.name, "web");
	assert_string_equal(req.image, "/img");
	assert_true(req.mem_bytes == 64ull << 20);
	assert_int_equal(req.count, 3);
	assert_int_equal(req.argc, 2);
	assert_string_equal(req.argv[1], "b");
	assert_null(req.argv[2]);
	ctl_request_free(&req);

	assert_int_equal(parse("{\"op\":\"start\",\"name\":\"w\",\"image\":\"/i\"}", &req, err), 0);
	assert_null(req.id);
	assert_true(req.mem_bytes == CTL_MEM_DEFAULT);
	assert_int_equal(req.count, 0);
	assert_int_equal(req.argc, 0);
	assert_null(req.argv[0]);
	ctl_request_free(&req);

	assert_int_equal(
	    parse("{\"op\":\"start\",\"name\":\"w\",\"image\":\"/i\",\"mem\":2097152}", &req, err),
	    0);
	assert_true(req.mem_bytes == 2u << 20);
	ctl_request_free(&req);

	assert_int_equal(
	    parse("{\"id\":\"abc\",\"op\":\"stop\",\"names\":[\"a\",\"b\"]}", &req, err), 0);
	assert_string_equal(json_string_value(req.id), "abc");
	assert_int_equal(req.nnames, 2);
	assert_string_equal(req.names[1], "b");
	assert_false(req.all);
	ctl_request_free(&req);

	assert_int_equal(parse("{\"op\":\"stop\",\"all\":true}", &req, err), 0);
	assert_true(req.all);
	ctl_request_free(&req);

	assert_int_equal(parse("{\"op\":\"stop\",\"name\":\"x\"}", &req, err), 0);
	assert_int_equal(req.nnames, 1);
	assert_string_equal(req.names[0], "x");
	ctl_request_free(&req);

	assert_int_equal(parse(" {\"op\":\"list\"} ", &req, err), 0);
	assert_int_equal(req.op, CTL_OP_LIST);
	ctl_request_free(&req);
	assert_int_equal(parse("{\"op\":\"stats\",\"id\":1}", &req, err), 0);
	assert_int_equal(req.op, CTL_OP_STATS);
	ctl_request_free(&req);

	assert_int_equal(
	    parse("{\"op\":\"console\",\"name\":\"w\",\"follow\":true,\"offset\":5}", &req, err),
	    0);
	assert_true(req.follow);
	assert_true(req.offset == 5);
	ctl_request_free(&req);
}

static void test_random_bytes(void **state)
{
	char buf[512];
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 5000; round++) {
		struct ctl_request req;
		char err[256];
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rand_r(&seed);
		/* Random bytes are almost never a valid request; whatever the answer, it must
		 * come back without a crash and leave nothing behind. */
		if (ctl_request_parse(buf, n, &req, err, sizeof(err)) < 0)
			assert_true(strlen(err) > 0);
		ctl_request_free(&req);
	}
}

static void test_truncated(void **state)
{
	const char *full = "{\"id\": 7, \"op\": \"start\", \"name\": \"web\", \"image\": \"/p\", "
			   "\"mem\": \"16M\", \"count\": 3, \"args\": [\"a\",\"b\"]}";
	size_t n = strlen(full);

	(void)state;
	for (size_t cut = 0; cut < n; cut++) {
		struct ctl_request req;
		char err[256] = "";
		assert_int_equal(ctl_request_parse(full, cut, &req, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		ctl_request_free(&req);
	}
	refused("{\"op\":\"list\"", "malformed JSON");
	refused("{\"op\":\"list\"}{", "malformed JSON");
	refused("", "malformed JSON");
	refused("{\"op\":\"list\",\"op\":\"stats\"}", "malformed JSON"); /* duplicate key */
	refused("{\"op\":\"li\\u0000st\"}", "malformed JSON");
}

static void test_wrong_types(void **state)
{
	(void)state;
	refused("[]", "must be a JSON object");
	refused("42", "must be a JSON object");
	refused("\"list\"", "must be a JSON object");
	refused("null", "must be a JSON object");
	refused("{\"op\":1}", "\"op\" must be a string");
	refused("{\"op\":null}", "\"op\" must be a string");
	refused("{\"op\":[\"list\"]}", "\"op\" must be a string");
	refused("{\"id\":1.5,\"op\":\"list\"}", "\"id\" must be");
	refused("{\"id\":{},\"op\":\"list\"}", "\"id\" must be");
	refused("{\"op\":\"start\",\"name\":5,\"image\":\"/i\"}", "\"name\" must be a string");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":true}", "\"image\" must be a string");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":true}", "\"mem\"");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":1.5}", "\"mem\"");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":\"3\"}",
		"\"count\" must be an integer");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"args\":\"x\"}",
		"\"args\" must be an array");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"args\":[1]}",
		"\"args\" must be a string");
	refused("{\"op\":\"stop\",\"names\":\"a\"}", "\"names\" must be");
	refused("{\"op\":\"stop\",\"names\":[]}", "\"names\" must be");
	refused("{\"op\":\"stop\",\"names\":[1]}", "\"names\" must be a string");
	refused("{\"op\":\"stop\",\"all\":1}", "\"all\" must be true");
	refused("{\"op\":\"stop\",\"all\":false}", "\"all\" must be true");
	refused("{\"op\":\"console\",\"name\":\"a\",\"follow\":\"yes\"}", "\"follow\"");
	refused("{\"op\":\"console\",\"name\":\"a\",\"offset\":-1}", "\"offset\"");
	refused("{\"op\":\"console\",\"name\":\"a\",\"offset\":\"0\"}", "\"offset\"");
}

static void test_unknown_op_and_fields(void **state)
{
	(void)state;
	refused("{\"op\":\"reboot\"}", "unknown op");
	refused("{\"op\":\"\"}", "unknown op");
	refused("{\"op\":\"LIST\"}", "unknown op");
	refused("{\"id\":1}", "missing \"op\"");
	refused("{}", "missing \"op\"");
	refused("{\"op\":\"list\",\"verbose\":true}", "unknown field \"verbose\"");
	refused("{\"op\":\"stop\",\"name\":\"a\",\"image\":\"/i\"}", "unknown field \"image\"");
}

static void test_missing_fields(void **state)
{
	(void)state;
	refused("{\"op\":\"start\",\"image\":\"/i\"}", "missing \"name\"");
	refused("{\"op\":\"start\",\"name\":\"a\"}", "missing \"image\"");
	refused("{\"op\":\"console\"}", "missing \"name\"");
	refused("{\"op\":\"stop\"}", "exactly one of");
	refused("{\"op\":\"stop\",\"name\":\"a\",\"all\":true}", "exactly one of");
}

static void test_bad_names_and_paths(void **state)
{
	(void)state;
	refused("{\"op\":\"start\",\"name\":\"\",\"image\":\"/i\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"../etc\",\"image\":\"/i\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"..\",\"image\":\"/i\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"a b\",\"image\":\"/i\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"caf\\u00e9\",\"image\":\"/i\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"a\\u0000b\",\"image\":\"/i\"}", "malformed JSON");
	refused("{\"op\":\"start\",\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaa\",\"image\":\"/i\"}",
		"bad VM name");
	refused("{\"op\":\"stop\",\"names\":[\"ok\",\"not/ok\"]}", "bad VM name");
	refused("{\"op\":\"console\",\"name\":\"x y\"}", "bad VM name");
	refused("{\"op\":\"export\",\"name\":\"ok\",\"file\":\"../x\"}", "bad file name");
	refused("{\"op\":\"import\",\"file\":\"a/b\"}", "bad file name");
	refused("{\"op\":\"export\",\"name\":\"a b\",\"file\":\"f\"}", "bad VM name");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"relative/path\"}", "absolute path");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"\"}", "absolute path");
}

static void test_bad_sizes_and_counts(void **state)
{
	char line[256];

	(void)state;
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"lots\"}",
		"bad \"mem\"");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"16Q\"}",
		"bad \"mem\"");
	refused(
	    "{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"99999999999999999999\"}",
	    "bad \"mem\"");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"0\"}",
		DENALI_MEM_RULE);
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"1T\"}",
		DENALI_MEM_RULE);
	/* The one rule (abi.h): what the VM layer accepts, no more. These were accepted by
	 * the protocol's old, wider rule (4 KiB multiples, 1 MiB to 64 GiB). */
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"1M\"}",
		DENALI_MEM_RULE);
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"3M\"}",
		DENALI_MEM_RULE);
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"8G\"}",
		DENALI_MEM_RULE);
	{
		struct ctl_request req;
		char err[256] = "";

		assert_int_equal(
		    parse("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"6M\"}", &req,
			  err),
		    0);
		assert_true(req.mem_bytes == 6u << 20);
		assert_true(denali_mem_size_ok(req.mem_bytes));
		assert_true(denali_mem_size_ok(DENALI_MEM_MAX) &&
			    !denali_mem_size_ok(DENALI_MEM_MAX + DENALI_MEM_ALIGN));
		assert_true(!denali_mem_size_ok(0) && !denali_mem_size_ok(DENALI_MEM_MIN + 4096));
		ctl_request_free(&req);
	}
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":\"1000001\"}",
		"multiple");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"mem\":-4096}", "negative");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":0}", "between 1 and");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":-5}", "between 1 and");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":10001}",
		"between 1 and");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":99999999999999999}",
		"between 1 and");
	refused("{\"op\":\"start\",\"name\":\"a\",\"image\":\"/i\",\"count\":1e9}",
		"\"count\" must be an integer");
	/* NAME-(N-1) must still be a valid name. */
	snprintf(line, sizeof(line),
		 "{\"op\":\"start\",\"name\":\"%s\",\"image\":\"/i\",\"count\":10}",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 62 */
	refused(line, "would be longer");
}

static void test_limits(void **state)
{
	struct ctl_request req;
	char err[256];
	size_t n = CTL_LINE_MAX + 100;
	char *big = malloc(n + 1);
	json_t *args = json_array(), *o;
	char *s;

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"op\":\"list\"}", 13);
	big[n] = '\0';
	assert_int_equal(ctl_request_parse(big, n, &req, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	ctl_request_free(&req);
	free(big);

	for (int i = 0; i < 300; i++)
		json_array_append_new(args, json_string("x"));
	o = json_pack("{s:s, s:s, s:s, s:o}", "op", "start", "name", "a", "image", "/i", "args",
		      args);
	s = json_dumps(o, JSON_COMPACT);
	refused(s, "more than");
	free(s);
	json_decref(o);

	/* Deep nesting is refused by the JSON parser's own depth limit, not by the stack. */
	big = malloc(40001);
	memset(big, '[', 40000);
	big[40000] = '\0';
	assert_int_equal(ctl_request_parse(big, 40000, &req, err, sizeof(err)), -EINVAL);
	ctl_request_free(&req);
	free(big);
}

static void test_metrics_request(void **state)
{
	struct ctl_request req;
	char err[256];

	(void)state;
	assert_int_equal(parse("{\"op\":\"metrics\"}", &req, err), 0);
	assert_int_equal(req.op, CTL_OP_METRICS);
	assert_int_equal(req.metrics_vms, CTL_METRICS_VMS_DEFAULT);
	ctl_request_free(&req);
	assert_int_equal(parse("{\"op\":\"metrics\",\"vms\":0}", &req, err), 0);
	assert_int_equal(req.metrics_vms, 0);
	ctl_request_free(&req);
	assert_int_equal(parse("{\"op\":\"metrics\",\"vms\":10000}", &req, err), 0);
	assert_int_equal(req.metrics_vms, 10000);
	ctl_request_free(&req);
	refused("{\"op\":\"metrics\",\"vms\":10001}", "\"vms\" must be an integer from 0");
	refused("{\"op\":\"metrics\",\"vms\":-1}", "\"vms\" must be an integer from 0");
	refused("{\"op\":\"metrics\",\"vms\":\"5\"}", "\"vms\" must be an integer from 0");
	refused("{\"op\":\"metrics\",\"name\":\"x\"}", "unknown field \"name\"");
	assert_string_equal(ctl_op_name(CTL_OP_METRICS), "metrics");
}

static void test_id_kept_on_error(void **state)
{
	struct ctl_request req;
	char err[256];
	json_t *reply;
	char *line;
	size_t n;

	(void)state;
	assert_int_equal(parse("{\"id\":99,\"op\":\"nope\"}", &req, err), -EINVAL);
	assert_int_equal(json_integer_value(req.id), 99);
	reply = ctl_reply_error(req.id, "%s", err);
	line = ctl_reply_line(reply, &n);
	assert_non_null(line);
	assert_int_equal(line[n - 1], '\n');
	assert_non_null(strstr(line, "\"id\":99"));
	assert_non_null(strstr(line, "\"ok\":false"));
	free(line);
	json_decref(reply);
	ctl_request_free(&req);

	/* A message cut in the middle of a UTF-8 character still makes a valid reply. */
	reply = ctl_reply_error(NULL, "%.1s", "\xc3\xa9");
	assert_non_null(json_object_get(reply, "error"));
	json_decref(reply);
}

/* net_attach: one interface name, 1-15 characters a VM name may have. */
static void test_net_attach_request(void **state)
{
	struct ctl_request req;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse("{\"op\": \"net_attach\", \"tap\": \"tap-0.a_b\"}", &req, err), 0);
	assert_int_equal(req.op, CTL_OP_NET_ATTACH);
	assert_string_equal(req.tap, "tap-0.a_b");
	ctl_request_free(&req);
	refused("{\"op\": \"net_attach\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": 3}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"a/b\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"..\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"eth0 up\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"sixteen-chars-00\"}", "net_attach needs");
	refused("{\"op\": \"net_attach\", \"tap\": \"t\", \"name\": \"x\"}", "name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_valid_requests),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_unknown_op_and_fields),
	    cmocka_unit_test(test_missing_fields),
	    cmocka_unit_test(test_bad_names_and_paths),
	    cmocka_unit_test(test_bad_sizes_and_counts),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_metrics_request),
	    cmocka_unit_test(test_id_kept_on_error),
	    cmocka_unit_test(test_net_attach_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

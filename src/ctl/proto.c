#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
    [CTL_OP_START] = "start",	[CTL_OP_STOP] = "stop",	      [CTL_OP_LIST] = "list",
    [CTL_OP_STATS] = "stats",	[CTL_OP_CONSOLE] = "console", [CTL_OP_JOBS] = "jobs",
    [CTL_OP_EVENTS] = "events", [CTL_OP_METRICS] = "metrics", [CTL_OP_SWAP] = "swap",
    [CTL_OP_EXPORT] = "export", [CTL_OP_IMPORT] = "import",   [CTL_OP_NET_ATTACH] = "net_attach",
};

/* Fields each op accepts besides "id" and "op"; anything else is refused so a typo is caught. */
static const char *const op_fields[][11] = {
    [CTL_OP_START] = {"name", "image", "mem", "count", "args", "progress", "net", "disk", "disk_ro",
		      "disk_direct", NULL},
    [CTL_OP_STOP] = {"name", "names", "all", "progress", NULL},
    [CTL_OP_LIST] = {NULL},
    [CTL_OP_STATS] = {"name", NULL},
    [CTL_OP_CONSOLE] = {"name", "follow", "offset", NULL},
    [CTL_OP_JOBS] = {NULL},
    [CTL_OP_EVENTS] = {"since", "follow", NULL},
    [CTL_OP_METRICS] = {"vms", NULL},
    [CTL_OP_SWAP] = {"name", "names", "dir", NULL},
    [CTL_OP_EXPORT] = {"name", "file", NULL},
    [CTL_OP_IMPORT] = {"file", "name", NULL},
    [CTL_OP_NET_ATTACH] = {"tap", NULL},
};

const char *ctl_op_name(enum ctl_op op)
{
	if ((unsigned)op >= sizeof(op_names) / sizeof(op_names[0]))
		return "?";
	return op_names[op];
}

int ctl_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];
		if (n >= CTL_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	/* "." and ".." would name directories other than the VM's own in the state dir. */
	return n > 0 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int ctl_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		break;
	case 't':
	case 'T':
		mul = 1ull << 40;
		break;
	case 'b':
	case 'B':
		if (p[1])
			return -EINVAL;
		*out = v;
		return 0;
	default:
		return -EINVAL;
	}
	if (*p) {
		p++;
		if (strcmp(p, "") != 0 && strcmp(p, "iB") != 0 && strcmp(p, "B") != 0 &&
		    strcmp(p, "ib") != 0 && strcmp(p, "b") != 0)
			return -EINVAL;
	}
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A JSON string without embedded NULs, no longer than max bytes. */
static int get_string(json_t *v, const char *field, size_t max, const char **out, char *err,
		      size_t errlen)
{
	if (!json_is_string(v))
		return fail(err, errlen, "\"%s\" must be a string", field);
	if (json_string_length(v) != strlen(json_string_value(v)))
		return fail(err, errlen, "\"%s\" contains a NUL byte", field);
	if (json_string_length(v) > max)
		return fail(err, errlen, "\"%s\" is longer than %zu bytes", field, max);
	*out = json_string_value(v);
	return 0;
}

static int get_name(json_t *v, const char *field, char *dst, char *err, size_t errlen)
{
	const char *s = NULL;

	if (!v)
		return fail(err, errlen, "missing \"%s\"", field);
	if (get_string(v, field, 4096, &s, err, errlen) < 0)
		return -EINVAL;
	if (!ctl_name_valid(s))
		return fail(
		    err, errlen, "bad %s \"%.63s\": 1-63 characters of A-Z a-z 0-9 . _ - expected",
		    strcmp(field, "file") ? "VM name" : "file name (a plain name in STATE/exports)",
		    s);
	strcpy(dst, s);
	return 0;
}

static int parse_start(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *v;
	const char *s;
	size_t i;

	if (get_name(json_object_get(o, "name"), "name", req->name, err, errlen) < 0)
		return -EINVAL;
	v = json_object_get(o, "image");
	if (!v)
		return fail(err, errlen, "missing \"image\"");
	if (get_string(v, "image", CTL_IMAGE_MAX, &s, err, errlen) < 0)
		return -EINVAL;
	if (s[0] != '/')
		return fail(err, errlen, "\"image\" must be an absolute path");
	strcpy(req->image, s);

	req->mem_bytes = CTL_MEM_DEFAULT;
	v = json_object_get(o, "mem");
	if (json_is_string(v)) {
		if (get_string(v, "mem", 64, &s, err, errlen) < 0)
			return -EINVAL;
		if (ctl_parse_size(s, &req->mem_bytes) < 0)
			return fail(err, errlen, "bad \"mem\" size \"%s\" (e.g. 16M, 64MiB, 1G)",
				    s);
	} else if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return fail(err, errlen, "\"mem\" must not be negative");
		req->mem_bytes = (uint64_t)json_integer_value(v);
	} else if (v) {
		return fail(err, errlen, "\"mem\" must be a size string or a number of bytes");
	}
	if (!denali_mem_size_ok(req->mem_bytes))
		return fail(err, errlen, "\"mem\" must be " DENALI_MEM_RULE);

	v = json_object_get(o, "net");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "\"net\" must be true or false");
	req->net = v && json_is_true(v);
	v = json_object_get(o, "disk_ro");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "\"disk_ro\" must be true or false");
	req->disk_ro = v && json_is_true(v);
	v = json_object_get(o, "disk_direct");
	if (v && !json_is_boolean(v))
		return fail(err, errlen, "\"disk_direct\" must be true or false");
	req->disk_direct = v && json_is_true(v);
	v = json_object_get(o, "disk");
	if (v) {
		if (get_string(v, "disk", CTL_IMAGE_MAX, &s, err, errlen) < 0)
			return -EINVAL;
		if (s[0] != '/')
			return fail(err, errlen, "\"disk\" must be an absolute path");
		strcpy(req->disk, s);
	}

	v = json_object_get(o, "count");
	if (v) {
		json_int_t c;
		char last[16];
		if (!json_is_integer(v))
			return fail(err, errlen, "\"count\" must be an integer");
		c = json_integer_value(v);
		if (c < 1 || c > CTL_COUNT_MAX)
			return fail(err, errlen, "\"count\" must be between 1 and %u",
				    CTL_COUNT_MAX);
		req->count = (unsigned)c;
		snprintf(last, sizeof(last), "-%u", req->count - 1);
		if (strlen(req->name) + strlen(last) > CTL_NAME_MAX)
			return fail(err, errlen, "name \"%s%s\" would be longer than %u characters",
				    req->name, last, CTL_NAME_MAX);
	}

	v = json_object_get(o, "args");
	if (v) {
		if (!json_is_array(v))
			return fail(err, errlen, "\"args\" must be an array of strings");
		if (json_array_size(v) > CTL_ARGS_MAX)
			return fail(err, errlen, "more than %u \"args\"", CTL_ARGS_MAX);
		req->argv = calloc(json_array_size(v) + 1, sizeof(char *));
		if (!req->argv)
			return fail(err, errlen, "out of memory");
		for (i = 0; i < json_array_size(v); i++) {
			if (get_string(json_array_get(v, i), "args", CTL_LINE_MAX, &s, err,
				       errlen) < 0)
				return -EINVAL;
			req->argv[i] = strdup(s);
			if (!req->argv[i])
				return fail(err, errlen, "out of memory");
			req->argc++;
		}
	} else {
		req->argv = calloc(1, sizeof(char *));
		if (!req->argv)
			return fail(err, errlen, "out of memory");
	}
	return 0;
}

static int parse_stop(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *name = json_object_get(o, "name");
	json_t *names = json_object_get(o, "names");
	json_t *all = json_object_get(o, "all");
	size_t i;

	if (!!name + !!names + !!all != 1)
		return fail(err, errlen, "stop needs exactly one of \"name\", \"names\", \"all\"");
	if (all) {
		if (!json_is_true(all))
			return fail(err, errlen, "\"all\" must be true");
		req->all = true;
		return 0;
	}
	if (name) {
		req->names = calloc(1, sizeof(*req->names));
		if (!req->names)
			return fail(err, errlen, "out of memory");
		req->nnames = 1;
		return get_name(name, "name", req->names[0], err, errlen);
	}
	if (!json_is_array(names) || json_array_size(names) == 0)
		return fail(err, errlen, "\"names\" must be a non-empty array of VM names");
	if (json_array_size(names) > CTL_STOP_MAX)
		return fail(err, errlen, "more than %u \"names\"", CTL_STOP_MAX);
	req->names = calloc(json_array_size(names), sizeof(*req->names));
	if (!req->names)
		return fail(err, errlen, "out of memory");
	for (i = 0; i < json_array_size(names); i++) {
		if (get_name(json_array_get(names, i), "names", req->names[i], err, errlen) < 0)
			return -EINVAL;
		req->nnames++;
	}
	return 0;
}

/* swap: "dir" ("out" or "in") and one "name" or "names" (as stop, without "all"). */
static int parse_swap(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *dir = json_object_get(o, "dir");

	if (!json_is_string(dir) ||
	    (strcmp(json_string_value(dir), "out") && strcmp(json_string_value(dir), "in")))
		return fail(err, errlen, "swap needs \"dir\": \"out\" or \"in\"");
	req->swap_in = !strcmp(json_string_value(dir), "in");
	if (json_object_get(o, "all"))
		return fail(err, errlen, "swap takes \"name\" or \"names\"");
	if (!json_object_get(o, "name") && !json_object_get(o, "names"))
		return fail(err, errlen, "swap needs \"name\" or \"names\"");
	return parse_stop(o, req, err, errlen);
}

/* An interface name as the kernel takes it, narrowed to the characters a VM
 * name may have (no '/', no ':', no white space, not "." or ".."). */
static int parse_net_attach(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "tap");
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (!s || strlen(s) > CTL_TAP_MAX || !ctl_name_valid(s))
		return fail(err, errlen,
			    "net_attach needs \"tap\": an interface name of 1-%u characters of "
			    "A-Z a-z 0-9 . _ -",
			    CTL_TAP_MAX);
	snprintf(req->tap, sizeof(req->tap), "%s", s);
	return 0;
}

static int parse_console(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *v;

	if (get_name(json_object_get(o, "name"), "name", req->name, err, errlen) < 0)
		return -EINVAL;
	v = json_object_get(o, "follow");
	if (v) {
		if (!json_is_boolean(v))
			return fail(err, errlen, "\"follow\" must be true or false");
		req->follow = json_is_true(v);
	}
	v = json_object_get(o, "offset");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return fail(err, errlen, "\"offset\" must be a non-negative integer");
		req->offset = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int parse_events(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "follow");

	if (v) {
		if (!json_is_boolean(v))
			return fail(err, errlen, "\"follow\" must be true or false");
		req->follow = json_is_true(v);
	}
	v = json_object_get(o, "since");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return fail(err, errlen, "\"since\" must be a non-negative integer");
		req->offset = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int parse_metrics(json_t *o, struct ctl_request *req, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "vms");

	req->metrics_vms = CTL_METRICS_VMS_DEFAULT;
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > CTL_METRICS_VMS_MAX)
			return fail(err, errlen, "\"vms\" must be an integer from 0 to %u",
				    CTL_METRICS_VMS_MAX);
		req->metrics_vms = (unsigned)json_integer_value(v);
	}
	return 0;
}

static int check_fields(json_t *o, enum ctl_op op, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		const char *const *f;
		int known = strcmp(key, "id") == 0 || strcmp(key, "op") == 0;
		for (f = op_fields[op]; !known && *f; f++)
			known = strcmp(key, *f) == 0;
		if (!known)
			return fail(err, errlen, "unknown field \"%.64s\" for op \"%s\"", key,
				    ctl_op_name(op));
	}
	return 0;
}

int ctl_request_parse(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *op;
	unsigned i;
	int r = -EINVAL;

	memset(req, 0, sizeof(*req));
	if (len > CTL_LINE_MAX)
		return fail(err, errlen, "request longer than %u bytes", CTL_LINE_MAX);
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!o)
		return fail(err, errlen, "malformed JSON at column %d: %s", jerr.column, jerr.text);
	if (!json_is_object(o)) {
		fail(err, errlen, "a request must be a JSON object");
		goto out;
	}
	v = json_object_get(o, "id");
	if (v) {
		if (json_is_integer(v) || (json_is_string(v) && json_string_length(v) <= 128 &&
					   json_string_length(v) == strlen(json_string_value(v)))) {
			req->id = json_incref(v);
		} else {
			fail(err, errlen,
			     "\"id\" must be an integer or a string of at most 128 bytes");
			goto out;
		}
	}
	v = json_object_get(o, "op");
	if (!v) {
		fail(err, errlen, "missing \"op\"");
		goto out;
	}
	if (!json_is_string(v)) {
		fail(err, errlen, "\"op\" must be a string");
		goto out;
	}
	op = json_string_value(v);
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcmp(op, op_names[i]) == 0)
			break;
	if (i == sizeof(op_names) / sizeof(op_names[0])) {
		fail(err, errlen,
		     "unknown op \"%.32s\" (start, stop, list, stats, console, jobs, events, "
		     "metrics, swap, export, import, net_attach)",
		     op);
		goto out;
	}
	req->op = (enum ctl_op)i;
	if (check_fields(o, req->op, err, errlen) < 0)
		goto out;
	switch (req->op) {
	case CTL_OP_START:
		r = parse_start(o, req, err, errlen);
		break;
	case CTL_OP_STOP:
		r = parse_stop(o, req, err, errlen);
		break;
	case CTL_OP_CONSOLE:
		r = parse_console(o, req, err, errlen);
		break;
	case CTL_OP_STATS:
		r = 0;
		if (json_object_get(o, "name"))
			r = get_name(json_object_get(o, "name"), "name", req->name, err, errlen);
		break;
	case CTL_OP_EVENTS:
		r = parse_events(o, req, err, errlen);
		break;
	case CTL_OP_METRICS:
		r = parse_metrics(o, req, err, errlen);
		break;
	case CTL_OP_SWAP:
		r = parse_swap(o, req, err, errlen);
		break;
	case CTL_OP_EXPORT:
	case CTL_OP_IMPORT:
		/* A plain file name (as a VM name): the daemon reads and writes only in
		 * STATE/exports, never where a client points it. */
		r = get_name(json_object_get(o, "file"), "file", req->file, err, errlen);
		if (!r && (req->op == CTL_OP_EXPORT || json_object_get(o, "name")))
			r = get_name(json_object_get(o, "name"), "name", req->name, err, errlen);
		break;
	case CTL_OP_NET_ATTACH:
		r = parse_net_attach(o, req, err, errlen);
		break;
	case CTL_OP_LIST:
	case CTL_OP_JOBS:
		r = 0;
		break;
	}
	if (r == 0 && (req->op == CTL_OP_START || req->op == CTL_OP_STOP)) {
		json_t *p = json_object_get(o, "progress");

		if (p && !json_is_boolean(p))
			r = fail(err, errlen, "\"progress\" must be true or false");
		req->progress = json_is_true(p);
	}
out:
	json_decref(o);
	return r;
}

void ctl_request_free(struct ctl_request *req)
{
	if (req->argv) {
		for (int i = 0; i < req->argc; i++)
			free(req->argv[i]);
		free(req->argv);
	}
	free(req->names);
	json_decref(req->id);
	memset(req, 0, sizeof(*req));
}

static json_t *reply_new(json_t *id, int ok)
{
	json_t *r = json_object();

	if (!r || json_object_set(r, "id", id ? id : json_null()) < 0 ||
	    json_object_set_new(r, "ok", json_boolean(ok)) < 0)
		abort();
	return r;
}

json_t *ctl_reply_ok(json_t *id)
{
	return reply_new(id, 1);
}

json_t *ctl_reply_error(json_t *id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *r = reply_new(id, 0), *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages may quote peer input cut at a byte limit: never let that make the reply
	 * unencodable. */
	s = json_string(msg);
	if (!s)
		s = json_string("error (message not valid UTF-8)");
	if (!s || json_object_set_new(r, "error", s) < 0)
		abort();
	return r;
}

char *ctl_reply_line(const json_t *reply, size_t *len)
{
	char *s = json_dumps(reply, JSON_COMPACT);
	char *line;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

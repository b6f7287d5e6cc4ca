/*
 * Fuzz target: the control protocol's request parser (src/ctl/proto.c), the
 * first code a local client's bytes reach. Each input is one request line.
 *
 * Oracles besides ASan/UBSan:
 *   - an accepted request holds only what the daemon may act on: valid VM and
 *     file names, absolute image and disk paths, a memory size the ABI
 *     allows, counts and lists within their bounds, argv NULL-terminated;
 *   - parsing is deterministic (the same line twice gives the same verdict);
 *   - the reply to it, error or not, is exactly one line: nothing a client
 *     sends can put a newline into the reply stream of its own connection.
 */
#include "ctl/proto.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAD(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "fuzz_ctl: " __VA_ARGS__);                                         \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

static void check_accepted(const struct ctl_request *r)
{
	switch (r->op) {
	case CTL_OP_START:
		if (!ctl_name_valid(r->name) || r->image[0] != '/' ||
		    (r->disk[0] && r->disk[0] != '/'))
			BAD("start accepted with name \"%s\" image \"%s\"", r->name, r->image);
		if (!denali_mem_size_ok(r->mem_bytes) || r->count > CTL_COUNT_MAX)
			BAD("start accepted with mem %lu count %u", r->mem_bytes, r->count);
		if (!r->argv || r->argc < 0 || (unsigned)r->argc > CTL_ARGS_MAX || r->argv[r->argc])
			BAD("start accepted with argc %d", r->argc);
		for (int i = 0; i < r->argc; i++)
			if (!r->argv[i])
				BAD("argv[%d] is NULL", i);
		break;
	case CTL_OP_STOP:
	case CTL_OP_SWAP:
		if (!r->all && (r->nnames == 0 || r->nnames > CTL_STOP_MAX))
			BAD("stop accepted with %u names", r->nnames);
		for (unsigned i = 0; i < r->nnames; i++)
			if (!ctl_name_valid(r->names[i]))
				BAD("stop accepted with name \"%s\"", r->names[i]);
		break;
	case CTL_OP_CONSOLE:
		if (!ctl_name_valid(r->name))
			BAD("%s accepted with name \"%s\"", ctl_op_name(r->op), r->name);
		break;
	case CTL_OP_STATS:
		if (r->name[0] && !ctl_name_valid(r->name))
			BAD("stats accepted with name \"%s\"", r->name);
		break;
	case CTL_OP_EXPORT:
	case CTL_OP_IMPORT:
		if (!ctl_name_valid(r->file) || strchr(r->file, '/'))
			BAD("%s accepted with file \"%s\"", ctl_op_name(r->op), r->file);
		if ((r->op == CTL_OP_EXPORT || r->name[0]) && !ctl_name_valid(r->name))
			BAD("%s accepted with name \"%s\"", ctl_op_name(r->op), r->name);
		break;
	case CTL_OP_NET_ATTACH:
		if (!r->tap[0] || strlen(r->tap) > CTL_TAP_MAX || strchr(r->tap, '/'))
			BAD("net attach accepted with tap \"%s\"", r->tap);
		break;
	case CTL_OP_METRICS:
		if (r->metrics_vms > CTL_METRICS_VMS_MAX)
			BAD("metrics accepted with vms %u", r->metrics_vms);
		break;
	case CTL_OP_LIST:
	case CTL_OP_JOBS:
	case CTL_OP_EVENTS:
		break;
	}
}

static void check_one_line(json_t *reply)
{
	size_t len;
	char *line = ctl_reply_line(reply, &len);

	if (!line)
		BAD("no reply line");
	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) || strlen(line) != len)
		BAD("the reply is not one line: %.200s", line);
	free(line);
	json_decref(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request a, b;
	char err[512], err2[512];
	int ra, rb;

	ra = ctl_request_parse((const char *)data, size, &a, err, sizeof(err));
	rb = ctl_request_parse((const char *)data, size, &b, err2, sizeof(err2));
	if (ra != rb || (ra && strcmp(err, err2)))
		BAD("two parses of one line differ: %d \"%s\" / %d \"%s\"", ra, err, rb, err2);
	if (ra == 0) {
		check_accepted(&a);
		check_one_line(ctl_reply_ok(a.id));
	} else {
		if (!err[0])
			BAD("refused with no reason");
		check_one_line(ctl_reply_error(a.id, "%s", err));
	}
	ctl_request_free(&a);
	ctl_request_free(&b);
	return 0;
}

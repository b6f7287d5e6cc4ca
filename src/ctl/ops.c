#include "ops.h"

#include "log.h"
#include "metrics.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* swap out|in NAME...: each in turn, waiting for it (a swap in asks for all first); {"done":
 * [names], "failed": [{name, error}]}, ok only if every one succeeded (the first failure is the
 * error). */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ops_round(struct ops_ctx *ctx)
{
	ctx->round_ms = now_ms();
}

/* 1 once this round's slow commands have used OPS_SLOW_BUDGET_MS; err says so. */
static int over_budget(const struct ops_ctx *ctx, char *err, size_t errlen)
{
	if (now_ms() - ctx->round_ms < OPS_SLOW_BUDGET_MS)
		return 0;
	snprintf(err, errlen,
		 "not tried: swap/export/import already held the control loop for %d ms; ask "
		 "again",
		 OPS_SLOW_BUDGET_MS);
	return 1;
}

static json_t *do_swap(struct ops_ctx *ctx, const struct ctl_request *req)
{
	json_t *done = json_array(), *failed = json_array(), *reply;
	char first[320] = "";

	if (!ctx->be.swap) {
		json_decref(done);
		json_decref(failed);
		return ctl_reply_error(req->id, "this daemon has no swap");
	}
	/* Every one asked for first, then waited for in turn. */
	for (unsigned i = 0; req->swap_in && ctx->be.swap_in_begin && i < req->nnames; i++)
		ctx->be.swap_in_begin(ctx->be.ctx, req->names[i]);
	for (unsigned i = 0; i < req->nnames; i++) {
		char err[256] = "";
		int r =
		    over_budget(ctx, err, sizeof(err))
			? -EAGAIN
			: ctx->be.swap(ctx->be.ctx, req->names[i], req->swap_in, err, sizeof(err));

		if (r < 0) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", strerror(-r));
			if (!first[0])
				snprintf(first, sizeof(first), "%s", err);
			json_array_append_new(
			    failed, json_pack("{s:s, s:s}", "name", req->names[i], "error", err));
		} else {
			json_array_append_new(done, json_string(req->names[i]));
		}
	}
	reply = first[0] ? ctl_reply_error(req->id, "%s", first) : ctl_reply_ok(req->id);
	json_object_set_new(reply, "done", done);
	json_object_set_new(reply, "failed", failed);
	return reply;
}

json_t *ops_handle(struct ops_ctx *ctx, const struct ctl_request *req, const char *peer)
{
	(void)peer;
	json_t *reply, *v;

	switch (req->op) {
	case CTL_OP_START:
	case CTL_OP_STOP:
	case CTL_OP_JOBS:
	case CTL_OP_CONSOLE:
	case CTL_OP_EVENTS:
		break; /* jobs and streams: the server's */
	case CTL_OP_METRICS: {
		char err[128];
		size_t len;
		char *text =
		    metrics_collect(&ctx->be, req->metrics_vms, NULL, &len, err, sizeof(err));

		if (!text)
			return ctl_reply_error(req->id, "%s", err);
		reply = ctl_reply_ok(req->id);
		json_object_set_new(reply, "text", json_stringn(text, len));
		free(text);
		return reply;
	}
	case CTL_OP_SWAP:
		return do_swap(ctx, req);
	case CTL_OP_EXPORT:
	case CTL_OP_IMPORT: {
		char err[320] = "";
		int r;

		if (!(req->op == CTL_OP_EXPORT ? ctx->be.export_vm : ctx->be.import_vm))
			return ctl_reply_error(req->id, "this daemon cannot %s VMs",
					       ctl_op_name(req->op));
		if (over_budget(ctx, err, sizeof(err)))
			return ctl_reply_error(req->id, "%s", err);
		r = req->op == CTL_OP_EXPORT
			? ctx->be.export_vm(ctx->be.ctx, req->name, req->file, err, sizeof(err))
			: ctx->be.import_vm(ctx->be.ctx, req->file, req->name, err, sizeof(err));
		if (r < 0)
			return ctl_reply_error(req->id, "%s", err[0] ? err : strerror(-r));
		return ctl_reply_ok(req->id);
	}
	case CTL_OP_NET_ATTACH: {
		char err[320] = "";
		int r;

		/* Where the VMs' traffic leaves the host: the daemon's own user only. */
		if (!ctl_owner_is_trusted(&req->owner))
			return ctl_reply_error(req->id,
					       "net_attach: only root or the daemon's user may "
					       "move the uplink");
		if (!ctx->be.net_attach)
			return ctl_reply_error(req->id, "this daemon has no switch (--net)");
		r = ctx->be.net_attach(ctx->be.ctx, req->tap, err, sizeof(err));
		if (r < 0)
			return ctl_reply_error(req->id, "%s", err[0] ? err : strerror(-r));
		reply = ctl_reply_ok(req->id);
		json_object_set_new(reply, "tap", json_string(req->tap));
		return reply;
	}
	case CTL_OP_LIST:
		v = ctx->be.list(ctx->be.ctx);
		if (!json_is_array(v)) {
			json_decref(v);
			return ctl_reply_error(req->id, "list: the daemon gave no answer");
		}
		reply = ctl_reply_ok(req->id);
		json_object_set_new(reply, "vms", v);
		return reply;
	case CTL_OP_STATS:
		if (req->name[0]) {
			v = ctx->be.vm_stats ? ctx->be.vm_stats(ctx->be.ctx, req->name) : NULL;
			if (!v)
				return ctl_reply_error(req->id, "vm %s: no such VM", req->name);
			reply = ctl_reply_ok(req->id);
			json_object_set_new(reply, "vm", v);
			return reply;
		}
		v = ctx->be.stats(ctx->be.ctx);
		if (!json_is_object(v)) {
			json_decref(v);
			return ctl_reply_error(req->id, "stats: the daemon gave no answer");
		}
		reply = ctl_reply_ok(req->id);
		json_object_set_new(reply, "stats", v);
		return reply;
	}
	return ctl_reply_error(req->id, "op %s is not handled here", ctl_op_name(req->op));
}

/* Length of the UTF-8 sequence starting at p (n bytes available): > 0 if valid, 0 if it is a
 * valid but incomplete prefix, -1 if invalid. */
static int utf8_seq(const unsigned char *p, size_t n)
{
	unsigned len, min;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, min = 0x80, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, min = 0x800, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, min = 0x10000, cp = p[0] & 0x07;
	else
		return -1;
	for (unsigned i = 1; i < len; i++) {
		if (i >= n)
			return 0;
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	return (int)len;
}

int ops_console_chunk(struct ops_ctx *ctx, json_t *id, const char *name, uint64_t *offset,
		      size_t max, bool final, json_t **line)
{
	char buf[16384];
	char out[3 * sizeof(buf)];
	uint64_t next = *offset;
	size_t i = 0, o = 0, n;
	ssize_t got;

	*line = NULL;
	if (max > sizeof(buf))
		max = sizeof(buf);
	got = ctx->be.console_read(ctx->be.ctx, name, *offset, buf, max, &next);
	if (got < 0)
		return (int)got;
	n = (size_t)got > max ? max : (size_t)got;
	if (n == 0) {
		*offset = next;
		return 0;
	}
	if (next < n)
		next = *offset + n; /* a backend bug must not send the offset below zero */
	while (i < n) {
		int l = utf8_seq((const unsigned char *)buf + i, n - i);
		if (l > 0) {
			memcpy(out + o, buf + i, (size_t)l);
			o += (size_t)l;
			i += (size_t)l;
		} else if (l == 0 && !final) {
			break; /* the rest of this character comes with the next read */
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	/* next is the offset after buf[n-1]; the bytes not consumed are read again next time. */
	*offset = next - (n - i);
	if (o == 0)
		return 2;
	*line = json_pack("{s:O?, s:s%}", "id", id, "data", out, o);
	return 1;
}

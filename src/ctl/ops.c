#include "ops.h"

#include "log.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The proto layer has checked that NAME-(count-1) fits in CTL_NAME_MAX. */
static void vm_name(char *dst, const struct ctl_request *req, unsigned i)
{
	char tmp[CTL_NAME_MAX + 16];

	if (req->count)
		snprintf(tmp, sizeof(tmp), "%s-%u", req->name, i);
	else
		snprintf(tmp, sizeof(tmp), "%s", req->name);
	tmp[CTL_NAME_MAX] = '\0';
	memcpy(dst, tmp, CTL_NAME_MAX + 1);
}

/* Stops one VM and forgets its definition. A definition whose VM never came back after a
 * restart (its image gone, say) can be removed this way too. */
static int stop_one(struct ops_ctx *ctx, const char *name, char *err, size_t errlen)
{
	int r = ctx->be.stop(ctx->be.ctx, name, err, errlen);
	int d = ctx->store ? store_del(ctx->store, name) : -ENOENT;

	if (r == 0 || (r == -ENOENT && d == 0))
		return 0;
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "no such VM");
	else if (!err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static json_t *do_start(struct ops_ctx *ctx, const struct ctl_request *req, const char *peer)
{
	unsigned n = req->count ? req->count : 1, i;
	json_t *started = json_array();
	struct vm_spec spec;
	char err[256];
	int r = 0;

	memset(&spec, 0, sizeof(spec));
	memcpy(spec.image, req->image, sizeof(spec.image));
	spec.mem_bytes = req->mem_bytes;
	spec.argc = req->argc;
	spec.argv = req->argv;
	uint64_t first_id = 0;

	if (ctx->store) {
		r = store_ids_take(ctx->store, n, &first_id);
		if (r < 0)
			return ctl_reply_error(req->id, "cannot take VM ids: %s", strerror(-r));
	}
	for (i = 0; i < n; i++) {
		vm_name(spec.name, req, i);
		spec.id = first_id ? first_id + i : 0;
		err[0] = '\0';
		if (ctx->store && store_has(ctx->store, spec.name)) {
			r = -EEXIST;
			snprintf(err, sizeof(err), "already defined (stop it first)");
			break;
		}
		r = ctx->be.start(ctx->be.ctx, &spec, err, sizeof(err));
		if (r < 0) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", strerror(-r));
			break;
		}
		/* The definition is stored only once the VM runs: a request that fails (a bad
		 * image, no room) leaves nothing behind to fail again at every restart. */
		if (ctx->store) {
			r = store_put(ctx->store, &spec);
			if (r < 0) {
				char e2[256] = "";

				snprintf(err, sizeof(err), "cannot save its definition: %s",
					 strerror(-r));
				ctx->be.stop(ctx->be.ctx, spec.name, e2, sizeof(e2));
				break;
			}
		}
		json_array_append_new(started, json_string(spec.name));
	}
	if (r == 0) {
		json_t *reply = ctl_reply_ok(req->id);
		log_info("%s: started %u VM(s) %s%s from %s", peer, n, req->name,
			 req->count ? "-*" : "", req->image);
		json_object_set_new(reply, "started", started);
		return reply;
	}
	/* All or nothing: the VMs this request did start are stopped again. */
	log_warn("%s: start %s failed: %s; rolling back %zu VM(s)", peer, spec.name, err,
		 json_array_size(started));
	for (size_t k = 0; k < json_array_size(started); k++) {
		char e2[256] = "";
		stop_one(ctx, json_string_value(json_array_get(started, k)), e2, sizeof(e2));
	}
	json_decref(started);
	return ctl_reply_error(req->id, "vm %s: %s", spec.name, err);
}

static int add_name(const struct vm_spec *spec, void *arg)
{
	json_t *set = arg;

	json_object_set_new(set, spec->name, json_true());
	return 0;
}

/* Every VM the backend knows plus every stored definition, sorted. */
static json_t *all_names(struct ops_ctx *ctx)
{
	json_t *set = json_object(), *names = ctx->be.names(ctx->be.ctx), *out = json_array();
	const char *k;
	json_t *v;
	size_t i;

	json_array_foreach(names, i, v)
	{
		if (json_is_string(v))
			json_object_set_new(set, json_string_value(v), json_true());
	}
	json_decref(names);
	if (ctx->store)
		store_foreach(ctx->store, add_name, set);
	json_object_foreach(set, k, v)
	{
		json_array_append_new(out, json_string(k));
	}
	json_decref(set);
	return out;
}

static json_t *do_stop(struct ops_ctx *ctx, const struct ctl_request *req, const char *peer)
{
	json_t *stopped = json_array(), *failed = json_array(), *names, *reply, *v;
	char first_err[300] = "";
	size_t i;

	if (req->all) {
		names = all_names(ctx);
	} else {
		names = json_array();
		for (i = 0; i < req->nnames; i++)
			json_array_append_new(names, json_string(req->names[i]));
	}
	json_array_foreach(names, i, v)
	{
		const char *name = json_string_value(v);
		char err[256] = "";
		if (stop_one(ctx, name, err, sizeof(err)) == 0) {
			json_array_append_new(stopped, json_string(name));
			continue;
		}
		if (!first_err[0])
			snprintf(first_err, sizeof(first_err), "vm %s: %s", name, err);
		json_array_append_new(failed, json_pack("{s:s, s:s}", "name", name, "error", err));
	}
	log_info("%s: stop%s: %zu stopped, %zu failed", peer, req->all ? " --all" : "",
		 json_array_size(stopped), json_array_size(failed));
	json_decref(names);
	if (json_array_size(failed) == 0) {
		reply = ctl_reply_ok(req->id);
		json_decref(failed);
	} else {
		reply = ctl_reply_error(req->id, "%s", first_err);
		json_object_set_new(reply, "failed", failed);
	}
	json_object_set_new(reply, "stopped", stopped);
	return reply;
}

json_t *ops_handle(struct ops_ctx *ctx, const struct ctl_request *req, const char *peer)
{
	json_t *reply, *v;

	switch (req->op) {
	case CTL_OP_START:
		return do_start(ctx, req, peer);
	case CTL_OP_STOP:
		return do_stop(ctx, req, peer);
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
		v = ctx->be.stats(ctx->be.ctx);
		if (!json_is_object(v)) {
			json_decref(v);
			return ctl_reply_error(req->id, "stats: the daemon gave no answer");
		}
		reply = ctl_reply_ok(req->id);
		json_object_set_new(reply, "stats", v);
		return reply;
	case CTL_OP_CONSOLE:
		break;
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

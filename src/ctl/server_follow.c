/* console and events requests: a dump up to a cap, or a stream while the client follows. */
#include "server_impl.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>

#define EVENTS_PER_LINE 256

void srv_console_pump(struct ctl_server *srv, struct client *c)
{
	while (c->following && c->outlen - c->outoff < FOLLOW_OUT_LOW) {
		json_t *line;
		int r = ops_console_chunk(&srv->ops, c->follow_id, c->follow_name, &c->follow_off,
					  16384, false, &line);
		if (r == -ENOENT) {
			json_t *end = ctl_reply_ok(c->follow_id);
			json_object_set_new(end, "next", json_integer((json_int_t)c->follow_off));
			json_object_set_new(end, "end", json_string("vm gone"));
			c->following = false;
			srv_client_reply(c, end);
			return;
		}
		if (r == 0 || r == 2) {
			/* Nothing new: once the VM has ended nothing will come, and the stream
			 * ends with it. */
			int ended = srv->ops.be.vm_ended
					? srv->ops.be.vm_ended(srv->ops.be.ctx, c->follow_name)
					: 0;
			json_t *end;

			if (ended != 1)
				return;
			if (r == 2 && ops_console_chunk(&srv->ops, c->follow_id, c->follow_name,
							&c->follow_off, 16384, true, &line) == 1)
				srv_client_reply(c, line);
			end = ctl_reply_ok(c->follow_id);
			json_object_set_new(end, "next", json_integer((json_int_t)c->follow_off));
			json_object_set_new(end, "end", json_string("vm ended"));
			c->following = false;
			srv_client_reply(c, end);
			return;
		}
		if (r != 1)
			return;
		srv_client_reply(c, line);
	}
}

/* Sends the events after c->events_seq, one line per event; an events request without
 * follow ends with its reply. */
void srv_events_pump(struct ctl_server *srv, struct client *c)
{
	while (c->outlen - c->outoff < FOLLOW_OUT_LOW) {
		json_t *evs = srv->ops.be.events(srv->ops.be.ctx, c->events_seq, EVENTS_PER_LINE),
		       *e;
		size_t i;

		if (!json_array_size(evs)) {
			json_decref(evs);
			return;
		}
		json_array_foreach(evs, i, e)
		{
			json_t *line = json_pack("{s:O?, s:O}", "id", c->events_id, "event", e);

			c->events_seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
			srv_client_reply(c, line);
		}
		json_decref(evs);
	}
}

void srv_events_request(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	json_t *reply;

	if (!srv->ops.be.events) {
		srv_client_reply(c, ctl_reply_error(req->id, "events: not kept by this daemon"));
		return;
	}
	json_decref(c->events_id);
	c->events_id = req->id ? json_incref(req->id) : NULL;
	c->events_seq = req->offset;
	srv_events_pump(srv, c);
	if (req->follow) {
		c->following_events = true;
		return;
	}
	reply = ctl_reply_ok(req->id);
	json_object_set_new(reply, "next", json_integer((json_int_t)c->events_seq));
	srv_client_reply(c, reply);
}

void srv_console_request(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	uint64_t off = req->offset;
	size_t sent = 0;
	json_t *line, *reply;
	int r;

	if (req->follow) {
		/* One stream per connection: a new console request replaces the old one. */
		r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 0, false, &line);
		if (r == -ENOENT) {
			srv_client_reply(c,
					 ctl_reply_error(req->id, "vm %s: no such VM", req->name));
			return;
		}
		json_decref(c->follow_id);
		c->follow_id = json_incref(req->id);
		snprintf(c->follow_name, sizeof(c->follow_name), "%s", req->name);
		c->follow_off = req->offset;
		c->following = true;
		log_debug("%s: following the console of %s", c->peer, req->name);
		srv_console_pump(srv, c);
		return;
	}
	for (;;) {
		r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 16384, false, &line);
		if (r == 2)
			r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 16384, true,
					      &line);
		if (r == -ENOENT) {
			srv_client_reply(c,
					 ctl_reply_error(req->id, "vm %s: no such VM", req->name));
			return;
		}
		if (r != 1)
			break;
		sent += json_string_length(json_object_get(line, "data"));
		srv_client_reply(c, line);
		if (sent >= CONSOLE_DUMP_MAX || c->closing)
			break;
	}
	reply = ctl_reply_ok(req->id);
	json_object_set_new(reply, "next", json_integer((json_int_t)off));
	srv_client_reply(c, reply);
}

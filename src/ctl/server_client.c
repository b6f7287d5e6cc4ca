/* One control client: its bounded input and output buffers and the dispatch of its request
 * lines. */
#include "server_impl.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Frees c's reply buffer (what is unread in it is dropped). */
static void out_release(struct client *c)
{
	c->srv->out_bytes -= c->outcap;
	free(c->out);
	c->out = NULL;
	c->outcap = c->outlen = c->outoff = 0;
}

void srv_client_free(struct client *c)
{
	srv_list_free(c);
	out_release(c);
	close(c->fd);
	json_decref(c->follow_id);
	json_decref(c->events_id);
	free(c->in);
	free(c);
}

size_t ctl_out_max = CTL_OUT_MAX;
size_t ctl_out_total_max = CTL_OUT_TOTAL_MAX;
unsigned ctl_out_stall_ms = CTL_OUT_STALL_MS;

/* The client other than c whose unread replies have waited longest, if that is at least the
 * stall time; NULL if none has. */
static struct client *most_stalled(struct client *c, int64_t now)
{
	struct ctl_server *srv = c->srv;
	struct client *worst = NULL;

	for (size_t i = 0; i < srv->nclients; i++) {
		struct client *o = srv->clients[i];
		if (o == c || o->outoff == o->outlen ||
		    now - o->out_moved_ms < (int64_t)ctl_out_stall_ms)
			continue;
		if (!worst || o->out_moved_ms < worst->out_moved_ms)
			worst = o;
	}
	return worst;
}

/* The size c's reply buffer grows to for need bytes: doubled from its size (or 4 KiB). */
static size_t out_cap_for(const struct client *c, size_t need)
{
	size_t cap = c->outcap ? c->outcap : 4096;

	while (cap < need)
		cap *= 2;
	return cap;
}

/* Whether c may grow its reply buffer to hold n more bytes within the total of all clients';
 * makes room by closing stalled readers if it must. */
static bool out_room(struct client *c, size_t n)
{
	size_t need = c->outlen - c->outoff + n, grow;
	int64_t now = srv_now_ms();
	struct client *o;

	if (need <= c->outcap)
		return true;
	grow = out_cap_for(c, need) - c->outcap;
	while (c->srv->out_bytes + grow > ctl_out_total_max && (o = most_stalled(c, now))) {
		log_warn("%s: %zu bytes of replies unread for %lld ms while replies of all clients "
			 "take more than %zu bytes; closing",
			 o->peer, o->outlen - o->outoff, (long long)(now - o->out_moved_ms),
			 ctl_out_total_max);
		out_release(o);
		o->closing = true;
		o->following = o->following_events = false;
	}
	return c->srv->out_bytes + grow <= ctl_out_total_max;
}

/* Queues bytes for the client; a client that does not read what it asked for is dropped
 * rather than allowed to make the daemon hold its replies without bound. One reply is always
 * queued whole when nothing is unread before it (`list --json` at 100,000 VMs is more than
 * 32 MiB): a client with replies unread is not read from (srv_client_paused()), so what can
 * pile up behind it is what the cap bounds (console lines it follows). */
static void client_queue(struct client *c, const char *p, size_t n)
{
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		c->out_moved_ms = srv_now_ms();
	}
	if (c->outlen > c->outoff && c->outlen - c->outoff + n > ctl_out_max) {
		log_warn("%s: more than %zu bytes of replies unread; closing", c->peer,
			 ctl_out_max);
		c->closing = true;
		c->outoff = c->outlen = 0;
		c->following = c->following_events = false;
		return;
	}
	if (c->outlen + n > c->outcap) {
		if (c->outoff) {
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
		}
		if (c->outlen + n > c->outcap) {
			size_t cap = out_cap_for(c, c->outlen + n);
			char *o = realloc(c->out, cap);

			if (!o) {
				log_err("%s: out of memory; closing", c->peer);
				c->closing = true;
				c->following = c->following_events = false;
				return;
			}
			c->out = o;
			c->srv->out_bytes += cap - c->outcap;
			c->outcap = cap;
		}
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* Queues reply as one line and drops the caller's reference. */
void srv_client_reply(struct client *c, json_t *reply)
{
	size_t n;
	char *line = ctl_reply_line(reply, &n);

	if (line && !out_room(c, n)) {
		/* Only a short error line then, which fits whatever the total. */
		json_t *err = ctl_reply_error(json_object_get(reply, "id"),
					      "the daemon holds %zu MiB of replies that clients "
					      "have not read yet; try again",
					      c->srv->out_bytes >> 20);

		log_warn("%s: a %zu-byte reply refused: replies of all clients take %zu bytes",
			 c->peer, n, c->srv->out_bytes);
		free(line);
		line = ctl_reply_line(err, &n);
		json_decref(err);
	}
	json_decref(reply);
	if (!line) {
		log_err("%s: cannot encode a reply; closing", c->peer);
		c->closing = true;
		return;
	}
	client_queue(c, line, n);
	free(line);
}

bool srv_client_queue_part(struct client *c, const char *p, size_t n)
{
	if (c->closing || !out_room(c, n))
		return false;
	client_queue(c, p, n);
	return !c->closing;
}

/* Returns -1 if the connection is gone. */
int srv_client_flush(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->outoff += (size_t)w;
		c->out_moved_ms = srv_now_ms();
	}
	if (c->outcap > OUT_KEEP)
		out_release(c); /* one long reply does not keep its buffer for the connection */
	return 0;
}

static void handle_line(struct ctl_server *srv, struct client *c, const char *line, size_t len)
{
	struct ctl_request req;
	char err[512];

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (ctl_request_parse(line, len, &req, err, sizeof(err)) < 0) {
		log_debug("%s: bad request: %s", c->peer, err);
		srv_client_reply(c, ctl_reply_error(req.id, "%s", err));
		ctl_request_free(&req);
		return;
	}
	req.owner = c->owner;
	log_debug("%s: %s", c->peer, ctl_op_name(req.op));
	if (req.op == CTL_OP_CONSOLE)
		srv_console_request(srv, c, &req);
	else if (req.op == CTL_OP_START || req.op == CTL_OP_STOP)
		srv_job_start(srv, c, &req);
	else if (req.op == CTL_OP_LIST && srv->ops.be.list_begin)
		srv_list_request(srv, c, &req);
	else if (req.op == CTL_OP_JOBS)
		srv_client_reply(c, srv_jobs_reply(srv, &req));
	else if (req.op == CTL_OP_EVENTS)
		srv_events_request(srv, c, &req);
	else
		srv_client_reply(c, ops_handle(&srv->ops, &req, c->peer));
	ctl_request_free(&req);
}

/* Handles every complete line in the input buffer; keeps the partial one. */
void srv_client_lines(struct ctl_server *srv, struct client *c, bool eof)
{
	size_t start = 0;
	bool complete;

	while (!c->closing && !srv_client_busy(c) && !srv_client_paused(c) && start < c->inlen) {
		char *nl = memchr(c->in + start, '\n', c->inlen - start);
		size_t len;
		if (!nl) {
			if (!eof)
				break;
			len = c->inlen - start; /* a last request without its newline */
		} else {
			len = (size_t)(nl - (c->in + start));
		}
		if (len > CTL_LINE_MAX) {
			srv_client_reply(c,
					 ctl_reply_error(NULL, "request line longer than %u bytes",
							 CTL_LINE_MAX));
			c->closing = true;
			break;
		}
		handle_line(srv, c, c->in + start, len);
		start += len + (nl != NULL);
	}
	if (start) {
		memmove(c->in, c->in + start, c->inlen - start);
		c->inlen -= start;
		c->line_since = 0; /* what is left, if anything, is a new line */
	}
	/* Only an unfinished line is timed: whole lines held back behind this client's job
	 * are requests that wait for its reply (PROTOCOL.md), not a trickle. */
	complete = c->inlen && memchr(c->in, '\n', c->inlen) != NULL;
	if (c->inlen == 0 || complete)
		c->line_since = 0;
	else if (!c->line_since)
		c->line_since = srv_now_ms();
	if (!c->closing && !complete && c->inlen > CTL_LINE_MAX) {
		/* No newline within the cap: the line cannot be valid; say so and hang up
		 * instead of buffering the rest of it. */
		srv_client_reply(
		    c, ctl_reply_error(NULL, "request line longer than %u bytes", CTL_LINE_MAX));
		c->closing = true;
	}
}

/* Returns -1 if the client is to be closed now. */
int srv_client_read(struct ctl_server *srv, struct client *c)
{
	/* Not while its job runs or its replies back up: what it sent meanwhile waits in the
	 * buffer, unread beyond it (the poll loop does not ask for its input then either). */
	for (int i = 0;
	     i < READS_PER_WAKE && !c->closing && !srv_client_busy(c) && !srv_client_paused(c);
	     i++) {
		ssize_t n;
		if (c->inlen == c->incap) {
			size_t cap = c->incap ? c->incap * 2 : IN_INITIAL;
			char *p;
			if (cap > CTL_LINE_MAX + 1)
				cap = CTL_LINE_MAX + 1;
			p = realloc(c->in, cap);
			if (!p)
				return -1;
			c->in = p;
			c->incap = cap;
		}
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (n == 0) {
			srv_client_lines(srv, c, true);
			c->closing = true;
			c->following = c->following_events = false;
			return 0;
		}
		c->inlen += (size_t)n;
		c->last_ms = srv_now_ms();
		srv_client_lines(srv, c, false);
	}
	return 0;
}

/* `list` from a backend that lists in steps (ctl_backend.list_begin): the reply is one line as
 * always, but written a step of LIST_STEP_VMS entries at a time between the loop's other work,
 * and only as fast as the client reads it. A list of 100,000 VMs then neither holds the loop
 * (built in one go it took 3 s, the watchdog at risk and every other client waiting) nor
 * makes the daemon hold its ~35 MB: what one listing client holds is about list_out_low(). */
#include "server_impl.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

struct srv_list {
	void *cursor;
	char *part; /* the next bytes of the reply, made but not queued yet */
	size_t partlen;
	bool begun;   /* an entry was queued: the next one needs its comma */
	bool last;    /* part ends the reply */
	bool blocked; /* part did not fit in the total of all clients' buffers */
};

/* The next step is made only while the client has less than this unread: at most a quarter of
 * the cap on one client's unread replies (tests lower that cap), at most LIST_OUT_LOW. */
static size_t list_out_low(void)
{
	size_t m = ctl_out_max / 4;

	return m < LIST_OUT_LOW ? m : LIST_OUT_LOW;
}

void srv_list_free(struct client *c)
{
	struct srv_list *l = c->listing;
	const struct ctl_backend *be = &c->srv->ops.be;

	if (!l)
		return;
	be->list_end(be->ctx, l->cursor);
	free(l->part);
	free(l);
	c->listing = NULL;
}

/* The reply's head, `{"id":...,"ok":true,"vms":[`, as a new string. */
static char *list_head(json_t *id, size_t *len)
{
	json_t *head = ctl_reply_ok(id);
	char *line = ctl_reply_line(head, len), *out;
	static const char vms[] = ",\"vms\":[";

	json_decref(head);
	if (!line)
		return NULL;
	/* line is `{...}\n`: the object without its closing brace, then the array's start */
	*len -= 2;
	out = realloc(line, *len + sizeof(vms));
	if (!out) {
		free(line);
		return NULL;
	}
	memcpy(out + *len, vms, sizeof(vms));
	*len += sizeof(vms) - 1;
	return out;
}

void srv_list_request(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	const struct ctl_backend *be = &srv->ops.be;
	struct srv_list *l = calloc(1, sizeof(*l));

	if (l)
		l->part = list_head(req->id, &l->partlen);
	if (l && l->part)
		l->cursor = be->list_begin(be->ctx);
	if (!l || !l->cursor) {
		if (l)
			free(l->part);
		free(l);
		srv_client_reply(c, ctl_reply_error(req->id, "out of memory"));
		return;
	}
	c->listing = l;
	if (!srv_client_queue_part(c, l->part, l->partlen)) {
		srv_list_free(c);
		if (!c->closing)
			srv_client_reply(
			    c, ctl_reply_error(req->id,
					       "the daemon holds %zu MiB of replies "
					       "that clients have not read yet; try again",
					       srv->out_bytes >> 20));
		return;
	}
	free(l->part);
	l->part = NULL;
}

/* The next step's bytes in l->part: `,` between entries, `]}` and the newline at the end. */
static int list_make_part(const struct ctl_backend *be, struct srv_list *l)
{
	json_t *arr = json_array();
	char *s = NULL;
	size_t n = 0;
	int last;

	if (!arr)
		return -1;
	last = be->list_next(be->ctx, l->cursor, arr, LIST_STEP_VMS);
	if (json_array_size(arr)) {
		s = json_dumps(arr, JSON_COMPACT); /* `[a,b,...]` */
		if (!s) {
			json_decref(arr);
			return -1;
		}
		n = strlen(s) - 2;
		if (l->begun)
			s[0] = ',';
		else
			memmove(s, s + 1, n);
		n += l->begun;
		l->begun = true;
	}
	json_decref(arr);
	if (last) {
		char *t = realloc(s, n + 4);

		if (!t) {
			free(s);
			return -1;
		}
		s = t;
		memcpy(s + n, "]}\n", 4);
		n += 3;
	}
	l->part = s;
	l->partlen = n;
	l->last = last != 0;
	return 0;
}

void srv_list_pump(struct ctl_server *srv, struct client *c)
{
	const struct ctl_backend *be = &srv->ops.be;
	int64_t t0 = srv_now_ms();

	while (c->listing && !c->closing && c->outlen - c->outoff < list_out_low()) {
		struct srv_list *l = c->listing;

		if (!l->part && !l->last && list_make_part(be, l) < 0) {
			/* Half a line is out already: nothing the client could parse can follow. */
			log_err("%s: out of memory in the middle of a list; closing", c->peer);
			c->closing = true;
			srv_list_free(c);
			return;
		}
		if (l->partlen && !srv_client_queue_part(c, l->part, l->partlen)) {
			l->blocked = !c->closing; /* tried again in the next round */
			return;
		}
		l->blocked = false;
		free(l->part);
		l->part = NULL;
		l->partlen = 0;
		if (l->last) {
			srv_list_free(c);
			c->last_ms = srv_now_ms();
			return;
		}
		if (srv_now_ms() - t0 >= JOB_STEP_MS)
			return; /* the other clients' turn */
	}
}

int srv_list_timeout(const struct client *c)
{
	if (!c->listing || c->closing || c->outlen - c->outoff >= list_out_low())
		return -1; /* nothing, or the client's reading (POLLOUT) comes first */
	return c->listing->blocked ? LIST_RETRY_MS : 0;
}

/* denalictl's connection to denalid: one request, its streamed lines (console data, events,
 * progress) and its final reply (protocol: src/ctl/PROTOCOL.md). */
#include "denalictl.h"
#include "termsafe.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_LINE_MAX (256u << 20)

const char *denalictl_socket;

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(c, 0, sizeof(*c));
	if (strlen(denalictl_socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "denalictl: socket path too long: %s\n", denalictl_socket);
		return -1;
	}
	strcpy(sa.sun_path, denalictl_socket);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			fprintf(stderr,
				"denalictl: permission denied on %s: only root and members of the "
				"socket's group may use it (denalid serve --socket-group)\n",
				denalictl_socket);
		else
			fprintf(stderr, "denalictl: cannot reach denalid at %s: %s\n",
				denalictl_socket, strerror(e));
		if (c->fd >= 0)
			close(c->fd);
		return e == EACCES || e == EPERM ? -EACCES : -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->buf);
}

static int conn_send(struct conn *c, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t n, off = 0;
	int r = 0;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	s[n++] = '\n'; /* replaces the NUL; the length is tracked */
	while (off < n) {
		ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	free(s);
	return r;
}

/* The next reply line as JSON; NULL at end of stream or on error (message printed). */
static json_t *conn_recv(struct conn *c)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			json_error_t jerr;
			/* Console data is the guest's: a NUL it printed comes as \u0000. */
			json_t *o = json_loadb(c->buf, n, JSON_ALLOW_NUL, &jerr);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			if (!o || !json_is_object(o)) {
				fprintf(stderr, "denalictl: malformed reply from denalid\n");
				json_decref(o);
				return NULL;
			}
			return o;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b;
			if (cap > REPLY_LINE_MAX) {
				fprintf(stderr, "denalictl: reply from denalid too long\n");
				return NULL;
			}
			b = realloc(c->buf, cap);
			if (!b) {
				fprintf(stderr, "denalictl: out of memory\n");
				return NULL;
			}
			c->buf = b;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		c->len += (size_t)r;
	}
}

/* One life-cycle event as a line: "TIME vm NAME (id N): exited with code C". */
static void print_event(json_t *e)
{
	const char *kind = json_string_value(json_object_get(e, "event"));
	json_t *reason = json_object_get(e, "reason");
	time_t t = (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
	char when[32];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s #%lld vm %s (id %lld): ", when,
	       (long long)json_integer_value(json_object_get(e, "seq")),
	       json_string_value(json_object_get(e, "vm")),
	       (long long)json_integer_value(json_object_get(e, "id")));
	if (kind && !strcmp(kind, "exit"))
		printf("exited with code %lld\n",
		       (long long)json_integer_value(json_object_get(e, "code")));
	else if (kind && !strcmp(kind, "kill"))
		printf("killed: %s\n", json_is_string(reason) ? json_string_value(reason) : "?");
	else if (kind && !strcmp(kind, "start"))
		printf("started\n");
	else
		printf("%s%s%s\n", kind ? kind : "?", json_is_string(reason) ? ": " : "",
		       json_is_string(reason) ? json_string_value(reason) : "");
	fflush(stdout);
}

/* Sends req (reference stolen) and waits for its final reply (one with "ok"). Lines carrying
 * "data" are written to stdout on the way. Returns an exit status; *reply gets the final reply
 * when the status is EXIT_OK or EXIT_ERR with an answer from the daemon. */
int call(json_t *req, json_t **reply)
{
	struct conn c;
	json_t *o;
	int st = EXIT_UNREACHABLE;
	bool progress_shown = false;

	*reply = NULL;
	if ((!strcmp(json_string_value(json_object_get(req, "op")), "start") ||
	     !strcmp(json_string_value(json_object_get(req, "op")), "stop")) &&
	    isatty(STDERR_FILENO))
		json_object_set_new(req, "progress", json_true());
	json_object_set_new(req, "id", json_integer(1));
	int r = conn_open(&c);

	if (r < 0) {
		json_decref(req);
		return r == -EACCES ? EXIT_DENIED : EXIT_UNREACHABLE;
	}
	if (conn_send(&c, req) < 0) {
		fprintf(stderr, "denalictl: lost the connection to denalid\n");
		goto out;
	}
	while ((o = conn_recv(&c))) {
		json_t *data = json_object_get(o, "data");
		json_t *prog = json_object_get(o, "progress");

		if (json_is_object(json_object_get(o, "event")))
			print_event(json_object_get(o, "event"));
		if (json_is_object(prog)) {
			/* A bulk job's progress, asked for only when stderr is a terminal. */
			fprintf(stderr, "\r%s: %lld of %lld done, %lld failed ",
				json_string_value(json_object_get(prog, "what")),
				(long long)json_integer_value(json_object_get(prog, "done")),
				(long long)json_integer_value(json_object_get(prog, "total")),
				(long long)json_integer_value(json_object_get(prog, "failed")));
			progress_shown = true;
		}
		if (json_is_string(data)) {
			if (isatty(STDOUT_FILENO)) /* the guest's text, not its escape sequences */
				term_safe_write(stdout, json_string_value(data),
						json_string_length(data));
			else
				fwrite(json_string_value(data), 1, json_string_length(data),
				       stdout);
			fflush(stdout);
		}
		if (json_object_get(o, "ok")) {
			if (progress_shown)
				fputc('\n', stderr);
			*reply = o;
			st = json_is_true(json_object_get(o, "ok")) ? EXIT_OK : EXIT_ERR;
			if (st == EXIT_ERR) {
				json_t *e = json_object_get(o, "error");
				fprintf(stderr, "denalictl: %s\n",
					json_is_string(e) ? json_string_value(e)
							  : "request failed");
			}
			goto out;
		}
		json_decref(o);
	}
	fprintf(stderr, "denalictl: denalid closed the connection without an answer\n");
out:
	json_decref(req);
	conn_close(&c);
	return st;
}

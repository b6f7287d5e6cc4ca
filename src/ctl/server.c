#include "server.h"

#include "job.h"
#include "log.h"
#include "ops.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IN_INITIAL	 4096
#define ACCEPT_BATCH	 64
#define READS_PER_WAKE	 4
#define ACCEPT_PAUSE_MS	 100	     /* out of descriptors: how long new connections wait */
#define FOLLOW_POLL_MS	 50	     /* console --follow: how often new output is looked for */
#define FOLLOW_OUT_LOW	 (64u << 10) /* follow reads more only below this much queued output */
#define CONSOLE_DUMP_MAX (8u << 20)  /* non-follow console: most bytes sent for one request */
#define JOB_STEP_MS	 20	     /* the longest the loop works on jobs between polls */
#define JOB_PROGRESS_MS	 250	     /* progress lines to the requesting client */
#define JOBS_KEPT	 64	     /* finished jobs still listed */

struct client {
	int fd;
	unsigned long serial;
	char peer[96]; /* "client N (pid P uid U)" for log lines */
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff, outcap;
	bool closing; /* close once out is flushed; read nothing more */
	bool following;
	json_t *follow_id;
	char follow_name[CTL_NAME_MAX + 1];
	uint64_t follow_off;
	int64_t last_ms;
	int64_t line_since; /* when the unfinished line in `in` began; 0 = none */
	unsigned long job;  /* the job whose reply this client waits for; 0 = none */
	bool following_events;
	uint64_t events_seq; /* events --follow: the last seq sent */
	json_t *events_id;
	int64_t last_progress;
};

struct ctl_server {
	int lfd;
	int wake[2];
	volatile sig_atomic_t stopping;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ops_ctx ops;
	struct client **clients;
	size_t nclients;
	struct pollfd *pfds;
	unsigned long serial;
	int64_t accept_paused_until; /* out of descriptors: the listener rests until then */
	int64_t last_emfile_log;
	unsigned tick_ms;
	void (*tick_fn)(void *);
	void *tick_arg;
	int64_t next_tick;
	int64_t idle_ms, line_ms;
	struct ctl_job **jobs; /* running ones, then finished ones, oldest first */
	size_t njobs, jobs_cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A socket at path that nobody accepts on is left over from a dead daemon. */
static int path_is_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;

	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

int ctl_server_open(const char *path, mode_t mode, const struct ctl_backend *backend,
		    struct ctl_server **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl_server *srv;
	struct stat st;
	mode_t old;
	int r;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->lfd = srv->wake[0] = srv->wake[1] = -1;
	srv->idle_ms = CTL_CLIENT_IDLE_MS;
	srv->line_ms = CTL_LINE_TIMEOUT_MS;
	srv->ops.be = *backend;
	strcpy(srv->path, path);
	strcpy(sa.sun_path, path);

	if (pipe2(srv->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		r = -errno;
		goto err;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("%s exists and is not a socket", path);
			r = -EEXIST;
			goto err;
		}
		if (path_is_live(path) > 0) {
			log_err("%s: another daemon is serving on it", path);
			r = -EADDRINUSE;
			goto err;
		}
		unlink(path);
	}
	srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0) {
		r = -errno;
		goto err;
	}
	/* Created owner-only, then opened up to mode: never wider than asked, not even briefly. */
	old = umask(0177);
	r = bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		log_err("bind %s: %s", path, strerror(errno));
		goto err;
	}
	if (chmod(path, mode) < 0 || listen(srv->lfd, SOMAXCONN) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(errno));
		unlink(path);
		goto err;
	}
	srv->pfds = calloc(CTL_CLIENTS_MAX + 2, sizeof(*srv->pfds));
	srv->clients = calloc(CTL_CLIENTS_MAX, sizeof(*srv->clients));
	if (!srv->pfds || !srv->clients) {
		r = -ENOMEM;
		unlink(path);
		goto err;
	}
	log_info("listening on %s (mode %04o)", path, (unsigned)mode);
	*out = srv;
	return 0;
err:
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->wake[0] >= 0) {
		close(srv->wake[0]);
		close(srv->wake[1]);
	}
	free(srv->pfds);
	free(srv->clients);
	free(srv);
	return r;
}

void ctl_server_set_store(struct ctl_server *srv, struct ctl_store *st)
{
	srv->ops.store = st;
}

void ctl_server_set_tick(struct ctl_server *srv, unsigned interval_ms, void (*fn)(void *),
			 void *arg)
{
	srv->tick_ms = interval_ms ? interval_ms : 1;
	srv->tick_fn = fn;
	srv->tick_arg = arg;
}

void ctl_server_shutdown(struct ctl_server *srv)
{
	int saved = errno;

	srv->stopping = 1;
	if (write(srv->wake[1], "x", 1) < 0) {
		/* full pipe: a wake-up is already pending */
	}
	errno = saved;
}

void ctl_server_set_timeouts(struct ctl_server *srv, unsigned idle_ms, unsigned line_ms)
{
	srv->idle_ms = idle_ms ? idle_ms : CTL_CLIENT_IDLE_MS;
	srv->line_ms = line_ms ? line_ms : CTL_LINE_TIMEOUT_MS;
}

bool ctl_server_stopping(const struct ctl_server *srv)
{
	return srv->stopping != 0;
}

static void client_free(struct client *c)
{
	close(c->fd);
	json_decref(c->follow_id);
	json_decref(c->events_id);
	free(c->in);
	free(c->out);
	free(c);
}

/* Queues bytes for the client; a client that does not read what it asked for is dropped
 * rather than allowed to make the daemon hold its replies without bound. */
static void client_queue(struct client *c, const char *p, size_t n)
{
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen - c->outoff + n > CTL_OUT_MAX) {
		log_warn("%s: more than %u bytes of replies unread; closing", c->peer, CTL_OUT_MAX);
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
			size_t cap = c->outcap ? c->outcap : 4096;
			char *o;
			while (cap < c->outlen + n)
				cap *= 2;
			o = realloc(c->out, cap);
			if (!o) {
				log_err("%s: out of memory; closing", c->peer);
				c->closing = true;
				c->following = c->following_events = false;
				return;
			}
			c->out = o;
			c->outcap = cap;
		}
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* Queues reply as one line and drops the caller's reference. */
static void client_reply(struct client *c, json_t *reply)
{
	size_t n;
	char *line = ctl_reply_line(reply, &n);

	json_decref(reply);
	if (!line) {
		log_err("%s: cannot encode a reply; closing", c->peer);
		c->closing = true;
		return;
	}
	client_queue(c, line, n);
	free(line);
}

/* Returns -1 if the connection is gone. */
static int client_flush(struct client *c)
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
	}
	return 0;
}

static void console_pump(struct ctl_server *srv, struct client *c)
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
			client_reply(c, end);
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
				client_reply(c, line);
			end = ctl_reply_ok(c->follow_id);
			json_object_set_new(end, "next", json_integer((json_int_t)c->follow_off));
			json_object_set_new(end, "end", json_string("vm ended"));
			c->following = false;
			client_reply(c, end);
			return;
		}
		if (r != 1)
			return;
		client_reply(c, line);
	}
}

#define EVENTS_PER_LINE 256

/* Sends the events after c->events_seq, one line per event; an events request without
 * follow ends with its reply. */
static void events_pump(struct ctl_server *srv, struct client *c)
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
			client_reply(c, line);
		}
		json_decref(evs);
	}
}

static void do_events(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	json_t *reply;

	if (!srv->ops.be.events) {
		client_reply(c, ctl_reply_error(req->id, "events: not kept by this daemon"));
		return;
	}
	json_decref(c->events_id);
	c->events_id = req->id ? json_incref(req->id) : NULL;
	c->events_seq = req->offset;
	events_pump(srv, c);
	if (req->follow) {
		c->following_events = true;
		return;
	}
	reply = ctl_reply_ok(req->id);
	json_object_set_new(reply, "next", json_integer((json_int_t)c->events_seq));
	client_reply(c, reply);
}

static void do_console(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	uint64_t off = req->offset;
	size_t sent = 0;
	json_t *line, *reply;
	int r;

	if (req->follow) {
		/* One stream per connection: a new console request replaces the old one. */
		r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 0, false, &line);
		if (r == -ENOENT) {
			client_reply(c, ctl_reply_error(req->id, "vm %s: no such VM", req->name));
			return;
		}
		json_decref(c->follow_id);
		c->follow_id = json_incref(req->id);
		snprintf(c->follow_name, sizeof(c->follow_name), "%s", req->name);
		c->follow_off = req->offset;
		c->following = true;
		log_debug("%s: following the console of %s", c->peer, req->name);
		console_pump(srv, c);
		return;
	}
	for (;;) {
		r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 16384, false, &line);
		if (r == 2)
			r = ops_console_chunk(&srv->ops, req->id, req->name, &off, 16384, true,
					      &line);
		if (r == -ENOENT) {
			client_reply(c, ctl_reply_error(req->id, "vm %s: no such VM", req->name));
			return;
		}
		if (r != 1)
			break;
		sent += json_string_length(json_object_get(line, "data"));
		client_reply(c, line);
		if (sent >= CONSOLE_DUMP_MAX || c->closing)
			break;
	}
	reply = ctl_reply_ok(req->id);
	json_object_set_new(reply, "next", json_integer((json_int_t)off));
	client_reply(c, reply);
}

static void start_job(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	json_t *reply;
	struct ctl_job *j;

	if (srv->njobs == srv->jobs_cap) {
		size_t cap = srv->jobs_cap ? 2 * srv->jobs_cap : 16;
		struct ctl_job **nj = realloc(srv->jobs, cap * sizeof(*nj));

		if (!nj) {
			client_reply(c, ctl_reply_error(req->id, "out of memory"));
			return;
		}
		srv->jobs = nj;
		srv->jobs_cap = cap;
	}
	j = ctl_job_new(&srv->ops.be, srv->ops.store, req, c->serial, c->peer, &reply);
	if (!j) {
		client_reply(c, reply);
		return;
	}
	srv->jobs[srv->njobs++] = j;
	c->job = ctl_job_id(j);
	c->last_progress = now_ms();
}

static json_t *jobs_reply(struct ctl_server *srv, const struct ctl_request *req)
{
	json_t *reply = ctl_reply_ok(req->id), *arr = json_array();

	for (size_t i = 0; i < srv->njobs; i++)
		json_array_append_new(arr, ctl_job_json(srv->jobs[i]));
	json_object_set_new(reply, "jobs", arr);
	return reply;
}

static struct client *client_by_serial(struct ctl_server *srv, unsigned long serial)
{
	for (size_t i = 0; i < srv->nclients; i++)
		if (srv->clients[i]->serial == serial)
			return srv->clients[i];
	return NULL;
}

/* -1: no job running; 0: one has work to do now; 5: they only wait for the disk. */
static int jobs_timeout(const struct ctl_server *srv)
{
	int t = -1;

	for (size_t i = 0; i < srv->njobs; i++) {
		if (ctl_job_state(srv->jobs[i]) != CTL_JOB_RUNNING)
			continue;
		if (!ctl_job_waiting(srv->jobs[i]))
			return 0;
		t = 5;
	}
	return t;
}

/* One round of work on the running jobs, JOB_STEP_MS in all; replies and progress to their
 * clients; the oldest finished jobs beyond JOBS_KEPT forgotten. */
static void run_jobs(struct ctl_server *srv, int64_t now)
{
	size_t running = 0, finished = 0;

	for (size_t i = 0; i < srv->njobs; i++)
		running += ctl_job_state(srv->jobs[i]) == CTL_JOB_RUNNING;
	for (size_t i = 0; i < srv->njobs && running; i++) {
		struct ctl_job *j = srv->jobs[i];
		struct client *c;

		if (ctl_job_state(j) != CTL_JOB_RUNNING)
			continue;
		c = client_by_serial(srv, ctl_job_client(j));
		if (c && c->job != ctl_job_id(j))
			c = NULL;
		if (ctl_job_step(j, JOB_STEP_MS / (int64_t)running > 0
					? JOB_STEP_MS / (int64_t)running
					: 1)) {
			if (c) {
				client_reply(c, ctl_job_reply(j));
				c->job = 0;
				c->last_ms = now_ms();
			}
		} else if (c && ctl_job_wants_progress(j) &&
			   now - c->last_progress >= JOB_PROGRESS_MS) {
			client_reply(c, ctl_job_progress(j));
			c->last_progress = now;
			c->last_ms = now;
		}
	}
	for (size_t i = 0; i < srv->njobs; i++)
		finished += ctl_job_state(srv->jobs[i]) != CTL_JOB_RUNNING;
	while (finished > JOBS_KEPT) {
		for (size_t i = 0; i < srv->njobs; i++) {
			if (ctl_job_state(srv->jobs[i]) == CTL_JOB_RUNNING)
				continue;
			ctl_job_free(srv->jobs[i]);
			memmove(srv->jobs + i, srv->jobs + i + 1,
				(srv->njobs - i - 1) * sizeof(*srv->jobs));
			srv->njobs--;
			break;
		}
		finished--;
	}
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
		client_reply(c, ctl_reply_error(req.id, "%s", err));
		ctl_request_free(&req);
		return;
	}
	log_debug("%s: %s", c->peer, ctl_op_name(req.op));
	if (req.op == CTL_OP_CONSOLE)
		do_console(srv, c, &req);
	else if (req.op == CTL_OP_START || req.op == CTL_OP_STOP)
		start_job(srv, c, &req);
	else if (req.op == CTL_OP_JOBS)
		client_reply(c, jobs_reply(srv, &req));
	else if (req.op == CTL_OP_EVENTS)
		do_events(srv, c, &req);
	else
		client_reply(c, ops_handle(&srv->ops, &req, c->peer));
	ctl_request_free(&req);
}

/* Handles every complete line in the input buffer; keeps the partial one. */
static void client_lines(struct ctl_server *srv, struct client *c, bool eof)
{
	size_t start = 0;

	while (!c->closing && !c->job && start < c->inlen) {
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
			client_reply(c, ctl_reply_error(NULL, "request line longer than %u bytes",
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
	if (c->inlen == 0)
		c->line_since = 0;
	else if (!c->line_since)
		c->line_since = now_ms();
	if (!c->closing && c->inlen > CTL_LINE_MAX) {
		/* No newline within the cap: the line cannot be valid; say so and hang up
		 * instead of buffering the rest of it. */
		client_reply(
		    c, ctl_reply_error(NULL, "request line longer than %u bytes", CTL_LINE_MAX));
		c->closing = true;
	}
}

/* Returns -1 if the client is to be closed now. */
static int client_read(struct ctl_server *srv, struct client *c)
{
	for (int i = 0; i < READS_PER_WAKE && !c->closing; i++) {
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
			client_lines(srv, c, true);
			c->closing = true;
			c->following = c->following_events = false;
			return 0;
		}
		c->inlen += (size_t)n;
		c->last_ms = now_ms();
		client_lines(srv, c, false);
	}
	return 0;
}

static void accept_clients(struct ctl_server *srv)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct client *c;
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int64_t now = now_ms();
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection keeps the listener readable: without a
				 * pause poll would spin until a descriptor frees up. */
				srv->accept_paused_until = now + ACCEPT_PAUSE_MS;
				if (now - srv->last_emfile_log >= 10000) {
					log_warn("accept: %s; new connections wait",
						 strerror(errno));
					srv->last_emfile_log = now;
				}
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		srv->serial++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
			cred.pid = 0;
			cred.uid = cred.gid = (unsigned)-1;
		}
		if (srv->nclients >= CTL_CLIENTS_MAX) {
			static const char busy[] =
			    "{\"id\":null,\"ok\":false,\"error\":\"too many connections\"}\n";
			log_warn("client %lu (pid %d uid %u): refused, %d connections open",
				 srv->serial, (int)cred.pid, (unsigned)cred.uid, CTL_CLIENTS_MAX);
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* it was refused either way */
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->serial = srv->serial;
		c->last_ms = now_ms();
		snprintf(c->peer, sizeof(c->peer), "client %lu (pid %d uid %u)", c->serial,
			 (int)cred.pid, (unsigned)cred.uid);
		/* Access is decided by the socket's mode and owner; the peer is recorded so every
		 * change can be traced to a process and a user. */
		log_info("client %lu: connected, pid %d uid %u gid %u", c->serial, (int)cred.pid,
			 (unsigned)cred.uid, (unsigned)cred.gid);
		srv->clients[srv->nclients++] = c;
	}
}

static void drop_client(struct ctl_server *srv, size_t i)
{
	log_debug("%s: closed", srv->clients[i]->peer);
	client_free(srv->clients[i]);
	srv->clients[i] = srv->clients[--srv->nclients];
}

static int poll_timeout(struct ctl_server *srv, int64_t now)
{
	int64_t t = -1, jt;

	if (srv->tick_fn)
		t = srv->next_tick > now ? srv->next_tick - now : 0;
	jt = jobs_timeout(srv); /* a job with work to do: poll only looks for clients */
	if (jt >= 0 && (t < 0 || jt < t))
		t = jt;
	if (srv->accept_paused_until > now && (t < 0 || srv->accept_paused_until - now < t))
		t = srv->accept_paused_until - now;
	for (size_t i = 0; i < srv->nclients; i++) {
		struct client *c = srv->clients[i];
		int64_t ct;
		if (c->following || c->following_events)
			ct = c->outlen - c->outoff < FOLLOW_OUT_LOW ? FOLLOW_POLL_MS : -1;
		else
			ct = c->last_ms + srv->idle_ms > now ? c->last_ms + srv->idle_ms - now : 0;
		if (c->line_since && !c->closing) {
			int64_t lt = c->line_since + srv->line_ms > now
					 ? c->line_since + srv->line_ms - now
					 : 0;
			if (ct < 0 || lt < ct)
				ct = lt;
		}
		if (ct >= 0 && (t < 0 || ct < t))
			t = ct;
	}
	return t > 60000 ? 60000 : (int)t;
}

int ctl_server_run(struct ctl_server *srv)
{
	srv->next_tick = now_ms();
	while (!srv->stopping) {
		size_t n = 0, i;
		int64_t now = now_ms();
		int r;

		if (srv->tick_fn && now >= srv->next_tick) {
			srv->tick_fn(srv->tick_arg);
			srv->next_tick = now + srv->tick_ms;
		}
		srv->pfds[n++] = (struct pollfd){.fd = srv->wake[0], .events = POLLIN};
		srv->pfds[n++] = (struct pollfd){
		    .fd = srv->lfd, .events = now >= srv->accept_paused_until ? POLLIN : 0};
		for (i = 0; i < srv->nclients; i++) {
			struct client *c = srv->clients[i];
			short ev = c->closing || c->job ? 0 : POLLIN;
			if (c->outoff < c->outlen)
				ev |= POLLOUT;
			srv->pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		r = poll(srv->pfds, n, poll_timeout(srv, now));
		if (r < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			return -errno;
		}
		if (r > 0 && (srv->pfds[0].revents & POLLIN)) {
			char buf[64];
			while (read(srv->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (srv->stopping)
			break;
		now = now_ms();
		/* Clients first (their pfds line up with the array as it was), then new ones. */
		for (i = srv->nclients; i-- > 0;) {
			struct client *c = srv->clients[i];
			short rev = r > 0 ? srv->pfds[2 + i].revents : 0;
			bool gone = false;

			if (c->job && (rev & (POLLHUP | POLLERR)))
				gone = true; /* its job goes on without it */
			else if (rev & (POLLIN | POLLHUP | POLLERR))
				gone = client_read(srv, c) < 0;
			if (!gone && !c->job && c->inlen && !c->closing)
				client_lines(srv, c, false); /* lines held back while a job ran */
			if (!gone && c->following)
				console_pump(srv, c);
			if (!gone && c->following_events)
				events_pump(srv, c);
			if (!gone)
				gone = client_flush(c) < 0;
			if (!gone && c->closing && c->outoff == c->outlen)
				gone = true;
			if (!gone && !c->following && !c->following_events && !c->job &&
			    now - c->last_ms >= srv->idle_ms) {
				log_info("%s: idle for %lld ms; closing", c->peer,
					 (long long)srv->idle_ms);
				gone = true;
			}
			if (!gone && !c->closing && c->line_since &&
			    now - c->line_since >= srv->line_ms) {
				/* A trickle of bytes without a newline must not hold a slot. */
				log_warn("%s: request line not finished within %lld ms; closing",
					 c->peer, (long long)srv->line_ms);
				client_reply(c, ctl_reply_error(NULL,
								"request line not finished within "
								"%lld ms; closing",
								(long long)srv->line_ms));
				c->closing = true;
				c->inlen = 0;
				c->line_since = 0;
				gone = client_flush(c) < 0 || c->outoff == c->outlen;
			}
			if (!gone && c->closing && (rev & (POLLHUP | POLLERR)))
				gone = true; /* nobody is left to read what remains */
			if (gone)
				drop_client(srv, i);
		}
		if (r > 0 && (srv->pfds[1].revents & POLLIN))
			accept_clients(srv);
		if (srv->njobs)
			run_jobs(srv, now_ms());
		if (now_ms() - now > 250)
			log_warn("control loop: one round took %lld ms (watchdog interval at risk)",
				 (long long)(now_ms() - now));
	}
	/* Stop accepting at once; the caller closes the rest. */
	if (srv->lfd >= 0) {
		close(srv->lfd);
		srv->lfd = -1;
		unlink(srv->path);
	}
	log_info("stopped serving %s", srv->path);
	return 0;
}

void ctl_server_close(struct ctl_server *srv)
{
	if (!srv)
		return;
	while (srv->nclients) {
		struct client *c = srv->clients[srv->nclients - 1];
		client_flush(c); /* best effort: a last reply may still fit */
		drop_client(srv, srv->nclients - 1);
	}
	if (srv->lfd >= 0) {
		close(srv->lfd);
		unlink(srv->path);
	}
	close(srv->wake[0]);
	close(srv->wake[1]);
	for (size_t i = 0; i < srv->njobs; i++)
		ctl_job_free(srv->jobs[i]);
	free(srv->jobs);
	free(srv->pfds);
	free(srv->clients);
	free(srv);
}

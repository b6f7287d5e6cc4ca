/* The control socket: listening, accepting, the poll loop and shutdown. */
#include "server_impl.h"

#include "job.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t srv_now_ms(void)
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

static void accept_clients(struct ctl_server *srv)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct client *c;
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int64_t now = srv_now_ms();
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
		c->srv = srv;
		c->fd = fd;
		c->serial = srv->serial;
		if (ctl_owner_from_socket(fd, &c->owner) < 0)
			c->owner =
			    (struct ctl_owner){.set = 1, .uid = UINT32_MAX, .gid = UINT32_MAX};
		c->last_ms = srv_now_ms();
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
	srv_client_free(srv->clients[i]);
	srv->clients[i] = srv->clients[--srv->nclients];
}

/* When c last did something: sent a line, or (its list in steps) read some of its reply. */
static int64_t client_active_ms(const struct client *c)
{
	return c->listing && c->out_moved_ms > c->last_ms ? c->out_moved_ms : c->last_ms;
}

static int poll_timeout(struct ctl_server *srv, int64_t now)
{
	int64_t t = -1, jt;

	if (srv->tick_fn)
		t = srv->next_tick > now ? srv->next_tick - now : 0;
	jt = srv_jobs_timeout(srv); /* a job with work to do: poll only looks for clients */
	if (jt >= 0 && (t < 0 || jt < t))
		t = jt;
	if (srv->accept_paused_until > now && (t < 0 || srv->accept_paused_until - now < t))
		t = srv->accept_paused_until - now;
	for (size_t i = 0; i < srv->nclients; i++) {
		struct client *c = srv->clients[i];
		int64_t ct;
		if (c->following || c->following_events)
			ct = c->outlen - c->outoff < FOLLOW_OUT_LOW ? FOLLOW_POLL_MS : -1;
		else if (client_active_ms(c) + srv->idle_ms > now)
			ct = client_active_ms(c) + srv->idle_ms - now;
		else
			ct = 0;
		if (c->listing) {
			int64_t lt = srv_list_timeout(c);

			if (lt >= 0 && (ct < 0 || lt < ct))
				ct = lt;
		}
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

/* The tick (watchdog ping) when it is due. Looked at between the parts of a round too: one
 * slow part (a big list, a job step on a loaded host) then delays it by that part only, not
 * by the whole round. */
static void tick_if_due(struct ctl_server *srv)
{
	int64_t now;

	if (!srv->tick_fn)
		return;
	now = srv_now_ms();
	if (now >= srv->next_tick) {
		srv->tick_fn(srv->tick_arg);
		srv->next_tick = now + srv->tick_ms;
	}
}

int ctl_server_run(struct ctl_server *srv)
{
	srv->next_tick = srv_now_ms();
	while (!srv->stopping) {
		size_t n = 0, i;
		int64_t now = srv_now_ms();
		int r;

		tick_if_due(srv);
		srv->pfds[n++] = (struct pollfd){.fd = srv->wake[0], .events = POLLIN};
		srv->pfds[n++] = (struct pollfd){
		    .fd = srv->lfd, .events = now >= srv->accept_paused_until ? POLLIN : 0};
		for (i = 0; i < srv->nclients; i++) {
			struct client *c = srv->clients[i];
			short ev =
			    c->closing || srv_client_busy(c) || srv_client_paused(c) ? 0 : POLLIN;
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
		now = srv_now_ms();
		ops_round(
		    &srv->ops); /* after the poll: the slow commands' budget is this round's */
		/* Clients first (their pfds line up with the array as it was), then new ones. */
		for (i = srv->nclients; i-- > 0;) {
			struct client *c = srv->clients[i];
			short rev = r > 0 ? srv->pfds[2 + i].revents : 0;
			bool gone = false;

			if (c->job && (rev & (POLLHUP | POLLERR)))
				gone = true; /* its job goes on without it */
			else if (c->listing && (rev & (POLLHUP | POLLERR)))
				gone = true; /* nobody is left to read the rest of its list */
			else if (rev & (POLLIN | POLLHUP | POLLERR))
				gone = srv_client_read(srv, c) < 0;
			if (!gone && !srv_client_busy(c) && c->inlen && !c->closing &&
			    !srv_client_paused(c))
				srv_client_lines(srv, c, false); /* lines held back (a job, unread
								    replies) */
			if (!gone && c->listing)
				srv_list_pump(srv, c);
			if (!gone && c->following)
				srv_console_pump(srv, c);
			if (!gone && c->following_events)
				srv_events_pump(srv, c);
			if (!gone)
				gone = srv_client_flush(c) < 0;
			/* Replies it read may have unpaused it, with its next requests already in
			 * the buffer and nothing new to poll for: answer them now. */
			if (!gone && !srv_client_busy(c) && c->inlen && !c->closing &&
			    !srv_client_paused(c)) {
				srv_client_lines(srv, c, false);
				gone = srv_client_flush(c) < 0;
			}
			if (!gone && c->closing && c->outoff == c->outlen)
				gone = true;
			/* A list in steps is idle when its client has read none of it for as long.
			 */
			if (!gone && !c->following && !c->following_events && !c->job &&
			    now - client_active_ms(c) >= srv->idle_ms) {
				log_info("%s: idle for %lld ms; closing", c->peer,
					 (long long)srv->idle_ms);
				gone = true;
			}
			if (!gone && !c->closing && c->line_since &&
			    now - c->line_since >= srv->line_ms) {
				/* A trickle of bytes without a newline must not hold a slot. */
				log_warn("%s: request line not finished within %lld ms; closing",
					 c->peer, (long long)srv->line_ms);
				srv_client_reply(c,
						 ctl_reply_error(NULL,
								 "request line not finished within "
								 "%lld ms; closing",
								 (long long)srv->line_ms));
				c->closing = true;
				c->inlen = 0;
				c->line_since = 0;
				gone = srv_client_flush(c) < 0 || c->outoff == c->outlen;
			}
			if (!gone && c->closing && (rev & (POLLHUP | POLLERR)))
				gone = true; /* nobody is left to read what remains */
			if (gone)
				drop_client(srv, i);
			tick_if_due(srv);
		}
		if (r > 0 && (srv->pfds[1].revents & POLLIN))
			accept_clients(srv);
		if (srv->njobs) {
			tick_if_due(srv);
			srv_jobs_run(srv, srv_now_ms());
		}
		if (srv_now_ms() - now > 250)
			log_warn("control loop: one round took %lld ms (watchdog interval at risk)",
				 (long long)(srv_now_ms() - now));
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
		srv_client_flush(c); /* best effort: a last reply may still fit */
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

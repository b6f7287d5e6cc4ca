/* conn.c - per-target queues, lazy keep-alive connections, dispatch, responses, timeouts. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "http.h"
#include "rng.h"
#include "target.h"
#include "zipf.h"

static void req_fail(struct engine *e, uint64_t intended, enum fail_kind kind)
{
	e->outstanding--;
	account_failed(&e->acct, intended, e->now, kind);
}

static void req_done(struct engine *e, const struct conn *c)
{
	uint64_t base = e->cfg->mode == LOAD_OPEN ? c->intended : c->sent;

	e->outstanding--;
	account_done(&e->acct, c->intended, base, e->now, c->hp.status);
}

/* ---- pending queues ---- */

static int pend_push(struct engine *e, uint32_t target, uint64_t t, int retried, int front)
{
	struct tstate *s = &e->tst[target];
	uint32_t i = e->pool_free;

	if (i == NONE)
		return -ENOBUFS;
	e->pool_free = e->pool[i].next;
	e->pool[i].t = t;
	e->pool[i].retried = (uint8_t)retried;
	e->pool[i].next = NONE;
	if (s->head == NONE) {
		s->head = s->tail = i;
	} else if (front) {
		e->pool[i].next = s->head;
		s->head = i;
	} else {
		e->pool[s->tail].next = i;
		s->tail = i;
	}
	s->npending++;
	return 0;
}

/* Oldest pending request of a target that has not yet timed out; expired ones fail. */
static int pend_pop(struct engine *e, uint32_t target, uint64_t *t, int *retried)
{
	struct tstate *s = &e->tst[target];

	while (s->head != NONE) {
		uint32_t i = s->head;

		s->head = e->pool[i].next;
		if (s->head == NONE)
			s->tail = NONE;
		s->npending--;
		e->pool[i].next = e->pool_free;
		e->pool_free = i;
		if (e->now - e->pool[i].t < e->cfg->timeout_ns || e->now < e->pool[i].t) {
			*t = e->pool[i].t;
			*retried = e->pool[i].retried;
			return 1;
		}
		req_fail(e, e->pool[i].t, F_TIMEOUT);
	}
	return 0;
}

/* ---- idle lists ---- */

static void idle_push(struct engine *e, uint32_t ci)
{
	struct conn *c = &e->conns[ci];
	struct tstate *s = &e->tst[c->target];

	c->state = C_IDLE;
	c->tprev = NONE;
	c->tnext = s->idle;
	if (s->idle != NONE)
		e->conns[s->idle].tprev = ci;
	s->idle = ci;
	c->gnext = NONE;
	c->gprev = e->gidle_tail;
	if (e->gidle_tail != NONE)
		e->conns[e->gidle_tail].gnext = ci;
	else
		e->gidle_head = ci;
	e->gidle_tail = ci;
}

static void idle_unlink(struct engine *e, uint32_t ci)
{
	struct conn *c = &e->conns[ci];
	struct tstate *s = &e->tst[c->target];

	if (c->tprev != NONE)
		e->conns[c->tprev].tnext = c->tnext;
	else
		s->idle = c->tnext;
	if (c->tnext != NONE)
		e->conns[c->tnext].tprev = c->tprev;
	if (c->gprev != NONE)
		e->conns[c->gprev].gnext = c->gnext;
	else
		e->gidle_head = c->gnext;
	if (c->gnext != NONE)
		e->conns[c->gnext].gprev = c->gprev;
	else
		e->gidle_tail = c->gprev;
}

/* ---- connections ---- */

static void starve(struct engine *e, uint32_t target)
{
	uint32_t n = (uint32_t)e->ts->n;

	if (e->tst[target].starved || e->scount == n)
		return;
	e->tst[target].starved = 1;
	e->starved[(e->shead + e->scount) % n] = target;
	e->scount++;
}

static void conn_send(struct engine *e, uint32_t ci);
static void conn_close(struct engine *e, uint32_t ci, int refill);

static void set_out(struct engine *e, struct conn *c, uint32_t ci, int out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
				 .data.u64 = ci | (uint64_t)c->gen << 32};

	if (c->want_out == out)
		return;
	c->want_out = (uint8_t)out;
	epoll_ctl(e->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Open a connection to target carrying the request due at `intended`. Returns 0, or -1 when
 * it failed at once (the request is then already counted). */
static int conn_open(struct engine *e, uint32_t target, uint64_t intended, int retried)
{
	const struct target *t = &e->ts->v[target];
	struct epoll_event ev;
	struct conn *c;
	uint32_t ci, gen;
	int fd, one = 1, rc;

	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		req_fail(e, intended, F_CONNECT);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, (const struct sockaddr *)&t->addr, t->addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		req_fail(e, intended, errno == ECONNREFUSED ? F_REFUSED : F_CONNECT);
		close(fd);
		return -1;
	}
	ci = e->freeslots[--e->nfree];
	c = &e->conns[ci];
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->fd = fd;
	c->target = target;
	c->intended = intended;
	c->retried = (uint8_t)retried;
	c->state = C_CONNECTING;
	c->want_out = 1;
	c->tnext = c->tprev = c->gnext = c->gprev = NONE;
	http_parser_reset(&c->hp);
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = ci | (uint64_t)gen << 32;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		req_fail(e, intended, F_CONNECT);
		close(fd);
		c->state = C_FREE;
		e->freeslots[e->nfree++] = ci;
		return -1;
	}
	e->nopen++;
	e->res->conns_opened++;
	if (e->nopen > e->res->conns_peak)
		e->res->conns_peak = e->nopen;
	if (++e->tst[target].nconns > e->res->per_target_peak)
		e->res->per_target_peak = e->tst[target].nconns;
	if (rc == 0)
		conn_send(e, ci);
	return 0;
}

/* Give the next request of the target, or of a starved target, a connection slot. */
static void serve_waiting(struct engine *e, uint32_t target)
{
	uint64_t t;
	int retried;

	while (e->nfree && e->tst[target].nconns < e->cfg->conns_per_target &&
	       pend_pop(e, target, &t, &retried))
		if (!conn_open(e, target, t, retried))
			return;
	while (e->nfree && e->scount) {
		uint32_t s = e->starved[e->shead];

		if (e->tst[s].npending == 0 || e->tst[s].nconns > 0) {
			e->tst[s].starved = 0;
			e->shead = (e->shead + 1) % (uint32_t)e->ts->n;
			e->scount--;
			continue;
		}
		if (!pend_pop(e, s, &t, &retried))
			continue;
		if (!conn_open(e, s, t, retried))
			return;
	}
}

static void conn_close(struct engine *e, uint32_t ci, int refill)
{
	struct conn *c = &e->conns[ci];
	uint32_t target = c->target;

	if (c->state == C_IDLE)
		idle_unlink(e, ci);
	close(c->fd);
	c->state = C_FREE;
	e->freeslots[e->nfree++] = ci;
	e->nopen--;
	e->tst[target].nconns--;
	if (refill)
		serve_waiting(e, target);
}

/* The request in flight on c failed: retry once if a reused keep-alive connection was closed
 * under it before any byte of the response came back, else count the failure. */
static void conn_fail(struct engine *e, uint32_t ci, enum fail_kind kind)
{
	struct conn *c = &e->conns[ci];

	if (kind == F_IO && c->reused && !c->retried && http_parser_idle(&c->hp) &&
	    !pend_push(e, c->target, c->intended, 1, 1)) {
		e->res->retries++;
	} else {
		req_fail(e, c->intended, kind);
	}
	conn_close(e, ci, 1);
}

static void conn_send(struct engine *e, uint32_t ci)
{
	struct conn *c = &e->conns[ci];
	const struct target *t = &e->ts->v[c->target];
	ssize_t n;

	if (c->state != C_BUSY) {
		c->state = C_BUSY;
		c->woff = 0;
		c->sent = e->now;
	}
	n = send(c->fd, t->req + c->woff, t->reqlen - c->woff, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			set_out(e, c, ci, 1);
			return;
		}
		conn_fail(e, ci, F_IO);
		return;
	}
	c->woff += (uint32_t)n;
	set_out(e, c, ci, c->woff < t->reqlen);
}

/* Put the request on a connection of its target now, or queue it. */
static void dispatch(struct engine *e, uint32_t target, uint64_t intended, int retried)
{
	struct tstate *s = &e->tst[target];

	if (s->idle != NONE) {
		uint32_t ci = s->idle;
		struct conn *c = &e->conns[ci];

		idle_unlink(e, ci);
		c->intended = intended;
		c->retried = (uint8_t)retried;
		conn_send(e, ci);
		return;
	}
	if (s->nconns < e->cfg->conns_per_target && s->npending == 0) {
		if (!e->nfree && e->gidle_head != NONE)
			conn_close(e, e->gidle_head,
				   0); /* evict the least recently used idle one */
		if (e->nfree) {
			conn_open(e, target, intended, retried);
			return;
		}
	}
	if (pend_push(e, target, intended, retried, 0)) {
		req_fail(e, intended, F_DROPPED);
		return;
	}
	if (s->nconns == 0)
		starve(e, target);
}

void engine_new_request(struct engine *e, uint64_t intended)
{
	uint32_t target = (uint32_t)(zipf_sample(&e->zipf, &e->rtarget) - 1);

	e->outstanding++;
	if (!e->tst[target].touched) {
		e->tst[target].touched = 1;
		e->res->targets_touched++;
	}
	account_sent(&e->acct, intended, target);
	dispatch(e, target, intended, 0);
}

/* A response completed on c: reuse the connection or let it go. */
static void conn_done(struct engine *e, uint32_t ci, int keep)
{
	struct conn *c = &e->conns[ci];
	uint64_t t;
	int retried;

	req_done(e, c);
	if (!keep) {
		conn_close(e, ci, 1);
		return;
	}
	c->reused = 1;
	http_parser_reset(&c->hp);
	if (pend_pop(e, c->target, &t, &retried)) {
		c->intended = t;
		c->retried = (uint8_t)retried;
		c->state = C_IDLE; /* conn_send marks it busy */
		conn_send(e, ci);
		return;
	}
	if (e->scount) { /* another target waits for a slot: hand this one over */
		conn_close(e, ci, 1);
		return;
	}
	idle_push(e, ci);
}

static void on_readable(struct engine *e, uint32_t ci)
{
	struct conn *c = &e->conns[ci];
	ssize_t n = recv(c->fd, e->rbuf, sizeof(e->rbuf), 0);
	enum http_result r;
	size_t used;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (c->state != C_BUSY) { /* idle: the server closed it (or sent junk) */
		conn_close(e, ci, 1);
		return;
	}
	if (n <= 0) {
		if (n == 0 && http_parse_eof(&c->hp) == HTTP_DONE)
			conn_done(e, ci, 0);
		else
			conn_fail(e, ci, F_IO);
		return;
	}
	e->res->bytes_in += (uint64_t)n;
	r = http_parse(&c->hp, e->rbuf, (size_t)n, &used);
	if (r == HTTP_MORE)
		return;
	if (r == HTTP_ERROR) {
		conn_fail(e, ci, F_IO);
		return;
	}
	/* bytes past the response cannot be ours (we never pipeline): do not reuse */
	conn_done(e, ci,
		  c->hp.keep_alive && used == (size_t)n && c->woff == e->ts->v[c->target].reqlen);
}

void engine_event(struct engine *e, uint64_t data, uint32_t events)
{
	uint32_t ci = (uint32_t)data;
	struct conn *c = &e->conns[ci];

	if (c->state == C_FREE || c->gen != (uint32_t)(data >> 32))
		return; /* a stale event of a connection closed earlier in the batch */
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			req_fail(e, c->intended, err == ECONNREFUSED ? F_REFUSED : F_CONNECT);
			conn_close(e, ci, 1);
			return;
		}
		conn_send(e, ci);
		return;
	}
	if ((events & EPOLLOUT) && c->state == C_BUSY && c->woff < e->ts->v[c->target].reqlen) {
		conn_send(e, ci);
		if (c->state != C_BUSY || c->gen != (uint32_t)(data >> 32))
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(e, ci);
}

/* Fail requests older than the timeout, in flight or queued. */
void engine_scan_timeouts(struct engine *e)
{
	uint64_t limit = e->cfg->timeout_ns;

	for (uint32_t ci = 0; ci < e->nslots; ci++) {
		struct conn *c = &e->conns[ci];

		if ((c->state == C_BUSY || c->state == C_CONNECTING) && e->now > c->intended &&
		    e->now - c->intended >= limit) {
			req_fail(e, c->intended, F_TIMEOUT);
			conn_close(e, ci, 1);
		}
	}
	for (uint32_t t = 0; t < e->ts->n; t++) {
		struct tstate *s = &e->tst[t];

		uint64_t when;
		int retried;

		/* pend_pop fails the expired ones and returns the first live one: put it back */
		if (s->head != NONE && e->now > e->pool[s->head].t &&
		    e->now - e->pool[s->head].t >= limit && pend_pop(e, t, &when, &retried))
			pend_push(e, t, when, retried, 1);
	}
}

void engine_close_all(struct engine *e)
{
	for (uint32_t ci = 0; ci < e->nslots; ci++) {
		struct conn *c = &e->conns[ci];

		if (c->state == C_FREE)
			continue;
		if (c->state != C_IDLE)
			req_fail(e, c->intended, F_TIMEOUT);
		conn_close(e, ci, 0);
	}
	for (uint32_t t = 0; t < e->ts->n; t++) {
		struct tstate *s = &e->tst[t];

		while (s->head != NONE) {
			uint32_t i = s->head;

			s->head = e->pool[i].next;
			req_fail(e, e->pool[i].t, F_TIMEOUT);
		}
		s->tail = NONE;
		s->npending = 0;
	}
}

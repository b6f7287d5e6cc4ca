/*
 * The socket layer: a fixed table of sockets over TCP connections and UDP
 * endpoints, POSIX semantics with -errno returns. Blocking calls run the
 * stack through plat.wait until their condition holds (the guest's wait
 * feeds received frames and idles until the next timer or frame), so the
 * socket API is an event loop underneath; without a wait every call behaves
 * as non-blocking.
 */
#include "net_stack.h"
#include <string.h>

#define SOCK_TYPE_MASK	   0xf
#define SOCK_NONBLOCK_FLAG 04000

static struct net_sock *sock_get(struct net_stack *st, int s)
{
	if (s < 0 || (uint32_t)s >= st->nsocks || st->socks[s].kind == SOCK_FREE)
		return NULL;
	return &st->socks[s];
}

static int sock_new(struct net_stack *st, uint8_t kind)
{
	for (uint32_t i = 0; i < st->nsocks; i++) {
		if (st->socks[i].kind == SOCK_FREE) {
			memset(&st->socks[i], 0, sizeof(st->socks[i]));
			st->socks[i].kind = kind;
			return (int)i;
		}
	}
	return -EMFILE;
}

/* One turn of the event loop; -EAGAIN when there is no way to wait. */
static int sock_wait(struct net_stack *st, uint64_t deadline)
{
	if (st->plat.wait == NULL)
		return -EAGAIN;
	st->plat.wait(st->plat.ctx, st, deadline);
	return 0;
}

static bool nonblocking(const struct net_sock *k, int flags)
{
	return k->nonblock || (flags & NET_MSG_DONTWAIT);
}

int net_sock_socket(struct net_stack *st, int domain, int type, int proto)
{
	if (domain != NET_AF_INET)
		return -EAFNOSUPPORT;
	int base = type & SOCK_TYPE_MASK;
	uint8_t kind;
	if (base == NET_SOCK_STREAM && (proto == 0 || proto == IP_PROTO_TCP))
		kind = SOCK_TCP;
	else if (base == NET_SOCK_DGRAM && (proto == 0 || proto == IP_PROTO_UDP))
		kind = SOCK_UDP;
	else
		return -EPROTONOSUPPORT;
	int s = sock_new(st, kind);
	if (s < 0)
		return s;
	struct net_sock *k = &st->socks[s];
	k->nonblock = (type & SOCK_NONBLOCK_FLAG) != 0;
	if (kind == SOCK_UDP) {
		k->udp = udp_open(st);
		if (k->udp == NULL) {
			k->kind = SOCK_FREE;
			return -ENOBUFS;
		}
	}
	return s;
}

static bool tcp_port_bound(struct net_stack *st, uint16_t port)
{
	for (uint32_t i = 0; i < st->nsocks; i++)
		if (st->socks[i].kind == SOCK_TCP && st->socks[i].bound &&
		    st->socks[i].lport == port)
			return true;
	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->state == TCP_LISTEN && c->lport == port)
			return true;
	return false;
}

int net_sock_bind(struct net_stack *st, int s, const struct net_sockaddr_in *a)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (a == NULL || a->sin_family != NET_AF_INET)
		return -EAFNOSUPPORT;
	uint32_t ip = net_ntohl(a->sin_addr);
	uint16_t port = net_ntohs(a->sin_port);
	if (ip != 0 && !net_ip_is_local(st, ip))
		return -EADDRNOTAVAIL;
	if (k->kind == SOCK_UDP)
		return udp_bind(st, k->udp, ip, port);
	if (k->bound || k->conn != NULL)
		return -EINVAL;
	if (port == 0)
		port = net_ephemeral_port(st, IP_PROTO_TCP);
	else if (tcp_port_bound(st, port))
		return -EADDRINUSE;
	if (port == 0)
		return -EADDRINUSE;
	k->lip = ip;
	k->lport = port;
	k->bound = 1;
	return 0;
}

int net_sock_listen(struct net_stack *st, int s, int backlog)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind != SOCK_TCP)
		return -EOPNOTSUPP;
	if (k->conn != NULL) {
		if (k->conn->state != TCP_LISTEN)
			return -EINVAL;
		k->conn->backlog = (uint16_t)(backlog < 1 ? 1 : backlog > 1024 ? 1024 : backlog);
		return 0;
	}
	if (!k->bound) {
		struct net_sockaddr_in any = {.sin_family = NET_AF_INET};
		int rc = net_sock_bind(st, s, &any);
		if (rc < 0)
			return rc;
	}
	struct tcp_conn *c = tcp_alloc(st);
	if (c == NULL)
		return -ENOBUFS;
	c->user = true;
	c->keepalive = k->keepalive;
	tcp_listen(st, c, k->lip, k->lport, backlog);
	k->conn = c;
	return 0;
}

static void fill_addr(struct net_sockaddr_in *a, uint32_t ip, uint16_t port)
{
	if (a == NULL)
		return;
	memset(a, 0, sizeof(*a));
	a->sin_family = NET_AF_INET;
	a->sin_port = net_ntohs(port);
	a->sin_addr = net_ntohl(ip);
}

int net_sock_accept(struct net_stack *st, int s, struct net_sockaddr_in *peer)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind != SOCK_TCP || k->conn == NULL || k->conn->state != TCP_LISTEN)
		return -EINVAL;
	for (;;) {
		struct tcp_conn *l = k->conn;
		if (l->q_head != NULL) {
			int ns = sock_new(st, SOCK_TCP);
			if (ns < 0)
				return ns; /* the connection stays queued */
			struct tcp_conn *c = tcp_accept(st, l);
			struct net_sock *n = &st->socks[ns];
			n->conn = c;
			n->lip = c->lip;
			n->lport = c->lport;
			fill_addr(peer, c->rip, c->rport);
			return ns;
		}
		if (k->nonblock)
			return -EAGAIN;
		int rc = sock_wait(st, UINT64_MAX);
		if (rc < 0)
			return rc;
	}
}

int net_sock_connect(struct net_stack *st, int s, const struct net_sockaddr_in *a)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (a == NULL || a->sin_family != NET_AF_INET)
		return -EAFNOSUPPORT;
	uint32_t ip = net_ntohl(a->sin_addr);
	uint16_t port = net_ntohs(a->sin_port);
	if (k->kind == SOCK_UDP) {
		k->udp->rip = ip;
		k->udp->rport = port;
		if (k->udp->lport == 0)
			return udp_bind(st, k->udp, 0, 0);
		return 0;
	}
	struct tcp_conn *c = k->conn;
	if (c != NULL) {
		if (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD)
			return k->nonblock ? -EALREADY : -EALREADY;
		if (c->state == TCP_LISTEN)
			return -EINVAL;
		if (c->state != TCP_CLOSED)
			return -EISCONN;
		tcp_close(st, c); /* a failed attempt: start again */
		k->conn = NULL;
	}
	if (ip == 0 || port == 0)
		return -EADDRNOTAVAIL;
	uint16_t lport = k->bound ? k->lport : net_ephemeral_port(st, IP_PROTO_TCP);
	if (lport == 0)
		return -EADDRNOTAVAIL;
	c = tcp_alloc(st);
	if (c == NULL)
		return -ENOBUFS;
	c->user = true;
	c->keepalive = k->keepalive;
	k->conn = c;
	k->lport = lport;
	k->lip = st->ip;
	tcp_connect(st, c, st->ip, lport, ip, port);
	if (k->nonblock)
		return -EINPROGRESS;
	while (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD) {
		int rc = sock_wait(st, UINT64_MAX);
		if (rc < 0)
			return rc;
	}
	if (c->err) {
		int e = c->err;
		c->err = 0;
		return -e;
	}
	return 0;
}

long net_sock_send(struct net_stack *st, int s, const void *buf, size_t len, int flags)
{
	return net_sock_sendto(st, s, buf, len, flags, NULL);
}

long net_sock_sendto(struct net_stack *st, int s, const void *buf, size_t len, int flags,
		     const struct net_sockaddr_in *to)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind == SOCK_UDP) {
		uint32_t ip = k->udp->rip;
		uint16_t port = k->udp->rport;
		if (to != NULL) {
			if (to->sin_family != NET_AF_INET)
				return -EAFNOSUPPORT;
			ip = net_ntohl(to->sin_addr);
			port = net_ntohs(to->sin_port);
		}
		int rc = udp_send(st, k->udp, ip, port, buf, len);
		return rc < 0 ? rc : (long)len;
	}
	if (k->conn == NULL || k->conn->state == TCP_LISTEN)
		return -ENOTCONN;
	const uint8_t *p = buf;
	size_t done = 0;
	while (done < len || len == 0) {
		long n = tcp_write(st, k->conn, p + done, len - done);
		if (len == 0)
			return n == -EAGAIN ? 0 : (n < 0 ? n : 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n != -EAGAIN || nonblocking(k, flags))
			return done > 0 ? (long)done : n;
		int rc = sock_wait(st, UINT64_MAX);
		if (rc < 0)
			return done > 0 ? (long)done : rc;
	}
	return (long)done;
}

long net_sock_recv(struct net_stack *st, int s, void *buf, size_t len, int flags)
{
	return net_sock_recvfrom(st, s, buf, len, flags, NULL);
}

long net_sock_recvfrom(struct net_stack *st, int s, void *buf, size_t len, int flags,
		       struct net_sockaddr_in *from)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	for (;;) {
		long n;
		if (k->kind == SOCK_UDP) {
			uint32_t ip = 0;
			uint16_t port = 0;
			n = udp_recv(k->udp, buf, len, &ip, &port);
			if (n >= 0)
				fill_addr(from, ip, port);
		} else {
			if (k->conn == NULL || k->conn->state == TCP_LISTEN)
				return -ENOTCONN;
			n = tcp_read(st, k->conn, buf, len);
			if (n >= 0 && from != NULL)
				fill_addr(from, k->conn->rip, k->conn->rport);
		}
		if (n != -EAGAIN || nonblocking(k, flags))
			return n;
		int rc = sock_wait(st, UINT64_MAX);
		if (rc < 0)
			return rc;
	}
}

int net_sock_shutdown(struct net_stack *st, int s, int how)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (how < NET_SHUT_RD || how > NET_SHUT_RDWR)
		return -EINVAL;
	if (k->kind != SOCK_TCP || k->conn == NULL || k->conn->state == TCP_LISTEN)
		return -ENOTCONN;
	return tcp_shutdown(st, k->conn, how != NET_SHUT_WR, how != NET_SHUT_RD);
}

int net_sock_close(struct net_stack *st, int s)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind == SOCK_UDP)
		udp_close(st, k->udp);
	else if (k->conn != NULL)
		tcp_close(st, k->conn);
	memset(k, 0, sizeof(*k));
	return 0;
}

int net_sock_getflags(struct net_stack *st, int s)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	return 02 | (k->nonblock ? NET_O_NONBLOCK : 0); /* O_RDWR */
}

int net_sock_setflags(struct net_stack *st, int s, int flags)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	k->nonblock = (flags & NET_O_NONBLOCK) != 0;
	return 0;
}

int net_sock_name(struct net_stack *st, int s, struct net_sockaddr_in *a, int peer)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind == SOCK_UDP) {
		if (peer && k->udp->rip == 0)
			return -ENOTCONN;
		fill_addr(a, peer ? k->udp->rip : k->udp->lip,
			  peer ? k->udp->rport : k->udp->lport);
		return 0;
	}
	struct tcp_conn *c = k->conn;
	if (peer) {
		if (c == NULL || c->state == TCP_LISTEN)
			return -ENOTCONN;
		fill_addr(a, c->rip, c->rport);
	} else {
		fill_addr(a, c ? c->lip : k->lip, c ? c->lport : k->lport);
	}
	return 0;
}

int net_sock_error(struct net_stack *st, int s)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	if (k->kind != SOCK_TCP || k->conn == NULL)
		return 0;
	int e = k->conn->err;
	k->conn->err = 0;
	return e;
}

int net_sock_set_keepalive(struct net_stack *st, int s, int on)
{
	struct net_sock *k = sock_get(st, s);

	if (k == NULL)
		return -EBADF;
	k->keepalive = on != 0;
	struct tcp_conn *c = k->conn;
	if (c != NULL) {
		c->keepalive = on != 0;
		if (on && c->state == TCP_ESTABLISHED && c->t_misc == 0)
			c->t_misc = c->last_rx + TCP_KEEP_IDLE;
	}
	return 0;
}

static short poll_one(struct net_stack *st, const struct net_pollfd *p)
{
	struct net_sock *k = sock_get(st, p->fd);
	short ev = p->events | NET_POLLERR | NET_POLLHUP;
	short r = 0;

	if (p->fd < 0)
		return 0;
	if (k == NULL)
		return NET_POLLNVAL;
	if (k->kind == SOCK_UDP) {
		if (udp_readable(k->udp))
			r |= NET_POLLIN;
		r |= NET_POLLOUT;
	} else if (k->conn != NULL) {
		struct tcp_conn *c = k->conn;
		if (tcp_readable(c))
			r |= NET_POLLIN;
		if (c->state != TCP_LISTEN && tcp_writable(c))
			r |= NET_POLLOUT;
		if (c->err)
			r |= NET_POLLERR;
		if (c->state == TCP_CLOSED || (c->fin_queued && c->state == TCP_TIME_WAIT))
			r |= NET_POLLHUP;
	} else {
		r |= NET_POLLOUT | NET_POLLHUP;
	}
	return r & ev;
}

int net_sock_poll(struct net_stack *st, struct net_pollfd *fds, unsigned n, int timeout_ms)
{
	uint64_t deadline =
	    timeout_ms < 0 ? UINT64_MAX : net_now(st) + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		int ready = 0;
		for (unsigned i = 0; i < n; i++) {
			fds[i].revents = poll_one(st, &fds[i]);
			if (fds[i].revents)
				ready++;
		}
		if (ready > 0 || timeout_ms == 0 || net_now(st) >= deadline)
			return ready;
		if (sock_wait(st, deadline) < 0)
			return 0;
	}
}

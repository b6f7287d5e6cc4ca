/*
 * The POSIX socket calls of guest-libos over the stack's socket layer
 * (socket.c): descriptors are socket ids + FD_BASE, errors become -1 with
 * errno. The stack starts on first use.
 */
#include <arpa/inet.h>
#include <denali/sock.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_BASE 3

_Static_assert(sizeof(struct sockaddr_in) == sizeof(struct net_sockaddr_in), "sockaddr_in");
_Static_assert(sizeof(struct pollfd) == sizeof(struct net_pollfd), "pollfd");

static struct net_stack *stack(void)
{
	struct net_stack *st = dn_net_stack();
	if (st != NULL)
		return st;
	int rc = dn_net_start();
	if (rc < 0) {
		errno = rc == -ENODEV ? ENETDOWN : -rc;
		return NULL;
	}
	return dn_net_stack();
}

static long ret(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

#define STACK_OR_FAIL(st)                                                                          \
	struct net_stack *st = stack();                                                            \
	if (st == NULL)                                                                            \
	return -1

static int sid(int fd)
{
	return fd - FD_BASE;
}

static int sin_in(const struct sockaddr *a, socklen_t len, struct net_sockaddr_in *out)
{
	if (a == NULL || len < sizeof(struct sockaddr_in))
		return -EINVAL;
	memcpy(out, a, sizeof(*out));
	return 0;
}

static void sin_out(const struct net_sockaddr_in *in, struct sockaddr *a, socklen_t *len)
{
	if (a == NULL || len == NULL)
		return;
	size_t n = *len < sizeof(*in) ? *len : sizeof(*in);
	memcpy(a, in, n);
	*len = sizeof(*in);
}

int socket(int domain, int type, int protocol)
{
	STACK_OR_FAIL(st);
	long s = net_sock_socket(st, domain, type, protocol);
	return (int)ret(s < 0 ? s : s + FD_BASE);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in a;
	int rc = sin_in(addr, len, &a);
	return (int)ret(rc < 0 ? rc : net_sock_bind(st, sid(fd), &a));
}

int listen(int fd, int backlog)
{
	STACK_OR_FAIL(st);
	return (int)ret(net_sock_listen(st, sid(fd), backlog));
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in peer;
	int s = net_sock_accept(st, sid(fd), &peer);
	if (s < 0)
		return (int)ret(s);
	if (flags & SOCK_NONBLOCK)
		net_sock_setflags(st, s, NET_O_NONBLOCK);
	sin_out(&peer, addr, len);
	return s + FD_BASE;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in a;
	int rc = sin_in(addr, len, &a);
	return (int)ret(rc < 0 ? rc : net_sock_connect(st, sid(fd), &a));
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	STACK_OR_FAIL(st);
	return ret(net_sock_send(st, sid(fd), buf, len, flags));
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	STACK_OR_FAIL(st);
	return ret(net_sock_recv(st, sid(fd), buf, len, flags));
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
	       socklen_t tolen)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in a;
	if (to == NULL)
		return ret(net_sock_sendto(st, sid(fd), buf, len, flags, NULL));
	int rc = sin_in(to, tolen, &a);
	return ret(rc < 0 ? rc : net_sock_sendto(st, sid(fd), buf, len, flags, &a));
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		 socklen_t *fromlen)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in a;
	long n = net_sock_recvfrom(st, sid(fd), buf, len, flags, &a);
	if (n >= 0)
		sin_out(&a, from, fromlen);
	return ret(n);
}

int shutdown(int fd, int how)
{
	STACK_OR_FAIL(st);
	return (int)ret(net_sock_shutdown(st, sid(fd), how));
}

ssize_t __dn_sock_write(int fd, const void *buf, size_t len);
ssize_t __dn_sock_write(int fd, const void *buf, size_t len)
{
	return send(fd, buf, len, 0);
}

ssize_t read(int fd, void *buf, size_t len)
{
	if (fd == 0)
		return 0;
	return recv(fd, buf, len, 0);
}

int close(int fd)
{
	if (fd >= 0 && fd < FD_BASE)
		return 0;
	STACK_OR_FAIL(st);
	return (int)ret(net_sock_close(st, sid(fd)));
}

int fcntl(int fd, int cmd, ...)
{
	STACK_OR_FAIL(st);
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	switch (cmd) {
	case F_GETFL:
		return (int)ret(net_sock_getflags(st, sid(fd)));
	case F_SETFL:
		return (int)ret(net_sock_setflags(st, sid(fd), (int)arg));
	case F_GETFD:
	case F_SETFD:
		return (int)ret(net_sock_getflags(st, sid(fd)) < 0 ? -EBADF : 0);
	default:
		errno = EINVAL;
		return -1;
	}
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	STACK_OR_FAIL(st);
	struct net_pollfd *p = (struct net_pollfd *)fds;
	/* Socket ids for the socket layer; console fds (0..2) are parked far
	 * below zero, where they are ignored, and restored after. */
	for (nfds_t i = 0; i < n; i++)
		if (p[i].fd >= FD_BASE)
			p[i].fd -= FD_BASE;
		else if (p[i].fd >= 0)
			p[i].fd = INT_MIN + p[i].fd;
	int rc = net_sock_poll(st, p, (unsigned)n, timeout_ms);
	for (nfds_t i = 0; i < n; i++)
		if (p[i].fd >= 0)
			p[i].fd += FD_BASE;
		else if (p[i].fd < INT_MIN + FD_BASE)
			p[i].fd -= INT_MIN;
	return (int)ret(rc);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	STACK_OR_FAIL(st);
	int on = 0;
	if (val != NULL && len >= sizeof(int))
		memcpy(&on, val, sizeof(int));
	if (net_sock_getflags(st, sid(fd)) < 0)
		return (int)ret(-EBADF);
	if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		return (int)ret(net_sock_set_keepalive(st, sid(fd), on));
	if ((level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT)) ||
	    (level == IPPROTO_TCP && name == TCP_NODELAY))
		return 0; /* what the stack does anyway */
	return (int)ret(-ENOPROTOOPT);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	STACK_OR_FAIL(st);
	if (val == NULL || len == NULL || *len < sizeof(int))
		return (int)ret(-EINVAL);
	if (level != SOL_SOCKET || name != SO_ERROR)
		return (int)ret(-ENOPROTOOPT);
	int e = net_sock_error(st, sid(fd));
	if (e < 0)
		return (int)ret(e);
	memcpy(val, &e, sizeof(int));
	*len = sizeof(int);
	return 0;
}

static int name_of(int fd, struct sockaddr *addr, socklen_t *len, int peer)
{
	STACK_OR_FAIL(st);
	struct net_sockaddr_in a;
	int rc = net_sock_name(st, sid(fd), &a, peer);
	if (rc == 0)
		sin_out(&a, addr, len);
	return (int)ret(rc);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return name_of(fd, addr, len, 0);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return name_of(fd, addr, len, 1);
}

int inet_pton(int af, const char *s, void *dst)
{
	uint32_t v = 0;
	if (af != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	for (int part = 0; part < 4; part++) {
		if (*s < '0' || *s > '9')
			return 0;
		uint32_t n = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (uint32_t)(*s++ - '0');
			if (++digits > 3 || n > 255)
				return 0;
		}
		v = (v << 8) | n;
		if (part < 3 && *s++ != '.')
			return 0;
	}
	if (*s != '\0')
		return 0;
	v = htonl(v);
	memcpy(dst, &v, 4);
	return 1;
}

in_addr_t inet_addr(const char *s)
{
	in_addr_t a;
	return inet_pton(AF_INET, s, &a) == 1 ? a : INADDR_NONE;
}

const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)
{
	uint8_t b[4];
	if (af != AF_INET) {
		errno = EAFNOSUPPORT;
		return NULL;
	}
	memcpy(b, src, 4);
	int n = snprintf(dst, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
	if (n < 0 || (socklen_t)n >= size) {
		errno = ENOSPC;
		return NULL;
	}
	return dst;
}

char *inet_ntoa(struct in_addr in)
{
	static char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &in, buf, sizeof(buf));
	return buf;
}

/*
 * guest-libos <sys/socket.h>: BSD sockets over the libos TCP/IP stack
 * (guest-libos/net, <denali/net.h>). AF_INET only; SOCK_STREAM (TCP) and
 * SOCK_DGRAM (UDP). Descriptors share the fd space of read/write/close
 * (sockets start at 3). Blocking calls run the stack's event loop, idling
 * the VM (dn_idle) until a frame or a timer is due. Calls return -1 with
 * errno set, as POSIX says. The stack starts on first use (dn_net_start).
 */
#ifndef DENALI_LIBOS_SYS_SOCKET_H
#define DENALI_LIBOS_SYS_SOCKET_H

#include <denali/sock.h> /* dn_net_start, dn_net_poll */
#include <sys/types.h>

struct sockaddr {
	sa_family_t sa_family;
	char sa_data[14];
};

struct sockaddr_storage {
	sa_family_t ss_family;
	char ss_pad[126];
};

#define AF_UNSPEC 0
#define AF_INET	  2
#define PF_INET	  AF_INET

#define SOCK_STREAM   1
#define SOCK_DGRAM    2
#define SOCK_NONBLOCK 04000
#define SOCK_CLOEXEC  02000000

#define SOL_SOCKET   1
#define SO_REUSEADDR 2
#define SO_ERROR     4
#define SO_KEEPALIVE 9
#define SO_REUSEPORT 15

#define SHUT_RD	  0
#define SHUT_WR	  1
#define SHUT_RDWR 2

#define MSG_DONTWAIT 0x40
#define MSG_NOSIGNAL 0x4000

#define SOMAXCONN 4096

int socket(int domain, int type, int protocol);
int bind(int fd, const struct sockaddr *addr, socklen_t len);
int listen(int fd, int backlog);
int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t send(int fd, const void *buf, size_t len, int flags);
ssize_t recv(int fd, void *buf, size_t len, int flags);
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
	       socklen_t tolen);
ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		 socklen_t *fromlen);
int shutdown(int fd, int how);
int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int getpeername(int fd, struct sockaddr *addr, socklen_t *len);

#endif

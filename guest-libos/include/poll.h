/* guest-libos <poll.h>: poll over sockets (and nothing else). */
#ifndef DENALI_LIBOS_POLL_H
#define DENALI_LIBOS_POLL_H

struct pollfd {
	int fd;
	short events;
	short revents;
};

typedef unsigned long nfds_t;

#define POLLIN	   0x001
#define POLLPRI	   0x002
#define POLLOUT	   0x004
#define POLLERR	   0x008
#define POLLHUP	   0x010
#define POLLNVAL   0x020
#define POLLRDNORM 0x040
#define POLLWRNORM 0x100

/* Waits (idling the VM) until an entry is ready or timeout_ms passes
 * (< 0: forever). A negative fd is ignored. */
int poll(struct pollfd *fds, nfds_t n, int timeout_ms);

#endif

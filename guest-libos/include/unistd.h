/* guest-libos <unistd.h>. */
#ifndef DENALI_LIBOS_UNISTD_H
#define DENALI_LIBOS_UNISTD_H

#include <stddef.h>

typedef long ssize_t;

#define STDOUT_FILENO 1
#define STDERR_FILENO 2

/* fd 1 and 2 write to the console; sockets (fd 3 on, <sys/socket.h>) go
 * to the TCP/IP stack; anything else is -1 with errno EBADF. */
ssize_t write(int fd, const void *buf, size_t len);
/* Sockets only (fd 0 reads end of file at once). */
ssize_t read(int fd, void *buf, size_t len);
int close(int fd);
int usleep(unsigned long us);
unsigned int sleep(unsigned int s);

#endif /* DENALI_LIBOS_UNISTD_H */

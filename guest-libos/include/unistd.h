/* guest-libos <unistd.h>. */
#ifndef DENALI_LIBOS_UNISTD_H
#define DENALI_LIBOS_UNISTD_H

#include <stddef.h>

typedef long ssize_t;

#define STDOUT_FILENO 1
#define STDERR_FILENO 2

/* fd 1 and 2 write to the console; anything else returns -1. */
ssize_t write(int fd, const void *buf, size_t len);
int usleep(unsigned long us);
unsigned int sleep(unsigned int s);

#endif /* DENALI_LIBOS_UNISTD_H */

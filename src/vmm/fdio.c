#include "fdio.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

int fdio_write(int fd, const void *p, size_t n, off_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = off < 0 ? write(fd, b, n) : pwrite(fd, b, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int fdio_read(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = off < 0 ? read(fd, b, n) : pread(fd, b, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		b += r;
		n -= (size_t)r;
		if (off >= 0)
			off += r;
	}
	return 0;
}

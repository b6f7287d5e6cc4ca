/*
 * Whole-buffer file I/O for snapshots, exports and swap set-up: retried on
 * EINTR and on short transfers, so callers see all or an error.
 */
#ifndef DENALI_VMM_FDIO_H
#define DENALI_VMM_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes n bytes at offset off (off < 0: at the file position). 0 or -errno
 * (-EIO when the kernel writes nothing). */
int fdio_write(int fd, const void *p, size_t n, off_t off);

/* Reads n bytes at offset off (off < 0: at the file position). 0 or -errno
 * (-ENODATA at end of file). */
int fdio_read(int fd, void *p, size_t n, off_t off);

#endif

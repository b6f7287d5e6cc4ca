/*
 * The block device of a VM: a raw image file, requests from the blk ring
 * submitted to the owning worker's io_uring (the VM runs or idles while
 * they are in flight), completions written to the ring's used entries and
 * DENALI_EV_BLK raised. Host errors become DENALI_BLK_S_IOERR, counted;
 * they never kill the VM.
 */
#ifndef DENALI_DEVICES_BLK_H
#define DENALI_DEVICES_BLK_H

#include "device.h"

#include <stddef.h>
#include <stdint.h>

#define BLK_INFLIGHT_MAX 32u /* per VM */

/* Flags of a disk. */
#define BLK_F_RO     1 /* refuses writes and flushes */
#define BLK_F_DIRECT 2 /* aligned requests bypass the page cache (O_DIRECT) */

/* Opens path with BLK_F_* flags. 0 or -errno with err set. */
int blk_dev_create(const char *path, int flags, struct device **out, char *err, size_t errlen);

/* Opens path for a disk without ever blocking (a FIFO is not waited for): an fd, or -errno
 * with err set. */
int blk_dev_open(const char *path, int ro, char *err, size_t errlen);

/* Like blk_dev_create with fd from blk_dev_open (opened read-only if flags has BLK_F_RO),
 * which it takes (closed on failure). */
int blk_dev_create_fd(int fd, const char *path, int flags, struct device **out, char *err,
		      size_t errlen);

/* For the poller (blk_poll.c), on its thread: takes what d's running guest
 * posted (BLK_POLL_TAKE_MAX at most), answering a page-cache read at once
 * (preadv2 RWF_NOWAIT) or preparing it on ring (the caller submits), and shows the guest
 * DENALI_RING_F_POLLED if awake. Requests taken (>= 0); a guest fault is kept
 * for the VM's next exit, which kills it, and the VM is interrupted. */
struct io_uring;
int blk_dev_serve(struct device *d, struct io_uring *ring, int awake);

/* Capacity in sectors. */
uint64_t blk_dev_sectors(const struct device *d);

#endif

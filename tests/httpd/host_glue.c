/*
 * Host stand-ins for the guest-libos calls the httpd glue makes (see
 * host_sock.h): the disk is the file named by DENALI_HTTPD_DISK (none if
 * unset), time is CLOCK_MONOTONIC, the network is the host's.
 */
#include <denali/blkdev.h>
#include <denali/libos.h>
#include <denali/sock.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int disk_fd = -2; /* -2: not opened yet, -1: none */
static uint64_t disk_sectors;

static void disk_open(void)
{
	struct stat st;
	const char *path = getenv("DENALI_HTTPD_DISK");

	if (disk_fd != -2)
		return;
	disk_fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (disk_fd >= 0 && fstat(disk_fd, &st) == 0)
		disk_sectors = (uint64_t)st.st_size / DENALI_BLK_SECTOR;
}

uint64_t dn_blk_sectors(void)
{
	disk_open();
	return disk_sectors;
}

int dn_blk_read(uint64_t sector, void *buf, uint32_t nsectors)
{
	disk_open();
	if (disk_fd < 0 || nsectors == 0)
		return -EINVAL;
	if (sector >= disk_sectors || nsectors > disk_sectors - sector)
		return -EIO;
	size_t len = (size_t)nsectors * DENALI_BLK_SECTOR;
	ssize_t n = pread(disk_fd, buf, len, (off_t)(sector * DENALI_BLK_SECTOR));
	return n == (ssize_t)len ? 0 : -EIO;
}

uint64_t dn_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* httpd --poll's zero-timeout idle: on the host, a yield. */
uint64_t dn_idle(uint64_t deadline_ns)
{
	(void)deadline_ns;
	sched_yield();
	return 0;
}

int dn_net_start(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* the test reads the log as it goes */
	return 0;
}

#include "image.h"

#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a file";
}

/* Directories that denalid.service hides: PrivateTmp= gives the daemon its own empty /tmp
 * and /var/tmp, ProtectHome= makes /root, /home and /run/user empty and inaccessible. */
static const char *hidden_by_unit(const char *path)
{
	static const struct {
		const char *prefix, *by;
	} hidden[] = {
	    {"/tmp/", "PrivateTmp="},	{"/var/tmp/", "PrivateTmp="},	{"/root/", "ProtectHome="},
	    {"/home/", "ProtectHome="}, {"/run/user/", "ProtectHome="},
	};

	if (!getenv("INVOCATION_ID")) /* set by systemd for every service it starts */
		return NULL;
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (!strncmp(path, hidden[i].prefix, strlen(hidden[i].prefix)))
			return hidden[i].by;
	return NULL;
}

int image_read(const char *path, const struct ctl_owner *owner, uint8_t **data, size_t *size,
	       char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; anything but a
	 * regular file is refused before the first read. O_NOCTTY: a tty never becomes ours. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		const char *by = hidden_by_unit(path);

		rc = -errno;
		if (by && (rc == -ENOENT || rc == -EACCES || rc == -EPERM))
			snprintf(err, errlen,
				 "cannot read image %s: %s: the daemon runs under systemd with %s, "
				 "which hides this directory from it; put images where the service "
				 "can read them, e.g. /var/lib/denalid/images or /srv/denali",
				 path, strerror(errno), by);
		else
			snprintf(err, errlen, "cannot read image %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read image %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read image %s: not a regular file (%s)", path,
			 file_kind(st.st_mode));
		close(fd);
		return -EINVAL;
	}
	rc = ctl_owner_check_fd(owner, fd, 0, "image", path, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > IMAGE_MAX_SIZE) {
		snprintf(err, errlen, "image %s is %lld bytes, more than %u", path,
			 (long long)st.st_size, IMAGE_MAX_SIZE);
		close(fd);
		return -EFBIG;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read image %s: %s", path,
				 n < 0 ? strerror(errno) : "file shrank while reading");
			free(buf);
			close(fd);
			return rc;
		}
		got += (size_t)n;
	}
	close(fd);
	*data = buf;
	*size = got;
	return 0;
}

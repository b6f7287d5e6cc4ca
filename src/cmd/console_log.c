#include "console_log.h"

#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void log_paths(const char *state_dir, const char *name, char *path, char *old, size_t len)
{
	snprintf(path, len, "%s/vms/%s/console.log", state_dir, name);
	snprintf(old, len, "%s/vms/%s/console.log.1", state_dir, name);
}

int console_log_begin(const char *state_dir, const char *name)
{
	char path[4200], old[4200];

	log_paths(state_dir, name, path, old, sizeof(path));
	if (rename(path, old) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Opens console.log for appending, rotating it first when it is full; *room = bytes it may
 * still take. */
static int open_log(const char *path, const char *old, uint64_t max, uint64_t *room)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size >= max) {
		close(fd);
		if (rename(path, old) < 0)
			return -errno;
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return -errno;
		st.st_size = 0;
	}
	*room = max - (uint64_t)st.st_size;
	return fd;
}

/* Appends n bytes, never letting console.log pass max: what does not fit goes to a new one. */
static int append_capped(const char *path, const char *old, const char *p, size_t n, uint64_t max)
{
	while (n) {
		uint64_t room = 0;
		int fd = open_log(path, old, max, &room), rc;
		size_t k;

		if (fd < 0)
			return fd;
		k = room < n ? (size_t)room : n;
		rc = write_all(fd, p, k);
		close(fd);
		if (rc)
			return rc;
		p += k;
		n -= k;
	}
	return 0;
}

int console_log_flush(const char *state_dir, struct vm *vm, uint64_t *logged, uint64_t max)
{
	char path[4200], old[4200], buf[16384];
	uint64_t next;
	size_t n;
	int rc = 0;

	if (__atomic_load_n(&vm->console.written, __ATOMIC_ACQUIRE) == *logged)
		return 0;
	snprintf(path, sizeof(path), "%s/vms", state_dir);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/vms/%s", state_dir, vm->name);
	mkdir(path, 0750);
	log_paths(state_dir, vm->name, path, old, sizeof(path));
	while (!rc && (n = console_read(&vm->console, *logged, buf, sizeof(buf), &next)) > 0) {
		char note[96];
		int len = 0;

		if (next - n > *logged)
			len = snprintf(note, sizeof(note),
				       "\n[denali: %lu bytes of console output not logged]\n",
				       next - n - *logged);
		if (len)
			rc = append_capped(path, old, note, (size_t)len, max);
		if (!rc)
			rc = append_capped(path, old, buf, n, max);
		*logged = next;
	}
	return rc;
}

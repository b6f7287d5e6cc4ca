/*
 * STATE/vms/NAME/console.log (console_log.h). A live VM's output is written
 * by its worker through io_uring (devices/console_file.c); this file opens
 * and rotates the log for it on the log thread, and writes what was left
 * when the VM ended. Nothing here runs on a worker or under a lock a worker
 * waits for.
 */
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
			return w < 0 ? -errno : -EIO;
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

/* Opens console.log for appending, rotating it first when it is full (or when rotate is
 * set); *size = its size. An fd or -errno. */
static int open_log(const char *state_dir, const char *name, int rotate, uint64_t max,
		    uint64_t *size)
{
	char path[4200], old[4200];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/vms", state_dir);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/vms/%s", state_dir, name);
	mkdir(path, 0750);
	log_paths(state_dir, name, path, old, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (rotate || (uint64_t)st.st_size >= max) {
		close(fd);
		if (rename(path, old) < 0)
			return -errno;
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return -errno;
		st.st_size = 0;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int console_log_serve(const char *state_dir, struct vm *vm, uint64_t max)
{
	int want = console_log_want(&vm->console), fd;
	uint64_t size = 0;

	if (want == CONSOLE_LOG_IDLE)
		return 0;
	fd = open_log(state_dir, vm->name, want == CONSOLE_LOG_ROTATE, max, &size);
	if (fd < 0) {
		console_log_fail(&vm->console);
		return fd;
	}
	console_log_hand(&vm->console, fd, size);
	return 0;
}

int console_log_pending(const struct vm *vm)
{
	return vm->console.log.max && vm->console.log.pos != vm->console.written;
}

int console_log_flush(const char *state_dir, struct vm *vm, uint64_t max)
{
	struct console_dev *c = &vm->console;
	struct console_log *l = &c->log;
	char buf[16384];
	int fd = -1, rc = 0, in;
	uint64_t next;
	size_t n;

	if ((in = __atomic_exchange_n(&l->fd_in, 0, __ATOMIC_ACQ_REL)))
		close(in - 1); /* handed over too late: this thread writes with its own */
	if (!console_log_pending(vm))
		return 0;
	while ((n = console_read(c, l->pos, buf, sizeof(buf), &next)) > 0) {
		size_t done = 0;

		if (next - n > l->pos) /* left the in-memory buffer before it was logged */
			__atomic_fetch_add(&l->lost, next - n - l->pos, __ATOMIC_RELAXED);
		l->pos = next;
		while (done < n) {
			size_t k;

			if (fd < 0 || l->size >= max) {
				if (fd >= 0)
					close(fd);
				fd = open_log(state_dir, vm->name, fd >= 0, max, &l->size);
				if (fd < 0)
					break;
			}
			k = max - l->size < n - done ? (size_t)(max - l->size) : n - done;
			if ((rc = write_all(fd, buf + done, k)) < 0)
				break;
			l->size += k;
			done += k;
			__atomic_fetch_add(&l->bytes, k, __ATOMIC_RELAXED);
		}
		if (done < n) { /* ENOSPC, EIO, no file: the rest of this read is lost */
			__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
			__atomic_fetch_add(&l->lost, n - done, __ATOMIC_RELAXED);
			rc = rc ? rc : fd;
		}
	}
	if (l->pos < c->written) { /* nothing left to read of it */
		__atomic_fetch_add(&l->lost, c->written - l->pos, __ATOMIC_RELAXED);
		l->pos = c->written;
	}
	if (fd >= 0)
		close(fd);
	return rc < 0 ? rc : 0;
}

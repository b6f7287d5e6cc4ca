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

int console_log_flush(const char *state_dir, struct vm *vm, uint64_t *logged)
{
	char path[4200], buf[16384];
	uint64_t next;
	size_t n;
	int fd, rc = 0;

	if (__atomic_load_n(&vm->console.written, __ATOMIC_ACQUIRE) == *logged)
		return 0;
	snprintf(path, sizeof(path), "%s/vms", state_dir);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/vms/%s", state_dir, vm->name);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/vms/%s/console.log", state_dir, vm->name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	while (!rc && (n = console_read(&vm->console, *logged, buf, sizeof(buf), &next)) > 0) {
		if (next - n > *logged) {
			char note[96];
			int len = snprintf(note, sizeof(note),
					   "\n[denali: %lu bytes of console output not logged]\n",
					   next - n - *logged);

			rc = write_all(fd, note, (size_t)len);
		}
		if (!rc)
			rc = write_all(fd, buf, n);
		*logged = next;
	}
	close(fd);
	return rc;
}

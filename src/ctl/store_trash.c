/*
 * Removed definitions, and the directories of removed VMs kept for new ones.
 *
 * A removal was an unlink of def.json and an rmdir of the VM's directory; a
 * new VM cost a mkdir and a new def.json. On ext4 (this host mounts it with
 * `discard`) each block freed waits for the disk (~1 ms a VM on the critical
 * path of a `stop --all`), and each new inode is searched for past the ones
 * freed in the last minutes (find_inode_bit -> recently_deleted: 40-45% of
 * the daemon's CPU during a `start --count 1000` after a few rounds). So:
 *
 * - store_del() renames: the whole directory when it holds nothing but its
 *   definition (no console.log to keep) into STATE/spare (up to
 *   STORE_SPARE_MAX) or else STATE/trash, or the definition alone into the
 *   trash. A rename frees nothing.
 * - store_put() of a VM with no directory takes a spare one: it overwrites
 *   the old def.json in place (pwrite and ftruncate within its block, so no
 *   block is freed or allocated) and renames the directory into STATE/vms. A
 *   console log (if one got in there meanwhile) is removed first: a VM never
 *   sees another's.
 * - the job writers empty the trash when no job is at work (store_writer.c).
 *
 * Crash safety: a new definition is acknowledged only after the batch's
 * syncfs, as before. A crash before it may leave a reused directory under
 * the new name holding the old definition (an overwrite is not ordered with
 * the rename); that VM was never acknowledged, and at the restart its
 * definition is refused ("name does not match its directory"), logged and
 * left for `denalictl stop NAME`, like any damaged one.
 */
#include "store_impl.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(char *path, size_t len, const char *state, const char *leaf)
{
	if (snprintf(path, len, "%s/%s", state, leaf) >= (int)len) {
		path[0] = '\0';
		return -1;
	}
	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		log_warn("mkdir %s: %s (definitions are removed in place)", path, strerror(errno));
		path[0] = '\0';
		return -1;
	}
	return 0;
}

void store_trash_open(struct ctl_store *st)
{
	struct dirent *e;
	DIR *d;

	pthread_mutex_init(&st->spare_lock, NULL);
	st->spares = NULL;
	st->nspares = 0;
	st->spare[0] = '\0';
	if (make_dir(st->trash, sizeof(st->trash), st->state, "trash") < 0)
		return;
	st->spares = calloc(STORE_SPARE_MAX, sizeof(*st->spares));
	if (!st->spares || make_dir(st->spare, sizeof(st->spare), st->state, "spare") < 0)
		return;
	/* What an earlier run left is reused too. */
	d = opendir(st->spare);
	while (d && (e = readdir(d)) && st->nspares < STORE_SPARE_MAX)
		if (e->d_name[0] != '.' && strlen(e->d_name) < STORE_SPARE_NAME)
			strcpy(st->spares[st->nspares++], e->d_name);
	if (d)
		closedir(d);
}

void store_trash_close(struct ctl_store *st)
{
	free(st->spares);
	st->spares = NULL;
	pthread_mutex_destroy(&st->spare_lock);
}

/* A name no other removal, of this process or an earlier one, has used. */
static void fresh_name(char *dst, size_t len)
{
	static uint64_t serial;

	snprintf(dst, len, "%ld-%llu", (long)getpid(),
		 (unsigned long long)__atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
}

/* True if vmdir holds a console log (or its rotated one). */
static int has_logs(const char *vmdir)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/console.log", vmdir);
	if (access(p, F_OK) == 0)
		return 1;
	snprintf(p, sizeof(p), "%s/console.log.1", vmdir);
	return access(p, F_OK) == 0;
}

/* Gives a spare back to the list (or to the trash when the list is full). */
static void spare_return(struct ctl_store *st, const char *name)
{
	char from[PATH_MAX], to[PATH_MAX];
	int kept = 0;

	pthread_mutex_lock(&st->spare_lock);
	if (st->nspares < STORE_SPARE_MAX) {
		strcpy(st->spares[st->nspares++], name);
		kept = 1;
	}
	pthread_mutex_unlock(&st->spare_lock);
	if (!kept) {
		snprintf(from, sizeof(from), "%s/%s", st->spare, name);
		snprintf(to, sizeof(to), "%s/%s", st->trash, name);
		rename(from, to);
	}
}

int store_trash_move(struct ctl_store *st, const char *vmdir, const char *path)
{
	char name[STORE_SPARE_NAME], to[PATH_MAX];
	int spare = 0;

	if (!st->trash[0])
		return -ENOTDIR;
	if (access(path, F_OK) < 0)
		return -errno;
	fresh_name(name, sizeof(name));
	if (has_logs(vmdir)) {
		snprintf(to, sizeof(to), "%s/%s", st->trash, name);
		return rename(path, to) < 0 ? -errno : 0;
	}
	pthread_mutex_lock(&st->spare_lock);
	spare = st->spare[0] && st->nspares < STORE_SPARE_MAX;
	pthread_mutex_unlock(&st->spare_lock);
	snprintf(to, sizeof(to), "%s/%s", spare ? st->spare : st->trash, name);
	if (rename(vmdir, to) < 0)
		return -errno;
	if (spare)
		spare_return(st, name); /* filled up meanwhile: to the trash */
	return 0;
}

/* Writes text (and a newline) over the file at fd from offset 0 and cuts it there. */
static int overwrite(int fd, const char *text)
{
	size_t n = strlen(text);
	int r = 0;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	r = write_all(fd, text, n);
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && ftruncate(fd, (off_t)n + 1) < 0)
		r = -errno;
	return r;
}

int store_spare_take(struct ctl_store *st, const char *vmdir, const char *text)
{
	char name[STORE_SPARE_NAME], dir[PATH_MAX], p[PATH_MAX + 32];
	struct stat sb;
	int fd, r;

	if (!st->spare[0] || access(vmdir, F_OK) == 0)
		return -EEXIST; /* no spares, or the VM's directory (with its logs) is there */
	pthread_mutex_lock(&st->spare_lock);
	r = st->nspares ? 0 : -ENOENT;
	if (r == 0)
		strcpy(name, st->spares[--st->nspares]);
	pthread_mutex_unlock(&st->spare_lock);
	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/%s", st->spare, name);
	/* Nothing of its last tenant but def.json, which is overwritten. */
	snprintf(p, sizeof(p), "%s/console.log", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/console.log.1", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/def.json", dir);
	fd = open(p, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		r = fd < 0 ? -errno : -EINVAL;
		if (fd >= 0)
			close(fd);
		snprintf(p, sizeof(p), "%s/%s", st->trash, name);
		rename(dir, p); /* not a spare as store_trash_move() left it: the trash's */
		return r;
	}
	r = overwrite(fd, text);
	if (r == 0 && !batch_open(st) && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(dir, vmdir) < 0)
		r = -errno;
	if (r < 0) {
		spare_return(st, name); /* the old tenant's def.json is not read from there */
		return r;
	}
	if (!batch_open(st)) {
		fsync_dir(vmdir);
		fsync_dir(st->dir);
	}
	return 0;
}

/* Removes one entry of the trash (a file, or a directory and the files in it). */
static void trash_remove(int tfd, const char *name)
{
	int fd = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0) {
		unlinkat(tfd, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(fd, e->d_name, 0);
	closedir(d);
	unlinkat(tfd, name, AT_REMOVEDIR);
}

int store_trash_empty(struct ctl_store *st, bool (*stop)(void *), void *arg)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (!st->trash[0] || !(d = opendir(st->trash)))
		return 0;
	while (!(stop && stop(arg)) && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		trash_remove(dirfd(d), e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

#include "store.h"
#include "store_impl.h"

#include "log.h"
#include "proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int store_open(const char *state_dir, struct ctl_store **out)
{
	struct ctl_store *st;
	int r;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	snprintf(st->state, sizeof(st->state), "%s", state_dir);
	if (snprintf(st->dir, sizeof(st->dir), "%s/vms", state_dir) >= (int)sizeof(st->dir)) {
		r = -ENAMETOOLONG;
		goto err;
	}
	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("mkdir %s: %s", state_dir, strerror(errno));
		goto err;
	}
	if (mkdir(st->dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("mkdir %s: %s", st->dir, strerror(errno));
		goto err;
	}
	store_trash_open(st);
	*out = st;
	return 0;
err:
	free(st);
	return r;
}

void store_close(struct ctl_store *st)
{
	if (!st)
		return;
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	store_trash_close(st);
	free(st);
}

int store_lock(struct ctl_store *st, long *holder)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	*holder = 0;
	snprintf(path, sizeof(path), "%s/lock", st->state);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		n = (int)pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			*holder = strtol(buf, NULL, 10);
		}
		close(fd);
		return r;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int r = -errno;

		close(fd);
		return r;
	}
	st->lock_fd = fd;
	return 0;
}

/* A job's writer (store_writer.c) reads this while the serving thread opens and closes
 * other batches. */
int batch_open(const struct ctl_store *st)
{
	return __atomic_load_n(&st->batch, __ATOMIC_RELAXED) > 0;
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_next_id(struct ctl_store *st)
{
	char path[PATH_MAX], buf[32];
	int fd, n;

	if (st->next_id)
		return 0;
	st->next_id = 1;
	snprintf(path, sizeof(path), "%s/next-id", st->state);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		st->next_id = strtoull(buf, NULL, 10);
		if (!st->next_id)
			st->next_id = 1;
	}
	return 0;
}

int store_ids_take(struct ctl_store *st, unsigned n, uint64_t *first)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], buf[32];
	uint64_t next;
	int fd, len, r;

	r = read_next_id(st);
	if (r < 0)
		return r;
	if (st->next_id <= st->max_seen)
		st->next_id = st->max_seen + 1;
	next = st->next_id + n;
	snprintf(path, sizeof(path), "%s/next-id", st->state);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)next);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, (size_t)len);
	/* Durable before any VM runs with these ids, so that none is handed out twice (in a
	 * batch: with the batch, before its reply; a crash before that loses the batch's VMs
	 * and definitions too, and restore raises next-id past every stored id). */
	if (r == 0 && !batch_open(st) && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		log_err("%s: %s", path, strerror(-r));
		unlink(tmp);
		return r;
	}
	if (!batch_open(st))
		fsync_dir(st->state);
	*first = st->next_id;
	st->next_id = next;
	return 0;
}

void store_batch_begin(struct ctl_store *st)
{
	__atomic_add_fetch(&st->batch, 1, __ATOMIC_RELAXED);
}

bool store_batch_active(const struct ctl_store *st)
{
	return batch_open(st);
}

void store_batch_end(struct ctl_store *st)
{
	if (__atomic_load_n(&st->batch, __ATOMIC_RELAXED) > 0)
		__atomic_sub_fetch(&st->batch, 1, __ATOMIC_RELAXED);
}

int store_sync(const struct ctl_store *st)
{
	int fd, r = 0;

	fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syncfs(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int store_put(struct ctl_store *st, const struct vm_spec *spec)
{
	char vmdir[PATH_MAX], tmp[PATH_MAX + 16], path[PATH_MAX + 16];
	json_t *def, *args;
	char *text = NULL;
	int fd = -1, r;

	if (!ctl_name_valid(spec->name))
		return -EINVAL;
	snprintf(vmdir, sizeof(vmdir), "%s/%s", st->dir, spec->name);
	snprintf(tmp, sizeof(tmp), "%s/def.json.tmp", vmdir);
	snprintf(path, sizeof(path), "%s/def.json", vmdir);

	args = json_array();
	for (int i = 0; args && i < spec->argc; i++)
		if (json_array_append_new(args, json_string(spec->argv[i])) < 0) {
			json_decref(args);
			args = NULL;
		}
	def = json_pack("{s:s, s:I, s:s, s:I, s:o?, s:b, s:s, s:b, s:b, s:o?}", "name", spec->name,
			"id", (json_int_t)spec->id, "image", spec->image, "mem",
			(json_int_t)spec->mem_bytes, "args", args, "net", spec->net, "disk",
			spec->disk, "disk_ro", spec->disk_ro, "disk_direct", spec->disk_direct,
			"owner", ctl_owner_to_json(&spec->owner));
	if (!def)
		return -ENOMEM;
	text = json_dumps(def, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(def);
	if (!text)
		return -ENOMEM;

	/* A new VM's directory: a spare one if there is (no inode allocated, none freed). */
	if (store_spare_take(st, vmdir, text) == 0) {
		r = 0;
		goto out;
	}
	if (mkdir(vmdir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("vm %s: mkdir %s: %s", spec->name, vmdir, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = -errno;
		log_err("vm %s: open %s: %s", spec->name, tmp, strerror(errno));
		goto out;
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && !batch_open(st) && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		log_err("vm %s: write %s: %s", spec->name, tmp, strerror(-r));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		log_err("vm %s: rename %s: %s", spec->name, tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* The rename is durable only once the directory entry is (in a batch: at its end). */
	if (!batch_open(st)) {
		fsync_dir(vmdir);
		fsync_dir(st->dir);
	}
	r = 0;
out:
	free(text);
	return r;
}

int store_del(struct ctl_store *st, const char *name)
{
	char vmdir[PATH_MAX], path[PATH_MAX + 16];
	int r;

	if (!ctl_name_valid(name))
		return -EINVAL;
	snprintf(vmdir, sizeof(vmdir), "%s/%s", st->dir, name);
	snprintf(path, sizeof(path), "%s/def.json", vmdir);
	r = store_trash_move(st, vmdir, path);
	if (r == -ENOENT)
		return r;
	if (r == 0) {
		if (!batch_open(st))
			fsync_dir(st->dir);
		return 0;
	}
	if (unlink(path) < 0) {
		if (errno != ENOENT)
			log_err("vm %s: unlink %s: %s", name, path, strerror(errno));
		return -errno;
	}
	rmdir(vmdir); /* fails, as it should, while console.log is kept there */
	if (!batch_open(st))
		fsync_dir(st->dir);
	return 0;
}

int store_has(struct ctl_store *st, const char *name)
{
	char path[PATH_MAX + 80];

	if (!ctl_name_valid(name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s/def.json", st->dir, name);
	return access(path, F_OK) == 0;
}

void store_spec_free(struct vm_spec *spec)
{
	if (spec->argv) {
		for (int i = 0; i < spec->argc; i++)
			free(spec->argv[i]);
		free(spec->argv);
	}
	spec->argv = NULL;
	spec->argc = 0;
}

/* def.json read whole and parsed from memory: json_loadfd() reads one byte per read(2),
 * which at a restart of 10,000 VMs (each definition read twice) is millions of syscalls.
 * At most CTL_LINE_MAX bytes: a file that grew past it since its fstat is refused. */
static json_t *load_def(int fd, json_error_t *jerr)
{
	char *buf = malloc(CTL_LINE_MAX + 1);
	size_t len = 0;
	json_t *def;

	if (!buf) {
		snprintf(jerr->text, sizeof(jerr->text), "out of memory");
		return NULL;
	}
	while (len <= CTL_LINE_MAX) {
		ssize_t n = read(fd, buf + len, CTL_LINE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(jerr->text, sizeof(jerr->text), "read: %s", strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CTL_LINE_MAX) {
		snprintf(jerr->text, sizeof(jerr->text), "longer than %u bytes", CTL_LINE_MAX);
		free(buf);
		return NULL;
	}
	def = json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
	free(buf);
	return def;
}

int store_get(struct ctl_store *st, const char *name, struct vm_spec *spec)
{
	char path[PATH_MAX + 80];
	json_error_t jerr;
	json_t *def, *v;
	struct stat sb;
	int r = -EINVAL, fd;

	memset(spec, 0, sizeof(*spec));
	if (!ctl_name_valid(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s/def.json", st->dir, name);
	/* Never blocks: a FIFO or device planted in place of def.json is refused unread. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)CTL_LINE_MAX) {
		log_err("vm %s: %s: not a regular file of at most %u bytes", name, path,
			CTL_LINE_MAX);
		close(fd);
		return -EINVAL;
	}
	def = load_def(fd, &jerr);
	close(fd);
	if (!def) {
		log_err("vm %s: %s: %s", name, path, jerr.text);
		return -EINVAL;
	}
	v = json_object_get(def, "name");
	if (!json_is_string(v) || strcmp(json_string_value(v), name) != 0) {
		log_err("vm %s: %s: name does not match its directory", name, path);
		goto out;
	}
	strcpy(spec->name, name);
	v = json_object_get(def, "image");
	if (!json_is_string(v) || json_string_length(v) > CTL_IMAGE_MAX ||
	    json_string_value(v)[0] != '/') {
		log_err("vm %s: %s: bad \"image\"", name, path);
		goto out;
	}
	strcpy(spec->image, json_string_value(v));
	v = json_object_get(def, "id"); /* absent in definitions older than ids */
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		log_err("vm %s: %s: bad \"id\"", name, path);
		goto out;
	}
	spec->id = v ? (uint64_t)json_integer_value(v) : 0;
	if (spec->id > st->max_seen)
		st->max_seen = spec->id;
	v = json_object_get(def, "mem");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    !denali_mem_size_ok((uint64_t)json_integer_value(v))) {
		log_err("vm %s: %s: bad \"mem\": it must be " DENALI_MEM_RULE, name, path);
		goto out;
	}
	spec->mem_bytes = (uint64_t)json_integer_value(v);
	/* Devices: absent in definitions older than issue 9. */
	v = json_object_get(def, "net");
	spec->net = json_is_true(v);
	v = json_object_get(def, "disk_ro");
	spec->disk_ro = json_is_true(v);
	v = json_object_get(def, "disk_direct"); /* absent before it existed: buffered */
	spec->disk_direct = json_is_true(v);
	v = json_object_get(def, "disk");
	if (v && (!json_is_string(v) || json_string_length(v) > CTL_IMAGE_MAX ||
		  (json_string_length(v) && json_string_value(v)[0] != '/'))) {
		log_err("vm %s: %s: bad \"disk\"", name, path);
		goto out;
	}
	snprintf(spec->disk, sizeof(spec->disk), "%s", v ? json_string_value(v) : "");
	/* Who asked for it (absent before owners: started by a trusted client). */
	if (ctl_owner_from_json(json_object_get(def, "owner"), &spec->owner) < 0) {
		log_err("vm %s: %s: bad \"owner\"", name, path);
		goto out;
	}
	v = json_object_get(def, "args");
	if (v && (!json_is_array(v) || json_array_size(v) > CTL_ARGS_MAX)) {
		log_err("vm %s: %s: bad \"args\"", name, path);
		goto out;
	}
	spec->argv = calloc(json_array_size(v) + 1, sizeof(char *));
	if (!spec->argv) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *a = json_array_get(v, i);
		if (!json_is_string(a)) {
			log_err("vm %s: %s: bad \"args\"", name, path);
			goto out;
		}
		spec->argv[i] = strdup(json_string_value(a));
		if (!spec->argv[i]) {
			r = -ENOMEM;
			goto out;
		}
		spec->argc++;
	}
	r = 0;
out:
	json_decref(def);
	if (r < 0)
		store_spec_free(spec);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_foreach(struct ctl_store *st, int (*fn)(const struct vm_spec *spec, void *arg), void *arg)
{
	DIR *d = opendir(st->dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0, visited = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (!ctl_name_valid(e->d_name))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct vm_spec spec;
		int g = store_get(st, names[i], &spec);
		if (g == -ENOENT)
			continue; /* a directory holding only console.log */
		if (g < 0)
			continue;
		r = fn(&spec, arg);
		store_spec_free(&spec);
		if (r < 0)
			goto out;
		visited++;
	}
	r = visited;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

json_t *store_names(struct ctl_store *st)
{
	DIR *d = opendir(st->dir);
	struct dirent *e;
	json_t *set, *out, *v;
	const char *k;
	int dfd;

	if (!d)
		return NULL;
	set = json_object();
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		char rel[sizeof(e->d_name) + 16];

		if (!ctl_name_valid(e->d_name))
			continue;
		snprintf(rel, sizeof(rel), "%s/def.json", e->d_name);
		if (faccessat(dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			json_object_set_new(set, e->d_name, json_true());
	}
	closedir(d);
	out = json_array();
	json_object_foreach(set, k, v)
	{
		json_array_append_new(out, json_string(k));
	}
	json_decref(set);
	return out;
}

/*
 * denali-mkfs DIR IMAGE: pack a directory tree into a rofs image (format in
 * <denali/rofs_format.h>) for a VM's disk. Regular files and directories
 * are packed; symbolic links and special files are skipped with a warning
 * (an image must not depend on what a link points to at packing time).
 * The image is written to IMAGE.tmp, checked by mounting it with the same
 * reader the guests use and verifying every file, then renamed to IMAGE.
 *
 * Exit: 0 ok, 1 error, 2 usage.
 */
#include "rofs_build.h"

#include <denali/rofs.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int quiet;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: denali-mkfs [-q] DIR IMAGE\n"
		"  Pack the directory tree DIR into the read-only image IMAGE.\n"
		"  -q  print nothing on success\n"
		"  Limits: %u entries, paths of %u bytes and %u components.\n",
		ROFS_ENTRIES_MAX, ROFS_PATH_MAX, ROFS_DEPTH_MAX);
}

static int dirent_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the contents of host directory `host` as image directory `rel`. */
static int walk(struct rofs_build *b, const char *host, const char *rel, unsigned depth)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	DIR *d = opendir(host);

	if (!d) {
		fprintf(stderr, "denali-mkfs: %s: %s\n", host, strerror(errno));
		return -errno;
	}
	for (struct dirent *de; (errno = 0, de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **p = realloc(names, cap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			names = p;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		rc = -errno;
		fprintf(stderr, "denali-mkfs: reading %s: %s\n", host, strerror(errno));
		goto out;
	}
	qsort(names, n, sizeof(*names), dirent_cmp); /* deterministic warnings */
	for (size_t i = 0; i < n && rc == 0; i++) {
		char hpath[4096], ipath[ROFS_PATH_MAX + 2];
		struct stat st;
		int w1 = snprintf(hpath, sizeof(hpath), "%s/%s", host, names[i]);
		int w2 = snprintf(ipath, sizeof(ipath), "%s%s%s", rel, *rel ? "/" : "", names[i]);
		if (w1 < 0 || (size_t)w1 >= sizeof(hpath) || w2 < 0 || (size_t)w2 > ROFS_PATH_MAX ||
		    depth + 1 > ROFS_DEPTH_MAX) {
			fprintf(stderr,
				"denali-mkfs: %s: path too long or too deep for the image "
				"(%u bytes, %u components at most)\n",
				hpath, ROFS_PATH_MAX, ROFS_DEPTH_MAX);
			rc = -ENAMETOOLONG;
			break;
		}
		if (lstat(hpath, &st) < 0) {
			rc = -errno;
			fprintf(stderr, "denali-mkfs: %s: %s\n", hpath, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = rofs_build_add_dir(b, ipath, st.st_mtim.tv_sec);
			if (rc == 0)
				rc = walk(b, hpath, ipath, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = rofs_build_add_src(b, ipath, hpath, (uint64_t)st.st_size,
						st.st_mtim.tv_sec);
		} else {
			fprintf(stderr,
				"denali-mkfs: warning: %s: not a regular file or "
				"directory, skipped\n",
				hpath);
			continue;
		}
		if (rc < 0 && rc != -ENAMETOOLONG)
			fprintf(stderr, "denali-mkfs: adding %s: %s\n", hpath, strerror(-rc));
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int file_read(void *ctx, uint64_t sector, void *buf, uint32_t nsectors)
{
	int fd = *(int *)ctx;
	size_t len = (size_t)nsectors * ROFS_SECTOR;
	ssize_t n = pread(fd, buf, len, (off_t)(sector * ROFS_SECTOR));
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Mount what was written and verify every file: the guests' reader agrees. */
static int self_check(int fd, uint64_t bytes)
{
	static struct rofs fs;
	struct rofs_stat st;
	char name[ROFS_PATH_MAX + 1];
	int rc = rofs_mount(&fs, file_read, &fd, bytes / ROFS_SECTOR);

	if (rc < 0) {
		fprintf(stderr, "denali-mkfs: the written image does not mount: %s\n",
			strerror(-rc));
		return rc;
	}
	for (uint32_t i = 0; i < rofs_count(&fs); i++) {
		rc = rofs_entry(&fs, i, &st, name, sizeof(name));
		if (rc == 0 && st.type == ROFS_TYPE_FILE)
			rc = rofs_verify(&fs, &st);
		if (rc < 0) {
			fprintf(stderr, "denali-mkfs: entry %u of the written image: %s\n", i,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct rofs_build b;
	struct stat st;
	char tmp[4096];
	int argi = 1, fd = -1, rc;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argi < argc && !strcmp(argv[argi], "-q")) {
		quiet = 1;
		argi++;
	}
	if (argc - argi != 2) {
		usage(stderr);
		return 2;
	}
	const char *dir = argv[argi], *image = argv[argi + 1];
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "denali-mkfs: %s: not a directory\n", dir);
		return 1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", image) >= (int)sizeof(tmp)) {
		fprintf(stderr, "denali-mkfs: %s: name too long\n", image);
		return 1;
	}
	rofs_build_init(&b);
	rc = walk(&b, dir, "", 0);
	if (rc < 0)
		goto fail;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "denali-mkfs: %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	rc = rofs_build_write_fd(&b, fd);
	if (rc < 0) {
		fprintf(stderr, "denali-mkfs: writing %s: %s%s\n", tmp, strerror(-rc),
			rc == -ESTALE ? " (a file changed while it was packed)" : "");
		goto fail;
	}
	if (fstat(fd, &st) < 0 || fsync(fd) < 0) {
		rc = -errno;
		fprintf(stderr, "denali-mkfs: %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	rc = self_check(fd, (uint64_t)st.st_size);
	if (rc < 0)
		goto fail;
	if (rename(tmp, image) < 0) {
		rc = -errno;
		fprintf(stderr, "denali-mkfs: rename to %s: %s\n", image, strerror(errno));
		goto fail;
	}
	close(fd);
	if (!quiet)
		printf("denali-mkfs: %s: %u files, %u directories, %llu bytes of data, "
		       "%llu sectors\n",
		       image, b.files, b.dirs, (unsigned long long)b.data_bytes,
		       (unsigned long long)(st.st_size / ROFS_SECTOR));
	rofs_build_free(&b);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	rofs_build_free(&b);
	return 1;
}

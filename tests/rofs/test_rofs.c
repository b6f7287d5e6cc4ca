/*
 * rofs: round trip through the real denali-mkfs (every file byte-exact,
 * mtimes, directories), lookups of missing and malformed paths, bounded
 * lookup cost, and device errors. Corruption cases are in test_rofs_corrupt.c.
 *
 * Usage: test_rofs_roundtrip PATH_TO_DENALI_MKFS
 */
#include "rofs_build.h"
#include "rofs_mem.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>

#include <cmocka.h>

static const char *mkfs_path;
static char tmpdir[] = "/tmp/denali-rofs-test.XXXXXX";

struct file_dev {
	int fd;
};

static int file_read(void *ctx, uint64_t sector, void *buf, uint32_t n)
{
	struct file_dev *d = ctx;
	size_t len = (size_t)n * ROFS_SECTOR;
	return pread(d->fd, buf, len, (off_t)(sector * ROFS_SECTOR)) == (ssize_t)len ? 0 : -EIO;
}

static void put_file(const char *rel, size_t size, unsigned seed, time_t mtime)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tree/%s", tmpdir, rel);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc((int)((i * 131 + seed * 7 + (i >> 9)) & 0xff), f);
	assert_int_equal(fclose(f), 0);
	struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void put_dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tree/%s", tmpdir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int run_mkfs(const char *dir, const char *image)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(mkfs_path, mkfs_path, dir, image, (char *)NULL);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Every file and directory under host `dir`, compared with the image. */
static unsigned compare_tree(struct rofs *fs, const char *host, const char *rel)
{
	unsigned seen = 0;
	DIR *d = opendir(host);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));) {
		char hpath[1024], ipath[512];
		struct stat hs;
		struct rofs_stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(hpath, sizeof(hpath), "%s/%s", host, de->d_name);
		snprintf(ipath, sizeof(ipath), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		assert_int_equal(lstat(hpath, &hs), 0);
		int rc = rofs_lookup(fs, ipath, strlen(ipath), &st);
		if (S_ISLNK(hs.st_mode)) {
			assert_int_equal(rc, -ENOENT); /* links are skipped */
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(st.mtime, hs.st_mtim.tv_sec);
		seen++;
		if (S_ISDIR(hs.st_mode)) {
			assert_int_equal(st.type, ROFS_TYPE_DIR);
			seen += compare_tree(fs, hpath, ipath);
			continue;
		}
		assert_int_equal(st.type, ROFS_TYPE_FILE);
		assert_int_equal(st.size, (uint64_t)hs.st_size);
		uint8_t *want = malloc(hs.st_size + 1), *got = malloc(hs.st_size + 600);
		int fd = open(hpath, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, want, hs.st_size + 1), hs.st_size);
		close(fd);
		/* the whole file, then odd pieces at odd offsets */
		assert_int_equal(rofs_pread(fs, &st, 0, got, hs.st_size + 600), hs.st_size);
		assert_memory_equal(got, want, hs.st_size);
		for (uint64_t off = 0; off < (uint64_t)hs.st_size; off += 997) {
			size_t len = 1 + (off % 1500);
			int64_t n = rofs_pread(fs, &st, off, got, len);
			size_t exp = len < hs.st_size - off ? len : hs.st_size - off;
			assert_int_equal(n, (int64_t)exp);
			assert_memory_equal(got, want + off, exp);
		}
		assert_int_equal(rofs_pread(fs, &st, hs.st_size, got, 10), 0);
		assert_int_equal(rofs_pread(fs, &st, UINT64_MAX, got, 10), 0);
		assert_int_equal(rofs_verify(fs, &st), 0);
		free(want);
		free(got);
	}
	closedir(d);
	return seen;
}

static void test_mkfs_round_trip(void **state)
{
	(void)state;
	char tree[256], image[256];
	struct file_dev dev;
	static struct rofs fs;
	struct rofs_stat st;

	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	snprintf(image, sizeof(image), "%s/img", tmpdir);
	assert_int_equal(mkdir(tree, 0755), 0);
	put_file("index.html", 612, 1, 1000000000);
	put_file("empty", 0, 2, 1234567890);
	put_file("one", 1, 3, 86400);
	put_dir("css");
	put_file("css/site.css", 511, 4, 1700000000);
	put_file("css/a.css", 512, 5, 1700000001);
	put_file("css/b.css", 513, 6, 1700000002);
	put_dir("deep");
	put_dir("deep/er");
	put_dir("deep/er/still");
	put_file("deep/er/still/big.bin", 300007, 7, 1600000000);
	put_file("deep/er/x", 4096 * 3 + 7, 8, 1);
	put_file("index.htm", 2258, 9, 2);
	put_file("with space and %.txt", 10, 10, 3);
	char lnk[300];
	snprintf(lnk, sizeof(lnk), "%s/link", tree);
	assert_int_equal(symlink("index.html", lnk), 0);

	assert_int_equal(run_mkfs(tree, image), 0);
	dev.fd = open(image, O_RDONLY);
	assert_true(dev.fd >= 0);
	off_t size = lseek(dev.fd, 0, SEEK_END);
	assert_int_equal(size % ROFS_SECTOR, 0);
	assert_int_equal(rofs_mount(&fs, file_read, &dev, size / ROFS_SECTOR), 0);
	/* 10 files + 4 directories, the link skipped */
	assert_int_equal(rofs_count(&fs), 14);
	assert_int_equal(compare_tree(&fs, tree, ""), 14);
	assert_int_equal(rofs_lookup(&fs, "", 0, &st), 0);
	assert_int_equal(st.type, ROFS_TYPE_DIR);
	assert_int_equal(st.index, ROFS_ROOT);
	/* entries come back in path order */
	char prev[ROFS_PATH_MAX + 1] = "", name[ROFS_PATH_MAX + 1];
	for (uint32_t i = 0; i < rofs_count(&fs); i++) {
		assert_int_equal(rofs_entry(&fs, i, &st, name, sizeof(name)), 0);
		assert_true(strcmp(prev, name) < 0);
		strcpy(prev, name);
	}
	assert_int_equal(rofs_entry(&fs, rofs_count(&fs), &st, name, sizeof(name)), -EINVAL);
	/* a directory has no bytes to read */
	assert_int_equal(rofs_lookup(&fs, "css", 3, &st), 0);
	assert_int_equal(rofs_pread(&fs, &st, 0, name, 1), -EINVAL);
	close(dev.fd);

	/* mkfs refuses what it cannot pack, leaving no image behind */
	assert_int_equal(run_mkfs("/nonexistent-dir", image), 1);
	assert_int_equal(run_mkfs(tree, NULL), 2);
}

static void test_missing_and_malformed_paths(void **state)
{
	(void)state;
	struct rofs_build b;
	static struct rofs fs;
	struct rofs_stat st;
	uint8_t *img;
	size_t len;
	char longp[400];

	rofs_build_init(&b);
	assert_int_equal(rofs_build_add_mem(&b, "a/b/big", "x", 1, 5), 0);
	assert_int_equal(rofs_build_add_dir(&b, "a", 5), 0);
	assert_int_equal(rofs_build_add_dir(&b, "a/b", 5), 0);
	assert_int_equal(rofs_build_add_mem(&b, "index.html", "hi", 2, 5), 0);
	/* the builder applies the reader's path rules */
	assert_int_equal(rofs_build_add_mem(&b, "/abs", "x", 1, 5), -EINVAL);
	assert_int_equal(rofs_build_add_mem(&b, "a/../b", "x", 1, 5), -EINVAL);
	assert_int_equal(rofs_build_add_mem(&b, "", "x", 1, 5), -EINVAL);
	assert_int_equal(rofs_build_write_mem(&b, &img, &len), 0);
	struct mem_dev dev = {img, len, -1, 0};
	assert_int_equal(rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev)), 0);

	static const char *missing[] = {"nope", "index.htm", "index.html5", "a/b/bi", "a/b/big/x",
					"a/c",	"A",	     "a/b/bigger",  "\xff"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(*missing); i++)
		assert_int_equal(rofs_lookup(&fs, missing[i], strlen(missing[i]), &st), -ENOENT);
	static const char *bad[] = {"/index.html", "index.html/", "a//b", "a/./b",
				    "a/..",	   ".",		  "..",	  "/"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(rofs_lookup(&fs, bad[i], strlen(bad[i]), &st), -EINVAL);
	assert_int_equal(rofs_lookup(&fs, "index\0html", 10, &st), -EINVAL);
	memset(longp, 'a', sizeof(longp));
	assert_int_equal(rofs_lookup(&fs, longp, ROFS_PATH_MAX + 1, &st), -ENAMETOOLONG);
	assert_int_equal(rofs_lookup(&fs, longp, ROFS_PATH_MAX, &st), -ENOENT);
	/* 17 components is too deep, 16 is fine */
	for (int i = 0; i < 17; i++) {
		longp[2 * i] = 'd';
		longp[2 * i + 1] = '/';
	}
	assert_int_equal(rofs_lookup(&fs, longp, 33, &st), -ENAMETOOLONG);
	assert_int_equal(rofs_lookup(&fs, longp, 31, &st), -ENOENT);
	/* a small image's metadata stays cached: lookups read nothing */
	uint64_t reads = fs.counters.dev_reads;
	assert_int_equal(rofs_lookup(&fs, "a/b/big", 7, &st), 0);
	assert_int_equal(fs.counters.dev_reads, reads);
	assert_int_equal(rofs_lookup(&fs, "a/b/big", 5, &st), -ENOENT); /* "a/b/b" */
	assert_int_equal(rofs_lookup(&fs, "a/b/big", 3, &st), 0);	/* "a/b" */
	assert_int_equal(st.type, ROFS_TYPE_DIR);
	free(img);
	rofs_build_free(&b);
}

/* Thousands of entries: each hit and each miss costs O(log n) sector probes. */
static void test_lookup_is_bounded(void **state)
{
	(void)state;
	struct rofs_build b;
	static struct rofs fs;
	struct rofs_stat st;
	static char paths[3000][32];
	uint8_t *img;
	size_t len;

	rofs_build_init(&b);
	for (int i = 0; i < 3000; i++) {
		snprintf(paths[i], sizeof(paths[i]), "dir%d/file%05d", i % 7, i);
		if (i < 7) {
			char d[8];
			snprintf(d, sizeof(d), "dir%d", i);
			assert_int_equal(rofs_build_add_dir(&b, d, i), 0);
		}
		assert_int_equal(rofs_build_add_mem(&b, paths[i], paths[i], strlen(paths[i]), i),
				 0);
	}
	assert_int_equal(rofs_build_add_mem(&b, paths[5], "dup", 3, 0), 0);
	assert_int_equal(rofs_build_write_mem(&b, &img, &len), -EEXIST);
	rofs_build_free(&b);
	rofs_build_init(&b);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(rofs_build_add_mem(&b, paths[i], paths[i], strlen(paths[i]), i),
				 0);
	assert_int_equal(rofs_build_write_mem(&b, &img, &len), 0);
	struct mem_dev dev = {img, len, -1, 0};
	assert_int_equal(rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev)), 0);
	for (int i = 0; i < 3000; i++) {
		char buf[32], miss[40];
		uint64_t before = fs.counters.cache_hits + fs.counters.cache_misses;
		assert_int_equal(rofs_lookup(&fs, paths[i], strlen(paths[i]), &st), 0);
		/* 12 probes for 3000 entries, each an entry and a name (<= 2 sectors) */
		assert_true(fs.counters.cache_hits + fs.counters.cache_misses - before <= 3 * 13);
		assert_int_equal(st.mtime, i);
		assert_int_equal(rofs_pread(&fs, &st, 0, buf, sizeof(buf)), strlen(paths[i]));
		assert_memory_equal(buf, paths[i], strlen(paths[i]));
		snprintf(miss, sizeof(miss), "%sx", paths[i]);
		before = fs.counters.cache_hits + fs.counters.cache_misses;
		assert_int_equal(rofs_lookup(&fs, miss, strlen(miss), &st), -ENOENT);
		assert_true(fs.counters.cache_hits + fs.counters.cache_misses - before <= 3 * 13);
	}

	free(img);
	rofs_build_free(&b);
}

/* A device error at any read, during mount or afterwards, is returned. */
static void test_device_errors(void **state)
{
	(void)state;
	struct rofs_build b;
	static struct rofs fs;
	static uint8_t big[5000];
	struct rofs_stat st;
	uint8_t *img, buf[6000];
	size_t len;

	rofs_build_init(&b);
	assert_int_equal(rofs_build_add_mem(&b, "a", big, sizeof(big), 1), 0);
	assert_int_equal(rofs_build_add_mem(&b, "b", "bb", 2, 1), 0);
	assert_int_equal(rofs_build_write_mem(&b, &img, &len), 0);
	struct mem_dev dev = {img, len, -1, 0};
	assert_int_equal(rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev)), 0);
	long mount_reads = dev.reads;
	for (long k = 0; k < mount_reads; k++) {
		dev.fail_after = k;
		dev.reads = 0;
		assert_int_equal(rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev)), -EIO);
		/* a failed mount leaves nothing to look up */
		dev.fail_after = -1;
		assert_int_not_equal(rofs_lookup(&fs, "a", 1, &st), 0);
	}
	dev.fail_after = -1;
	assert_int_equal(rofs_mount(&fs, mem_dev_read, &dev, mem_dev_sectors(&dev)), 0);
	assert_int_equal(rofs_lookup(&fs, "a", 1, &st), 0);
	dev.fail_after = dev.reads;
	assert_int_equal(rofs_pread(&fs, &st, 3, buf, sizeof(buf)), -EIO);
	assert_int_equal(rofs_verify(&fs, &st), -EIO);
	free(img);
	rofs_build_free(&b);
}

static int rm_tree(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH_TO_DENALI_MKFS\n", argv[0]);
		return 2;
	}
	mkfs_path = argv[1];
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mkfs_round_trip),
	    cmocka_unit_test(test_missing_and_malformed_paths),
	    cmocka_unit_test(test_lookup_is_bounded),
	    cmocka_unit_test(test_device_errors),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rm_tree(tmpdir);
	return rc;
}

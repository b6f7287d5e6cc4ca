/*
 * rofs_build: image layout and writing. The image is written data first,
 * then the table, names and superblock, so each file's checksum is known
 * when its entry is written, and the superblock (which makes the image
 * valid) comes last.
 */
#include "rofs_build.h"

#include <denali/rofs.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sink {
	int fd;	      /* -1: memory */
	uint8_t *mem; /* image of `len` bytes, zeroed */
	size_t len;
};

void rofs_build_init(struct rofs_build *b)
{
	memset(b, 0, sizeof(*b));
}

void rofs_build_free(struct rofs_build *b)
{
	for (uint32_t i = 0; i < b->count; i++) {
		free(b->entries[i].path);
		free(b->entries[i].src);
	}
	free(b->entries);
	rofs_build_init(b);
}

static int add(struct rofs_build *b, const char *path, uint8_t type, uint64_t size, int64_t mtime,
	       const void *data, const char *src)
{
	size_t len = strlen(path);
	int rc = rofs_path_check(path, len);

	if (rc < 0)
		return rc;
	if (len == 0)
		return -EINVAL; /* the root has no entry */
	if (b->count >= ROFS_ENTRIES_MAX)
		return -E2BIG;
	if (b->count == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 64;
		struct rofs_build_entry *e = realloc(b->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		b->entries = e;
		b->cap = cap;
	}
	struct rofs_build_entry *e = &b->entries[b->count];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	e->src = src ? strdup(src) : NULL;
	if (!e->path || (src && !e->src)) {
		free(e->path);
		free(e->src);
		return -ENOMEM;
	}
	e->type = type;
	e->size = size;
	e->mtime = mtime;
	e->data = data;
	b->count++;
	if (type == ROFS_TYPE_DIR)
		b->dirs++;
	else
		b->files++;
	b->data_bytes += size;
	return 0;
}

int rofs_build_add_mem(struct rofs_build *b, const char *path, const void *data, uint64_t size,
		       int64_t mtime)
{
	if (!data && size)
		return -EINVAL;
	return add(b, path, ROFS_TYPE_FILE, size, mtime, data, NULL);
}

int rofs_build_add_src(struct rofs_build *b, const char *path, const char *src, uint64_t size,
		       int64_t mtime)
{
	if (!src)
		return -EINVAL;
	return add(b, path, ROFS_TYPE_FILE, size, mtime, NULL, src);
}

int rofs_build_add_dir(struct rofs_build *b, const char *path, int64_t mtime)
{
	return add(b, path, ROFS_TYPE_DIR, 0, mtime, NULL, NULL);
}

static int entry_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char, the reader's memcmp order */
	return strcmp(((const struct rofs_build_entry *)a)->path,
		      ((const struct rofs_build_entry *)b)->path);
}

static uint64_t sectors_for(uint64_t bytes)
{
	return bytes / ROFS_SECTOR + (bytes % ROFS_SECTOR != 0);
}

static int sink_write(struct sink *s, uint64_t off, const void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (s->fd < 0) {
		if (off > s->len || n > s->len - off)
			return -EINVAL;
		memcpy(s->mem + off, buf, n);
		return 0;
	}
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(s->fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		off += (uint64_t)w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy a host file into the image at `off`, checking it still has `size`. */
static int copy_src(struct sink *s, struct rofs_build_entry *e, uint64_t off)
{
	static uint8_t buf[65536];
	uint64_t done = 0;
	uint32_t crc = 0;
	int rc = 0;
	int fd = open(e->src, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > e->size - done) {
			rc = -ESTALE; /* grew while we packed it */
			goto out;
		}
		crc = rofs_crc32(crc, buf, (size_t)n);
		rc = sink_write(s, off + done, buf, (size_t)n);
		if (rc < 0)
			goto out;
		done += (uint64_t)n;
	}
	if (done != e->size)
		rc = -ESTALE; /* shrank */
	e->crc = crc;
out:
	close(fd);
	return rc;
}

/* Sort, check, assign sectors; returns the image size in sectors. */
static int layout(struct rofs_build *b, struct rofs_super *sb)
{
	uint64_t names = 0;

	if (b->count > 1)
		qsort(b->entries, b->count, sizeof(*b->entries), entry_cmp);
	for (uint32_t i = 0; i < b->count; i++) {
		if (i > 0 && strcmp(b->entries[i - 1].path, b->entries[i].path) == 0)
			return -EEXIST;
		names += strlen(b->entries[i].path);
	}
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, ROFS_MAGIC, sizeof(sb->magic));
	sb->version = ROFS_VERSION;
	sb->sector_size = ROFS_SECTOR;
	sb->entry_count = b->count;
	sb->table_sector = 1;
	sb->names_sector = 1 + sectors_for((uint64_t)b->count * sizeof(struct rofs_dirent));
	sb->names_bytes = (uint32_t)names;
	sb->data_sector = sb->names_sector + sectors_for(names);
	uint64_t cursor = sb->data_sector;
	for (uint32_t i = 0; i < b->count; i++) {
		struct rofs_build_entry *e = &b->entries[i];
		e->sector = 0;
		if (e->type == ROFS_TYPE_FILE && e->size > 0) {
			e->sector = cursor;
			cursor += sectors_for(e->size);
		}
	}
	sb->total_sectors = cursor;
	return 0;
}

static int write_image(struct rofs_build *b, struct sink *s, const struct rofs_super *layout_sb)
{
	struct rofs_super sb = *layout_sb;
	struct rofs_dirent *table;
	uint8_t *meta = NULL;
	size_t meta_len;
	char *names;
	uint32_t name_off = 0;
	int rc = 0;

	for (uint32_t i = 0; i < b->count; i++) {
		struct rofs_build_entry *e = &b->entries[i];
		uint64_t off = e->sector * ROFS_SECTOR;
		if (e->type != ROFS_TYPE_FILE)
			continue;
		if (e->src) {
			rc = copy_src(s, e, off);
		} else {
			e->crc = rofs_crc32(0, e->data, e->size);
			rc = sink_write(s, off, e->data, e->size);
		}
		if (rc < 0)
			goto out;
	}
	/* The metadata sectors, padding zero, in one piece: meta_crc covers them all. */
	meta_len = (size_t)(sb.data_sector - sb.table_sector) * ROFS_SECTOR;
	meta = calloc(1, meta_len ? meta_len : 1);
	if (!meta) {
		rc = -ENOMEM;
		goto out;
	}
	table = (struct rofs_dirent *)meta;
	names = (char *)meta + (sb.names_sector - sb.table_sector) * ROFS_SECTOR;
	for (uint32_t i = 0; i < b->count; i++) {
		const struct rofs_build_entry *e = &b->entries[i];
		size_t len = strlen(e->path);
		memcpy(names + name_off, e->path, len);
		table[i].name_off = name_off;
		table[i].name_len = (uint16_t)len;
		table[i].type = e->type;
		table[i].data_crc = e->type == ROFS_TYPE_FILE ? e->crc : 0;
		table[i].data_sector = e->sector;
		table[i].size = e->size;
		table[i].mtime = e->mtime;
		name_off += (uint32_t)len;
	}
	sb.meta_crc = rofs_crc32(0, meta, meta_len);
	sb.super_crc = 0;
	sb.super_crc = rofs_crc32(0, &sb, sizeof(sb));
	rc = sink_write(s, sb.table_sector * ROFS_SECTOR, meta, meta_len);
	if (rc == 0)
		rc = sink_write(s, 0, &sb, sizeof(sb));
out:
	free(meta);
	return rc;
}

int rofs_build_write_fd(struct rofs_build *b, int fd)
{
	struct rofs_super sb;
	struct sink s = {.fd = fd};
	int rc = layout(b, &sb);

	if (rc < 0)
		return rc;
	/* Zero-filled to its full size first: padding and gaps read as zeros. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)(sb.total_sectors * ROFS_SECTOR)) < 0)
		return -errno;
	return write_image(b, &s, &sb);
}

int rofs_build_write_mem(struct rofs_build *b, uint8_t **img, size_t *len)
{
	struct rofs_super sb;
	struct sink s = {.fd = -1};
	int rc = layout(b, &sb);

	if (rc < 0)
		return rc;
	s.len = sb.total_sectors * ROFS_SECTOR;
	s.mem = calloc(1, s.len);
	if (!s.mem)
		return -ENOMEM;
	rc = write_image(b, &s, &sb);
	if (rc < 0) {
		free(s.mem);
		return rc;
	}
	*img = s.mem;
	*len = s.len;
	return 0;
}

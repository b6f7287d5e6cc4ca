/*
 * rofs_build: lays out and writes a rofs image (<denali/rofs_format.h>) from
 * a list of entries, for denali-mkfs and for tests that need images in
 * memory. File contents come from memory or from a host file copied at
 * write time (which must still have the size it was added with).
 */
#ifndef DENALI_ROFS_BUILD_H
#define DENALI_ROFS_BUILD_H

#include <stddef.h>
#include <stdint.h>

struct rofs_build_entry {
	char *path;
	uint8_t type;
	uint64_t size;
	int64_t mtime;
	const void *data; /* in-memory contents, or NULL and src */
	char *src;	  /* host file to copy */
	uint32_t crc;	  /* filled while writing */
	uint64_t sector;  /* filled by the layout */
};

struct rofs_build {
	struct rofs_build_entry *entries;
	uint32_t count, cap;
	uint32_t files, dirs;
	uint64_t data_bytes;
};

void rofs_build_init(struct rofs_build *b);
void rofs_build_free(struct rofs_build *b);

/* Add a file whose bytes are `data` (kept by reference until written). */
int rofs_build_add_mem(struct rofs_build *b, const char *path, const void *data, uint64_t size,
		       int64_t mtime);
/* Add a file copied from the host file `src` when the image is written. */
int rofs_build_add_src(struct rofs_build *b, const char *path, const char *src, uint64_t size,
		       int64_t mtime);
int rofs_build_add_dir(struct rofs_build *b, const char *path, int64_t mtime);

/* Write the image to `fd` from offset 0 (the file is truncated to its size). */
int rofs_build_write_fd(struct rofs_build *b, int fd);
/* Write the image into a malloc'ed buffer (*img, *len); the caller frees it. */
int rofs_build_write_mem(struct rofs_build *b, uint8_t **img, size_t *len);

#endif /* DENALI_ROFS_BUILD_H */

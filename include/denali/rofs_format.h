/*
 * The on-disk format of denali's read-only content file system (rofs),
 * shared verbatim by the host tool that writes it (denali-mkfs) and the
 * reader in guest-libos/fs. C99, fixed-width little-endian fields.
 *
 * Layout, in 512-byte sectors:
 *
 *   sector 0                  superblock (struct rofs_super, rest zero)
 *   [table_sector, +T)        entry table: entry_count x struct rofs_dirent,
 *                             sorted by path (bytewise, shorter first on a
 *                             common prefix), paths unique
 *   [names_sector, +N)        names: the paths, names_bytes bytes, no NULs
 *   [data_sector, total)      file data, each file starting on a sector
 *
 * Paths are relative to the root ("css/site.css"): no leading or trailing
 * '/', no empty, "." or ".." components, no NUL, at most ROFS_PATH_MAX bytes
 * and ROFS_DEPTH_MAX components. Directories have entries of their own
 * (type ROFS_TYPE_DIR, size 0); the root has none.
 *
 * The names region holds each entry's path in table order, back to back
 * (entry i's name_off is where entry i-1's name ends), so it has no unused
 * bytes; padding up to a sector boundary and the rest of sector 0 are zero.
 *
 * Integrity: super_crc covers the superblock (with super_crc read as 0),
 * meta_crc the whole sectors [table_sector, data_sector) (table, names and
 * their padding), data_crc each file's bytes. All are CRC-32 (IEEE 802.3, reflected, as zlib's
 * crc32()). Checksums catch accidents; the reader also bounds-checks every field, so a hostile
 * image with correct checksums still only gets errors.
 */
#ifndef DENALI_ROFS_FORMAT_H
#define DENALI_ROFS_FORMAT_H

#include <stdint.h>

#define ROFS_MAGIC	 "DNROFS\r\n" /* 8 bytes, no NUL */
#define ROFS_VERSION	 1u
#define ROFS_SECTOR	 512u
#define ROFS_PATH_MAX	 255u	/* bytes of a path */
#define ROFS_DEPTH_MAX	 16u	/* components of a path */
#define ROFS_ENTRIES_MAX 65536u /* entries of an image */

#define ROFS_TYPE_FILE 1u
#define ROFS_TYPE_DIR  2u

struct rofs_super {
	uint8_t magic[8];
	uint32_t version;
	uint32_t sector_size;
	uint32_t entry_count;
	uint32_t flags; /* 0 in version 1 */
	uint64_t table_sector;
	uint64_t names_sector;
	uint32_t names_bytes;
	uint32_t meta_crc;
	uint64_t data_sector;
	uint64_t total_sectors;
	uint8_t reserved[60];
	uint32_t super_crc;
};

struct rofs_dirent {
	uint32_t name_off; /* into the names region */
	uint16_t name_len;
	uint8_t type; /* ROFS_TYPE_* */
	uint8_t pad0;
	uint32_t data_crc;
	uint32_t pad1;
	uint64_t data_sector; /* absolute; 0 for directories and empty files */
	uint64_t size;	      /* bytes */
	int64_t mtime;	      /* seconds since 1970-01-01 UTC */
	uint8_t reserved[24];
};

_Static_assert(sizeof(struct rofs_super) == 128, "rofs superblock is 128 bytes");
_Static_assert(sizeof(struct rofs_dirent) == 64, "rofs entry is 64 bytes");
_Static_assert(ROFS_SECTOR % sizeof(struct rofs_dirent) == 0, "entries never straddle sectors");

#endif /* DENALI_ROFS_FORMAT_H */

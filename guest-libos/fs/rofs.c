/*
 * rofs reader: mount-time validation, bounded lookups and file reads over a
 * block-read callback, through a small LRU sector cache.
 *
 * Trust model: the image is hostile. Every offset and length taken from it
 * is checked against the region it must lie in, with overflow-safe
 * arithmetic, before any byte is read; mount checks the whole metadata
 * (checksum, entry bounds, path syntax, strict order), and the accessors
 * check again whatever they use, so nothing depends on mount having run on
 * the same bytes (the device may change underneath).
 */
#include <denali/rofs.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ENTRIES_PER_SECTOR (ROFS_SECTOR / sizeof(struct rofs_dirent))

static uint64_t sectors_for(uint64_t bytes)
{
	return bytes / ROFS_SECTOR + (bytes % ROFS_SECTOR != 0);
}

/* ---- cache ------------------------------------------------------------------ */

static void cache_reset(struct rofs *fs)
{
	for (unsigned i = 0; i < ROFS_CACHE_LINES; i++)
		fs->cache[i].used = 0;
	fs->stamp = 0;
}

static int dev_read(struct rofs *fs, uint64_t sector, void *buf, uint32_t n)
{
	if (n == 0 || sector >= fs->total_sectors || n > fs->total_sectors - sector)
		return -EINVAL;
	fs->counters.dev_reads++;
	fs->counters.dev_sectors += n;
	int rc = fs->read(fs->ctx, sector, buf, n);
	if (rc > 0)
		rc = -EIO; /* a callback outside the contract */
	return rc;
}

/* The cached copy of `sector` (inside the image), or NULL with *err set. */
static const uint8_t *cache_get(struct rofs *fs, uint64_t sector, int *err)
{
	struct rofs_cache_line *victim = &fs->cache[0];

	for (unsigned i = 0; i < ROFS_CACHE_LINES; i++) {
		struct rofs_cache_line *l = &fs->cache[i];
		if (l->used && l->sector == sector) {
			l->used = ++fs->stamp;
			fs->counters.cache_hits++;
			return l->data;
		}
		if (l->used < victim->used)
			victim = l;
	}
	fs->counters.cache_misses++;
	victim->used = 0;
	int rc = dev_read(fs, sector, victim->data, 1);
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	victim->sector = sector;
	victim->used = ++fs->stamp;
	return victim->data;
}

/* Copy `len` bytes at byte `off` of the region starting at `base` sector. */
static int region_copy(struct rofs *fs, uint64_t base, uint64_t off, void *dst, size_t len)
{
	uint8_t *out = dst;
	int err = 0;

	while (len > 0) {
		uint64_t sector = base + off / ROFS_SECTOR;
		size_t in = off % ROFS_SECTOR;
		size_t n = ROFS_SECTOR - in;
		if (n > len)
			n = len;
		const uint8_t *p = cache_get(fs, sector, &err);
		if (!p)
			return err;
		memcpy(out, p + in, n);
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- checks ------------------------------------------------------------------ */

static const uint32_t *crc_table(void)
{
	static uint32_t table[256];
	static bool ready;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	return table;
}

uint32_t rofs_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t *t = crc_table();
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = t[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int rofs_path_check(const char *path, size_t len)
{
	size_t comp = 0, depth = 0;

	if (len > ROFS_PATH_MAX)
		return -ENAMETOOLONG;
	if (len == 0)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] == '\0')
			return -EINVAL;
		if (i < len && path[i] != '/') {
			comp++;
			continue;
		}
		/* end of a component at i */
		if (comp == 0)
			return -EINVAL; /* leading, trailing or double '/' */
		const char *c = path + i - comp;
		if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (++depth > ROFS_DEPTH_MAX)
			return -ENAMETOOLONG;
		comp = 0;
	}
	return 0;
}

/* Bytewise order, a proper prefix first: the order denali-mkfs sorts in. */
static int path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* Entry `index`, its fields checked against the mounted geometry. */
static int dirent_get(struct rofs *fs, uint32_t index, struct rofs_dirent *d)
{
	int err = 0;

	if (index >= fs->entry_count)
		return -EINVAL;
	const uint8_t *p = cache_get(fs, fs->table_sector + index / ENTRIES_PER_SECTOR, &err);
	if (!p)
		return err;
	memcpy(d, p + (index % ENTRIES_PER_SECTOR) * sizeof(*d), sizeof(*d));

	if (d->name_len == 0 || d->name_len > ROFS_PATH_MAX || d->name_off > fs->names_bytes ||
	    d->name_len > fs->names_bytes - d->name_off)
		return -EINVAL;
	if (d->type == ROFS_TYPE_DIR) {
		if (d->size != 0 || d->data_sector != 0)
			return -EINVAL;
	} else if (d->type == ROFS_TYPE_FILE) {
		if (d->size == 0) {
			if (d->data_sector != 0)
				return -EINVAL;
		} else {
			uint64_t n = sectors_for(d->size);
			if (d->data_sector < fs->data_sector ||
			    d->data_sector >= fs->total_sectors ||
			    n > fs->total_sectors - d->data_sector)
				return -EINVAL;
		}
	} else {
		return -EINVAL;
	}
	return 0;
}

static int dirent_name(struct rofs *fs, const struct rofs_dirent *d, char *buf)
{
	return region_copy(fs, fs->names_sector, d->name_off, buf, d->name_len);
}

static void stat_fill(struct rofs_stat *st, uint32_t index, const struct rofs_dirent *d)
{
	st->index = index;
	st->type = d->type;
	st->size = d->size;
	st->mtime = d->mtime;
	st->crc = d->data_crc;
	st->data_sector = d->data_sector;
}

/* ---- mount ------------------------------------------------------------------- */

static int super_check(struct rofs *fs, const struct rofs_super *sb, uint64_t dev_sectors)
{
	struct rofs_super copy = *sb;

	if (memcmp(sb->magic, ROFS_MAGIC, sizeof(sb->magic)) != 0)
		return -EINVAL;
	copy.super_crc = 0;
	if (rofs_crc32(0, &copy, sizeof(copy)) != sb->super_crc)
		return -EBADMSG;
	if (sb->version != ROFS_VERSION || sb->sector_size != ROFS_SECTOR || sb->flags != 0)
		return -EINVAL;
	if (sb->entry_count > ROFS_ENTRIES_MAX ||
	    sb->names_bytes > (uint64_t)sb->entry_count * ROFS_PATH_MAX)
		return -EINVAL;
	/* The regions follow each other exactly: no overlaps, no gaps to hide in. */
	uint64_t table_sectors =
	    sectors_for((uint64_t)sb->entry_count * sizeof(struct rofs_dirent));
	if (sb->table_sector != 1 || sb->names_sector != 1 + table_sectors ||
	    sb->data_sector != sb->names_sector + sectors_for(sb->names_bytes))
		return -EINVAL;
	if (sb->total_sectors < sb->data_sector || sb->total_sectors > dev_sectors)
		return -EINVAL; /* truncated: the image claims more than the device has */

	fs->entry_count = sb->entry_count;
	fs->names_bytes = sb->names_bytes;
	fs->table_sector = sb->table_sector;
	fs->names_sector = sb->names_sector;
	fs->data_sector = sb->data_sector;
	fs->total_sectors = sb->total_sectors;
	return 0;
}

/* CRC over the whole metadata sectors [table_sector, data_sector). */
static int meta_crc(struct rofs *fs, uint32_t *crc)
{
	uint8_t buf[ROFS_SECTOR];
	uint32_t c = 0;

	for (uint64_t s = fs->table_sector; s < fs->data_sector; s++) {
		int rc = dev_read(fs, s, buf, 1);
		if (rc < 0)
			return rc;
		c = rofs_crc32(c, buf, sizeof(buf));
	}
	*crc = c;
	return 0;
}

int rofs_mount(struct rofs *fs, rofs_read_fn read, void *ctx, uint64_t dev_sectors)
{
	struct rofs_super sb;
	uint8_t sector0[ROFS_SECTOR];
	char prev[ROFS_PATH_MAX], cur[ROFS_PATH_MAX];
	size_t prev_len = 0;
	uint64_t name_end = 0;
	uint32_t crc;
	int rc;

	if (!fs || !read)
		return -EINVAL;
	memset(fs, 0, sizeof(*fs));
	fs->read = read;
	fs->ctx = ctx;
	fs->total_sectors = dev_sectors; /* until the superblock says less */
	if (dev_sectors < 1)
		return -EINVAL;
	rc = region_copy(fs, 0, 0, sector0, sizeof(sector0));
	if (rc < 0)
		goto fail;
	memcpy(&sb, sector0, sizeof(sb));
	for (size_t i = sizeof(sb); i < sizeof(sector0); i++) {
		if (sector0[i] != 0) {
			rc = -EINVAL; /* nothing may hide after the superblock */
			goto fail;
		}
	}
	rc = super_check(fs, &sb, dev_sectors);
	if (rc < 0)
		goto fail;
	cache_reset(fs); /* sector 0 was cached under the device's geometry */
	rc = meta_crc(fs, &crc);
	if (rc < 0)
		goto fail;
	if (crc != sb.meta_crc) {
		rc = -EBADMSG;
		goto fail;
	}
	for (uint32_t i = 0; i < fs->entry_count; i++) {
		struct rofs_dirent d;
		rc = dirent_get(fs, i, &d);
		if (rc < 0)
			goto fail;
		rc = dirent_name(fs, &d, cur);
		if (rc < 0)
			goto fail;
		rc = rofs_path_check(cur, d.name_len);
		if (rc < 0) {
			rc = -EINVAL;
			goto fail;
		}
		if (d.name_off != name_end) {
			rc = -EINVAL; /* names are back to back in table order */
			goto fail;
		}
		name_end += d.name_len;
		if (i > 0 && path_cmp(prev, prev_len, cur, d.name_len) >= 0) {
			rc = -EINVAL; /* unsorted or duplicate: lookups would miss */
			goto fail;
		}
		memcpy(prev, cur, d.name_len);
		prev_len = d.name_len;
	}
	if (name_end != fs->names_bytes) {
		rc = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	fs->entry_count = 0;
	fs->total_sectors = 0;
	return rc;
}

/* ---- lookups and reads --------------------------------------------------------- */

int rofs_lookup(struct rofs *fs, const char *path, size_t len, struct rofs_stat *st)
{
	char name[ROFS_PATH_MAX];
	uint32_t lo = 0, hi;
	int rc;

	if (!fs || !st || (!path && len))
		return -EINVAL;
	rc = rofs_path_check(path, len);
	if (rc < 0)
		return rc;
	if (len == 0) {
		memset(st, 0, sizeof(*st));
		st->index = ROFS_ROOT;
		st->type = ROFS_TYPE_DIR;
		return 0;
	}
	/* Binary search: at most log2(ROFS_ENTRIES_MAX) + 1 probes. */
	hi = fs->entry_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		struct rofs_dirent d;
		rc = dirent_get(fs, mid, &d);
		if (rc < 0)
			return rc;
		rc = dirent_name(fs, &d, name);
		if (rc < 0)
			return rc;
		int c = path_cmp(path, len, name, d.name_len);
		if (c == 0) {
			stat_fill(st, mid, &d);
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -ENOENT;
}

/* The file's sectors lie inside the image (st may come from anywhere). */
static int stat_check(const struct rofs *fs, const struct rofs_stat *st)
{
	if (st->type != ROFS_TYPE_FILE)
		return -EINVAL;
	if (st->size == 0)
		return 0;
	uint64_t n = sectors_for(st->size);
	if (st->data_sector < fs->data_sector || st->data_sector >= fs->total_sectors ||
	    n > fs->total_sectors - st->data_sector)
		return -EINVAL;
	return 0;
}

int64_t rofs_pread(struct rofs *fs, const struct rofs_stat *st, uint64_t off, void *buf, size_t len)
{
	uint8_t *out = buf;
	int rc;

	if (!fs || !st || (!buf && len))
		return -EINVAL;
	rc = stat_check(fs, st);
	if (rc < 0)
		return rc;
	if (off >= st->size)
		return 0;
	if (len > st->size - off)
		len = st->size - off;
	if (len > INT64_MAX)
		len = INT64_MAX;
	size_t left = len;
	while (left > 0) {
		size_t in = off % ROFS_SECTOR;
		if (in == 0 && left >= ROFS_SECTOR) {
			/* Whole sectors go straight to the caller's buffer. */
			uint64_t n = left / ROFS_SECTOR;
			if (n > ROFS_IO_MAX)
				n = ROFS_IO_MAX;
			rc = dev_read(fs, st->data_sector + off / ROFS_SECTOR, out, (uint32_t)n);
			if (rc < 0)
				return rc;
			n *= ROFS_SECTOR;
			out += n;
			off += n;
			left -= n;
			continue;
		}
		size_t n = ROFS_SECTOR - in;
		if (n > left)
			n = left;
		rc = region_copy(fs, st->data_sector, off, out, n);
		if (rc < 0)
			return rc;
		out += n;
		off += n;
		left -= n;
	}
	return (int64_t)len;
}

int rofs_verify(struct rofs *fs, const struct rofs_stat *st)
{
	uint8_t buf[ROFS_SECTOR];
	uint32_t crc = 0;
	uint64_t off = 0;

	if (!fs || !st)
		return -EINVAL;
	int rc = stat_check(fs, st);
	if (rc < 0)
		return rc;
	while (off < st->size) {
		int64_t n = rofs_pread(fs, st, off, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EINVAL;
		crc = rofs_crc32(crc, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return crc == st->crc ? 0 : -EBADMSG;
}

int rofs_entry(struct rofs *fs, uint32_t index, struct rofs_stat *st, char *name, size_t cap)
{
	struct rofs_dirent d;

	if (!fs || !st || !name || cap <= ROFS_PATH_MAX)
		return -EINVAL;
	int rc = dirent_get(fs, index, &d);
	if (rc < 0)
		return rc;
	rc = dirent_name(fs, &d, name);
	if (rc < 0)
		return rc;
	name[d.name_len] = '\0';
	stat_fill(st, index, &d);
	return 0;
}

/*
 * The site's whole-file cache (see http_cache.h).
 */
#include "http_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void http_cache_init(struct http_cache *c, uint64_t budget)
{
	memset(c, 0, sizeof(*c));
	c->budget = budget;
}

static void slot_drop(struct http_cache *c, struct http_cache_slot *s)
{
	c->bytes -= s->st.size;
	free(s->data);
	s->data = NULL;
	s->used = 0;
}

void http_cache_free(struct http_cache *c)
{
	for (unsigned i = 0; i < HTTP_CACHE_SLOTS; i++)
		if (c->slot[i].used)
			slot_drop(c, &c->slot[i]);
}

static bool same_file(const struct rofs_stat *a, const struct rofs_stat *b)
{
	return a->index == b->index && a->size == b->size && a->data_sector == b->data_sector &&
	       a->crc == b->crc && a->mtime == b->mtime;
}

/* The least recently used slot in use, or NULL. */
static struct http_cache_slot *lru(struct http_cache *c)
{
	struct http_cache_slot *v = NULL;

	for (unsigned i = 0; i < HTTP_CACHE_SLOTS; i++)
		if (c->slot[i].used && (!v || c->slot[i].used < v->used))
			v = &c->slot[i];
	return v;
}

static struct http_cache_slot *free_slot(struct http_cache *c)
{
	for (unsigned i = 0; i < HTTP_CACHE_SLOTS; i++)
		if (!c->slot[i].used)
			return &c->slot[i];
	return NULL;
}

/* Bring `st` in: its slot, or NULL (the caller reads from the disk). */
static struct http_cache_slot *load(struct http_cache *c, struct rofs *fs,
				    const struct rofs_stat *st)
{
	struct http_cache_slot *s;

	if (st->size == 0 || st->size > HTTP_CACHE_FILE_MAX || st->size > c->budget)
		return NULL;
	while (c->bytes + st->size > c->budget || !free_slot(c)) {
		slot_drop(c, lru(c));
		c->stats.evictions++;
	}
	uint8_t *data = malloc(st->size);
	if (!data)
		return NULL;
	/* Whole, and what the image says it is: a device that changed or
	 * fails is left to the uncached path, which reports it as before. */
	if (rofs_pread(fs, st, 0, data, st->size) != (int64_t)st->size ||
	    rofs_crc32(0, data, st->size) != st->crc) {
		free(data);
		return NULL;
	}
	s = free_slot(c);
	s->st = *st;
	s->data = data;
	c->bytes += st->size;
	c->stats.loads++;
	return s;
}

int64_t http_cache_pread(struct http_cache *c, struct rofs *fs, const struct rofs_stat *st,
			 uint64_t off, void *buf, size_t len)
{
	struct http_cache_slot *s = NULL;

	if (c && c->budget && st && st->type == ROFS_TYPE_FILE) {
		for (unsigned i = 0; i < HTTP_CACHE_SLOTS && !s; i++)
			if (c->slot[i].used && same_file(&c->slot[i].st, st))
				s = &c->slot[i];
		if (s)
			c->stats.hits++;
		else
			s = load(c, fs, st);
	}
	if (!s) {
		if (c)
			c->stats.bypass++;
		return rofs_pread(fs, st, off, buf, len);
	}
	s->used = ++c->stamp;
	if (off >= s->st.size)
		return 0;
	if (len > s->st.size - off)
		len = (size_t)(s->st.size - off);
	memcpy(buf, s->data + off, len);
	return (int64_t)len;
}

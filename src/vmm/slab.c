/* Dense per-kind record slabs (slab.h). */
#include "slab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

void *slab_zalloc(struct slab *s)
{
	void *p;

	pthread_mutex_lock(&s->lock);
	p = s->free;
	if (p) {
		memcpy(&s->free, p, sizeof(void *));
	} else {
		if (s->left < s->size) {
			void *c = mmap(NULL, SLAB_CHUNK, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (c == MAP_FAILED) {
				pthread_mutex_unlock(&s->lock);
				errno = ENOMEM;
				return NULL;
			}
			s->cur = c; /* the tail of the old chunk (< size) is left */
			s->left = SLAB_CHUNK;
			s->bytes += SLAB_CHUNK;
		}
		p = s->cur;
		s->cur += s->size;
		s->left -= s->size;
	}
	s->used++;
	pthread_mutex_unlock(&s->lock);
	/* Written before it is read: a fresh page is never first mapped as the zero page
	 * (no copy-on-write break later, see guest_mem.h). */
	memset(p, 0, s->size);
	return p;
}

void slab_free(struct slab *s, void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&s->lock);
	memcpy(p, &s->free, sizeof(void *));
	s->free = p;
	s->used--;
	pthread_mutex_unlock(&s->lock);
}

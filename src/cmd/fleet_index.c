/*
 * The registry's list of VMs with O(1) insertion, removal and lookup by name
 * (a chained hash table, doubled as it fills): with 100,000 registered, a
 * linear scan per start or stop made registration quadratic (issue 10).
 * Under f->lock, like the list itself.
 */
#include "fleet_impl.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MIN 1024u

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/* Rehashes into cap buckets (a power of two); keeps the old table if out of memory. */
static void index_grow(struct fleet *f, size_t cap)
{
	struct fleet_vm **t = calloc(cap, sizeof(*t));

	if (!t)
		return;
	for (size_t i = 0; i < f->index_cap; i++) {
		for (struct fleet_vm *v = f->index[i], *next; v; v = next) {
			size_t b = name_hash(v->task.vm->name) & (cap - 1);

			next = v->hnext;
			v->hnext = t[b];
			t[b] = v;
		}
	}
	free(f->index);
	f->index = t;
	f->index_cap = cap;
}

void fleet_link(struct fleet *f, struct fleet_vm *v)
{
	size_t b;

	v->next = f->vms;
	if (f->vms)
		f->vms->pprev = &v->next;
	v->pprev = &f->vms;
	f->vms = v;
	f->linked++;
	if (f->index_n + 1 > f->index_cap)
		index_grow(f, f->index_cap ? f->index_cap * 2 : INDEX_MIN);
	if (!f->index_cap) { /* no table at all (out of memory): list only */
		v->hnext = NULL;
		return;
	}
	b = name_hash(v->task.vm->name) & (f->index_cap - 1);
	v->hnext = f->index[b];
	f->index[b] = v;
	f->index_n++;
}

void fleet_unlink(struct fleet *f, struct fleet_vm *v)
{
	*v->pprev = v->next;
	if (v->next)
		v->next->pprev = v->pprev;
	v->next = NULL;
	v->pprev = NULL;
	f->linked--;
	if (!f->index_cap)
		return;
	for (struct fleet_vm **pp = &f->index[name_hash(v->task.vm->name) & (f->index_cap - 1)];
	     *pp; pp = &(*pp)->hnext) {
		if (*pp == v) {
			*pp = v->hnext;
			f->index_n--;
			break;
		}
	}
	v->hnext = NULL;
}

struct fleet_vm *fleet_find(struct fleet *f, const char *name)
{
	if (!f->index_cap || f->index_n != f->linked) {
		for (struct fleet_vm *v = f->vms; v; v = v->next)
			if (!strcmp(v->task.vm->name, name))
				return v;
		return NULL;
	}
	for (struct fleet_vm *v = f->index[name_hash(name) & (f->index_cap - 1)]; v; v = v->hnext)
		if (!strcmp(v->task.vm->name, name))
			return v;
	return NULL;
}

void fleet_index_free(struct fleet *f)
{
	free(f->index);
	f->index = NULL;
	f->index_cap = f->index_n = 0;
}

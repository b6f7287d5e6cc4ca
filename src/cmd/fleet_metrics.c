/*
 * The registry's per-VM rows for the metrics view: at most max VMs, those
 * that used the most CPU, so that a scrape of a daemon with 100,000 VMs stays
 * small. Chosen under the registry lock with a bounded heap (no list of all
 * VMs is built, no mincore, no console copy).
 */
#include "fleet_impl.h"

#include "counters_json.h"

#include <stdlib.h>
#include <string.h>

/* Orders VMs: more CPU first, then by name (a stable choice between equals). */
static int vm_before(const struct fleet_vm *a, const struct fleet_vm *b)
{
	uint64_t ca = a->task.vm->ctr.cpu_ns, cb = b->task.vm->ctr.cpu_ns;

	if (ca != cb)
		return ca > cb;
	return strcmp(a->task.vm->name, b->task.vm->name) < 0;
}

/* heap[0] is the VM that would leave first (the "smallest"). */
static void sift_down(struct fleet_vm **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < n && vm_before(h[m], h[l]))
			m = l;
		if (r < n && vm_before(h[m], h[r]))
			m = r;
		if (m == i)
			return;
		struct fleet_vm *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int cmp_rows(const void *a, const void *b)
{
	const struct fleet_vm *x = *(struct fleet_vm *const *)a, *y = *(struct fleet_vm *const *)b;

	return vm_before(x, y) ? -1 : vm_before(y, x) ? 1 : 0;
}

static json_t *vm_row(const struct fleet_vm *v)
{
	const struct vm *vm = v->task.vm;
	enum vm_status st = __atomic_load_n(&vm->status, __ATOMIC_ACQUIRE);

	return json_pack("{s:s, s:I, s:s, s:i, s:o, s:I, s:I, s:I}", "name", vm->name, "id",
			 (json_int_t)vm->id, "state", vm_status_name(st), "worker",
			 v->task.w ? v->task.w->id : -1, "counters", counters_json(&vm->ctr),
			 "console_bytes", (json_int_t)vm->console.written, "console_dropped",
			 (json_int_t)vm->console.dropped, "mem_bytes", (json_int_t)vm->mem_size);
}

json_t *fleet_json_metrics_vms(void *ctx, unsigned max)
{
	struct fleet *f = ctx;
	struct fleet_vm **heap = NULL;
	json_t *rows = json_array(), *out;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&f->lock);
	if (max && f->vms) {
		cap = max < f->nvms ? max : f->nvms;
		heap = calloc(cap ? cap : 1, sizeof(*heap));
	}
	for (struct fleet_vm *v = f->vms; v && heap && cap; v = v->next) {
		if (n < cap) {
			/* Build up, keeping the heap property: sift up. */
			size_t i = n++;

			heap[i] = v;
			while (i && vm_before(heap[(i - 1) / 2], heap[i])) {
				struct fleet_vm *t = heap[i];

				heap[i] = heap[(i - 1) / 2];
				heap[(i - 1) / 2] = t;
				i = (i - 1) / 2;
			}
		} else if (vm_before(v, heap[0])) {
			heap[0] = v;
			sift_down(heap, n, 0);
		}
	}
	if (n)
		qsort(heap, n, sizeof(*heap), cmp_rows);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(rows, vm_row(heap[i]));
	out = json_pack("{s:o, s:I}", "vms", rows, "registered", (json_int_t)f->nvms);
	pthread_mutex_unlock(&f->lock);
	free(heap);
	return out;
}

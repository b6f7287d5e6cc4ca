/*
 * struct vm <-> swap slot. The device blob (host-endian, versioned):
 * blob_hdr, console history (the latest console_len bytes of output),
 * then for each of the VM's devices in order: dev_hdr and its save() bytes.
 */
#include "vm_swap.h"

#include "swap.h"

#include "../vmm/guest_mem.h"
#include "../vmm/shell.h"
#include "../vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOB_MAGIC "DVMB"
/* 2: guest ABI 3 (rings of 128 slots): the ring positions saved here, and
 * the guest in the slot, belong to that layout; an older slot is refused. */
#define BLOB_VERSION 2u
#define DEV_SAVE_MAX (16u << 10)

struct blob_hdr {
	char magic[4];
	uint32_t version;
	uint32_t status;
	int32_t exit_code;
	uint64_t deadline_ns;
	uint64_t idle_gpa;
	uint64_t pending;
	uint64_t console_written;
	uint64_t console_dropped;
	uint32_t console_len;
	uint32_t ndev;
};

struct dev_hdr {
	char kind[16];
	uint32_t len;
	uint32_t pad;
};

/* Serialises the monitor's and the devices' state into a malloc'd blob. */
int vm_swap_blob_build(struct vm *vm, uint8_t **out, uint32_t *len)
{
	size_t cap = sizeof(struct blob_hdr) + CONSOLE_BUF_SIZE +
		     vm->ndev * (sizeof(struct dev_hdr) + DEV_SAVE_MAX);
	struct console_dev *c = &vm->console;
	uint8_t *b = malloc(cap), *p;
	struct blob_hdr h = {0};
	uint64_t from, next;

	if (!b)
		return -ENOMEM;
	memcpy(h.magic, BLOB_MAGIC, 4);
	h.version = BLOB_VERSION;
	h.status = vm->status;
	h.exit_code = vm->exit_code;
	h.deadline_ns = vm->deadline_ns;
	h.idle_gpa = vm->idle_gpa;
	h.pending = __atomic_load_n(&vm->pending, __ATOMIC_ACQUIRE);
	h.ndev = vm->ndev;
	p = b + sizeof(h);
	/* The VM is stopped: only readers on other threads, and console_read()
	 * takes the lock. */
	pthread_mutex_lock(&c->lock);
	h.console_written = c->written;
	h.console_dropped = c->dropped;
	pthread_mutex_unlock(&c->lock);
	from = h.console_written > CONSOLE_BUF_SIZE ? h.console_written - CONSOLE_BUF_SIZE : 0;
	h.console_len = (uint32_t)console_read(c, from, (char *)p, CONSOLE_BUF_SIZE, &next);
	if (next != h.console_written)
		h.console_len = 0; /* cannot happen while stopped; never save a torn history */
	p += h.console_len;
	for (unsigned i = 0; i < vm->ndev; i++) {
		const struct device_ops *ops = vm->dev[i]->ops;
		struct dev_hdr d = {{0}, 0, 0};

		snprintf(d.kind, sizeof(d.kind), "%s", ops->kind);
		d.len =
		    ops->save ? (uint32_t)ops->save(vm->dev[i], p + sizeof(d), DEV_SAVE_MAX) : 0;
		memcpy(p, &d, sizeof(d));
		p += sizeof(d) + d.len;
	}
	memcpy(b, &h, sizeof(h));
	*out = b;
	*len = (uint32_t)(p - b);
	return *len > SWAP_DEV_MAX ? -E2BIG : 0;
}

static int blob_fail(char *err, size_t errlen, const char *vm, const char *what)
{
	snprintf(err, errlen, "vm %s: swap-in: %s", vm, what);
	return -EINVAL;
}

int vm_swap_blob_devices(const uint8_t *b, uint32_t len, char *kinds, size_t cap)
{
	const uint8_t *p, *end = b + len;
	struct blob_hdr h;
	size_t used = 0;

	if (cap)
		kinds[0] = 0;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, b, sizeof(h));
	if (memcmp(h.magic, BLOB_MAGIC, 4) || h.version != BLOB_VERSION || h.ndev > VM_DEV_MAX ||
	    h.console_len > len - sizeof(h))
		return -EINVAL;
	p = b + sizeof(h) + h.console_len;
	for (unsigned i = 0; i < h.ndev; i++) {
		struct dev_hdr d;

		if ((size_t)(end - p) < sizeof(d))
			return -EINVAL;
		memcpy(&d, p, sizeof(d));
		if (!memchr(d.kind, 0, sizeof(d.kind)) || d.len > (size_t)(end - p) - sizeof(d))
			return -EINVAL;
		if (cap && used < cap) {
			int k = snprintf(kinds + used, cap - used, "%s%s", i ? "," : "", d.kind);

			used += k > 0 ? (size_t)k : 0;
		}
		p += sizeof(d) + d.len;
	}
	return (int)h.ndev;
}

/* Checks every field of a blob against the VM before applying any. */
int vm_swap_blob_apply(struct vm *vm, const uint8_t *b, uint32_t len, char *err, size_t errlen)
{
	struct console_dev *c = &vm->console;
	const uint8_t *p, *end = b + len;
	struct blob_hdr h;

	if (len < sizeof(h))
		return blob_fail(err, errlen, vm->name, "device state truncated");
	memcpy(&h, b, sizeof(h));
	if (memcmp(h.magic, BLOB_MAGIC, 4) || h.version != BLOB_VERSION)
		return blob_fail(err, errlen, vm->name, "device state of another version");
	if (h.status != VM_IDLE && h.status != VM_RUNNABLE)
		return blob_fail(err, errlen, vm->name, "saved while not idle or runnable");
	if (h.status == VM_IDLE && (h.idle_gpa >= vm->mem_size || h.idle_gpa < 4096))
		return blob_fail(err, errlen, vm->name, "idle block outside guest memory");
	if (h.console_len > CONSOLE_BUF_SIZE || h.console_len > h.console_written ||
	    h.console_len > len - sizeof(h))
		return blob_fail(err, errlen, vm->name, "console history size");
	if (h.ndev != vm->ndev)
		return blob_fail(err, errlen, vm->name, "device count differs");
	/* Walk the device records once to check their frames. */
	p = b + sizeof(h) + h.console_len;
	for (unsigned i = 0; i < h.ndev; i++) {
		struct dev_hdr d;

		if ((size_t)(end - p) < sizeof(d))
			return blob_fail(err, errlen, vm->name, "device record truncated");
		memcpy(&d, p, sizeof(d));
		if (!memchr(d.kind, 0, sizeof(d.kind)) || strcmp(d.kind, vm->dev[i]->ops->kind) ||
		    d.len > (size_t)(end - p) - sizeof(d))
			return blob_fail(err, errlen, vm->name, "device record kind or size");
		p += sizeof(d) + d.len;
	}
	if (p != end)
		return blob_fail(err, errlen, vm->name, "trailing device state");
	p = b + sizeof(h) + h.console_len;
	for (unsigned i = 0; i < h.ndev; i++) {
		const struct device_ops *ops = vm->dev[i]->ops;
		struct dev_hdr d;

		memcpy(&d, p, sizeof(d));
		if (ops->restore ? ops->restore(vm->dev[i], p + sizeof(d), d.len)
		    : d.len	 ? -EINVAL
				 : 0)
			return blob_fail(err, errlen, vm->name, "a device refused its state");
		p += sizeof(d) + d.len;
	}
	pthread_mutex_lock(&c->lock);
	/* Adopted by a new daemon (this console has seen nothing of the history): what came
	 * before was the old daemon's to log, not output this one lost. */
	if (c->written == 0 && c->log.pos == 0 && c->log.bytes == 0 && c->log.lost == 0)
		c->log.pos = h.console_written;
	c->written = h.console_written;
	c->dropped = h.console_dropped;
	/* Only the saved tail is output of this VM: the rest of the ring is not to be read. */
	c->kept_from = h.console_written - h.console_len;
	if (h.console_len && (c->buf || (c->buf = malloc(CONSOLE_BUF_SIZE)))) {
		uint64_t from = h.console_written - h.console_len;

		for (uint32_t i = 0; i < h.console_len; i++)
			c->buf[(from + i) % CONSOLE_BUF_SIZE] = (char)b[sizeof(h) + i];
	}
	if (c->buf || !h.console_len) { /* the whole history is back: the tail is not needed */
		free(c->tail);
		c->tail = NULL;
		c->tail_len = 0;
	}
	pthread_mutex_unlock(&c->lock);
	vm->status = (enum vm_status)h.status;
	vm->exit_code = h.exit_code;
	vm->deadline_ns = h.deadline_ns;
	vm->idle_gpa = h.idle_gpa;
	__atomic_fetch_or(&vm->pending, h.pending, __ATOMIC_RELEASE);
	return 0;
}

int vm_swap_out(struct vm *vm, struct swap *sw, uint64_t slot, struct swap_record *rec, char *err,
		size_t errlen)
{
	struct swap_image img;
	uint8_t *blob = NULL;
	uint32_t blob_len;
	int rc;

	if (!vm->mem || !vm->state) {
		snprintf(err, errlen, "vm %s: swap-out: no memory to write", vm->name);
		return -EINVAL;
	}
	if (vm->shell) {
		rc = shell_save(vm->shell, vm->state);
		if (rc) {
			snprintf(err, errlen, "vm %s: reading vCPU state: %s", vm->name,
				 strerror(-rc));
			return rc;
		}
	}
	vm_quiesce_devices(vm);
	rc = vm_swap_blob_build(vm, &blob, &blob_len);
	if (rc) {
		snprintf(err, errlen, "vm %s: device state: %s", vm->name, strerror(-rc));
		free(blob);
		return rc;
	}
	img = (struct swap_image){vm->id, vm->mem, vm->mem_size, vm->state, sizeof(*vm->state),
				  blob,	  blob_len};
	rc = swap_write(sw, slot, &img, rec, err, errlen);
	free(blob);
	if (rc)
		return rc;
	/* Durable in the slot: nothing of it stays in host memory. */
	vm->shell = NULL;
	vm_swap_release(vm);
	return 0;
}

void vm_swap_release(struct vm *vm)
{
	/* With other swapped VMs' regions: neighbours are freed in one call. */
	guest_mem_free_later(vm->mem, vm->mem_size);
	vm->mem = NULL;
	vm->vregs = NULL;
	vm->shared = NULL;
	free(vm->state);
	vm->state = NULL;
	/* The ring goes (its history is in the slot); a short tail stays for the
	 * console log and readers that had not caught up. */
	console_shrink(&vm->console, VM_SWAP_CONSOLE_KEEP);
	/* A NIC's receive queue goes too (frames are held, bounded, meanwhile). */
	vm_park_devices(vm);
}

int vm_swap_peek(struct vm *vm, struct swap *sw, const struct swap_record *rec, uint64_t *deadline,
		 char *err, size_t errlen)
{
	uint8_t *blob = malloc(rec->dev_len ? rec->dev_len : 1);
	struct blob_hdr h;
	int rc;

	if (!blob)
		return -ENOMEM;
	rc = swap_read_meta(sw, rec, vm->id, vm->mem_size, blob, SWAP_DEV_MAX, err, errlen);
	if (!rc && (rec->dev_len < sizeof(h) || memcmp(blob, BLOB_MAGIC, 4)))
		rc = blob_fail(err, errlen, vm->name, "device state of another kind");
	if (!rc) {
		memcpy(&h, blob, sizeof(h));
		if (h.version != BLOB_VERSION || h.ndev != vm->ndev)
			rc = blob_fail(err, errlen, vm->name,
				       "device state of another version or device count");
		else
			*deadline = h.status == VM_IDLE ? h.deadline_ns : 0;
	}
	free(blob);
	return rc;
}

int vm_swap_in(struct vm *vm, struct swap *sw, const struct swap_record *rec, char *err,
	       size_t errlen)
{
	struct swap_image img;
	uint8_t *mem = NULL, *blob = NULL;
	struct vcpu_state *st = NULL;
	int rc;

	if (vm->mem || vm->shell || rec->state_len != sizeof(*st)) {
		snprintf(err, errlen, "vm %s: swap-in: VM is resident or its record is bad",
			 vm->name);
		return -EINVAL;
	}
	rc = guest_mem_alloc(vm->mem_size, &mem);
	if (rc) {
		snprintf(err, errlen, "vm %s: swap-in: guest memory: %s", vm->name, strerror(-rc));
		return rc;
	}
	st = malloc(sizeof(*st));
	blob = malloc(rec->dev_len ? rec->dev_len : 1);
	if (!st || !blob) {
		rc = -ENOMEM;
		snprintf(err, errlen, "vm %s: swap-in: out of memory", vm->name);
		goto fail;
	}
	img =
	    (struct swap_image){vm->id, mem, vm->mem_size, st, rec->state_len, blob, rec->dev_len};
	rc = swap_read(sw, rec, &img, err, errlen);
	if (rc)
		goto fail;
	/* Checksummed and written by us, and checked anyway: a slot file is
	 * outside this process. */
	rc = vcpu_state_check(st, vm->mem_size, err, errlen);
	if (rc)
		goto fail;
	vm->mem = mem;
	rc = vm_swap_blob_apply(vm, blob, img.dev_len, err, errlen);
	if (rc) {
		vm->mem = NULL;
		goto fail;
	}
	rc = vm_unpark_devices(vm);
	if (rc) {
		vm->mem = NULL;
		snprintf(err, errlen, "vm %s: swap-in: its devices: %s", vm->name, strerror(-rc));
		goto fail;
	}
	vm->vregs = (struct denali_vregs *)(mem + DENALI_VREGS_GPA);
	vm->shared = (struct denali_shared *)(mem + DENALI_SHARED_GPA);
	vm->state = st;
	vm->need_load = 1;
	free(blob);
	return 0;
fail:
	guest_mem_free(mem, vm->mem_size);
	free(st);
	free(blob);
	return rc;
}

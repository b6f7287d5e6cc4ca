/*
 * Snapshots (format in snapshot.h): what the guest owns is saved, what the
 * monitor owns is rebuilt on load, and everything read is checked.
 */
#include "snapshot.h"

#include "fdio.h"
#include "gpa.h"
#include "guest_mem.h"
#include "shell.h"
#include "vm.h"
#include "x86.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void snapshot_pages_to_scan(const uint8_t *mem, uint64_t size, unsigned char *vec)
{
	if (!guest_mem_is_shared() || mincore((void *)mem, size, vec) < 0)
		memset(vec, 1, size / 4096); /* host swap, or cannot tell: every page */
}

int snapshot_save(struct vm *vm, int fd, char *err, size_t errlen)
{
	uint64_t npages = vm->mem_size / 4096, saved = 0;
	struct snap_header h;
	unsigned char *res;
	int rc;

	if (!vm->shell) {
		snprintf(err, errlen, "vm %s: not bound to a shell", vm->name);
		return -EINVAL;
	}
	rc = shell_save(vm->shell, vm->state);
	if (rc) {
		snprintf(err, errlen, "vm %s: reading vCPU state: %s", vm->name, strerror(-rc));
		return rc;
	}
	res = malloc(npages);
	if (!res)
		return -ENOMEM;
	snapshot_pages_to_scan(vm->mem, vm->mem_size, res);
	for (uint64_t i = 1; i < npages; i++)
		if ((res[i] & 1) && !gpa_page_is_private(i) &&
		    !guest_page_is_zero(vm->mem + i * 4096))
			saved++;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAP_MAGIC, 8);
	h.version = SNAP_VERSION;
	h.state_size = sizeof(*vm->state);
	h.mem_size = vm->mem_size;
	h.id = vm->id;
	memcpy(h.name, vm->name, sizeof(h.name));
	h.status = vm->status;
	h.exit_code = vm->exit_code;
	h.deadline_ns = vm->deadline_ns;
	h.idle_gpa = vm->idle_gpa;
	h.console_cons = vm->console.cons;
	h.console_written = vm->console.written;
	h.npages = saved;
	rc = fdio_write(fd, &h, sizeof(h), -1);
	if (!rc)
		rc = fdio_write(fd, vm->state, sizeof(*vm->state), -1);
	for (uint64_t i = 1; !rc && i < npages; i++) {
		if (!(res[i] & 1) || gpa_page_is_private(i) ||
		    guest_page_is_zero(vm->mem + i * 4096))
			continue;
		rc = fdio_write(fd, &i, sizeof(i), -1);
		if (!rc)
			rc = fdio_write(fd, vm->mem + i * 4096, 4096, -1);
	}
	free(res);
	if (rc) {
		snprintf(err, errlen, "vm %s: writing snapshot: %s", vm->name, strerror(-rc));
		return rc;
	}
	vm->shell = NULL;
	guest_mem_free(vm->mem, vm->mem_size);
	vm->mem = NULL;
	vm->vregs = NULL;
	vm->shared = NULL;
	vm->need_load = 1;
	return 0;
}

static int fail(char *err, size_t errlen, int rc, const char *what)
{
	snprintf(err, errlen, "snapshot: %s", what);
	return rc;
}

int snapshot_load(int fd, struct vm *vm, struct vm **out, char *err, size_t errlen)
{
	struct snap_header h;
	struct vm *fresh = NULL;
	char why[200] = "";
	uint8_t *mem;
	int rc;

	rc = fdio_read(fd, &h, sizeof(h), -1);
	if (rc)
		return fail(err, errlen, rc, "truncated header");
	if (memcmp(h.magic, SNAP_MAGIC, 8) || h.version != SNAP_VERSION)
		return fail(err, errlen, -EINVAL, "not a denali snapshot of this version");
	if (h.state_size != sizeof(struct vcpu_state))
		return fail(err, errlen, -EINVAL, "vCPU state size differs from this build");
	if (!denali_mem_size_ok(h.mem_size))
		return fail(err, errlen, -EINVAL, "bad memory size: not " DENALI_MEM_RULE);
	if (h.npages > h.mem_size / 4096 || h.status > VM_KILLED || !memchr(h.name, 0, 64))
		return fail(err, errlen, -EINVAL, "bad header fields");
	if (!vm) {
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh || !(fresh->state = malloc(sizeof(*fresh->state)))) {
			free(fresh);
			return -ENOMEM;
		}
		vm = fresh;
		vm_init_devices(vm);
		vm->created_ns = vm_now_ns();
	}
	rc = guest_mem_alloc(h.mem_size, &mem);
	if (rc) {
		rc = fail(err, errlen, rc, "cannot map guest memory");
		goto out_free;
	}
	rc = fdio_read(fd, vm->state, sizeof(*vm->state), -1);
	if (rc) {
		guest_mem_free(mem, h.mem_size);
		rc = fail(err, errlen, rc, "truncated vCPU state");
		goto out_free;
	}
	rc = vcpu_state_check(vm->state, h.mem_size, why, sizeof(why));
	if (rc) {
		guest_mem_free(mem, h.mem_size);
		snprintf(err, errlen, "snapshot: vCPU state refused: %s", why);
		goto out_free;
	}
	for (uint64_t i = 0, last = 0; !rc && i < h.npages; i++) {
		uint64_t pn;

		rc = fdio_read(fd, &pn, sizeof(pn), -1);
		if (!rc && (pn <= last || pn >= h.mem_size / 4096 || gpa_page_is_private(pn))) {
			snprintf(why, sizeof(why),
				 "page number 0x%lx: page 0, beyond memory, out of order or "
				 "monitor-private",
				 pn);
			rc = -EINVAL;
		}
		if (!rc)
			rc = fdio_read(fd, mem + pn * 4096, 4096, -1);
		last = pn;
	}
	/* The monitor's own pages, as vm_create builds them (the file has none). */
	if (!rc)
		rc = x86_build_tables(mem, h.mem_size);
	if (rc) {
		guest_mem_free(mem, h.mem_size);
		snprintf(err, errlen, "snapshot: %s",
			 why[0] ? why : "truncated or corrupt page data");
		goto out_free;
	}
	vm->mem = mem;
	vm->mem_size = h.mem_size;
	vm->vregs = (struct denali_vregs *)(mem + DENALI_VREGS_GPA);
	vm->shared = (struct denali_shared *)(mem + DENALI_SHARED_GPA);
	vm->id = h.id;
	/* The monitor-owned vregs header and this host's clock rate, whatever
	 * the file's vregs page says. */
	vm->vregs->magic = DENALI_VREGS_MAGIC;
	vm->vregs->abi_version = DENALI_ABI_VERSION;
	vm->vregs->vm_id = vm->id;
	vm->vregs->mem_size = vm->mem_size;
	vm_set_clock_rate(vm);
	memcpy(vm->name, h.name, sizeof(vm->name));
	vm->status = (enum vm_status)h.status;
	vm->exit_code = h.exit_code;
	vm->deadline_ns = h.deadline_ns;
	vm->idle_gpa = h.idle_gpa;
	vm->console.cons = h.console_cons;
	vm->need_load = 1;
	vm->shell = NULL;
	if (out)
		*out = vm;
	return 0;
out_free:
	if (fresh) {
		free(fresh->state);
		free(fresh);
	}
	return rc;
}

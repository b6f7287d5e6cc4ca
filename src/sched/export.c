/*
 * Export/import of one VM (format in export.h). Not a hot path: plain
 * pread/pwrite, the whole file checked before any of it is used.
 */
#include "export.h"

#include "crc32c.h"
#include "swap.h"
#include "vm_swap.h"

#include "../vmm/fdio.h"
#include "../vmm/gpa.h"
#include "../vmm/guest_mem.h"
#include "../vmm/shell.h"
#include "../vmm/vm.h"
#include "../vmm/x86.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct export_header) == 120, "export header layout");

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return rc;
}

int vm_export(struct vm *vm, const char *path, char *err, size_t errlen)
{
	uint8_t *blob = NULL;
	uint32_t blob_len = 0;
	int rc;

	if (!vm->mem || !vm->state) {
		snprintf(err, errlen, "vm %s: export: not resident", vm->name);
		return -EINVAL;
	}
	if (vm->shell && (rc = shell_save(vm->shell, vm->state))) {
		snprintf(err, errlen, "vm %s: export: reading vCPU state: %s", vm->name,
			 strerror(-rc));
		return rc;
	}
	rc = vm_swap_blob_build(vm, &blob, &blob_len);
	if (rc) {
		snprintf(err, errlen, "vm %s: export to %s: %s", vm->name, path, strerror(-rc));
		free(blob);
		return rc;
	}
	rc = export_write(path, vm->name, vm->id, vm->mem, vm->mem_size, vm->state, blob, blob_len,
			  err, errlen);
	free(blob);
	return rc;
}

int export_write(const char *path, const char *name, uint64_t vm_id, const uint8_t *mem,
		 uint64_t mem_size, const struct vcpu_state *state, const uint8_t *blob,
		 uint32_t blob_len, char *err, size_t errlen)
{
	uint64_t total = mem_size / SWAP_PAGE;
	struct export_header h = {0};
	uint32_t *table = NULL, n = 0, crc;
	char tmp[4096];
	off_t off;
	int fd = -1, rc = 0;

	table = malloc(total * sizeof(*table));
	if (!table) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 1; i < total; i++)
		if (!gpa_page_is_private(i) && !guest_page_is_zero(mem + (uint64_t)i * SWAP_PAGE))
			table[n++] = i;
	memcpy(h.magic, EXPORT_MAGIC, 8);
	h.version = EXPORT_VERSION;
	h.abi_version = DENALI_ABI_VERSION;
	h.npages = n;
	h.mem_size = mem_size;
	h.vm_id = vm_id;
	h.state_len = sizeof(*state);
	h.dev_len = blob_len;
	snprintf(h.name, sizeof(h.name), "%s", name);
	crc = crc32c(0, table, (size_t)n * 4);
	crc = crc32c(crc, state, sizeof(*state));
	crc = crc32c(crc, blob, blob_len);
	for (uint32_t i = 0; i < n; i++)
		crc = crc32c(crc, mem + (uint64_t)table[i] * SWAP_PAGE, SWAP_PAGE);
	h.body_crc = crc;
	h.header_crc = crc32c(0, &h, sizeof(h));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	off = 0;
	rc = fdio_write(fd, &h, sizeof(h), off);
	off += sizeof(h);
	if (!rc)
		rc = fdio_write(fd, table, (size_t)n * 4, off);
	off += (off_t)n * 4;
	if (!rc)
		rc = fdio_write(fd, state, sizeof(*state), off);
	off += sizeof(*state);
	if (!rc)
		rc = fdio_write(fd, blob, blob_len, off);
	off += blob_len;
	for (uint32_t i = 0; !rc && i < n; i++, off += SWAP_PAGE)
		rc = fdio_write(fd, mem + (uint64_t)table[i] * SWAP_PAGE, SWAP_PAGE, off);
	if (!rc && fdatasync(fd) < 0)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (rc)
		snprintf(err, errlen, "vm %s: export to %s: %s", name, path, strerror(-rc));
	if (fd >= 0)
		close(fd);
	free(table);
	return rc;
}

static int name_ok(const char *n, size_t cap)
{
	size_t len = strnlen(n, cap);

	if (!len || len == cap)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!(n[i] >= 'a' && n[i] <= 'z') && !(n[i] >= 'A' && n[i] <= 'Z') &&
		    !(n[i] >= '0' && n[i] <= '9') && !strchr("-_.", n[i]))
			return 0;
	return 1;
}

/* Checks the header alone against the file's size. */
static int header_check(const struct export_header *h, uint64_t file_size, char *err, size_t errlen)
{
	struct export_header t = *h;
	uint64_t body;

	t.header_crc = 0;
	if (memcmp(h->magic, EXPORT_MAGIC, 8))
		return fail(err, errlen, -EINVAL, "import: %s", "not a denali VM export");
	if (h->version != EXPORT_VERSION)
		return fail(err, errlen, -EINVAL, "import: %s", "export format version differs");
	if (h->header_crc != crc32c(0, &t, sizeof(t)))
		return fail(err, errlen, -EBADMSG, "import: %s", "header checksum mismatch");
	if (h->abi_version != DENALI_ABI_VERSION)
		return fail(err, errlen, -EINVAL, "import: %s", "guest ABI version differs");
	if (!denali_mem_size_ok(h->mem_size))
		return fail(err, errlen, -EINVAL, "import: %s",
			    "bad memory size: not " DENALI_MEM_RULE);
	if (h->npages >= h->mem_size / SWAP_PAGE)
		return fail(err, errlen, -EINVAL, "import: %s", "more pages than memory");
	if (h->state_len != sizeof(struct vcpu_state))
		return fail(err, errlen, -EINVAL, "import: %s", "vCPU state size differs");
	if (h->dev_len > SWAP_DEV_MAX)
		return fail(err, errlen, -EINVAL, "import: %s", "device state too large");
	if (!h->vm_id || h->pad)
		return fail(err, errlen, -EINVAL, "import: %s", "bad VM id or padding");
	if (!name_ok(h->name, sizeof(h->name)))
		return fail(err, errlen, -EINVAL, "import: %s", "bad VM name");
	body = (uint64_t)h->npages * (4 + SWAP_PAGE) + h->state_len + h->dev_len;
	if (file_size != sizeof(*h) + body)
		return fail(err, errlen, -EINVAL, "import: %s",
			    file_size < sizeof(*h) + body ? "file truncated" : "trailing bytes");
	return 0;
}

/* The vregs page is the monitor's: what the file brings there is kept only
 * where it is the guest's own (its arguments and its secret). No NIC and no
 * disk come with an import (refused above), so their fields are zero. */
static void vregs_reset(struct denali_vregs *vr, uint64_t mem_size)
{
	vr->magic = DENALI_VREGS_MAGIC;
	vr->abi_version = DENALI_ABI_VERSION;
	vr->mem_size = mem_size;
	memset(vr->mac, 0, sizeof(vr->mac));
	vr->mtu = 0;
	vr->ipv4_addr = vr->ipv4_netmask = vr->ipv4_gateway = 0;
	vr->blk_sectors = 0;
	vr->blk_flags = 0;
	memset(vr->reserved, 0, sizeof(vr->reserved));
}

int vm_import(const char *path, uint64_t id, struct vm **out, char *err, size_t errlen)
{
	struct export_header h;
	uint32_t *table = NULL, crc;
	uint8_t *blob = NULL, *mem = NULL;
	struct vm *vm = NULL;
	struct stat st;
	off_t off;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "import: open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fail(err, errlen, -EINVAL, "import: %s", "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size < sizeof(h)) {
		rc = fail(err, errlen, -EINVAL, "import: %s", "file truncated");
		goto out;
	}
	rc = fdio_read(fd, &h, sizeof(h), 0);
	if (!rc)
		rc = header_check(&h, (uint64_t)st.st_size, err, errlen);
	if (rc)
		goto out;
	vm = vm_alloc();
	table = malloc((size_t)h.npages * 4 + 4);
	blob = malloc(h.dev_len + 1);
	if (!vm || !table || !blob || !(vm->state = malloc(sizeof(*vm->state))) ||
	    guest_mem_alloc(h.mem_size, &mem)) {
		rc = fail(err, errlen, -ENOMEM, "import: %s", "out of memory");
		goto out;
	}
	off = sizeof(h);
	rc = fdio_read(fd, table, (size_t)h.npages * 4, off);
	off += (off_t)h.npages * 4;
	if (!rc)
		rc = fdio_read(fd, vm->state, sizeof(*vm->state), off);
	off += sizeof(*vm->state);
	if (!rc)
		rc = fdio_read(fd, blob, h.dev_len, off);
	off += h.dev_len;
	for (uint32_t i = 0; !rc && i < h.npages; i++) {
		if (table[i] == 0 || table[i] >= h.mem_size / SWAP_PAGE ||
		    (i && table[i] <= table[i - 1])) {
			rc = fail(err, errlen, -EINVAL, "import: %s",
				  "page number out of range, zero, or out of order");
			goto out;
		}
		/* The page and descriptor tables are the monitor's, built here:
		 * a file that brings its own could map them into ring 3. */
		if (gpa_page_is_private(table[i])) {
			rc = fail(err, errlen, -EINVAL, "import: %s",
				  "page number names a monitor-private page (page or "
				  "descriptor tables)");
			goto out;
		}
		rc = fdio_read(fd, mem + (uint64_t)table[i] * SWAP_PAGE, SWAP_PAGE, off);
		off += SWAP_PAGE;
	}
	if (rc) {
		rc = fail(err, errlen, rc, "import: %s", "file truncated while reading");
		goto out;
	}
	crc = crc32c(0, table, (size_t)h.npages * 4);
	crc = crc32c(crc, vm->state, sizeof(*vm->state));
	crc = crc32c(crc, blob, h.dev_len);
	for (uint32_t i = 0; i < h.npages; i++)
		crc = crc32c(crc, mem + (uint64_t)table[i] * SWAP_PAGE, SWAP_PAGE);
	if (crc != h.body_crc) {
		rc = fail(err, errlen, -EBADMSG, "import: %s", "body checksum mismatch");
		goto out;
	}
	rc = vcpu_state_check(vm->state, h.mem_size, err, errlen);
	if (rc)
		goto out;
	/* A NIC or a disk cannot come along yet: its switch port, address and
	 * backing file are this host's, not the file's. Refused by name. */
	{
		char kinds[128];
		int ndev = vm_swap_blob_devices(blob, h.dev_len, kinds, sizeof(kinds));

		/* (a malformed blob is refused below, field by field, with its reason) */
		if (ndev > 1) {
			rc =
			    fail(err, errlen, -EOPNOTSUPP,
				 "import: the VM has devices besides its console (%s): a VM with "
				 "a NIC or a disk cannot be imported (not supported yet); start it "
				 "afresh on this daemon instead",
				 kinds);
			goto out;
		}
	}
	memcpy(vm->name, h.name, sizeof(vm->name));
	vm->id = id ? id : h.vm_id;
	vm->mem_size = h.mem_size;
	vm_init_devices(vm);
	vm->mem = mem;
	rc = vm_swap_blob_apply(vm, blob, h.dev_len, err, errlen);
	if (rc)
		goto out_devices;
	vm->vregs = (struct denali_vregs *)(mem + DENALI_VREGS_GPA);
	vm->shared = (struct denali_shared *)(mem + DENALI_SHARED_GPA);
	rc = x86_build_tables(mem, h.mem_size);
	if (rc) {
		rc = fail(err, errlen, rc, "import: %s", "cannot build the page tables");
		goto out_devices;
	}
	vregs_reset(vm->vregs, h.mem_size);
	/* This host's clock rate; the guest reads it without an exit. */
	if (kvm_tsc_hz()) {
		vm->vregs->tsc_hz = kvm_tsc_hz();
		vm->vregs->tsc_mult =
		    (uint64_t)(((unsigned __int128)1000000000ull << 32) / kvm_tsc_hz());
	}
	vm->vregs->vm_id = vm->id;
	vm->need_load = 1;
	vm->created_ns = vm_now_ns();
	*out = vm;
	close(fd);
	free(table);
	free(blob);
	return 0;
out_devices:
	vm->mem = NULL;
	console_free(&vm->console);
out:
	close(fd);
	if (mem)
		guest_mem_free(mem, h.mem_size);
	if (vm)
		free(vm->state);
	vm_free(vm);
	free(table);
	free(blob);
	return rc;
}

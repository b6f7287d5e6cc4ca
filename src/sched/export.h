/*
 * Export and import of a VM as one portable, versioned, checksummed file:
 * the unit that placement and migration move between hosts.
 *
 * File (little-endian, x86-64 vCPU state as KVM defines it):
 *   struct export_header            (header_crc covers it with that field 0)
 *   u32 page numbers[npages]        ascending, none is page 0 or monitor-private
 *                                   (gpa_page_is_private), all < mem_size/4 KiB
 *   vCPU state[state_len]           struct vcpu_state of this ABI
 *   device blob[dev_len]            see vm_swap.h
 *   page data[npages][4096]
 * body_crc covers everything after the header. Nothing else may follow.
 *
 * The loader trusts nothing: every size, count and page number is checked,
 * the vCPU state must pass vcpu_state_check() (ring 3, the monitor's own
 * segment and control state: nothing that would put guest code in ring 0),
 * the device blob is
 * checked field by field, and a file of any other length is refused.
 */
#ifndef DENALI_SCHED_EXPORT_H
#define DENALI_SCHED_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#define EXPORT_MAGIC "DNLVMEX1"
/* 2: the monitor-private pages (page and descriptor tables) are never in the
 * file; the importer builds them. */
#define EXPORT_VERSION 2u

struct export_header {
	char magic[8];
	uint32_t version;
	uint32_t header_crc;
	uint32_t abi_version; /* DENALI_ABI_VERSION of the exporter */
	uint32_t npages;
	uint64_t mem_size;
	uint64_t vm_id;
	uint32_t state_len;
	uint32_t dev_len;
	uint32_t body_crc;
	uint32_t pad;
	char name[64];
};

struct vm;
struct vcpu_state;

/* Writes a stopped, resident VM (not running; memory present) to path.
 * 0 or -errno with err set; the file is complete and synced on success and
 * absent on failure. */
int vm_export(struct vm *vm, const char *path, char *err, size_t errlen);

/* The same from an image held elsewhere (a swapped VM's slot read into
 * scratch memory): its non-zero pages, its vCPU state and device blob. */
int export_write(const char *path, const char *name, uint64_t vm_id, const uint8_t *mem,
		 uint64_t mem_size, const struct vcpu_state *state, const uint8_t *blob,
		 uint32_t blob_len, char *err, size_t errlen);

/*
 * Reads an exported VM from path into a new, unbound VM (*out; its state
 * loads at the first vm_bind). id gives it a new VM id (0: keep the file's).
 * 0, or -EINVAL/-EBADMSG/-errno with a reason in err.
 */
int vm_import(const char *path, uint64_t id, struct vm **out, char *err, size_t errlen);

#endif

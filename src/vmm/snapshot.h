/*
 * Suspend a VM to a self-contained image (memory pages plus the complete
 * vCPU state and device indices) and resume it, in this process or another,
 * into any shell.
 */
#ifndef DENALI_VMM_SNAPSHOT_H
#define DENALI_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/*
 * File format (host-endian, same host): this header, the struct
 * vcpu_state, then npages records of (uint64_t page number, 4 KiB of data)
 * in increasing page order, for every page that is resident and not all
 * zero, except page 0 and the monitor-private pages [DENALI_PRIVATE_GPA,
 * DENALI_RESERVED_END): the loader rebuilds those (GDT, TSS, page tables)
 * itself and refuses a file that carries them. Pages not recorded are zero.
 */
#define SNAP_MAGIC "DNLSNAP1"
/* 2: guest ABI 3 (rings of 128 slots): a guest of an older ABI in its pages
 * would misread every ring, so its snapshot is refused, not resumed. */
#define SNAP_VERSION 2u

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t state_size; /* sizeof(struct vcpu_state) */
	uint64_t mem_size;
	uint64_t id;
	char name[64]; /* NUL-terminated */
	uint32_t status;
	int32_t exit_code;
	uint64_t deadline_ns;
	uint64_t idle_gpa;
	uint32_t console_cons;
	uint32_t pad;
	uint64_t console_written;
	uint64_t npages;
};

/*
 * Writes the VM to fd and releases its memory. The VM must be bound and
 * stopped at a hypercall (not running). The caller keeps or pools the shell
 * (vm->shell is cleared). 0 or -errno with err set; on error the VM is
 * unchanged and still bound.
 */
int snapshot_save(struct vm *vm, int fd, char *err, size_t errlen);

/*
 * Marks in vec (one byte per page of mem[0, size)) the pages a snapshot
 * must look at: the resident ones by mincore() when guest memory is shared
 * (the host has no swap), every page when it is private, since mincore()
 * reports a host-swapped page as absent and the snapshot would lose it.
 */
void snapshot_pages_to_scan(const uint8_t *mem, uint64_t size, unsigned char *vec);

/*
 * Restores a VM written by snapshot_save() from fd. If vm is non-NULL its
 * memory must have been released by snapshot_save() and it is filled in
 * place; otherwise a new VM is allocated into *out. Every field of the file
 * is checked. The VM is unbound; its state loads at the next vm_bind().
 */
int snapshot_load(int fd, struct vm *vm, struct vm **out, char *err, size_t errlen);

#endif

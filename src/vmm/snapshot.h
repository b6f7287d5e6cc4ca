/*
 * Suspend a VM to a self-contained image (memory pages plus the complete
 * vCPU state and device indices) and resume it, in this process or another,
 * into any shell.
 */
#ifndef DENALI_VMM_SNAPSHOT_H
#define DENALI_VMM_SNAPSHOT_H

#include <stddef.h>

struct vm;

/*
 * Writes the VM to fd and releases its memory. The VM must be bound and
 * stopped at a hypercall (not running). The caller keeps or pools the shell
 * (vm->shell is cleared). 0 or -errno with err set; on error the VM is
 * unchanged and still bound.
 */
int snapshot_save(struct vm *vm, int fd, char *err, size_t errlen);

/*
 * Restores a VM written by snapshot_save() from fd. If vm is non-NULL its
 * memory must have been released by snapshot_save() and it is filled in
 * place; otherwise a new VM is allocated into *out. Every field of the file
 * is checked. The VM is unbound; its state loads at the next vm_bind().
 */
int snapshot_load(int fd, struct vm *vm, struct vm **out, char *err, size_t errlen);

#endif

/*
 * raw_kvm: a minimal KVM VM without the monitor — the baseline the
 * benchmarks set denali against. One guest memory slot, one vCPU, memory and
 * registers set up as vm_create and shell_bind do. Every failure is fatal
 * (bench_fail), with the ioctl named.
 */
#ifndef DENALI_BENCH_RAW_KVM_H
#define DENALI_BENCH_RAW_KVM_H

#include "bench_util.h"

#include <denali/abi.h>
#include <linux/kvm.h>
#include <stdint.h>

/* Guest memory of a raw VM: the monitor's default. */
#define RAW_MEM_SIZE ((uint64_t)DENALI_MEM_DEFAULT)

struct raw_vm {
	int vm_fd, vcpu_fd;
	struct kvm_run *run;
	uint8_t *mem; /* RAW_MEM_SIZE bytes, or NULL */
	uint64_t entry;
};

/* Opens /dev/kvm for raw VMs and reads the kvm_run size. */
void raw_kvm_open(void);

/* Closes what raw_kvm_open opened; raw VMs must be destroyed first. */
void raw_kvm_close(void);

/* The /dev/kvm fd of raw_kvm_open (-1 when closed), for KVM_CHECK_EXTENSION. */
int raw_kvm_fd(void);

/* ioctl(fd, req, arg), fatal on failure: "raw <name>: <error>". */
void raw_ioctl(int fd, unsigned long req, void *arg, const char *name);

/* Guest memory as vm_create makes it: zeroed, page tables, image loaded;
 * sets r->mem and r->entry. */
void raw_vm_mem(struct raw_vm *r, const struct bench_image *img);

/* KVM_CREATE_VM, KVM_CREATE_VCPU and the kvm_run mapping: what a shell is. */
void raw_vm_shell(struct raw_vm *r);

/* Memory slot 0 set to [mem, mem + size); size 0 deletes it. */
void raw_vm_slot(struct raw_vm *r, uint8_t *mem, uint64_t size);

/* The entry sregs and regs (rip = r->entry), with rdi and rsi, the guest's
 * two arguments. */
void raw_vm_regs(struct raw_vm *r, uint64_t rdi, uint64_t rsi);

/* Unmaps the guest memory and sets r->mem to NULL. */
void raw_vm_free_mem(struct raw_vm *r);

/* Unmaps kvm_run, closes the vCPU and VM, and frees the memory if any. */
void raw_vm_destroy(struct raw_vm *r);

#endif

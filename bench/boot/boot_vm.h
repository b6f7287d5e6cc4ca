/* bench/boot: a VM through the real monitor path, shared by the boot and memory figures. */
#ifndef DENALI_BENCH_BOOT_VM_H
#define DENALI_BENCH_BOOT_VM_H

#include "bench_util.h"
#include "raw_kvm.h"
#include "vmm/vm.h"

#include <stdint.h>

/* vm_create of the bench guest: rdi = kicks, rsi = idle at entry. */
struct vm *boot_vm_create(const struct bench_image *img, unsigned id, uint64_t kicks,
			  uint64_t idle);

/* Fails the bench unless vm_run returned want. */
void expect_stop(struct vm *vm, enum vm_stop got, enum vm_stop want);

/* A raw VM from nothing (memory, KVM VM and vCPU, slot, SREGS/REGS) run until an `out` to
 * stop_port; rdi = kicks, rsi = idle at entry. */
void raw_boot(struct raw_vm *r, const struct bench_image *img, uint64_t kicks, uint64_t idle,
	      uint16_t stop_port);

#endif

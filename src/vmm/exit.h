/*
 * Private to vm_run(): the exit handler table and the hypercall table.
 */
#ifndef DENALI_VMM_EXIT_H
#define DENALI_VMM_EXIT_H

#include "vm.h"

/* A handler returns -1 to re-enter the guest, or an enum vm_stop. */
#define EXIT_CONTINUE (-1)

typedef int (*hypercall_fn)(struct vm *vm, uint32_t arg);

/* Indexed by port - DENALI_HC_BASE. */
extern const hypercall_fn hypercall_table[DENALI_HC_COUNT];

/* Explains a KVM_EXIT_SHUTDOWN (triple fault) from the vCPU state. */
enum vm_stop exit_diagnose_shutdown(struct vm *vm);

#endif

/*
 * bench/boot's replays of the pooled path, call by call, mirroring what
 * src/vmm/shell.c does today (a step the path skips is not timed and not
 * reported), the what-ifs beside it, and the raw-KVM counterpart of a pooled
 * boot that makes the same KVM calls (so that boot_pooled_vs_raw_reused
 * compares equal KVM work: what is left is the monitor's own code).
 */
#ifndef DENALI_BENCH_BOOT_STEPS_H
#define DENALI_BENCH_BOOT_STEPS_H

#include "bench_util.h"
#include "raw_kvm.h"

#include <stdint.h>

#define BOOT_MEM_SIZE RAW_MEM_SIZE /* monitor and raw VMs alike */
#define BOOT_WARMUP   20
#define NOT_TAKEN     (-1.0) /* a sample of a step the path did not take */

enum {
	ST_MMAP,
	ST_TABLES,
	ST_ELF,
	ST_STATE,
	ST_SLOT,   /* the VM's memory is not where the shell's slot points: delete + add */
	ST_EVENTS, /* without KVM_CAP_SYNC_REGS only */
	ST_SREGS,  /* ditto */
	ST_REGS,   /* ditto */
	ST_XSAVE,
	ST_MSRS,	 /* only when they differ from what the shell holds */
	ST_RUN1,	 /* the first KVM_RUN (with sync regs: it loads regs, sregs, events) */
	ST_COMPLETE_PUT, /* after the boot: shell_put finishes the pending exit */
	ST_RESET_PUT,	 /* after the boot: shell_put drops the tenant's translations */
	ST_MUNMAP,	 /* after the boot: vm_destroy */
	ST_N
};
extern const char *const st_name[ST_N];

enum { WI_MEM_NOW, WI_MEM_POPULATE, WI_BIND_NOW, WI_BIND_IOCTLS, WI_BIND_MREMAP, WI_RESET, WI_N };
extern const char *const wi_name[WI_N];

/* 1 if KVM_CAP_SYNC_REGS covers regs, sregs and events (as shell.c requires). */
int steps_sync_regs(void);

/* n + BOOT_WARMUP boots replayed; st[step][i] = µs, or NOT_TAKEN. */
void boot_steps(const struct bench_image *img, unsigned n, double *st[ST_N]);

/* The what-ifs (-1000 ns = -1 µs when the kernel refuses). */
void boot_whatif(const struct bench_image *img, unsigned n, double *wi[WI_N]);

/* Raw counterpart of a pooled boot: one KVM VM reused; per boot new memory, the slot
 * only when the memory moved, the state as shell.c loads it (sync regs or ioctls, XSAVE,
 * MSRs once), KVM_RUN; after the boot (not timed) what shell_put does: complete the exit,
 * delete and re-add the slot. us[i] per boot. */
void boot_raw_rebind(const struct bench_image *img, unsigned n, double *us);

/* Median of the taken samples of v (n of them) and how many were taken. */
double steps_median(double *v, unsigned n, unsigned *taken);

#endif

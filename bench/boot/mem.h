/*
 * bench/boot's memory figure: K VMs, each bound to its own shell and run to
 * IDLE, held live; /proc/meminfo and /proc/self/status deltas, mincore and
 * pagemap of guest memory; the same for as many raw KVM VMs.
 */
#ifndef DENALI_BENCH_BOOT_MEM_H
#define DENALI_BENCH_BOOT_MEM_H

#include "bench_util.h"

enum {
	MI_FREE,
	MI_AVAIL,
	MI_ANON,
	MI_SLAB,
	MI_KSTACK,
	MI_PTABLES,
	MI_SECPT,
	MI_VMALLOC,
	MI_PERCPU,
	MI_N
};
extern const char *const mi_name[MI_N];

struct mem_result {
	double guest;	     /* resident guest pages, bytes per VM */
	double anon;	     /* AnonPages delta per VM */
	double rss_anon;     /* our RssAnon delta per VM */
	double rss_file;     /* our RssFile delta per VM (kvm_run mappings) */
	double kernel;	     /* Slab, KernelStack, (Sec)PageTables, Vmalloc, Percpu */
	double kernel_free;  /* MemFree drop - AnonPages delta */
	double mi[MI_N];     /* each meminfo delta per VM */
	double raw_kernel;   /* the same kernel figure for raw KVM VMs */
	double raw_rss_anon; /* and their RssAnon beyond guest pages */
};

/* Opens /proc/self/pagemap and finds the zero page's PFN; once, first. */
void pagemap_open(void);

/* Holds k VMs live and fills m with the per-VM deltas. */
void mem_live(const struct bench_image *img, unsigned k, struct mem_result *m);

#endif

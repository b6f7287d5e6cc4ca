/* bench/boot/steps.c: see steps.h. Each replay keeps shell.c's bookkeeping (where the
 * slot points, whether the MSRs differ, whether an exit is pending) so that it takes the
 * same branches; when shell.c changes, this must follow. */
#include "steps.h"

#include "vmm/elf.h"
#include "vmm/shell.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

const char *const st_name[ST_N] = {
    "mmap",	      "x86_build_tables", "elf_load",	   "vcpu_state_init",
    "slot_move",      "SET_VCPU_EVENTS",  "SET_SREGS",	   "SET_REGS",
    "SET_XSAVE",      "SET_MSRS",	  "KVM_RUN_first", "complete_put",
    "slot_reset_put", "munmap_destroy",
};

const char *const wi_name[WI_N] = {"mem_now",	      "mem_populate",	 "bind_run_now",
				   "bind_run_ioctls", "bind_run_mremap", "reset_now"};

static uint64_t lap(uint64_t *t)
{
	uint64_t now = vm_now_ns(), d = now - *t;

	*t = now;
	return d;
}

int steps_sync_regs(void)
{
	int v = ioctl(raw_kvm_fd(), KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	int need = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

	return v > 0 && (v & need) == need;
}

double steps_median(double *v, unsigned n, unsigned *taken)
{
	double *t = malloc((n ? n : 1) * sizeof(*t)), m;
	unsigned k = 0;

	if (!t)
		bench_fail("out of memory");
	for (unsigned i = 0; i < n; i++)
		if (v[i] != NOT_TAKEN)
			t[k++] = v[i];
	m = k ? bench_pct(t, k, 50) : NOT_TAKEN;
	free(t);
	*taken = k;
	return m;
}

/* The replayed shell: what shell.c keeps about its KVM VM. */
struct replay {
	struct raw_vm r;
	uint8_t *slot_mem; /* where slot 0 points (sh->mem) */
	int msrs_valid;
	struct kvm_msr_entry msrs[VCPU_STATE_NMSRS];
	int exit_pending;
	int sync;
};

static void set_slot(struct replay *p, uint8_t *mem)
{
	raw_vm_slot(&p->r, mem, mem ? BOOT_MEM_SIZE : 0);
}

/* KVM_RUN to the guest's EXIT, the state riding along when sync regs are on. */
static void run_first(struct replay *p, const struct vcpu_state *vs)
{
	if (p->sync) {
		p->r.run->s.regs.regs = vs->regs;
		p->r.run->s.regs.sregs = vs->sregs;
		memset(&p->r.run->s.regs.events, 0, sizeof(p->r.run->s.regs.events));
		p->r.run->kvm_dirty_regs =
		    KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	}
	if (ioctl(p->r.vcpu_fd, KVM_RUN, 0) < 0)
		bench_fail("KVM_RUN: %s", strerror(errno));
	p->r.run->kvm_dirty_regs = 0;
	if (p->r.run->exit_reason != KVM_EXIT_IO || p->r.run->io.port != DENALI_HC_EXIT)
		bench_fail("KVM_RUN: exit reason %u port 0x%x", p->r.run->exit_reason,
			   p->r.run->io.port);
	p->exit_pending = 1;
}

/* shell_complete: an immediate-exit entry finishes the `out`. */
static void complete(struct replay *p)
{
	if (!p->exit_pending)
		return;
	p->r.run->immediate_exit = 1;
	if (ioctl(p->r.vcpu_fd, KVM_RUN, 0) == 0 || errno != EINTR)
		bench_fail("KVM_RUN to complete the exit did not return EINTR");
	p->r.run->immediate_exit = 0;
	p->exit_pending = 0;
}

/* shell_bind's calls: d[] gets each step taken (ns), NOT_TAKEN for the others. */
static void bind(struct replay *p, const struct vcpu_state *vs, int64_t d[ST_N])
{
	uint64_t t = vm_now_ns();

	if (p->r.mem != p->slot_mem) {
		if (p->slot_mem)
			set_slot(p, NULL);
		set_slot(p, p->r.mem);
		p->slot_mem = p->r.mem;
		d[ST_SLOT] = (int64_t)lap(&t);
	}
	if (!p->sync) {
		struct kvm_vcpu_events ev;

		memset(&ev, 0, sizeof(ev));
		raw_ioctl(p->r.vcpu_fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
		d[ST_EVENTS] = (int64_t)lap(&t);
		raw_ioctl(p->r.vcpu_fd, KVM_SET_SREGS, (void *)&vs->sregs, "KVM_SET_SREGS");
		d[ST_SREGS] = (int64_t)lap(&t);
		raw_ioctl(p->r.vcpu_fd, KVM_SET_REGS, (void *)&vs->regs, "KVM_SET_REGS");
		d[ST_REGS] = (int64_t)lap(&t);
	}
	raw_ioctl(p->r.vcpu_fd, KVM_SET_XSAVE, (void *)&vs->xsave, "KVM_SET_XSAVE");
	d[ST_XSAVE] = (int64_t)lap(&t);
	if (!p->msrs_valid || memcmp(p->msrs, vs->msrs.entries, sizeof(p->msrs))) {
		if (ioctl(p->r.vcpu_fd, KVM_SET_MSRS, &vs->msrs) != (int)vs->msrs.hdr.nmsrs)
			bench_fail("KVM_SET_MSRS failed");
		memcpy(p->msrs, vs->msrs.entries, sizeof(p->msrs));
		p->msrs_valid = 1;
		d[ST_MSRS] = (int64_t)lap(&t);
	}
	run_first(p, vs);
	d[ST_RUN1] = (int64_t)lap(&t);
}

/* shell_put: complete, then drop the translations (delete + re-add, the slot stays). */
static void put(struct replay *p, int64_t d[ST_N])
{
	uint64_t t = vm_now_ns();

	complete(p);
	d[ST_COMPLETE_PUT] = (int64_t)lap(&t);
	set_slot(p, NULL);
	set_slot(p, p->slot_mem);
	d[ST_RESET_PUT] = (int64_t)lap(&t);
}

static void replay_open(struct replay *p, struct shell **sh)
{
	int rc = shell_create(sh);

	if (rc)
		bench_fail("shell_create: %s", strerror(-rc));
	memset(p, 0, sizeof(*p));
	p->r.vm_fd = (*sh)->vm_fd;
	p->r.vcpu_fd = (*sh)->vcpu_fd;
	p->r.run = (*sh)->run;
	p->sync = steps_sync_regs();
}

void boot_steps(const struct bench_image *img, unsigned n, double *st[ST_N])
{
	struct vcpu_state *vs = malloc(sizeof(*vs));
	struct replay p;
	struct shell *sh;
	char err[256];

	if (!vs)
		bench_fail("out of memory");
	replay_open(&p, &sh);
	for (unsigned i = 0; i < n + BOOT_WARMUP; i++) {
		int64_t d[ST_N];
		uint64_t t = vm_now_ns();

		for (int s = 0; s < ST_N; s++)
			d[s] = -1;
		p.r.mem = mmap(NULL, BOOT_MEM_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p.r.mem == MAP_FAILED)
			bench_fail("mmap guest memory: %s", strerror(errno));
		d[ST_MMAP] = (int64_t)lap(&t);
		x86_build_tables(p.r.mem, BOOT_MEM_SIZE);
		d[ST_TABLES] = (int64_t)lap(&t);
		if (elf_load(img->elf, img->size, p.r.mem, BOOT_MEM_SIZE, &p.r.entry, err,
			     sizeof(err)))
			bench_fail("elf_load: %s", err);
		d[ST_ELF] = (int64_t)lap(&t);
		vcpu_state_init(vs, p.r.entry, BOOT_MEM_SIZE);
		d[ST_STATE] = (int64_t)lap(&t);
		bind(&p, vs, d);
		put(&p, d);
		t = vm_now_ns();
		munmap(p.r.mem, BOOT_MEM_SIZE);
		d[ST_MUNMAP] = (int64_t)lap(&t);
		if (i >= BOOT_WARMUP)
			for (int s = 0; s < ST_N; s++)
				st[s][i - BOOT_WARMUP] =
				    d[s] < 0 ? NOT_TAKEN : (double)d[s] / 1000.0;
	}
	shell_destroy(sh);
	free(vs);
}

static uint8_t *whatif_mem(const struct bench_image *img, int populate, uint64_t *entry)
{
	char err[256];
	uint8_t *mem = mmap(NULL, BOOT_MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (mem == MAP_FAILED)
		bench_fail("mmap guest memory: %s", strerror(errno));
	/* Exactly the pages written below: vregs, GDT + TSS, TSS end + tables. */
	if (populate && (madvise(mem + DENALI_VREGS_GPA, 4096, MADV_POPULATE_WRITE) ||
			 madvise(mem + X86_GDT_GPA, 0x2000, MADV_POPULATE_WRITE) ||
			 madvise(mem + 0xa000, 0x5000, MADV_POPULATE_WRITE))) {
		munmap(mem, BOOT_MEM_SIZE);
		return NULL;
	}
	x86_build_tables(mem, BOOT_MEM_SIZE);
	if (elf_load(img->elf, img->size, mem, BOOT_MEM_SIZE, entry, err, sizeof(err)))
		bench_fail("elf_load: %s", err);
	return mem;
}

/* One bind + run of the replay on fresh memory, timed whole; then put (not timed). */
static uint64_t bind_run(struct replay *p, const struct bench_image *img, struct vcpu_state *vs,
			 uint64_t *reset_ns)
{
	int64_t d[ST_N];
	uint64_t t;

	p->r.mem = whatif_mem(img, 0, &p->r.entry);
	vcpu_state_init(vs, p->r.entry, BOOT_MEM_SIZE);
	t = vm_now_ns();
	bind(p, vs, d);
	t = vm_now_ns() - t;
	put(p, d);
	if (reset_ns)
		*reset_ns = (uint64_t)(d[ST_COMPLETE_PUT] + d[ST_RESET_PUT]);
	munmap(p->r.mem, BOOT_MEM_SIZE);
	return t;
}

/*
 * What-ifs for the pooled path, each timed as a whole, same run:
 *   mem_now          mmap + x86_build_tables + elf_load, as vm_create does;
 *   mem_populate     the same with one MADV_POPULATE_WRITE over the low pages
 *                    the tables and vregs touch, instead of a fault per page;
 *   bind_run_now     shell_bind + the first KVM_RUN as shell.c does them today;
 *   bind_run_ioctls  the same loading regs, sregs and events with three ioctls
 *                    instead of through kvm_run (a host without sync regs);
 *   bind_run_mremap  as bind_run_now, but the slot stays on a fixed window of
 *                    the shell and the VM's memory is moved into it with
 *                    mremap (no memslot change; an MMU-notifier invalidation
 *                    instead, which every live KVM VM of the process hears);
 *   reset_now        what shell_put does after each boot: complete the exit,
 *                    delete and re-add the slot.
 * -1 when the kernel refuses the what-if.
 */
void boot_whatif(const struct bench_image *img, unsigned n, double *wi[WI_N])
{
	struct vcpu_state *vs = malloc(sizeof(*vs));
	struct replay p, q, w;
	struct shell *sh, *sh2, *sh3;
	uint8_t *window;

	if (!vs)
		bench_fail("out of memory");
	replay_open(&p, &sh);
	replay_open(&q, &sh2);
	q.sync = 0;
	/* A third shell whose slot stays on one window for good. */
	replay_open(&w, &sh3);
	window = mmap(NULL, BOOT_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (window == MAP_FAILED)
		bench_fail("mmap window: %s", strerror(errno));
	w.r.mem = w.slot_mem = window;
	set_slot(&w, window);
	for (unsigned i = 0; i < n + BOOT_WARMUP; i++) {
		uint64_t d[WI_N], t = vm_now_ns();
		uint8_t *mem, *pop;
		int64_t dd[ST_N];
		uint64_t entry;

		mem = whatif_mem(img, 0, &entry);
		d[WI_MEM_NOW] = lap(&t);
		pop = whatif_mem(img, 1, &entry);
		d[WI_MEM_POPULATE] = pop ? lap(&t) : (uint64_t)-1000;
		if (pop)
			munmap(pop, BOOT_MEM_SIZE);
		munmap(mem, BOOT_MEM_SIZE);

		d[WI_BIND_NOW] = bind_run(&p, img, vs, &d[WI_RESET]);
		d[WI_BIND_IOCTLS] = bind_run(&q, img, vs, NULL);

		d[WI_BIND_MREMAP] = (uint64_t)-1000;
		mem = whatif_mem(img, 0, &entry);
		vcpu_state_init(vs, entry, BOOT_MEM_SIZE);
		if (w.sync) {
			t = vm_now_ns();
			if (mremap(mem, BOOT_MEM_SIZE, BOOT_MEM_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
				   window) == MAP_FAILED)
				bench_fail("mremap: %s", strerror(errno));
			bind(&w, vs, dd);
			d[WI_BIND_MREMAP] = lap(&t);
			complete(&w);
			/* Leave the window mapped (to fresh memory) for the next VM. */
			window =
			    mmap(window, BOOT_MEM_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
			if (window == MAP_FAILED)
				bench_fail("mmap window: %s", strerror(errno));
		} else {
			munmap(mem, BOOT_MEM_SIZE);
		}
		if (i >= BOOT_WARMUP)
			for (int k = 0; k < WI_N; k++)
				wi[k][i - BOOT_WARMUP] = (double)(int64_t)d[k] / 1000.0;
	}
	shell_destroy(sh);
	shell_destroy(sh2);
	shell_destroy(sh3);
	munmap(window, BOOT_MEM_SIZE);
	free(vs);
}

void boot_raw_rebind(const struct bench_image *img, unsigned n, double *us)
{
	struct vcpu_state *vs = malloc(sizeof(*vs));
	struct replay p;
	struct raw_vm r;

	if (!vs)
		bench_fail("out of memory");
	raw_vm_shell(&r);
	memset(&p, 0, sizeof(p));
	p.r = r;
	p.sync = steps_sync_regs();
	for (unsigned i = 0; i < n + BOOT_WARMUP; i++) {
		int64_t d[ST_N];
		uint64_t t0;

		/* The raw side knows its entry state: computed outside the timed boot. */
		if (i == 0) {
			raw_vm_mem(&p.r, img);
			vcpu_state_init(vs, p.r.entry, BOOT_MEM_SIZE);
			raw_vm_free_mem(&p.r);
		}
		t0 = vm_now_ns();
		raw_vm_mem(&p.r, img);
		bind(&p, vs, d);
		if (i >= BOOT_WARMUP)
			us[i - BOOT_WARMUP] = (double)(vm_now_ns() - t0) / 1000.0;
		put(&p, d); /* as shell_put does, after the boot */
		raw_vm_free_mem(&p.r);
	}
	r = p.r;
	raw_vm_destroy(&r);
	free(vs);
}

/* bench/boot/mem.c: see mem.h. */
#include "mem.h"

#include "boot_vm.h"
#include "raw_kvm.h"
#include "steps.h"
#include "vmm/shell.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE BOOT_MEM_SIZE

const char *const mi_name[MI_N] = {"MemFree",	    "MemAvailable", "AnonPages",
				   "Slab",	    "KernelStack",  "PageTables",
				   "SecPageTables", "VmallocUsed",  "Percpu"};

enum { PS_RSS, PS_ANON, PS_FILE, PS_N };
static const char *const ps_name[PS_N] = {"VmRSS", "RssAnon", "RssFile"};

static int pagemap_fd = -1;
static uint64_t zero_pfn;

/* The PFN of the shared zero page: what a read-only touch of fresh anonymous
 * memory maps. Such pages are resident to mincore but cost nothing. */
void pagemap_open(void)
{
	volatile uint8_t *p;
	uint64_t e;

	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0)
		bench_fail("/proc/self/pagemap: %s", strerror(errno));
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		bench_fail("mmap: %s", strerror(errno));
	(void)p[0];
	if (pread(pagemap_fd, &e, sizeof(e), (off_t)((uintptr_t)p / 4096 * 8)) != sizeof(e))
		bench_fail("read /proc/self/pagemap: %s", strerror(errno));
	zero_pfn = e & ((1ull << 55) - 1);
	munmap((void *)p, 4096);
}

/* Guest pages backed by their own host page (mincore, less zero-page maps). */
static long guest_pages(uint8_t *mem)
{
	static uint64_t pm[MEM_SIZE / 4096];
	static unsigned char vec[MEM_SIZE / 4096];
	long n = 0;

	if (mincore(mem, MEM_SIZE, vec))
		bench_fail("mincore: %s", strerror(errno));
	if (pread(pagemap_fd, pm, sizeof(pm), (off_t)((uintptr_t)mem / 4096 * 8)) != sizeof(pm))
		bench_fail("read /proc/self/pagemap: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(vec); i++) {
		int present = (pm[i] >> 63) & 1;
		uint64_t pfn = pm[i] & ((1ull << 55) - 1);

		n += (vec[i] & 1) && !(present && pfn == zero_pfn);
	}
	return n;
}

static void settle(void)
{
	malloc_trim(0);
	usleep(200000); /* let deferred frees of earlier VMs land */
}

void mem_live(const struct bench_image *img, unsigned k, struct mem_result *m)
{
	struct vm **vms = calloc(k, sizeof(*vms));
	struct raw_vm *raws = calloc(k, sizeof(*raws));
	long mi0[MI_N], mi1[MI_N], ps0[PS_N], ps1[PS_N];
	long guest = 0;

	if (!vms || !raws)
		bench_fail("out of memory");
	shell_pool_drain();
	settle();
	bench_read_file_fields("/proc/meminfo", mi_name, MI_N, mi0);
	bench_read_file_fields("/proc/self/status", ps_name, PS_N, ps0);
	for (unsigned i = 0; i < k; i++) {
		struct shell *sh;
		int rc;

		vms[i] = boot_vm_create(img, i + 1, 0, 1);
		rc = shell_create(&sh);
		if (rc)
			bench_fail("shell_create (live VM %u): %s", i, strerror(-rc));
		rc = vm_bind(vms[i], sh);
		if (rc)
			bench_fail("vm_bind: %s", strerror(-rc));
		expect_stop(vms[i], vm_run(vms[i]), VM_STOP_IDLE);
	}
	bench_read_file_fields("/proc/meminfo", mi_name, MI_N, mi1);
	bench_read_file_fields("/proc/self/status", ps_name, PS_N, ps1);
	for (unsigned i = 0; i < k; i++)
		guest += guest_pages(vms[i]->mem);
	m->guest = (double)guest * 4096 / k;
	for (int i = 0; i < MI_N; i++)
		m->mi[i] = (double)(mi1[i] - mi0[i]) * 1024 / k;
	m->anon = m->mi[MI_ANON];
	m->rss_anon = (double)(ps1[PS_ANON] - ps0[PS_ANON]) * 1024 / k;
	m->rss_file = (double)(ps1[PS_FILE] - ps0[PS_FILE]) * 1024 / k;
	m->kernel = 0;
	for (int i = MI_SLAB; i <= MI_PERCPU; i++)
		m->kernel += m->mi[i];
	m->kernel_free = -m->mi[MI_FREE] - m->anon;
	for (unsigned i = 0; i < k; i++) {
		struct shell *sh = vms[i]->shell;

		vm_unbind(vms[i]);
		shell_destroy(sh);
		vm_destroy(vms[i]);
	}

	/* The same number of raw KVM VMs, run to the same IDLE. */
	settle();
	bench_read_file_fields("/proc/meminfo", mi_name, MI_N, mi0);
	bench_read_file_fields("/proc/self/status", ps_name, PS_N, ps0);
	for (unsigned i = 0; i < k; i++)
		raw_boot(&raws[i], img, 0, 1, DENALI_HC_IDLE);
	bench_read_file_fields("/proc/meminfo", mi_name, MI_N, mi1);
	bench_read_file_fields("/proc/self/status", ps_name, PS_N, ps1);
	guest = 0;
	for (unsigned i = 0; i < k; i++)
		guest += guest_pages(raws[i].mem);
	m->raw_kernel = 0;
	for (int i = MI_SLAB; i <= MI_PERCPU; i++)
		m->raw_kernel += (double)(mi1[i] - mi0[i]) * 1024 / k;
	m->raw_rss_anon = ((double)(ps1[PS_ANON] - ps0[PS_ANON]) * 1024 - (double)guest * 4096) / k;
	for (unsigned i = 0; i < k; i++)
		raw_vm_destroy(&raws[i]);
	free(raws);
	free(vms);
	settle();
}

/*
 * denali-bench-boot: what a VM costs to start and to run, through the real
 * monitor path (vm_create, shell_create / shell_get, vm_bind, vm_run), and
 * the same with a minimal raw-KVM loop in the same process, as ratios.
 *
 *   boot    create -> first hypercall: the guest's first instruction block is
 *           EXIT(0), so vm_run() returns after exactly one hypercall. Fresh
 *           shells (shell_create each time) and pooled shells (shell_get from
 *           a warm LIFO pool); raw: mmap + tables + ELF + KVM_CREATE_VM/VCPU +
 *           slot + SREGS/REGS + KVM_RUN, and raw rebind (a raw VM reused with the
 *           same KVM calls as a pooled shell: steps.c).
 *   null    hypercall round trip: a guest making N KICKs, time / N.
 *   memory  K VMs, each bound to its own shell and run to IDLE, held live;
 *           /proc/meminfo and /proc/self/status deltas, mincore of guest
 *           memory.
 *   steps   the pooled path replayed step by step with the calls shell.c
 *           makes today (steps.c), to show where its time goes.
 *
 * Every figure is printed per round, then the median over rounds, then one
 * JSON line. Needs root (or access to /dev/kvm): exits 77 otherwise.
 */
#include "bench_util.h"
#include "boot_vm.h"
#include "mem.h"
#include "raw_kvm.h"
#include "steps.h"
#include "vmm/elf.h"
#include "vmm/shell.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"
#include "vmm/x86.h"

#include <denali/abi.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE  BOOT_MEM_SIZE
#define WARMUP	  BOOT_WARMUP
#define MAX_ROUND 9

struct opts {
	unsigned rounds;
	unsigned vms;	  /* boots per variant per round */
	unsigned live;	  /* live VMs for the memory figure */
	unsigned kicks;	  /* hypercalls per null-hypercall batch */
	unsigned batches; /* null-hypercall batches per round and side */
	const char *image;
};

static double us_since(uint64_t t0)
{
	return (double)(vm_now_ns() - t0) / 1000.0;
}

/* ---- statistics --------------------------------------------------------- */

/* A figure measured once per round: the report shows the median of rounds. */
struct fig {
	double r[MAX_ROUND];
	unsigned n;
};

static void fig_add(struct fig *f, double v)
{
	if (f->n < MAX_ROUND)
		f->r[f->n++] = v;
}

static double fig_med(const struct fig *f)
{
	return bench_median(f->r, f->n);
}

/* Median and p99 of one variant's samples, per round. */
struct dist {
	struct fig med, p99;
};

static void dist_add(struct dist *d, double *v, size_t n)
{
	fig_add(&d->med, bench_pct(v, n, 50));
	fig_add(&d->p99, bench_pct(v, n, 99));
}

/* ---- the real monitor path ---------------------------------------------- */

struct vm *boot_vm_create(const struct bench_image *img, unsigned id, uint64_t kicks, uint64_t idle)
{
	char name[32], err[256];
	struct vm_config cfg = {
	    .name = name,
	    .image = "bench-boot",
	    .elf = img->elf,
	    .elf_size = img->size,
	    .mem_size = MEM_SIZE,
	    .id = id,
	};
	struct vm *vm;
	int rc;

	snprintf(name, sizeof(name), "boot-%u", id);
	rc = vm_create(&cfg, &vm, err, sizeof(err));
	if (rc)
		bench_fail("vm_create: %s", err);
	/* The VM's registers are loaded at its first bind. */
	vm->state->regs.rdi = kicks;
	vm->state->regs.rsi = idle;
	return vm;
}

void expect_stop(struct vm *vm, enum vm_stop got, enum vm_stop want)
{
	if (got != want)
		bench_fail("vm %s: vm_run returned %d, expected %d (%s)", vm->name, got, want,
			   vm->reason);
}

/* Phases of one boot through the monitor, in µs. */
/* release: shell_put (pooled: completes the last exit and drops the
 * tenant's translations) or shell_destroy (fresh), after the boot; not in
 * total. */
enum { PH_CREATE, PH_SHELL, PH_BIND, PH_RUN, PH_RELEASE, PH_TOTAL, PH_N };
static const char *const ph_name[PH_N] = {"vm_create", "shell",	  "vm_bind",
					  "vm_run",    "release", "total"};

/*
 * Boots n + WARMUP VMs one after the other, each to its first hypercall
 * (EXIT), with a fresh shell each or a pooled one; ph[phase][i] gets the
 * phase times of boot i (warm-up boots not kept).
 */
static void boot_monitor(const struct bench_image *img, unsigned n, int pooled, double *ph[PH_N])
{
	for (unsigned i = 0; i < n + WARMUP; i++) {
		struct shell *sh;
		uint64_t t[PH_N];
		struct vm *vm;
		int rc;

		t[0] = vm_now_ns();
		vm = boot_vm_create(img, i + 1, 0, 0);
		t[1] = vm_now_ns();
		rc = pooled ? shell_get_for(vm->mem, vm->mem_size, &sh) : shell_create(&sh);
		if (rc)
			bench_fail("%s: %s", pooled ? "shell_get" : "shell_create", strerror(-rc));
		t[2] = vm_now_ns();
		rc = vm_bind(vm, sh);
		if (rc)
			bench_fail("vm_bind: %s", strerror(-rc));
		t[3] = vm_now_ns();
		expect_stop(vm, vm_run(vm), VM_STOP_EXIT);
		t[4] = vm_now_ns();
		vm_unbind(vm);
		if (pooled)
			shell_put(sh);
		else
			shell_destroy(sh);
		t[5] = vm_now_ns();
		if (i >= WARMUP) {
			for (int p = 0; p < PH_TOTAL; p++)
				ph[p][i - WARMUP] = (double)(t[p + 1] - t[p]) / 1000.0;
			ph[PH_TOTAL][i - WARMUP] = (double)(t[4] - t[0]) / 1000.0;
		}
		vm_destroy(vm);
	}
}

/* Mean µs per KICK for a VM making `kicks` of them, on a pooled shell. */
static double null_monitor(const struct bench_image *img, unsigned kicks)
{
	struct shell *sh;
	struct vm *vm;
	uint64_t t0;
	double us;
	int rc;

	vm = boot_vm_create(img, 1, kicks, 0);
	rc = shell_get(&sh);
	if (rc)
		bench_fail("shell_get: %s", strerror(-rc));
	rc = vm_bind(vm, sh);
	if (rc)
		bench_fail("vm_bind: %s", strerror(-rc));
	t0 = vm_now_ns();
	expect_stop(vm, vm_run(vm), VM_STOP_EXIT);
	us = us_since(t0) / (double)(kicks + 1);
	if (vm->ctr.hypercalls[DENALI_HC_KICK - DENALI_HC_BASE] != kicks)
		bench_fail("vm %s: %lu kicks counted, %u made", vm->name,
			   vm->ctr.hypercalls[DENALI_HC_KICK - DENALI_HC_BASE], kicks);
	vm_unbind(vm);
	shell_put(sh);
	vm_destroy(vm);
	return us;
}

/* ---- the raw-KVM baseline ----------------------------------------------- */

/* KVM_RUN until an `out` to stop_port, continuing through KICKs. */
static void raw_run(struct raw_vm *r, uint16_t stop_port)
{
	for (;;) {
		if (ioctl(r->vcpu_fd, KVM_RUN, 0) < 0)
			bench_fail("raw KVM_RUN: %s", strerror(errno));
		if (r->run->exit_reason != KVM_EXIT_IO)
			bench_fail("raw KVM_RUN: exit reason %u", r->run->exit_reason);
		if (r->run->io.port == stop_port)
			return;
		if (r->run->io.port != DENALI_HC_KICK)
			bench_fail("raw KVM_RUN: out to port 0x%x", r->run->io.port);
	}
}

/* A raw VM from nothing to its first hypercall. */
void raw_boot(struct raw_vm *r, const struct bench_image *img, uint64_t kicks, uint64_t idle,
	      uint16_t stop_port)
{
	raw_vm_mem(r, img);
	raw_vm_shell(r);
	raw_vm_slot(r, r->mem, MEM_SIZE);
	raw_vm_regs(r, kicks, idle);
	raw_run(r, stop_port);
}

static void boot_raw(const struct bench_image *img, unsigned n, double *us)
{
	for (unsigned i = 0; i < n + WARMUP; i++) {
		struct raw_vm r;
		uint64_t t0 = vm_now_ns();

		raw_boot(&r, img, 0, 0, DENALI_HC_EXIT);
		if (i >= WARMUP)
			us[i - WARMUP] = us_since(t0);
		raw_vm_destroy(&r);
	}
}

static double null_raw(const struct bench_image *img, unsigned kicks)
{
	struct raw_vm r;
	uint64_t t0;
	double us;

	raw_vm_mem(&r, img);
	raw_vm_shell(&r);
	raw_vm_slot(&r, r.mem, MEM_SIZE);
	raw_vm_regs(&r, kicks, 0);
	t0 = vm_now_ns();
	raw_run(&r, DENALI_HC_EXIT);
	us = us_since(t0) / (double)(kicks + 1);
	raw_vm_destroy(&r);
	return us;
}

/* ---- driver ------------------------------------------------------------- */

struct results {
	struct dist boot_fresh, boot_pooled, boot_raw, boot_raw_rebind;
	struct fig fresh_ph[PH_N], pooled_ph[PH_N];
	struct fig steps[ST_N];
	unsigned long steps_taken[ST_N], steps_boots; /* over all rounds */
	struct fig whatif[WI_N];
	struct dist null_dn, null_raw;
	struct fig guest, anon, rss_anon, rss_file, kernel, kernel_free, mi[MI_N];
	struct fig raw_kernel, raw_rss_anon;
};

static double **alloc_cols(int cols, unsigned n)
{
	double **c = calloc((size_t)cols, sizeof(*c));

	if (!c)
		bench_fail("out of memory");
	for (int i = 0; i < cols; i++) {
		c[i] = calloc(n, sizeof(double));
		if (!c[i])
			bench_fail("out of memory");
	}
	return c;
}

static void free_cols(double **c, int cols)
{
	for (int i = 0; i < cols; i++)
		free(c[i]);
	free(c);
}

static void print_dist(const char *what, double *v, size_t n)
{
	double m = bench_pct(v, n, 50), p = bench_pct(v, n, 99);

	printf("  %-28s median %9.1f us   p99 %9.1f us\n", what, m, p);
}

static void round_boot(const struct opts *o, const struct bench_image *img, struct results *res)
{
	double **ph = alloc_cols(PH_N, o->vms);
	double *raw = calloc(o->vms, sizeof(double));

	if (!raw)
		bench_fail("out of memory");
	boot_monitor(img, o->vms, 0, ph);
	print_dist("boot fresh shell", ph[PH_TOTAL], o->vms);
	for (int p = 0; p < PH_N; p++)
		fig_add(&res->fresh_ph[p], bench_pct(ph[p], o->vms, 50));
	dist_add(&res->boot_fresh, ph[PH_TOTAL], o->vms);

	if (shell_pool_fill(1))
		bench_fail("shell_pool_fill failed");
	boot_monitor(img, o->vms, 1, ph);
	print_dist("boot pooled shell", ph[PH_TOTAL], o->vms);
	for (int p = 0; p < PH_N; p++)
		fig_add(&res->pooled_ph[p], bench_pct(ph[p], o->vms, 50));
	dist_add(&res->boot_pooled, ph[PH_TOTAL], o->vms);

	boot_raw(img, o->vms, raw);
	print_dist("boot raw KVM", raw, o->vms);
	dist_add(&res->boot_raw, raw, o->vms);

	boot_raw_rebind(img, o->vms, raw);
	print_dist("boot raw KVM, VM reused", raw, o->vms);
	dist_add(&res->boot_raw_rebind, raw, o->vms);
	free(raw);
	free_cols(ph, PH_N);
}

static void round_steps(const struct opts *o, const struct bench_image *img, struct results *res)
{
	double **st = alloc_cols(ST_N, o->vms);

	double **wi = alloc_cols(WI_N, o->vms);

	boot_steps(img, o->vms, st);
	for (int s = 0; s < ST_N; s++) {
		unsigned taken;
		double m = steps_median(st[s], o->vms, &taken);

		/* A step the path did not take in this round is not a figure of it. */
		if (taken)
			fig_add(&res->steps[s], m);
		res->steps_taken[s] += taken;
	}
	res->steps_boots += o->vms;
	free_cols(st, ST_N);
	boot_whatif(img, o->vms, wi);
	for (int w = 0; w < WI_N; w++)
		fig_add(&res->whatif[w], bench_pct(wi[w], o->vms, 50));
	free_cols(wi, WI_N);
}

static void round_null(const struct opts *o, const struct bench_image *img, struct results *res)
{
	double *dn = calloc(o->batches, sizeof(double));
	double *raw = calloc(o->batches, sizeof(double));

	if (!dn || !raw)
		bench_fail("out of memory");
	/* Alternate, so that drift on a shared machine hits both sides alike. */
	for (unsigned b = 0; b < o->batches; b++) {
		dn[b] = null_monitor(img, o->kicks);
		raw[b] = null_raw(img, o->kicks);
	}
	printf("  %-28s median %9.2f us   p99 %9.2f us  (%u batches of %u)\n", "null hypercall",
	       bench_pct(dn, o->batches, 50), bench_pct(dn, o->batches, 99), o->batches, o->kicks);
	printf("  %-28s median %9.2f us   p99 %9.2f us\n", "null hypercall raw KVM",
	       bench_pct(raw, o->batches, 50), bench_pct(raw, o->batches, 99));
	dist_add(&res->null_dn, dn, o->batches);
	dist_add(&res->null_raw, raw, o->batches);
	free(dn);
	free(raw);
}

static void round_mem(const struct opts *o, const struct bench_image *img, struct results *res)
{
	struct mem_result m;

	mem_live(img, o->live, &m);
	printf("  %-28s guest %.0f B, AnonPages %.0f B, RssAnon %.0f B, kernel %.0f B "
	       "(MemFree %.0f B) per VM\n",
	       "live VMs", m.guest, m.anon, m.rss_anon, m.kernel, -m.mi[MI_FREE]);
	fig_add(&res->guest, m.guest);
	fig_add(&res->anon, m.anon);
	fig_add(&res->rss_anon, m.rss_anon);
	fig_add(&res->rss_file, m.rss_file);
	fig_add(&res->kernel, m.kernel);
	fig_add(&res->kernel_free, m.kernel_free);
	for (int i = 0; i < MI_N; i++)
		fig_add(&res->mi[i], m.mi[i]);
	fig_add(&res->raw_kernel, m.raw_kernel);
	fig_add(&res->raw_rss_anon, m.raw_rss_anon);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: denali-bench-boot [--rounds N] [--vms N] [--live N] [--kicks N] "
		   "[--batches N] [--image PATH]\n"
		   "  --rounds   rounds of everything; figures are medians over rounds (3)\n"
		   "  --vms      boots per variant per round (1000)\n"
		   "  --live     live VMs held for the memory figure (500)\n"
		   "  --kicks    hypercalls per null-hypercall batch (5000)\n"
		   "  --batches  null-hypercall batches per round and side (9)\n"
		   "  --image    the bench-boot guest (default: next to this binary)\n");
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"rounds", required_argument, NULL, 'r'},  {"vms", required_argument, NULL, 'n'},
	    {"live", required_argument, NULL, 'l'},    {"kicks", required_argument, NULL, 'k'},
	    {"batches", required_argument, NULL, 'b'}, {"image", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){3, 1000, 500, 5000, 9, NULL};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->rounds = bench_arg_uint(optarg, 1, MAX_ROUND);
			break;
		case 'n':
			o->vms = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'l':
			o->live = bench_arg_uint(optarg, 1, 9000);
			break;
		case 'k':
			o->kicks = bench_arg_uint(optarg, 1, 100000000);
			break;
		case 'b':
			o->batches = bench_arg_uint(optarg, 1, 10000);
			break;
		case 'i':
			o->image = optarg;
			break;
		case 'h':
			bench_usage_exit(usage, 0);
		default:
			bench_usage_exit(usage, 2);
		}
	}
	if (optind != argc)
		bench_usage_exit(usage, 2);
}

/* Root and /dev/kvm, or exit 77; enough open files for --live, or exit 2. */
static void check_env(const struct opts *o)
{
	unsigned long nofile;

	bench_check_env("KVM VMs, /proc/meminfo deltas");
	/* Two fds per live shell (and per raw VM), plus a few of our own. */
	nofile = bench_nofile_raise();
	if ((unsigned long)o->live * 2 + 64 > nofile) {
		fprintf(stderr, "denali-bench-boot: --live %u needs %u open files, limit is %lu\n",
			o->live, o->live * 2 + 64, nofile);
		exit(2);
	}
}

static void print_json(const struct opts *o, const struct results *r)
{
	double fresh = fig_med(&r->boot_fresh.med), pooled = fig_med(&r->boot_pooled.med);
	double raw = fig_med(&r->boot_raw.med), rebind = fig_med(&r->boot_raw_rebind.med);
	double hc = fig_med(&r->null_dn.med), hc_raw = fig_med(&r->null_raw.med);
	double beyond = fig_med(&r->rss_anon) - fig_med(&r->guest);

	printf("{\"bench\":\"boot\",\"rounds\":%u,\"vms\":%u,\"live\":%u,\"kicks\":%u,"
	       "\"batches\":%u,",
	       o->rounds, o->vms, o->live, o->kicks, o->batches);
	printf("\"boot_fresh_us\":{\"median\":%.1f,\"p99\":%.1f},", fresh,
	       fig_med(&r->boot_fresh.p99));
	printf("\"boot_pooled_us\":{\"median\":%.1f,\"p99\":%.1f},", pooled,
	       fig_med(&r->boot_pooled.p99));
	printf("\"boot_raw_us\":{\"median\":%.1f,\"p99\":%.1f},", raw, fig_med(&r->boot_raw.p99));
	printf("\"boot_raw_reused_us\":{\"median\":%.1f,\"p99\":%.1f},", rebind,
	       fig_med(&r->boot_raw_rebind.p99));
	printf("\"hypercall_us\":{\"median\":%.2f,\"p99\":%.2f},", hc, fig_med(&r->null_dn.p99));
	printf("\"hypercall_raw_us\":{\"median\":%.2f,\"p99\":%.2f},", hc_raw,
	       fig_med(&r->null_raw.p99));
	printf("\"ratio\":{\"boot_fresh_vs_raw\":%.2f,\"boot_pooled_vs_raw\":%.2f,"
	       "\"boot_pooled_vs_raw_reused\":%.2f,\"hypercall_vs_raw\":%.3f},",
	       fresh / raw, pooled / raw, pooled / rebind, hc / hc_raw);
	printf("\"mem_per_vm_bytes\":{\"guest_pages\":%.0f,\"user_anon_meminfo\":%.0f,"
	       "\"user_rss_anon\":%.0f,\"user_beyond_guest\":%.0f,\"user_rss_file\":%.0f,"
	       "\"kernel\":%.0f,\"kernel_from_memfree\":%.0f,\"slab\":%.0f,"
	       "\"kernel_stack\":%.0f,\"page_tables\":%.0f,\"sec_page_tables\":%.0f,"
	       "\"vmalloc\":%.0f,\"percpu\":%.0f,"
	       "\"raw_kvm_kernel\":%.0f,\"raw_kvm_user_beyond_guest\":%.0f},",
	       fig_med(&r->guest), fig_med(&r->anon), fig_med(&r->rss_anon), beyond,
	       fig_med(&r->rss_file), fig_med(&r->kernel), fig_med(&r->kernel_free),
	       fig_med(&r->mi[MI_SLAB]), fig_med(&r->mi[MI_KSTACK]), fig_med(&r->mi[MI_PTABLES]),
	       fig_med(&r->mi[MI_SECPT]), fig_med(&r->mi[MI_VMALLOC]), fig_med(&r->mi[MI_PERCPU]),
	       fig_med(&r->raw_kernel), fig_med(&r->raw_rss_anon));
	printf("\"pooled_phases_us\":{");
	for (int p = 0; p < PH_TOTAL; p++)
		printf("%s\"%s\":%.1f", p ? "," : "", ph_name[p], fig_med(&r->pooled_ph[p]));
	printf("},\"fresh_phases_us\":{");
	for (int p = 0; p < PH_TOTAL; p++)
		printf("%s\"%s\":%.1f", p ? "," : "", ph_name[p], fig_med(&r->fresh_ph[p]));
	printf("},\"pooled_steps_us\":{");
	for (int s = 0, k = 0; s < ST_N; s++)
		if (r->steps[s].n)
			printf("%s\"%s\":%.2f", k++ ? "," : "", st_name[s], fig_med(&r->steps[s]));
	printf("},\"pooled_steps_taken\":{");
	for (int s = 0, k = 0; s < ST_N; s++)
		if (r->steps_taken[s])
			printf("%s\"%s\":%.3f", k++ ? "," : "", st_name[s],
			       (double)r->steps_taken[s] / (double)r->steps_boots);
	printf("},\"sync_regs\":%s,\"whatif_us\":{", steps_sync_regs() ? "true" : "false");
	for (int w = 0; w < WI_N; w++)
		printf("%s\"%s\":%.2f", w ? "," : "", wi_name[w], fig_med(&r->whatif[w]));
	printf("},\"targets\":{\"boot_pooled_le_100us\":%s,\"hypercall_le_1.10x_raw\":%s,"
	       "\"user_beyond_guest_le_64KiB\":%s}}\n",
	       pooled <= 100 ? "true" : "false", hc / hc_raw <= 1.10 ? "true" : "false",
	       beyond <= 65536 ? "true" : "false");
}

static void print_summary(const struct results *r)
{
	printf("summary (median over rounds; per-round medians of %s)\n", "each step");
	printf("  pooled boot phases:");
	for (int p = 0; p < PH_N; p++)
		printf(" %s %.1f", ph_name[p], fig_med(&r->pooled_ph[p]));
	printf(" us\n  fresh boot phases: ");
	for (int p = 0; p < PH_N; p++)
		printf(" %s %.1f", ph_name[p], fig_med(&r->fresh_ph[p]));
	printf(" us\n  pooled path step by step, as shell.c takes it (us; share of boots that "
	       "take it):\n");
	for (int s = 0; s < ST_N; s++)
		if (r->steps[s].n)
			printf("    %-24s %8.2f  %5.1f%%\n", st_name[s], fig_med(&r->steps[s]),
			       100.0 * (double)r->steps_taken[s] / (double)r->steps_boots);
	printf("    (not taken: ");
	for (int s = 0; s < ST_N; s++)
		if (!r->steps_taken[s])
			printf("%s ", st_name[s]);
	printf(")\n");
	printf("  what-ifs, pooled path (us, -1 = refused):\n");
	for (int w = 0; w < WI_N; w++)
		printf("    %-24s %8.2f\n", wi_name[w], fig_med(&r->whatif[w]));
	printf("  meminfo deltas per live VM (bytes):");
	for (int i = 0; i < MI_N; i++)
		printf(" %s %.0f", mi_name[i], fig_med(&r->mi[i]));
	printf("\n  RssFile per live VM (kvm_run mappings): %.0f bytes\n", fig_med(&r->rss_file));
}

int main(int argc, char **argv)
{
	static struct results res;
	struct bench_image img;
	struct opts o;

	bench_set_name("denali-bench-boot");
	parse(argc, argv, &o);
	check_env(&o);
	/* --image, else ../guests/bench-boot beside the binary, else the build
	 * tree's path. */
	bench_load_image(o.image, "bench-boot", BENCH_GUEST, &img);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (kvm_open())
		bench_fail("kvm_open failed");
	raw_kvm_open();
	pagemap_open();
	for (unsigned r = 0; r < o.rounds; r++) {
		printf("round %u/%u\n", r + 1, o.rounds);
		round_boot(&o, &img, &res);
		round_steps(&o, &img, &res);
		round_null(&o, &img, &res);
		round_mem(&o, &img, &res);
	}
	print_summary(&res);
	print_json(&o, &res);
	shell_pool_drain();
	free(img.elf);
	return 0;
}

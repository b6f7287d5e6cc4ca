/*
 * denali-bench-swap: what swapping a VM costs, beside what the same bytes
 * cost to read raw, in the same run; what a swapped-out VM still costs the
 * host; how fast VMs are registered (created, run to their first idle and
 * swapped out); how long a swapped fleet takes to come back.
 *
 * One JSON line on stdout at the end; progress on stderr. Real VMs (the
 * swapcount guest), so it needs /dev/kvm (exits 77 without it).
 */
#include "bench_util.h"

#include "sched/swap.h"
#include "sched/swap_commit.h"
#include "sched/swap_log.h"
#include "sched/vm_swap.h"
#include "vmm/guest_mem.h"
#include "vmm/shell.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAT_MEM (32u << 20)

static struct bench_image img;
static char dir[256];
static int no_prefault;	   /* --no-prefault: the ablation of serve --swap-no-prefault */
static uint64_t read_unit; /* --unit SIZE: the ablation of serve --swap-unit */

static unsigned evict_n = 200;	  /* --evict N: VMs per eviction round */
static unsigned evict_rounds = 3; /* --evict-rounds R: of each commit mode, alternating */
static int only_evict;		  /* --only-evict: the eviction part alone */

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: denali-bench-swap [--dir DIR] [--iters N] [--count N] [--image PATH]\n"
	       "                         [--no-prefault] [--unit SIZE] [--evict N]\n"
	       "                         [--evict-rounds R] [--only-evict]\n"
	       "  --dir DIR    where the swap files go (default /var/tmp: a disk, durable)\n"
	       "  --iters N    swap round trips per working set (default 50)\n"
	       "  --count N    VMs registered and swapped out for the per-VM cost and the\n"
	       "               fleet restore (default 10000; the issue's full count is 100000)\n"
	       "  --no-prefault  swap-in without populating the pages first (ablation)\n"
	       "  --unit SIZE  swap-in reads of at most SIZE bytes, a multiple of 4096 (ablation)\n"
	       "  --evict N    VMs swapped out per eviction round, durable and recorded in a\n"
	       "               swap log: the old path (a data sync and a log sync each) beside\n"
	       "               group commit (default 200)\n"
	       "  --evict-rounds R  rounds of each, alternating; the median is reported (default "
	       "3)\n");
}

static struct vm *boot(uint64_t id, uint64_t mem, unsigned ws_kib)
{
	char ws[16], name[32], err[256], *argv[] = {"swapcount", ws, "1000000000", NULL};
	struct vm_config cfg = {name, "swapcount", img.elf, img.size, mem, id, 3, argv};
	struct vm *vm;

	snprintf(ws, sizeof(ws), "%u", ws_kib);
	snprintf(name, sizeof(name), "b%lu", (unsigned long)id);
	if (vm_create(&cfg, &vm, err, sizeof(err)))
		bench_fail("vm_create: %s", err);
	return vm;
}

/* Binds a pooled shell and runs vm to its next idle. */
static void run_to_idle(struct vm *vm)
{
	struct shell *sh;

	if (!vm->shell) {
		if (shell_get_for(vm->mem, vm->mem_size, &sh) || vm_bind(vm, sh))
			bench_fail("vm %s: no shell", vm->name);
	}
	for (;;) {
		enum vm_stop st = vm_run(vm);

		if (st == VM_STOP_IDLE)
			return;
		if (st != VM_STOP_PREEMPT)
			bench_fail("vm %s stopped: %s", vm->name, vm->reason);
	}
}

static void swap_out(struct vm *vm, struct swap *sw, uint64_t slot, struct swap_record *rec)
{
	struct shell *sh = vm->shell;
	char err[256];

	if (vm_swap_out(vm, sw, slot, rec, err, sizeof(err)))
		bench_fail("%s", err);
	if (sh)
		shell_put(sh);
}

static void swap_in(struct vm *vm, struct swap *sw, const struct swap_record *rec)
{
	char err[256];

	if (vm_swap_in(vm, sw, rec, err, sizeof(err)))
		bench_fail("%s", err);
	vm->status = VM_RUNNABLE;
	vm_wake(vm, DENALI_EV_TIMER);
}

static struct swap *open_swap(uint64_t slot_size, uint64_t nslots, int durable)
{
	struct swap_config cfg = {dir,	   1,		slot_size * nslots, slot_size,
				  durable, no_prefault, read_unit};
	struct swap *sw;
	char err[256];

	if (swap_open(&cfg, &sw, err, sizeof(err)))
		bench_fail("%s", err);
	return sw;
}

static void rm_swap(unsigned nfiles)
{
	char path[512];

	for (unsigned i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/swap.%u", dir, i);
		unlink(path);
	}
}

/* One batched io_uring read of len bytes at off into a buffer released
 * before each read (the same first-touch cost the swap-in pays). */
static double raw_read_us(struct io_uring *ring, int fd, uint8_t *buf, uint64_t off, uint64_t len)
{
	struct io_uring_cqe *cqe;
	uint64_t t0, done = 0;

	madvise(buf, LAT_MEM, MADV_DONTNEED);
	t0 = vm_now_ns();
	while (done < len) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		io_uring_prep_read(sqe, fd, buf + done, (unsigned)(len - done), off + done);
		io_uring_submit_and_wait(ring, 1);
		if (io_uring_wait_cqe(ring, &cqe) || cqe->res <= 0)
			bench_fail("raw read: %s", strerror(-cqe->res));
		done += (uint64_t)cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	return (vm_now_ns() - t0) / 1e3;
}

struct lat_result {
	unsigned ws_kib;
	uint32_t npages;
	double out_p50, out_p99, in_p50, in_p99, raw_p50, raw_p99, bind_p50;
};

static void latency(unsigned ws_kib, unsigned iters, struct lat_result *r)
{
	uint64_t slot_size = swap_slot_size_for(LAT_MEM, sizeof(struct vcpu_state), SWAP_DEV_MAX);
	struct swap *sw = open_swap(slot_size, 1, 1);
	double *out = calloc(iters, sizeof(double)), *in = calloc(iters, sizeof(double));
	double *raw = calloc(iters, sizeof(double)), *bind = calloc(iters, sizeof(double));
	uint8_t *buf = mmap(NULL, LAT_MEM, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct vm *vm = boot(1, LAT_MEM, ws_kib);
	struct swap_record rec;
	struct io_uring ring;
	char path[512];
	int fd;

	if (!out || !in || !raw || !bind || buf == MAP_FAILED || io_uring_queue_init(8, &ring, 0))
		bench_fail("latency set-up");
	snprintf(path, sizeof(path), "%s/swap.0", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_fail("open %s: %s", path, strerror(errno));
	run_to_idle(vm);
	run_to_idle(vm); /* the working set is written, and checked once */
	for (unsigned i = 0; i < iters; i++) {
		uint64_t t0 = vm_now_ns(), len;

		swap_out(vm, sw, 0, &rec);
		out[i] = (vm_now_ns() - t0) / 1e3;
		len = swap_meta_bytes(rec.npages, rec.state_len, rec.dev_len) +
		      (uint64_t)rec.npages * SWAP_PAGE;
		raw[i] = raw_read_us(&ring, fd, buf, 0, len);
		t0 = vm_now_ns();
		swap_in(vm, sw, &rec);
		in[i] = (vm_now_ns() - t0) / 1e3;
		t0 = vm_now_ns();
		run_to_idle(vm); /* bind (state load) and one round of the guest */
		bind[i] = (vm_now_ns() - t0) / 1e3;
	}
	r->ws_kib = ws_kib;
	r->npages = rec.npages;
	r->out_p50 = bench_pct(out, iters, 50);
	r->out_p99 = bench_pct(out, iters, 99);
	r->in_p50 = bench_pct(in, iters, 50);
	r->in_p99 = bench_pct(in, iters, 99);
	r->raw_p50 = bench_pct(raw, iters, 50);
	r->raw_p99 = bench_pct(raw, iters, 99);
	r->bind_p50 = bench_pct(bind, iters, 50);
	fprintf(stderr,
		"ws %5u KiB (%u pages saved): swap-out p50 %.0f us p99 %.0f; swap-in p50 %.0f "
		"p99 %.0f; raw read p50 %.0f p99 %.0f; ratio %.2f\n",
		ws_kib, rec.npages, r->out_p50, r->out_p99, r->in_p50, r->in_p99, r->raw_p50,
		r->raw_p99, r->raw_p50 > 0 ? r->in_p50 / r->raw_p50 : 0);
	{
		struct shell *sh = vm->shell;

		vm_unbind(vm);
		if (sh)
			shell_put(sh);
	}
	vm_destroy(vm);
	close(fd);
	io_uring_queue_exit(&ring);
	munmap(buf, LAT_MEM);
	swap_close(sw);
	rm_swap(1);
	free(out);
	free(in);
	free(raw);
	free(bind);
}

/*
 * Eviction throughput, durable and recorded: k VMs swapped out one after
 * another as a worker does, each one's swap-log record either appended and
 * synced on its own after a synced slot write (commit == NULL: the path
 * before group commit, swap opened durable) or handed to the group commit
 * (slot written unsynced; the round ends when the last record is durable).
 * Then every VM is brought back (its RESIDENT record through the same path)
 * and run to its next idle, untimed. Swap-outs per second.
 */
static double evict_round(struct vm **vms, unsigned k, struct swap *sw, struct swap_log *lg,
			  struct swap_commit *commit, struct swap_record *recs)
{
	uint64_t t0 = vm_now_ns(), seq = 0;
	double s;

	for (unsigned i = 0; i < k; i++) {
		swap_out(vms[i], sw, i, &recs[i]);
		if (commit)
			seq = swap_commit_enqueue(commit, SWAP_LOG_SWAPPED, vms[i]->id, &recs[i],
						  SWAP_NO_SLOT);
		else if (swap_log_append(lg, SWAP_LOG_SWAPPED, vms[i]->id, &recs[i]))
			bench_fail("swap log append");
	}
	if (commit && (!seq || swap_commit_wait(commit, seq, 600000)))
		bench_fail("group commit did not finish");
	s = (vm_now_ns() - t0) / 1e9;
	for (unsigned i = 0; i < k; i++) {
		swap_in(vms[i], sw, &recs[i]);
		if (commit)
			seq = swap_commit_enqueue(commit, SWAP_LOG_RESIDENT, vms[i]->id, NULL,
						  SWAP_NO_SLOT);
		else if (swap_log_append(lg, SWAP_LOG_RESIDENT, vms[i]->id, NULL))
			bench_fail("swap log append");
		run_to_idle(vms[i]);
	}
	if (commit && (!seq || swap_commit_wait(commit, seq, 600000)))
		bench_fail("group commit did not finish");
	return k / s;
}

struct evict_result {
	double each_p50, group_p50;
	struct swap_commit_stats st;
	uint64_t data_syncs_each, data_syncs_group;
};

static void eviction(unsigned k, unsigned rounds, struct evict_result *r)
{
	uint64_t slot = 256u << 10, mem = 2u << 20;
	struct swap *sw_each = open_swap(slot, k, 1), *sw_group;
	struct vm **vms = calloc(k, sizeof(*vms));
	struct swap_record *recs = calloc(k, sizeof(*recs));
	double *each = calloc(rounds, sizeof(double)), *group = calloc(rounds, sizeof(double));
	char sub[300], path[600], err[256];
	struct swap_log *lg_each, *lg_group;
	struct swap_commit *commit;
	struct swap_config cfg;
	struct swap_counters sc;

	if (!vms || !recs || !each || !group)
		bench_fail("out of memory");
	/* The group side in a directory of its own: swap.0 and swap.log each. */
	snprintf(sub, sizeof(sub), "%s/group", dir);
	if (mkdir(sub, 0700))
		bench_fail("mkdir %s: %s", sub, strerror(errno));
	cfg = (struct swap_config){sub, 1, slot * k, slot, 0, no_prefault, read_unit};
	if (swap_open(&cfg, &sw_group, err, sizeof(err)))
		bench_fail("%s", err);
	snprintf(path, sizeof(path), "%s/swap.log", dir);
	if (swap_log_open(path, &lg_each, err, sizeof(err)))
		bench_fail("%s", err);
	snprintf(path, sizeof(path), "%s/swap.log", sub);
	if (swap_log_open(path, &lg_group, err, sizeof(err)))
		bench_fail("%s", err);
	{
		struct swap_commit_config cc = {.sw = sw_group, .log = lg_group};

		if (swap_commit_open(&cc, &commit, err, sizeof(err)))
			bench_fail("%s", err);
	}
	for (unsigned i = 0; i < k; i++) {
		vms[i] = boot(1000000 + i, mem, 64);
		run_to_idle(vms[i]);
		run_to_idle(vms[i]);
	}
	for (unsigned rd = 0; rd < rounds; rd++) {
		each[rd] = evict_round(vms, k, sw_each, lg_each, NULL, recs);
		group[rd] = evict_round(vms, k, sw_group, lg_group, commit, recs);
		fprintf(stderr,
			"eviction round %u: %u swap-outs, old path %.0f/s, group commit %.0f/s\n",
			rd, k, each[rd], group[rd]);
	}
	r->each_p50 = bench_pct(each, rounds, 50);
	r->group_p50 = bench_pct(group, rounds, 50);
	swap_commit_get_stats(commit, &r->st);
	swap_get_counters(sw_group, &sc);
	r->data_syncs_group = sc.syncs;
	r->data_syncs_each = (uint64_t)k * rounds; /* one per slot write: durable */
	for (unsigned i = 0; i < k; i++) {
		struct shell *sh = vms[i]->shell;

		vm_unbind(vms[i]);
		if (sh)
			shell_put(sh);
		vm_destroy(vms[i]);
	}
	swap_commit_close(commit);
	swap_log_close(lg_each);
	swap_log_close(lg_group);
	swap_close(sw_each);
	swap_close(sw_group);
	rm_swap(1);
	snprintf(path, sizeof(path), "%s/swap.log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/swap.log", sub);
	unlink(path);
	snprintf(path, sizeof(path), "%s/swap.0", sub);
	unlink(path);
	rmdir(sub);
	free(vms);
	free(recs);
	free(each);
	free(group);
}

static long count_dir(const char *path)
{
	char cmd[128];
	long n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls %s | wc -l", path);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%ld", &n) != 1)
		n = 0;
	if (f)
		pclose(f);
	return n;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long rss_kib(void)
{
	static const char *const names[] = {"VmRSS"};
	long v = 0;

	bench_read_file_fields("/proc/self/status", names, 1, &v);
	return v;
}

int main(int argc, char **argv)
{
	unsigned iters = 50, count = 10000, ws[] = {64, 1024, 16384};
	const char *image = NULL, *d = "/var/tmp";
	struct lat_result lat[3];

	bench_set_name("denali-bench-swap");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			d = argv[++i];
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = bench_arg_uint(argv[++i], 3, 100000);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = bench_arg_uint(argv[++i], 10, 1000000);
		else if (!strcmp(argv[i], "--image") && i + 1 < argc)
			image = argv[++i];
		else if (!strcmp(argv[i], "--no-prefault"))
			no_prefault = 1;
		else if (!strcmp(argv[i], "--unit") && i + 1 < argc)
			read_unit = (uint64_t)bench_arg_uint(argv[++i], 4096, 1u << 30);
		else if (!strcmp(argv[i], "--evict") && i + 1 < argc)
			evict_n = bench_arg_uint(argv[++i], 1, 100000);
		else if (!strcmp(argv[i], "--evict-rounds") && i + 1 < argc)
			evict_rounds = bench_arg_uint(argv[++i], 1, 1000);
		else if (!strcmp(argv[i], "--only-evict"))
			only_evict = 1;
		else
			bench_usage_exit(usage, strcmp(argv[i], "--help") ? 2 : 0);
	}
	if (access("/dev/kvm", R_OK | W_OK) || kvm_open()) {
		printf("{\"bench\":\"swap\",\"skipped\":\"no /dev/kvm\"}\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "%s/denali-bench-swap-XXXXXX", d);
	if (!mkdtemp(dir))
		bench_fail("mkdtemp %s: %s", dir, strerror(errno));
	bench_load_image(image, "swapcount", BENCH_SWAPCOUNT, &img);
	bench_nofile_raise();
	struct evict_result ev;

	eviction(evict_n, evict_rounds, &ev);
	fprintf(stderr,
		"eviction, %u VMs x %u rounds: old path %.0f swap-outs/s, group commit %.0f/s "
		"(%.2fx); group: %lu log appends for %lu records (largest batch %lu), %lu data "
		"syncs (old path: %lu)\n",
		evict_n, evict_rounds, ev.each_p50, ev.group_p50,
		ev.each_p50 > 0 ? ev.group_p50 / ev.each_p50 : 0, (unsigned long)ev.st.batches,
		(unsigned long)ev.st.records, (unsigned long)ev.st.largest_batch,
		(unsigned long)ev.data_syncs_group, (unsigned long)ev.data_syncs_each);
	if (only_evict) {
		rmdir(dir);
		printf("{\"bench\":\"swap\",\"dir\":\"%s\",\"evict_vms\":%u,\"evict_rounds\":%u,"
		       "\"evict_old_per_s\":%.1f,\"evict_group_per_s\":%.1f,"
		       "\"evict_group_over_old\":%.2f,\"evict_group_log_appends\":%lu,"
		       "\"evict_group_records\":%lu,\"evict_group_data_syncs\":%lu,"
		       "\"evict_old_data_syncs\":%lu}\n",
		       d, evict_n, evict_rounds, ev.each_p50, ev.group_p50,
		       ev.each_p50 > 0 ? ev.group_p50 / ev.each_p50 : 0,
		       (unsigned long)ev.st.batches, (unsigned long)ev.st.records,
		       (unsigned long)ev.data_syncs_group, (unsigned long)ev.data_syncs_each);
		free(img.elf);
		return 0;
	}
	for (unsigned i = 0; i < 3; i++)
		latency(ws[i], iters, &lat[i]);

	/* Per swapped VM: N small VMs registered, run to their first idle and
	 * swapped out; what the host holds for them afterwards. */
	uint64_t slot = 256u << 10, mem = 2u << 20;
	struct swap *sw = open_swap(slot, count, 0);
	struct vm **vms = calloc(count, sizeof(*vms));
	struct swap_record *recs = calloc(count, sizeof(*recs));
	struct mallinfo2 m0, m1;
	long rss0, rss1, fds0, fds1, maps0, maps1;
	uint64_t t0, reg_ns, probe_ns, resume_ns;

	if (!vms || !recs)
		bench_fail("out of memory");
	shell_pool_fill(1);
	guest_mem_drain();
	m0 = mallinfo2();
	rss0 = rss_kib();
	fds0 = count_dir("/proc/self/fd");
	maps0 = count_lines("/proc/self/maps");
	t0 = vm_now_ns();
	for (unsigned i = 0; i < count; i++) {
		vms[i] = boot(100 + i, mem, 4);
		run_to_idle(vms[i]);
		swap_out(vms[i], sw, i, &recs[i]);
	}
	reg_ns = vm_now_ns() - t0;
	guest_mem_drain();
	m1 = mallinfo2();
	rss1 = rss_kib();
	fds1 = count_dir("/proc/self/fd");
	maps1 = count_lines("/proc/self/maps");
	fprintf(stderr,
		"%u swapped VMs: heap %+.0f B/VM, RSS %+.0f B/VM, fds %+ld, mappings %+ld; "
		"%.0f registered/s\n",
		count, (double)(m1.uordblks - m0.uordblks) / count,
		(double)(rss1 - rss0) * 1024 / count, fds1 - fds0, maps1 - maps0,
		count / (reg_ns / 1e9));

	/* Fleet restore: read back and check every slot's header (what a
	 * restarted daemon does), then bring every VM in and run it to its next
	 * idle (its first event answered). */
	t0 = vm_now_ns();
	for (unsigned i = 0; i < count; i++) {
		struct swap_record r;
		uint64_t id, size;

		if (swap_probe(sw, i, &r, &id, &size) || id != vms[i]->id ||
		    r.generation != recs[i].generation)
			bench_fail("slot %u does not probe back", i);
	}
	probe_ns = vm_now_ns() - t0;
	t0 = vm_now_ns();
	for (unsigned i = 0; i < count; i++) {
		struct shell *sh;

		swap_in(vms[i], sw, &recs[i]);
		run_to_idle(vms[i]);
		sh = vms[i]->shell;
		vm_unbind(vms[i]);
		shell_put(sh);
		vm_destroy(vms[i]);
	}
	resume_ns = vm_now_ns() - t0;
	fprintf(stderr, "fleet of %u: slots probed in %.3f s, all resumed and answered in %.2f s\n",
		count, probe_ns / 1e9, resume_ns / 1e9);
	swap_close(sw);
	rm_swap(1);
	rmdir(dir);

	printf(
	    "{\"bench\":\"swap\",\"dir\":\"%s\",\"iters\":%u,\"no_prefault\":%d,\"read_unit\":%lu",
	    d, iters, no_prefault, (unsigned long)read_unit);
	for (unsigned i = 0; i < 3; i++)
		printf(",\"ws_%ukib\":{\"pages_saved\":%u,\"swap_out_p50_us\":%.1f,"
		       "\"swap_out_p99_us\":%.1f,\"swap_in_p50_us\":%.1f,\"swap_in_p99_us\":%.1f,"
		       "\"raw_read_p50_us\":%.1f,\"raw_read_p99_us\":%.1f,"
		       "\"swap_in_over_raw_p50\":%.2f,\"rebind_and_round_p50_us\":%.1f}",
		       lat[i].ws_kib, lat[i].npages, lat[i].out_p50, lat[i].out_p99, lat[i].in_p50,
		       lat[i].in_p99, lat[i].raw_p50, lat[i].raw_p99,
		       lat[i].raw_p50 > 0 ? lat[i].in_p50 / lat[i].raw_p50 : 0, lat[i].bind_p50);
	printf(",\"swapped_vms\":%u,\"heap_bytes_per_swapped_vm\":%.0f,"
	       "\"rss_bytes_per_swapped_vm\":%.0f,\"fds_delta\":%ld,\"mappings_delta\":%ld,"
	       "\"registered_per_s\":%.0f,\"restore_probe_s\":%.3f,\"restore_resume_all_s\":%.2f,"
	       "\"registration_durable\":false,\"latency_durable\":true,"
	       "\"evict_vms\":%u,\"evict_old_per_s\":%.1f,\"evict_group_per_s\":%.1f,"
	       "\"evict_group_over_old\":%.2f,\"evict_group_log_appends\":%lu,"
	       "\"evict_group_data_syncs\":%lu}\n",
	       count, (double)(m1.uordblks - m0.uordblks) / count,
	       (double)(rss1 - rss0) * 1024 / count, fds1 - fds0, maps1 - maps0,
	       count / (reg_ns / 1e9), probe_ns / 1e9, resume_ns / 1e9, evict_n, ev.each_p50,
	       ev.group_p50, ev.each_p50 > 0 ? ev.group_p50 / ev.each_p50 : 0,
	       (unsigned long)ev.st.batches, (unsigned long)ev.data_syncs_group);
	free(vms);
	free(recs);
	free(img.elf);
	return 0;
}

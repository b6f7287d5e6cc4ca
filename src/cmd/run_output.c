/* denalid run's output: the help text, the VMs' console lines, what is said when a VM ends,
 * and the --swap and --summary figures. */
#include "run_impl.h"
#include "termsafe.h"

#include "../vmm/vm.h"

#include <stdlib.h>

void run_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: denalid run IMAGE [options] [-- ARGS...]\n"
	    "Boots instances of a guest image in the foreground and prints their console.\n"
	    "\n"
	    "  -n, --count N        instances to boot (default 1); named IMAGE-0..IMAGE-(N-1)\n"
	    "  -m, --mem SIZE       guest memory, " DENALI_MEM_RULE " (default 16M; K, M, G)\n"
	    "  -w, --workers N      worker threads (default: one per online CPU)\n"
	    "  -q, --quantum-ms N   scheduling quantum in ms (default 5, at least 1)\n"
	    "      --with 'IMAGE [ARGS]'  also boot one instance of IMAGE with ARGS; repeatable\n"
	    "      --suspend-after N  suspend each VM after its N-th idle to a snapshot file,\n"
	    "                       release its shell and memory, and resume it from the file\n"
	    "      --snapshot-dir DIR  where --suspend-after writes (default /tmp)\n"
	    "      --swap DIR       swap idle VMs to strided swap files in DIR (gatekeeper)\n"
	    "      --swap-files N   swap files (default 1)\n"
	    "      --swap-size SIZE  total swap size (default: a slot per VM)\n"
	    "      --swap-slot SIZE  bytes per slot (default: a whole VM's memory)\n"
	    "      --mem-budget SIZE  resident guest memory allowed (default unlimited)\n"
	    "      --live-max N     VMs in memory at once (default unlimited)\n"
	    "      --boot-charge SIZE  budget charged to a VM until its first idle (1M)\n"
	    "      --swap-every-idle  swap each VM out at every idle (tests)\n"
	    "      --swap-no-prefault  swap-in does not populate the pages before reading\n"
	    "                       them (ablation: the read's copy faults each page in)\n"
	    "      --swap-unit SIZE  swap-in reads at most SIZE per request, a multiple of 4K\n"
	    "                       (ablation; default: one request per run of pages)\n"
	    "      --net PREFIX     give every VM a NIC on one switch, IPv4 from PREFIX\n"
	    "                       (e.g. 198.18.0.0/24; the gateway is its first address)\n"
	    "      --networks K     VM number i joins network i %% K (default 1; tests)\n"
	    "      --tap NAME       uplink the switch to tap NAME (attached, or created)\n"
	    "      --disk FILE      a raw disk image for the first VM (--disk-ro: read-only)\n"
	    "      --disk-direct    aligned disk requests bypass the page cache (O_DIRECT)\n"
	    "      --events-unbatched  ablation: deliver at most one pending event per\n"
	    "                       guest entry instead of the whole batch\n"
	    "      --no-blk-poll    no block poller thread per worker: block requests are\n"
	    "                       taken at VM exits only (ablation)\n"
	    "      --tap-reads-single  the tap uplink posts one read per buffer instead of\n"
	    "                       one multishot read (ablation; kernels before 6.7)\n"
	    "      --tap-writes-queued  a worker queues its VMs' frames for the uplink\n"
	    "                       thread instead of writing them to the tap (ablation)\n"
	    "  -h, --help           this help\n"
	    "\n"
	    "Exit status: the first non-zero guest exit code (in VM order), %d if a VM was\n"
	    "killed and none exited non-zero, 0 otherwise; 1 for errors of denalid itself.\n",
	    RUN_KILLED_STATUS);
}

/* The guest's bytes as they are, or on a terminal its text without escape sequences. */
static void put(const char *p, size_t n)
{
	if (run_ctx.tty)
		term_safe_write(stdout, p, n);
	else
		fwrite(p, 1, n, stdout);
}

static void emit_line(struct vm *vm, const char *p, size_t n)
{
	if (run_ctx.prefix)
		printf("%s: ", vm->name);
	put(p, n);
	putchar('\n');
}

/* Console sink: whole lines, prefixed with the VM name when several run. */
void run_sink(const char *buf, size_t len, void *arg)
{
	struct run_vm *rv = arg;
	struct vm *vm = rv->task.vm;

	pthread_mutex_lock(&run_ctx.lock);
	if (!run_ctx.prefix) {
		put(buf, len);
		pthread_mutex_unlock(&run_ctx.lock);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n' || rv->line_len == sizeof(rv->line)) {
			emit_line(vm, rv->line, rv->line_len);
			rv->line_len = 0;
			if (buf[i] == '\n')
				continue;
		}
		rv->line[rv->line_len++] = buf[i];
	}
	pthread_mutex_unlock(&run_ctx.lock);
}

void run_on_done(struct task *t, void *arg)
{
	struct run_vm *rv = (struct run_vm *)t;
	struct vm *vm = t->vm;

	(void)arg;
	if (run_ctx.swapper)
		swapper_done(run_ctx.swapper, t);
	pthread_mutex_lock(&run_ctx.lock);
	if (rv->line_len) {
		emit_line(vm, rv->line, rv->line_len);
		rv->line_len = 0;
	}
	fflush(stdout);
	if (vm->status == VM_KILLED)
		fprintf(stderr, "vm %s killed: %s\n", vm->name, vm->reason);
	if (vm->console.dropped)
		fprintf(stderr, "vm %s: %lu console bytes dropped by the rate limit\n", vm->name,
			vm->console.dropped);
	if (vm->ndev > 1) {
		char line[1024];

		vmdev_format_counters(vm, line, sizeof(line));
		fprintf(stderr,
			"vm %s devices: runs=%lu exits=%lu event_entries=%lu events=%lu idles=%lu "
			"idle_fast=%lu kicks=%lu intr_exits=%lu %s\n",
			vm->name, vm->ctr.runs, vm->ctr.exits, vm->ctr.event_entries,
			vm->ctr.events, vm->ctr.hypercalls[DENALI_HC_IDLE - DENALI_HC_BASE],
			vm->ctr.idle_fast, vm->ctr.hypercalls[DENALI_HC_KICK - DENALI_HC_BASE],
			vm->ctr.exit_kinds[VM_EXIT_INTR], line);
	}
	run_ctx.done++;
	pthread_cond_broadcast(&run_ctx.cond);
	pthread_mutex_unlock(&run_ctx.lock);
}

void run_print_swap(void)
{
	struct swapper_stats st;

	swapper_get_stats(run_ctx.swapper, &st);
	fprintf(stderr,
		"swap: %lu evictions, %lu swap-ins, %lu eviction failures, %lu swap-in failures, "
		"%lu checksum failures; peak resident %lu of budget %lu bytes, %lu overruns; "
		"swap-in p50 %lu us p99 %lu us; swap-out p50 %lu us p99 %lu us\n",
		st.gk.evictions, st.gk.swap_ins, st.gk.eviction_failures, st.gk.swap_in_failures,
		st.swap.checksum_failures, st.peak_resident, st.mem_budget, st.overruns,
		st.swap_in_p50 / 1000, st.swap_in_p99 / 1000, st.swap_out_p50 / 1000,
		st.swap_out_p99 / 1000);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void run_print_summary(struct run_vm *vms, unsigned n, struct worker *w, unsigned nw,
		       uint64_t wall_ns)
{
	uint64_t exits = 0, hc = 0, cpu = 0, busy = 0, *life = malloc(n * sizeof(*life));
	uint64_t pcpu = 0, pwall = 0, ptaken = 0, psleeps = 0, pkicks = 0;
	unsigned exited = 0, killed = 0, nonzero = 0;

	for (unsigned i = 0; i < n; i++) {
		struct vm *vm = vms[i].task.vm;

		exits += vm->ctr.exits;
		for (unsigned k = 0; k < DENALI_HC_COUNT; k++)
			hc += vm->ctr.hypercalls[k];
		cpu += vm->ctr.cpu_ns;
		killed += vm->status == VM_KILLED;
		exited += vm->status == VM_EXITED;
		nonzero += vm->status == VM_EXITED && vm->exit_code;
		if (life)
			life[i] = vm->ctr.cpu_ns;
	}
	for (unsigned i = 0; i < nw; i++) {
		const struct blk_poll_stats *p = &w[i].stats.blk_poll;

		busy += w[i].stats.busy_ns;
		pcpu += p->cpu_ns;
		pwall += p->wall_ns;
		ptaken += p->taken;
		psleeps += p->sleeps;
		pkicks += p->kicks;
	}
	fprintf(stderr,
		"summary: %u VMs on %u workers in %.1f ms: %u exited (%u non-zero), %u killed\n"
		"summary: %lu VM exits, %lu hypercalls, %.1f exits per VM\n"
		"summary: guest CPU %.1f ms, worker utilisation %.0f%%\n",
		n, nw, wall_ns / 1e6, exited, nonzero, killed, exits, hc, (double)exits / n,
		cpu / 1e6, wall_ns ? 100.0 * (double)busy / ((double)wall_ns * nw) : 0);
	if (pwall)
		fprintf(stderr,
			"summary: block pollers: CPU %.1f ms in %.1f ms (%.0f%% of a core), %lu "
			"requests taken, %lu sleeps, %lu kicks\n",
			pcpu / 1e6, pwall / 1e6, 100.0 * (double)pcpu / (double)pwall, ptaken,
			psleeps, pkicks);
	if (life) {
		qsort(life, n, sizeof(*life), cmp_u64);
		fprintf(stderr, "summary: guest CPU per VM: median %.2f ms, max %.2f ms\n",
			life[n / 2] / 1e6, life[n - 1] / 1e6);
		free(life);
	}
}

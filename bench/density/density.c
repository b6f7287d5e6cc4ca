/*
 * denali-bench-density: how many sleeping VMs one denali process holds, how
 * fast they start, what they cost while idle, how late a woken one runs, and
 * what a switch between two spinning VMs costs, against raw KVM.
 *
 * Everything goes through the real scheduler: one worker per CPU
 * (worker_start), VMs made by vm_create from an ELF image and handed over
 * with worker_send(WCMD_ADD), as `denalid run` does. The guest (guest.S) is
 * a sleeper (IDLE with no deadline, forever) or a spinner (increments a
 * counter at the top of its memory, forever).
 *
 *   switch   two spinners on one worker, 1 ms quantum, against two raw KVM
 *            VMs on one thread alternated by a POSIX timer signal that sets
 *            immediate_exit; cost per switch = guest progress lost per switch
 *            (calibrated by a lone spinner on each side, in the same round).
 *   start    1k, then 5k, then as many as the process allows (one growing
 *            population): a VM has started when it reaches its first IDLE
 *            (the worker's idle hook); time from the first vm_create of the
 *            phase to the last first-idle.
 *   memory   /proc/meminfo and /proc/self/status deltas per live VM.
 *   wake     every 1 ms a random sleeper (of 5,000) gets an event and a
 *            WCMD_WAKE; lateness = its next IDLE - the post.
 *   idle     getrusage over 30 s with every VM idle.
 *
 * Every /proc file is opened before the population grows: at the open-file
 * wall nothing else can be opened. Needs root and /dev/kvm: exits 77
 * otherwise.
 */

#include "density.h"

/* ---- options, environment ------------------------------------------------- */

void usage(FILE *f)
{
	fprintf(f, "usage: denali-bench-density [--max N] [--idle-seconds S] [--wakes N]\n"
		   "                            [--wake-vms N] [--rounds N] [--switch-seconds S]\n"
		   "                            [--workers N] [--no-teardown] [--image PATH]\n"
		   "  --max             stop growing at N live VMs (default: until refused)\n"
		   "  --idle-seconds    all-idle CPU window (30)\n"
		   "  --wakes           wake-ups, one per ms, for the lateness figure (5000)\n"
		   "  --wake-vms        sleepers the wake-ups pick from (5000)\n"
		   "  --rounds          switch-cost rounds (5)\n"
		   "  --switch-seconds  measured window of each two-spinner run (1.0)\n"
		   "  --workers         worker threads (default: one per online CPU)\n"
		   "  --no-teardown     leave the VMs to process exit (no teardown figure)\n"
		   "  --image           the bench-density guest (default: next to this binary)\n");
}

void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"max", required_argument, NULL, 'm'},
	    {"idle-seconds", required_argument, NULL, 'i'},
	    {"wakes", required_argument, NULL, 'k'},
	    {"wake-vms", required_argument, NULL, 'v'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"switch-seconds", required_argument, NULL, 's'},
	    {"workers", required_argument, NULL, 'w'},
	    {"no-teardown", no_argument, NULL, 'T'},
	    {"image", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	*o = (struct opts){0, 30, 5000, 5000, 5, 1.0, 0, 1, NULL};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->max = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'i':
			o->idle_seconds = bench_arg_uint(optarg, 1, 3600);
			break;
		case 'k':
			o->wakes = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'v':
			o->wake_vms = bench_arg_uint(optarg, 1, 1000000);
			break;
		case 'r':
			o->rounds = bench_arg_uint(optarg, 1, MAX_ROUND);
			break;
		case 's':
			o->switch_seconds = strtod(optarg, &end);
			if (*end || o->switch_seconds < 0.1 || o->switch_seconds > 60) {
				fprintf(stderr,
					"denali-bench-density: --switch-seconds %s: want "
					"0.1..60\n",
					optarg);
				exit(2);
			}
			break;
		case 'w':
			o->workers = bench_arg_uint(optarg, 1, 256);
			break;
		case 'T':
			o->teardown = 0;
			break;
		case 'I':
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

/* Root and /dev/kvm, or exit 77; the open-file limit raised to its hard
 * limit. Returns that limit. */
unsigned long check_env(void)
{
	bench_check_env("thousands of KVM VMs, /proc/meminfo deltas");
	return bench_nofile_raise();
}

/* ---- report --------------------------------------------------------------- */

double rate(const struct phase *ph)
{
	return ph->seconds > 0 ? (ph->to - ph->from) / ph->seconds : 0;
}

void print_memcost(const char *what, const struct memcost *c)
{
	printf("memory %s, per live VM (%u VMs): user RssAnon %.0f B, RssFile %.0f B; "
	       "kernel %.0f B (MemFree drop - RssAnon) / %.0f B (counters: Slab %.0f, "
	       "KernelStack %.0f, PageTables %.0f, SecPageTables %.0f, VmallocUsed %.0f, "
	       "Percpu %.0f); %.2f threads, %.2f maps, %.2f fds\n",
	       what, c->vms, c->user_anon, c->user_file, c->kernel_free, c->kernel, c->mi[MI_SLAB],
	       c->mi[MI_KSTACK], c->mi[MI_PTABLES], c->mi[MI_SECPT], c->mi[MI_VMALLOC],
	       c->mi[MI_PERCPU], c->threads, c->maps, c->fds);
}

void json_memcost(const char *key, const struct memcost *c)
{
	printf("\"%s\":{\"vms\":%u,\"user_rss_anon\":%.0f,\"user_rss_file\":%.0f,"
	       "\"kernel_from_memfree\":%.0f,\"kernel_counters\":%.0f,\"slab\":%.0f,"
	       "\"kernel_stack\":%.0f,\"page_tables\":%.0f,\"sec_page_tables\":%.0f,"
	       "\"vmalloc\":%.0f,\"percpu\":%.0f,\"threads\":%.2f,\"maps\":%.2f,\"fds\":%.2f},",
	       key, c->vms, c->user_anon, c->user_file, c->kernel_free, c->kernel, c->mi[MI_SLAB],
	       c->mi[MI_KSTACK], c->mi[MI_PTABLES], c->mi[MI_SECPT], c->mi[MI_VMALLOC],
	       c->mi[MI_PERCPU], c->threads, c->maps, c->fds);
}

void json_phase(const char *key, const struct phase *ph)
{
	unsigned n = ph->to - ph->from;

	printf("\"%s\":{\"from\":%u,\"to\":%u,\"seconds\":%.3f,\"vms_per_s\":%.0f,"
	       "\"cpu_us_per_start\":%.0f},",
	       key, ph->from, ph->to, ph->seconds, rate(ph), n ? ph->cpu_s * 1e6 / n : 0);
}

const char *json_bool(int b)
{
	return b ? "true" : "false";
}

/* A string for JSON: quotes and backslashes dropped, control bytes blanked. */
void json_clean(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			continue;
		*d++ = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	*d = 0;
}

int main(int argc, char **argv)
{
	static struct switch_result sw;
	struct phase ph1 = {0}, ph5 = {0}, phm = {0}, ph_first = {0}, ph_after = {0};
	struct memsnap base, at5, atmax;
	struct memcost c5, cmax;
	struct wake_result wk = {0};
	struct idle_result idle = {0};
	struct nofd nf;
	struct bench b = {0};
	struct bench_image img;
	struct opts o;
	unsigned long nofile;
	struct probe pr[4] = {{0}};
	int spare[2];
	double down = -1;
	unsigned live, refused, small;
	char stop_reason[300];
	int rc;

	bench_set_name("denali-bench-density");
	parse(argc, argv, &o);
	nofile = check_env();
	/* --image, else ../guests/bench-density beside the binary, else the
	 * build tree's path. */
	bench_load_image(o.image, "bench-density", BENCH_GUEST, &img);
	setvbuf(stdout, NULL, _IOLBF, 0);
	proc_open();
	if (kvm_open())
		bench_fail("kvm_open failed");
	if (worker_signals_init())
		bench_fail("worker_signals_init failed");
	/* A stopped VM's shell is destroyed, not pooled: no fds held beyond the
	 * live VMs'. */
	shell_pool_set_max(0);
	/* New shells made ahead of time, as denalid does (fleet.c): never used ones, so every
	 * VM still gets a KVM VM created for it; 32 fds. */
	if (shell_filler_start(SHELL_FILL_DEFAULT, NULL))
		bench_fail("shell_filler_start failed");
	if (!o.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o.workers = n > 0 ? (unsigned)n : 1;
	}
	printf("denali-bench-density: %u workers, open-file limit %lu, pid_max %ld, "
	       "max_map_count %ld\n",
	       o.workers, nofile, sysctl_long("/proc/sys/kernel/pid_max"),
	       sysctl_long("/proc/sys/vm/max_map_count"));

	b.o = &o;
	b.img = &img;
	b.nworkers = o.workers;
	b.cap = o.max ? o.max : (unsigned)(nofile / 2 + 1024);
	b.vms = calloc(b.cap, sizeof(*b.vms));
	b.workers = calloc(b.nworkers, sizeof(*b.workers));
	if (!b.vms || !b.workers)
		bench_fail("out of memory");
	for (unsigned i = 0; i < b.nworkers; i++) {
		rc = worker_start(&b.workers[i], (int)i, 5 * QUANTUM_NS, on_done, &pop);
		if (rc)
			bench_fail("worker %u: %s", i, strerror(-rc));
		worker_set_idle_hook(&b.workers[i], on_idle, NULL);
	}
	/* The start rate first, into an empty process (before anything else ran in it). */
	small = b.cap < 1000 ? b.cap : 1000;
	start_round(&b, small, &ph_first);
	print_phase("first", &ph_first);
	bench_switch(&o, &img, &sw);
	sleep_ns(200000000ull);
	mem_snap(&base);
	probe_costs(&img, 0, &pr[0]);

	grow(&b, small, &ph1);
	print_phase("1k", &ph1);
	probe_costs(&img, pop.started, &pr[1]);
	if (b.cap > small && !pop.killed && !b.create_failed) {
		grow(&b, b.cap < 5000 ? b.cap : 5000, &ph5);
		print_phase("5k", &ph5);
	}
	sleep_ns(300000000ull);
	mem_snap(&at5);
	mem_cost(&base, &at5, pop.started, &c5);
	print_memcost("at 5k", &c5);
	probe_costs(&img, pop.started, &pr[2]);

	bench_wake(&b, o.wake_vms < pop.started ? o.wake_vms : pop.started, o.wakes, &wk);
	printf("wake: %u of %u sampled, %u sleepers: lateness p50 %.1f us, p99 %.1f us, max %.1f "
	       "us, mean %.1f us\n",
	       wk.samples, wk.posted, wk.vms, wk.p50, wk.p99, wk.max, wk.mean);

	/* Two fds kept back, so that the probe can still make a shell at the wall. */
	spare[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	spare[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	shell_filler_start(0, NULL); /* to the wall: no new shell held back */
	if (b.n < b.cap && !pop.killed && !b.create_failed) {
		grow(&b, b.cap, &phm);
		print_phase("max", &phm);
	}
	close(spare[0]);
	close(spare[1]);
	live = pop.started;
	refused = pop.killed;
	if (pop.killed)
		snprintf(stop_reason, sizeof(stop_reason), "a VM got no shell: %s", pop.reason);
	else if (b.create_failed)
		snprintf(stop_reason, sizeof(stop_reason), "vm_create failed: %s", b.create_err);
	else
		snprintf(stop_reason, sizeof(stop_reason), "reached --max %u", o.max);
	json_clean(stop_reason);
	printf("max: %u live VMs (%u refused); stopped because %s\n", live, refused, stop_reason);
	sleep_ns(300000000ull);
	mem_snap(&atmax);
	mem_cost(&base, &atmax, live, &cmax);
	print_memcost("at max", &cmax);
	probe_costs(&img, live, &pr[3]);

	bench_idle(&b, live, o.idle_seconds, &idle);
	printf("idle: %u VMs for %.1f s: %.3f%% of one core (this process), %.0f dispatches; "
	       "host, all processes: %.1f%% of one core\n",
	       idle.vms, idle.seconds, idle.cpu_pct, idle.dispatches, idle.host_pct);

	nofd_estimate(&base, &cmax, &nf);
	printf("without the open-file limit: ~%.0f live VMs, bound by %s (memory %.0f at %.0f "
	       "B/VM of %ld MiB available; pid_max %.0f; threads-max %.0f; max_map_count %.0f)\n",
	       nf.estimate, nf.bound_by, nf.mem_cap, nf.per_vm_bytes, nf.mem_avail_kib / 1024,
	       nf.pid_cap, nf.threads_cap, nf.maps_cap);

	if (o.teardown) {
		down = teardown(&b);
		printf("teardown: %u VMs stopped and their shells destroyed in %.2f s\n", live,
		       down);
		for (unsigned i = 0; i < b.n; i++)
			dvm_destroy(b.vms[i]);
		b.n = 0;
		pthread_mutex_lock(&pop.lock);
		pop.started = pop.killed = pop.done = 0;
		pthread_mutex_unlock(&pop.lock);
		/* ... and the start rate again, after the big population has gone. */
		shell_filler_start(SHELL_FILL_DEFAULT, NULL);
		start_round(&b, small, &ph_after);
		print_phase("after", &ph_after);
		for (unsigned i = 0; i < b.nworkers; i++)
			worker_stop(&b.workers[i]);
	}

	double dn = sw_med(&sw, SIDE_DENALI, SW_LOST), raw = sw_med(&sw, SIDE_RAW, SW_LOST);
	double start5 = ph1.seconds + ph5.seconds;
	/* the slowest of the 0 -> 1,000 starts: first thing, after the switch rounds, after
	 * the teardown (when it ran) */
	double min1k = rate(&ph_first) < rate(&ph1) ? rate(&ph_first) : rate(&ph1);

	if (ph_after.to && rate(&ph_after) < min1k)
		min1k = rate(&ph_after);
	double rate5 = start5 > 0 ? (ph5.to ? ph5.to : ph1.to) / start5 : 0;

	printf("summary: switch %.1f us (denali) vs %.1f us (raw KVM) = %.2fx; start %.0f VMs/s "
	       "to %u; %u live; idle %.3f%% of a core; wake p99 %.1f us\n",
	       dn, raw, raw > 0 ? dn / raw : 0, rate5, ph5.to ? ph5.to : ph1.to, live, idle.cpu_pct,
	       wk.p99);
	printf("{\"bench\":\"density\",\"workers\":%u,\"nofile_limit\":%lu,", o.workers, nofile);
	printf("\"start\":{");
	json_phase("1k", &ph1);
	json_phase("5k", &ph5);
	json_phase("max", &phm);
	json_phase("first_1k", &ph_first);
	json_phase("after_1k", &ph_after);
	printf("\"to_5k_vms_per_s\":%.0f,\"min_1k_vms_per_s\":%.0f},", rate5, min1k);
	printf("\"max_live\":%u,\"refused\":%u,\"stop_reason\":\"%s\",", live, refused,
	       stop_reason);
	printf("\"mem_per_vm_bytes\":{");
	json_memcost("at_5k", &c5);
	json_memcost("at_max", &cmax);
	printf("\"base_mem_available_kib\":%ld},", base.mi[MI_AVAIL]);
	printf("\"idle\":{\"vms\":%u,\"seconds\":%.1f,\"cpu_pct_one_core\":%.4f,"
	       "\"dispatches\":%.0f,\"host_cpu_pct_one_core\":%.2f},",
	       idle.vms, idle.seconds, idle.cpu_pct, idle.dispatches, idle.host_pct);
	printf("\"wake\":{\"vms\":%u,\"posted\":%u,\"samples\":%u,\"period_us\":%.0f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f},",
	       wk.vms, wk.posted, wk.samples, WAKE_PERIOD_NS / 1e3, wk.p50, wk.p99, wk.max,
	       wk.mean);
	printf("\"switch\":{\"quantum_ms\":%.0f,\"rounds\":%u,\"seconds\":%.1f,"
	       "\"denali_us\":%.2f,\"raw_us\":%.2f,\"ratio\":%.2f,\"raw_one_vm_tick_us\":%.2f,"
	       "\"denali_outside_run_us\":%.2f,\"raw_outside_run_us\":%.2f,"
	       "\"denali_switches_per_s\":%.0f,\"raw_switches_per_s\":%.0f,"
	       "\"floor_pct\":{\"denali\":%.3f,\"raw\":%.3f}},",
	       QUANTUM_NS / 1e6, sw.rounds, o.switch_seconds, dn, raw, raw > 0 ? dn / raw : 0,
	       sw_med(&sw, SIDE_RAW_TICK, SW_LOST), sw_med(&sw, SIDE_DENALI, SW_OUTSIDE),
	       sw_med(&sw, SIDE_RAW, SW_OUTSIDE), sw_med(&sw, SIDE_DENALI, SW_PER_S),
	       sw_med(&sw, SIDE_RAW, SW_PER_S), sw_med(&sw, SIDE_DENALI, SW_FLOOR),
	       sw_med(&sw, SIDE_RAW, SW_FLOOR));
	printf("\"probes\":[");
	for (int k = 0; k < 4; k++)
		printf("%s{\"vms\":%u,\"vm_create_us\":%.1f,\"shell_create_us\":%.1f,"
		       "\"shell_destroy_us\":%.1f,\"munmap_us\":%.1f}",
		       k ? "," : "", pr[k].vms, pr[k].vm_create_us, pr[k].shell_create_us,
		       pr[k].shell_destroy_us, pr[k].munmap_us);
	printf("],");
	printf("\"teardown_s\":%.2f,", down);
	printf("\"no_fd_limit\":{\"estimate_vms\":%.0f,\"bound_by\":\"%s\",\"per_vm_bytes\":%.0f,"
	       "\"memory_cap\":%.0f,\"pid_max_cap\":%.0f,\"threads_max_cap\":%.0f,"
	       "\"max_map_count_cap\":%.0f},",
	       nf.estimate, nf.bound_by, nf.per_vm_bytes, nf.mem_cap, nf.pid_cap, nf.threads_cap,
	       nf.maps_cap);
	printf("\"targets\":{\"live_ge_9000\":%s,\"starts_per_s_ge_2000\":%s,"
	       "\"starts_per_s_ge_2000_to_1k\":%s,"
	       "\"idle_cpu_lt_1pct\":%s,\"wake_p99_lt_1ms_at_5k\":%s}}\n",
	       json_bool(live >= 9000), json_bool(rate5 >= 2000), json_bool(min1k >= 2000),
	       json_bool(idle.cpu_pct < 1.0),
	       json_bool(wk.vms >= 5000 && wk.samples > 0 && wk.p99 < 1000));
	free(img.elf);
	fflush(stdout);
	if (!o.teardown)
		_exit(0);
	free(b.vms);
	free(b.workers);
	return 0;
}

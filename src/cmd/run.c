/*
 * `denalid run`: boot N instances of an image in the foreground, print their
 * console output, exit with the first non-zero guest exit code.
 */
#include "denalid.h"
#include "image.h"
#include "vmdev.h"

#include "ctl/proto.h"

#include "../devices/blk.h"
#include "../devices/netsw.h"
#include "../devices/tap.h"
#include "../sched/swapper.h"
#include "../sched/worker.h"
#include "../vmm/shell.h"
#include "../vmm/snapshot.h" /* --suspend-after */
#include "../vmm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUN_KILLED_STATUS 125
#define RUN_MAX_COUNT	  100000
#define RUN_MAX_EXTRA	  16
#define RUN_MAX_WITH_ARGS 32

struct run_vm {
	struct task task;
	unsigned idles;
	char line[256]; /* partial output line, when prefixing */
	size_t line_len;
	int index;
	int snap_fd; /* --suspend-after: made before the workers start (they may not open files) */
};

struct run_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;
	int prefix;
	int summary;
	unsigned suspend_after;
	const char *snapshot_dir;
	struct swapper *swapper; /* --swap */
	/* devices */
	int net;
	struct net_prefix pfx;
	unsigned networks;
	const char *disk;
	int disk_ro, disk_direct;
	struct netsw *sw;
	const char *tap;
	struct tap_uplink *up;
};

static struct run_ctx ctx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void usage(FILE *f)
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
	    "  -h, --help           this help\n"
	    "\n"
	    "Exit status: the first non-zero guest exit code (in VM order), %d if a VM was\n"
	    "killed and none exited non-zero, 0 otherwise; 1 for errors of denalid itself.\n",
	    RUN_KILLED_STATUS);
}

static void emit_line(struct vm *vm, const char *p, size_t n)
{
	if (ctx.prefix)
		printf("%s: %.*s\n", vm->name, (int)n, p);
	else
		printf("%.*s\n", (int)n, p);
}

/* Console sink: whole lines, prefixed with the VM name when several run. */
static void sink(const char *buf, size_t len, void *arg)
{
	struct run_vm *rv = arg;
	struct vm *vm = rv->task.vm;

	pthread_mutex_lock(&ctx.lock);
	if (!ctx.prefix) {
		fwrite(buf, 1, len, stdout);
		pthread_mutex_unlock(&ctx.lock);
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
	pthread_mutex_unlock(&ctx.lock);
}

static void on_done(struct task *t, void *arg)
{
	struct run_vm *rv = (struct run_vm *)t;
	struct vm *vm = t->vm;

	(void)arg;
	if (ctx.swapper)
		swapper_done(ctx.swapper, t);
	pthread_mutex_lock(&ctx.lock);
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
	ctx.done++;
	pthread_cond_broadcast(&ctx.cond);
	pthread_mutex_unlock(&ctx.lock);
}

/* A snapshot file for --suspend-after, created and unlinked here, on the
 * main thread: a worker's seccomp allowlist has no call that opens a file. */
static int open_snapshot(struct run_vm *rv)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/denali-snap-XXXXXX",
		 ctx.snapshot_dir ? ctx.snapshot_dir : "/tmp");
	rv->snap_fd = mkstemp(path);
	if (rv->snap_fd < 0) {
		fprintf(stderr, "denalid run: vm %s: cannot create %s: %s\n", rv->task.vm->name,
			path, strerror(errno));
		return -1;
	}
	unlink(path);
	return 0;
}

/*
 * --suspend-after: write the VM to a snapshot file, drop its memory and
 * shell, read it back and bind it to a shell no VM has used, so that the
 * rest of its run proves the image is self-contained.
 */
static int suspend_resume(struct task *t, void *arg)
{
	struct run_vm *rv = (struct run_vm *)t;
	struct vm *vm = t->vm;
	struct shell *old = vm->shell, *fresh = NULL;
	char err[256];
	int fd, rc;

	(void)arg;
	if (++rv->idles != ctx.suspend_after)
		return 0;
	fd = rv->snap_fd;
	rv->snap_fd = -1;
	if (fd < 0) {
		vm_kill(vm, "suspend: no snapshot file");
		return -1;
	}
	rc = shell_create(&fresh);
	if (rc) {
		snprintf(err, sizeof(err), "no fresh shell: %s", strerror(-rc));
		goto fail;
	}
	rc = snapshot_save(vm, fd, err, sizeof(err)); /* releases memory and shell */
	if (rc)
		goto fail;
	shell_put(old);
	if (lseek(fd, 0, SEEK_SET) != 0) {
		snprintf(err, sizeof(err), "rewinding the snapshot: %s", strerror(errno));
		goto fail;
	}
	rc = snapshot_load(fd, vm, NULL, err, sizeof(err));
	if (rc)
		goto fail;
	rc = vm_bind(vm, fresh);
	if (rc) {
		snprintf(err, sizeof(err), "binding: %s", strerror(-rc));
		goto fail;
	}
	close(fd);
	fprintf(stderr, "vm %s: suspended after idle %u and resumed in a fresh shell\n", vm->name,
		rv->idles);
	return 0;
fail:
	close(fd);
	if (fresh)
		shell_destroy(fresh);
	vm_kill(vm, "suspend/resume: %s", err);
	return -1;
}

static int swap_idle(struct task *t, void *arg)
{
	(void)arg;
	return swapper_idle(ctx.swapper, t);
}

static void print_swap(void)
{
	struct swapper_stats st;

	swapper_get_stats(ctx.swapper, &st);
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

static void print_summary(struct run_vm *vms, unsigned n, struct worker *w, unsigned nw,
			  uint64_t wall_ns)
{
	uint64_t exits = 0, hc = 0, cpu = 0, busy = 0, *life = malloc(n * sizeof(*life));
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
	for (unsigned i = 0; i < nw; i++)
		busy += w[i].stats.busy_ns;
	fprintf(stderr,
		"summary: %u VMs on %u workers in %.1f ms: %u exited (%u non-zero), %u killed\n"
		"summary: %lu VM exits, %lu hypercalls, %.1f exits per VM\n"
		"summary: guest CPU %.1f ms, worker utilisation %.0f%%\n",
		n, nw, wall_ns / 1e6, exited, nonzero, killed, exits, hc, (double)exits / n,
		cpu / 1e6, wall_ns ? 100.0 * (double)busy / ((double)wall_ns * nw) : 0);
	if (life) {
		qsort(life, n, sizeof(*life), cmp_u64);
		fprintf(stderr, "summary: guest CPU per VM: median %.2f ms, max %.2f ms\n",
			life[n / 2] / 1e6, life[n - 1] / 1e6);
		free(life);
	}
}

static int load(const char *path, uint8_t **elf, size_t *size)
{
	char err[256];
	int rc = image_read(path, NULL, elf, size, err, sizeof(err));

	if (rc)
		fprintf(stderr, "denalid: %s\n", err);
	return rc;
}

int denalid_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"count", required_argument, NULL, 'n'},
	    {"mem", required_argument, NULL, 'm'},
	    {"workers", required_argument, NULL, 'w'},
	    {"quantum-ms", required_argument, NULL, 'q'},
	    {"with", required_argument, NULL, 'W'},
	    {"suspend-after", required_argument, NULL, 'S'},
	    {"snapshot-dir", required_argument, NULL, 'D'},
	    {"summary", no_argument, NULL, 's'},
	    {"swap", required_argument, NULL, 'X'},
	    {"swap-files", required_argument, NULL, 'F'},
	    {"swap-size", required_argument, NULL, 'Z'},
	    {"swap-slot", required_argument, NULL, 'L'},
	    {"mem-budget", required_argument, NULL, 'B'},
	    {"live-max", required_argument, NULL, 'M'},
	    {"swap-every-idle", no_argument, NULL, 'E'},
	    {"boot-charge", required_argument, NULL, 'C'},
	    {"swap-no-prefault", no_argument, NULL, 'P'},
	    {"swap-unit", required_argument, NULL, 'U'},
	    {"net", required_argument, NULL, 'N'},
	    {"networks", required_argument, NULL, 'K'},
	    {"tap", required_argument, NULL, 'T'},
	    {"disk", required_argument, NULL, 'd'},
	    {"disk-ro", required_argument, NULL, 'r'},
	    {"disk-direct", no_argument, NULL, 'j'},
	    {"events-unbatched", no_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *extra[RUN_MAX_EXTRA];
	unsigned nextra = 0, count = 1, nworkers = 0, quantum_ms = 5, total;
	uint64_t mem = DENALI_MEM_DEFAULT;
	struct worker *workers = NULL;
	struct run_vm *vms = NULL;
	struct swapper_config scfg = {.swap = {.nfiles = 1, .durable = 1}};
	int c, status = 0, killed = 0, rc;
	char *end;

	while ((c = getopt_long(argc, argv, "n:m:w:q:h", opts, NULL)) != -1) {
		unsigned long v = 0;

		if (c == 'Z' || c == 'L' || c == 'B' || c == 'C' || c == 'U') {
			uint64_t sz;

			if (ctl_parse_size(optarg, &sz) || !sz) {
				fprintf(stderr, "denalid run: bad size '%s'\n", optarg);
				return 2;
			}
			if (c == 'Z')
				scfg.swap.size = sz;
			else if (c == 'L')
				scfg.swap.slot_size = sz;
			else if (c == 'C')
				scfg.boot_charge = sz;
			else if (c == 'U')
				scfg.swap.read_unit = sz;
			else
				scfg.gk.mem_budget = sz;
			continue;
		}
		if (c == 'F' || c == 'M') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v == 0 || v > RUN_MAX_COUNT) {
				fprintf(stderr, "denalid run: bad number '%s'\n", optarg);
				return 2;
			}
			if (c == 'F')
				scfg.swap.nfiles = (unsigned)v;
			else
				scfg.gk.live_max = (unsigned)v;
			continue;
		}
		if (c == 'X' || c == 'E' || c == 'P') {
			if (c == 'X')
				scfg.swap.dir = optarg;
			else if (c == 'P')
				scfg.swap.no_prefault = 1;
			else
				scfg.evict_every_idle = 1;
			continue;
		}
		if (c == 'n' || c == 'w' || c == 'q' || c == 'S' || c == 'K') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v == 0 || v > RUN_MAX_COUNT) {
				fprintf(stderr, "denalid run: bad number '%s' for --%s\n", optarg,
					c == 'n'   ? "count"
					: c == 'w' ? "workers"
					: c == 'q' ? "quantum-ms"
					: c == 'K' ? "networks"
						   : "suspend-after");
				return 2;
			}
		}
		switch (c) {
		case 'n':
			count = (unsigned)v;
			break;
		case 'w':
			nworkers = (unsigned)v;
			break;
		case 'q':
			quantum_ms = (unsigned)v;
			break;
		case 'S':
			ctx.suspend_after = (unsigned)v;
			break;
		case 'D':
			ctx.snapshot_dir = optarg;
			break;
		case 's':
			ctx.summary = 1;
			break;
		case 'U':
			vm_set_events_unbatched(1);
			break;
		case 'N':
			if (net_prefix_parse(optarg, &ctx.pfx)) {
				fprintf(stderr, "denalid run: bad prefix '%s' for --net\n", optarg);
				return 2;
			}
			ctx.net = 1;
			break;
		case 'K':
			ctx.networks = (unsigned)v;
			break;
		case 'T':
			ctx.tap = optarg;
			break;
		case 'd':
		case 'r':
			ctx.disk = optarg;
			ctx.disk_ro = c == 'r';
			break;
		case 'j':
			ctx.disk_direct = 1;
			break;
		case 'm':
			if (ctl_parse_size(optarg, &mem) || !denali_mem_size_ok(mem)) {
				fprintf(
				    stderr,
				    "denalid run: bad memory size '%s': it must be " DENALI_MEM_RULE
				    "\n",
				    optarg);
				return 2;
			}
			break;
		case 'W':
			if (nextra == RUN_MAX_EXTRA) {
				fprintf(stderr, "denalid run: at most %d --with images\n",
					RUN_MAX_EXTRA);
				return 2;
			}
			extra[nextra++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	/* getopt moved IMAGE behind the options and stopped at "--": the
	 * guest's arguments are everything after IMAGE. */
	const char *image = argv[optind++];
	int gargc = argc - optind + 1;
	char **gargv = calloc((size_t)gargc + 1, sizeof(char *));
	char *img_copy = strdup(image);

	if (!gargv || !img_copy)
		return 1;
	gargv[0] = basename(img_copy);
	for (int i = 1; i < gargc; i++)
		gargv[i] = argv[optind + i - 1];

	if (kvm_open() < 0)
		return 1;
	if (worker_signals_init() < 0)
		return 1;
	if (!nworkers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nworkers = n > 0 ? (unsigned)n : 1;
	}
	total = count + nextra;
	if (nworkers > total)
		nworkers = total;
	ctx.prefix = total > 1;

	uint8_t *elf = NULL;
	size_t elf_size = 0;
	if (load(image, &elf, &elf_size))
		return 1;
	vms = calloc(total, sizeof(*vms));
	workers = calloc(nworkers, sizeof(*workers));
	if (!vms || !workers)
		return 1;
	if (ctx.net && (rc = netsw_create(total + 1, &ctx.sw)) != 0) {
		fprintf(stderr, "denalid: switch: %s\n", strerror(-rc));
		return 1;
	}
	if (ctx.tap) {
		char err[256] = "";

		if (!ctx.net) {
			fprintf(stderr, "denalid run: --tap needs --net\n");
			return 2;
		}
		rc = tap_uplink_open(ctx.sw, ctx.tap, &ctx.up, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "denalid: %s\n", err);
			return 1;
		}
	}
	for (unsigned i = 0; i < total; i++) {
		struct vm_config cfg = {.mem_size = mem, .id = i + 1};
		char name[64], err[256];
		uint8_t *x_elf = elf;
		size_t x_size = elf_size;
		char *x_argv[RUN_MAX_WITH_ARGS];

		if (i < count) {
			if (total > 1)
				snprintf(name, sizeof(name), "%.40s-%u", gargv[0], i);
			else
				snprintf(name, sizeof(name), "%.60s", gargv[0]);
			cfg.image = image;
			cfg.argc = gargc;
			cfg.argv = gargv;
		} else {
			/* --with "IMAGE [ARGS...]": split on blanks. */
			char *copy = strdup(extra[i - count]), *save = NULL, *tok;
			int n = 0;

			if (!copy)
				return 1;
			for (tok = strtok_r(copy, " \t", &save); tok && n < RUN_MAX_WITH_ARGS;
			     tok = strtok_r(NULL, " \t", &save))
				x_argv[n++] = tok;
			if (n == 0) {
				fprintf(stderr, "denalid run: empty --with\n");
				return 2;
			}
			cfg.image = x_argv[0];
			if (load(cfg.image, &x_elf, &x_size))
				return 1;
			x_argv[0] = basename(x_argv[0]);
			snprintf(name, sizeof(name), "%.40s-%u", x_argv[0], i);
			cfg.argc = n;
			cfg.argv = x_argv;
		}
		cfg.name = name;
		cfg.elf = x_elf;
		cfg.elf_size = x_size;
		rc = vm_create(&cfg, &vms[i].task.vm, err, sizeof(err));
		if (x_elf != elf)
			free(x_elf);
		if (rc) {
			fprintf(stderr, "denalid: %s: %s\n", cfg.image, err);
			return 1;
		}
		if (ctx.net)
			rc = vmdev_add_net(vms[i].task.vm, ctx.sw, &ctx.pfx,
					   (uint16_t)(ctx.networks ? i % ctx.networks : 0), err,
					   sizeof(err));
		if (!rc && ctx.disk && i == 0)
			rc = vmdev_add_disk(vms[i].task.vm, ctx.disk,
					    (ctx.disk_ro ? BLK_F_RO : 0) |
						(ctx.disk_direct ? BLK_F_DIRECT : 0),
					    NULL, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "denalid: %s\n", err);
			return 1;
		}
		vms[i].index = (int)i;
		vms[i].snap_fd = -1;
		if (ctx.suspend_after && open_snapshot(&vms[i]) < 0)
			return 1;
		sched_entity_init(&vms[i].task.se, &vms[i].task);
		vms[i].task.vm->console.sink = sink;
		vms[i].task.vm->console.sink_arg = &vms[i];
	}
	free(elf);
	if (scfg.swap.dir) {
		char err[256];

		if (ctx.suspend_after) {
			fprintf(stderr,
				"denalid run: --swap and --suspend-after exclude each other\n");
			return 2;
		}
		if (!scfg.swap.slot_size)
			scfg.swap.slot_size =
			    swap_slot_size_for(mem, sizeof(struct vcpu_state), SWAP_DEV_MAX);
		if (!scfg.swap.size)
			scfg.swap.size = (uint64_t)total * scfg.swap.slot_size;
		rc = swapper_open(&scfg, &ctx.swapper, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "denalid: %s\n", err);
			return 1;
		}
	}
	for (unsigned i = 0; i < nworkers; i++) {
		rc = worker_start(&workers[i], (int)i, (uint64_t)quantum_ms * 1000000ull, on_done,
				  NULL);
		if (rc) {
			fprintf(stderr, "denalid: worker %u: %s\n", i, strerror(-rc));
			return 1;
		}
		if (ctx.suspend_after)
			worker_set_idle_hook(&workers[i], suspend_resume, NULL);
		if (ctx.swapper) {
			swapper_attach(ctx.swapper, &workers[i]);
			worker_set_idle_hook(&workers[i], swap_idle, NULL);
		}
	}
	/* Shells are reset or destroyed off the workers (shell_pool.c). */
	rc = shell_reclaimer_start(worker_helper_confine);
	if (rc)
		return 1;
	uint64_t t_start = vm_now_ns();
	for (unsigned i = 0; i < total; i++) {
		char err[256];

		if (!ctx.swapper) {
			worker_send(&workers[i % nworkers], WCMD_ADD, &vms[i].task);
		} else if (swapper_start(ctx.swapper, &vms[i].task, &workers[i % nworkers], err,
					 sizeof(err))) {
			fprintf(stderr, "denalid: cannot start %s: %s\n", vms[i].task.vm->name,
				err);
			vm_kill(vms[i].task.vm, "not started: %s", err);
			pthread_mutex_lock(&ctx.lock);
			ctx.done++;
			pthread_mutex_unlock(&ctx.lock);
		}
	}
	pthread_mutex_lock(&ctx.lock);
	while (ctx.done < total)
		pthread_cond_wait(&ctx.cond, &ctx.lock);
	pthread_mutex_unlock(&ctx.lock);
	uint64_t wall_ns = vm_now_ns() - t_start;
	for (unsigned i = 0; i < nworkers; i++)
		worker_stop(&workers[i]);
	if (ctx.summary)
		print_summary(vms, total, workers, nworkers, wall_ns);
	if (ctx.swapper) {
		print_swap();
		swapper_close(ctx.swapper);
	}
	for (unsigned i = 0; i < total; i++) {
		struct vm *vm = vms[i].task.vm;

		if (vm->status == VM_KILLED)
			killed = 1;
		else if (!status && vm->exit_code)
			status = vm->exit_code & 0xff ? vm->exit_code & 0xff : 1;
		if (vms[i].snap_fd >= 0)
			close(vms[i].snap_fd);
		vm_destroy(vm);
	}
	shell_reclaimer_stop();
	shell_pool_drain();
	if (ctx.up) {
		struct tap_stats ts;
		const struct netsw_stats *ss = netsw_stats(ctx.sw);

		tap_uplink_stats(ctx.up, &ts);
		fprintf(stderr,
			"uplink %s: up=%d rx_frames=%lu tx_frames=%lu tx_submits=%lu rx_errors=%lu "
			"tx_errors=%lu down_events=%lu reattaches=%lu drop_down=%lu drop_full=%lu "
			"drop_spoof=%lu drop_unknown=%lu\n",
			tap_uplink_name(ctx.up), ts.up, ts.rx_frames, ts.tx_frames, ts.tx_submits,
			ts.rx_errors, ts.tx_errors, ts.down_events, ts.reattaches, ss->up_drop_down,
			ss->up_drop_full, ss->up_drop_spoof, ss->up_drop_unknown);
		tap_uplink_close(ctx.up);
	}
	netsw_destroy(ctx.sw);
	free(vms);
	free(workers);
	free(gargv);
	free(img_copy);
	fflush(stdout);
	return status ? status : killed ? RUN_KILLED_STATUS : 0;
}

/*
 * `denalid run`: boot N instances of an image in the foreground, print their
 * console output, exit with the first non-zero guest exit code.
 */
#include "image.h"
#include "run_impl.h"

#include "ctl/proto.h"

#include "../devices/blk.h"
#include "../devices/netsw.h"
#include "../devices/tap.h"
#include "../sched/swapper.h"
#include "../sched/worker.h"
#include "../vmm/shell.h"
#include "../vmm/vm.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct run_ctx run_ctx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

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
	    {"events-unbatched", no_argument, NULL, 'u'},
	    {"no-blk-poll", no_argument, NULL, 'o'},
	    {"tap-reads-single", no_argument, NULL, 'R'},
	    {"tap-writes-queued", no_argument, NULL, 'Q'},
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
			run_ctx.suspend_after = (unsigned)v;
			break;
		case 'D':
			run_ctx.snapshot_dir = optarg;
			break;
		case 's':
			run_ctx.summary = 1;
			break;
		case 'u':
			vm_set_events_unbatched(1);
			break;
		case 'o':
			worker_set_blk_poll(0);
			break;
		case 'R':
			tap_set_multishot(0);
			break;
		case 'Q':
			tap_set_direct_writes(0);
			break;
		case 'N':
			if (net_prefix_parse(optarg, &run_ctx.pfx)) {
				fprintf(stderr, "denalid run: bad prefix '%s' for --net\n", optarg);
				return 2;
			}
			run_ctx.net = 1;
			break;
		case 'K':
			run_ctx.networks = (unsigned)v;
			break;
		case 'T':
			run_ctx.tap = optarg;
			break;
		case 'd':
		case 'r':
			run_ctx.disk = optarg;
			run_ctx.disk_ro = c == 'r';
			break;
		case 'j':
			run_ctx.disk_direct = 1;
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
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		run_usage(stderr);
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
	run_ctx.prefix = total > 1;
	run_ctx.tty = isatty(STDOUT_FILENO);

	uint8_t *elf = NULL;
	size_t elf_size = 0;
	if (load(image, &elf, &elf_size))
		return 1;
	vms = calloc(total, sizeof(*vms));
	workers = calloc(nworkers, sizeof(*workers));
	if (!vms || !workers)
		return 1;
	if (run_ctx.net && (rc = netsw_create(total + 1, &run_ctx.sw)) != 0) {
		fprintf(stderr, "denalid: switch: %s\n", strerror(-rc));
		return 1;
	}
	if (run_ctx.tap) {
		char err[256] = "";

		if (!run_ctx.net) {
			fprintf(stderr, "denalid run: --tap needs --net\n");
			return 2;
		}
		rc = tap_uplink_open(run_ctx.sw, run_ctx.tap, 1, &run_ctx.up, err, sizeof(err));
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
		if (run_ctx.net)
			rc = vmdev_add_net(vms[i].task.vm, run_ctx.sw, &run_ctx.pfx,
					   (uint16_t)(run_ctx.networks ? i % run_ctx.networks : 0),
					   err, sizeof(err));
		if (!rc && run_ctx.disk && i == 0)
			rc = vmdev_add_disk(vms[i].task.vm, run_ctx.disk,
					    (run_ctx.disk_ro ? BLK_F_RO : 0) |
						(run_ctx.disk_direct ? BLK_F_DIRECT : 0),
					    NULL, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "denalid: %s\n", err);
			return 1;
		}
		vms[i].index = (int)i;
		vms[i].snap_fd = -1;
		if (run_ctx.suspend_after && run_open_snapshot(&vms[i]) < 0)
			return 1;
		sched_entity_init(&vms[i].task.se, &vms[i].task);
		vms[i].task.vm->console.sink = run_sink;
		vms[i].task.vm->console.sink_arg = &vms[i];
	}
	free(elf);
	if (scfg.swap.dir) {
		char err[256];

		if (run_ctx.suspend_after) {
			fprintf(stderr,
				"denalid run: --swap and --suspend-after exclude each other\n");
			return 2;
		}
		if (!scfg.swap.slot_size)
			scfg.swap.slot_size =
			    swap_slot_size_for(mem, sizeof(struct vcpu_state), SWAP_DEV_MAX);
		if (!scfg.swap.size)
			scfg.swap.size = (uint64_t)total * scfg.swap.slot_size;
		rc = swapper_open(&scfg, &run_ctx.swapper, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "denalid: %s\n", err);
			return 1;
		}
	}
	for (unsigned i = 0; i < nworkers; i++) {
		rc = worker_start(&workers[i], (int)i, (uint64_t)quantum_ms * 1000000ull,
				  run_on_done, NULL);
		if (rc) {
			fprintf(stderr, "denalid: worker %u: %s\n", i, strerror(-rc));
			return 1;
		}
		if (run_ctx.suspend_after)
			worker_set_idle_hook(&workers[i], run_suspend_resume, NULL);
		if (run_ctx.swapper) {
			swapper_attach(run_ctx.swapper, &workers[i]);
			worker_set_idle_hook(&workers[i], run_swap_idle, NULL);
		}
	}
	/* Shells are reset or destroyed off the workers (shell_pool.c). */
	rc = shell_reclaimer_start(worker_helper_confine);
	if (rc)
		return 1;
	uint64_t t_start = vm_now_ns();
	for (unsigned i = 0; i < total; i++) {
		char err[256];

		if (!run_ctx.swapper) {
			worker_send(&workers[i % nworkers], WCMD_ADD, &vms[i].task);
		} else if (swapper_start(run_ctx.swapper, &vms[i].task, &workers[i % nworkers], err,
					 sizeof(err))) {
			fprintf(stderr, "denalid: cannot start %s: %s\n", vms[i].task.vm->name,
				err);
			vm_kill(vms[i].task.vm, "not started: %s", err);
			pthread_mutex_lock(&run_ctx.lock);
			run_ctx.done++;
			pthread_mutex_unlock(&run_ctx.lock);
		}
	}
	pthread_mutex_lock(&run_ctx.lock);
	while (run_ctx.done < total)
		pthread_cond_wait(&run_ctx.cond, &run_ctx.lock);
	pthread_mutex_unlock(&run_ctx.lock);
	uint64_t wall_ns = vm_now_ns() - t_start;
	for (unsigned i = 0; i < nworkers; i++)
		worker_stop(&workers[i]);
	if (run_ctx.summary)
		run_print_summary(vms, total, workers, nworkers, wall_ns);
	if (run_ctx.swapper) {
		run_print_swap();
		swapper_close(run_ctx.swapper);
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
	if (run_ctx.up) {
		struct tap_stats ts;
		const struct netsw_stats *ss = netsw_stats(run_ctx.sw);

		tap_uplink_stats(run_ctx.up, &ts);
		fprintf(stderr,
			"uplink %s: up=%d reads=%s rx_frames=%lu tx_frames=%lu tx_direct=%lu "
			"tx_submits=%lu tx_submit_errors=%lu tx_requeued=%lu "
			"rx_errors=%lu tx_errors=%lu down_events=%lu reattaches=%lu drop_down=%lu "
			"drop_full=%lu drop_spoof=%lu drop_unknown=%lu\n",
			tap_uplink_name(run_ctx.up), ts.up, ts.multishot ? "multishot" : "single",
			ts.rx_frames, ts.tx_frames, ts.tx_direct, ts.tx_submits,
			ts.tx_submit_errors, ts.tx_requeued, ts.rx_errors, ts.tx_errors,
			ts.down_events, ts.reattaches, ss->up_drop_down, ss->up_drop_full,
			ss->up_drop_spoof, ss->up_drop_unknown);
		tap_uplink_close(run_ctx.up);
	}
	netsw_destroy(run_ctx.sw);
	free(vms);
	free(workers);
	free(gargv);
	free(img_copy);
	fflush(stdout);
	return status ? status : killed ? RUN_KILLED_STATUS : 0;
}

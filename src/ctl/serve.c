#include "serve.h"

#include "job.h"
#include "log.h"
#include "metrics_http.h"
#include "notify.h"
#include "privs.h"
#include "proto.h"
#include "server.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct ctl_server *volatile the_server;

static void on_signal(int sig)
{
	(void)sig;
	if (the_server)
		ctl_server_shutdown(the_server);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: denalid serve [OPTIONS]\n"
	    "Run the daemon under a service manager: serve the control socket, boot the VMs\n"
	    "defined in the state directory.\n"
	    "\n"
	    "  --socket PATH      control socket (default " SERVE_SOCKET_DEFAULT ")\n"
	    "  --state-dir DIR    VM definitions and logs (default " SERVE_STATE_DIR_DEFAULT ")\n"
	    "  --workers N        worker threads (default: one per online CPU)\n"
	    "  --quantum-ms N     scheduling quantum in ms (at least 1)\n"
	    "  --max-vms N        most VMs defined at once\n"
	    "  --max-live N       most VMs resident in memory at once\n"
	    "  --net PREFIX       a virtual switch; VMs started with --net get IPv4 addresses\n"
	    "                     from PREFIX (e.g. 198.18.0.0/16; the gateway is its first)\n"
	    "  --tap NAME         uplink the switch to tap NAME (attached, or created)\n"
	    "  --max-mem SIZE     memory all live VMs may hold, guest memory plus kernel\n"
	    "                     (default: MemAvailable at start-up less 1/16, at least 512M)\n"
	    "  --console-log-max SIZE  STATE/vms/NAME/console.log is renamed console.log.1\n"
	    "                     when it would pass SIZE (default 1M)\n"
	    "  --socket-group NAME  the control socket's group (mode 0660): its members may\n"
	    "                     use denalictl; the daemon must be a member "
	    "(SupplementaryGroups=)\n"
	    "  --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	    "                     (off by default; no authentication: bind it to loopback or\n"
	    "                     an address only the monitoring can reach)\n"
	    "  --metrics-vms N    per-VM series for the N VMs that used the most CPU\n"
	    "                     (default 100, 0 = none)\n"
	    "  --swap DIR         keep idle VMs in strided swap files in DIR (the gatekeeper):\n"
	    "                     a VM's memory, vCPU and device state go to its slot and come\n"
	    "                     back on its next event (a frame, its deadline, swap in)\n"
	    "  --swap-files F     spread the slots over F files (default 1)\n"
	    "  --swap-size SIZE   total swap space, preallocated (default: a slot for each\n"
	    "                     of --max-vms, or 256 slots)\n"
	    "  --swap-slot SIZE   bytes per slot (default 4M); a VM whose resident pages and\n"
	    "                     state do not fit its slot stays resident\n"
	    "  --mem-budget SIZE  resident guest memory allowed; idle VMs are swapped out,\n"
	    "                     oldest idle first, to stay within it (default: no budget)\n"
	    "  --live-max N       VMs in memory at once (default: what the fd limit allows)\n"
	    "  --boot-charge SIZE budget charged to a booting VM until its first idle (1M)\n"
	    "  --swap-no-prefault swap-in does not populate the VM's pages (one madvise per\n"
	    "                     run) before reading them back (ablation: the read's copy\n"
	    "                     then takes one page fault per page)\n"
	    "  --swap-unit SIZE   swap-in reads at most SIZE per request, a multiple of 4K\n"
	    "                     (ablation; default: one request per run of pages)\n"
	    "  --swap-commit-each ablation: sync every slot write and append and sync every\n"
	    "                     swap-log record on its own, on the worker (default: group\n"
	    "                     commit, one data sync per swap file and one log sync for\n"
	    "                     every swap-out queued meanwhile)\n"
	    "  --events-unbatched  ablation: deliver at most one pending event per guest\n"
	    "                     entry instead of the whole batch\n"
	    "  --no-blk-poll      no block poller thread per worker: block requests are taken\n"
	    "                     at VM exits only (ablation)\n"
	    "  --help             this text\n");
}

enum {
	OPT_SWAP = 0x100,
	OPT_SWAP_FILES,
	OPT_SWAP_SIZE,
	OPT_SWAP_SLOT,
	OPT_MEM_BUDGET,
	OPT_LIVE_MAX,
	OPT_BOOT_CHARGE,
	OPT_SWAP_NO_PREFAULT,
	OPT_SWAP_UNIT,
	OPT_SWAP_COMMIT_EACH,
	OPT_NO_BLK_POLL,
};

/* The gatekeeper's options: 1 = taken, 0 = not one of them, -1 = bad value (printed). */
static int parse_swap_opt(int c, const char *name, const char *arg, struct serve_swap_config *sw)
{
	uint64_t *size = NULL;
	unsigned long v;
	char *end;

	switch (c) {
	case OPT_SWAP:
		sw->dir = arg;
		return 1;
	case OPT_SWAP_NO_PREFAULT:
		sw->no_prefault = 1;
		return 1;
	case OPT_SWAP_COMMIT_EACH:
		sw->commit_each = 1;
		return 1;
	case OPT_SWAP_FILES:
	case OPT_LIVE_MAX:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || end == arg || *arg == '-' || v == 0 || v > 1000000) {
			fprintf(
			    stderr,
			    "denalid serve: --%s needs a number from 1 to 1000000, not \"%s\"\n",
			    name, arg);
			return -1;
		}
		*(c == OPT_SWAP_FILES ? &sw->files : &sw->live_max) = (unsigned)v;
		return 1;
	case OPT_SWAP_SIZE:
		size = &sw->size;
		break;
	case OPT_SWAP_SLOT:
		size = &sw->slot;
		break;
	case OPT_MEM_BUDGET:
		size = &sw->mem_budget;
		break;
	case OPT_BOOT_CHARGE:
		size = &sw->boot_charge;
		break;
	case OPT_SWAP_UNIT:
		size = &sw->unit;
		break;
	default:
		return 0;
	}
	if (ctl_parse_size(arg, size) < 0 || *size == 0) {
		fprintf(stderr,
			"denalid serve: --%s needs a size (e.g. 64K, 16M, 2G), not \"%s\"\n", name,
			arg);
		return -1;
	}
	return 1;
}

static int parse_uint(const char *s, unsigned min, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT_MAX || v < min)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* 1 = run, 0 = --help printed, -1 = usage error printed. */
static int parse_args(int argc, char **argv, struct serve_config *cfg)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"workers", required_argument, NULL, 'w'},
	    {"quantum-ms", required_argument, NULL, 'q'},
	    {"max-vms", required_argument, NULL, 'm'},
	    {"max-live", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"max-mem", required_argument, NULL, 'M'},
	    {"console-log-max", required_argument, NULL, 'C'},
	    {"socket-group", required_argument, NULL, 'g'},
	    {"net", required_argument, NULL, 'N'},
	    {"tap", required_argument, NULL, 'T'},
	    {"metrics", required_argument, NULL, 'P'},
	    {"metrics-vms", required_argument, NULL, 'V'},
	    {"swap", required_argument, NULL, OPT_SWAP},
	    {"swap-files", required_argument, NULL, OPT_SWAP_FILES},
	    {"swap-size", required_argument, NULL, OPT_SWAP_SIZE},
	    {"swap-slot", required_argument, NULL, OPT_SWAP_SLOT},
	    {"mem-budget", required_argument, NULL, OPT_MEM_BUDGET},
	    {"live-max", required_argument, NULL, OPT_LIVE_MAX},
	    {"boot-charge", required_argument, NULL, OPT_BOOT_CHARGE},
	    {"swap-no-prefault", no_argument, NULL, OPT_SWAP_NO_PREFAULT},
	    {"swap-unit", required_argument, NULL, OPT_SWAP_UNIT},
	    {"swap-commit-each", no_argument, NULL, OPT_SWAP_COMMIT_EACH},
	    {"events-unbatched", no_argument, NULL, 'U'},
	    {"no-blk-poll", no_argument, NULL, OPT_NO_BLK_POLL},
	    {NULL, 0, NULL, 0},
	};
	int c, li;

	*cfg = (struct serve_config){.socket_path = SERVE_SOCKET_DEFAULT,
				     .state_dir = SERVE_STATE_DIR_DEFAULT,
				     .metrics_vms = CTL_METRICS_VMS_DEFAULT};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, &li)) != -1) {
		int bad = 0;

		if (c >= OPT_SWAP) {
			if (parse_swap_opt(c, opts[li].name, optarg, &cfg->swap) < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 's':
			cfg->socket_path = optarg;
			break;
		case 'd':
			cfg->state_dir = optarg;
			break;
		case 'w':
			bad = parse_uint(optarg, 1, &cfg->workers);
			break;
		case 'q':
			bad = parse_uint(optarg, 1, &cfg->quantum_ms);
			break;
		case 'm':
			bad = parse_uint(optarg, 1, &cfg->max_vms);
			break;
		case 'l':
			bad = parse_uint(optarg, 1, &cfg->max_live);
			break;
		case 'M':
			if (ctl_parse_size(optarg, &cfg->max_mem) < 0 || cfg->max_mem == 0) {
				fprintf(
				    stderr,
				    "denalid serve: --max-mem needs a size (e.g. 512M, 8G), not "
				    "\"%s\"\n",
				    optarg);
				return -1;
			}
			break;
		case 'C':
			if (ctl_parse_size(optarg, &cfg->console_log_max) < 0 ||
			    cfg->console_log_max < 4096) {
				fprintf(stderr,
					"denalid serve: --console-log-max needs a size of at least "
					"4K, not \"%s\"\n",
					optarg);
				return -1;
			}
			break;
		case 'g':
			cfg->socket_group = optarg;
			break;
		case 'N':
			cfg->net = optarg;
			break;
		case 'T':
			cfg->tap = optarg;
			break;
		case 'P':
			cfg->metrics = optarg;
			break;
		case 'V':
			if (parse_uint(optarg, 0, &cfg->metrics_vms) < 0 ||
			    cfg->metrics_vms > CTL_METRICS_VMS_MAX) {
				fprintf(stderr,
					"denalid serve: --metrics-vms needs a number from 0 to %u, "
					"not \"%s\"\n",
					CTL_METRICS_VMS_MAX, optarg);
				return -1;
			}
			break;
		case 'U':
			cfg->events_unbatched = 1;
			break;
		case OPT_NO_BLK_POLL:
			cfg->no_blk_poll = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "denalid serve: bad option %s\n", argv[optind - 1]);
			usage(stderr);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "denalid serve: --%s needs a positive number, not \"%s\"\n",
				opts[c == 'w'	? 2
				     : c == 'q' ? 3
				     : c == 'm' ? 4
						: 5]
				    .name,
				optarg);
			return -1;
		}
	}
	if (!cfg->swap.dir &&
	    (cfg->swap.files || cfg->swap.size || cfg->swap.slot || cfg->swap.mem_budget ||
	     cfg->swap.live_max || cfg->swap.boot_charge || cfg->swap.no_prefault ||
	     cfg->swap.unit || cfg->swap.commit_each)) {
		fprintf(stderr, "denalid serve: the swap options need --swap DIR\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "denalid serve: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 1;
}

/* --socket-group: the socket's group, before any client can connect through it. Without
 * CAP_CHOWN (the unit does not grant it) the daemon must be a member of the group. */
static int socket_set_group(const char *path, const char *name)
{
	struct group *g = getgrnam(name);

	if (!g) {
		log_err("--socket-group %s: no such group", name);
		return -ENOENT;
	}
	if (chown(path, (uid_t)-1, g->gr_gid) < 0) {
		int r = -errno;

		if (r == -EPERM)
			log_err("--socket-group %s: cannot give %s to it: the daemon is not a "
				"member of the group (add SupplementaryGroups=%s to the unit)",
				name, path, name);
		else
			log_err("--socket-group %s: chown %s: %s", name, path, strerror(-r));
		return r;
	}
	log_info("control socket %s: group %s (mode 0660)", path, name);
	return 0;
}

static int see_ids(const struct vm_spec *spec, void *arg)
{
	(void)spec;
	(void)arg;
	return 0;
}

static void watchdog_ping(void *arg)
{
	(void)arg;
	notify_send("WATCHDOG=1");
}

static void stop_all(struct ctl_backend *be)
{
	json_t *names = be->names(be->ctx), *v;
	unsigned stopped = 0, failed = 0;
	size_t i;

	json_array_foreach(names, i, v)
	{
		char err[256] = "";
		if (!json_is_string(v))
			continue;
		if (be->stop(be->ctx, json_string_value(v), err, sizeof(err)) < 0) {
			log_err("vm %s: stop: %s", json_string_value(v), err);
			failed++;
		} else {
			stopped++;
		}
	}
	json_decref(names);
	log_info("stopped %u VM(s), %u failed", stopped, failed);
}

int ctl_serve_main(int argc, char **argv,
		   int (*backend_open)(const struct serve_config *cfg, struct ctl_backend *out),
		   void (*backend_close)(struct ctl_backend *))
{
	struct serve_config cfg;
	struct ctl_backend be;
	struct ctl_store *store = NULL;
	struct ctl_server *srv = NULL;
	struct ctl_job *restore;
	struct metrics_http *mh = NULL;
	struct sigaction sa;
	sigset_t mask;
	uint64_t wd_usec = 0;
	int r, status = 1;

	r = parse_args(argc, argv, &cfg);
	if (r <= 0)
		return r == 0 ? 0 : 2;

	/* Threads the backend starts inherit this mask: the signals come to this thread. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	r = store_open(cfg.state_dir, &store);
	if (r < 0) {
		log_err("state directory %s: %s", cfg.state_dir, strerror(-r));
		return 1;
	}
	{
		long holder = 0;

		r = store_lock(store, &holder);
		if (r == -EBUSY) {
			log_err("state directory %s is in use by another denalid (pid %ld); one "
				"daemon per state directory",
				cfg.state_dir, holder);
			store_close(store);
			return 1;
		}
		if (r < 0) {
			log_err("state directory %s: cannot lock %s/lock: %s", cfg.state_dir,
				cfg.state_dir, strerror(-r));
			store_close(store);
			return 1;
		}
	}
	memset(&be, 0, sizeof(be));
	r = backend_open(&cfg, &be);
	if (r < 0) {
		log_err("cannot start the daemon: %s", strerror(-r));
		goto out_store;
	}
	r = ctl_server_open(cfg.socket_path, 0660, &be, &srv);
	if (r < 0) {
		log_err("control socket %s: %s", cfg.socket_path, strerror(-r));
		goto out_backend;
	}
	ctl_server_set_store(srv, store);
	if (cfg.socket_group && socket_set_group(cfg.socket_path, cfg.socket_group) < 0)
		goto out_server;

	if (cfg.metrics) {
		/* Bound before the drop (a port below 1024 needs it), started after: its
		 * thread is born without capabilities. */
		struct metrics_http_config mc = {.vms_max = cfg.metrics_vms};
		char err[256];

		r = metrics_http_open(cfg.metrics, &be, &mc, &mh, err, sizeof(err));
		if (r < 0) {
			log_err("%s", err);
			goto out_server;
		}
	}
	r = privs_drop();
	if (r < 0) {
		log_err("cannot drop capabilities: %s", strerror(-r));
		goto out_server;
	}
	if (mh) {
		r = metrics_http_start(mh);
		if (r < 0) {
			log_err("--metrics %s: cannot start its thread: %s", cfg.metrics,
				strerror(-r));
			goto out_server;
		}
		log_info("metrics on http://%s/metrics (port %d)", cfg.metrics,
			 metrics_http_port(mh));
	}

	the_server = srv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigdelset(&mask, SIGPIPE);
	pthread_sigmask(SIG_UNBLOCK, &mask, NULL);

	r = notify_watchdog_usec(&wd_usec);
	if (r > 0) {
		/* An eighth of the interval: a ping up to 3/8 of it late still leaves every gap
		 * under half (the loop looks between requests and job steps too). */
		unsigned ms = (unsigned)(wd_usec / 8000);
		ctl_server_set_tick(srv, ms ? ms : 1, watchdog_ping, NULL);
		log_info("watchdog on: pinging every %u ms", ms ? ms : 1);
	} else if (r < 0) {
		log_warn("ignoring malformed WATCHDOG_USEC/WATCHDOG_PID");
	}
	notify_sendf("READY=1\nSTATUS=serving %s, restoring VMs", cfg.socket_path);
	log_info("ready");

	/* Restored after READY by a job of the serving loop: it answers, pings the watchdog and
	 * ends on SIGTERM while the VMs come back, and `denalictl jobs` shows the progress. Every
	 * stored id is seen first, so that no new VM can take one a definition holds. */
	store_foreach(store, see_ids, NULL);
	restore = ctl_job_restore(&be, store, cfg.state_dir);
	if (!restore || ctl_server_add_job(srv, restore) < 0)
		log_err("cannot restore the stored VMs: out of memory");

	r = ctl_server_run(srv);
	notify_send("STOPPING=1\nSTATUS=stopping VMs");
	if (r < 0)
		log_err("control loop failed: %s", strerror(-r));
	log_info("shutting down");
	the_server = NULL;
	ctl_server_close(srv);
	srv = NULL;
	metrics_http_close(mh); /* before the VMs go: it reads the registry */
	mh = NULL;
	if (!be.suspend || be.suspend(be.ctx) < 0)
		stop_all(&be);
	status = r < 0 ? 1 : 0;
out_server:
	metrics_http_close(mh);
	if (srv) {
		the_server = NULL;
		ctl_server_close(srv);
	}
out_backend:
	if (backend_close)
		backend_close(&be);
out_store:
	store_close(store);
	log_info("exit %d", status);
	log_flush();
	return status;
}

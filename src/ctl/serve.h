/* `denalid serve`: the daemon's life cycle around the control socket. */
#ifndef DENALI_CTL_SERVE_H
#define DENALI_CTL_SERVE_H

#include "backend.h"

#include <stdint.h>

#define SERVE_SOCKET_DEFAULT	"/run/denalid/denalid.sock"
#define SERVE_STATE_DIR_DEFAULT "/var/lib/denalid"

struct serve_config {
	const char *socket_path;  /* --socket */
	const char *state_dir;	  /* --state-dir; definitions live in STATE/vms */
	unsigned workers;	  /* --workers; 0 = one per online CPU */
	unsigned quantum_ms;	  /* --quantum-ms; 0 = the scheduler's default */
	unsigned max_vms;	  /* --max-vms; 0 = no limit of ours */
	unsigned max_live;	  /* --max-live; 0 = no limit of ours */
	uint64_t max_mem;	  /* --max-mem; bytes of VM memory; 0 = from MemAvailable */
	uint64_t console_log_max; /* --console-log-max; 0 = the default (1 MiB) */
	const char *socket_group; /* --socket-group; NULL = the daemon's own group */
	const char *net;	  /* --net PREFIX: the switch and its IPv4 prefix; NULL = none */
	const char *tap;	  /* --tap NAME: the switch's uplink */
	const char *metrics;	  /* --metrics ADDR:PORT: GET /metrics there; NULL = off */
	unsigned metrics_vms;	  /* --metrics-vms N: per-VM series for N VMs (default 100) */
	struct serve_swap_config {
		const char *dir;      /* --swap DIR: the gatekeeper and swap; NULL = none */
		unsigned files;	      /* --swap-files F (default 1) */
		uint64_t size;	      /* --swap-size: total bytes; 0 = from --max-vms */
		uint64_t slot;	      /* --swap-slot: bytes per slot; 0 = a whole VM */
		uint64_t mem_budget;  /* --mem-budget: resident guest memory; 0 = none */
		unsigned live_max;    /* --live-max: VMs in memory at once; 0 = the fd cap */
		uint64_t boot_charge; /* --boot-charge: a VM's charge until its first idle */
		int no_prefault;      /* --swap-no-prefault */
		uint64_t unit;	      /* --swap-unit: swap-in read unit; 0 = whole runs */
		int commit_each;      /* --swap-commit-each: no group commit (ablation) */
	} swap;
	int events_unbatched; /* --events-unbatched: one event per entry (ablation) */
	int no_blk_poll;      /* --no-blk-poll: no block poller per worker (ablation) */
};

/* Runs `denalid serve`. argv[0] is the verb (or program) name and is skipped.
 * In order: parse options; open the backend (backend_open must get what needs privileges:
 * /dev/kvm, the tap); bind the control socket; start every stored definition through
 * backend->start; drop every capability; send READY=1; serve, pinging the watchdog from the
 * serving loop. SIGTERM or SIGINT: STOPPING=1, stop accepting, stop every VM through the
 * backend (definitions are kept, so they boot again at the next start), backend_close, flush
 * the logs, return 0.
 * SIGTERM, SIGINT and SIGPIPE are blocked before backend_open, so threads the backend creates
 * inherit the mask and the signals reach the serving thread.
 * Returns the process exit status: 0 after a clean shutdown, 1 on a set-up failure, 2 on a
 * usage error. */
int ctl_serve_main(int argc, char **argv,
		   int (*backend_open)(const struct serve_config *cfg, struct ctl_backend *out),
		   void (*backend_close)(struct ctl_backend *));

#endif

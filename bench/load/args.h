/* args.h - command line of denali-load.
 *
 * args_parse() never exits and never prints: it fills a load_config or returns an error with a
 * one-line message, so the parser is unit-testable and main() owns the exit codes.
 */
#ifndef DENALI_LOAD_ARGS_H
#define DENALI_LOAD_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARGS_MAX_TARGET_SPECS 4096
#define ARGS_PATH_MAX	      1024

enum load_mode {
	LOAD_OPEN = 0, /* requests at scheduled times, latency from the intended send time */
	LOAD_CLOSED,   /* a fixed number outstanding, latency from the actual send (wrk-like) */
};

enum load_arrival {
	ARRIVAL_POISSON = 0,
	ARRIVAL_CONSTANT,
};

struct load_config {
	/* targets: explicit specs, a file of specs, and/or hosts taken from a prefix */
	const char *target_specs[ARGS_MAX_TARGET_SPECS];
	size_t ntarget_specs;
	const char *targets_file;
	const char *prefix; /* CIDR, e.g. 198.18.0.0/15 */
	uint32_t prefix_hosts;
	uint16_t port; /* for prefix hosts */
	char path[ARGS_PATH_MAX];

	double alpha;
	uint64_t seed;
	enum load_mode mode;
	enum load_arrival arrival;
	double rate;	      /* requests/s, open loop */
	uint32_t concurrency; /* closed loop */
	uint64_t duration_ns;
	uint64_t warmup_ns;
	uint64_t timeout_ns;
	uint32_t max_conns;
	uint32_t conns_per_target;
	uint32_t max_pending;

	int sweep;
	double sweep_lo, sweep_hi, sweep_tol;
	uint32_t sweep_runs; /* runs per rate; a rate passes when most of them do */
	double slo_pct;
	uint64_t slo_ns;
	double slo_errors; /* highest tolerated fraction of failed requests */

	const char *hits_path;
	const char *cdf_path;
	const char *tsv_path;
	const char *label;
	int quiet;
};

/* Fill cfg with the defaults. */
void args_defaults(struct load_config *cfg);

/* Parse argv into cfg (which args_parse first resets to the defaults). Returns 0, 1 when --help
 * was asked for, or -EINVAL with a message naming the bad option in err. */
int args_parse(int argc, char **argv, struct load_config *cfg, char *err, size_t errlen);

/* Print the usage text. */
void args_usage(FILE *out);

/* Parse a duration such as "10s", "250ms", "50us", "2m" or "3" (seconds) into ns. 0/-EINVAL. */
int args_parse_duration(const char *s, uint64_t *ns);

/* Parse a rate such as "5000", "77k" or "1.5M" (requests/s, > 0). 0/-EINVAL. */
int args_parse_rate(const char *s, double *rate);

/* Parse a latency objective "pNN<DURATION", e.g. "p99<10ms" or "p99.9<2ms". 0/-EINVAL. */
int args_parse_slo(const char *s, double *pct, uint64_t *ns);

#endif

/* args.c - command-line parsing for denali-load. */
#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zipf.h"

void args_defaults(struct load_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = 80;
	strcpy(cfg->path, "/");
	cfg->alpha = 1.0;
	cfg->seed = 1;
	cfg->mode = LOAD_OPEN;
	cfg->arrival = ARRIVAL_POISSON;
	cfg->concurrency = 64;
	cfg->duration_ns = 10ULL * 1000000000ULL;
	cfg->warmup_ns = 2ULL * 1000000000ULL;
	cfg->timeout_ns = 2ULL * 1000000000ULL;
	cfg->max_conns = 1024;
	cfg->conns_per_target = 1;
	cfg->max_pending = 1000000;
	cfg->sweep_tol = 0.05;
	cfg->sweep_runs = 1;
	cfg->slo_pct = 99.0;
	cfg->slo_ns = 10ULL * 1000000ULL;
	cfg->slo_errors = 0.001;
}

void args_usage(FILE *out)
{
	fputs(
	    "usage: denali-load [options] (--target ADDR:PORT[/PATH]... | --targets-file FILE |\n"
	    "                              --prefix CIDR --hosts N)\n"
	    "\n"
	    "Open-loop HTTP/1.1 load generator: Zipf(alpha) popularity over the targets, arrivals\n"
	    "at a set rate, latency measured from each request's intended send time.\n"
	    "\n"
	    "targets:\n"
	    "  -t, --target ADDR:PORT[/PATH]  one target (repeatable; IPv4, [IPv6] or localhost)\n"
	    "  -T, --targets-file FILE        one target spec per line, '#' comments\n"
	    "      --prefix CIDR              take hosts from a prefix (e.g. 198.18.0.0/15) ...\n"
	    "  -n, --hosts N                  ... the first N host addresses (base+1 .. base+N)\n"
	    "  -p, --port PORT                port of prefix hosts (default 80)\n"
	    "  -P, --path PATH                object path where a spec has none (default /)\n"
	    "popularity and arrivals:\n"
	    "  -a, --alpha A                  Zipf exponent, 0 (uniform) to 10 (default 1.0);\n"
	    "                                 rank k is the k-th target\n"
	    "  -s, --seed S                   seed of targets and arrivals (default 1)\n"
	    "  -r, --rate R                   open loop: requests/s, e.g. 5000, 20k (required)\n"
	    "      --arrival poisson|constant inter-arrival law (default poisson)\n"
	    "      --closed                   closed loop instead (like wrk, for comparison)\n"
	    "  -c, --concurrency N            closed loop: requests outstanding (default 64)\n"
	    "timing:\n"
	    "  -d, --duration D               measured period, e.g. 10s, 500ms, 2m (default 10s)\n"
	    "  -w, --warmup D                 discarded warm-up before it (default 2s)\n"
	    "      --timeout D                a request older than this fails (default 2s)\n"
	    "connections:\n"
	    "  -C, --max-conns N              total connection cap (default 1024)\n"
	    "      --conns-per-target N       per-target cap (default 1)\n"
	    "      --max-pending N            requests queued for a connection before new\n"
	    "                                 ones are counted as dropped (default 1000000)\n"
	    "rate sweep:\n"
	    "      --sweep LO:HI              find the highest rate in [LO, HI] meeting the SLO\n"
	    "      --slo pNN<D                latency objective (default p99<10ms)\n"
	    "      --slo-errors F             tolerated failed fraction (default 0.001)\n"
	    "      --sweep-tol F              stop when the bracket is this narrow (default 0.05)\n"
	    "      --sweep-runs K             runs per rate, 1..15 (default 1); a rate passes "
	    "when\n"
	    "                                 most of its runs do (a noisy host's one bad run\n"
	    "                                 neither ends the sweep nor makes it)\n"
	    "output:\n"
	    "      --hits FILE                write per-target hit counts (index address hits)\n"
	    "      --cdf FILE                 write the latency CDF (ms fraction)\n"
	    "      --tsv FILE                 append one summary row (for bench/load/plots)\n"
	    "      --label TEXT               first column of that row (e.g. number of services)\n"
	    "  -q, --quiet                    only the JSON line\n"
	    "  -h, --help                     this text\n"
	    "\n"
	    "A human summary, then one JSON line, go to stdout. Exit 0 when the run completed\n"
	    "(failed requests are counted, not fatal), 1 on a runtime failure, 2 on bad "
	    "arguments.\n",
	    out);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int args_parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	double v, mul;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		mul = 1e9;
	else if (!strcmp(end, "ms"))
		mul = 1e6;
	else if (!strcmp(end, "us"))
		mul = 1e3;
	else if (!strcmp(end, "ns"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60e9;
	else
		return -EINVAL;
	if (v * mul > 1e18) /* ~31 years: keeps arithmetic on ns well inside uint64_t */
		return -EINVAL;
	*ns = (uint64_t)llround(v * mul);
	return 0;
}

int args_parse_rate(const char *s, double *rate)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v))
		return -EINVAL;
	if (*end == 'k' || *end == 'K') {
		v *= 1e3;
		end++;
	} else if (*end == 'M') {
		v *= 1e6;
		end++;
	}
	if (*end || v <= 0 || v > 1e9)
		return -EINVAL;
	*rate = v;
	return 0;
}

int args_parse_slo(const char *s, double *pct, uint64_t *ns)
{
	const char *lt = strchr(s, '<');
	char num[32], *end;
	size_t len;
	double p;

	if (s[0] != 'p' || !lt)
		return -EINVAL;
	len = (size_t)(lt - s - 1);
	if (len == 0 || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s + 1, len);
	num[len] = '\0';
	errno = 0;
	p = strtod(num, &end);
	if (*end || errno || !(p > 0 && p <= 100))
		return -EINVAL;
	if (args_parse_duration(lt + 1, ns) || *ns == 0)
		return -EINVAL;
	*pct = p;
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s == '-' || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end || errno || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_fraction(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= 0 && v <= 1))
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_PREFIX = 256,
	OPT_ARRIVAL,
	OPT_CLOSED,
	OPT_TIMEOUT,
	OPT_PER_TARGET,
	OPT_MAX_PENDING,
	OPT_SWEEP,
	OPT_SLO,
	OPT_SLO_ERRORS,
	OPT_SWEEP_TOL,
	OPT_SWEEP_RUNS,
	OPT_HITS,
	OPT_CDF,
	OPT_TSV,
	OPT_LABEL,
};

static const struct option long_opts[] = {
    {"target", required_argument, NULL, 't'},
    {"targets-file", required_argument, NULL, 'T'},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"hosts", required_argument, NULL, 'n'},
    {"port", required_argument, NULL, 'p'},
    {"path", required_argument, NULL, 'P'},
    {"alpha", required_argument, NULL, 'a'},
    {"seed", required_argument, NULL, 's'},
    {"rate", required_argument, NULL, 'r'},
    {"arrival", required_argument, NULL, OPT_ARRIVAL},
    {"closed", no_argument, NULL, OPT_CLOSED},
    {"concurrency", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"warmup", required_argument, NULL, 'w'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-conns", required_argument, NULL, 'C'},
    {"conns-per-target", required_argument, NULL, OPT_PER_TARGET},
    {"max-pending", required_argument, NULL, OPT_MAX_PENDING},
    {"sweep", required_argument, NULL, OPT_SWEEP},
    {"slo", required_argument, NULL, OPT_SLO},
    {"slo-errors", required_argument, NULL, OPT_SLO_ERRORS},
    {"sweep-tol", required_argument, NULL, OPT_SWEEP_TOL},
    {"sweep-runs", required_argument, NULL, OPT_SWEEP_RUNS},
    {"hits", required_argument, NULL, OPT_HITS},
    {"cdf", required_argument, NULL, OPT_CDF},
    {"tsv", required_argument, NULL, OPT_TSV},
    {"label", required_argument, NULL, OPT_LABEL},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_sweep(const char *s, struct load_config *cfg)
{
	char lo[64];
	const char *colon = strchr(s, ':');
	size_t len;

	if (!colon)
		return -EINVAL;
	len = (size_t)(colon - s);
	if (len == 0 || len >= sizeof(lo))
		return -EINVAL;
	memcpy(lo, s, len);
	lo[len] = '\0';
	if (args_parse_rate(lo, &cfg->sweep_lo) || args_parse_rate(colon + 1, &cfg->sweep_hi))
		return -EINVAL;
	if (cfg->sweep_lo >= cfg->sweep_hi)
		return -EINVAL;
	cfg->sweep = 1;
	return 0;
}

/* One option; returns 0, 1 for help, or -EINVAL with err filled. */
static int apply(int c, const char *arg, const char *name, struct load_config *cfg, char *err,
		 size_t errlen)
{
	uint64_t u;

	switch (c) {
	case 't':
		if (cfg->ntarget_specs >= ARGS_MAX_TARGET_SPECS)
			return fail(err, errlen,
				    "too many --target options (max %d); use --targets-file",
				    ARGS_MAX_TARGET_SPECS);
		cfg->target_specs[cfg->ntarget_specs++] = arg;
		return 0;
	case 'T':
		cfg->targets_file = arg;
		return 0;
	case OPT_PREFIX:
		cfg->prefix = arg;
		return 0;
	case 'n':
		if (parse_u64(arg, 1, 16777216, &u))
			return fail(err, errlen, "--hosts: '%s' is not a count in 1..16777216",
				    arg);
		cfg->prefix_hosts = (uint32_t)u;
		return 0;
	case 'p':
		if (parse_u64(arg, 1, 65535, &u))
			return fail(err, errlen, "--port: '%s' is not a port in 1..65535", arg);
		cfg->port = (uint16_t)u;
		return 0;
	case 'P':
		if (arg[0] != '/' || strlen(arg) >= ARGS_PATH_MAX || strpbrk(arg, " \r\n"))
			return fail(
			    err, errlen,
			    "--path: '%s' must start with '/', hold no spaces or line breaks "
			    "and be shorter than %d bytes",
			    arg, ARGS_PATH_MAX);
		strcpy(cfg->path, arg);
		return 0;
	case 'a': {
		char *end;

		errno = 0;
		cfg->alpha = strtod(arg, &end);
		if (end == arg || *end || errno ||
		    !(cfg->alpha >= 0 && cfg->alpha <= ZIPF_ALPHA_MAX))
			return fail(err, errlen, "--alpha: '%s' is not a number in 0..%g", arg,
				    ZIPF_ALPHA_MAX);
		return 0;
	}
	case 's':
		if (parse_u64(arg, 0, UINT64_MAX, &cfg->seed))
			return fail(err, errlen, "--seed: '%s' is not an unsigned integer", arg);
		return 0;
	case 'r':
		if (args_parse_rate(arg, &cfg->rate))
			return fail(
			    err, errlen,
			    "--rate: '%s' is not a rate in requests/s (e.g. 5000, 20k, 1.5M)", arg);
		return 0;
	case OPT_ARRIVAL:
		if (!strcmp(arg, "poisson"))
			cfg->arrival = ARRIVAL_POISSON;
		else if (!strcmp(arg, "constant"))
			cfg->arrival = ARRIVAL_CONSTANT;
		else
			return fail(err, errlen, "--arrival: '%s' is neither poisson nor constant",
				    arg);
		return 0;
	case OPT_CLOSED:
		cfg->mode = LOAD_CLOSED;
		return 0;
	case 'c':
		if (parse_u64(arg, 1, 1000000, &u))
			return fail(err, errlen, "--concurrency: '%s' is not a count in 1..1000000",
				    arg);
		cfg->concurrency = (uint32_t)u;
		return 0;
	case 'd':
		if (args_parse_duration(arg, &cfg->duration_ns) || cfg->duration_ns == 0)
			return fail(err, errlen,
				    "--duration: '%s' is not a positive duration (e.g. 10s, 500ms)",
				    arg);
		return 0;
	case 'w':
		if (args_parse_duration(arg, &cfg->warmup_ns))
			return fail(err, errlen, "--warmup: '%s' is not a duration (e.g. 2s, 0)",
				    arg);
		return 0;
	case OPT_TIMEOUT:
		if (args_parse_duration(arg, &cfg->timeout_ns) || cfg->timeout_ns < 1000000)
			return fail(err, errlen,
				    "--timeout: '%s' is not a duration of at least 1ms", arg);
		return 0;
	case 'C':
		if (parse_u64(arg, 1, 1000000, &u))
			return fail(err, errlen, "--max-conns: '%s' is not a count in 1..1000000",
				    arg);
		cfg->max_conns = (uint32_t)u;
		return 0;
	case OPT_PER_TARGET:
		if (parse_u64(arg, 1, 1000000, &u))
			return fail(err, errlen,
				    "--conns-per-target: '%s' is not a count in 1..1000000", arg);
		cfg->conns_per_target = (uint32_t)u;
		return 0;
	case OPT_MAX_PENDING:
		if (parse_u64(arg, 1, 100000000, &u))
			return fail(err, errlen,
				    "--max-pending: '%s' is not a count in 1..100000000", arg);
		cfg->max_pending = (uint32_t)u;
		return 0;
	case OPT_SWEEP:
		if (parse_sweep(arg, cfg))
			return fail(err, errlen,
				    "--sweep: '%s' is not LO:HI with 0 < LO < HI (req/s)", arg);
		return 0;
	case OPT_SLO:
		if (args_parse_slo(arg, &cfg->slo_pct, &cfg->slo_ns))
			return fail(err, errlen, "--slo: '%s' is not of the form p99<10ms", arg);
		return 0;
	case OPT_SLO_ERRORS:
		if (parse_fraction(arg, &cfg->slo_errors))
			return fail(err, errlen, "--slo-errors: '%s' is not a fraction in 0..1",
				    arg);
		return 0;
	case OPT_SWEEP_TOL:
		if (parse_fraction(arg, &cfg->sweep_tol) || cfg->sweep_tol < 0.001)
			return fail(err, errlen, "--sweep-tol: '%s' is not a fraction in 0.001..1",
				    arg);
		return 0;
	case OPT_SWEEP_RUNS:
		if (parse_u64(arg, 1, 15, &u))
			return fail(err, errlen, "--sweep-runs: '%s' is not a count in 1..15", arg);
		cfg->sweep_runs = (uint32_t)u;
		return 0;
	case OPT_HITS:
		cfg->hits_path = arg;
		return 0;
	case OPT_CDF:
		cfg->cdf_path = arg;
		return 0;
	case OPT_TSV:
		cfg->tsv_path = arg;
		return 0;
	case OPT_LABEL:
		cfg->label = arg;
		return 0;
	case 'q':
		cfg->quiet = 1;
		return 0;
	case 'h':
		return 1;
	case ':':
		return fail(err, errlen, "option %s needs an argument", name);
	default:
		return fail(err, errlen, "unknown option %s (see --help)", name);
	}
}

static int check(struct load_config *cfg, char *err, size_t errlen)
{
	if (!cfg->ntarget_specs && !cfg->targets_file && !cfg->prefix)
		return fail(err, errlen, "no targets: give --target, --targets-file or --prefix");
	if (cfg->prefix && !cfg->prefix_hosts)
		return fail(err, errlen, "--prefix needs --hosts N");
	if (!cfg->prefix && cfg->prefix_hosts)
		return fail(err, errlen, "--hosts needs --prefix CIDR");
	if (cfg->mode == LOAD_OPEN && !cfg->sweep && cfg->rate <= 0)
		return fail(err, errlen, "open loop needs --rate (or --sweep LO:HI, or --closed)");
	if (cfg->mode == LOAD_CLOSED && cfg->sweep)
		return fail(err, errlen, "--sweep is for the open loop; drop --closed");
	if (cfg->mode == LOAD_CLOSED && cfg->concurrency > cfg->max_conns)
		return fail(err, errlen, "--concurrency %u exceeds --max-conns %u",
			    cfg->concurrency, cfg->max_conns);
	return 0;
}

int args_parse(int argc, char **argv, struct load_config *cfg, char *err, size_t errlen)
{
	int c, rc;

	args_defaults(cfg);
	optind = 0; /* glibc: full re-initialisation, so tests can parse repeatedly */
	opterr = 0;
	for (;;) {
		int before = optind ? optind : 1;

		c = getopt_long(argc, argv, ":t:T:n:p:P:a:s:r:c:d:w:C:qh", long_opts, NULL);
		if (c == -1)
			break;
		rc = apply(c, optarg, before < argc ? argv[before] : "?", cfg, err, errlen);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
	return check(cfg, err, errlen);
}

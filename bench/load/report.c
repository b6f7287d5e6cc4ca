/* report.c - summaries and files for a run. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "run.h"
#include "target.h"

const double report_pcts[REPORT_NPCT] = {50.0, 90.0, 99.0, 99.9};
const char *const report_pct_names[REPORT_NPCT] = {"p50", "p90", "p99", "p99_9"};

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void report_human(FILE *out, const struct load_config *cfg, const struct run_result *res)
{
	const struct hist *h = &res->lat;

	if (cfg->mode == LOAD_OPEN)
		fprintf(out, "denali-load: open loop, %s arrivals at %.1f req/s",
			cfg->arrival == ARRIVAL_POISSON ? "poisson" : "constant", res->rate);
	else
		fprintf(out, "denali-load: closed loop, %u outstanding", cfg->concurrency);
	fprintf(out, ", %.1f s measured after %.1f s warm-up\n", res->duration_s,
		(double)cfg->warmup_ns / 1e9);
	fprintf(
	    out,
	    "  targets     %zu (zipf alpha %.2f, seed %llu), %llu used (%llu with the warm-up); "
	    "connections %llu opened, peak %u, at most %u per target\n",
	    res->ntargets, cfg->alpha, (unsigned long long)cfg->seed,
	    (unsigned long long)res->targets_used, (unsigned long long)res->targets_touched,
	    (unsigned long long)res->conns_opened, res->conns_peak, res->per_target_peak);
	fprintf(
	    out,
	    "  requests    %llu due, %llu completed (%llu ok, %llu 4xx/5xx); failed: %llu timeout, "
	    "%llu refused, %llu connect, %llu i/o, %llu dropped",
	    (unsigned long long)res->scheduled, (unsigned long long)res->completed,
	    (unsigned long long)res->ok, (unsigned long long)res->http_errors,
	    (unsigned long long)res->timeouts, (unsigned long long)res->refused,
	    (unsigned long long)res->conn_errors, (unsigned long long)res->io_errors,
	    (unsigned long long)res->dropped);
	if (res->retries || res->warmup_failures)
		fprintf(out, "; %llu retried, %llu warm-up failures",
			(unsigned long long)res->retries, (unsigned long long)res->warmup_failures);
	fprintf(out,
		"\n  throughput  %.1f req/s sustained (offered %.1f req/s; %llu measured responses "
		"over %.2f s), %.2f MiB/s in; generator CPU %.2f core\n",
		res->throughput, res->offered, (unsigned long long)res->completed,
		res->throughput_span_s, (double)res->bytes_in / res->wall_s / 1048576.0,
		res->wall_s > 0 ? res->cpu_s / res->wall_s : 0.0);
	fprintf(out, "  latency    ");
	for (int i = 0; i < REPORT_NPCT; i++)
		fprintf(out, " p%g %.3f ms ", report_pcts[i],
			ms(hist_percentile(h, report_pcts[i])));
	fprintf(out, " max %.3f ms  (mean %.3f ms, %llu samples)\n", ms(h->count ? h->max : 0),
		hist_mean(h) / 1e6, (unsigned long long)h->count);
}

static int set(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) ? -ENOMEM : 0;
}

int report_json_fill(json_t *obj, const struct load_config *cfg, const struct run_result *res)
{
	const struct hist *h = &res->lat;
	char key[32];
	int rc = 0;

	rc |= set(obj, "mode", json_string(cfg->mode == LOAD_OPEN ? "open" : "closed"));
	if (cfg->mode == LOAD_OPEN) {
		rc |= set(obj, "arrival",
			  json_string(cfg->arrival == ARRIVAL_POISSON ? "poisson" : "constant"));
		rc |= set(obj, "rate", json_real(res->rate));
	} else {
		rc |= set(obj, "concurrency", json_integer(cfg->concurrency));
	}
	rc |= set(obj, "targets", json_integer((json_int_t)res->ntargets));
	rc |= set(obj, "alpha", json_real(cfg->alpha));
	rc |= set(obj, "seed", json_integer((json_int_t)cfg->seed));
	rc |= set(obj, "duration_s", json_real(res->duration_s));
	rc |= set(obj, "warmup_s", json_real((double)cfg->warmup_ns / 1e9));
	rc |= set(obj, "scheduled", json_integer((json_int_t)res->scheduled));
	rc |= set(obj, "completed", json_integer((json_int_t)res->completed));
	rc |= set(obj, "ok", json_integer((json_int_t)res->ok));
	rc |= set(obj, "http_errors", json_integer((json_int_t)res->http_errors));
	rc |= set(obj, "timeouts", json_integer((json_int_t)res->timeouts));
	rc |= set(obj, "refused", json_integer((json_int_t)res->refused));
	rc |= set(obj, "conn_errors", json_integer((json_int_t)res->conn_errors));
	rc |= set(obj, "io_errors", json_integer((json_int_t)res->io_errors));
	rc |= set(obj, "dropped", json_integer((json_int_t)res->dropped));
	rc |= set(obj, "failures", json_integer((json_int_t)run_result_failures(res)));
	rc |= set(obj, "retries", json_integer((json_int_t)res->retries));
	rc |= set(obj, "warmup_failures", json_integer((json_int_t)res->warmup_failures));
	rc |= set(obj, "offered", json_real(res->offered));
	rc |= set(obj, "throughput", json_real(res->throughput));
	rc |= set(obj, "throughput_span_s", json_real(res->throughput_span_s));
	rc |= set(obj, "responses_in_window", json_integer((json_int_t)res->done_in_window));
	rc |= set(obj, "bytes_in", json_integer((json_int_t)res->bytes_in));
	for (int i = 0; i < REPORT_NPCT; i++) {
		snprintf(key, sizeof(key), "%s_ms", report_pct_names[i]);
		rc |= set(obj, key, json_real(ms(hist_percentile(h, report_pcts[i]))));
	}
	rc |= set(obj, "max_ms", json_real(ms(h->count ? h->max : 0)));
	rc |= set(obj, "mean_ms", json_real(hist_mean(h) / 1e6));
	rc |= set(obj, "conns_opened", json_integer((json_int_t)res->conns_opened));
	rc |= set(obj, "conns_peak", json_integer(res->conns_peak));
	rc |= set(obj, "per_target_peak", json_integer(res->per_target_peak));
	rc |= set(obj, "targets_used", json_integer((json_int_t)res->targets_used));
	rc |= set(obj, "targets_touched", json_integer((json_int_t)res->targets_touched));
	rc |= set(obj, "cpu_s", json_real(res->cpu_s));
	rc |= set(obj, "wall_s", json_real(res->wall_s));
	return rc ? -ENOMEM : 0;
}

static FILE *open_out(const char *path, const char *mode, const char *what)
{
	FILE *f = fopen(path, mode);

	if (!f)
		fprintf(stderr, "denali-load: %s %s: %s\n", what, path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path, const char *what)
{
	int bad = ferror(f);

	if (fclose(f) || bad) {
		fprintf(stderr, "denali-load: %s %s: write failed\n", what, path);
		return -EIO;
	}
	return 0;
}

int report_hits(const char *path, const struct target_set *ts, const struct run_result *res)
{
	FILE *f = open_out(path, "w", "--hits");

	if (!f)
		return -errno;
	fprintf(f, "# rank target hits\n");
	for (size_t i = 0; i < ts->n; i++)
		fprintf(f, "%zu %s %llu\n", i + 1, ts->v[i].name, (unsigned long long)res->hits[i]);
	return close_out(f, path, "--hits");
}

static void cdf_row(uint64_t value, uint64_t count, double cum, void *arg)
{
	(void)count;
	fprintf(arg, "%.6f %.9f\n", ms(value), cum);
}

int report_cdf(const char *path, const struct run_result *res)
{
	FILE *f = open_out(path, "w", "--cdf");

	if (!f)
		return -errno;
	fprintf(f, "# latency_ms fraction_at_or_below\n");
	hist_foreach(&res->lat, cdf_row, f);
	return close_out(f, path, "--cdf");
}

int report_tsv(const char *path, const char *label, const struct run_result *res)
{
	struct stat st;
	int fresh = stat(path, &st) != 0 || st.st_size == 0;
	FILE *f = open_out(path, "a", "--tsv");

	if (!f)
		return -errno;
	if (fresh)
		fprintf(f,
			"# label\ttargets\trate\tthroughput\tp50_ms\tp90_ms\tp99_ms\tp99_9_ms\tmax_"
			"ms\tfailures\n");
	fprintf(f, "%s\t%zu\t%.1f\t%.1f", label ? label : "-", res->ntargets, res->rate,
		res->throughput);
	for (int i = 0; i < REPORT_NPCT; i++)
		fprintf(f, "\t%.4f", ms(hist_percentile(&res->lat, report_pcts[i])));
	fprintf(f, "\t%.4f\t%llu\n", ms(res->lat.count ? res->lat.max : 0),
		(unsigned long long)run_result_failures(res));
	return close_out(f, path, "--tsv");
}

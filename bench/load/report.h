/* report.h - what a run prints and writes: human summary, one JSON line, hit counts, CDF, TSV.
 */
#ifndef DENALI_LOAD_REPORT_H
#define DENALI_LOAD_REPORT_H

#include <stdio.h>

struct json_t;
struct load_config;
struct run_result;
struct target_set;

/* The percentiles every report gives, in this order, and their JSON key stems. */
#define REPORT_NPCT 4
extern const double report_pcts[REPORT_NPCT];
extern const char *const report_pct_names[REPORT_NPCT];

/* Several lines for a person. */
void report_human(FILE *out, const struct load_config *cfg, const struct run_result *res);

/* Add the run's figures to a JSON object (flat keys: "p99_ms", "timeouts", ...). 0/-ENOMEM. */
int report_json_fill(struct json_t *obj, const struct load_config *cfg,
		     const struct run_result *res);

/* Write "index address hits" per target. 0 or -errno (message on stderr). */
int report_hits(const char *path, const struct target_set *ts, const struct run_result *res);

/* Write the latency CDF as "latency_ms fraction" rows. 0 or -errno. */
int report_cdf(const char *path, const struct run_result *res);

/* Append one row "label targets rate throughput p50 p90 p99 p99.9 max failures" (ms), with a
 * '#' header when the file is new. 0 or -errno. */
int report_tsv(const char *path, const char *label, const struct run_result *res);

#endif

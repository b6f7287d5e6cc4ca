#include "metrics.h"

#include <denali/abi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A family from one number in the stats object, or one object of numbers whose keys
 * become the values of label `label`. */
struct family {
	const char *name, *type, *help;
	const char *path;  /* dotted path into stats */
	const char *label; /* NULL: path is a number */
	double scale;	   /* 0 = 1 (integers printed exactly) */
};

#define NS 1e-9

static const struct family fleet_families[] = {
    {"denali_vms", "gauge", "VMs registered now, by state.", "vms_by_state", "state", 0},
    {"denali_vms_registered", "gauge", "VMs registered now (every state).", "registered", NULL, 0},
    {"denali_vms_started_total", "counter", "VMs started.", "totals.vms_started", NULL, 0},
    {"denali_vms_exited_total", "counter", "VMs that exited by themselves.", "totals.vms_exited",
     NULL, 0},
    {"denali_vms_killed_total", "counter", "VMs killed (guest faults, limits).",
     "totals.vms_killed", NULL, 0},
    {"denali_vms_removed_total", "counter", "VMs removed from the registry (stop).",
     "totals.vms_removed", NULL, 0},
    {"denali_exits_total", "counter", "VM exits (KVM_RUN returns with a reason).", "exits_total",
     NULL, 0},
    {"denali_exits_by_reason_total", "counter", "VM exits by KVM exit reason.", "exits_by_reason",
     "reason", 0},
    {"denali_hypercalls_total", "counter", "Hypercalls by call.", "totals.counters.hypercalls",
     "call", 0},
    {"denali_kvm_runs_total", "counter", "KVM_RUN calls.", "totals.counters.runs", NULL, 0},
    {"denali_cpu_seconds_total", "counter", "CPU time VMs spent in KVM_RUN.",
     "totals.counters.cpu_ns", NULL, NS},
    {"denali_wakeups_total", "counter", "Idle VMs woken (deadline or event).",
     "totals.counters.wakeups", NULL, 0},
    {"denali_event_entries_total", "counter", "Guest entries that delivered device events.",
     "totals.counters.event_entries", NULL, 0},
    {"denali_events_total", "counter", "Device event bits delivered.", "totals.counters.events",
     NULL, 0},
    {"denali_console_bytes_total", "counter", "Console bytes written by VMs.",
     "totals.console_bytes", NULL, 0},
    {"denali_console_dropped_bytes_total", "counter", "Console bytes dropped (buffer full).",
     "totals.console_dropped", NULL, 0},
    {"denali_exits_per_second", "gauge", "Exit rate over the last whole rate window.",
     "exits_per_s", NULL, 0},
    {"denali_rate_window_seconds", "gauge", "Length of the rate window.", "rate_window_s", NULL, 0},
    {"denali_shells_pooled", "gauge", "VM shells kept for reuse.", "shells_pooled", NULL, 0},
    {"denali_admission_max_vms", "gauge", "Most VMs registered at once.", "admission.max_vms", NULL,
     0},
    {"denali_admission_max_live", "gauge", "Most VMs live at once.", "admission.max_live", NULL, 0},
    {"denali_admission_memory_budget_bytes", "gauge", "Memory all live VMs may hold.",
     "admission.mem_budget", NULL, 0},
    {"denali_admission_memory_used_bytes", "gauge", "Memory charged to live VMs.",
     "admission.mem_used", NULL, 0},
    {"denali_admission_live", "gauge", "VMs charged as live.", "admission.live", NULL, 0},
    /* the switch (with --net) */
    {"denali_switch_uplink_tx_frames_total", "counter", "Frames the switch sent to its uplink.",
     "net.up_tx_frames", NULL, 0},
    {"denali_switch_uplink_tx_bytes_total", "counter", "Bytes the switch sent to its uplink.",
     "net.up_tx_bytes", NULL, 0},
    {"denali_switch_uplink_rx_frames_total", "counter", "Frames from the uplink.",
     "net.up_rx_frames", NULL, 0},
    {"denali_switch_uplink_rx_bytes_total", "counter", "Bytes from the uplink.", "net.up_rx_bytes",
     NULL, 0},
    {"denali_switch_uplink_drops_down_total", "counter", "Frames dropped: uplink down.",
     "net.up_drop_down", NULL, 0},
    {"denali_switch_uplink_drops_full_total", "counter", "Frames dropped: queue full.",
     "net.up_drop_full", NULL, 0},
    {"denali_switch_drops_spoofed_total", "counter", "Frames dropped: forged source MAC.",
     "net.up_drop_spoof", NULL, 0},
    {"denali_switch_drops_unknown_total", "counter", "Frames dropped: unknown destination.",
     "net.up_drop_unknown", NULL, 0},
    /* swap (with --swap) */
    {"denali_swap_vms_resident", "gauge", "VMs in memory.", "swap.vms_resident", NULL, 0},
    {"denali_swap_vms_swapped", "gauge", "VMs swapped out.", "swap.vms_swapped", NULL, 0},
    {"denali_swap_vms_waiting", "gauge", "VMs waiting for admission to swap in.",
     "swap.vms_waiting", NULL, 0},
    {"denali_swap_ins_total", "counter", "Swap-ins.", "swap.swap_ins", NULL, 0},
    {"denali_swap_outs_total", "counter", "Swap-outs.", "swap.swap_outs", NULL, 0},
    {"denali_swap_resident_bytes", "gauge", "Memory of resident VMs.", "swap.resident_bytes", NULL,
     0},
    {"denali_swap_peak_resident_bytes", "gauge", "Most memory resident VMs held.",
     "swap.peak_resident_bytes", NULL, 0},
    {"denali_swap_memory_budget_bytes", "gauge", "The swap gatekeeper's memory budget.",
     "swap.mem_budget", NULL, 0},
    {"denali_swap_live_max", "gauge", "The swap gatekeeper's live cap.", "swap.live_max", NULL, 0},
    {"denali_swap_in_p50_seconds", "gauge", "Median swap-in time.", "swap.swap_in_p50_us", NULL,
     1e-6},
    {"denali_swap_in_p99_seconds", "gauge", "99th percentile swap-in time.", "swap.swap_in_p99_us",
     NULL, 1e-6},
    {"denali_swap_frames_queued_total", "counter", "Frames queued for swapped VMs.",
     "swap.frames_queued", NULL, 0},
    {"denali_swap_frames_dropped_total", "counter", "Frames dropped for swapped VMs.",
     "swap.frames_dropped", NULL, 0},
    {"denali_swap_out_p50_seconds", "gauge", "Median swap-out time.", "swap.swap_out_p50_us", NULL,
     1e-6},
    {"denali_swap_out_p99_seconds", "gauge", "99th percentile swap-out time.",
     "swap.swap_out_p99_us", NULL, 1e-6},
    {"denali_swap_eviction_failures_total", "counter", "Evictions that failed.",
     "swap.eviction_failures", NULL, 0},
    {"denali_swap_in_failures_total", "counter", "Swap-ins that failed.", "swap.swap_in_failures",
     NULL, 0},
    {"denali_swap_checksum_failures_total", "counter", "Swap slots whose checksum failed.",
     "swap.checksum_failures", NULL, 0},
    {"denali_swap_overruns_total", "counter", "Times resident memory passed the budget.",
     "swap.overruns", NULL, 0},
    {"denali_swap_overrun_evictions_total", "counter", "Evictions made to end an overrun.",
     "swap.overrun_evictions", NULL, 0},
    {"denali_swap_slots", "gauge", "Swap slots in all.", "swap.slots_total", NULL, 0},
    {"denali_swap_slots_used", "gauge", "Swap slots held by VMs.", "swap.slots_used", NULL, 0},
    {"denali_swap_slot_bytes", "gauge", "Size of one swap slot.", "swap.slot_bytes", NULL, 0},
    {"denali_swap_files", "gauge", "Swap files.", "swap.swap_files", NULL, 0},
    /* the HTTP listener itself (only in what it serves) */
    {"denali_metrics_http_accepted_total", "counter", "Connections accepted.",
     "metrics_http.accepted", NULL, 0},
    {"denali_metrics_http_served_total", "counter", "Scrapes answered with 200.",
     "metrics_http.served", NULL, 0},
    {"denali_metrics_http_renders_total", "counter", "Renderings (the rest were cached).",
     "metrics_http.renders", NULL, 0},
    {"denali_metrics_http_timed_out_total", "counter",
     "Connections closed for a request or reply past its deadline.", "metrics_http.timed_out", NULL,
     0},
    {"denali_metrics_http_too_large_total", "counter", "Requests refused with 431.",
     "metrics_http.too_large", NULL, 0},
    {"denali_metrics_http_bad_total", "counter", "Requests refused with 400, 404 or 405.",
     "metrics_http.bad", NULL, 0},
    {"denali_metrics_http_evicted_total", "counter",
     "Unfinished requests closed to make room for a new connection.", "metrics_http.evicted", NULL,
     0},
};

static const json_t *jpath(const json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

/* v / 10^digits exactly, as a decimal without trailing zeros ("0.000008", "12.5", "3"). */
static void put_fixed(FILE *f, long long v, int digits)
{
	long long div = 1, frac;
	char buf[24];
	int n;

	for (int i = 0; i < digits; i++)
		div *= 10;
	if (v < 0) {
		fputc('-', f);
		v = -v;
	}
	frac = v % div;
	fprintf(f, "%lld", v / div);
	if (!frac)
		return;
	n = snprintf(buf, sizeof(buf), "%0*lld", digits, frac);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = 0;
	fprintf(f, ".%s", buf);
}

/* Integers scaled by 1e-9 or 1e-6 are printed exactly; other numbers with 10
 * significant digits. */
static void put_value(FILE *f, const json_t *v, double scale)
{
	if (json_is_integer(v) && (!scale || scale == NS || scale == 1e-6)) {
		put_fixed(f, (long long)json_integer_value(v), !scale ? 0 : scale == NS ? 9 : 6);
		fputc('\n', f);
		return;
	}
	double d = json_number_value(v) * (scale ? scale : 1);

	if (isnan(d))
		fputs("NaN\n", f);
	else if (isinf(d))
		fputs(d > 0 ? "+Inf\n" : "-Inf\n", f);
	else
		fprintf(f, "%.10g\n", d);
}

/* A label value: \, " and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_family(FILE *f, const struct family *m, const json_t *stats)
{
	const json_t *v = jpath(stats, m->path);
	const char *k;
	json_t *x;

	if (m->label ? !json_is_object(v) || !json_object_size(v) : !json_is_number(v))
		return;
	put_head(f, m->name, m->type, m->help);
	if (!m->label) {
		fprintf(f, "%s ", m->name);
		put_value(f, v, m->scale);
		return;
	}
	json_object_foreach((json_t *)v, k, x)
	{
		if (!json_is_number(x))
			continue;
		fprintf(f, "%s{%s=\"", m->name, m->label);
		put_label(f, k);
		fputs("\"} ", f);
		put_value(f, x, m->scale);
	}
}

/* One histogram series from a lateness object {count, sum_us, buckets: [[le_us, cum]...]};
 * labels is "" or `worker="0",`. */
static void put_histogram(FILE *f, const char *name, const char *labels, const json_t *l)
{
	const json_t *b = json_object_get(l, "buckets"), *e;
	size_t i;

	json_array_foreach((json_t *)b, i, e)
	{
		json_int_t le = json_integer_value(json_array_get(e, 0));

		fprintf(f, "%s_bucket{%sle=\"", name, labels);
		if (le < 0)
			fputs("+Inf", f);
		else
			put_fixed(f, le, 6);
		fputs("\"} ", f);
		fprintf(f, "%lld\n", (long long)json_integer_value(json_array_get(e, 1)));
	}
	fprintf(f, "%s_sum%s%.*s%s ", name, *labels ? "{" : "",
		*labels ? (int)strlen(labels) - 1 : 0, labels, *labels ? "}" : "");
	put_fixed(f, (long long)json_integer_value(json_object_get(l, "sum_us")), 6);
	fputc('\n', f);
	fprintf(f, "%s_count%s%.*s%s %lld\n", name, *labels ? "{" : "",
		*labels ? (int)strlen(labels) - 1 : 0, labels, *labels ? "}" : "",
		(long long)json_integer_value(json_object_get(l, "count")));
}

struct worker_family {
	const char *name, *type, *help, *key;
	double scale;
};

static const struct worker_family worker_families[] = {
    {"denali_worker_utilisation", "gauge",
     "Fraction of the last whole rate window the worker ran VMs.", "utilisation", 0},
    {"denali_worker_busy_seconds_total", "counter", "Time the worker spent running VMs.", "busy_ns",
     NS},
    {"denali_worker_dispatches_total", "counter", "VMs dispatched by the worker.", "runs", 0},
    {"denali_worker_preemptions_total", "counter", "Quanta that ended in a preemption.",
     "preemptions", 0},
    {"denali_worker_vms", "gauge", "VMs the worker owns.", "live", 0},
};

static void put_workers(FILE *f, const json_t *stats)
{
	const json_t *ws = json_object_get(stats, "workers"), *w;
	size_t i;

	if (!json_array_size(ws))
		return;
	for (size_t k = 0; k < sizeof(worker_families) / sizeof(worker_families[0]); k++) {
		const struct worker_family *m = &worker_families[k];

		put_head(f, m->name, m->type, m->help);
		json_array_foreach((json_t *)ws, i, w)
		{
			const json_t *v = json_object_get(w, m->key);

			if (!json_is_number(v))
				continue;
			fprintf(f, "%s{worker=\"%lld\"} ", m->name,
				(long long)json_integer_value(json_object_get(w, "id")));
			put_value(f, v, m->scale);
		}
	}
	put_head(f, "denali_worker_wakeup_lateness_seconds", "histogram",
		 "How late after its idle deadline a VM of this worker ran again.");
	json_array_foreach((json_t *)ws, i, w)
	{
		const json_t *l = json_object_get(w, "wakeup_lateness");
		char labels[48];

		if (!json_is_object(l))
			continue;
		snprintf(labels, sizeof(labels), "worker=\"%lld\",",
			 (long long)json_integer_value(json_object_get(w, "id")));
		put_histogram(f, "denali_worker_wakeup_lateness_seconds", labels, l);
	}
}

/* A per-VM family: one number (key, a dotted path into the row) or an object of
 * numbers whose keys go in label `label`. */
static const struct family vm_families[] = {
    {"denali_vm_cpu_seconds_total", "counter", "CPU time the VM spent in KVM_RUN.",
     "counters.cpu_ns", NULL, NS},
    {"denali_vm_exits_total", "counter", "The VM's exits by KVM exit reason.",
     "counters.exits_by_reason", "reason", 0},
    {"denali_vm_hypercalls_total", "counter", "The VM's hypercalls by call.", "counters.hypercalls",
     "call", 0},
    {"denali_vm_kvm_runs_total", "counter", "The VM's KVM_RUN calls.", "counters.runs", NULL, 0},
    {"denali_vm_wakeups_total", "counter", "Times the idle VM was woken.", "counters.wakeups", NULL,
     0},
    {"denali_vm_console_bytes_total", "counter", "Console bytes the VM wrote.", "console_bytes",
     NULL, 0},
    {"denali_vm_console_dropped_bytes_total", "counter", "Console bytes of the VM dropped.",
     "console_dropped", NULL, 0},
    {"denali_vm_memory_bytes", "gauge", "The VM's guest memory size.", "mem_bytes", NULL, 0},
};

static void put_vm_label(FILE *f, const json_t *row)
{
	fputs("vm=\"", f);
	put_label(f, json_string_value(json_object_get(row, "name")) ?: "?");
	fputc('"', f);
}

static void put_vm_family(FILE *f, const struct family *m, const json_t *rows)
{
	const json_t *row;
	size_t i;
	int head = 0;

	json_array_foreach((json_t *)rows, i, row)
	{
		const json_t *v = jpath(row, m->path), *x;
		const char *k;

		if (m->label ? !json_is_object(v) : !json_is_number(v))
			continue;
		if (!head++)
			put_head(f, m->name, m->type, m->help);
		if (!m->label) {
			fprintf(f, "%s{", m->name);
			put_vm_label(f, row);
			fputs("} ", f);
			put_value(f, v, m->scale);
			continue;
		}
		json_object_foreach((json_t *)v, k, x)
		{
			if (!json_is_number(x))
				continue;
			fprintf(f, "%s{", m->name);
			put_vm_label(f, row);
			fprintf(f, ",%s=\"", m->label);
			put_label(f, k);
			fputs("\"} ", f);
			put_value(f, x, m->scale);
		}
	}
}

static void put_quantile(FILE *f, const json_t *row, const char *q, const json_t *l,
			 const char *key)
{
	json_int_t us = json_integer_value(json_object_get(l, key));

	fputs("denali_vm_wakeup_lateness_seconds{", f);
	put_vm_label(f, row);
	fprintf(f, ",quantile=\"%s\"} ", q);
	if (!json_integer_value(json_object_get(l, "count")))
		fputs("NaN\n", f);
	else if (us < 0)
		fputs("+Inf\n", f);
	else
		put_fixed(f, (long long)us, 6), fputc('\n', f);
}

static void put_vms(FILE *f, const json_t *vms)
{
	const json_t *rows = json_object_get(vms, "vms"), *row;
	size_t i, n = json_array_size(rows);
	json_int_t registered = json_integer_value(json_object_get(vms, "registered"));

	put_head(f, "denali_metrics_vms_shown", "gauge",
		 "VMs with per-VM series in this scrape (those that used the most CPU).");
	fprintf(f, "denali_metrics_vms_shown %zu\n", n);
	put_head(f, "denali_metrics_vms_omitted", "gauge",
		 "Registered VMs left out of the per-VM series.");
	fprintf(f, "denali_metrics_vms_omitted %lld\n",
		(long long)(registered > (json_int_t)n ? registered - (json_int_t)n : 0));
	if (!n)
		return;
	put_head(f, "denali_vm_info", "gauge",
		 "1 for each VM shown, with its id, state and worker.");
	json_array_foreach((json_t *)rows, i, row)
	{
		fputs("denali_vm_info{", f);
		put_vm_label(f, row);
		fprintf(f, ",id=\"%lld\",state=\"",
			(long long)json_integer_value(json_object_get(row, "id")));
		put_label(f, json_string_value(json_object_get(row, "state")) ?: "?");
		fprintf(f, "\",worker=\"%lld\"} 1\n",
			(long long)json_integer_value(json_object_get(row, "worker")));
	}
	for (size_t k = 0; k < sizeof(vm_families) / sizeof(vm_families[0]); k++)
		put_vm_family(f, &vm_families[k], rows);
	put_head(f, "denali_vm_wakeup_lateness_seconds", "summary",
		 "How late after its idle deadline the VM ran again (quantiles: the upper bound "
		 "of the histogram bucket holding them).");
	json_array_foreach((json_t *)rows, i, row)
	{
		const json_t *l = jpath(row, "counters.wakeup_lateness");

		if (!json_is_object(l))
			continue;
		put_quantile(f, row, "0.5", l, "p50_us");
		put_quantile(f, row, "0.99", l, "p99_us");
		fputs("denali_vm_wakeup_lateness_seconds_sum{", f);
		put_vm_label(f, row);
		fputs("} ", f);
		put_fixed(f, (long long)json_integer_value(json_object_get(l, "sum_us")), 6);
		fputc('\n', f);
		fputs("denali_vm_wakeup_lateness_seconds_count{", f);
		put_vm_label(f, row);
		fprintf(f, "} %lld\n", (long long)json_integer_value(json_object_get(l, "count")));
	}
}

char *metrics_render(const json_t *stats, const json_t *vms, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	const json_t *late;

	if (!f)
		return NULL;
	put_head(f, "denali_build_info", "gauge", "1, with the daemon's version and guest ABI.");
	fprintf(f, "denali_build_info{version=\"%s\",abi=\"%u\"} 1\n", DENALI_VERSION,
		DENALI_ABI_VERSION);
	for (size_t k = 0; k < sizeof(fleet_families) / sizeof(fleet_families[0]); k++)
		put_family(f, &fleet_families[k], stats);
	late = json_object_get(stats, "wakeup_lateness");
	if (json_is_object(late)) {
		put_head(f, "denali_wakeup_lateness_seconds", "histogram",
			 "How late after its idle deadline a VM ran again, every worker.");
		put_histogram(f, "denali_wakeup_lateness_seconds", "", late);
	}
	put_workers(f, stats);
	if (vms)
		put_vms(f, vms);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

char *metrics_collect(const struct ctl_backend *be, unsigned vms_max, json_t *http, size_t *len,
		      char *err, size_t errlen)
{
	json_t *stats = be->stats(be->ctx), *vms = NULL;
	char *text;

	if (!json_is_object(stats)) {
		json_decref(stats);
		snprintf(err, errlen, "metrics: the daemon gave no stats");
		return NULL;
	}
	if (http)
		json_object_set(stats, "metrics_http", http);
	if (be->metrics_vms)
		vms = be->metrics_vms(be->ctx, vms_max);
	text = metrics_render(stats, json_is_object(vms) ? vms : NULL, len);
	json_decref(stats);
	json_decref(vms);
	if (!text)
		snprintf(err, errlen, "metrics: out of memory");
	return text;
}

/* `denalictl stats [NAME] [--json]`: the daemon's figures, or one VM's counters with its
 * address and device counters. */
#include "denalictl.h"
#include "proto.h"

#include <stdio.h>
#include <string.h>

/* "exits by reason  io 12, shutdown 1" (the non-zero ones) and "wake-up lateness  N, p50 X us,
 * p99 Y us" (bucket bounds; "> 2.1 s" past the last). */
static void print_exits_late(const char *label, json_t *reasons, json_t *late, int width)
{
	const char *key;
	json_t *v;
	int n = 0;

	printf("%-*s", width, label);
	json_object_foreach(reasons, key, v)
	{
		if (json_integer_value(v))
			printf("%s %s %lld", n++ ? "," : "", key, (long long)json_integer_value(v));
	}
	printf("%s\n%-*s %lld", n ? "" : " none", width, "wake-up lateness",
	       (long long)json_integer_value(json_object_get(late, "count")));
	if (json_integer_value(json_object_get(late, "count"))) {
		static const char *const q[] = {"p50_us", "p99_us"};

		for (int i = 0; i < 2; i++) {
			json_int_t us = json_integer_value(json_object_get(late, q[i]));

			if (us < 0)
				printf(", p%s > 2.1 s", i ? "99" : "50");
			else
				printf(", p%s <= %lld us", i ? "99" : "50", (long long)us);
		}
	}
	printf("\n");
}

static void print_counters(json_t *c)
{
	const char *key;
	json_t *v;

	printf("%-20s %lld\n", "exits", (long long)json_integer_value(json_object_get(c, "exits")));
	printf("%-20s", "hypercalls");
	json_object_foreach(json_object_get(c, "hypercalls"), key, v)
	    printf(" %s %lld", key, (long long)json_integer_value(v));
	printf("\n%-20s %lld\n", "runs", (long long)json_integer_value(json_object_get(c, "runs")));
	printf("%-20s %.3f\n", "cpu_s",
	       (double)json_integer_value(json_object_get(c, "cpu_ns")) / 1e9);
	printf("%-20s %lld\n", "wakeups",
	       (long long)json_integer_value(json_object_get(c, "wakeups")));
	print_exits_late("exits by reason", json_object_get(c, "exits_by_reason"),
			 json_object_get(c, "wakeup_lateness"), 20);
}

static double num(json_t *o, const char *k)
{
	return (double)json_integer_value(json_object_get(o, k));
}

/* Issue 9 item 5, from the device counters: event bits and frames (both
 * ways) per guest entry, and VM exits per frame. */
static void print_ratios(json_t *d)
{
	double runs = num(d, "runs"), frames = num(d, "rx_frames") + num(d, "tx_frames");

	printf("%-20s events %.3f, frames %.3f\n", "per entry",
	       runs ? num(d, "events") / runs : 0.0, runs ? frames / runs : 0.0);
	if (json_object_get(d, "rx_frames"))
		printf("%-20s %.3f\n", "exits per frame", frames ? num(d, "exits") / frames : 0.0);
}

/* The list entry of NAME (new reference) for its address and devices, or NULL. */
static json_t *list_entry(const char *name)
{
	json_t *reply, *vm, *found = NULL;
	size_t k;

	if (call(json_pack("{s:s}", "op", "list"), &reply) != EXIT_OK) {
		json_decref(reply);
		return NULL;
	}
	json_array_foreach(json_object_get(reply, "vms"), k, vm)
	{
		if (json_is_string(json_object_get(vm, "name")) &&
		    !strcmp(json_string_value(json_object_get(vm, "name")), name))
			found = json_incref(vm);
	}
	json_decref(reply);
	return found;
}

/* `stats NAME`: one VM's counters, its address and its device counters. */
static int vm_stats(const char *name, bool json)
{
	json_t *reply, *vm, *le, *d, *v;
	const char *key;
	int st = call(json_pack("{s:s, s:s}", "op", "stats", "name", name), &reply);

	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	vm = json_object_get(reply, "vm");
	le = list_entry(name);
	if (vm && le) {
		json_object_set(vm, "ipv4", json_object_get(le, "ipv4"));
		if (json_object_get(le, "devices"))
			json_object_set(vm, "devices", json_object_get(le, "devices"));
	}
	json_decref(le);
	if (json) {
		print_json(vm ? vm : json_object());
		json_decref(reply);
		return EXIT_OK;
	}
	printf("%-20s %s (id %lld)\n", "vm", json_string_value(json_object_get(vm, "name")),
	       (long long)json_integer_value(json_object_get(vm, "id")));
	printf("%-20s %s", "state", json_string_value(json_object_get(vm, "state")));
	if (json_is_integer(json_object_get(vm, "exit_code")))
		printf(" (code %lld)",
		       (long long)json_integer_value(json_object_get(vm, "exit_code")));
	if (json_is_string(json_object_get(vm, "reason")))
		printf(" (%s)", json_string_value(json_object_get(vm, "reason")));
	printf("\n");
	print_counters(json_object_get(vm, "counters"));
	printf("%-20s %lld bytes, %lld dropped; console.log %lld bytes, %lld lost\n", "console",
	       (long long)json_integer_value(json_object_get(vm, "console_bytes")),
	       (long long)json_integer_value(json_object_get(vm, "console_dropped")),
	       (long long)json_integer_value(json_object_get(vm, "console_log_bytes")),
	       (long long)json_integer_value(json_object_get(vm, "console_log_lost")));
	v = json_object_get(vm, "ipv4");
	printf("%-20s %s\n", "ipv4", json_is_string(v) ? json_string_value(v) : "-");
	d = json_object_get(vm, "devices");
	json_object_foreach(d, key, v)
	    printf("%-20s %lld\n", key, (long long)json_integer_value(v));
	if (!json_is_object(d))
		printf("no devices\n");
	else
		print_ratios(d);
	json_decref(reply);
	return EXIT_OK;
}

int cmd_stats(int n, char **args)
{
	bool json = false;
	const char *name = NULL;
	json_t *reply, *s, *v;
	const char *key;
	long long total = 0;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl stats [NAME] [--json]\n"
			       "Daemon-wide figures: VMs by state, VM exits per second (over the "
			       "last 10 s window),\ntotals that only go up, hypercalls by kind, "
			       "utilisation of each worker.\nWith NAME: that VM's counters (exits, "
			       "hypercalls, runs, CPU, wake-ups, console),\nits address and device "
			       "counters (frames and bytes each way, drops by cause,\nblock ops, "
			       "errors, in-flight peak).\n"
			       "  --json   the daemon's answer as JSON\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else if (args[i][0] != '-' && !name)
			check_name("stats", name = args[i]);
		else
			die_bad_arg("stats", args[i]);
	}
	if (name)
		return vm_stats(name, json);
	st = call(json_pack("{s:s}", "op", "stats"), &reply);
	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	s = json_object_get(reply, "stats");
	if (json) {
		print_json(s ? s : json_object());
		json_decref(reply);
		return EXIT_OK;
	}
	printf("%-12s", "VMs");
	json_object_foreach(json_object_get(s, "vms_by_state"), key, v)
	{
		printf(" %s %lld", key, (long long)json_number_value(v));
		total += (long long)json_number_value(v);
	}
	printf("  (total %lld)\n", total);
	v = json_object_get(s, "exits_per_s");
	printf("%-12s %.1f (over %llds; exits ever: %lld)\n", "exits/s",
	       json_is_number(v) ? json_number_value(v) : 0.0,
	       (long long)json_integer_value(json_object_get(s, "rate_window_s")),
	       (long long)json_integer_value(json_object_get(s, "exits_total")));
	v = json_object_get(s, "totals");
	printf("%-12s started %lld, exited %lld, killed %lld, removed %lld\n", "VMs ever",
	       (long long)json_integer_value(json_object_get(v, "vms_started")),
	       (long long)json_integer_value(json_object_get(v, "vms_exited")),
	       (long long)json_integer_value(json_object_get(v, "vms_killed")),
	       (long long)json_integer_value(json_object_get(v, "vms_removed")));
	printf("%-12s", "hypercalls");
	json_object_foreach(json_object_get(s, "hypercalls"), key, v)
	    printf(" %s %lld", key, (long long)json_number_value(v));
	printf("\n");
	print_exits_late("exits", json_object_get(s, "exits_by_reason"),
			 json_object_get(s, "wakeup_lateness"), 12);
	printf("%-12s", "workers");
	json_array_foreach(json_object_get(s, "workers"), k, v)
	{
		printf(" #%lld %.1f%%", (long long)json_number_value(json_object_get(v, "id")),
		       100.0 * json_number_value(json_object_get(v, "utilisation")));
	}
	printf("\n");
	json_decref(reply);
	return EXIT_OK;
}

/* denalictl list: the VM table (or --json). */
#include "denalictl.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- list ---- */

static void fmt_uint(char *dst, size_t n, json_t *v)
{
	if (json_is_integer(v))
		snprintf(dst, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(dst, n, "%.0f", json_real_value(v));
	else
		snprintf(dst, n, "-");
}

/* A CLOCK_REALTIME ms figure as local time: HH:MM:SS today, else YYYY-MM-DD HH:MM. */
static void fmt_time(char *dst, size_t n, json_t *v)
{
	time_t t, now = time(NULL);
	struct tm tm, today;

	if (!json_is_integer(v)) {
		snprintf(dst, n, "-");
		return;
	}
	t = (time_t)(json_integer_value(v) / 1000);
	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	if (tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year)
		strftime(dst, n, "%H:%M:%S", &tm);
	else
		strftime(dst, n, "%Y-%m-%d %H:%M", &tm);
}

static void fmt_uptime(char *dst, size_t n, json_t *v)
{
	long long s;

	if (!json_is_number(v)) {
		snprintf(dst, n, "-");
		return;
	}
	s = (long long)json_number_value(v);
	if (s >= 86400)
		snprintf(dst, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(dst, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(dst, n, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(dst, n, "%llds", s);
}

#define LIST_COLS 10

int cmd_list(int n, char **args)
{
	static const char *const head[LIST_COLS] = {"NAME",    "STATE",	 "IPV4",   "STARTED",
						    "ENDED",   "WORKER", "CPU_MS", "EXITS",
						    "RES_KIB", "UPTIME"};
	json_t *counts = json_object();
	bool json = false;
	json_t *reply, *vms, *vm;
	size_t width[LIST_COLS], k, rows;
	char(*cell)[LIST_COLS][160];
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl list [--json]\n"
			       "List VMs: name, state (running, runnable, idle, exited, killed + "
			       "reason;\nunder denalid serve --swap a live VM shows resident, "
			       "swapped, waiting,\nswapping-in or swapping-out), worker, CPU ms, "
			       "exits, resident KiB, uptime.\n"
			       "  --json   the daemon's answer as JSON\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else
			die_bad_arg("list", args[i]);
	}
	st = call(json_pack("{s:s}", "op", "list"), &reply);
	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	vms = json_object_get(reply, "vms");
	if (json) {
		print_json(vms ? vms : json_array());
		json_decref(reply);
		return EXIT_OK;
	}
	rows = json_array_size(vms);
	cell = calloc(rows + 1, sizeof(*cell));
	if (!cell) {
		json_decref(reply);
		return EXIT_ERR;
	}
	for (int c = 0; c < LIST_COLS; c++)
		snprintf(cell[0][c], sizeof(cell[0][c]), "%s", head[c]);
	json_array_foreach(vms, k, vm)
	{
		char(*row)[160] = cell[k + 1];
		json_t *reason = json_object_get(vm, "reason");
		json_t *name = json_object_get(vm, "name"), *state = json_object_get(vm, "state");
		snprintf(row[0], 160, "%s", json_is_string(name) ? json_string_value(name) : "?");
		json_t *code = json_object_get(vm, "exit_code");
		const char *sn = json_is_string(state) ? json_string_value(state) : "?";
		json_t *res = json_object_get(vm, "residency");

		/* Under --swap a live VM shows where its memory is (resident, swapped, ...). */
		if (json_is_string(res))
			sn = json_string_value(res);

		json_object_set_new(
		    counts, sn, json_integer(json_integer_value(json_object_get(counts, sn)) + 1));
		if (json_is_string(reason) && json_string_length(reason))
			snprintf(row[1], 160, "%s (%.120s)", sn, json_string_value(reason));
		else if (json_is_integer(code))
			snprintf(row[1], 160, "%s (code %lld)", sn,
				 (long long)json_integer_value(code));
		else
			snprintf(row[1], 160, "%s", sn);
		snprintf(row[2], 160, "%s",
			 json_is_string(json_object_get(vm, "ipv4"))
			     ? json_string_value(json_object_get(vm, "ipv4"))
			     : "-");
		fmt_time(row[3], 160, json_object_get(vm, "started_ms"));
		fmt_time(row[4], 160, json_object_get(vm, "ended_ms"));
		fmt_uint(row[5], 160, json_object_get(vm, "worker"));
		fmt_uint(row[6], 160, json_object_get(vm, "cpu_ms"));
		fmt_uint(row[7], 160, json_object_get(vm, "exits"));
		fmt_uint(row[8], 160, json_object_get(vm, "resident_kib"));
		fmt_uptime(row[9], 160, json_object_get(vm, "uptime_s"));
	}
	for (int c = 0; c < LIST_COLS; c++) {
		width[c] = 0;
		for (k = 0; k <= rows; k++)
			if (strlen(cell[k][c]) > width[c])
				width[c] = strlen(cell[k][c]);
	}
	for (k = 0; k <= rows; k++) {
		for (int c = 0; c < LIST_COLS; c++) {
			/* Text columns flush left, numbers flush right. */
			if (c == LIST_COLS - 1)
				printf("%*s\n", (int)width[c], cell[k][c]);
			else if (c < 5)
				printf("%-*s  ", (int)width[c], cell[k][c]);
			else
				printf("%*s  ", (int)width[c], cell[k][c]);
		}
	}
	{
		const char *key;
		json_t *cnt;

		printf("%zu VM(s)", rows);
		json_object_foreach(counts, key, cnt)
		{
			printf(", %lld %s", (long long)json_integer_value(cnt), key);
		}
		printf("\n");
	}
	json_decref(counts);
	free(cell);
	json_decref(reply);
	return EXIT_OK;
}

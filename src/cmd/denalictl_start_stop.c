/* denalictl start and stop: the VM life-cycle verbs (bulk ones run as jobs in the daemon). */
#include "denalictl.h"
#include "proto.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- start ---- */

int cmd_start(int n, char **args)
{
	const char *name = NULL, *image = NULL, *mem = NULL, *count = NULL, *disk = NULL;
	char resolved[PATH_MAX], dresolved[PATH_MAX];
	bool net = false, disk_ro = false, disk_direct = false;
	json_t *req, *reply, *gargs = json_array(), *v;
	uint64_t bytes;
	size_t k;
	int i, st;

	for (i = 0; i < n; i++) {
		const char *a = args[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < n; i++)
				json_array_append_new(gargs, json_string(args[i]));
			break;
		}
		if (is_help(a)) {
			printf("usage: denalictl start NAME IMAGE [--mem SIZE] [--count N] [--net] "
			       "[--disk FILE [--disk-ro] [--disk-direct]] [-- ARGS...]\n"
			       "Define and boot a VM running IMAGE (a guest program).\n"
			       "  --mem SIZE   guest memory, " DENALI_MEM_RULE " (default 16M)\n"
			       "  --count N    start N VMs named NAME-0 .. NAME-(N-1)\n"
			       "  --net        a NIC on the daemon's switch (denalid serve --net)\n"
			       "  --disk FILE  a raw disk image (--disk-ro: read-only; "
			       "--disk-direct: aligned\n"
			       "               requests bypass the page cache, O_DIRECT)\n"
			       "  -- ARGS      arguments passed to the guest\n"
			       "The definition is kept by the daemon and boots again after a "
			       "daemon restart,\nuntil 'denalictl stop NAME'.\n");
			json_decref(gargs);
			return EXIT_OK;
		}
		if (opt_value("start", args, n, &i, "--mem", &mem) ||
		    opt_value("start", args, n, &i, "--count", &count) ||
		    opt_value("start", args, n, &i, "--disk", &disk))
			continue;
		if (!strcmp(a, "--net")) {
			net = true;
			continue;
		}
		if (!strcmp(a, "--disk-ro")) {
			disk_ro = true;
			continue;
		}
		if (!strcmp(a, "--disk-direct")) {
			disk_direct = true;
			continue;
		}
		if (a[0] == '-' && a[1])
			die_usage("start", "unknown option %s", a);
		if (!name)
			name = a;
		else if (!image)
			image = a;
		else
			die_usage("start", "unexpected argument %s (guest arguments go after --)",
				  a);
	}
	if (!name || !image)
		die_usage("start", "%s", "NAME and IMAGE are required");
	if ((disk_ro || disk_direct) && !disk)
		die_usage("start", "%s", "--disk-ro and --disk-direct need --disk FILE");
	if (!ctl_name_valid(name))
		die_usage("start", "bad name %s: " CTL_NAME_RULE, name);
	if (mem && ctl_parse_size(mem, &bytes) < 0)
		die_usage("start", "bad size %s (e.g. 16M, 64MiB, 1G)", mem);
	if (mem && !denali_mem_size_ok(bytes))
		die_usage("start", "bad memory size %s: it must be " DENALI_MEM_RULE, mem);
	req = json_pack("{s:s, s:s}", "op", "start", "name", name);
	if (count) {
		char *end;
		long c = strtol(count, &end, 10);
		if (*count < '0' || *count > '9' || *end || c < 1 || c > (long)CTL_COUNT_MAX)
			die_usage("start", "bad count %s: 1 to 10000", count);
		json_object_set_new(req, "count", json_integer(c));
	}
	/* The daemon needs an absolute path; resolve a relative one here, where it means
	 * something. */
	if (image[0] != '/') {
		if (!realpath(image, resolved)) {
			fprintf(stderr, "denalictl: %s: %s\n", image, strerror(errno));
			json_decref(req);
			json_decref(gargs);
			return EXIT_ERR;
		}
		image = resolved;
	}
	json_object_set_new(req, "image", json_string(image));
	if (mem)
		json_object_set_new(req, "mem", json_string(mem));
	if (net)
		json_object_set_new(req, "net", json_true());
	if (disk) {
		if (disk[0] != '/' && !realpath(disk, dresolved)) {
			fprintf(stderr, "denalictl: %s: %s\n", disk, strerror(errno));
			json_decref(req);
			json_decref(gargs);
			return EXIT_ERR;
		}
		json_object_set_new(req, "disk", json_string(disk[0] == '/' ? disk : dresolved));
		if (disk_ro)
			json_object_set_new(req, "disk_ro", json_true());
		if (disk_direct)
			json_object_set_new(req, "disk_direct", json_true());
	}
	if (json_array_size(gargs))
		json_object_set_new(req, "args", gargs);
	else
		json_decref(gargs);
	st = call(req, &reply);
	if (st == EXIT_OK) {
		printf("started");
		json_array_foreach(json_object_get(reply, "started"), k, v)
		    printf(" %s", json_string_value(v));
		printf("\n");
	}
	json_decref(reply);
	return st;
}

/* ---- stop ---- */

int cmd_stop(int n, char **args)
{
	json_t *req, *reply, *names = json_array(), *v;
	bool all = false;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl stop NAME... | --all\n"
			    "Stop VMs and forget their definitions (they do not boot again after "
			    "a daemon restart).\n"
			    "  --all   every VM\n");
			json_decref(names);
			return EXIT_OK;
		}
		if (strcmp(args[i], "--all") == 0) {
			all = true;
			continue;
		}
		if (args[i][0] == '-')
			die_usage("stop", "unknown option %s", args[i]);
		if (!ctl_name_valid(args[i]))
			die_usage("stop", "bad name %s: " CTL_NAME_RULE, args[i]);
		json_array_append_new(names, json_string(args[i]));
	}
	if (all == (json_array_size(names) > 0))
		die_usage("stop", "%s", "give either VM names or --all");
	if (all) {
		req = json_pack("{s:s, s:b}", "op", "stop", "all", 1);
		json_decref(names);
	} else {
		req = json_pack("{s:s, s:o}", "op", "stop", "names", names);
	}
	st = call(req, &reply);
	if (reply && json_array_size(json_object_get(reply, "stopped"))) {
		printf("stopped");
		json_array_foreach(json_object_get(reply, "stopped"), k, v)
		    printf(" %s", json_string_value(v));
		printf("\n");
	} else if (st == EXIT_OK) {
		printf("no VMs to stop\n");
	}
	json_array_foreach(json_object_get(reply, "failed"), k, v)
	{
		/* the first failure was printed by call() */
		if (k > 0)
			fprintf(stderr, "denalictl: vm %s: %s\n",
				json_string_value(json_object_get(v, "name")),
				json_string_value(json_object_get(v, "error")));
	}
	json_decref(reply);
	return st;
}

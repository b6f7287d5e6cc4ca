/* denalictl swap: the gatekeeper's operator commands (denalid serve --swap). */
#include "denalictl.h"
#include "proto.h"

#include <stdio.h>
#include <string.h>

int cmd_swap(int n, char **args)
{
	json_t *names = json_array(), *reply, *v;
	const char *dir = NULL;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl swap out|in NAME...\n"
			    "Move VMs between memory and their swap slots (denalid serve --swap).\n"
			    "  out   write each VM's memory, vCPU and device state to its slot "
			    "and\n"
			    "        release its memory; refused for a VM that is running or has\n"
			    "        block I/O in flight\n"
			    "  in    read each VM back (admitted within the memory budget, maybe\n"
			    "        after other idle VMs are swapped out); it goes on waiting "
			    "for\n"
			    "        its next event in memory\n"
			    "Each VM is done in turn and the command returns when all are.\n");
			json_decref(names);
			return EXIT_OK;
		}
		if (!dir) {
			if (strcmp(args[i], "out") && strcmp(args[i], "in"))
				die_usage("swap", "the first argument is out or in, not %s",
					  args[i]);
			dir = args[i];
			continue;
		}
		if (args[i][0] == '-')
			die_usage("swap", "unknown option %s", args[i]);
		if (!ctl_name_valid(args[i]))
			die_usage("swap", "bad name %s", args[i]);
		if (json_array_size(names) >= CTL_STOP_MAX)
			die_usage("swap", "more than %s names", "10000");
		json_array_append_new(names, json_string(args[i]));
	}
	if (!dir || !json_array_size(names))
		die_usage("swap", "%s", "give out or in and at least one VM name");
	st = call(json_pack("{s:s, s:s, s:o}", "op", "swap", "dir", dir, "names", names), &reply);
	if (reply && json_array_size(json_object_get(reply, "done"))) {
		printf("swapped %s", dir);
		json_array_foreach(json_object_get(reply, "done"), k, v)
		    printf(" %s", json_string_value(v));
		printf("\n");
	}
	json_array_foreach(json_object_get(reply, "failed"), k, v)
	{
		if (k > 0) /* the first was printed by call() */
			fprintf(stderr, "denalictl: %s\n",
				json_string_value(json_object_get(v, "error")));
	}
	json_decref(reply);
	return st;
}

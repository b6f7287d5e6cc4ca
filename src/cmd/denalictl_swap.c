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

/* export NAME FILE / import FILE [NAME] */
static int export_import(const char *verb, int n, char **args)
{
	const char *a[2] = {NULL, NULL};
	int na = 0, st;
	json_t *req, *reply;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			if (!strcmp(verb, "export"))
				printf(
				    "usage: denalictl export NAME FILE\n"
				    "Write VM NAME as one portable, versioned, checksummed file,\n"
				    "STATE/exports/FILE on the daemon's side (FILE is a plain "
				    "name:\n"
				    "1-63 characters of A-Z a-z 0-9 . _ -). The VM is swapped out\n"
				    "first and goes on as before (denalid serve --swap).\n");
			else
				printf(
				    "usage: denalictl import FILE [NAME]\n"
				    "Start the VM in STATE/exports/FILE (written by export here or "
				    "on\n"
				    "another daemon: copy it there) under NAME, or the name it "
				    "was\n"
				    "exported with. Every field is checked and a tampered or "
				    "truncated\n"
				    "file is refused. It gets a new id here (and so a new MAC and\n"
				    "address); VMs with a disk or a NIC cannot be imported yet, "
				    "and an\n"
				    "imported VM is not kept across a daemon restart.\n");
			return EXIT_OK;
		}
		if (args[i][0] == '-')
			die_usage(verb, "unknown option %s", args[i]);
		if (na == 2)
			die_usage(verb, "unexpected argument %s", args[i]);
		if (!ctl_name_valid(args[i]))
			die_usage(verb,
				  (na == 1) == !strcmp(verb, "export")
				      ? "bad file name %s: " CTL_NAME_RULE
				      : "bad name %s: " CTL_NAME_RULE,
				  args[i]);
		a[na++] = args[i];
	}
	if (!strcmp(verb, "export")) {
		if (na != 2)
			die_usage(verb, "%s", "give NAME and FILE");
		req = json_pack("{s:s, s:s, s:s}", "op", "export", "name", a[0], "file", a[1]);
	} else {
		if (na < 1)
			die_usage(verb, "%s", "give FILE");
		req = na == 2
			  ? json_pack("{s:s, s:s, s:s}", "op", "import", "file", a[0], "name", a[1])
			  : json_pack("{s:s, s:s}", "op", "import", "file", a[0]);
	}
	st = call(req, &reply);
	if (st == EXIT_OK)
		printf("%s %s\n", !strcmp(verb, "export") ? "exported" : "imported", a[0]);
	json_decref(reply);
	return st;
}

int cmd_export(int n, char **args)
{
	return export_import("export", n, args);
}

int cmd_import(int n, char **args)
{
	return export_import("import", n, args);
}

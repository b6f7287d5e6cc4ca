/* denalictl: the command line for denalid's control socket (protocol: src/ctl/PROTOCOL.md).
 * Exit status: 0 ok, 1 the daemon refused or failed, 2 usage error, 3 daemon not reachable,
 * 4 permission denied (the socket is there but this user may not use it). */
#include "denalictl.h"
#include "proto.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SOCKET "/run/denalid/denalid.sock"

void die_usage(const char *verb, const char *fmt, const char *arg)
{
	fprintf(stderr, "denalictl%s%s: ", verb ? " " : "", verb ? verb : "");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'denalictl %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
	exit(EXIT_USAGE);
}

void die_bad_arg(const char *verb, const char *arg)
{
	die_usage(verb, arg[0] == '-' && arg[1] ? "unknown option %s" : "unexpected argument %s",
		  arg);
}

void check_name(const char *verb, const char *name)
{
	if (!ctl_name_valid(name))
		die_usage(verb, "bad name %s: " CTL_NAME_RULE, name);
}

bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* "--opt VALUE" or "--opt=VALUE" at args[*i]; advances *i past it. */
bool opt_value(const char *verb, char **args, int n, int *i, const char *opt, const char **val)
{
	size_t l = strlen(opt);

	if (strncmp(args[*i], opt, l) != 0)
		return false;
	if (args[*i][l] == '=') {
		*val = args[*i] + l + 1;
		return true;
	}
	if (args[*i][l] != '\0')
		return false;
	if (*i + 1 >= n)
		die_usage(verb, "%s needs a value", opt);
	*val = args[++*i];
	return true;
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/* ---- events ---- */

static int cmd_events(int n, char **args)
{
	bool follow = false;
	json_t *reply;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl events [--follow]\n"
			    "The VM life cycle: every start, exit (with its code), kill (with its "
			    "reason)\nand removal the daemon still keeps (the last 4,096).\n"
			    "  --follow, -f   keep printing new events as they happen\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--follow") == 0 || strcmp(args[i], "-f") == 0)
			follow = true;
		else
			die_bad_arg("events", args[i]);
	}
	st = call(json_pack("{s:s, s:b}", "op", "events", "follow", follow), &reply);
	json_decref(reply);
	return st;
}

/* ---- jobs ---- */

static int cmd_jobs(int n, char **args)
{
	bool json = false;
	json_t *reply, *jobs, *j;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl jobs [--json]\n"
			       "Bulk starts and stops, running and recent: id, state, done/total, "
			       "failed, what.\n"
			       "  --json   the daemon's answer as JSON\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else
			die_bad_arg("jobs", args[i]);
	}
	st = call(json_pack("{s:s}", "op", "jobs"), &reply);
	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	jobs = json_object_get(reply, "jobs");
	if (json) {
		print_json(jobs ? jobs : json_array());
		json_decref(reply);
		return EXIT_OK;
	}
	printf("%6s  %-8s  %13s  %6s  %s\n", "JOB", "STATE", "DONE/TOTAL", "FAILED", "WHAT");
	json_array_foreach(jobs, k, j)
	{
		char dt[32];
		json_t *e = json_object_get(j, "error");

		snprintf(dt, sizeof(dt), "%lld/%lld",
			 (long long)json_integer_value(json_object_get(j, "done")),
			 (long long)json_integer_value(json_object_get(j, "total")));
		printf("%6lld  %-8s  %13s  %6lld  %s%s%s\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "state")), dt,
		       (long long)json_integer_value(json_object_get(j, "failed")),
		       json_string_value(json_object_get(j, "what")), json_is_string(e) ? ": " : "",
		       json_is_string(e) ? json_string_value(e) : "");
	}
	json_decref(reply);
	return EXIT_OK;
}

/* ---- console ---- */

static int cmd_console(int n, char **args)
{
	const char *name = NULL;
	bool follow = false;
	json_t *req, *reply;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl console NAME [--follow]\n"
			    "Print what the VM has written to its console (the part the daemon "
			    "still holds).\n"
			    "  --follow, -f   keep printing new output until the VM is stopped\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--follow") == 0 || strcmp(args[i], "-f") == 0)
			follow = true;
		else if (args[i][0] == '-')
			die_usage("console", "unknown option %s", args[i]);
		else if (!name)
			name = args[i];
		else
			die_usage("console", "unexpected argument %s", args[i]);
	}
	if (!name)
		die_usage("console", "%s", "NAME is required");
	if (!ctl_name_valid(name))
		die_usage("console", "bad name %s: " CTL_NAME_RULE, name);
	req = json_pack("{s:s, s:s, s:b}", "op", "console", "name", name, "follow", follow);
	st = call(req, &reply);
	json_decref(reply);
	return st;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: denalictl [--socket PATH] VERB [ARGS]\n"
		   "Control denalid through its socket (default " DEFAULT_SOCKET
		   ", or $DENALI_SOCKET).\n"
		   "\n"
		   "  start NAME IMAGE [--mem SIZE] [--count N] [-- ARGS]\n"
		   "  stop NAME... | --all\n"
		   "  list [--json]\n"
		   "  stats [NAME] [--json]\n"
		   "  console NAME [--follow]\n"
		   "  jobs [--json]\n"
		   "  events [--follow]\n"
		   "  metrics [--vms N]\n"
		   "  swap out|in NAME...\n"
		   "  export NAME FILE\n"
		   "  import FILE [NAME]\n"
		   "  net attach TAP\n"
		   "  help [VERB]\n"
		   "\n"
		   "  --version  the version of denalictl and of the guest ABI it was built with\n"
		   "\n"
		   "'denalictl VERB --help' describes each verb.\n"
		   "Exit status: 0 ok, 1 error, 2 usage error, 3 denalid not reachable,\n"
		   "4 permission denied on the socket.\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} verbs[] = {
	    {"start", cmd_start},   {"stop", cmd_stop},	      {"list", cmd_list},
	    {"stats", cmd_stats},   {"console", cmd_console}, {"jobs", cmd_jobs},
	    {"events", cmd_events}, {"metrics", cmd_metrics}, {"swap", cmd_swap},
	    {"export", cmd_export}, {"import", cmd_import},   {"net", cmd_net},
	};
	int i = 1;

	denalictl_socket = getenv("DENALI_SOCKET");
	if (!denalictl_socket || !*denalictl_socket)
		denalictl_socket = DEFAULT_SOCKET;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if (is_help(argv[i])) {
			usage(stdout);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("denalictl %s (guest ABI %u)\n", DENALI_VERSION, DENALI_ABI_VERSION);
			return EXIT_OK;
		}
		if (opt_value(NULL, argv, argc, &i, "--socket", &v)) {
			denalictl_socket = v;
			continue;
		}
		die_usage(NULL, "unknown option %s", argv[i]);
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		/* help VERB is VERB --help; help --help is help */
		if (i + 1 < argc && is_help(argv[i + 1])) {
			usage(stdout);
			return EXIT_OK;
		}
		if (i + 1 < argc)
			for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
				if (strcmp(argv[i + 1], verbs[k].name) == 0) {
					char *hargv[] = {(char *)"--help", NULL};
					return verbs[k].fn(1, hargv);
				}
		if (i + 1 < argc)
			die_usage(NULL, "unknown verb %s", argv[i + 1]);
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(argv[i], verbs[k].name) == 0)
			return verbs[k].fn(argc - i - 1, argv + i + 1);
	die_usage(NULL, "unknown verb %s", argv[i]);
	return EXIT_USAGE;
}

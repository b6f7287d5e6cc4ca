/*
 * denalid: the denali monitor. `run` boots guests in the foreground; `serve`
 * is the daemon driven by denalictl.
 */
#include "denalid.h"
#include "fleet.h"

#include "ctl/serve.h"

#include <denali/abi.h>

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: denalid COMMAND [ARGS]\n"
	    "\n"
	    "  run IMAGE [--count N] [--mem SIZE] [-- ARGS...]   boot guests in the foreground\n"
	    "  serve [--socket PATH] [--state-dir DIR]          the daemon, driven by denalictl\n"
	    "  help                                             this text\n"
	    "  --version                                        the version and guest ABI\n"
	    "\n"
	    "`denalid COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return denalid_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "serve"))
		return ctl_serve_main(argc - 1, argv + 1, fleet_open, fleet_close);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("denalid %s (guest ABI %u)\n", DENALI_VERSION, DENALI_ABI_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "denalid: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}

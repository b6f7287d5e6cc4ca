/*
 * denalid: the denali monitor. `run` boots guests in the foreground; `serve`
 * is the daemon driven by denalictl.
 */
#include "denalid.h"
#include "fleet.h"

#include "ctl/serve.h"

#include <denali/abi.h>

#include <malloc.h>
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

/*
 * glibc's defaults change mappings behind the daemon's back, and on a host
 * where each invalidation is heard by every live VM's MMU notifier (kvm_pvm:
 * ~0.3 us x live VMs) that is a cost per start that grows with the fleet
 * (measured with the kvm:kvm_unmap_hva_range tracepoint, 200 starts): each
 * new thread's arena was mmap'ed, trimmed (munmap) and grown page by page
 * (mprotect), ~1 invalidation per start; with one arena, a chunk over the
 * mmap threshold (a ~430 KiB buffer per start) was munmap'ed when freed.
 * One arena (every thread has its tcache; the workers' hot path allocates
 * little), chunks up to 4 MiB from the heap, and the heap trimmed only past
 * 64 MiB of free top: the heap grows by brk, which invalidates nothing.
 */
static void malloc_tune(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	malloc_tune();
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

/* denalictl net attach TAP: the switch's uplink to another tap (or the same one again). */
#include "denalictl.h"
#include "proto.h"

#include <stdio.h>
#include <string.h>

int cmd_net(int n, char **args)
{
	json_t *reply;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl net attach TAP\n"
			       "Attach the switch's uplink (denalid serve --net) to the existing "
			       "tap\nTAP, leaving the tap it has if another, with no VM restarted; "
			       "it returns\nonce the uplink is up on TAP. The daemon holds no "
			       "capability then, so TAP\nmust exist, without an owner or group "
			       "('ip tuntap add' without user or\ngroup) or owned by the daemon's "
			       "user. If TAP fails, an uplink that is up stays\non its tap, one "
			       "that is down waits for TAP. Without --tap at the start this\ngives "
			       "the switch its first uplink. A tap deleted and re-created under "
			       "the same\nname "
			       "is re-attached by itself within half a second; this names it at "
			       "once,\nor another. Only root or the daemon's user may do this. Not "
			       "kept across a\nrestart (serve --tap is).\n");
			return EXIT_OK;
		}
	}
	if (n < 1 || strcmp(args[0], "attach"))
		die_usage("net", "%s", "the only net command is attach TAP");
	if (n != 2)
		die_usage("net", "%s", "give one TAP");
	if (args[1][0] == '-')
		die_usage("net", "unknown option %s", args[1]);
	if (strlen(args[1]) > CTL_TAP_MAX || !ctl_name_valid(args[1]))
		die_usage("net", "bad tap name %s: 1-15 characters of A-Z a-z 0-9 . _ -", args[1]);
	st = call(json_pack("{s:s, s:s}", "op", "net_attach", "tap", args[1]), &reply);
	if (st == EXIT_OK)
		printf("uplink attached to %s\n", args[1]);
	json_decref(reply);
	return st;
}

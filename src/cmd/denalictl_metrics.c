/* `denalictl metrics`: the daemon's counters in the Prometheus text format. */
#include "denalictl.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_metrics(int n, char **args)
{
	long vms = -1;
	json_t *req, *reply, *text;
	int st;

	for (int i = 0; i < n; i++) {
		const char *v;

		if (is_help(args[i])) {
			printf("usage: denalictl metrics [--vms N]\n"
			       "The daemon's counters in the Prometheus text exposition format "
			       "(0.0.4),\nthe same text `denalid serve --metrics ADDR:PORT` serves "
			       "at /metrics.\nEvery metric is described in src/ctl/METRICS.md.\n"
			       "  --vms N   per-VM series for the N VMs that used the most CPU "
			       "(default %u,\n            0 = none, at most %u)\n",
			       CTL_METRICS_VMS_DEFAULT, CTL_METRICS_VMS_MAX);
			return EXIT_OK;
		}
		if (opt_value("metrics", args, n, &i, "--vms", &v)) {
			char *end;

			errno = 0;
			vms = strtol(v, &end, 10);
			if (errno || *end || !*v || vms < 0 || vms > (long)CTL_METRICS_VMS_MAX)
				die_usage("metrics", "--vms needs a number from 0 to 10000, not %s",
					  v);
			continue;
		}
		die_bad_arg("metrics", args[i]);
	}
	req = json_pack("{s:s}", "op", "metrics");
	if (vms >= 0)
		json_object_set_new(req, "vms", json_integer(vms));
	st = call(req, &reply);
	text = json_object_get(reply, "text");
	if (st == EXIT_OK && json_is_string(text))
		fwrite(json_string_value(text), 1, json_string_length(text), stdout);
	else if (st == EXIT_OK) {
		fprintf(stderr, "denalictl: the daemon sent no metrics text\n");
		st = EXIT_ERR;
	}
	json_decref(reply);
	return st;
}

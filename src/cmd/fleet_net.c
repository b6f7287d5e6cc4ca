/*
 * `denalictl net attach TAP` on the daemon's side: the switch's uplink moves
 * to the existing tap TAP (or gets one, when serve had no --tap), with no VM
 * restarted. Runs on the control thread, which holds no capability: only an
 * existing tap can be attached, one without an owner or owned by us (tap.c).
 */
#include "fleet_net.h"
#include "fleet_impl.h"

#include "../devices/tap.h"

#include <errno.h>
#include <stdio.h>

int fleet_net_attach(void *ctx, const char *tap, char *err, size_t errlen)
{
	struct fleet *f = ctx;
	struct tap_uplink *up;
	int rc;

	if (!f->sw) {
		snprintf(err, errlen, "this daemon has no switch (denalid serve --net PREFIX)");
		return -EINVAL;
	}
	up = __atomic_load_n(&f->up, __ATOMIC_ACQUIRE);
	if (up)
		return tap_uplink_attach(up, tap, err, errlen);
	/* The first uplink: stats and the metrics thread read f->up, never
	 * before it is complete. */
	rc = tap_uplink_open(f->sw, tap, 0, &up, err, errlen);
	if (rc == 0)
		__atomic_store_n(&f->up, up, __ATOMIC_RELEASE);
	return rc;
}

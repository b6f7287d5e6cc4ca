/*
 * The Prometheus text exposition (format 0.0.4) of the daemon's counters,
 * built from the backend's stats and its per-VM metrics rows. Every metric is
 * documented in src/ctl/METRICS.md. Shared by the `metrics` request and the
 * HTTP listener (metrics_http.h); does no I/O.
 */
#ifndef DENALI_CTL_METRICS_H
#define DENALI_CTL_METRICS_H

#include "backend.h"

#include <jansson.h>
#include <stddef.h>

#include "proto.h"

#define METRICS_VMS_DEFAULT CTL_METRICS_VMS_DEFAULT /* per-VM series for this many VMs */

/*
 * Renders stats (the backend's stats object) and vms (its metrics_vms object,
 * or NULL) as exposition text. Returns a malloc'd NUL-terminated string and
 * its length in *len, or NULL on allocation failure.
 */
char *metrics_render(const json_t *stats, const json_t *vms, size_t *len);

/* Asks the backend for both (per-VM rows for at most vms_max VMs) and renders
 * them, with the HTTP listener's own counters http (or NULL) as stats'
 * "metrics_http". NULL with err filled if the backend gave no stats. */
char *metrics_collect(const struct ctl_backend *be, unsigned vms_max, json_t *http, size_t *len,
		      char *err, size_t errlen);

#endif

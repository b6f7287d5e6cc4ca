/*
 * The daemon's registry of VMs behind the control plane: implements struct
 * ctl_backend on top of the workers. Admission limits live here.
 */
#ifndef DENALI_CMD_FLEET_H
#define DENALI_CMD_FLEET_H

#include "ctl/backend.h"
#include "ctl/serve.h"

/* Opens /dev/kvm, computes the limits and starts the workers. */
int fleet_open(const struct serve_config *cfg, struct ctl_backend *out);

/* Stops every VM and the workers, frees everything. */
void fleet_close(struct ctl_backend *be);

#endif

/* The fleet's network operations for the control plane (backend.h). */
#ifndef DENALI_CMD_FLEET_NET_H
#define DENALI_CMD_FLEET_NET_H

#include <stddef.h>

/* backend.h net_attach. */
int fleet_net_attach(void *ctx, const char *tap, char *err, size_t errlen);

#endif

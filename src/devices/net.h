/*
 * The net device of a VM: its port on the switch, its tx ring drained at
 * every exit, its rx ring filled from the port's queue before every entry
 * (and at every exit, so that buffers posted while running are filled
 * before an idle() decides to sleep).
 */
#ifndef DENALI_DEVICES_NET_H
#define DENALI_DEVICES_NET_H

#include "device.h"

#include <stdint.h>

struct netsw;

/* Creates the device and its switch port (control thread). 0 or -errno
 * (-EEXIST: the MAC is taken, -ENOSPC: the switch is full). */
int net_dev_create(struct netsw *sw, const uint8_t mac[6], uint16_t net, struct device **out);
/* The IPv4 address (network order) the VM was given: its switch port gets
 * the ARP requests for it (netsw.h). */
void net_dev_set_ipv4(struct device *d, uint32_t addr);

/* Frames queued for the VM since its port was made (the receive queue's
 * producer position, wrapping at 2^32) and frames dropped on a full queue:
 * what the gatekeeper counts for a VM while it is swapped out. Any thread. */
void net_dev_rx_totals(const struct device *d, uint32_t *queued, uint64_t *dropped);

/* Between these two (nested, per thread), wake-ups of the receivers of the
 * frames this thread sends are held and done once per receiver at the end,
 * each with all its frames in one fill: a burst costs one wake-up (and one
 * fill) per receiver. For a thread that sends many frames at once. */
void net_defer_begin(void);
void net_defer_end(void);

/* The locally administered MAC of VM id: 02:de and the id's low 32 bits. */
void net_mac_of_id(uint64_t id, uint8_t mac[6]);

#endif

/*
 * guest-libos raw Ethernet driver over the net tx/rx rings of the ABI.
 * Frames are whole Ethernet frames without FCS, at most DENALI_NET_FRAME_MAX
 * bytes. Nothing here exits: frames sent are picked up by the monitor at the
 * next exit of any kind (an idle, a preemption), and frames received are
 * in the rx ring when the VM next enters. To wait for a frame, idle with
 * dn_idle(deadline); DENALI_EV_NET_RX wakes it.
 */
#ifndef DENALI_NETDEV_H
#define DENALI_NETDEV_H

#include <stddef.h>
#include <stdint.h>

/* 1 if the VM has a NIC (the monitor published a MAC), 0 if not. */
int dn_net_present(void);

/* The VM's MAC, 6 bytes, from the vregs. */
const uint8_t *dn_net_mac(void);

/* Queues one frame: 0, -EAGAIN (tx ring full: idle or kick and retry),
 * -EINVAL (len 0 or over DENALI_NET_FRAME_MAX, or no NIC). */
int dn_net_send(const void *frame, size_t len);

/* Copies one received frame into buf (truncated to cap) and returns its
 * length, or 0 when none is waiting. */
int dn_net_recv(void *buf, size_t cap);

/* At most max rx buffers posted at once (1..DENALI_RING_SIZE, the default; clamped). The
 * depth starts at 8 and doubles each time the monitor fills every posted buffer, up to this
 * cap. Each buffer that ever receives a frame is a touched page-and-a-half of the VM: a
 * server with few connections caps it near its connection count. */
void dn_net_rx_depth_max(unsigned max);

/* Frames sent so far are handed to the monitor now (one exit). */
void dn_net_flush(void);

#endif /* DENALI_NETDEV_H */

/*
 * The virtual Ethernet switch. Learning-free: every port has the MAC the
 * monitor gave its VM, kept in a MAC-to-port table. A frame goes to the port
 * owning its destination MAC; broadcast and multicast go to every other
 * port of the sender's network (and the uplink, on network 0); unknown
 * unicast goes to the uplink only. A frame whose source is not the sender's
 * MAC is dropped and counted. Each port has a bounded receive queue; a full
 * queue drops the frame and counts it, the sender never waits.
 *
 * The one thing it knows of IP: the IPv4 address the monitor gave each port
 * (netsw_port_set_ipv4), so that an ARP request, a broadcast, is not flooded
 * to every VM (with thousands of VMs each one's request for its gateway
 * would wake, or swap in, all the others): it goes to the port of its
 * target address only, or, from a VM when no port has that address, to the
 * uplink only (on the uplink's network, with an uplink: the only place an
 * address the switch did not give out can be). Anything else broadcast,
 * and ARP without such a rule (no uplink; from the uplink for an address no
 * port has), floods as above.
 *
 * Threads: ports are added and removed by the control thread (a mutex
 * there); sending and receiving take no lock, allocate nothing and make no
 * system call per frame. A port's wake hook runs once per burst: the
 * receiver re-arms it when it has emptied its queue.
 */
#ifndef DENALI_DEVICES_NETSW_H
#define DENALI_DEVICES_NETSW_H

#include "netq.h"

#include <pthread.h>
#include <stdint.h>

struct io_uring;

struct netsw;

#define NETSW_RXQ_CELLS 256u /* frames queued per VM */
#define NETSW_HOLD_MAX	64u  /* frames held for a parked (swapped-out) VM */
/* Isolation between senders (a flooding VM must not take the uplink or its
 * neighbours' receive queues): a port may have at most this many frames
 * waiting in the uplink queue, the rest of its frames to the uplink are
 * dropped and counted; and it may send broadcasts and multicasts at most at
 * NETSW_BCAST_RATE frames/s with bursts of NETSW_BCAST_BURST (storm
 * control), the excess dropped and counted. */
#define NETSW_UP_PORT_BUDGET 128u
#define NETSW_BCAST_RATE     2000u
#define NETSW_BCAST_BURST    64u
#define NETSW_NET_UPLINK     0u /* the network the uplink belongs to */

/* Per-port counters: written by one thread each, read by any (plain loads). */
struct netsw_port_stats {
	uint64_t tx_frames, tx_bytes; /* accepted from the VM */
	uint64_t rx_frames, rx_bytes; /* delivered into the VM's ring */
	uint64_t drop_forged;	      /* tx with a source MAC not the VM's */
	uint64_t drop_unknown;	      /* tx unicast to nobody, no uplink up */
	uint64_t drop_runt;	      /* tx shorter than an Ethernet header */
	uint64_t drop_rx_full;	      /* rx queue full (atomic: many senders) */
	uint64_t drop_rx_small_buf;   /* rx buffer smaller than the frame */
	uint64_t rx_bursts;	      /* fills that delivered frames */
	uint64_t drop_up_budget;      /* tx to the uplink over NETSW_UP_PORT_BUDGET */
	uint64_t drop_storm;	      /* tx broadcasts over NETSW_BCAST_RATE */
	uint64_t up_direct_reaps;     /* direct writer out of room mid-drain, reaped, went on */
	uint64_t held;		      /* rx held while parked (atomic, under hold_lock) */
	uint64_t acks_unwoken;	      /* pure ACKs queued with no wake-up (atomic) */
};

/* A frame held for a parked port. */
struct netsw_held {
	struct netsw_held *next;
	uint32_t len;
	uint8_t data[];
};

struct netsw_port {
	uint8_t mac[6];
	uint16_t net;
	uint32_t ipv4; /* network order, 0 = none (atomic) */
	int in_use;
	int attached;	/* deliveries allowed (atomic) */
	uint32_t users; /* senders inside a delivery (atomic) */
	uint32_t armed; /* a wake is outstanding (atomic) */
	/* Its VM idles and asked for no wake-up for a frame that only ACKs
	 * (DENALI_WAKE_ACKS_LAZY; the net device sets it at each exit, clears
	 * it before each entry). pushes counts queued frames (atomic). */
	uint32_t acks_lazy;
	uint32_t pushes;
	void (*wake)(void *arg, uint64_t events);
	void *wake_arg;
	struct netq rxq;
	struct netsw_port_stats st;
	uint16_t tag;	   /* its pool index + 1: its frames' tag in the uplink queue */
	uint32_t up_held;  /* frames of this port in the uplink queue (atomic) */
	uint64_t bcast_tb; /* storm control: the token bucket's virtual time, ns */
	/* Parked (its VM swapped out): rxq has no cells (its ~390 KB are
	 * freed); frames are held in a list of their own size, at most
	 * NETSW_HOLD_MAX, the rest dropped and counted (drop_rx_full). */
	int parked; /* atomic; changed under hold_lock */
	pthread_mutex_t hold_lock;
	struct netsw_held *held, **held_tail;
	uint32_t nheld;
};

/* Switch-wide counters. */
struct netsw_stats {
	uint64_t up_tx_frames,
	    up_tx_bytes; /* taken from the uplink queue, or written directly (atomic) */
	uint64_t up_rx_frames, up_rx_bytes; /* accepted from the uplink */
	uint64_t up_drop_down;		    /* to the uplink while it was down */
	uint64_t up_drop_full;		    /* uplink queue full */
	uint64_t up_drop_spoof;		    /* from the uplink with one of our MACs */
	uint64_t up_drop_unknown;	    /* from the uplink to no port */
	uint64_t arp_steered;		    /* ARP requests sent to one place, not flooded */
};

/* max_ports <= 65535. 0 or -errno. */
int netsw_create(unsigned max_ports, struct netsw **out);
void netsw_destroy(struct netsw *sw);

/* Control thread: a port for mac on network net (-EEXIST: MAC taken,
 * -ENOSPC: no port left). Receives nothing until netsw_port_attach(). */
int netsw_port_add(struct netsw *sw, const uint8_t mac[6], uint16_t net, struct netsw_port **out);
/* Control thread: the IPv4 address (network order) the port's VM was given;
 * ARP requests for it go to this port only. 0 clears it. */
void netsw_port_set_ipv4(struct netsw_port *p, uint32_t addr);
/* Control thread: detaches and frees the port for reuse. Once it returns,
 * no frame sent to the port, before or after, is delivered to it (nor to the
 * slot's next tenant). */
void netsw_port_remove(struct netsw *sw, struct netsw_port *p);
/* Tests only (NULL otherwise): called inside netsw_port_remove() once the
 * senders in flight have been waited out, before the slot is free. */
extern void (*netsw_remove_test_seam)(struct netsw_port *p);

/* Tests only: called by a flood between its look at port p and the delivery, the window in
 * which p may be removed and reused. NULL (the default) in the daemon. */
extern void (*netsw_test_flood_hook)(struct netsw_port *p);

/* Starts deliveries; wake(arg, 0) is called when frames arrive. */
void netsw_port_attach(struct netsw_port *p, void (*wake)(void *, uint64_t), void *arg);
/* Stops deliveries and waits out senders in flight; frames queued stay
 * (up to the queue bound) for the next attach. */
void netsw_port_detach(struct netsw_port *p);

/* The VM of p is swapped out (its worker, the VM not running): its receive
 * queue is freed; frames from now on are held (bounded) and still wake it.
 * Frames queued and not yet delivered are held too, in order. */
void netsw_port_park(struct netsw_port *p);
/* Before it runs again: a receive queue again, the held frames in it first,
 * in order. 0 or -ENOMEM (still parked). */
int netsw_port_unpark(struct netsw_port *p);

/* The receiver found its queue empty: re-arms the wake hook. Returns 1 if
 * frames arrived meanwhile (the receiver should look again). */
int netsw_port_rearm(struct netsw_port *p);
/* 1 when the frame is IPv4 TCP carrying only an acknowledgment (ACK set; no
 * data, SYN, FIN, RST or URG; not a fragment); 0 for anything else,
 * malformed or short frames included. */
int netsw_frame_is_pure_ack(const uint8_t *frame, uint32_t len);

/* Forwards one frame sent by the VM of port from. Any thread. */
void netsw_send(struct netsw *sw, struct netsw_port *from, const uint8_t *frame, uint32_t len);

/* The uplink: frames for it are pushed to txq, then kick(arg) is called
 * (once per burst, re-armed by netsw_uplink_rearm()). */
void netsw_set_uplink(struct netsw *sw, struct netq *txq, void (*kick)(void *), void *arg);
void netsw_uplink_set_up(struct netsw *sw, int up);
int netsw_uplink_rearm(struct netsw *sw);
/* The uplink's consumer only: releases the frame netq_peek() returned from
 * the uplink queue (netq_pop, and the sending port's budget back). */
void netsw_uplink_pop(struct netsw *sw, struct netq *txq);
/* The same, keeping the sending port's count of queued frames until
 * netsw_uplink_release(tag) (the returned tag): called once the frame is
 * submitted, so that a direct writer of that port (below) cannot overtake it. */
uint16_t netsw_uplink_pop_keep(struct netsw *sw, struct netq *txq);
void netsw_uplink_release(struct netsw *sw, uint16_t tag);

/*
 * Direct writes to the uplink (tap.c): a VM's worker, draining its tx ring
 * at an exit, writes the VM's frames for the uplink through its own
 * io_uring instead of queueing them for the uplink thread (one thread hop
 * fewer per burst). Only while none of that port's frames wait in the uplink
 * queue (up_held 0), so a port's frames leave in order.
 * take(): the frame copied and its write prepared on ring: 1; no room (a
 * buffer or an SQE): 0, it is queued instead; the uplink is down: -1, dropped
 * and counted. flush(): submits what take() prepared; called once after any
 * take() of a burst. A frame it took but could not submit (the submission
 * failed, again when retried) it hands back to requeue(ctx, ...), oldest
 * first, before it returns: queued for the uplink thread, in its order.
 */
typedef void netsw_requeue_fn(void *ctx, const uint8_t *frame, uint32_t len);
struct netsw_up_direct {
	int (*take)(void *arg, struct io_uring *ring, const uint8_t *frame, uint32_t len);
	void (*flush)(void *arg, struct io_uring *ring, netsw_requeue_fn *requeue, void *ctx);
};
void netsw_set_uplink_direct(struct netsw *sw, const struct netsw_up_direct *d, void *arg);
/* Around one tx drain of port from (its tx_lock held throughout) on the
 * thread that owns ring (NULL: none): its frames for the uplink may be
 * written through ring; end submits them. Not nested.
 * reap(reap_arg) (NULL: none) handles the completions already on ring (the
 * worker's dev_host.poll): when the writer is out of room mid-drain, what it
 * took is submitted (a tap write completes inside the submission), reaped,
 * and the drain goes on writing directly. So a VM's frames for the uplink,
 * however many, are written by its own worker inside its own time slice
 * (the scheduler charges them to it), not by the uplink thread, a thread
 * every VM shares and no slice accounts for. */
void netsw_tx_ring_begin(struct netsw *sw, struct netsw_port *from, struct io_uring *ring,
			 void (*reap)(void *), void *reap_arg);
void netsw_tx_ring_end(void);
/* A frame from the uplink. The uplink thread. */
void netsw_input(struct netsw *sw, const uint8_t *frame, uint32_t len);

const struct netsw_stats *netsw_stats(const struct netsw *sw);
int netsw_uplink_is_up(const struct netsw *sw);

#endif

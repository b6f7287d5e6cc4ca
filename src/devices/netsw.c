/*
 * Virtual switch: MAC-to-port table, forwarding, per-port queues.
 *
 * The MAC table is open addressing over 64-bit entries (MAC << 16 | port
 * index + 1), written under sw->lock by the control thread and read with
 * plain atomic loads by senders. Ports live in a pool that is never freed
 * while the switch lives, so a sender holding a stale index finds a port
 * that is either detached or carries a different MAC, never freed memory.
 */
#include "netsw.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOMB UINT64_MAX

struct netsw {
	pthread_mutex_t lock; /* ports and table writers */
	unsigned max_ports, nports;
	struct netsw_port **ports; /* pool, by index */
	uint64_t *table;
	uint32_t table_mask;
	/* uplink: read by every sender */
	struct netq *up_txq;
	void (*up_kick)(void *);
	void *up_arg;
	const struct netsw_up_direct *up_direct; /* NULL: none (atomic) */
	void *up_direct_arg;
	int up_up; /* atomic */
	/* Written per burst by any sender: a line of its own, so that it does
	 * not take the line above (read per frame) from the other senders. */
	uint32_t up_armed __attribute__((aligned(64))); /* atomic */
	/* Mostly the uplink's own: up_tx_* are counted by the uplink queue's
	 * consumer (netsw_uplink_pop), up_rx_* by its reader, so no sender
	 * writes the line per frame. */
	struct netsw_stats st __attribute__((aligned(64)));
};

static uint64_t mac_u64(const uint8_t m[6])
{
	return (uint64_t)m[0] << 40 | (uint64_t)m[1] << 32 | (uint64_t)m[2] << 24 |
	       (uint64_t)m[3] << 16 | (uint64_t)m[4] << 8 | m[5];
}

static uint32_t mac_hash(uint64_t mac)
{
	mac *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(mac >> 32);
}

int netsw_create(unsigned max_ports, struct netsw **out)
{
	struct netsw *sw;
	uint32_t size = 16;

	if (max_ports == 0 || max_ports > 65535)
		return -EINVAL;
	while (size < 2 * max_ports)
		size <<= 1;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	sw->ports = calloc(max_ports, sizeof(*sw->ports));
	sw->table = calloc(size, sizeof(*sw->table));
	if (!sw->ports || !sw->table) {
		free(sw->ports);
		free(sw->table);
		free(sw);
		return -ENOMEM;
	}
	pthread_mutex_init(&sw->lock, NULL);
	sw->max_ports = max_ports;
	sw->table_mask = size - 1;
	*out = sw;
	return 0;
}

/* Frees the frames held for p and unparks it (its rxq has cells again or
 * the caller makes them). */
static void drop_held(struct netsw_port *p)
{
	pthread_mutex_lock(&p->hold_lock);
	while (p->held) {
		struct netsw_held *h = p->held;

		p->held = h->next;
		free(h);
	}
	p->held_tail = &p->held;
	p->nheld = 0;
	__atomic_store_n(&p->parked, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->hold_lock);
}

void netsw_destroy(struct netsw *sw)
{
	if (!sw)
		return;
	for (unsigned i = 0; i < sw->nports; i++) {
		if (sw->ports[i]) {
			drop_held(sw->ports[i]);
			netq_free(&sw->ports[i]->rxq);
			pthread_mutex_destroy(&sw->ports[i]->hold_lock);
			free(sw->ports[i]);
		}
	}
	free(sw->ports);
	free(sw->table);
	pthread_mutex_destroy(&sw->lock);
	free(sw);
}

/* Port index for mac, or -1. Lock-free. */
static int lookup(const struct netsw *sw, uint64_t mac)
{
	for (uint32_t i = mac_hash(mac);; i++) {
		uint64_t e = __atomic_load_n(&sw->table[i & sw->table_mask], __ATOMIC_ACQUIRE);

		if (e == 0)
			return -1;
		if (e != TOMB && e >> 16 == mac)
			return (int)(e & 0xffff) - 1;
	}
}

int netsw_port_add(struct netsw *sw, const uint8_t mac[6], uint16_t net, struct netsw_port **out)
{
	uint64_t m = mac_u64(mac);
	struct netsw_port *p = NULL;
	unsigned idx;
	int rc = 0;

	pthread_mutex_lock(&sw->lock);
	if (lookup(sw, m) >= 0) {
		rc = -EEXIST;
		goto out;
	}
	for (idx = 0; idx < sw->nports; idx++)
		if (!sw->ports[idx]->in_use)
			break;
	if (idx == sw->nports) {
		if (idx == sw->max_ports) {
			rc = -ENOSPC;
			goto out;
		}
		p = calloc(1, sizeof(*p));
		if (!p || netq_init(&p->rxq, NETSW_RXQ_CELLS)) {
			free(p);
			rc = -ENOMEM;
			goto out;
		}
		pthread_mutex_init(&p->hold_lock, NULL);
		__atomic_store_n(&sw->ports[idx], p, __ATOMIC_RELEASE);
		__atomic_store_n(&sw->nports, idx + 1, __ATOMIC_RELEASE);
	}
	p = sw->ports[idx];
	/* Frames left from the previous owner of this slot are dropped (its
	 * receive queue made again if it went while parked). */
	if (!p->rxq.cells && netq_init(&p->rxq, NETSW_RXQ_CELLS)) {
		rc = -ENOMEM;
		goto out;
	}
	drop_held(p);
	while (netq_peek(&p->rxq))
		netq_pop(&p->rxq);
	memcpy(p->mac, mac, 6);
	p->net = net;
	__atomic_store_n(&p->ipv4, 0, __ATOMIC_RELEASE);
	p->tag = (uint16_t)(idx + 1);
	p->bcast_tb = 0;
	/* up_held is not reset: frames of the slot's previous owner still in
	 * the uplink queue give theirs back when they go. */
	memset(&p->st, 0, sizeof(p->st));
	p->armed = 0;
	p->acks_lazy = 0;
	__atomic_store_n(&p->in_use, 1, __ATOMIC_RELEASE);
	for (uint32_t i = mac_hash(m);; i++) {
		uint64_t *e = &sw->table[i & sw->table_mask];

		if (*e == 0 || *e == TOMB) {
			__atomic_store_n(e, m << 16 | (idx + 1), __ATOMIC_RELEASE);
			break;
		}
	}
	*out = p;
out:
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

void (*netsw_remove_test_seam)(struct netsw_port *p);

/*
 * The port stops receiving before its senders are waited out: in_use goes
 * to 0 first, then the senders inside a delivery (users) leave, and only
 * then is the slot free. A sender increments users before it looks at
 * in_use (deliver(), arp_steer()), so one that comes after the wait sees 0
 * and queues nothing: a frame meant for this port's owner can never wait in
 * the queue its next tenant gets. (Clearing in_use after the wait let a
 * sender arriving in between queue a frame after the queue was emptied.)
 */
void netsw_port_remove(struct netsw *sw, struct netsw_port *p)
{
	uint64_t m = mac_u64(p->mac);

	pthread_mutex_lock(&sw->lock);
	for (uint32_t i = mac_hash(m);; i++) {
		uint64_t *e = &sw->table[i & sw->table_mask];

		if (*e == 0)
			break;
		if (*e != TOMB && *e >> 16 == m) {
			__atomic_store_n(e, TOMB, __ATOMIC_RELEASE);
			break;
		}
	}
	__atomic_store_n(&p->ipv4, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&p->in_use, 0, __ATOMIC_SEQ_CST);
	netsw_port_detach(p); /* and waits out the senders in flight */
	if (netsw_remove_test_seam)
		netsw_remove_test_seam(p);
	/* What they queued (or held, parked: no queue then) is the old owner's:
	 * gone before the slot is free. */
	if (__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST))
		drop_held(p);
	else
		while (netq_peek(&p->rxq))
			netq_pop(&p->rxq);
	pthread_mutex_unlock(&sw->lock);
}

void netsw_port_set_ipv4(struct netsw_port *p, uint32_t addr)
{
	__atomic_store_n(&p->ipv4, addr, __ATOMIC_RELEASE);
}

void netsw_port_attach(struct netsw_port *p, void (*wake)(void *, uint64_t), void *arg)
{
	p->wake = wake;
	p->wake_arg = arg;
	p->armed = 0;
	__atomic_store_n(&p->attached, 1, __ATOMIC_SEQ_CST);
	/* Frames kept while detached: make sure the receiver hears of them. */
	int pending;

	if (__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&p->hold_lock);
		pending = p->nheld > 0;
		pthread_mutex_unlock(&p->hold_lock);
	} else {
		pending = netq_peek(&p->rxq) != NULL;
	}
	if (pending && !__atomic_exchange_n(&p->armed, 1, __ATOMIC_SEQ_CST))
		wake(arg, 0);
}

void netsw_port_detach(struct netsw_port *p)
{
	__atomic_store_n(&p->attached, 0, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&p->users, __ATOMIC_SEQ_CST))
		sched_yield();
}

int netsw_port_rearm(struct netsw_port *p)
{
	__atomic_store_n(&p->armed, 0, __ATOMIC_SEQ_CST);
	if (!netq_peek(&p->rxq))
		return 0;
	__atomic_store_n(&p->armed, 1, __ATOMIC_SEQ_CST);
	return 1;
}

int netsw_frame_is_pure_ack(const uint8_t *f, uint32_t len)
{
	uint32_t ihl, tot, doff;
	const uint8_t *ip = f + 14, *tcp;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
		return 0;
	ihl = (ip[0] & 15u) * 4u;
	tot = (uint32_t)ip[2] << 8 | ip[3];
	/* A fragment (MF or an offset) is not looked into; protocol 6 only. */
	if (ihl < 20 || tot < ihl + 20 || tot > len - 14 || (ip[6] & 0x3f) || ip[7] || ip[9] != 6)
		return 0;
	tcp = ip + ihl;
	doff = (uint32_t)(tcp[12] >> 4) * 4u;
	if (doff < 20 || tot != ihl + doff)
		return 0; /* options cut short, or data */
	/* ACK set; no FIN (0x01), SYN (0x02), RST (0x04) or URG (0x20). */
	return (tcp[13] & 0x10) && !(tcp[13] & 0x27);
}

/* Queues a frame for p (the caller holds p->users), waking its receiver
 * once per burst; a full queue drops it and counts it. A pure ACK for a
 * port whose idle VM asked (acks_lazy) wakes nobody: it waits in the queue
 * for the VM's next entry, and the hook stays disarmed so the next frame
 * wakes as usual. A frame another sender queued meanwhile may have found
 * the hook armed by this one and not woken: then this one wakes after all. */
static void push(struct netsw_port *p, const uint8_t *frame, uint32_t len)
{
	uint32_t seq;

	if (netq_push(&p->rxq, frame, len)) {
		__atomic_fetch_add(&p->st.drop_rx_full, 1, __ATOMIC_RELAXED);
		return;
	}
	seq = __atomic_add_fetch(&p->pushes, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&p->attached, __ATOMIC_SEQ_CST) ||
	    __atomic_exchange_n(&p->armed, 1, __ATOMIC_SEQ_CST))
		return;
	if (__atomic_load_n(&p->acks_lazy, __ATOMIC_SEQ_CST) &&
	    netsw_frame_is_pure_ack(frame, len)) {
		__atomic_store_n(&p->armed, 0, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&p->pushes, __ATOMIC_SEQ_CST) == seq) {
			__atomic_fetch_add(&p->st.acks_unwoken, 1, __ATOMIC_RELAXED);
			return;
		}
		__atomic_store_n(&p->armed, 1, __ATOMIC_SEQ_CST);
	}
	p->wake(p->wake_arg, 0);
}

void (*netsw_test_flood_hook)(struct netsw_port *p);
/* Holds a frame for a parked port (the caller holds p->users): the slow path
 * of a swapped-out VM, one allocation per frame, bounded. */
static void hold(struct netsw_port *p, const uint8_t *frame, uint32_t len)
{
	struct netsw_held *h = NULL;

	pthread_mutex_lock(&p->hold_lock);
	if (!__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST)) { /* unparked meanwhile */
		pthread_mutex_unlock(&p->hold_lock);
		push(p, frame, len);
		return;
	}
	if (p->nheld < NETSW_HOLD_MAX && (h = malloc(sizeof(*h) + len)) != NULL) {
		h->next = NULL;
		h->len = len;
		memcpy(h->data, frame, len);
		*p->held_tail = h;
		p->held_tail = &h->next;
		p->nheld++;
		__atomic_fetch_add(&p->st.held, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&p->st.drop_rx_full, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&p->hold_lock);
	if (h && __atomic_load_n(&p->attached, __ATOMIC_SEQ_CST) &&
	    !__atomic_exchange_n(&p->armed, 1, __ATOMIC_SEQ_CST))
		p->wake(p->wake_arg, 0);
}

void netsw_port_park(struct netsw_port *p)
{
	const struct netq_cell *c;
	struct netsw_held *first = NULL, **tail = &first;

	if (__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST))
		return;
	pthread_mutex_lock(&p->hold_lock);
	if (!p->held_tail)
		p->held_tail = &p->held;
	__atomic_store_n(&p->parked, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->hold_lock);
	/* Senders that saw it unparked finish their push; later ones hold. */
	while (__atomic_load_n(&p->users, __ATOMIC_SEQ_CST))
		sched_yield();
	pthread_mutex_lock(&p->hold_lock);
	/* What was queued and not delivered goes first, in order: it is older
	 * than anything a sender held since parked was set. */
	while ((c = netq_peek(&p->rxq)) != NULL) {
		struct netsw_held *h = malloc(sizeof(*h) + c->len);

		if (h) {
			h->next = NULL;
			h->len = c->len;
			memcpy(h->data, c->data, c->len);
			*tail = h;
			tail = &h->next;
			p->nheld++;
		} else {
			__atomic_fetch_add(&p->st.drop_rx_full, 1, __ATOMIC_RELAXED);
		}
		netq_pop(&p->rxq);
	}
	if (first) {
		*tail = p->held;
		if (!p->held)
			p->held_tail = tail;
		p->held = first;
	}
	netq_free(&p->rxq);
	pthread_mutex_unlock(&p->hold_lock);
}

int netsw_port_unpark(struct netsw_port *p)
{
	if (!__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST))
		return 0;
	pthread_mutex_lock(&p->hold_lock);
	if (netq_init(&p->rxq, NETSW_RXQ_CELLS)) {
		pthread_mutex_unlock(&p->hold_lock);
		return -ENOMEM;
	}
	while (p->held) {
		struct netsw_held *h = p->held;

		p->held = h->next;
		if (netq_push(&p->rxq, h->data, h->len))
			__atomic_fetch_add(&p->st.drop_rx_full, 1, __ATOMIC_RELAXED);
		free(h);
	}
	p->held_tail = &p->held;
	p->nheld = 0;
	__atomic_store_n(&p->parked, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&p->hold_lock);
	return 0;
}

/*
 * Queues a frame for port p; drops and counts it when p is full. A port
 * that is detached (its VM suspended) still queues, up to its bound; one
 * that was removed, or reused for another MAC since the caller looked it
 * up (unicast: dst_check), gets nothing. The network the caller looked at
 * is checked again under p->users too: the port may have been removed and
 * given to a VM of another network in between (netsw_port_add sets net
 * before in_use), and that tenant must not get this network's broadcast.
 */
static void deliver(struct netsw_port *p, uint16_t net, const uint8_t *frame, uint32_t len,
		    int dst_check)
{
	__atomic_fetch_add(&p->users, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->in_use, __ATOMIC_SEQ_CST) && p->net == net &&
	    (!dst_check || !memcmp(p->mac, frame, 6))) {
		if (__atomic_load_n(&p->parked, __ATOMIC_SEQ_CST))
			hold(p, frame, len);
		else
			push(p, frame, len);
	}
	__atomic_fetch_sub(&p->users, 1, __ATOMIC_SEQ_CST);
}

/* The tx drain of this thread (netsw_tx_ring_begin/end): the ring its
 * frames for the uplink may be written through, and what it wrote. */
static __thread struct netsw *tx_sw;
static __thread struct netsw_port *tx_port;
static __thread struct io_uring *tx_ring;
static __thread void (*tx_reap)(void *);
static __thread void *tx_reap_arg;
static __thread int tx_tried;
static __thread uint64_t tx_frames, tx_bytes;

void netsw_tx_ring_begin(struct netsw *sw, struct netsw_port *from, struct io_uring *ring,
			 void (*reap)(void *), void *reap_arg)
{
	tx_sw = sw;
	tx_port = from;
	tx_ring = ring;
	tx_reap = reap;
	tx_reap_arg = reap_arg;
}

static void to_uplink_queue(struct netsw *sw, struct netsw_port *from, const uint8_t *frame,
			    uint32_t len);

/* A frame the direct writer took and could not submit: queued after all,
 * ahead of anything the drain queues next (its up_held keeps the port's
 * later frames off the direct path until the uplink thread has sent it). */
static void tx_requeue(void *ctx, const uint8_t *frame, uint32_t len)
{
	tx_frames--;
	tx_bytes -= len;
	to_uplink_queue(ctx, tx_port, frame, len);
}

/* Submits what the direct writer took so far (it leaves before anything
 * queued after it), and counts it. */
static void tx_ring_flush(void)
{
	struct netsw *sw = tx_sw;

	if (!tx_tried)
		return;
	sw->up_direct->flush(sw->up_direct_arg, tx_ring, tx_requeue, sw);
	tx_tried = 0;
	if (tx_frames) {
		__atomic_fetch_add(&sw->st.up_tx_frames, tx_frames, __ATOMIC_RELAXED);
		__atomic_fetch_add(&sw->st.up_tx_bytes, tx_bytes, __ATOMIC_RELAXED);
		tx_frames = tx_bytes = 0;
	}
}

void netsw_tx_ring_end(void)
{
	if (tx_sw)
		tx_ring_flush();
	tx_sw = NULL;
	tx_port = NULL;
	tx_ring = NULL;
	tx_reap = NULL;
	tx_reap_arg = NULL;
}

/* 1 if the frame was written directly (or dropped, the uplink down), 0 to
 * queue it. */
static int to_uplink_direct(struct netsw *sw, struct netsw_port *from, const uint8_t *frame,
			    uint32_t len)
{
	int rc;

	/* Only the port drained (not one a delivery drains on the way, whose
	 * tx_lock is not held until the submission). */
	if (!tx_ring || tx_sw != sw || tx_port != from ||
	    !__atomic_load_n(&sw->up_direct, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&from->up_held, __ATOMIC_ACQUIRE))
		return 0;
	tx_tried = 1;
	rc = sw->up_direct->take(sw->up_direct_arg, tx_ring, frame, len);
	if (rc == 0) {
		/* Out of room: what it took leaves first; its completions
		 * reaped, the writer has room again (once per frame: a writer
		 * that still has none sends the rest through the queue). */
		tx_ring_flush();
		if (!tx_reap || __atomic_load_n(&from->up_held, __ATOMIC_ACQUIRE))
			return 0;
		tx_reap(tx_reap_arg);
		from->st.up_direct_reaps++;
		tx_tried = 1;
		rc = sw->up_direct->take(sw->up_direct_arg, tx_ring, frame, len);
		if (rc == 0) {
			tx_ring_flush();
			return 0;
		}
	}
	if (rc > 0) {
		tx_frames++;
		tx_bytes += len;
		return 1;
	}
	__atomic_fetch_add(&sw->st.up_drop_down, 1, __ATOMIC_RELAXED);
	return 1;
}

static void to_uplink(struct netsw *sw, struct netsw_port *from, const uint8_t *frame, uint32_t len)
{
	if (!sw->up_txq || !__atomic_load_n(&sw->up_up, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_add(&sw->st.up_drop_down, 1, __ATOMIC_RELAXED);
		return;
	}
	if (to_uplink_direct(sw, from, frame, len))
		return;
	to_uplink_queue(sw, from, frame, len);
}

static void to_uplink_queue(struct netsw *sw, struct netsw_port *from, const uint8_t *frame,
			    uint32_t len)
{
	if (!sw->up_txq) {
		__atomic_fetch_add(&sw->st.up_drop_down, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Per-port budget: a flooding port holds at most its share. */
	if (__atomic_fetch_add(&from->up_held, 1, __ATOMIC_ACQ_REL) >= NETSW_UP_PORT_BUDGET) {
		__atomic_fetch_sub(&from->up_held, 1, __ATOMIC_ACQ_REL);
		from->st.drop_up_budget++;
		return;
	}
	if (netq_push_tag(sw->up_txq, frame, len, from->tag)) {
		__atomic_fetch_sub(&from->up_held, 1, __ATOMIC_ACQ_REL);
		__atomic_fetch_add(&sw->st.up_drop_full, 1, __ATOMIC_RELAXED);
		return;
	}
	if (!__atomic_exchange_n(&sw->up_armed, 1, __ATOMIC_SEQ_CST))
		sw->up_kick(sw->up_arg);
}

/* The ARP request's target address (network order) in *tpa: 1 if frame is
 * one (Ethernet/IPv4, operation 1), else 0. */
static int arp_request_target(const uint8_t *frame, uint32_t len, uint32_t *tpa)
{
	static const uint8_t head[] = {0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1};

	if (len < 42 || memcmp(frame + 12, head, sizeof(head)))
		return 0;
	memcpy(tpa, frame + 38, 4);
	return 1;
}

/*
 * An ARP request to its one place (netsw.h): the port of network net given
 * its target address (checked again inside the delivery, the port may be
 * reused meanwhile), else the uplink when the sender is a VM on the
 * uplink's network. 1 if the frame was steered, 0 to flood it.
 */
static int arp_steer(struct netsw *sw, uint16_t net, struct netsw_port *from, const uint8_t *frame,
		     uint32_t len)
{
	unsigned n = __atomic_load_n(&sw->nports, __ATOMIC_ACQUIRE);
	uint32_t tpa;

	if (!arp_request_target(frame, len, &tpa) || tpa == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct netsw_port *p = __atomic_load_n(&sw->ports[i], __ATOMIC_ACQUIRE);

		if (!p || p == from || p->net != net ||
		    __atomic_load_n(&p->ipv4, __ATOMIC_ACQUIRE) != tpa)
			continue;
		__atomic_fetch_add(&p->users, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&p->in_use, __ATOMIC_SEQ_CST) && p->net == net &&
		    __atomic_load_n(&p->ipv4, __ATOMIC_SEQ_CST) == tpa)
			push(p, frame, len);
		__atomic_fetch_sub(&p->users, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&sw->st.arp_steered, 1, __ATOMIC_RELAXED);
		return 1;
	}
	if (from && net == NETSW_NET_UPLINK && sw->up_txq) {
		to_uplink(sw, from, frame, len);
		__atomic_fetch_add(&sw->st.arp_steered, 1, __ATOMIC_RELAXED);
		return 1;
	}
	return 0;
}

/* Every port of network net except skip. */
static void flood(struct netsw *sw, uint16_t net, const struct netsw_port *skip,
		  const uint8_t *frame, uint32_t len)
{
	unsigned n = __atomic_load_n(&sw->nports, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		struct netsw_port *p = __atomic_load_n(&sw->ports[i], __ATOMIC_ACQUIRE);

		if (p && p != skip && __atomic_load_n(&p->in_use, __ATOMIC_ACQUIRE) &&
		    p->net == net) {
			if (netsw_test_flood_hook)
				netsw_test_flood_hook(p);
			deliver(p, net, frame, len, 0);
		}
	}
}

/*
 * Storm control: a token bucket kept as a virtual time (GCRA): each
 * broadcast advances it by 1/RATE s, and it may run at most BURST frames
 * ahead of now. Only the port's own sender (its VM's worker) touches it.
 */
static int storm_ok(struct netsw_port *p)
{
	const uint64_t step = 1000000000ull / NETSW_BCAST_RATE;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (p->bcast_tb < now)
		p->bcast_tb = now;
	if (p->bcast_tb + step > now + NETSW_BCAST_BURST * step)
		return 0;
	p->bcast_tb += step;
	return 1;
}

void netsw_send(struct netsw *sw, struct netsw_port *from, const uint8_t *frame, uint32_t len)
{
	int idx;

	if (len < 14) {
		from->st.drop_runt++;
		return;
	}
	if (memcmp(frame + 6, from->mac, 6)) {
		from->st.drop_forged++;
		return;
	}
	if ((frame[0] & 1) && !storm_ok(from)) {
		from->st.drop_storm++;
		return;
	}
	from->st.tx_frames++;
	from->st.tx_bytes += len;
	if (frame[0] & 1) { /* broadcast or multicast */
		if (arp_steer(sw, from->net, from, frame, len))
			return;
		flood(sw, from->net, from, frame, len);
		if (from->net == NETSW_NET_UPLINK && sw->up_txq)
			to_uplink(sw, from, frame, len);
		return;
	}
	idx = lookup(sw, mac_u64(frame));
	if (idx >= 0) {
		struct netsw_port *p = sw->ports[idx];

		if (p->net == from->net)
			deliver(p, from->net, frame, len, 1);
		else
			from->st.drop_unknown++; /* another network: nobody here */
		return;
	}
	if (from->net == NETSW_NET_UPLINK && sw->up_txq &&
	    __atomic_load_n(&sw->up_up, __ATOMIC_ACQUIRE))
		to_uplink(sw, from, frame, len);
	else
		from->st.drop_unknown++;
}

void netsw_set_uplink(struct netsw *sw, struct netq *txq, void (*kick)(void *), void *arg)
{
	sw->up_kick = kick;
	sw->up_arg = arg;
	__atomic_store_n(&sw->up_txq, txq, __ATOMIC_RELEASE);
}

void netsw_uplink_set_up(struct netsw *sw, int up)
{
	__atomic_store_n(&sw->up_up, up, __ATOMIC_RELEASE);
}

int netsw_uplink_is_up(const struct netsw *sw)
{
	return __atomic_load_n(&sw->up_up, __ATOMIC_ACQUIRE);
}

int netsw_uplink_rearm(struct netsw *sw)
{
	__atomic_store_n(&sw->up_armed, 0, __ATOMIC_SEQ_CST);
	if (!netq_peek(sw->up_txq))
		return 0;
	__atomic_store_n(&sw->up_armed, 1, __ATOMIC_SEQ_CST);
	return 1;
}

void netsw_set_uplink_direct(struct netsw *sw, const struct netsw_up_direct *d, void *arg)
{
	sw->up_direct_arg = arg;
	__atomic_store_n(&sw->up_direct, d, __ATOMIC_RELEASE);
}

uint16_t netsw_uplink_pop_keep(struct netsw *sw, struct netq *txq)
{
	const struct netq_cell *c = netq_peek(txq);
	uint16_t tag;

	if (!c)
		return 0;
	/* The consumer, and direct writers once per burst. */
	__atomic_fetch_add(&sw->st.up_tx_frames, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sw->st.up_tx_bytes, c->len, __ATOMIC_RELAXED);
	tag = c->tag;
	netq_pop(txq);
	return tag;
}

void netsw_uplink_release(struct netsw *sw, uint16_t tag)
{
	if (tag && tag <= __atomic_load_n(&sw->nports, __ATOMIC_ACQUIRE))
		__atomic_fetch_sub(&sw->ports[tag - 1]->up_held, 1, __ATOMIC_ACQ_REL);
}

void netsw_uplink_pop(struct netsw *sw, struct netq *txq)
{
	netsw_uplink_release(sw, netsw_uplink_pop_keep(sw, txq));
}

void netsw_input(struct netsw *sw, const uint8_t *frame, uint32_t len)
{
	int idx;

	if (len < 14 || len > DENALI_NET_FRAME_MAX)
		return;
	if (lookup(sw, mac_u64(frame + 6)) >= 0) {
		sw->st.up_drop_spoof++;
		return;
	}
	sw->st.up_rx_frames++;
	sw->st.up_rx_bytes += len;
	if (frame[0] & 1) {
		if (!arp_steer(sw, NETSW_NET_UPLINK, NULL, frame, len))
			flood(sw, NETSW_NET_UPLINK, NULL, frame, len);
		return;
	}
	idx = lookup(sw, mac_u64(frame));
	if (idx >= 0 && sw->ports[idx]->net == NETSW_NET_UPLINK)
		deliver(sw->ports[idx], NETSW_NET_UPLINK, frame, len, 1);
	else
		sw->st.up_drop_unknown++;
}

const struct netsw_stats *netsw_stats(const struct netsw *sw)
{
	return &sw->st;
}

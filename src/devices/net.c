/*
 * Net device: guest rings <-> switch port. Every index, address and length
 * the guest wrote is read once and checked; a bad one comes back as
 * -EFAULT with the reason (the VM layer kills the VM). A frame longer than
 * DENALI_NET_FRAME_MAX is such a fault; a runt is dropped and counted.
 */
#include "net.h"

#include "../vmm/gpa.h"
#include "netsw.h"
#include "ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_dev {
	struct device dev;
	struct netsw *sw;
	struct netsw_port *port;
	uint32_t tx_cons; /* our avail_cons of the tx ring */
	uint32_t rx_cons; /* our avail_cons of the rx ring = used_prod */
	int attached;
};

void net_mac_of_id(uint64_t id, uint8_t mac[6])
{
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0xde;
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

/*
 * Copies queued frames into the buffers the guest posted. `entry`: this is
 * the fill before the VM enters. Then the wake hook is left disarmed (armed
 * = 1, "a wake is already on its way") even when the queue empties: frames
 * that arrive while the VM runs only queue, and are delivered at its next
 * exit, instead of each burst's first frame pulling the VM out of the guest
 * with a signal (one extra exit per entry at saturation). Every exit's fill
 * (entry = 0) re-arms and looks once more, as before, so a VM that goes to
 * sleep at an idle exit is woken by the next frame.
 */
static int fill(struct net_dev *n, const struct dev_guest *g, uint64_t *events, char *why,
		size_t whylen, int entry)
{
	struct denali_ring *r = (struct denali_ring *)(g->mem + DENALI_NET_RX_RING_GPA);
	struct netsw_port *p = n->port;
	uint32_t prod, delivered = 0;
	int avail;

	if (!netq_peek(&p->rxq)) {
		if (entry) {
			__atomic_store_n(&p->armed, 1, __ATOMIC_SEQ_CST);
			/* A frame queued before the store woke us already. */
			return 0;
		}
		/* Empty: make sure the next frame wakes us (a burst that ended
		 * exactly as the buffers ran out left the hook disarmed). */
		if (!__atomic_load_n(&p->armed, __ATOMIC_RELAXED) || !netsw_port_rearm(p))
			return 0;
	}
	prod = ring_read_index(&r->avail_prod);
	avail = ring_pending(prod, n->rx_cons);
	if (avail < 0)
		return dev_fault(
		    why, whylen,
		    "net rx ring: producer index %u is out of range (consumer %u, size %u)", prod,
		    n->rx_cons, DENALI_RING_SIZE);
	for (;;) {
		const struct netq_cell *c;

		while (avail > 0 && (c = netq_peek(&p->rxq)) != NULL) {
			uint32_t slot = n->rx_cons % DENALI_RING_SIZE;
			struct denali_desc d;
			uint32_t cap;
			uint8_t *dst;

			memcpy(&d, &r->desc[slot], sizeof(d));
			cap = d.len < DENALI_NET_FRAME_MAX ? d.len : DENALI_NET_FRAME_MAX;
			dst = gpa_to_hva(g->mem, g->mem_size, d.addr, cap, GPA_WRITE);
			if (!dst)
				return dev_fault(
				    why, whylen,
				    "net rx ring: descriptor %u [0x%lx, +%u) is outside "
				    "guest memory",
				    slot, d.addr, cap);
			if (c->len > cap) {
				p->st.drop_rx_small_buf++;
				netq_pop(&p->rxq);
				continue;
			}
			memcpy(dst, c->data, c->len);
			r->used[slot].id = d.id;
			r->used[slot].len = c->len;
			p->st.rx_frames++;
			p->st.rx_bytes += c->len;
			netq_pop(&p->rxq);
			n->rx_cons++;
			avail--;
			delivered++;
		}
		/* Out of buffers with frames left: stay armed, the next exit or
		 * entry fills again. Emptied before an entry: stay armed (see
		 * above). Emptied at an exit: re-arm, and look once more. */
		if (netq_peek(&p->rxq) || entry || !netsw_port_rearm(p))
			break;
	}
	if (delivered) {
		ring_write_index(&r->avail_cons, n->rx_cons);
		ring_write_index(&r->used_prod, n->rx_cons);
		p->st.rx_bursts++;
		*events |= DENALI_EV_NET_RX;
	}
	return 0;
}

static int drain_tx(struct net_dev *n, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen)
{
	struct denali_ring *r = (struct denali_ring *)(g->mem + DENALI_NET_TX_RING_GPA);
	uint32_t prod = ring_read_index(&r->avail_prod);
	int pending = ring_pending(prod, n->tx_cons);

	if (pending == 0)
		return 0;
	if (pending < 0)
		return dev_fault(
		    why, whylen,
		    "net tx ring: producer index %u is out of range (consumer %u, size %u)", prod,
		    n->tx_cons, DENALI_RING_SIZE);
	for (; n->tx_cons != prod; n->tx_cons++) {
		uint32_t slot = n->tx_cons % DENALI_RING_SIZE;
		struct denali_desc d;
		const uint8_t *frame;

		memcpy(&d, &r->desc[slot], sizeof(d));
		if (d.len > DENALI_NET_FRAME_MAX)
			return dev_fault(
			    why, whylen,
			    "net tx ring: descriptor %u length %u exceeds the %u-byte frame "
			    "limit",
			    slot, d.len, DENALI_NET_FRAME_MAX);
		frame = gpa_to_hva(g->mem, g->mem_size, d.addr, d.len, GPA_READ);
		if (!frame)
			return dev_fault(
			    why, whylen,
			    "net tx ring: descriptor %u [0x%lx, +%u) is outside guest memory", slot,
			    d.addr, d.len);
		netsw_send(n->sw, n->port, frame, d.len);
	}
	ring_write_index(&r->avail_cons, n->tx_cons);
	/* Only a guest that found the ring full waits for space: an event on
	 * every drain made the idle() of this very exit return at once, two
	 * exits per idle for every sender (abi.h, DENALI_EV_NET_TX). */
	if (pending == (int)DENALI_RING_SIZE)
		*events |= DENALI_EV_NET_TX;
	return 0;
}

static int op_fill(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		   size_t whylen)
{
	return fill((struct net_dev *)d, g, events, why, whylen, 1);
}

static int op_drain(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen)
{
	struct net_dev *n = (struct net_dev *)d;
	int rc = drain_tx(n, g, events, why, whylen);

	return rc ? rc : fill(n, g, events, why, whylen, 0);
}

static int op_attach(struct device *d, const struct dev_host *h)
{
	struct net_dev *n = (struct net_dev *)d;

	netsw_port_attach(n->port, h->wake, h->wake_arg);
	n->attached = 1;
	return 0;
}

static void op_detach(struct device *d)
{
	struct net_dev *n = (struct net_dev *)d;

	if (n->attached)
		netsw_port_detach(n->port);
	n->attached = 0;
}

static size_t op_save(const struct device *d, void *buf, size_t cap)
{
	const struct net_dev *n = (const struct net_dev *)d;
	uint32_t v[2] = {n->tx_cons, n->rx_cons};

	return dev_save_u32(v, 2, buf, cap);
}

static int op_restore(struct device *d, const void *buf, size_t len)
{
	struct net_dev *n = (struct net_dev *)d;
	uint32_t v[2];

	if (dev_restore_u32(v, 2, buf, len))
		return -EINVAL;
	n->tx_cons = v[0];
	n->rx_cons = v[1];
	return 0;
}

static unsigned op_counters(const struct device *d, struct dev_counter *out, unsigned max)
{
	const struct netsw_port_stats *st = &((const struct net_dev *)d)->port->st;
	const struct dev_counter all[] = {
	    {"tx_frames", st->tx_frames},
	    {"tx_bytes", st->tx_bytes},
	    {"rx_frames", st->rx_frames},
	    {"rx_bytes", st->rx_bytes},
	    {"rx_bursts", st->rx_bursts},
	    {"drop_forged_src", st->drop_forged},
	    {"drop_unknown_dst", st->drop_unknown},
	    {"drop_runt", st->drop_runt},
	    {"drop_rx_full", __atomic_load_n(&st->drop_rx_full, __ATOMIC_RELAXED)},
	    {"drop_rx_small_buf", st->drop_rx_small_buf},
	    {"drop_up_budget", st->drop_up_budget},
	    {"drop_storm", st->drop_storm},
	};
	return dev_counters_copy(all, sizeof(all) / sizeof(all[0]), out, max);
}

void net_dev_rx_totals(const struct device *d, uint32_t *queued, uint64_t *dropped)
{
	const struct netsw_port *p = ((const struct net_dev *)d)->port;

	*queued = __atomic_load_n(&p->rxq.enq, __ATOMIC_RELAXED);
	*dropped = __atomic_load_n(&p->st.drop_rx_full, __ATOMIC_RELAXED);
}

static void op_free(struct device *d)
{
	struct net_dev *n = (struct net_dev *)d;

	op_detach(d);
	netsw_port_remove(n->sw, n->port);
	free(n);
}

static const struct device_ops net_ops = {
    .kind = "net",
    .ring_mask = DENALI_RING_NET_TX,
    .attach = op_attach,
    .fill = op_fill,
    .drain = op_drain,
    .detach = op_detach,
    .save = op_save,
    .restore = op_restore,
    .counters = op_counters,
    .free = op_free,
};

int net_dev_create(struct netsw *sw, const uint8_t mac[6], uint16_t net, struct device **out)
{
	struct net_dev *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	n->dev.ops = &net_ops;
	n->sw = sw;
	rc = netsw_port_add(sw, mac, net, &n->port);
	if (rc) {
		free(n);
		return rc;
	}
	*out = &n->dev;
	return 0;
}

void net_dev_set_ipv4(struct device *d, uint32_t addr)
{
	struct net_dev *n = (struct net_dev *)d;

	netsw_port_set_ipv4(n->port, addr);
}

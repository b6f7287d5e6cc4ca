/*
 * Net device: guest rings <-> switch port. Every index, address and length
 * the guest wrote is read once and checked; a bad one comes back as
 * -EFAULT with the reason (the VM layer kills the VM). A frame longer than
 * DENALI_NET_FRAME_MAX is such a fault; a runt is dropped and counted.
 *
 * Rings served while the guest runs ("live", from its entry to its next
 * exit): a frame queued for the port by another thread (another worker
 * draining its VM, the uplink) is copied into the guest's posted buffers
 * by that thread at once, with DENALI_EV_NET_RX set in the shared page and
 * no wake-up (the guest is running: it sees the ring), and that thread then
 * drains the guest's tx ring too (its replies leave without an exit of its
 * own). A busy guest sends and receives with no exit at all. rx_lock
 * serialises every filler of the rx ring (the rxq consumer), tx_lock every
 * drainer of the tx ring; a tx drain may deliver into other ports (their
 * rx_lock) but nothing taken under rx_lock takes another lock, and a drain
 * for another thread's VM only ever trylocks, at most one level deep: no
 * cycle. While the guest runs it may rewrite its rings and buffers at any
 * time: descriptors are copied once and checked (as always), and a frame
 * drained for a running guest is copied out before the switch looks at it.
 * A fault found by another thread is kept, the rings are left alone, and
 * the owner returns it at the VM's next exit or entry (its worker is woken
 * to get there soon).
 */
#include "net.h"

#include "../vmm/gpa.h"
#include "netsw.h"
#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net_dev {
	struct device dev;
	struct netsw *sw;
	struct netsw_port *port;
	uint32_t tx_cons; /* our avail_cons of the tx ring (tx_lock) */
	uint32_t rx_cons; /* our avail_cons of the rx ring = used_prod (rx_lock) */
	int attached;
	pthread_mutex_t rx_lock, tx_lock;
	/* The guest runs (set before entry, cleared at its exit, under both
	 * locks); live_g is its memory meanwhile. */
	int live;
	struct dev_guest live_g;
	void (*wake)(void *arg, uint64_t events); /* the worker's (dev_host) */
	void *wake_arg;
	struct io_uring *ring; /* the worker's: its drains write to the uplink through it */
	void (*poll)(void *);  /* the worker's: reaps what is done on ring (dev_host) */
	void *poll_arg;
	int faulted; /* found by another thread; why holds the reason */
	char why[DEV_WHY_MAX];
	uint64_t live_fills, live_frames, live_drains; /* served while it ran */
};

/* Nonzero while this thread drains a running guest's tx ring for it: the
 * deliveries that makes serve rx rings but drain no further tx ring. */
static __thread int serving;

void net_mac_of_id(uint64_t id, uint8_t mac[6])
{
	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = 0xde;
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

/* Out of line, so that a frame copy is glibc's memcpy: inlined, with the
 * length bounded by the frame limit, gcc made each copy (into the guest's
 * buffer, into frame_copy) a rep movsq, whose start-up costs more than the
 * whole copy of the small frames that dominate. */
static __attribute__((noipa)) void frame_copy_out(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

/* Copies queued frames into the buffers the guest posted. */
static int fill(struct net_dev *n, const struct dev_guest *g, uint64_t *events, char *why,
		size_t whylen)
{
	struct denali_ring *r = (struct denali_ring *)(g->mem + DENALI_NET_RX_RING_GPA);
	struct netsw_port *p = n->port;
	uint32_t prod, delivered = 0;
	int avail;

	if (!netq_peek(&p->rxq)) {
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
			frame_copy_out(dst, c->data, c->len);
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
		 * entry fills again. Emptied: re-arm, and look once more. */
		if (netq_peek(&p->rxq) || !netsw_port_rearm(p))
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

/* copy: the guest is running (another thread drains for it), so the frame
 * is copied out first: the switch checks the source MAC of what it sends. */
static int drain_tx(struct net_dev *n, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen, int copy)
{
	static __thread uint8_t frame_copy[DENALI_NET_FRAME_MAX];
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
		if (copy) {
			frame_copy_out(frame_copy, frame, d.len);
			frame = frame_copy;
		}
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

/* A fault found by another thread, returned by the owner. */
static int take_fault(struct net_dev *n, char *why, size_t whylen)
{
	return dev_fault(why, whylen, "%s", n->why);
}

static int op_fill(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		   size_t whylen)
{
	struct net_dev *n = (struct net_dev *)d;
	int rc;

	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->rx_lock);
	__atomic_store_n(&n->port->acks_lazy, 0, __ATOMIC_SEQ_CST); /* it runs: hear everything */
	rc = n->faulted ? take_fault(n, why, whylen) : fill(n, g, events, why, whylen);
	if (rc == 0 && n->attached) {
		n->live_g = *g;
		__atomic_store_n(&n->live, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&n->rx_lock);
	pthread_mutex_unlock(&n->tx_lock);
	return rc;
}

/* Not live any more (both locks held): no other thread touches the rings. */
static void not_live(struct net_dev *n)
{
	__atomic_store_n(&n->live, 0, __ATOMIC_RELEASE);
	n->live_g.mem = NULL;
}

/* The guest's hint at this exit (shared.wake_flags, read once): pure ACKs
 * need not wake it until its next entry (abi.h, DENALI_WAKE_ACKS_LAZY). */
static void acks_lazy_take(struct net_dev *n, const struct dev_guest *g)
{
	const struct denali_shared *sh = (const struct denali_shared *)(g->mem + DENALI_SHARED_GPA);
	uint32_t f = __atomic_load_n(&sh->wake_flags, __ATOMIC_RELAXED);

	__atomic_store_n(&n->port->acks_lazy, (f & DENALI_WAKE_ACKS_LAZY) ? 1u : 0u,
			 __ATOMIC_SEQ_CST);
}

static int op_drain(struct device *d, const struct dev_guest *g, uint64_t *events, char *why,
		    size_t whylen)
{
	struct net_dev *n = (struct net_dev *)d;
	int rc;

	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->rx_lock);
	not_live(n);
	pthread_mutex_unlock(&n->rx_lock);
	acks_lazy_take(n, g);
	net_defer_begin();
	/* Frames for the uplink written through this worker's ring, submitted
	 * before tx_lock goes (the next drainer's frames come after them). */
	netsw_tx_ring_begin(n->sw, n->port, n->ring, n->poll, n->poll_arg);
	rc = n->faulted ? take_fault(n, why, whylen) : drain_tx(n, g, events, why, whylen, 0);
	netsw_tx_ring_end();
	pthread_mutex_unlock(&n->tx_lock);
	net_defer_end(); /* the receivers of this burst, each once */
	if (rc)
		return rc;
	pthread_mutex_lock(&n->rx_lock);
	rc = fill(n, g, events, why, whylen);
	pthread_mutex_unlock(&n->rx_lock);
	return rc;
}

/* Keeps a fault found for a running guest and gets its worker to it. */
static void fault_found(struct net_dev *n, const char *why)
{
	snprintf(n->why, sizeof(n->why), "%s", why);
	n->faulted = 1;
}

/* Events for the running guest, straight into its shared page (it reads
 * the bitmask without an exit). */
static void post_live_events(struct net_dev *n, uint64_t events)
{
	if (events)
		__atomic_fetch_or((uint64_t *)(n->live_g.mem + DENALI_SHARED_GPA), events,
				  __ATOMIC_RELEASE);
}

/*
 * The port's wake hook: frames were queued for it (any thread). A running
 * guest gets them now, and its tx ring drained; otherwise its worker is
 * woken and fills before the next entry.
 */
static void rx_wake_now(struct net_dev *n)
{
	char why[DEV_WHY_MAX];
	uint64_t events = 0;
	int rc = 0, served = 0;

	if (__atomic_load_n(&n->live, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&n->rx_lock);
		if (n->live && !n->faulted) {
			uint64_t before = n->port->st.rx_frames;

			rc = fill(n, &n->live_g, &events, why, sizeof(why));
			if (rc) {
				fault_found(n, why);
			} else {
				served = 1;
				n->live_fills++;
				n->live_frames += n->port->st.rx_frames - before;
				post_live_events(n, events);
			}
		}
		pthread_mutex_unlock(&n->rx_lock);
	}
	if (!served) {
		n->wake(n->wake_arg, n->faulted ? DENALI_EV_NET_RX : 0);
		return;
	}
	/* Its replies, while we are here: opportunistic (never waits for the
	 * lock) and one level deep. */
	if (serving || pthread_mutex_trylock(&n->tx_lock))
		return;
	if (n->live && !n->faulted) {
		events = 0;
		serving = 1;
		rc = drain_tx(n, &n->live_g, &events, why, sizeof(why), 1);
		serving = 0;
		if (rc)
			fault_found(n, why);
		else
			post_live_events(n, events);
		n->live_drains++;
	}
	pthread_mutex_unlock(&n->tx_lock);
	if (rc) /* with an event: its worker interrupts it, the next exit kills it */
		n->wake(n->wake_arg, DENALI_EV_NET_TX);
}

/*
 * Wake-ups coalesced per receiver over a burst (net_defer_begin/end): a
 * thread sending many frames (a tx drain, the uplink's batch of reads)
 * serves each receiver once at the end, with all its frames in one fill,
 * instead of at its first frame. The port's senders count (netsw users) is
 * held meanwhile, so the port cannot be detached, nor the device freed,
 * before the deferred wake-up has run.
 */
#define NET_DEFER_MAX 32
static __thread struct net_dev *deferred[NET_DEFER_MAX];
static __thread int ndeferred, deferring;

void net_defer_begin(void)
{
	deferring++;
}

void net_defer_end(void)
{
	if (--deferring > 0)
		return;
	while (ndeferred > 0) {
		struct net_dev *n = deferred[--ndeferred];

		if (__atomic_load_n(&n->port->attached, __ATOMIC_SEQ_CST))
			rx_wake_now(n);
		__atomic_fetch_sub(&n->port->users, 1, __ATOMIC_SEQ_CST);
	}
}

static void rx_wake(void *arg, uint64_t ev)
{
	struct net_dev *n = arg;

	(void)ev;
	if (deferring && !serving) {
		for (int i = 0; i < ndeferred; i++)
			if (deferred[i] == n)
				return;
		if (ndeferred < NET_DEFER_MAX) {
			__atomic_fetch_add(&n->port->users, 1, __ATOMIC_SEQ_CST);
			deferred[ndeferred++] = n;
			return;
		}
	}
	rx_wake_now(n);
}

static void op_quiesce(struct device *d)
{
	struct net_dev *n = (struct net_dev *)d;

	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->rx_lock);
	not_live(n);
	pthread_mutex_unlock(&n->rx_lock);
	__atomic_store_n(&n->port->acks_lazy, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&n->tx_lock);
}

static int op_attach(struct device *d, const struct dev_host *h)
{
	struct net_dev *n = (struct net_dev *)d;

	n->wake = h->wake;
	n->wake_arg = h->wake_arg;
	n->ring = h->ring;
	n->poll = h->poll;
	n->poll_arg = h->reap_arg;
	netsw_port_attach(n->port, rx_wake, n);
	n->attached = 1;
	return 0;
}

static void op_detach(struct device *d)
{
	struct net_dev *n = (struct net_dev *)d;

	if (n->attached)
		netsw_port_detach(n->port); /* and waits out the senders inside rx_wake */
	op_quiesce(d);
	n->attached = 0;
}

static void op_park(struct device *d)
{
	netsw_port_park(((struct net_dev *)d)->port);
}

static int op_unpark(struct device *d)
{
	return netsw_port_unpark(((struct net_dev *)d)->port);
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
	const struct net_dev *n = (const struct net_dev *)d;
	const struct netsw_port_stats *st = &n->port->st;
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
	    {"up_direct_reaps", st->up_direct_reaps},
	    {"live_fills", n->live_fills},
	    {"live_frames", n->live_frames},
	    {"live_drains", n->live_drains},
	};
	return dev_counters_copy(all, sizeof(all) / sizeof(all[0]), out, max);
}

void net_dev_rx_totals(const struct device *d, uint32_t *queued, uint64_t *dropped)
{
	const struct netsw_port *p = ((const struct net_dev *)d)->port;

	*queued = (uint32_t)__atomic_load_n(&p->st.held, __ATOMIC_RELAXED);
	*dropped = __atomic_load_n(&p->st.drop_rx_full, __ATOMIC_RELAXED);
}

static void op_free(struct device *d)
{
	struct net_dev *n = (struct net_dev *)d;

	op_detach(d);
	netsw_port_remove(n->sw, n->port);
	pthread_mutex_destroy(&n->rx_lock);
	pthread_mutex_destroy(&n->tx_lock);
	free(n);
}

static const struct device_ops net_ops = {
    .kind = "net",
    .ring_mask = DENALI_RING_NET_TX,
    .attach = op_attach,
    .fill = op_fill,
    .drain = op_drain,
    .quiesce = op_quiesce,
    .detach = op_detach,
    .park = op_park,
    .unpark = op_unpark,
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
	pthread_mutex_init(&n->rx_lock, NULL);
	pthread_mutex_init(&n->tx_lock, NULL);
	rc = netsw_port_add(sw, mac, net, &n->port);
	if (rc) {
		pthread_mutex_destroy(&n->rx_lock);
		pthread_mutex_destroy(&n->tx_lock);
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

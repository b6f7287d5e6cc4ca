/*
 * The switch's ARP steering (devices/netsw.h): an ARP request goes to the
 * port given its target address only, or from a VM to the uplink only when
 * no port has it; other broadcast floods; networks and reused ports keep
 * their bounds. Ports are driven directly: frames are counted in each
 * port's receive queue and in the uplink's transmit queue. And the pure-ACK
 * frames that need not wake a port whose VM said so.
 */
#include "devices/netsw.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

struct rig {
	struct netsw *sw;
	struct netsw_port *a, *b, *c, *d; /* a, b, c on network 0; d on network 1 */
	struct netq up;			  /* the uplink's transmit queue */
	unsigned kicks;
};

static const uint8_t MAC_A[6] = {2, 0xde, 0, 0, 0, 1}, MAC_B[6] = {2, 0xde, 0, 0, 0, 2},
		     MAC_C[6] = {2, 0xde, 0, 0, 0, 3}, MAC_D[6] = {2, 0xde, 0, 0, 0, 4},
		     MAC_HOST[6] = {2, 0xaa, 0, 0, 0, 9};

static void wake(void *arg, uint64_t ev)
{
	(void)arg;
	(void)ev;
}

static void kick(void *arg)
{
	((struct rig *)arg)->kicks++;
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* Frames waiting in q, which are then dropped. */
static unsigned drain(struct netq *q)
{
	unsigned n = 0;

	while (netq_peek(q)) {
		netq_pop(q);
		n++;
	}
	return n;
}

static int setup(void **state)
{
	static struct rig r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(netsw_create(16, &r.sw), 0);
	assert_int_equal(netsw_port_add(r.sw, MAC_A, 0, &r.a), 0);
	assert_int_equal(netsw_port_add(r.sw, MAC_B, 0, &r.b), 0);
	assert_int_equal(netsw_port_add(r.sw, MAC_C, 0, &r.c), 0);
	assert_int_equal(netsw_port_add(r.sw, MAC_D, 1, &r.d), 0);
	netsw_port_attach(r.a, wake, NULL);
	netsw_port_attach(r.b, wake, NULL);
	netsw_port_attach(r.c, wake, NULL);
	netsw_port_attach(r.d, wake, NULL);
	netsw_port_set_ipv4(r.a, ip("198.18.0.2"));
	netsw_port_set_ipv4(r.b, ip("198.18.0.3"));
	netsw_port_set_ipv4(r.d, ip("198.18.0.3")); /* the same address, on network 1 */
	assert_int_equal(netq_init(&r.up, 64), 0);
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	netsw_destroy(r->sw);
	netq_free(&r->up);
	return 0;
}

/* An Ethernet frame of 60 bytes from src to dst; ARP request for target
 * when arp, else an IPv4 broadcast. */
static uint32_t frame(uint8_t *f, const uint8_t *src, const uint8_t *dst, int arp,
		      const char *sender, const char *target)
{
	uint32_t s = ip(sender), t = ip(target);

	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (!arp) {
		f[12] = 0x08;
		return 60;
	}
	static const uint8_t head[] = {0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1};
	memcpy(f + 12, head, sizeof(head));
	memcpy(f + 22, src, 6);
	memcpy(f + 28, &s, 4);
	memcpy(f + 38, &t, 4);
	return 60;
}

static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void test_request_to_its_owner_only(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");

	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 0); /* not flooded */
	assert_int_equal(drain(&r->d->rxq), 0); /* same address, other network */
	assert_int_equal(drain(&r->a->rxq), 0);
	assert_int_equal(netsw_stats(r->sw)->arp_steered, 1);
}

static void test_unknown_target_floods_without_uplink(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.1");

	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 1);
	assert_int_equal(drain(&r->d->rxq), 0);
}

static void test_unknown_target_to_the_uplink_only(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.1");

	netsw_set_uplink(r->sw, &r->up, kick, r);
	netsw_uplink_set_up(r->sw, 1);
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->up), 1);
	assert_int_equal(drain(&r->b->rxq), 0);
	assert_int_equal(drain(&r->c->rxq), 0);
	/* a known target is still its owner's only, not the uplink's */
	len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->up), 0);
	assert_int_equal(drain(&r->b->rxq), 1);
	/* network 1 has no uplink: an unknown target floods there */
	len = frame(f, MAC_D, BCAST, 1, "198.18.0.3", "198.18.0.1");
	netsw_send(r->sw, r->d, f, len);
	assert_int_equal(drain(&r->up), 0);
}

static void test_other_broadcast_floods(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_A, BCAST, 0, "198.18.0.2", "198.18.0.3");

	netsw_set_uplink(r->sw, &r->up, kick, r);
	netsw_uplink_set_up(r->sw, 1);
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 1);
	assert_int_equal(drain(&r->up), 1);
	assert_int_equal(drain(&r->d->rxq), 0);
	/* an ARP reply (operation 2) is no request: it floods as any broadcast */
	len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");
	f[21] = 2;
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 1);
	assert_int_equal(drain(&r->up), 1);
	/* a truncated request floods too (no target to read) */
	len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");
	netsw_send(r->sw, r->a, f, 41);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 1);
	assert_int_equal(drain(&r->up), 1);
}

static void test_from_the_uplink(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_HOST, BCAST, 1, "198.18.0.1", "198.18.0.2");

	netsw_input(r->sw, f, len);
	assert_int_equal(drain(&r->a->rxq), 1);
	assert_int_equal(drain(&r->b->rxq), 0);
	assert_int_equal(drain(&r->c->rxq), 0);
	/* for an address no port has: flooded on the uplink's network */
	len = frame(f, MAC_HOST, BCAST, 1, "198.18.0.1", "198.18.0.77");
	netsw_input(r->sw, f, len);
	assert_int_equal(drain(&r->a->rxq), 1);
	assert_int_equal(drain(&r->b->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 1);
	assert_int_equal(drain(&r->d->rxq), 0);
}

static void test_reused_port_forgets_the_address(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	static const uint8_t mac_e[6] = {2, 0xde, 0, 0, 0, 5};
	struct netsw_port *e;
	uint32_t len;

	netsw_port_remove(r->sw, r->b);
	assert_int_equal(netsw_port_add(r->sw, mac_e, 0, &e), 0);
	assert_ptr_equal(e, r->b); /* the same slot, a new tenant without an address */
	netsw_port_attach(e, wake, NULL);
	len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&e->rxq), 1); /* flooded (no uplink), not steered to it */
	assert_int_equal(drain(&r->c->rxq), 1);
	netsw_port_set_ipv4(e, ip("198.18.0.3"));
	netsw_send(r->sw, r->a, f, len);
	assert_int_equal(drain(&e->rxq), 1);
	assert_int_equal(drain(&r->c->rxq), 0);
}

/* A sender arriving while its destination is being removed (after the
 * senders in flight were waited out) queues nothing there: with in_use
 * cleared only after that wait, these three frames waited in the queue the
 * slot's next tenant gets. */
static struct rig *seam_rig;
static unsigned seam_queued;

static void seam_send(struct netsw_port *p)
{
	struct rig *r = seam_rig;
	uint8_t f[60];
	uint32_t len;

	len = frame(f, MAC_A, MAC_B, 0, "198.18.0.2", "198.18.0.3");
	netsw_send(r->sw, r->a, f, len); /* unicast to the old owner */
	len = frame(f, MAC_A, BCAST, 1, "198.18.0.2", "198.18.0.3");
	netsw_send(r->sw, r->a, f, len); /* ARP for its address */
	len = frame(f, MAC_A, BCAST, 0, "198.18.0.2", "198.18.0.255");
	netsw_send(r->sw, r->a, f, len); /* a broadcast */
	seam_queued = drain(&p->rxq);
	drain(&r->c->rxq);
}

static void test_removed_port_gets_nothing(void **state)
{
	struct rig *r = *state;
	static const uint8_t mac_e[6] = {2, 0xde, 0, 0, 0, 5};
	struct netsw_port *e;

	seam_rig = r;
	seam_queued = 99;
	netsw_remove_test_seam = seam_send;
	netsw_port_remove(r->sw, r->b);
	netsw_remove_test_seam = NULL;
	assert_int_equal(seam_queued, 0);
	assert_int_equal(netsw_port_add(r->sw, mac_e, 0, &e), 0);
	assert_ptr_equal(e, r->b);
	netsw_port_attach(e, wake, NULL);
	assert_null(netq_peek(&e->rxq)); /* the new tenant starts empty */
}

/* Issue 7's "left alone" gap: a broadcast that looked at port b just before b was removed
 * and given to a VM of network 1 must not reach that new tenant. The hook runs in exactly
 * that window (after flood's look, before the delivery). */
static struct rig *race_rig;
static struct netsw_port *race_new;
static const uint8_t MAC_F[6] = {2, 0xde, 0, 0, 0, 6};

static void reuse_in_window(struct netsw_port *p)
{
	struct rig *r = race_rig;

	if (p != r->b || race_new)
		return;
	netsw_port_remove(r->sw, r->b);
	assert_int_equal(netsw_port_add(r->sw, MAC_F, 1, &race_new), 0);
	netsw_port_attach(race_new, wake, NULL);
}

static void test_broadcast_never_reaches_the_next_tenant(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	uint32_t len = frame(f, MAC_A, BCAST, 0, "198.18.0.2", "198.18.0.3");

	f[21] = 2; /* a reply: flooded, not steered */
	race_rig = r;
	race_new = NULL;
	netsw_test_flood_hook = reuse_in_window;
	netsw_send(r->sw, r->a, f, len);
	netsw_test_flood_hook = NULL;
	assert_non_null(race_new);
	assert_ptr_equal(race_new, r->b); /* the same slot, now on network 1 */
	assert_int_equal(drain(&race_new->rxq), 0);
	assert_int_equal(drain(&r->c->rxq), 1); /* the rest of network 0 still got it */
	assert_int_equal(drain(&r->d->rxq), 0);
}

/* IPv4 TCP from A to B: 20-byte IP header, TCP with doff*4 bytes of header
 * (options zero) and `data` bytes after it. */
static uint32_t tcp_frame(uint8_t *f, uint8_t flags, uint32_t doff, uint32_t data)
{
	uint32_t tot = 20 + doff * 4 + data;

	memset(f, 0, 14 + tot);
	memcpy(f, MAC_B, 6);
	memcpy(f + 6, MAC_A, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(tot >> 8);
	f[17] = (uint8_t)tot;
	f[14 + 9] = 6;
	f[34 + 12] = (uint8_t)(doff << 4);
	f[34 + 13] = flags;
	return 14 + tot < 60 ? 60 : 14 + tot;
}

static void test_pure_ack_classified(void **state)
{
	(void)state;
	uint8_t f[1514];
	uint32_t len;

	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x10, 5, 0)), 1);
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x18, 8, 0)), 1); /* PSH, SACK */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x10, 5, 1)), 0); /* data */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x11, 5, 0)), 0); /* FIN */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x12, 5, 0)), 0); /* SYN */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x14, 5, 0)), 0); /* RST */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x30, 5, 0)), 0); /* URG */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x00, 5, 0)), 0); /* no ACK */
	assert_int_equal(netsw_frame_is_pure_ack(f, tcp_frame(f, 0x10, 4, 0)), 0); /* doff < 5 */
	len = tcp_frame(f, 0x10, 15, 0); /* 60 bytes of options, all there */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 1);
	assert_int_equal(netsw_frame_is_pure_ack(f, len - 1), 0); /* cut short */
	len = tcp_frame(f, 0x10, 5, 0);
	f[14 + 9] = 17; /* UDP */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 0);
	len = tcp_frame(f, 0x10, 5, 0);
	f[14 + 6] = 0x20; /* more fragments */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 0);
	len = tcp_frame(f, 0x10, 5, 0);
	f[14] = 0x46; /* IP options claimed: the TCP header is 4 bytes further, data */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 0);
	len = tcp_frame(f, 0x10, 5, 0);
	f[12] = 0x86; /* not IPv4 */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 0);
	len = tcp_frame(f, 0x10, 5, 0);
	f[17] = 0xff; /* total length past the frame */
	assert_int_equal(netsw_frame_is_pure_ack(f, len), 0);
	assert_int_equal(netsw_frame_is_pure_ack(f, 33), 0);
	assert_int_equal(netsw_frame_is_pure_ack(f, 0), 0);
}

static void count_wake(void *arg, uint64_t ev)
{
	(void)ev;
	(*(unsigned *)arg)++;
}

/* A port whose idle VM said so (acks_lazy) is not woken for a pure ACK; the
 * ACK still waits in its queue, and the next other frame wakes it. */
static void test_pure_ack_does_not_wake_a_lazy_port(void **state)
{
	struct rig *r = *state;
	uint8_t f[1514];
	unsigned wakes = 0;

	netsw_port_attach(r->b, count_wake, &wakes);
	__atomic_store_n(&r->b->acks_lazy, 1, __ATOMIC_SEQ_CST);
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x10, 5, 0));
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x10, 5, 0));
	assert_int_equal(wakes, 0);
	assert_int_equal(r->b->armed, 0);
	assert_int_equal(r->b->st.acks_unwoken, 2);
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x18, 5, 100)); /* a request */
	assert_int_equal(wakes, 1);
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x10, 5, 0)); /* armed: no second wake */
	assert_int_equal(wakes, 1);
	assert_int_equal(drain(&r->b->rxq), 4); /* nothing lost, all in order */
	netsw_port_rearm(r->b);
	/* A FIN wakes; and without the hint every frame does. */
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x11, 5, 0));
	assert_int_equal(wakes, 2);
	drain(&r->b->rxq);
	netsw_port_rearm(r->b);
	__atomic_store_n(&r->b->acks_lazy, 0, __ATOMIC_SEQ_CST);
	netsw_send(r->sw, r->a, f, tcp_frame(f, 0x10, 5, 0));
	assert_int_equal(wakes, 3);
	assert_int_equal(r->b->st.acks_unwoken, 2);
	drain(&r->b->rxq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request_to_its_owner_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_target_floods_without_uplink, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_target_to_the_uplink_only, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_other_broadcast_floods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_the_uplink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reused_port_forgets_the_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_port_gets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broadcast_never_reaches_the_next_tenant, setup,
					    teardown),
	    cmocka_unit_test(test_pure_ack_classified),
	    cmocka_unit_test_setup_teardown(test_pure_ack_does_not_wake_a_lazy_port, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * ARP (RFC 826) for IPv4 over Ethernet: requests, replies and a bounded
 * cache with expiry.
 *
 * ARP_ENTRIES entries; a full cache evicts the entry closest to expiry
 * (pending ones first). A VALID entry lives ARP_TTL_NS after it was last
 * confirmed by a frame from its owner; it expires when next used, so it
 * needs no timer. A PENDING entry holds the one most
 * recent frame waiting for the address (older ones are dropped and counted:
 * TCP retransmits) and repeats its request every ARP_RETRY_NS, ARP_RETRIES
 * times, after which the entry and its frame are dropped. TCP calls
 * arp_suspect() from its second retransmission timeout in a row on: the
 * entry is dropped and asked for again (a peer whose interface was deleted
 * and re-created has a new MAC and sends nothing to tell us).
 */
#include "net_stack.h"
#include <string.h>

#define ARP_HLEN 28

static struct arp_entry *arp_find(struct net_stack *st, uint32_t ip)
{
	for (int i = 0; i < ARP_ENTRIES; i++)
		if (st->arp[i].state != ARP_FREE && st->arp[i].ip == ip)
			return &st->arp[i];
	return NULL;
}

/* A free entry, or the one to evict. */
static struct arp_entry *arp_slot(struct net_stack *st)
{
	struct arp_entry *victim = NULL;

	for (int i = 0; i < ARP_ENTRIES; i++) {
		struct arp_entry *e = &st->arp[i];
		if (e->state == ARP_FREE)
			return e;
		if (victim == NULL || (e->state == ARP_PENDING && victim->state == ARP_VALID) ||
		    (e->state == victim->state && e->deadline < victim->deadline))
			victim = e;
	}
	st->cnt.arp_evict++;
	if (victim->held_len)
		st->cnt.arp_unresolved++;
	victim->state = ARP_FREE;
	victim->held_len = 0;
	return victim;
}

static int arp_send(struct net_stack *st, uint16_t op, const uint8_t *tha, uint32_t tip,
		    const uint8_t *dst)
{
	uint8_t *a = st->tx + ETH_HLEN;

	wr16(a, 1); /* Ethernet */
	wr16(a + 2, ETH_TYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, op);
	memcpy(a + 8, st->cfg.mac, 6);
	wr32(a + 14, st->ip);
	memcpy(a + 18, tha, 6);
	wr32(a + 24, tip);
	st->cnt.arp_out++;
	return eth_output(st, dst, ETH_TYPE_ARP, ARP_HLEN);
}

static void arp_request(struct net_stack *st, struct arp_entry *e, uint64_t now)
{
	static const uint8_t zero[6];

	e->tries++;
	e->deadline = now + ARP_RETRY_NS;
	arp_send(st, 1, zero, e->ip, eth_broadcast);
}

/* Record ip -> mac; sends the held frame when the entry was pending. */
static void arp_learn(struct net_stack *st, struct arp_entry *e, uint32_t ip, const uint8_t *mac)
{
	bool was_pending = e->state == ARP_PENDING;

	e->ip = ip;
	memcpy(e->mac, mac, 6);
	e->state = ARP_VALID;
	e->tries = 0;
	e->deadline = net_now(st) + ARP_TTL_NS;
	if (was_pending && e->held_len) {
		size_t len = e->held_len;
		e->held_len = 0;
		memcpy(st->tx + ETH_HLEN, e->held, len);
		eth_output(st, e->mac, ETH_TYPE_IPV4, len);
	}
}

void arp_input(struct net_stack *st, const uint8_t *a, size_t len)
{
	st->cnt.arp_in++;
	if (len < ARP_HLEN || rd16(a) != 1 || rd16(a + 2) != ETH_TYPE_IPV4 || a[4] != 6 ||
	    a[5] != 4) {
		st->cnt.arp_drop++;
		return;
	}
	uint16_t op = rd16(a + 6);
	uint32_t sip = rd32(a + 14), tip = rd32(a + 24);
	const uint8_t *sha = a + 8;
	if ((op != 1 && op != 2) || sip == 0 || (sha[0] & 1) || st->ip == 0) {
		st->cnt.arp_drop++;
		return;
	}
	if (op == 1)
		st->cnt.arp_req_in++;
	else
		st->cnt.arp_reply_in++;
	/* RFC 826: update an existing entry for the sender; add one only when
	 * the frame is for us (no cache poisoning by third-party chatter). */
	struct arp_entry *e = arp_find(st, sip);
	if (e != NULL)
		arp_learn(st, e, sip, sha);
	if (tip != st->ip)
		return;
	if (e == NULL && sip != st->ip)
		arp_learn(st, arp_slot(st), sip, sha);
	if (op == 1)
		arp_send(st, 2, sha, sip, sha);
}

int arp_output(struct net_stack *st, uint32_t nh, size_t len)
{
	struct arp_entry *e = arp_find(st, nh);
	uint64_t now = net_now(st);

	if (e != NULL && e->state == ARP_VALID) {
		if (now < e->deadline)
			return eth_output(st, e->mac, ETH_TYPE_IPV4, len);
		st->cnt.arp_expired++;
		e->state = ARP_FREE;
		e = NULL;
	}
	bool fresh = e == NULL;
	if (fresh) {
		e = arp_slot(st);
		e->state = ARP_PENDING;
		e->ip = nh;
		e->tries = 0;
	}
	if (e->held_len)
		st->cnt.arp_unresolved++;
	/* Keep the packet before the request overwrites the frame buffer. */
	memcpy(e->held, st->tx + ETH_HLEN, len);
	e->held_len = (uint16_t)len;
	if (fresh)
		arp_request(st, e, now);
	return 0;
}

void arp_timers(struct net_stack *st, uint64_t now)
{
	for (int i = 0; i < ARP_ENTRIES; i++) {
		struct arp_entry *e = &st->arp[i];
		if (e->state == ARP_FREE || now < e->deadline)
			continue;
		if (e->state == ARP_VALID) {
			st->cnt.arp_expired++;
			e->state = ARP_FREE;
		} else if (e->tries >= ARP_RETRIES) {
			if (e->held_len)
				st->cnt.arp_unresolved++;
			e->held_len = 0;
			e->state = ARP_FREE;
		} else {
			arp_request(st, e, now);
		}
	}
}

uint64_t arp_deadline(struct net_stack *st)
{
	uint64_t d = UINT64_MAX;

	/* Only pending requests need a wake-up: valid entries expire when next
	 * used (or here), so an idle VM is not woken once a minute per peer. */
	for (int i = 0; i < ARP_ENTRIES; i++)
		if (st->arp[i].state == ARP_PENDING && st->arp[i].deadline < d)
			d = st->arp[i].deadline;
	return d;
}

void arp_confirm(struct net_stack *st, uint32_t ip, const uint8_t mac[6])
{
	struct arp_entry *e = arp_find(st, ip);

	if (e != NULL && e->state == ARP_VALID && memcmp(e->mac, mac, 6) == 0)
		e->deadline = net_now(st) + ARP_TTL_NS;
}

void arp_suspect(struct net_stack *st, uint32_t ip)
{
	struct arp_entry *e = arp_find(st, ip);

	if (e != NULL && e->state == ARP_VALID) {
		e->state = ARP_FREE;
		st->cnt.arp_reprobe++;
	}
}

/*
 * A scripted TCP peer for the tests of the stack's TCP against hand-built
 * segments: the stack under test is end 0 of a wire_single() with its
 * output captured; the peer is 198.18.0.2 and answers the stack's ARP
 * requests itself, taking them out of the capture.
 */
#ifndef DENALI_TESTS_NET_PEER_H
#define DENALI_TESTS_NET_PEER_H

#include "harness.h"

#define LPORT 80   /* the stack's listening port */
#define RPORT 5555 /* the peer's port */

struct peer {
	struct wire *w;
	struct net_stack *st;
	struct wire_end *e;
	uint32_t seq; /* peer's next sequence number */
	uint32_t ack; /* what the peer acknowledges */
	uint16_t wnd;
	uint16_t port;
};

/* SYN options of the peer: MSS 1000, window scale 2. */
extern const uint8_t SYN_OPT[8];

void peer_init(struct peer *p, const struct net_config *cfg);
/* ARP request from the peer (the stack learns its MAC); the capture is reset. */
void prime_arp(struct peer *p);
/* A segment from the peer at p->seq (advanced by its length). */
void psend(struct peer *p, uint8_t flags, const void *data, size_t len, const uint8_t *opt,
	   size_t optlen);
/* An ACK with data at `seq`, p->seq unchanged. */
void psend_at(struct peer *p, uint32_t seq, const void *data, size_t len);
/* The last captured segment (asserted to be TCP). */
struct tcp_seg last(struct peer *p);
/* Move the clock by ns, running every timer on the way. */
void advance(struct peer *p, uint64_t ns);
int listen_sock(struct net_stack *st, int backlog);
/* Passive open from the peer to LPORT; returns the accepted socket. */
int passive_open(struct peer *p, int ls);
/* Active open from the stack to the peer's RPORT, answered after rtt. */
int active_open(struct peer *p, uint64_t rtt);
/* A pure ACK from the peer to the stack's side of socket c. */
void pack(struct peer *p, int c, uint32_t ack, uint16_t wnd);

#endif

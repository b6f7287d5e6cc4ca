/*
 * Host harness for the guest-libos TCP/IP stack: stack instances on a
 * virtual clock, wired back to back through an in-memory wire that can drop,
 * duplicate, delay and reorder frames (deterministic, seeded), or with
 * their output captured for tests that speak to one stack in hand-built
 * frames.
 */
#ifndef DENALI_TESTS_NET_HARNESS_H
#define DENALI_TESTS_NET_HARNESS_H

#include "net_stack.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_FRAMES 8192
#define CAP_MAX		256

struct wire_frame {
	int to;
	uint64_t at;
	uint16_t len;
	uint8_t data[ETH_FRAME_MAX + 4];
};

struct wire;

struct wire_end {
	struct wire *w;
	int id;
	struct net_stack *st;
	bool capture; /* keep output in cap[] instead of the wire */
	unsigned ncap;
	uint16_t cap_len[CAP_MAX];
	uint8_t cap[CAP_MAX][ETH_FRAME_MAX + 4];
	int fail_sends; /* > 0: that many sends return -EAGAIN */
	bool asleep;	/* frames for it wait on the wire, its timers do not run */
};

struct wire {
	uint64_t now;
	uint64_t seed;
	/* per mille */
	unsigned loss, dup, reorder;
	uint64_t delay_ns, jitter_ns;
	unsigned nframes;
	struct wire_frame *frames;
	struct wire_end end[2];
	uint64_t delivered, dropped;
};

/* Addresses used by the tests: 198.18.0.1 and 198.18.0.2 /24. */
#define IP_A 0xc6120001u
#define IP_B 0xc6120002u
extern const uint8_t MAC_A[6], MAC_B[6];

/* A wire with two stacks (cfg NULL: defaults). */
struct wire *wire_new(const struct net_config *cfg_a, const struct net_config *cfg_b);
/* One stack with captured output (end[0]); end[1] unused. */
struct wire *wire_single(const struct net_config *cfg);
void wire_free(struct wire *w);
void net_test_config(struct net_config *c, int which);

/* Deliver what is due, else move the clock to the next frame or timer
 * (not past `until`) and run timers. False when there was nothing to do
 * before `until`. */
bool wire_step(struct wire *w, uint64_t until);
/* Step until the clock reaches now + ns. */
void wire_run(struct wire *w, uint64_t ns);
/* Step until cond(arg) or the clock passes now + limit; returns cond. */
bool wire_until(struct wire *w, bool (*cond)(void *), void *arg, uint64_t limit);

/* ---- hand-built frames ------------------------------------------------------ */

/* Ethernet + IPv4 header around `plen` bytes at f + 34; returns frame length. */
size_t frame_ipv4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
		  uint8_t proto, size_t plen);
size_t frame_udp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 const void *data, size_t len);
size_t frame_tcp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *opt,
		 size_t optlen, const void *data, size_t len);

/* Parse a captured TCP frame; false if it is not TCP. */
bool cap_tcp(const uint8_t *f, size_t len, struct tcp_seg *s);

#endif

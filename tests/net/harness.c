/*
 * The host harness of the stack tests (see harness.h).
 */
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0, 0x0b};

static uint64_t rnd(struct wire *w)
{
	/* xorshift64* */
	w->seed ^= w->seed >> 12;
	w->seed ^= w->seed << 25;
	w->seed ^= w->seed >> 27;
	return w->seed * 2685821657736338717ull;
}

static uint64_t h_now(void *ctx)
{
	struct wire_end *e = ctx;
	return e->w->now;
}

static void enqueue(struct wire *w, int to, const void *f, size_t len, uint64_t at)
{
	if (w->nframes == WIRE_MAX_FRAMES) {
		w->dropped++;
		return;
	}
	struct wire_frame *x = &w->frames[w->nframes++];
	x->to = to;
	x->at = at;
	x->len = (uint16_t)len;
	memcpy(x->data, f, len);
}

static int h_send(void *ctx, const void *f, size_t len)
{
	struct wire_end *e = ctx;
	struct wire *w = e->w;

	if (len > ETH_FRAME_MAX + 4 || len < ETH_HLEN)
		return -EINVAL;
	if (e->fail_sends > 0) {
		e->fail_sends--;
		return -EAGAIN;
	}
	if (e->capture) {
		if (e->ncap < CAP_MAX) {
			memcpy(e->cap[e->ncap], f, len);
			e->cap_len[e->ncap++] = (uint16_t)len;
		}
		return 0;
	}
	if (w->loss && rnd(w) % 1000 < w->loss) {
		w->dropped++;
		return 0;
	}
	uint64_t at = w->now + w->delay_ns;
	if (w->reorder && rnd(w) % 1000 < w->reorder)
		at += w->jitter_ns ? rnd(w) % w->jitter_ns : 0;
	enqueue(w, 1 - e->id, f, len, at);
	if (w->dup && rnd(w) % 1000 < w->dup)
		enqueue(w, 1 - e->id, f, len, at + w->delay_ns / 2);
	return 0;
}

static void *h_alloc(void *ctx, size_t n, int zero)
{
	(void)ctx;
	void *p = malloc(n ? n : 1);
	if (p != NULL && zero)
		memset(p, 0, n);
	else if (p != NULL)
		memset(p, 0xa5, n); /* the stack must not rely on it */
	return p;
}

static void h_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void h_wait(void *ctx, struct net_stack *st, uint64_t deadline)
{
	struct wire_end *e = ctx;
	(void)st;
	if (wire_step(e->w, deadline))
		return;
	if (deadline == UINT64_MAX) {
		/* A blocking call that nothing can ever wake: a test bug. */
		fprintf(stderr, "harness: blocking call with nothing in flight and no timer\n");
		abort();
	}
	if (e->w->now < deadline)
		e->w->now = deadline;
}

void net_test_config(struct net_config *c, int which)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, which ? MAC_B : MAC_A, 6);
	c->ip = net_ntohl(which ? IP_B : IP_A);
	c->netmask = net_ntohl(0xffffff00u);
	c->gateway = net_ntohl(0xc61200feu);
	for (int i = 0; i < 32; i++)
		c->secret[i] = (uint8_t)(i * 7 + which);
	c->tcp_max_conns = 64;
	c->sockets = 64;
	/* The tests' window arithmetic is written for 16 KiB buffers (64
	 * connections would get 32 KiB by default: net_default_tcp_buf). */
	c->tcp_sndbuf = c->tcp_rcvbuf = 16u << 10;
}

static struct net_stack *mk(struct wire *w, int id, const struct net_config *cfg)
{
	struct net_config c;
	struct wire_end *e = &w->end[id];

	if (cfg == NULL)
		net_test_config(&c, id);
	else
		c = *cfg;
	e->w = w;
	e->id = id;
	struct net_platform p = {.ctx = e,
				 .now_ns = h_now,
				 .send_frame = h_send,
				 .alloc = h_alloc,
				 .free = h_free,
				 .wait = h_wait};
	e->st = net_stack_create(&c, &p);
	return e->st;
}

struct wire *wire_new(const struct net_config *a, const struct net_config *b)
{
	struct wire *w = calloc(1, sizeof(*w));
	w->frames = calloc(WIRE_MAX_FRAMES, sizeof(*w->frames));
	w->now = 1000000000ull;
	w->seed = 88172645463325252ull;
	w->delay_ns = 1000000; /* 1 ms each way */
	mk(w, 0, a);
	mk(w, 1, b);
	return w;
}

struct wire *wire_single(const struct net_config *cfg)
{
	struct wire *w = calloc(1, sizeof(*w));
	w->frames = calloc(WIRE_MAX_FRAMES, sizeof(*w->frames));
	w->now = 1000000000ull;
	w->seed = 1;
	w->end[0].capture = true;
	mk(w, 0, cfg);
	return w;
}

void wire_free(struct wire *w)
{
	for (int i = 0; i < 2; i++)
		net_stack_destroy(w->end[i].st);
	free(w->frames);
	free(w);
}

bool wire_step(struct wire *w, uint64_t until)
{
	/* Earliest frame. */
	unsigned best = w->nframes;
	for (unsigned i = 0; i < w->nframes; i++)
		if (!w->end[w->frames[i].to].asleep &&
		    (best == w->nframes || w->frames[i].at < w->frames[best].at))
			best = i;
	uint64_t t = best < w->nframes ? w->frames[best].at : UINT64_MAX;
	for (int i = 0; i < 2; i++) {
		if (w->end[i].st == NULL || w->end[i].asleep)
			continue;
		uint64_t d = net_next_deadline(w->end[i].st);
		if (d < t)
			t = d;
	}
	if (t == UINT64_MAX || t > until)
		return false;
	if (t > w->now)
		w->now = t;
	if (best < w->nframes && w->frames[best].at <= w->now) {
		static struct wire_frame f;
		f = w->frames[best];
		w->frames[best] = w->frames[--w->nframes];
		w->delivered++;
		if (w->end[f.to].st != NULL)
			net_input(w->end[f.to].st, f.data, f.len);
	}
	for (int i = 0; i < 2; i++)
		if (w->end[i].st != NULL && !w->end[i].asleep &&
		    net_next_deadline(w->end[i].st) <= w->now)
			net_timers(w->end[i].st);
	return true;
}

void wire_run(struct wire *w, uint64_t ns)
{
	uint64_t end = w->now + ns;

	while (wire_step(w, end))
		;
	if (w->now < end)
		w->now = end;
}

bool wire_until(struct wire *w, bool (*cond)(void *), void *arg, uint64_t limit)
{
	uint64_t end = w->now + limit;

	while (!cond(arg)) {
		if (!wire_step(w, end))
			return cond(arg);
	}
	return true;
}

size_t frame_ipv4(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst,
		  uint8_t proto, size_t plen)
{
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	wr16(f + 12, ETH_TYPE_IPV4);
	uint8_t *h = f + ETH_HLEN;
	memset(h, 0, IP_HLEN);
	h[0] = 0x45;
	wr16(h + 2, (uint16_t)(IP_HLEN + plen));
	h[8] = 64;
	h[9] = proto;
	wr32(h + 12, src);
	wr32(h + 16, dst);
	wr16(h + 10, net_csum_fold(net_csum_add(0, h, IP_HLEN)));
	return ETH_HLEN + IP_HLEN + plen;
}

size_t frame_udp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 const void *data, size_t len)
{
	uint8_t *u = f + ETH_HLEN + IP_HLEN;
	uint16_t n = (uint16_t)(UDP_HLEN + len);
	wr16(u, sport);
	wr16(u + 2, dport);
	wr16(u + 4, n);
	wr16(u + 6, 0);
	memcpy(u + UDP_HLEN, data, len);
	uint16_t c = net_csum_fold(net_csum_add(net_csum_pseudo(src, dst, IP_PROTO_UDP, n), u, n));
	wr16(u + 6, c ? c : 0xffff);
	return frame_ipv4(f, MAC_A, MAC_B, src, dst, IP_PROTO_UDP, n);
}

size_t frame_tcp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		 uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *opt,
		 size_t optlen, const void *data, size_t len)
{
	uint8_t *t = f + ETH_HLEN + IP_HLEN;
	uint16_t n = (uint16_t)(TCP_HLEN + optlen + len);
	memset(t, 0, TCP_HLEN);
	wr16(t, sport);
	wr16(t + 2, dport);
	wr32(t + 4, seq);
	wr32(t + 8, ack);
	t[12] = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
	t[13] = flags;
	wr16(t + 14, wnd);
	if (optlen)
		memcpy(t + TCP_HLEN, opt, optlen);
	if (len)
		memcpy(t + TCP_HLEN + optlen, data, len);
	wr16(t + 16, net_csum_fold(net_csum_add(net_csum_pseudo(src, dst, IP_PROTO_TCP, n), t, n)));
	return frame_ipv4(f, MAC_A, MAC_B, src, dst, IP_PROTO_TCP, n);
}

bool cap_tcp(const uint8_t *f, size_t len, struct tcp_seg *s)
{
	if (len < ETH_HLEN + IP_HLEN + TCP_HLEN || rd16(f + 12) != ETH_TYPE_IPV4 ||
	    f[ETH_HLEN + 9] != IP_PROTO_TCP)
		return false;
	const uint8_t *ip = f + ETH_HLEN;
	size_t tot = rd16(ip + 2);
	const uint8_t *t = ip + IP_HLEN;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	memset(s, 0, sizeof(*s));
	s->src = rd32(ip + 12);
	s->dst = rd32(ip + 16);
	s->sport = rd16(t);
	s->dport = rd16(t + 2);
	s->seq = rd32(t + 4);
	s->ack = rd32(t + 8);
	s->flags = t[13];
	s->wnd = rd16(t + 14);
	s->ws = -1;
	for (size_t i = TCP_HLEN; i < doff && t[i] != 0;) {
		if (t[i] == 1) {
			i++;
			continue;
		}
		if (t[i] == 2)
			s->mss = rd16(t + i + 2);
		if (t[i] == 3)
			s->ws = (int8_t)t[i + 2];
		i += t[i + 1] ? t[i + 1] : 1;
	}
	s->data = t + doff;
	s->len = (uint32_t)(tot - IP_HLEN - doff);
	return true;
}

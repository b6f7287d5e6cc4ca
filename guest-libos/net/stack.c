/*
 * The stack instance: creation with every pool allocated once, Ethernet
 * input and output, the timer entry points, ephemeral ports and the
 * counters, printed one line per layer.
 */
#include "net_stack.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const uint8_t eth_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define DEF_CONNS  128
#define DEF_SOCKS  160
#define DEF_UDPBUF (16u << 10)
#define DEF_TW_NS  (1000 * TCP_MS)

/*
 * Default TCP buffers (tcp_sndbuf/tcp_rcvbuf 0): the budget the default pool
 * always took (128 connections of 16 KiB each way) shared by the pool's
 * connections, each direction clamped to 16..64 KiB. A stack made for many
 * connections keeps 16 KiB; one made for a few gets windows a bulk transfer
 * can fill: the receive window is all a sender may have in flight, and in a
 * VM one window costs a whole exit round trip, so 16 KiB per round trip
 * bounded host -> VM bulk TCP (bench/tcp).
 */
#define DEF_BUF_BUDGET (DEF_CONNS * 2u * (16u << 10))
#define DEF_BUF_MIN    (16u << 10)
#define DEF_BUF_MAX    (64u << 10)

uint32_t net_default_tcp_buf(uint32_t conns)
{
	uint32_t b = conns ? DEF_BUF_BUDGET / 2u / conns : DEF_BUF_MAX;

	if (b > DEF_BUF_MAX)
		b = DEF_BUF_MAX;
	if (b < DEF_BUF_MIN)
		b = DEF_BUF_MIN;
	return b & ~4095u;
}

static void *zalloc(struct net_stack *st, size_t n)
{
	return st->plat.alloc(st->plat.ctx, n, 1);
}

struct net_stack *net_stack_create(const struct net_config *cfg, const struct net_platform *plat)
{
	if (plat->alloc == NULL || plat->now_ns == NULL || plat->send_frame == NULL)
		return NULL;
	struct net_stack *st = plat->alloc(plat->ctx, sizeof(*st), 1);
	if (st == NULL)
		return NULL;
	st->cfg = *cfg;
	st->plat = *plat;
	struct net_config *c = &st->cfg;
	if (c->mtu == 0 || c->mtu > ETH_FRAME_MAX - ETH_HLEN)
		c->mtu = ETH_FRAME_MAX - ETH_HLEN;
	if (c->mtu < 576)
		c->mtu = 576;
	if (c->tcp_max_conns == 0)
		c->tcp_max_conns = DEF_CONNS;
	if (c->tcp_sndbuf < 2048)
		c->tcp_sndbuf = c->tcp_sndbuf ? 2048 : net_default_tcp_buf(c->tcp_max_conns);
	if (c->tcp_rcvbuf < 2048)
		c->tcp_rcvbuf = c->tcp_rcvbuf ? 2048 : net_default_tcp_buf(c->tcp_max_conns);
	if (c->tcp_rcvbuf > (1u << 30) || c->tcp_sndbuf > (1u << 30))
		goto fail;
	if (c->sockets == 0)
		c->sockets = DEF_SOCKS;
	if (c->udp_rcvbuf < 2048)
		c->udp_rcvbuf = DEF_UDPBUF;
	if (c->time_wait_ns == 0)
		c->time_wait_ns = DEF_TW_NS;
	st->mtu = c->mtu;
	st->ip = net_ntohl(c->ip);
	st->mask = net_ntohl(c->netmask);
	st->gw = net_ntohl(c->gateway);
	for (int i = 0; i < 16; i++)
		st->isn_key[i] = c->secret[i] ^ c->secret[16 + i];
	st->eph_next = (uint16_t)(49152 + (net_siphash(st->isn_key, "port", 4) % 16384));

	st->nudp = NET_UDP_PCBS;
	st->udp = zalloc(st, sizeof(*st->udp) * st->nudp);
	st->nsocks = c->sockets;
	st->socks = zalloc(st, sizeof(*st->socks) * st->nsocks);
	/* One block: a buffer nobody receives into stays an untouched page (a
	 * block of its own would have its header written in it). */
	st->udp_mem = plat->alloc(plat->ctx, (size_t)c->udp_rcvbuf * st->nudp, 0);
	if (st->udp == NULL || st->socks == NULL || st->udp_mem == NULL)
		goto fail;
	for (uint32_t i = 0; i < st->nudp; i++) {
		st->udp[i].size = c->udp_rcvbuf;
		st->udp[i].buf = st->udp_mem + (size_t)c->udp_rcvbuf * i;
	}
	if (tcp_init(st) < 0)
		goto fail;
	return st;
fail:
	net_stack_destroy(st);
	return NULL;
}

void net_stack_destroy(struct net_stack *st)
{
	if (st == NULL)
		return;
	void (*f)(void *, void *) = st->plat.free;
	void *ctx = st->plat.ctx;
	if (f == NULL)
		return;
	f(ctx, st->udp_mem);
	f(ctx, st->udp);
	f(ctx, st->socks);
	f(ctx, st->conns);
	f(ctx, st->tcp_mem);
	f(ctx, st);
}

int eth_output(struct net_stack *st, const uint8_t dst[6], uint16_t type, size_t len)
{
	uint8_t *f = st->tx;

	memcpy(f, dst, 6);
	memcpy(f + 6, st->cfg.mac, 6);
	wr16(f + 12, type);
	size_t n = ETH_HLEN + len;
	if (n < 60) { /* minimum frame without FCS */
		memset(f + n, 0, 60 - n);
		n = 60;
	}
	int rc = st->plat.send_frame(st->plat.ctx, f, n);
	if (rc < 0) {
		st->cnt.tx_fail++;
		return rc;
	}
	st->cnt.eth_out++;
	return 0;
}

void net_input(struct net_stack *st, const void *frame, size_t len)
{
	const uint8_t *f = frame;

	st->cnt.eth_in++;
	if (len < ETH_HLEN || len > ETH_FRAME_MAX + 4) {
		st->cnt.eth_drop_short++;
		return;
	}
	if (memcmp(f, st->cfg.mac, 6) != 0 && memcmp(f, eth_broadcast, 6) != 0) {
		st->cnt.eth_drop_addr++;
		return;
	}
	if (memcmp(f + 6, st->cfg.mac, 6) == 0 || (f[6] & 1)) { /* our own or multicast source */
		st->cnt.eth_drop_addr++;
		return;
	}
	switch (rd16(f + 12)) {
	case ETH_TYPE_ARP:
		arp_input(st, f + ETH_HLEN, len - ETH_HLEN);
		break;
	case ETH_TYPE_IPV4:
		ipv4_input(st, f + 6, f + ETH_HLEN, len - ETH_HLEN);
		break;
	default:
		st->cnt.eth_drop_type++;
	}
}

void net_timers(struct net_stack *st)
{
	uint64_t now = net_now(st);

	arp_timers(st, now);
	tcp_timers(st, now);
}

uint64_t net_next_deadline(struct net_stack *st)
{
	uint64_t a = arp_deadline(st), t = tcp_deadline(st);

	return a < t ? a : t;
}

const struct net_counters *net_counters(const struct net_stack *st)
{
	return &st->cnt;
}

uint32_t net_tcp_conns_in_use(const struct net_stack *st)
{
	return st->conns_in_use;
}

static bool port_used(struct net_stack *st, uint8_t proto, uint16_t port)
{
	if (proto == IP_PROTO_TCP)
		return tcp_port_used(st, port);
	for (uint32_t i = 0; i < st->nudp; i++)
		if (st->udp[i].used && st->udp[i].lport == port)
			return true;
	return false;
}

uint16_t net_ephemeral_port(struct net_stack *st, uint8_t proto)
{
	for (int i = 0; i < 16384; i++) {
		uint16_t p = st->eph_next;
		st->eph_next = (uint16_t)(p == 65535 ? 49152 : p + 1);
		if (!port_used(st, proto, p))
			return p;
	}
	return 0;
}

/* ---- counters ------------------------------------------------------------ */

static const char *const state_names[NET_TCP_NSTATES] = {
    "closed",	  "listen",	"syn_sent", "syn_rcvd", "established", "fin_wait_1",
    "fin_wait_2", "close_wait", "closing",  "last_ack", "time_wait",
};

struct pr {
	void (*out)(const char *s, size_t n);
	size_t total;
};

__attribute__((format(printf, 2, 3))) static void pr(struct pr *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	p->out(buf, (size_t)n);
	p->total += (size_t)n;
}

#define U(x) ((unsigned long long)(x))

size_t net_counters_print(const struct net_stack *st, void (*out)(const char *s, size_t n))
{
	const struct net_counters *c = &st->cnt;
	struct pr p = {out, 0};

	pr(&p,
	   "net eth: in %llu out %llu drop_short %llu drop_addr %llu drop_type %llu tx_fail %llu\n",
	   U(c->eth_in), U(c->eth_out), U(c->eth_drop_short), U(c->eth_drop_addr),
	   U(c->eth_drop_type), U(c->tx_fail));
	pr(&p,
	   "net arp: in %llu out %llu req_in %llu reply_in %llu drop %llu evict %llu expired %llu "
	   "unresolved %llu reprobe %llu\n",
	   U(c->arp_in), U(c->arp_out), U(c->arp_req_in), U(c->arp_reply_in), U(c->arp_drop),
	   U(c->arp_evict), U(c->arp_expired), U(c->arp_unresolved), U(c->arp_reprobe));
	pr(&p,
	   "net ip: in %llu out %llu drop_hdr %llu drop_csum %llu drop_frag %llu drop_addr %llu "
	   "drop_proto %llu drop_noroute %llu\n",
	   U(c->ip_in), U(c->ip_out), U(c->ip_drop_hdr), U(c->ip_drop_csum), U(c->ip_drop_frag),
	   U(c->ip_drop_addr), U(c->ip_drop_proto), U(c->ip_drop_noroute));
	pr(&p, "net icmp: in %llu echo_out %llu drop %llu\n", U(c->icmp_in), U(c->icmp_echo_out),
	   U(c->icmp_drop));
	pr(&p,
	   "net udp: in %llu out %llu drop_hdr %llu drop_csum %llu drop_noport %llu drop_full "
	   "%llu\n",
	   U(c->udp_in), U(c->udp_out), U(c->udp_drop_hdr), U(c->udp_drop_csum),
	   U(c->udp_drop_noport), U(c->udp_drop_full));
	pr(&p,
	   "net tcp: seg_in %llu seg_out %llu retrans %llu fast_retrans %llu rto %llu "
	   "window_probes %llu delayed_acks %llu ooo %llu rst_in %llu rst_out %llu\n",
	   U(c->tcp_seg_in), U(c->tcp_seg_out), U(c->tcp_retrans), U(c->tcp_fast_retrans),
	   U(c->tcp_rto), U(c->tcp_window_probes), U(c->tcp_delayed_acks), U(c->tcp_ooo),
	   U(c->tcp_rst_in), U(c->tcp_rst_out));
	pr(&p,
	   "net tcp drops: hdr %llu csum %llu noconn %llu backlog %llu nomem %llu window %llu "
	   "ack %llu\n",
	   U(c->tcp_drop_hdr), U(c->tcp_drop_csum), U(c->tcp_drop_noconn), U(c->tcp_drop_backlog),
	   U(c->tcp_drop_nomem), U(c->tcp_drop_window), U(c->tcp_drop_ack));
	pr(&p,
	   "net tcp conns: active_opens %llu passive_opens %llu aborts %llu timewait_recycled %llu "
	   "keepalive_probes %llu in_use %u\n",
	   U(c->tcp_active_opens), U(c->tcp_passive_opens), U(c->tcp_aborts),
	   U(c->tcp_timewait_recycled), U(c->tcp_keepalive_probes), st->conns_in_use);
	pr(&p, "net tcp states:");
	for (int i = 0; i < NET_TCP_NSTATES; i++)
		pr(&p, " %s %u", state_names[i], c->tcp_state[i]);
	pr(&p, "\n");
	return p.total;
}

/*
 * Counters printed one line per layer, for a guest's exit report.
 */
#include "net_stack.h"
#include <stdarg.h>
#include <stdio.h>

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
	   "unresolved %llu\n",
	   U(c->arp_in), U(c->arp_out), U(c->arp_req_in), U(c->arp_reply_in), U(c->arp_drop),
	   U(c->arp_evict), U(c->arp_expired), U(c->arp_unresolved));
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

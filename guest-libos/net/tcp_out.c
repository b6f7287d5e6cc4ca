/*
 * TCP output: segments built in the stack's frame buffer, the sending
 * decision (receiver window, congestion window, FIN after the data), and
 * control segments (SYN, ACK, RST).
 *
 * Congestion control is Reno with NewReno's partial-ACK rule (RFC 5681,
 * RFC 6582): initial window 10 segments (RFC 6928), slow start, congestion
 * avoidance, one segment on loss (RTO); fast retransmit lives in tcp_in.c.
 * No Nagle: a write is sent as soon as the windows allow.
 */
#include "net_stack.h"
#include <string.h>

uint32_t tcp_rcv_window(const struct tcp_conn *c)
{
	uint32_t free = c->rcv.size - c->rcv.len;
	uint32_t max = 65535u << c->rcv_ws;

	if (free > max)
		free = max;
	/* Never move the right edge back (RFC 793, RFC 7323 2.4). */
	if (SEQ_GT(c->rcv_adv, c->rcv_nxt + free))
		free = c->rcv_adv - c->rcv_nxt;
	return free;
}

/* Header, options and checksum around `len` payload bytes already in place
 * at ipv4_payload(st) + TCP_HLEN + optlen. */
static int tcp_emit(struct net_stack *st, struct tcp_conn *c, uint32_t seq, uint8_t flags,
		    const uint8_t *opt, uint32_t optlen, uint32_t len)
{
	uint8_t *h = ipv4_payload(st);
	uint32_t wnd = 0;
	bool syn = flags & TH_SYN;

	if (flags & TH_ACK) {
		/* The window of a SYN is never scaled (RFC 7323 2.2). */
		unsigned shift = (syn || !c->ws_ok) ? 0 : c->rcv_ws;
		uint32_t w = tcp_rcv_window(c);
		uint32_t adv = w >> shift;
		if (adv > 65535)
			adv = 65535;
		/* Rounding must not pull the edge back either. */
		if (adv < 65535 && SEQ_LT(c->rcv_nxt + (adv << shift), c->rcv_adv))
			adv++;
		if (SEQ_GT(c->rcv_nxt + (adv << shift), c->rcv_adv))
			c->rcv_adv = c->rcv_nxt + (adv << shift);
		wnd = adv;
	}
	wr16(h, c->lport);
	wr16(h + 2, c->rport);
	wr32(h + 4, seq);
	wr32(h + 8, (flags & TH_ACK) ? c->rcv_nxt : 0);
	h[12] = (uint8_t)(((TCP_HLEN + optlen) / 4) << 4);
	h[13] = flags;
	wr16(h + 14, (uint16_t)wnd);
	wr32(h + 16, 0); /* checksum, urgent pointer */
	if (optlen)
		memcpy(h + TCP_HLEN, opt, optlen);
	uint16_t n = (uint16_t)(TCP_HLEN + optlen + len);
	uint32_t sum = net_csum_pseudo(c->lip, c->rip, IP_PROTO_TCP, n);
	wr16(h + 16, net_csum_fold(net_csum_add(sum, h, n)));
	st->cnt.tcp_seg_out++;
	if (flags & TH_RST)
		st->cnt.tcp_rst_out++;
	if (flags & TH_ACK) {
		c->ack_now = false;
		c->t_delack = 0;
		c->unacked = 0;
	}
	return ipv4_output(st, c->rip, IP_PROTO_TCP, n);
}

int tcp_send_syn(struct net_stack *st, struct tcp_conn *c)
{
	uint8_t opt[8];
	uint32_t optlen = 4;
	uint8_t flags = TH_SYN;

	opt[0] = 2; /* MSS */
	opt[1] = 4;
	wr16(opt + 2, (uint16_t)(st->mtu - IP_HLEN - TCP_HLEN));
	/* Window scale: always on an active open, echoed on a passive one. */
	if (c->state == TCP_SYN_SENT || c->ws_ok) {
		opt[4] = 1; /* NOP */
		opt[5] = 3;
		opt[6] = 3;
		opt[7] = c->rcv_ws;
		optlen = 8;
	}
	if (c->state == TCP_SYN_RCVD)
		flags |= TH_ACK;
	if (c->snd_max != c->iss)
		st->cnt.tcp_retrans++;
	c->snd_nxt = c->snd_max = c->iss + 1;
	return tcp_emit(st, c, c->iss, flags, opt, optlen, 0);
}

int tcp_xmit(struct net_stack *st, struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
{
	if (len)
		ring_read_at(&c->snd, seq - c->snd_una, ipv4_payload(st) + TCP_HLEN, len);
	if (SEQ_LT(seq, c->snd_max))
		st->cnt.tcp_retrans++;
	return tcp_emit(st, c, seq, flags | TH_ACK, NULL, 0, len);
}

void tcp_send_ack(struct net_stack *st, struct tcp_conn *c)
{
	tcp_emit(st, c, c->snd_nxt, TH_ACK, NULL, 0, 0);
}

void tcp_send_rst(struct net_stack *st, struct tcp_conn *c)
{
	tcp_emit(st, c, c->snd_nxt, TH_RST | TH_ACK, NULL, 0, 0);
}

void tcp_reset_reply(struct net_stack *st, const struct tcp_seg *s)
{
	struct tcp_conn tmp;

	if (s->flags & TH_RST)
		return;
	memset(&tmp, 0, sizeof(tmp));
	tmp.lip = s->dst;
	tmp.rip = s->src;
	tmp.lport = s->dport;
	tmp.rport = s->sport;
	if (s->flags & TH_ACK) {
		tcp_emit(st, &tmp, s->ack, TH_RST, NULL, 0, 0);
	} else {
		tmp.rcv_nxt =
		    s->seq + s->len + ((s->flags & TH_SYN) ? 1 : 0) + ((s->flags & TH_FIN) ? 1 : 0);
		tmp.rcv_adv = tmp.rcv_nxt;
		tcp_emit(st, &tmp, 0, TH_RST | TH_ACK, NULL, 0, 0);
	}
}

void tcp_output(struct net_stack *st, struct tcp_conn *c)
{
	if (c->state < TCP_ESTABLISHED || c->state == TCP_TIME_WAIT) {
		if (c->ack_now && c->state >= TCP_ESTABLISHED)
			tcp_send_ack(st, c);
		return;
	}
	for (;;) {
		uint32_t sent = c->snd_nxt - c->snd_una; /* may count our FIN */
		uint32_t unsent = sent < c->snd.len ? c->snd.len - sent : 0;
		uint32_t win = c->snd_wnd < c->cwnd ? c->snd_wnd : c->cwnd;
		uint32_t usable =
		    SEQ_GT(c->snd_una + win, c->snd_nxt) ? c->snd_una + win - c->snd_nxt : 0;
		uint32_t n = unsent < usable ? unsent : usable;
		if (n > c->mss)
			n = c->mss;
		bool fin = c->fin_queued && n == unsent && SEQ_LEQ(c->snd_nxt + n, c->fin_seq) &&
			   c->snd_nxt + n == c->fin_seq;
		if (n == 0 && !fin)
			break;
		/* Sender silly-window avoidance: no small segment while the
		 * window is what limits us and data is in flight. */
		if (n < c->mss && n < unsent && c->snd_nxt != c->snd_una)
			break;
		uint8_t flags = fin ? TH_FIN : 0;
		if (n == unsent)
			flags |= TH_PSH;
		if (tcp_xmit(st, c, c->snd_nxt, n, flags) < 0)
			break;
		if (!c->rtt_on && c->snd_nxt == c->snd_max) {
			c->rtt_on = true;
			c->rtt_seq = c->snd_nxt;
			c->rtt_ts = net_now(st);
		}
		c->snd_nxt += n + (fin ? 1 : 0);
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (c->t_rexmt == 0 || c->persist) {
			c->persist = false;
			tcp_rexmt_arm(st, c);
		}
		if (fin)
			break;
	}
	if (c->ack_now)
		tcp_send_ack(st, c);
	/* Zero window with data waiting and nothing in flight: persist. */
	uint32_t sent = c->snd_nxt - c->snd_una;
	if (c->snd_wnd == 0 && c->snd.len > sent && c->snd_una == c->snd_max && c->t_rexmt == 0) {
		c->persist = true;
		tcp_rexmt_arm(st, c);
	}
}

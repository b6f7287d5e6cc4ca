/*
 * TCP input: header and option parsing, then RFC 793's "SEGMENT ARRIVES"
 * for each state, with RFC 5961's challenge ACKs for RSTs and SYNs that are
 * in the window but not exact, RFC 5681/6582 duplicate-ACK handling (fast
 * retransmit on the third, earlier with fewer than four segments out: RFC
 * 5827; limited transmit on the first two: RFC 3042) and delayed ACKs (every second segment at
 * once, otherwise after TCP_DELACK; out-of-order and hole-filling segments are ACKed at once).
 */
#include "net_stack.h"

static int tcp_parse(const uint8_t *p, size_t len, uint32_t src, uint32_t dst, struct tcp_seg *s)
{
	if (len < TCP_HLEN)
		return -1;
	size_t doff = (size_t)(p[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > len)
		return -1;
	if (net_csum_fold(
		net_csum_add(net_csum_pseudo(src, dst, IP_PROTO_TCP, (uint16_t)len), p, len)) != 0)
		return -2;
	s->src = src;
	s->dst = dst;
	s->sport = rd16(p);
	s->dport = rd16(p + 2);
	s->seq = rd32(p + 4);
	s->ack = rd32(p + 8);
	s->flags = p[13] & 0x3f;
	s->wnd = rd16(p + 14);
	s->mss = 0;
	s->ws = -1;
	s->data = p + doff;
	s->len = (uint32_t)(len - doff);
	if (s->sport == 0 || s->dport == 0)
		return -1;
	for (size_t i = TCP_HLEN; i < doff;) {
		uint8_t kind = p[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || p[i + 1] < 2 || i + p[i + 1] > doff)
			return -1;
		if (kind == 2 && p[i + 1] == 4 && (s->flags & TH_SYN))
			s->mss = rd16(p + i + 2);
		if (kind == 3 && p[i + 1] == 3 && (s->flags & TH_SYN))
			s->ws = (int8_t)(p[i + 2] > 14 ? 14 : p[i + 2]);
		i += p[i + 1];
	}
	return 0;
}

/* Options of the peer's SYN. */
static void syn_options(struct tcp_conn *c, const struct tcp_seg *s)
{
	uint16_t peer = s->mss ? s->mss : TCP_DEFAULT_MSS;

	if (peer < 64)
		peer = 64;
	if (peer < c->mss)
		c->mss = peer;
	if (s->ws >= 0) {
		c->ws_ok = true;
		c->snd_ws = (uint8_t)s->ws;
	} else {
		c->ws_ok = false;
		c->snd_ws = 0;
		c->rcv_ws = 0;
	}
}

static void established(struct net_stack *st, struct tcp_conn *c)
{
	tcp_set_state(st, c, TCP_ESTABLISHED);
	c->cwnd = 10u * c->mss;
	c->t_rexmt = 0;
	c->nrexmt = 0;
	if (c->keepalive)
		c->t_misc = net_now(st) + TCP_KEEP_IDLE;
}

static void listen_input(struct net_stack *st, struct tcp_conn *l, const struct tcp_seg *s)
{
	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK) {
		tcp_reset_reply(st, s);
		return;
	}
	if (!(s->flags & TH_SYN) || (s->flags & TH_FIN))
		return;
	if (l->n_child >= l->backlog) {
		st->cnt.tcp_drop_backlog++;
		return;
	}
	struct tcp_conn *c = tcp_alloc(st);
	if (c == NULL) {
		st->cnt.tcp_drop_nomem++;
		return;
	}
	tcp_conn_setup(st, c);
	c->lip = s->dst;
	c->lport = s->dport;
	c->rip = s->src;
	c->rport = s->sport;
	c->parent = l;
	l->n_child++;
	c->keepalive = l->keepalive;
	c->irs = s->seq;
	c->rcv_nxt = c->rcv_adv = s->seq + 1;
	syn_options(c, s);
	c->snd_wnd = s->wnd;
	c->snd_wl1 = s->seq;
	c->iss = tcp_isn(st, c->lip, c->lport, c->rip, c->rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	tcp_set_state(st, c, TCP_SYN_RCVD);
	st->cnt.tcp_passive_opens++;
	c->rtt_ts = net_now(st);
	tcp_send_syn(st, c);
	tcp_rexmt_arm(st, c);
}

static void syn_sent_input(struct net_stack *st, struct tcp_conn *c, const struct tcp_seg *s)
{
	bool ack = s->flags & TH_ACK;

	if (ack && (SEQ_LEQ(s->ack, c->iss) || SEQ_GT(s->ack, c->snd_max))) {
		tcp_reset_reply(st, s);
		return;
	}
	if (s->flags & TH_RST) {
		if (ack) {
			st->cnt.tcp_rst_in++;
			tcp_drop(st, c, ECONNREFUSED);
		}
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	c->irs = s->seq;
	c->rcv_nxt = c->rcv_adv = s->seq + 1;
	syn_options(c, s);
	c->snd_wnd = s->wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	if (!ack) { /* simultaneous open */
		tcp_set_state(st, c, TCP_SYN_RCVD);
		tcp_send_syn(st, c);
		tcp_rexmt_arm(st, c);
		return;
	}
	c->snd_una = s->ack;
	if (c->nrexmt == 0)
		tcp_rtt_sample(c, net_now(st) - c->rtt_ts);
	established(st, c);
	c->ack_now = true;
	tcp_output(st, c);
}

static void process_fin(struct net_stack *st, struct tcp_conn *c)
{
	c->rcv_nxt++;
	c->reass.fin = false;
	c->ack_now = true;
	switch (c->state) {
	case TCP_ESTABLISHED:
		tcp_set_state(st, c, TCP_CLOSE_WAIT);
		break;
	case TCP_FIN_WAIT_1:
		tcp_set_state(st, c, TCP_CLOSING);
		break;
	case TCP_FIN_WAIT_2:
		tcp_enter_time_wait(st, c);
		break;
	default:
		break;
	}
}

static void receive_data(struct net_stack *st, struct tcp_conn *c, const struct tcp_seg *s)
{
	uint32_t seq = s->seq, len = s->len;
	const uint8_t *data = s->data;
	bool fin = s->flags & TH_FIN;

	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;
		if (skip > len) {
			len = 0;
			fin = false;
		} else {
			data += skip;
			len -= skip;
		}
		seq = c->rcv_nxt;
		c->ack_now = true;
	}
	uint32_t room = c->rcv.size - c->rcv.len, off = seq - c->rcv_nxt;
	if (off >= room) {
		if (len)
			st->cnt.tcp_drop_window++;
		fin = fin && off == 0 && len == 0;
		len = 0;
		c->ack_now = true;
	} else if (off + len > room) {
		len = room - off;
		fin = false;
		c->ack_now = true;
	}
	if (len > 0) {
		ring_write_at(&c->rcv, c->rcv.len + off, data, len);
		if (off == 0) {
			bool had = c->reass.n > 0;
			c->rcv.len += len;
			c->rcv_nxt += len;
			uint32_t more = reass_take(&c->reass, c->rcv_nxt);
			c->rcv.len += more;
			c->rcv_nxt += more;
			if (had)
				c->ack_now = true;
			else if (++c->unacked >= 2)
				c->ack_now = true;
			else if (c->t_delack == 0)
				c->t_delack = net_now(st) + TCP_DELACK;
		} else {
			st->cnt.tcp_ooo++;
			if (!reass_add(&c->reass, seq, len))
				st->cnt.tcp_drop_nomem++;
			c->ack_now = true;
		}
	}
	if (fin) {
		uint32_t at = seq + len;
		if (at == c->rcv_nxt) {
			process_fin(st, c);
		} else {
			c->reass.fin = true;
			c->reass.fin_seq = at;
			c->ack_now = true;
		}
	} else if (c->reass.fin && c->reass.fin_seq == c->rcv_nxt) {
		process_fin(st, c);
	}
}

/* Bytes written by the application and never sent. */
static uint32_t tcp_unsent(const struct tcp_conn *c)
{
	uint32_t sent = c->snd_max - c->snd_una;
	return sent < c->snd.len ? c->snd.len - sent : 0;
}

/* Three duplicates (RFC 5681), fewer when fewer segments are out and
 * nothing new can be sent to make more (early retransmit, RFC 5827). */
static uint8_t dupack_threshold(const struct tcp_conn *c)
{
	uint32_t segs = (c->snd_max - c->snd_una + c->mss - 1) / c->mss;
	if (segs >= 4 || tcp_unsent(c) > 0)
		return 3;
	return segs > 1 ? (uint8_t)(segs - 1) : 1;
}

static void fast_retransmit(struct net_stack *st, struct tcp_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;
	st->cnt.tcp_fast_retrans++;
	c->ssthresh = flight / 2 > 2u * c->mss ? flight / 2 : 2u * c->mss;
	c->recover = c->snd_max;
	c->in_recovery = true;
	c->rtt_on = false;
	uint32_t n = c->snd.len < c->mss ? c->snd.len : c->mss;
	bool fin = c->fin_queued && c->snd_una + n == c->fin_seq;
	tcp_xmit(st, c, c->snd_una, n, fin ? TH_FIN : 0);
	c->cwnd = c->ssthresh + (uint32_t)c->dupacks * c->mss;
	tcp_rexmt_arm(st, c);
}

/* RFC 3042: the first and second duplicates each send one new segment the
 * receiver's window allows, beyond the congestion window, so that a small
 * window still makes the duplicates fast retransmit needs. */
static void limited_transmit(struct net_stack *st, struct tcp_conn *c, uint32_t wnd)
{
	uint32_t unsent = tcp_unsent(c);
	uint32_t n = unsent < c->mss ? unsent : c->mss;
	if (c->dupacks > 2 || n == 0 || c->snd_nxt != c->snd_max ||
	    SEQ_GT(c->snd_nxt + n, c->snd_una + wnd))
		return;
	if (tcp_xmit(st, c, c->snd_nxt, n, n == unsent ? TH_PSH : 0) < 0)
		return;
	c->snd_nxt += n;
	c->snd_max = c->snd_nxt;
}

/* ACK processing of a synchronized connection; false when c is gone. */
static bool ack_input(struct net_stack *st, struct tcp_conn *c, const struct tcp_seg *s)
{
	uint32_t wnd = s->wnd << c->snd_ws;

	if (SEQ_GT(s->ack, c->snd_max)) {
		st->cnt.tcp_drop_ack++;
		tcp_send_ack(st, c);
		return false;
	}
	if (SEQ_GT(s->ack, c->snd_una)) {
		uint32_t acked = s->ack - c->snd_una;
		uint64_t now = net_now(st);
		if (c->rtt_on && SEQ_GT(s->ack, c->rtt_seq)) {
			c->rtt_on = false;
			tcp_rtt_sample(c, now - c->rtt_ts);
		} else if (c->srtt) {
			tcp_rtt_sample(c, c->srtt); /* recompute: undo the backoff */
		}
		c->nrexmt = 0;
		ring_consume(&c->snd, acked < c->snd.len ? acked : c->snd.len);
		ring_rewind(&c->snd); /* all acked: nothing is sent from beyond it */
		c->snd_una = s->ack;
		if (SEQ_LT(c->snd_nxt, c->snd_una))
			c->snd_nxt = c->snd_una;
		if (c->in_recovery) {
			if (SEQ_GEQ(s->ack, c->recover)) {
				c->in_recovery = false;
				c->cwnd = c->ssthresh;
			} else { /* partial ACK: the next hole, at once */
				uint32_t n = c->snd.len < c->mss ? c->snd.len : c->mss;
				if (n)
					tcp_xmit(st, c, c->snd_una, n, 0);
				c->cwnd = c->cwnd > acked ? c->cwnd - acked + c->mss : c->mss;
			}
		} else if (c->cwnd < c->ssthresh) {
			c->cwnd += acked < c->mss ? acked : c->mss;
		} else {
			uint32_t inc = (uint32_t)((uint64_t)c->mss * c->mss / c->cwnd);
			c->cwnd += inc ? inc : 1;
		}
		if (c->cwnd > (1u << 30))
			c->cwnd = 1u << 30;
		c->dupacks = 0;
		c->persist = false;
		if (c->snd_una == c->snd_max)
			c->t_rexmt = 0;
		else
			tcp_rexmt_arm(st, c);
	} else if (s->ack == c->snd_una && s->len == 0 && !(s->flags & TH_FIN) &&
		   c->snd_max != c->snd_una && wnd >= c->snd_wnd && wnd != 0) {
		/* A duplicate: the same window, or a larger one (a receiver
		 * that grows its buffer as segments beyond the hole arrive). */
		if (c->dupacks < UINT8_MAX)
			c->dupacks++;
		if (c->in_recovery) {
			if (c->cwnd < (1u << 30))
				c->cwnd += c->mss;
		} else if (c->dupacks >= dupack_threshold(c))
			fast_retransmit(st, c);
		else
			limited_transmit(st, c, wnd);
	}
	if (SEQ_LT(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && SEQ_LEQ(c->snd_wl2, s->ack))) {
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		if (wnd > 0 && c->persist) {
			/* The probe byte may still be out, unacknowledged: it is
			 * retransmitted like any data (found by fuzz_net: a window
			 * of one byte left it outstanding with no timer at all). */
			c->persist = false;
			c->t_rexmt = 0;
			if (c->snd_una != c->snd_max)
				tcp_rexmt_arm(st, c);
		}
	}
	bool fin_acked = c->fin_queued && SEQ_GT(c->snd_una, c->fin_seq);
	if (!fin_acked)
		return true;
	switch (c->state) {
	case TCP_FIN_WAIT_1:
		tcp_set_state(st, c, TCP_FIN_WAIT_2);
		if (!c->user)
			c->t_misc = net_now(st) + TCP_FIN_WAIT2_TIME;
		break;
	case TCP_CLOSING:
		tcp_enter_time_wait(st, c);
		break;
	case TCP_LAST_ACK:
		tcp_drop(st, c, 0);
		return false;
	default:
		break;
	}
	return true;
}

static bool acceptable(const struct tcp_conn *c, const struct tcp_seg *s)
{
	uint32_t seglen = s->len + ((s->flags & TH_SYN) ? 1 : 0) + ((s->flags & TH_FIN) ? 1 : 0);
	uint32_t wnd = tcp_rcv_window(c);

	if (seglen == 0)
		return SEQ_GEQ(s->seq, c->rcv_nxt - c->rcv.size) &&
		       SEQ_LEQ(s->seq, c->rcv_nxt + wnd);
	if (wnd == 0)
		wnd = 1; /* let a zero-window probe in so that its ACK is read */
	return SEQ_LT(s->seq, c->rcv_nxt + wnd) && SEQ_GT(s->seq + seglen, c->rcv_nxt);
}

static void sync_input(struct net_stack *st, struct tcp_conn *c, const struct tcp_seg *s)
{
	if (!acceptable(c, s)) {
		if (s->flags & TH_RST)
			return;
		st->cnt.tcp_drop_window++;
		tcp_send_ack(st, c);
		return;
	}
	if (s->flags & TH_RST) {
		if (s->seq != c->rcv_nxt) {
			tcp_send_ack(st, c); /* challenge ACK (RFC 5961 3.2) */
			return;
		}
		st->cnt.tcp_rst_in++;
		tcp_drop(st, c, c->state == TCP_TIME_WAIT ? 0 : ECONNRESET);
		return;
	}
	if (s->flags & TH_SYN) {
		if (c->state == TCP_SYN_RCVD && s->seq == c->irs)
			tcp_send_syn(st, c); /* our SYN-ACK was lost */
		else
			tcp_send_ack(st, c); /* challenge ACK (RFC 5961 4.2) */
		return;
	}
	if (!(s->flags & TH_ACK))
		return;
	if (c->state == TCP_SYN_RCVD) {
		if (SEQ_LEQ(s->ack, c->iss) || SEQ_GT(s->ack, c->snd_max)) {
			tcp_reset_reply(st, s);
			return;
		}
		c->snd_una = s->ack;
		c->snd_wnd = s->wnd << c->snd_ws;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
		if (c->nrexmt == 0)
			tcp_rtt_sample(c, net_now(st) - c->rtt_ts);
		established(st, c);
		struct tcp_conn *l = c->parent;
		if (l != NULL) {
			if (l->q_tail)
				l->q_tail->q_next = c;
			else
				l->q_head = c;
			l->q_tail = c;
		}
	}
	if (!ack_input(st, c, s))
		return;
	if (s->len > 0 || (s->flags & TH_FIN)) {
		switch (c->state) {
		case TCP_ESTABLISHED:
		case TCP_FIN_WAIT_1:
		case TCP_FIN_WAIT_2:
			if (!c->user && c->parent == NULL && s->len > 0 &&
			    SEQ_GT(s->seq + s->len, c->rcv_nxt)) {
				/* Data for a socket that was closed: nobody will read it. */
				st->cnt.tcp_aborts++;
				tcp_send_rst(st, c);
				tcp_free(st, c);
				return;
			}
			receive_data(st, c, s);
			break;
		case TCP_TIME_WAIT:
			c->ack_now = true;
			c->t_misc = net_now(st) + st->cfg.time_wait_ns;
			break;
		default:
			break;
		}
	}
	tcp_output(st, c);
}

void tcp_input(struct net_stack *st, uint32_t src, uint32_t dst, const uint8_t *p, size_t len)
{
	struct tcp_seg s;

	st->cnt.tcp_seg_in++;
	int rc = tcp_parse(p, len, src, dst, &s);
	if (rc < 0) {
		if (rc == -2)
			st->cnt.tcp_drop_csum++;
		else
			st->cnt.tcp_drop_hdr++;
		return;
	}
	struct tcp_conn *c = tcp_lookup(st, &s);
	/* A new SYN for a port pair in TIME_WAIT reopens it (RFC 1122 4.2.2.13). */
	if (c != NULL && c->state == TCP_TIME_WAIT && !c->user &&
	    (s.flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN && SEQ_GT(s.seq, c->rcv_nxt) &&
	    tcp_listener(st, dst, s.dport) != NULL) {
		st->cnt.tcp_timewait_recycled++;
		tcp_free(st, c);
		c = NULL;
	}
	if (c == NULL) {
		struct tcp_conn *l = tcp_listener(st, dst, s.dport);
		if (l != NULL) {
			listen_input(st, l, &s);
			return;
		}
		st->cnt.tcp_drop_noconn++;
		tcp_reset_reply(st, &s);
		return;
	}
	c->last_rx = net_now(st);
	c->nkeep = 0;
	if (c->state == TCP_SYN_SENT)
		syn_sent_input(st, c, &s);
	else
		sync_input(st, c, &s);
}

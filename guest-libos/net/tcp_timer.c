/*
 * TCP timers. Each connection carries three absolute deadlines (0 = off):
 *   t_rexmt  retransmission (RFC 6298) or, with `persist`, the zero-window
 *            probe; both back off exponentially up to TCP_RTO_MAX;
 *   t_delack the delayed ACK (TCP_DELACK);
 *   t_misc   TIME_WAIT end, FIN_WAIT_2 give-up for orphans, keep-alive.
 * There is no periodic tick: tcp_deadline() is the earliest of them all and
 * the guest idles until then, so idle connections cost no CPU and no exits.
 */
#include "net_stack.h"

/* RFC 6298 2.2-2.3 with alpha 1/8, beta 1/4, K 4, G 1 ms; clamped to
 * [TCP_RTO_MIN, TCP_RTO_MAX]. */
void tcp_rtt_sample(struct tcp_conn *c, uint64_t r)
{
	if (c->srtt == 0) {
		c->srtt = r ? r : 1;
		c->rttvar = r / 2;
	} else {
		uint64_t d = c->srtt > r ? c->srtt - r : r - c->srtt;
		c->rttvar = (3 * c->rttvar + d) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
		if (c->srtt == 0)
			c->srtt = 1;
	}
	uint64_t k = 4 * c->rttvar;
	if (k < TCP_MS)
		k = TCP_MS;
	c->rto = c->srtt + k;
	if (c->rto < TCP_RTO_MIN)
		c->rto = TCP_RTO_MIN;
	if (c->rto > TCP_RTO_MAX)
		c->rto = TCP_RTO_MAX;
}

void tcp_rexmt_arm(struct net_stack *st, struct tcp_conn *c)
{
	c->t_rexmt = net_now(st) + c->rto;
}

void tcp_enter_time_wait(struct net_stack *st, struct tcp_conn *c)
{
	tcp_set_state(st, c, TCP_TIME_WAIT);
	c->t_rexmt = 0;
	c->persist = false;
	c->t_delack = 0;
	c->t_misc = net_now(st) + st->cfg.time_wait_ns;
}

static void backoff(struct tcp_conn *c)
{
	c->rto *= 2;
	if (c->rto > TCP_RTO_MAX)
		c->rto = TCP_RTO_MAX;
}

static void rexmt_timeout(struct net_stack *st, struct tcp_conn *c)
{
	c->t_rexmt = 0;
	if (c->persist) {
		/* Zero-window probe: one byte beyond the window (RFC 1122 4.2.2.17).
		 * Probing goes on while a socket holds the connection; an orphan
		 * gives up like a retransmission would (found by fuzz_net: an
		 * orphan in FIN_WAIT_1 facing a zero window lived forever). */
		if (!c->user && ++c->nrexmt > TCP_MAX_REXMT) {
			st->cnt.tcp_aborts++;
			tcp_send_rst(st, c);
			tcp_drop(st, c, ETIMEDOUT);
			return;
		}
		st->cnt.tcp_window_probes++;
		uint32_t sent = c->snd_nxt - c->snd_una;
		if (c->snd_una == c->snd_max && c->snd.len > sent) {
			tcp_xmit(st, c, c->snd_nxt, 1, 0);
			c->snd_nxt++;
			c->snd_max = c->snd_nxt;
		}
		backoff(c);
		tcp_rexmt_arm(st, c);
		return;
	}
	bool syn = c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD;
	if (++c->nrexmt > (syn ? TCP_MAX_SYN_REXMT : TCP_MAX_REXMT)) {
		st->cnt.tcp_aborts++;
		if (!syn)
			tcp_send_rst(st, c);
		tcp_drop(st, c, ETIMEDOUT);
		return;
	}
	st->cnt.tcp_rto++;
	backoff(c);
	/* Twice in a row without an answer: perhaps the next hop has a new
	 * MAC (a re-created host interface); ask for it again. */
	if (c->nrexmt >= 2)
		arp_suspect(st, ipv4_nexthop(st, c->rip));
	c->rtt_on = false; /* Karn: no sample from a retransmitted segment */
	if (syn) {
		tcp_send_syn(st, c);
		tcp_rexmt_arm(st, c);
		return;
	}
	uint32_t flight = c->snd_max - c->snd_una;
	c->ssthresh = flight / 2 > 2u * c->mss ? flight / 2 : 2u * c->mss;
	c->cwnd = c->mss;
	c->in_recovery = false;
	c->dupacks = 0;
	c->recover = c->snd_max;
	c->snd_nxt = c->snd_una; /* go back: resend from the first hole */
	tcp_output(st, c);
	if (c->t_rexmt == 0 && c->snd_una != c->snd_max)
		tcp_rexmt_arm(st, c);
}

static void misc_timeout(struct net_stack *st, struct tcp_conn *c, uint64_t now)
{
	c->t_misc = 0;
	switch (c->state) {
	case TCP_TIME_WAIT:
		tcp_drop(st, c, 0);
		return;
	case TCP_FIN_WAIT_2:
		if (!c->user) {
			tcp_free(st, c);
			return;
		}
		break;
	default:
		break;
	}
	if (!c->keepalive || c->state != TCP_ESTABLISHED)
		return;
	if (now - c->last_rx < TCP_KEEP_IDLE) {
		c->t_misc = c->last_rx + TCP_KEEP_IDLE;
		return;
	}
	if (c->nkeep >= TCP_KEEP_COUNT) {
		st->cnt.tcp_aborts++;
		tcp_send_rst(st, c);
		tcp_drop(st, c, ETIMEDOUT);
		return;
	}
	/* A probe is an ACK one byte left of snd_una: the peer must answer. */
	c->nkeep++;
	st->cnt.tcp_keepalive_probes++;
	uint32_t nxt = c->snd_nxt;
	c->snd_nxt = c->snd_una - 1;
	tcp_send_ack(st, c);
	c->snd_nxt = nxt;
	c->t_misc = now + TCP_KEEP_INTVL;
}

void tcp_timers(struct net_stack *st, uint64_t now)
{
	struct tcp_conn *c, *n;

	for (c = st->used_conns; c != NULL; c = n) {
		n = c->next;
		/* A handler may free c; it never frees another block. */
		if (c->t_delack && now >= c->t_delack) {
			c->t_delack = 0;
			st->cnt.tcp_delayed_acks++;
			tcp_send_ack(st, c);
		}
		if (c->t_rexmt && now >= c->t_rexmt) {
			rexmt_timeout(st, c);
			if (c->state == TCP_CLOSED)
				continue; /* dropped: freed, or held closed by its socket */
		}
		if (c->t_misc && now >= c->t_misc)
			misc_timeout(st, c, now);
	}
}

uint64_t tcp_deadline(struct net_stack *st)
{
	uint64_t d = UINT64_MAX;

	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next) {
		if (c->t_rexmt && c->t_rexmt < d)
			d = c->t_rexmt;
		if (c->t_delack && c->t_delack < d)
			d = c->t_delack;
		if (c->t_misc && c->t_misc < d)
			d = c->t_misc;
	}
	return d;
}

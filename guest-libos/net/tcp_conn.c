/*
 * TCP connection blocks: the fixed pool, lookup, state accounting, and the
 * operations the socket layer calls (listen, connect, accept, read, write,
 * shutdown, close).
 *
 * Ownership: a block is on the used list from tcp_alloc to tcp_free. While
 * a socket holds it (`user`), the stack never frees it: a reset or timeout
 * leaves it CLOSED with `err` set. Once the socket lets go (tcp_close) the
 * block is an orphan and is freed as soon as it reaches CLOSED, TIME_WAIT
 * expires or a timer gives up, so no path leaks one. Children of a listener
 * belong to it until accepted; closing the listener resets and frees them.
 * When the pool is empty, the oldest orphan in TIME_WAIT is recycled.
 */
#include "net_stack.h"
#include <string.h>

int tcp_init(struct net_stack *st)
{
	struct net_config *c = &st->cfg;
	size_t per = (size_t)c->tcp_sndbuf + c->tcp_rcvbuf;

	st->conns = st->plat.alloc(st->plat.ctx, sizeof(struct tcp_conn) * c->tcp_max_conns, 1);
	st->tcp_mem = st->plat.alloc(st->plat.ctx, per * c->tcp_max_conns, 0);
	if (st->conns == NULL || st->tcp_mem == NULL)
		return -ENOMEM;
	for (uint32_t i = c->tcp_max_conns; i-- > 0;) {
		struct tcp_conn *t = &st->conns[i];
		t->snd.buf = st->tcp_mem + per * i;
		t->snd.size = c->tcp_sndbuf;
		t->rcv.buf = t->snd.buf + c->tcp_sndbuf;
		t->rcv.size = c->tcp_rcvbuf;
		t->next = st->free_conns;
		st->free_conns = t;
	}
	st->cnt.tcp_state[TCP_CLOSED] = 0;
	return 0;
}

static struct tcp_conn *oldest_time_wait(struct net_stack *st)
{
	struct tcp_conn *best = NULL;

	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->state == TCP_TIME_WAIT && !c->user &&
		    (best == NULL || c->t_misc < best->t_misc))
			best = c;
	return best;
}

struct tcp_conn *tcp_alloc(struct net_stack *st)
{
	struct tcp_conn *c = st->free_conns;

	if (c == NULL) {
		struct tcp_conn *tw = oldest_time_wait(st);
		if (tw == NULL)
			return NULL;
		st->cnt.tcp_timewait_recycled++;
		tcp_free(st, tw);
		c = st->free_conns;
	}
	st->free_conns = c->next;
	struct tcp_ring snd = c->snd, rcv = c->rcv;
	memset(c, 0, sizeof(*c));
	c->snd = snd;
	c->rcv = rcv;
	c->snd.head = c->snd.len = 0;
	c->rcv.head = c->rcv.len = 0;
	c->state = TCP_CLOSED;
	c->next = st->used_conns;
	if (st->used_conns)
		st->used_conns->prev = c;
	st->used_conns = c;
	st->conns_in_use++;
	st->cnt.tcp_state[TCP_CLOSED]++;
	return c;
}

static void queue_remove(struct tcp_conn *l, struct tcp_conn *c)
{
	struct tcp_conn **pp = &l->q_head, *prev = NULL;

	for (; *pp != NULL; prev = *pp, pp = &(*pp)->q_next) {
		if (*pp == c) {
			*pp = c->q_next;
			if (l->q_tail == c)
				l->q_tail = prev;
			c->q_next = NULL;
			return;
		}
	}
}

void tcp_free(struct net_stack *st, struct tcp_conn *c)
{
	if (c->state == TCP_LISTEN) {
		/* Children: reset the established ones, drop them all. */
		struct tcp_conn *k, *nk;
		for (k = st->used_conns; k != NULL; k = nk) {
			nk = k->next;
			if (k->parent == c) {
				if (k->state != TCP_SYN_RCVD)
					tcp_send_rst(st, k);
				k->parent = NULL;
				k->q_next = NULL;
				tcp_free(st, k);
			}
		}
	}
	if (c->parent != NULL) {
		queue_remove(c->parent, c);
		c->parent->n_child--;
		c->parent = NULL;
	}
	st->cnt.tcp_state[c->state]--;
	if (c->prev)
		c->prev->next = c->next;
	else
		st->used_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->state = TCP_CLOSED;
	c->user = false;
	c->next = st->free_conns;
	st->free_conns = c;
	st->conns_in_use--;
}

void tcp_set_state(struct net_stack *st, struct tcp_conn *c, uint8_t state)
{
	st->cnt.tcp_state[c->state]--;
	st->cnt.tcp_state[state]++;
	c->state = state;
}

void tcp_drop(struct net_stack *st, struct tcp_conn *c, int err)
{
	c->t_rexmt = c->t_delack = c->t_misc = 0;
	if (c->user) {
		if (c->err == 0)
			c->err = err;
		tcp_set_state(st, c, TCP_CLOSED);
	} else {
		tcp_free(st, c);
	}
}

struct tcp_conn *tcp_lookup(struct net_stack *st, const struct tcp_seg *s)
{
	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->lport == s->dport && c->rport == s->sport && c->rip == s->src &&
		    c->lip == s->dst && c->state != TCP_LISTEN && c->state != TCP_CLOSED)
			return c;
	return NULL;
}

struct tcp_conn *tcp_listener(struct net_stack *st, uint32_t ip, uint16_t port)
{
	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->state == TCP_LISTEN && c->lport == port && (c->lip == 0 || c->lip == ip))
			return c;
	return NULL;
}

bool tcp_port_used(struct net_stack *st, uint16_t port)
{
	for (struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (c->lport == port)
			return true;
	for (uint32_t i = 0; i < st->nsocks; i++)
		if (st->socks[i].kind == SOCK_TCP && st->socks[i].bound &&
		    st->socks[i].lport == port)
			return true;
	return false;
}

/* Window scale that makes the receive ring fit a 16-bit window. */
static uint8_t wscale_for(uint32_t size)
{
	uint8_t s = 0;

	while (s < 14 && (size >> s) > 65535)
		s++;
	return s;
}

void tcp_conn_setup(struct net_stack *st, struct tcp_conn *c)
{
	c->rto = TCP_RTO_INIT;
	c->mss = (uint16_t)(st->mtu - IP_HLEN - TCP_HLEN);
	c->rcv_ws = wscale_for(c->rcv.size);
	c->ssthresh = 0xffffffffu;
	c->last_rx = net_now(st);
}

int tcp_listen(struct net_stack *st, struct tcp_conn *c, uint32_t ip, uint16_t port, int backlog)
{
	if (backlog < 1)
		backlog = 1;
	if (backlog > 1024)
		backlog = 1024;
	c->lip = ip;
	c->lport = port;
	c->backlog = (uint16_t)backlog;
	tcp_set_state(st, c, TCP_LISTEN);
	return 0;
}

int tcp_connect(struct net_stack *st, struct tcp_conn *c, uint32_t lip, uint16_t lport,
		uint32_t rip, uint16_t rport)
{
	tcp_conn_setup(st, c);
	c->lip = lip;
	c->lport = lport;
	c->rip = rip;
	c->rport = rport;
	c->iss = tcp_isn(st, lip, lport, rip, rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	tcp_set_state(st, c, TCP_SYN_SENT);
	st->cnt.tcp_active_opens++;
	c->rtt_ts = net_now(st);
	tcp_send_syn(st, c);
	tcp_rexmt_arm(st, c);
	return 0;
}

struct tcp_conn *tcp_accept(struct net_stack *st, struct tcp_conn *l)
{
	struct tcp_conn *c = l->q_head;

	(void)st;
	if (c == NULL)
		return NULL;
	queue_remove(l, c);
	l->n_child--;
	c->parent = NULL;
	c->user = true;
	return c;
}

static bool can_send(const struct tcp_conn *c)
{
	return c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT;
}

long tcp_write(struct net_stack *st, struct tcp_conn *c, const void *buf, size_t len)
{
	if (c->err) {
		int e = c->err;
		c->err = 0;
		return -e;
	}
	if (c->fin_queued)
		return -EPIPE;
	if (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD)
		return -EAGAIN;
	if (!can_send(c))
		return -EPIPE;
	uint32_t n = len > 0x7fffffff ? 0x7fffffff : (uint32_t)len;
	n = ring_append(&c->snd, buf, n);
	if (n == 0)
		return -EAGAIN;
	tcp_output(st, c);
	return n;
}

/* The application read: open the window again when it grew enough. */
static void window_update(struct net_stack *st, struct tcp_conn *c)
{
	uint32_t edge = c->rcv_nxt + tcp_rcv_window(c);
	uint32_t grow = edge - c->rcv_adv;

	if (SEQ_GT(edge, c->rcv_adv) &&
	    (grow >= 2u * c->mss || grow >= c->rcv.size / 2 || c->rcv_adv == c->rcv_nxt))
		tcp_send_ack(st, c);
}

long tcp_read(struct net_stack *st, struct tcp_conn *c, void *buf, size_t len)
{
	if (c->rcv.len == 0) {
		if (c->err) { /* reported once, then end of stream */
			int e = c->err;
			c->err = 0;
			return -e;
		}
		switch (c->state) {
		case TCP_CLOSE_WAIT:
		case TCP_LAST_ACK:
		case TCP_CLOSING:
		case TCP_TIME_WAIT:
		case TCP_CLOSED:
			return 0; /* end of stream */
		default:
			return c->rd_shut ? 0 : -EAGAIN;
		}
	}
	uint32_t n = len < c->rcv.len ? (uint32_t)len : c->rcv.len;
	ring_read_at(&c->rcv, 0, buf, n);
	ring_consume(&c->rcv, n);
	if (c->reass.n == 0)
		ring_rewind(&c->rcv);
	if (c->state >= TCP_ESTABLISHED && c->state <= TCP_FIN_WAIT_2)
		window_update(st, c);
	return n;
}

int tcp_shutdown(struct net_stack *st, struct tcp_conn *c, bool rd, bool wr)
{
	if (rd)
		c->rd_shut = true;
	if (!wr || c->fin_queued)
		return 0;
	switch (c->state) {
	case TCP_ESTABLISHED:
		tcp_set_state(st, c, TCP_FIN_WAIT_1);
		break;
	case TCP_CLOSE_WAIT:
		tcp_set_state(st, c, TCP_LAST_ACK);
		break;
	case TCP_SYN_SENT:
		tcp_drop(st, c, 0);
		return 0;
	default:
		return 0;
	}
	c->fin_queued = true;
	c->fin_seq = c->snd_una + c->snd.len;
	tcp_output(st, c);
	return 0;
}

void tcp_close(struct net_stack *st, struct tcp_conn *c)
{
	c->user = false;
	switch (c->state) {
	case TCP_CLOSED:
	case TCP_LISTEN:
	case TCP_SYN_SENT:
		tcp_free(st, c);
		return;
	default:
		break;
	}
	/* Unread data: the peer must learn it was not delivered (RFC 2525). */
	if (c->rcv.len > 0 && c->state != TCP_TIME_WAIT) {
		st->cnt.tcp_aborts++;
		tcp_send_rst(st, c);
		tcp_free(st, c);
		return;
	}
	c->rd_shut = true;
	tcp_shutdown(st, c, true, true);
	if (c->state == TCP_FIN_WAIT_2 && c->t_misc == 0)
		c->t_misc = net_now(st) + TCP_FIN_WAIT2_TIME;
}

bool tcp_readable(const struct tcp_conn *c)
{
	if (c->state == TCP_LISTEN)
		return c->q_head != NULL;
	return c->rcv.len > 0 || c->err != 0 || c->rd_shut ||
	       (c->state != TCP_ESTABLISHED && c->state != TCP_SYN_SENT &&
		c->state != TCP_SYN_RCVD && c->state != TCP_FIN_WAIT_1 &&
		c->state != TCP_FIN_WAIT_2);
}

bool tcp_writable(const struct tcp_conn *c)
{
	if (c->err || c->state == TCP_CLOSED)
		return true; /* the write reports the error */
	return can_send(c) && !c->fin_queued && c->snd.len < c->snd.size;
}

static bool conn_awaits_ack(const struct tcp_conn *c)
{
	switch (c->state) {
	case TCP_ESTABLISHED:
	case TCP_CLOSE_WAIT:
		break;
	case TCP_SYN_RCVD:
	case TCP_FIN_WAIT_1:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		return true;
	default: /* LISTEN, SYN_SENT (a SYN answers it), FIN_WAIT_2, TIME_WAIT, CLOSED */
		return false;
	}
	uint32_t sent = c->snd_max - c->snd_una;
	return c->snd.len > sent || c->snd_nxt != c->snd_max || c->in_recovery || c->persist ||
	       c->snd.len > c->snd.size / 2;
}

bool net_tcp_acks_awaited(const struct net_stack *st)
{
	for (const struct tcp_conn *c = st->used_conns; c != NULL; c = c->next)
		if (conn_awaits_ack(c))
			return true;
	return false;
}

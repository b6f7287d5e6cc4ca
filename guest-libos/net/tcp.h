/*
 * TCP, private to the stack: the connection block and the functions its
 * files (tcp_conn, tcp_in, tcp_out, tcp_timer, tcp_reass) share.
 *
 * Sequence numbers compare modulo 2^32 (SEQ_LT and friends). A connection
 * owns two byte rings of fixed size carved at stack creation: the send ring
 * holds the bytes from snd_una on (sent or not), the receive ring the bytes
 * the application has not read, followed by room into which out-of-order
 * segments are written at their final place; tcp_reass keeps which ranges
 * beyond rcv_nxt are filled.
 */
#ifndef DENALI_NET_TCP_H
#define DENALI_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_stack;

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

enum tcp_state {
	TCP_CLOSED,
	TCP_LISTEN,
	TCP_SYN_SENT,
	TCP_SYN_RCVD,
	TCP_ESTABLISHED,
	TCP_FIN_WAIT_1,
	TCP_FIN_WAIT_2,
	TCP_CLOSE_WAIT,
	TCP_CLOSING,
	TCP_LAST_ACK,
	TCP_TIME_WAIT,
};

/* Header flags. */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* Timing, in ns. */
#define TCP_MS		   1000000ull
#define TCP_RTO_INIT	   (1000 * TCP_MS)
#define TCP_RTO_MIN	   (200 * TCP_MS)
#define TCP_RTO_MAX	   (60000 * TCP_MS)
#define TCP_DELACK	   (40 * TCP_MS)
#define TCP_FIN_WAIT2_TIME (10000 * TCP_MS)
#define TCP_KEEP_IDLE	   (7200000 * TCP_MS)
#define TCP_KEEP_INTVL	   (75000 * TCP_MS)
#define TCP_KEEP_COUNT	   9
#define TCP_MAX_REXMT	   12
#define TCP_MAX_SYN_REXMT  6
#define TCP_DEFAULT_MSS	   536
#define TCP_REASS_MAX	   8

struct tcp_ring {
	uint8_t *buf;
	uint32_t size, head, len;
};

/* Filled ranges [start, end) beyond rcv_nxt, sorted, disjoint, not touching. */
struct tcp_reass {
	uint8_t n;
	bool fin; /* a FIN at fin_seq is waiting for the hole before it */
	uint32_t fin_seq;
	uint32_t start[TCP_REASS_MAX], end[TCP_REASS_MAX];
};

struct tcp_conn {
	struct tcp_conn *next, *prev; /* used list (or free list through next) */
	struct tcp_conn *parent;      /* listener, while not yet accepted */
	struct tcp_conn *q_next;      /* listener's accept queue */
	struct tcp_conn *q_head, *q_tail;
	uint16_t backlog, n_child; /* listener: limit, children not yet accepted */
	uint8_t state;
	bool user;	   /* a socket holds it; otherwise freed once closed */
	bool ack_now;	   /* send an ACK at the end of this input/timer */
	bool fin_queued;   /* the application is done sending */
	bool rd_shut;	   /* the application will not read: data -> RST */
	bool keepalive;	   /* keep-alive probes (off by default) */
	bool persist;	   /* t_rexmt is the persist (zero window) timer */
	bool rtt_on;	   /* timing rtt_seq */
	bool in_recovery;  /* fast recovery until recover is acked */
	bool ws_ok;	   /* both sides sent window scale */
	int err;	   /* pending error for the socket, positive errno */
	uint32_t lip, rip; /* host order */
	uint16_t lport, rport;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, fin_seq;
	uint32_t cwnd, ssthresh, recover;
	uint16_t mss; /* what we send per segment */
	uint8_t snd_ws, rcv_ws, dupacks;
	struct tcp_ring snd;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge last advertised */
	uint16_t unacked;		/* full segments received since our last ACK */
	struct tcp_ring rcv;
	struct tcp_reass reass;

	/* timers: absolute ns, 0 = off */
	uint64_t t_rexmt, t_delack, t_misc;
	uint64_t srtt, rttvar, rto, rtt_ts, last_rx;
	uint32_t rtt_seq;
	uint8_t nrexmt, nkeep;
};

/* A parsed incoming segment. */
struct tcp_seg {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint32_t wnd; /* raw, not scaled */
	uint8_t flags;
	uint16_t mss; /* 0 = option absent */
	int8_t ws;    /* -1 = option absent */
	const uint8_t *data;
	uint32_t len; /* data bytes */
};

/* tcp_conn.c: pool, lookup, state, the calls of the socket layer */
int tcp_init(struct net_stack *st);
struct tcp_conn *tcp_alloc(struct net_stack *st);
void tcp_free(struct net_stack *st, struct tcp_conn *c);
void tcp_set_state(struct net_stack *st, struct tcp_conn *c, uint8_t state);
struct tcp_conn *tcp_lookup(struct net_stack *st, const struct tcp_seg *s);
struct tcp_conn *tcp_listener(struct net_stack *st, uint32_t ip, uint16_t port);
bool tcp_port_used(struct net_stack *st, uint16_t port);
/* The connection is gone for its peer: error for the user, or freed. */
void tcp_drop(struct net_stack *st, struct tcp_conn *c, int err);
void tcp_conn_setup(struct net_stack *st, struct tcp_conn *c);
int tcp_listen(struct net_stack *st, struct tcp_conn *c, uint32_t ip, uint16_t port, int backlog);
int tcp_connect(struct net_stack *st, struct tcp_conn *c, uint32_t lip, uint16_t lport,
		uint32_t rip, uint16_t rport);
struct tcp_conn *tcp_accept(struct net_stack *st, struct tcp_conn *l);
long tcp_write(struct net_stack *st, struct tcp_conn *c, const void *buf, size_t len);
long tcp_read(struct net_stack *st, struct tcp_conn *c, void *buf, size_t len);
int tcp_shutdown(struct net_stack *st, struct tcp_conn *c, bool rd, bool wr);
void tcp_close(struct net_stack *st, struct tcp_conn *c);
/* For poll: readable (data, EOF or error), writable, hung up. */
bool tcp_readable(const struct tcp_conn *c);
bool tcp_writable(const struct tcp_conn *c);

/* tcp_in.c */
void tcp_input(struct net_stack *st, uint32_t src, uint32_t dst, const uint8_t *p, size_t len);

/* tcp_out.c */
void tcp_output(struct net_stack *st, struct tcp_conn *c);
/* SYN (SYN_SENT) or SYN-ACK (SYN_RCVD) with our options. */
int tcp_send_syn(struct net_stack *st, struct tcp_conn *c);
/* One segment of `len` bytes from `seq` with `flags` (ACK added when
 * synchronized); retransmissions counted. */
int tcp_xmit(struct net_stack *st, struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags);
void tcp_send_ack(struct net_stack *st, struct tcp_conn *c);
void tcp_send_rst(struct net_stack *st, struct tcp_conn *c);
/* RST in answer to a segment that has no connection (RFC 793 rules). */
void tcp_reset_reply(struct net_stack *st, const struct tcp_seg *s);
/* The window we advertise now, unscaled bytes. */
uint32_t tcp_rcv_window(const struct tcp_conn *c);

/* tcp_timer.c */
void tcp_timers(struct net_stack *st, uint64_t now);
uint64_t tcp_deadline(struct net_stack *st);
void tcp_rtt_sample(struct tcp_conn *c, uint64_t rtt);
void tcp_rexmt_arm(struct net_stack *st, struct tcp_conn *c);
void tcp_enter_time_wait(struct net_stack *st, struct tcp_conn *c);

/* tcp_reass.c: rings and reassembly */
void ring_write_at(struct tcp_ring *r, uint32_t off, const uint8_t *p, uint32_t n);
void ring_read_at(const struct tcp_ring *r, uint32_t off, uint8_t *p, uint32_t n);
uint32_t ring_append(struct tcp_ring *r, const uint8_t *p, uint32_t n);
void ring_consume(struct tcp_ring *r, uint32_t n);
/* An empty ring starts again at offset 0, so a connection that moves a few KiB at a time
 * keeps touching the same pages of its buffer instead of walking all of it. Only when
 * nothing lies beyond the length (no out-of-order bytes). */
void ring_rewind(struct tcp_ring *r);
/* Record [seq, seq+len) as received beyond rcv_nxt; false when the table
 * is full and the range could not be kept. */
bool reass_add(struct tcp_reass *q, uint32_t seq, uint32_t len);
/* Bytes now contiguous from rcv_nxt (ranges taken off the table). */
uint32_t reass_take(struct tcp_reass *q, uint32_t rcv_nxt);

/* siphash.c */
uint32_t tcp_isn(struct net_stack *st, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport);

#endif /* DENALI_NET_TCP_H */

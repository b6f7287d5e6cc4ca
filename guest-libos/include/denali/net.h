/*
 * guest-libos TCP/IP stack: the public interface of one stack instance.
 *
 * The same sources build for the guest (freestanding, linked into
 * denali_libos) and for the host (unit tests, fuzzer). Everything a stack
 * needs from its surroundings goes through struct net_platform: the clock,
 * a frame sender, memory at creation time (never on the fast path) and a
 * wait used by blocking socket calls. Addresses are in network byte order
 * wherever they appear in this header; ports in struct net_sockaddr_in too.
 */
#ifndef DENALI_NET_H
#define DENALI_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_stack;

struct net_platform {
	void *ctx;
	/* Monotonic nanoseconds. */
	uint64_t (*now_ns)(void *ctx);
	/* Put one Ethernet frame (no FCS) on the wire: 0 or -errno. The frame
	 * buffer is the stack's and is reused on return. */
	int (*send_frame)(void *ctx, const void *frame, size_t len);
	/* Memory for the stack's pools, called only from net_stack_create;
	 * `zero` asks for zeroed memory. NULL on failure. */
	void *(*alloc)(void *ctx, size_t size, int zero);
	void (*free)(void *ctx, void *p);
	/* Blocking socket calls: run the stack (feed received frames through
	 * net_input, call net_timers) until something happened or deadline_ns
	 * passed. May return early. NULL makes every call non-blocking. */
	void (*wait)(void *ctx, struct net_stack *st, uint64_t deadline_ns);
};

struct net_config {
	uint8_t mac[6];
	uint16_t mtu; /* IP MTU; 0 = 1500 */
	uint32_t ip, netmask, gateway;
	uint8_t secret[32]; /* keys the TCP initial sequence numbers */
	/* Pool sizes, 0 = default. */
	uint32_t tcp_max_conns; /* connections of every state, listeners too (128) */
	/* Per connection and direction; default net_default_tcp_buf(tcp_max_conns). */
	uint32_t tcp_sndbuf, tcp_rcvbuf;
	uint32_t sockets; /* socket table entries */
	uint32_t udp_rcvbuf;
	/* TIME_WAIT length in ns, 0 = default (1 s). */
	uint64_t time_wait_ns;
	/* The guest driver's rx buffers posted at once, at most (dn_net_rx_depth_max);
	 * 0 = the ring size. The stack itself does not use it. */
	uint32_t rx_ring_max;
};

#define NET_TCP_NSTATES 11

/* Counters: all monotonic except tcp_state[] (connections in each state now). */
struct net_counters {
	uint64_t eth_in, eth_out, eth_drop_short, eth_drop_addr, eth_drop_type, tx_fail;
	uint64_t arp_in, arp_out, arp_req_in, arp_reply_in, arp_drop, arp_evict, arp_expired,
	    arp_unresolved, arp_reprobe;
	uint64_t ip_in, ip_out, ip_drop_hdr, ip_drop_csum, ip_drop_frag, ip_drop_addr,
	    ip_drop_proto, ip_drop_noroute;
	uint64_t icmp_in, icmp_echo_out, icmp_drop;
	uint64_t udp_in, udp_out, udp_drop_hdr, udp_drop_csum, udp_drop_noport, udp_drop_full;
	uint64_t tcp_seg_in, tcp_seg_out, tcp_retrans, tcp_fast_retrans, tcp_rto, tcp_drop_hdr,
	    tcp_drop_csum, tcp_drop_noconn, tcp_drop_backlog, tcp_drop_nomem, tcp_drop_window,
	    tcp_drop_ack, tcp_ooo, tcp_rst_in, tcp_rst_out, tcp_active_opens, tcp_passive_opens,
	    tcp_aborts, tcp_timewait_recycled, tcp_keepalive_probes, tcp_delayed_acks,
	    tcp_window_probes;
	uint32_t tcp_state[NET_TCP_NSTATES];
};

/* The default TCP buffer of a pool of `conns` connections: 16 KiB at the
 * default 128 connections and more, up to 64 KiB for 32 or fewer (the same
 * total, 4 MiB, shared by fewer connections). */
uint32_t net_default_tcp_buf(uint32_t conns);

/* Create a stack (pools allocated once through plat->alloc); NULL when out
 * of memory or on a bad config. */
struct net_stack *net_stack_create(const struct net_config *cfg, const struct net_platform *plat);
void net_stack_destroy(struct net_stack *st);

/* Feed one received Ethernet frame. Never fails: bad frames are counted. */
void net_input(struct net_stack *st, const void *frame, size_t len);

/* Run every timer that is due. */
void net_timers(struct net_stack *st);

/* The earliest time at which net_timers has work, UINT64_MAX for none. */
uint64_t net_next_deadline(struct net_stack *st);

const struct net_counters *net_counters(const struct net_stack *st);
/* Connections in use (any state, listeners included). */
uint32_t net_tcp_conns_in_use(const struct net_stack *st);
/* True when an acknowledgment alone could unblock something: a connection
 * with bytes not yet sent (window, congestion, a retransmission going on),
 * a send buffer over half full (a writer may wait for room), or one in a
 * handshake or a close of ours (SYN_RCVD, FIN_WAIT_1, CLOSING, LAST_ACK).
 * False: a pure ACK can wait for the next frame or timer (the guest then
 * idles with DENALI_WAKE_ACKS_LAZY). */
bool net_tcp_acks_awaited(const struct net_stack *st);

/* Print the counters through `out` (e.g. a console writer), one line per
 * layer; returns the bytes printed. */
size_t net_counters_print(const struct net_stack *st, void (*out)(const char *s, size_t n));

/* ---- sockets (socket.c); the POSIX names in the guest wrap these ---------- */

#define NET_AF_INET	 2
#define NET_SOCK_STREAM	 1
#define NET_SOCK_DGRAM	 2
#define NET_O_NONBLOCK	 04000
#define NET_SHUT_RD	 0
#define NET_SHUT_WR	 1
#define NET_SHUT_RDWR	 2
#define NET_MSG_DONTWAIT 0x40
#define NET_POLLIN	 0x001
#define NET_POLLPRI	 0x002
#define NET_POLLOUT	 0x004
#define NET_POLLERR	 0x008
#define NET_POLLHUP	 0x010
#define NET_POLLNVAL	 0x020

/* Layout of Linux's struct sockaddr_in. */
struct net_sockaddr_in {
	uint16_t sin_family;
	uint16_t sin_port;
	uint32_t sin_addr;
	uint8_t sin_zero[8];
};

/* Layout of struct pollfd. */
struct net_pollfd {
	int fd;
	short events;
	short revents;
};

/* Socket ids are small integers from 0; every call returns -errno on error. */
int net_sock_socket(struct net_stack *st, int domain, int type, int proto);
int net_sock_bind(struct net_stack *st, int s, const struct net_sockaddr_in *a);
int net_sock_listen(struct net_stack *st, int s, int backlog);
int net_sock_accept(struct net_stack *st, int s, struct net_sockaddr_in *peer);
int net_sock_connect(struct net_stack *st, int s, const struct net_sockaddr_in *a);
long net_sock_send(struct net_stack *st, int s, const void *buf, size_t len, int flags);
long net_sock_recv(struct net_stack *st, int s, void *buf, size_t len, int flags);
long net_sock_sendto(struct net_stack *st, int s, const void *buf, size_t len, int flags,
		     const struct net_sockaddr_in *to);
long net_sock_recvfrom(struct net_stack *st, int s, void *buf, size_t len, int flags,
		       struct net_sockaddr_in *from);
int net_sock_shutdown(struct net_stack *st, int s, int how);
int net_sock_close(struct net_stack *st, int s);
int net_sock_getflags(struct net_stack *st, int s);
int net_sock_setflags(struct net_stack *st, int s, int flags);
int net_sock_name(struct net_stack *st, int s, struct net_sockaddr_in *a, int peer);
/* Pending error (SO_ERROR), cleared by the call: 0 or a positive errno. */
int net_sock_error(struct net_stack *st, int s);
int net_sock_set_keepalive(struct net_stack *st, int s, int on);
/* poll over socket ids; timeout_ms < 0 waits forever. Returns the number of
 * entries with revents set, 0 on timeout. */
int net_sock_poll(struct net_stack *st, struct net_pollfd *fds, unsigned n, int timeout_ms);

#endif /* DENALI_NET_H */

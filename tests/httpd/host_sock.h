/*
 * <denali/sock.h> for the httpd guest's glue (guests/httpd/main.c) built as
 * a host program for tests: Linux sockets instead of the libos stack, a
 * disk image file instead of the block device (DENALI_HTTPD_DISK), the
 * host's monotonic clock. Copied to hostinc/denali/sock.h by
 * tests/httpd/CMakeLists.txt; host_glue.c has the definitions.
 */
#ifndef DENALI_TEST_HOST_SOCK_H
#define DENALI_TEST_HOST_SOCK_H

#include <stdint.h>

/* The libos's: 0 when the network is up (always, on the host). */
int dn_net_start(void);

/* The pool sizes the guest may ask for; the host's kernel sizes its own. */
struct net_config {
	uint32_t tcp_max_conns, tcp_sndbuf, tcp_rcvbuf, sockets, udp_rcvbuf, rx_ring_max;
};
static inline int dn_net_start_cfg(const struct net_config *cfg)
{
	(void)cfg;
	return dn_net_start();
}

/* The host's kernel finishes closed connections itself: nothing in use. */
struct net_stack;
static inline struct net_stack *dn_net_stack(void)
{
	return 0;
}
static inline unsigned net_tcp_conns_in_use(const struct net_stack *st)
{
	(void)st;
	return 0;
}
static inline int dn_net_poll(uint64_t deadline_ns)
{
	(void)deadline_ns;
	return 0;
}

/* The host kernel's counters are its own (netstat): nothing to print. */
static inline void dn_net_counters_at_exit(int on)
{
	(void)on;
}

#endif /* DENALI_TEST_HOST_SOCK_H */

/*
 * guest-libos: running the TCP/IP stack in a guest.
 *
 * The POSIX socket calls (<sys/socket.h>, <poll.h>, read/write/close,
 * fcntl) start the stack on first use; a guest may start it itself to see
 * the error, to size it, or to drive it from its own loop. The stack's
 * configuration comes from the vregs (MAC, IPv4 address, netmask, gateway,
 * MTU) and its ISNs are keyed from the per-VM secret.
 */
#ifndef DENALI_SOCK_H
#define DENALI_SOCK_H

#include <denali/net.h>
#include <stdint.h>

/* Start the stack with the default pool sizes (TEAM.md's entry point): 0,
 * -ENODEV (no NIC), -EADDRNOTAVAIL (no IPv4 address), -ENOMEM. A second
 * call returns 0. */
int dn_net_start(void);

/* The same with pool sizes: `cfg`'s tcp_max_conns, tcp_sndbuf, tcp_rcvbuf,
 * sockets, udp_rcvbuf and time_wait_ns override the defaults (0 = default);
 * its addresses, MAC and secret are ignored (taken from the vregs). */
int dn_net_start_cfg(const struct net_config *cfg);

/* The running stack, NULL before dn_net_start. */
struct net_stack *dn_net_stack(void);

/* One turn of the event loop (a guest holding connections waits with this,
 * not msleep: a sleep does not run the stack, so no ACK goes out and the
 * peer retransmits): take received frames, run due timers; when
 * there was nothing to do, idle until a frame arrives, the next timer or
 * deadline_ns. Returns the number of frames taken. */
int dn_net_poll(uint64_t deadline_ns);

/* How many times the event loop idled (each is one VM exit). */
uint64_t dn_net_idles(void);

/* Print the stack's counters on the console now / at exit(). */
void dn_net_print_counters(void);
void dn_net_counters_at_exit(int on);

#endif

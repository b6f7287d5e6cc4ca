/*
 * The stack in a guest: its platform over the libos (clock, netdev driver,
 * malloc, dn_idle) and the event loop every blocking socket call runs.
 *
 * Frames the stack sends go into the tx ring and leave at the VM's next
 * exit; the loop's idle is that exit. A full tx ring is flushed with one
 * kick and the frame retried once (after that TCP's retransmission covers
 * it). The loop never spins: with nothing received and no timer due it
 * idles until the earliest of the caller's deadline and the stack's next
 * timer, and an idle VM with open connections makes no exit at all until a
 * frame arrives (DENALI_EV_NET_RX) or a timer is due.
 */
#include <denali/libos.h>
#include <denali/netdev.h>
#include <denali/sock.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct net_stack *g_st;
static int g_print_at_exit;
static uint64_t g_idles;
static uint8_t g_rx[DENALI_NET_FRAME_MAX + 2] __attribute__((aligned(16)));

static uint64_t g_now(void *ctx)
{
	(void)ctx;
	return dn_now_ns();
}

static int g_send(void *ctx, const void *frame, size_t len)
{
	(void)ctx;
	int rc = dn_net_send(frame, len);
	if (rc == -EAGAIN) {
		dn_net_flush();
		rc = dn_net_send(frame, len);
	}
	return rc;
}

static void *g_alloc(void *ctx, size_t n, int zero)
{
	(void)ctx;
	return zero ? calloc(1, n) : malloc(n);
}

static void g_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static int take_frames(struct net_stack *st)
{
	int n = 0, len;

	while ((len = dn_net_recv(g_rx, sizeof(g_rx))) > 0) {
		net_input(st, g_rx, (size_t)len);
		n++;
	}
	return n;
}

int dn_net_poll(uint64_t deadline)
{
	struct net_stack *st = g_st;

	if (st == NULL)
		return 0;
	int n = take_frames(st);
	uint64_t now = dn_now_ns(), next = net_next_deadline(st);
	if (next <= now) {
		net_timers(st);
		return n;
	}
	if (n > 0)
		return n;
	uint64_t until = deadline < next ? deadline : next;
	if (until <= now)
		return 0;
	g_idles++;
	/* An ACK alone wakes us only when it could unblock something: after
	 * an answer, the client's ACK of it was a second exit per request. */
	dn_shared()->wake_flags = net_tcp_acks_awaited(st) ? 0 : DENALI_WAKE_ACKS_LAZY;
	dn_idle(until);
	dn_shared()->wake_flags = 0; /* other idles (a disk wait) hear every frame */
	n = take_frames(st);
	if (net_next_deadline(st) <= dn_now_ns())
		net_timers(st);
	return n;
}

static void g_wait(void *ctx, struct net_stack *st, uint64_t deadline)
{
	(void)ctx;
	(void)st;
	dn_net_poll(deadline);
}

int dn_net_start(void)
{
	return dn_net_start_cfg(NULL);
}

int dn_net_start_cfg(const struct net_config *over)
{
	if (g_st != NULL)
		return 0;
	if (!dn_net_present())
		return -ENODEV;
	const volatile struct denali_vregs *v = dn_vregs();
	if (v->ipv4_addr == 0)
		return -EADDRNOTAVAIL;
	struct net_config cfg;
	if (over != NULL)
		cfg = *over;
	else
		memset(&cfg, 0, sizeof(cfg));
	if (cfg.rx_ring_max)
		dn_net_rx_depth_max(cfg.rx_ring_max);
	memcpy(cfg.mac, dn_net_mac(), 6);
	cfg.mtu = v->mtu;
	cfg.ip = v->ipv4_addr;
	cfg.netmask = v->ipv4_netmask;
	cfg.gateway = v->ipv4_gateway;
	for (int i = 0; i < 32; i++)
		cfg.secret[i] = v->secret[i];
	struct net_platform plat = {.now_ns = g_now,
				    .send_frame = g_send,
				    .alloc = g_alloc,
				    .free = g_free,
				    .wait = g_wait};
	g_st = net_stack_create(&cfg, &plat);
	memset(cfg.secret, 0, sizeof(cfg.secret));
	return g_st != NULL ? 0 : -ENOMEM;
}

uint64_t dn_net_idles(void)
{
	return g_idles;
}

struct net_stack *dn_net_stack(void)
{
	return g_st;
}

static void console_out(const char *s, size_t n)
{
	dn_console_write(s, n);
}

void dn_net_print_counters(void)
{
	if (g_st != NULL)
		net_counters_print(g_st, console_out);
}

void dn_net_counters_at_exit(int on)
{
	g_print_at_exit = on;
}

/* Called by exit() (weak reference in stdlib.c). */
void __dn_net_at_exit(void);
void __dn_net_at_exit(void)
{
	if (g_st == NULL)
		return;
	/* Give frames already queued (a last reply, a FIN) their exit. */
	dn_net_flush();
	if (g_print_at_exit)
		dn_net_print_counters();
}

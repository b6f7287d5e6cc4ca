/*
 * netpeer: the Ethernet test guest.
 *   netpeer echo N            echo N frames back to their sender (0 = forever):
 *                             destination = the frame's source, source = our MAC
 *   netpeer ping MAC N [MS]   send N numbered frames to MAC (MS ms apart), wait
 *                             up to 1 s for each echo; prints sent/received, RTT
 *   netpeer flood MAC N       send N frames to MAC as fast as the ring allows
 *   netpeer floodfor MAC MS   the same for MS ms, EtherType 0x88b6 (not a test
 *                             frame: a host pinger beside it does not see them)
 *   netpeer forge MAC N       send N frames to MAC with a source MAC not ours
 *   netpeer bcast N           send N broadcast frames
 *   netpeer count MS          count frames received for MS ms, by source
 *   netpeer sink N            receive N frames, print the rate
 * Frames use EtherType 0x88b5 (local experimental).
 */
#include <denali/libos.h>
#include <denali/netdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETHERTYPE_TEST 0x88b5
#define FRAME_LEN      64

static uint8_t frame[DENALI_NET_FRAME_MAX];

static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		char *end;
		unsigned long v = strtoul(s, &end, 16);

		if (end == s || v > 255 || (i < 5 && *end != ':') || (i == 5 && *end))
			return -1;
		mac[i] = (uint8_t)v;
		s = end + 1;
	}
	return 0;
}

static void build(const uint8_t dst[6], const uint8_t src[6], uint32_t seq, size_t len)
{
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = ETHERTYPE_TEST >> 8;
	frame[13] = ETHERTYPE_TEST & 0xff;
	memcpy(frame + 14, &seq, 4);
	for (size_t i = 18; i < len; i++)
		frame[i] = (uint8_t)(i + seq);
}

/* Sends the frame in `frame`, idling while the tx ring is full. */
static void send_wait(size_t len)
{
	while (dn_net_send(frame, len) == -11)
		dn_idle(dn_now_ns() + 100000);
}

static int echo(long n)
{
	uint8_t buf[DENALI_NET_FRAME_MAX];
	long done = 0;

	printf("netpeer: echo ready, mac %02x:%02x:%02x:%02x:%02x:%02x\n", dn_net_mac()[0],
	       dn_net_mac()[1], dn_net_mac()[2], dn_net_mac()[3], dn_net_mac()[4], dn_net_mac()[5]);
	dn_console_sync();
	uint64_t last = dn_now_ns();

	while (n == 0 || done < n) {
		int len = dn_net_recv(buf, sizeof(buf));

		if (len <= 0) {
			/* Counted echoes end after 5 s without a frame (lost ones). */
			if (n && done && dn_now_ns() - last > 5000000000ull)
				break;
			dn_idle(n && done ? dn_now_ns() + 1000000000ull : DENALI_NO_DEADLINE);
			continue;
		}
		last = dn_now_ns();
		/* Only our test frames: a host's own chatter (IPv6 router
		 * solicitations...) is not echoed nor counted. */
		if (len < 14 || buf[12] != ETHERTYPE_TEST >> 8 ||
		    buf[13] != (ETHERTYPE_TEST & 0xff))
			continue;
		memcpy(buf, buf + 6, 6);
		memcpy(buf + 6, dn_net_mac(), 6);
		while (dn_net_send(buf, (size_t)len) == -11)
			dn_idle(dn_now_ns() + 100000);
		done++;
	}
	printf("netpeer: echoed %ld frames\n", done);
	return 0;
}

static void sort_u64(uint64_t *v, long n)
{
	for (long i = 1; i < n; i++)
		for (long j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static int ping(const uint8_t peer[6], long n, long interval_ms)
{
	uint8_t buf[DENALI_NET_FRAME_MAX];
	uint64_t *rtt = calloc((size_t)n + 1, sizeof(*rtt));
	long got = 0;

	for (long i = 0; i < n; i++) {
		uint64_t t0, deadline;

		if (interval_ms > 0 && i > 0)
			dn_sleep_ns((uint64_t)interval_ms * 1000000ull);
		t0 = dn_now_ns();
		deadline = t0 + 1000000000ull;

		build(peer, dn_net_mac(), (uint32_t)i, FRAME_LEN);
		send_wait(FRAME_LEN);
		for (;;) {
			int len = dn_net_recv(buf, sizeof(buf));
			uint32_t seq;

			if (len >= 18 && !memcmp(buf + 6, peer, 6)) {
				memcpy(&seq, buf + 14, 4);
				if (seq == (uint32_t)i) {
					rtt[got++] = dn_now_ns() - t0;
					break;
				}
				continue;
			}
			if (len > 0)
				continue;
			if (dn_now_ns() >= deadline)
				break;
			dn_idle(deadline);
		}
	}
	sort_u64(rtt, got);
	printf("netpeer: ping sent %ld received %ld rtt_p50_us %lu rtt_max_us %lu\n", n, got,
	       got ? (unsigned long)(rtt[got / 2] / 1000) : 0ul,
	       got ? (unsigned long)(rtt[got - 1] / 1000) : 0ul);
	return got == n ? 0 : 1;
}

static int blast(const uint8_t dst[6], const uint8_t *src, long n)
{
	for (long i = 0; i < n; i++) {
		build(dst, src, (uint32_t)i, FRAME_LEN);
		send_wait(FRAME_LEN);
	}
	dn_net_flush();
	printf("netpeer: sent %ld frames\n", n);
	return 0;
}

static int flood_for(const uint8_t dst[6], long ms)
{
	uint64_t end = dn_now_ns() + (uint64_t)ms * 1000000ull;
	long n = 0;

	while (dn_now_ns() < end) {
		build(dst, dn_net_mac(), (uint32_t)n, FRAME_LEN);
		frame[13] = (ETHERTYPE_TEST + 1) & 0xff;
		send_wait(FRAME_LEN);
		n++;
	}
	dn_net_flush();
	printf("netpeer: floodfor sent %ld frames\n", n);
	return 0;
}

/* Receives n test frames (or until 2 s pass without one); prints the rate
 * from the first frame to the last. */
static int sink(long n)
{
	uint8_t buf[DENALI_NET_FRAME_MAX];
	uint64_t first = 0, last = 0;
	long got = 0;

	while (got < n) {
		int len = dn_net_recv(buf, sizeof(buf));

		if (len <= 0) {
			if (got && dn_now_ns() - last > 2000000000ull)
				break;
			dn_idle(dn_now_ns() + 100000000ull);
			continue;
		}
		last = dn_now_ns();
		if (!got)
			first = last;
		got++;
	}
	printf("netpeer: sink received %ld frames in %lu us fps %lu\n", got,
	       (unsigned long)((last - first) / 1000),
	       last > first ? (unsigned long)((uint64_t)(got - 1) * 1000000000ull / (last - first))
			    : 0ul);
	return 0;
}

static int count(long ms)
{
	uint8_t buf[DENALI_NET_FRAME_MAX];
	uint64_t end = dn_now_ns() + (uint64_t)ms * 1000000ull;
	long frames = 0, bcast = 0;

	while (dn_now_ns() < end) {
		int len = dn_net_recv(buf, sizeof(buf));

		if (len <= 0) {
			dn_idle(end);
			continue;
		}
		if (buf[12] != ETHERTYPE_TEST >> 8 || buf[13] != (ETHERTYPE_TEST & 0xff))
			continue;
		frames++;
		bcast += buf[0] == 0xff;
	}
	printf("netpeer: counted %ld frames, %ld broadcast\n", frames, bcast);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t forged[6] = {0x02, 0x66, 0x6f, 0x72, 0x67, 0x65};
	uint8_t mac[6];

	if (!dn_net_present()) {
		printf("netpeer: no NIC\n");
		return 2;
	}
	if (argc >= 3 && !strcmp(argv[1], "echo"))
		return echo(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "bcast"))
		return blast(bcast, dn_net_mac(), atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "sink"))
		return sink(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "count"))
		return count(atol(argv[2]));
	if (argc >= 4 && parse_mac(argv[2], mac) == 0) {
		if (!strcmp(argv[1], "ping"))
			return ping(mac, atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
		if (!strcmp(argv[1], "flood"))
			return blast(mac, dn_net_mac(), atol(argv[3]));
		if (!strcmp(argv[1], "floodfor"))
			return flood_for(mac, atol(argv[3]));
		if (!strcmp(argv[1], "forge"))
			return blast(mac, forged, atol(argv[3]));
	}
	printf("netpeer: usage: echo N | ping MAC N | flood MAC N | floodfor MAC MS | "
	       "forge MAC N | bcast N | count MS\n");
	return 2;
}

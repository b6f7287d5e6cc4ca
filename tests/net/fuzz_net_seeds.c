/*
 * Writes the seed corpus of fuzz_net (see fuzz_net.c for the record
 * format) into the directory given as argument: ARP, ICMP echo, UDP, a
 * passive TCP session with data out of order and a FIN, an active open
 * answered, and RSTs.
 */
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_ACK	 0x01
#define FIX_CSUM 0x02
#define TICK	 0x04
#define APP	 0x08

static uint8_t out[65536];
static size_t outlen;

static void rec(uint8_t op, const uint8_t *f, size_t len)
{
	out[outlen] = op;
	wr16(out + outlen + 1, (uint16_t)len);
	memcpy(out + outlen + 3, f, len);
	outlen += 3 + len;
}

static void save(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL || fwrite(out, 1, outlen, fp) != outlen || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
	outlen = 0;
}

static void tcp(uint8_t op, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		uint8_t flags, const void *data, size_t len)
{
	static const uint8_t opt[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
	uint8_t f[1600];
	bool syn = flags & TH_SYN;
	size_t n = frame_tcp(f, IP_B, IP_A, sport, dport, seq, ack, flags, 8192, syn ? opt : NULL,
			     syn ? 8 : 0, data, len);
	rec(op, f, n);
}

int main(int argc, char **argv)
{
	uint8_t f[1600];
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];

	/* ARP request for us. */
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, MAC_B, 6);
	wr16(f + 12, ETH_TYPE_ARP);
	wr16(f + 14, 1);
	wr16(f + 16, ETH_TYPE_IPV4);
	f[18] = 6;
	f[19] = 4;
	wr16(f + 20, 1);
	memcpy(f + 22, MAC_B, 6);
	wr32(f + 28, IP_B);
	wr32(f + 38, IP_A);
	rec(0, f, 60);
	save(dir, "arp");

	/* ICMP echo and UDP. */
	uint8_t *p = f + ETH_HLEN + IP_HLEN;
	memset(p, 0, 64);
	p[0] = 8;
	wr16(p + 4, 1);
	rec(FIX_CSUM, f, frame_ipv4(f, MAC_A, MAC_B, IP_B, IP_A, 1, 64));
	rec(FIX_CSUM | APP, f, frame_udp(f, IP_B, IP_A, 999, 7, "echo me", 7));
	save(dir, "icmp-udp");

	/* Passive session: SYN, ACK, data out of order, FIN, app, timers. */
	const uint8_t C = FIX_CSUM, CA = FIX_CSUM | FIX_ACK;
	tcp(C, 1234, 80, 100, 0, TH_SYN, NULL, 0);
	tcp(CA, 1234, 80, 101, 1, TH_ACK, NULL, 0);
	tcp(CA, 1234, 80, 111, 1, TH_ACK, "world", 5);
	tcp(CA | APP, 1234, 80, 101, 1, TH_ACK | TH_PSH, "hello-GET-", 10);
	tcp(CA | APP, 1234, 80, 116, 301, TH_ACK | TH_FIN, NULL, 0);
	tcp(CA | TICK | 0x30, 1234, 80, 117, 302, TH_ACK, NULL, 0);
	save(dir, "tcp-passive");

	/* Active open to 198.18.0.2:5555 from port 40000, answered; data both ways. */
	tcp(CA, 5555, 40000, 7000, 1, TH_SYN | TH_ACK, NULL, 0);
	tcp(CA | APP, 5555, 40000, 7001, 1, TH_ACK, "reply", 5);
	tcp(CA | APP | 0x20, 5555, 40000, 7006, 301, TH_ACK | TH_FIN, NULL, 0);
	tcp(CA | TICK | 0xf0, 5555, 40000, 7007, 302, TH_ACK, NULL, 0);
	save(dir, "tcp-active");

	/* RSTs, a SYN to a closed port, retransmission timers. */
	tcp(C, 1235, 80, 500, 0, TH_SYN, NULL, 0);
	tcp(C | TICK | 0xf0, 1235, 80, 500, 0, TH_SYN, NULL, 0);
	tcp(CA, 1235, 80, 501, 1, TH_RST, NULL, 0);
	tcp(C, 1236, 81, 1, 0, TH_SYN, NULL, 0);
	tcp(CA | TICK | 0xf0, 5555, 40000, 1, 1, TH_RST | TH_ACK, NULL, 0);
	save(dir, "tcp-rst");
	return 0;
}

/*
 * hog-net [SECONDS [bcast]]: sends Ethernet frames as fast as it can.
 * Default: full-size IPv4/UDP frames to a MAC no VM has, which the switch
 * sends to its uplink (the tap; the host drops them, not being theirs);
 * "bcast": to the broadcast MAC, which the switch copies to every port of
 * the hog's network. The source MAC is the hog's own (forged ones are
 * dropped by the switch and would flood nothing). When the tx ring is
 * full it kicks (one exit) and goes on.
 */
#include "hog.h"

#include <denali/netdev.h>
#include <errno.h>
#include <string.h>

#define FRAME 1514u

static uint8_t frame[FRAME], sink[64];

static void build(int bcast)
{
	static const uint8_t nowhere[6] = {0x02, 0xde, 0xad, 0xbe, 0xef, 0x01};
	const volatile struct denali_vregs *v = dn_vregs();
	uint8_t *ip = frame + 14, *udp = ip + 20;
	uint32_t src = v->ipv4_addr, dst = (v->ipv4_addr & v->ipv4_netmask) | ~v->ipv4_netmask;
	uint16_t iplen = FRAME - 14;

	memset(frame, 0, sizeof(frame));
	if (bcast)
		memset(frame, 0xff, 6);
	else
		memcpy(frame, nowhere, 6);
	memcpy(frame + 6, dn_net_mac(), 6);
	frame[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	ip[2] = (uint8_t)(iplen >> 8);
	ip[3] = (uint8_t)iplen;
	ip[8] = 1;  /* TTL: goes nowhere past the first hop */
	ip[9] = 17; /* UDP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4); /* the hog's own network's broadcast address */
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	udp[0] = 0x27; /* ports 9999 -> 9 (discard) */
	udp[1] = 0x0f;
	udp[3] = 9;
	udp[4] = (uint8_t)((iplen - 20) >> 8);
	udp[5] = (uint8_t)(iplen - 20);
}

int main(int argc, char **argv)
{
	struct hog h;
	uint64_t sent = 0;

	if (!dn_net_present()) {
		printf("hog-net: no NIC\n");
		return 2;
	}
	build(argc > 2 && strcmp(argv[2], "bcast") == 0);
	hog_start(&h, "hog-net", argc, argv);
	do {
		for (int i = 0; i < 64; i++) {
			int rc = dn_net_send(frame, sizeof(frame));
			if (rc == -EAGAIN) {
				dn_net_flush();
				continue;
			}
			if (rc < 0) {
				printf("hog-net: send: %d\n", rc);
				return 1;
			}
			sent++;
		}
		while (dn_net_recv(sink, sizeof(sink)) > 0) /* drop what comes in */
			;
	} while (hog_tick(&h, sent, "frames"));
	return hog_done(&h, sent, "frames");
}

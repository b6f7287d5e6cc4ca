/*
 * IPv4 (RFC 791) input and output, the Internet checksum (RFC 1071) and
 * ICMP echo (RFC 792).
 *
 * Input checks: version 4, header length at least 20 and within the frame,
 * total length covering the header and within the frame (Ethernet padding
 * beyond it is ignored), header checksum, no fragments (MF set or a non-zero
 * offset: dropped and counted, the stack never reassembles), a source that
 * is neither broadcast, multicast nor zero, and a destination that is ours
 * or broadcast. Options are skipped.
 */
#include "net_stack.h"
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "net_csum_add sums little-endian words"
#endif

/*
 * The one's complement sum is the same in either byte order, swapped (RFC
 * 1071 2.B): the data is summed as little-endian 32-bit words (eight bytes
 * per step, __builtin_memcpy: inlined even under the guest's -fno-builtin),
 * folded to 16 bits, swapped to network order and added to `sum`. A
 * trailing odd byte counts as the high byte of a last network-order word,
 * as before, so chained calls give what one call over the bytes would when
 * every chunk but the last has an even length.
 */
uint32_t net_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t s = 0;

	while (len >= 8) {
		uint32_t a, b;
		__builtin_memcpy(&a, p, 4);
		__builtin_memcpy(&b, p + 4, 4);
		s += (uint64_t)a + b;
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t a;
		__builtin_memcpy(&a, p, 4);
		s += a;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t a;
		__builtin_memcpy(&a, p, 2);
		s += a;
		p += 2;
		len -= 2;
	}
	if (len)
		s += p[0]; /* the low byte of a little-endian word */
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	uint64_t t = (uint64_t)sum + __builtin_bswap16((uint16_t)s);
	while (t >> 32)
		t = (t & 0xffffffffu) + (t >> 32);
	return (uint32_t)t;
}

uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint32_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff);

	return s + proto + len;
}

bool net_ip_is_local(struct net_stack *st, uint32_t ip)
{
	return ip == st->ip;
}

static bool ip_is_broadcast(struct net_stack *st, uint32_t ip)
{
	return ip == IP_BROADCAST || (st->mask != 0 && st->mask != 0xffffffffu &&
				      ip == ((st->ip & st->mask) | ~st->mask));
}

static void icmp_input(struct net_stack *st, uint32_t src, uint32_t dst, const uint8_t *p,
		       size_t len)
{
	st->cnt.icmp_in++;
	if (len < 8 || net_csum_fold(net_csum_add(0, p, len)) != 0) {
		st->cnt.icmp_drop++;
		return;
	}
	/* Echo request to our own address: answer; everything else is counted. */
	if (p[0] != 8 || p[1] != 0 || dst != st->ip) {
		st->cnt.icmp_drop++;
		return;
	}
	if (len > (size_t)st->mtu - IP_HLEN) {
		st->cnt.icmp_drop++;
		return;
	}
	uint8_t *o = ipv4_payload(st);
	memmove(o, p, len);
	o[0] = 0; /* echo reply */
	o[2] = o[3] = 0;
	wr16(o + 2, net_csum_fold(net_csum_add(0, o, len)));
	if (ipv4_output(st, src, IP_PROTO_ICMP, len) == 0)
		st->cnt.icmp_echo_out++;
}

void ipv4_input(struct net_stack *st, const uint8_t *smac, const uint8_t *p, size_t len)
{
	st->cnt.ip_in++;
	if (len < IP_HLEN || (p[0] >> 4) != 4) {
		st->cnt.ip_drop_hdr++;
		return;
	}
	size_t hl = (size_t)(p[0] & 0xf) * 4;
	size_t tot = rd16(p + 2);
	if (hl < IP_HLEN || hl > len || tot < hl || tot > len) {
		st->cnt.ip_drop_hdr++;
		return;
	}
	if (net_csum_fold(net_csum_add(0, p, hl)) != 0) {
		st->cnt.ip_drop_csum++;
		return;
	}
	uint16_t frag = rd16(p + 6);
	if ((frag & 0x2000) || (frag & 0x1fff)) {
		st->cnt.ip_drop_frag++;
		return;
	}
	uint32_t src = rd32(p + 12), dst = rd32(p + 16);
	uint8_t top = (uint8_t)(src >> 24);
	if (src == 0 || ip_is_broadcast(st, src) || (top >= 224 && top < 240) || top == 127) {
		st->cnt.ip_drop_addr++;
		return;
	}
	if (st->ip == 0 || (dst != st->ip && !ip_is_broadcast(st, dst))) {
		st->cnt.ip_drop_addr++;
		return;
	}
	arp_confirm(st, src, smac);
	const uint8_t *pl = p + hl;
	size_t plen = tot - hl;
	switch (p[9]) {
	case IP_PROTO_ICMP:
		icmp_input(st, src, dst, pl, plen);
		break;
	case IP_PROTO_UDP:
		udp_input(st, src, dst, pl, plen);
		break;
	case IP_PROTO_TCP:
		if (dst != st->ip) { /* no TCP to broadcast */
			st->cnt.ip_drop_addr++;
			break;
		}
		tcp_input(st, src, dst, pl, plen);
		break;
	default:
		st->cnt.ip_drop_proto++;
	}
}

uint32_t ipv4_nexthop(const struct net_stack *st, uint32_t dst)
{
	if ((dst & st->mask) == (st->ip & st->mask))
		return dst;
	return st->gw;
}

int ipv4_output(struct net_stack *st, uint32_t dst, uint8_t proto, size_t plen)
{
	uint8_t *h = st->tx + ETH_HLEN;

	if (plen > (size_t)st->mtu - IP_HLEN)
		return -EMSGSIZE;
	h[0] = 0x45;
	h[1] = 0;
	wr16(h + 2, (uint16_t)(IP_HLEN + plen));
	wr16(h + 4, st->ip_ident++);
	wr16(h + 6, 0x4000); /* DF */
	h[8] = 64;
	h[9] = proto;
	h[10] = h[11] = 0;
	wr32(h + 12, st->ip);
	wr32(h + 16, dst);
	wr16(h + 10, net_csum_fold(net_csum_add(0, h, IP_HLEN)));
	st->cnt.ip_out++;
	if (dst == IP_BROADCAST || ip_is_broadcast(st, dst))
		return eth_output(st, eth_broadcast, ETH_TYPE_IPV4, IP_HLEN + plen);
	uint32_t nh = ipv4_nexthop(st, dst);
	if (nh == 0) {
		st->cnt.ip_drop_noroute++;
		return -ENETUNREACH;
	}
	return arp_output(st, nh, IP_HLEN + plen);
}

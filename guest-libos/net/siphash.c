/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012), written from the paper's description: four 64-bit words of state
 * initialised from the key and four constants, two SipRounds per 8-byte
 * little-endian message word, the length in the top byte of the last word,
 * then 0xff into v2 and four finalisation rounds.
 */
#include "net_stack.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static void sip_compress(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t net_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	struct sip s = {
	    .v0 = k0 ^ 0x736f6d6570736575ull,
	    .v1 = k1 ^ 0x646f72616e646f6dull,
	    .v2 = k0 ^ 0x6c7967656e657261ull,
	    .v3 = k1 ^ 0x7465646279746573ull,
	};
	size_t i;

	for (i = 0; i + 8 <= len; i += 8)
		sip_compress(&s, le64(p + i));
	uint64_t last = (uint64_t)(len & 0xff) << 56;
	for (size_t j = 0; i + j < len; j++)
		last |= (uint64_t)p[i + j] << (8 * j);
	sip_compress(&s, last);
	s.v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/*
 * RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 * with M a timer ticking every 4 microseconds and F a keyed PRF, here
 * SipHash-2-4 under a key derived from the per-VM secret.
 */
uint32_t tcp_isn(struct net_stack *st, uint32_t lip, uint16_t lport, uint32_t rip, uint16_t rport)
{
	uint8_t t[12];

	wr32(t, lip);
	wr16(t + 4, lport);
	wr32(t + 6, rip);
	wr16(t + 10, rport);
	uint32_t m = (uint32_t)(net_now(st) / 4000);
	return m + (uint32_t)net_siphash(st->isn_key, t, sizeof(t)) + st->isn_bias;
}

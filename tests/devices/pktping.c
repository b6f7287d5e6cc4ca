/*
 * denali-pktping: the host side of the tap tests and benches, over AF_PACKET.
 *
 *   denali-pktping IFACE DST_MAC COUNT [SIZE [WINDOW [TIMEOUT_MS]]]
 *
 * Sends COUNT numbered frames of SIZE bytes (EtherType 0x88b5) from IFACE's
 * MAC to DST_MAC, keeping at most WINDOW (default 1) unanswered, and counts
 * the frames that come back addressed to us from DST_MAC with a number we
 * sent (an echo with MACs swapped). A frame not answered within TIMEOUT_MS
 * (default 1000) counts as lost and the window moves on. Prints one line:
 *   pktping: sent N received M lost L p50_us A p99_us B fps F
 * Exit status 0 if every frame came back, 1 otherwise, 2 on errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_TEST 0x88b5

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint8_t dst[6], src[6], frame[1514], buf[2048];
	struct sockaddr_ll sll;
	struct ifreq ifr;
	long count, size = 64, window = 1, timeout_ms = 1000;
	uint64_t *sent_at, *rtt, t_start, t_end;
	long next = 0, got = 0, lost = 0, oldest = 0;
	int fd;

	if (argc < 4 || parse_mac(argv[2], dst)) {
		fprintf(stderr, "usage: denali-pktping IFACE DST_MAC COUNT [SIZE [WINDOW "
				"[TIMEOUT_MS]]]\n");
		return 2;
	}
	count = atol(argv[3]);
	if (argc > 4)
		size = atol(argv[4]);
	if (argc > 5)
		window = atol(argv[5]);
	if (argc > 6)
		timeout_ms = atol(argv[6]);
	if (count <= 0 || size < 60 || size > 1514 || window <= 0) {
		fprintf(stderr, "denali-pktping: bad COUNT, SIZE (60..1514) or WINDOW\n");
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_TEST));
	if (fd < 0) {
		perror("denali-pktping: socket(AF_PACKET)");
		return 2;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("denali-pktping: SIOCGIFHWADDR");
		return 2;
	}
	memcpy(src, ifr.ifr_hwaddr.sa_data, 6);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_TEST);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("denali-pktping: bind");
		return 2;
	}
	sent_at = calloc((size_t)count, sizeof(*sent_at));
	rtt = calloc((size_t)count, sizeof(*rtt));
	if (!sent_at || !rtt)
		return 2;
	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = ETHERTYPE_TEST >> 8;
	frame[13] = ETHERTYPE_TEST & 0xff;
	for (long i = 18; i < size; i++)
		frame[i] = (uint8_t)i;
	t_start = now_ns();
	while (oldest < count) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();

		/* Frames unanswered past the timeout are lost. */
		while (oldest < next && sent_at[oldest] &&
		       now - sent_at[oldest] > (uint64_t)timeout_ms * 1000000ull) {
			sent_at[oldest] = 0;
			lost++;
			oldest++;
		}
		while (oldest < next && sent_at[oldest] == 0 && rtt[oldest] != 0)
			oldest++;
		while (next < count && next - oldest < window) {
			uint32_t seq = (uint32_t)next;

			memcpy(frame + 14, &seq, 4);
			sent_at[next] = now_ns();
			if (send(fd, frame, (size_t)size, 0) < 0) {
				if (errno == ENOBUFS || errno == EAGAIN)
					break;
				perror("denali-pktping: send");
				return 2;
			}
			next++;
		}
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		for (;;) {
			struct sockaddr_ll from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			uint32_t seq;

			if (n < 0)
				break;
			if (from.sll_pkttype == PACKET_OUTGOING || n < 18 || memcmp(buf, src, 6) ||
			    memcmp(buf + 6, dst, 6))
				continue;
			memcpy(&seq, buf + 14, 4);
			if (seq >= (uint32_t)next || sent_at[seq] == 0 || rtt[seq])
				continue;
			rtt[seq] = now_ns() - sent_at[seq];
			sent_at[seq] = 0;
			got++;
		}
	}
	t_end = now_ns();
	{
		uint64_t *r = malloc((size_t)(got ? got : 1) * sizeof(*r));
		long k = 0;

		for (long i = 0; i < count; i++)
			if (rtt[i])
				r[k++] = rtt[i];
		qsort(r, (size_t)k, sizeof(*r), cmp_u64);
		printf("pktping: sent %ld received %ld lost %ld p50_us %.1f p99_us %.1f fps %.0f\n",
		       next, got, lost, k ? r[k / 2] / 1e3 : 0.0,
		       k ? r[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] / 1e3 : 0.0,
		       got * 1e9 / (double)(t_end - t_start));
		free(r);
	}
	return got == count ? 0 : 1;
}

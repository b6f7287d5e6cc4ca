/*
 * denali-impair: a test-only impairing relay between a VM uplink tap and
 * the host's IP stack, standing in for `tc qdisc ... netem`, which this
 * kernel does not have (CONFIG_NET_SCH_NETEM is off and there are no
 * modules).
 *
 *   denali-impair [options] VM_IFACE HOST_TAP
 *     --loss PCT      drop each frame with this probability (default 0)
 *     --delay-ms MS   hold each frame this long (default 0)
 *     --reorder PCT   send this share of the frames at once, ahead of the
 *                     delayed ones (netem's "reorder"; needs a delay)
 *     --seed N        the random sequence (default 1)
 *     --to-vm-only    impair only host -> VM (what netem on the tap's root
 *                     qdisc would do); by default both directions
 *
 * VM_IFACE is the tap a denalid uplink is attached to, used through an
 * AF_PACKET socket: what the VMs send arrives on it, what the relay sends
 * on it goes to the VMs. It must have no address and ARP off (the host
 * stack must not answer on it). HOST_TAP is created (or attached) by the
 * relay; the host's address lives on it, so every frame between the host
 * and the VMs crosses the relay. Both directions, ARP included.
 *
 * Prints "impair: ready" once both ends are open, and its counters on
 * SIGTERM or SIGINT, then exits 0:
 *   impair: to_host in N out N lost N reordered N overflow N
 *   impair: to_vm in N out N lost N reordered N overflow N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 2048
#define QCELLS	  4096 /* frames held per direction */

struct cell {
	uint64_t due;
	uint16_t len;
	uint8_t data[FRAME_MAX];
};

/* One direction: frames read from `in` are written to `out` after the delay. */
struct dir {
	const char *name;
	int impair;
	struct cell *q; /* FIFO: the delay is the same for every frame */
	unsigned head, n;
	uint64_t in, out, lost, reordered, overflow;
};

static volatile sig_atomic_t stop;
static uint64_t rng;
static unsigned loss_ppm, reorder_ppm;
static uint64_t delay_ns;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: a fixed sequence for a seed; a draw in [0, 1e6). */
static unsigned draw_ppm(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 2685821657736338717ull >> 32) % 1000000u);
}

static int parse_pct(const char *s, unsigned *ppm)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != 0 || !(v >= 0 && v <= 100))
		return -1;
	*ppm = (unsigned)(v * 10000 + 0.5);
	return 0;
}

static int open_tap(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "impair: /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "impair: tap %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int open_packet(const char *name, int *ifindex)
{
	struct sockaddr_ll sll;
	int one = 1;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (fd < 0) {
		fprintf(stderr, "impair: AF_PACKET: %s\n", strerror(errno));
		return -1;
	}
	*ifindex = (int)if_nametoindex(name);
	if (*ifindex == 0) {
		fprintf(stderr, "impair: %s: no such interface\n", name);
		close(fd);
		return -1;
	}
	/* Our own sends on it are not frames from the VMs. */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
		fprintf(stderr, "impair: PACKET_IGNORE_OUTGOING: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = *ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "impair: bind %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void emit(int fd, const uint8_t *p, size_t len, struct dir *d)
{
	/* A full device queue loses the frame, as a wire would. */
	if (write(fd, p, len) == (ssize_t)len)
		d->out++;
}

/* A frame read for direction d: lost, sent at once (reordered ahead of the
 * delayed ones, or no delay at all) or held until its time. */
static void admit(struct dir *d, int out_fd, const uint8_t *p, size_t len, uint64_t now)
{
	d->in++;
	if (d->impair && loss_ppm && draw_ppm() < loss_ppm) {
		d->lost++;
		return;
	}
	if (!d->impair || delay_ns == 0) {
		emit(out_fd, p, len, d);
		return;
	}
	if (reorder_ppm && draw_ppm() < reorder_ppm) {
		if (d->n)
			d->reordered++; /* it overtakes frames still held */
		emit(out_fd, p, len, d);
		return;
	}
	if (d->n == QCELLS) {
		d->overflow++;
		return;
	}
	struct cell *c = &d->q[(d->head + d->n++) % QCELLS];
	c->due = now + delay_ns;
	c->len = (uint16_t)len;
	memcpy(c->data, p, len);
}

static void release(struct dir *d, int out_fd, uint64_t now)
{
	while (d->n && d->q[d->head].due <= now) {
		struct cell *c = &d->q[d->head];
		emit(out_fd, c->data, c->len, d);
		d->head = (d->head + 1) % QCELLS;
		d->n--;
	}
}

/* Up to 64 frames from in_fd; -1 when the interface is gone (a read error
 * other than "nothing now": a deleted tap reads EBADFD, poll says POLLIN). */
static int drain(int in_fd, struct dir *d, int out_fd)
{
	uint8_t buf[FRAME_MAX];

	for (int i = 0; i < 64; i++) {
		ssize_t n = read(in_fd, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0)
			return 0;
		admit(d, out_fd, buf, (size_t)n, now_ns());
	}
	return 0;
}

static void print_dir(const struct dir *d)
{
	printf("impair: %s in %llu out %llu lost %llu reordered %llu overflow %llu\n", d->name,
	       (unsigned long long)d->in, (unsigned long long)d->out, (unsigned long long)d->lost,
	       (unsigned long long)d->reordered, (unsigned long long)d->overflow);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: denali-impair [--loss PCT] [--delay-ms MS] [--reorder PCT] [--seed N]\n"
		   "                     [--to-vm-only] VM_IFACE HOST_TAP\n"
		   "A test-only impairing relay (netem's loss/delay/reorder) between the tap a\n"
		   "denalid uplink is attached to and a tap carrying the host's address.\n");
}

int main(int argc, char **argv)
{
	struct dir to_host = {.name = "to_host", .impair = 1};
	struct dir to_vm = {.name = "to_vm", .impair = 1};
	unsigned long long seed = 1;
	int i, vm_fd, tap_fd, ifindex;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--to-vm-only")) {
			to_host.impair = 0;
			continue;
		} else if (!v) {
			break;
		} else if (!strcmp(a, "--loss")) {
			if (parse_pct(v, &loss_ppm))
				break;
		} else if (!strcmp(a, "--reorder")) {
			if (parse_pct(v, &reorder_ppm))
				break;
		} else if (!strcmp(a, "--delay-ms")) {
			unsigned long ms = strtoul(v, &end, 10);
			if (end == v || *end || ms > 10000)
				break;
			delay_ns = ms * 1000000ull;
		} else if (!strcmp(a, "--seed")) {
			seed = strtoull(v, &end, 10);
			if (end == v || *end)
				break;
		} else {
			break;
		}
		i++;
	}
	if (argc - i != 2 || argv[i][0] == '-') {
		usage(stderr);
		return 2;
	}
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	to_host.q = calloc(QCELLS, sizeof(struct cell));
	to_vm.q = calloc(QCELLS, sizeof(struct cell));
	if (!to_host.q || !to_vm.q) {
		fprintf(stderr, "impair: out of memory\n");
		return 1;
	}
	vm_fd = open_packet(argv[i], &ifindex);
	if (vm_fd < 0)
		return 1;
	tap_fd = open_tap(argv[i + 1]);
	if (tap_fd < 0)
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("impair: ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd p[2] = {{.fd = vm_fd, .events = POLLIN},
				      {.fd = tap_fd, .events = POLLIN}};
		uint64_t now = now_ns(), next = UINT64_MAX;
		struct timespec ts, *tsp = NULL;

		if (to_host.n)
			next = to_host.q[to_host.head].due;
		if (to_vm.n && to_vm.q[to_vm.head].due < next)
			next = to_vm.q[to_vm.head].due;
		if (next != UINT64_MAX) {
			uint64_t w = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(w / 1000000000ull);
			ts.tv_nsec = (long)(w % 1000000000ull);
			tsp = &ts;
		}
		if (ppoll(p, 2, tsp, NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "impair: poll: %s\n", strerror(errno));
			return 1;
		}
		int gone = 0;
		if (p[0].revents & POLLIN)
			gone |= drain(vm_fd, &to_host, tap_fd);
		if (p[1].revents & POLLIN)
			gone |= drain(tap_fd, &to_vm, vm_fd);
		if (gone || ((p[0].revents | p[1].revents) & (POLLERR | POLLHUP | POLLNVAL))) {
			fprintf(stderr, "impair: an interface went away\n");
			break;
		}
		now = now_ns();
		release(&to_host, tap_fd, now);
		release(&to_vm, vm_fd, now);
	}
	print_dir(&to_host);
	print_dir(&to_vm);
	close(vm_fd);
	close(tap_fd);
	free(to_host.q);
	free(to_vm.q);
	return 0;
}

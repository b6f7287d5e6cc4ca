/*
 * denali-tapecho: the host-process baseline for bench/net. Opens (or
 * creates) the tap NAME and echoes every frame back with its MACs swapped
 * (destination = the frame's source, source = 02:de:ff:ff:ff:fe), a plain
 * read/write loop, until killed.
 */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const uint8_t me[6] = {0x02, 0xde, 0xff, 0xff, 0xff, 0xfe};
	uint8_t buf[2048];
	struct ifreq ifr;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: denali-tapecho TAP\n");
		return 2;
	}
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("denali-tapecho: tap");
		return 2;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 14)
			continue;
		memcpy(buf, buf + 6, 6);
		memcpy(buf + 6, me, 6);
		if (write(fd, buf, (size_t)n) < 0)
			perror("denali-tapecho: write");
	}
}

/*
 * denali-blkbench: the host-direct baseline of bench/blk, the same patterns
 * as `blkcheck bench` issued by a host process through io_uring on the same
 * file: buffered like the VM's disk, or O_DIRECT (--direct, beside a VM run
 * with --disk-direct). Buffers are page-aligned.
 *   denali-blkbench [--direct] FILE randread QD N   N random 4 KiB reads, QD in flight
 *   denali-blkbench [--direct] FILE seqread QD N    N MiB in 1 MiB reads, QD in flight
 * Prints: blkbench: MODE qd QD ops N bytes B ns T iops I mbps M
 */

#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static uint8_t *bufs[32];
	uint64_t rng = 88172645463325252ull, t0, el, bytes = 0, off = 0, cap;
	long qd, n, total, issued = 0, done = 0;
	struct io_uring ring;
	struct stat st;
	int fd, seq, direct = argc > 1 && !strcmp(argv[1], "--direct");
	size_t bs;

	argc -= direct;
	argv += direct;
	if (argc != 5) {
		fprintf(stderr, "usage: denali-blkbench [--direct] FILE randread|seqread QD N\n");
		return 2;
	}
	seq = !strcmp(argv[2], "seqread");
	qd = atol(argv[3]);
	n = atol(argv[4]);
	total = n;
	bs = seq ? 1u << 20 : 4096;
	fd = open(argv[1], O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0 || fstat(fd, &st) < 0 || qd < 1 || qd > 32 ||
	    io_uring_queue_init(64, &ring, 0)) {
		perror("denali-blkbench");
		return 2;
	}
	for (long i = 0; i < qd; i++) {
		bufs[i] = aligned_alloc(4096, bs);
		if (!bufs[i]) {
			perror("denali-blkbench");
			return 2;
		}
		memset(bufs[i], 0, bs);
	}
	cap = (uint64_t)st.st_size;
	t0 = now_ns();
	while (done < total) {
		struct io_uring_cqe *cqe;

		while (issued < total && issued - done < qd) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			uint64_t o;

			if (seq) {
				o = off;
				off = off + 2 * bs <= cap ? off + bs : 0;
			} else {
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				o = (rng % (cap / 4096)) * 4096;
			}
			io_uring_prep_read(sqe, fd, bufs[issued % qd], (unsigned)bs, o);
			issued++;
		}
		io_uring_submit_and_wait(&ring, 1);
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if (cqe->res < (int)bs) {
				fprintf(stderr, "denali-blkbench: read: %d\n", cqe->res);
				return 1;
			}
			bytes += (uint64_t)cqe->res;
			done++;
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	el = now_ns() - t0;
	printf("blkbench: %s qd %ld ops %ld bytes %lu ns %lu iops %lu mbps %lu\n", argv[2], qd,
	       done, (unsigned long)bytes, (unsigned long)el,
	       (unsigned long)((uint64_t)done * 1000000000ull / el),
	       (unsigned long)(bytes * 1000ull / el));
	return 0;
}

/*
 * Strided swap slots through io_uring.
 *
 * A slot on disk: [meta block: header | page numbers (u32, ascending) |
 * vCPU state | device state | zero padding to 4 KiB] [npages x 4 KiB of page
 * data in page-number order]. The header's CRC covers the header, meta_crc
 * the rest of the meta block, data_crc the page data. A crash in the middle
 * of a write leaves a slot whose checksums fail, never one that loads.
 */
#include "swap.h"

#include "../vmm/guest_mem.h"
#include "../vmm/vm.h"

#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define SLOT_MAGIC   "DNLSWAP1"
#define SLOT_VERSION 1u
#define RING_DEPTH   64u
#define IOV_CHUNK    1024u /* IOV_MAX */
#define PM_CHUNK     4096u /* pagemap entries read at once */
#define PM_PRESENT   (1ull << 63)
#define PM_SWAPPED   (1ull << 62)

struct slot_header {
	char magic[8];
	uint32_t version;
	uint32_t header_crc; /* of this header with the field zero */
	uint64_t slot;
	uint64_t vm_id;
	uint64_t generation;
	uint64_t mem_size;
	uint32_t npages;
	uint32_t state_len;
	uint32_t dev_len;
	uint32_t meta_crc; /* page numbers, state, device state */
	uint32_t data_crc; /* page data */
	uint32_t pad;
};

_Static_assert(sizeof(struct slot_header) == 72, "slot header layout");

enum op_kind { OP_WRITEV, OP_READV, OP_FSYNC };

struct op {
	enum op_kind kind;
	int fd;
	struct iovec *iov;
	unsigned niov;
	uint64_t off;
	uint64_t len;
};

struct swap {
	pthread_mutex_t lock;
	struct io_uring ring;
	int *fds;
	unsigned nfiles;
	uint64_t slot_size, nslots;
	int durable;
	int pagemap_fd;
	/* Data syncs of whole files (group commit, swap_sync_files): their own
	 * ring and lock, so that slot I/O goes on during a sync. */
	pthread_mutex_t sync_lock;
	struct io_uring sync_ring;
	int sync_ring_ok;
	uint64_t syncs, sync_errors;
	int inject_sync_err;
	unsigned inject_sync_n;
	uint64_t *used; /* bitmap */
	uint64_t hint;
	uint64_t generation;
	int inject_err;
	unsigned inject_n;
	int no_prefault;
	uint64_t read_unit;
	struct swap_counters ctr;
	/* scratch, grown as needed */
	struct iovec *iov;
	size_t iov_cap;
	struct op *ops;
	size_t ops_cap;
};

unsigned swap_slot_file(uint64_t slot, unsigned nfiles)
{
	return (unsigned)(slot % nfiles);
}

uint64_t swap_slot_offset(uint64_t slot, unsigned nfiles, uint64_t slot_size)
{
	return slot / nfiles * slot_size;
}

uint64_t swap_meta_bytes(uint64_t npages, uint32_t state_len, uint32_t dev_len)
{
	uint64_t n = sizeof(struct slot_header) + npages * 4 + state_len + dev_len;

	return (n + SWAP_PAGE - 1) / SWAP_PAGE * SWAP_PAGE;
}

uint64_t swap_slot_size_for(uint64_t mem_size, uint32_t state_len, uint32_t dev_len)
{
	uint64_t npages = mem_size / SWAP_PAGE;

	return swap_meta_bytes(npages, state_len, dev_len) + npages * SWAP_PAGE;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int swap_open(const struct swap_config *cfg, struct swap **out, char *err, size_t errlen)
{
	struct swap *sw;
	char path[PATH_MAX];
	int rc;

	if (!cfg->dir || !cfg->nfiles || cfg->nfiles > 4096 || !cfg->slot_size ||
	    cfg->slot_size % SWAP_PAGE || cfg->size / cfg->slot_size < 1 ||
	    cfg->read_unit % SWAP_PAGE) {
		snprintf(err, errlen,
			 "swap: need a directory, 1..4096 files and a size of at least one slot "
			 "(slot size and read unit multiples of 4 KiB)");
		return -EINVAL;
	}
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return -ENOMEM;
	pthread_mutex_init(&sw->lock, NULL);
	sw->nfiles = cfg->nfiles;
	sw->slot_size = cfg->slot_size;
	sw->no_prefault = cfg->no_prefault;
	sw->read_unit = cfg->read_unit;
	sw->nslots = cfg->size / cfg->slot_size;
	sw->durable = cfg->durable;
	sw->generation = realtime_ns();
	sw->pagemap_fd = -1;
	sw->fds = malloc(sizeof(int) * cfg->nfiles);
	sw->used = calloc((size_t)(sw->nslots + 63) / 64, sizeof(uint64_t));
	if (!sw->fds || !sw->used) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < cfg->nfiles; i++)
		sw->fds[i] = -1;
	rc = io_uring_queue_init(RING_DEPTH, &sw->ring, 0);
	if (rc < 0) {
		snprintf(err, errlen, "swap: io_uring_queue_init: %s", strerror(-rc));
		goto out_free;
	}
	for (unsigned i = 0; i < cfg->nfiles; i++) {
		/* file i holds slots i, i+F, i+2F, ... */
		uint64_t n = sw->nslots / cfg->nfiles + (i < sw->nslots % cfg->nfiles);

		snprintf(path, sizeof(path), "%s/swap.%u", cfg->dir, i);
		sw->fds[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (sw->fds[i] < 0) {
			rc = -errno;
			snprintf(err, errlen, "swap: open %s: %s", path, strerror(errno));
			goto out_ring;
		}
		if (n && fallocate(sw->fds[i], 0, 0, (off_t)(n * cfg->slot_size)) < 0) {
			rc = -errno;
			snprintf(err, errlen, "swap: preallocating %s (%lu bytes): %s", path,
				 (unsigned long)(n * cfg->slot_size), strerror(errno));
			goto out_ring;
		}
	}
	pthread_mutex_init(&sw->sync_lock, NULL);
	sw->sync_ring_ok = io_uring_queue_init(RING_DEPTH, &sw->sync_ring, 0) == 0;
	/* Present and host-swapped pages both show here (mincore misses the
	 * latter); without it every page is looked at. */
	sw->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	sw->ctr.slots_total = sw->nslots;
	*out = sw;
	return 0;
out_ring:
	for (unsigned i = 0; i < cfg->nfiles; i++)
		if (sw->fds[i] >= 0)
			close(sw->fds[i]);
	io_uring_queue_exit(&sw->ring);
out_free:
	free(sw->fds);
	free(sw->used);
	free(sw);
	return rc;
}

void swap_close(struct swap *sw)
{
	if (!sw)
		return;
	for (unsigned i = 0; i < sw->nfiles; i++)
		close(sw->fds[i]);
	if (sw->pagemap_fd >= 0)
		close(sw->pagemap_fd);
	io_uring_queue_exit(&sw->ring);
	if (sw->sync_ring_ok)
		io_uring_queue_exit(&sw->sync_ring);
	pthread_mutex_destroy(&sw->sync_lock);
	pthread_mutex_destroy(&sw->lock);
	free(sw->fds);
	free(sw->used);
	free(sw->iov);
	free(sw->ops);
	free(sw);
}

uint64_t swap_resident_bytes(const struct swap *sw, const uint8_t *mem, uint64_t size)
{
	uint64_t pm[512], n = 0, npages = size / SWAP_PAGE;

	if (sw->pagemap_fd < 0)
		return size;
	for (uint64_t base = 0; base < npages; base += 512) {
		uint64_t cnt = npages - base < 512 ? npages - base : 512;
		off_t off = (off_t)(((uintptr_t)mem / SWAP_PAGE + base) * 8);

		if (pread(sw->pagemap_fd, pm, cnt * 8, off) != (ssize_t)(cnt * 8))
			return size;
		for (uint64_t i = 0; i < cnt; i++)
			n += (pm[i] & (PM_PRESENT | PM_SWAPPED)) != 0;
	}
	return n * SWAP_PAGE;
}

uint64_t swap_slot_size(const struct swap *sw)
{
	return sw->slot_size;
}

unsigned swap_files(const struct swap *sw)
{
	return sw->nfiles;
}

uint64_t swap_slots(const struct swap *sw)
{
	return sw->nslots;
}

static int bit_get(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

int swap_slot_alloc(struct swap *sw, uint64_t *slot)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&sw->lock);
	for (uint64_t n = 0, i = sw->hint; n < sw->nslots; n++, i = (i + 1) % sw->nslots) {
		if (sw->used[i / 64] == ~0ull) { /* skip a full word */
			uint64_t skip = 64 - i % 64;

			n += skip - 1;
			i = (i + skip - 1) % sw->nslots;
			continue;
		}
		if (!bit_get(sw->used, i)) {
			sw->used[i / 64] |= 1ull << (i % 64);
			sw->hint = (i + 1) % sw->nslots;
			sw->ctr.slots_used++;
			*slot = i;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

int swap_slot_reserve(struct swap *sw, uint64_t slot)
{
	int rc = 0;

	if (slot >= sw->nslots)
		return -ERANGE;
	pthread_mutex_lock(&sw->lock);
	if (bit_get(sw->used, slot)) {
		rc = -EBUSY;
	} else {
		sw->used[slot / 64] |= 1ull << (slot % 64);
		sw->ctr.slots_used++;
	}
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

void swap_slot_free(struct swap *sw, uint64_t slot)
{
	if (slot >= sw->nslots)
		return;
	pthread_mutex_lock(&sw->lock);
	if (bit_get(sw->used, slot)) {
		sw->used[slot / 64] &= ~(1ull << (slot % 64));
		sw->ctr.slots_used--;
	}
	pthread_mutex_unlock(&sw->lock);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	void *q;

	if (need <= *cap)
		return 0;
	/* Not realloc: a large block is an mmap that glibc grows with mremap(),
	 * which the worker's seccomp filter does not allow. */
	q = malloc(need * elem);
	if (!q)
		return -ENOMEM;
	if (*cap)
		memcpy(q, *p, *cap * elem);
	free(*p);
	*p = q;
	*cap = need;
	return 0;
}

/*
 * Finishes a short transfer through the ring: the rest of its iovecs, one
 * resubmission at a time (short I/O on a regular file is rare: a signal, a
 * full disk). Workers run under a seccomp allowlist, so no plain
 * pwritev/preadv here.
 */
static int finish_short(struct swap *sw, const struct op *o, uint64_t done)
{
	struct iovec local[IOV_CHUNK];
	unsigned n = 0;

	for (unsigned i = 0; i < o->niov; i++) {
		if (done >= o->iov[i].iov_len) {
			done -= o->iov[i].iov_len;
			continue;
		}
		local[n].iov_base = (uint8_t *)o->iov[i].iov_base + done;
		local[n].iov_len = o->iov[i].iov_len - done;
		done = 0;
		n++;
	}
	uint64_t left = 0, off;

	for (unsigned i = 0; i < n; i++)
		left += local[i].iov_len;
	off = o->off + o->len - left;
	for (unsigned i = 0; left;) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&sw->ring);
		struct io_uring_cqe *cqe;
		int r;

		if (!sqe)
			return -EBUSY;
		if (o->kind == OP_WRITEV)
			io_uring_prep_writev(sqe, o->fd, local + i, n - i, off);
		else
			io_uring_prep_readv(sqe, o->fd, local + i, n - i, off);
		io_uring_sqe_set_data64(sqe, UINT64_MAX);
		r = io_uring_submit_and_wait(&sw->ring, 1);
		if (r < 0 && r != -EINTR)
			return r;
		do
			r = io_uring_wait_cqe(&sw->ring, &cqe);
		while (r == -EINTR);
		if (r < 0)
			return r;
		r = cqe->res;
		io_uring_cqe_seen(&sw->ring, cqe);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		if (r == 0)
			return o->kind == OP_WRITEV ? -ENOSPC : -ENODATA;
		left -= (uint64_t)r;
		off += (uint64_t)r;
		while (r > 0 && i < n) {
			if ((size_t)r >= local[i].iov_len) {
				r -= (int)local[i].iov_len;
				i++;
			} else {
				local[i].iov_base = (uint8_t *)local[i].iov_base + r;
				local[i].iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	return 0;
}

/*
 * Runs ops through the ring in windows of RING_DEPTH, the fsync last and
 * drained behind every transfer. Short transfers are completed
 * synchronously; the first error is returned.
 */
static int run_ops(struct swap *sw, struct op *ops, size_t nops)
{
	const struct op *shorts[RING_DEPTH];
	uint64_t short_done[RING_DEPTH];
	size_t next = 0;
	int first = 0, any_short = 0, sync_fd = -1;

	while (next < nops && !first) {
		size_t queued = 0, nshort = 0;
		struct io_uring_cqe *cqe;

		while (next < nops && queued < RING_DEPTH) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&sw->ring);
			struct op *o = &ops[next];

			if (!sqe)
				break;
			if (o->kind == OP_WRITEV)
				io_uring_prep_writev(sqe, o->fd, o->iov, o->niov, o->off);
			else if (o->kind == OP_READV) {
				io_uring_prep_readv(sqe, o->fd, o->iov, o->niov, o->off);
				sw->ctr.read_requests++;
			} else {
				io_uring_prep_fsync(sqe, o->fd, IORING_FSYNC_DATASYNC);
				sqe->flags |= IOSQE_IO_DRAIN;
			}
			io_uring_sqe_set_data64(sqe, next);
			next++;
			queued++;
		}
		int rc = io_uring_submit_and_wait(&sw->ring, (unsigned)queued);

		if (rc < 0 && rc != -EINTR && !first)
			first = rc;
		while (queued) {
			rc = io_uring_wait_cqe(&sw->ring, &cqe);
			if (rc == -EINTR)
				continue;
			if (rc < 0)
				return first ? first : rc;
			struct op *o = &ops[io_uring_cqe_get_data64(cqe)];
			int res = cqe->res;

			io_uring_cqe_seen(&sw->ring, cqe);
			queued--;
			if (sw->inject_n && o->kind != OP_FSYNC) {
				sw->inject_n--;
				res = -sw->inject_err;
			}
			if (res < 0) {
				if (!first)
					first = res;
			} else if (o->kind == OP_FSYNC) {
				sync_fd = o->fd;
			} else if ((uint64_t)res < o->len) {
				shorts[nshort] = o;
				short_done[nshort++] = (uint64_t)res;
			}
		}
		/* Short transfers are finished once their window is reaped. */
		for (size_t k = 0; k < nshort && !first; k++)
			first = finish_short(sw, shorts[k], short_done[k]);
		any_short |= nshort > 0;
	}
	/* A sync may have completed before a short write's rest was written:
	 * sync once more. */
	if (!first && any_short && sync_fd >= 0) {
		struct op sync = {OP_FSYNC, sync_fd, NULL, 0, 0, 0};

		return run_ops(sw, &sync, 1);
	}
	return first;
}

/*
 * Lists into table[] the pages of mem that are resident (in RAM or in host
 * swap) and not all zero; their CRC goes to *crc. Returns the count, or
 * UINT64_MAX if more than max.
 */
static uint64_t collect_pages(struct swap *sw, const uint8_t *mem, uint64_t npages, uint32_t *table,
			      uint64_t max, uint32_t *crc)
{
	static __thread uint64_t pm[PM_CHUNK];
	uint64_t n = 0;
	uint32_t c = 0;

	for (uint64_t base = 0; base < npages; base += PM_CHUNK) {
		uint64_t cnt = npages - base < PM_CHUNK ? npages - base : PM_CHUNK;
		int have = 0;

		if (sw->pagemap_fd >= 0) {
			off_t off = (off_t)((uintptr_t)mem / SWAP_PAGE + base) * 8;
			ssize_t r = pread(sw->pagemap_fd, pm, cnt * 8, off);

			have = r == (ssize_t)(cnt * 8);
		}
		for (uint64_t i = 0; i < cnt; i++) {
			const uint8_t *pg = mem + (base + i) * SWAP_PAGE;

			if (have && !(pm[i] & (PM_PRESENT | PM_SWAPPED)))
				continue;
			if (guest_page_is_zero(pg))
				continue;
			if (n == max)
				return UINT64_MAX;
			table[n++] = (uint32_t)(base + i);
			c = crc32c(c, pg, SWAP_PAGE);
		}
	}
	*crc = c;
	return n;
}

static uint32_t header_crc(const struct slot_header *h)
{
	struct slot_header t = *h;

	t.header_crc = 0;
	return crc32c(0, &t, sizeof(t));
}

/* Page data as iovecs into mem, consecutive pages merged into one iovec,
 * split into ops of IOV_CHUNK iovecs, after the ops already in
 * sw->ops[0..nops). */
static int data_ops(struct swap *sw, enum op_kind kind, int fd, uint64_t data_off, uint8_t *mem,
		    const uint32_t *table, uint64_t npages, size_t *nops)
{
	/* A read unit (an ablation: --swap-unit) caps the bytes of each read. */
	uint64_t unit = kind == OP_READV ? sw->read_unit : 0;
	size_t need = *nops + (size_t)npages + 1, niov = 0;

	if (grow((void **)&sw->iov, &sw->iov_cap, npages ? npages : 1, sizeof(*sw->iov)) ||
	    grow((void **)&sw->ops, &sw->ops_cap, need, sizeof(*sw->ops)))
		return -ENOMEM;
	for (uint64_t i = 0; i < npages; i++) {
		uint8_t *p = mem + (uint64_t)table[i] * SWAP_PAGE;

		if (niov &&
		    (uint8_t *)sw->iov[niov - 1].iov_base + sw->iov[niov - 1].iov_len == p &&
		    (!unit || sw->iov[niov - 1].iov_len + SWAP_PAGE <= unit)) {
			sw->iov[niov - 1].iov_len += SWAP_PAGE;
			continue;
		}
		sw->iov[niov].iov_base = p;
		sw->iov[niov++].iov_len = SWAP_PAGE;
	}
	for (size_t i = 0; i < niov;) {
		unsigned k = 0;
		uint64_t len = 0;

		while (i + k < niov && k < IOV_CHUNK &&
		       (!unit || !k || len + sw->iov[i + k].iov_len <= unit))
			len += sw->iov[i + k++].iov_len;
		sw->ops[(*nops)++] = (struct op){kind, fd, sw->iov + i, k, data_off, len};
		data_off += len;
		i += k;
	}
	return 0;
}

/* Populates the pages the read will fill, one madvise per run, so that the
 * reads copy into present pages and the VM's first touches find them (the
 * default; --swap-no-prefault leaves the faults to the copy). Best effort. */
static void prefault(const struct swap *sw, uint8_t *mem, const uint32_t *table, uint64_t npages)
{
	if (sw->no_prefault)
		return;
	for (uint64_t i = 0; i < npages;) {
		uint64_t j = i + 1;

		while (j < npages && table[j] == table[j - 1] + 1)
			j++;
		madvise(mem + (uint64_t)table[i] * SWAP_PAGE, (j - i) * SWAP_PAGE,
			MADV_POPULATE_WRITE);
		i = j;
	}
}

/* The runs of consecutive page numbers in table, into rec if they fit. */
static void record_runs(struct swap_record *rec, const uint32_t *table, uint64_t npages)
{
	uint32_t n = 0;

	for (uint64_t i = 0; i < npages; i++) {
		if (n && rec->runs[n - 1].start + rec->runs[n - 1].len == table[i]) {
			rec->runs[n - 1].len++;
			continue;
		}
		if (n == SWAP_REC_RUNS) {
			rec->nruns = 0;
			return;
		}
		rec->runs[n].start = table[i];
		rec->runs[n++].len = 1;
	}
	rec->nruns = n;
}

/* sw->lock for a slot's I/O, counted: whether it waited for another's, and for how long.
 * Returns when it was taken (for io_unlock()). */
static uint64_t io_lock(struct swap *sw)
{
	uint64_t t0, t1;

	if (pthread_mutex_trylock(&sw->lock) == 0)
		return vm_now_ns();
	t0 = vm_now_ns();
	pthread_mutex_lock(&sw->lock);
	t1 = vm_now_ns();
	sw->ctr.lock_waits++;
	sw->ctr.lock_wait_ns += t1 - t0;
	return t1;
}

static void io_unlock(struct swap *sw, uint64_t taken)
{
	sw->ctr.lock_held_ns += vm_now_ns() - taken;
	pthread_mutex_unlock(&sw->lock);
}

int swap_write(struct swap *sw, uint64_t slot, const struct swap_image *img,
	       struct swap_record *rec, char *err, size_t errlen)
{
	uint64_t total = img->mem_size / SWAP_PAGE, npages, max, meta_len, base;
	struct iovec meta_iov;
	struct slot_header *h;
	uint8_t *meta = NULL;
	uint32_t *table, crc;
	size_t nops = 0;
	uint64_t taken;
	int fd, rc;

	if (slot >= sw->nslots || img->mem_size % SWAP_PAGE || total > UINT32_MAX ||
	    img->state_len > SWAP_STATE_MAX || img->dev_len > SWAP_DEV_MAX) {
		snprintf(err, errlen, "swap: slot %lu: bad image geometry", (unsigned long)slot);
		return -EINVAL;
	}
	taken = io_lock(sw);
	/* Room for every page the meta block can list and the slot can hold. */
	max = (sw->slot_size - swap_meta_bytes(0, img->state_len, img->dev_len)) / (SWAP_PAGE + 4);
	if (max > total)
		max = total;
	meta = aligned_alloc(SWAP_PAGE, swap_meta_bytes(max, img->state_len, img->dev_len));
	if (!meta) {
		rc = -ENOMEM;
		goto out;
	}
	h = (struct slot_header *)meta;
	table = (uint32_t *)(meta + sizeof(*h));
	npages = collect_pages(sw, img->mem, total, table, max, &crc);
	if (npages == UINT64_MAX ||
	    swap_meta_bytes(npages, img->state_len, img->dev_len) + npages * SWAP_PAGE >
		sw->slot_size) {
		sw->ctr.too_big++;
		snprintf(err, errlen,
			 "swap: slot %lu: more resident pages than a %lu-byte slot holds",
			 (unsigned long)slot, (unsigned long)sw->slot_size);
		rc = -EFBIG;
		goto out;
	}
	meta_len = swap_meta_bytes(npages, img->state_len, img->dev_len);
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SLOT_MAGIC, 8);
	h->version = SLOT_VERSION;
	h->slot = slot;
	h->vm_id = img->vm_id;
	h->generation = ++sw->generation;
	h->mem_size = img->mem_size;
	h->npages = (uint32_t)npages;
	h->state_len = img->state_len;
	h->dev_len = img->dev_len;
	h->data_crc = crc;
	uint8_t *p = meta + sizeof(*h) + npages * 4;

	memcpy(p, img->state, img->state_len);
	memcpy(p + img->state_len, img->dev, img->dev_len);
	p += img->state_len + img->dev_len;
	memset(p, 0, (size_t)(meta + meta_len - p));
	h->meta_crc = crc32c(0, meta + sizeof(*h), meta_len - sizeof(*h));
	h->header_crc = header_crc(h);

	fd = sw->fds[swap_slot_file(slot, sw->nfiles)];
	base = swap_slot_offset(slot, sw->nfiles, sw->slot_size);
	if (grow((void **)&sw->ops, &sw->ops_cap, 1, sizeof(*sw->ops))) {
		rc = -ENOMEM;
		goto out;
	}
	meta_iov = (struct iovec){meta, meta_len};
	sw->ops[nops++] = (struct op){OP_WRITEV, fd, &meta_iov, 1, base, meta_len};
	rc = data_ops(sw, OP_WRITEV, fd, base + meta_len, img->mem, table, npages, &nops);
	if (rc)
		goto out;
	if (sw->durable)
		sw->ops[nops++] = (struct op){OP_FSYNC, fd, NULL, 0, 0, 0};
	rc = run_ops(sw, sw->ops, nops);
	if (rc) {
		snprintf(err, errlen, "swap: writing slot %lu: %s", (unsigned long)slot,
			 strerror(-rc));
		goto out;
	}
	*rec = (struct swap_record){.slot = slot,
				    .generation = h->generation,
				    .npages = h->npages,
				    .state_len = h->state_len,
				    .dev_len = h->dev_len,
				    .header_crc = h->header_crc};
	record_runs(rec, table, npages);
	sw->ctr.writes++;
	sw->ctr.write_bytes += meta_len + npages * SWAP_PAGE;
out:
	if (rc)
		sw->ctr.write_errors++;
	io_unlock(sw, taken);
	free(meta);
	return rc;
}

/* The page numbers of rec's runs, if it has them and they are sane. */
static uint32_t *runs_table(const struct swap_record *rec, uint64_t total)
{
	uint64_t n = 0;
	uint32_t *t;

	if (!rec->nruns || rec->nruns > SWAP_REC_RUNS || !rec->npages)
		return NULL;
	for (uint32_t i = 0; i < rec->nruns; i++) {
		if ((uint64_t)rec->runs[i].start + rec->runs[i].len > total ||
		    (i && rec->runs[i].start < rec->runs[i - 1].start + rec->runs[i - 1].len))
			return NULL;
		n += rec->runs[i].len;
	}
	if (n != rec->npages || !(t = malloc(n * sizeof(*t))))
		return NULL;
	n = 0;
	for (uint32_t i = 0; i < rec->nruns; i++)
		for (uint32_t k = 0; k < rec->runs[i].len; k++)
			t[n++] = rec->runs[i].start + k;
	return t;
}

static int bad(struct swap *sw, char *err, size_t errlen, uint64_t slot, const char *what)
{
	sw->ctr.checksum_failures++;
	snprintf(err, errlen, "swap: slot %lu: %s", (unsigned long)slot, what);
	return -EBADMSG;
}

int swap_read(struct swap *sw, const struct swap_record *rec, struct swap_image *img, char *err,
	      size_t errlen)
{
	uint64_t meta_len, base, total = img->mem_size / SWAP_PAGE;
	struct iovec meta_iov;
	struct slot_header *h;
	uint8_t *meta = NULL;
	uint32_t *table, *rtab = NULL, crc = 0;
	size_t nops = 0;
	uint64_t taken;
	int fd, rc = 0;

	if (rec->slot >= sw->nslots || rec->state_len > SWAP_STATE_MAX ||
	    rec->dev_len > SWAP_DEV_MAX || rec->npages > total) {
		snprintf(err, errlen, "swap: bad slot record");
		return -EINVAL;
	}
	meta_len = swap_meta_bytes(rec->npages, rec->state_len, rec->dev_len);
	if (meta_len + (uint64_t)rec->npages * SWAP_PAGE > sw->slot_size) {
		snprintf(err, errlen, "swap: slot record larger than a slot");
		return -EINVAL;
	}
	taken = io_lock(sw);
	meta = aligned_alloc(SWAP_PAGE, meta_len);
	if (!meta || grow((void **)&sw->ops, &sw->ops_cap, 1, sizeof(*sw->ops))) {
		rc = -ENOMEM;
		goto out;
	}
	fd = sw->fds[swap_slot_file(rec->slot, sw->nfiles)];
	base = swap_slot_offset(rec->slot, sw->nfiles, sw->slot_size);
	meta_iov = (struct iovec){meta, meta_len};
	sw->ops[nops++] = (struct op){OP_READV, fd, &meta_iov, 1, base, meta_len};
	rtab = runs_table(rec, total);
	if (rtab) { /* where the pages go is known: one submission for all */
		prefault(sw, img->mem, rtab, rec->npages);
		rc =
		    data_ops(sw, OP_READV, fd, base + meta_len, img->mem, rtab, rec->npages, &nops);
	}
	if (!rc)
		rc = run_ops(sw, sw->ops, nops);
	if (rc) {
		snprintf(err, errlen, "swap: reading slot %lu: %s", (unsigned long)rec->slot,
			 strerror(-rc));
		goto out;
	}
	h = (struct slot_header *)meta;
	table = (uint32_t *)(meta + sizeof(*h));
	if (memcmp(h->magic, SLOT_MAGIC, 8) || h->version != SLOT_VERSION ||
	    h->header_crc != header_crc(h)) {
		rc = bad(sw, err, errlen, rec->slot, "header checksum mismatch");
		goto out;
	}
	if (h->slot != rec->slot || h->generation != rec->generation ||
	    h->header_crc != rec->header_crc || h->npages != rec->npages ||
	    h->state_len != rec->state_len || h->dev_len != rec->dev_len ||
	    h->mem_size != img->mem_size || h->vm_id != img->vm_id) {
		rc = bad(sw, err, errlen, rec->slot, "holds another VM or an older image");
		goto out;
	}
	if (h->meta_crc != crc32c(0, meta + sizeof(*h), meta_len - sizeof(*h))) {
		rc = bad(sw, err, errlen, rec->slot, "metadata checksum mismatch");
		goto out;
	}
	for (uint32_t i = 0; i < h->npages; i++) {
		if (table[i] >= total || (i && table[i] <= table[i - 1])) {
			rc = bad(sw, err, errlen, rec->slot, "page table out of order or range");
			goto out;
		}
	}
	if (rtab && memcmp(rtab, table, (size_t)h->npages * 4)) {
		rc = bad(sw, err, errlen, rec->slot, "page table differs from the record");
		goto out;
	}
	nops = 0;
	if (!rtab) {
		prefault(sw, img->mem, table, h->npages);
		rc = data_ops(sw, OP_READV, fd, base + meta_len, img->mem, table, h->npages, &nops);
	}
	if (!rtab && !rc)
		rc = run_ops(sw, sw->ops, nops);
	if (rc) {
		snprintf(err, errlen, "swap: reading slot %lu: %s", (unsigned long)rec->slot,
			 strerror(-rc));
		goto out;
	}
	for (uint32_t i = 0; i < h->npages; i++)
		crc = crc32c(crc, img->mem + (uint64_t)table[i] * SWAP_PAGE, SWAP_PAGE);
	if (crc != h->data_crc) {
		rc = bad(sw, err, errlen, rec->slot, "page data checksum mismatch");
		goto out;
	}
	memcpy(img->state, meta + sizeof(*h) + (uint64_t)h->npages * 4, h->state_len);
	memcpy(img->dev, meta + sizeof(*h) + (uint64_t)h->npages * 4 + h->state_len, h->dev_len);
	img->state_len = h->state_len;
	img->dev_len = h->dev_len;
	sw->ctr.reads++;
	sw->ctr.read_bytes += meta_len + (uint64_t)h->npages * SWAP_PAGE;
out:
	if (rc && rc != -EBADMSG)
		sw->ctr.read_errors++;
	io_unlock(sw, taken);
	free(meta);
	free(rtab);
	return rc;
}

int swap_read_meta(struct swap *sw, const struct swap_record *rec, uint64_t vm_id,
		   uint64_t mem_size, void *dev, uint32_t dev_cap, char *err, size_t errlen)
{
	uint64_t meta_len, base;
	struct iovec iov;
	struct slot_header *h;
	uint8_t *meta = NULL;
	struct op op;
	int rc;

	if (rec->slot >= sw->nslots || rec->state_len > SWAP_STATE_MAX || rec->dev_len > dev_cap ||
	    rec->npages > mem_size / SWAP_PAGE) {
		snprintf(err, errlen, "swap: bad slot record");
		return -EINVAL;
	}
	meta_len = swap_meta_bytes(rec->npages, rec->state_len, rec->dev_len);
	if (meta_len + (uint64_t)rec->npages * SWAP_PAGE > sw->slot_size) {
		snprintf(err, errlen, "swap: slot record larger than a slot");
		return -EINVAL;
	}
	meta = aligned_alloc(SWAP_PAGE, meta_len);
	if (!meta)
		return -ENOMEM;
	pthread_mutex_lock(&sw->lock);
	base = swap_slot_offset(rec->slot, sw->nfiles, sw->slot_size);
	iov = (struct iovec){meta, meta_len};
	op = (struct op){OP_READV, sw->fds[swap_slot_file(rec->slot, sw->nfiles)], &iov, 1, base,
			 meta_len};
	rc = run_ops(sw, &op, 1);
	if (rc) {
		snprintf(err, errlen, "swap: reading slot %lu: %s", (unsigned long)rec->slot,
			 strerror(-rc));
		goto out;
	}
	h = (struct slot_header *)meta;
	if (memcmp(h->magic, SLOT_MAGIC, 8) || h->version != SLOT_VERSION ||
	    h->header_crc != header_crc(h)) {
		rc = bad(sw, err, errlen, rec->slot, "header checksum mismatch");
		goto out;
	}
	if (h->slot != rec->slot || h->generation != rec->generation ||
	    h->header_crc != rec->header_crc || h->npages != rec->npages ||
	    h->state_len != rec->state_len || h->dev_len != rec->dev_len ||
	    h->mem_size != mem_size || h->vm_id != vm_id) {
		rc = bad(sw, err, errlen, rec->slot, "holds another VM or an older image");
		goto out;
	}
	if (h->meta_crc != crc32c(0, meta + sizeof(*h), meta_len - sizeof(*h))) {
		rc = bad(sw, err, errlen, rec->slot, "metadata checksum mismatch");
		goto out;
	}
	memcpy(dev, meta + sizeof(*h) + (uint64_t)h->npages * 4 + h->state_len, h->dev_len);
out:
	pthread_mutex_unlock(&sw->lock);
	free(meta);
	return rc;
}

int swap_probe(struct swap *sw, uint64_t slot, struct swap_record *rec, uint64_t *vm_id,
	       uint64_t *mem_size)
{
	struct slot_header h;
	ssize_t r;

	if (slot >= sw->nslots)
		return -ERANGE;
	r = pread(sw->fds[swap_slot_file(slot, sw->nfiles)], &h, sizeof(h),
		  (off_t)swap_slot_offset(slot, sw->nfiles, sw->slot_size));
	if (r < 0)
		return -errno;
	if (r != sizeof(h) || memcmp(h.magic, SLOT_MAGIC, 8))
		return -ENODATA;
	if (h.version != SLOT_VERSION || h.header_crc != header_crc(&h) || h.slot != slot)
		return -EBADMSG;
	*rec = (struct swap_record){.slot = slot,
				    .generation = h.generation,
				    .npages = h.npages,
				    .state_len = h.state_len,
				    .dev_len = h.dev_len,
				    .header_crc = h.header_crc};
	*vm_id = h.vm_id;
	*mem_size = h.mem_size;
	return 0;
}

/* One window of data syncs on the sync ring; the first error. */
static int sync_window(struct swap *sw, const unsigned *files, unsigned n)
{
	struct io_uring_cqe *cqe;
	unsigned queued = 0;
	int first = 0, rc;

	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&sw->sync_ring);

		if (!sqe)
			break;
		io_uring_prep_fsync(sqe, sw->fds[files[i]], IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, i);
		queued++;
	}
	rc = io_uring_submit_and_wait(&sw->sync_ring, queued);
	if (rc < 0 && rc != -EINTR)
		first = rc;
	while (queued) {
		rc = io_uring_wait_cqe(&sw->sync_ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return first ? first : rc;
		if (cqe->res < 0 && !first)
			first = cqe->res;
		io_uring_cqe_seen(&sw->sync_ring, cqe);
		queued--;
	}
	return first;
}

int swap_sync_files(struct swap *sw, const unsigned *files, unsigned n)
{
	int rc = 0;

	for (unsigned i = 0; i < n; i++)
		if (files[i] >= sw->nfiles)
			return -EINVAL;
	pthread_mutex_lock(&sw->sync_lock);
	for (unsigned i = 0; i < n && !rc; i += RING_DEPTH) {
		unsigned k = n - i < RING_DEPTH ? n - i : RING_DEPTH;

		if (sw->sync_ring_ok) {
			rc = sync_window(sw, files + i, k);
		} else {
			for (unsigned j = 0; j < k && !rc; j++)
				rc = fdatasync(sw->fds[files[i + j]]) < 0 ? -errno : 0;
		}
	}
	sw->syncs += n;
	if (!rc && sw->inject_sync_n) {
		sw->inject_sync_n--;
		rc = -sw->inject_sync_err;
	}
	if (rc)
		sw->sync_errors++;
	pthread_mutex_unlock(&sw->sync_lock);
	return rc;
}

void swap_get_counters(struct swap *sw, struct swap_counters *out)
{
	pthread_mutex_lock(&sw->lock);
	*out = sw->ctr;
	pthread_mutex_unlock(&sw->lock);
	pthread_mutex_lock(&sw->sync_lock);
	out->syncs = sw->syncs;
	out->sync_errors = sw->sync_errors;
	pthread_mutex_unlock(&sw->sync_lock);
}

void swap_inject_sync_error(struct swap *sw, int err, unsigned n)
{
	pthread_mutex_lock(&sw->sync_lock);
	sw->inject_sync_err = err;
	sw->inject_sync_n = n;
	pthread_mutex_unlock(&sw->sync_lock);
}

void swap_inject_error(struct swap *sw, int err, unsigned n)
{
	pthread_mutex_lock(&sw->lock);
	sw->inject_err = err;
	sw->inject_n = n;
	pthread_mutex_unlock(&sw->lock);
}

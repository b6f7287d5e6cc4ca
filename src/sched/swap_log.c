/*
 * Swap log: 64-byte entries appended with IORING_OP_WRITE linked to a data
 * sync (IOSQE_IO_LINK), so that an append returns once it is durable; a
 * batch of entries is one write and one sync.
 */
#include "swap_log.h"

#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MAGIC 0x4c575344u /* "DSWL" */

struct log_entry {
	uint32_t magic;
	uint32_t kind;
	uint64_t vm_id;
	uint64_t seq;
	uint64_t slot;
	uint64_t generation;
	uint32_t npages;
	uint32_t state_len;
	uint32_t dev_len;
	uint32_t header_crc;
	uint32_t pad;
	uint32_t crc; /* of the entry with this field zero */
};

_Static_assert(sizeof(struct log_entry) == 64, "swap log entry layout");

struct swap_log {
	pthread_mutex_t lock;
	struct io_uring ring;
	int fd;
	uint64_t off, seq;
	uint64_t appends, entries; /* durable appends (each one sync), entries in them */
	int broken;		   /* a failed batch could not be cut off: no more appends */
};

static uint32_t entry_crc(const struct log_entry *e)
{
	struct log_entry t = *e;

	t.crc = 0;
	return crc32c(0, &t, sizeof(t));
}

int swap_log_open(const char *path, struct swap_log **out, char *err, size_t errlen)
{
	struct swap_log *l = calloc(1, sizeof(*l));
	struct stat st;
	int rc;

	if (!l)
		return -ENOMEM;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0 || fstat(l->fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "swap log %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Append after the last whole, valid entry: a torn one (partial, or
	 * whole but not what was meant) is overwritten. */
	l->off = (uint64_t)st.st_size / sizeof(struct log_entry) * sizeof(struct log_entry);
	if (l->off) {
		struct log_entry last;

		if (pread(l->fd, &last, sizeof(last), (off_t)(l->off - sizeof(last))) !=
			(ssize_t)sizeof(last) ||
		    last.magic != LOG_MAGIC || last.crc != entry_crc(&last) ||
		    last.seq != l->off / sizeof(last) - 1)
			l->off -= sizeof(last);
	}
	l->seq = l->off / sizeof(struct log_entry);
	rc = io_uring_queue_init(4, &l->ring, 0);
	if (rc < 0) {
		snprintf(err, errlen, "swap log: io_uring_queue_init: %s", strerror(-rc));
		goto fail;
	}
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
fail:
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	return rc;
}

void swap_log_close(struct swap_log *l)
{
	if (!l)
		return;
	io_uring_queue_exit(&l->ring);
	close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int swap_log_append_batch(struct swap_log *l, const struct swap_log_item *items, size_t n)
{
	struct log_entry *e;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int rc = 0, res[2] = {0, 0};
	size_t bytes = n * sizeof(*e);

	if (!n)
		return 0;
	if (n > SWAP_LOG_BATCH_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (items[i].kind < SWAP_LOG_SWAPPED || items[i].kind > SWAP_LOG_GONE)
			return -EINVAL;
	e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_lock(&l->lock);
	if (l->broken) {
		pthread_mutex_unlock(&l->lock);
		free(e);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		const struct swap_log_item *it = &items[i];

		e[i] = (struct log_entry){
		    .magic = LOG_MAGIC, .kind = it->kind, .vm_id = it->vm_id, .seq = l->seq + i};
		if (it->kind == SWAP_LOG_SWAPPED) {
			e[i].slot = it->rec.slot;
			e[i].generation = it->rec.generation;
			e[i].npages = it->rec.npages;
			e[i].state_len = it->rec.state_len;
			e[i].dev_len = it->rec.dev_len;
			e[i].header_crc = it->rec.header_crc;
		}
		e[i].crc = entry_crc(&e[i]);
	}
	/* One write of every entry linked to one data sync: the whole batch is
	 * durable when both complete. A short or failed write may leave some
	 * whole entries behind; each one is true (a SWAPPED entry is only ever
	 * written once its slot is durable), and the next append overwrites
	 * them. */
	sqe = io_uring_get_sqe(&l->ring);
	io_uring_prep_write(sqe, l->fd, e, (unsigned)bytes, l->off);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, 0);
	sqe = io_uring_get_sqe(&l->ring);
	io_uring_prep_fsync(sqe, l->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, 1);
	rc = io_uring_submit_and_wait(&l->ring, 2);
	for (int k = 0; k < 2 && rc >= 0; k++) {
		do
			rc = io_uring_wait_cqe(&l->ring, &cqe);
		while (rc == -EINTR);
		if (rc < 0)
			break;
		res[io_uring_cqe_get_data64(cqe) & 1] = cqe->res;
		io_uring_cqe_seen(&l->ring, cqe);
	}
	if (rc >= 0)
		rc = res[0] < 0 ? res[0] : res[0] != (int)bytes ? -EIO : res[1] < 0 ? res[1] : 0;
	if (rc == 0) {
		l->off += bytes;
		l->seq += n;
		l->appends++;
		l->entries += n;
	} else if (n > 1 && ftruncate(l->fd, (off_t)l->off) < 0) {
		/* Whole entries of this batch may lie beyond the next append's
		 * end, where it would not overwrite them: cut them off, or
		 * append nothing more (a later entry could be shadowed). */
		l->broken = 1;
	}
	pthread_mutex_unlock(&l->lock);
	free(e);
	return rc;
}

int swap_log_append(struct swap_log *l, enum swap_log_kind kind, uint64_t vm_id,
		    const struct swap_record *rec)
{
	struct swap_log_item it = {.kind = kind, .vm_id = vm_id};

	if (kind == SWAP_LOG_SWAPPED) {
		if (!rec)
			return -EINVAL;
		it.rec = *rec;
	}
	return swap_log_append_batch(l, &it, 1);
}

void swap_log_get_counters(struct swap_log *l, uint64_t *appends, uint64_t *entries)
{
	pthread_mutex_lock(&l->lock);
	*appends = l->appends;
	*entries = l->entries;
	pthread_mutex_unlock(&l->lock);
}

static int cmp_id_seq(const void *a, const void *b)
{
	const struct log_entry *x = a, *y = b;

	if (x->vm_id != y->vm_id)
		return x->vm_id < y->vm_id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

long swap_log_replay(const char *path, swap_log_fn fn, void *arg, char *err, size_t errlen)
{
	struct log_entry *e = NULL;
	struct stat st;
	size_t n, whole;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long rc;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "swap log %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	whole = (size_t)st.st_size / sizeof(*e);
	e = malloc(whole * sizeof(*e) + 1);
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, e, whole * sizeof(*e), 0) != (ssize_t)(whole * sizeof(*e))) {
		rc = -EIO;
		snprintf(err, errlen, "swap log %s: short read", path);
		goto out;
	}
	for (n = 0; n < whole; n++) {
		int ok = e[n].magic == LOG_MAGIC && e[n].crc == entry_crc(&e[n]) && e[n].seq == n &&
			 e[n].kind >= SWAP_LOG_SWAPPED && e[n].kind <= SWAP_LOG_GONE;

		if (ok)
			continue;
		if (n + 1 == whole)
			break; /* a torn last entry: the append never returned */
		rc = -EBADMSG;
		snprintf(err, errlen, "swap log %s: entry %zu of %zu is corrupt", path, n, whole);
		goto out;
	}
	qsort(e, n, sizeof(*e), cmp_id_seq);
	for (size_t i = 0; i < n; i++) {
		struct swap_record rec;

		if (i + 1 < n && e[i + 1].vm_id == e[i].vm_id)
			continue; /* not its last entry */
		if (e[i].kind == SWAP_LOG_GONE)
			continue;
		if (e[i].kind == SWAP_LOG_RESIDENT) {
			fn(e[i].vm_id, NULL, arg);
			continue;
		}
		rec = (struct swap_record){.slot = e[i].slot,
					   .generation = e[i].generation,
					   .npages = e[i].npages,
					   .state_len = e[i].state_len,
					   .dev_len = e[i].dev_len,
					   .header_crc = e[i].header_crc};
		fn(e[i].vm_id, &rec, arg);
	}
	rc = (long)n;
out:
	close(fd);
	free(e);
	return rc;
}

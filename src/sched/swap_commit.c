/*
 * Group commit of swap-log records: one committer thread, a FIFO of queued
 * records (ascending sequence numbers), batches taken whole from its head.
 *
 * Locking: c->lock guards the queue and the counters; it is never held
 * across I/O or the committed() callback, and callers may hold their own
 * locks around enqueue/cancel (the callback must then not be called with
 * c->lock held: it is not).
 */
#include "swap_commit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct centry {
	uint64_t seq;
	uint64_t free_slot;
	struct swap_log_item it;
	int cancelled;
};

struct swap_commit {
	struct swap_commit_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t work; /* records queued, or quit */
	pthread_cond_t done; /* a batch was processed */
	struct centry *q;    /* queued, not taken: q[head .. n) */
	size_t head, n, cap;
	uint64_t next_seq; /* the last one handed out */
	uint64_t done_seq; /* every record <= this is processed */
	int busy;	   /* a batch is being committed */
	int quit, crash;   /* crash: the test hook (see the header) */
	int crashed;	   /* the hook fired: nothing more is written */
	pthread_t thread;
	struct swap_commit_stats st;
	/* the committer's scratch */
	struct centry *batch;
	struct swap_log_item *items;
	unsigned *files;
	uint8_t *file_seen;
	unsigned nfiles;
};

static int deadline_ts(unsigned timeout_ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000l;
	if (ts->tv_nsec >= 1000000000l) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000l;
	}
	return 0;
}

/* Commits one batch taken off the queue (no lock held). */
static void commit_batch(struct swap_commit *c, struct centry *b, size_t n)
{
	unsigned nf = 0;
	size_t ni = 0;
	int rc = 0;

	/* The data first: every swap file a SWAPPED record of the batch wrote
	 * to, one sync each. */
	memset(c->file_seen, 0, c->nfiles);
	for (size_t i = 0; i < n; i++) {
		unsigned f;

		if (b[i].cancelled || b[i].it.kind != SWAP_LOG_SWAPPED)
			continue;
		f = swap_slot_file(b[i].it.rec.slot, c->nfiles);
		if (!c->file_seen[f]) {
			c->file_seen[f] = 1;
			c->files[nf++] = f;
		}
	}
	if (nf)
		rc = swap_sync_files(c->cfg.sw, c->files, nf);
	pthread_mutex_lock(&c->lock);
	c->st.data_syncs += nf;
	if (rc)
		c->st.sync_errors++;
	if (c->crash) { /* the test hook: killed between the data and the record */
		c->crashed = 1;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	/* Then the records, in order; a SWAPPED one only if its data is durable. */
	for (size_t i = 0; i < n; i++) {
		if (b[i].cancelled)
			continue;
		if (rc && b[i].it.kind == SWAP_LOG_SWAPPED) {
			pthread_mutex_lock(&c->lock);
			c->st.dropped++;
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		c->items[ni++] = b[i].it;
	}
	if (rc)
		fprintf(
		    stderr,
		    "denali: swap: data sync failed (%s): %lu swap-out(s) not recorded (after a "
		    "crash those VMs boot afresh)\n",
		    strerror(-rc), (unsigned long)(n - ni));
	rc = ni ? swap_log_append_batch(c->cfg.log, c->items, ni) : 0;
	if (rc)
		fprintf(stderr, "denali: swap log: appending %zu record(s): %s\n", ni,
			strerror(-rc));
	for (size_t i = 0; i < n; i++)
		if (b[i].free_slot != SWAP_NO_SLOT)
			swap_slot_free(c->cfg.sw, b[i].free_slot);
	pthread_mutex_lock(&c->lock);
	if (ni && !rc) {
		c->st.batches++;
		c->st.records += ni;
		if (ni > c->st.largest_batch)
			c->st.largest_batch = ni;
	} else if (rc) {
		c->st.log_errors++;
	}
	pthread_mutex_unlock(&c->lock);
}

static void *commit_main(void *arg)
{
	struct swap_commit *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		size_t n;
		uint64_t last;

		while (c->head == c->n && !c->quit)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->head == c->n)
			break; /* quit, and everything is committed */
		n = c->n - c->head;
		if (n > c->cfg.batch_max)
			n = c->cfg.batch_max;
		memcpy(c->batch, c->q + c->head, n * sizeof(*c->batch));
		c->head += n;
		if (c->head == c->n)
			c->head = c->n = 0;
		last = c->batch[n - 1].seq;
		c->busy = 1;
		if (!c->crashed) {
			pthread_mutex_unlock(&c->lock);
			commit_batch(c, c->batch, n);
			pthread_mutex_lock(&c->lock);
		}
		c->busy = 0;
		c->done_seq = last;
		pthread_cond_broadcast(&c->done);
		pthread_mutex_unlock(&c->lock);
		if (c->cfg.committed)
			c->cfg.committed(c->cfg.arg, last);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int swap_commit_open(const struct swap_commit_config *cfg, struct swap_commit **out, char *err,
		     size_t errlen)
{
	struct swap_commit *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;
	int rc;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.batch_max || c->cfg.batch_max > SWAP_LOG_BATCH_MAX)
		c->cfg.batch_max = SWAP_LOG_BATCH_MAX;
	c->nfiles = swap_files(cfg->sw);
	c->batch = malloc(c->cfg.batch_max * sizeof(*c->batch));
	c->items = malloc(c->cfg.batch_max * sizeof(*c->items));
	c->files = malloc(c->nfiles * sizeof(*c->files));
	c->file_seen = malloc(c->nfiles);
	if (!cfg->sw || !cfg->log || !c->batch || !c->items || !c->files || !c->file_seen) {
		rc = cfg->sw && cfg->log ? -ENOMEM : -EINVAL;
		snprintf(err, errlen, "swap commit: %s", strerror(-rc));
		goto fail;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &ca);
	pthread_cond_init(&c->done, &ca);
	pthread_condattr_destroy(&ca);
	rc = cfg->thread_create ? cfg->thread_create(&c->thread, commit_main, c)
				: -pthread_create(&c->thread, NULL, commit_main, c);
	if (rc) {
		snprintf(err, errlen, "swap commit: thread: %s", strerror(-rc));
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->work);
		pthread_cond_destroy(&c->done);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	free(c->batch);
	free(c->items);
	free(c->files);
	free(c->file_seen);
	free(c);
	return rc;
}

void swap_commit_close(struct swap_commit *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->quit = 1;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->done);
	free(c->q);
	free(c->batch);
	free(c->items);
	free(c->files);
	free(c->file_seen);
	free(c);
}

uint64_t swap_commit_enqueue(struct swap_commit *c, enum swap_log_kind kind, uint64_t vm_id,
			     const struct swap_record *rec, uint64_t free_slot)
{
	struct centry *e;
	uint64_t seq;

	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct centry *q;

		if (c->head) { /* room at the front: compact first */
			memmove(c->q, c->q + c->head, (c->n - c->head) * sizeof(*c->q));
			c->n -= c->head;
			c->head = 0;
		}
		if (c->n == c->cap) {
			/* Not realloc: workers queue records, and a large block
			 * would grow by mremap(), outside their seccomp allowlist. */
			q = malloc(cap * sizeof(*q));
			if (!q) {
				pthread_mutex_unlock(&c->lock);
				return 0;
			}
			if (c->n)
				memcpy(q, c->q, c->n * sizeof(*q));
			free(c->q);
			c->q = q;
			c->cap = cap;
		}
	}
	e = &c->q[c->n++];
	seq = ++c->next_seq;
	*e = (struct centry){.seq = seq, .free_slot = free_slot};
	e->it.kind = kind;
	e->it.vm_id = vm_id;
	if (rec)
		e->it.rec = *rec;
	c->st.queued++;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	return seq;
}

int swap_commit_cancel(struct swap_commit *c, uint64_t seq)
{
	size_t lo, hi;
	int rc = -EALREADY;

	pthread_mutex_lock(&c->lock);
	lo = c->head;
	hi = c->n;
	while (lo < hi) { /* ascending */
		size_t mid = lo + (hi - lo) / 2;

		if (c->q[mid].seq == seq) {
			if (!c->q[mid].cancelled && c->q[mid].free_slot == SWAP_NO_SLOT) {
				c->q[mid].cancelled = 1;
				c->st.cancelled++;
				rc = 0;
			}
			break;
		}
		if (c->q[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

uint64_t swap_commit_done(struct swap_commit *c)
{
	uint64_t d;

	pthread_mutex_lock(&c->lock);
	d = c->done_seq;
	pthread_mutex_unlock(&c->lock);
	return d;
}

int swap_commit_wait(struct swap_commit *c, uint64_t seq, unsigned timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	deadline_ts(timeout_ms, &ts);
	pthread_mutex_lock(&c->lock);
	while (c->done_seq < seq && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->done, &c->lock, &ts);
	rc = c->done_seq >= seq ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void swap_commit_flush(struct swap_commit *c, unsigned timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	deadline_ts(timeout_ms, &ts);
	pthread_mutex_lock(&c->lock);
	while ((c->head != c->n || c->busy) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->done, &c->lock, &ts);
	pthread_mutex_unlock(&c->lock);
}

void swap_commit_get_stats(struct swap_commit *c, struct swap_commit_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	pthread_mutex_unlock(&c->lock);
}

void swap_commit_crash_after_data(struct swap_commit *c)
{
	pthread_mutex_lock(&c->lock);
	c->crash = 1;
	pthread_mutex_unlock(&c->lock);
}

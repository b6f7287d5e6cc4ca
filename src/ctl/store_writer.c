#include "store_writer.h"

#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRASH_RETRY_NS 100000000L /* how often a paused emptying looks again */

enum op_kind { OP_PUT, OP_DEL, OP_SYNC };

struct op {
	enum op_kind kind;
	struct op *next;
	struct vm_spec spec; /* OP_PUT: the definition; OP_DEL: spec.name */
};

struct store_writer {
	struct ctl_store *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct op *head, **tail;
	bool busy, quit;
	bool trash_cut; /* store_trash_empty() was told to stop before the trash was empty */
	int error;
	char msg[320];
};

static void fail(struct store_writer *w, int rc, const char *fmt, const char *name)
{
	pthread_mutex_lock(&w->lock);
	if (!w->error) {
		w->error = rc;
		snprintf(w->msg, sizeof(w->msg), fmt, name, strerror(-rc));
	}
	pthread_mutex_unlock(&w->lock);
}

static void run_op(struct store_writer *w, struct op *o)
{
	int rc;

	switch (o->kind) {
	case OP_PUT:
		rc = store_put(w->st, &o->spec);
		if (rc < 0)
			fail(w, rc, "vm %s: cannot save its definition: %s", o->spec.name);
		break;
	case OP_DEL:
		rc = store_del(w->st, o->spec.name);
		if (rc < 0 && rc != -ENOENT)
			fail(w, rc, "vm %s: cannot remove its definition: %s", o->spec.name);
		break;
	case OP_SYNC:
		rc = store_sync(w->st);
		if (rc < 0)
			fail(w, rc, "%scannot make the definitions durable: %s", "");
		break;
	}
}

/* The trash is emptied when nothing else is asked of the store: it stops at this writer's
 * next request, at its close, and while any job has a batch open (its writes would wait
 * behind the unlinks on the same directories and disk); it goes on later. */
static bool has_work(void *arg)
{
	struct store_writer *w = arg;
	bool r;

	pthread_mutex_lock(&w->lock);
	r = w->head || w->quit || store_batch_active(w->st);
	w->trash_cut = w->trash_cut || r;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	bool trash = false; /* a sync ran since the trash was last emptied */

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct op *o = w->head;

		if (!o) {
			if (w->quit)
				break;
			if (trash && store_batch_active(w->st)) {
				struct timespec ts;

				/* Another job (or this one, until it concludes) is at work. */
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += TRASH_RETRY_NS;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&w->cond, &w->lock, &ts);
				continue;
			}
			if (trash) {
				/* After the sync the job waited for, not on its critical path:
				 * idle meanwhile (store_writer_idle()). */
				w->trash_cut = false;
				pthread_mutex_unlock(&w->lock);
				store_trash_empty(w->st, has_work, w);
				pthread_mutex_lock(&w->lock);
				trash = w->trash_cut; /* cut short: the rest later */
				continue;
			}
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		w->head = o->next;
		if (!w->head)
			w->tail = &w->head;
		w->busy = true;
		trash = trash || o->kind == OP_SYNC;
		pthread_mutex_unlock(&w->lock);
		run_op(w, o);
		free(o);
		pthread_mutex_lock(&w->lock);
		w->busy = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int store_writer_open(struct ctl_store *st, struct store_writer **out)
{
	struct store_writer *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->tail = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	rc = -pthread_create(&w->thread, NULL, writer_main, w);
	if (rc) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static void queue(struct store_writer *w, enum op_kind kind, const struct vm_spec *spec,
		  const char *name)
{
	struct op *o = malloc(sizeof(*o));

	if (!o) {
		fail(w, -ENOMEM, "vm %s: %s", name ? name : spec ? spec->name : "?");
		return;
	}
	o->kind = kind;
	o->next = NULL;
	if (spec)
		o->spec = *spec;
	else
		memset(&o->spec, 0, sizeof(o->spec));
	if (name)
		snprintf(o->spec.name, sizeof(o->spec.name), "%s", name);
	pthread_mutex_lock(&w->lock);
	*w->tail = o;
	w->tail = &o->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void store_writer_put(struct store_writer *w, const struct vm_spec *spec)
{
	queue(w, OP_PUT, spec, NULL);
}

void store_writer_del(struct store_writer *w, const char *name)
{
	queue(w, OP_DEL, NULL, name);
}

void store_writer_sync(struct store_writer *w)
{
	queue(w, OP_SYNC, NULL, NULL);
}

bool store_writer_idle(struct store_writer *w)
{
	bool idle;

	pthread_mutex_lock(&w->lock);
	idle = !w->head && !w->busy;
	pthread_mutex_unlock(&w->lock);
	return idle;
}

int store_writer_error(struct store_writer *w, char *msg, size_t len)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	rc = w->error;
	if (rc && msg && len)
		snprintf(msg, len, "%s", w->msg);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void store_writer_close(struct store_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

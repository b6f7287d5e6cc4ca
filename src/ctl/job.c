#include "job_impl.h"

#include "log.h"
#include "notify.h"
#include "store.h"
#include "store_writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_AHEAD 256 /* stops on their way to the workers and not yet reaped */
#define REAP_LOOK  32  /* VMs still being torn down looked at per pass before it rests */

static unsigned long job_serial;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The proto layer has checked that NAME-(count-1) fits in CTL_NAME_MAX. */
static void vm_name(char *dst, const struct ctl_request *req, unsigned i)
{
	char tmp[CTL_NAME_MAX + 16];

	if (req->count)
		snprintf(tmp, sizeof(tmp), "%s-%u", req->name, i);
	else
		snprintf(tmp, sizeof(tmp), "%s", req->name);
	tmp[CTL_NAME_MAX] = '\0';
	memcpy(dst, tmp, CTL_NAME_MAX + 1);
}

/* Every VM the backend knows plus every stored definition, as a set. */
static json_t *known_names(const struct ctl_backend *be, struct ctl_store *store)
{
	json_t *set = json_object(), *names = be->names(be->ctx), *v;
	size_t i;

	json_array_foreach(names, i, v)
	{
		if (json_is_string(v))
			json_object_set_new(set, json_string_value(v), json_true());
	}
	json_decref(names);
	if (store) {
		names = store_names(store);
		json_array_foreach(names, i, v)
		{
			json_object_set_new(set, json_string_value(v), json_true());
		}
		json_decref(names);
	}
	return set;
}

/* A job of no kind yet; req may be NULL (a job of the daemon's own, e.g. the restore). */
static struct ctl_job *job_alloc(const struct ctl_backend *be, struct ctl_store *store,
				 const struct ctl_request *req, unsigned long serial,
				 const char *peer)
{
	struct ctl_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->id = ++job_serial;
	j->client = serial;
	j->be = *be;
	j->store = store;
	j->progress = req && req->progress;
	j->req_id = req && req->id ? json_incref(req->id) : NULL;
	j->names = json_array();
	j->ok = json_array();
	j->errors = json_array();
	j->started_ms = real_ms();
	snprintf(j->peer, sizeof(j->peer), "%s", peer);
	return j;
}

static struct ctl_job *new_start(struct ctl_job *j, const struct ctl_request *req, json_t **reply)
{
	unsigned n = req->count ? req->count : 1;
	json_t *known = known_names(&j->be, j->store);
	char err[300] = "";
	int r;

	snprintf(j->what, sizeof(j->what), "start %s%s (%u) from %.100s", req->name,
		 req->count ? "-*" : "", n, req->image);
	memcpy(j->spec.image, req->image, sizeof(j->spec.image));
	j->spec.mem_bytes = req->mem_bytes;
	j->spec.net = req->net;
	snprintf(j->spec.disk, sizeof(j->spec.disk), "%s", req->disk);
	j->spec.disk_ro = req->disk_ro;
	j->spec.disk_direct = req->disk_direct;
	j->spec.owner = req->owner;
	j->spec.argc = req->argc;
	j->spec.argv = calloc((size_t)req->argc + 1, sizeof(char *));
	if (!j->spec.argv)
		goto nomem;
	for (int i = 0; i < req->argc; i++) {
		j->spec.argv[i] = strdup(req->argv[i]);
		if (!j->spec.argv[i])
			goto nomem;
	}
	/* Checked whole before the first VM starts: every name free ... */
	for (unsigned i = 0; i < n; i++) {
		char name[CTL_NAME_MAX + 1];

		vm_name(name, req, i);
		if (json_object_get(known, name)) {
			json_decref(known);
			*reply = ctl_reply_error(req->id, "vm %s: already defined (stop it first)",
						 name);
			return NULL;
		}
		json_array_append_new(j->names, json_string(name));
	}
	json_decref(known);
	/* ... room for all of them, the image read once ... */
	if (j->be.batch_open) {
		r = j->be.batch_open(j->be.ctx, &j->spec, n, &j->batch, err, sizeof(err));
		if (r < 0) {
			*reply = ctl_reply_error(req->id, "vm %s: %s",
						 json_string_value(json_array_get(j->names, 0)),
						 err[0] ? err : strerror(-r));
			return NULL;
		}
	}
	/* ... and their ids taken at once. */
	if (j->store) {
		store_batch_begin(j->store);
		r = store_ids_take(j->store, n, &j->first_id);
		if (r == 0 && (r = store_writer_open(j->store, &j->writer)) < 0)
			j->writer = NULL;
		if (r < 0) {
			store_batch_end(j->store);
			*reply = ctl_reply_error(req->id, "cannot take VM ids: %s", strerror(-r));
			return NULL;
		}
	}
	j->total = n;
	return j;
nomem:
	*reply = ctl_reply_error(req->id, "out of memory");
	return NULL;
}

static struct ctl_job *new_stop(struct ctl_job *j, const struct ctl_request *req)
{
	if (req->all) {
		json_t *set = known_names(&j->be, j->store), *v;
		const char *k;

		json_object_foreach(set, k, v)
		{
			json_array_append_new(j->names, json_string(k));
		}
		json_decref(set);
		snprintf(j->what, sizeof(j->what), "stop --all (%zu)", json_array_size(j->names));
	} else {
		for (unsigned i = 0; i < req->nnames; i++)
			json_array_append_new(j->names, json_string(req->names[i]));
		snprintf(j->what, sizeof(j->what), "stop %s%s (%u)", req->names[0],
			 req->nnames > 1 ? " ..." : "", req->nnames);
	}
	j->total = (unsigned)json_array_size(j->names);
	j->reaped = calloc(j->total ? j->total : 1, sizeof(*j->reaped));
	if (!j->reaped)
		return NULL;
	if (j->store) {
		if (store_writer_open(j->store, &j->writer) < 0)
			return NULL;
		store_batch_begin(j->store);
	}
	return j;
}

struct ctl_job *ctl_job_new(const struct ctl_backend *be, struct ctl_store *store,
			    const struct ctl_request *req, unsigned long serial, const char *peer,
			    json_t **reply)
{
	struct ctl_job *j = job_alloc(be, store, req, serial, peer), *r;

	*reply = NULL;
	if (!j) {
		*reply = ctl_reply_error(req->id, "out of memory");
		return NULL;
	}
	if (req->op == CTL_OP_START) {
		j->kind = JOB_START;
		r = new_start(j, req, reply);
	} else {
		j->kind = JOB_STOP;
		r = new_stop(j, req);
	}
	if (!r) {
		ctl_job_free(j);
		if (!*reply)
			*reply = ctl_reply_error(req->id, "out of memory");
		return NULL;
	}
	log_info("%s: job %lu: %s", peer, j->id, j->what);
	return j;
}

/* Stops one VM and forgets its definition. A definition whose VM never came back after a
 * restart (its image gone, say) is removed this way too. */
/* Forgets name's definition: through the job's writer, after what it queued before (0 if
 * one is stored or on its way, -ENOENT if not). */
static int forget(struct ctl_job *j, const char *name)
{
	int d;

	if (!j->store)
		return -ENOENT;
	if (!j->writer)
		return store_del(j->store, name);
	d = store_has(j->store, name) ? 0 : -ENOENT;
	store_writer_del(j->writer, name);
	return d;
}

static int stop_one(struct ctl_job *j, const char *name, char *err, size_t errlen)
{
	int r = j->be.stop(j->be.ctx, name, err, errlen);
	int d = forget(j, name);

	if (r == 0 || (r == -ENOENT && d == 0))
		return 0;
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "no such VM");
	else if (!err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static void conclude(struct ctl_job *j, bool failed)
{
	j->state = failed ? CTL_JOB_FAILED : CTL_JOB_DONE;
	j->ended_ms = real_ms();
	if (j->kind == JOB_RESTORE) {
		log_info("restored %u VM(s), %u failed, %u removed meanwhile (job %lu)", j->done,
			 j->failed, j->skipped, j->id);
		notify_sendf("STATUS=serving, %u VM(s) restored", j->done);
		return;
	}
	log_info("%s: job %lu: %s: %s, %u done, %u failed%s%s", j->peer, j->id, j->what,
		 failed ? "failed" : "done", j->done, j->failed, j->error[0] ? ": " : "", j->error);
}

/* The work is over: room not used goes back, then the store is synced by the job's writer
 * after the definitions it still has to write. Returns true if the job is over now (no
 * store). */
static bool finish(struct ctl_job *j, bool failed)
{
	if (j->batch && j->be.batch_close)
		j->be.batch_close(j->be.ctx, j->batch);
	j->batch = NULL;
	j->failed_work = failed;
	if (!j->store) {
		conclude(j, failed);
		return true;
	}
	if (j->writer)
		store_writer_sync(j->writer);
	j->syncing = true;
	return false;
}

/* Waits (without blocking) for the writer. A definition that could not be written fails a
 * start job: all or nothing, its VMs are stopped again and their definitions removed. */
static bool step_sync(struct ctl_job *j)
{
	char msg[320];
	int rc;

	if (j->writer && !store_writer_idle(j->writer))
		return false;
	j->syncing = false;
	rc = j->writer ? store_writer_error(j->writer, msg, sizeof(msg)) : store_sync(j->store);
	if (rc < 0 && !j->failed_work) {
		if (!j->writer)
			snprintf(msg, sizeof(msg), "cannot make the definitions durable: %s",
				 strerror(-rc));
		snprintf(j->error, sizeof(j->error), "%s", msg);
		j->failed_work = true;
		if (j->kind == JOB_START && !j->rolling_back) {
			j->failed++;
			j->rolling_back = true;
			j->next = json_array_size(j->ok);
			log_warn("%s: job %lu: %s; rolling back %zu VM(s)", j->peer, j->id,
				 j->error, json_array_size(j->ok));
			return false; /* step_start() rolls back, then syncs again */
		}
	}
	store_batch_end(j->store);
	conclude(j, j->failed_work);
	return true;
}

static bool step_start(struct ctl_job *j, int64_t end)
{
	char err[256];
	int r;

	while (!j->rolling_back && j->next < json_array_size(j->names)) {
		struct vm_spec spec = j->spec;

		snprintf(spec.name, sizeof(spec.name), "%s",
			 json_string_value(json_array_get(j->names, j->next)));
		spec.id = j->first_id ? j->first_id + j->next : 0;
		spec.batch = j->batch;
		err[0] = '\0';
		r = j->writer ? store_writer_error(j->writer, err, sizeof(err)) : 0;
		if (r < 0) {
			/* a definition before this one could not be written */
			snprintf(j->error, sizeof(j->error), "%s", err);
			j->failed++;
			j->rolling_back = true;
			j->next = json_array_size(j->ok);
			log_warn("%s: job %lu: %s; rolling back %zu VM(s)", j->peer, j->id,
				 j->error, json_array_size(j->ok));
			break;
		}
		r = j->be.start(j->be.ctx, &spec, err, sizeof(err));
		if (r == 0 && j->writer)
			store_writer_put(j->writer, &spec); /* argv: the job's template, kept */
		else if (r == 0 && j->store && (r = store_put(j->store, &spec)) < 0) {
			char e2[256] = "";

			snprintf(err, sizeof(err), "cannot save its definition: %s", strerror(-r));
			j->be.stop(j->be.ctx, spec.name, e2, sizeof(e2));
		}
		if (r < 0) {
			/* A long reason is cut to the field: the return value is
			 * used so that gcc at -O0 does not call that an error. */
			if (snprintf(j->error, sizeof(j->error), "vm %s: %s", spec.name,
				     err[0] ? err : strerror(-r)) >= (int)sizeof(j->error))
				j->error[sizeof(j->error) - 1] = '\0';
			j->failed++;
			j->rolling_back = true;
			j->next = json_array_size(j->ok);
			log_warn("%s: job %lu: %s; rolling back %zu VM(s)", j->peer, j->id,
				 j->error, json_array_size(j->ok));
			break;
		}
		json_array_append_new(j->ok, json_string(spec.name));
		j->next++;
		j->done++;
		if (mono_ms() >= end)
			return false;
	}
	if (!j->rolling_back)
		return finish(j, false);
	/* All or nothing: the VMs this request did start are stopped again. */
	while (j->next > 0) {
		char e2[256] = "";

		j->next--;
		stop_one(j, json_string_value(json_array_get(j->ok, j->next)), e2, sizeof(e2));
		json_array_remove(j->ok, j->next);
		if (j->done)
			j->done--;
		if (mono_ms() >= end)
			return false;
	}
	return finish(j, true);
}

/* Stops one VM without waiting: -EINPROGRESS while its worker has not let it go. */
static int stop_one_try(struct ctl_job *j, const char *name, char *err, size_t errlen)
{
	int r, d;

	if (!j->be.stop_try)
		return stop_one(j, name, err, errlen);
	r = j->be.stop_try(j->be.ctx, name, err, errlen);
	if (r == -EINPROGRESS)
		return r;
	d = forget(j, name);
	if (r == 0 || (r == -ENOENT && d == 0))
		return 0;
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "no such VM");
	else if (!err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

/* Reaps the stop of names[i]: done with, or -EINPROGRESS while its worker has not let the
 * VM go. */
static int reap_one(struct ctl_job *j, size_t i)
{
	const char *name = json_string_value(json_array_get(j->names, i));
	char err[256] = "";
	int r = stop_one_try(j, name, err, sizeof(err));

	if (r == -EINPROGRESS)
		return r;
	j->reaped[i] = true;
	if (r == 0) {
		json_array_append_new(j->ok, json_string(name));
		j->done++;
	} else {
		if (!j->error[0])
			snprintf(j->error, sizeof(j->error), "vm %s: %s", name, err);
		json_array_append_new(j->errors,
				      json_pack("{s:s, s:s}", "name", name, "error", err));
		j->failed++;
	}
	return 0;
}

static bool step_stop(struct ctl_job *j, int64_t end)
{
	size_t total = json_array_size(j->names);

	j->blocked = false;
	while (j->reap < total) {
		bool moved = false;

		/* Up to STOP_AHEAD stops on their way before any is waited for ... */
		for (; j->be.stop_begin && j->next < total && j->next - j->reap < STOP_AHEAD;
		     j->next++)
			j->be.stop_begin(j->be.ctx,
					 json_string_value(json_array_get(j->names, j->next)));
		if (!j->be.stop_begin)
			j->next = total; /* every stop waits for its VM: one at a time, in order */
		/* ... and every one whose worker is done reaped, in whatever order the workers
		 * finish (a VM still being torn down holds up none behind it). */
		for (size_t i = j->reap, busy = 0; i < j->next && busy < REAP_LOOK; i++) {
			if (j->reaped[i])
				continue;
			if (reap_one(j, i) == -EINPROGRESS) {
				busy++;
				continue;
			}
			moved = true;
			if (mono_ms() >= end)
				break;
		}
		while (j->reap < total && j->reaped[j->reap])
			j->reap++;
		if (!moved) {
			j->blocked = true; /* the workers are busy: come back at the next round */
			return false;
		}
		if (mono_ms() >= end)
			return false;
	}
	return finish(j, j->failed > 0);
}

/* One stored definition brought back to life; a definition that went away since the job
 * listed it (stopped by a client meanwhile) is skipped. A VM that cannot start is logged and
 * its definition kept: `denalictl stop NAME` removes it. */
static void restore_one(struct ctl_job *j, const char *name)
{
	struct vm_spec spec;
	char err[256] = "";
	int r = store_get(j->store, name, &spec);

	if (r == -ENOENT) {
		j->skipped++;
		return;
	}
	if (r == 0 && !spec.id && store_ids_take(j->store, 1, &spec.id) == 0)
		store_put(j->store, &spec); /* from before ids: it gets one, kept from here on */
	if (r == 0)
		r = j->be.start(j->be.ctx, &spec, err, sizeof(err));
	if (r < 0) {
		log_err("vm %s: not restarted: %s", name, err[0] ? err : strerror(-r));
		if (!j->error[0])
			snprintf(j->error, sizeof(j->error), "vm %.64s: %.200s", name,
				 err[0] ? err : strerror(-r));
		j->failed++;
	} else {
		json_array_append_new(j->ok, json_string(name));
		j->done++;
	}
	store_spec_free(&spec); /* store_get() leaves nothing to free when it fails */
}

static bool step_restore(struct ctl_job *j, int64_t end)
{
	while (j->next < json_array_size(j->names)) {
		restore_one(j, json_string_value(json_array_get(j->names, j->next)));
		j->next++;
		if (mono_ms() >= end)
			return false;
	}
	conclude(j, false); /* a VM that did not come back is logged, not a failed job */
	return true;
}

struct ctl_job *ctl_job_restore(const struct ctl_backend *be, struct ctl_store *store,
				const char *from)
{
	struct ctl_job *j = job_alloc(be, store, NULL, 0, "daemon");

	if (!j)
		return NULL;
	j->kind = JOB_RESTORE;
	json_decref(j->names);
	j->names = store_names(store);
	if (!j->names || !j->ok || !j->errors) {
		ctl_job_free(j);
		return NULL;
	}
	j->total = (unsigned)json_array_size(j->names);
	snprintf(j->what, sizeof(j->what), "restore (%u) from %.200s", j->total, from);
	log_info("job %lu: %s", j->id, j->what);
	return j;
}

bool ctl_job_step(struct ctl_job *j, int64_t budget_ms)
{
	int64_t end = mono_ms() + budget_ms;

	if (j->state != CTL_JOB_RUNNING)
		return true;
	if (j->syncing)
		return step_sync(j);
	if (j->kind == JOB_RESTORE)
		return step_restore(j, end);
	return j->kind == JOB_START ? step_start(j, end) : step_stop(j, end);
}

void ctl_job_free(struct ctl_job *j)
{
	if (!j)
		return;
	if (j->batch && j->be.batch_close)
		j->be.batch_close(j->be.ctx, j->batch);
	store_writer_close(j->writer); /* what it was given is written first */
	if (j->state == CTL_JOB_RUNNING && j->store && j->kind != JOB_RESTORE)
		store_batch_end(j->store); /* cut short (shutdown): what it did is kept */
	if (j->spec.argv) {
		for (int i = 0; i < j->spec.argc; i++)
			free(j->spec.argv[i]);
		free(j->spec.argv);
	}
	json_decref(j->req_id);
	json_decref(j->names);
	json_decref(j->ok);
	json_decref(j->errors);
	free(j->reaped);
	free(j);
}

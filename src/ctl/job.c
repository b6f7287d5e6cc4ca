#include "job.h"

#include "log.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_AHEAD 256 /* stops on their way to the workers and not yet reaped */

enum job_kind { JOB_START, JOB_STOP };

struct ctl_job {
	unsigned long id, client;
	enum job_kind kind;
	enum ctl_job_state state;
	bool progress, rolling_back;
	char what[256], peer[96], error[320];
	unsigned total, done, failed;
	int64_t started_ms, ended_ms;
	json_t *req_id;
	json_t *names;	/* what to start or stop, in order */
	json_t *ok;	/* started / stopped */
	json_t *errors; /* stop: [{name, error}] */
	size_t next;	/* index into names (rollback: into ok, from the end) */
	size_t reap;	/* stop: names before this are done with */
	bool blocked;	/* stop: last step only waited for workers */
	struct ctl_backend be;
	struct ctl_store *store;
	struct vm_spec spec; /* start: the template; argv owned */
	void *batch;
	uint64_t first_id;
	/* The work is done; the store is being synced on a thread of its own, so that the
	 * serving thread never waits for the disk. */
	bool syncing, failed_work;
	pthread_t sync_thread;
	int sync_done, sync_rc; /* atomic */
	bool sync_thread_live;
};

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
	j->progress = req->progress;
	j->req_id = req->id ? json_incref(req->id) : NULL;
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
	if (j->store)
		store_batch_begin(j->store);
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
		return NULL;
	}
	log_info("%s: job %lu: %s", peer, j->id, j->what);
	return j;
}

/* Stops one VM and forgets its definition. A definition whose VM never came back after a
 * restart (its image gone, say) is removed this way too. */
static int stop_one(struct ctl_job *j, const char *name, char *err, size_t errlen)
{
	int r = j->be.stop(j->be.ctx, name, err, errlen);
	int d = j->store ? store_del(j->store, name) : -ENOENT;

	if (r == 0 || (r == -ENOENT && d == 0))
		return 0;
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "no such VM");
	else if (!err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

static void *sync_main(void *arg)
{
	struct ctl_job *j = arg;

	__atomic_store_n(&j->sync_rc, store_sync(j->store), __ATOMIC_RELAXED);
	__atomic_store_n(&j->sync_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void conclude(struct ctl_job *j, bool failed)
{
	j->state = failed ? CTL_JOB_FAILED : CTL_JOB_DONE;
	j->ended_ms = real_ms();
	log_info("%s: job %lu: %s: %s, %u done, %u failed%s%s", j->peer, j->id, j->what,
		 failed ? "failed" : "done", j->done, j->failed, j->error[0] ? ": " : "", j->error);
}

/* The work is over: room not used goes back, then the store is synced off this thread.
 * Returns true if the job is over now (no store). */
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
	store_batch_end(j->store);
	j->syncing = true;
	if (pthread_create(&j->sync_thread, NULL, sync_main, j) != 0)
		sync_main(j); /* no thread: wait here, once */
	else
		j->sync_thread_live = true;
	return false;
}

static bool step_sync(struct ctl_job *j)
{
	int rc;

	if (!__atomic_load_n(&j->sync_done, __ATOMIC_ACQUIRE))
		return false;
	if (j->sync_thread_live)
		pthread_join(j->sync_thread, NULL);
	j->sync_thread_live = false;
	j->syncing = false;
	rc = __atomic_load_n(&j->sync_rc, __ATOMIC_RELAXED);
	if (rc < 0 && !j->failed_work) {
		snprintf(j->error, sizeof(j->error), "cannot make the definitions durable: %s",
			 strerror(-rc));
		j->failed_work = true;
	}
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
		r = j->be.start(j->be.ctx, &spec, err, sizeof(err));
		if (r == 0 && j->store && (r = store_put(j->store, &spec)) < 0) {
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
	d = j->store ? store_del(j->store, name) : -ENOENT;
	if (r == 0 || (r == -ENOENT && d == 0))
		return 0;
	if (r == -ENOENT && !err[0])
		snprintf(err, errlen, "no such VM");
	else if (!err[0])
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
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
		/* ... and the ones whose workers are done reaped, never waited for. */
		while (j->reap < total && (j->reap < j->next || !j->be.stop_begin)) {
			const char *name = json_string_value(json_array_get(j->names, j->reap));
			char err[256] = "";
			int r = stop_one_try(j, name, err, sizeof(err));

			if (r == -EINPROGRESS)
				break;
			moved = true;
			j->reap++;
			if (r == 0) {
				json_array_append_new(j->ok, json_string(name));
				j->done++;
			} else {
				if (!j->error[0])
					snprintf(j->error, sizeof(j->error), "vm %s: %s", name,
						 err);
				json_array_append_new(
				    j->errors, json_pack("{s:s, s:s}", "name", name, "error", err));
				j->failed++;
			}
			if (mono_ms() >= end)
				return false;
		}
		if (!moved) {
			j->blocked = true; /* the workers are busy: come back at the next round */
			return false;
		}
		if (mono_ms() >= end)
			return false;
	}
	return finish(j, j->failed > 0);
}

bool ctl_job_step(struct ctl_job *j, int64_t budget_ms)
{
	int64_t end = mono_ms() + budget_ms;

	if (j->state != CTL_JOB_RUNNING)
		return true;
	if (j->syncing)
		return step_sync(j);
	return j->kind == JOB_START ? step_start(j, end) : step_stop(j, end);
}

json_t *ctl_job_reply(struct ctl_job *j)
{
	json_t *reply;

	if (j->kind == JOB_START) {
		if (j->state == CTL_JOB_DONE) {
			reply = ctl_reply_ok(j->req_id);
			json_object_set_new(reply, "started", json_incref(j->ok));
		} else {
			reply = ctl_reply_error(j->req_id, "%s", j->error);
		}
	} else {
		if (j->state == CTL_JOB_DONE) {
			reply = ctl_reply_ok(j->req_id);
		} else {
			reply = ctl_reply_error(j->req_id, "%s", j->error);
			json_object_set_new(reply, "failed", json_incref(j->errors));
		}
		json_object_set_new(reply, "stopped", json_incref(j->ok));
	}
	json_object_set_new(reply, "job", json_integer((json_int_t)j->id));
	return reply;
}

static const char *state_name(enum ctl_job_state s)
{
	return s == CTL_JOB_RUNNING ? "running" : s == CTL_JOB_DONE ? "done" : "failed";
}

json_t *ctl_job_json(const struct ctl_job *j)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "id",
			 (json_int_t)j->id, "op", j->kind == JOB_START ? "start" : "stop", "what",
			 j->what, "state", state_name(j->state), "total", (json_int_t)j->total,
			 "done", (json_int_t)j->done, "failed", (json_int_t)j->failed, "started_ms",
			 (json_int_t)j->started_ms, "ended_ms",
			 j->ended_ms ? json_integer((json_int_t)j->ended_ms) : json_null(), "error",
			 j->error[0] ? json_string(j->error) : json_null());
}

json_t *ctl_job_progress(const struct ctl_job *j)
{
	return json_pack("{s:O?, s:o}", "id", j->req_id, "progress", ctl_job_json(j));
}

unsigned long ctl_job_id(const struct ctl_job *j)
{
	return j->id;
}

unsigned long ctl_job_client(const struct ctl_job *j)
{
	return j->client;
}

bool ctl_job_waiting(const struct ctl_job *j)
{
	return j->syncing || j->blocked;
}

bool ctl_job_wants_progress(const struct ctl_job *j)
{
	return j->progress;
}

enum ctl_job_state ctl_job_state(const struct ctl_job *j)
{
	return j->state;
}

void ctl_job_free(struct ctl_job *j)
{
	if (!j)
		return;
	if (j->batch && j->be.batch_close)
		j->be.batch_close(j->be.ctx, j->batch);
	if (j->sync_thread_live)
		pthread_join(j->sync_thread, NULL);
	else if (j->state == CTL_JOB_RUNNING && j->store && !j->syncing)
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
	free(j);
}

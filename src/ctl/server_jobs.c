/* Bulk start and stop as jobs run by the serve loop in bounded steps, with progress lines to
 * the client that asked and a list of running and recent jobs. */
#include "server_impl.h"

#include "job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Room for one more job. 0 or -ENOMEM. */
static int jobs_grow(struct ctl_server *srv)
{
	if (srv->njobs == srv->jobs_cap) {
		size_t cap = srv->jobs_cap ? 2 * srv->jobs_cap : 16;
		struct ctl_job **nj = realloc(srv->jobs, cap * sizeof(*nj));

		if (!nj)
			return -ENOMEM;
		srv->jobs = nj;
		srv->jobs_cap = cap;
	}
	return 0;
}

int ctl_server_add_job(struct ctl_server *srv, struct ctl_job *job)
{
	if (jobs_grow(srv) < 0) {
		ctl_job_free(job);
		return -ENOMEM;
	}
	srv->jobs[srv->njobs++] = job;
	return 0;
}

void srv_job_start(struct ctl_server *srv, struct client *c, struct ctl_request *req)
{
	json_t *reply;
	struct ctl_job *j;

	if (jobs_grow(srv) < 0) {
		srv_client_reply(c, ctl_reply_error(req->id, "out of memory"));
		return;
	}
	j = ctl_job_new(&srv->ops.be, srv->ops.store, req, c->serial, c->peer, &reply);
	if (!j) {
		srv_client_reply(c, reply);
		return;
	}
	srv->jobs[srv->njobs++] = j;
	c->job = ctl_job_id(j);
	c->last_progress = srv_now_ms();
}

json_t *srv_jobs_reply(struct ctl_server *srv, const struct ctl_request *req)
{
	json_t *reply = ctl_reply_ok(req->id), *arr = json_array();

	for (size_t i = 0; i < srv->njobs; i++)
		json_array_append_new(arr, ctl_job_json(srv->jobs[i]));
	json_object_set_new(reply, "jobs", arr);
	return reply;
}

static struct client *client_by_serial(struct ctl_server *srv, unsigned long serial)
{
	for (size_t i = 0; i < srv->nclients; i++)
		if (srv->clients[i]->serial == serial)
			return srv->clients[i];
	return NULL;
}

/* -1: no job running; 0: one has work to do now; 5: they only wait for the disk. */
int srv_jobs_timeout(const struct ctl_server *srv)
{
	int t = -1;

	for (size_t i = 0; i < srv->njobs; i++) {
		if (ctl_job_state(srv->jobs[i]) != CTL_JOB_RUNNING)
			continue;
		if (!ctl_job_waiting(srv->jobs[i]))
			return 0;
		t = 5;
	}
	return t;
}

/* One round of work on the running jobs, JOB_STEP_MS in all; replies and progress to their
 * clients; the oldest finished jobs beyond JOBS_KEPT forgotten. */
void srv_jobs_run(struct ctl_server *srv, int64_t now)
{
	size_t running = 0, finished = 0;

	for (size_t i = 0; i < srv->njobs; i++)
		running += ctl_job_state(srv->jobs[i]) == CTL_JOB_RUNNING;
	for (size_t i = 0; i < srv->njobs && running; i++) {
		struct ctl_job *j = srv->jobs[i];
		struct client *c;

		if (ctl_job_state(j) != CTL_JOB_RUNNING)
			continue;
		c = client_by_serial(srv, ctl_job_client(j));
		if (c && c->job != ctl_job_id(j))
			c = NULL;
		if (ctl_job_step(j, JOB_STEP_MS / (int64_t)running > 0
					? JOB_STEP_MS / (int64_t)running
					: 1)) {
			if (c) {
				srv_client_reply(c, ctl_job_reply(j));
				c->job = 0;
				c->last_ms = srv_now_ms();
			}
		} else if (c && ctl_job_wants_progress(j) &&
			   now - c->last_progress >= JOB_PROGRESS_MS) {
			srv_client_reply(c, ctl_job_progress(j));
			c->last_progress = now;
			c->last_ms = now;
		}
	}
	for (size_t i = 0; i < srv->njobs; i++)
		finished += ctl_job_state(srv->jobs[i]) != CTL_JOB_RUNNING;
	while (finished > JOBS_KEPT) {
		for (size_t i = 0; i < srv->njobs; i++) {
			if (ctl_job_state(srv->jobs[i]) == CTL_JOB_RUNNING)
				continue;
			ctl_job_free(srv->jobs[i]);
			memmove(srv->jobs + i, srv->jobs + i + 1,
				(srv->njobs - i - 1) * sizeof(*srv->jobs));
			srv->njobs--;
			break;
		}
		finished--;
	}
}

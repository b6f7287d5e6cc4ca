/* What a job shows: the reply to its client, its JSON for `denalictl jobs` and progress
 * lines, and its accessors. */
#include "job_impl.h"

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
			 (json_int_t)j->id, "op",
			 j->kind == JOB_START  ? "start"
			 : j->kind == JOB_STOP ? "stop"
					       : "restore",
			 "what", j->what, "state", state_name(j->state), "total",
			 (json_int_t)j->total, "done", (json_int_t)j->done, "failed",
			 (json_int_t)j->failed, "started_ms", (json_int_t)j->started_ms, "ended_ms",
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

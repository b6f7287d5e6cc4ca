/* Inside the jobs: the job as job.c (creation and steps) and job_view.c (replies, JSON,
 * accessors) share it. Not for other files. */
#ifndef DENALI_CTL_JOB_IMPL_H
#define DENALI_CTL_JOB_IMPL_H

#include "job.h"

enum job_kind { JOB_START, JOB_STOP, JOB_RESTORE };

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
	bool *reaped;	/* stop: per name, done with (reaped out of order) */
	bool blocked;	/* stop: last step only waited for workers */
	struct ctl_backend be;
	struct ctl_store *store;
	struct vm_spec spec; /* start: the template; argv owned */
	unsigned skipped;    /* restore: definitions removed before their turn */
	void *batch;
	uint64_t first_id;
	/* The work is done; the writer is writing and syncing the definitions, so that the
	 * serving thread never waits for the disk. */
	bool syncing, failed_work;
	struct store_writer *writer; /* start, stop: definitions written off this thread */
};

#endif

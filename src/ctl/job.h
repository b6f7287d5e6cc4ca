/*
 * Bulk start and stop as jobs: the serving thread advances each in steps of bounded time
 * (ctl_job_step), so that it answers other clients and pings the watchdog while thousands of
 * VMs start or stop. A start job is checked whole before its first VM starts (names free,
 * room for all of them via the backend's batch_open, ids taken once), reads its image once,
 * and makes its definitions durable once (store_batch_end: one syncfs); if one VM fails the
 * VMs the job did start are stopped again (all or nothing). A stop job keeps up to 256 stops
 * on their way to the workers and reaps the finished ones without waiting, and syncs the store
 * once at its end.
 */
#ifndef DENALI_CTL_JOB_H
#define DENALI_CTL_JOB_H

#include "backend.h"
#include "proto.h"

#include <stdbool.h>
#include <stdint.h>

struct ctl_store;

enum ctl_job_state { CTL_JOB_RUNNING, CTL_JOB_DONE, CTL_JOB_FAILED };

struct ctl_job;

/* Creates the job a start or stop request asks for (req is copied). Returns NULL and sets
 * *reply to an error reply when the request is refused before anything happens. */
struct ctl_job *ctl_job_new(const struct ctl_backend *be, struct ctl_store *store,
			    const struct ctl_request *req, unsigned long serial, const char *peer,
			    json_t **reply);

/* The restore at daemon start as a job: every definition stored in store at this call is
 * started again through be, a few per step, so that the serving thread answers and pings
 * the watchdog while thousands of VMs come back; `denalictl jobs` shows its progress. A
 * definition removed meanwhile (a client stopped it) is skipped; one that cannot start is
 * logged and kept. from names the state directory in its description. NULL: out of
 * memory. The job has no client (ctl_job_client() is 0). */
struct ctl_job *ctl_job_restore(const struct ctl_backend *be, struct ctl_store *store,
				const char *from);

/* Does up to budget_ms of the job's work. Returns true once the job is over. */
bool ctl_job_step(struct ctl_job *job, int64_t budget_ms);

/* The final reply for the requesting client (new reference); only once the job is over. */
json_t *ctl_job_reply(struct ctl_job *job);

/* {"id", "op", "what", "state", "total", "done", "failed", "started_ms", "ended_ms",
 *  "error"} as a new reference (times: CLOCK_REALTIME ms). */
json_t *ctl_job_json(const struct ctl_job *job);

/* A progress line for the requesting client: {"id": req id, "progress": {job}}. */
json_t *ctl_job_progress(const struct ctl_job *job);

unsigned long ctl_job_id(const struct ctl_job *job);
unsigned long ctl_job_client(const struct ctl_job *job);
bool ctl_job_wants_progress(const struct ctl_job *job);
/* True while the job only waits: for its definitions to reach the disk, or for workers. */
bool ctl_job_waiting(const struct ctl_job *job);
enum ctl_job_state ctl_job_state(const struct ctl_job *job);

void ctl_job_free(struct ctl_job *job);

#endif

/* Inside the control socket: the types and helpers that server.c (socket, poll loop),
 * server_client.c (buffers, requests), server_follow.c (console and event streams) and
 * server_jobs.c (bulk jobs) share. Not for other files. */
#ifndef DENALI_CTL_SERVER_IMPL_H
#define DENALI_CTL_SERVER_IMPL_H

#include "ops.h"
#include "proto.h"
#include "server.h"

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#define IN_INITIAL	 4096
#define ACCEPT_BATCH	 64
#define READS_PER_WAKE	 4
#define ACCEPT_PAUSE_MS	 100	      /* out of descriptors: how long new connections wait */
#define FOLLOW_POLL_MS	 50	      /* console --follow: how often new output is looked for */
#define FOLLOW_OUT_LOW	 (64u << 10)  /* follow reads more only below this much queued output */
#define CLIENT_OUT_PAUSE (256u << 10) /* replies unread: the client's requests wait */
#define CONSOLE_DUMP_MAX (8u << 20)   /* non-follow console: most bytes sent for one request */
#define JOB_STEP_MS	 20	      /* the longest the loop works on jobs between polls */
#define JOB_PROGRESS_MS	 250	      /* progress lines to the requesting client */
#define JOBS_KEPT	 64	      /* finished jobs still listed */
#define OUT_KEEP	 (64u << 10)  /* a drained reply buffer larger than this is freed */
#define LIST_STEP_VMS	 256	      /* list entries made in one step (server_list.c) */
#define LIST_OUT_LOW	 (256u << 10) /* a list's next step waits while this much is unread */
#define LIST_RETRY_MS	 50	      /* a step that found no room in the total: tried again */

struct ctl_server;
struct srv_list;

struct client {
	struct ctl_server *srv;
	int fd;
	unsigned long serial;
	char peer[96];		/* "client N (pid P uid U)" for log lines */
	struct ctl_owner owner; /* its credentials, for the paths it names */
	char *in;
	size_t inlen, incap;
	char *out;
	size_t outlen, outoff, outcap;
	int64_t out_moved_ms; /* unread replies: when they were last read from (or queued) */
	bool closing;	      /* close once out is flushed; read nothing more */
	bool following;
	json_t *follow_id;
	char follow_name[CTL_NAME_MAX + 1];
	uint64_t follow_off;
	int64_t last_ms;
	int64_t line_since;	  /* when the unfinished line in `in` began; 0 = none */
	unsigned long job;	  /* the job whose reply this client waits for; 0 = none */
	struct srv_list *listing; /* a list reply being written in steps; NULL = none */
	bool following_events;
	uint64_t events_seq; /* events --follow: the last seq sent */
	json_t *events_id;
	int64_t last_progress;
};

struct ctl_server {
	int lfd;
	int wake[2];
	volatile sig_atomic_t stopping;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ops_ctx ops;
	struct client **clients;
	size_t nclients;
	size_t out_bytes; /* every client's reply buffer, allocated */
	struct pollfd *pfds;
	unsigned long serial;
	int64_t accept_paused_until; /* out of descriptors: the listener rests until then */
	int64_t last_emfile_log;
	unsigned tick_ms;
	void (*tick_fn)(void *);
	void *tick_arg;
	int64_t next_tick;
	int64_t idle_ms, line_ms;
	struct ctl_job **jobs; /* running ones, then finished ones, oldest first */
	size_t njobs, jobs_cap;
};

/* CLOCK_MONOTONIC in milliseconds. */
int64_t srv_now_ms(void);

/* Back-pressure: a client with CLIENT_OUT_PAUSE of replies unread is neither read nor
 * answered further until it reads them, so that a thousand clients that never read cannot make
 * the daemon hold CTL_OUT_MAX each. */
static inline bool srv_client_paused(const struct client *c)
{
	return c->outlen - c->outoff >= CLIENT_OUT_PAUSE;
}

/* A job or a list reply in steps: the client's further requests wait until it is done. */
static inline bool srv_client_busy(const struct client *c)
{
	return c->job || c->listing;
}

/* server_client.c: closes c's socket and frees it. */
void srv_client_free(struct client *c);
/* Queues reply as one line and drops the caller's reference; a client that leaves more than
 * CTL_OUT_MAX unread is marked closing instead. */
void srv_client_reply(struct client *c, json_t *reply);
/* Queues n bytes of a reply written in parts (server_list.c) if the reply buffers of all
 * clients have room for them: false if not (try again later) or if c is closing. */
bool srv_client_queue_part(struct client *c, const char *p, size_t n);
/* Sends what is queued without blocking. Returns -1 if the connection is gone, else 0. */
int srv_client_flush(struct client *c);
/* Handles every complete line in c's input (eof: a last line without its newline too) and
 * keeps the partial one; stops at a request that starts a job. */
void srv_client_lines(struct ctl_server *srv, struct client *c, bool eof);
/* Reads what the client sent and handles its lines. Returns -1 if it is to be closed now. */
int srv_client_read(struct ctl_server *srv, struct client *c);

/* server_follow.c: console and events requests, and their streams while following. */
void srv_console_request(struct ctl_server *srv, struct client *c, struct ctl_request *req);
void srv_console_pump(struct ctl_server *srv, struct client *c);
void srv_events_request(struct ctl_server *srv, struct client *c, struct ctl_request *req);
void srv_events_pump(struct ctl_server *srv, struct client *c);

/* server_list.c: a list request to a backend that lists in steps (list_begin); c's reply
 * is then written by srv_list_pump(), a step at a time while c reads it. */
void srv_list_request(struct ctl_server *srv, struct client *c, struct ctl_request *req);
/* The next steps of c's list, JOB_STEP_MS at most, while c has less than the low mark unread. */
void srv_list_pump(struct ctl_server *srv, struct client *c);
/* What poll may wait for c's list: 0 (a step to make now), LIST_RETRY_MS (no room in the
 * total), -1 (no list, or it waits for c to read). */
int srv_list_timeout(const struct client *c);
/* Ends c's list, if any, where it is (the cursor given back to the backend). */
void srv_list_free(struct client *c);

/* server_jobs.c: a start or stop request becomes a job; c waits for its reply. */
void srv_job_start(struct ctl_server *srv, struct client *c, struct ctl_request *req);
/* The reply to a jobs request: every running and kept job. */
json_t *srv_jobs_reply(struct ctl_server *srv, const struct ctl_request *req);
/* -1: no job running; 0: one has work to do now; 5: they only wait for the disk. */
int srv_jobs_timeout(const struct ctl_server *srv);
/* One round of work on the running jobs, JOB_STEP_MS in all; replies and progress to their
 * clients; the oldest finished jobs beyond JOBS_KEPT forgotten. */
void srv_jobs_run(struct ctl_server *srv, int64_t now);

#endif

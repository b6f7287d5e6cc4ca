/*
 * The VM life-cycle log of `denalid serve`: every start, exit, kill and removal, with its
 * code or reason, numbered, in a ring of the last EVENTS_KEPT. Not locked: the registry
 * calls it under its own lock (the workers add exits and kills from their threads).
 */
#ifndef DENALI_CMD_EVENTS_H
#define DENALI_CMD_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTS_KEPT 4096

struct vm_event {
	uint64_t seq;	 /* 1, 2, ...: never reused */
	int64_t time_ms; /* CLOCK_REALTIME */
	uint64_t id;
	char vm[64];
	char kind[8]; /* start, exit, kill, stop */
	int code;     /* exit: the guest's exit code */
	char reason[200];
};

struct event_log {
	struct vm_event *ring; /* EVENTS_KEPT of them */
	uint64_t next_seq;     /* the seq the next event gets */
	uint64_t logged_seq;   /* events up to here are in the daemon log */
};

int event_log_init(struct event_log *l);
void event_log_free(struct event_log *l);

/* Records one event; reason may be NULL. */
void event_log_add(struct event_log *l, const char *kind, const char *vm, uint64_t id, int code,
		   const char *reason);

/* New reference: the events with seq > since still kept, oldest first, at most max. */
json_t *event_log_since(const struct event_log *l, uint64_t since, size_t max);

/* One line for the daemon log: "vm NAME (id N): exited with code 3". */
void event_format(const struct vm_event *e, char *buf, size_t len);

/* The event numbered seq, or NULL if it is not kept (or not there yet). */
const struct vm_event *event_log_get(const struct event_log *l, uint64_t seq);

#endif

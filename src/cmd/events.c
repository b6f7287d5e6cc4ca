#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int event_log_init(struct event_log *l)
{
	l->ring = calloc(EVENTS_KEPT, sizeof(*l->ring));
	l->next_seq = 1;
	l->logged_seq = 0;
	return l->ring ? 0 : -ENOMEM;
}

void event_log_free(struct event_log *l)
{
	free(l->ring);
	l->ring = NULL;
}

void event_log_add(struct event_log *l, const char *kind, const char *vm, uint64_t id, int code,
		   const char *reason)
{
	struct vm_event *e;
	struct timespec ts;

	if (!l->ring)
		return;
	e = &l->ring[l->next_seq % EVENTS_KEPT];
	clock_gettime(CLOCK_REALTIME, &ts);
	*e = (struct vm_event){.seq = l->next_seq++,
			       .time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			       .id = id,
			       .code = code};
	snprintf(e->vm, sizeof(e->vm), "%s", vm);
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
}

const struct vm_event *event_log_get(const struct event_log *l, uint64_t seq)
{
	if (!l->ring || seq == 0 || seq >= l->next_seq || l->next_seq - seq > EVENTS_KEPT)
		return NULL;
	return &l->ring[seq % EVENTS_KEPT];
}

json_t *event_log_since(const struct event_log *l, uint64_t since, size_t max)
{
	json_t *arr = json_array();
	uint64_t first = l->next_seq > EVENTS_KEPT ? l->next_seq - EVENTS_KEPT : 1;

	if (since + 1 > first)
		first = since + 1;
	for (uint64_t s = first; s < l->next_seq && json_array_size(arr) < max; s++) {
		const struct vm_event *e = event_log_get(l, s);

		if (!e)
			continue;
		json_array_append_new(
		    arr, json_pack("{s:I, s:I, s:s, s:I, s:s, s:o, s:o}", "seq", (json_int_t)e->seq,
				   "time_ms", (json_int_t)e->time_ms, "vm", e->vm, "id",
				   (json_int_t)e->id, "event", e->kind, "code",
				   strcmp(e->kind, "exit") ? json_null() : json_integer(e->code),
				   "reason", e->reason[0] ? json_string(e->reason) : json_null()));
	}
	return arr;
}

void event_format(const struct vm_event *e, char *buf, size_t len)
{
	if (!strcmp(e->kind, "exit"))
		snprintf(buf, len, "vm %s (id %llu): exited with code %d", e->vm,
			 (unsigned long long)e->id, e->code);
	else if (!strcmp(e->kind, "kill"))
		snprintf(buf, len, "vm %s (id %llu): killed: %s", e->vm, (unsigned long long)e->id,
			 e->reason);
	else if (!strcmp(e->kind, "start"))
		snprintf(buf, len, "vm %s (id %llu): started", e->vm, (unsigned long long)e->id);
	else
		snprintf(buf, len, "vm %s (id %llu): %s%s%s", e->vm, (unsigned long long)e->id,
			 e->kind, e->reason[0] ? ": " : "", e->reason);
}

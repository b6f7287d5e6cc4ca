/* Private to the server: what each request does to the backend and the store. */
#ifndef DENALI_CTL_OPS_H
#define DENALI_CTL_OPS_H

#include "backend.h"
#include "proto.h"

#include <stdbool.h>
#include <stdint.h>

struct ctl_store;

/* swap, export and import run on the serving thread and may each wait on a VM (a running one
 * is tried again for up to 2 s): together they hold one round of the serving loop at most
 * this long, whatever the number of names, requests and clients; what is left is refused with
 * "ask again" (the watchdog is pinged between rounds). */
#define OPS_SLOW_BUDGET_MS 2000

struct ops_ctx {
	struct ctl_backend be;
	struct ctl_store *store; /* may be NULL: definitions are then not kept */
	int64_t round_ms;	 /* CLOCK_MONOTONIC ms when the serving loop's round began */
};

/* The serving loop begins a round: the slow commands' budget starts again. */
void ops_round(struct ops_ctx *ctx);

/* Carries out a list or stats request (start and stop are jobs: job.h); peer names the client in
 * log lines. Returns the reply (new reference). */
json_t *ops_handle(struct ops_ctx *ctx, const struct ctl_request *req, const char *peer);

/* Reads console output of name from *offset, at most max bytes, as a {"id", "data"} line
 * (new reference in *line) and advances *offset. Output that is not valid UTF-8 is sent with
 * U+FFFD in place of the bad bytes; a multi-byte character cut at the end of the read is left
 * for the next call unless final. Returns 1 with a line, 0 if there was nothing new, 2 if all
 * there is so far is the start of a character (call again with final to flush it), or -ENOENT
 * when the VM does not exist. */
int ops_console_chunk(struct ops_ctx *ctx, json_t *id, const char *name, uint64_t *offset,
		      size_t max, bool final, json_t **line);

#endif

/* Private to the server: what each request does to the backend and the store. */
#ifndef DENALI_CTL_OPS_H
#define DENALI_CTL_OPS_H

#include "backend.h"
#include "proto.h"

#include <stdbool.h>

struct ctl_store;

struct ops_ctx {
	struct ctl_backend be;
	struct ctl_store *store; /* may be NULL: definitions are then not kept */
};

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

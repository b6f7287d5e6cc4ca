/* The control protocol: one JSON object per line in each direction (see PROTOCOL.md).
 * This module turns one request line into a typed, validated request and builds replies;
 * it does no I/O. */
#ifndef DENALI_CTL_PROTO_H
#define DENALI_CTL_PROTO_H

#include "owner.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <denali/abi.h>

#define CTL_LINE_MAX		65536u /* longest request line, newline excluded */
#define CTL_NAME_MAX		63u    /* longest VM name */
#define CTL_IMAGE_MAX		4095u  /* longest image path */
#define CTL_COUNT_MAX		10000u /* most VMs one start request may create */
#define CTL_ARGS_MAX		256u   /* most guest arguments */
#define CTL_STOP_MAX		10000u /* most names one stop request may list */
#define CTL_METRICS_VMS_DEFAULT 100u   /* metrics: per-VM series for this many VMs */
#define CTL_METRICS_VMS_MAX	10000u /* metrics: the most "vms" may ask for */
/* Guest memory: the rule is the ABI's (denali_mem_size_ok(), DENALI_MEM_RULE). */
#define CTL_MEM_DEFAULT ((uint64_t)DENALI_MEM_DEFAULT)

enum ctl_op {
	CTL_OP_START,
	CTL_OP_STOP,
	CTL_OP_LIST,
	CTL_OP_STATS,
	CTL_OP_CONSOLE,
	CTL_OP_JOBS,
	CTL_OP_EVENTS,
	CTL_OP_METRICS,
	CTL_OP_SWAP,
	CTL_OP_EXPORT,
	CTL_OP_IMPORT,
	CTL_OP_NET_ATTACH,
};

/* net_attach: an interface name (IFNAMSIZ - 1 at most, A-Z a-z 0-9 . _ -). */
#define CTL_TAP_MAX 15u

struct ctl_request {
	json_t *id; /* the request's id (integer or string), echoed back; NULL if absent */
	enum ctl_op op;
	char name[CTL_NAME_MAX + 1]; /* start, console, stats (optional: one VM) */
	char image[CTL_IMAGE_MAX + 1];
	uint64_t mem_bytes;
	unsigned count;		      /* start: 0 = one VM named NAME; N = NAME-0..NAME-(N-1) */
	bool net;		      /* start: a NIC */
	char disk[CTL_IMAGE_MAX + 1]; /* start: disk image, "" = none */
	bool disk_ro;
	bool disk_direct; /* start: aligned requests bypass the page cache (O_DIRECT) */
	int argc;
	char **argv;		     /* argc strings then NULL; owned */
	bool all;		     /* stop */
	bool swap_in;		     /* swap: "dir" is "in" (else "out") */
	char file[CTL_NAME_MAX + 1]; /* export, import: a file in STATE/exports */
	char tap[CTL_TAP_MAX + 1];   /* net_attach: the tap to attach the uplink to */
	unsigned nnames;
	char (*names)[CTL_NAME_MAX + 1]; /* stop; owned */
	bool follow;			 /* console, events */
	bool progress;			 /* start, stop: send progress lines while it runs */
	uint64_t offset;		 /* console: first byte wanted; events: seq after which */
	unsigned metrics_vms;		 /* metrics: per-VM series for at most this many VMs */
	struct ctl_owner owner;		 /* the client, set by the server, not parsed */
};

/* Parses and validates one request line (len bytes, no newline needed, NUL not required).
 * Returns 0 and fills req, or -EINVAL with a one-line message in err. Even on failure req->id
 * holds the request's id when one could be read, so the error reply can carry it; always call
 * ctl_request_free() afterwards. */
int ctl_request_parse(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen);

/* Releases what ctl_request_parse() allocated; req may then be parsed into again. */
void ctl_request_free(struct ctl_request *req);

/* 1 if s is a valid VM name: 1-63 characters of [A-Za-z0-9._-], not "." or "..". */
int ctl_name_valid(const char *s);

/* Parses a size: digits with an optional suffix K, M, G, T (powers of 1024), optionally
 * followed by "iB" or "B" (16M, 64MiB, 1G, 4096). Returns 0, or -EINVAL if malformed, or
 * -ERANGE on overflow. */
int ctl_parse_size(const char *s, uint64_t *out);

/* The name of an op ("start", ...). */
const char *ctl_op_name(enum ctl_op op);

/* New reply objects {"id": id, "ok": true} and {"id": id, "ok": false, "error": msg};
 * id may be NULL (sent as null). Never NULL (aborts on allocation failure). */
json_t *ctl_reply_ok(json_t *id);
json_t *ctl_reply_error(json_t *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Serialises a reply as one compact line ending in '\n'; *len receives its length. Returns a
 * malloc'd string, or NULL on allocation failure. */
char *ctl_reply_line(const json_t *reply, size_t *len);

#endif

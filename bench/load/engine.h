/* engine.h - private: the state shared by the event loop (run.c) and the connection layer
 * (conn.c) of one run. Not for use outside bench/load.
 */
#ifndef DENALI_LOAD_ENGINE_H
#define DENALI_LOAD_ENGINE_H

#include <stdint.h>

#include "account.h"
#include "http.h"
#include "rng.h"
#include "run.h"
#include "zipf.h"

struct load_config;
struct target_set;

#define NONE	    UINT32_MAX
#define BATCH_MAX   4096
#define EVENTS_MAX  256
#define WAIT_MAX_NS 10000000ULL

enum conn_state {
	C_FREE = 0,
	C_CONNECTING,
	C_IDLE,
	C_BUSY,
};

struct conn {
	int fd;
	uint32_t gen; /* bumped per open: tells stale epoll events apart */
	uint32_t target;
	uint8_t state;
	uint8_t reused;	  /* has completed a response: a close racing a request may be retried */
	uint8_t retried;  /* the request in flight is already a retry */
	uint8_t want_out; /* registered for EPOLLOUT */
	uint32_t woff;
	uint64_t intended;
	uint64_t sent;
	uint32_t tnext, tprev; /* idle list of the target */
	uint32_t gnext, gprev; /* global idle list, least recently used first */
	struct http_parser hp;
};

struct tstate {
	uint32_t head, tail; /* pending requests, oldest first */
	uint32_t npending;
	uint32_t nconns;
	uint32_t idle; /* head of the idle list */
	uint8_t starved;
	uint8_t touched; /* has had a request */
};

struct pend {
	uint64_t t;
	uint32_t next;
	uint8_t retried;
};

struct engine {
	const struct load_config *cfg;
	const struct target_set *ts;
	struct run_result *res;
	struct account acct; /* the measured window (set when the loop starts) */
	int epfd;
	uint64_t now, w0, w1;
	uint64_t outstanding;

	struct tstate *tst;
	struct conn *conns;
	uint32_t nslots, nopen, *freeslots, nfree;
	uint32_t gidle_head, gidle_tail;

	struct pend *pool;
	uint32_t pool_free;

	uint32_t *starved; /* ring of target indices */
	uint32_t shead, scount;

	struct zipf zipf;
	struct rng rtarget, rarrival;
	char rbuf[65536];
};

/* A new request due at `intended` (ns, CLOCK_MONOTONIC): pick its target by Zipf and send or
 * queue it. */
void engine_new_request(struct engine *e, uint64_t intended);

/* Handle one epoll event; data is the epoll_event data (slot | generation << 32). */
void engine_event(struct engine *e, uint64_t data, uint32_t events);

/* Fail requests in flight or queued for longer than the timeout (at e->now). */
void engine_scan_timeouts(struct engine *e);

/* End of run: close every connection; what is still in flight or queued counts as timed out. */
void engine_close_all(struct engine *e);

#endif

/* The control socket: a Unix stream socket speaking the line protocol of PROTOCOL.md,
 * served by one control thread through poll(2). Every client socket is non-blocking and has
 * its own bounded buffers, so a slow or silent client never holds up another. */
#ifndef DENALI_CTL_SERVER_H
#define DENALI_CTL_SERVER_H

#include "backend.h"

#include <stdbool.h>
#include <sys/types.h>

#define CTL_CLIENTS_MAX	    1024   /* connections served at once; more get an error line */
#define CTL_CLIENT_IDLE_MS  120000 /* a client silent this long (and not following) is closed */
#define CTL_OUT_MAX	    (32u << 20)	 /* replies queued for one client beyond this drop it */
#define CTL_LINE_TIMEOUT_MS 10000	 /* a request line begun and not ended this long: closed */
#define CTL_OUT_TOTAL_MAX   (256u << 20) /* reply buffers of all clients together */
#define CTL_OUT_STALL_MS    2000	 /* unread replies not read from this long: sheddable */

/* CTL_OUT_MAX unless a test lowers it. A reply queued when nothing is unread is queued whole
 * however long (a list of 100,000 VMs is ~35 MB): the cap applies to what piles up behind it. */
extern size_t ctl_out_max;
/* CTL_OUT_TOTAL_MAX and CTL_OUT_STALL_MS unless a test lowers them. When a reply would take the
 * reply buffers of all clients past the total, clients whose unread replies have not been read
 * from for the stall time are closed, the longest stalled first; if that is not enough the reply
 * becomes an error ("try again"). 1,024 clients that ask for a 35 MB list and never read it
 * cannot make the daemon hold 35 GB. */
extern size_t ctl_out_total_max;
extern unsigned ctl_out_stall_ms;

struct ctl_job;
struct ctl_server;
struct ctl_store;

/* Binds a listening socket at path with the given mode (e.g. 0660). A stale socket left by a
 * dead daemon is replaced; a live one (something accepts on it) gives -EADDRINUSE, and a path
 * that is not a socket -EEXIST. backend is copied; it must outlive the server.
 * Returns 0 or -errno. */
int ctl_server_open(const char *path, mode_t mode, const struct ctl_backend *backend,
		    struct ctl_server **out);

/* Optional: keep VM definitions in st (start writes them, stop removes them). Call before
 * ctl_server_run(). */
void ctl_server_set_store(struct ctl_server *srv, struct ctl_store *st);

/* Optional: call fn(arg) from the serving thread at least every interval_ms (watchdog pings).
 * Call before ctl_server_run(). */
void ctl_server_set_tick(struct ctl_server *srv, unsigned interval_ms, void (*fn)(void *),
			 void *arg);

/* Optional, for tests: the idle and the line time-outs (CTL_CLIENT_IDLE_MS and
 * CTL_LINE_TIMEOUT_MS by default). A client that began a line and has not ended it within
 * line_ms is told so and closed, however often it sends a byte. */
void ctl_server_set_timeouts(struct ctl_server *srv, unsigned idle_ms, unsigned line_ms);

/* Adds a job with no client (the restore at daemon start, ctl_job_restore()): the serving
 * loop runs it in bounded steps beside the clients' jobs, and `denalictl jobs` lists it.
 * The server owns it from here on. 0 or -ENOMEM (the job is then freed). */
int ctl_server_add_job(struct ctl_server *srv, struct ctl_job *job);

/* Accepts and serves clients in the calling thread until ctl_server_shutdown(). When it
 * returns the socket no longer accepts; clients are still open until ctl_server_close().
 * Returns 0, or -errno if the loop itself failed. */
int ctl_server_run(struct ctl_server *srv);

/* Asks ctl_server_run() to return. Async-signal-safe; callable from any thread, before or
 * during the run. */
void ctl_server_shutdown(struct ctl_server *srv);

/* True once ctl_server_shutdown() was called (a signal arrived). */
bool ctl_server_stopping(const struct ctl_server *srv);

/* Closes every connection and the listening socket, unlinks the socket path and frees srv.
 * Not concurrently with ctl_server_run(). */
void ctl_server_close(struct ctl_server *srv);

#endif

/* A thread that writes a job's VM definitions, so that the serving thread never waits for
 * the file system (mkdir, create, rename, unlink: 0.1-1 ms each on this ext4, most of a bulk
 * start's time on that thread). Operations are done in the order they were queued; a
 * definition removed after it was put is gone, as it would be done in place. The store's
 * batch must stay open (store_batch_begin) until the writer is idle: its writes skip the
 * fsyncs, and a queued sync (store_sync) makes them durable at once. */
#ifndef DENALI_CTL_STORE_WRITER_H
#define DENALI_CTL_STORE_WRITER_H

#include "backend.h"

#include <stdbool.h>
#include <stddef.h>

struct ctl_store;
struct store_writer;

/* Starts the writer for st. 0 or -errno. */
int store_writer_open(struct ctl_store *st, struct store_writer **out);

/* Queues store_put(spec): the spec is copied, but spec->argv is not and must stay valid
 * until the writer is idle. */
void store_writer_put(struct store_writer *w, const struct vm_spec *spec);
/* Queues store_del(name). */
void store_writer_del(struct store_writer *w, const char *name);
/* Queues store_sync(): everything queued before it durable. */
void store_writer_sync(struct store_writer *w);

/* True once every operation queued so far is done. */
bool store_writer_idle(struct store_writer *w);

/* The first failure so far: -errno with a one-line message naming the VM, or 0. */
int store_writer_error(struct store_writer *w, char *msg, size_t len);

/* Waits for the queue, ends the thread and frees w. NULL is fine. */
void store_writer_close(struct store_writer *w);

#endif

/* Dropping privileges once set-up is done. */
#ifndef DENALI_CTL_PRIVS_H
#define DENALI_CTL_PRIVS_H

#include <pthread.h>

/* Drops every capability (effective, permitted, inheritable, ambient and bounding set) of the
 * calling thread with libcap-ng and sets no_new_privs, so none can come back through exec.
 * The uid stays, so files the process owns stay usable. A no-op with a log line when the
 * thread has no capabilities (not root).
 *
 * Linux capabilities belong to threads: threads created before this call keep theirs, so a
 * thread that needs none is started with privs_thread_create() (or, for workers,
 * worker_start(), which does the same) and has dropped its own before its creator goes on.
 * Afterwards every thread of the process is checked: one still holding a capability is a bug
 * and logged as an error. Returns 0 or -errno. */
int privs_drop(void);

/* pthread_create() for a thread that needs no capabilities: the new thread drops every one
 * and sets no_new_privs, and only then does this return (and fn run). So no such thread is
 * ever seen holding a capability, whatever the creator holds. 0 or -errno (the thread is
 * joined if it could not drop them). */
int privs_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* Number of threads of this process that still hold an effective or permitted capability
 * (read from /proc/self/task), or -errno. */
int privs_threads_with_caps(void);

#endif

/* Dropping privileges once set-up is done. */
#ifndef DENALI_CTL_PRIVS_H
#define DENALI_CTL_PRIVS_H

/* Drops every capability (effective, permitted, inheritable, ambient and bounding set) of the
 * calling thread with libcap-ng and sets no_new_privs, so none can come back through exec.
 * The uid stays, so files the process owns stay usable. A no-op with a log line when the
 * thread has no capabilities (not root).
 *
 * Linux capabilities belong to threads: threads created before this call keep theirs and must
 * call privs_drop() themselves; threads created after inherit the empty sets. Afterwards every
 * thread of the process is checked and any still holding a capability is logged.
 * Returns 0 or -errno. */
int privs_drop(void);

/* Number of threads of this process that still hold an effective or permitted capability
 * (read from /proc/self/task), or -errno. */
int privs_threads_with_caps(void);

#endif

/*
 * The seccomp allowlist of a worker thread: the system calls a worker makes
 * while it runs guests, and nothing else. A guest cannot make a host system
 * call, so a call outside the list means the monitor itself went wrong (a bug,
 * or control flow taken over through one); the process is then killed
 * (SCMP_ACT_KILL_PROCESS) rather than told EPERM, see worker_seccomp.c.
 */
#ifndef DENALI_SCHED_WORKER_SECCOMP_H
#define DENALI_SCHED_WORKER_SECCOMP_H

/* Installs the worker allowlist on the calling thread only (no TSYNC) and
 * sets its no_new_privs bit. kick_sig is the one signal a worker may send
 * (tgkill to a thread of this process: the preemption kick). Call it on the
 * worker thread after its own set-up (capabilities dropped, timer created)
 * and before the first KVM_RUN. Irreversible for that thread. 0 or -errno. */
int worker_seccomp_install(int kick_sig);

/* Number of rows in the table and the system call of row i (NULL past the
 * end), for tests and for the documentation to name what is allowed. */
unsigned worker_seccomp_count(void);
const char *worker_seccomp_name(unsigned i);

#endif

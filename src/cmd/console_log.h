/*
 * STATE/vms/NAME/console.log: guest console output appended from the
 * in-memory console buffer, off the fast path (the daemon's log thread), so
 * that no VM holds a file descriptor for it.
 *
 * Bounded: a log that would grow past max bytes (default CONSOLE_LOG_MAX,
 * --console-log-max) is renamed
 * console.log.1 (replacing the older one) and a new console.log begun, so a
 * VM name never takes more than twice max on disk. Each VM life
 * has its own log: console_log_begin() moves the log of an earlier VM of the
 * same name to console.log.1 before the new one writes anything.
 */
#ifndef DENALI_CMD_CONSOLE_LOG_H
#define DENALI_CMD_CONSOLE_LOG_H

#include <stdint.h>

#define CONSOLE_LOG_MAX (1u << 20)

struct vm;

/* A VM named name is starting: an existing console.log becomes console.log.1. 0 or -errno
 * (a missing log is not an error). */
int console_log_begin(const char *state_dir, const char *name);

/*
 * Appends the VM's console output from byte offset *logged to its log file
 * and advances *logged, rotating at max bytes. Output that left the
 * in-memory buffer before it was logged is replaced by a one-line marker
 * naming how much. 0 or -errno.
 */
int console_log_flush(const char *state_dir, struct vm *vm, uint64_t *logged, uint64_t max);

#endif

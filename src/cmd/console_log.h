/*
 * STATE/vms/NAME/console.log: guest console output appended from the
 * in-memory console buffer, off the fast path (the daemon's log thread), so
 * that no VM holds a file descriptor for it.
 */
#ifndef DENALI_CMD_CONSOLE_LOG_H
#define DENALI_CMD_CONSOLE_LOG_H

#include <stdint.h>

struct vm;

/*
 * Appends the VM's console output from byte offset *logged to its log file
 * and advances *logged. Output that left the in-memory buffer before it was
 * logged is replaced by a one-line marker naming how much. 0 or -errno.
 */
int console_log_flush(const char *state_dir, struct vm *vm, uint64_t *logged);

#endif

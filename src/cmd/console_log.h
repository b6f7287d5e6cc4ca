/*
 * STATE/vms/NAME/console.log: guest console output. While a VM runs, its
 * worker writes the log through its io_uring (devices/console_file.c); the
 * daemon's log thread only opens (and rotates) the file when the worker asks
 * for one, and writes the rest itself once the VM has ended. A quiet VM holds
 * no descriptor for its log.
 *
 * Bounded: a log that would grow past max bytes (default CONSOLE_LOG_MAX,
 * --console-log-max) is renamed console.log.1 (replacing the older one) and a
 * new console.log begun, so a VM name never takes more than twice max on
 * disk. Each VM life has its own log: console_log_begin() moves the log of an
 * earlier VM of the same name to console.log.1 before the new one writes
 * anything. Bytes that never reach the file (the in-memory ring overran them,
 * a write failed: ENOSPC, EIO) are counted (console.log.lost).
 */
#ifndef DENALI_CMD_CONSOLE_LOG_H
#define DENALI_CMD_CONSOLE_LOG_H

#include <stdint.h>

#define CONSOLE_LOG_MAX (1u << 20)

struct vm;

/* A VM named name is starting: an existing console.log becomes console.log.1. 0 or -errno
 * (a missing log is not an error). */
int console_log_begin(const char *state_dir, const char *name);

/* A live VM: if its worker asks for the log file, opens (or rotates) it and hands it over.
 * 0, or -errno (counted as a log error of the VM; the worker asks again). */
int console_log_serve(const char *state_dir, struct vm *vm, uint64_t max);

/* 1 if the VM has logged output that is not in the file yet. */
int console_log_pending(const struct vm *vm);

/* An ended VM (no worker touches it): writes what is not logged yet, rotating at max;
 * what cannot be written is counted lost. 0 or -errno. */
int console_log_flush(const char *state_dir, struct vm *vm, uint64_t max);

#endif

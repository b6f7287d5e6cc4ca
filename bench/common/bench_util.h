/*
 * bench_util: what the denali benchmark programs share that is not KVM:
 * fatal errors, statistics over samples, option parsing, the guest image,
 * the environment check and /proc field readers.
 *
 * Every message names the program set with bench_set_name().
 */
#ifndef DENALI_BENCH_UTIL_H
#define DENALI_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A guest ELF image read into memory; elf is the caller's to free(). */
struct bench_image {
	uint8_t *elf;
	size_t size;
};

/* The program name that prefixes every message ("denali-bench-boot");
 * call first, before any other bench_ function. */
void bench_set_name(const char *name);

/* Prints "<name>: <message>\n" to stderr and exits 1. */
void bench_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Nearest-rank percentile p in [0, 100] of v[0, n); sorts v in place.
 * 0 when n is 0. */
double bench_pct(double *v, size_t n, double p);

/* Median of v[0, n), v left as it is (a copy is sorted). 0 when n is 0. */
double bench_median(const double *v, size_t n);

/* s as a decimal number in [lo, hi]; anything else is a usage error:
 * a message and exit 2. */
unsigned bench_arg_uint(const char *s, unsigned lo, unsigned hi);

/* The end of a bad (or --help) command line: usage(stdout) and exit 0 when
 * code is 0, else usage(stderr) and exit code. */
void bench_usage_exit(void (*usage)(FILE *), int code) __attribute__((noreturn));

/* Reads the guest image into *img: `path` if not NULL, else
 * ../guests/<guest> beside this binary, else `fallback` (the build tree's
 * path). Fails the program if the image cannot be read. */
void bench_load_image(const char *path, const char *guest, const char *fallback,
		      struct bench_image *img);

/* Exits 77 (skipped) unless running as root with /dev/kvm openable; `why`
 * says in the message what root is needed for. */
void bench_check_env(const char *why);

/* Raises the open-file soft limit to the hard limit and returns it. */
unsigned long bench_nofile_raise(void);

/* Reads the named "Name: value" fields of an open /proc file into out[0, n)
 * (0 for an absent field). pread from offset 0, so the fd is reusable: open
 * it before the fd limit is reached. */
void bench_read_fields(int fd, const char *const *names, int n, long *out);

/* The same for a file by path, opened and closed around the read. */
void bench_read_file_fields(const char *path, const char *const *names, int n, long *out);

#endif

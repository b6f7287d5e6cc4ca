/*
 * Number parsing, process exit, abort and assertion failure.
 */
#include "libos_private.h"
#include <assert.h>
#include <denali/libos.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int errno;

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Parses an optionally signed integer in `base` (0: auto 0x/0 prefix).
 * Returns the magnitude saturated to `limit` (+1 if negative allowed) and
 * sets *neg. *end, when given, points after the last digit (or at s).
 */
static unsigned long long parse(const char *s, char **end, int base, bool *neg)
{
	const char *p = s;
	unsigned long long v = 0;
	bool any = false, over = false;

	*neg = false;
	while (is_space(*p))
		p++;
	if (*p == '+' || *p == '-')
		*neg = *p++ == '-';
	if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	    digit_value(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}
	if (base < 2 || base > 36) {
		if (end)
			*end = (char *)s;
		return 0;
	}
	for (;; p++) {
		int d = digit_value(*p);
		if (d >= base)
			break;
		any = true;
		if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			over = true;
		else
			v = v * (unsigned)base + (unsigned)d;
	}
	if (end)
		*end = (char *)(any ? p : s);
	return over ? ULLONG_MAX : v;
}

long long strtoll(const char *s, char **end, int base)
{
	bool neg;
	unsigned long long v = parse(s, end, base, &neg);

	if (neg)
		return v > (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : (long long)(0 - v);
	return v > LLONG_MAX ? LLONG_MAX : (long long)v;
}

unsigned long long strtoull(const char *s, char **end, int base)
{
	bool neg;
	unsigned long long v = parse(s, end, base, &neg);

	if (v == ULLONG_MAX)
		return v;
	return neg ? 0 - v : v;
}

long strtol(const char *s, char **end, int base)
{
	return (long)strtoll(s, end, base);
}

unsigned long strtoul(const char *s, char **end, int base)
{
	return (unsigned long)strtoull(s, end, base);
}

int atoi(const char *s)
{
	long v = strtol(s, NULL, 10);

	return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

long atol(const char *s)
{
	return strtol(s, NULL, 10);
}

/* Defined by the socket layer when a guest uses it (weak: otherwise absent). */
extern void __dn_net_at_exit(void) __attribute__((weak));
extern ssize_t __dn_sock_write(int fd, const void *buf, size_t len) __attribute__((weak));

_Noreturn void exit(int code)
{
	if (__dn_net_at_exit)
		__dn_net_at_exit();
	dn_console_flush();
	dn_exit(code);
}

_Noreturn void abort(void)
{
	dn_panic("abort() called");
}

_Noreturn void __dn_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	static char msg[256];

	snprintf(msg, sizeof(msg), "assertion failed: %s (%s:%d, %s)", expr, file, line, func);
	dn_console_write(msg, strlen(msg));
	dn_console_write("\n", 1);
	dn_panic(msg);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	if (fd != STDOUT_FILENO && fd != STDERR_FILENO) {
		if (__dn_sock_write)
			return __dn_sock_write(fd, buf, len);
		errno = EBADF;
		return -1;
	}
	return (ssize_t)dn_console_write(buf, len);
}

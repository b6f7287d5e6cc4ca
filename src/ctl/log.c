#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int level = -1;

static int current_level(void)
{
	if (level < 0) {
		const char *d = getenv("DENALI_DEBUG");
		level = (d && *d && strcmp(d, "0") != 0) ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	}
	return level;
}

void log_set_level(enum log_level lvl)
{
	level = (int)lvl;
}

void log_write(enum log_level lvl, const char *func, const char *fmt, ...)
{
	char line[1024];
	size_t n = 0;
	va_list ap;
	int r;

	if ((int)lvl > current_level())
		return;
	if (getenv("JOURNAL_STREAM")) {
		r = snprintf(line, sizeof(line), "<%d>", (int)lvl);
		n = r > 0 ? (size_t)r : 0;
	}
	r = snprintf(line + n, sizeof(line) - n, "%s: ", func);
	if (r > 0)
		n += (size_t)r;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	/* Truncated lines still end in a newline; control characters from a peer never split one
	 * log line into two. */
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void log_flush(void)
{
	fflush(stderr);
	fsync(STDERR_FILENO);
}

/*
 * Helpers every device kind shares: the fault reason, the counter copy-out
 * and the ring-position save/restore that net and blk both keep.
 */
#include "device.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dev_fault(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EFAULT;
}

unsigned dev_counters_copy(const struct dev_counter *all, unsigned n, struct dev_counter *out,
			   unsigned max)
{
	unsigned i = 0;

	for (; i < max && i < n; i++)
		out[i] = all[i];
	return i;
}

size_t dev_save_u32(const uint32_t *v, unsigned n, void *buf, size_t cap)
{
	size_t len = n * sizeof(*v);

	if (cap < len)
		return 0;
	memcpy(buf, v, len);
	return len;
}

int dev_restore_u32(uint32_t *v, unsigned n, const void *buf, size_t len)
{
	if (len != n * sizeof(*v))
		return -EINVAL;
	memcpy(v, buf, len);
	return 0;
}

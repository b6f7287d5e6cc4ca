#include "termsafe.h"

#include <stdint.h>

/* The length of the valid UTF-8 sequence at p (at most n bytes), 0 if there is none; its
 * code point in *cp. Overlong forms and surrogates are not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	c = p[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void term_safe_write(FILE *f, const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0, from = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;

		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		if (p[i] == '\n' || p[i] == '\t') {
			i++;
			continue;
		}
		n = p[i] >= 0x80 ? utf8_seq(p + i, len - i, &cp) : 0;
		if (n && cp > 0x9f) {
			i += n;
			continue;
		}
		/* a control, DEL, a C1 control or a byte that is not UTF-8 */
		fwrite(p + from, 1, i - from, f);
		fputc('?', f);
		i += n ? n : 1;
		from = i;
	}
	fwrite(p + from, 1, len - from, f);
}

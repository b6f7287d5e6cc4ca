/*
 * The printf family over one formatting core that emits through a sink:
 * a bounded string (snprintf) or the console (printf, via a small buffer).
 */
#include <denali/libos.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct sink {
	void (*put)(struct sink *s, const char *p, size_t n);
	size_t total; /* bytes that would have been written */
};

struct strsink {
	struct sink s;
	char *buf;
	size_t cap; /* room for bytes, excluding the NUL */
	size_t len;
};

struct consink {
	struct sink s;
	size_t len;
	char buf[256];
};

struct spec {
	bool left, zero, plus, space, alt;
	int width;
	int prec; /* -1: none */
};

static void emit(struct sink *s, const char *p, size_t n)
{
	s->put(s, p, n);
	s->total += n;
}

static void pad(struct sink *s, char c, int n)
{
	char chunk[32];

	memset(chunk, c, sizeof(chunk));
	while (n > 0) {
		int k = n < (int)sizeof(chunk) ? n : (int)sizeof(chunk);
		emit(s, chunk, (size_t)k);
		n -= k;
	}
}

static void fmt_str(struct sink *s, const struct spec *sp, const char *str)
{
	if (str == NULL)
		str = "(null)";
	size_t n = sp->prec >= 0 ? strnlen(str, (size_t)sp->prec) : strlen(str);
	int fill = sp->width > (int)n ? sp->width - (int)n : 0;

	if (!sp->left)
		pad(s, ' ', fill);
	emit(s, str, n);
	if (sp->left)
		pad(s, ' ', fill);
}

static void fmt_int(struct sink *s, const struct spec *sp, uint64_t v, bool neg, unsigned base,
		    bool upper, const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int nd = 0;

	while (v != 0) {
		tmp[nd++] = digits[v % base];
		v /= base;
	}
	/* Precision 0 with value 0 prints no digits (C rule); otherwise one "0". */
	int ndig = nd;
	if (sp->prec >= 0 && sp->prec > ndig)
		ndig = sp->prec;
	else if (nd == 0 && sp->prec != 0)
		ndig = 1;

	char sign = neg ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
	int plen = prefix != NULL ? (int)strlen(prefix) : 0;
	int len = ndig + (sign ? 1 : 0) + plen;
	int fill = sp->width > len ? sp->width - len : 0;
	bool zero_fill = sp->zero && !sp->left && sp->prec < 0;

	if (!sp->left && !zero_fill)
		pad(s, ' ', fill);
	if (sign)
		emit(s, &sign, 1);
	if (plen)
		emit(s, prefix, (size_t)plen);
	if (zero_fill)
		pad(s, '0', fill);
	pad(s, '0', ndig - nd);
	while (nd > 0)
		emit(s, &tmp[--nd], 1);
	if (sp->left)
		pad(s, ' ', fill);
}

enum lenmod { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_MAX, LEN_PTRDIFF };

static int format(struct sink *s, const char *f, va_list ap)
{
	while (*f) {
		const char *pct = strchr(f, '%');
		if (pct == NULL) {
			emit(s, f, strlen(f));
			break;
		}
		if (pct > f)
			emit(s, f, (size_t)(pct - f));
		f = pct + 1;

		struct spec sp = {.prec = -1};
		for (;; f++) {
			if (*f == '-')
				sp.left = true;
			else if (*f == '0')
				sp.zero = true;
			else if (*f == '+')
				sp.plus = true;
			else if (*f == ' ')
				sp.space = true;
			else if (*f == '#')
				sp.alt = true;
			else
				break;
		}
		if (*f == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			f++;
		} else {
			while (*f >= '0' && *f <= '9')
				sp.width = sp.width * 10 + (*f++ - '0');
		}
		if (*f == '.') {
			f++;
			sp.prec = 0;
			if (*f == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1;
				f++;
			} else {
				while (*f >= '0' && *f <= '9')
					sp.prec = sp.prec * 10 + (*f++ - '0');
			}
		}

		enum lenmod lm = LEN_INT;
		if (f[0] == 'h' && f[1] == 'h') {
			lm = LEN_CHAR;
			f += 2;
		} else if (f[0] == 'h') {
			lm = LEN_SHORT;
			f++;
		} else if (f[0] == 'l' && f[1] == 'l') {
			lm = LEN_LLONG;
			f += 2;
		} else if (f[0] == 'l') {
			lm = LEN_LONG;
			f++;
		} else if (f[0] == 'z') {
			lm = LEN_SIZE;
			f++;
		} else if (f[0] == 'j') {
			lm = LEN_MAX;
			f++;
		} else if (f[0] == 't') {
			lm = LEN_PTRDIFF;
			f++;
		}

		char conv = *f;
		if (conv == '\0')
			break;
		f++;

		switch (conv) {
		case 'd':
		case 'i': {
			int64_t v;
			switch (lm) {
			case LEN_CHAR:
				v = (signed char)va_arg(ap, int);
				break;
			case LEN_SHORT:
				v = (short)va_arg(ap, int);
				break;
			case LEN_LONG:
			case LEN_LLONG:
			case LEN_SIZE:
			case LEN_MAX:
			case LEN_PTRDIFF:
				v = va_arg(ap, int64_t);
				break;
			default:
				v = va_arg(ap, int);
			}
			uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
			fmt_int(s, &sp, mag, v < 0, 10, false, NULL);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uint64_t v;
			switch (lm) {
			case LEN_CHAR:
				v = (unsigned char)va_arg(ap, unsigned);
				break;
			case LEN_SHORT:
				v = (unsigned short)va_arg(ap, unsigned);
				break;
			case LEN_LONG:
			case LEN_LLONG:
			case LEN_SIZE:
			case LEN_MAX:
			case LEN_PTRDIFF:
				v = va_arg(ap, uint64_t);
				break;
			default:
				v = va_arg(ap, unsigned);
			}
			unsigned base = conv == 'o' ? 8 : conv == 'u' ? 10 : 16;
			const char *prefix = NULL;
			if (sp.alt && v != 0)
				prefix = conv == 'x'   ? "0x"
					 : conv == 'X' ? "0X"
					 : conv == 'o' ? "0"
						       : NULL;
			fmt_int(s, &sp, v, false, base, conv == 'X', prefix);
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			sp.plus = sp.space = false;
			fmt_int(s, &sp, v, false, 16, false, "0x");
			break;
		}
		case 's':
			fmt_str(s, &sp, va_arg(ap, const char *));
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			int fill = sp.width > 1 ? sp.width - 1 : 0;
			if (!sp.left)
				pad(s, ' ', fill);
			emit(s, &c, 1);
			if (sp.left)
				pad(s, ' ', fill);
			break;
		}
		case '%':
			emit(s, "%", 1);
			break;
		default:
			/* Unknown conversion: print it as written. */
			emit(s, "%", 1);
			emit(s, &conv, 1);
			break;
		}
	}
	return s->total > INT32_MAX ? INT32_MAX : (int)s->total;
}

static void str_put(struct sink *s, const char *p, size_t n)
{
	struct strsink *ss = (struct strsink *)s;
	size_t room = ss->cap - ss->len;
	size_t k = n < room ? n : room;

	memcpy(ss->buf + ss->len, p, k);
	ss->len += k;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct strsink ss = {.s = {.put = str_put}, .buf = buf, .cap = size ? size - 1 : 0};
	int r = format(&ss.s, fmt, ap);

	if (size)
		buf[ss.len] = '\0';
	return r;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return r;
}

int vsprintf(char *buf, const char *fmt, va_list ap)
{
	return vsnprintf(buf, SIZE_MAX, fmt, ap);
}

int sprintf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = vsnprintf(buf, SIZE_MAX, fmt, ap);
	va_end(ap);
	return r;
}

static void con_put(struct sink *s, const char *p, size_t n)
{
	struct consink *cs = (struct consink *)s;

	if (n > sizeof(cs->buf) - cs->len) {
		dn_console_write(cs->buf, cs->len);
		cs->len = 0;
		if (n > sizeof(cs->buf)) {
			dn_console_write(p, n);
			return;
		}
	}
	memcpy(cs->buf + cs->len, p, n);
	cs->len += n;
}

int vprintf(const char *fmt, va_list ap)
{
	struct consink cs = {.s = {.put = con_put}, .len = 0};
	int r = format(&cs.s, fmt, ap);

	dn_console_write(cs.buf, cs.len);
	return r;
}

int printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int r = vprintf(fmt, ap);
	va_end(ap);
	return r;
}

int putchar(int c)
{
	char ch = (char)c;

	dn_console_write(&ch, 1);
	return (unsigned char)ch;
}

int puts(const char *s)
{
	dn_console_write(s, strlen(s));
	dn_console_write("\n", 1);
	return 0;
}

int fflush(void *stream)
{
	(void)stream;
	dn_console_flush();
	return 0;
}

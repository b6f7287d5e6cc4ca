/*
 * HTTP dates: civil (proleptic Gregorian) calendar <-> day numbers, and the
 * three wire formats. Everything is bounded and checked: a malformed date
 * is reported, never read past.
 */
#include "http_date.h"

#include <stdbool.h>
#include <string.h>

static const char wday_names[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
static const char *const wday_long[7] = {"Thursday", "Friday",	"Saturday", "Sunday",
					 "Monday",   "Tuesday", "Wednesday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of y-m-d (m 1..12), with March-based years so that
 * the leap day ends the year: era arithmetic over 400-year cycles. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;				      /* 0..399 */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	      /* 0..146096 */
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

#define T_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define T_MAX (253402300799LL) /* 9999-12-31T23:59:59Z */

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void http_date_format(int64_t t, char buf[HTTP_DATE_LEN + 1])
{
	if (t < T_MIN)
		t = T_MIN;
	if (t > T_MAX)
		t = T_MAX;
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t secs = t - days * 86400;
	int64_t y;
	int m, d;

	civil_from_days(days, &y, &m, &d);
	int64_t wd = days % 7;
	if (wd < 0)
		wd += 7;
	memcpy(buf, wday_names[wd], 3);
	memcpy(buf + 3, ", ", 2);
	put2(buf + 5, d);
	buf[7] = ' ';
	memcpy(buf + 8, month_names[m - 1], 3);
	buf[11] = ' ';
	put2(buf + 12, (int)(y / 100));
	put2(buf + 14, (int)(y % 100));
	buf[16] = ' ';
	put2(buf + 17, (int)(secs / 3600));
	buf[19] = ':';
	put2(buf + 20, (int)(secs / 60 % 60));
	buf[22] = ':';
	put2(buf + 23, (int)(secs % 60));
	memcpy(buf + 25, " GMT", 4);
	buf[HTTP_DATE_LEN] = '\0';
}

/* A little cursor over the input: every read is bounds-checked. */
struct cur {
	const char *p, *end;
};

static bool lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool digits(struct cur *c, int n, int *v)
{
	*v = 0;
	if (c->end - c->p < n)
		return false;
	for (int i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return false;
		*v = *v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	return true;
}

static bool month(struct cur *c, int *m)
{
	for (int i = 0; i < 12; i++)
		if (lit(c, month_names[i])) {
			*m = i + 1;
			return true;
		}
	return false;
}

static bool hms(struct cur *c, int *h, int *mi, int *s)
{
	return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) && lit(c, ":") && digits(c, 2, s);
}

static int finish(int64_t y, int m, int d, int h, int mi, int s, int64_t *t)
{
	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > month_days(y, m) || h > 23 ||
	    mi > 59 || s > 60)
		return -1;
	if (s == 60)
		s = 59; /* a leap second: the same second for our purposes */
	*t = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

int http_date_parse(const char *str, size_t len, int64_t *t)
{
	struct cur c = {str, str + len};
	int d, m = 0, y, h, mi, s;

	for (int i = 0; i < 7; i++) {
		struct cur k = c;
		/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (lit(&k, wday_names[i]) && lit(&k, ", ")) {
			if (digits(&k, 2, &d) && lit(&k, " ") && month(&k, &m) && lit(&k, " ") &&
			    digits(&k, 4, &y) && lit(&k, " ") && hms(&k, &h, &mi, &s) &&
			    lit(&k, " GMT") && k.p == k.end)
				return finish(y, m, d, h, mi, s, t);
			return -1;
		}
		/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
		k = c;
		if (lit(&k, wday_long[i]) && lit(&k, ", ")) {
			if (digits(&k, 2, &d) && lit(&k, "-") && month(&k, &m) && lit(&k, "-") &&
			    digits(&k, 2, &y) && lit(&k, " ") && hms(&k, &h, &mi, &s) &&
			    lit(&k, " GMT") && k.p == k.end)
				return finish(y < 70 ? 2000 + y : 1900 + y, m, d, h, mi, s, t);
			return -1;
		}
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		k = c;
		if (lit(&k, wday_names[i]) && lit(&k, " ")) {
			if (!month(&k, &m) || !lit(&k, " "))
				return -1;
			if (lit(&k, " ")) {
				if (!digits(&k, 1, &d))
					return -1;
			} else if (!digits(&k, 2, &d)) {
				return -1;
			}
			if (lit(&k, " ") && hms(&k, &h, &mi, &s) && lit(&k, " ") &&
			    digits(&k, 4, &y) && k.p == k.end)
				return finish(y, m, d, h, mi, s, t);
			return -1;
		}
	}
	return -1;
}

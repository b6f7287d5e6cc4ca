/*
 * HTTP dates (RFC 9110 section 5.6.7) without a C library clock: seconds
 * since 1970-01-01 UTC to IMF-fixdate and back, plus the two obsolete forms
 * a recipient must accept (RFC 850 and asctime).
 */
#ifndef DENALI_HTTP_DATE_H
#define DENALI_HTTP_DATE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Format `t` as IMF-fixdate into buf (HTTP_DATE_LEN + 1 bytes, NUL added).
 * Years outside 0001..9999 are clamped to the nearest end of that range. */
void http_date_format(int64_t t, char buf[HTTP_DATE_LEN + 1]);

/* Parse `len` bytes of an HTTP date in any of the three forms into *t:
 * 0, or -1 if it is not a valid date (the caller then ignores the field). */
int http_date_parse(const char *s, size_t len, int64_t *t);

#endif /* DENALI_HTTP_DATE_H */

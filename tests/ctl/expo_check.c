#include "expo_check.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
	char name[128];
	char type[16];
	int help, samples, closed;
};

struct state {
	struct family *f;
	size_t nf;
	long cur; /* family whose samples came last, -1 none */
};

static int bad(struct expo *e, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->err[0])
		return -1;
	n = snprintf(e->err, sizeof(e->err), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(e->err + n, sizeof(e->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int name_ok(const char *s, size_t n, int label)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (!(isalpha(c) || c == '_' || (!label && c == ':') || (i && isdigit(c))))
			return 0;
	}
	return 1;
}

static struct family *family_get(struct state *st, const char *name, int create)
{
	for (size_t i = 0; i < st->nf; i++)
		if (!strcmp(st->f[i].name, name))
			return &st->f[i];
	if (!create)
		return NULL;
	st->f = realloc(st->f, (st->nf + 1) * sizeof(*st->f));
	memset(&st->f[st->nf], 0, sizeof(*st->f));
	snprintf(st->f[st->nf].name, sizeof(st->f[0].name), "%s", name);
	return &st->f[st->nf++];
}

static int value_parse(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) {
		*v = INFINITY;
		return 0;
	}
	if (!strcmp(s, "-Inf")) {
		*v = -INFINITY;
		return 0;
	}
	if (!strcmp(s, "NaN")) {
		*v = NAN;
		return 0;
	}
	if (!*s || isspace((unsigned char)*s))
		return -1;
	*v = strtod(s, &end);
	return *end ? -1 : 0;
}

/* The family a sample name belongs to, given what was declared. */
static struct family *family_of(struct state *st, const char *name, int *suffixed)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	struct family *f = family_get(st, name, 0);
	char base[128];

	*suffixed = 0;
	if (f)
		return f;
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(sfx[i]);

		if (n > k && n - k < sizeof(base) && !strcmp(name + n - k, sfx[i])) {
			memcpy(base, name, n - k);
			base[n - k] = 0;
			f = family_get(st, base, 0);
			if (f && (!strcmp(f->type, "histogram") ||
				  (!strcmp(f->type, "summary") && i > 0))) {
				*suffixed = i + 1;
				return f;
			}
		}
	}
	return NULL;
}

static int sample(struct expo *e, struct state *st, int ln, char *line)
{
	char *p = line, *labels_end, *value;
	size_t nlen = strcspn(line, "{ ");
	char name[128];
	struct family *f;
	int suffixed;
	double v;

	if (nlen >= sizeof(name) || !name_ok(line, nlen, 0))
		return bad(e, ln, "bad metric name in \"%.80s\"", line);
	memcpy(name, line, nlen);
	name[nlen] = 0;
	p = line + nlen;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln2 = strcspn(p, "=");

			if (!name_ok(p, ln2, 1) || p[ln2] != '=' || p[ln2 + 1] != '"')
				return bad(e, ln, "bad label in \"%.80s\"", line);
			p += ln2 + 2;
			while (*p && *p != '"') {
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
						return bad(e, ln, "bad escape in \"%.80s\"", line);
					p++;
				}
				p++;
			}
			if (*p != '"')
				return bad(e, ln, "unterminated label value in \"%.80s\"", line);
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return bad(e, ln, "expected , or } in \"%.80s\"", line);
		}
		p++;
	}
	labels_end = p;
	if (*p != ' ')
		return bad(e, ln, "no value in \"%.80s\"", line);
	value = p + 1;
	p = strchr(value, ' ');
	if (p)
		*p = 0; /* a timestamp may follow; ours carry none */
	if (value_parse(value, &v) < 0)
		return bad(e, ln, "bad value \"%s\"", value);
	f = family_of(st, name, &suffixed);
	if (!f || !f->type[0])
		return bad(e, ln, "sample %s has no # TYPE before it", name);
	if (f->closed && st->cur != f - st->f)
		return bad(e, ln, "samples of %s are not together", f->name);
	if (st->cur >= 0 && st->cur != f - st->f)
		st->f[st->cur].closed = 1;
	st->cur = f - st->f;
	f->samples++;
	if (!strcmp(f->type, "counter") && (v < 0 || isnan(v)))
		return bad(e, ln, "counter %s is %g", name, v);
	e->s = realloc(e->s, (e->n + 1) * sizeof(*e->s));
	e->s[e->n].key = strndup(line, (size_t)(labels_end - line));
	e->s[e->n].family = strdup(f->name);
	e->s[e->n].monotonic = !strcmp(f->type, "counter") || (suffixed && suffixed != 0);
	e->s[e->n].value = v;
	if (!strcmp(f->type, "summary") && !suffixed)
		e->s[e->n].monotonic = 0; /* quantiles move both ways */
	e->n++;
	return 0;
}

/* Histogram buckets: for each series (labels less le), cumulative and +Inf == _count. */
static int histograms(struct expo *e, struct state *st)
{
	for (size_t k = 0; k < st->nf; k++) {
		double prev = -1;
		char count_key[1024] = "";

		if (strcmp(st->f[k].type, "histogram"))
			continue;
		for (size_t i = 0; i < e->n; i++) {
			const char *key = e->s[i].key, *le;
			size_t bl = strlen(st->f[k].name);

			if (strncmp(key, st->f[k].name, bl) || strncmp(key + bl, "_bucket{", 8))
				continue;
			le = strstr(key, "le=\"");
			if (!le)
				return bad(e, 0, "%s: bucket without le", key);
			if (e->s[i].value < prev)
				return bad(e, 0, "%s: buckets not cumulative", key);
			prev = e->s[i].value;
			if (!strncmp(le, "le=\"+Inf\"", 9)) {
				/* name_count{same labels without le} */
				char labels[400];
				size_t pre = (size_t)(le - (key + bl + 8));

				snprintf(labels, sizeof(labels), "%.*s", (int)pre, key + bl + 8);
				if (pre && labels[pre - 1] == ',')
					labels[pre - 1] = 0;
				if (labels[0])
					snprintf(count_key, sizeof(count_key), "%s_count{%s}",
						 st->f[k].name, labels);
				else
					snprintf(count_key, sizeof(count_key), "%s_count",
						 st->f[k].name);
				if (expo_value(e, count_key) != e->s[i].value)
					return bad(e, 0, "%s: +Inf bucket %g != %s", key,
						   e->s[i].value, count_key);
				prev = -1;
			}
		}
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct expo_series *)a)->key, ((const struct expo_series *)b)->key);
}

int expo_parse(const char *text, size_t len, struct expo *e)
{
	struct state st = {.cur = -1};
	char *copy = strndup(text, len), *line, *save = NULL;
	int ln = 0, r = 0;

	memset(e, 0, sizeof(*e));
	if (!len || text[len - 1] != '\n')
		r = bad(e, 0, "the text does not end with a newline");
	if (memchr(text, 0, len))
		r = bad(e, 0, "a NUL byte in the text");
	for (size_t i = 0; r == 0 && i + 1 < len; i++)
		if (text[i] == '\n' && text[i + 1] == '\n')
			r = bad(e, 0, "an empty line");
	for (line = strtok_r(copy, "\n", &save); r == 0 && line;
	     line = strtok_r(NULL, "\n", &save)) {
		ln++;
		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			char *name = line + 7, *rest = strchr(name, ' ');
			struct family *f;

			if (!rest || !name_ok(name, (size_t)(rest - name), 0))
				r = bad(e, ln, "bad %.6s line", line);
			else {
				*rest++ = 0;
				f = family_get(&st, name, 1);
				if (line[2] == 'H') {
					if (f->help++)
						r = bad(e, ln, "second HELP for %s", name);
				} else if (f->type[0]) {
					r = bad(e, ln, "second TYPE for %s", name);
				} else if (f->samples) {
					r = bad(e, ln, "TYPE for %s after its samples", name);
				} else if (strcmp(rest, "counter") && strcmp(rest, "gauge") &&
					   strcmp(rest, "histogram") && strcmp(rest, "summary") &&
					   strcmp(rest, "untyped")) {
					r = bad(e, ln, "unknown type %s", rest);
				} else {
					snprintf(f->type, sizeof(f->type), "%s", rest);
					if (!strcmp(rest, "counter") &&
					    (strlen(name) < 6 ||
					     strcmp(name + strlen(name) - 6, "_total")))
						r = bad(e, ln, "counter %s is not named *_total",
							name);
				}
			}
		} else if (line[0] == '#') {
			continue;
		} else {
			r = sample(e, &st, ln, line);
		}
	}
	if (r == 0)
		r = histograms(e, &st);
	/* Sorted by key from here on: duplicates are neighbours, expo_value can search. */
	qsort(e->s, e->n, sizeof(*e->s), cmp_key);
	e->sorted = 1;
	for (size_t i = 1; r == 0 && i < e->n; i++)
		if (!strcmp(e->s[i - 1].key, e->s[i].key))
			r = bad(e, 0, "series %s appears twice", e->s[i].key);
	free(copy);
	free(st.f);
	return r;
}

double expo_value(const struct expo *e, const char *key)
{
	if (e->sorted) {
		struct expo_series k = {.key = (char *)key}, *f;

		f = bsearch(&k, e->s, e->n, sizeof(*e->s), cmp_key);
		return f ? f->value : NAN;
	}
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].key, key))
			return e->s[i].value;
	return NAN;
}

int expo_monotonic(const struct expo *a, const struct expo *b, char *err, size_t errlen)
{
	for (size_t i = 0; i < a->n; i++) {
		double v;

		if (!a->s[i].monotonic)
			continue;
		v = expo_value(b, a->s[i].key);
		if (!isnan(v) && v < a->s[i].value) {
			snprintf(err, errlen, "%s went down: %.17g -> %.17g", a->s[i].key,
				 a->s[i].value, v);
			return -1;
		}
	}
	return 0;
}

void expo_free(struct expo *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->s[i].key);
		free(e->s[i].family);
	}
	free(e->s);
	e->s = NULL;
	e->n = 0;
}

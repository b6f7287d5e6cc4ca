/* metrics_lint FILE [LATER]: checks that FILE is valid Prometheus text exposition (the
 * rules in expo_check.h) and, given LATER (a later scrape), that no counter went down.
 * Prints the series count; exit 0 when valid, 1 with the first problem on stderr. */
#include "expo_check.h"

#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				break;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (buf && r > 0);
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	struct expo a, b;
	char *t1, *t2 = NULL, err[512];
	size_t l1, l2;
	int rc = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: metrics_lint FILE [LATER]\n");
		return 2;
	}
	t1 = slurp(argv[1], &l1);
	if (!t1) {
		perror(argv[1]);
		return 1;
	}
	if (expo_parse(t1, l1, &a) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], a.err);
		rc = 1;
	}
	printf("%zu series\n", a.n);
	if (argc == 3 && rc == 0) {
		t2 = slurp(argv[2], &l2);
		if (!t2 || expo_parse(t2, l2, &b) < 0) {
			fprintf(stderr, "%s: %s\n", argv[2], t2 ? b.err : "cannot read");
			rc = 1;
		} else {
			if (expo_monotonic(&a, &b, err, sizeof(err)) < 0) {
				fprintf(stderr, "%s -> %s: %s\n", argv[1], argv[2], err);
				rc = 1;
			}
		}
		if (t2)
			expo_free(&b);
	}
	expo_free(&a);
	free(t1);
	free(t2);
	return rc;
}

/* bench_util: see bench_util.h. */
#include "bench_util.h"

#include "cmd/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *prog = "denali-bench";

void bench_set_name(const char *name)
{
	prog = name;
}

void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_pct(double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

double bench_median(const double *v, size_t n)
{
	double *c, m;

	if (n == 0)
		return 0;
	c = malloc(n * sizeof(*c));
	if (!c)
		bench_fail("out of memory");
	memcpy(c, v, n * sizeof(*v));
	qsort(c, n, sizeof(*c), cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

/* ---- options, image, environment ---------------------------------------- */

unsigned bench_arg_uint(const char *s, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == 0 || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s: want a number in [%u, %u]\n", prog, s, lo, hi);
		exit(2);
	}
	return (unsigned)v;
}

void bench_usage_exit(void (*usage)(FILE *), int code)
{
	usage(code ? stderr : stdout);
	exit(code);
}

void bench_load_image(const char *path, const char *guest, const char *fallback,
		      struct bench_image *img)
{
	char p[PATH_MAX], err[512];
	ssize_t n;

	if (path) {
		snprintf(p, sizeof(p), "%s", path);
	} else {
		n = readlink("/proc/self/exe", p, sizeof(p) - 1);
		if (n > 0) {
			char *slash;

			p[n] = 0;
			slash = strrchr(p, '/');
			if (slash)
				snprintf(slash, sizeof(p) - (size_t)(slash - p), "/../guests/%s",
					 guest);
		}
		if (n <= 0 || access(p, R_OK))
			snprintf(p, sizeof(p), "%s", fallback);
	}
	if (image_read(p, NULL, &img->elf, &img->size, err, sizeof(err)))
		bench_fail("%s", err);
}

void bench_check_env(const char *why)
{
	int fd;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: needs root (%s); skipped\n", prog, why);
		exit(77);
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open /dev/kvm (%s); skipped\n", prog, strerror(errno));
		exit(77);
	}
	close(fd);
}

unsigned long bench_nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		bench_fail("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			bench_fail("setrlimit RLIMIT_NOFILE: %s", strerror(errno));
	}
	return (unsigned long)rl.rlim_cur;
}

/* ---- /proc -------------------------------------------------------------- */

void bench_read_fields(int fd, const char *const *names, int n, long *out)
{
	static char buf[16384];
	ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
	char *line = buf;

	if (len < 0)
		bench_fail("reading /proc: %s", strerror(errno));
	buf[len] = 0;
	for (int i = 0; i < n; i++)
		out[i] = 0;
	while (line && *line) {
		for (int i = 0; i < n; i++) {
			size_t l = strlen(names[i]);

			if (!strncmp(line, names[i], l) && line[l] == ':')
				out[i] = strtol(line + l + 1, NULL, 10);
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
}

void bench_read_file_fields(const char *path, const char *const *names, int n, long *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		bench_fail("%s: %s", path, strerror(errno));
	bench_read_fields(fd, names, n, out);
	close(fd);
}

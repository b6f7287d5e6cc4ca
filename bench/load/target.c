/* target.c - target specs, target files and prefix hosts. */
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "http.h"

static int set_request(struct target *t, const char *host, const char *path)
{
	size_t size = strlen(host) + strlen(path) + 96;
	int n;

	t->req = malloc(size);
	if (!t->req)
		return -ENOMEM;
	n = http_request_format(t->req, size, host, path);
	if (n < 0) {
		free(t->req);
		t->req = NULL;
		return n;
	}
	t->reqlen = (uint32_t)n;
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int target_parse(struct target *t, const char *spec, const char *default_path)
{
	char host[64];
	const char *p = spec, *hend, *portp, *path;
	uint16_t port;
	int v6 = 0;

	memset(t, 0, sizeof(*t));
	if (!strncmp(p, "http://", 7))
		p += 7;
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend || hend[1] != ':')
			return -EINVAL;
		p++;
		portp = hend + 2;
		v6 = 1;
	} else {
		hend = strchr(p, ':');
		if (!hend)
			return -EINVAL;
		portp = hend + 1;
	}
	if ((size_t)(hend - p) == 0 || (size_t)(hend - p) >= sizeof(host))
		return -EINVAL;
	memcpy(host, p, (size_t)(hend - p));
	host[hend - p] = '\0';
	path = strchr(portp, '/');
	if (parse_port(portp, path ? (size_t)(path - portp) : strlen(portp), &port))
		return -EINVAL;
	if (!path)
		path = default_path;
	if (strpbrk(path, " \r\n") || strlen(path) >= ARGS_PATH_MAX)
		return -EINVAL;

	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		t->addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
		const char *ip = strcmp(host, "localhost") ? host : "127.0.0.1";

		if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		t->addrlen = sizeof(*a);
	}
	snprintf(t->name, sizeof(t->name), v6 ? "[%s]:%u" : "%s:%u", host, port);
	/* Host header: the name as given, with the port unless it is 80 */
	return set_request(t, port == 80 && !v6 ? host : t->name, path);
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static int grow(struct target_set *ts, size_t *cap)
{
	struct target *v;

	if (ts->n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 64;
	v = realloc(ts->v, *cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ts->v = v;
	return 0;
}

static int add_spec(struct target_set *ts, size_t *cap, const char *spec, const char *path,
		    const char *where, char *err, size_t errlen)
{
	int rc = grow(ts, cap);

	if (rc)
		return fail(err, errlen, rc, "out of memory for targets");
	rc = target_parse(&ts->v[ts->n], spec, path);
	if (rc == -ENOMEM)
		return fail(err, errlen, rc, "out of memory for targets");
	if (rc)
		return fail(
		    err, errlen, -EINVAL,
		    "%s: bad target '%s' (want ADDR:PORT[/PATH], e.g. 127.0.0.1:8080/index.html)",
		    where, spec);
	ts->n++;
	return 0;
}

static int add_file(struct target_set *ts, size_t *cap, const struct load_config *cfg, char *err,
		    size_t errlen)
{
	FILE *f = fopen(cfg->targets_file, "r");
	char line[1200], where[64];
	unsigned lineno = 0;
	int rc = 0;

	if (!f)
		return fail(err, errlen, -ENOENT, "--targets-file %s: %s", cfg->targets_file,
			    strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *e;

		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strcspn(s, "#\r\n");
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		if (!*s)
			continue;
		snprintf(where, sizeof(where), "%s line %u", "--targets-file", lineno);
		rc = add_spec(ts, cap, s, cfg->path, where, err, errlen);
		if (rc)
			break;
	}
	fclose(f);
	return rc;
}

static int add_prefix(struct target_set *ts, size_t *cap, const struct load_config *cfg, char *err,
		      size_t errlen)
{
	char ip[32], spec[64];
	const char *slash = strchr(cfg->prefix, '/');
	struct in_addr base;
	unsigned len;
	uint64_t hosts;
	char *end;

	if (!slash || (size_t)(slash - cfg->prefix) >= sizeof(ip))
		return fail(err, errlen, -EINVAL,
			    "--prefix: '%s' is not an IPv4 CIDR like 198.18.0.0/15", cfg->prefix);
	memcpy(ip, cfg->prefix, (size_t)(slash - cfg->prefix));
	ip[slash - cfg->prefix] = '\0';
	errno = 0;
	len = (unsigned)strtoul(slash + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &base) != 1 || *end || end == slash + 1 || len > 30 || errno)
		return fail(err, errlen, -EINVAL,
			    "--prefix: '%s' is not an IPv4 CIDR like 198.18.0.0/15", cfg->prefix);
	hosts = (1ULL << (32 - len)) - 2;
	if (cfg->prefix_hosts > hosts)
		return fail(err, errlen, -EINVAL,
			    "--hosts %u does not fit in %s (%llu host addresses)",
			    cfg->prefix_hosts, cfg->prefix, (unsigned long long)hosts);
	uint32_t net = ntohl(base.s_addr) & (len ? ~0u << (32 - len) : 0);

	for (uint32_t i = 0; i < cfg->prefix_hosts; i++) {
		struct in_addr a = {.s_addr = htonl(net + 1 + i)};
		int rc;

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		snprintf(spec, sizeof(spec), "%s:%u", ip, cfg->port);
		rc = add_spec(ts, cap, spec, cfg->path, "--prefix", err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int target_set_build(struct target_set *ts, const struct load_config *cfg, char *err, size_t errlen)
{
	size_t cap = 0;
	int rc = 0;

	ts->v = NULL;
	ts->n = 0;
	for (size_t i = 0; i < cfg->ntarget_specs && !rc; i++)
		rc = add_spec(ts, &cap, cfg->target_specs[i], cfg->path, "--target", err, errlen);
	if (!rc && cfg->targets_file)
		rc = add_file(ts, &cap, cfg, err, errlen);
	if (!rc && cfg->prefix)
		rc = add_prefix(ts, &cap, cfg, err, errlen);
	if (!rc && ts->n == 0)
		rc = fail(err, errlen, -EINVAL, "no targets (is %s empty?)",
			  cfg->targets_file ? cfg->targets_file : "the list");
	if (rc)
		target_set_free(ts);
	return rc;
}

void target_set_free(struct target_set *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		free(ts->v[i].req);
	free(ts->v);
	ts->v = NULL;
	ts->n = 0;
}

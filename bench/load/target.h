/* target.h - the list of (address, port, path) a run spreads its requests over.
 *
 * Targets come from --target specs, a --targets-file, and/or the first N hosts of a --prefix,
 * in that order; rank k of the Zipf popularity is the k-th target. Each target carries its
 * preformatted request so the fast path only copies bytes.
 */
#ifndef DENALI_LOAD_TARGET_H
#define DENALI_LOAD_TARGET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct load_config;

struct target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char name[80]; /* "addr:port" as given, for reports */
	char *req;     /* the full GET request */
	uint32_t reqlen;
};

struct target_set {
	struct target *v;
	size_t n;
};

/* Parse one spec "ADDR:PORT[/PATH]" (ADDR: IPv4, [IPv6] or localhost; an optional http://
 * prefix is accepted). default_path is used when the spec has none. 0 or -EINVAL. */
int target_parse(struct target *t, const char *spec, const char *default_path);

/* Build every target the configuration names. 0, -EINVAL/-ENOENT with err filled, -ENOMEM. */
int target_set_build(struct target_set *ts, const struct load_config *cfg, char *err,
		     size_t errlen);

/* Free what target_set_build allocated. */
void target_set_free(struct target_set *ts);

#endif

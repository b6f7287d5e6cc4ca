/* denalictl: the command line for denalid's control socket (protocol: src/ctl/PROTOCOL.md).
 * Exit status: 0 ok, 1 the daemon refused or failed, 2 usage error, 3 daemon not reachable,
 * 4 permission denied (the socket is there but this user may not use it). */
#include "denalictl.h"
#include "proto.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/denalid/denalid.sock"
#define REPLY_LINE_MAX (256u << 20)

static const char *sock_path;

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

void die_usage(const char *verb, const char *fmt, const char *arg)
{
	fprintf(stderr, "denalictl%s%s: ", verb ? " " : "", verb ? verb : "");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'denalictl %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
	exit(EXIT_USAGE);
}

void die_bad_arg(const char *verb, const char *arg)
{
	die_usage(verb, arg[0] == '-' && arg[1] ? "unknown option %s" : "unexpected argument %s",
		  arg);
}

void check_name(const char *verb, const char *name)
{
	if (!ctl_name_valid(name))
		die_usage(verb, "bad name %s: " CTL_NAME_RULE, name);
}

static int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(c, 0, sizeof(*c));
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "denalictl: socket path too long: %s\n", sock_path);
		return -1;
	}
	strcpy(sa.sun_path, sock_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			fprintf(stderr,
				"denalictl: permission denied on %s: only root and members of the "
				"socket's group may use it (denalid serve --socket-group)\n",
				sock_path);
		else
			fprintf(stderr, "denalictl: cannot reach denalid at %s: %s\n", sock_path,
				strerror(e));
		if (c->fd >= 0)
			close(c->fd);
		return e == EACCES || e == EPERM ? -EACCES : -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->buf);
}

static int conn_send(struct conn *c, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t n, off = 0;
	int r = 0;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	s[n++] = '\n'; /* replaces the NUL; the length is tracked */
	while (off < n) {
		ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	free(s);
	return r;
}

/* The next reply line as JSON; NULL at end of stream or on error (message printed). */
static json_t *conn_recv(struct conn *c)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			json_error_t jerr;
			json_t *o = json_loadb(c->buf, n, 0, &jerr);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			if (!o || !json_is_object(o)) {
				fprintf(stderr, "denalictl: malformed reply from denalid\n");
				json_decref(o);
				return NULL;
			}
			return o;
		}
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b;
			if (cap > REPLY_LINE_MAX) {
				fprintf(stderr, "denalictl: reply from denalid too long\n");
				return NULL;
			}
			b = realloc(c->buf, cap);
			if (!b) {
				fprintf(stderr, "denalictl: out of memory\n");
				return NULL;
			}
			c->buf = b;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		c->len += (size_t)r;
	}
}

/* One life-cycle event as a line: "TIME vm NAME (id N): exited with code C". */
static void print_event(json_t *e)
{
	const char *kind = json_string_value(json_object_get(e, "event"));
	json_t *reason = json_object_get(e, "reason");
	time_t t = (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
	char when[32];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s #%lld vm %s (id %lld): ", when,
	       (long long)json_integer_value(json_object_get(e, "seq")),
	       json_string_value(json_object_get(e, "vm")),
	       (long long)json_integer_value(json_object_get(e, "id")));
	if (kind && !strcmp(kind, "exit"))
		printf("exited with code %lld\n",
		       (long long)json_integer_value(json_object_get(e, "code")));
	else if (kind && !strcmp(kind, "kill"))
		printf("killed: %s\n", json_is_string(reason) ? json_string_value(reason) : "?");
	else if (kind && !strcmp(kind, "start"))
		printf("started\n");
	else
		printf("%s%s%s\n", kind ? kind : "?", json_is_string(reason) ? ": " : "",
		       json_is_string(reason) ? json_string_value(reason) : "");
	fflush(stdout);
}

/* Sends req (reference stolen) and waits for its final reply (one with "ok"). Lines carrying
 * "data" are written to stdout on the way. Returns an exit status; *reply gets the final reply
 * when the status is EXIT_OK or EXIT_ERR with an answer from the daemon. */
int call(json_t *req, json_t **reply)
{
	struct conn c;
	json_t *o;
	int st = EXIT_UNREACHABLE;
	bool progress_shown = false;

	*reply = NULL;
	if ((!strcmp(json_string_value(json_object_get(req, "op")), "start") ||
	     !strcmp(json_string_value(json_object_get(req, "op")), "stop")) &&
	    isatty(STDERR_FILENO))
		json_object_set_new(req, "progress", json_true());
	json_object_set_new(req, "id", json_integer(1));
	int r = conn_open(&c);

	if (r < 0) {
		json_decref(req);
		return r == -EACCES ? EXIT_DENIED : EXIT_UNREACHABLE;
	}
	if (conn_send(&c, req) < 0) {
		fprintf(stderr, "denalictl: lost the connection to denalid\n");
		goto out;
	}
	while ((o = conn_recv(&c))) {
		json_t *data = json_object_get(o, "data");
		json_t *prog = json_object_get(o, "progress");

		if (json_is_object(json_object_get(o, "event")))
			print_event(json_object_get(o, "event"));
		if (json_is_object(prog)) {
			/* A bulk job's progress, asked for only when stderr is a terminal. */
			fprintf(stderr, "\r%s: %lld of %lld done, %lld failed ",
				json_string_value(json_object_get(prog, "what")),
				(long long)json_integer_value(json_object_get(prog, "done")),
				(long long)json_integer_value(json_object_get(prog, "total")),
				(long long)json_integer_value(json_object_get(prog, "failed")));
			progress_shown = true;
		}
		if (json_is_string(data)) {
			fwrite(json_string_value(data), 1, json_string_length(data), stdout);
			fflush(stdout);
		}
		if (json_object_get(o, "ok")) {
			if (progress_shown)
				fputc('\n', stderr);
			*reply = o;
			st = json_is_true(json_object_get(o, "ok")) ? EXIT_OK : EXIT_ERR;
			if (st == EXIT_ERR) {
				json_t *e = json_object_get(o, "error");
				fprintf(stderr, "denalictl: %s\n",
					json_is_string(e) ? json_string_value(e)
							  : "request failed");
			}
			goto out;
		}
		json_decref(o);
	}
	fprintf(stderr, "denalictl: denalid closed the connection without an answer\n");
out:
	json_decref(req);
	conn_close(&c);
	return st;
}

bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* "--opt VALUE" or "--opt=VALUE" at args[*i]; advances *i past it. */
bool opt_value(const char *verb, char **args, int n, int *i, const char *opt, const char **val)
{
	size_t l = strlen(opt);

	if (strncmp(args[*i], opt, l) != 0)
		return false;
	if (args[*i][l] == '=') {
		*val = args[*i] + l + 1;
		return true;
	}
	if (args[*i][l] != '\0')
		return false;
	if (*i + 1 >= n)
		die_usage(verb, "%s needs a value", opt);
	*val = args[++*i];
	return true;
}

void print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

/* ---- start ---- */

static int cmd_start(int n, char **args)
{
	const char *name = NULL, *image = NULL, *mem = NULL, *count = NULL, *disk = NULL;
	char resolved[PATH_MAX], dresolved[PATH_MAX];
	bool net = false, disk_ro = false;
	json_t *req, *reply, *gargs = json_array(), *v;
	uint64_t bytes;
	size_t k;
	int i, st;

	for (i = 0; i < n; i++) {
		const char *a = args[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < n; i++)
				json_array_append_new(gargs, json_string(args[i]));
			break;
		}
		if (is_help(a)) {
			printf("usage: denalictl start NAME IMAGE [--mem SIZE] [--count N] [--net] "
			       "[--disk FILE [--disk-ro]] [-- ARGS...]\n"
			       "Define and boot a VM running IMAGE (a guest program).\n"
			       "  --mem SIZE   guest memory, " DENALI_MEM_RULE " (default 16M)\n"
			       "  --count N    start N VMs named NAME-0 .. NAME-(N-1)\n"
			       "  --net        a NIC on the daemon's switch (denalid serve --net)\n"
			       "  --disk FILE  a raw disk image (--disk-ro: read-only)\n"
			       "  -- ARGS      arguments passed to the guest\n"
			       "The definition is kept by the daemon and boots again after a "
			       "daemon restart,\nuntil 'denalictl stop NAME'.\n");
			json_decref(gargs);
			return EXIT_OK;
		}
		if (opt_value("start", args, n, &i, "--mem", &mem) ||
		    opt_value("start", args, n, &i, "--count", &count) ||
		    opt_value("start", args, n, &i, "--disk", &disk))
			continue;
		if (!strcmp(a, "--net")) {
			net = true;
			continue;
		}
		if (!strcmp(a, "--disk-ro")) {
			disk_ro = true;
			continue;
		}
		if (a[0] == '-' && a[1])
			die_usage("start", "unknown option %s", a);
		if (!name)
			name = a;
		else if (!image)
			image = a;
		else
			die_usage("start", "unexpected argument %s (guest arguments go after --)",
				  a);
	}
	if (!name || !image)
		die_usage("start", "%s", "NAME and IMAGE are required");
	if (!ctl_name_valid(name))
		die_usage("start", "bad name %s: " CTL_NAME_RULE, name);
	if (mem && ctl_parse_size(mem, &bytes) < 0)
		die_usage("start", "bad size %s (e.g. 16M, 64MiB, 1G)", mem);
	if (mem && !denali_mem_size_ok(bytes))
		die_usage("start", "bad memory size %s: it must be " DENALI_MEM_RULE, mem);
	req = json_pack("{s:s, s:s}", "op", "start", "name", name);
	if (count) {
		char *end;
		long c = strtol(count, &end, 10);
		if (*count < '0' || *count > '9' || *end || c < 1 || c > (long)CTL_COUNT_MAX)
			die_usage("start", "bad count %s: 1 to 10000", count);
		json_object_set_new(req, "count", json_integer(c));
	}
	/* The daemon needs an absolute path; resolve a relative one here, where it means
	 * something. */
	if (image[0] != '/') {
		if (!realpath(image, resolved)) {
			fprintf(stderr, "denalictl: %s: %s\n", image, strerror(errno));
			json_decref(req);
			json_decref(gargs);
			return EXIT_ERR;
		}
		image = resolved;
	}
	json_object_set_new(req, "image", json_string(image));
	if (mem)
		json_object_set_new(req, "mem", json_string(mem));
	if (net)
		json_object_set_new(req, "net", json_true());
	if (disk) {
		if (disk[0] != '/' && !realpath(disk, dresolved)) {
			fprintf(stderr, "denalictl: %s: %s\n", disk, strerror(errno));
			json_decref(req);
			json_decref(gargs);
			return EXIT_ERR;
		}
		json_object_set_new(req, "disk", json_string(disk[0] == '/' ? disk : dresolved));
		if (disk_ro)
			json_object_set_new(req, "disk_ro", json_true());
	}
	if (json_array_size(gargs))
		json_object_set_new(req, "args", gargs);
	else
		json_decref(gargs);
	st = call(req, &reply);
	if (st == EXIT_OK) {
		printf("started");
		json_array_foreach(json_object_get(reply, "started"), k, v)
		    printf(" %s", json_string_value(v));
		printf("\n");
	}
	json_decref(reply);
	return st;
}

/* ---- stop ---- */

static int cmd_stop(int n, char **args)
{
	json_t *req, *reply, *names = json_array(), *v;
	bool all = false;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl stop NAME... | --all\n"
			    "Stop VMs and forget their definitions (they do not boot again after "
			    "a daemon restart).\n"
			    "  --all   every VM\n");
			json_decref(names);
			return EXIT_OK;
		}
		if (strcmp(args[i], "--all") == 0) {
			all = true;
			continue;
		}
		if (args[i][0] == '-')
			die_usage("stop", "unknown option %s", args[i]);
		if (!ctl_name_valid(args[i]))
			die_usage("stop", "bad name %s: " CTL_NAME_RULE, args[i]);
		json_array_append_new(names, json_string(args[i]));
	}
	if (all == (json_array_size(names) > 0))
		die_usage("stop", "%s", "give either VM names or --all");
	if (all) {
		req = json_pack("{s:s, s:b}", "op", "stop", "all", 1);
		json_decref(names);
	} else {
		req = json_pack("{s:s, s:o}", "op", "stop", "names", names);
	}
	st = call(req, &reply);
	if (reply && json_array_size(json_object_get(reply, "stopped"))) {
		printf("stopped");
		json_array_foreach(json_object_get(reply, "stopped"), k, v)
		    printf(" %s", json_string_value(v));
		printf("\n");
	} else if (st == EXIT_OK) {
		printf("no VMs to stop\n");
	}
	json_array_foreach(json_object_get(reply, "failed"), k, v)
	{
		/* the first failure was printed by call() */
		if (k > 0)
			fprintf(stderr, "denalictl: vm %s: %s\n",
				json_string_value(json_object_get(v, "name")),
				json_string_value(json_object_get(v, "error")));
	}
	json_decref(reply);
	return st;
}

/* ---- list ---- */

static void fmt_uint(char *dst, size_t n, json_t *v)
{
	if (json_is_integer(v))
		snprintf(dst, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(dst, n, "%.0f", json_real_value(v));
	else
		snprintf(dst, n, "-");
}

/* A CLOCK_REALTIME ms figure as local time: HH:MM:SS today, else YYYY-MM-DD HH:MM. */
static void fmt_time(char *dst, size_t n, json_t *v)
{
	time_t t, now = time(NULL);
	struct tm tm, today;

	if (!json_is_integer(v)) {
		snprintf(dst, n, "-");
		return;
	}
	t = (time_t)(json_integer_value(v) / 1000);
	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	if (tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year)
		strftime(dst, n, "%H:%M:%S", &tm);
	else
		strftime(dst, n, "%Y-%m-%d %H:%M", &tm);
}

static void fmt_uptime(char *dst, size_t n, json_t *v)
{
	long long s;

	if (!json_is_number(v)) {
		snprintf(dst, n, "-");
		return;
	}
	s = (long long)json_number_value(v);
	if (s >= 86400)
		snprintf(dst, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(dst, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(dst, n, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(dst, n, "%llds", s);
}

#define LIST_COLS 10

static int cmd_list(int n, char **args)
{
	static const char *const head[LIST_COLS] = {"NAME",    "STATE",	 "IPV4",   "STARTED",
						    "ENDED",   "WORKER", "CPU_MS", "EXITS",
						    "RES_KIB", "UPTIME"};
	json_t *counts = json_object();
	bool json = false;
	json_t *reply, *vms, *vm;
	size_t width[LIST_COLS], k, rows;
	char(*cell)[LIST_COLS][160];
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl list [--json]\n"
			       "List VMs: name, state (running, runnable, idle, exited, killed + "
			       "reason;\nunder denalid serve --swap a live VM shows resident, "
			       "swapped, waiting,\nswapping-in or swapping-out), worker, CPU ms, "
			       "exits, resident KiB, uptime.\n"
			       "  --json   the daemon's answer as JSON\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else
			die_bad_arg("list", args[i]);
	}
	st = call(json_pack("{s:s}", "op", "list"), &reply);
	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	vms = json_object_get(reply, "vms");
	if (json) {
		print_json(vms ? vms : json_array());
		json_decref(reply);
		return EXIT_OK;
	}
	rows = json_array_size(vms);
	cell = calloc(rows + 1, sizeof(*cell));
	if (!cell) {
		json_decref(reply);
		return EXIT_ERR;
	}
	for (int c = 0; c < LIST_COLS; c++)
		snprintf(cell[0][c], sizeof(cell[0][c]), "%s", head[c]);
	json_array_foreach(vms, k, vm)
	{
		char(*row)[160] = cell[k + 1];
		json_t *reason = json_object_get(vm, "reason");
		json_t *name = json_object_get(vm, "name"), *state = json_object_get(vm, "state");
		snprintf(row[0], 160, "%s", json_is_string(name) ? json_string_value(name) : "?");
		json_t *code = json_object_get(vm, "exit_code");
		const char *sn = json_is_string(state) ? json_string_value(state) : "?";
		json_t *res = json_object_get(vm, "residency");

		/* Under --swap a live VM shows where its memory is (resident, swapped, ...). */
		if (json_is_string(res))
			sn = json_string_value(res);

		json_object_set_new(
		    counts, sn, json_integer(json_integer_value(json_object_get(counts, sn)) + 1));
		if (json_is_string(reason) && json_string_length(reason))
			snprintf(row[1], 160, "%s (%.120s)", sn, json_string_value(reason));
		else if (json_is_integer(code))
			snprintf(row[1], 160, "%s (code %lld)", sn,
				 (long long)json_integer_value(code));
		else
			snprintf(row[1], 160, "%s", sn);
		snprintf(row[2], 160, "%s",
			 json_is_string(json_object_get(vm, "ipv4"))
			     ? json_string_value(json_object_get(vm, "ipv4"))
			     : "-");
		fmt_time(row[3], 160, json_object_get(vm, "started_ms"));
		fmt_time(row[4], 160, json_object_get(vm, "ended_ms"));
		fmt_uint(row[5], 160, json_object_get(vm, "worker"));
		fmt_uint(row[6], 160, json_object_get(vm, "cpu_ms"));
		fmt_uint(row[7], 160, json_object_get(vm, "exits"));
		fmt_uint(row[8], 160, json_object_get(vm, "resident_kib"));
		fmt_uptime(row[9], 160, json_object_get(vm, "uptime_s"));
	}
	for (int c = 0; c < LIST_COLS; c++) {
		width[c] = 0;
		for (k = 0; k <= rows; k++)
			if (strlen(cell[k][c]) > width[c])
				width[c] = strlen(cell[k][c]);
	}
	for (k = 0; k <= rows; k++) {
		for (int c = 0; c < LIST_COLS; c++) {
			/* Text columns flush left, numbers flush right. */
			if (c == LIST_COLS - 1)
				printf("%*s\n", (int)width[c], cell[k][c]);
			else if (c < 5)
				printf("%-*s  ", (int)width[c], cell[k][c]);
			else
				printf("%*s  ", (int)width[c], cell[k][c]);
		}
	}
	{
		const char *key;
		json_t *cnt;

		printf("%zu VM(s)", rows);
		json_object_foreach(counts, key, cnt)
		{
			printf(", %lld %s", (long long)json_integer_value(cnt), key);
		}
		printf("\n");
	}
	json_decref(counts);
	free(cell);
	json_decref(reply);
	return EXIT_OK;
}

/* ---- events ---- */

static int cmd_events(int n, char **args)
{
	bool follow = false;
	json_t *reply;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl events [--follow]\n"
			    "The VM life cycle: every start, exit (with its code), kill (with its "
			    "reason)\nand removal the daemon still keeps (the last 4,096).\n"
			    "  --follow, -f   keep printing new events as they happen\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--follow") == 0 || strcmp(args[i], "-f") == 0)
			follow = true;
		else
			die_bad_arg("events", args[i]);
	}
	st = call(json_pack("{s:s, s:b}", "op", "events", "follow", follow), &reply);
	json_decref(reply);
	return st;
}

/* ---- jobs ---- */

static int cmd_jobs(int n, char **args)
{
	bool json = false;
	json_t *reply, *jobs, *j;
	size_t k;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf("usage: denalictl jobs [--json]\n"
			       "Bulk starts and stops, running and recent: id, state, done/total, "
			       "failed, what.\n"
			       "  --json   the daemon's answer as JSON\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else
			die_bad_arg("jobs", args[i]);
	}
	st = call(json_pack("{s:s}", "op", "jobs"), &reply);
	if (st != EXIT_OK) {
		json_decref(reply);
		return st;
	}
	jobs = json_object_get(reply, "jobs");
	if (json) {
		print_json(jobs ? jobs : json_array());
		json_decref(reply);
		return EXIT_OK;
	}
	printf("%6s  %-8s  %13s  %6s  %s\n", "JOB", "STATE", "DONE/TOTAL", "FAILED", "WHAT");
	json_array_foreach(jobs, k, j)
	{
		char dt[32];
		json_t *e = json_object_get(j, "error");

		snprintf(dt, sizeof(dt), "%lld/%lld",
			 (long long)json_integer_value(json_object_get(j, "done")),
			 (long long)json_integer_value(json_object_get(j, "total")));
		printf("%6lld  %-8s  %13s  %6lld  %s%s%s\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "state")), dt,
		       (long long)json_integer_value(json_object_get(j, "failed")),
		       json_string_value(json_object_get(j, "what")), json_is_string(e) ? ": " : "",
		       json_is_string(e) ? json_string_value(e) : "");
	}
	json_decref(reply);
	return EXIT_OK;
}

/* ---- console ---- */

static int cmd_console(int n, char **args)
{
	const char *name = NULL;
	bool follow = false;
	json_t *req, *reply;
	int st;

	for (int i = 0; i < n; i++) {
		if (is_help(args[i])) {
			printf(
			    "usage: denalictl console NAME [--follow]\n"
			    "Print what the VM has written to its console (the part the daemon "
			    "still holds).\n"
			    "  --follow, -f   keep printing new output until the VM is stopped\n");
			return EXIT_OK;
		}
		if (strcmp(args[i], "--follow") == 0 || strcmp(args[i], "-f") == 0)
			follow = true;
		else if (args[i][0] == '-')
			die_usage("console", "unknown option %s", args[i]);
		else if (!name)
			name = args[i];
		else
			die_usage("console", "unexpected argument %s", args[i]);
	}
	if (!name)
		die_usage("console", "%s", "NAME is required");
	if (!ctl_name_valid(name))
		die_usage("console", "bad name %s: " CTL_NAME_RULE, name);
	req = json_pack("{s:s, s:s, s:b}", "op", "console", "name", name, "follow", follow);
	st = call(req, &reply);
	json_decref(reply);
	return st;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: denalictl [--socket PATH] VERB [ARGS]\n"
		   "Control denalid through its socket (default " DEFAULT_SOCKET
		   ", or $DENALI_SOCKET).\n"
		   "\n"
		   "  start NAME IMAGE [--mem SIZE] [--count N] [-- ARGS]\n"
		   "  stop NAME... | --all\n"
		   "  list [--json]\n"
		   "  stats [NAME] [--json]\n"
		   "  console NAME [--follow]\n"
		   "  jobs [--json]\n"
		   "  events [--follow]\n"
		   "  metrics [--vms N]\n"
		   "  swap out|in NAME...\n"
		   "  export NAME FILE\n"
		   "  import FILE [NAME]\n"
		   "  net attach TAP\n"
		   "  help [VERB]\n"
		   "\n"
		   "  --version  the version of denalictl and of the guest ABI it was built with\n"
		   "\n"
		   "'denalictl VERB --help' describes each verb.\n"
		   "Exit status: 0 ok, 1 error, 2 usage error, 3 denalid not reachable,\n"
		   "4 permission denied on the socket.\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} verbs[] = {
	    {"start", cmd_start},   {"stop", cmd_stop},	      {"list", cmd_list},
	    {"stats", cmd_stats},   {"console", cmd_console}, {"jobs", cmd_jobs},
	    {"events", cmd_events}, {"metrics", cmd_metrics}, {"swap", cmd_swap},
	    {"export", cmd_export}, {"import", cmd_import},   {"net", cmd_net},
	};
	int i = 1;

	sock_path = getenv("DENALI_SOCKET");
	if (!sock_path || !*sock_path)
		sock_path = DEFAULT_SOCKET;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if (is_help(argv[i])) {
			usage(stdout);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("denalictl %s (guest ABI %u)\n", DENALI_VERSION, DENALI_ABI_VERSION);
			return EXIT_OK;
		}
		if (opt_value(NULL, argv, argc, &i, "--socket", &v)) {
			sock_path = v;
			continue;
		}
		die_usage(NULL, "unknown option %s", argv[i]);
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		/* help VERB is VERB --help; help --help is help */
		if (i + 1 < argc && is_help(argv[i + 1])) {
			usage(stdout);
			return EXIT_OK;
		}
		if (i + 1 < argc)
			for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
				if (strcmp(argv[i + 1], verbs[k].name) == 0) {
					char *hargv[] = {(char *)"--help", NULL};
					return verbs[k].fn(1, hargv);
				}
		if (i + 1 < argc)
			die_usage(NULL, "unknown verb %s", argv[i + 1]);
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(argv[i], verbs[k].name) == 0)
			return verbs[k].fn(argc - i - 1, argv + i + 1);
	die_usage(NULL, "unknown verb %s", argv[i]);
	return EXIT_USAGE;
}

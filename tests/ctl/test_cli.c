/* `denalid serve`'s life cycle (fake backend) and denalictl against it: readiness and watchdog
 * messages on a test notify socket, exit codes, tables, --json, shutdown on SIGTERM, and VM
 * definitions surviving a restart.
 * usage: test_ctl_cli DENALICTL FAKE_DENALID */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *ctl_bin, *daemon_bin;
static char dir[64], sock[128], state[128], notify[128], logpath[128], outpath[128];
static int nfd = -1;
static pid_t daemon_pid;
static char out[1 << 16], err[1 << 16];

/* The next message on the notify socket that starts with prefix (others are skipped). */
static int wait_notify(const char *prefix, char *msg, size_t len)
{
	for (int i = 0; i < 200; i++) {
		ssize_t n = recv(nfd, msg, len - 1, 0);
		if (n < 0)
			return -1; /* the 10 s receive timeout */
		msg[n] = '\0';
		if (strncmp(msg, prefix, strlen(prefix)) == 0)
			return 0;
	}
	return -1;
}

static void daemon_start(void)
{
	char msg[512];

	daemon_pid = fork();
	assert_true(daemon_pid >= 0);
	if (daemon_pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 2);
		setenv("NOTIFY_SOCKET", notify, 1);
		setenv("WATCHDOG_USEC", "400000", 1);
		unsetenv("WATCHDOG_PID");
		execl(daemon_bin, daemon_bin, "--socket", sock, "--state-dir", state, "--workers",
		      "2", (char *)NULL);
		_exit(127);
	}
	if (wait_notify("READY=1", msg, sizeof(msg)) < 0)
		fail_msg("no READY=1 from the daemon");
}

/* SIGTERM; returns the exit status, after checking STOPPING=1 came. */
static int daemon_stop(void)
{
	char msg[512];
	int status;

	assert_int_equal(kill(daemon_pid, SIGTERM), 0);
	if (wait_notify("STOPPING=1", msg, sizeof(msg)) < 0)
		fail_msg("no STOPPING=1 from the daemon");
	assert_int_equal(waitpid(daemon_pid, &status, 0), daemon_pid);
	daemon_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Runs denalictl with the arguments (NULL-terminated) against the test socket; stdout and
 * stderr land in out and err. Returns its exit status. */
static int ctl(const char *arg, ...)
{
	char *argv[32];
	char errpath[160];
	int argc = 0, status;
	va_list ap;
	pid_t pid;

	argv[argc++] = (char *)ctl_bin;
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(errpath, sizeof(errpath), "%s.err", outpath);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		setenv("DENALI_SOCKET", sock, 1);
		execv(ctl_bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(outpath, out, sizeof(out));
	slurp(errpath, err, sizeof(err));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static json_t *ctl_json(const char *verb)
{
	json_error_t jerr;
	json_t *j;

	assert_int_equal(ctl(verb, "--json", NULL), 0);
	j = json_loads(out, 0, &jerr);
	if (!j)
		fail_msg("%s --json is not JSON (%s): %s", verb, jerr.text, out);
	return j;
}

static int listed(const char *name)
{
	json_t *vms = ctl_json("list"), *v;
	size_t i;
	int found = 0;

	json_array_foreach(vms, i, v) found |=
	    strcmp(json_string_value(json_object_get(v, "name")), name) == 0;
	json_decref(vms);
	return found;
}

static int setup(void **st)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};

	(void)st;
	strcpy(dir, "/tmp/denali-cli-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/denalid.sock", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(notify, sizeof(notify), "%s/notify", dir);
	snprintf(logpath, sizeof(logpath), "%s/daemon.log", dir);
	snprintf(outpath, sizeof(outpath), "%s/out", dir);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, notify);
	if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	daemon_start();
	return 0;
}

static int teardown(void **st)
{
	char cmd[128], log[1 << 14];

	(void)st;
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
	}
	close(nfd);
	if (getenv("DENALI_TEST_KEEP_LOG")) {
		slurp(logpath, log, sizeof(log));
		fputs(log, stderr);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_usage_and_help(void **st)
{
	static const char *const verbs[] = {"start", "stop", "list", "stats", "console"};

	(void)st;
	assert_int_equal(ctl("--help", NULL), 0);
	assert_non_null(strstr(out, "usage: denalictl"));
	assert_int_equal(ctl(NULL), 2);
	assert_int_equal(ctl("frobnicate", NULL), 2);
	assert_int_equal(ctl("--bogus", "list", NULL), 2);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		char want[64];
		assert_int_equal(ctl(verbs[i], "--help", NULL), 0);
		snprintf(want, sizeof(want), "usage: denalictl %s", verbs[i]);
		if (!strstr(out, want))
			fail_msg("%s --help: %s", verbs[i], out);
	}
	assert_int_equal(ctl("start", NULL), 2);
	assert_int_equal(ctl("start", "web", NULL), 2);
	assert_int_equal(ctl("start", "bad/name", "/img", NULL), 2);
	assert_int_equal(ctl("start", "web", "/img", "--mem", "12Q", NULL), 2);
	assert_int_equal(ctl("start", "web", "/img", "--mem", NULL), 2);
	assert_int_equal(ctl("start", "web", "/img", "--count", "0", NULL), 2);
	assert_int_equal(ctl("start", "web", "/img", "extra", NULL), 2);
	assert_int_equal(ctl("stop", NULL), 2);
	assert_int_equal(ctl("stop", "a", "--all", NULL), 2);
	assert_int_equal(ctl("list", "--yaml", NULL), 2);
	assert_int_equal(ctl("stats", "x", "y", NULL), 2); /* one NAME at most */
	assert_int_equal(ctl("stats", "--yaml", NULL), 2);
	assert_int_equal(ctl("console", NULL), 2);
	assert_non_null(strstr(err, "--help"));
}

static void test_unreachable(void **st)
{
	char path[160];

	(void)st;
	assert_int_equal(ctl("--socket", "/nonexistent/denalid.sock", "list", NULL), 3);
	assert_non_null(strstr(err, "cannot reach denalid"));
	/* A socket file nobody listens on. */
	snprintf(path, sizeof(path), "%s/dead.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ctl("--socket", path, "stats", NULL), 3);
	unlink(path);
}

static void test_start_list_stats_console(void **st)
{
	json_t *j;

	(void)st;
	assert_int_equal(ctl("start", "web", "/srv/web.elf", "--mem", "32M", "--count", "2", "--",
			     "hello", "--not-an-option", NULL),
			 0);
	assert_string_equal(out, "started web-0 web-1\n");
	assert_int_equal(ctl("start", "single", "/srv/one.elf", NULL), 0);
	assert_string_equal(out, "started single\n");
	assert_int_equal(ctl("start", "crash", "/srv/killed.elf", NULL), 0);

	/* Refusals by the daemon are exit 1 with its message. */
	assert_int_equal(ctl("start", "single", "/srv/one.elf", NULL), 1);
	assert_non_null(strstr(err, "already defined"));
	assert_int_equal(ctl("start", "f", "/srv/fail.elf", NULL), 1);
	assert_non_null(strstr(err, "cannot load image"));
	assert_int_equal(ctl("start", "rel", "no/such/relative.elf", NULL), 1);
	assert_int_equal(ctl("stop", "nosuch", NULL), 1);
	assert_non_null(strstr(err, "no such VM"));
	assert_int_equal(ctl("console", "nosuch", NULL), 1);

	/* The human table: a header, one row per VM, the reason next to the state. */
	assert_int_equal(ctl("list", NULL), 0);
	assert_true(strncmp(out, "NAME", 4) == 0);
	assert_non_null(strstr(out, "STATE"));
	assert_non_null(strstr(out, "RES_KIB"));
	assert_non_null(strstr(out, "UPTIME"));
	assert_non_null(strstr(out, "web-0"));
	assert_non_null(strstr(out, "running"));
	assert_non_null(strstr(out, "killed (triple fault)"));
	assert_non_null(strstr(out, "1h02m"));

	j = ctl_json("list");
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 4);
	json_decref(j);

	assert_int_equal(ctl("stats", NULL), 0);
	assert_non_null(strstr(out, "exits/s"));
	assert_non_null(strstr(out, "running 4"));
	assert_non_null(strstr(out, "#0 45.2%"));
	j = ctl_json("stats");
	assert_true(json_is_object(json_object_get(j, "vms_by_state")));
	assert_true(json_is_number(json_object_get(j, "exits_per_s")));
	json_decref(j);

	assert_int_equal(ctl("console", "web-1", NULL), 0);
	assert_string_equal(out, "booted web-1\nhello\n--not-an-option\n");
}

/* A definition that cannot be written (a file where its directory should be) fails the
 * whole start, whether the job's writer reports it during the starts or at the end: every VM
 * of the request is stopped again and no definition of it stays. */
static void test_unsaved_definition_rolls_back(void **st)
{
	char path[256];
	int fd;

	(void)st;
	snprintf(path, sizeof(path), "%s/vms/blocked-1", state);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ctl("start", "blocked", "/srv/web.elf", "--count", "3", NULL), 1);
	assert_non_null(strstr(err, "blocked-1: cannot save its definition"));
	assert_false(listed("blocked-0"));
	assert_false(listed("blocked-2"));
	snprintf(path, sizeof(path), "%s/vms/blocked-0/def.json", state);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/vms/blocked-2/def.json", state);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/vms/blocked-1", state);
	assert_int_equal(unlink(path), 0);
}

static void test_watchdog(void **st)
{
	char msg[512];

	(void)st;
	/* WATCHDOG_USEC=400000: the daemon pings every 50 ms. */
	if (wait_notify("WATCHDOG=1", msg, sizeof(msg)) < 0)
		fail_msg("no WATCHDOG=1 from the daemon");
}

static void test_restart_keeps_definitions(void **st)
{
	char log[1 << 16];

	(void)st;
	assert_true(listed("web-0"));
	assert_int_equal(daemon_stop(), 0);
	/* SIGTERM stopped every VM through the backend. */
	slurp(logpath, log, sizeof(log));
	assert_non_null(strstr(log, "vms_left=0"));
	assert_non_null(strstr(log, "ready"));
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(ctl("list", NULL), 3);

	daemon_start();
	assert_true(listed("web-0") && listed("web-1") && listed("single") && listed("crash"));
	assert_int_equal(ctl("console", "web-0", NULL), 0);
	assert_string_equal(out, "booted web-0\nhello\n--not-an-option\n");

	/* stop forgets the definition: gone after the next restart too. */
	assert_int_equal(ctl("stop", "web-0", "single", NULL), 0);
	assert_string_equal(out, "stopped web-0 single\n");
	assert_int_equal(daemon_stop(), 0);
	daemon_start();
	assert_false(listed("web-0"));
	assert_false(listed("single"));
	assert_true(listed("web-1"));

	assert_int_equal(ctl("stop", "--all", NULL), 0);
	assert_non_null(strstr(out, "web-1"));
	assert_false(listed("web-1"));
	assert_int_equal(ctl("stop", "--all", NULL), 0);
	assert_string_equal(out, "no VMs to stop\n");
	assert_int_equal(daemon_stop(), 0);
	daemon_start();
	assert_int_equal(ctl("list", NULL), 0);
	assert_string_equal(out,
			    "NAME  STATE  IPV4  STARTED  ENDED  WORKER  CPU_MS  EXITS  RES_KIB  "
			    "UPTIME\n0 VM(s)\n");
}

static void test_bad_options(void **st)
{
	pid_t pid;
	int status;

	(void)st;
	pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		execl(daemon_bin, daemon_bin, "--workers", "lots", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_and_help),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_start_list_stats_console),
	    cmocka_unit_test(test_unsaved_definition_rolls_back),
	    cmocka_unit_test(test_watchdog),
	    cmocka_unit_test(test_restart_keeps_definitions),
	    cmocka_unit_test(test_bad_options),
	};
	if (argc != 3) {
		fprintf(stderr, "usage: %s DENALICTL FAKE_DENALID\n", argv[0]);
		return 2;
	}
	ctl_bin = argv[1];
	daemon_bin = argv[2];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}

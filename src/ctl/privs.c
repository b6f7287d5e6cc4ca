#include "privs.h"

#include "log.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int privs_threads_with_caps(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[300], line[256], comm[64] = "?";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* the thread has gone */
		while (fgets(line, sizeof(line), f)) {
			uint64_t v;

			if (sscanf(line, "Name: %63s", comm) == 1)
				continue;
			if ((sscanf(line, "CapEff: %" SCNx64, &v) == 1 ||
			     sscanf(line, "CapPrm: %" SCNx64, &v) == 1) &&
			    v != 0) {
				log_warn("thread %s (%s) still holds capabilities (%s)", e->d_name,
					 comm, line[3] == 'E' ? "effective" : "permitted");
				n++;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

int privs_drop(void)
{
	int r;

	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE) {
		log_info("no capabilities held (uid %u): nothing to drop", (unsigned)geteuid());
		return 0;
	}
	capng_clear(CAPNG_SELECT_ALL);
	/* libcap-ng narrows the bounding set (which needs CAP_SETPCAP) before the other sets. */
	r = capng_apply(CAPNG_SELECT_ALL);
	if (r < 0) {
		log_err("capng_apply: failed (%d)", r);
		return -EPERM;
	}
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
		log_err("capabilities still held after capng_apply");
		return -EPERM;
	}
	log_info("dropped every capability (uid %u)", (unsigned)geteuid());
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		log_err("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return r;
	}
	/* Every other thread dropped its own before its creator went on
	 * (privs_thread_create(), worker_start()): any found now is a bug. */
	r = privs_threads_with_caps();
	if (r > 0)
		log_err("%d thread(s) created before the drop still hold capabilities: a bug, "
			"each should have been started by privs_thread_create()",
			r);
	return 0;
}

struct thread_start {
	void *(*fn)(void *);
	void *arg;
	sem_t ready;
	int rc;
};

static void *thread_trampoline(void *p)
{
	struct thread_start *ts = p;
	void *(*fn)(void *) = ts->fn;
	void *arg = ts->arg;
	int rc = 0;

	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_ALL) < 0 && geteuid() == 0)
		rc = -EPERM;
	else if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		rc = -errno;
	if (rc == 0) {
		capng_get_caps_process();
		if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
			rc = -EPERM;
	}
	ts->rc = rc;
	sem_post(&ts->ready); /* ts is on the creator's stack: not touched after this */
	return rc == 0 ? fn(arg) : NULL;
}

int privs_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct thread_start ts = {.fn = fn, .arg = arg};
	int r;

	sem_init(&ts.ready, 0, 0);
	r = -pthread_create(t, NULL, thread_trampoline, &ts);
	if (r == 0) {
		while (sem_wait(&ts.ready) < 0 && errno == EINTR)
			;
		r = ts.rc;
		if (r < 0) {
			log_err("a new thread could not drop its capabilities: %s", strerror(-r));
			pthread_join(*t, NULL);
		}
	}
	sem_destroy(&ts.ready);
	return r;
}

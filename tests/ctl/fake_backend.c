#include "fake_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_MAX 20000

struct fake_vm {
	char name[64];
	char image[4096];
	uint64_t mem;
	char arg0[64];
	char *console;
	size_t conslen;
};

struct fake {
	pthread_mutex_t lock;
	struct fake_vm *vms[FAKE_MAX];
	unsigned n;
	struct fake_stats st;
};

static struct fake_vm *find(struct fake *f, const char *name, unsigned *idx)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->vms[i]->name, name) == 0) {
			if (idx)
				*idx = i;
			return f->vms[i];
		}
	return NULL;
}

static void append(struct fake_vm *vm, const char *data)
{
	size_t n = strlen(data);
	char *c = realloc(vm->console, vm->conslen + n);

	if (!c)
		abort();
	memcpy(c + vm->conslen, data, n);
	vm->console = c;
	vm->conslen += n;
}

static int fake_start(void *ctx, const struct vm_spec *spec, char *err, size_t errlen)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	char line[300];
	int r = 0;

	if (strstr(spec->image, "slow")) {
		struct timespec ts = {.tv_nsec = 100 * 1000000}; /* a job that takes its time */

		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&f->lock);
	if (strstr(spec->image, "fail")) {
		snprintf(err, errlen, "cannot load image %s", spec->image);
		f->st.start_failures++;
		r = -EIO;
		goto out;
	}
	if (find(f, spec->name, NULL)) {
		snprintf(err, errlen, "a VM with that name exists");
		r = -EEXIST;
		goto out;
	}
	if (f->n == FAKE_MAX) {
		snprintf(err, errlen, "too many VMs");
		r = -ENOSPC;
		goto out;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		abort();
	snprintf(vm->name, sizeof(vm->name), "%s", spec->name);
	snprintf(vm->image, sizeof(vm->image), "%s", spec->image);
	vm->mem = spec->mem_bytes;
	if (spec->argc > 0)
		snprintf(vm->arg0, sizeof(vm->arg0), "%s", spec->argv[0]);
	snprintf(line, sizeof(line), "booted %s\n", spec->name);
	append(vm, line);
	for (int i = 0; i < spec->argc; i++) {
		append(vm, spec->argv[i]);
		append(vm, "\n");
	}
	if (spec->argv[spec->argc] != NULL)
		abort(); /* the contract: argv ends with NULL */
	f->vms[f->n++] = vm;
	f->st.starts++;
out:
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int fake_stop(void *ctx, const char *name, char *err, size_t errlen)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	unsigned i;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	f->st.stops++;
	vm = find(f, name, &i);
	if (!vm) {
		snprintf(err, errlen, "no such VM");
		r = -ENOENT;
	} else {
		free(vm->console);
		free(vm);
		f->vms[i] = f->vms[--f->n];
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* NAME's list entry (its index i in the table). */
static json_t *entry(const struct fake_vm *vm, unsigned i)
{
	bool killed = strstr(vm->image, "killed") != NULL;

	return json_pack("{s:s, s:s, s:s?, s:i, s:I, s:I, s:I, s:I}", "name", vm->name, "state",
			 killed ? "killed" : "running", "reason", killed ? "triple fault" : NULL,
			 "worker", (int)(i % 2), "cpu_ms", (json_int_t)(12 + i), "exits",
			 (json_int_t)(345 + i), "resident_kib", (json_int_t)(vm->mem >> 12),
			 "uptime_s", (json_int_t)3725);
}

static json_t *fake_list(void *ctx)
{
	struct fake *f = ctx;
	json_t *a = json_array();

	pthread_mutex_lock(&f->lock);
	f->st.lists++;
	for (unsigned i = 0; i < f->n; i++)
		json_array_append_new(a, entry(f->vms[i], i));
	pthread_mutex_unlock(&f->lock);
	return a;
}

bool fake_backend_stepped;

/* The names at list_begin, in table order; each step looks them up again. */
struct fake_cursor {
	char (*names)[64];
	unsigned n, next;
};

static void *fake_list_begin(void *ctx)
{
	struct fake *f = ctx;
	struct fake_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_lock(&f->lock);
	f->st.lists++;
	c->names = calloc(f->n ? f->n : 1, sizeof(*c->names));
	for (unsigned i = 0; c->names && i < f->n; i++)
		memcpy(c->names[c->n++], f->vms[i]->name, sizeof(c->names[0]));
	pthread_mutex_unlock(&f->lock);
	if (!c->names) {
		free(c);
		return NULL;
	}
	return c;
}

static int fake_list_next(void *ctx, void *cursor, json_t *arr, size_t max)
{
	struct fake *f = ctx;
	struct fake_cursor *c = cursor;

	pthread_mutex_lock(&f->lock);
	f->st.list_steps++;
	for (size_t k = 0; k < max && c->next < c->n; k++) {
		unsigned i;

		if (find(f, c->names[c->next++], &i)) {
			json_array_append_new(arr, entry(f->vms[i], i));
			f->st.list_entries++;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return c->next == c->n;
}

static void fake_list_end(void *ctx, void *cursor)
{
	struct fake_cursor *c = cursor;

	(void)ctx;
	free(c->names);
	free(c);
}

static json_t *fake_stats(void *ctx)
{
	struct fake *f = ctx;
	json_t *s;

	pthread_mutex_lock(&f->lock);
	f->st.stats++;
	s = json_pack("{s:{s:i, s:i, s:i, s:i, s:i}, s:f, s:{s:i, s:i, s:i, s:i}, "
		      "s:[{s:i, s:f}, {s:i, s:f}]}",
		      "vms_by_state", "running", (int)f->n, "runnable", 0, "idle", 0, "exited", 0,
		      "killed", 0, "exits_per_s", 1234.5, "hypercalls", "idle", 100, "exit", 2,
		      "kick", 5, "panic", 0, "workers", "id", 0, "utilisation", 0.452, "id", 1,
		      "utilisation", 0.031);
	pthread_mutex_unlock(&f->lock);
	return s;
}

static ssize_t fake_console_read(void *ctx, const char *name, uint64_t offset, char *buf,
				 size_t len, uint64_t *next)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	ssize_t r;

	pthread_mutex_lock(&f->lock);
	f->st.console_reads++;
	vm = find(f, name, NULL);
	if (!vm) {
		r = -ENOENT;
	} else if (offset >= vm->conslen) {
		*next = offset;
		r = 0;
	} else {
		size_t n = vm->conslen - offset < len ? vm->conslen - offset : len;
		memcpy(buf, vm->console + offset, n);
		*next = offset + n;
		r = (ssize_t)n;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static json_t *fake_names(void *ctx)
{
	struct fake *f = ctx;
	json_t *a = json_array();

	pthread_mutex_lock(&f->lock);
	f->st.names++;
	for (unsigned i = 0; i < f->n; i++)
		json_array_append_new(a, json_string(f->vms[i]->name));
	pthread_mutex_unlock(&f->lock);
	return a;
}

/* A swap that takes 500 ms, as one of a VM that is running can (it is tried again). */
static int fake_swap(void *ctx, const char *name, int in, char *err, size_t errlen)
{
	struct timespec ts = {.tv_nsec = 500 * 1000000};

	(void)ctx;
	(void)name;
	(void)in;
	(void)err;
	(void)errlen;
	nanosleep(&ts, NULL);
	return 0;
}

void fake_backend_init(struct ctl_backend *be)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	pthread_mutex_init(&f->lock, NULL);
	*be = (struct ctl_backend){
	    .ctx = f,
	    .start = fake_start,
	    .stop = fake_stop,
	    .list = fake_list,
	    .stats = fake_stats,
	    .console_read = fake_console_read,
	    .names = fake_names,
	    .swap = fake_swap,
	};
	if (fake_backend_stepped) {
		be->list_begin = fake_list_begin;
		be->list_next = fake_list_next;
		be->list_end = fake_list_end;
	}
}

void fake_backend_fini(struct ctl_backend *be)
{
	struct fake *f = be->ctx;

	for (unsigned i = 0; i < f->n; i++) {
		free(f->vms[i]->console);
		free(f->vms[i]);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
	be->ctx = NULL;
}

void fake_backend_counts(struct ctl_backend *be, struct fake_stats *out)
{
	struct fake *f = be->ctx;

	pthread_mutex_lock(&f->lock);
	*out = f->st;
	pthread_mutex_unlock(&f->lock);
}

bool fake_backend_console_append(struct ctl_backend *be, const char *name, const char *data)
{
	struct fake *f = be->ctx;
	struct fake_vm *vm;

	pthread_mutex_lock(&f->lock);
	vm = find(f, name, NULL);
	if (vm)
		append(vm, data);
	pthread_mutex_unlock(&f->lock);
	return vm != NULL;
}

unsigned fake_backend_nvms(struct ctl_backend *be)
{
	struct fake *f = be->ctx;
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->n;
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_backend_has(struct ctl_backend *be, const char *name, uint64_t mem, const char *arg0)
{
	struct fake *f = be->ctx;
	struct fake_vm *vm;
	int r;

	pthread_mutex_lock(&f->lock);
	vm = find(f, name, NULL);
	r = vm && vm->mem == mem && strcmp(vm->arg0, arg0 ? arg0 : "") == 0;
	pthread_mutex_unlock(&f->lock);
	return r;
}
